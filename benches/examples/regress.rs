//! Times revoscale's regressions end to end on an .xdf file (read the file, fit), next to one
//! plain pass that reads the same columns and sums them (the memory-bandwidth floor of a one-pass
//! method). For the side-by-side run with statsmodels see `benches/peers/regress.sh`.
//!
//! ```sh
//! cargo run --release -p benches --example regress -- [--rows 10000000] [--dir DIR] [--reps 3]
//!     [--only pass,summary,linmod,logit] [--cache-bytes N] [--context local,parallel:2]
//! ```
//!
//! `--context` takes a comma-separated list of compute contexts; each job then runs in each of
//! them, interleaved rep by rep (so the machine's drift hits them alike), and the speed-up of each
//! context over the first is printed (`linmod_speedup_parallel2=1.85`).
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

use benches::regress::{
    LINMOD_FORMULA, LOGIT_FORMULA, RegressGen, SUMMARY_FORMULA, plain_pass, schema,
};
use rx_compute::RxComputeContext;
use rx_core::{DataSink, Result, WriteOptions};
use rx_data::ParquetData;
use rx_models::glm::{LogitOptions, rx_logit};
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_models::{SummaryOptions, rx_summary};
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

/// Runs `job` in each context, `reps` times, interleaved; returns the median seconds per context
/// and the last output of the first context.
fn time<T>(
    reps: usize,
    what: &str,
    contexts: &[(String, RxComputeContext)],
    mut job: impl FnMut(&RxComputeContext) -> Result<T>,
) -> Result<(Vec<f64>, T)> {
    let mut times = vec![Vec::new(); contexts.len()];
    let mut last = None;
    for _ in 0..reps.max(1) {
        for (k, (_, ctx)) in contexts.iter().enumerate() {
            let t = Instant::now();
            let out = job(ctx)?;
            times[k].push(t.elapsed().as_secs_f64());
            if k == 0 {
                last = Some(out);
            }
        }
    }
    let medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
    for ((label, ctx), (m, t)) in contexts.iter().zip(medians.iter().zip(&times)) {
        eprintln!("{what} [{label}: {ctx}]: median {m:.3} s of {t:.3?}");
    }
    Ok((
        medians,
        last.ok_or_else(|| rx_core::Error::invalid("no run"))?,
    ))
}

/// Prints `<job>_seconds` (first context), and with several contexts `<job>_<label>_seconds` and
/// `<job>_speedup_<label>` for each.
fn report(job: &str, contexts: &[(String, RxComputeContext)], medians: &[f64]) {
    println!("{job}_seconds={}", medians[0]);
    if contexts.len() > 1 {
        for ((label, _), m) in contexts.iter().zip(medians) {
            println!("{job}_{label}_seconds={m}");
            println!("{job}_speedup_{label}={:.3}", medians[0] / m);
        }
    }
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
    let contexts: Vec<(String, RxComputeContext)> = arg(&args, "--context", "local".to_string())
        .split(',')
        .map(|c| Ok((c.replace(':', ""), c.parse::<RxComputeContext>()?)))
        .collect::<Result<_>>()?;
    let data = XdfData::new(&xdf);
    if only.contains("pass") {
        let (t, _) = time(
            reps,
            "plain pass (read 12 columns, sum)",
            &contexts[..1],
            |_| plain_pass(&data),
        )?;
        report("pass", &contexts[..1], &t);
    }
    if only.contains("summary") {
        let (t, s) = time(reps, "rx_summary", &contexts, |ctx| {
            rx_summary(SUMMARY_FORMULA, &data, &SummaryOptions::default(), ctx)
        })?;
        report("summary", &contexts, &t);
        eprintln!("{s}");
    }
    if only.contains("linmod") {
        let (t, fit) = time(reps, "rx_lin_mod", &contexts, |ctx| {
            rx_lin_mod(LINMOD_FORMULA, &data, &LinModOptions::default(), ctx)
        })?;
        report("linmod", &contexts, &t);
        println!("linmod_refinements={}", fit.refinements);
        eprintln!("{fit}");
    }
    if only.contains("logit") {
        let (t, fit) = time(reps, "rx_logit", &contexts, |ctx| {
            let mut o = LogitOptions::default();
            if let Some(bytes) = cache_bytes {
                o.rx.max_cache_bytes = bytes;
            }
            rx_logit(LOGIT_FORMULA, &data, &o, ctx)
        })?;
        report("logit", &contexts, &t);
        println!("logit_iterations={}", fit.iterations);
        eprintln!("{fit}");
    }
    Ok(())
}
