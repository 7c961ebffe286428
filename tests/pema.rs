//! The PEMA trait end to end: an analysis (count, sum and sum of squares of a column, with a second
//! pass for the centred sum of squares) run by `RxLocalSeq` over an .xdf file, and the merge law —
//! processing chunks in order equals merging the partials of the partitions that `split` gives.

use std::sync::Arc;

use proptest::prelude::*;
use revoscale::arrow::array::{AsArray, Float64Array, RecordBatch};
use revoscale::arrow::datatypes::{DataType, Field, Float64Type, Schema};
use revoscale::core::pema::run_pass;
use revoscale::core::{
    ComputeContext, DataSink, DataSource, Pema, Result, RxLocalSeq, RxOptions, Step, WriteOptions,
    copy_chunks,
};
use revoscale::data::MemoryData;
use revoscale::xdf::XdfData;
use serde::{Deserialize, Serialize};

/// Mean and variance of one column in two passes: sums first, then squared deviations from the mean.
struct TwoPassVariance {
    column: String,
    mean: Option<f64>,
}

impl TwoPassVariance {
    fn of(column: &str) -> Self {
        TwoPassVariance {
            column: column.into(),
            mean: None,
        }
    }
}

/// The same analysis, declaring that it takes more than one pass (so a context may cache).
struct CachedTwoPass(TwoPassVariance);

impl Pema for CachedTwoPass {
    type Partial = Partial;
    type Output = (u64, f64, f64);

    fn columns(&self) -> Vec<String> {
        self.0.columns()
    }

    fn init(&self) -> Partial {
        self.0.init()
    }

    fn process(&self, acc: &mut Partial, chunk: &RecordBatch) -> Result<()> {
        self.0.process(acc, chunk)
    }

    fn merge(&self, into: &mut Partial, other: Partial) -> Result<()> {
        self.0.merge(into, other)
    }

    fn finish(&mut self, acc: Partial) -> Result<Step<(u64, f64, f64)>> {
        self.0.finish(acc)
    }

    fn expects_more_passes(&self) -> bool {
        true
    }
}

/// A source that counts how often it is opened.
#[derive(Debug)]
struct CountingSource {
    inner: XdfData,
    opens: std::sync::atomic::AtomicUsize,
}

impl DataSource for CountingSource {
    fn name(&self) -> String {
        DataSource::name(&self.inner)
    }

    fn schema(&self) -> Result<revoscale::arrow::datatypes::SchemaRef> {
        self.inner.schema()
    }

    fn open(&self, options: &revoscale::core::ReadOptions) -> Result<revoscale::core::ChunkReader> {
        self.opens.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.open(options)
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        self.inner.num_rows()
    }

    fn split(&self, n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        self.inner.split(n)
    }
}

#[test]
fn multi_pass_analyses_read_the_source_once_when_the_chunks_fit_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Option<f64>> = (0..5000)
        .map(|i| (i % 13 != 5).then_some(1e6 + (i % 11) as f64 * 0.25))
        .collect();
    let source = CountingSource {
        inner: xdf_of(&values, 300, dir.path()),
        opens: Default::default(),
    };
    let opens = || source.opens.load(std::sync::atomic::Ordering::SeqCst);
    let run = |options: RxOptions| {
        let mut pema = CachedTwoPass(TwoPassVariance::of("x"));
        RxLocalSeq.run(&mut pema, &source, &options).unwrap()
    };
    let options = RxOptions::default().rows_per_read(128);
    let cached = run(options.clone());
    assert_eq!(opens(), 1, "the second pass replays the cached chunks");
    // Too small a budget: the first pass gives up caching and every pass reads the source.
    let streamed = run(options.clone().max_cache_bytes(10_000));
    assert_eq!(opens(), 3);
    let off = run(options.max_cache_bytes(0));
    assert_eq!(opens(), 5);
    assert_eq!(cached, streamed);
    assert_eq!(cached, off);
    // An analysis that does not expect more passes is never cached.
    let mut one = TwoPassVariance::of("x");
    let plain = RxLocalSeq
        .run(&mut one, &source, &RxOptions::default().rows_per_read(128))
        .unwrap();
    assert_eq!(opens(), 7);
    assert_eq!(plain, cached);
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Partial {
    n: u64,
    sum: f64,
    ss: f64,
}

