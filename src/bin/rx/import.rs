//! `rx import <in> <out>`: any supported file to any other, chunk by chunk.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use revoscale::core::{
    ColType, ColumnInfoMap, Error, ReadOptions, Result, WriteMode, WriteOptions,
};

use revoscale::data::TextData;

use crate::sources::{Kind, kind_of, open_sink, open_source, progress};
use crate::step::{StepArgs, run_step};

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Input file (.csv, .tsv, .txt, .parquet, .xdf or a composite .xdf directory); with
    /// `--odbc ... --query Q` the only file named is the output, with `--odbc ... --table T` it is
    /// the input written into the table.
    pub input: Option<PathBuf>,
    /// Output file (.csv, .tsv, .txt, .parquet, .xdf).
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// Field delimiter of text input (sniffed when not given), e.g. `--delimiter ';'` or `--delimiter tab`.
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<String>,
    /// Text input has no header row (detected when not given).
    #[arg(long)]
    pub no_header: bool,
    /// Missing-value string of text input (default NA; empty fields are missing too).
    #[arg(long, value_name = "STRING")]
    pub na: Option<String>,
    /// Rows of text input used to sniff column types.
    #[arg(long, value_name = "N")]
    pub rows_to_sniff: Option<usize>,
    /// Turn values that do not parse into missing values (and report how many) instead of failing.
    #[arg(long)]
    pub bad_values_as_missing: bool,
    #[command(flatten)]
    pub step: StepArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How output columns are typed and how the output is written (shared by `rx import` and `rx
/// datastep`).
#[derive(Debug, Args, Default)]
pub struct OutputArgs {
    /// Column type, e.g. `--col-type Late=logical` (numeric, integer, int64, factor, character, Date, ...).
    #[arg(long = "col-type", value_name = "NAME=TYPE")]
    pub col_type: Vec<String>,
    /// Make a column a factor (levels in order of appearance).
    #[arg(long = "factor", value_name = "NAME")]
    pub factor: Vec<String>,
    /// Factor levels of a column, in code order; other values are an error.
    #[arg(long = "levels", value_name = "NAME=a,b,c")]
    pub levels: Vec<String>,
    /// Make every string column a factor.
    #[arg(long)]
    pub strings_as_factors: bool,
    /// Rows per block of the output (and per chunk read).
    #[arg(long, value_name = "N")]
    pub rows_per_block: Option<usize>,
    /// Compression level of .xdf output: 0 none, 1 LZ4 (default), 2-22 Zstandard.
    #[arg(long, value_name = "N")]
    pub compression: Option<u32>,
    /// Add the rows to an existing output.
    #[arg(long, conflicts_with = "overwrite")]
    pub append: bool,
    /// Replace an existing output.
    #[arg(long)]
    pub overwrite: bool,
}

impl OutputArgs {
    /// Create, overwrite or append.
    pub fn mode(&self) -> WriteMode {
        if self.append {
            WriteMode::Append
        } else if self.overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::Create
        }
    }
}

fn split_pair<'a>(s: &'a str, flag: &str) -> Result<(&'a str, &'a str)> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| Error::invalid(format!("{flag} '{s}': expected NAME=VALUE")))
}

/// Column info from the command-line flags.
pub fn column_info_of(args: &OutputArgs) -> Result<ColumnInfoMap> {
    let mut map: ColumnInfoMap = BTreeMap::new();
    for s in &args.col_type {
        let (name, t) = split_pair(s, "--col-type")?;
        let t: ColType = t.parse()?;
        map.entry(name.to_string()).or_default().col_type = Some(t);
    }
    for name in &args.factor {
        let e = map.entry(name.clone()).or_default();
        if e.col_type.is_none_or(|t| !t.is_factor()) {
            e.col_type = Some(ColType::Factor);
        }
    }
    for s in &args.levels {
        let (name, levels) = split_pair(s, "--levels")?;
        let levels: Vec<String> = levels.split(',').map(str::to_string).collect();
        let e = map.entry(name.to_string()).or_default();
        *e = e.clone().with_levels(levels);
    }
    Ok(map)
}

fn delimiter(s: &str) -> Result<u8> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        s if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(Error::invalid(format!(
            "--delimiter '{s}': give one ASCII character or 'tab'"
        ))),
    }
}

