//! # rx-predict
//!
//! `rx_predict` for every fitted model: any [`rx_core::DataSource`] in, any [`rx_core::DataSink`] out,
//! chunked, with residuals, standard errors and intervals; model (de)serialization in JSON and a
//! compact binary form, so a loaded model predicts bit-identically.
//!
//! This crate is filled by the regression and tree issues; today it only fixes its place in the
//! workspace.

pub use rx_core;
