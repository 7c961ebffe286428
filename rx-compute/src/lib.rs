//! # rx-compute
//!
//! Compute contexts of revoscale: where an analysis's chunks are processed.
//!
//! - [`RxLocalSeq`] (the default): chunks in order on the calling thread.
//! - [`RxLocalParallel`]: the source split into parts, one rayon task per part, partials merged in
//!   part order.
//! - [`RxComputeContext`]: either, chosen at run time (`"local"`, `"parallel:4"`); the current one is
//!   kept per thread and scope with [`rx_set_compute_context`] / [`rx_get_compute_context`].
//! - [`RxInDatabase`] / [`RxInSqlServer`] (feature `odbc`): analyses on database sources as SQL
//!   aggregates, so no row leaves the database.
//! - [`rx_exec`]: a function over a list of argument sets; [`rx_exec_by`]: a function over the
//!   partitions of a source by key columns.
//!
//! Every analysis of rx-models takes `context: &impl ComputeContext`, so it runs unchanged in any
//! of them; results agree with [`RxLocalSeq`] to rounding (partials are merged in a fixed order,
//! and counts exactly).

pub mod exec;
pub mod exec_by;
#[cfg(feature = "odbc")]
pub mod indb;
pub mod local;

pub use exec::{ExecOptions, rx_exec};
pub use exec_by::{ExecByResult, rx_exec_by};
#[cfg(feature = "odbc")]
pub use indb::{RxInDatabase, RxInSqlServer};
pub use local::{
    ContextGuard, CurrentContext, RxComputeContext, RxLocalParallel, rx_get_compute_context,
    rx_set_compute_context,
};
pub use rx_core;
pub use rx_core::{ComputeContext, RxLocalSeq};
