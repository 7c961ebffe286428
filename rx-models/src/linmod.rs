//! `rx_lin_mod`: linear models by least squares, in one pass over the data (plus refinement
//! passes when the problem is ill-conditioned), in memory independent of the row count.
//!
//! Each chunk's weighted rows `[√w·X | √w·y]` are folded into a TSQR factor ([`crate::tsqr`]);
//! partials merge by a QR of the stacked factors. The solution is read from R
//! ([`crate::ls`]). When the scaled model matrix's condition number exceeds
//! [`LinModOptions::refine_above`], the coefficients are refined by passes that compute the
//! residuals and `X'W r` in double-double arithmetic (corrected semi-normal equations), which is
//! what brings the NIST StRD higher-difficulty sets (Wampler, Filip, Longley) to full accuracy;
//! the residual and total sums of squares then come from those passes too.
//!
//! With `cube = true` and a leading factor term, the model is fitted by a partitioned inverse
//! instead ([`crate::cube_fit`]): one coefficient per level of the leading factor without a
//! `levels × levels` matrix.

use std::fmt;

use arrow::record_batch::RecordBatch;
use faer::Mat;
use rayon::prelude::*;
use rx_core::formula::Formula;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Pema, Result, RxOptions, Step};
use serde::{Deserialize, Serialize};

use crate::dd::Dd;
use crate::design::{Design, DesignOptions, Frame};
use crate::tsqr::Tsqr;
use crate::{dist, ls};

/// Options of [`rx_lin_mod`] (revoscalepy's arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinModOptions {
    /// Probability weights column.
    pub pweights: Option<String>,
    /// Frequency weights column (each row counts this many times).
    pub fweights: Option<String>,
    /// Drop the first factor level instead of the last (R's `lm` coding).
    pub drop_first: bool,
    /// Fit the leading factor term by a partitioned inverse (one coefficient per level).
    pub cube: bool,
    /// Report the coefficient covariance matrix.
    pub cov_coef: bool,
    /// A column is aliased when its part orthogonal to the previous columns is at most this
    /// fraction of its norm.
    pub tolerance: f64,
    /// Refine the solution with extended-precision residual passes when the condition number of
    /// the column-scaled model matrix exceeds this (`0` always refines, `inf` never does).
    pub refine_above: f64,
    /// At most this many refinement passes.
    pub max_refinements: u32,
    /// Chunking and other general options.
    pub rx: RxOptions,
}

impl Default for LinModOptions {
    fn default() -> Self {
        LinModOptions {
            pweights: None,
            fweights: None,
            drop_first: false,
            cube: false,
            cov_coef: false,
            tolerance: 1e-12,
            refine_above: 1e3,
            max_refinements: 4,
            rx: RxOptions::default(),
        }
    }
}

impl LinModOptions {
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
    /// Drops the first level of each factor (R's coding).
    pub fn drop_first(mut self, yes: bool) -> Self {
        self.drop_first = yes;
        self
    }
    /// Fits the leading factor by a partitioned inverse.
    pub fn cube(mut self, yes: bool) -> Self {
        self.cube = yes;
        self
    }
    /// Reports the coefficient covariance matrix.
    pub fn cov_coef(mut self, yes: bool) -> Self {
        self.cov_coef = yes;
        self
    }
    /// Sets the chunk size (rows per read).
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rx.rows_per_read = rows;
        self
    }

    /// Row `r`'s weight for the fit (probability × frequency weight) and its frequency weight,
    /// from a frame read with [`LinModOptions::weight_columns`].
    pub(crate) fn row_weights(&self, frame: &Frame, r: usize) -> (f64, f64) {
        let mut w = 1.0;
        let mut f = 1.0;
        let mut k = 0;
        if self.pweights.is_some() {
            w *= frame.weights[k][r];
            k += 1;
        }
        if self.fweights.is_some() {
            f = frame.weights[k][r];
            w *= f;
        }
        (w, f)
    }

    pub(crate) fn weight_columns(&self) -> Vec<&str> {
        self.pweights
            .iter()
            .chain(self.fweights.iter())
            .map(String::as_str)
            .collect()
    }
}

