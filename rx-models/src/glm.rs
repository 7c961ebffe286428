//! `rx_glm` and `rx_logit`: generalized linear models by iteratively reweighted least squares
//! (IRLS), one pass over the data per iteration, in memory independent of the row count.
//!
//! The iteration is R's `glm.fit`, step for step, so that the results agree with R's `glm` to
//! rounding:
//!
//! - **Start.** The first pass evaluates every row at R's starting value: `η = g(mustart)` with
//!   the family's `initialize` (`(w·y + ½)/(w + 1)` for binomial, `y + 0.1` for Poisson, `y`
//!   for gaussian, Gamma and inverse Gaussian, `y + 0.1·[y = 0]` for Tweedie).
//! - **Each pass** at the current point (the start, or `β`) computes per row `η = xβ + offset`,
//!   `μ = g⁻¹(η)`, the deviance `Σ dev.resids(y, μ, w)`, and folds the working rows
//!   `√W·[x | z]`, `W = w·μ'(η)²/V(μ)`, `z = η − offset + (y − μ)/μ'(η)` (rows with `w > 0` and
//!   `μ'(η) ≠ 0`, R's `good`) into a TSQR factor ([`crate::tsqr`]) that merges across chunks.
//! - **Finish** compares the deviance at the current point with the previous one
//!   (convergence below), and otherwise solves the least-squares problem of the pass for the
//!   next `β` ([`crate::ls`], aliased columns as R's pivoting QR finds them) and asks for
//!   another pass ([`Step::AnotherPass`]). A non-finite deviance, or a `μ`/`η` outside the
//!   family's or link's domain, halves the step towards the previous `β` as R does
//!   ("step size truncated"), in a pass of its own.
//! - **Convergence.** R's rule (the default of [`rx_glm`]): `|dev − devold| / (|dev| + 0.1) <
//!   ε`, `ε = 1e-8`, at most 25 iterations. [`rx_logit`] uses revoscalepy's rule instead (see
//!   [`Convergence::RevoScale`]).
//! - **Reported values.** As R: the coefficients of the last solve, their covariance from the
//!   R factor of that last weighted least-squares problem (the weights of the point before
//!   the last), the deviance at the coefficients, the dispersion `Σ W·r²/df` (R's Pearson
//!   estimate with `W` the last working weights and `r = (y − μ)/μ'(η)` the working
//!   residuals at the final `β`) for the families with a free dispersion, 1 for binomial and
//!   Poisson; z statistics with a fixed dispersion, t statistics otherwise.
//! - **Null deviance.** With an intercept and no offset: the deviance at the weighted mean of
//!   `y`, in the second pass. Without an intercept: the deviance at `μ = g⁻¹(offset)`, in the
//!   first pass. With an intercept and an offset, R fits the intercept-only model with the
//!   offset; here that one-parameter IRLS runs alongside the model in the same passes (from
//!   the family's starting values, where R starts it from the model's fitted values; both
//!   iterate to the same minimum by R's rule), so it adds passes only if it needs more
//!   iterations than the model.
//!
//! A fit takes `iterations + 1` passes: the pass that evaluates the deviance at the last `β`
//! also decides convergence.

use std::fmt;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use faer::Mat;
use rayon::prelude::*;
use rx_core::formula::{Expr, Formula};
use rx_core::source::{ChunkReader, DataSource, ReadOptions};
use rx_core::{ComputeContext, Error, Pema, Result, RxLocalSeq, RxOptions, Step};
use serde::{Deserialize, Serialize};

use crate::dd::Dd;
use crate::design::{Design, DesignOptions, Frame, ResponseSource, SimpleColumns};
use crate::family::{AicSums, Family, Link};
use crate::gram::{Gram, GramStep};
use crate::linmod::{Coefficient, LinearPredictor, finite, num, write_coef_table};
use crate::logit_rows::{LogitRows, LogitSums, add_scaled, all_finite, scale_checked};
use crate::tsqr::Tsqr;
use crate::{dist, ls};

/// Rows of a chunk processed as one piece (pieces run in parallel).
const PIECE_ROWS: usize = 65_536;

/// The largest scaled condition number of the weighted model matrix for which an intermediate
/// IRLS step is solved from the Gram matrix: the step's relative error stays below about
/// `1e8 ε ≈ 2e-8`, which the next Newton step removes. Above it every pass is a QR.
const MAX_GRAM_CONDITION: f64 = 1e4;

/// The largest scaled condition number for which the R factor from a Gram matrix's Cholesky
/// factorization stands in for the QR's in the reported fit (covariance, condition number):
/// its relative error stays below about `1e6 ε ≈ 2e-10`. Above it, the least-squares problem
/// of the reported fit is solved by a QR (TSQR).
const MAX_REPORT_CONDITION: f64 = 1e3;

/// Rows per block of a Gram pass on the logistic path ([`GlmPema::logit_block`]).
const LOGIT_GRAM_BLOCK: usize = 4096;

/// When the IRLS iteration has converged.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Convergence {
    /// R's `glm.control(epsilon)`: converged when `|dev − devold| / (|dev| + 0.1) < epsilon`.
    Deviance {
        /// R's `epsilon` (1e-8).
        epsilon: f64,
    },
    /// revoscalepy's `rx_logit` / RevoScaleR's `rxGlm`: converged when either test passes
    /// (a tolerance of 0 turns its test off):
    /// - coefficients: `max_j |β_j − β_j,old| ≤ coef_tolerance · max_j |β_j|` (from the second
    ///   iteration on, as the first starts from R's starting values rather than from a `β`);
    /// - objective: `|dev − devold| ≤ objective_tolerance · |dev|`.
    RevoScale {
        /// revoscalepy's `coeff_tolerance` (1e-6).
        coef_tolerance: f64,
        /// revoscalepy's `objective_function_tolerance` (1e-8).
        objective_tolerance: f64,
    },
}

impl Default for Convergence {
    fn default() -> Self {
        Convergence::Deviance { epsilon: 1e-8 }
    }
}

impl Convergence {
    /// The tolerance of the deviance test, used also for the null model's iteration.
    fn deviance_tolerance(&self) -> f64 {
        match *self {
            Convergence::Deviance { epsilon } => epsilon,
            Convergence::RevoScale {
                objective_tolerance,
                ..
            } if objective_tolerance > 0.0 => objective_tolerance,
            Convergence::RevoScale { .. } => 1e-8,
        }
    }

    fn check(&self) -> Result<()> {
        let ok = match *self {
            Convergence::Deviance { epsilon } => epsilon > 0.0 && epsilon.is_finite(),
            Convergence::RevoScale {
                coef_tolerance,
                objective_tolerance,
            } => {
                coef_tolerance >= 0.0
                    && objective_tolerance >= 0.0
                    && (coef_tolerance > 0.0 || objective_tolerance > 0.0)
                    && coef_tolerance.is_finite()
                    && objective_tolerance.is_finite()
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::invalid(format!(
                "convergence tolerances {self:?} are not valid: give a positive epsilon, or coefficient and objective tolerances of 0 or more, not both 0"
            )))
        }
    }
}

/// Options of [`rx_glm`] (RevoScaleR's `rxGlm` arguments; R's `glm.control` defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlmOptions {
    /// The error distribution.
    pub family: Family,
    /// The link (`None`: the family's default link).
    pub link: Option<Link>,
    /// Probability weights column (R's prior `weights`).
    pub pweights: Option<String>,
    /// Frequency weights column (each row counts this many times).
    pub fweights: Option<String>,
    /// A numeric column added to the linear predictor with coefficient 1 (as an `offset()`
    /// term in the formula; both are summed when both are given).
    pub offset: Option<String>,
    /// Drop the first factor level instead of the last (R's `glm` coding).
    pub drop_first: bool,
    /// Report the coefficient covariance matrix.
    pub cov_coef: bool,
    /// At most this many IRLS iterations (R's `maxit`, revoscalepy's `max_iterations`: 25).
    pub max_iterations: u32,
    /// The convergence rule.
    pub convergence: Convergence,
    /// A column is aliased when its part orthogonal to the previous columns is at most this
    /// fraction of its norm (R's `glm.fit` uses `min(1e-7, epsilon / 1000)`).
    pub tolerance: f64,
    /// Solve the iterations from the Gram matrix `X'WX` (a Newton step, several times cheaper
    /// per row than the QR), keeping the QR for ill-conditioned or rank-deficient models and
    /// for the iteration whose weights give the reported covariance unless the Gram matrix is
    /// well conditioned (scaled condition number at most 1000, where its Cholesky factor is
    /// the QR's R to about 1e-10); and skip the least-squares problem of the pass that only
    /// confirms convergence (default true; false makes every iteration a QR, as R's
    /// `glm.fit`). The results agree to rounding either way.
    #[serde(default = "yes")]
    pub gram_steps: bool,
    /// Start a large fit from the fit of a sample of its rows (default true). When the source
    /// knows it has at least [`WARM_START_MIN_ROWS`] rows and the link accepts any linear
    /// predictor (binomial with the logit, probit or cloglog link; Poisson with the log link),
    /// its first [`WARM_START_ROWS`] rows are fitted in memory, and the IRLS over all rows starts
    /// from their coefficients instead of R's `mustart`: it then usually converges in two
    /// iterations instead of four, one pass over the data each, to the same estimates within
    /// the convergence tolerance. The sample does not depend on the chunk size or the compute
    /// context. false always starts from `mustart`, as R's `glm.fit` does.
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Chunking and other general options.
    pub rx: RxOptions,
}

fn yes() -> bool {
    true
}

impl Default for GlmOptions {
    fn default() -> Self {
        GlmOptions {
            family: Family::Gaussian,
            link: None,
            pweights: None,
            fweights: None,
            offset: None,
            drop_first: false,
            cov_coef: false,
            max_iterations: 25,
            convergence: Convergence::default(),
            tolerance: 1e-11,
            gram_steps: true,
            warm_start: true,
            rx: RxOptions::default(),
        }
    }
}

