//! `rx datastep <in> <out>` and the row/column flags `rx import` shares with it: a SQL row
//! selection, SQL transforms, kept and dropped columns, a range of rows, re-blocking and missing
//! values, run by rx-etl on DataFusion, chunk by chunk.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use revoscale::core::{ColumnInfoMap, DataSink, DataSource, Error, Result};
use revoscale::etl::{DataStepOptions, Transform, rx_data_step};

use crate::import::{OutputArgs, column_info_of};
use crate::sources::{open_sink, open_source};

/// Row and column flags of a data step.
#[derive(Debug, Args, Default)]
pub struct StepArgs {
    /// Keep the rows where this SQL predicate is true, e.g.
    /// `--where "ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')"`.
    #[arg(long = "where", value_name = "SQL")]
    pub row_selection: Option<String>,
    /// Create or replace a column: `--transform "Late = ArrDelay > 15"` (repeatable; each sees the
    /// ones before it, and `--where` sees them all).
    #[arg(long = "transform", value_name = "NAME = EXPR")]
    pub transforms: Vec<String>,
    /// Output only these columns (plus columns made by --transform).
    #[arg(long, value_name = "a,b", value_delimiter = ',')]
    pub keep: Vec<String>,
    /// Leave these columns out.
    #[arg(long, value_name = "c,d", value_delimiter = ',')]
    pub drop: Vec<String>,
    /// Read this many input rows (from --start-row).
    #[arg(long = "rows", value_name = "N")]
    pub number_rows: Option<u64>,
    /// First input row to read (1-based).
    #[arg(long, value_name = "N")]
    pub start_row: Option<u64>,
    /// Drop rows with a missing value (null or NaN) in any output column.
    #[arg(long)]
    pub remove_missings: bool,
}

impl StepArgs {
    /// True when any flag asks for more than a plain copy.
    pub fn is_active(&self) -> bool {
        self.row_selection.is_some()
            || !self.transforms.is_empty()
            || !self.keep.is_empty()
            || !self.drop.is_empty()
            || self.number_rows.is_some()
            || self.start_row.is_some()
            || self.remove_missings
    }

    /// The data step's options.
    pub fn options(&self) -> Result<DataStepOptions> {
        let mut o = DataStepOptions {
            row_selection: self.row_selection.clone(),
            transforms: self
                .transforms
                .iter()
                .map(|t| t.parse::<Transform>())
                .collect::<Result<_>>()?,
            vars_to_drop: self.drop.clone(),
            start_row: self.start_row,
            number_rows: self.number_rows,
            remove_missings: self.remove_missings,
            ..DataStepOptions::default()
        };
        if !self.keep.is_empty() {
            o.vars_to_keep = Some(self.keep.clone());
        }
        Ok(o)
    }
}

/// `rx datastep <in> <out>`.
#[derive(Debug, Args)]
pub struct DataStepArgs {
    /// Input file (.csv, .tsv, .txt, .parquet, .xdf or a composite .xdf directory).
    pub input: PathBuf,
    /// Output file (.csv, .tsv, .txt, .parquet, .xdf).
    pub output: PathBuf,
    #[command(flatten)]
    pub step: StepArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Runs a data step from a source to a sink and reports it on stderr.
pub fn run_step(
    what: &str,
    input: Arc<dyn DataSource>,
    sink: &dyn DataSink,
    mut options: DataStepOptions,
    info: ColumnInfoMap,
    out: &OutputArgs,
) -> Result<u64> {
    options.column_info = info;
    options.strings_as_factors = out.strings_as_factors;
    options.rows_per_read = out.rows_per_block;
    options.write.mode = out.mode();
    if let Some(c) = out.compression {
        options.write.compression_level = c;
    }
    let start = std::time::Instant::now();
    let name = input.name();
    let res = rx_data_step(input, Some(sink), options)?;
    eprintln!(
        "rx {what}: {} rows from {name} to {} in {:.2} s",
        res.rows,
        sink.name(),
        start.elapsed().as_secs_f64()
    );
    Ok(res.rows)
}

pub fn run(args: DataStepArgs) -> Result<()> {
    if args.input == args.output {
        return Err(Error::invalid(
            "the input and the output are the same file; write to a new file",
        ));
    }
    let info = column_info_of(&args.out)?;
    let source: Arc<dyn DataSource> = Arc::from(open_source(&args.input, |t| t)?);
    let sink = open_sink(&args.output)?;
    run_step(
        "datastep",
        source,
        sink.as_ref(),
        args.step.options()?,
        info,
        &args.out,
    )?;
    Ok(())
}