/// One coefficient of a fitted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    /// revoscalepy's name of the coefficient.
    pub term: String,
    /// The estimate (`None` when aliased or a dropped reference level).
    pub estimate: Option<f64>,
    /// Its standard error.
    pub std_error: Option<f64>,
    /// `t value` (linear models) or `z value` (logit, and glm families with a fixed dispersion).
    #[serde(alias = "z_value")]
    pub t_value: Option<f64>,
    /// Two-sided p value.
    pub p_value: Option<f64>,
    /// True when the coefficient is not estimated: collinear with earlier ones, or the dropped
    /// reference level of a factor.
    pub aliased: bool,
}

/// A fitted linear model (revoscalepy's `RxLinModResults`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxLinMod {
    /// The formula as given.
    pub formula: String,
    /// Coefficients, in model order, aliased ones and dropped reference levels included.
    pub coefficients: Vec<Coefficient>,
    /// Multiple R².
    pub r_squared: f64,
    /// Adjusted R².
    pub adj_r_squared: f64,
    /// F statistic of the model against the intercept-only (or empty) model.
    pub f_statistic: Option<f64>,
    /// Its p value.
    pub f_p_value: Option<f64>,
    /// Residual standard error.
    pub sigma: f64,
    /// Model degrees of freedom (estimated coefficients, without the intercept).
    pub df_model: f64,
    /// Residual degrees of freedom.
    pub df_residual: f64,
    /// Rows used.
    pub n_valid: u64,
    /// Rows dropped for a missing value.
    pub n_missing: u64,
    /// Condition number of the column-scaled model matrix (2-norm).
    pub condition_number: f64,
    /// Residual sum of squares.
    pub rss: f64,
    /// Total sum of squares (about the mean with an intercept, about zero without).
    pub tss: f64,
    /// Refinement passes taken (0 for a well-conditioned model).
    pub refinements: u32,
    /// The coefficient covariance (estimated coefficients only, in order), when asked.
    pub cov_coef: Option<Vec<Vec<f64>>>,
    /// What prediction needs: the coding, the coefficients per model-matrix column and the
    /// unscaled covariance.
    pub model: LinearPredictor,
}

/// The part of a fitted model that prediction uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearPredictor {
    /// The model matrix coding.
    pub design: Design,
    /// Coefficient per model-matrix column (0 for aliased columns).
    pub beta: Vec<f64>,
    /// Per model-matrix column: aliased.
    pub aliased: Vec<bool>,
    /// `(X'WX)⁻¹` over the model-matrix columns (zero rows/columns for aliased ones),
    /// row-major `ncols × ncols`.
    pub cov_unscaled: Vec<f64>,
    /// The residual variance (dispersion) that scales `cov_unscaled`.
    pub dispersion: f64,
    /// Residual degrees of freedom (for t quantiles).
    pub df_residual: f64,
    /// The link from the linear predictor to the response's mean (identity for linear models).
    #[serde(default)]
    pub link: crate::family::Link,
    /// For a cube model: the per-cell statistics that stand in for `cov_unscaled`.
    #[serde(default)]
    pub cube: Option<crate::cube_fit::CubeCells>,
}

/// Parses a linear model's formula: a response is required, offsets are refused.
pub fn parse_formula(formula: &str) -> Result<Formula> {
    let parsed = Formula::parse(formula)?;
    if parsed.response.is_none() {
        return Err(Error::Formula {
            formula: formula.to_string(),
            position: 0,
            message: "a linear model needs a response: write `y ~ terms`".into(),
        });
    }
    if let Some(offset) = parsed.offsets.first() {
        return Err(Error::invalid(format!(
            "{formula}: rx_lin_mod does not take offsets (offset({offset})); fit the model with rx_glm and the gaussian family (identity link), which does"
        )));
    }
    Ok(parsed)
}

