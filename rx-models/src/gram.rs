//! The Gram matrix `M'M` of a matrix seen a block of rows at a time: the cheap alternative to
//! [`Tsqr`](crate::tsqr::Tsqr) for the IRLS iterations of `rx_glm` / `rx_logit`. A Newton step
//! solved from it in step form (`δ = (X'WX)⁻¹ X'W r`, `r` the working residual) carries a
//! relative error of about `cond(X)² ε` in `δ` only, which the next Newton step corrects. Its
//! Cholesky factor is the R of a QR of `[X | r]` to a relative error of about `cond(X)² ε`: for
//! a well-conditioned `X` it stands in for the QR's in the reported covariance
//! ([`GramStep::r`]); otherwise the iteration whose weights give the reported covariance runs
//! as a QR.
//!
//! A block of `b` rows costs `b q²` multiply-adds in a matrix-multiply kernel (the QR needs about
//! twice as many, in a kernel that runs at a fraction of the speed), and merging is an addition.

use faer::linalg::matmul::triangular::{BlockStructure, matmul};
use faer::{Accum, Mat, MatMut, MatRef, Par};
use serde::{Deserialize, Serialize};

/// The running Gram matrix of a `? × q` matrix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gram {
    q: usize,
    rows: u64,
    /// `M'M`, column-major `q × q` (the upper triangle, computed alone; zeros below the
    /// diagonal).
    g: Vec<f64>,
    /// The block being added (reused).
    #[serde(skip)]
    block: Vec<f64>,
}

impl PartialEq for Gram {
    fn eq(&self, other: &Self) -> bool {
        self.q == other.q && self.rows == other.rows && self.g == other.g
    }
}

/// A Newton step solved from a Gram matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct GramStep {
    /// The solution per column of `X` (0 for none: a Gram step is only taken when no column is
    /// aliased).
    pub solution: Vec<f64>,
    /// `solution' X'W t` (`t` the target column): with `t` the working residual, the Newton
    /// decrement `λ²`, the deviance decrease the step predicts.
    pub decrement: f64,
    /// The upper-triangular factor of `[X | t]` from the Cholesky factorization of the Gram
    /// matrix (`q × q`, the target last: the R of a QR of `[X | t]` up to the signs of its
    /// rows), when the condition number is at most the `report_condition` of
    /// [`Gram::solve`]; `None` otherwise. Its entries carry a relative error of about
    /// `cond(X)² ε`.
    pub r: Option<Mat<f64>>,
}

impl Gram {
    /// Rows per block added at once.
    pub const BLOCK: usize = 512;

    /// An empty Gram matrix of a matrix with `q` columns.
    pub fn new(q: usize) -> Self {
        Gram {
            q,
            rows: 0,
            g: vec![0.0; q * q],
            block: Vec::new(),
        }
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.q
    }

