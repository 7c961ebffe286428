//! Tall-skinny QR: the R factor of a matrix seen a block of rows at a time, and the merge of two
//! such factors (the QR of the two stacked R's). This is how linear and generalized linear models
//! accumulate their data: as stable as a QR of the whole matrix, in `q × q` memory, mergeable
//! across chunks, threads and machines.
//!
//! Rows are folded in blocks of [`Tsqr::BLOCK`] so each Householder QR works in cache; the R so
//! far sits on top of each block.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::qr::no_pivoting::factor::{qr_in_place, qr_in_place_scratch};
use faer::{Mat, MatMut, Par};
use pulp::Simd;
use serde::{Deserialize, Serialize};

/// The running R factor of a `? × q` matrix.
#[derive(Debug, Serialize, Deserialize)]
pub struct Tsqr {
    q: usize,
    /// Rows folded in so far.
    rows: u64,
    /// The upper triangle of R, column-major `q × q` (zeros below the diagonal).
    r: Vec<f64>,
    #[serde(skip)]
    work: Option<Work>,
    /// The block being folded in (reused).
    #[serde(skip)]
    block: Vec<f64>,
}

impl Clone for Tsqr {
    fn clone(&self) -> Self {
        Tsqr {
            q: self.q,
            rows: self.rows,
            r: self.r.clone(),
            work: None,
            block: Vec::new(),
        }
    }
}

impl PartialEq for Tsqr {
    fn eq(&self, other: &Self) -> bool {
        self.q == other.q && self.rows == other.rows && self.r == other.r
    }
}

/// Reusable buffers for the blocked updates.
struct Work {
    /// `(q + BLOCK) × q`: R on top, the block below.
    w: Mat<f64>,
    coeff: Mat<f64>,
    mem: MemBuffer,
}

impl std::fmt::Debug for Work {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Work")
            .field("shape", &self.w.shape())
            .finish()
    }
}

const QR_BLOCK: usize = 19;

impl Tsqr {
    /// Rows per block folded in at once.
    pub const BLOCK: usize = 256;

    /// An empty factor of a matrix with `q` columns.
    pub fn new(q: usize) -> Self {
        Tsqr {
            q,
            rows: 0,
            r: vec![0.0; q * q],
            work: None,
            block: Vec::new(),
        }
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.q
    }

    /// Rows folded in so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The R factor as a matrix (upper triangular; signs of rows are arbitrary).
    pub fn r(&self) -> Mat<f64> {
        Mat::from_fn(self.q, self.q, |i, j| self.r[j * self.q + i])
    }

    /// Folds in `rows` rows that `fill` writes into the `rows × q` matrix it is given.
    pub fn add_rows(&mut self, rows: usize, fill: impl FnOnce(MatMut<'_, f64>)) {
        if rows == 0 || self.q == 0 {
            self.rows += rows as u64;
            return;
        }
        let q = self.q;
        let mut block = std::mem::take(&mut self.block);
        block.clear();
        block.resize(rows * q, 0.0);
        fill(MatMut::from_column_major_slice_mut(&mut block, rows, q));
        if !fold_block(&mut self.r, q, &mut block, rows) {
            // Values so large that squares overflow: faer's scaled Householder QR instead.
            self.fold_with_faer(&block, rows);
        }
        self.block = block;
        self.rows += rows as u64;
    }

    fn fold_with_faer(&mut self, block: &[f64], rows: usize) {
        let q = self.q;
        let r = std::mem::take(&mut self.r);
        let mut work = match self.work.take() {
            Some(w) if w.w.nrows() >= q + rows => w,
            _ => Work::new(q, (q + rows).max(q + Self::BLOCK)),
        };
        let mut w = work.w.as_mut().subrows_mut(0, q + rows);
        for j in 0..q {
            for i in 0..q {
                w[(i, j)] = if i <= j { r[j * q + i] } else { 0.0 };
            }
            for i in 0..rows {
                w[(q + i, j)] = block[j * rows + i];
            }
        }
        self.r = factor(&mut work, q + rows, r);
        self.work = Some(work);
    }

    /// Folds in another factor of the same width (the QR of the stacked R's).
    pub fn merge(&mut self, other: &Tsqr) {
        assert_eq!(self.q, other.q, "merging R factors of different widths");
        let q = self.q;
        let rows = self.rows + other.rows;
        let other_r = &other.r;
        self.add_rows(q, |mut m| {
            for j in 0..q {
                for i in 0..q {
                    m[(i, j)] = if i <= j { other_r[j * q + i] } else { 0.0 };
                }
            }
        });
        self.rows = rows;
    }
}

impl Work {
    fn new(q: usize, nrows: usize) -> Work {
        let bs = QR_BLOCK.min(q.max(1));
        let req = qr_in_place_scratch::<f64>(nrows, q, bs, Par::Seq, Default::default());
        Work {
            w: Mat::zeros(nrows, q),
            coeff: Mat::zeros(bs, q.max(1)),
            mem: MemBuffer::new(req),
        }
    }
}

/// Folds the column-major `rows × q` block `b` into the upper-triangular `q × q` factor `r`
/// (column-major) by Householder reflections that exploit the structure of `[R; B]`: reflection
/// `j` mixes row `j` of R with the block only. Returns false (and leaves `r` as it was) when a
/// column's squared norm overflows. Runs with the CPU's widest SIMD (pulp's dispatch), where the
/// dot products and updates vectorise.
fn fold_block(r: &mut [f64], q: usize, b: &mut [f64], rows: usize) -> bool {
    let saved = r.to_vec();
    let ok = pulp::Arch::new().dispatch(Fold { r, q, b, rows });
    if !ok {
        r.copy_from_slice(&saved);
    }
    ok
}

/// The fold as a [`pulp::WithSimd`] operation: `with_simd` is inlined into pulp's
/// `#[target_feature]` entry point, and with it every `#[inline(always)]` function below, so the
/// loops run on the CPU's widest vectors with fused multiply-adds (a closure passed to
/// `dispatch` stays a separate function compiled for the baseline, without AVX). Fused
/// multiply-adds are used on every path (pulp emulates them where the CPU lacks them), so the
/// result does not depend on the machine.
struct Fold<'a> {
    r: &'a mut [f64],
    q: usize,
    b: &'a mut [f64],
    rows: usize,
}

