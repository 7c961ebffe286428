//! `rx_lin_mod(..., cube = true)`: the leading factor term gets one coefficient per cell (level,
//! or combination of levels) and the rest of the model is fitted *within* cells — a partitioned
//! inverse, so a factor with 10,000 levels needs memory for 10,000 cell means, not a
//! 10,000 × 10,000 matrix.
//!
//! Per cell `k` the analysis keeps the weighted count and the means of the other columns `z` and
//! of `y`; the pooled within-cell cross-products of `[z | y]` are accumulated as a TSQR factor of
//! the rows centred on their chunk's cell means, plus one row per cell and merge carrying the
//! between-chunk correction `√(n_a n_b / (n_a + n_b)) (m_a − m_b)` (Chan's update, in QR form).
//! Then `β_z` solves the within problem and each cell's coefficient is `ȳ_k − z̄_k' β_z`, with
//! variance `σ² (1/n_k + z̄_k' (Z'WZ)⁻¹_within z̄_k)`.

use arrow::record_batch::RecordBatch;
use faer::Mat;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Pema, Result, Step};
use serde::{Deserialize, Serialize};

use crate::design::{Design, DesignOptions};
use crate::linmod::{LinModOptions, LinearPredictor, RxLinMod, coefficient_table, finite};
use crate::tsqr::Tsqr;
use crate::{dist, ls};

/// Per-cell statistics a cube model keeps (also what prediction needs for standard errors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeCells {
    /// Model-matrix columns of the cells (the leading term), in cell order.
    pub cell_columns: Vec<usize>,
    /// Model-matrix columns of the within part (`z`).
    pub z_columns: Vec<usize>,
    /// Per cell: weighted count.
    pub n: Vec<f64>,
    /// Per cell: means of `[z | y]`, row-major `cells × (pz + 1)`.
    pub means: Vec<f64>,
    /// `(Z'WZ)⁻¹` of the within problem over the kept `z` columns, row-major `pz × pz` (zero
    /// rows and columns for aliased ones).
    pub within_inv: Vec<f64>,
}

/// The partial of a cube fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubePartial {
    tsqr: Tsqr,
    /// Per cell: weighted count, frequency count.
    n: Vec<f64>,
    count: Vec<f64>,
    /// Per cell, means of `[z | y]`.
    means: Vec<f64>,
    n_valid: u64,
    n_missing: u64,
}

/// The cube fit as a PEMA.
#[derive(Debug, Clone)]
pub struct CubePema {
    design: Design,
    options: LinModOptions,
    cells: usize,
    cell_columns: Vec<usize>,
    z_columns: Vec<usize>,
    /// The factor indexes of the leading term, and their level counts.
    lead: Vec<(usize, usize)>,
    /// The design of the terms after the leading one (the within part), built once.
    zdesign: Design,
}

pub(crate) fn fit(
    design: Design,
    data: &dyn DataSource,
    options: &LinModOptions,
    context: &impl ComputeContext,
) -> Result<RxLinMod> {
    // Refit the coding without an intercept: the cells take its place.
    let design = if design.intercept {
        let formula = rx_core::formula::Formula::parse(&design.formula)?;
        let mut f = formula;
        f.intercept = false;
        Design::resolve(
            &f,
            data,
            DesignOptions {
                drop_first: options.drop_first,
            },
            context,
            &options.rx,
        )?
    } else {
        design
    };
    let lead_term = match design.terms.first() {
        Some(t) if t.numerics.is_empty() && !t.factors.is_empty() && t.full.iter().all(|&f| f) => t,
        _ => {
            return Err(Error::invalid(format!(
                "{}: cube = true needs the first term to be a factor or an interaction of factors",
                design.formula
            )));
        }
    };
    let lead: Vec<(usize, usize)> = lead_term
        .factors
        .iter()
        .map(|&f| (f, design.factors[f].levels.len()))
        .collect();
    let cell_columns: Vec<usize> = design
        .coefs
        .iter()
        .filter(|c| c.term == Some(0))
        .filter_map(|c| c.column)
        .collect();
    let z_columns: Vec<usize> = design
        .coefs
        .iter()
        .filter(|c| c.term.is_some_and(|t| t > 0))
        .filter_map(|c| c.column)
        .collect();
    let mut pema = CubePema {
        zdesign: design.without_first_term(),
        cells: cell_columns.len(),
        design,
        options: options.clone(),
        cell_columns,
        z_columns,
        lead,
    };
    context.run(&mut pema, data, &options.rx)
}

impl CubePema {
    fn width(&self) -> usize {
        self.z_columns.len() + 1
    }
}

