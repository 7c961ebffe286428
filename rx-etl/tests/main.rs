//! Integration tests of rx-etl (one test binary; each module covers one area).

mod common;
mod plot;
mod sort_merge;
mod step;
mod step_errors;
mod step_props;
