//! Times revoscale's CSV → .xdf import on a given CSV file (for side-by-side runs with the peers,
//! see `benches/peers/compare.sh`), then the full vs projected .xdf scan, and optionally where the
//! import's time goes.
//!
//! ```sh
//! cargo run --release -p benches --example import_csv -- FILE.csv [--reps 3] [--breakdown]
//! ```
//!
//! Prints `key=value` lines on stdout (seconds are medians over `--reps` runs; RSS in MB from
//! `VmHWM`, reset before each phase where the kernel allows it) and a readable log on stderr.
//!
//! - `import_*`: `TextData` → `XdfData` with the default options (LZ4), as `rx import` does.
//! - `scan_*`: a 10-column .xdf file of as many rows as the CSV (the `wide10` generator), read in
//!   full and with 2 of its 10 columns.
//! - `--breakdown`: the CSV parse alone (chunks dropped), the .xdf write alone from memory at
//!   compression levels 0 (none), 1 (LZ4) and 2 (Zstandard), and the whole import without
//!   compression.
//! - `--out-dir DIR`: write the .xdf files in a temporary folder under `DIR` (default: the system
//!   temporary folder). The .xdf writer syncs a file to disk before renaming it into place, so a
//!   folder on tmpfs (`/dev/shm`) shows the import without the disk flush.
//! - `--no-scan`: skip the scans (e.g. to profile the import alone with `perf record`).
//! - `--only JOB`: run one job `--reps` times and nothing else, for profiling: `import` (LZ4),
//!   `import0` (no compression), `parse` (CSV parse, chunks dropped), or `timeline` / `timeline0`
//!   (the import with and without compression, printing on stderr when each chunk arrives and is
//!   written, and when the file is finished).

/// The allocator of the `rx` binary, so the figures are what `rx import` does.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use benches::{peak_rss_bytes, wide10_batches, wide10_schema};
use rx_core::{DataSink, DataSource, ReadOptions, WriteOptions, copy_chunks};
use rx_data::TextData;
use rx_xdf::XdfData;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

struct Args {
    csv: PathBuf,
    reps: usize,
    breakdown: bool,
    scan: bool,
    out_dir: Option<PathBuf>,
    only: Option<String>,
}

fn parse_args() -> Res<Args> {
    const USAGE: &str = "usage: import_csv FILE.csv [--reps N] [--breakdown] [--no-scan] [--out-dir DIR] [--only JOB]";
    let mut csv = None;
    let mut reps = 3;
    let mut breakdown = false;
    let mut scan = true;
    let mut out_dir = None;
    let mut only = None;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--reps" => reps = it.next().ok_or(USAGE)?.parse()?,
            "--breakdown" => breakdown = true,
            "--no-scan" => scan = false,
            "--out-dir" => out_dir = Some(PathBuf::from(it.next().ok_or(USAGE)?)),
            "--only" => only = Some(it.next().ok_or(USAGE)?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            _ if csv.is_none() && !a.starts_with('-') => csv = Some(PathBuf::from(a)),
            _ => return Err(format!("unexpected argument '{a}'\n{USAGE}").into()),
        }
    }
    Ok(Args {
        csv: csv.ok_or(USAGE)?,
        reps: reps.max(1),
        breakdown,
        scan,
        out_dir,
        only,
    })
}

/// Resets the peak-RSS counter (`VmHWM`) so the next reading covers only what follows; a no-op
/// where `/proc/self/clear_refs` is not writable.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    peak_rss_bytes().map_or(f64::NAN, |b| b as f64 / (1u64 << 20) as f64)
}

/// CPU seconds (user + system, all threads, including finished ones) used by this process so
/// far, from `/proc/self/stat` (in clock ticks of 1/100 s, Linux's `USER_HZ`); NaN elsewhere.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are
    // fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        f.get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / 100.0
}

/// Median wall-clock and CPU seconds of a repeated job.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: f64,
    cpu: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Runs `f` `reps` times and returns the median timings and the last result.
