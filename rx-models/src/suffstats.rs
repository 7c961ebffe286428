//! Sufficient statistics computed elsewhere — by SQL aggregates inside a database — and the
//! linear model fitted from them, so no row has to travel.
//!
//! Within one combination of factor levels (a *group*) every model-matrix column is either zero or
//! a product of numeric variables (an [`Atom`]). So per group, the weighted count, the sums of the
//! atoms and the sums of their pairwise products determine `X'WX`, `X'Wy` and `y'Wy` exactly. The
//! atoms are summed about centres chosen beforehand (their means), which keeps the sums of squares
//! free of the cancellation that raw sums suffer when values sit far from zero.
//!
//! From the group statistics, [`lin_mod_from_stats`] builds the R factor of `[√w·X | √w·y]`
//! without forming raw cross-products: with an intercept (the first column), the first row of R
//! is `√W·[1, x̄']` and the rest is the Cholesky factor of the *centred* cross-product matrix, each
//! entry assembled from centred group sums. The R factor then goes through the same least-squares
//! code as a local fit (aliasing, standard errors, R², F test).

use faer::Mat;
use rx_core::{Error, Result};

use crate::dd::Dd;
use crate::design::{Design, NumSource, ResponseSource};
use crate::linmod::{Counts, LinModOptions, LinModPema, RxLinMod};
use crate::tsqr::Tsqr;

/// A numeric quantity summed per group: a product of the design's numeric variables, each
/// taken about its mean (`Π (v − v̄)`), or the response about its mean.
#[derive(Debug, Clone, PartialEq)]
pub enum Atom {
    /// The product of [`Design::numerics`] at these indexes (sorted, at least one), each centred.
    Product(Vec<usize>),
    /// The response (numeric), centred.
    Response(NumSource),
}

/// A column of the basis the sums describe: an atom (or 1) times the indicator of some factor
/// levels. Every model-matrix column is a combination of basis columns: `x·z` is
/// `(x−x̄)(z−z̄) + z̄(x−x̄) + x̄(z−z̄) + x̄z̄`.
#[derive(Debug, Clone, PartialEq)]
struct Basis {
    atom: Option<usize>,
    levels: Vec<(usize, usize)>,
}

/// Which sums a design needs (its atoms), and how its model-matrix columns are made of them.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsLayout {
    /// The atoms, the response last when there is one.
    pub atoms: Vec<Atom>,
    /// The basis; the constant first.
    basis: Vec<Basis>,
    /// Per model-matrix column and the response (last): `(basis column, numerics whose means
    /// multiply it)`.
    combos: Vec<Vec<(usize, Vec<usize>)>>,
}

impl StatsLayout {
    /// The layout of a design with a numeric response.
    pub fn of(design: &Design) -> Result<StatsLayout> {
        Self::build(design, false)
    }

    /// The layout of one weighted least-squares problem of a generalized linear model's IRLS:
    /// the response atom stands for the working response `z`, whatever the response's type (a
    /// factor response of a binomial model included).
    pub fn working(design: &Design) -> Result<StatsLayout> {
        Self::build(design, true)
    }

