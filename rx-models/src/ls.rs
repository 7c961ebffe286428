//! Least squares from an R factor: aliased (collinear) columns, coefficients, the unscaled
//! covariance `(X'WX)⁻¹` and the condition number — shared by `rx_lin_mod`, `rx_logit` and
//! `rx_glm`.
//!
//! The R factor is that of the augmented matrix `[X | y]` (weighted rows), `q = p + 1` columns.
//! A column is aliased when its part orthogonal to the columns before it (not aliased) is at most
//! `tolerance` times its norm — R's rule (`lm` uses 1e-7 in `dqrdc2`), applied in column order, so
//! the later of two collinear columns is the one reported as aliased.

use faer::Mat;

/// The least-squares solution read from an R factor.
#[derive(Debug, Clone)]
pub struct LsFit {
    /// Per model-matrix column: aliased or not.
    pub aliased: Vec<bool>,
    /// The model-matrix columns kept, in order.
    pub kept: Vec<usize>,
    /// The R factor of the kept columns (`k × k`, upper triangular).
    pub r: Mat<f64>,
    /// `Q'y` on the kept columns.
    pub z: Vec<f64>,
    /// The residual sum of squares read from R (the last diagonal element, squared).
    pub rss: f64,
    /// The coefficients of the kept columns.
    pub beta: Vec<f64>,
}

/// Solves the least-squares problem whose `[X | y]` has the upper-triangular factor `r`
/// (`q × q`, y last).
pub fn solve(r: &Mat<f64>, tolerance: f64) -> LsFit {
    let q = r.ncols();
    let p = q.saturating_sub(1);
    let mut m: Vec<Vec<f64>> = (0..q)
        .map(|j| (0..q).map(|i| r[(i, j)]).collect())
        .collect();
    // `cols[c]` is the model-matrix column now at position c; p (the response) stays last.
    let mut cols: Vec<usize> = (0..q).collect();
    let mut aliased = vec![false; p];
    let mut c = 0;
    while c + 1 < cols.len() {
        let norm = m[c].iter().map(|v| v * v).sum::<f64>().sqrt();
        let diag = m[c][c].abs();
        if norm == 0.0 || !diag.is_finite() || diag <= tolerance * norm {
            aliased[cols[c]] = true;
            m.remove(c);
            cols.remove(c);
            retriangularize(&mut m, c);
        } else {
            c += 1;
        }
    }
    let k = cols.len() - 1;
    let rk = Mat::from_fn(k, k, |i, j| m[j][i]);
    let z: Vec<f64> = (0..k).map(|i| m[k][i]).collect();
    let rss = m[k].get(k).map_or(0.0, |v| v * v);
    let beta = back_solve(&rk, &z);
    LsFit {
        aliased,
        kept: cols[..k].to_vec(),
        r: rk,
        z,
        rss,
        beta,
    }
}

/// Restores upper-triangular form after a column was removed at position `from` (columns are
/// `m[j]`, rows their entries): Givens rotations on rows `c, c + 1` zero the subdiagonal.
fn retriangularize(m: &mut [Vec<f64>], from: usize) {
    for c in from..m.len() {
        let rows = m[c].len();
        if c + 1 >= rows {
            break;
        }
        let (a, b) = (m[c][c], m[c][c + 1]);
        if b == 0.0 {
            continue;
        }
        let h = a.hypot(b);
        let (cs, sn) = (a / h, b / h);
        for col in m.iter_mut().skip(c) {
            let (x, y) = (col[c], col[c + 1]);
            col[c] = cs * x + sn * y;
            col[c + 1] = -sn * x + cs * y;
        }
        m[c][c + 1] = 0.0;
    }
}

/// Solves `R x = b` for upper-triangular `R`.
pub fn back_solve(r: &Mat<f64>, b: &[f64]) -> Vec<f64> {
    let k = b.len();
    let mut x = b.to_vec();
    for i in (0..k).rev() {
        let mut s = x[i];
        for j in i + 1..k {
            s -= r[(i, j)] * x[j];
        }
        x[i] = s / r[(i, i)];
    }
    x
}