    /// Rows added so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds `rows` rows that `fill` writes into the `rows × q` matrix it is given. The matrix
    /// holds whatever the last block left there (it is not cleared, to save the time):
    /// `fill` must write every entry.
    pub fn add_rows(&mut self, rows: usize, fill: impl FnOnce(MatMut<'_, f64>)) {
        self.rows += rows as u64;
        if rows == 0 || self.q == 0 {
            return;
        }
        let q = self.q;
        let mut block = std::mem::take(&mut self.block);
        block.resize(rows * q, 0.0);
        fill(MatMut::from_column_major_slice_mut(&mut block, rows, q));
        self.rows -= rows as u64;
        self.add_block(MatRef::from_column_major_slice(&block, rows, q));
        self.block = block;
    }

    /// Adds the rows of `m` (`? × q`, column-major with unit row stride).
    pub fn add_block(&mut self, m: MatRef<'_, f64>) {
        assert_eq!(m.ncols(), self.q, "adding a block of another width");
        self.rows += m.nrows() as u64;
        if m.nrows() == 0 || self.q == 0 {
            return;
        }
        let q = self.q;
        let g = MatMut::from_column_major_slice_mut(&mut self.g, q, q);
        matmul(
            g,
            BlockStructure::TriangularUpper,
            Accum::Add,
            m.transpose(),
            BlockStructure::Rectangular,
            m,
            BlockStructure::Rectangular,
            1.0,
            Par::Seq,
        );
    }

    /// Adds another Gram matrix of the same width.
    pub fn merge(&mut self, other: &Gram) {
        assert_eq!(self.q, other.q, "merging Gram matrices of different widths");
        self.rows += other.rows;
        for (a, b) in self.g.iter_mut().zip(&other.g) {
            *a += b;
        }
    }

    /// Solves `X'WX s = X'W t` for `[X | t]` the `q` columns (target last), by a Cholesky
    /// factorization of the Gram matrix scaled to a unit diagonal. `None` when the step would
    /// not be accurate: a column without weight, a non-finite entry, or a scaled condition
    /// number of `X` above `max_condition` (its square bounds the step's relative error in units
    /// of ε; collinear columns land here, and the caller falls back to the QR, which reports
    /// them as aliased). With a condition number of at most `report_condition`, the step also
    /// carries the R factor of `[X | t]` ([`GramStep::r`]).
    pub fn solve(&self, max_condition: f64, report_condition: f64) -> Option<GramStep> {
        let q = self.q;
        let p = q.checked_sub(1)?;
        let g = |i: usize, j: usize| self.g[i.max(j) * q + i.min(j)];
        if self.g.iter().any(|v| !v.is_finite()) {
            return None;
        }
        let d: Vec<f64> = (0..p).map(|j| g(j, j).sqrt()).collect();
        if d.iter().any(|&v| v.is_nan() || v <= 0.0) {
            return None;
        }
        // Scaled: A = D⁻¹ G D⁻¹ (unit diagonal), b = D⁻¹ X'W t. Cholesky A = L L'.
        let mut l = Mat::<f64>::zeros(p, p);
        for j in 0..p {
            let mut s = g(j, j) / (d[j] * d[j]);
            for k in 0..j {
                s -= l[(j, k)] * l[(j, k)];
            }
            // The part of column j orthogonal to the columns before it, relative to its norm.
            if s.is_nan() || s <= 1.0 / (max_condition * max_condition) {
                return None;
            }
            let ljj = s.sqrt();
            l[(j, j)] = ljj;
            for i in j + 1..p {
                let mut s = g(i, j) / (d[i] * d[j]);
                for k in 0..j {
                    s -= l[(i, k)] * l[(j, k)];
                }
                l[(i, j)] = s / ljj;
            }
        }
        // The scaled R factor is L': its condition number is that of X with unit columns.
        let r = Mat::from_fn(p, p, |i, j| l[(j, i)]);
        let condition = crate::ls::condition_number(&r);
        if condition > max_condition {
            return None;
        }
        let b: Vec<f64> = (0..p).map(|j| g(j, p) / d[j]).collect();
        let y = crate::ls::forward_solve_t(&r, &b);
        let x = crate::ls::back_solve(&r, &y);
        let solution: Vec<f64> = x.iter().zip(&d).map(|(v, dj)| v / dj).collect();
        let decrement = solution
            .iter()
            .enumerate()
            .map(|(j, s)| s * g(j, p))
            .sum::<f64>();
        // R of [X | t]: the scaled factor times D on X's columns, then the solved target column
        // and the residual norm.
        let r_aug = (condition <= report_condition).then(|| {
            let rss = (g(p, p) - y.iter().map(|v| v * v).sum::<f64>()).max(0.0);
            Mat::from_fn(q, q, |i, j| match (i < p, j < p) {
                (true, true) => r[(i, j)] * d[j],
                (true, false) => y[i],
                (false, false) => rss.sqrt(),
                (false, true) => 0.0,
            })
        });
        solution.iter().all(|v| v.is_finite()).then_some(GramStep {
            solution,
            decrement,
            r: r_aug,
        })
    }
}

/// Multiplies row `i` of `m` by `s[i]`, in place, with the CPU's widest SIMD.
pub fn scale_rows(m: MatMut<'_, f64>, s: &[f64]) {
    pulp::Arch::new().dispatch(ScaleRows { m, s });
}

struct ScaleRows<'a> {
    m: MatMut<'a, f64>,
    s: &'a [f64],
}

