//! PEMA laws of `rx_lin_mod` and `rx_glm` on generated data with a factor, missing values and
//! weights:
//!
//! - merge law: a fit whose every pass processes each chunk into its own partial and merges
//!   the partials (as a tree, as a parallel or distributed context does) equals the sequential
//!   fit over the same chunks;
//! - chunk-size invariance: `rows_per_read` 7 and 1000 give the same fit.
//!
//! "Equal" is to 1e-9 relative (the chunks change only the rounding of the TSQR factors and
//! sums), with the same iteration count and convergence.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray};
use arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use rx_core::source::{DataSource, ReadOptions};
use rx_core::{ComputeContext, Pema, Result, RxLocalSeq, RxOptions, Step};
use rx_data::MemoryData;
use rx_models::family::Family;
use rx_models::glm::{GlmOptions, RxGlm, rx_glm};
use rx_models::linmod::{Coefficient, LinModOptions, RxLinMod, rx_lin_mod};

/// A context that processes every chunk into a partial of its own and merges the partials
/// pairwise, as a tree.
#[derive(Debug)]
struct MergeTree;

impl ComputeContext for MergeTree {
    fn name(&self) -> &str {
        "MergeTree"
    }

    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        loop {
            let read = ReadOptions {
                columns: Some(pema.columns()),
                rows_per_read: Some(options.rows_per_read),
                ..Default::default()
            };
            let mut parts = Vec::new();
            for chunk in source.open(&read)? {
                let mut acc = pema.init();
                pema.process(&mut acc, &chunk?)?;
                parts.push(acc);
            }
            while parts.len() > 1 {
                let mut next = Vec::with_capacity(parts.len().div_ceil(2));
                let mut it = parts.into_iter();
                while let Some(mut a) = it.next() {
                    if let Some(b) = it.next() {
                        pema.merge(&mut a, b)?;
                    }
                    next.push(a);
                }
                parts = next;
            }
            let acc = match parts.pop() {
                Some(a) => a,
                None => pema.init(),
            };
            if let Step::Done(out) = pema.finish(acc)? {
                return Ok(out);
            }
        }
    }
}

/// One generated row: x (missing sometimes), z, factor level, count, 0/1, weight, frequency.
type Row = (Option<f64>, f64, u8, u8, bool, u8, u8);

fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.95, -2.0f64..2.0),
            -1.0f64..3.0,
            0u8..3,
            0u8..8,
            any::<bool>(),
            1u8..5,
            1u8..4,
        ),
        40..140,
    )
}

fn data(rows: &[Row]) -> MemoryData {
    let col = |v: Vec<f64>| -> ArrayRef { Arc::new(Float64Array::from(v)) };
    let levels = ["lo", "mid", "hi"];
    // Responses that depend on the predictors (so the models have something to fit) plus the
    // generated noise; every level and both classes occur, so the fits stay well posed.
    let n = rows.len();
    let mut count = Vec::with_capacity(n);
    let mut yes = Vec::with_capacity(n);
    let mut positive = Vec::with_capacity(n);
    let mut gauss = Vec::with_capacity(n);
    for (i, r) in rows.iter().enumerate() {
        let x = r.0.unwrap_or(0.0);
        count.push(f64::from(r.3) + if r.2 == 2 { 2.0 } else { 0.0 } + (x > 0.0) as u8 as f64);
        // Alternate forced classes at the start so neither class is empty.
        yes.push(match i {
            0 | 2 => 1.0,
            1 | 3 => 0.0,
            _ => f64::from(u8::from(r.4 ^ (x > 1.5))),
        });
        positive.push(1.0 + x.abs() + 0.5 * r.1.abs() + f64::from(r.3) / 4.0);
        gauss.push(2.0 * x - r.1 + f64::from(r.2) + f64::from(r.3) / 3.0);
    }
    let g: Vec<&str> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            if i < 3 {
                levels[i]
            } else {
                levels[usize::from(r.2)]
            }
        })
        .collect();
    let b = RecordBatch::try_from_iter([
        (
            "x",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        ("z", col(rows.iter().map(|r| r.1).collect())),
        ("g", Arc::new(StringArray::from(g)) as ArrayRef),
        ("count", col(count)),
        ("yes", col(yes)),
        ("pos", col(positive)),
        ("y", col(gauss)),
        (
            "w",
            col(rows.iter().map(|r| f64::from(r.5) / 2.0).collect()),
        ),
        ("fw", col(rows.iter().map(|r| f64::from(r.6)).collect())),
        (
            "expo",
            col(rows.iter().map(|r| 1.0 + f64::from(r.6)).collect()),
        ),
    ])
    .unwrap();
    MemoryData::from_batches(vec![b])
        .unwrap()
        .with_name("generated")
}

