//! # rx-etl
//!
//! ETL for revoscale on DataFusion: [`rx_import`] and [`rx_data_step`] (row selection and
//! transforms as SQL expressions, column selection, ranges of rows, column conversions, a Rust
//! transform function), and the DataFusion table over any [`rx_core::DataSource`]
//! ([`SourceTable`]). Every plan streams chunk by chunk into an [`rx_core::DataSink`], so memory is
//! bounded by the chunk size, not the row count.
//!
//! ```no_run
//! use std::sync::Arc;
//! use rx_etl::{DataStepOptions, rx_data_step};
//! use rx_xdf::XdfData;
//!
//! let input = Arc::new(XdfData::new("flights.xdf"));
//! let output = XdfData::new("late.xdf");
//! let options = DataStepOptions::default()
//!     .row_selection("ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')")
//!     .transform("Late", "ArrDelay > 60")
//!     .transform("Hours", "CRSElapsedTime / 60.0")
//!     .vars_to_keep(["ArrDelay", "DayOfWeek"]);
//! let out = rx_data_step(input, Some(&output), options)?;
//! println!("{} rows", out.rows);
//! # Ok::<(), rx_core::Error>(())
//! ```
//!
//! DataFusion stays inside this crate, so the rest of the workspace builds without it.

pub mod engine;
pub mod merge;
pub mod partition;
pub mod plot;
pub mod sort;
pub mod step;
pub mod table;
pub mod udf;

pub use datafusion;
pub use engine::{Engine, df_error};
pub use merge::{MergeHow, MergeOptions, rx_merge, rx_union};
pub use partition::{Partition, PartitionOptions, rx_get_partitions, rx_partition};
pub use rx_core;
pub use sort::{
    DEFAULT_SORT_MEMORY, SortKey, SortOptions, default_sort_memory, parse_sort_keys, rx_sort,
};
pub use step::{
    ChunkInfo, DataStepOptions, StepOutput, Transform, TransformFn, data_step_reader, rx_data_step,
    rx_import,
};
pub use table::SourceTable;
