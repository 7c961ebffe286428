//! `rx_data_step` and `rx_import`: a source, through a streaming DataFusion plan, into a sink.
//!
//! What happens to each row, in order (the order RevoScaleR's `rxDataStep` documents):
//!
//! 1. `start_row` / `number_rows` pick a range of the input rows;
//! 2. `transforms` (`NAME = SQL expression`) create or replace columns, each seeing the ones before;
//! 3. `row_selection` (a SQL predicate, which may use transformed columns) keeps rows;
//! 4. `vars_to_keep` / `vars_to_drop` choose the output columns (columns created by transforms are
//!    kept unless dropped; a transform or selection may use any input column either way);
//! 5. `remove_missings` drops rows with a missing value (null or NaN) in an output column;
//! 6. `column_info` and `strings_as_factors` convert output columns (types, factor levels, new
//!    levels, names, descriptions);
//! 7. the Rust `transform_function` sees each chunk;
//! 8. the output is re-blocked to `rows_per_read` rows and written.
//!
//! Nothing is collected: the plan streams chunk by chunk, so memory is bounded by the chunk size. On
//! any error the sink's writer is dropped unfinished, so no half-written output is left looking
//! valid (an output being overwritten stays as it was).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::logical_expr::{Expr, ExprSchemable, col};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::DataFrame;
use rx_core::column_info::ColumnConverter;
use rx_core::varinfo::{META_HIGH, META_LEVELS, META_LOW};
use rx_core::{
    ChunkReader, ColType, ColumnInfo, ColumnInfoMap, DataSink, DataSource, Error, Result,
    WriteBehind, WriteMode, WriteOptions,
};
use rx_data::{MemoryData, MemorySink};

use crate::engine::{Engine, df_error};
use crate::table::SourceTable;

/// One SQL transform: `name = expr` creates column `name` (or replaces it, in place).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transform {
    /// The column created or replaced.
    pub name: String,
    /// A DataFusion SQL expression over the input columns and earlier transforms.
    pub expr: String,
}

impl Transform {
    /// `name = expr`.
    pub fn new(name: impl Into<String>, expr: impl Into<String>) -> Self {
        Transform {
            name: name.into(),
            expr: expr.into(),
        }
    }
}

impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}", self.name, self.expr)
    }
}

impl FromStr for Transform {
    type Err = Error;

    /// Parses `NAME = EXPR` (the name may be double-quoted: `"Arr Delay" = ...`).
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "transform '{s}': {why}; write it as NAME = EXPRESSION, e.g. \"Late = ArrDelay > 15\""
            ))
        };
        let (name, expr) = match s.trim_start().strip_prefix('"') {
            Some(rest) => {
                let (name, after) = rest.split_once('"').ok_or_else(|| bad("unclosed quote"))?;
                let expr = after
                    .trim_start()
                    .strip_prefix('=')
                    .ok_or_else(|| bad("no '=' after the name"))?;
                (name.to_string(), expr)
            }
            None => {
                let (name, expr) = s.split_once('=').ok_or_else(|| bad("no '='"))?;
                let name = name.trim();
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
                {
                    return Err(bad(&format!(
                        "'{name}' is not a column name (quote names with other characters)"
                    )));
                }
                (name.to_string(), expr)
            }
        };
        if expr.starts_with('=') {
            return Err(bad("'==' is a comparison; use a single '=' after the name"));
        }
        if expr.trim().is_empty() {
            return Err(bad("the expression is empty"));
        }
        Ok(Transform::new(name, expr.trim()))
    }
}

/// Where a chunk is, for a [`TransformFn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// 0-based index of the chunk.
    pub index: usize,
    /// Rows of output before this chunk.
    pub first_row: u64,
}

/// A Rust transform over each chunk (revoscalepy's `transform_function`; the state it needs,
/// `transform_objects` there, is whatever the closure captures).
pub type TransformFn = Box<dyn FnMut(RecordBatch, &ChunkInfo) -> Result<RecordBatch> + Send>;