#[track_caller]
fn same(what: &str, a: f64, b: f64) {
    let scale = a.abs().max(b.abs()).max(1e-300);
    assert!(
        a == b || (a - b).abs() <= 1e-9 * scale.max(1e-6),
        "{what}: {a:e} vs {b:e} (relative {:e})",
        (a - b).abs() / scale
    );
}

fn same_coefficients(what: &str, a: &[Coefficient], b: &[Coefficient]) {
    assert_eq!(a.len(), b.len(), "{what}");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(x.term, y.term, "{what}");
        assert_eq!(x.aliased, y.aliased, "{what}: {} aliased", x.term);
        for (name, u, v) in [
            ("estimate", x.estimate, y.estimate),
            ("std error", x.std_error, y.std_error),
            ("statistic", x.t_value, y.t_value),
        ] {
            match (u, v) {
                (Some(u), Some(v)) => same(&format!("{what} {} {name}", x.term), u, v),
                (u, v) => assert_eq!(u, v, "{what} {} {name}", x.term),
            }
        }
    }
}

fn same_glm(what: &str, a: &RxGlm, b: &RxGlm) {
    assert_eq!(a.iterations, b.iterations, "{what}: iterations");
    assert_eq!(a.converged, b.converged, "{what}: converged");
    assert_eq!(
        (a.n_valid, a.n_missing),
        (b.n_valid, b.n_missing),
        "{what}: counts"
    );
    assert_eq!(a.df_residual, b.df_residual, "{what}: df");
    same_coefficients(what, &a.coefficients, &b.coefficients);
    same(&format!("{what} deviance"), a.deviance, b.deviance);
    same(
        &format!("{what} null deviance"),
        a.null_deviance,
        b.null_deviance,
    );
    same(&format!("{what} dispersion"), a.dispersion, b.dispersion);
    match (a.aic, b.aic) {
        (Some(x), Some(y)) => same(&format!("{what} aic"), x, y),
        (x, y) => assert_eq!(x, y, "{what} aic"),
    }
}

fn same_lm(what: &str, a: &RxLinMod, b: &RxLinMod) {
    assert_eq!(
        (a.n_valid, a.n_missing),
        (b.n_valid, b.n_missing),
        "{what}: counts"
    );
    same_coefficients(what, &a.coefficients, &b.coefficients);
    same(&format!("{what} sigma"), a.sigma, b.sigma);
    same(&format!("{what} r2"), a.r_squared, b.r_squared);
}

/// The GLMs fitted on the generated data: family, formula, and options.
fn glm_cases(weighted: u8) -> Vec<(&'static str, GlmOptions)> {
    let w = |o: GlmOptions| match weighted {
        1 => o.pweights("w"),
        2 => o.fweights("fw"),
        _ => o,
    };
    vec![
        ("count ~ x + z + g", w(GlmOptions::new(Family::Poisson))),
        (
            "count ~ x + g + offset(log(expo))",
            w(GlmOptions::new(Family::Poisson)),
        ),
        ("yes ~ x + g", w(GlmOptions::new(Family::Binomial))),
        (
            "pos ~ x + z + g",
            w(GlmOptions::new(Family::Gamma).link(rx_models::family::Link::Log)),
        ),
        (
            "pos ~ x + g - 1",
            w(GlmOptions::new(Family::InverseGaussian).link(rx_models::family::Link::Log)),
        ),
        (
            "count ~ x + g",
            w(GlmOptions::new(Family::tweedie(1.5, Some(0.0)))),
        ),
    ]
}