impl pulp::WithSimd for Fold<'_> {
    type Output = bool;

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> bool {
        fold_block_impl(simd, self.r, self.q, self.b, self.rows)
    }
}

/// `a · b`.
#[inline(always)]
fn dot<S: Simd>(simd: S, a: &[f64], b: &[f64]) -> f64 {
    let (ah, at) = S::as_simd_f64s(a);
    let (bh, bt) = S::as_simd_f64s(b);
    let n = ah.len().min(bh.len());
    let (ah, bh) = (&ah[..n], &bh[..n]);
    let zero = simd.splat_f64s(0.0);
    let mut acc = [zero; 4];
    let whole = n / 4 * 4;
    let mut k = 0;
    while k < whole {
        for l in 0..4 {
            acc[l] = simd.mul_add_f64s(ah[k + l], bh[k + l], acc[l]);
        }
        k += 4;
    }
    for k in whole..n {
        acc[0] = simd.mul_add_f64s(ah[k], bh[k], acc[0]);
    }
    let sum = simd.add_f64s(simd.add_f64s(acc[0], acc[1]), simd.add_f64s(acc[2], acc[3]));
    let mut t = simd.reduce_sum_f64s(sum);
    for (x, y) in at.iter().zip(bt) {
        t = x.mul_add(*y, t);
    }
    t
}

/// `c -= m x`.
#[inline(always)]
fn axpy_sub<S: Simd>(simd: S, m: f64, x: &[f64], c: &mut [f64]) {
    let (xh, xt) = S::as_simd_f64s(x);
    let (ch, ct) = S::as_mut_simd_f64s(c);
    let neg = simd.splat_f64s(-m);
    for (cv, xv) in ch.iter_mut().zip(xh) {
        *cv = simd.mul_add_f64s(neg, *xv, *cv);
    }
    for (cv, xv) in ct.iter_mut().zip(xt) {
        *cv = (-m).mul_add(*xv, *cv);
    }
}

/// Columns per panel of the blocked fold: a panel's reflectors are applied to the columns right
/// of it together (compact WY), so each of those columns is read twice per panel rather than
/// twice per reflector.
const PANEL: usize = 6;

#[inline(always)]
fn fold_block_impl<S: Simd>(simd: S, r: &mut [f64], q: usize, b: &mut [f64], rows: usize) -> bool {
    let mut j0 = 0;
    while j0 < q {
        let j1 = (j0 + PANEL).min(q);
        let ok = match j1 - j0 {
            1 => fold_panel::<S, 1>(simd, r, q, b, rows, j0),
            2 => fold_panel::<S, 2>(simd, r, q, b, rows, j0),
            3 => fold_panel::<S, 3>(simd, r, q, b, rows, j0),
            4 => fold_panel::<S, 4>(simd, r, q, b, rows, j0),
            5 => fold_panel::<S, 5>(simd, r, q, b, rows, j0),
            _ => fold_panel::<S, PANEL>(simd, r, q, b, rows, j0),
        };
        if !ok {
            return false;
        }
        j0 = j1;
    }
    true
}

