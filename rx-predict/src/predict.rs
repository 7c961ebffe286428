//! `rx_predict_default`: predictions of a fitted model from any source into any sink, chunk by
//! chunk (each input chunk becomes one output chunk, so memory does not grow with the data).

use std::fmt;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Builder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rx_core::{
    DataSink, DataSource, Error, ReadOptions, Result, RxOptions, VarInfo, WriteMode, WriteOptions,
};
use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::scorer::{Score, Scorer};

/// The scale of the predictions (revoscalepy's `type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PredictType {
    /// The response's mean `g⁻¹(η)` (the default).
    #[default]
    Response,
    /// The linear predictor `η` (the same as the response for linear models).
    Link,
    /// Tree models (rpart's `vector`): the mean (regression) or the predicted class.
    Vector,
    /// Tree models: one probability column per class, `<y>_<level>_Prob` (classification).
    Prob,
    /// Tree models: the predicted class, as a factor with the response's levels.
    Class,
    /// Forests: one column of vote counts per class, `<y>_<level>_Vote` (classification).
    Vote,
}

impl std::str::FromStr for PredictType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "response" => Ok(PredictType::Response),
            "link" => Ok(PredictType::Link),
            "vector" => Ok(PredictType::Vector),
            "prob" => Ok(PredictType::Prob),
            "class" => Ok(PredictType::Class),
            "vote" => Ok(PredictType::Vote),
            _ => Err(Error::invalid(format!(
                "prediction type '{s}': use response, link, vector, prob, class or vote"
            ))),
        }
    }
}

/// Which interval to write (revoscalepy's `interval`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// No interval (the default).
    #[default]
    None,
    /// A confidence interval for the mean.
    Confidence,
    /// A prediction interval for a new observation (linear models only).
    Prediction,
}

/// Options of [`rx_predict_default`] (revoscalepy's arguments of `rx_predict_default`).
#[derive(Debug, Clone, PartialEq)]
pub struct PredictOptions {
    /// Response or link scale.
    pub predict_type: PredictType,
    /// Write `<y>_Resid`: observed minus predicted, on the response scale (missing where the
    /// response is missing or not in the data).
    pub compute_residuals: bool,
    /// Write `<y>_StdErr`, the standard error of the prediction.
    pub compute_std_errors: bool,
    /// Write `<y>_Lower` and `<y>_Upper`.
    pub interval: Interval,
    /// The interval's level (0.95).
    pub confidence_level: f64,
    /// Also write the data columns the model uses (the response when present, then the
    /// predictors).
    pub write_model_vars: bool,
    /// Also write these data columns (first, in this order).
    pub extra_vars_to_write: Vec<String>,
    /// The name of the prediction column instead of `<y>_Pred` (revoscalepy takes a list, one
    /// name per response; these models have one response).
    pub pred_var_names: Option<String>,
    /// The name of the residual column instead of `<y>_Resid`.
    pub resid_var_names: Option<String>,
    /// Replace the output if it exists.
    pub overwrite: bool,
    /// Chunking (`rows_per_read`) and output compression.
    pub rx: RxOptions,
}

impl Default for PredictOptions {
    fn default() -> Self {
        PredictOptions {
            predict_type: PredictType::Response,
            compute_residuals: false,
            compute_std_errors: false,
            interval: Interval::None,
            confidence_level: 0.95,
            write_model_vars: false,
            extra_vars_to_write: Vec::new(),
            pred_var_names: None,
            resid_var_names: None,
            overwrite: false,
            rx: RxOptions::default(),
        }
    }
}