/// Fits a linear model: `formula` on `data`, chunk by chunk, with `context` deciding where.
pub fn rx_lin_mod(
    formula: &str,
    data: &dyn DataSource,
    options: &LinModOptions,
    context: &impl ComputeContext,
) -> Result<RxLinMod> {
    let parsed = parse_formula(formula)?;
    let design = Design::resolve(
        &parsed,
        data,
        DesignOptions {
            drop_first: options.drop_first,
        },
        context,
        &options.rx,
    )?;
    if matches!(
        design.response.as_ref().map(|r| &r.source),
        Some(crate::design::ResponseSource::Factor(_))
    ) {
        return Err(Error::invalid(format!(
            "{formula}: the response is a factor; rx_lin_mod needs a numeric response (use rx_logit for a binary factor)"
        )));
    }
    if options.cube {
        return crate::cube_fit::fit(design, data, options, context);
    }
    let mut pema = LinModPema::new(design, options);
    context.run(&mut pema, data, &options.rx)
}

/// What a pass of [`LinModPema`] accumulates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LinModPartial {
    /// The first pass: the R factor of `[√w·X | √w·y]` and counts.
    Qr {
        /// The R factor.
        tsqr: Tsqr,
        /// Sums and counts.
        counts: Counts,
    },
    /// A refinement pass: `X'W r`, the residual and total sums of squares, in double-double.
    Refine {
        /// `X'W r` per kept column.
        xtr: Vec<Dd>,
        /// `Σ w r²`.
        rss: Dd,
        /// `Σ w (y − ȳ)²` (or `Σ w y²` without intercept).
        tss: Dd,
    },
}

/// Row counts and weighted sums of the first pass.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Rows used.
    pub n_valid: u64,
    /// Rows with a missing value.
    pub n_missing: u64,
    /// Observations for the degrees of freedom: rows with a positive weight, counted by their
    /// frequency weight.
    pub n_obs: f64,
    /// `Σ w`.
    pub sum_w: Dd,
    /// `Σ w y`.
    pub sum_wy: Dd,
}

impl Counts {
    fn merge(&mut self, o: &Counts) {
        self.n_valid += o.n_valid;
        self.n_missing += o.n_missing;
        self.n_obs += o.n_obs;
        self.sum_w = self.sum_w.add(o.sum_w);
        self.sum_wy = self.sum_wy.add(o.sum_wy);
    }
}

/// The state between passes.
#[derive(Debug, Clone)]
struct Solved {
    fit: ls::LsFit,
    counts: Counts,
    condition_number: f64,
    refinements: u32,
    /// Sums of squares from the last refinement pass (RSS, TSS), corrected to the final β.
    sums: Option<(f64, f64)>,
}

/// `rx_lin_mod` as a PEMA.
#[derive(Debug, Clone)]
pub struct LinModPema {
    design: Design,
    options: LinModOptions,
    solved: Option<Solved>,
}

impl LinModPema {
    /// The analysis of a resolved design.
    pub fn new(design: Design, options: &LinModOptions) -> Self {
        LinModPema {
            design,
            options: options.clone(),
            solved: None,
        }
    }

    fn weights(&self, frame: &Frame, r: usize) -> (f64, f64) {
        self.options.row_weights(frame, r)
    }
}

/// Fills rows `frame.rows[start..start + len]` of `[√w·X | √w·y]` into `m`.
pub(crate) fn fill_weighted(
    design: &Design,
    frame: &Frame,
    start: usize,
    len: usize,
    mut m: faer::MatMut<'_, f64>,
    y: &[f64],
    sqrt_w: Option<&[f64]>,
) {
    let p = design.ncols;
    design.fill(frame, start, m.as_mut().submatrix_mut(0, 0, len, p));
    for (i, &v) in y.iter().enumerate() {
        m[(i, p)] = v;
    }
    if let Some(sw) = sqrt_w {
        for j in 0..=p {
            let mut col = m.as_mut().col_mut(j);
            for (i, &s) in sw.iter().enumerate() {
                col[i] *= s;
            }
        }
    }
}

