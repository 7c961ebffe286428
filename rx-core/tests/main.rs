//! Integration tests of rx-core.
mod formula;