impl GlmOptions {
    /// Options for `family` with its default link.
    pub fn new(family: Family) -> Self {
        GlmOptions {
            family,
            ..GlmOptions::default()
        }
    }
    /// Sets the family.
    pub fn family(mut self, family: Family) -> Self {
        self.family = family;
        self
    }
    /// Sets the link.
    pub fn link(mut self, link: Link) -> Self {
        self.link = Some(link);
        self
    }
    /// Sets the probability weights column.
    pub fn pweights(mut self, column: impl Into<String>) -> Self {
        self.pweights = Some(column.into());
        self
    }
    /// Sets the frequency weights column.
    pub fn fweights(mut self, column: impl Into<String>) -> Self {
        self.fweights = Some(column.into());
        self
    }
    /// Sets the offset column.
    pub fn offset(mut self, column: impl Into<String>) -> Self {
        self.offset = Some(column.into());
        self
    }
    /// Drops the first level of each factor (R's coding).
    pub fn drop_first(mut self, yes: bool) -> Self {
        self.drop_first = yes;
        self
    }
    /// Reports the coefficient covariance matrix.
    pub fn cov_coef(mut self, yes: bool) -> Self {
        self.cov_coef = yes;
        self
    }
    /// Sets the maximum number of iterations.
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.max_iterations = n;
        self
    }
    /// Sets the convergence rule.
    pub fn convergence(mut self, rule: Convergence) -> Self {
        self.convergence = rule;
        self
    }
    /// Uses R's rule with this `epsilon`.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.convergence = Convergence::Deviance { epsilon };
        self
    }
    /// Sets the chunk size (rows per read).
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rx.rows_per_read = rows;
        self
    }

    /// Sets whether intermediate iterations are solved from the Gram matrix
    /// ([`GlmOptions::gram_steps`]).
    pub fn gram_steps(mut self, yes: bool) -> Self {
        self.gram_steps = yes;
        self
    }

    /// Sets whether a large fit starts from the fit of a sample ([`GlmOptions::warm_start`]).
    pub fn warm_start(mut self, yes: bool) -> Self {
        self.warm_start = yes;
        self
    }

    /// Checks the options and parses `formula` (it needs a response).
    pub fn check(&self, formula: &str) -> Result<Formula> {
        self.convergence.check()?;
        if self.max_iterations == 0 {
            return Err(Error::invalid("max_iterations must be at least 1"));
        }
        if !(self.tolerance >= 0.0 && self.tolerance < 1.0) {
            return Err(Error::invalid(format!(
                "the aliasing tolerance {} must be in [0, 1)",
                self.tolerance
            )));
        }
        let parsed = Formula::parse(formula)?;
        if parsed.response.is_none() {
            return Err(Error::Formula {
                formula: formula.to_string(),
                position: 0,
                message: "a generalized linear model needs a response: write `y ~ terms`".into(),
            });
        }
        Ok(parsed)
    }

    fn weight_columns(&self) -> Vec<&str> {
        self.pweights
            .iter()
            .chain(self.fweights.iter())
            .map(String::as_str)
            .collect()
    }
}

/// Options of [`rx_logit`] (revoscalepy's arguments and defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogitOptions {
    /// Probability weights column.
    pub pweights: Option<String>,
    /// Frequency weights column.
    pub fweights: Option<String>,
    /// A numeric offset column.
    pub offset: Option<String>,
    /// Drop the first factor level instead of the last.
    pub drop_first: bool,
    /// Report the coefficient covariance matrix.
    pub cov_coef: bool,
    /// At most this many iterations (25).
    pub max_iterations: u32,
    /// Coefficient tolerance (1e-6; 0 turns the test off), see [`Convergence::RevoScale`].
    pub coef_tolerance: f64,
    /// Objective (deviance) tolerance (1e-8; 0 turns the test off).
    pub objective_tolerance: f64,
    /// Start a large fit from the fit of a sample (default true), see
    /// [`GlmOptions::warm_start`].
    #[serde(default = "yes")]
    pub warm_start: bool,
    /// Chunking and other general options.
    pub rx: RxOptions,
}

impl Default for LogitOptions {
    fn default() -> Self {
        LogitOptions {
            pweights: None,
            fweights: None,
            offset: None,
            drop_first: false,
            cov_coef: false,
            max_iterations: 25,
            coef_tolerance: 1e-6,
            objective_tolerance: 1e-8,
            warm_start: true,
            rx: RxOptions::default(),
        }
    }
}

impl LogitOptions {
    /// Sets the probability weights column.
    pub fn pweights(mut self, column: impl Into<String>) -> Self {
        self.pweights = Some(column.into());
        self
    }
    /// Sets the frequency weights column.
    pub fn fweights(mut self, column: impl Into<String>) -> Self {
        self.fweights = Some(column.into());
        self
    }
    /// Sets the offset column.
    pub fn offset(mut self, column: impl Into<String>) -> Self {
        self.offset = Some(column.into());
        self
    }
    /// Drops the first level of each factor (R's coding).
    pub fn drop_first(mut self, yes: bool) -> Self {
        self.drop_first = yes;
        self
    }
    /// Reports the coefficient covariance matrix.
    pub fn cov_coef(mut self, yes: bool) -> Self {
        self.cov_coef = yes;
        self
    }
    /// Sets the maximum number of iterations.
    pub fn max_iterations(mut self, n: u32) -> Self {
        self.max_iterations = n;
        self
    }
    /// Sets the coefficient tolerance.
    pub fn coef_tolerance(mut self, tolerance: f64) -> Self {
        self.coef_tolerance = tolerance;
        self
    }
    /// Sets the objective tolerance.
    pub fn objective_tolerance(mut self, tolerance: f64) -> Self {
        self.objective_tolerance = tolerance;
        self
    }
    /// Sets the chunk size (rows per read).
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rx.rows_per_read = rows;
        self
    }
    /// Sets whether a large fit starts from the fit of a sample ([`GlmOptions::warm_start`]).
    pub fn warm_start(mut self, yes: bool) -> Self {
        self.warm_start = yes;
        self
    }

    /// The equivalent [`GlmOptions`]: binomial family, logit link, revoscalepy's convergence.
    pub fn glm_options(&self) -> GlmOptions {
        GlmOptions {
            family: Family::Binomial,
            link: Some(Link::Logit),
            pweights: self.pweights.clone(),
            fweights: self.fweights.clone(),
            offset: self.offset.clone(),
            drop_first: self.drop_first,
            cov_coef: self.cov_coef,
            max_iterations: self.max_iterations,
            convergence: Convergence::RevoScale {
                coef_tolerance: self.coef_tolerance,
                objective_tolerance: self.objective_tolerance,
            },
            tolerance: GlmOptions::default().tolerance,
            gram_steps: true,
            warm_start: self.warm_start,
            rx: self.rx.clone(),
        }
    }
}

/// A fitted generalized linear model (revoscalepy's `RxGlmResults` / `RxLogitResults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxGlm {
    /// The formula as given.
    pub formula: String,
    /// The family.
    pub family: Family,
    /// The link.
    pub link: Link,
    /// Coefficients, in model order, aliased ones and dropped reference levels included;
    /// `t_value` holds the z statistic (fixed dispersion) or the t statistic (estimated).
    pub coefficients: Vec<Coefficient>,
    /// Residual deviance.
    pub deviance: f64,
    /// Deviance of the intercept-only model (with the offset, if any), or of `μ = g⁻¹(offset)`
    /// without an intercept.
    pub null_deviance: f64,
    /// Residual degrees of freedom (observations with a positive weight, minus the rank).
    pub df_residual: f64,
    /// Null degrees of freedom.
    pub df_null: f64,
    /// R's AIC (`None` where R gives `NA`, as for Tweedie).
    pub aic: Option<f64>,
    /// The dispersion: 1 for binomial and Poisson, else Pearson's χ² over `df_residual`.
    pub dispersion: f64,
    /// IRLS iterations (R's `iter`).
    pub iterations: u32,
    /// Whether the iteration converged.
    pub converged: bool,
    /// Whether the last iteration halved its step to stay inside the domain (R's `boundary`;
    /// R also sets it for a model without terms).
    pub boundary: bool,
    /// R's warnings, e.g. "fitted probabilities numerically 0 or 1 occurred".
    pub warnings: Vec<String>,
    /// Rows used.
    pub n_valid: u64,
    /// Rows dropped for a missing value.
    pub n_missing: u64,
    /// Condition number of the column-scaled weighted model matrix (2-norm).
    pub condition_number: f64,
    /// The coefficient covariance (estimated coefficients only, in order), when asked.
    pub cov_coef: Option<Vec<Vec<f64>>>,
    /// What prediction needs: the coding (offsets included), the coefficients, the unscaled
    /// covariance, the dispersion and the link.
    pub model: LinearPredictor,
}

/// Fits a generalized linear model: `formula` on `data` with `options.family` and link, by
/// IRLS, one pass per iteration, with `context` deciding where the chunks are processed.
pub fn rx_glm(
    formula: &str,
    data: &dyn DataSource,
    options: &GlmOptions,
    context: &impl ComputeContext,
) -> Result<RxGlm> {
    let parsed = options.check(formula)?;
    let mut design = Design::resolve(
        &parsed,
        data,
        DesignOptions {
            drop_first: options.drop_first,
        },
        context,
        &options.rx,
    )?;
    if options.family != Family::Binomial
        && matches!(
            design.response.as_ref().map(|r| &r.source),
            Some(ResponseSource::Factor(_))
        )
    {
        return Err(Error::invalid(format!(
            "{formula}: the response is a factor; only the binomial family (rx_logit, or rx_glm with family binomial) takes a factor response"
        )));
    }
    if let Some(column) = &options.offset {
        let offset = Expr::Column(column.clone());
        crate::design::check_offset(&offset, data.schema()?.as_ref(), &data.name())?;
        design.offsets.push(offset);
    }
    let link = options.link.unwrap_or(options.family.default_link());
    let mut pema = GlmPema::new(design, link, options);
    if let Some(beta) = warm_start(&pema, data, options)? {
        pema.start_at(beta);
    }
    context.run(&mut pema, data, &options.rx)
}

/// Rows of the sample whose fit starts a large one ([`GlmOptions::warm_start`]): the source's
/// first rows, whatever its chunks.
pub const WARM_START_ROWS: usize = 262_144;

/// Sources with at least this many rows start from the fit of a sample
/// ([`GlmOptions::warm_start`]); smaller ones take so little time per pass that R's start is
/// kept.
pub const WARM_START_MIN_ROWS: u64 = 1_000_000;