    fn build(design: &Design, working: bool) -> Result<StatsLayout> {
        let mut atoms: Vec<Atom> = Vec::new();
        let mut basis = vec![Basis {
            atom: None,
            levels: Vec::new(),
        }];
        let mut combos = vec![Vec::new(); design.ncols + 1];
        let mut basis_of =
            |atoms: &mut Vec<Atom>, atom: Option<Atom>, levels: Vec<(usize, usize)>| {
                let atom = atom.map(|a| match atoms.iter().position(|x| *x == a) {
                    Some(i) => i,
                    None => {
                        atoms.push(a);
                        atoms.len() - 1
                    }
                });
                let b = Basis { atom, levels };
                match basis.iter().position(|x| *x == b) {
                    Some(i) => i,
                    None => {
                        basis.push(b);
                        basis.len() - 1
                    }
                }
            };
        for c in &design.coefs {
            let Some(j) = c.column else { continue };
            let Some(t) = c.term else {
                combos[j].push((0, Vec::new()));
                continue;
            };
            let term = &design.terms[t];
            let levels: Vec<(usize, usize)> = term
                .factors
                .iter()
                .zip(&c.levels)
                .map(|(&f, &l)| (f, l))
                .collect();
            let mut vars = term.numerics.clone();
            vars.sort_unstable();
            // Every subset U of the term's numerics: Π_{U} (v − v̄) · Π_{rest} v̄.
            for mask in 0u64..(1u64 << vars.len().min(16)) {
                let (mut inside, mut outside) = (Vec::new(), Vec::new());
                for (i, &v) in vars.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        inside.push(v);
                    } else {
                        outside.push(v);
                    }
                }
                let atom = (!inside.is_empty()).then_some(Atom::Product(inside));
                let b = basis_of(&mut atoms, atom, levels.clone());
                combos[j].push((b, outside));
            }
        }
        match design.response.as_ref().map(|r| &r.source) {
            None => {}
            Some(ResponseSource::Factor(_)) if working => {
                let z = NumSource::Column(String::new());
                let b = basis_of(&mut atoms, Some(Atom::Response(z)), Vec::new());
                combos[design.ncols] = vec![(b, Vec::new()), (0, vec![usize::MAX])];
            }
            Some(ResponseSource::Numeric(s)) => {
                let b = basis_of(&mut atoms, Some(Atom::Response(s.clone())), Vec::new());
                // y = (y − ȳ) + ȳ: the mean is the response's own, marked by usize::MAX.
                combos[design.ncols] = vec![(b, Vec::new()), (0, vec![usize::MAX])];
            }
            Some(ResponseSource::Factor(_)) => {
                return Err(Error::invalid(format!(
                    "{}: the response is a factor; sufficient statistics are for a numeric response",
                    design.formula
                )));
            }
        }
        Ok(StatsLayout {
            atoms,
            basis,
            combos,
        })
    }

    /// Index of the pair `(a, b)` in [`GroupStats::s2`] (the packed upper triangle).
    pub fn pair(&self, a: usize, b: usize) -> usize {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        let n = self.atoms.len();
        a * n - a * (a + 1) / 2 + b
    }

    /// Number of pairs.
    pub fn pairs(&self) -> usize {
        let n = self.atoms.len();
        n * (n + 1) / 2
    }
}

/// The statistics of one group (one combination of factor levels).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupStats {
    /// Per design factor: the level index.
    pub levels: Vec<usize>,
    /// Rows (valid).
    pub rows: u64,
    /// `Σ w`.
    pub sum_w: f64,
    /// Observations for the degrees of freedom (rows with `w > 0`, counted by frequency weight).
    pub n_obs: f64,
    /// Per atom: `Σ w a`.
    pub s1: Vec<f64>,
    /// Per pair of atoms ([`StatsLayout::pair`]): `Σ w a b`.
    pub s2: Vec<f64>,
}

/// Statistics of a whole source.
#[derive(Debug, Clone, PartialEq)]
pub struct SuffStats {
    /// Per design numeric: the mean its atoms are centred by (0 when unused).
    pub means: Vec<f64>,
    /// The response's centre.
    pub response_mean: f64,
    /// The groups with at least one valid row.
    pub groups: Vec<GroupStats>,
    /// Rows left out for a missing value.
    pub n_missing: u64,
}

/// The upper-triangular Cholesky factor of a symmetric positive semi-definite matrix. A pivot
/// that is at most `1e-11` of its diagonal entry (the column lies, to rounding, in the span of the
/// ones before it) gives a zero row.
fn cholesky_semidefinite(m: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = m.len();
    let mut r = vec![vec![0.0; n]; n];
    for j in 0..n {
        let mut d = Dd::new(m[j][j]);
        for row in r.iter().take(j) {
            d = d.add_prod(-row[j], row[j]);
        }
        let d = d.to_f64();
        let independent = d.is_finite() && d > 1e-11 * m[j][j].abs();
        if !independent {
            continue;
        }
        let rjj = d.sqrt();
        r[j][j] = rjj;
        for k in j + 1..n {
            let mut s = Dd::new(m[j][k]);
            for row in r.iter().take(j) {
                s = s.add_prod(-row[j], row[k]);
            }
            r[j][k] = s.to_f64() / rjj;
        }
    }
    r
}

