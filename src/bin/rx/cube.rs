//! `rx cube <data> --formula F` and `rx crosstabs <data> --formula F`: counts, sums and means
//! per cell of factor combinations (rx_cube, rx_crosstabs), printed as RevoScaleR prints them or
//! as one JSON object; `rx cube --out FILE` writes the long-form cube to any supported file.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{Result, WriteOptions};
use revoscale::models::cube::{CrossTabsOptions, CubeOptions, rx_crosstabs, rx_cube};

use crate::sources::open_sink;
use crate::summary::print_json;

#[derive(Debug, Args)]
pub struct CubeArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// One interaction of factors, optionally with a numeric response: "y ~ A:B", "~ A:F(n)".
    #[arg(long, short = 'f')]
    pub formula: String,
    /// Sums of the response instead of means.
    #[arg(long)]
    pub sums: bool,
    /// Leave out the cells without valid observations.
    #[arg(long)]
    pub remove_zero_counts: bool,
    /// Probability weights column.
    #[arg(long, conflicts_with = "fweights")]
    pub pweights: Option<String>,
    /// Frequency weights column.
    #[arg(long)]
    pub fweights: Option<String>,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Write the cube (one row per cell) to this file (.csv, .tsv, .parquet, .xdf).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists.
    #[arg(long, requires = "out")]
    pub overwrite: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run_cube(args: CubeArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let mut options = CubeOptions::default()
        .means(!args.sums)
        .remove_zero_counts(args.remove_zero_counts);
    options.pweights = args.pweights.clone();
    options.fweights = args.fweights.clone();
    if let Some(n) = args.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = args.context.get()?;
    #[cfg(feature = "odbc")]
    let cube = match crate::context::in_database(&context, &args.db)? {
        Some((indb, db)) => indb.cube(&args.formula, &db, &options)?,
        None => rx_cube(&args.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let cube = rx_cube(&args.formula, data.as_ref(), &options, &context)?;
    if let Some(out) = &args.out {
        let mut write = WriteOptions::default();
        if args.overwrite {
            write = write.overwrite();
        }
        let rows = cube.write(open_sink(out)?.as_ref(), &write)?;
        if !args.json {
            eprintln!("rx: wrote {rows} cells to {}", out.display());
        }
    }
    if args.json {
        return print_json(serde_json::to_string_pretty(&cube));
    }
    print!("{cube}");
    Ok(())
}

#[derive(Debug, Args)]
pub struct CrossTabsArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// Terms of factors, optionally with a numeric response: "~ A:B", "y ~ A:B + C".
    #[arg(long, short = 'f')]
    pub formula: String,
    /// Means of the response instead of sums.
    #[arg(long)]
    pub means: bool,
    /// Print row and column totals.
    #[arg(long)]
    pub marginals: bool,
    /// Pearson's chi-square test of independence of each two-way table.
    #[arg(long)]
    pub chisq: bool,
    /// Probability weights column.
    #[arg(long, conflicts_with = "fweights")]
    pub pweights: Option<String>,
    /// Frequency weights column.
    #[arg(long)]
    pub fweights: Option<String>,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run_crosstabs(args: CrossTabsArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let mut options = CrossTabsOptions::default()
        .means(args.means)
        .marginals(args.marginals)
        .chisq_test(args.chisq);
    options.pweights = args.pweights.clone();
    options.fweights = args.fweights.clone();
    if let Some(n) = args.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = args.context.get()?;
    #[cfg(feature = "odbc")]
    let tabs = match crate::context::in_database(&context, &args.db)? {
        Some((indb, db)) => indb.crosstabs(&args.formula, &db, &options)?,
        None => rx_crosstabs(&args.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let tabs = rx_crosstabs(&args.formula, data.as_ref(), &options, &context)?;
    if args.json {
        return print_json(serde_json::to_string_pretty(&tabs));
    }
    print!("{tabs}");
    Ok(())
}
