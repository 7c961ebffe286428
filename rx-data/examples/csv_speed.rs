//! Measures CSV parse throughput:
//! `cargo run --release -p rx-data --example csv_speed -- FILE [ROWS_PER_READ] [factors]`.
//!
//! Prints wall time, rows per second and the process CPU time of each of five reads (sniffing
//! included, chunks dropped).
//!
//! Measured on the 2-core development machine, on a 1M-row, 6-column airline-like file (34 MB:
//! ArrDelay float with 2% empty, CRSDepTime float, DayOfWeek string, Distance float,
//! UniqueCarrier string, Late int), best of several runs: 0.100 s (10.0 M rows/s, 0.19 s CPU) with
//! the system allocator, 0.091 s (11.0 M rows/s) with mimalloc as the global allocator, 0.112 s
//! with `factors`. On the same file: pyarrow 26 `csv.read_csv` 0.082 s, DuckDB 2.0 `read_csv`
//! into a table 0.165 s. arrow-csv's decoder alone takes 0.144 s of CPU on one core for this file.

use std::time::Instant;

use rx_core::{DataSource, ReadOptions};
use rx_data::TextData;

/// User + system CPU seconds of this process (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let Some(after) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: csv_speed FILE [ROWS_PER_READ] [factors]")?;
    let rows_per_read: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(500_000);
    let factors = args.next().is_some_and(|s| s == "factors");
    for run in 0..5 {
        let c = cpu_seconds();
        let t = Instant::now();
        let src = TextData::new(&path)
            .rows_per_read(rows_per_read)
            .strings_as_factors(factors);
        let mut rows = 0usize;
        let mut chunks = 0usize;
        for chunk in src.open(&ReadOptions::default())? {
            rows += chunk?.num_rows();
            chunks += 1;
        }
        let s = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c;
        println!(
            "run {run}: {rows} rows in {chunks} chunks, {s:.3} s, {:.2} M rows/s, cpu {cpu:.2} s",
            rows as f64 / s / 1e6
        );
    }
    let t = Instant::now();
    let schema = TextData::new(&path).schema()?;
    println!("sniffing alone: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let types: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    println!("schema: {types:?}");
    Ok(())
}