fn median_of<T>(reps: usize, mut f: impl FnMut() -> Res<T>) -> Res<(Timing, T)> {
    let (mut walls, mut cpus) = (Vec::with_capacity(reps), Vec::with_capacity(reps));
    let mut last = None;
    for _ in 0..reps {
        let (t, c) = (Instant::now(), cpu_seconds());
        last = Some(f()?);
        walls.push(t.elapsed().as_secs_f64());
        cpus.push(cpu_seconds() - c);
    }
    let out = last.ok_or("no runs")?;
    Ok((
        Timing {
            wall: median(walls),
            cpu: median(cpus),
        },
        out,
    ))
}

fn import(csv: &Path, xdf: &Path, options: &WriteOptions) -> Res<u64> {
    let src = TextData::new(csv);
    let reader = src.open(&ReadOptions::default())?;
    let writer = XdfData::new(xdf).create(src.schema()?, &options.clone().overwrite())?;
    Ok(copy_chunks(reader, writer, |_| {})?)
}

fn parse_only(csv: &Path) -> Res<usize> {
    let mut rows = 0;
    for chunk in TextData::new(csv).open(&ReadOptions::default())? {
        rows += chunk?.num_rows();
    }
    Ok(rows)
}

fn parse_collect(csv: &Path) -> Res<Vec<RecordBatch>> {
    Ok(TextData::new(csv)
        .open(&ReadOptions::default())?
        .collect::<Result<Vec<_>, _>>()?)
}

fn write_only(batches: &[RecordBatch], xdf: &Path, level: u32) -> Res<u64> {
    let schema = batches.first().ok_or("the CSV has no rows")?.schema();
    let options = WriteOptions::default().overwrite().compression_level(level);
    Ok(rx_xdf::rx_write_xdf(xdf, &schema, batches, &options)?)
}

fn scan(xdf: &XdfData, options: &ReadOptions) -> Res<usize> {
    let mut rows = 0;
    for chunk in xdf.open(options)? {
        rows += chunk?.num_rows();
    }
    Ok(rows)
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(f64::NAN, |m| m.len() as f64 / (1u64 << 20) as f64)
}

/// Prints `KEY_seconds` and `KEY_cpu_seconds` on stdout and a readable line on stderr.
fn report(key: &str, what: &str, t: Timing, extra: &str) {
    eprintln!("{what}: {:.3} s wall, {:.2} s CPU{extra}", t.wall, t.cpu);
    println!("{key}_seconds={:.6}", t.wall);
    println!("{key}_cpu_seconds={:.3}", t.cpu);
}

