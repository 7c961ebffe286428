//! # rx-models
//!
//! The analyses of revoscale, each a PEMA ([`rx_core::Pema`]) run by a compute context: the model
//! matrix, `rx_summary`, `rx_cube`, `rx_crosstabs`, `rx_lin_mod`, `rx_logit`, `rx_glm`, and the tree
//! models `rx_dtree`, `rx_dforest`, `rx_btrees`. Linear algebra is done with faer.
//!
//! This crate is filled by the regression and tree issues; today it only fixes its place in the
//! workspace.

pub use rx_core;