/// What `rx_data_step` / `rx_import` do (revoscalepy's arguments).
#[derive(Default)]
pub struct DataStepOptions {
    /// Output only these columns (of the input; transform outputs are added).
    pub vars_to_keep: Option<Vec<String>>,
    /// Leave these columns out of the output.
    pub vars_to_drop: Vec<String>,
    /// A SQL predicate; rows where it is true are kept (false and null drop the row).
    pub row_selection: Option<String>,
    /// SQL transforms, in order.
    pub transforms: Vec<Transform>,
    /// Conversions of output columns: type, factor levels, new levels, new name, description.
    pub column_info: ColumnInfoMap,
    /// 1-based first input row to read.
    pub start_row: Option<u64>,
    /// Input rows to read (from `start_row`).
    pub number_rows: Option<u64>,
    /// Rows per chunk read and per block written.
    pub rows_per_read: Option<usize>,
    /// Create (default), overwrite or append, and the compression level.
    pub write: WriteOptions,
    /// Drop rows with a missing value in any output column.
    pub remove_missings: bool,
    /// Output string columns as factors (levels in order of appearance).
    pub strings_as_factors: bool,
    /// A Rust function applied to each output chunk.
    pub transform_function: Option<TransformFn>,
}

impl fmt::Debug for DataStepOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataStepOptions")
            .field("vars_to_keep", &self.vars_to_keep)
            .field("vars_to_drop", &self.vars_to_drop)
            .field("row_selection", &self.row_selection)
            .field("transforms", &self.transforms)
            .field("column_info", &self.column_info)
            .field("start_row", &self.start_row)
            .field("number_rows", &self.number_rows)
            .field("rows_per_read", &self.rows_per_read)
            .field("write", &self.write)
            .field("remove_missings", &self.remove_missings)
            .field("strings_as_factors", &self.strings_as_factors)
            .field(
                "transform_function",
                &self.transform_function.as_ref().map(|_| "<fn>"),
            )
            .finish()
    }
}

impl DataStepOptions {
    /// Keeps only these input columns (plus transform outputs).
    pub fn vars_to_keep<S: Into<String>>(mut self, vars: impl IntoIterator<Item = S>) -> Self {
        self.vars_to_keep = Some(vars.into_iter().map(Into::into).collect());
        self
    }

    /// Drops these columns.
    pub fn vars_to_drop<S: Into<String>>(mut self, vars: impl IntoIterator<Item = S>) -> Self {
        self.vars_to_drop = vars.into_iter().map(Into::into).collect();
        self
    }

    /// Keeps the rows where this SQL predicate is true.
    pub fn row_selection(mut self, predicate: impl Into<String>) -> Self {
        self.row_selection = Some(predicate.into());
        self
    }

    /// Adds the transform `name = expr`.
    pub fn transform(mut self, name: impl Into<String>, expr: impl Into<String>) -> Self {
        self.transforms.push(Transform::new(name, expr));
        self
    }

    /// Adds transforms written as `NAME = EXPR`.
    pub fn transforms<'a>(mut self, specs: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        for s in specs {
            self.transforms.push(s.parse()?);
        }
        Ok(self)
    }

    /// Sets how output column `name` is converted.
    pub fn column_info(mut self, name: impl Into<String>, info: ColumnInfo) -> Self {
        self.column_info.insert(name.into(), info);
        self
    }

    /// Starts at this 1-based input row.
    pub fn start_row(mut self, row: u64) -> Self {
        self.start_row = Some(row);
        self
    }

    /// Reads this many input rows.
    pub fn number_rows(mut self, n: u64) -> Self {
        self.number_rows = Some(n);
        self
    }

    /// Chunks (and output blocks) of this many rows.
    pub fn rows_per_read(mut self, n: usize) -> Self {
        self.rows_per_read = Some(n);
        self
    }

    /// Replaces an existing output.
    pub fn overwrite(mut self) -> Self {
        self.write.mode = WriteMode::Overwrite;
        self
    }

    /// Appends rows to an existing output.
    pub fn append(mut self) -> Self {
        self.write.mode = WriteMode::Append;
        self
    }

    /// The output's compression level (.xdf: 0 none, 1 LZ4, 2+ Zstandard).
    pub fn compression_level(mut self, level: u32) -> Self {
        self.write.compression_level = level;
        self
    }

    /// Drops rows with missing values.
    pub fn remove_missings(mut self, yes: bool) -> Self {
        self.remove_missings = yes;
        self
    }

    /// Makes string output columns factors.
    pub fn strings_as_factors(mut self, yes: bool) -> Self {
        self.strings_as_factors = yes;
        self
    }

    /// A Rust function applied to each output chunk; it may add, drop or change columns, but every
    /// chunk it returns must have the same columns and types.
    pub fn transform_function(
        mut self,
        f: impl FnMut(RecordBatch, &ChunkInfo) -> Result<RecordBatch> + Send + 'static,
    ) -> Self {
        self.transform_function = Some(Box::new(f));
        self
    }
}

