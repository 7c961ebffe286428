//! Delimited text files (revoscalepy's `RxTextData`): a chunked source that sniffs the format and
//! decodes in parallel with arrow-csv, and an atomic CSV sink.
//!
//! Reading sniffs, from the first [`TextData::rows_to_sniff`] rows, the delimiter (`,` `\t` `;`
//! `|`; `.tsv` files default to tab), whether the first row is a header, and each column's type:
//! logical (`TRUE`/`FALSE`/`T`/`F`), integer (`int32` when every sniffed value fits, else `int64`),
//! `float64`, `Date` (`YYYY-MM-DD`), timestamp (`YYYY-MM-DD HH:MM:SS[.fff]`, microseconds), else
//! character. `column_info`, `column_classes` and `strings_as_factors` then change types, names,
//! levels and metadata.
//!
//! Missing values: the missing-value string (`NA`) is missing in every column; an empty field is
//! missing in non-string columns and an empty string in string columns. So CSV written by this
//! sink (missing as `NA`, empty strings as empty fields) reads back exactly, with two limits: a
//! string that equals the missing-value string reads back as missing, and a string column whose
//! values all look like numbers reads back as numbers unless `column_classes` says otherwise.
//!
//! Header detection (when [`TextData::has_header`] is not set), as revoscalepy does it: the first
//! row is a header when one of its fields is text where the other rows give its column a
//! non-string type, or when all its fields are text and the other rows hold numbers. A file of
//! only text columns is therefore read as having no header unless told (columns `V1`, `V2`, ...);
//! a file of a single row of text is a header with no data.
//!
//! Factors get their levels in order of first appearance (after any levels given in
//! `column_info`); every chunk's dictionary is the whole level table known when it is made.
//!
//! Errors name the file, the line (1-based, in the file, counting quoted line breaks) and the
//! column, and say what to do. With [`TextData::bad_values_as_missing`], values that do not parse
//! (and values outside given factor levels) become missing and are counted in a counter shared by
//! the clones of the [`TextData`] ([`TextData::bad_value_count`], [`TextData::bad_values`]); rows
//! with the wrong number of fields are always errors.

mod read;
mod scan;
mod simple;
mod sniff;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::datatypes::{DataType, Schema, SchemaRef};
use rx_core::{
    ChunkReader, ChunkWriter, ColType, ColumnInfoMap, DataSink, DataSource, Error, ReadOptions,
    Result, WriteOptions,
};

use read::{BadValues, ColKind, ColPlan, Plan, TextReader};
use sniff::{SniffSettings, Sniffed};

/// A delimited text file as a data source and sink (revoscalepy's `RxTextData`).
///
/// ```no_run
/// use rx_core::{DataSource, ReadOptions};
/// use rx_data::TextData;
///
/// let src = TextData::new("flights.csv").strings_as_factors(true).rows_per_read(100_000);
/// for chunk in src.open(&ReadOptions::default().columns(["ArrDelay", "DayOfWeek"]))? {
///     let chunk = chunk?;
///     println!("{} rows", chunk.num_rows());
/// }
/// println!("{} bad values read as missing", src.bad_value_count());
/// # Ok::<(), rx_core::Error>(())
/// ```
///
/// The format is sniffed on first use and kept (clones share it, and the bad-value counter); the
/// builder methods return a value that sniffs again, and writing the file through this value
/// (as a [`DataSink`]) makes it sniff again on the next read.
#[derive(Debug, Clone)]
pub struct TextData {
    path: PathBuf,
    delimiter: Option<u8>,
    has_header: Option<bool>,
    rows_to_sniff: usize,
    missing_value_string: String,
    quote: u8,
    column_info: ColumnInfoMap,
    column_classes: BTreeMap<String, ColType>,
    strings_as_factors: bool,
    /// `None`: chosen from the file's size ([`TextData::rows_per_read`]).
    rows_per_read: Option<usize>,
    bad_values_as_missing: bool,
    precision: Option<usize>,
    bad: Arc<BadValues>,
    /// The sniffed format, shared by clones; cleared when this value writes the file.
    layout: LayoutCache,
}