/// Folds columns `j0..j0 + NB` of the block into R (reflection `j` mixes row `j` of R with the
/// block only), then applies the panel's reflections to the columns right of it at once:
/// `H_0 ⋯ H_{NB-1} = I - V T V'` with V's block part the scaled columns and its R part the unit
/// rows `j0..j0 + NB`, so each trailing column `c` becomes `c - V (T' (V' c))`.
#[inline(always)]
#[allow(
    clippy::needless_range_loop,
    reason = "triangular index loops over small fixed-size arrays read clearer with indices"
)]
fn fold_panel<S: Simd, const NB: usize>(
    simd: S,
    r: &mut [f64],
    q: usize,
    b: &mut [f64],
    rows: usize,
    j0: usize,
) -> bool {
    let j1 = j0 + NB;
    let mut tau = [0.0f64; NB];
    // Reflections one by one inside the panel (level 2, on NB columns only).
    for jj in 0..NB {
        let j = j0 + jj;
        let (left, right) = b.split_at_mut((j + 1) * rows);
        let x = &mut left[j * rows..];
        let sigma = dot(simd, x, x);
        if sigma == 0.0 {
            // No reflection (tau 0); the column stays as it is and T ignores it.
            continue;
        }
        let alpha = r[j * q + j];
        let norm = (alpha * alpha + sigma).sqrt();
        if !norm.is_finite() {
            return false;
        }
        let beta = if alpha >= 0.0 { -norm } else { norm };
        let scale = 1.0 / (alpha - beta);
        let t = (beta - alpha) / beta;
        r[j * q + j] = beta;
        for (k, col) in (j + 1..j1).zip(right.chunks_exact_mut(rows)) {
            let w = r[k * q + j] + scale * dot(simd, x, col);
            r[k * q + j] -= t * w;
            axpy_sub(simd, t * w * scale, x, col);
        }
        // The block part of the reflector's vector.
        for v in x.iter_mut() {
            *v *= scale;
        }
        tau[jj] = t;
    }
    if j1 == q {
        return true;
    }
    let (panel, trailing) = b.split_at_mut(j1 * rows);
    let v: [&[f64]; NB] = std::array::from_fn(|i| &panel[(j0 + i) * rows..(j0 + i + 1) * rows]);
    // T, upper triangular: T[i][i] = tau_i, T[0..i][i] = -tau_i T[0..i][0..i] (V_{0..i}' v_i).
    let mut t = [[0.0f64; NB]; NB];
    for i in 0..NB {
        t[i][i] = tau[i];
        if tau[i] == 0.0 {
            continue;
        }
        let mut u = [0.0f64; NB];
        for (m, um) in u.iter_mut().enumerate().take(i) {
            *um = dot(simd, v[m], v[i]);
        }
        for m in 0..i {
            let mut s = 0.0;
            for k in m..i {
                s += t[m][k] * u[k];
            }
            t[m][i] = -tau[i] * s;
        }
    }
    let split: [(&[S::f64s], &[f64]); NB] = std::array::from_fn(|i| S::as_simd_f64s(v[i]));
    let (vh, vt) = (split.map(|s| s.0), split.map(|s| s.1));
    for (k, col) in (j1..q).zip(trailing.chunks_exact_mut(rows)) {
        // w = R[J, k] + V' col, then m = T' w.
        let mut w = multi_dot::<S, NB>(simd, &vh, &vt, col);
        for (i, wi) in w.iter_mut().enumerate() {
            *wi += r[k * q + j0 + i];
        }
        let mut m = [0.0f64; NB];
        for i in 0..NB {
            let mut s = 0.0;
            for l in 0..=i {
                s += t[l][i] * w[l];
            }
            m[i] = s;
        }
        for (i, mi) in m.iter().enumerate() {
            r[k * q + j0 + i] -= mi;
        }
        multi_axpy::<S, NB>(simd, &vh, &vt, &m, col);
    }
    true
}

