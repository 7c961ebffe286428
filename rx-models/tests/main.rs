//! Integration tests of rx-models (one test binary).