/// The coefficients of the fit of `data`'s first [`WARM_START_ROWS`] rows, when `pema` should
/// start there: a large source, a family and link that accept any linear predictor, a sample
/// of at least 100 rows per coefficient, and a sample fit that converged without a warning
/// (none of separation, say). `None` starts from R's `mustart`.
fn warm_start(
    pema: &GlmPema,
    data: &dyn DataSource,
    options: &GlmOptions,
) -> Result<Option<Vec<f64>>> {
    let any_eta = matches!(
        (pema.family, pema.link),
        (Family::Binomial, Link::Logit | Link::Probit | Link::Cloglog)
            | (Family::Poisson, Link::Log)
    );
    if !options.warm_start
        || !any_eta
        || pema.design.ncols == 0
        || WARM_START_ROWS < 100 * pema.design.ncols
        || data.num_rows()?.is_none_or(|n| n < WARM_START_MIN_ROWS)
    {
        return Ok(None);
    }
    let read = ReadOptions {
        columns: Some(pema.columns()),
        rows_per_read: Some(options.rx.rows_per_read.clamp(1, WARM_START_ROWS)),
        ..Default::default()
    };
    let mut chunks = Vec::new();
    let mut rows = 0;
    for chunk in data.open(&read)? {
        let chunk = chunk?;
        let take = chunk.num_rows().min(WARM_START_ROWS - rows);
        chunks.push(chunk.slice(0, take));
        rows += take;
        if rows == WARM_START_ROWS {
            break;
        }
    }
    if rows < WARM_START_ROWS {
        return Ok(None);
    }
    let sample = Sample {
        name: data.name(),
        chunks,
    };
    let mut sample_options = options.clone();
    sample_options.warm_start = false;
    sample_options.cov_coef = false;
    sample_options.rx.report_progress = 0;
    sample_options.rx.max_cache_bytes = usize::MAX;
    let mut sub = GlmPema::new(pema.design.clone(), pema.link, &sample_options);
    // The sample's own errors (a bad value in its rows, say) are the full fit's to report.
    let Ok(fit) = RxLocalSeq.run(&mut sub, &sample, &sample_options.rx) else {
        return Ok(None);
    };
    let usable =
        fit.converged && fit.warnings.is_empty() && fit.model.beta.iter().all(|b| b.is_finite());
    Ok(usable.then_some(fit.model.beta))
}

/// A source's first rows, in memory (the sample of [`warm_start`]).
#[derive(Debug)]
struct Sample {
    name: String,
    chunks: Vec<RecordBatch>,
}

impl DataSource for Sample {
    fn name(&self) -> String {
        format!("the first {WARM_START_ROWS} rows of {}", self.name)
    }

    fn schema(&self) -> Result<SchemaRef> {
        self.chunks
            .first()
            .map(RecordBatch::schema)
            .ok_or_else(|| Error::invalid("internal: an empty sample"))
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let chunks = self
            .chunks
            .iter()
            .map(|chunk| match &options.columns {
                None => Ok(chunk.clone()),
                Some(names) => {
                    let schema = chunk.schema();
                    let idx = names
                        .iter()
                        .map(|n| {
                            schema.index_of(n).map_err(|_| {
                                Error::unknown_column(n, &self.name(), schema.as_ref())
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    chunk
                        .project(&idx)
                        .map_err(|e| Error::invalid(format!("{}: {e}", self.name())))
                }
            })
            .collect::<Vec<_>>();
        Ok(Box::new(chunks.into_iter()))
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        Ok(Some(self.chunks.iter().map(|c| c.num_rows() as u64).sum()))
    }

    fn split(&self, _n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        Ok(vec![Box::new(Sample {
            name: self.name.clone(),
            chunks: self.chunks.clone(),
        })])
    }
}

/// Fits a logistic regression (binomial family, logit link) with revoscalepy's defaults: at
/// most 25 iterations, converged when the coefficients change by at most 1e-6 relative or the
/// deviance by at most 1e-8 relative ([`Convergence::RevoScale`]). The response is 0/1 (or
/// proportions), or a factor whose first level is 0 and every other level 1.
pub fn rx_logit(
    formula: &str,
    data: &dyn DataSource,
    options: &LogitOptions,
    context: &impl ComputeContext,
) -> Result<RxGlm> {
    rx_glm(formula, data, &options.glm_options(), context)
}

// ---------------------------------------------------------------------------------------------
// The PEMA

/// Where a pass evaluates the rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Point {
    /// R's starting values: `η = g(mustart(y))`.
    Start,
    /// `η = Xβ + offset`, `β` per model-matrix column (0 for aliased ones).
    Beta(Vec<f64>),
}

/// How the null deviance is found.
#[derive(Debug, Clone, Copy, PartialEq)]
enum NullMode {
    /// Intercept, no offset: the deviance at the weighted mean of `y` (second pass).
    Mean,
    /// No intercept: the deviance at `g⁻¹(offset)` (first pass).
    LinkinvOffset,
    /// Intercept and offset: a one-parameter IRLS alongside the model.
    Irls,
}

/// Counts from the first pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlmCounts {
    /// Rows used.
    pub n_valid: u64,
    /// Rows with a missing value.
    pub n_missing: u64,
    /// Observations with a positive prior weight, counted by their frequency weight (R's
    /// `n.ok`).
    pub n_obs: f64,
    /// `Σ w` (prior times frequency weights).
    pub sum_w: Dd,
    /// `Σ w y`.
    pub sum_wy: Dd,
    /// Rows whose `w·y` is not a whole number (binomial).
    pub non_integer: u64,
}

impl GlmCounts {
    fn merge(&mut self, o: &GlmCounts) {
        self.n_valid += o.n_valid;
        self.n_missing += o.n_missing;
        self.n_obs += o.n_obs;
        self.sum_w = self.sum_w.add(o.sum_w);
        self.sum_wy = self.sum_wy.add(o.sum_wy);
        self.non_integer += o.non_integer;
    }
}

/// The null model's part of a pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NullPartial {
    /// The null deviance (at the mean, at `g⁻¹(offset)`, or at the null IRLS point).
    pub dev: Dd,
    /// `Σ W` of the null IRLS.
    pub sum_w: Dd,
    /// `Σ W z` of the null IRLS.
    pub sum_wz: Dd,
    /// Rows where the null point is outside the domain.
    pub invalid: u64,
}

/// What one pass of [`GlmPema`] accumulates; partials of the same pass merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlmPartial {
    /// Whether the pass fits the model (false when only the null model is still iterating).
    pub fit: bool,
    /// The R factor of `[√W·X | √W·z]` at the pass's point (a QR pass; 0 columns otherwise).
    pub tsqr: Tsqr,
    /// The Gram matrix of `[√W·X | √W·t]` (a Gram pass; 0 columns otherwise): `t = z` at the
    /// start, else the working residual `(y − μ)/μ'(η)` (the Newton step's right-hand side).
    pub gram: Gram,
    /// `Σ dev.resids(y, μ, w)`.
    pub dev: Dd,
    /// Rows where `η` or `μ` is outside the link's or family's domain.
    pub invalid: u64,
    /// Rows in the least-squares problem with a zero or undefined variance, or a non-finite
    /// working weight or response.
    pub bad_rows: u64,
    /// Rows in the least-squares problem (R's `good`).
    pub informative: u64,
    /// `Σ W_prev·r²`: the working weights of the previous point and the working residuals
    /// at this one (the Pearson statistic R's `summary.glm` computes after the last iteration).
    pub pearson: Dd,
    /// The sums of the AIC at this point.
    pub aic: AicSums,
    /// Rows with a fitted probability numerically 0 or 1 (binomial) or a rate numerically 0
    /// (Poisson).
    pub extreme: u64,
    /// Counts (meaningful in the first pass).
    pub counts: GlmCounts,
    /// The null model's part.
    pub null: NullPartial,
}

impl GlmPartial {
    /// Adds a block's sums from the vectorized logistic kernel.
    fn add_logit_sums(&mut self, sums: &LogitSums) {
        self.dev = self.dev.add_f64(sums.dev);
        // Binomial rows with a unit prior weight and a 0/1 response: their AIC term is their
        // deviance term.
        self.aic.n += sums.n;
        self.aic.sum_w += sums.n;
        self.aic.minus_2_loglik += sums.dev;
        self.extreme += sums.extreme;
        self.informative += sums.informative;
        self.bad_rows += sums.bad;
    }
}

/// The null model's one-parameter IRLS.
#[derive(Debug, Clone, PartialEq)]
struct NullIrls {
    /// The current intercept (`None`: the starting values).
    point: Option<f64>,
    /// The last accepted intercept (for step halving).
    old: Option<f64>,
    devold: f64,
    iter: u32,
    halvings: u32,
}

/// The model's iteration state.
#[derive(Debug, Clone)]
struct Iteration {
    /// The point the next pass evaluates.
    point: Point,
    /// The point of the last least-squares solve (its weights give the covariance).
    wls_point: Option<Point>,
    /// The last solve.
    wls_fit: Option<ls::LsFit>,
    /// The last accepted `β` (R's `coefold`).
    coefold: Option<Vec<f64>>,
    devold: f64,
    iter: u32,
    halvings: u32,
    boundary: bool,
    /// The fit started from a sample's coefficients ([`GlmOptions::warm_start`]). Outside the
    /// domain on some row before the first step, it starts from `mustart` instead; and it may
    /// converge after a step too large for the weights of the point before it to give the
    /// covariance, which then comes from the weights at the reported coefficients (see
    /// [`LARGE_FINAL_STEP`]).
    from_sample: bool,
}

/// A sample-started fit whose last step (relative) is larger than this confirms convergence
/// with a Gram pass rather than a deviance pass, and reports the covariance at the
/// coefficients it reports: the weights of the point before them (R's convention) would be
/// off by about a seventh of the step, relative. R's start converges with steps of about
/// 1e-6 at the end, where either convention gives the same covariance to about 1e-7.
const LARGE_FINAL_STEP: f64 = 1e-5;

/// The model's part of the result, kept while the null model still iterates.
#[derive(Debug, Clone)]
struct Finished {
    fit: ls::LsFit,
    beta: Vec<f64>,
    partial: GlmPartial,
    converged: bool,
}

/// `(max_j |β_j − old_j|, max_j |β_j|)`: the size of a step and of the coefficients.
fn step_and_size(beta: &[f64], old: &[f64]) -> (f64, f64) {
    let step = beta
        .iter()
        .zip(old)
        .map(|(b, o)| (b - o).abs())
        .fold(0.0, f64::max);
    (step, beta.iter().map(|b| b.abs()).fold(0.0, f64::max))
}

