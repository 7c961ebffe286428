//! Integration tests of rx-data (one test binary; each module covers one area).

mod common;
mod memory;
mod nist;
#[cfg(feature = "odbc")]
mod odbc;
mod parquet;
mod text_errors;
mod text_factors;
mod text_read;
mod text_roundtrip;
mod text_sniff;
mod text_write;