/// Rows of a chunk factored as one piece (pieces run in parallel).
const PIECE_ROWS: usize = 65_536;

impl LinModPema {
    /// The R factor and sums of rows `frame.rows[start..start + len]`.
    fn qr_piece(&self, frame: &Frame, start: usize, len: usize, weighted: bool) -> (Tsqr, Counts) {
        let mut tsqr = Tsqr::new(self.design.ncols + 1);
        let mut counts = Counts::default();
        let end = start + len;
        let mut start = start;
        while start < end {
            let len = (end - start).min(Tsqr::BLOCK);
            let y = self.design.response_values(frame, start, len);
            let mut sw = Vec::new();
            if weighted {
                for (i, &r) in frame.rows[start..start + len].iter().enumerate() {
                    let (w, f) = self.weights(frame, r as usize);
                    if w > 0.0 {
                        counts.n_obs += f;
                    }
                    counts.sum_w = counts.sum_w.add_f64(w);
                    counts.sum_wy = counts.sum_wy.add_prod(w, y[i]);
                    sw.push(w.sqrt());
                }
            } else {
                counts.n_obs += len as f64;
                counts.sum_w = counts.sum_w.add_f64(len as f64);
                counts.sum_wy = counts.sum_wy.add_f64(y.iter().sum());
            }
            let sqrt_w = weighted.then_some(sw.as_slice());
            tsqr.add_rows(len, |m| {
                fill_weighted(&self.design, frame, start, len, m, &y, sqrt_w)
            });
            start += len;
        }
        (tsqr, counts)
    }
}

impl Pema for LinModPema {
    type Partial = LinModPartial;
    type Output = RxLinMod;

    fn columns(&self) -> Vec<String> {
        self.design.columns(&self.options.weight_columns())
    }

    fn init(&self) -> LinModPartial {
        match &self.solved {
            None => LinModPartial::Qr {
                tsqr: Tsqr::new(self.design.ncols + 1),
                counts: Counts::default(),
            },
            Some(s) => LinModPartial::Refine {
                xtr: vec![Dd::ZERO; s.fit.kept.len()],
                rss: Dd::ZERO,
                tss: Dd::ZERO,
            },
        }
    }

    fn process(&self, acc: &mut LinModPartial, chunk: &RecordBatch) -> Result<()> {
        let frame = self
            .design
            .frame(chunk, &self.options.weight_columns(), true)?;
        let weighted = self.options.pweights.is_some() || self.options.fweights.is_some();
        match acc {
            LinModPartial::Qr { tsqr, counts } => {
                counts.n_missing += frame.n_missing() as u64;
                counts.n_valid += frame.rows.len() as u64;
                // Pieces of a fixed size (so the result does not depend on the thread count),
                // factored in parallel and merged in order.
                let pieces: Vec<(usize, usize)> = (0..frame.rows.len())
                    .step_by(PIECE_ROWS)
                    .map(|s| (s, (frame.rows.len() - s).min(PIECE_ROWS)))
                    .collect();
                let parts: Vec<(Tsqr, Counts)> = pieces
                    .par_iter()
                    .map(|&(s, len)| self.qr_piece(&frame, s, len, weighted))
                    .collect();
                for (t, c) in parts {
                    tsqr.merge(&t);
                    counts.n_obs += c.n_obs;
                    counts.sum_w = counts.sum_w.add(c.sum_w);
                    counts.sum_wy = counts.sum_wy.add(c.sum_wy);
                }
            }
            LinModPartial::Refine { xtr, rss, tss } => {
                let Some(s) = &self.solved else {
                    return Err(Error::invalid(
                        "internal: refinement pass without a solution",
                    ));
                };
                let ybar = if self.design.intercept && s.counts.sum_w.hi > 0.0 {
                    s.counts.sum_wy.div(s.counts.sum_w)
                } else {
                    Dd::ZERO
                };
                let p = self.design.ncols;
                let mut x = Mat::<f64>::zeros(Tsqr::BLOCK, p);
                let mut start = 0;
                while start < frame.rows.len() {
                    let len = (frame.rows.len() - start).min(Tsqr::BLOCK);
                    self.design
                        .fill(&frame, start, x.as_mut().submatrix_mut(0, 0, len, p));
                    let y = self.design.response_values(&frame, start, len);
                    for i in 0..len {
                        let (w, _) = self.weights(&frame, frame.rows[start + i] as usize);
                        let mut r = Dd::new(y[i]);
                        for (k, &j) in s.fit.kept.iter().enumerate() {
                            r = r.add_prod(-x[(i, j)], s.fit.beta[k]);
                        }
                        let wr = r.mul_f64(w);
                        for (k, &j) in s.fit.kept.iter().enumerate() {
                            xtr[k] = xtr[k].add(wr.mul_f64(x[(i, j)]));
                        }
                        *rss = rss.add(wr.mul(r));
                        let d = Dd::new(y[i]).sub(ybar);
                        *tss = tss.add(d.mul(d).mul_f64(w));
                    }
                    start += len;
                }
            }
        }
        Ok(())
    }