/// How a pass accumulates its weighted least-squares problem.
#[derive(Debug, Clone, Copy, PartialEq)]
enum PassMode {
    /// The QR (TSQR) of the problem: the iteration whose weights give the reported
    /// covariance when the Gram matrix's factor cannot, and every iteration of an
    /// ill-conditioned or rank-deficient model.
    Qr,
    /// The Gram matrix, for a Newton step in step form: the intermediate iterations (and the
    /// reported fit, when well conditioned: see [`MAX_REPORT_CONDITION`]).
    Gram,
    /// The deviance alone, without the least-squares problem: the pass at a `β` whose step
    /// already passes the convergence test (or is predicted to by its Newton decrement). If it
    /// does not converge after all, the same point is evaluated again as a Gram pass.
    Deviance,
    /// The fit has converged (or stopped) after a Gram step: one more pass recomputes the last
    /// least-squares problem, at [`Iteration::wls_point`], as a QR.
    Refit,
}

/// A converged fit waiting for the QR of its last least-squares problem ([`PassMode::Refit`]).
#[derive(Debug, Clone)]
struct PendingRefit {
    partial: GlmPartial,
    converged: bool,
}

/// `rx_glm` as a PEMA.
#[derive(Debug, Clone)]
pub struct GlmPema {
    design: Design,
    family: Family,
    link: Link,
    options: GlmOptions,
    null_mode: NullMode,
    it: Iteration,
    counts: Option<GlmCounts>,
    /// The weighted mean of `y` (null mode `Mean`), known after the first pass.
    null_mean: Option<f64>,
    null_irls: NullIrls,
    /// The null deviance and whether its fit converged, once known.
    null_done: Option<(f64, bool)>,
    finished: Option<Finished>,
    warnings: Vec<String>,
    /// Passes finished.
    passes: u32,
    /// How the next pass accumulates.
    mode: PassMode,
    /// Whether Gram passes may still be used (false once a Gram step was refused).
    gram_ok: bool,
    /// The fit waiting for its refit pass.
    refit: Option<PendingRefit>,
    /// Per solve from a `β`: the relative size of its step, `max |δ| / max |β|`, and its
    /// Newton decrement `δ'X'WXδ` (the deviance decrease it predicts).
    steps: Vec<(f64, f64)>,
    /// The model matrix's columns, for [`GlmPema::logit_block`]: a logistic regression
    /// (binomial, logit link, no probability weights) whose terms are each one numeric variable
    /// or one factor. `None` otherwise.
    logit_columns: Option<Vec<SimpleColumns>>,
}

/// One row's inputs.
#[derive(Debug, Clone, Copy)]
struct Row {
    y: f64,
    /// Prior (probability) weight.
    w: f64,
    /// Frequency weight.
    f: f64,
    offset: f64,
}

/// The number of ones in the response of rows `frame.rows[start..start + len]`, when they are
/// consecutive rows of the chunk (`None` otherwise).
fn block_ones(frame: &Frame, start: usize, len: usize) -> Option<usize> {
    let range = frame.consecutive(start, len)?;
    let (y, _) = frame.response.as_ref()?;
    Some(y[range].iter().map(|&v| usize::from(v == 1.0)).sum())
}

/// What [`GlmPema::logit_block`] did with a block.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LogitBlock {
    /// The block's sums and least-squares rows were added.
    Added,
    /// The block does not qualify (nothing added): the general path takes it.
    NotApplicable,
    /// A value of an unchecked frame is NaN or infinite (nothing added).
    NotFinite,
}

/// Per-block work arrays of [`GlmPema::logit_block`], reused from block to block.
#[derive(Debug, Default)]
struct LogitBuffers {
    /// A factor's coefficient per level.
    levels: Vec<f64>,
    eta: Vec<f64>,
    sw: Vec<f64>,
    swz: Vec<f64>,
    zeros: Vec<f64>,
}

impl LogitBuffers {
    fn resize(&mut self, len: usize) {
        for v in [&mut self.eta, &mut self.sw, &mut self.swz, &mut self.zeros] {
            if v.len() < len {
                v.resize(len, 0.0);
            }
        }
    }
}

impl GlmPema {
    /// The analysis of a resolved design (its offsets included) with `link`.
    pub fn new(design: Design, link: Link, options: &GlmOptions) -> Self {
        // A model without columns (`y ~ offset(o) - 1`) has nothing to fit: as R's `glm.fit`
        // for an empty model, one pass evaluates it at `η = offset`, with 0 iterations.
        let empty = design.ncols == 0;
        let null_mode = match (design.intercept, design.offsets.is_empty()) {
            (true, true) => NullMode::Mean,
            (true, false) => NullMode::Irls,
            (false, _) => NullMode::LinkinvOffset,
        };
        GlmPema {
            family: options.family,
            link,
            options: options.clone(),
            null_mode,
            it: Iteration {
                point: if empty {
                    Point::Beta(Vec::new())
                } else {
                    Point::Start
                },
                wls_point: empty.then(|| Point::Beta(Vec::new())),
                wls_fit: empty.then(|| ls::solve(&Mat::zeros(1, 1), 0.0)),
                coefold: None,
                devold: f64::NAN,
                iter: 0,
                halvings: 0,
                boundary: false,
                from_sample: false,
            },
            counts: None,
            null_mean: None,
            null_irls: NullIrls {
                point: None,
                old: None,
                devold: f64::NAN,
                iter: 0,
                halvings: 0,
            },
            null_done: None,
            finished: None,
            warnings: Vec::new(),
            passes: 0,
            mode: if empty || !options.gram_steps {
                PassMode::Qr
            } else {
                PassMode::Gram
            },
            gram_ok: !empty && options.gram_steps,
            refit: None,
            steps: Vec::new(),
            logit_columns: (options.family == Family::Binomial
                && link == Link::Logit
                && options.pweights.is_none()
                && !options.family.estimates_dispersion())
            .then(|| design.simple_columns())
            .flatten()
            // The block checks the values of the numeric columns it reads: all of them.
            .filter(|columns| {
                (0..design.numerics.len()).all(|v| {
                    columns
                        .iter()
                        .any(|c| matches!(c, SimpleColumns::Numeric { var, .. } if *var == v))
                })
            }),
            design,
        }
    }

    /// Starts the IRLS at `beta` (per model-matrix column) instead of R's `mustart`.
    fn start_at(&mut self, beta: Vec<f64>) {
        if self.design.ncols > 0 && beta.len() == self.design.ncols {
            self.it.point = Point::Beta(beta);
            self.it.from_sample = true;
        }
    }

    /// The design the model is fitted on.
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The point the next pass evaluates: `None` for R's starting values `η = g(mustart(y))`,
    /// else `β` per model-matrix column (0 for aliased ones), with `η = Xβ + offset`. For passes
    /// computed elsewhere (rx-compute's in-database IRLS), which build the PEMA with
    /// [`GlmOptions::gram_steps`] off so that every pass is a QR pass at this point, and give
    /// [`Pema::finish`] a [`GlmPartial`] from [`Pema::init`] with its sums filled in.
    pub fn point(&self) -> Option<&[f64]> {
        match self.pass_point() {
            Point::Start => None,
            Point::Beta(b) => Some(b),
        }
    }

    fn warn(&mut self, message: &str) {
        if !self.warnings.iter().any(|w| w == message) {
            self.warnings.push(message.to_string());
        }
    }

    /// `η` of the rows of a block at `point`.
    fn eta(&self, point: &Point, x: &Mat<f64>, rows: &[Row]) -> Vec<f64> {
        match point {
            Point::Start => rows
                .iter()
                .map(|r| self.link.link(self.family.mustart(r.y, r.w)))
                .collect(),
            Point::Beta(beta) => {
                let mut eta: Vec<f64> = vec![0.0; rows.len()];
                for (j, &b) in beta.iter().enumerate() {
                    if b == 0.0 {
                        continue;
                    }
                    let col = x.col(j);
                    for (i, e) in eta.iter_mut().enumerate() {
                        *e += col[i] * b;
                    }
                }
                for (e, r) in eta.iter_mut().zip(rows) {
                    *e += r.offset;
                }
                eta
            }
        }
    }

    fn rows(&self, frame: &Frame, start: usize, len: usize) -> Vec<Row> {
        let y = self.design.response_values(frame, start, len);
        let off = self.design.offset_values(frame, start, len);
        frame.rows[start..start + len]
            .iter()
            .enumerate()
            .map(|(i, &r)| {
                let r = r as usize;
                let mut k = 0;
                let mut w = 1.0;
                let mut f = 1.0;
                if self.options.pweights.is_some() {
                    w = frame.weights[k][r];
                    k += 1;
                }
                if self.options.fweights.is_some() {
                    f = frame.weights[k][r];
                }
                Row {
                    y: y[i],
                    w,
                    f,
                    offset: off[i],
                }
            })
            .collect()
    }

    /// A chunk's partial (`None`: the unchecked frame has a non-finite value).
    fn process_frame(&self, frame: &Frame) -> Result<Option<GlmPartial>> {
        let mut acc = self.init();
        acc.counts.n_missing += frame.n_missing() as u64;
        acc.counts.n_valid += frame.rows.len() as u64;
        let n = frame.rows.len();
        // Pieces of a fixed size (so the result does not depend on the thread count), processed
        // in parallel and merged in order.
        let pieces: Vec<(usize, usize)> = (0..n)
            .step_by(PIECE_ROWS)
            .map(|s| (s, (n - s).min(PIECE_ROWS)))
            .collect();
        let parts: Vec<Result<Option<GlmPartial>>> = pieces
            .par_iter()
            .map(|&(s, len)| {
                let mut part = self.init();
                Ok(self.process_rows(&mut part, frame, s, len)?.then_some(part))
            })
            .collect();
        for part in parts {
            match part? {
                Some(part) => self.merge(&mut acc, part)?,
                None => return Ok(None),
            }
        }
        Ok(Some(acc))
    }

