//! `rx sort`, `rx merge` and `rx partition`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use revoscale::core::{DataSource, Error, Result, WriteOptions};
use revoscale::etl::partition::PartitionOptions;
use revoscale::etl::{
    MergeHow, MergeOptions, SortOptions, parse_sort_keys, rx_merge, rx_partition, rx_sort,
};

use crate::import::OutputArgs;
use crate::sources::{open_sink, open_source};

/// `rx sort <in> <out> --by a,-b`.
#[derive(Debug, Args)]
pub struct SortArgs {
    /// Input file.
    pub input: PathBuf,
    /// Output file.
    pub output: PathBuf,
    /// Sort keys, most significant first; `-name` sorts descending.
    #[arg(long, value_name = "a,-b", allow_hyphen_values = true)]
    pub by: String,
    /// Missing values sort as the highest values (default: as the lowest, RevoScaleR's missingsLow).
    #[arg(long)]
    pub missings_high: bool,
    /// Memory the sort may hold before it spills to temporary files, in MiB (default: a quarter
    /// of the machine's memory, at least 1024).
    #[arg(long, value_name = "MIB")]
    pub memory_mb: Option<usize>,
    /// Output only these columns.
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub keep: Vec<String>,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `rx merge <left> <right> <out> --on k [--how inner|left|right|outer|union]`.
#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Left input.
    pub left: PathBuf,
    /// Right input.
    pub right: PathBuf,
    /// Output file.
    pub output: PathBuf,
    /// Key columns (same names in both inputs); not used by --how union.
    #[arg(long, value_name = "k1,k2", value_delimiter = ',')]
    pub on: Vec<String>,
    /// inner, left, right, outer (full) or union (the rows of both).
    #[arg(long, default_value = "inner")]
    pub how: String,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `rx partition <in> <outdir> --by k`.
#[derive(Debug, Args)]
pub struct PartitionArgs {
    /// Input file.
    pub input: PathBuf,
    /// Output directory (one .xdf file per key combination, and partitions.xdf).
    pub output: PathBuf,
    /// Key columns.
    #[arg(long, value_name = "k1,k2", value_delimiter = ',')]
    pub by: Vec<String>,
    /// Replace an existing set.
    #[arg(long)]
    pub overwrite: bool,
    /// Compression level of the files: 0 none, 1 LZ4 (default), 2-22 Zstandard.
    #[arg(long, value_name = "N")]
    pub compression: Option<u32>,
}

fn write_options(out: &OutputArgs) -> Result<WriteOptions> {
    if !out.col_type.is_empty()
        || !out.factor.is_empty()
        || !out.levels.is_empty()
        || out.strings_as_factors
    {
        return Err(Error::invalid(
            "--col-type, --factor, --levels and --strings-as-factors belong to rx import / rx datastep",
        ));
    }
    let mut w = WriteOptions {
        mode: out.mode(),
        rows_per_block: out.rows_per_block,
        ..WriteOptions::default()
    };
    if let Some(c) = out.compression {
        w.compression_level = c;
    }
    Ok(w)
}

fn source(path: &Path) -> Result<Arc<dyn DataSource>> {
    Ok(Arc::from(open_source(path, |t| t)?))
}

fn same(a: &Path, b: &Path) -> Result<()> {
    if a == b {
        return Err(Error::invalid(format!(
            "{}: an input is also the output; write to a new file",
            a.display()
        )));
    }
    Ok(())
}

pub fn run_sort(args: SortArgs) -> Result<()> {
    same(&args.input, &args.output)?;
    let mut options = SortOptions::by(parse_sort_keys(&args.by)?);
    options.missings_low = !args.missings_high;
    if let Some(mb) = args.memory_mb {
        options.memory_limit = mb.max(1) << 20;
    }
    if !args.keep.is_empty() {
        options.vars_to_keep = Some(args.keep.clone());
    }
    options.write = write_options(&args.out)?;
    let sink = open_sink(&args.output)?;
    let start = std::time::Instant::now();
    let res = rx_sort(source(&args.input)?, Some(sink.as_ref()), options)?;
    eprintln!(
        "rx sort: {} rows from {} to {} by {} in {:.2} s",
        res.rows,
        args.input.display(),
        args.output.display(),
        args.by,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn run_merge(args: MergeArgs) -> Result<()> {
    same(&args.left, &args.output)?;
    same(&args.right, &args.output)?;
    let how: MergeHow = args.how.parse()?;
    let mut options = MergeOptions::on(how, args.on.clone());
    options.write = write_options(&args.out)?;
    let sink = open_sink(&args.output)?;
    let start = std::time::Instant::now();
    let res = rx_merge(
        source(&args.left)?,
        source(&args.right)?,
        Some(sink.as_ref()),
        options,
    )?;
    eprintln!(
        "rx merge: {} rows ({how}) into {} in {:.2} s",
        res.rows,
        args.output.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn run_partition(args: PartitionArgs) -> Result<()> {
    let options = PartitionOptions {
        overwrite: args.overwrite,
        compression_level: args.compression,
    };
    let start = std::time::Instant::now();
    let parts = rx_partition(source(&args.input)?, &args.output, &args.by, &options)?;
    let rows: u64 = parts.iter().map(|p| p.rows).sum();
    eprintln!(
        "rx partition: {rows} rows into {} partitions in {} in {:.2} s",
        parts.len(),
        args.output.display(),
        start.elapsed().as_secs_f64()
    );
    for p in &parts {
        println!("{}\t{}", p.file, p.rows);
    }
    Ok(())
}
