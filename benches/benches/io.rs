//! I/O benchmarks: CSV import into .xdf, .xdf scans with and without a column projection, and
//! .xdf writes from memory.
//!
//! `cargo bench -p benches` runs them all (about a minute on 2 cores); `cargo bench -p benches
//! -- xdf_scan` runs one group. Benchmark ids are stable so that criterion's saved baselines compare
//! across builds: `import_csv_to_xdf/1M` (LZ4, the default), `import_csv_to_xdf/1M_uncompressed`,
//! `xdf_scan/full_10_cols`, `xdf_scan/project_2_of_10`, `xdf_write/1M`. Input files are generated
//! once per group into a temporary folder, outside the timed loop.

/// The allocator of the `rx` binary, so the figures are what `rx import` does.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use benches::{airline_csv, wide10_batches, wide10_schema};
use criterion::{Criterion, SamplingMode, Throughput, criterion_main};
use rx_core::{DataSink, DataSource, ReadOptions, WriteOptions, copy_chunks};
use rx_data::TextData;
use rx_xdf::XdfData;

/// Rows of every benchmark input ("1M" in the ids).
const ROWS: usize = 1_000_000;

/// Imports a CSV into an .xdf file (overwriting it) the way `rx import` does, at compression
/// `level`; returns the rows.
fn import(csv: &Path, xdf: &Path, level: u32) -> u64 {
    let src = TextData::new(csv);
    let reader = src.open(&ReadOptions::default()).expect("open CSV");
    let schema = src.schema().expect("CSV schema");
    let options = WriteOptions::default().overwrite().compression_level(level);
    let writer = XdfData::new(xdf)
        .create(schema, &options)
        .expect("create .xdf");
    copy_chunks(reader, writer, |_| {}).expect("import CSV into .xdf")
}

/// Reads every chunk of `xdf` (optionally only `columns`); returns the rows seen.
fn scan(xdf: &XdfData, options: &ReadOptions) -> usize {
    let mut rows = 0;
    for chunk in xdf.open(options).expect("open .xdf") {
        rows += black_box(chunk.expect("read .xdf chunk")).num_rows();
    }
    rows
}

fn import_csv_to_xdf(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let csv = dir.path().join("airline_1000000.csv");
    let bytes = airline_csv(&csv, ROWS).expect("write airline CSV");
    let xdf = dir.path().join("airline.xdf");

    let mut group = c.benchmark_group("import_csv_to_xdf");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("1M", |b| {
        b.iter(|| assert_eq!(import(&csv, &xdf, 1), ROWS as u64))
    });
    group.bench_function("1M_uncompressed", |b| {
        b.iter(|| assert_eq!(import(&csv, &xdf, 0), ROWS as u64))
    });
    group.finish();
}

fn xdf_scan(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("wide10.xdf");
    rx_xdf::rx_write_xdf(
        &path,
        &wide10_schema(),
        &wide10_batches(ROWS),
        &WriteOptions::default(),
    )
    .expect("write wide10 .xdf");
    let xdf = XdfData::new(&path);
    let full = ReadOptions::default();
    let projected = ReadOptions::default().columns(["ArrDelay", "Distance"]);

    let mut group = c.benchmark_group("xdf_scan");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4));
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("full_10_cols", |b| {
        b.iter(|| assert_eq!(scan(&xdf, &full), ROWS))
    });
    group.bench_function("project_2_of_10", |b| {
        b.iter(|| assert_eq!(scan(&xdf, &projected), ROWS))
    });
    group.finish();
}

fn xdf_write(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join("wide10.xdf");
    let schema = wide10_schema();
    let batches = wide10_batches(ROWS);
    let bytes: usize = batches.iter().map(|b| b.get_array_memory_size()).sum();
    let options = WriteOptions::default().overwrite();

    let mut group = c.benchmark_group("xdf_write");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("1M", |b| {
        b.iter(|| {
            assert_eq!(
                rx_xdf::rx_write_xdf(&path, &schema, &batches, &options).expect("write .xdf"),
                ROWS as u64
            )
        })
    });
    group.finish();
}

/// The benchmark group (in a private module: criterion's macro makes an undocumented `pub fn`).
mod group {
    use super::{import_csv_to_xdf, xdf_scan, xdf_write};
    criterion::criterion_group!(io, import_csv_to_xdf, xdf_scan, xdf_write);
}
criterion_main!(group::io);