    /// Folds rows `frame.rows[start..start + len]` into `acc`; false (and `acc` incomplete) when
    /// a row of an unchecked frame has a non-finite value.
    fn process_rows(
        &self,
        acc: &mut GlmPartial,
        frame: &Frame,
        start: usize,
        len: usize,
    ) -> Result<bool> {
        let p = self.design.ncols;
        let first = self.passes == 0;
        let binomial = self.family == Family::Binomial;
        let eps10 = 10.0 * f64::EPSILON;
        let end = start + len;
        // The block's model-matrix rows, and a last column for a Gram pass's scaled target: a
        // Gram pass scales the block in place and adds it as it is.
        // Rows per block: a QR folds 256 at a time; a Gram pass of the logistic path takes
        // longer blocks, so that each column is read in a run the hardware prefetcher follows
        // and the matrix multiply is called less often.
        let block_rows = if acc.tsqr.ncols() == 0 && self.logit_columns.is_some() {
            LOGIT_GRAM_BLOCK
        } else {
            Tsqr::BLOCK
        };
        let mut x = Mat::<f64>::zeros(len.min(block_rows), p + 1);
        let mut buffers = LogitBuffers::default();
        // Whether this pass's null-model work reads the rows.
        let null_rows = match self.null_mode {
            NullMode::Mean => self.null_mean.is_some() && self.null_done.is_none(),
            NullMode::LinkinvOffset => first,
            NullMode::Irls => self.null_done.is_none(),
        };
        let mut start = start;
        while start < end {
            let len = (end - start).min(block_rows);
            // The model's part, straight from the frame's columns when the block allows (which
            // checks the values it reads for NaN and infinities itself).
            let fitted = if acc.fit {
                match self.logit_block(acc, frame, start, len, &mut x, &mut buffers) {
                    LogitBlock::Added => true,
                    LogitBlock::NotFinite => return Ok(false),
                    LogitBlock::NotApplicable => false,
                }
            } else {
                false
            };
            if !fitted && !frame.rows_finite(start, len) {
                return Ok(false);
            }
            if !fitted {
                self.design
                    .fill(frame, start, x.as_mut().submatrix_mut(0, 0, len, p));
            }
            // A logistic block without weights or offsets has a 0/1 response (the block
            // checked): its counts and its null deviance follow from its number of ones.
            let ones = (fitted && self.options.fweights.is_none() && frame.offset.is_none())
                .then(|| block_ones(frame, start, len))
                .flatten();
            let rows_needed = !fitted
                || match ones {
                    None => first || null_rows,
                    Some(_) => null_rows && self.null_mode != NullMode::Mean,
                };
            let rows = if rows_needed {
                self.rows(frame, start, len)
            } else {
                Vec::new()
            };
            if first && let Some(k) = ones {
                let n = len as f64;
                acc.counts.n_obs += n;
                acc.counts.sum_w = acc.counts.sum_w.add_f64(n);
                acc.counts.sum_wy = acc.counts.sum_wy.add_f64(k as f64);
            } else if first {
                for r in &rows {
                    if let Err(message) = self.family.check_response(r.y, r.w, self.link) {
                        let name = self
                            .design
                            .response
                            .as_ref()
                            .map_or("y", |s| s.name.as_str());
                        return Err(Error::BadValue {
                            location: format!("{}: response '{name}'", self.design.formula),
                            message,
                        });
                    }
                    if r.w > 0.0 {
                        acc.counts.n_obs += r.f;
                    }
                    acc.counts.sum_w = acc.counts.sum_w.add_f64(r.f * r.w);
                    acc.counts.sum_wy = acc.counts.sum_wy.add_prod(r.f * r.w, r.y);
                    let m = r.w * r.y;
                    if binomial && (m - m.round_ties_even()).abs() > 1e-3 {
                        acc.counts.non_integer += 1;
                    }
                }
            }
            // The model at its current point.
            let mut sw = vec![0.0; len];
            let mut swz = vec![0.0; len];
            if acc.fit && !fitted {
                let point = self.pass_point();
                // A Gram pass from a `β` accumulates the Newton step's right-hand side: the
                // working residual instead of the working response.
                let step_form = acc.gram.ncols() > 0 && matches!(point, Point::Beta(_));
                // Whether the block went through the vectorized logistic kernel.
                let mut fill_block = false;
                let eta = self.eta(point, &x, &rows);
                // Pearson's χ² (at the point of the last least-squares fit) only where the
                // dispersion is estimated: binomial and Poisson fix it at 1.
                let eta_prev = if self.family.estimates_dispersion() && self.mode != PassMode::Refit
                {
                    self.it.wls_point.as_ref().map(|pt| self.eta(pt, &x, &rows))
                } else {
                    None
                };
                let logit_rows = self.family == Family::Binomial
                    && self.link == Link::Logit
                    && self.options.pweights.is_none()
                    && eta_prev.is_none();
                if logit_rows {
                    let y: Vec<f64> = rows.iter().map(|r| r.y).collect();
                    if LogitRows::applies(&eta, &y) {
                        let f: Option<Vec<f64>> = self
                            .options
                            .fweights
                            .is_some()
                            .then(|| rows.iter().map(|r| r.f).collect());
                        let offset: Vec<f64> = rows.iter().map(|r| r.offset).collect();
                        let sums = LogitRows {
                            eta: &eta,
                            y: &y,
                            f: f.as_deref(),
                            offset: &offset,
                            step_form,
                            sw: &mut sw,
                            swt: &mut swz,
                        }
                        .run();
                        acc.add_logit_sums(&sums);
                        fill_block = true;
                    }
                }
                // Block sums in plain doubles (at most BLOCK non-negative deviance terms each),
                // added to the double-double totals once per block.
                let mut dev_block = 0.0;
                let mut pearson_block = 0.0;
                // Binomial rows with a unit prior weight and a 0/1 response: their AIC term
                // −2·log dbinom(y; 1, μ) is their deviance term.
                let binomial_aic = self.family == Family::Binomial;
                for (i, r) in rows
                    .iter()
                    .enumerate()
                    .take(if fill_block { 0 } else { len })
                {
                    let e = eta[i];
                    let (mu, me) = self.link.inverse_and_mu_eta(e);
                    if !(self.link.valideta(e) && self.family.validmu(mu)) {
                        acc.invalid += 1;
                    }
                    if r.w > 0.0 {
                        let d = self.family.dev_resid(r.y, mu, r.w);
                        dev_block += r.f * d;
                        if binomial_aic && r.w == 1.0 && (r.y == 0.0 || r.y == 1.0) {
                            acc.aic.n += r.f;
                            acc.aic.sum_w += r.f;
                            acc.aic.minus_2_loglik += r.f * d;
                        } else {
                            self.family.aic_add(&mut acc.aic, r.y, mu, r.w, r.f);
                        }
                    }
                    let extreme = match self.family {
                        Family::Binomial => mu > 1.0 - eps10 || mu < eps10,
                        Family::Poisson => mu < eps10,
                        _ => false,
                    };
                    if extreme {
                        acc.extreme += 1;
                    }
                    if r.w > 0.0 && me != 0.0 {
                        let ww = r.w * me * me / self.family.variance(mu);
                        let res = (r.y - mu) / me;
                        let z = if step_form { res } else { e - r.offset + res };
                        let s = (r.f * ww).sqrt();
                        if !(s.is_finite() && z.is_finite()) {
                            // R stops on "0s in V(mu)" or "NAs in V(mu)".
                            acc.bad_rows += 1;
                        } else if s > 0.0 {
                            sw[i] = s;
                            swz[i] = s * z;
                            acc.informative += 1;
                        }
                    }
                    if let Some(ep) = &eta_prev
                        && let Some((ww_prev, _)) = self.working(r, ep[i])
                    {
                        let res = (r.y - mu) / me;
                        pearson_block += r.f * ww_prev * res * res;
                    }
                }
                acc.dev = acc.dev.add_f64(dev_block);
                acc.pearson = acc.pearson.add_f64(pearson_block);
                let fill = |mut m: faer::MatMut<'_, f64>| {
                    for j in 0..p {
                        let src = x.col(j);
                        let mut dst = m.as_mut().col_mut(j);
                        match (src.try_as_col_major(), dst.as_mut().try_as_col_major_mut()) {
                            (Some(src), Some(dst)) => {
                                for ((d, s), w) in dst
                                    .as_slice_mut()
                                    .iter_mut()
                                    .zip(&src.as_slice()[..len])
                                    .zip(&sw)
                                {
                                    *d = s * w;
                                }
                            }
                            _ => {
                                for i in 0..len {
                                    dst[i] = src[i] * sw[i];
                                }
                            }
                        }
                    }
                    for i in 0..len {
                        m[(i, p)] = swz[i];
                    }
                };
                if acc.gram.ncols() > 0 {
                    let mut block = x.as_mut().submatrix_mut(0, 0, len, p + 1);
                    block
                        .as_mut()
                        .col_mut(p)
                        .copy_from(faer::ColRef::from_slice(&swz));
                    crate::gram::scale_rows(block.as_mut().submatrix_mut(0, 0, len, p), &sw);
                    acc.gram.add_block(block.as_ref());
                } else {
                    acc.tsqr.add_rows(len, fill);
                }
            }
            // The null model.
            match self.null_mode {
                NullMode::Mean => {
                    if let Some(mean) = self.null_mean
                        && self.null_done.is_none()
                    {
                        if let Some(k) = ones {
                            let d1 = self.family.dev_resid(1.0, mean, 1.0);
                            let d0 = self.family.dev_resid(0.0, mean, 1.0);
                            acc.null.dev = acc
                                .null
                                .dev
                                .add_f64(k as f64 * d1)
                                .add_f64((len - k) as f64 * d0);
                        } else {
                            // Rows repeat few (y, w) pairs (a 0/1 response: two): the last two
                            // deviance terms are remembered.
                            let mut memo = [(f64::NAN, f64::NAN, 0.0); 2];
                            let mut block = 0.0;
                            for r in rows.iter().filter(|r| r.w > 0.0) {
                                let d = match memo.iter().find(|m| m.0 == r.y && m.1 == r.w) {
                                    Some(m) => m.2,
                                    None => {
                                        let d = self.family.dev_resid(r.y, mean, r.w);
                                        memo = [(r.y, r.w, d), memo[0]];
                                        d
                                    }
                                };
                                block += r.f * d;
                            }
                            acc.null.dev = acc.null.dev.add_f64(block);
                        }
                    }
                }
                NullMode::LinkinvOffset => {
                    if first {
                        for r in rows.iter().filter(|r| r.w > 0.0) {
                            let mu = self.link.inverse(r.offset);
                            acc.null.dev = acc
                                .null
                                .dev
                                .add_f64(r.f * self.family.dev_resid(r.y, mu, r.w));
                        }
                    }
                }
                NullMode::Irls => {
                    if self.null_done.is_none() {
                        for r in &rows {
                            let e = match self.null_irls.point {
                                None => self.link.link(self.family.mustart(r.y, r.w)),
                                Some(b) => b + r.offset,
                            };
                            let mu = self.link.inverse(e);
                            if !(self.link.valideta(e) && self.family.validmu(mu)) {
                                acc.null.invalid += 1;
                            }
                            if r.w > 0.0 {
                                acc.null.dev = acc
                                    .null
                                    .dev
                                    .add_f64(r.f * self.family.dev_resid(r.y, mu, r.w));
                            }
                            if let Some((ww, z)) = self.working(r, e)
                                && ww.is_finite()
                                && z.is_finite()
                            {
                                acc.null.sum_w = acc.null.sum_w.add_f64(r.f * ww);
                                acc.null.sum_wz = acc.null.sum_wz.add_prod(r.f * ww, z);
                            }
                        }
                    }
                }
            }
            start += len;
        }
        Ok(true)
    }

    /// The model's part of a block (`rows[start..start + len]`) for a logistic regression on
    /// simple columns ([`GlmPema::logit_columns`]), built from the frame's columns: `η` term by
    /// term, the vectorized kernel, and the weighted block (into `x`) added to the pass's Gram
    /// matrix or QR (nothing in a deviance pass). The same operations in the same order as the
    /// general path (which fills the model matrix first); without its per-row structures and
    /// the filled matrix's second pass. The numeric values it reads are checked for NaN and
    /// infinities here ([`LogitBlock::NotFinite`]); nothing is added when the block does not
    /// qualify (rows not consecutive, a response other than 0/1, a non-finite `η`).
    fn logit_block(
        &self,
        acc: &mut GlmPartial,
        frame: &Frame,
        start: usize,
        len: usize,
        x: &mut Mat<f64>,
        b: &mut LogitBuffers,
    ) -> LogitBlock {
        let Some(columns) = &self.logit_columns else {
            return LogitBlock::NotApplicable;
        };
        let p = self.design.ncols;
        let Some(range) = frame.consecutive(start, len) else {
            return LogitBlock::NotApplicable;
        };
        let Some((yv, _)) = &frame.response else {
            return LogitBlock::NotApplicable;
        };
        let y = &yv[range.clone()];
        // Without probability weights, the frequency weights are the frame's first weights.
        let f = match self.options.fweights {
            Some(_) => match frame.weights.first() {
                Some(w) => Some(&w[range.clone()]),
                None => return LogitBlock::NotApplicable,
            },
            None => None,
        };
        if let Some(f) = f
            && !all_finite(f)
        {
            return LogitBlock::NotFinite;
        }
        b.resize(len);
        let offset: &[f64] = match &frame.offset {
            Some(o) => &o[range.clone()],
            None => &b.zeros[..len],
        };
        let eta = &mut b.eta[..len];
        let point = self.pass_point();
        let step_form = acc.gram.ncols() > 0 && matches!(point, Point::Beta(_));
        match point {
            Point::Start => {
                // R's start for a 0/1 response: μ = (y + 0.5) / 2, η = logit(μ).
                let e0 = self.link.link(self.family.mustart(0.0, 1.0));
                let e1 = self.link.link(self.family.mustart(1.0, 1.0));
                for (e, &v) in eta.iter_mut().zip(y) {
                    *e = if v == 1.0 {
                        e1
                    } else if v == 0.0 {
                        e0
                    } else {
                        f64::NAN
                    };
                }
            }
            Point::Beta(beta) => {
                eta.fill(0.0);
                for piece in columns {
                    match piece {
                        SimpleColumns::Intercept => {
                            let bj = beta[0];
                            if bj != 0.0 {
                                eta.iter_mut().for_each(|e| *e += bj);
                            }
                        }
                        SimpleColumns::Numeric { col, var } => {
                            let bj = beta[*col];
                            if bj != 0.0 {
                                add_scaled(eta, &frame.nums[*var][range.clone()], bj);
                            }
                        }
                        SimpleColumns::Factor { factor, columns } => {
                            // Per level, its coefficient (0 for the reference level).
                            b.levels.clear();
                            b.levels
                                .extend(columns.iter().map(|c| c.map_or(0.0, |j| beta[j])));
                            let codes = &frame.codes[*factor][range.clone()];
                            for (e, &c) in eta.iter_mut().zip(codes) {
                                *e += b.levels.get(c as usize).copied().unwrap_or(0.0);
                            }
                        }
                    }
                }
                for (e, o) in eta.iter_mut().zip(offset) {
                    *e += o;
                }
            }
        }
        if !LogitRows::applies(eta, y) {
            // A non-finite η may come from a non-finite value: the general path checks.
            return LogitBlock::NotApplicable;
        }
        let (sw, swz) = (&mut b.sw[..len], &mut b.swz[..len]);
        let sums = LogitRows {
            eta,
            y,
            f,
            offset,
            step_form,
            sw,
            swt: swz,
        }
        .run();
        // The weighted block: √W·X | √W·t. Every numeric column is read here, so this is where
        // its values are checked (the rows' other values: the response is 0 or 1, the weights
        // were checked above).
        let (sw, swz) = (&b.sw[..len], &b.swz[..len]);
        if acc.gram.ncols() == 0 && acc.tsqr.ncols() == 0 {
            // A deviance pass: no least-squares rows, only the check of the values.
            let finite = columns.iter().all(|piece| match piece {
                SimpleColumns::Numeric { var, .. } => all_finite(&frame.nums[*var][range.clone()]),
                _ => true,
            });
            if !finite {
                return LogitBlock::NotFinite;
            }
            acc.add_logit_sums(&sums);
            return LogitBlock::Added;
        }
        let mut finite = true;
        for piece in columns {
            match piece {
                SimpleColumns::Intercept => x.col_as_slice_mut(0)[..len].copy_from_slice(sw),
                SimpleColumns::Numeric { col: j, var } => {
                    let v = &frame.nums[*var][range.clone()];
                    finite &= scale_checked(&mut x.col_as_slice_mut(*j)[..len], v, sw);
                }
                SimpleColumns::Factor { factor, columns } => {
                    let codes = &frame.codes[*factor][range.clone()];
                    for j in columns.iter().flatten() {
                        x.col_as_slice_mut(*j)[..len].fill(0.0);
                    }
                    for (i, (&c, &w)) in codes.iter().zip(sw).enumerate() {
                        if let Some(Some(j)) = columns.get(c as usize) {
                            x[(i, *j)] = w;
                        }
                    }
                }
            }
        }
        if !finite {
            return LogitBlock::NotFinite;
        }
        acc.add_logit_sums(&sums);
        x.col_as_slice_mut(p)[..len].copy_from_slice(swz);
        let block = x.as_ref().submatrix(0, 0, len, p + 1);
        if acc.gram.ncols() > 0 {
            acc.gram.add_block(block);
        } else {
            acc.tsqr.add_rows(len, |mut m| m.copy_from(block));
        }
        LogitBlock::Added
    }

    /// The point the pass evaluates: the current one, or the last solve's for a refit.
    fn pass_point(&self) -> &Point {
        match (self.mode, &self.it.wls_point) {
            (PassMode::Refit, Some(p)) => p,
            _ => &self.it.point,
        }
    }

    /// Working weight `W` and working response `z` at `η` (`None` when the row is not in the
    /// least-squares problem: zero weight or `μ'(η) = 0`).
    fn working(&self, r: &Row, eta: f64) -> Option<(f64, f64)> {
        let me = self.link.mu_eta(eta);
        if r.w <= 0.0 || me == 0.0 {
            return None;
        }
        let mu = self.link.inverse(eta);
        let v = self.family.variance(mu);
        Some((r.w * me * me / v, eta - r.offset + (r.y - mu) / me))
    }
}