fn lm_cases(weighted: u8) -> Vec<(&'static str, LinModOptions)> {
    let w = |o: LinModOptions| match weighted {
        1 => o.pweights("w"),
        2 => o.fweights("fw"),
        _ => o,
    };
    vec![
        ("y ~ x + z + g", w(LinModOptions::default())),
        ("y ~ x*g", w(LinModOptions::default())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Merging per-chunk partials (as a tree) equals processing the chunks in sequence.
    #[test]
    fn merge_law(rows in arb_rows(), chunk in 3usize..40, weighted in 0u8..3) {
        let d = data(&rows);
        for (formula, o) in glm_cases(weighted) {
            let o = o.rows_per_read(chunk);
            let seq = rx_glm(formula, &d, &o, &RxLocalSeq).unwrap_or_else(|e| panic!("{formula}: {e}"));
            let tree = rx_glm(formula, &d, &o, &MergeTree).unwrap_or_else(|e| panic!("{formula}: {e}"));
            same_glm(&format!("{formula} (merge, chunk {chunk})"), &seq, &tree);
        }
        for (formula, o) in lm_cases(weighted) {
            let o = o.rows_per_read(chunk);
            let seq = rx_lin_mod(formula, &d, &o, &RxLocalSeq).unwrap();
            let tree = rx_lin_mod(formula, &d, &o, &MergeTree).unwrap();
            same_lm(&format!("{formula} (merge, chunk {chunk})"), &seq, &tree);
        }
    }

    /// Gram-matrix steps for the intermediate iterations give the fit of QR steps throughout
    /// (R's way), with the same iterations.
    #[test]
    fn gram_steps_agree_with_qr_steps(rows in arb_rows(), weighted in 0u8..3) {
        let d = data(&rows);
        for (formula, o) in glm_cases(weighted) {
            let gram = rx_glm(formula, &d, &o.clone().rows_per_read(50), &RxLocalSeq).unwrap();
            let qr = rx_glm(formula, &d, &o.rows_per_read(50).gram_steps(false), &RxLocalSeq).unwrap();
            same_glm(&format!("{formula} (Gram vs QR steps)"), &gram, &qr);
        }
    }

    /// The fit does not depend on the chunk size.
    #[test]
    fn chunk_size_invariance(rows in arb_rows(), weighted in 0u8..3) {
        let d = data(&rows);
        for (formula, o) in glm_cases(weighted) {
            let small = rx_glm(formula, &d, &o.clone().rows_per_read(7), &RxLocalSeq).unwrap();
            let large = rx_glm(formula, &d, &o.rows_per_read(1000), &RxLocalSeq).unwrap();
            same_glm(&format!("{formula} (7 vs 1000)"), &small, &large);
        }
        for (formula, o) in lm_cases(weighted) {
            let small = rx_lin_mod(formula, &d, &o.clone().rows_per_read(7), &RxLocalSeq).unwrap();
            let large = rx_lin_mod(formula, &d, &o.rows_per_read(1000), &RxLocalSeq).unwrap();
            same_lm(&format!("{formula} (7 vs 1000)"), &small, &large);
        }
    }
}

/// A chunk larger than a piece (65,536 rows) is processed in parallel pieces merged in order:
/// the fit equals the one whose chunks are the pieces, and does not depend on the thread count.
#[test]
fn large_chunks_in_parallel_pieces_equal_piece_sized_chunks() {
    let n = 140_000;
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            let u = ((i * 7919) % 1000) as f64 / 500.0 - 1.0;
            let v = ((i * 104_729) % 997) as f64 / 332.0;
            (
                (i % 97 != 0).then_some(u),
                v,
                (i % 3) as u8,
                ((i * 31) % 7) as u8,
                (i * 13) % 5 < 2,
                (1 + i % 4) as u8,
                (1 + i % 3) as u8,
            )
        })
        .collect();
    let d = data(&rows);
    let o = GlmOptions::new(Family::Poisson).pweights("w");
    let whole = rx_glm(
        "count ~ x + z + g",
        &d,
        &o.clone().rows_per_read(n),
        &RxLocalSeq,
    )
    .unwrap();
    let pieces = rx_glm(
        "count ~ x + z + g",
        &d,
        &o.clone().rows_per_read(65_536),
        &RxLocalSeq,
    )
    .unwrap();
    same_glm("pieces", &whole, &pieces);
    let one_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let serial = one_thread
        .install(|| rx_glm("count ~ x + z + g", &d, &o.rows_per_read(n), &RxLocalSeq).unwrap());
    assert_eq!(serial, whole, "the thread count changed the fit");
    assert_eq!(whole.n_missing, (n as u64).div_ceil(97));
}

