//! # rx-models
//!
//! The analyses of revoscale, each a PEMA ([`rx_core::Pema`]) run by a compute context: the model
//! matrix, `rx_summary`, `rx_cube`, `rx_crosstabs`, `rx_lin_mod`, `rx_logit`, `rx_glm`, and (with
//! the trees issue) `rx_dtree`, `rx_dforest`, `rx_btrees`. Linear algebra is done with faer.
//!
//! - [`dd`]: double-double arithmetic for sums and residuals that must not lose digits.
//! - [`dist`]: the distributions behind p values and intervals (normal, t, F, chi-square, gamma).
//! - [`family`]: GLM families and links as R defines them; [`glm`]: `rx_glm` and `rx_logit` by
//!   IRLS, one pass per iteration, matching R's `glm.fit`; [`gram`]: the cheap normal-equations
//!   accumulation of its intermediate iterations, [`tsqr`]: the QR of everything reported.

pub mod cube;
pub mod cube_fit;
pub mod dd;
pub mod design;
pub mod dist;
pub mod family;
pub mod glm;
pub mod gram;
pub mod linmod;
mod logit_rows;
pub mod ls;
pub mod suffstats;
pub mod summary;
pub mod tree;
pub mod tsqr;

pub use cube::{RxCrossTabs, RxCube, rx_crosstabs, rx_cube};
/// Re-exported so that users get the faer version the models were built with.
pub use faer;
pub use glm::{GlmOptions, LogitOptions, RxGlm, rx_glm, rx_logit};
pub use rx_core;
pub use summary::{RxSummary, SummaryOptions, SummaryPema, rx_summary};
pub use tree::{RxBTrees, RxDForest, RxDTree, rx_btrees, rx_dforest, rx_dtree};
