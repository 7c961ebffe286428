//! Integration tests of rx-xdf (one test binary, modules below).

mod common;
mod corrupt;
mod roundtrip;
