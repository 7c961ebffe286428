//! Integration tests of rx-predict (one test binary).
mod chunked;
mod golden;
mod lm_golden;
mod roundtrip;
mod scoring;