impl Pema for GlmPema {
    type Partial = GlmPartial;
    type Output = RxGlm;

    fn columns(&self) -> Vec<String> {
        self.design.columns(&self.options.weight_columns())
    }

    fn expects_more_passes(&self) -> bool {
        // IRLS: one pass per iteration, and at least one after the start.
        true
    }

    fn init(&self) -> GlmPartial {
        let fit = self.finished.is_none();
        let q = self.design.ncols + 1;
        let gram = fit && self.mode == PassMode::Gram;
        let qr = fit && matches!(self.mode, PassMode::Qr | PassMode::Refit);
        GlmPartial {
            fit,
            tsqr: Tsqr::new(if qr { q } else { 0 }),
            gram: Gram::new(if gram { q } else { 0 }),
            dev: Dd::ZERO,
            invalid: 0,
            bad_rows: 0,
            informative: 0,
            pearson: Dd::ZERO,
            aic: AicSums::default(),
            extreme: 0,
            counts: GlmCounts::default(),
            null: NullPartial::default(),
        }
    }

    fn process(&self, acc: &mut GlmPartial, chunk: &RecordBatch) -> Result<()> {
        // The frame skips its scan for NaN and infinite values (one read of each column
        // instead of two); the rows check their own values as they are used, and a chunk that
        // has any is done again with the checked frame, which makes them missing.
        for check_finite in [false, true] {
            let frame = self.design.frame_with(
                chunk,
                &self.options.weight_columns(),
                true,
                check_finite,
            )?;
            if let Some(part) = self.process_frame(&frame)? {
                return self.merge(acc, part);
            }
        }
        Err(Error::invalid(
            "internal: a checked frame reported unchecked values",
        ))
    }

    fn merge(&self, into: &mut GlmPartial, other: GlmPartial) -> Result<()> {
        if into.fit != other.fit {
            return Err(Error::invalid(
                "internal: merging partials of different passes",
            ));
        }
        into.tsqr.merge(&other.tsqr);
        into.gram.merge(&other.gram);
        into.dev = into.dev.add(other.dev);
        into.invalid += other.invalid;
        into.bad_rows += other.bad_rows;
        into.informative += other.informative;
        into.pearson = into.pearson.add(other.pearson);
        into.aic.merge(&other.aic);
        into.extreme += other.extreme;
        into.counts.merge(&other.counts);
        into.null.dev = into.null.dev.add(other.null.dev);
        into.null.sum_w = into.null.sum_w.add(other.null.sum_w);
        into.null.sum_wz = into.null.sum_wz.add(other.null.sum_wz);
        into.null.invalid += other.null.invalid;
        Ok(())
    }

    fn finish(&mut self, acc: GlmPartial) -> Result<Step<RxGlm>> {
        self.passes += 1;
        if self.counts.is_none() {
            if acc.counts.n_valid == 0 {
                return Err(Error::invalid(format!(
                    "{}: no rows without missing values; check the formula's columns and the data",
                    self.design.formula
                )));
            }
            if acc.counts.n_obs <= 0.0 {
                return Err(Error::invalid(format!(
                    "{}: every row has a zero weight; the model needs rows with positive weights",
                    self.design.formula
                )));
            }
            if acc.counts.non_integer > 0 {
                self.warn("non-integer #successes in a binomial glm!");
            }
            if self.null_mode == NullMode::Mean {
                self.null_mean = Some(acc.counts.sum_wy.div(acc.counts.sum_w).to_f64());
            }
            self.counts = Some(acc.counts.clone());
        }
        self.finish_null(&acc)?;
        if acc.fit {
            self.finish_model(acc)?;
        }
        match (&self.finished, &self.null_done) {
            (Some(_), Some(_)) => {
                let Some(fin) = self.finished.take() else {
                    return Err(Error::invalid("internal: no fit"));
                };
                Ok(Step::Done(self.result(fin)))
            }
            _ => Ok(Step::AnotherPass),
        }
    }
}

