//! Real-time scoring latency: a linear model with 20 numeric terms (21 coefficients with the
//! intercept), fitted once on 10,000 generated rows, then scored one row at a time and in a batch
//! of 100 rows through `rx_predict::Scorer`.
//!
//! `cargo bench -p benches --bench scoring` runs them (a few seconds). Benchmark ids:
//! - `scoring/one_row_by_name`: `Scorer::score` with `(column, value)` pairs (the row in the
//!   model's input order, as a caller that builds rows from `Scorer::inputs` has it);
//! - `scoring/one_row_shuffled_names`: the same pairs in reverse order (every name hashed);
//! - `scoring/one_row_values`: `Scorer::score_values`, values by position;
//! - `scoring/one_row_std_error_interval`: by name, with the standard error and a 95%
//!   confidence interval (an extra `x'Cx`, 21 × 21);
//! - `scoring/batch_100`: `Scorer::score_rows` on a 100-row Arrow batch; throughput in rows, so
//!   criterion prints the per-row rate.
//!
//! The target is under 5 µs per row for one-row scoring of this model.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rx_core::RxLocalSeq;
use rx_data::MemoryData;
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_predict::{Interval, Model, PredictOptions, Scorer, Value};

/// Numeric terms of the model.
const TERMS: usize = 20;
/// Rows the model is fitted on.
const FIT_ROWS: usize = 10_000;
/// Rows of the batch benchmark.
const BATCH_ROWS: usize = 100;

fn names() -> Vec<String> {
    (1..=TERMS).map(|i| format!("x{i}")).collect()
}

/// `rows` rows of `x1..x20` (uniform on [-1, 1]) and `y = 1 + Σ i·x_i/10 + noise`.
fn data(rows: usize, seed: u64) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cols: Vec<Vec<f64>> = (0..TERMS).map(|_| Vec::with_capacity(rows)).collect();
    let mut y = Vec::with_capacity(rows);
    for _ in 0..rows {
        let mut v = 1.0;
        for (i, c) in cols.iter_mut().enumerate() {
            let x: f64 = rng.random_range(-1.0..1.0);
            v += (i + 1) as f64 / 10.0 * x;
            c.push(x);
        }
        y.push(v + rng.random_range(-0.5..0.5));
    }
    let mut fields: Vec<Field> = names()
        .iter()
        .map(|n| Field::new(n, DataType::Float64, true))
        .collect();
    fields.push(Field::new("y", DataType::Float64, true));
    let mut arrays: Vec<ArrayRef> = cols
        .into_iter()
        .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef)
        .collect();
    arrays.push(Arc::new(Float64Array::from(y)));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("generated batch")
}

fn model() -> Model {
    let formula = format!("y ~ {}", names().join(" + "));
    let src = MemoryData::from_batches(vec![data(FIT_ROWS, 1)]).expect("memory data");
    let fit = rx_lin_mod(&formula, &src, &LinModOptions::default(), &RxLocalSeq)
        .expect("fit the 20-term model");
    Model::from(fit)
}

fn scoring(c: &mut Criterion) {
    let model = model();
    let plain = Scorer::new(&model).expect("scorer");
    let with_se = Scorer::with_options(
        &model,
        &PredictOptions::default()
            .compute_std_errors(true)
            .interval(Interval::Confidence),
    )
    .expect("scorer with standard errors");
    let names = names();
    let row_values: Vec<f64> = (0..TERMS).map(|i| (i as f64 - 9.5) / 10.0).collect();
    let row: Vec<(&str, Value<'_>)> = names
        .iter()
        .zip(&row_values)
        .map(|(n, &v)| (n.as_str(), Value::Num(v)))
        .collect();
    let reversed: Vec<(&str, Value<'_>)> = row.iter().rev().copied().collect();
    let values: Vec<Value<'_>> = row_values.iter().map(|&v| Value::Num(v)).collect();
    let batch = data(BATCH_ROWS, 2);

    let mut group = c.benchmark_group("scoring");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_row_by_name", |b| {
        b.iter(|| plain.score(black_box(&row)).expect("score"))
    });
    group.bench_function("one_row_shuffled_names", |b| {
        b.iter(|| plain.score(black_box(&reversed)).expect("score"))
    });
    group.bench_function("one_row_values", |b| {
        b.iter(|| plain.score_values(black_box(&values)).expect("score"))
    });
    group.bench_function("one_row_std_error_interval", |b| {
        b.iter(|| with_se.score(black_box(&row)).expect("score"))
    });
    group.throughput(Throughput::Elements(BATCH_ROWS as u64));
    group.bench_function("batch_100", |b| {
        b.iter(|| plain.score_rows(black_box(&batch)).expect("score"))
    });
    group.finish();
}

criterion_group!(benches, scoring);
criterion_main!(benches);
