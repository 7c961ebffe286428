//! # revoscale
//!
//! Scalable data science on data bigger than memory: a Rust successor to Microsoft's revoscalepy
//! and the RevoScaleR engine under it. Every analysis reads data in chunks, computes partial
//! results that merge, and a *compute context* decides where that happens.
//!
//! This crate is the facade: documentation and re-exports only. Each part of revoscale is its own
//! crate, re-exported here as a module behind a cargo feature, so a user can depend on `revoscale`
//! with the features they need, or on the single crates directly.
//!
//! ```no_run
//! use revoscale::core::{DataSink, DataSource, ReadOptions, WriteOptions, copy_chunks};
//! use revoscale::data::TextData;
//! use revoscale::xdf::{XdfData, rx_get_info};
//!
//! # fn main() -> revoscale::core::Result<()> {
//! // rx_import: a CSV file into an .xdf file, chunk by chunk.
//! let csv = TextData::new("AirlineDemoSmall.csv").strings_as_factors(true);
//! let xdf = XdfData::new("airline.xdf");
//! let writer = xdf.create(csv.schema()?, &WriteOptions::default().overwrite())?;
//! copy_chunks(csv.open(&ReadOptions::default())?, writer, |_| {})?;
//! println!("{}", rx_get_info("airline.xdf", 5)?);
//! # Ok(())
//! # }
//! ```
//!
//! ## Crate topology
//!
//! - [`rx_core`] (feature `core`): errors, variable metadata, column info, formula parser,
//!   `DataSource` / `DataSink`, the PEMA and compute-context traits, options.
//! - [`rx_xdf`] (feature `xdf`): the .xdf file format — chunked, columnar, compressed, appendable
//!   Arrow IPC files with checksums; composite sets; `rx_get_info`, `rx_get_var_info`,
//!   `rx_set_var_info`, `rx_read_xdf`.
//! - [`rx_data`] (feature `data`): delimited text (`RxTextData`), Parquet, in-memory data; ODBC
//!   databases behind feature `odbc`.
//! - `rx_etl` (feature `etl`): `rx_import`, `rx_data_step`, sort, merge, partition on DataFusion.
//! - `rx_models` (feature `models`): summaries, regression and tree models.
//! - `rx_predict` (feature `predict`): scoring any fitted model on any source.
//! - `rx_compute` (feature `compute`): compute contexts (local sequential, local parallel,
//!   in-database), `rx_exec`, `rx_exec_by`.
//! - The `rx` command-line tool (feature `cli`).

/// The arrow version every revoscale crate is built with.
pub use arrow;

/// The DataFusion version the ETL functions plan with (feature `etl`).
#[cfg(feature = "etl")]
pub use rx_etl::datafusion;

/// Core types: errors, variable metadata, formulas, sources and sinks, PEMA, compute contexts.
#[cfg(feature = "core")]
pub mod core {
    pub use rx_core::*;
}

/// The .xdf file format.
#[cfg(feature = "xdf")]
pub mod xdf {
    pub use rx_xdf::*;
}

/// Text, Parquet, in-memory (and, with feature `odbc`, database) sources and sinks.
#[cfg(feature = "data")]
pub mod data {
    pub use rx_data::*;
}

/// ETL on DataFusion.
#[cfg(feature = "etl")]
pub mod etl {
    pub use rx_etl::*;
}

/// Summaries, regression and tree models.
#[cfg(feature = "models")]
pub mod models {
    pub use rx_models::*;
}

/// Scoring fitted models.
#[cfg(feature = "predict")]
pub mod predict {
    pub use rx_predict::*;
}

/// Compute contexts.
#[cfg(feature = "compute")]
pub mod compute {
    pub use rx_compute::*;
}
