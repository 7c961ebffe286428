//! `rx summary <data> [--formula "~ a + b"]`: summary statistics (rx_summary), printed as
//! RevoScaleR prints them or as one JSON object.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{Error, Result};
use revoscale::models::summary::{SummaryOptions, SummaryStat, rx_summary};

#[derive(Debug, Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// The terms to summarise, e.g. "~ x + g", "y ~ g" (y by category of g), "~ y:g:F(n)".
    #[arg(long, short = 'f', default_value = "~ .")]
    pub formula: String,
    /// Probability weights column.
    #[arg(long, conflicts_with = "fweights")]
    pub pweights: Option<String>,
    /// Frequency weights column.
    #[arg(long)]
    pub fweights: Option<String>,
    /// Leave a row with a missing value in any term out of every term (revoscalepy's
    /// by_term = False).
    #[arg(long)]
    pub complete_rows: bool,
    /// Leave out factor levels and categories without valid observations.
    #[arg(long)]
    pub remove_zero_counts: bool,
    /// The statistics to print, e.g. `--stats Mean,StdDev,Sum` (default: all but Sum).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub stats: Vec<SummaryStat>,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// Prints the JSON text of a result (from `serde_json::to_string_pretty`) on stdout.
pub fn print_json(text: serde_json::Result<String>) -> Result<()> {
    let text = text.map_err(|e| Error::external("printing JSON", e))?;
    println!("{text}");
    Ok(())
}

pub fn run(args: SummaryArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let mut options = SummaryOptions::default()
        .by_term(!args.complete_rows)
        .remove_zero_counts(args.remove_zero_counts);
    options.pweights = args.pweights.clone();
    options.fweights = args.fweights.clone();
    if !args.stats.is_empty() {
        options = options.summary_stats(args.stats.iter().copied());
    }
    if let Some(n) = args.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = args.context.get()?;
    #[cfg(feature = "odbc")]
    let summary = match crate::context::in_database(&context, &args.db)? {
        Some((indb, db)) => indb.summary(&args.formula, &db, &options)?,
        None => rx_summary(&args.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let summary = rx_summary(&args.formula, data.as_ref(), &options, &context)?;
    if args.json {
        return print_json(serde_json::to_string_pretty(&summary));
    }
    print!("{summary}");
    Ok(())
}