/// `data(rows)` with column x replaced: `value` at the rows `bad` picks (a null where
/// `value` is `None`).
fn with_x(rows: &[Row], bad: impl Fn(usize) -> bool, value: Option<f64>) -> MemoryData {
    let d = data(rows);
    let b = &d.batches()[0];
    let x: Vec<Option<f64>> = (0..rows.len())
        .map(|i| if bad(i) { value } else { rows[i].0 })
        .collect();
    let mut cols: Vec<(String, ArrayRef)> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(b.columns().iter().cloned())
        .collect();
    cols[0].1 = Arc::new(Float64Array::from(x));
    MemoryData::from_batches(vec![RecordBatch::try_from_iter(cols).unwrap()]).unwrap()
}

/// NaN and infinite values stored in float columns are missing values, as nulls are, in every
/// pass (the passes find them in the rows as they use them, and redo such a chunk).
#[test]
fn nan_and_infinite_values_are_missing_like_nulls() {
    let n = 400;
    let rows: Vec<Row> = (0..n)
        .map(|i| {
            (
                Some(((i * 7919) % 1000) as f64 / 500.0 - 1.0),
                ((i * 104_729) % 997) as f64 / 332.0,
                (i % 3) as u8,
                ((i * 31) % 7) as u8,
                (i * 13) % 5 < 2,
                1,
                1,
            )
        })
        .collect();
    let bad = |i: usize| i % 37 == 5;
    let nulls = with_x(&rows, bad, None);
    for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let stored = with_x(&rows, bad, Some(value));
        for (formula, o) in [
            ("yes ~ x + z + g", GlmOptions::new(Family::Binomial)),
            ("count ~ x + z + g", GlmOptions::new(Family::Poisson)),
        ] {
            let o = o.rows_per_read(64);
            let a = rx_glm(formula, &stored, &o, &RxLocalSeq).unwrap();
            let b = rx_glm(formula, &nulls, &o, &RxLocalSeq).unwrap();
            assert_eq!(a.n_missing, (0..n).filter(|&i| bad(i)).count() as u64);
            same_glm(&format!("{formula} with {value}"), &a, &b);
        }
    }
}

