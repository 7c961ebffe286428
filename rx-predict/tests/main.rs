//! Integration tests of rx-predict (one test binary).
mod chunked;
mod glm_golden;
mod golden;
mod lm_golden;
mod roundtrip;
mod scoring;
mod trees;