impl PredictOptions {
    /// Response or link scale.
    pub fn predict_type(mut self, t: PredictType) -> Self {
        self.predict_type = t;
        self
    }
    /// Writes residuals.
    pub fn compute_residuals(mut self, yes: bool) -> Self {
        self.compute_residuals = yes;
        self
    }
    /// Writes standard errors.
    pub fn compute_std_errors(mut self, yes: bool) -> Self {
        self.compute_std_errors = yes;
        self
    }
    /// Writes an interval.
    pub fn interval(mut self, interval: Interval) -> Self {
        self.interval = interval;
        self
    }
    /// The interval's level.
    pub fn confidence_level(mut self, level: f64) -> Self {
        self.confidence_level = level;
        self
    }
    /// Also writes the model's variables.
    pub fn write_model_vars(mut self, yes: bool) -> Self {
        self.write_model_vars = yes;
        self
    }
    /// Also writes these columns.
    pub fn extra_vars_to_write<S: Into<String>>(
        mut self,
        cols: impl IntoIterator<Item = S>,
    ) -> Self {
        self.extra_vars_to_write = cols.into_iter().map(Into::into).collect();
        self
    }
    /// Names the prediction column.
    pub fn pred_var_names(mut self, name: impl Into<String>) -> Self {
        self.pred_var_names = Some(name.into());
        self
    }
    /// Names the residual column.
    pub fn resid_var_names(mut self, name: impl Into<String>) -> Self {
        self.resid_var_names = Some(name.into());
        self
    }
    /// Replaces an existing output.
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.overwrite = yes;
        self
    }
    /// Rows per chunk.
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rx = self.rx.rows_per_read(rows);
        self
    }
}

/// What [`rx_predict_default`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PredictSummary {
    /// The output's name.
    pub output: String,
    /// The columns written, in order.
    pub columns: Vec<String>,
    /// Rows written (every input row).
    pub rows: u64,
    /// Rows with a prediction.
    pub rows_predicted: u64,
    /// Rows whose predictions are missing because a variable the model uses is missing.
    pub rows_missing: u64,
    /// Chunks processed.
    pub chunks: u64,
}

impl fmt::Display for PredictSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} rows in {} chunks ({} predicted, {} with a missing predictor); columns: {}",
            self.output,
            self.rows,
            self.chunks,
            self.rows_predicted,
            self.rows_missing,
            self.columns.join(", ")
        )
    }
}

/// Where each output column comes from.
#[derive(Debug, Clone)]
enum OutCol {
    Copy(String),
    Pred,
    Resid,
    StdErr,
    Lower,
    Upper,
}

/// Predicts `model` on every row of `data` into `sink` (revoscalepy's `rx_predict_default`).
///
/// Each input chunk becomes one output chunk with, in this order: the `extra_vars_to_write`, the
/// model's variables (with `write_model_vars`), `<y>_Pred`, then as asked `<y>_Resid`,
/// `<y>_StdErr`, `<y>_Lower` and `<y>_Upper`, where `<y>` is the response as the formula
/// writes it (`mpg`, `log(mpg)`). Rows with a missing predictor get missing predictions (they are
/// kept, as R's `na.exclude`). See [`crate::scorer`] for the formulas of standard errors and
/// intervals.
pub fn rx_predict_default(
    model: &Model,
    data: &dyn DataSource,
    sink: &dyn DataSink,
    options: &PredictOptions,
) -> Result<PredictSummary> {
    rx_predict_with_progress(model, data, sink, options, &mut |_| {})
}