/// What a data step produced.
#[derive(Debug)]
pub struct StepOutput {
    /// Rows written by this step.
    pub rows: u64,
    /// The data, when no output sink was given.
    pub data: Option<MemoryData>,
}

/// Imports `input` into `output` (or into memory when `output` is `None`): revoscalepy's
/// `rx_import`. The same as [`rx_data_step`]; `column_info` converts columns after they are read
/// (for text files, give it to [`rx_data::TextData::column_info`] to read them that way instead).
pub fn rx_import(
    input: Arc<dyn DataSource>,
    output: Option<&dyn DataSink>,
    options: DataStepOptions,
) -> Result<StepOutput> {
    rx_data_step(input, output, options)
}

/// Runs a data step from `input` to `output` (or into memory when `output` is `None`).
pub fn rx_data_step(
    input: Arc<dyn DataSource>,
    output: Option<&dyn DataSink>,
    mut options: DataStepOptions,
) -> Result<StepOutput> {
    let reader = data_step_reader(input, &mut options)?;
    let mut write = options.write.clone();
    if write.rows_per_block.is_none() {
        write.rows_per_block = options.rows_per_read;
    }
    deliver(reader, output, &write)
}

/// Writes `reader` into `output`, or collects it in memory when there is no output.
pub(crate) fn deliver(
    reader: ChunkReader,
    output: Option<&dyn DataSink>,
    write: &WriteOptions,
) -> Result<StepOutput> {
    match output {
        Some(sink) => Ok(StepOutput {
            rows: write_chunks(reader, sink, write)?,
            data: None,
        }),
        None => {
            let sink = MemorySink::new();
            let rows = write_chunks(reader, &sink, write)?;
            Ok(StepOutput {
                rows,
                data: sink.to_memory_data()?,
            })
        }
    }
}

/// Writes a stream of chunks whose first chunk fixes the schema (a stream always yields at least
/// one chunk, possibly empty, so the output exists even when no row is selected).
pub(crate) fn write_chunks(
    mut reader: ChunkReader,
    sink: &dyn DataSink,
    write: &WriteOptions,
) -> Result<u64> {
    let first = match reader.next() {
        Some(b) => b?,
        None => {
            return Err(Error::invalid(
                "internal error: a data step yielded no chunk",
            ));
        }
    };
    // Written on a thread of its own: the output's encoding overlaps the plan's next chunk.
    let mut writer = WriteBehind::start(sink.create(first.schema(), write)?)?;
    let mut rows = first.num_rows() as u64;
    if rows > 0 {
        writer.write(first)?;
    }
    for b in reader {
        let b = b?;
        rows += b.num_rows() as u64;
        writer.write(b)?;
    }
    // A sink reports the rows it holds (an appended-to file: all of them); the step's are these.
    writer.finish()?;
    Ok(rows)
}