/// Folds a group of rows with mean `mb` and weight `nb` into cell stats `(na, ma)`, returning the
/// correction row `√(na nb / (na + nb)) (ma − mb)` for the within factor (None for a new cell).
fn merge_cell(na: &mut f64, ma: &mut [f64], nb: f64, mb: &[f64]) -> Option<Vec<f64>> {
    if nb <= 0.0 {
        return None;
    }
    if *na <= 0.0 {
        *na = nb;
        ma.copy_from_slice(mb);
        return None;
    }
    let n = *na + nb;
    let c = (*na * nb / n).sqrt();
    let row = ma.iter().zip(mb).map(|(a, b)| c * (a - b)).collect();
    for (a, b) in ma.iter_mut().zip(mb) {
        *a += (nb / n) * (b - *a);
    }
    *na = n;
    Some(row)
}

impl Pema for CubePema {
    type Partial = CubePartial;
    type Output = RxLinMod;

    fn columns(&self) -> Vec<String> {
        self.design.columns(&self.options.weight_columns())
    }

    fn init(&self) -> CubePartial {
        CubePartial {
            tsqr: Tsqr::new(self.width()),
            n: vec![0.0; self.cells],
            count: vec![0.0; self.cells],
            means: vec![0.0; self.cells * self.width()],
            n_valid: 0,
            n_missing: 0,
        }
    }

    fn process(&self, acc: &mut CubePartial, chunk: &RecordBatch) -> Result<()> {
        let frame = self
            .design
            .frame(chunk, &self.options.weight_columns(), true)?;
        acc.n_missing += frame.n_missing() as u64;
        acc.n_valid += frame.rows.len() as u64;
        let q = self.width();
        let nrows = frame.rows.len();
        // The chunk's rows as [z | y] with their cell and weight.
        // Only the within part's columns (the cells are the leading factor's codes).
        let mut zm = Mat::<f64>::zeros(nrows, self.zdesign.ncols);
        self.zdesign.fill(&frame, 0, zm.as_mut());
        let y = self.design.response_values(&frame, 0, nrows);
        let mut rows = vec![0.0; nrows * q];
        let mut cell = vec![0usize; nrows];
        let mut w = vec![1.0; nrows];
        for (i, &r) in frame.rows.iter().enumerate() {
            let r = r as usize;
            let mut id = 0;
            let mut stride = 1;
            for &(f, nlev) in &self.lead {
                id += frame.codes[f][r] as usize * stride;
                stride *= nlev;
            }
            cell[i] = id;
            for k in 0..self.z_columns.len() {
                rows[i * q + k] = zm[(i, k)];
            }
            rows[i * q + q - 1] = y[i];
            let (wi, freq) = self.options.row_weights(&frame, r);
            w[i] = wi;
            if wi > 0.0 {
                acc.count[id] += freq;
            }
        }
        // The chunk's cell means.
        let mut cn = vec![0.0; self.cells];
        let mut cm = vec![0.0; self.cells * q];
        for i in 0..nrows {
            let id = cell[i];
            cn[id] += w[i];
            for k in 0..q {
                cm[id * q + k] += w[i] * rows[i * q + k];
            }
        }
        for id in 0..self.cells {
            if cn[id] > 0.0 {
                for k in 0..q {
                    cm[id * q + k] /= cn[id];
                }
            }
        }
        // Within rows: √w (row − cell mean), in blocks.
        let mut start = 0;
        while start < nrows {
            let len = (nrows - start).min(Tsqr::BLOCK);
            acc.tsqr.add_rows(len, |mut m| {
                for i in 0..len {
                    let g = start + i;
                    let s = w[g].sqrt();
                    let id = cell[g];
                    for k in 0..q {
                        m[(i, k)] = s * (rows[g * q + k] - cm[id * q + k]);
                    }
                }
            });
            start += len;
        }
        // Fold the chunk's cells into the partial's.
        let mut corrections = Vec::new();
        for id in 0..self.cells {
            let (na, ma) = (&mut acc.n[id], &mut acc.means[id * q..(id + 1) * q]);
            if let Some(row) = merge_cell(na, ma, cn[id], &cm[id * q..(id + 1) * q]) {
                corrections.extend(row);
            }
        }
        add_flat_rows(&mut acc.tsqr, &corrections, q);
        Ok(())
    }

    fn merge(&self, into: &mut CubePartial, other: CubePartial) -> Result<()> {
        let q = self.width();
        into.tsqr.merge(&other.tsqr);
        let mut corrections = Vec::new();
        for id in 0..self.cells {
            into.count[id] += other.count[id];
            let (na, ma) = (&mut into.n[id], &mut into.means[id * q..(id + 1) * q]);
            if let Some(row) = merge_cell(na, ma, other.n[id], &other.means[id * q..(id + 1) * q]) {
                corrections.extend(row);
            }
        }
        add_flat_rows(&mut into.tsqr, &corrections, q);
        into.n_valid += other.n_valid;
        into.n_missing += other.n_missing;
        Ok(())
    }

    fn finish(&mut self, acc: CubePartial) -> Result<Step<RxLinMod>> {
        if acc.n_valid == 0 {
            return Err(Error::invalid(format!(
                "{}: no rows without missing values",
                self.design.formula
            )));
        }
        Ok(Step::Done(self.result(acc)))
    }
}