    fn merge(&self, into: &mut LinModPartial, other: LinModPartial) -> Result<()> {
        match (into, other) {
            (
                LinModPartial::Qr { tsqr, counts },
                LinModPartial::Qr {
                    tsqr: t2,
                    counts: c2,
                },
            ) => {
                tsqr.merge(&t2);
                counts.merge(&c2);
            }
            (
                LinModPartial::Refine { xtr, rss, tss },
                LinModPartial::Refine {
                    xtr: x2,
                    rss: r2,
                    tss: t2,
                },
            ) => {
                for (a, b) in xtr.iter_mut().zip(x2) {
                    *a = a.add(b);
                }
                *rss = rss.add(r2);
                *tss = tss.add(t2);
            }
            _ => {
                return Err(Error::invalid(
                    "internal: merging partials of different passes",
                ));
            }
        }
        Ok(())
    }

    fn finish(&mut self, acc: LinModPartial) -> Result<Step<RxLinMod>> {
        match acc {
            LinModPartial::Qr { tsqr, counts } => {
                if counts.n_valid == 0 {
                    return Err(Error::invalid(format!(
                        "{}: no rows without missing values; check the formula's columns and the data",
                        self.design.formula
                    )));
                }
                let fit = ls::solve(&tsqr.r(), self.options.tolerance);
                let condition_number = ls::condition_number(&fit.r);
                let refine = self.options.max_refinements > 0
                    && condition_number > self.options.refine_above
                    && !fit.kept.is_empty();
                self.solved = Some(Solved {
                    fit,
                    counts,
                    condition_number,
                    refinements: 0,
                    sums: None,
                });
                if refine {
                    return Ok(Step::AnotherPass);
                }
            }
            LinModPartial::Refine { xtr, rss, tss } => {
                let Some(s) = self.solved.as_mut() else {
                    return Err(Error::invalid("internal: refinement without a solution"));
                };
                let g: Vec<f64> = xtr.iter().map(|d| d.to_f64()).collect();
                let u = ls::forward_solve_t(&s.fit.r, &g);
                let delta = ls::back_solve(&s.fit.r, &u);
                let norm_b = s.fit.beta.iter().map(|b| b * b).sum::<f64>().sqrt();
                let norm_d = delta.iter().map(|b| b * b).sum::<f64>().sqrt();
                for (b, d) in s.fit.beta.iter_mut().zip(&delta) {
                    *b += d;
                }
                // RSS at β + δ is RSS(β) − ‖R δ‖² (X'W r = R'R δ).
                let shrink: f64 = u.iter().map(|v| v * v).sum();
                s.sums = Some(((rss.to_f64() - shrink).max(0.0), tss.to_f64()));
                s.refinements += 1;
                let converged =
                    norm_d <= 1e-17 * norm_b.max(f64::MIN_POSITIVE) || !norm_d.is_finite();
                if !converged && s.refinements < self.options.max_refinements {
                    return Ok(Step::AnotherPass);
                }
            }
        }
        let Some(s) = self.solved.take() else {
            return Err(Error::invalid("internal: no solution"));
        };
        Ok(Step::Done(self.result(s)))
    }
}