/// [`rx_predict_default`] calling `on_chunk` with the rows written so far after each chunk (for
/// a progress bar).
pub fn rx_predict_with_progress(
    model: &Model,
    data: &dyn DataSource,
    sink: &dyn DataSink,
    options: &PredictOptions,
    on_chunk: &mut dyn FnMut(u64),
) -> Result<PredictSummary> {
    if model.is_tree() {
        return crate::trees::predict_trees(model, data, sink, options, on_chunk);
    }
    let scorer = Scorer::with_options(model, options)?;
    let name = data.name();
    let schema = data.schema()?;
    for input in scorer.inputs() {
        if schema.field_with_name(input).is_err() {
            return Err(Error::unknown_column(input, &name, &schema));
        }
    }
    let design = scorer.design();
    let response_columns = design.response_columns();
    let has_response = !response_columns.is_empty()
        && response_columns
            .iter()
            .all(|c| schema.field_with_name(c).is_ok());
    let y = match (&design.response, &options.pred_var_names) {
        (Some(r), _) => r.name.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => {
            return Err(Error::invalid(format!(
                "the model '{}' has no response to name its predictions after; give pred_var_names",
                model.formula()
            )));
        }
    };
    if options.compute_residuals && design.response.is_none() {
        return Err(Error::invalid(format!(
            "the model '{}' has no response, so it has no residuals",
            model.formula()
        )));
    }

    // Output columns.
    let mut out: Vec<(String, OutCol)> = Vec::new();
    let copied = crate::predict::copied_columns(options, &schema, &name, design.columns(&[]))?;
    for c in &copied {
        out.push((c.clone(), OutCol::Copy(c.clone())));
    }
    let pred_name = options
        .pred_var_names
        .clone()
        .unwrap_or_else(|| format!("{y}_Pred"));
    out.push((pred_name, OutCol::Pred));
    if options.compute_residuals {
        let resid = options
            .resid_var_names
            .clone()
            .unwrap_or_else(|| format!("{y}_Resid"));
        out.push((resid, OutCol::Resid));
    }
    if options.compute_std_errors {
        out.push((format!("{y}_StdErr"), OutCol::StdErr));
    }
    if options.interval != crate::Interval::None {
        out.push((format!("{y}_Lower"), OutCol::Lower));
        out.push((format!("{y}_Upper"), OutCol::Upper));
    }
    crate::predict::check_unique_names(out.iter().map(|(n, _)| n.as_str()))?;

    // The output schema: copied fields keep their metadata (factor levels, descriptions).
    let scale = match options.predict_type {
        PredictType::Response => "",
        PredictType::Link => " (link scale)",
        _ => "",
    };
    let mut fields = Vec::with_capacity(out.len());
    for (n, src) in &out {
        let field = match src {
            OutCol::Copy(c) => {
                let f = schema
                    .field_with_name(c)
                    .map_err(|_| Error::unknown_column(c, &name, &schema))?;
                f.clone()
            }
            other => {
                let what = match other {
                    OutCol::Pred => format!("Predicted {y}{scale}"),
                    OutCol::Resid => format!("Residuals of {y} (observed - predicted)"),
                    OutCol::StdErr => format!("Standard errors of the predicted {y}{scale}"),
                    OutCol::Lower => format!(
                        "Lower {} {} limit of {y}{scale}",
                        options.confidence_level,
                        interval_word(options.interval)
                    ),
                    _ => format!(
                        "Upper {} {} limit of {y}{scale}",
                        options.confidence_level,
                        interval_word(options.interval)
                    ),
                };
                let f = Field::new(n, DataType::Float64, true);
                let mut info = VarInfo::from_field(&f);
                info.description = Some(format!(
                    "{what} from {} '{}'",
                    model.function_name(),
                    model.formula()
                ));
                info.apply_to_field(f)
            }
        };
        fields.push(field);
    }
    let out_schema = Arc::new(Schema::new(fields));

    // What to read.
    let residuals = options.compute_residuals && has_response;
    let mut read: Vec<String> = scorer.inputs().to_vec();
    let mut frame_columns = read.clone();
    if residuals {
        for c in &response_columns {
            if !frame_columns.contains(c) {
                frame_columns.push(c.clone());
            }
        }
    }
    for c in frame_columns.iter().chain(&copied) {
        if !read.contains(c) {
            read.push(c.clone());
        }
    }
    let reader = data.open(&ReadOptions {
        columns: Some(read),
        rows_per_read: Some(options.rx.rows_per_read),
        ..Default::default()
    })?;
    let write_options = crate::predict::write_options(options);
    let mut writer = sink.create(out_schema.clone(), &write_options)?;
    let mut summary = PredictSummary {
        output: sink.name(),
        columns: out.iter().map(|(n, _)| n.clone()).collect(),
        rows: 0,
        rows_predicted: 0,
        rows_missing: 0,
        chunks: 0,
    };
    for chunk in reader {
        let chunk = chunk?;
        let n = chunk.num_rows();
        let first_row = summary.rows;
        let frame_batch = project(&chunk, &frame_columns, &name)?;
        let frame = scorer.frame(&frame_batch, &name, first_row)?;
        let mut scores: Vec<Score> = Vec::with_capacity(n);
        scorer.score_frame(&frame, |_, s| scores.push(s));
        let predicted = scores.iter().filter(|s| s.pred.is_some()).count() as u64;
        summary.rows_predicted += predicted;
        summary.rows_missing += n as u64 - predicted;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(out.len());
        for (_, src) in &out {
            let array: ArrayRef = match src {
                OutCol::Copy(c) => chunk.column_by_name(c).cloned().ok_or_else(|| {
                    Error::invalid(format!(
                        "{name}: a chunk lacks the column '{c}' that was asked for"
                    ))
                })?,
                OutCol::Pred => floats(scores.iter().map(|s| s.pred)),
                OutCol::StdErr => floats(scores.iter().map(|s| s.std_err)),
                OutCol::Lower => floats(scores.iter().map(|s| s.lower)),
                OutCol::Upper => floats(scores.iter().map(|s| s.upper)),
                OutCol::Resid => match (&frame.response, residuals) {
                    (Some((y, _)), true) => floats(scores.iter().enumerate().map(|(r, s)| {
                        let mu = scorer.mean_of(s)?;
                        frame.has_response(r).then(|| y[r] - mu)
                    })),
                    _ => floats(std::iter::repeat_n(None, n)),
                },
            };
            arrays.push(array);
        }
        let batch = crate::predict::assemble_chunk(&out_schema, arrays, &name, first_row, n)?;
        writer.write(&batch)?;
        summary.rows += n as u64;
        summary.chunks += 1;
        on_chunk(summary.rows);
    }
    writer.finish()?;
    Ok(summary)
}