fn add_flat_rows(tsqr: &mut Tsqr, flat: &[f64], q: usize) {
    let total = flat.len() / q.max(1);
    let mut start = 0;
    while start < total {
        let len = (total - start).min(Tsqr::BLOCK);
        tsqr.add_rows(len, |mut m| {
            for i in 0..len {
                for k in 0..q {
                    m[(i, k)] = flat[(start + i) * q + k];
                }
            }
        });
        start += len;
    }
}

impl CubePema {
    fn result(&self, acc: CubePartial) -> RxLinMod {
        let q = self.width();
        let pz = q - 1;
        let fit = ls::solve(&acc.tsqr.r(), self.options.tolerance);
        let cov_w = ls::cov_unscaled(&fit.r);
        let mut beta_z = vec![0.0; pz];
        for (k, &j) in fit.kept.iter().enumerate() {
            beta_z[j] = fit.beta[k];
        }
        let mut winv = vec![0.0; pz * pz];
        for (a, &i) in fit.kept.iter().enumerate() {
            for (b, &j) in fit.kept.iter().enumerate() {
                winv[i * pz + j] = cov_w[(a, b)];
            }
        }
        let nonempty = acc.n.iter().filter(|&&n| n > 0.0).count();
        let n_obs: f64 = acc.count.iter().sum();
        let rank = nonempty + fit.kept.len();
        let df_residual = n_obs - rank as f64;
        let rss = fit.rss;
        let sigma2 = if df_residual > 0.0 {
            rss / df_residual
        } else {
            f64::NAN
        };
        // Total sum of squares about the grand mean: within + between cells.
        let total_w: f64 = acc.n.iter().sum();
        let grand = (0..self.cells)
            .map(|c| acc.n[c] * acc.means[c * q + pz])
            .sum::<f64>()
            / total_w;
        let within_tss: f64 = fit.z.iter().map(|v| v * v).sum::<f64>() + rss;
        let between: f64 = (0..self.cells)
            .map(|c| acc.n[c] * (acc.means[c * q + pz] - grand).powi(2))
            .sum();
        let tss = within_tss + between;
        // Coefficients per model column.
        let p = self.design.ncols;
        let mut beta = vec![0.0; p];
        let mut se = vec![f64::NAN; p];
        let mut aliased = vec![false; p];
        for (c, &col) in self.cell_columns.iter().enumerate() {
            if acc.n[c] <= 0.0 {
                aliased[col] = true;
                continue;
            }
            let m = &acc.means[c * q..(c + 1) * q];
            let zb: f64 = (0..pz).map(|k| m[k] * beta_z[k]).sum();
            beta[col] = m[pz] - zb;
            let quad: f64 = (0..pz)
                .map(|a| (0..pz).map(|b| m[a] * winv[a * pz + b] * m[b]).sum::<f64>())
                .sum();
            se[col] = (sigma2 * (1.0 / acc.n[c] + quad)).sqrt();
        }
        for (k, &col) in self.z_columns.iter().enumerate() {
            if fit.aliased[k] {
                aliased[col] = true;
            } else {
                beta[col] = beta_z[k];
                se[col] = (sigma2 * winv[k * pz + k]).sqrt();
            }
        }
        let coefficients = coefficient_table(&self.design, &beta, &se, &aliased, df_residual);
        let df_model = (rank - 1) as f64;
        let r_squared = if tss > 0.0 { 1.0 - rss / tss } else { f64::NAN };
        let adj_r_squared = 1.0 - (1.0 - r_squared) * ((n_obs - 1.0) / df_residual);
        let (f_statistic, f_p_value) = if df_model > 0.0 && df_residual > 0.0 {
            let f = ((tss - rss) / df_model) / sigma2;
            (finite(f), finite(dist::pf_upper(f, df_model, df_residual)))
        } else {
            (None, None)
        };
        let condition_number = ls::condition_number(&fit.r);
        let cov_coef = self.options.cov_coef.then(|| {
            // The within part only (the cells' full covariance would be cells × cells).
            fit.kept
                .iter()
                .map(|&i| {
                    fit.kept
                        .iter()
                        .map(|&j| sigma2 * winv[i * pz + j])
                        .collect()
                })
                .collect()
        });
        RxLinMod {
            formula: self.design.formula.clone(),
            coefficients,
            r_squared,
            adj_r_squared,
            f_statistic,
            f_p_value,
            sigma: sigma2.sqrt(),
            df_model,
            df_residual,
            n_valid: acc.n_valid,
            n_missing: acc.n_missing,
            condition_number,
            rss,
            tss,
            refinements: 0,
            cov_coef,
            model: LinearPredictor {
                design: self.design.clone(),
                beta,
                aliased,
                cov_unscaled: Vec::new(),
                dispersion: sigma2,
                df_residual,
                link: crate::family::Link::Identity,
                cube: Some(CubeCells {
                    cell_columns: self.cell_columns.clone(),
                    z_columns: self.z_columns.clone(),
                    n: acc.n,
                    means: acc.means,
                    within_inv: winv,
                }),
            },
        }
    }
}