impl LinModPema {
    /// The fit from an R factor of `[√w·X | √w·y]` built elsewhere (in-database statistics),
    /// with no refinement pass.
    pub(crate) fn result_from_r(&self, r: &Mat<f64>, counts: Counts) -> RxLinMod {
        let fit = ls::solve(r, self.options.tolerance);
        let condition_number = ls::condition_number(&fit.r);
        self.result(Solved {
            fit,
            counts,
            condition_number,
            refinements: 0,
            sums: None,
        })
    }

    fn result(&self, s: Solved) -> RxLinMod {
        let design = &self.design;
        let p = design.ncols;
        let k = s.fit.kept.len();
        let intercept_kept = design.intercept && s.fit.kept.first() == Some(&0);
        let (rss, tss) = match s.sums {
            Some(v) => v,
            None => {
                let skip = usize::from(intercept_kept);
                let explained: f64 = s.fit.z.iter().skip(skip).map(|v| v * v).sum();
                (s.fit.rss, explained + s.fit.rss)
            }
        };
        let df_residual = s.counts.n_obs - k as f64;
        let sigma2 = if df_residual > 0.0 {
            rss / df_residual
        } else {
            f64::NAN
        };
        let cov = ls::cov_unscaled(&s.fit.r);
        // Per model column: estimate and standard error.
        let mut beta = vec![0.0; p];
        let mut se = vec![f64::NAN; p];
        for (kk, &j) in s.fit.kept.iter().enumerate() {
            beta[j] = s.fit.beta[kk];
            se[j] = (sigma2 * cov[(kk, kk)]).sqrt();
        }
        let coefficients = coefficient_table(design, &beta, &se, &s.fit.aliased, df_residual);
        let df_model = (k - usize::from(intercept_kept)) as f64;
        let r_squared = if tss > 0.0 { 1.0 - rss / tss } else { f64::NAN };
        let df_int = if intercept_kept { 1.0 } else { 0.0 };
        let adj_r_squared = 1.0 - (1.0 - r_squared) * ((s.counts.n_obs - df_int) / df_residual);
        let (f_statistic, f_p_value) = if df_model > 0.0 && df_residual > 0.0 {
            let f = ((tss - rss) / df_model) / sigma2;
            (finite(f), finite(dist::pf_upper(f, df_model, df_residual)))
        } else {
            (None, None)
        };
        let mut cov_unscaled = vec![0.0; p * p];
        for (a, &i) in s.fit.kept.iter().enumerate() {
            for (b, &j) in s.fit.kept.iter().enumerate() {
                cov_unscaled[i * p + j] = cov[(a, b)];
            }
        }
        let cov_coef = self.options.cov_coef.then(|| {
            (0..k)
                .map(|a| (0..k).map(|b| sigma2 * cov[(a, b)]).collect())
                .collect()
        });
        RxLinMod {
            formula: design.formula.clone(),
            coefficients,
            r_squared,
            adj_r_squared,
            f_statistic,
            f_p_value,
            sigma: sigma2.sqrt(),
            df_model,
            df_residual,
            n_valid: s.counts.n_valid,
            n_missing: s.counts.n_missing,
            condition_number: s.condition_number,
            rss,
            tss,
            refinements: s.refinements,
            cov_coef,
            model: LinearPredictor {
                design: design.clone(),
                beta,
                aliased: s.fit.aliased.clone(),
                cov_unscaled,
                dispersion: sigma2,
                df_residual,
                link: crate::family::Link::Identity,
                cube: None,
            },
        }
    }
}