/// Fits the linear model of `design` from group statistics (see the module docs). The fit is the
/// local one's on the same rows, without the refinement passes (no row can be re-read).
pub fn lin_mod_from_stats(
    design: Design,
    options: &LinModOptions,
    layout: &StatsLayout,
    stats: &SuffStats,
) -> Result<RxLinMod> {
    let n_valid: u64 = stats.groups.iter().map(|g| g.rows).sum();
    if n_valid == 0 {
        return Err(Error::invalid(format!(
            "{}: no rows without missing values; check the formula's columns and the data",
            design.formula
        )));
    }
    let sum_w: f64 = stats.groups.iter().map(|g| g.sum_w).sum();
    let n_obs: f64 = stats.groups.iter().map(|g| g.n_obs).sum();
    let tsqr = tsqr_from_stats(layout, stats);
    let counts = Counts {
        n_valid,
        n_missing: stats.n_missing,
        n_obs,
        sum_w: Dd::new(sum_w),
        sum_wy: Dd::new(sum_w * stats.response_mean).add(Dd::new(
            layout
                .atoms
                .iter()
                .position(|a| matches!(a, Atom::Response(_)))
                .map_or(0.0, |a| stats.groups.iter().map(|g| g.s1[a]).sum()),
        )),
    };
    Ok(LinModPema::new(design, options).result_from_r(&tsqr.r(), counts))
}