/// `[v_0 · c, …, v_{NB-1} · c]` in one sweep over `c` (`vh`/`vt`: the vectors' SIMD heads and
/// scalar tails, as long as `c`'s).
#[inline(always)]
fn multi_dot<S: Simd, const NB: usize>(
    simd: S,
    vh: &[&[S::f64s]; NB],
    vt: &[&[f64]; NB],
    c: &[f64],
) -> [f64; NB] {
    let (ch, ct) = S::as_simd_f64s(c);
    let n = vh.iter().fold(ch.len(), |n, v| n.min(v.len()));
    let vh: [&[S::f64s]; NB] = std::array::from_fn(|i| &vh[i][..n]);
    let mut acc = [simd.splat_f64s(0.0); NB];
    for (k, cv) in ch[..n].iter().enumerate() {
        for i in 0..NB {
            acc[i] = simd.mul_add_f64s(vh[i][k], *cv, acc[i]);
        }
    }
    std::array::from_fn(|i| {
        let mut t = simd.reduce_sum_f64s(acc[i]);
        for (x, y) in vt[i].iter().zip(ct) {
            t = x.mul_add(*y, t);
        }
        t
    })
}

/// `c -= Σ_i m_i v_i` in one sweep over `c`.
#[inline(always)]
fn multi_axpy<S: Simd, const NB: usize>(
    simd: S,
    vh: &[&[S::f64s]; NB],
    vt: &[&[f64]; NB],
    m: &[f64; NB],
    c: &mut [f64],
) {
    let (ch, ct) = S::as_mut_simd_f64s(c);
    let n = vh.iter().fold(ch.len(), |n, v| n.min(v.len()));
    let vh: [&[S::f64s]; NB] = std::array::from_fn(|i| &vh[i][..n]);
    let neg: [S::f64s; NB] = std::array::from_fn(|i| simd.splat_f64s(-m[i]));
    for (k, cv) in ch[..n].iter_mut().enumerate() {
        let mut x = *cv;
        for i in 0..NB {
            x = simd.mul_add_f64s(neg[i], vh[i][k], x);
        }
        *cv = x;
    }
    for (r, cv) in ct.iter_mut().enumerate() {
        let mut x = *cv;
        for i in 0..NB {
            if let Some(v) = vt[i].get(r) {
                x = (-m[i]).mul_add(*v, x);
            }
        }
        *cv = x;
    }
}

/// QR of the first `nrows` rows of the work matrix; returns its R (reusing `r`'s allocation).
fn factor(work: &mut Work, nrows: usize, mut r: Vec<f64>) -> Vec<f64> {
    let q = work.w.ncols();
    let w = work.w.as_mut().subrows_mut(0, nrows);
    let bs = work.coeff.nrows();
    let coeff = work.coeff.as_mut().submatrix_mut(0, 0, bs, q.min(nrows));
    qr_in_place(
        w,
        coeff,
        Par::Seq,
        MemStack::new(&mut work.mem),
        Default::default(),
    );
    r.clear();
    r.resize(q * q, 0.0);
    for j in 0..q {
        for i in 0..=j {
            r[j * q + i] = work.w[(i, j)];
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gram(m: &Mat<f64>) -> Mat<f64> {
        m.transpose() * m
    }

    #[test]
    fn r_factor_matches_the_gram_matrix() {
        let n = 1000;
        let q = 5;
        let x = Mat::from_fn(n, q, |i, j| {
            ((i * 7 + j * 13) % 17) as f64 + (i as f64).sqrt() * j as f64
        });
        let mut t = Tsqr::new(q);
        let mut start = 0;
        for len in [1, 300, 256, 443] {
            let xs = &x;
            t.add_rows(len, |mut m| {
                for i in 0..len {
                    for j in 0..q {
                        m[(i, j)] = xs[(start + i, j)];
                    }
                }
            });
            start += len;
        }
        assert_eq!(t.rows(), n as u64);
        let g1 = gram(&x);
        let g2 = gram(&t.r());
        for i in 0..q {
            for j in 0..q {
                let rel = (g1[(i, j)] - g2[(i, j)]).abs() / g1[(i, i)].max(1.0);
                assert!(rel < 1e-12, "{i},{j}: {} vs {}", g1[(i, j)], g2[(i, j)]);
            }
        }
        // Merging two halves gives the same Gram matrix.
        let mut a = Tsqr::new(q);
        let mut b = Tsqr::new(q);
        a.add_rows(400, |mut m| {
            for i in 0..400 {
                for j in 0..q {
                    m[(i, j)] = x[(i, j)];
                }
            }
        });
        b.add_rows(600, |mut m| {
            for i in 0..600 {
                for j in 0..q {
                    m[(i, j)] = x[(400 + i, j)];
                }
            }
        });
        a.merge(&b);
        assert_eq!(a.rows(), n as u64);
        let g3 = gram(&a.r());
        for i in 0..q {
            for j in 0..q {
                let rel = (g1[(i, j)] - g3[(i, j)]).abs() / g1[(i, i)].max(1.0);
                assert!(rel < 1e-12);
            }
        }
    }
}
