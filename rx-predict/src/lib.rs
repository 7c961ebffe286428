//! # rx-predict
//!
//! Predictions from fitted revoscale models, model (de)serialization, and real-time scoring.
//!
//! - [`rx_predict_default`]: any [`rx_core::DataSource`] in, any [`rx_core::DataSink`] out, chunk by
//!   chunk: predictions on the response or the link scale, residuals, standard errors,
//!   confidence and prediction intervals at a chosen level, as columns `<y>_Pred`, `<y>_Resid`,
//!   `<y>_StdErr`, `<y>_Lower`, `<y>_Upper`, with the model's variables and other columns of the
//!   data alongside when asked ([`PredictOptions`], revoscalepy's argument names).
//! - [`Model`]: every kind of fitted model in one serializable enum; [`rx_serialize_model`] /
//!   [`rx_unserialize_model`] in JSON or a compact binary form (both versioned),
//!   [`rx_save_model`] / [`rx_load_model`] for files. A loaded model predicts bit for bit as
//!   the model that was saved.
//! - [`Scorer`]: a model prepared for real-time scoring of one row ([`Scorer::score`], from
//!   `(column, value)` pairs, or [`Scorer::score_values`], from values in a fixed order) or a
//!   small batch ([`Scorer::score_rows`]), without the chunk machinery; the chunked path scores
//!   through it too, so both give the same bits.
//!
//! ```no_run
//! use rx_predict::{Interval, PredictOptions, Scorer, Value, rx_load_model};
//!
//! # fn main() -> rx_core::Result<()> {
//! let model = rx_load_model("mpg.rxm")?;
//! let scorer = Scorer::with_options(
//!     &model,
//!     &PredictOptions::default().compute_std_errors(true).interval(Interval::Confidence),
//! )?;
//! let s = scorer.score(&[("wt", Value::Num(2.62)), ("hp", Value::Num(110.0))])?;
//! println!("{:?} ± {:?}", s.pred, s.std_err);
//! # Ok(())
//! # }
//! ```

mod json;
pub mod model;
pub mod predict;
pub mod scorer;
mod trees;

pub use model::{
    BINARY_SIGNATURE, Format, MODEL_FORMAT_NAME, MODEL_FORMAT_VERSION, Model, ModelKind,
    Predictive, rx_load_model, rx_save_model, rx_serialize_model, rx_unserialize_model,
};
pub use predict::{
    Interval, PredictOptions, PredictSummary, PredictType, rx_predict_default,
    rx_predict_with_progress,
};
pub use rx_core;
pub use scorer::{Score, Scorer, Value};