/// Solves `R' x = b` for upper-triangular `R`.
pub fn forward_solve_t(r: &Mat<f64>, b: &[f64]) -> Vec<f64> {
    let k = b.len();
    let mut x = b.to_vec();
    for i in 0..k {
        let mut s = x[i];
        for j in 0..i {
            s -= r[(j, i)] * x[j];
        }
        x[i] = s / r[(i, i)];
    }
    x
}

/// `(R'R)⁻¹ = R⁻¹ R⁻ᵀ`, the unscaled covariance of the coefficients.
pub fn cov_unscaled(r: &Mat<f64>) -> Mat<f64> {
    let k = r.nrows();
    // R⁻¹ column by column.
    let mut rinv = Mat::<f64>::zeros(k, k);
    for j in 0..k {
        let mut e = vec![0.0; k];
        e[j] = 1.0;
        let col = back_solve(r, &e);
        for (i, v) in col.into_iter().enumerate() {
            rinv[(i, j)] = v;
        }
    }
    let mut cov = Mat::<f64>::zeros(k, k);
    for i in 0..k {
        for j in i..k {
            let s: f64 = (j..k).map(|l| rinv[(i, l)] * rinv[(j, l)]).sum();
            cov[(i, j)] = s;
            cov[(j, i)] = s;
        }
    }
    cov
}

/// The 2-norm condition number of the model matrix with its columns scaled to unit length
/// (scale-free, so units do not inflate it), from its R factor.
pub fn condition_number(r: &Mat<f64>) -> f64 {
    let k = r.ncols();
    if k == 0 {
        return 1.0;
    }
    let norms: Vec<f64> = (0..k)
        .map(|j| (0..=j).map(|i| r[(i, j)] * r[(i, j)]).sum::<f64>().sqrt())
        .collect();
    let scaled = Mat::from_fn(k, k, |i, j| {
        if norms[j] > 0.0 {
            r[(i, j)] / norms[j]
        } else {
            0.0
        }
    });
    match scaled.singular_values() {
        Ok(s) => {
            let max = s.iter().copied().fold(0.0f64, f64::max);
            let min = s.iter().copied().fold(f64::INFINITY, f64::min);
            if min > 0.0 { max / min } else { f64::INFINITY }
        }
        Err(_) => f64::INFINITY,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsqr::Tsqr;

    fn r_of(x: &Mat<f64>) -> Mat<f64> {
        let mut t = Tsqr::new(x.ncols());
        t.add_rows(x.nrows(), |mut m| {
            for i in 0..x.nrows() {
                for j in 0..x.ncols() {
                    m[(i, j)] = x[(i, j)];
                }
            }
        });
        t.r()
    }

    #[test]
    fn exact_fit_and_aliased_column() {
        // y = 1 + 2 a - 3 b; column c = a + b is collinear and comes after them.
        let n = 20;
        let x = Mat::from_fn(n, 5, |i, j| {
            let a = i as f64;
            let b = ((i * i) % 7) as f64;
            match j {
                0 => 1.0,
                1 => a,
                2 => b,
                3 => a + b,
                _ => 1.0 + 2.0 * a - 3.0 * b,
            }
        });
        let fit = solve(&r_of(&x), 1e-9);
        assert_eq!(fit.aliased, vec![false, false, false, true]);
        assert_eq!(fit.kept, vec![0, 1, 2]);
        for (b, want) in fit.beta.iter().zip([1.0, 2.0, -3.0]) {
            assert!((b - want).abs() < 1e-12, "{b} vs {want}");
        }
        assert!(fit.rss < 1e-20);
    }

    #[test]
    fn condition_number_is_scale_free() {
        let x = Mat::from_fn(10, 2, |i, j| if j == 0 { 1.0 } else { i as f64 * 1e6 });
        let k1 = condition_number(&r_of(&x));
        let x2 = Mat::from_fn(10, 2, |i, j| if j == 0 { 1.0 } else { i as f64 });
        let k2 = condition_number(&r_of(&x2));
        assert!((k1 - k2).abs() / k2 < 1e-10);
    }
}