impl Pema for TwoPassVariance {
    type Partial = Partial;
    type Output = (u64, f64, f64);

    fn columns(&self) -> Vec<String> {
        vec![self.column.clone()]
    }

    fn init(&self) -> Partial {
        Partial::default()
    }

    fn process(&self, acc: &mut Partial, chunk: &RecordBatch) -> Result<()> {
        let x = chunk.column(0).as_primitive::<Float64Type>();
        for v in x.iter().flatten() {
            acc.n += 1;
            match self.mean {
                None => acc.sum += v,
                Some(m) => acc.ss += (v - m) * (v - m),
            }
        }
        Ok(())
    }

    fn merge(&self, into: &mut Partial, other: Partial) -> Result<()> {
        into.n += other.n;
        into.sum += other.sum;
        into.ss += other.ss;
        Ok(())
    }

    fn finish(&mut self, acc: Partial) -> Result<Step<(u64, f64, f64)>> {
        match self.mean {
            None => {
                self.mean = Some(acc.sum / acc.n as f64);
                Ok(Step::AnotherPass)
            }
            Some(m) => Ok(Step::Done((acc.n, m, acc.ss / (acc.n as f64 - 1.0)))),
        }
    }
}

fn xdf_of(values: &[Option<f64>], rows_per_block: usize, dir: &std::path::Path) -> XdfData {
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true)]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(Float64Array::from(values.to_vec()))],
    )
    .unwrap();
    let mem = MemoryData::new(schema.clone(), vec![batch]).unwrap();
    let xdf = XdfData::new(dir.join("x.xdf"));
    let w = xdf
        .create(
            schema,
            &WriteOptions::default().rows_per_block(rows_per_block),
        )
        .unwrap();
    copy_chunks(mem.open(&Default::default()).unwrap(), w, |_| {}).unwrap();
    xdf
}

#[test]
fn two_pass_analysis_runs_in_the_sequential_context() {
    let dir = tempfile::tempdir().unwrap();
    let values: Vec<Option<f64>> = (0..1001)
        .map(|i| (i % 10 != 3).then_some(1e8 + (i % 7) as f64 * 0.1))
        .collect();
    let xdf = xdf_of(&values, 100, dir.path());
    let mut pema = TwoPassVariance::of("x");
    let (n, mean, var) = RxLocalSeq
        .run(&mut pema, &xdf, &RxOptions::default().rows_per_read(64))
        .unwrap();
    let xs: Vec<f64> = values.iter().flatten().copied().collect();
    let m = xs.iter().sum::<f64>() / xs.len() as f64;
    let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() as f64 - 1.0);
    assert_eq!(n, xs.len() as u64);
    assert!((mean - m).abs() <= 1e-12 * m.abs());
    assert!((var - v).abs() <= 1e-9 * v);
    assert_eq!(RxLocalSeq.name(), "RxLocalSeq");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Processing all chunks in order equals merging the partials of any split into partitions.
    #[test]
    fn merge_law_over_partitions(values in prop::collection::vec(prop::option::weighted(0.9, -1e6f64..1e6), 0..400),
                                 rows_per_block in 1usize..64, parts in 1usize..6) {
        let dir = tempfile::tempdir().unwrap();
        let xdf = xdf_of(&values, rows_per_block, dir.path());
        let pema = TwoPassVariance::of("x");
        let opts = RxOptions::default().rows_per_read(17);
        let whole = run_pass(&pema, &xdf, &opts).unwrap();
        let mut merged = pema.init();
        for p in xdf.split(parts).unwrap() {
            let part = run_pass(&pema, p.as_ref(), &opts).unwrap();
            pema.merge(&mut merged, part).unwrap();
        }
        prop_assert_eq!(whole.n, merged.n);
        prop_assert!((whole.sum - merged.sum).abs() <= 1e-9 * (1.0 + whole.sum.abs()));
    }
}