/// The data step as a chunk stream (planned now, so every error in the expressions is reported
/// before anything is written).
pub fn data_step_reader(
    input: Arc<dyn DataSource>,
    options: &mut DataStepOptions,
) -> Result<ChunkReader> {
    let engine = Engine::ordered(options.rows_per_read)?;
    let table = SourceTable::new(input.clone())?.with_rows_per_read(options.rows_per_read);
    let in_schema = datafusion::catalog::TableProvider::schema(&table);
    let name = input.name();
    let mut df = engine.table(table)?;

    if options.start_row.is_some() || options.number_rows.is_some() {
        let start = options.start_row.unwrap_or(1);
        if start == 0 {
            return Err(Error::invalid(
                "start_row is 1-based: the first row is 1, not 0",
            ));
        }
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        let fetch = options
            .number_rows
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        df = df
            .limit(skip, fetch)
            .map_err(|e| df_error("start_row / number_rows", e))?;
    }

    let mut created: BTreeSet<String> = BTreeSet::new();
    for t in &options.transforms {
        let what = format!("transform '{t}'");
        let e = parse_expr(&df, &t.expr, &what)?;
        df = df.with_column(&t.name, e).map_err(|e| df_error(&what, e))?;
        created.insert(t.name.clone());
    }

    if let Some(sel) = &options.row_selection {
        let what = format!("row selection '{sel}'");
        let e = parse_expr(&df, sel, &what)?;
        let t = e.get_type(df.schema()).map_err(|e| df_error(&what, e))?;
        if !matches!(t, DataType::Boolean | DataType::Null) {
            return Err(Error::invalid(format!(
                "{what}: the expression is of type {t}, not a condition; compare it, e.g. \"{sel} > 0\""
            )));
        }
        df = df.filter(e).map_err(|e| df_error(&what, e))?;
    }

    let names: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let unknown = |n: &str| Error::UnknownColumn {
        name: n.to_string(),
        source_name: name.clone(),
        available: names.clone(),
    };
    if let Some(keep) = &options.vars_to_keep {
        for k in keep {
            if !names.contains(k) {
                return Err(unknown(k));
            }
        }
    }
    for d in &options.vars_to_drop {
        if !names.contains(d) {
            return Err(unknown(d));
        }
    }
    let out: Vec<&str> = names
        .iter()
        .filter(|n| {
            options
                .vars_to_keep
                .as_ref()
                .is_none_or(|k| k.contains(n) || created.contains(*n))
                && !options.vars_to_drop.contains(n)
        })
        .map(String::as_str)
        .collect();
    if out.is_empty() {
        return Err(Error::invalid(
            "vars_to_keep / vars_to_drop leave no column to write",
        ));
    }
    df = df
        .select_columns(&out)
        .map_err(|e| df_error("choosing the output columns", e))?;

    if options.remove_missings {
        let schema = df.schema().clone();
        if let Some(pred) = not_missing(&schema) {
            df = df
                .filter(pred)
                .map_err(|e| df_error("remove_missings", e))?;
        }
    }

    let passed = |n: &str| {
        if created.contains(n) {
            None
        } else {
            in_schema.field_with_name(n).ok().cloned()
        }
    };
    plan_chunks(
        engine,
        df,
        &name,
        &passed,
        &options.column_info,
        options.strings_as_factors,
        options.transform_function.take(),
    )
}

/// Runs a planned DataFrame as a chunk stream: every output column gets back the variable metadata
/// of the input field it passes through (`passed(name)`, used when the type is unchanged), then the
/// `column_info` conversions, `strings_as_factors` and the transform function apply.
pub(crate) fn plan_chunks(
    engine: Engine,
    df: DataFrame,
    name: &str,
    passed: &dyn Fn(&str) -> Option<Field>,
    column_info: &ColumnInfoMap,
    strings_as_factors: bool,
    function: Option<TransformFn>,
) -> Result<ChunkReader> {
    let out: Vec<String> = df
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    for k in column_info.keys() {
        if !out.contains(k) {
            return Err(Error::UnknownColumn {
                name: k.clone(),
                source_name: format!("the output of {name} (column_info)"),
                available: out,
            });
        }
    }
    let stream = engine.execute(df)?;
    let fields = output_fields(&stream.schema(), passed);
    let mut columns = Vec::with_capacity(fields.len());
    for f in &fields {
        let info = column_info.get(f.name()).cloned().or_else(|| {
            (strings_as_factors
                && matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ))
            .then(|| ColumnInfo::default().with_type(ColType::Factor))
        });
        columns.push(match info {
            Some(info) => Column::Convert(Box::new(ColumnConverter::new(f, Some(&info), name)?)),
            None => Column::Keep(f.clone()),
        });
    }
    Ok(Box::new(StepChunks {
        engine,
        stream,
        columns,
        function,
        function_schema: None,
        index: 0,
        rows: 0,
        yielded: false,
        done: false,
    }))
}

/// Parses a SQL expression against the columns so far, quoting it in the error.
fn parse_expr(df: &DataFrame, sql: &str, what: &str) -> Result<Expr> {
    df.parse_sql_expr(sql).map_err(|e| df_error(what, e))
}