/// The R factor of `[√w·X | √w·y]` from group statistics (see the module docs), as a [`Tsqr`]
/// that merges with others like a local pass's. The total weight must be positive.
pub fn tsqr_from_stats(layout: &StatsLayout, stats: &SuffStats) -> Tsqr {
    let sum_w: f64 = stats.groups.iter().map(|g| g.sum_w).sum();
    let nb = layout.basis.len();
    let is_on = |b: usize, g: &GroupStats| {
        layout.basis[b]
            .levels
            .iter()
            .all(|&(f, l)| g.levels.get(f) == Some(&l))
    };
    // Σ w·b over a group, and Σ w·b·b'.
    let s1 = |b: usize, g: &GroupStats| layout.basis[b].atom.map_or(g.sum_w, |a| g.s1[a]);
    let s2 = |b: usize, c: usize, g: &GroupStats| match (layout.basis[b].atom, layout.basis[c].atom)
    {
        (Some(a), Some(d)) => g.s2[layout.pair(a, d)],
        (Some(a), None) | (None, Some(a)) => g.s1[a],
        (None, None) => g.sum_w,
    };
    // Basis means.
    let mean: Vec<f64> = (0..nb)
        .map(|b| {
            let mut s = Dd::ZERO;
            for g in stats.groups.iter().filter(|g| is_on(b, g)) {
                s = s.add(Dd::new(s1(b, g)));
            }
            s.to_f64() / sum_w
        })
        .collect();
    // Centred cross-products of the basis after the constant: Σ w (b − b̄)(c − c̄), per group
    // Σ w b c − c̄ Σ w b − b̄ Σ w c + W b̄ c̄ with the sums taken only where b (c) is on.
    let k = nb - 1;
    let mut m = vec![vec![0.0; k]; k];
    // Symmetric: each entry is computed once and written to both halves.
    #[allow(clippy::needless_range_loop)]
    for x in 0..k {
        for z in x..k {
            let (b, c) = (x + 1, z + 1);
            let mut s = Dd::ZERO;
            for g in &stats.groups {
                let (ob, oc) = (is_on(b, g), is_on(c, g));
                if ob && oc {
                    s = s.add(Dd::new(s2(b, c, g)));
                }
                if ob {
                    s = s.add_prod(-mean[c], s1(b, g));
                }
                if oc {
                    s = s.add_prod(-mean[b], s1(c, g));
                }
                s = s.add_prod(g.sum_w * mean[b], mean[c]);
            }
            m[x][z] = s.to_f64();
            m[z][x] = m[x][z];
        }
    }
    let chol = cholesky_semidefinite(&m);
    // R of the basis (with weights): first row √W·[1, b̄'], then the centred factor.
    let mut rb = Mat::<f64>::zeros(nb, nb);
    let sw = sum_w.sqrt();
    rb[(0, 0)] = sw;
    for b in 1..nb {
        rb[(0, b)] = sw * mean[b];
    }
    for (x, row) in chol.iter().enumerate() {
        for (z, v) in row.iter().enumerate() {
            rb[(x + 1, z + 1)] = *v;
        }
    }
    // [X | y] = B·T; its R is that of R_B·T.
    let q = layout.combos.len();
    let coef = |vars: &[usize]| -> f64 {
        vars.iter()
            .map(|&v| {
                if v == usize::MAX {
                    stats.response_mean
                } else {
                    stats.means[v]
                }
            })
            .product()
    };
    let mut t = Mat::<f64>::zeros(nb, q);
    for (j, parts) in layout.combos.iter().enumerate() {
        for (b, vars) in parts {
            t[(*b, j)] += coef(vars);
        }
    }
    let z = &rb * &t;
    let mut tsqr = Tsqr::new(q);
    tsqr.add_rows(nb, |mut out| {
        for i in 0..nb {
            for j in 0..q {
                out[(i, j)] = z[(i, j)];
            }
        }
    });
    tsqr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semidefinite_cholesky_zeroes_dependent_columns() {
        // Columns 0 and 2 equal: the third pivot vanishes.
        let m = vec![
            vec![4.0, 2.0, 4.0],
            vec![2.0, 5.0, 2.0],
            vec![4.0, 2.0, 4.0],
        ];
        let r = cholesky_semidefinite(&m);
        assert_eq!(r[0][0], 2.0);
        assert_eq!(r[2][2], 0.0);
        assert!((r[1][1] - 2.0).abs() < 1e-15);
    }

    #[test]
    fn pair_index_is_packed_upper_triangle() {
        let layout = StatsLayout {
            atoms: vec![Atom::Product(vec![0]); 3],
            basis: vec![],
            combos: vec![],
        };
        let all: Vec<usize> = (0..3)
            .flat_map(|a| (a..3).map(move |b| (a, b)))
            .map(|(a, b)| layout.pair(a, b))
            .collect();
        assert_eq!(all, (0..6).collect::<Vec<_>>());
        assert_eq!(layout.pair(2, 1), layout.pair(1, 2));
    }
    /// Group statistics computed here from rows, as the database would.
    fn stats_of(
        design: &Design,
        layout: &StatsLayout,
        rows: &[(f64, f64, &str, f64, f64)],
    ) -> SuffStats {
        let wsum: f64 = rows.iter().map(|r| r.4).sum();
        let var = |i: usize, r: &(f64, f64, &str, f64, f64)| match &design.numerics[i].source {
            NumSource::Column(c) if c == "x" => r.0,
            NumSource::Column(c) if c == "z" => r.1,
            other => panic!("{other:?}"),
        };
        let means: Vec<f64> = (0..design.numerics.len())
            .map(|i| rows.iter().map(|r| r.4 * var(i, r)).sum::<f64>() / wsum)
            .collect();
        let response_mean = rows.iter().map(|r| r.4 * r.3).sum::<f64>() / wsum;
        let value = |a: &Atom, r: &(f64, f64, &str, f64, f64)| match a {
            Atom::Response(_) => r.3 - response_mean,
            Atom::Product(v) => v.iter().map(|&i| var(i, r) - means[i]).product(),
        };
        let n = layout.atoms.len();
        let levels = &design.factors[0].levels;
        let mut groups: Vec<GroupStats> = Vec::new();
        for r in rows {
            let l = levels.iter().position(|x| x == r.2).unwrap();
            let gi = match groups.iter().position(|g| g.levels == vec![l]) {
                Some(i) => i,
                None => {
                    groups.push(GroupStats {
                        levels: vec![l],
                        rows: 0,
                        sum_w: 0.0,
                        n_obs: 0.0,
                        s1: vec![0.0; n],
                        s2: vec![0.0; layout.pairs()],
                    });
                    groups.len() - 1
                }
            };
            let g = &mut groups[gi];
            g.rows += 1;
            g.sum_w += r.4;
            g.n_obs += 1.0;
            let c: Vec<f64> = (0..n).map(|a| value(&layout.atoms[a], r)).collect();
            for a in 0..n {
                g.s1[a] += r.4 * c[a];
                for b in a..n {
                    g.s2[layout.pair(a, b)] += r.4 * c[a] * c[b];
                }
            }
        }
        SuffStats {
            means,
            response_mean,
            groups,
            n_missing: 0,
        }
    }

    #[test]
    fn fit_from_group_statistics_matches_the_local_fit() {
        use arrow::array::{Float64Array, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        use arrow::record_batch::RecordBatch;
        use std::sync::Arc;
        let mut rows = Vec::new();
        let levels = ["a", "b", "c"];
        for i in 0..200 {
            let x = 1e6 + (i as f64 * 0.37).sin();
            let z = (i % 7) as f64;
            let f = levels[(i * 7 + i / 3) % 3];
            let fe = match f {
                "a" => 0.5,
                "b" => -1.0,
                _ => 0.0,
            };
            let y = 3.0 + 2.0 * (x - 1e6) - 0.25 * z
                + fe
                + 0.1 * z * (x - 1e6)
                + ((i * 13) % 11) as f64 * 0.01;
            let w = 1.0 + (i % 3) as f64;
            rows.push((x, z, f, y, w));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("x", DataType::Float64, false),
            Field::new("z", DataType::Float64, false),
            Field::new("f", DataType::Utf8, false),
            Field::new("y", DataType::Float64, false),
            Field::new("w", DataType::Float64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.3))),
                Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.4))),
            ],
        )
        .unwrap();
        let src = rx_data::MemoryData::from_batches(vec![batch]).unwrap();
        for (formula, weighted) in [
            ("y ~ x + z + f + x:z", false),
            ("y ~ x + f:z", true),
            ("y ~ f + x - 1", false),
        ] {
            let mut options = LinModOptions::default();
            if weighted {
                options = options.pweights("w");
            }
            let local =
                crate::linmod::rx_lin_mod(formula, &src, &options, &rx_core::RxLocalSeq).unwrap();
            let design = local.model.design.clone();
            let layout = StatsLayout::of(&design).unwrap();
            let rows_w: Vec<_> = rows
                .iter()
                .map(|r| (r.0, r.1, r.2, r.3, if weighted { r.4 } else { 1.0 }))
                .collect();
            let stats = stats_of(&design, &layout, &rows_w);
            let fit = lin_mod_from_stats(design, &options, &layout, &stats).unwrap();
            for (a, b) in local.coefficients.iter().zip(&fit.coefficients) {
                assert_eq!(a.term, b.term);
                assert_eq!(a.aliased, b.aliased, "{formula}: {}", a.term);
                if let (Some(x), Some(y)) = (a.estimate, b.estimate) {
                    assert!(
                        (x - y).abs() <= 1e-9 * x.abs().max(1e-3),
                        "{formula}: {} {x} {y}",
                        a.term
                    );
                    let (sx, sy) = (a.std_error.unwrap(), b.std_error.unwrap());
                    assert!(
                        (sx - sy).abs() <= 1e-9 * sx,
                        "{formula}: se {} {sx} {sy}",
                        a.term
                    );
                }
            }
            assert!((local.r_squared - fit.r_squared).abs() < 1e-9, "{formula}");
            assert_eq!(local.n_valid, fit.n_valid);
            assert!((local.sigma - fit.sigma).abs() <= 1e-9 * local.sigma);
        }
    }
}
