//! Tree models: training on 200,000 generated rows (4 numeric predictors and a 7-level factor, a
//! two-class response), and real-time scoring of one row by a 100-tree forest of depth 10.
//!
//! `cargo bench -p benches --bench trees` runs them. Benchmark ids:
//! - `trees_fit/dtree_depth10`, `trees_fit/dforest_20trees`, `trees_fit/btrees_50rounds_depth6`:
//!   end to end from an in-memory source (binning passes included);
//! - `trees_score/dforest_100trees_one_row`: `RxDForest::votes` on one row of predictor values
//!   (the real-time path, no chunk machinery); target under 50 µs;
//! - `trees_score/dforest_100trees_one_row_node_walk`: the same votes by walking each tree's
//!   nodes (`RxDForest::leaves`), the layout the real-time path used before its flat steps;
//! - `trees_score/btrees_one_row`: `RxBTrees::probabilities` for the 50-round model.
//!
//! The side-by-side run against scikit-learn and LightGBM is `benches/peers/trees.sh`.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, RecordBatch};
use arrow::datatypes::Int32Type;
use criterion::{Criterion, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rx_core::RxLocalSeq;
use rx_data::MemoryData;
use rx_models::tree::{
    BTreesOptions, DForestOptions, DTreeOptions, rx_btrees, rx_dforest, rx_dtree,
};

const ROWS: usize = 200_000;
const FORMULA: &str = "y ~ x1 + x2 + x3 + x4 + day";
const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

/// `x1..x4` uniform, `day` a factor, `y` two classes from a noisy nonlinear rule.
fn data(rows: usize, seed: u64) -> MemoryData {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut x: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(rows)).collect();
    let mut day = Vec::with_capacity(rows);
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let v: Vec<f64> = (0..4).map(|_| rng.random::<f64>()).collect();
        let d = rng.random_range(0..7usize);
        let s = (6.0 * v[0]).sin()
            + v[1] * v[2]
            + if d >= 5 { 0.5 } else { 0.0 }
            + 0.5 * rng.random::<f64>();
        for (c, vi) in x.iter_mut().zip(&v) {
            c.push(*vi);
        }
        day.push(DAYS[d]);
        y.push(if s > 0.6 { "yes" } else { "no" });
    }
    let mut cols: Vec<(String, ArrayRef)> = x
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            (
                format!("x{}", i + 1),
                Arc::new(Float64Array::from(c)) as ArrayRef,
            )
        })
        .collect();
    let day: DictionaryArray<Int32Type> = day.into_iter().collect();
    let y: DictionaryArray<Int32Type> = y.into_iter().collect();
    cols.push(("day".into(), Arc::new(day)));
    cols.push(("y".into(), Arc::new(y)));
    let batch = RecordBatch::try_from_iter(cols).expect("batch");
    MemoryData::from_batches(vec![batch]).expect("source")
}

fn fit(c: &mut Criterion) {
    let src = data(ROWS, 1);
    let mut g = c.benchmark_group("trees_fit");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("dtree_depth10", |b| {
        let o = DTreeOptions {
            x_val: 0,
            ..DTreeOptions::default()
        };
        b.iter(|| rx_dtree(FORMULA, &src, &o, &RxLocalSeq).expect("dtree"))
    });
    g.bench_function("dforest_20trees", |b| {
        let o = DForestOptions {
            n_tree: 20,
            ..DForestOptions::default()
        };
        b.iter(|| rx_dforest(FORMULA, &src, &o, &RxLocalSeq).expect("dforest"))
    });
    g.bench_function("btrees_50rounds_depth6", |b| {
        let o = BTreesOptions {
            n_tree: 50,
            max_depth: 6,
            max_num_bins: Some(255),
            ..BTreesOptions::default()
        };
        b.iter(|| rx_btrees(FORMULA, &src, &o, &RxLocalSeq).expect("btrees"))
    });
    g.finish();
}

fn score(c: &mut Criterion) {
    let src = data(50_000, 2);
    let forest = rx_dforest(
        FORMULA,
        &src,
        &DForestOptions {
            n_tree: 100,
            max_depth: 10,
            ..DForestOptions::default()
        },
        &RxLocalSeq,
    )
    .expect("forest");
    let boosted = rx_btrees(
        FORMULA,
        &src,
        &BTreesOptions {
            n_tree: 50,
            max_depth: 6,
            ..BTreesOptions::default()
        },
        &RxLocalSeq,
    )
    .expect("btrees");
    // x1..x4, then the level index of day.
    let row = [0.3, 0.7, 0.2, 0.9, 5.0];
    let mut g = c.benchmark_group("trees_score");
    g.bench_function("dforest_100trees_one_row", |b| {
        b.iter(|| forest.votes(black_box(&row)))
    });
    // The same votes by walking the trees' nodes (the layout scoring used before the steps).
    g.bench_function("dforest_100trees_one_row_node_walk", |b| {
        b.iter(|| {
            let mut v = [0u32; 2];
            for leaf in forest.leaves(black_box(&row)) {
                v[usize::from(leaf.stats[2] > leaf.stats[1])] += 1;
            }
            v
        })
    });
    g.bench_function("btrees_one_row", |b| {
        b.iter(|| boosted.probabilities(black_box(&row)))
    });
    g.finish();
}

criterion_group!(benches, fit, score);
criterion_main!(benches);
