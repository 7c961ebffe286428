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
    pub const BLOCK: usize = 512;

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
    let ok = pulp::Arch::new().dispatch(
        #[inline(always)]
        || fold_block_impl(r, q, b, rows),
    );
    if !ok {
        r.copy_from_slice(&saved);
    }
    ok
}

#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0f64; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut s: f64 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

#[inline(always)]
fn fold_block_impl(r: &mut [f64], q: usize, b: &mut [f64], rows: usize) -> bool {
    for j in 0..q {
        let (left, right) = b.split_at_mut((j + 1) * rows);
        let x = &left[j * rows..];
        let sigma = dot(x, x);
        if sigma == 0.0 {
            continue;
        }
        let alpha = r[j * q + j];
        let norm = (alpha * alpha + sigma).sqrt();
        if !norm.is_finite() {
            return false;
        }
        let beta = if alpha >= 0.0 { -norm } else { norm };
        let scale = 1.0 / (alpha - beta);
        let tau = (beta - alpha) / beta;
        r[j * q + j] = beta;
        for (k, col) in (j + 1..q).zip(right.chunks_exact_mut(rows)) {
            let w = r[k * q + j] + scale * dot(x, col);
            r[k * q + j] -= tau * w;
            let c = tau * w * scale;
            for (v, &xi) in col.iter_mut().zip(x) {
                *v -= c * xi;
            }
        }
    }
    true
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