impl GlmPema {
    /// The null model's step at the end of a pass.
    fn finish_null(&mut self, acc: &GlmPartial) -> Result<()> {
        if self.null_done.is_some() {
            return Ok(());
        }
        match self.null_mode {
            NullMode::LinkinvOffset => {
                self.null_done = Some((acc.null.dev.to_f64(), true));
            }
            NullMode::Mean => {
                // The first pass finds the mean; the second evaluates the deviance there.
                if self.passes > 1 {
                    self.null_done = Some((acc.null.dev.to_f64(), true));
                }
            }
            NullMode::Irls => {
                let maxit = self.options.max_iterations;
                let n = &mut self.null_irls;
                let dev = acc.null.dev.to_f64();
                let next = || {
                    let sw = acc.null.sum_w.to_f64();
                    (sw > 0.0).then(|| acc.null.sum_wz.div(acc.null.sum_w).to_f64())
                };
                match n.point {
                    None => {
                        // The same start as the model's, which finish_model checks.
                        n.devold = dev;
                        n.iter = 1;
                        n.point = next();
                        if n.point.is_none() || acc.null.invalid > 0 || !dev.is_finite() {
                            self.null_done = Some((f64::NAN, false));
                        }
                    }
                    Some(b) => {
                        if acc.null.invalid > 0 || !dev.is_finite() {
                            match n.old {
                                Some(old) if n.halvings < maxit => {
                                    n.halvings += 1;
                                    n.point = Some((b + old) / 2.0);
                                }
                                _ => self.null_done = Some((f64::NAN, false)),
                            }
                        } else {
                            let eps = self.options.convergence.deviance_tolerance();
                            if (dev - n.devold).abs() / (dev.abs() + 0.1) < eps {
                                self.null_done = Some((dev, true));
                            } else if n.iter >= maxit {
                                self.null_done = Some((dev, false));
                            } else {
                                n.devold = dev;
                                n.old = Some(b);
                                n.iter += 1;
                                n.point = next();
                                if n.point.is_none() {
                                    self.null_done = Some((dev, false));
                                }
                            }
                        }
                    }
                }
                if self.null_done.is_some_and(|(_, converged)| !converged) {
                    self.warn("fitting to calculate the null deviance did not converge -- increase 'maxit'?");
                }
            }
        }
        Ok(())
    }

    /// The model's step at the end of a pass: converged, halve the step, or solve for the
    /// next `β`.
    fn finish_model(&mut self, acc: GlmPartial) -> Result<()> {
        let formula = self.design.formula.clone();
        let maxit = self.options.max_iterations;
        let dev = acc.dev.to_f64();
        if self.mode == PassMode::Refit {
            return self.finish_refit(acc);
        }
        // A Gram pass's step, or `None` when it would not be accurate: the pass is then run
        // again as a QR at the same point, before anything of this one is used.
        let gram = (acc.gram.ncols() > 0)
            .then(|| acc.gram.solve(MAX_GRAM_CONDITION, MAX_REPORT_CONDITION));
        if self.it.point == Point::Start {
            if acc.invalid > 0 || !dev.is_finite() {
                return Err(Error::invalid(format!(
                    "{formula}: cannot find valid starting values for the {} family with the {} link; try another link",
                    self.family.name(),
                    self.link.name()
                )));
            }
            self.check_rows(&acc)?;
            if gram == Some(None) {
                self.refuse_gram();
                return Ok(());
            }
            self.it.devold = dev;
            return self.solve(&acc, gram.flatten(), formula);
        }
        let Point::Beta(beta) = self.it.point.clone() else {
            return Err(Error::invalid("internal: no coefficients"));
        };
        if self.design.ncols == 0 {
            if acc.invalid > 0 || !dev.is_finite() {
                return Err(Error::invalid(format!(
                    "{formula}: the model has no terms, and its offset gives invalid values of the linear predictor for the {} family with the {} link",
                    self.family.name(),
                    self.link.name()
                )));
            }
            let Some(fit) = self.it.wls_fit.take() else {
                return Err(Error::invalid("internal: no least-squares fit"));
            };
            // R's glm.fit sets `boundary` for an empty model (without its warning).
            self.it.boundary = true;
            self.finished = Some(Finished {
                fit,
                beta,
                partial: acc,
                converged: true,
            });
            return Ok(());
        }
        if !dev.is_finite() || acc.invalid > 0 {
            if self.it.from_sample && self.it.iter == 0 {
                // The sample's coefficients leave the domain on some row: R's start instead.
                self.it.point = Point::Start;
                self.it.from_sample = false;
                return Ok(());
            }
            // R's step halving: back towards the last accepted coefficients.
            let Some(old) = self.it.coefold.clone() else {
                return Err(Error::invalid(format!(
                    "{formula}: no valid set of coefficients has been found (the first step leaves the {} family's domain); try another link or check the response",
                    self.family.name()
                )));
            };
            self.warn(if dev.is_finite() {
                "step size truncated: out of bounds"
            } else {
                "step size truncated due to divergence"
            });
            self.it.halvings += 1;
            if self.it.halvings > maxit {
                return Err(Error::invalid(format!(
                    "{formula}: the IRLS step could not be brought back inside the domain after {maxit} halvings; try another link"
                )));
            }
            self.it.boundary = true;
            self.it.point =
                Point::Beta(beta.iter().zip(&old).map(|(b, o)| (b + o) / 2.0).collect());
            if self.mode == PassMode::Deviance {
                self.mode = PassMode::Gram;
            }
            return Ok(());
        }
        self.check_rows(&acc)?;
        let converged = match self.options.convergence {
            Convergence::Deviance { epsilon } => {
                (dev - self.it.devold).abs() / (dev.abs() + 0.1) < epsilon
            }
            Convergence::RevoScale {
                coef_tolerance,
                objective_tolerance,
            } => {
                let objective = objective_tolerance > 0.0
                    && (dev - self.it.devold).abs() <= objective_tolerance * dev.abs();
                let coefficients = coef_tolerance > 0.0
                    && self.it.coefold.as_ref().is_some_and(|old| {
                        let (step, size) = step_and_size(&beta, old);
                        step <= coef_tolerance * size
                    });
                objective || coefficients
            }
        };
        if converged || self.it.iter >= maxit {
            if !converged {
                self.warn("algorithm did not converge");
            }
            // A sample-started fit confirmed by a Gram pass: the covariance at the reported
            // coefficients, from this pass's weights, when its factor is accurate.
            let here = gram
                .flatten()
                .and_then(|step| step.r)
                .filter(|_| self.it.from_sample && acc.extreme == 0)
                .map(|r| ls::solve(&r, self.options.tolerance));
            match here.or_else(|| self.it.wls_fit.take()) {
                Some(fit) => {
                    self.finished = Some(Finished {
                        fit,
                        beta,
                        partial: acc,
                        converged,
                    });
                }
                None => {
                    // The last step came from a Gram matrix: its problem again, as a QR.
                    self.refit = Some(PendingRefit {
                        partial: acc,
                        converged,
                    });
                    self.mode = PassMode::Refit;
                }
            }
            return Ok(());
        }
        if self.mode == PassMode::Deviance {
            // Expected to converge, and did not: the same point again, with its least-squares
            // problem.
            self.mode = PassMode::Gram;
            return Ok(());
        }
        if gram == Some(None) {
            self.refuse_gram();
            return Ok(());
        }
        self.it.devold = dev;
        self.it.coefold = Some(beta);
        self.solve(&acc, gram.flatten(), formula)
    }

    /// A Gram step would not be accurate: this and every later pass are QRs.
    fn refuse_gram(&mut self) {
        self.gram_ok = false;
        self.mode = PassMode::Qr;
    }

    /// The end of the refit pass: the QR of the last least-squares problem gives the reported
    /// coefficients (as R's, solved from the QR) and their covariance.
    fn finish_refit(&mut self, acc: GlmPartial) -> Result<()> {
        let Some(pending) = self.refit.take() else {
            return Err(Error::invalid("internal: no fit waiting for its refit"));
        };
        let fit = ls::solve(&acc.tsqr.r(), self.options.tolerance);
        let mut beta = vec![0.0; self.design.ncols];
        for (k, &j) in fit.kept.iter().enumerate() {
            beta[j] = fit.beta[k];
        }
        self.finished = Some(Finished {
            fit,
            beta,
            partial: pending.partial,
            converged: pending.converged,
        });
        Ok(())
    }

    /// An error when a row of the least-squares problem has a zero or undefined variance (R:
    /// "0s in V(mu)", "NAs in V(mu)").
    fn check_rows(&self, acc: &GlmPartial) -> Result<()> {
        if acc.bad_rows > 0 {
            return Err(Error::invalid(format!(
                "{}: the variance or the working weights are zero or undefined at iteration {} ({} rows); the model cannot be fitted with the {} family and the {} link",
                self.design.formula,
                self.it.iter,
                acc.bad_rows,
                self.family.name(),
                self.link.name()
            )));
        }
        Ok(())
    }

