//! Times revoscale's ETL on a generated 10-column table (`benches::wide10_batches`: the airline
//! columns plus four numeric ones) and reports each job's peak resident memory. For the
//! side-by-side run with DuckDB see `benches/peers/etl.sh`.
//!
//! ```sh
//! cargo run --release -p benches --example etl -- make [--rows 10000000] [--dir DIR]
//! cargo run --release -p benches --example etl -- step --input IN --output OUT
//! cargo run --release -p benches --example etl -- sort --input IN --output OUT [--by UniqueCarrier,-ArrDelay]
//! ```
//!
//! `make` writes `DIR/wide10_<rows>.xdf` and `.parquet`. `step` is the data step of the benchmark:
//! `ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')` and two transforms (`Late2 = ArrDelay >
//! 60`, `Hours = CRSDepTime / 24.0 + Distance / 500.0`); `sort` sorts by two keys. Input and output
//! formats follow the extensions (.xdf or .parquet). Run each job in its own process: the printed
//! `peak_rss_mb` is the process's high-water mark. Prints `key=value` lines on stdout.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rx_core::{DataSink, DataSource, Result, WriteOptions};
use rx_data::ParquetData;
use rx_etl::{SortOptions, parse_sort_keys, rx_data_step, rx_sort};
use rx_xdf::XdfData;

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_string())
}

fn is_parquet(p: &Path) -> bool {
    p.extension().is_some_and(|e| e == "parquet")
}

fn source(p: &Path) -> Arc<dyn DataSource> {
    if is_parquet(p) {
        Arc::new(ParquetData::new(p))
    } else {
        Arc::new(XdfData::new(p))
    }
}

fn sink(p: &Path) -> Box<dyn DataSink> {
    if is_parquet(p) {
        Box::new(ParquetData::new(p))
    } else {
        Box::new(XdfData::new(p))
    }
}

fn peak_mb() -> f64 {
    benches::peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / (1 << 20) as f64)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let job = args.get(1).cloned().unwrap_or_default();
    let input = PathBuf::from(arg(&args, "--input", ""));
    let output = PathBuf::from(arg(&args, "--output", ""));
    match job.as_str() {
        "make" => {
            let rows: usize = arg(&args, "--rows", "10000000")
                .parse()
                .unwrap_or(10_000_000);
            let dir = PathBuf::from(arg(&args, "--dir", "/tmp/revoscale-etl"));
            std::fs::create_dir_all(&dir).map_err(|e| rx_core::Error::io(&dir, e))?;
            let schema = benches::wide10_schema();
            let opts = WriteOptions::default().overwrite();
            let xdf = dir.join(format!("wide10_{rows}.xdf"));
            let pq = dir.join(format!("wide10_{rows}.parquet"));
            let mut wx = XdfData::new(&xdf).create(schema.clone(), &opts)?;
            let mut wp = ParquetData::new(&pq).create(schema, &opts)?;
            let mut done = 0;
            while done < rows {
                // Generated a million rows at a time (the generator restarts its seed, so rows
                // repeat every million; the values' distribution is what matters here).
                let n = (rows - done).min(1_000_000);
                for b in benches::wide10_batches(n) {
                    wx.write(&b)?;
                    wp.write(&b)?;
                }
                done += n;
            }
            wx.finish()?;
            wp.finish()?;
            println!("xdf={}\nparquet={}", xdf.display(), pq.display());
        }
        "step" => {
            let t = Instant::now();
            let out = rx_data_step(
                source(&input),
                Some(sink(&output).as_ref()),
                benches::etl_step_options(),
            )?;
            println!(
                "job=step\nrows={}\nsecs={:.3}\npeak_rss_mb={:.0}",
                out.rows,
                t.elapsed().as_secs_f64(),
                peak_mb()
            );
        }
        "sort" => {
            let by = arg(&args, "--by", benches::ETL_SORT_KEYS);
            let mut options = SortOptions::by(parse_sort_keys(&by)?);
            options.write = WriteOptions::default().overwrite();
            let t = Instant::now();
            let out = rx_sort(source(&input), Some(sink(&output).as_ref()), options)?;
            println!(
                "job=sort\nrows={}\nsecs={:.3}\npeak_rss_mb={:.0}",
                out.rows,
                t.elapsed().as_secs_f64(),
                peak_mb()
            );
        }
        _ => {
            eprintln!(
                "usage: etl make|step|sort [--rows N] [--dir DIR] [--input IN --output OUT] [--by KEYS]"
            );
            std::process::exit(2);
        }
    }
    Ok(())
}
