//! ETL benchmarks: the data step (a row selection and two SQL transforms), the two-key sort and a
//! histogram, on the generated 10-column table (`benches::wide10_batches`).
//!
//! `cargo bench -p benches --bench etl` runs them (about a minute and a half on 2 cores). Ids are
//! stable for criterion's saved baselines: `etl_step/xdf_to_xdf/1M`,
//! `etl_step/parquet_to_parquet/1M`, `etl_sort/xdf_to_xdf/1M`, `etl_sort/parquet_to_parquet/1M`,
//! `etl_histogram/xdf/1M`. The inputs are written once into a temporary folder, outside the timed
//! loop. The 10M-row runs beside DuckDB, with peak memory, are `benches/peers/etl.sh`.

/// The allocator of the `rx` binary, so the figures are what `rx datastep` and `rx sort` do.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use benches::{ETL_SORT_KEYS, etl_step_options, wide10_batches, wide10_schema};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_main};
use rx_core::{DataSink, DataSource, RxLocalSeq, WriteOptions};
use rx_data::ParquetData;
use rx_etl::plot::{HistogramOptions, rx_histogram};
use rx_etl::{SortOptions, parse_sort_keys, rx_data_step, rx_sort};
use rx_xdf::XdfData;

/// Rows of every benchmark input ("1M" in the ids).
const ROWS: usize = 1_000_000;

/// Runs the benchmark's data step; returns the rows it kept.
fn step(input: Arc<dyn DataSource>, output: &dyn DataSink) -> u64 {
    rx_data_step(input, Some(output), etl_step_options())
        .expect("data step")
        .rows
}

/// Runs the benchmark's sort; returns the rows.
fn sort(input: Arc<dyn DataSource>, output: &dyn DataSink) -> u64 {
    let mut options = SortOptions::by(parse_sort_keys(ETL_SORT_KEYS).expect("sort keys"));
    options.write = WriteOptions::default().overwrite();
    rx_sort(input, Some(output), options).expect("sort").rows
}

/// Writes the table as `wide10.xdf` and `wide10.parquet` in `dir`.
fn inputs(dir: &Path) -> (Arc<dyn DataSource>, Arc<dyn DataSource>) {
    let schema = wide10_schema();
    let batches = wide10_batches(ROWS);
    let opts = WriteOptions::default().overwrite();
    let xdf = XdfData::new(dir.join("wide10.xdf"));
    let pq = ParquetData::new(dir.join("wide10.parquet"));
    for sink in [&xdf as &dyn DataSink, &pq] {
        let mut w = sink.create(schema.clone(), &opts).expect("create input");
        for b in &batches {
            w.write(b).expect("write input");
        }
        w.finish().expect("finish input");
    }
    (Arc::new(xdf), Arc::new(pq))
}

/// A group of whole-file jobs: 10 flat samples over `secs` seconds, throughput in input rows.
fn timed_group<'a>(c: &'a mut Criterion, name: &str, secs: u64) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .measurement_time(Duration::from_secs(secs))
        .throughput(Throughput::Elements(ROWS as u64));
    group
}

fn etl_all(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let (xdf, pq) = inputs(dir.path());
    let xdf_out = XdfData::new(dir.path().join("out.xdf"));
    let pq_out = ParquetData::new(dir.path().join("out.parquet"));
    let kept = step(xdf.clone(), &xdf_out);
    assert!(
        kept > 0 && kept < ROWS as u64,
        "the selection keeps some rows"
    );

    let mut group = timed_group(c, "etl_step", 8);
    group.bench_function("xdf_to_xdf/1M", |b| {
        b.iter(|| assert_eq!(step(xdf.clone(), &xdf_out), kept))
    });
    group.bench_function("parquet_to_parquet/1M", |b| {
        b.iter(|| assert_eq!(step(pq.clone(), &pq_out), kept))
    });
    group.finish();

    let mut group = timed_group(c, "etl_sort", 10);
    group.bench_function("xdf_to_xdf/1M", |b| {
        b.iter(|| assert_eq!(sort(xdf.clone(), &xdf_out), ROWS as u64))
    });
    group.bench_function("parquet_to_parquet/1M", |b| {
        b.iter(|| assert_eq!(sort(pq.clone(), &pq_out), ROWS as u64))
    });
    group.finish();

    let mut group = timed_group(c, "etl_histogram", 5);
    let by_day = HistogramOptions::default().by("DayOfWeek");
    group.bench_function("xdf/1M", |b| {
        b.iter(|| {
            let h =
                rx_histogram("ArrDelay", xdf.as_ref(), &by_day, &RxLocalSeq).expect("histogram");
            assert_eq!(h.groups.len(), 7);
        })
    });
    group.finish();
}

/// The benchmark group (in a private module: criterion's macro makes an undocumented `pub fn`).
mod group {
    use super::etl_all;
    criterion::criterion_group!(etl, etl_all);
}
criterion_main!(group::etl);