    /// Solves the pass's weighted least-squares problem for the next `β`.
    fn solve(&mut self, acc: &GlmPartial, gram: Option<GramStep>, formula: String) -> Result<()> {
        if acc.informative == 0 {
            return Err(Error::invalid(format!(
                "{formula}: no observation is informative at iteration {} (every working weight is zero)",
                self.it.iter + 1
            )));
        }
        // Whether the fit of this step can be reported as it is (a QR, or a well-conditioned
        // Gram matrix's factor) rather than needing a QR of its problem.
        let reportable;
        let (beta, fit, decrement) = match gram {
            Some(step) => {
                let beta = match &self.it.point {
                    Point::Start => step.solution,
                    Point::Beta(b) => b.iter().zip(&step.solution).map(|(b, d)| b + d).collect(),
                };
                // The covariance and condition number come from R alone; the fit's own
                // coefficients (a step, in step form) are not used. Not with fitted values
                // numerically 0 or 1 (separation): the weights then span many orders of
                // magnitude, and the reported values are sensitive enough to want the QR's.
                let fit = step
                    .r
                    .as_ref()
                    .filter(|_| acc.extreme == 0)
                    .map(|r| ls::solve(r, self.options.tolerance));
                reportable = fit.is_some();
                (beta, fit, step.decrement)
            }
            None => {
                let fit = ls::solve(&acc.tsqr.r(), self.options.tolerance);
                let mut beta = vec![0.0; self.design.ncols];
                for (k, &j) in fit.kept.iter().enumerate() {
                    beta[j] = fit.beta[k];
                }
                // ‖R δ‖² on the kept columns.
                let decrement = match &self.it.point {
                    Point::Start => f64::NAN,
                    Point::Beta(old) => {
                        let k = fit.kept.len();
                        (0..k)
                            .map(|i| {
                                (i..k)
                                    .map(|c| fit.r[(i, c)] * (beta[fit.kept[c]] - old[fit.kept[c]]))
                                    .sum::<f64>()
                                    .powi(2)
                            })
                            .sum()
                    }
                };
                reportable = true;
                (beta, Some(fit), decrement)
            }
        };
        if beta.iter().any(|b| !b.is_finite()) {
            return Err(Error::invalid(format!(
                "{formula}: non-finite coefficients at iteration {}; the model cannot be fitted (check the data for extreme values, or try another link)",
                self.it.iter + 1
            )));
        }
        if let Point::Beta(old) = &self.it.point {
            let (step, size) = step_and_size(&beta, old);
            self.steps
                .push((if size > 0.0 { step / size } else { step }, decrement));
        }
        self.it.iter += 1;
        // R resets `boundary` each iteration: it reports a halving in the last one only.
        self.it.boundary = false;
        self.it.wls_point = Some(std::mem::replace(&mut self.it.point, Point::Beta(beta)));
        self.it.wls_fit = fit;
        self.mode = self.next_mode(reportable);
        Ok(())
    }

    /// How the next pass accumulates: the deviance alone when the step just solved is
    /// expected to pass the convergence test; a QR when its least-squares problem is predicted
    /// to be the last one (the pass after it converging) and the Gram matrix's factor cannot be
    /// reported; a Gram matrix otherwise.
    fn next_mode(&self, reportable: bool) -> PassMode {
        if !self.gram_ok {
            return PassMode::Qr;
        }
        // The step just solved passes the convergence test, or its Newton decrement says the
        // deviance will: the next pass only confirms it.
        if let Some(&(step, decrement)) = self.steps.last()
            && self.predicts_convergence(step, decrement, 1.0)
            && !(self.it.from_sample && step > LARGE_FINAL_STEP)
        {
            return PassMode::Deviance;
        }
        // A well-conditioned Gram matrix gives the reported fit itself: the next one is
        // expected to as well (if it does not, a refit pass computes the QR).
        if reportable && self.mode == PassMode::Gram {
            return PassMode::Gram;
        }
        // The iteration limit: the next solve is the last.
        if self.it.iter + 1 >= self.options.max_iterations {
            return PassMode::Qr;
        }
        let Some(&(step, decrement)) = self.steps.last() else {
            return PassMode::Gram;
        };
        // The next pass evaluates the new β: predicted to converge (its own step and deviance
        // change are known now), its least-squares problem is not needed — the cheap one.
        if self.predicts_convergence(step, decrement, 10.0) {
            return PassMode::Gram;
        }
        // Newton converges quadratically: the next step ≈ M·step², M from the last two steps
        // (1 until there are two), and the deviance change with the step's square.
        let m = match self.steps.len() {
            0 | 1 => 1.0,
            n => {
                let before = self.steps[n - 2].0;
                if before > 0.0 {
                    step / (before * before)
                } else {
                    1.0
                }
            }
        };
        let next_step = m * step * step;
        let next_decrement = if step > 0.0 {
            decrement * (next_step / step).powi(2)
        } else {
            0.0
        };
        if self.predicts_convergence(next_step, next_decrement, 10.0) {
            PassMode::Qr
        } else {
            PassMode::Gram
        }
    }

    /// Whether a pass whose coefficients moved by `step` (relative) and whose deviance fell by
    /// `decrement` is predicted to pass the convergence test, within a factor `margin` of its
    /// tolerances (10 when guessing the QR pass: one too early costs less than a refit pass;
    /// 1 when skipping a pass's least-squares problem, which a wrong guess makes run again).
    fn predicts_convergence(&self, step: f64, decrement: f64, margin: f64) -> bool {
        let dev = self.it.devold.abs();
        match self.options.convergence {
            Convergence::Deviance { epsilon } => decrement.abs() / (dev + 0.1) < margin * epsilon,
            Convergence::RevoScale {
                coef_tolerance,
                objective_tolerance,
            } => {
                (objective_tolerance > 0.0 && decrement.abs() <= margin * objective_tolerance * dev)
                    || (coef_tolerance > 0.0 && step <= margin * coef_tolerance)
            }
        }
    }

    fn result(&mut self, fin: Finished) -> RxGlm {
        if self.it.boundary && self.design.ncols > 0 {
            self.warn("algorithm stopped at boundary value");
        }
        if fin.partial.extreme > 0 {
            match self.family {
                Family::Binomial => self.warn("fitted probabilities numerically 0 or 1 occurred"),
                Family::Poisson => self.warn("fitted rates numerically 0 occurred"),
                _ => {}
            }
        }
        let design = &self.design;
        let p = design.ncols;
        let counts = self.counts.clone().unwrap_or_default();
        let acc = &fin.partial;
        let fit = &fin.fit;
        let rank = fit.kept.len();
        let deviance = acc.dev.to_f64();
        let df_residual = counts.n_obs - rank as f64;
        let df_null = counts.n_obs - if design.intercept { 1.0 } else { 0.0 };
        let estimated = self.family.estimates_dispersion();
        let dispersion = if !estimated {
            1.0
        } else if df_residual > 0.0 {
            acc.pearson.to_f64() / df_residual
        } else {
            f64::NAN
        };
        let cov = ls::cov_unscaled(&fit.r);
        let mut se = vec![f64::NAN; p];
        for (k, &j) in fit.kept.iter().enumerate() {
            se[j] = (dispersion * cov[(k, k)]).sqrt();
        }
        let beta = &fin.beta;
        let coefficients = design
            .coefs
            .iter()
            .map(|c| match c.column {
                Some(j) if !fit.aliased[j] => {
                    let stat = beta[j] / se[j];
                    let p_value = if !estimated {
                        dist::z_two_sided_p(stat)
                    } else {
                        dist::t_two_sided_p(stat, df_residual)
                    };
                    Coefficient {
                        term: c.name.clone(),
                        estimate: Some(beta[j]),
                        std_error: finite(se[j]),
                        t_value: finite(stat),
                        p_value: finite(p_value),
                        aliased: false,
                    }
                }
                _ => Coefficient {
                    term: c.name.clone(),
                    estimate: None,
                    std_error: None,
                    t_value: None,
                    p_value: None,
                    aliased: true,
                },
            })
            .collect();
        let mut cov_unscaled = vec![0.0; p * p];
        for (a, &i) in fit.kept.iter().enumerate() {
            for (b, &j) in fit.kept.iter().enumerate() {
                cov_unscaled[i * p + j] = cov[(a, b)];
            }
        }
        let cov_coef = self.options.cov_coef.then(|| {
            (0..rank)
                .map(|a| (0..rank).map(|b| dispersion * cov[(a, b)]).collect())
                .collect()
        });
        let aic = self
            .family
            .aic(&acc.aic, deviance)
            .map(|a| a + 2.0 * rank as f64);
        let (null_deviance, _) = self.null_done.unwrap_or((f64::NAN, false));
        RxGlm {
            formula: design.formula.clone(),
            family: self.family,
            link: self.link,
            coefficients,
            deviance,
            null_deviance,
            df_residual,
            df_null,
            aic,
            dispersion,
            iterations: self.it.iter,
            converged: fin.converged,
            boundary: self.it.boundary,
            warnings: self.warnings.clone(),
            n_valid: counts.n_valid,
            n_missing: counts.n_missing,
            condition_number: ls::condition_number(&fit.r),
            cov_coef,
            model: LinearPredictor {
                design: design.clone(),
                beta: beta.clone(),
                aliased: fit.aliased.clone(),
                cov_unscaled,
                dispersion,
                df_residual,
                link: self.link,
                cube: None,
            },
        }
    }
}

impl fmt::Display for RxGlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let family = match self.family {
            Family::Tweedie { var_power, .. } => format!("Tweedie (var_power = {var_power})"),
            other => other.name().to_string(),
        };
        writeln!(
            f,
            "Call:\nrx_glm(formula = {}, family = {family}, link = {})\n",
            self.formula,
            self.link.name()
        )?;
        writeln!(f, "Generalized Linear Model Results for: {}", self.formula)?;
        writeln!(f, "Family: {family}, link: {}", self.link.name())?;
        writeln!(
            f,
            "Total independent variables: {} (Including number dropped: {})",
            self.coefficients.len(),
            self.coefficients.iter().filter(|c| c.aliased).count()
        )?;
        writeln!(f, "Number of valid observations: {}", self.n_valid)?;
        writeln!(f, "Number of missing observations: {}\n", self.n_missing)?;
        writeln!(f, "Coefficients:")?;
        let stat = if self.family.estimates_dispersion() {
            "t value"
        } else {
            "z value"
        };
        write_coef_table(f, &self.coefficients, stat)?;
        writeln!(f, "---")?;
        if self.family.estimates_dispersion() {
            writeln!(
                f,
                "(Dispersion parameter for {family} family taken to be {})\n",
                num(self.dispersion)
            )?;
        } else {
            writeln!(
                f,
                "(Dispersion parameter for {family} family taken to be 1)\n"
            )?;
        }
        writeln!(
            f,
            "    Null deviance: {}  on {}  degrees of freedom",
            num(self.null_deviance),
            self.df_null
        )?;
        writeln!(
            f,
            "Residual deviance: {}  on {}  degrees of freedom",
            num(self.deviance),
            self.df_residual
        )?;
        writeln!(f, "AIC: {}\n", self.aic.map_or("NA".to_string(), num))?;
        write!(
            f,
            "Number of Fisher Scoring iterations: {}",
            self.iterations
        )?;
        if !self.converged {
            write!(f, " (not converged)")?;
        }
        writeln!(f)?;
        write!(f, "Condition number: {}", num(self.condition_number))?;
        for w in &self.warnings {
            write!(f, "\nWarning: {w}")?;
        }
        Ok(())
    }
}
