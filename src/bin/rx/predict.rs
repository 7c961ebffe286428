//! `rx predict <model> <data> <out>`: predictions of a saved model (rx_predict_default) from any
//! data file into any data file, or as CSV on stdout with `-`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use clap::{Args, ValueEnum};
use revoscale::arrow::datatypes::SchemaRef;
use revoscale::arrow::record_batch::RecordBatch;
use revoscale::core::{ChunkWriter, DataSink, Error, Result, RxOptions, WriteMode, WriteOptions};
use revoscale::data::TextData;
use revoscale::predict::{
    Interval, PredictOptions, PredictType, rx_load_model, rx_predict_with_progress,
};

use crate::sources::{open_sink, open_source, progress};

/// The scale of the predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TypeArg {
    /// The response's mean.
    Response,
    /// The linear predictor.
    Link,
    /// Tree models: the mean or the predicted class (rpart's vector).
    Vector,
    /// Tree models: one probability column per class.
    Prob,
    /// Tree models: the predicted class.
    Class,
    /// Forests: the votes per class.
    Vote,
}

/// The interval to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IntervalArg {
    /// For the mean.
    Confidence,
    /// For a new observation (linear models).
    Prediction,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The saved model (from `rx linmod --save`: .rxm binary or JSON).
    pub model: PathBuf,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt).
    pub data: PathBuf,
    /// The output (.xdf, .parquet, .csv/.tsv/.txt by extension), or `-` for CSV on stdout.
    pub out: String,
    /// Predictions on the response scale (the default) or the link scale.
    #[arg(long = "type", value_enum, default_value = "response")]
    pub predict_type: TypeArg,
    /// Also write residuals (observed minus predicted), `<y>_Resid`.
    #[arg(long)]
    pub residuals: bool,
    /// Also write standard errors, `<y>_StdErr`.
    #[arg(long)]
    pub std_errors: bool,
    /// Also write interval limits, `<y>_Lower` and `<y>_Upper`.
    #[arg(long, value_enum)]
    pub interval: Option<IntervalArg>,
    /// The interval's level.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Data columns to copy into the output, e.g. `--keep id,date`.
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub keep: Vec<String>,
    /// Also copy the columns the model uses (response and predictors).
    #[arg(long)]
    pub model_vars: bool,
    /// The name of the prediction column instead of `<y>_Pred`.
    #[arg(long, value_name = "NAME")]
    pub pred_name: Option<String>,
    /// The name of the residual column instead of `<y>_Resid`.
    #[arg(long, value_name = "NAME")]
    pub resid_name: Option<String>,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Print the summary as one JSON object (not with `-`, where stdout is the data).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let model = rx_load_model(&args.model)?;
    let data = open_source(&args.data, |t| t)?;
    let mut options = PredictOptions::default()
        .predict_type(match args.predict_type {
            TypeArg::Response => PredictType::Response,
            TypeArg::Link => PredictType::Link,
            TypeArg::Vector => PredictType::Vector,
            TypeArg::Prob => PredictType::Prob,
            TypeArg::Class => PredictType::Class,
            TypeArg::Vote => PredictType::Vote,
        })
        .compute_residuals(args.residuals)
        .compute_std_errors(args.std_errors)
        .interval(match args.interval {
            None => Interval::None,
            Some(IntervalArg::Confidence) => Interval::Confidence,
            Some(IntervalArg::Prediction) => Interval::Prediction,
        })
        .confidence_level(args.level)
        .extra_vars_to_write(args.keep.iter().filter(|k| !k.is_empty()))
        .write_model_vars(args.model_vars)
        .overwrite(args.overwrite);
    options.pred_var_names = args.pred_name.clone();
    options.resid_var_names = args.resid_name.clone();
    if let Some(n) = args.rows_per_read {
        options.rx = RxOptions::default().rows_per_read(n);
    }
    let to_stdout = args.out == "-";
    let sink: Box<dyn DataSink> = if to_stdout {
        Box::new(StdoutCsv)
    } else {
        open_sink(Path::new(&args.out))?
    };
    let bar = progress(data.num_rows()?, "predicting");
    let summary = rx_predict_with_progress(
        &model,
        data.as_ref(),
        sink.as_ref(),
        &options,
        &mut |rows| bar.set_position(rows),
    );
    bar.finish_and_clear();
    let summary = summary?;
    if to_stdout {
        return Ok(());
    }
    if args.json {
        let text = serde_json::to_string_pretty(&summary)
            .map_err(|e| Error::external("printing JSON", e))?;
        println!("{text}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

/// CSV on standard output, formatted exactly as a .csv file output: each chunk is written by
/// [`TextData`] to a scratch file, then copied to stdout without its header (printed once).
#[derive(Debug)]
struct StdoutCsv;

impl DataSink for StdoutCsv {
    fn name(&self) -> String {
        "standard output".into()
    }

    fn create(&self, schema: SchemaRef, _options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        let dir = ScratchDir::new()?;
        let path = dir.path.join("chunk.csv");
        // The header, from an output with no rows.
        let empty = TextData::new(&path).create(schema.clone(), &overwrite())?;
        empty.finish()?;
        let header = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let mut out = std::io::stdout().lock();
        out.write_all(&header)
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("standard output", e))?;
        Ok(Box::new(StdoutWriter {
            _dir: dir,
            path,
            schema,
            header,
            rows: 0,
        }))
    }
}

fn overwrite() -> WriteOptions {
    WriteOptions {
        mode: WriteMode::Overwrite,
        ..WriteOptions::default()
    }
}

struct StdoutWriter {
    /// Removed when the writer is dropped.
    _dir: ScratchDir,
    path: PathBuf,
    schema: SchemaRef,
    header: Vec<u8>,
    rows: u64,
}

impl ChunkWriter for StdoutWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut w = TextData::new(&self.path).create(self.schema.clone(), &overwrite())?;
        w.write(batch)?;
        w.finish()?;
        let text = std::fs::read(&self.path).map_err(|e| Error::io(&self.path, e))?;
        let body = text.strip_prefix(self.header.as_slice()).ok_or_else(|| {
            Error::invalid("internal error: a CSV chunk does not start with the header")
        })?;
        let mut out = std::io::stdout().lock();
        out.write_all(body)
            .and_then(|_| out.flush())
            .map_err(|e| Error::io("standard output", e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        Ok(self.rows)
    }
}

/// A private scratch directory in the system's temporary directory, removed on drop.
struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    fn new() -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = base.join(format!("rx-predict-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        Ok(ScratchDir { path })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