impl pulp::WithSimd for ScaleRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let ScaleRows { mut m, s } = self;
        let n = m.nrows().min(s.len());
        for j in 0..m.ncols() {
            let mut col = m.as_mut().col_mut(j);
            match col.as_mut().try_as_col_major_mut() {
                Some(c) => {
                    for (v, w) in c.as_slice_mut()[..n].iter_mut().zip(&s[..n]) {
                        *v *= w;
                    }
                }
                None => {
                    for i in 0..n {
                        col[i] *= s[i];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsqr::Tsqr;

    fn data(n: usize) -> Mat<f64> {
        Mat::from_fn(n, 4, |i, j| {
            let a = (i as f64 * 0.37).sin();
            let b = ((i * i) % 11) as f64 / 7.0;
            match j {
                0 => 1.0,
                1 => a,
                2 => b,
                _ => 0.5 - 2.0 * a + 3.0 * b + 0.01 * ((i % 5) as f64 - 2.0),
            }
        })
    }

    fn add(g: &mut Gram, x: MatRef<'_, f64>) {
        for start in (0..x.nrows()).step_by(Gram::BLOCK) {
            let len = (x.nrows() - start).min(Gram::BLOCK);
            g.add_rows(len, |mut m| {
                m.copy_from(x.subrows(start, len));
            });
        }
    }

    #[test]
    fn solves_the_normal_equations_as_the_qr_does() {
        let x = data(2000);
        let mut g = Gram::new(4);
        add(&mut g, x.as_ref().subrows(0, 1200));
        let mut g2 = Gram::new(4);
        add(&mut g2, x.as_ref().subrows(1200, 800));
        g.merge(&g2);
        assert_eq!(g.rows(), 2000);
        let step = g.solve(1e4, 1e4).expect("well conditioned");
        let mut t = Tsqr::new(4);
        t.add_rows(2000, |mut m| m.copy_from(&x));
        let fit = crate::ls::solve(&t.r(), 1e-11);
        for (a, b) in step.solution.iter().zip(&fit.beta) {
            assert!((a - b).abs() < 1e-11 * (1.0 + b.abs()), "{a} vs {b}");
        }
        // The factor of [X | t] is the QR's R, up to the signs of its rows.
        let (rg, rq) = (step.r.as_ref().expect("reported"), t.r());
        for i in 0..4 {
            let sign = (rg[(i, i)] * rq[(i, i)]).signum();
            for j in i..4 {
                let scale = rq[(j, j)].abs().max(rq[(i, j)].abs());
                assert!(
                    (rg[(i, j)] - sign * rq[(i, j)]).abs() < 1e-9 * scale,
                    "R[{i},{j}]: {} vs {}",
                    rg[(i, j)],
                    rq[(i, j)]
                );
            }
        }
        assert!((fit.rss.sqrt() - rg[(3, 3)]).abs() < 1e-6 * fit.rss.sqrt());
        assert!(g.solve(1e4, 1.0).expect("well conditioned").r.is_none());
        // The decrement is the explained sum of squares: ‖t‖² − RSS.
        let tt: f64 = (0..2000).map(|i| x[(i, 3)] * x[(i, 3)]).sum();
        assert!((step.decrement - (tt - fit.rss)).abs() < 1e-9 * tt);
    }

    #[test]
    fn refuses_collinear_and_empty_columns() {
        let x = Mat::from_fn(100, 4, |i, j| match j {
            0 => 1.0,
            1 => i as f64,
            2 => 2.0 * i as f64 + 1.0,
            _ => (i % 3) as f64,
        });
        let mut g = Gram::new(4);
        add(&mut g, x.as_ref());
        assert!(g.solve(1e4, 1e4).is_none());
        let z = Mat::from_fn(10, 3, |_, j| if j == 1 { 0.0 } else { 1.0 });
        let mut g = Gram::new(3);
        add(&mut g, z.as_ref());
        assert!(g.solve(1e4, 1e4).is_none());
    }
}
