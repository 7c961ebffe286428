//! # rx-compute
//!
//! Compute contexts of revoscale: `RxLocalSeq`, `RxLocalParallel` (rayon over partitions of a
//! source), in-database contexts (`RxInSqlServer`, any ODBC database) that run an analysis's
//! sufficient statistics as SQL aggregates, `rx_exec` and `rx_exec_by`. Each implements
//! [`rx_core::ComputeContext`].
//!
//! This crate is filled by the compute-context issue; today it only fixes its place in the workspace.

pub use rx_core;
