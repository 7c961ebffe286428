//! # benches: data generators for revoscale's benchmarks
//!
//! The criterion benches (`benches/io.rs`) and the peer comparison (`examples/import_csv.rs`,
//! `peers/compare.sh`) share these deterministic generators:
//!
//! - [`airline_csv`] writes a CSV shaped like the airline set of `../shared/peers/gen_data.py`
//!   (`ArrDelay`, `CRSDepTime`, `DayOfWeek`, `Distance`, `UniqueCarrier`, `Late`), drawn from the same
//!   generating models but from a seeded `rand` generator, so the numbers differ from numpy's while
//!   the shape (types, level sets, missing rate, bytes per row) is the same.
//! - [`wide10_batches`] builds the same six columns plus four more numeric ones as in-memory record
//!   batches, for the write and projection benches.
//! - [`etl_step_options`] and [`ETL_SORT_KEYS`] are the data step and the sort of the ETL benches
//!   (`benches/etl.rs` and `examples/etl.rs`).
//!
//! Both give the same output for the same arguments on every run and machine (for a given `rand`
//! version), so timings of different builds compare like with like.

pub mod regress;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rx_core::factor::{factor_type, make_factor};
use rx_core::varinfo::with_levels;

/// Seed of the airline generator (the same number gen_data.py uses, for the record).
pub const AIRLINE_SEED: u64 = 20_240_521;

/// Rows per record batch produced by [`wide10_batches`] (and so per block of an .xdf file written
/// from them).
pub const WIDE10_BLOCK_ROWS: usize = 100_000;

/// The airline CSV's columns, in file order.
pub const AIRLINE_COLUMNS: [&str; 6] = [
    "ArrDelay",
    "CRSDepTime",
    "DayOfWeek",
    "Distance",
    "UniqueCarrier",
    "Late",
];

/// The columns of [`wide10_batches`], in order: the airline columns, then `x1`..`x4`.
pub const WIDE10_COLUMNS: [&str; 10] = [
    "ArrDelay",
    "CRSDepTime",
    "DayOfWeek",
    "Distance",
    "UniqueCarrier",
    "Late",
    "x1",
    "x2",
    "x3",
    "x4",
];

/// Levels of `DayOfWeek`, in level order.
pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// Levels of `UniqueCarrier`, in level order (sorted, as R's `factor()` gives in the C locale).
pub const CARRIERS: [&str; 20] = [
    "9E", "AA", "AS", "B6", "CO", "DL", "EV", "F9", "FL", "HA", "MQ", "NW", "OH", "OO", "TZ", "UA",
    "US", "WN", "XE", "YV",
];

/// Share of each day (same order as [`DAYS`]).
const DAY_PROB: [f64; 7] = [0.150, 0.140, 0.145, 0.150, 0.150, 0.115, 0.150];
/// Market-share rank of each carrier in [`CARRIERS`] (0 = largest); share ∝ 1 / (rank + 2).
const CARRIER_RANK: [u32; 20] = [
    16, 1, 13, 12, 8, 2, 10, 17, 11, 18, 5, 7, 15, 6, 19, 3, 4, 0, 9, 14,
];
/// `ArrDelay` effect of each day (minutes; Monday is the reference).
const DAY_EFFECT: [f64; 7] = [0.0, -2.0, -1.0, 3.0, 5.0, -4.0, 2.5];
/// `ArrDelay` effect of each carrier (minutes; 9E is the reference).
const CARRIER_EFFECT: [f64; 20] = [
    0.0, 4.0, -3.0, 6.5, 2.0, 1.0, 7.5, -1.5, 3.5, -8.0, 5.5, 0.5, 4.5, 2.5, -2.0, 3.0, -0.5, -1.0,
    6.0, 8.0,
];
/// `Late` logit effect of each day.
const LATE_DAY_EFFECT: [f64; 7] = [0.0, -0.10, -0.05, 0.15, 0.30, -0.25, 0.10];
/// Share of `ArrDelay` values left missing.
const ARR_MISSING_RATE: f64 = 0.02;

/// One generated airline row; `arr_delay_tenths` is `ArrDelay` in tenths of a minute (`None` when
/// missing) and `dep_hundredths` is `CRSDepTime` in hundredths of an hour, so that the CSV text and
/// the in-memory values are the same numbers.
#[derive(Debug, Clone, Copy)]
struct AirlineRow {
    arr_delay_tenths: Option<i64>,
    dep_hundredths: i64,
    day: usize,
    distance: i64,
    carrier: usize,
    late: bool,
}

