//! Integration tests of rx-core.