/// The sniffed layout of a file, kept until the file is written through this [`TextData`].
#[derive(Debug, Clone, Default)]
pub(crate) struct LayoutCache(Arc<Mutex<Option<Arc<Layout>>>>);

impl LayoutCache {
    fn get(&self) -> Option<Arc<Layout>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, layout: Arc<Layout>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(layout);
    }

    /// Forgets the layout (the file changed).
    pub(crate) fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// The sniffed format plus the per-column read plans.
#[derive(Debug)]
struct Layout {
    sniffed: Sniffed,
    cols: Vec<ColPlan>,
    schema: SchemaRef,
}

/// Bad values that were read as missing (with [`TextData::bad_values_as_missing`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BadValueReport {
    /// How many values were turned into missing values.
    pub count: u64,
    /// The first few (at most 20), as `file: line N, column 'X': value 'v'`.
    pub examples: Vec<String>,
}

/// What sniffing found in a text file (see [`TextData::format`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TextFormat {
    /// Field delimiter.
    pub delimiter: u8,
    /// Whether the first row holds the column names.
    pub has_header: bool,
    /// Column names as in the file (made unique), before `column_info` renames.
    pub names: Vec<String>,
    /// Sniffed type per column (`Boolean` for logicals, `Utf8` for character), before overrides.
    pub sniffed_types: Vec<DataType>,
    /// How many data rows were sniffed.
    pub sniffed_rows: usize,
}