/// The data columns copied into the output: `extra_vars_to_write` (each must be in the data),
/// then, with `write_model_vars`, the model's columns that are in the data; each once.
pub(crate) fn copied_columns(
    options: &PredictOptions,
    schema: &Schema,
    name: &str,
    model_columns: Vec<String>,
) -> Result<Vec<String>> {
    let mut copied: Vec<String> = Vec::new();
    for c in &options.extra_vars_to_write {
        if schema.field_with_name(c).is_err() {
            return Err(Error::unknown_column(c, name, schema));
        }
        if !copied.contains(c) {
            copied.push(c.clone());
        }
    }
    if options.write_model_vars {
        for c in model_columns {
            if schema.field_with_name(&c).is_ok() && !copied.contains(&c) {
                copied.push(c);
            }
        }
    }
    Ok(copied)
}

/// Refuses two output columns of one name.
pub(crate) fn check_unique_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if seen.contains(&n) {
            return Err(Error::invalid(format!(
                "two output columns would be named '{n}'; rename with pred_var_names / resid_var_names or leave '{n}' out of extra_vars_to_write"
            )));
        }
        seen.push(n);
    }
    Ok(())
}

/// How predictions are written: create (or overwrite) with the options' compression.
pub(crate) fn write_options(options: &PredictOptions) -> WriteOptions {
    WriteOptions {
        mode: if options.overwrite {
            WriteMode::Overwrite
        } else {
            WriteMode::Create
        },
        compression_level: options.rx.compression_level,
        rows_per_block: None,
    }
}

/// One output chunk from its columns (each must have `n` rows), for input rows
/// `first_row + 1 ..= first_row + n` of `name`.
pub(crate) fn assemble_chunk(
    schema: &Arc<Schema>,
    arrays: Vec<ArrayRef>,
    name: &str,
    first_row: u64,
    n: usize,
) -> Result<RecordBatch> {
    for (field, array) in schema.fields().iter().zip(&arrays) {
        if array.len() != n {
            return Err(Error::invalid(format!(
                "internal error: output column '{}' has {} rows for a chunk of {n}",
                field.name(),
                array.len()
            )));
        }
    }
    RecordBatch::try_new(schema.clone(), arrays).map_err(|e| {
        Error::arrow(
            format!(
                "{name}: rows {}..{}: assembling the output chunk",
                first_row + 1,
                first_row + n as u64
            ),
            e,
        )
    })
}

fn interval_word(i: Interval) -> &'static str {
    match i {
        Interval::Prediction => "prediction",
        _ => "confidence",
    }
}

pub(crate) fn floats(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    let mut b = Float64Builder::new();
    for v in values {
        b.append_option(v);
    }
    Arc::new(b.finish())
}

/// `batch` reduced to `columns`.
pub(crate) fn project(
    batch: &RecordBatch,
    columns: &[String],
    source_name: &str,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut idx = Vec::with_capacity(columns.len());
    for c in columns {
        match schema.index_of(c) {
            Ok(i) => idx.push(i),
            Err(_) => return Err(Error::unknown_column(c, source_name, &schema)),
        }
    }
    batch
        .project(&idx)
        .map_err(|e| Error::arrow(format!("{source_name}: selecting the model's columns"), e))
}