impl AirlineRow {
    fn arr_delay(&self) -> Option<f64> {
        self.arr_delay_tenths.map(|t| t as f64 / 10.0)
    }

    fn dep(&self) -> f64 {
        self.dep_hundredths as f64 / 100.0
    }
}

/// The airline model of gen_data.py, drawn from a seeded [`StdRng`].
#[derive(Debug)]
struct AirlineGen {
    rng: StdRng,
    day_cdf: [f64; 7],
    carrier_cdf: [f64; 20],
}

impl AirlineGen {
    fn new(seed: u64) -> Self {
        let mut carrier_w = [0.0; 20];
        for (w, r) in carrier_w.iter_mut().zip(CARRIER_RANK) {
            *w = 1.0 / (f64::from(r) + 2.0);
        }
        AirlineGen {
            rng: StdRng::seed_from_u64(seed),
            day_cdf: cdf(&DAY_PROB),
            carrier_cdf: cdf(&carrier_w),
        }
    }

    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// A standard normal draw (Box–Muller; one of the pair is dropped, which keeps the code short).
    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform(); // in (0, 1], so the log is finite
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }

    fn pick(&mut self, cdf: &[f64]) -> usize {
        let u = self.uniform();
        cdf.iter().position(|&c| u < c).unwrap_or(cdf.len() - 1)
    }

    fn row(&mut self) -> AirlineRow {
        // Scheduled departure: morning / midday / evening banks, hours in [0, 23.99].
        let (mu, sd) = match self.pick(&[0.40, 0.75, 1.0]) {
            0 => (8.0, 1.5),
            1 => (13.0, 2.0),
            _ => (18.0, 2.0),
        };
        let dep_hundredths = ((mu + sd * self.normal()).clamp(0.0, 23.99) * 100.0).round() as i64;
        let dep = dep_hundredths as f64 / 100.0;
        let day_cdf = self.day_cdf;
        let day = self.pick(&day_cdf);
        let carrier_cdf = self.carrier_cdf;
        let carrier = self.pick(&carrier_cdf);
        let distance = (700.0f64.ln() + 0.6 * self.normal())
            .exp()
            .clamp(60.0, 4900.0)
            .round();
        let noise = 28.0 * self.normal() + (self.exponential(12.0) - 12.0);
        let arr =
            -6.0 + 0.9 * dep + 0.004 * distance + DAY_EFFECT[day] + CARRIER_EFFECT[carrier] + noise;
        let arr_delay_tenths =
            (self.uniform() >= ARR_MISSING_RATE).then(|| (arr * 10.0).round() as i64);
        let eta = -2.3 + 0.06 * dep - 0.0002 * distance
            + LATE_DAY_EFFECT[day]
            + 0.04 * CARRIER_EFFECT[carrier];
        let late = self.uniform() < 1.0 / (1.0 + (-eta).exp());
        AirlineRow {
            arr_delay_tenths,
            dep_hundredths,
            day,
            distance: distance as i64,
            carrier,
            late,
        }
    }
}

/// Cumulative sums of `weights`, normalised to end at 1.
fn cdf<const N: usize>(weights: &[f64; N]) -> [f64; N] {
    let total: f64 = weights.iter().sum();
    let mut out = [0.0; N];
    let mut acc = 0.0;
    for (o, w) in out.iter_mut().zip(weights) {
        acc += w / total;
        *o = acc;
    }
    out[N - 1] = 1.0;
    out
}

/// Writes `value / 10^decimals` as pandas writes a float: shortest form, at least one decimal
/// (`-5.0`, `12.3`, `8.5`, `13.07`).
fn write_fixed(out: &mut impl Write, value: i64, decimals: u32) -> io::Result<()> {
    let scale = 10i64.pow(decimals);
    let sign = if value < 0 { "-" } else { "" };
    let (int, mut frac, mut digits) = (value.abs() / scale, value.abs() % scale, decimals as usize);
    while digits > 1 && frac % 10 == 0 {
        frac /= 10;
        digits -= 1;
    }
    write!(out, "{sign}{int}.{frac:0digits$}")
}