/// Every coefficient of `design` with its t test, from per-column estimates and standard errors;
/// aliased columns and dropped reference levels are listed with no estimate.
pub(crate) fn coefficient_table(
    design: &Design,
    beta: &[f64],
    se: &[f64],
    aliased: &[bool],
    df_residual: f64,
) -> Vec<Coefficient> {
    design
        .coefs
        .iter()
        .map(|c| match c.column {
            Some(j) if !aliased[j] => {
                let t = beta[j] / se[j];
                Coefficient {
                    term: c.name.clone(),
                    estimate: Some(beta[j]),
                    std_error: finite(se[j]),
                    t_value: finite(t),
                    p_value: finite(dist::t_two_sided_p(t, df_residual)),
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
        .collect()
}

pub(crate) fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Formats a number as R's `summary()` does (`format(x, digits = 6)`-like).
pub(crate) fn num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e6).contains(&a) {
        format!("{v:.5e}")
    } else {
        let digits = 6 - (a.log10().floor() as i32 + 1);
        format!("{v:.*}", digits.clamp(0, 10) as usize)
    }
}

/// Formats a p value as R does (`< 2.2e-16` below machine precision).
pub(crate) fn pval(p: Option<f64>) -> String {
    match p {
        None => "NA".into(),
        Some(p) if p < 2.2e-16 => "< 2.2e-16".into(),
        Some(p) if p < 1e-4 => format!("{p:.3e}"),
        // Four significant digits, as R's format.pval.
        Some(p) => format!(
            "{p:.*}",
            (3 - p.log10().floor() as i32).clamp(0, 8) as usize
        ),
    }
}

/// Prints a coefficient table as R's `summary()` does.
pub(crate) fn write_coef_table(
    f: &mut fmt::Formatter<'_>,
    coefs: &[Coefficient],
    stat: &str,
) -> fmt::Result {
    let w = coefs
        .iter()
        .map(|c| c.term.len())
        .max()
        .unwrap_or(0)
        .max(11);
    writeln!(
        f,
        "{:w$} {:>12} {:>12} {:>9} {:>10}",
        "",
        "Estimate",
        "Std. Error",
        stat,
        "Pr(>|t|)".replace('t', &stat[..1])
    )?;
    for c in coefs {
        if c.aliased {
            writeln!(
                f,
                "{:w$} {:>12} {:>12} {:>9} {:>10}",
                c.term, "Dropped", "Dropped", "Dropped", "Dropped"
            )?;
            continue;
        }
        let o = |v: Option<f64>| v.map_or("NA".to_string(), num);
        writeln!(
            f,
            "{:w$} {:>12} {:>12} {:>9} {:>10}",
            c.term,
            o(c.estimate),
            o(c.std_error),
            c.t_value.map_or("NA".to_string(), |t| format!("{t:.3}")),
            pval(c.p_value)
        )?;
    }
    Ok(())
}

impl fmt::Display for RxLinMod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Call:\nrx_lin_mod(formula = {})\n", self.formula)?;
        writeln!(f, "Linear Regression Results for: {}", self.formula)?;
        writeln!(
            f,
            "Total independent variables: {} (Including number dropped: {})",
            self.coefficients.len(),
            self.coefficients.iter().filter(|c| c.aliased).count()
        )?;
        writeln!(f, "Number of valid observations: {}", self.n_valid)?;
        writeln!(f, "Number of missing observations: {}\n", self.n_missing)?;
        writeln!(f, "Coefficients:")?;
        write_coef_table(f, &self.coefficients, "t value")?;
        writeln!(f, "---")?;
        writeln!(
            f,
            "Residual standard error: {} on {} degrees of freedom",
            num(self.sigma),
            self.df_residual
        )?;
        writeln!(
            f,
            "Multiple R-squared: {}, Adjusted R-squared: {}",
            num(self.r_squared),
            num(self.adj_r_squared)
        )?;
        if let Some(fs) = self.f_statistic {
            writeln!(
                f,
                "F-statistic: {} on {} and {} DF, p-value: {}",
                num(fs),
                self.df_model,
                self.df_residual,
                pval(self.f_p_value)
            )?;
        }
        write!(f, "Condition number: {}", num(self.condition_number))
    }
}
