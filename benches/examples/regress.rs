//! Times revoscale's regressions end to end on an .xdf file (read the file, fit), next to one
//! plain pass that reads the same columns and sums them (the memory-bandwidth floor of a one-pass
//! method). For the side-by-side run with statsmodels see `benches/peers/regress.sh`.
//!
//! ```sh
//! cargo run --release -p benches --example regress -- [--rows 10000000] [--dir DIR] [--reps 3]
//!     [--only pass,linmod,logit] [--cache-bytes N]
//! ```
//!
//! The data (`y`, `yb`, `x1`..`x10`, the 7-level factor `F`; see `benches::regress`) are
//! generated once into `DIR/regress_<rows>.xdf` and `DIR/regress_<rows>.parquet` (the parquet copy
//! is what the peers read). Prints `key=value` lines on stdout (seconds are medians over `--reps`
//! runs) and a readable log on stderr.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use benches::regress::{LINMOD_FORMULA, LOGIT_FORMULA, RegressGen, plain_pass, schema};
use rx_core::{DataSink, Result, RxLocalSeq, WriteOptions};
use rx_data::ParquetData;
use rx_models::glm::{LogitOptions, rx_logit};
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_xdf::XdfData;

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn generate(rows: usize, xdf: &Path, parquet: &Path) -> Result<()> {
    eprintln!(
        "generating {rows} rows into {} and {}",
        xdf.display(),
        parquet.display()
    );
    let s = schema();
    let opts = WriteOptions::default().overwrite();
    let mut wx = XdfData::new(xdf).create(s.clone(), &opts)?;
    let mut wp = ParquetData::new(parquet).create(s, &opts)?;
    for batch in RegressGen::new(rows) {
        wx.write(&batch)?;
        wp.write(&batch)?;
    }
    wx.finish()?;
    wp.finish()?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(reps: usize, what: &str, mut job: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps.max(1) {
        let t = Instant::now();
        let out = job()?;
        times.push(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    let m = median(times.clone());
    eprintln!("{what}: median {m:.3} s of {times:.3?}");
    Ok((m, last.ok_or_else(|| rx_core::Error::invalid("no run"))?))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: usize = arg(&args, "--rows", 10_000_000);
    let reps: usize = arg(&args, "--reps", 3);
    let dir = PathBuf::from(arg(&args, "--dir", "/tmp/revoscale-regress".to_string()));
    let only: String = arg(&args, "--only", "pass,linmod,logit".to_string());
    // The IRLS cache budget (default: RxOptions's, a quarter of RAM; 0 streams every pass).
    let cache_bytes: Option<usize> = args
        .iter()
        .position(|a| a == "--cache-bytes")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    std::fs::create_dir_all(&dir).map_err(|e| rx_core::Error::io(&dir, e))?;
    let xdf = dir.join(format!("regress_{rows}.xdf"));
    let parquet = dir.join(format!("regress_{rows}.parquet"));
    if !xdf.exists() || !parquet.exists() {
        generate(rows, &xdf, &parquet)?;
    }
    println!("rows={rows}");
    println!("xdf={}", xdf.display());
    println!("parquet={}", parquet.display());
    let data = XdfData::new(&xdf);
    if only.contains("pass") {
        let (t, _) = time(reps, "plain pass (read 12 columns, sum)", || {
            plain_pass(&data)
        })?;
        println!("pass_seconds={t}");
    }
    if only.contains("linmod") {
        let (t, fit) = time(reps, "rx_lin_mod", || {
            rx_lin_mod(
                LINMOD_FORMULA,
                &data,
                &LinModOptions::default(),
                &RxLocalSeq,
            )
        })?;
        println!("linmod_seconds={t}");
        println!("linmod_refinements={}", fit.refinements);
        eprintln!("{fit}");
    }
    if only.contains("logit") {
        let (t, fit) = time(reps, "rx_logit", || {
            let mut o = LogitOptions::default();
            if let Some(bytes) = cache_bytes {
                o.rx.max_cache_bytes = bytes;
            }
            rx_logit(LOGIT_FORMULA, &data, &o, &RxLocalSeq)
        })?;
        println!("logit_seconds={t}");
        println!("logit_iterations={}", fit.iterations);
        eprintln!("{fit}");
    }
    Ok(())
}