/// Writes `rows` rows of the airline set as CSV to `path` (header included) and returns the bytes
/// written.
///
/// The shape follows `../shared/peers/gen_data.py --airline`: `ArrDelay` (minutes, one decimal,
/// about 2% empty fields), `CRSDepTime` (hours, at most 2 decimals), `DayOfWeek` (7 day names),
/// `Distance` (integer-valued float, `700.0`), `UniqueCarrier` (20 codes), `Late` (`0`/`1`);
/// about 37 bytes a row. The values come from a [`StdRng`] seeded with [`AIRLINE_SEED`].
pub fn airline_csv(path: impl AsRef<Path>, rows: usize) -> io::Result<u64> {
    let file = File::create(path.as_ref())?;
    let mut out = CountingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        bytes: 0,
    };
    writeln!(out, "{}", AIRLINE_COLUMNS.join(","))?;
    let mut g = AirlineGen::new(AIRLINE_SEED);
    for _ in 0..rows {
        let r = g.row();
        if let Some(t) = r.arr_delay_tenths {
            write_fixed(&mut out, t, 1)?;
        }
        out.write_all(b",")?;
        write_fixed(&mut out, r.dep_hundredths, 2)?;
        writeln!(
            out,
            ",{},{}.0,{},{}",
            DAYS[r.day],
            r.distance,
            CARRIERS[r.carrier],
            u8::from(r.late)
        )?;
    }
    out.flush()?;
    Ok(out.bytes)
}

/// A writer that counts the bytes going through it.
#[derive(Debug)]
struct CountingWriter<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The schema of [`wide10_batches`]: `ArrDelay`, `CRSDepTime`, `Distance`, `x1`..`x4` as `float64`
/// (only `ArrDelay` has missing values), `DayOfWeek` and `UniqueCarrier` as factors (level tables in
/// the field metadata), `Late` as `int32`.
pub fn wide10_schema() -> SchemaRef {
    let levels = |ls: &[&str]| ls.iter().map(|s| (*s).to_string()).collect::<Vec<_>>();
    let float = |name: &str, nullable: bool| Field::new(name, DataType::Float64, nullable);
    Arc::new(Schema::new(vec![
        float("ArrDelay", true),
        float("CRSDepTime", false),
        with_levels(
            Field::new("DayOfWeek", factor_type(), false),
            &levels(&DAYS),
        ),
        float("Distance", false),
        with_levels(
            Field::new("UniqueCarrier", factor_type(), false),
            &levels(&CARRIERS),
        ),
        Field::new("Late", DataType::Int32, false),
        float("x1", false),
        float("x2", false),
        float("x3", false),
        float("x4", false),
    ]))
}

/// `rows` rows of a 10-column table in record batches of [`WIDE10_BLOCK_ROWS`] rows (the last may be
/// shorter), with the schema [`wide10_schema`].
///
/// The first six columns are the airline columns of [`airline_csv`] (the same values for the same
/// row index); `x1` is standard normal, `x2` uniform on [0, 1000) with 2 decimals, `x3` an
/// integer-valued count in 0..=50, `x4` a correlated mix of `x1` and fresh noise.
pub fn wide10_batches(rows: usize) -> Vec<RecordBatch> {
    let schema = wide10_schema();
    let day_levels: Vec<String> = DAYS.iter().map(|s| (*s).to_string()).collect();
    let carrier_levels: Vec<String> = CARRIERS.iter().map(|s| (*s).to_string()).collect();
    let mut g = AirlineGen::new(AIRLINE_SEED);
    let mut extra = StdRng::seed_from_u64(AIRLINE_SEED + 1);
    let mut batches = Vec::with_capacity(rows.div_ceil(WIDE10_BLOCK_ROWS));
    let mut done = 0;
    while done < rows {
        let n = WIDE10_BLOCK_ROWS.min(rows - done);
        let airline: Vec<AirlineRow> = (0..n).map(|_| g.row()).collect();
        let mut x = [
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        ];
        for _ in 0..n {
            let (u1, u2): (f64, f64) = (1.0 - extra.random::<f64>(), extra.random());
            let z1 = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let z2 = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).sin();
            x[0].push(z1);
            x[1].push((extra.random::<f64>() * 100_000.0).floor() / 100.0);
            x[2].push(f64::from(extra.random_range(0..=50u32)));
            x[3].push(0.6 * z1 + 0.8 * z2);
        }
        let codes = |f: fn(&AirlineRow) -> usize| {
            Int32Array::from_iter_values(airline.iter().map(|r| f(r) as i32))
        };
        let [x1, x2, x3, x4] = x;
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from_iter(
                airline.iter().map(AirlineRow::arr_delay),
            )),
            Arc::new(Float64Array::from_iter_values(
                airline.iter().map(AirlineRow::dep),
            )),
            Arc::new(make_factor(codes(|r| r.day), &day_levels).expect("day codes index DAYS")),
            Arc::new(Float64Array::from_iter_values(
                airline.iter().map(|r| r.distance as f64),
            )),
            Arc::new(
                make_factor(codes(|r| r.carrier), &carrier_levels)
                    .expect("carrier codes index CARRIERS"),
            ),
            Arc::new(Int32Array::from_iter_values(
                airline.iter().map(|r| i32::from(r.late)),
            )),
            Arc::new(Float64Array::from(x1)),
            Arc::new(Float64Array::from(x2)),
            Arc::new(Float64Array::from(x3)),
            Arc::new(Float64Array::from(x4)),
        ];
        batches.push(
            RecordBatch::try_new(schema.clone(), columns).expect("columns match wide10_schema"),
        );
        done += n;
    }
    batches
}