impl TextData {
    /// A text file at `path`, with every setting sniffed or at its default.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        TextData {
            path: path.into(),
            delimiter: None,
            has_header: None,
            rows_to_sniff: 10_000,
            missing_value_string: "NA".into(),
            quote: b'"',
            column_info: ColumnInfoMap::new(),
            column_classes: BTreeMap::new(),
            strings_as_factors: false,
            rows_per_read: None,
            bad_values_as_missing: false,
            precision: None,
            bad: Arc::new(BadValues::default()),
            layout: LayoutCache::default(),
        }
    }

    fn changed(mut self) -> Self {
        self.layout = LayoutCache::default();
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The field delimiter (otherwise sniffed among `,` `\t` `;` `|`; `.tsv` files use tab).
    pub fn delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = Some(delimiter);
        self.changed()
    }

    /// Whether the first row holds the column names (otherwise detected: it does when some of its
    /// fields do not parse as the type the other rows give their column, or when all its fields are
    /// text while the data rows have numbers).
    pub fn has_header(mut self, has_header: bool) -> Self {
        self.has_header = Some(has_header);
        self.changed()
    }

    /// Rows read to sniff the format and column types (default 10,000; at least 1).
    pub fn rows_to_sniff(mut self, rows: usize) -> Self {
        self.rows_to_sniff = rows.max(1);
        self.changed()
    }

    /// The text of a missing value (default `NA`); an empty field is also missing in non-string
    /// columns.
    pub fn missing_value_string(mut self, na: impl Into<String>) -> Self {
        self.missing_value_string = na.into();
        self.changed()
    }

    /// The quote character (default `"`).
    pub fn quote(mut self, quote: u8) -> Self {
        self.quote = quote;
        self.changed()
    }

    /// revoscalepy's `column_info`: per file column name, a type, new name, levels, new levels,
    /// description or low/high.
    pub fn column_info(mut self, info: ColumnInfoMap) -> Self {
        self.column_info = info;
        self.changed()
    }

    /// revoscalepy's `column_classes`: per file column name, a type (`column_info` types win).
    pub fn column_classes(mut self, classes: BTreeMap<String, ColType>) -> Self {
        self.column_classes = classes;
        self.changed()
    }

    /// Reads string columns as factors (default false).
    pub fn strings_as_factors(mut self, yes: bool) -> Self {
        self.strings_as_factors = yes;
        self.changed()
    }

    /// Rows per chunk when [`ReadOptions::rows_per_read`] is not given. The default is
    /// 500,000 rows (revoscalepy's), or a tenth of the file's estimated rows when that is
    /// less, but not under 50,000: an import to .xdf encodes and writes each chunk while the
    /// next one is parsed, and only the last chunk's encoding is left when the parse ends, so
    /// a file of a million rows in two chunks spent a quarter of its import on that tail.
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rows_per_read = Some(rows.max(1));
        self
    }

    /// Reads values that do not parse as their column's type as missing and counts them (see
    /// [`TextData::bad_value_count`]) instead of failing (default false). Rows with the wrong
    /// number of fields are always an error.
    pub fn bad_values_as_missing(mut self, yes: bool) -> Self {
        self.bad_values_as_missing = yes;
        self
    }

    /// Significant digits of floats when writing (default: the shortest text that reads back as
    /// the same number).
    pub fn precision(mut self, digits: usize) -> Self {
        self.precision = Some(digits.clamp(1, 17));
        self
    }

    /// How many bad values readers of this source (and its clones) have read as missing since it
    /// was created or [`TextData::reset_bad_values`] was called.
    pub fn bad_value_count(&self) -> u64 {
        self.bad.count()
    }

    /// The count and the first few bad values read as missing.
    pub fn bad_values(&self) -> BadValueReport {
        BadValueReport {
            count: self.bad.count(),
            examples: self.bad.examples(),
        }
    }

    /// Sets the bad-value count back to zero.
    pub fn reset_bad_values(&self) {
        self.bad.reset();
    }

    /// The sniffed format: delimiter, header, names and types.
    pub fn format(&self) -> Result<TextFormat> {
        let l = self.layout()?;
        Ok(TextFormat {
            delimiter: l.sniffed.delimiter,
            has_header: l.sniffed.has_header,
            names: l.sniffed.names.clone(),
            sniffed_types: l.sniffed.types.clone(),
            sniffed_rows: l.sniffed.sniffed_rows,
        })
    }

    fn name_str(&self) -> String {
        self.path.display().to_string()
    }

    fn layout(&self) -> Result<Arc<Layout>> {
        if let Some(l) = self.layout.get() {
            return Ok(l);
        }
        let name = self.name_str();
        let sniffed = sniff::sniff(
            &self.path,
            &name,
            &SniffSettings {
                delimiter: self.delimiter,
                has_header: self.has_header,
                rows_to_sniff: self.rows_to_sniff,
                quote: self.quote,
                na: &self.missing_value_string,
            },
        )?;
        let cols = self.plan_columns(&sniffed)?;
        let fields = cols
            .iter()
            .map(|c| c.converter(&name).map(|conv| conv.field().clone()))
            .collect::<Result<Vec<_>>>()?;
        let schema = Arc::new(Schema::new(fields));
        let names: HashSet<&String> = schema.fields().iter().map(|f| f.name()).collect();
        if names.len() != schema.fields().len() {
            return Err(Error::invalid(format!(
                "{name}: column_info gives two columns the same name; the names would be: {}",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let layout = Arc::new(Layout {
            sniffed,
            cols,
            schema,
        });
        self.layout.set(layout.clone());
        Ok(layout)
    }

    /// Combines the sniffed types with `column_info`, `column_classes` and `strings_as_factors`.
    fn plan_columns(&self, sn: &Sniffed) -> Result<Vec<ColPlan>> {
        let name = self.name_str();
        for key in self.column_info.keys().chain(self.column_classes.keys()) {
            if !sn.names.contains(key) {
                return Err(Error::UnknownColumn {
                    name: key.clone(),
                    source_name: name,
                    available: sn.names.clone(),
                });
            }
        }
        let mut cols = Vec::with_capacity(sn.names.len());
        for (col_name, sniffed_type) in sn.names.iter().zip(&sn.types) {
            let mut info = self.column_info.get(col_name).cloned().unwrap_or_default();
            if info.col_type.is_none() {
                info.col_type = self.column_classes.get(col_name).copied();
            }
            let is_text = *sniffed_type == DataType::Utf8;
            if info.col_type.is_none() && info.levels.is_some() {
                info.col_type = Some(ColType::Factor);
            }
            if info.col_type.is_none() && self.strings_as_factors && is_text {
                info.col_type = Some(ColType::Factor);
            }
            let sniffed = info.col_type.is_none();
            let (kind, factor) = match info.col_type {
                Some(ColType::Factor | ColType::Ordered) => (
                    ColKind::Text {
                        empty_is_missing: !is_text,
                    },
                    true,
                ),
                Some(ColType::Character) => (
                    ColKind::Text {
                        empty_is_missing: false,
                    },
                    false,
                ),
                Some(ColType::Logical) => (ColKind::Logical, false),
                Some(t) => (ColKind::Native(t.data_type()), false),
                None => match sniffed_type {
                    DataType::Utf8 => (
                        ColKind::Text {
                            empty_is_missing: false,
                        },
                        false,
                    ),
                    DataType::Boolean => (ColKind::Logical, false),
                    dt => (ColKind::Native(dt.clone()), false),
                },
            };
            let fixed_levels = info
                .levels
                .as_ref()
                .filter(|_| factor)
                .map(|l| Arc::new(l.iter().cloned().collect::<HashSet<_>>()));
            cols.push(ColPlan {
                name: col_name.clone(),
                kind,
                factor,
                fixed_levels,
                sniffed,
                info,
            });
        }
        Ok(cols)
    }

    fn out_cfg(&self) -> write::TextOut {
        write::TextOut {
            path: self.path.clone(),
            delimiter: self.delimiter,
            quote: self.quote,
            na: self.missing_value_string.clone(),
            precision: self.precision,
        }
    }
}

impl DataSource for TextData {
    fn name(&self) -> String {
        self.name_str()
    }

    fn schema(&self) -> Result<SchemaRef> {
        Ok(self.layout()?.schema.clone())
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let layout = self.layout()?;
        let name = self.name_str();
        let proj =
            crate::util::resolve_projection(&layout.schema, options.columns.as_deref(), &name)?;
        let sn = &layout.sniffed;
        let plan = Plan::new(
            name,
            sn.delimiter,
            self.quote,
            self.missing_value_string.clone(),
            &layout.cols,
            proj,
            self.bad_values_as_missing,
            self.bad.clone(),
            sn.na_in_typed,
            sn.sniffed_rows,
        )?;
        let rows = options
            .rows_per_read
            .or(self.rows_per_read)
            .unwrap_or_else(|| default_rows_per_read(&self.path, sn));
        let reader = TextReader::new(
            plan,
            self.path.clone(),
            sn.data_start,
            sn.data_start_line,
            rows,
        )?;
        Ok(Box::new(reader))
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    fn split(&self, _n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        Ok(vec![Box::new(self.clone())])
    }
}

/// Rows per chunk when neither the read nor the source sets them: 500,000, or a tenth of the
/// file's estimated rows (its data bytes over the sniffed bytes per row) when that is less, but
/// at least 50,000 (see [`TextData::rows_per_read`]).
fn default_rows_per_read(path: &Path, sniffed: &Sniffed) -> usize {
    const MAX: usize = 500_000;
    const MIN: usize = 50_000;
    let data_bytes = std::fs::metadata(path)
        .map(|m| m.len().saturating_sub(sniffed.data_start))
        .unwrap_or(u64::MAX);
    if sniffed.bytes_per_row <= 0.0 {
        return MAX;
    }
    let rows = data_bytes as f64 / sniffed.bytes_per_row;
    ((rows / 10.0) as usize).clamp(MIN, MAX)
}

impl DataSink for TextData {
    fn name(&self) -> String {
        self.name_str()
    }

    /// Writes CSV: a header, the delimiter (given, or tab for `.tsv`, else comma), factors as their
    /// level text, missing values as the missing-value string, empty strings as empty fields,
    /// dates and timestamps in ISO form, floats in shortest round-trip form or with
    /// [`TextData::precision`] significant digits. `Create` fails when the file exists,
    /// `Overwrite` replaces it atomically, `Append` adds rows (without a header) to an existing
    /// file whose header must match.
    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        let cfg = self.out_cfg();
        let existing = || -> Result<(Vec<String>, u8)> {
            let name = self.name_str();
            let sn = sniff::sniff(
                &self.path,
                &name,
                &SniffSettings {
                    delimiter: self.delimiter,
                    has_header: Some(true),
                    rows_to_sniff: 1,
                    quote: self.quote,
                    na: &self.missing_value_string,
                },
            )?;
            Ok((sn.names, sn.delimiter))
        };
        Ok(Box::new(write::TextWriter::create(
            &cfg,
            schema,
            options,
            existing,
            self.layout.clone(),
        )?))
    }
}