fn main() -> Res<()> {
    let args = parse_args()?;
    let dir = match &args.out_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let xdf = dir.path().join("import.xdf");
    let csv_bytes = std::fs::metadata(&args.csv)?.len();
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("csv={}", args.csv.display());
    println!("csv_bytes={csv_bytes}");
    println!("rayon_threads={threads}");
    println!("reps={}", args.reps);

    if let Some(job) = &args.only {
        let (t, _) = match job.as_str() {
            "import" => median_of(args.reps, || {
                import(&args.csv, &xdf, &WriteOptions::default())
            })?,
            "import0" => median_of(args.reps, || {
                import(
                    &args.csv,
                    &xdf,
                    &WriteOptions::default().compression_level(0),
                )
            })?,
            "parse" => median_of(args.reps, || parse_only(&args.csv).map(|n| n as u64))?,
            "timeline" | "timeline0" => median_of(args.reps, || {
                let level = if job == "timeline" { 1 } else { 0 };
                let t = Instant::now();
                let src = TextData::new(&args.csv);
                let reader = src.open(&ReadOptions::default())?;
                let mut writer = XdfData::new(&xdf).create(
                    src.schema()?,
                    &WriteOptions::default().compression_level(level).overwrite(),
                )?;
                let mut marks = vec![format!("open {:.3}", t.elapsed().as_secs_f64())];
                for b in reader {
                    let b = b?;
                    marks.push(format!("chunk {:.3}", t.elapsed().as_secs_f64()));
                    writer.write(&b)?;
                    marks.push(format!("written {:.3}", t.elapsed().as_secs_f64()));
                }
                let n = writer.finish()?;
                marks.push(format!("finish {:.3}", t.elapsed().as_secs_f64()));
                eprintln!("{}", marks.join(", "));
                Ok(n)
            })?,
            _ => {
                return Err(format!(
                    "unknown job '{job}' (import, import0, parse, timeline or timeline0)"
                )
                .into());
            }
        };
        report(job, job, t, "");
        return Ok(());
    }

    // The import, as `rx import` runs it.
    reset_peak_rss();
    let (t, rows) = median_of(args.reps, || {
        import(&args.csv, &xdf, &WriteOptions::default())
    })?;
    let rss = peak_rss_mb();
    let mb = |bytes: f64| bytes / (1u64 << 20) as f64;
    eprintln!(
        "{rows} rows, {:.1} MB CSV -> {:.1} MB .xdf (LZ4); medians of {} runs, RAYON_NUM_THREADS={threads}",
        mb(csv_bytes as f64),
        file_mb(&xdf),
        args.reps
    );
    report(
        "import",
        "import CSV -> .xdf (LZ4)",
        t,
        &format!(
            ", {:.0} MB/s, peak RSS {rss:.0} MB",
            mb(csv_bytes as f64) / t.wall
        ),
    );
    println!("rows={rows}");
    println!("import_peak_rss_mb={rss:.1}");
    println!("import_xdf_mb={:.3}", file_mb(&xdf));

    if args.breakdown {
        reset_peak_rss();
        let (t, _) = median_of(args.reps, || parse_only(&args.csv))?;
        let rss = peak_rss_mb();
        report(
            "parse_only",
            "CSV parse only (chunks dropped)",
            t,
            &format!(", peak RSS {rss:.0} MB"),
        );
        println!("parse_only_peak_rss_mb={rss:.1}");
        let (t, batches) = median_of(args.reps, || parse_collect(&args.csv))?;
        report("parse_collect", "CSV parse, chunks kept in memory", t, "");
        for (level, name) in [(0u32, "none"), (1, "lz4"), (2, "zstd")] {
            let (t, _) = median_of(args.reps, || write_only(&batches, &xdf, level))?;
            let size = file_mb(&xdf);
            report(
                &format!("write_only_{name}"),
                &format!(".xdf write from memory, {name}"),
                t,
                &format!(", {size:.1} MB"),
            );
            println!("write_only_{name}_xdf_mb={size:.3}");
        }
        drop(batches);
        let (t, _) = median_of(args.reps, || {
            import(
                &args.csv,
                &xdf,
                &WriteOptions::default().compression_level(0),
            )
        })?;
        report(
            "import_uncompressed",
            "import CSV -> .xdf, no compression",
            t,
            "",
        );
    }

    if !args.scan {
        return Ok(());
    }
    // Full vs projected scan of a 10-column .xdf file of the same row count.
    let wide = dir.path().join("wide10.xdf");
    let scan_rows = usize::try_from(rows)?;
    rx_xdf::rx_write_xdf(
        &wide,
        &wide10_schema(),
        &wide10_batches(scan_rows),
        &WriteOptions::default(),
    )?;
    let wide = XdfData::new(&wide);
    let reps = args.reps.max(5);
    let (full, _) = median_of(reps, || scan(&wide, &ReadOptions::default()))?;
    let (proj, _) = median_of(reps, || {
        scan(
            &wide,
            &ReadOptions::default().columns(["ArrDelay", "Distance"]),
        )
    })?;
    report(
        "scan_full",
        &format!("scan of a {scan_rows}-row 10-column .xdf (LZ4), all columns"),
        full,
        "",
    );
    report(
        "scan_project_2_of_10",
        "  the same, 2 of 10 columns",
        proj,
        "",
    );
    eprintln!("projected / full: {:.3}", proj.wall / full.wall);
    println!("scan_ratio={:.4}", proj.wall / full.wall);
    Ok(())
}