/// The data step of the ETL benchmarks (the criterion bench `etl` and the example `etl` that
/// runs beside DuckDB): `ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')` and two transforms,
/// `Late2 = ArrDelay > 60` and `Hours = CRSDepTime / 24.0 + Distance / 500.0`, overwriting the
/// output.
pub fn etl_step_options() -> rx_etl::DataStepOptions {
    rx_etl::DataStepOptions::default()
        .row_selection("ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')")
        .transform("Late2", "ArrDelay > 60")
        .transform("Hours", "CRSDepTime / 24.0 + Distance / 500.0")
        .overwrite()
}

/// The sort keys of the ETL benchmarks: two keys, a factor ascending and a number descending.
pub const ETL_SORT_KEYS: &str = "UniqueCarrier,-ArrDelay";

/// Peak resident set size of this process in bytes (`VmHWM` of `/proc/self/status`), when the
/// platform reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_point_text_matches_pandas() {
        let s = |v, d| {
            let mut out = Vec::new();
            write_fixed(&mut out, v, d).unwrap();
            String::from_utf8(out).unwrap()
        };
        assert_eq!(s(-50, 1), "-5.0");
        assert_eq!(s(-3, 1), "-0.3");
        assert_eq!(s(123, 1), "12.3");
        assert_eq!(s(850, 2), "8.5");
        assert_eq!(s(800, 2), "8.0");
        assert_eq!(s(1307, 2), "13.07");
        assert_eq!(s(5, 2), "0.05");
    }

    #[test]
    fn airline_csv_is_deterministic_and_shaped() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        let bytes = airline_csv(&a, 20_000).unwrap();
        airline_csv(&b, 20_000).unwrap();
        let text = std::fs::read_to_string(&a).unwrap();
        assert_eq!(text, std::fs::read_to_string(&b).unwrap());
        assert_eq!(bytes, text.len() as u64);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("ArrDelay,CRSDepTime,DayOfWeek,Distance,UniqueCarrier,Late")
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        assert_eq!(rows.len(), 20_000);
        assert!(rows.iter().all(|r| r.len() == 6));
        let missing = rows.iter().filter(|r| r[0].is_empty()).count() as f64 / 20_000.0;
        assert!((0.01..0.03).contains(&missing), "missing share {missing}");
        assert!(
            rows.iter()
                .all(|r| DAYS.contains(&r[2]) && CARRIERS.contains(&r[4]))
        );
        assert!(
            rows.iter()
                .all(|r| r[3].ends_with(".0") && (r[5] == "0" || r[5] == "1"))
        );
        let per_row = bytes as f64 / 20_000.0;
        assert!((25.0..45.0).contains(&per_row), "{per_row} bytes a row");
    }

    #[test]
    fn wide10_is_deterministic_and_blocked() {
        let a = wide10_batches(250_000);
        assert_eq!(
            a.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
            [100_000, 100_000, 50_000]
        );
        assert_eq!(a[0].schema().fields().len(), 10);
        assert_eq!(a, wide10_batches(250_000));
    }
}
