//! Integration tests of the revoscale facade and the `rx` tool (one test binary).

mod cli;
mod cli_contexts;
mod cli_glm;
mod cli_linmod;
#[cfg(feature = "odbc")]
mod cli_odbc;
mod cli_predict;
mod cli_summary;
mod cli_trees;
mod common;
mod fuzz;
mod pema;
mod roundtrip;