/// `c1 IS NOT NULL AND NOT isnan(c2) ...` over every column (NaN is missing in revoscale).
fn not_missing(schema: &DFSchema) -> Option<Expr> {
    schema
        .fields()
        .iter()
        .map(|f| {
            let c = col(datafusion::common::Column::from_name(f.name()));
            let present = c.clone().is_not_null();
            if matches!(
                f.data_type(),
                DataType::Float16 | DataType::Float32 | DataType::Float64
            ) {
                present.and(std::ops::Not::not(
                    datafusion::functions::math::expr_fn::isnan(c),
                ))
            } else {
                present
            }
        })
        .reduce(Expr::and)
}

/// The plan's output fields with the input's variable metadata put back: a column that passes
/// through (`passed(name)` is its input field, of the same type) keeps its description, factor
/// levels, ordering and value labels. Low/high are dropped: the sink recomputes them from what it
/// writes.
fn output_fields(plan: &SchemaRef, passed: &dyn Fn(&str) -> Option<Field>) -> Vec<Field> {
    plan.fields()
        .iter()
        .map(|f| {
            let mut meta = match passed(f.name()) {
                Some(i) if i.data_type() == f.data_type() => i.metadata().clone(),
                _ => f.metadata().clone(),
            };
            meta.remove(META_LOW);
            meta.remove(META_HIGH);
            if !matches!(f.data_type(), DataType::Dictionary(..)) {
                meta.remove(META_LEVELS);
            }
            Field::new(f.name(), f.data_type().clone(), true).with_metadata(meta)
        })
        .collect()
}

/// One output column: passed through, or converted by its `column_info`.
#[derive(Debug)]
enum Column {
    Keep(Field),
    Convert(Box<ColumnConverter>),
}

/// The data step's output chunks.
struct StepChunks {
    engine: Engine,
    stream: SendableRecordBatchStream,
    columns: Vec<Column>,
    function: Option<TransformFn>,
    function_schema: Option<SchemaRef>,
    index: usize,
    rows: u64,
    /// A chunk was yielded (an empty stream still yields one empty chunk, to fix the schema).
    yielded: bool,
    done: bool,
}

impl StepChunks {
    fn convert(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut fields = Vec::with_capacity(self.columns.len());
        let mut arrays = Vec::with_capacity(self.columns.len());
        for (c, a) in self.columns.iter_mut().zip(batch.columns()) {
            match c {
                Column::Keep(f) => {
                    fields.push(f.clone());
                    arrays.push(a.clone());
                }
                Column::Convert(conv) => {
                    let out = conv.convert(a, self.rows)?;
                    fields.push(conv.field().clone());
                    arrays.push(out);
                }
            }
        }
        let batch = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            arrays,
            &datafusion::arrow::record_batch::RecordBatchOptions::new()
                .with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| Error::arrow("assembling a data step chunk", e))?;
        let Some(f) = self.function.as_mut() else {
            return Ok(batch);
        };
        let info = ChunkInfo {
            index: self.index,
            first_row: self.rows,
        };
        let out = f(batch, &info)?;
        match &self.function_schema {
            None => self.function_schema = Some(out.schema()),
            Some(s) => {
                let same = s.fields().len() == out.num_columns()
                    && s.fields()
                        .iter()
                        .zip(out.schema().fields())
                        .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
                if !same {
                    return Err(Error::Schema(format!(
                        "the transform function returned columns [{}] for chunk {} but [{}] for the first chunk; \
                         every chunk must have the same columns and types",
                        describe(&out.schema()),
                        self.index + 1,
                        describe(s)
                    )));
                }
            }
        }
        Ok(out)
    }

    fn next_chunk(&mut self) -> Option<Result<RecordBatch>> {
        loop {
            let next = self.engine.next(&mut self.stream)?;
            let batch = match next {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            // Empty chunks (a block where no row is selected) are skipped.
            if batch.num_rows() == 0 {
                continue;
            }
            let out = self.convert(&batch);
            self.index += 1;
            self.rows += batch.num_rows() as u64;
            return Some(out);
        }
    }
}

fn describe(s: &Schema) -> String {
    s.fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Iterator for StepChunks {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_chunk() {
            Some(Ok(b)) => {
                self.yielded = true;
                Some(Ok(b))
            }
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            None => {
                self.done = true;
                if self.yielded {
                    return None;
                }
                // No row at all: one empty chunk carries the schema to the sink.
                self.yielded = true;
                let empty = RecordBatch::new_empty(self.stream.schema());
                Some(self.convert(&empty))
            }
        }
    }
}