pub fn run(args: ImportArgs) -> Result<()> {
    if args.db.is_set() {
        return run_db(args);
    }
    let (Some(input), Some(output)) = (args.input.clone(), args.output.clone()) else {
        return Err(Error::invalid(
            "rx import needs an input and an output (or a database: --odbc ... --query Q <out>, --odbc ... --table T <in>)",
        ));
    };
    let info = column_info_of(&args.out)?;
    let delim = args.delimiter.as_deref().map(delimiter).transpose()?;
    let in_kind = kind_of(&input)?;
    if in_kind != Kind::Text
        && (delim.is_some() || args.no_header || args.na.is_some() || args.rows_to_sniff.is_some())
    {
        return Err(Error::invalid(
            "--delimiter, --no-header, --na and --rows-to-sniff apply to text input only",
        ));
    }
    let mut counter = None;
    let source = open_source(&input, |mut t| {
        if let Some(d) = delim {
            t = t.delimiter(d);
        }
        if args.no_header {
            t = t.has_header(false);
        }
        if let Some(na) = &args.na {
            t = t.missing_value_string(na.clone());
        }
        if let Some(n) = args.rows_to_sniff {
            t = t.rows_to_sniff(n);
        }
        if let Some(n) = args.out.rows_per_block {
            t = t.rows_per_read(n);
        }
        t = t
            .column_info(info.clone())
            .strings_as_factors(args.out.strings_as_factors)
            .bad_values_as_missing(args.bad_values_as_missing);
        counter = Some(t.clone());
        t
    })?;
    if input == output {
        return Err(Error::invalid("the input and the output are the same file"));
    }
    let sink = open_sink(&output)?;
    copy(
        &args,
        source,
        sink,
        in_kind,
        info,
        counter,
        &input.display().to_string(),
        &output.display().to_string(),
    )
}

/// A database on one side: `--query` (or `--table` with no file) reads it into the file named,
/// `--table` with a file writes the file into the table.
fn run_db(args: ImportArgs) -> Result<()> {
    if args.output.is_some() {
        return Err(Error::invalid(
            "with a database, name one file: the output (--query) or the input to write into --table",
        ));
    }
    let Some(file) = args.input.clone() else {
        return Err(Error::invalid(
            "name the file to import into or to export from",
        ));
    };
    let info = column_info_of(&args.out)?;
    if args.db.query.is_some() {
        // Database → file.
        let source = args
            .db
            .source()?
            .ok_or_else(|| Error::invalid("no database source"))?;
        let sink = open_sink(&file)?;
        let from = source.name();
        return copy(
            &args,
            source,
            sink,
            Kind::Parquet,
            info,
            None,
            &from,
            &file.display().to_string(),
        );
    }
    // File → database table.
    let in_kind = kind_of(&file)?;
    let source = open_source(&file, |t| {
        t.column_info(info.clone())
            .strings_as_factors(args.out.strings_as_factors)
    })?;
    let sink = args.db.sink()?;
    let to = sink.name();
    copy(
        &args,
        source,
        sink,
        in_kind,
        info,
        None,
        &file.display().to_string(),
        &to,
    )
}

/// Copies `source` into `sink`: as a data step when rows or columns change, else chunk by chunk.
#[allow(clippy::too_many_arguments)]
fn copy(
    args: &ImportArgs,
    source: Box<dyn revoscale::core::DataSource>,
    sink: Box<dyn revoscale::core::DataSink>,
    in_kind: Kind,
    info: ColumnInfoMap,
    counter: Option<TextData>,
    from: &str,
    to: &str,
) -> Result<()> {
    // Row selections, transforms, column choices and conversions of .xdf or Parquet columns run as
    // a data step; a plain import is a straight copy.
    if args.step.is_active()
        || (in_kind != Kind::Text && (!info.is_empty() || args.out.strings_as_factors))
    {
        let step_info = if in_kind == Kind::Text {
            ColumnInfoMap::new()
        } else {
            info
        };
        run_step(
            "import",
            Arc::from(source),
            sink.as_ref(),
            args.step.options()?,
            step_info,
            &args.out,
        )?;
        report_bad_values(counter);
        return Ok(());
    }
    let mut wopts = WriteOptions {
        mode: args.out.mode(),
        rows_per_block: args.out.rows_per_block,
        ..WriteOptions::default()
    };
    if let Some(c) = args.out.compression {
        wopts.compression_level = c;
    }
    let schema = source.schema()?;
    let bar = progress(source.num_rows()?, "importing");
    let reader = source.open(&ReadOptions::default())?;
    let writer = sink.create(schema, &wopts)?;
    let start = std::time::Instant::now();
    let rows = revoscale::core::copy_chunks(reader, writer, |b| bar.inc(b.num_rows() as u64))?;
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();
    eprintln!("rx import: {rows} rows from {from} to {to} in {secs:.2} s");
    report_bad_values(counter);
    Ok(())
}

fn report_bad_values(counter: Option<TextData>) {
    if let Some(t) = counter {
        let n = t.bad_value_count();
        if n > 0 {
            eprintln!("rx import: {n} values did not parse and were read as missing");
        }
    }
}
