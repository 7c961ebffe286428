//! # rx-etl
//!
//! ETL for revoscale on DataFusion: `rx_import` and `rx_data_step` (row selection and transforms as SQL
//! expressions), `rx_sort`, `rx_merge`, `rx_partition`, and the histogram / line plots. Every
//! [`rx_core::DataSource`] becomes a DataFusion table and every plan streams chunk by chunk into a
//! [`rx_core::DataSink`], so memory is bounded by the chunk size, not the row count.
//!
//! This crate is filled by the ETL issue; today it only fixes its place in the workspace (it depends
//! on `rx-core`, and DataFusion stays inside it so the rest of the workspace builds without it).

pub use rx_core;
