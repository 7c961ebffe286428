//! Regression benchmarks on a 1M-row .xdf file of 10 numeric columns and a 7-level factor
//! (`benches::regress`): one plain pass that reads the model's columns and sums them (the floor of
//! a one-pass method), `rx_lin_mod`, and `rx_logit` (one pass per IRLS iteration).
//!
//! `cargo bench -p benches --bench models`. Ids: `regression/plain_pass_12_cols`,
//! `regression/lin_mod`, `regression/logit`. The side-by-side run against statsmodels on 10M rows
//! is `benches/peers/regress.sh`.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::time::Duration;

use benches::regress::{LINMOD_FORMULA, LOGIT_FORMULA, RegressGen, plain_pass, schema};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use rx_core::{DataSink, RxLocalSeq, WriteOptions};
use rx_models::glm::{LogitOptions, rx_logit};
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_xdf::XdfData;

const ROWS: usize = 1_000_000;

fn regression(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("regress.xdf");
    let mut w = XdfData::new(&path)
        .create(schema(), &WriteOptions::default())
        .expect("create .xdf");
    for batch in RegressGen::new(ROWS) {
        w.write(&batch).expect("write");
    }
    w.finish().expect("finish .xdf");
    let data = XdfData::new(&path);

    let mut group = c.benchmark_group("regression");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(8));
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("plain_pass_12_cols", |b| {
        b.iter(|| black_box(plain_pass(&data).expect("pass")))
    });
    group.bench_function("lin_mod", |b| {
        b.iter(|| {
            black_box(
                rx_lin_mod(
                    LINMOD_FORMULA,
                    &data,
                    &LinModOptions::default(),
                    &RxLocalSeq,
                )
                .expect("fit"),
            )
        })
    });
    group.bench_function("logit", |b| {
        b.iter(|| {
            black_box(
                rx_logit(LOGIT_FORMULA, &data, &LogitOptions::default(), &RxLocalSeq).expect("fit"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, regression);
criterion_main!(benches);