/// `n` rows of a logistic model in `chunk`-row batches: two numeric predictors and a 4-level
/// factor, from a fixed-seed generator.
fn large(n: usize, chunk: usize) -> MemoryData {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut unif = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let levels = ["a", "b", "c", "d"];
    let (mut x1, mut x2, mut g, mut yes) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for _ in 0..n {
        let a = 4.0 * unif() - 2.0;
        let b = 10.0 + 3.0 * unif();
        let k = (4.0 * unif()) as usize;
        let eta = -3.0 + 0.8 * a + 0.2 * b + [0.0, 0.5, -0.4, 0.9][k];
        yes.push(f64::from(u8::from(unif() < 1.0 / (1.0 + (-eta).exp()))));
        x1.push(a);
        x2.push(b);
        g.push(levels[k]);
    }
    let batches = (0..n)
        .step_by(chunk)
        .map(|s| {
            let e = (s + chunk).min(n);
            RecordBatch::try_from_iter([
                (
                    "x1",
                    Arc::new(Float64Array::from(x1[s..e].to_vec())) as ArrayRef,
                ),
                (
                    "x2",
                    Arc::new(Float64Array::from(x2[s..e].to_vec())) as ArrayRef,
                ),
                (
                    "g",
                    Arc::new(StringArray::from(g[s..e].to_vec())) as ArrayRef,
                ),
                (
                    "yes",
                    Arc::new(Float64Array::from(yes[s..e].to_vec())) as ArrayRef,
                ),
            ])
            .unwrap()
        })
        .collect();
    MemoryData::from_batches(batches)
        .unwrap()
        .with_name("large")
}

/// A source of a million rows or more starts from the fit of its first rows: fewer
/// iterations than from R's start, the same estimates to within the convergence tolerance,
/// the covariance at the maximum-likelihood estimate (R's start stops here after a step that
/// leaves its covariance, from the weights before that step, 4e-5 away), and the same fit
/// whatever the chunks.
#[test]
fn warm_start_from_a_sample_fits_what_r_start_fits() {
    let n = rx_models::glm::WARM_START_MIN_ROWS as usize;
    let data = large(n, 200_000);
    let rechunked = large(n, 131_072);
    // The logistic model only: a Poisson fit starts the same way, and takes much longer in a
    // debug build.
    for (formula, options) in [(
        "yes ~ x1 + x2 + g",
        GlmOptions::new(Family::Binomial).cov_coef(true),
    )] {
        let warm = rx_glm(formula, &data, &options, &RxLocalSeq).unwrap();
        let cold = rx_glm(
            formula,
            &data,
            &options.clone().warm_start(false),
            &RxLocalSeq,
        )
        .unwrap();
        // Iterated to the maximum-likelihood estimate: the last step is tiny.
        let exact = rx_glm(
            formula,
            &data,
            &options.clone().warm_start(false).epsilon(1e-13),
            &RxLocalSeq,
        )
        .unwrap();
        assert!(
            warm.converged && cold.converged && exact.converged,
            "{formula}"
        );
        assert!(warm.warnings.is_empty(), "{formula}: {:?}", warm.warnings);
        assert!(
            warm.iterations < cold.iterations,
            "{formula}: {} iterations from the sample, {} from R's start",
            warm.iterations,
            cold.iterations
        );
        for (w, c) in warm.coefficients.iter().zip(&exact.coefficients) {
            if c.aliased {
                continue;
            }
            let (we, ce, se) = (
                w.estimate.unwrap(),
                c.estimate.unwrap(),
                c.std_error.unwrap(),
            );
            // Within a thousandth of a standard error, and the standard errors to 1e-5.
            assert!(
                (we - ce).abs() <= 1e-3 * se,
                "{formula} {}: {we} vs {ce} (se {se})",
                c.term
            );
            let ws = w.std_error.unwrap();
            assert!(
                (ws - se).abs() <= 1e-5 * se,
                "{formula} {}: standard error {ws} vs {se}",
                c.term
            );
        }
        let dev = (warm.deviance - exact.deviance).abs() / exact.deviance;
        assert!(dev <= 1e-12, "{formula}: deviance {dev:e} apart");
        same(
            &format!("{formula} null deviance"),
            warm.null_deviance,
            cold.null_deviance,
        );
        // The sample is the first rows, not the first chunk.
        let other = rx_glm(formula, &rechunked, &options, &RxLocalSeq).unwrap();
        same_glm(&format!("{formula}, other chunks"), &warm, &other);
    }
}
