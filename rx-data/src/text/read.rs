//! Reading delimited text.
//!
//! A reading thread takes the file in blocks (4 MiB), cuts each block into pieces (about 1 MiB)
//! at record boundaries (newlines outside quotes), counts their lines, and hands each piece to the
//! rayon pool, where arrow-csv's typed decoder turns it into record batches. The consumer (the
//! chunk iterator) takes the pieces' results in file order, puts factor columns on the stream's
//! level tables (so levels get codes in order of appearance and a code means the same level in
//! every chunk), and re-chunks the rows to `rows_per_read`.
//!
//! The fast path decodes every column straight to its type, with an empty field as missing. When a
//! piece does not decode that way (a missing-value string such as `NA` in a numeric column, a bad
//! value, a ragged row), it is decoded again with every column as text and converted column by
//! column with arrow's casts, which finds the exact line, column and value of a problem (or, with
//! `bad_values_as_missing`, turns bad values into missing and counts them). Once a piece needed
//! that path for missing-value strings, later pieces take it directly.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, DictionaryArray, RecordBatchOptions, StringArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::csv::reader::Decoder;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use rx_core::column_info::ColumnConverter;
use rx_core::factor::factor_type;
use rx_core::{ColumnInfo, Error, Result};

use super::scan::{count_newlines, line_of_record, split_pieces, walk_records};
use super::simple::{self, SimplePlan};
use super::sniff::{parse_logical, ragged_error};
use crate::util::{ChunkAssembler, remap_factor_parts};

/// How a column's text becomes values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ColKind {
    /// Strings: the missing-value string is missing; an empty field is an empty string unless
    /// `empty_is_missing` (for factors made from columns that sniffed as non-string).
    Text {
        /// An empty field is missing rather than `""`.
        empty_is_missing: bool,
    },
    /// R logicals (`TRUE`/`FALSE`/`T`/`F`).
    Logical,
    /// A type arrow-csv decodes directly (numbers, dates, timestamps).
    Native(DataType),
}

/// How one column of the file is read.
#[derive(Debug, Clone)]
pub(crate) struct ColPlan {
    /// Name in the file.
    pub name: String,
    /// How its text becomes values.
    pub kind: ColKind,
    /// Whether it becomes a factor.
    pub factor: bool,
    /// For factors with given levels: the allowed values.
    pub fixed_levels: Option<Arc<HashSet<String>>>,
    /// Whether the type was sniffed (not given by the user); only for messages.
    pub sniffed: bool,
    /// The effective column info (from `column_info`, `column_classes`, `strings_as_factors`).
    pub info: ColumnInfo,
}

impl ColPlan {
    /// The type arrow-csv decodes the column to on the fast path.
    fn decode_type(&self) -> DataType {
        match &self.kind {
            ColKind::Text { .. } | ColKind::Logical => DataType::Utf8,
            ColKind::Native(dt) => dt.clone(),
        }
    }

    /// The type after per-piece processing.
    pub(crate) fn stage_type(&self) -> DataType {
        if self.factor {
            return factor_type();
        }
        match &self.kind {
            ColKind::Text { .. } => DataType::Utf8,
            ColKind::Logical => DataType::Boolean,
            ColKind::Native(dt) => dt.clone(),
        }
    }

    /// The converter that applies the column info (name, metadata, factor level table).
    pub(crate) fn converter(&self, source: &str) -> Result<ColumnConverter> {
        ColumnConverter::new(
            &Field::new(&self.name, self.stage_type(), true),
            Some(&self.info),
            source,
        )
    }
}

/// Bad values turned into missing values, shared by a [`super::TextData`] and its readers.
#[derive(Debug, Default)]
pub(crate) struct BadValues {
    count: AtomicU64,
    examples: Mutex<Vec<String>>,
}

/// How many bad values are described in [`super::BadValueReport::examples`].
pub(crate) const MAX_EXAMPLES: usize = 20;

impl BadValues {
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    pub(crate) fn examples(&self) -> Vec<String> {
        self.examples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.examples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    fn room(&self) -> usize {
        MAX_EXAMPLES.saturating_sub(
            self.examples
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
        )
    }

    fn add(&self, n: u64, examples: Vec<String>) {
        self.count.fetch_add(n, Ordering::Relaxed);
        let mut ex = self.examples.lock().unwrap_or_else(|e| e.into_inner());
        for e in examples {
            if ex.len() < MAX_EXAMPLES {
                ex.push(e);
            }
        }
    }
}

static NEXT_PLAN_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The fast-path decoder of the plan this thread last decoded for.
    static FAST_DECODER: RefCell<Option<(u64, Decoder)>> = const { RefCell::new(None) };
}

/// Everything a piece decoder needs; shared by the parallel tasks of one reader.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The file, for messages.
    pub name: String,
    pub delimiter: u8,
    pub quote: u8,
    pub na: String,
    /// Columns read, in output order.
    pub cols: Vec<ColPlan>,
    /// Their indexes in the file.
    pub proj: Vec<usize>,
    /// All column names of the file (for messages about ragged rows).
    pub file_names: Vec<String>,
    pub bad_as_missing: bool,
    pub bad: Arc<BadValues>,
    /// Set once a piece needed the slow path for missing-value strings: later pieces go there
    /// directly.
    pub slow: AtomicBool,
    pub sniffed_rows: usize,
    /// Tells this plan's cached decoders from other plans'.
    id: u64,
    fast_schema: SchemaRef,
    slow_schema: SchemaRef,
    stage_schema: SchemaRef,
    /// The fast path's own splitter and parsers, when every column read is text, an integer or
    /// a double ([`super::simple`]).
    simple: Option<SimplePlan>,
}

impl Plan {
    /// A plan reading `proj` (file column indexes) of a file whose columns are `all`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        name: String,
        delimiter: u8,
        quote: u8,
        na: String,
        all: &[ColPlan],
        proj: Vec<usize>,
        bad_as_missing: bool,
        bad: Arc<BadValues>,
        slow: bool,
        sniffed_rows: usize,
    ) -> Result<Self> {
        let mut cols = Vec::with_capacity(proj.len());
        for &i in &proj {
            cols.push(
                all.get(i)
                    .cloned()
                    .ok_or_else(|| Error::invalid(format!("{name}: column {i} out of range")))?,
            );
        }
        let fast_schema = Arc::new(Schema::new(
            all.iter()
                .enumerate()
                .map(|(i, c)| {
                    let dt = if proj.contains(&i) {
                        c.decode_type()
                    } else {
                        DataType::Utf8
                    };
                    Field::new(format!("c{i}"), dt, true)
                })
                .collect::<Vec<_>>(),
        ));
        let slow_schema = Arc::new(Schema::new(
            (0..all.len())
                .map(|i| Field::new(format!("c{i}"), DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let stage_schema = Arc::new(Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, c)| Field::new(format!("p{i}"), c.stage_type(), true))
                .collect::<Vec<_>>(),
        ));
        let simple = (delimiter != quote && delimiter != b'\n' && delimiter != b'\r')
            .then(|| -> Option<SimplePlan> {
                let mut slots = vec![None; all.len()];
                for (slot, &i) in proj.iter().enumerate() {
                    let kind = simple::Kind::of(fast_schema.field(i).data_type())?;
                    *slots.get_mut(i)? = Some((slot, kind));
                }
                Some(SimplePlan {
                    delimiter,
                    quote,
                    slots,
                    schema: Arc::new(fast_schema.project(&proj).ok()?),
                })
            })
            .flatten();
        Ok(Plan {
            simple,
            name,
            delimiter,
            quote,
            na,
            file_names: all.iter().map(|c| c.name.clone()).collect(),
            cols,
            proj,
            bad_as_missing,
            bad,
            slow: AtomicBool::new(slow),
            sniffed_rows,
            id: NEXT_PLAN_ID.fetch_add(1, Ordering::Relaxed),
            fast_schema,
            slow_schema,
            stage_schema,
        })
    }

    fn build_decoder(&self, schema: &SchemaRef, batch_size: usize) -> Decoder {
        arrow::csv::ReaderBuilder::new(schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_quote(self.quote)
            .with_batch_size(batch_size.max(1))
            .with_projection(self.proj.clone())
            .build_decoder()
    }

    /// Feeds whole records to a decoder and collects its batches. With `eof` the decoder is told
    /// that the input ends (needed when the last record has no line end); without it the decoder
    /// is left empty and ready for more records.
    fn drive(
        dec: &mut Decoder,
        bytes: &[u8],
        eof: bool,
    ) -> std::result::Result<Vec<RecordBatch>, ArrowError> {
        let mut batches = Vec::new();
        let mut off = 0usize;
        loop {
            let rest = bytes.get(off..).unwrap_or(&[]);
            if rest.is_empty() && !eof {
                break;
            }
            let n = dec.decode(rest)?;
            off += n;
            if dec.capacity() == 0 {
                if let Some(b) = dec.flush()? {
                    batches.push(b);
                }
                continue;
            }
            if rest.is_empty() {
                break;
            }
            if n == 0 {
                return Err(ArrowError::CsvError(
                    "the CSV decoder made no progress".into(),
                ));
            }
        }
        if let Some(b) = dec.flush()? {
            batches.push(b);
        }
        Ok(batches)
    }

    /// The fast path: every column straight to its type. Pieces that end with a line end reuse
    /// this thread's decoder (its buffers stay allocated); others get a new one.
    fn decode_fast(
        &self,
        bytes: &[u8],
        capacity: usize,
    ) -> std::result::Result<Vec<RecordBatch>, ArrowError> {
        if let Some(batch) = self.simple.as_ref().and_then(|s| s.decode(bytes)) {
            return Ok(vec![batch]);
        }
        if bytes.last() != Some(&b'\n') {
            let mut dec = self.build_decoder(&self.fast_schema, capacity);
            return Self::drive(&mut dec, bytes, true);
        }
        FAST_DECODER.with(|cell| {
            let cached = cell.borrow_mut().take();
            let mut dec = match cached {
                Some((id, d)) if id == self.id => d,
                _ => {
                    // Bounded buffers: the decoder keeps batch size x columns offsets.
                    let batch =
                        ((256usize << 10) / self.file_names.len().max(1)).clamp(64, 16 << 10);
                    self.build_decoder(&self.fast_schema, batch)
                }
            };
            let out = Self::drive(&mut dec, bytes, false);
            if out.is_ok() {
                *cell.borrow_mut() = Some((self.id, dec));
            }
            out
        })
    }

    /// Decodes one piece (whole records, starting on line `start_line`); `capacity` is at least
    /// its number of records.
    pub(crate) fn decode_piece(
        &self,
        bytes: &[u8],
        start_line: u64,
        capacity: usize,
    ) -> Result<Vec<RecordBatch>> {
        if !self.slow.load(Ordering::Relaxed)
            && let Ok(batches) = self.decode_fast(bytes, capacity)
        {
            let mut out = Vec::with_capacity(batches.len());
            let mut offset = 0usize;
            for b in batches {
                let n = b.num_rows();
                out.push(self.finish(b, true, bytes, start_line, offset)?);
                offset += n;
            }
            return Ok(out);
        }
        let mut dec = self.build_decoder(&self.slow_schema, capacity);
        match Self::drive(&mut dec, bytes, true) {
            Ok(batches) => {
                let mut out = Vec::with_capacity(batches.len());
                let mut offset = 0usize;
                for b in batches {
                    let n = b.num_rows();
                    out.push(self.finish(b, false, bytes, start_line, offset)?);
                    offset += n;
                }
                Ok(out)
            }
            Err(e) => Err(self.diagnose(bytes, start_line).unwrap_or_else(|| {
                Error::arrow(
                    format!("{}: reading the records from line {start_line}", self.name),
                    e,
                )
            })),
        }
    }

    /// Finds a ragged row or invalid UTF-8 in a piece the decoder rejected.
    fn diagnose(&self, bytes: &[u8], start_line: u64) -> Option<Error> {
        let n = self.file_names.len();
        let mut err = None;
        walk_records(bytes, self.delimiter, self.quote, start_line, |r| {
            if r.fields.len() != n {
                err = Some(ragged_error(
                    &self.name,
                    r.line,
                    n,
                    r.fields.len(),
                    self.delimiter,
                    Some(&self.file_names),
                ));
                return ControlFlow::Break(());
            }
            for (j, f) in r.fields.iter().enumerate() {
                if std::str::from_utf8(f).is_err() {
                    let col = self.file_names.get(j).cloned().unwrap_or_default();
                    err = Some(Error::BadValue {
                        location: format!("{}: line {}, column '{col}'", self.name, r.line),
                        message: "the text is not valid UTF-8; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)".into(),
                    });
                    return ControlFlow::Break(());
                }
            }
            ControlFlow::Continue(())
        });
        err
    }

    /// Per-column processing of a decoded piece: missing values, logicals, the slow path's
    /// conversions, fixed factor levels and per-piece dictionary encoding.
    /// `offset` is the index, in the piece, of the batch's first record.
    fn finish(
        &self,
        batch: RecordBatch,
        typed: bool,
        bytes: &[u8],
        start_line: u64,
        offset: usize,
    ) -> Result<RecordBatch> {
        let nrows = batch.num_rows();
        let mut out = Vec::with_capacity(self.cols.len());
        for (c, arr) in self.cols.iter().zip(batch.columns()) {
            let col: ArrayRef = match &c.kind {
                ColKind::Text { empty_is_missing } => {
                    let s = as_strings(arr)?;
                    let mut text = fix_text(s, &self.na, *empty_is_missing);
                    if let Some(levels) = &c.fixed_levels {
                        let bad: Vec<usize> = (0..text.len())
                            .filter(|&i| text.is_valid(i) && !levels.contains(text.value(i)))
                            .collect();
                        if !bad.is_empty() {
                            self.bad_values(c, &text, &bad, bytes, start_line, offset)?;
                            text = null_rows(&text, &bad);
                        }
                    }
                    if c.factor {
                        arrow::compute::cast(&text, &factor_type())
                            .map_err(|e| Error::arrow(self.what(c), e))?
                    } else {
                        Arc::new(text)
                    }
                }
                ColKind::Logical => {
                    let s = as_strings(arr)?;
                    let mut bad = Vec::new();
                    let vals: BooleanArray = (0..s.len())
                        .map(|i| {
                            if s.is_null(i) {
                                return None;
                            }
                            let v = s.value(i);
                            if v == self.na {
                                return None;
                            }
                            let b = parse_logical(v);
                            if b.is_none() {
                                bad.push(i);
                            }
                            b
                        })
                        .collect();
                    if !bad.is_empty() {
                        self.bad_values(c, s, &bad, bytes, start_line, offset)?;
                    }
                    Arc::new(vals)
                }
                ColKind::Native(dt) => {
                    if typed {
                        arr.clone()
                    } else {
                        let s = as_strings(arr)?;
                        let (text, saw_na) = null_na(s, &self.na);
                        if saw_na {
                            self.slow.store(true, Ordering::Relaxed);
                        }
                        let cast = arrow::compute::cast(&text, dt)
                            .map_err(|e| Error::arrow(self.what(c), e))?;
                        if cast.null_count() != text.null_count() {
                            let bad: Vec<usize> = (0..text.len())
                                .filter(|&i| text.is_valid(i) && cast.is_null(i))
                                .collect();
                            self.bad_values(c, s, &bad, bytes, start_line, offset)?;
                        }
                        cast
                    }
                }
            };
            out.push(col);
        }
        RecordBatch::try_new_with_options(
            self.stage_schema.clone(),
            out,
            &RecordBatchOptions::new().with_row_count(Some(nrows)),
        )
        .map_err(|e| Error::arrow(format!("{}: lines from {start_line}", self.name), e))
    }

    fn what(&self, c: &ColPlan) -> String {
        format!("{}: column '{}'", self.name, c.name)
    }

    /// Bad values at `rows` of column `c`: an error naming the first (line, column, value), or with
    /// `bad_values_as_missing` a count (the caller makes them missing).
    fn bad_values(
        &self,
        c: &ColPlan,
        text: &StringArray,
        rows: &[usize],
        bytes: &[u8],
        start_line: u64,
        offset: usize,
    ) -> Result<()> {
        let line = |row: usize| {
            line_of_record(bytes, self.delimiter, self.quote, start_line, offset + row)
                .unwrap_or(start_line)
        };
        let value = |row: usize| {
            if row < text.len() && text.is_valid(row) {
                text.value(row).to_string()
            } else {
                String::new()
            }
        };
        if !self.bad_as_missing {
            let row = rows.first().copied().unwrap_or(0);
            return Err(self.bad_value_error(c, line(row), &value(row)));
        }
        let room = self.bad.room();
        let examples = rows
            .iter()
            .take(room)
            .map(|&r| {
                format!(
                    "{}: line {}, column '{}': value '{}'",
                    self.name,
                    line(r),
                    c.name,
                    value(r)
                )
            })
            .collect();
        self.bad.add(rows.len() as u64, examples);
        Ok(())
    }

    fn bad_value_error(&self, c: &ColPlan, line: u64, value: &str) -> Error {
        let location = format!("{}: line {line}, column '{}'", self.name, c.name);
        let name = &c.name;
        let sniffed = if c.sniffed {
            format!(
                " (the column's type was sniffed from the first {} rows)",
                self.sniffed_rows
            )
        } else {
            String::new()
        };
        let missing = "or set bad_values_as_missing (rx: --bad-values-as-missing) to read bad values as missing";
        let message = if c.fixed_levels.is_some() {
            let levels: Vec<&str> = c.info.levels.iter().flatten().map(String::as_str).collect();
            format!(
                "value '{value}' is not one of the factor levels [{}] given in column_info; add it to the levels, {missing}",
                levels.join(", ")
            )
        } else {
            match &c.kind {
                ColKind::Logical => format!(
                    "value '{value}' is not a logical value (TRUE, FALSE, T or F){sniffed}; read the column as character \
                     with column_classes (rx: --col-type {name}=character), {missing}"
                ),
                ColKind::Native(dt) if dt.is_integer() => {
                    let b = value.trim().as_bytes();
                    let digits = b
                        .strip_prefix(b"-")
                        .or_else(|| b.strip_prefix(b"+"))
                        .unwrap_or(b);
                    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                        format!(
                            "value '{value}' does not fit in {dt}{sniffed}; read the column as int64 or numeric with \
                             column_classes (rx: --col-type {name}=int64)"
                        )
                    } else {
                        format!(
                            "value '{value}' is not an integer{sniffed}; fix the value, read the column as numeric or \
                             character with column_classes (rx: --col-type {name}=numeric), {missing}"
                        )
                    }
                }
                ColKind::Native(DataType::Float32 | DataType::Float64) => format!(
                    "value '{value}' is not a number{sniffed}; fix the value, read the column as character with \
                     column_classes (rx: --col-type {name}=character), {missing}"
                ),
                ColKind::Native(DataType::Date32) => format!(
                    "value '{value}' is not a date (YYYY-MM-DD){sniffed}; fix the value, read the column as character \
                     with column_classes (rx: --col-type {name}=character), {missing}"
                ),
                ColKind::Native(DataType::Timestamp(..)) => format!(
                    "value '{value}' is not a date-time (YYYY-MM-DD HH:MM:SS){sniffed}; fix the value, read the column \
                     as character with column_classes (rx: --col-type {name}=character), {missing}"
                ),
                ColKind::Native(dt) => format!(
                    "value '{value}' cannot be read as {dt}{sniffed}; fix the value, change the column's type with \
                     column_classes (rx: --col-type {name}=TYPE), {missing}"
                ),
                ColKind::Text { .. } => format!("value '{value}' cannot be read"),
            }
        };
        Error::BadValue { location, message }
    }
}

fn as_strings(arr: &ArrayRef) -> Result<&StringArray> {
    arr.as_string_opt::<i32>().ok_or_else(|| {
        Error::Schema(format!(
            "internal: expected text from the CSV decoder, got {}",
            arr.data_type()
        ))
    })
}

/// String semantics: the missing-value string is missing; an empty field (null from the decoder)
/// is `""` unless `empty_is_missing`.
fn fix_text(s: &StringArray, na: &str, empty_is_missing: bool) -> StringArray {
    // A value equal to the missing-value string is somewhere in the values buffer, which memmem
    // scans far faster than the values can be compared one by one.
    let may_hold_na =
        na.is_empty() || memchr::memmem::find(s.value_data(), na.as_bytes()).is_some();
    if s.null_count() == 0 && !(may_hold_na && s.iter().flatten().any(|v| v == na)) {
        return s.clone(); // nothing to change (and no need to validate the strings again)
    }
    let len = s.len();
    let valid = BooleanBuffer::collect_bool(len, |i| {
        if s.is_null(i) {
            return !empty_is_missing && !na.is_empty();
        }
        s.value(i) != na
    });
    let nulls = NullBuffer::new(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    StringArray::new(s.offsets().clone(), s.values().clone(), nulls)
}

/// Text with the missing-value string made missing (empty fields are already missing); and
/// whether there was any.
fn null_na(s: &StringArray, na: &str) -> (StringArray, bool) {
    if na.is_empty() {
        return (s.clone(), false);
    }
    let mut saw = false;
    let valid = BooleanBuffer::collect_bool(s.len(), |i| {
        let ok = s.is_valid(i) && s.value(i) != na;
        if s.is_valid(i) && !ok {
            saw = true;
        }
        ok
    });
    if !saw {
        return (s.clone(), false);
    }
    (
        StringArray::new(
            s.offsets().clone(),
            s.values().clone(),
            Some(NullBuffer::new(valid)),
        ),
        true,
    )
}

/// `s` with `rows` made missing.
fn null_rows(s: &StringArray, rows: &[usize]) -> StringArray {
    let mut valid: Vec<bool> = (0..s.len()).map(|i| s.is_valid(i)).collect();
    for &r in rows {
        if let Some(v) = valid.get_mut(r) {
            *v = false;
        }
    }
    StringArray::new(
        s.offsets().clone(),
        s.values().clone(),
        Some(NullBuffer::from(valid)),
    )
}

/// Bytes read from the file at a time.
const BLOCK_SIZE: usize = 4 << 20;
/// Bytes per piece decoded by one task (pieces end at record boundaries, so they vary), for files
/// large enough to give every thread several pieces; smaller files get smaller pieces, down to
/// [`MIN_PIECE_SIZE`]. Large pieces cost less per byte than small ones: besides the per-piece
/// work, the decoded arrays of small pieces (freed by the consumer, on another thread) made the
/// allocator take fresh pages, which the kernel zeroes, far more often (measured on a 1M-row
/// import: 256 KiB pieces spent ~8% of the time zeroing pages, 1 MiB pieces ~1%).
const PIECE_SIZE: usize = 1 << 20;
/// The smallest piece size used for small files.
const MIN_PIECE_SIZE: usize = 256 << 10;

/// The longest record accepted (a longer one is almost always an unclosed quote).
const MAX_RECORD: usize = 256 << 20;

/// What the reading thread sends, in file order.
enum Msg {
    /// A piece (of this many bytes) being decoded on the thread pool; its result arrives on the
    /// channel.
    Piece(Receiver<Result<Vec<RecordBatch>>>, usize),
    Failed(Error),
    Done,
}

/// A block of the file shared by the tasks decoding its pieces; its buffer goes back to the pool
/// when the last task is done, so reading does not keep asking the allocator for fresh memory.
struct Block {
    data: Vec<u8>,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Drop for Block {
    fn drop(&mut self) {
        let data = std::mem::take(&mut self.data);
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 8 {
            pool.push(data);
        }
    }
}

/// Reads the file block by block on its own thread, cuts each block into pieces at record
/// boundaries and hands every piece to the rayon pool to decode. The pieces' results reach the
/// consumer in file order; the channel's bound limits how far reading runs ahead.
/// Pieces decoded ahead of the consumer at most.
const READ_AHEAD_PIECES: usize = 16;

struct Producer {
    plan: Arc<Plan>,
    path: PathBuf,
    file: File,
    line: u64,
    block_size: usize,
    piece_size: usize,
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Producer {
    /// An empty buffer, from the pool when one is free.
    fn buffer(&self) -> Vec<u8> {
        let mut v = self
            .pool
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        v.clear();
        v
    }

    /// Appends up to a block of bytes to `buf`; true at end of file.
    fn read_block(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        buf.reserve(self.block_size);
        let got = self
            .file
            .by_ref()
            .take(self.block_size as u64)
            .read_to_end(buf)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(got < self.block_size)
    }

    /// Starts decoding one piece; returns the channel its result will arrive on.
    fn spawn_piece(
        &mut self,
        block: &Arc<Block>,
        range: std::ops::Range<usize>,
    ) -> Receiver<Result<Vec<RecordBatch>>> {
        let bytes = block.data.get(range.clone()).unwrap_or(&[]);
        let newlines = count_newlines(bytes);
        let start_line = self.line;
        self.line += newlines;
        // A record holds at least one byte per column (delimiters and the line end), so this
        // bounds the decoder's buffers even for pieces of blank lines.
        let capacity =
            (newlines as usize + 1).min(bytes.len() / self.plan.file_names.len().max(1) + 1);
        let (tx, rx) = sync_channel(1);
        let plan = self.plan.clone();
        let block = block.clone();
        rayon::spawn(move || {
            let bytes = block.data.get(range).unwrap_or(&[]);
            let result = catch_unwind(AssertUnwindSafe(|| plan.decode_piece(bytes, start_line, capacity))).unwrap_or_else(|_| {
                Err(Error::invalid(format!(
                    "{}: decoding the records from line {start_line} failed unexpectedly; this is a bug, please report it",
                    plan.name
                )))
            });
            let _ = tx.send(result);
        });
        rx
    }

    fn run(mut self, tx: SyncSender<Msg>) {
        let mut buf = Vec::new();
        let mut eof = false;
        loop {
            if !eof {
                match self.read_block(&mut buf) {
                    Ok(e) => eof = e,
                    Err(e) => {
                        let _ = tx.send(Msg::Failed(e));
                        return;
                    }
                }
            }
            let (pieces, used) = split_pieces(
                &buf,
                self.plan.quote,
                self.plan.delimiter,
                self.piece_size,
                eof,
            );
            if pieces.is_empty() {
                if eof {
                    break;
                }
                if buf.len() > MAX_RECORD {
                    let _ = tx.send(Msg::Failed(Error::BadValue {
                        location: format!("{}: line {}", self.plan.name, self.line),
                        message: format!(
                            "a record starting here is longer than {} MiB: probably a quoted field that is never \
                             closed; fix the quoting, or set the quote character (now {:?}) to one the file does not use",
                            MAX_RECORD >> 20,
                            self.plan.quote as char
                        ),
                    }));
                    return;
                }
                continue; // no complete record yet: read more
            }
            let mut next = self.buffer();
            next.extend_from_slice(buf.get(used..).unwrap_or(&[]));
            let block = Arc::new(Block {
                data: std::mem::replace(&mut buf, next),
                pool: self.pool.clone(),
            });
            for r in pieces {
                let bytes = r.len();
                let rx = self.spawn_piece(&block, r);
                if tx.send(Msg::Piece(rx, bytes)).is_err() {
                    return; // the reader was dropped
                }
            }
            if eof && buf.is_empty() {
                break;
            }
        }
        let _ = tx.send(Msg::Done);
    }
}

/// A chunk reader over a delimited text file: a decoding thread feeds it blocks of decoded rows,
/// which it re-chunks to `rows_per_read` rows and passes through the column converters.
pub(crate) struct TextReader {
    name: String,
    cols: Vec<ColPlan>,
    rx: Receiver<Msg>,
    producer_done: bool,
    chunks: ChunkAssembler,
    /// Bytes of data (after the header) in the file, and how many bytes and rows were decoded so
    /// far: they size the buffers of the chunks to come.
    data_bytes: u64,
    bytes_in: u64,
    converters: Vec<ColumnConverter>,
    /// The schema of queued rows: factor columns hold stream codes (`Int32`).
    queued_schema: SchemaRef,
    /// Per factor column, the latest level table (the dictionary of its chunks).
    levels: Vec<Option<ArrayRef>>,
    rows_in: u64,
    rows_out: u64,
    done: bool,
}

impl TextReader {
    /// Opens `path` at byte `data_start` (line `data_start_line`) and starts decoding.
    pub(crate) fn new(
        plan: Plan,
        path: PathBuf,
        data_start: u64,
        data_start_line: u64,
        rows_per_read: usize,
    ) -> Result<Self> {
        let mut file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        file.seek(SeekFrom::Start(data_start))
            .map_err(|e| Error::io(&path, e))?;
        let data_bytes = file
            .metadata()
            .map(|m| m.len().saturating_sub(data_start))
            .unwrap_or(0);
        let converters = plan
            .cols
            .iter()
            .map(|c| c.converter(&plan.name))
            .collect::<Result<Vec<_>>>()?;
        let rows_per_read = rows_per_read.max(1);
        let threads = rayon::current_num_threads().max(1);
        let name = plan.name.clone();
        let cols = plan.cols.clone();
        let ncols = cols.len();
        let queued_schema = Arc::new(Schema::new(
            cols.iter()
                .enumerate()
                .map(|(i, c)| {
                    Field::new(
                        format!("q{i}"),
                        if c.factor {
                            DataType::Int32
                        } else {
                            c.stage_type()
                        },
                        true,
                    )
                })
                .collect::<Vec<_>>(),
        ));
        let producer = Producer {
            plan: Arc::new(plan),
            path: path.clone(),
            file,
            line: data_start_line,
            block_size: BLOCK_SIZE,
            // At least four pieces per thread when the file allows.
            piece_size: usize::try_from(data_bytes / (4 * threads as u64).max(1))
                .unwrap_or(PIECE_SIZE)
                .clamp(MIN_PIECE_SIZE, PIECE_SIZE),
            pool: Arc::default(),
        };
        // Let decoding run about one chunk ahead of the consumer (16 pieces of PIECE_SIZE bytes,
        // ~16 MB of text), so that decoding the next chunk overlaps the consumer's work on this
        // one (writing it, for an import); memory stays bounded by the chunk size.
        let (tx, rx) = sync_channel((2 * threads).max(READ_AHEAD_PIECES));
        std::thread::Builder::new()
            .name("rx-text-decode".into())
            .spawn(move || producer.run(tx))
            .map_err(|e| Error::io(&path, e))?;
        Ok(TextReader {
            name,
            cols,
            rx,
            producer_done: false,
            chunks: ChunkAssembler::new(queued_schema.clone(), rows_per_read),
            data_bytes,
            bytes_in: 0,
            converters,
            queued_schema,
            levels: vec![None; ncols],
            rows_in: 0,
            rows_out: 0,
            done: false,
        })
    }

    /// Puts a decoded piece's factor columns on the stream's level tables (in file order, so
    /// levels get codes in order of appearance) and queues its rows.
    fn queue(&mut self, batch: RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let mut cols = Vec::with_capacity(batch.num_columns());
        for (i, ((conv, c), arr)) in self
            .converters
            .iter_mut()
            .zip(&self.cols)
            .zip(batch.columns())
            .enumerate()
        {
            if c.factor {
                let row = self.rows_in;
                let (codes, levels) = remap_factor_parts(arr.as_ref(), |d| conv.convert(d, row))?;
                if let Some(slot) = self.levels.get_mut(i) {
                    *slot = Some(levels);
                }
                cols.push(Arc::new(codes) as ArrayRef);
            } else {
                cols.push(arr.clone());
            }
        }
        self.rows_in += n as u64;
        let b = RecordBatch::try_new_with_options(
            self.queued_schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| Error::arrow(format!("{}: queueing rows", self.name), e))?;
        self.chunks.push(&b)
    }

    /// Tells the chunk assembler how many rows the rest of the file should hold, from a piece of
    /// `bytes` bytes and `rows` rows about to be queued on, at the rate of rows per byte seen so
    /// far (this piece included).
    fn expect_rows(&mut self, bytes: usize, rows: usize) {
        let before = self.bytes_in;
        self.bytes_in += bytes as u64;
        let left = self.data_bytes.saturating_sub(before).max(bytes as u64) as f64;
        let rate = (self.rows_in + rows as u64) as f64 / self.bytes_in.max(1) as f64;
        self.chunks.expect_rows((left * rate * 1.02) as usize + 16);
    }

    /// Applies the column converters (names, metadata) and the level tables to a chunk.
    fn convert(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let n = batch.num_rows();
        let mut cols = Vec::with_capacity(batch.num_columns());
        let mut fields = Vec::with_capacity(batch.num_columns());
        for (i, ((conv, c), arr)) in self
            .converters
            .iter_mut()
            .zip(&self.cols)
            .zip(batch.columns())
            .enumerate()
        {
            let out = if c.factor {
                let codes = arr
                    .as_primitive_opt::<Int32Type>()
                    .ok_or_else(|| {
                        Error::Schema(format!(
                            "{}: internal: factor codes are not int32",
                            self.name
                        ))
                    })?
                    .clone();
                let levels = match self.levels.get(i).cloned().flatten() {
                    Some(l) => l,
                    None => Arc::new(StringArray::from_iter_values(
                        conv.output_levels().unwrap_or_default(),
                    )),
                };
                let d = DictionaryArray::<Int32Type>::try_new(codes, levels)
                    .map_err(|e| Error::arrow(format!("{}: column '{}'", self.name, c.name), e))?;
                Arc::new(d) as ArrayRef
            } else {
                conv.convert(arr, self.rows_out)?
            };
            fields.push(conv.field().clone());
            cols.push(out);
        }
        self.rows_out += n as u64;
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| Error::arrow(format!("{}: building a chunk", self.name), e))
    }

    fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        while !self.chunks.has_chunk() && !self.producer_done {
            match self.rx.recv() {
                Ok(Msg::Piece(piece, bytes)) => {
                    let batches = piece.recv().map_err(|_| {
                        Error::invalid(format!("{}: a decoding task stopped unexpectedly; this is a bug, please report it", self.name))
                    })??;
                    self.expect_rows(bytes, batches.iter().map(RecordBatch::num_rows).sum());
                    for b in batches {
                        self.queue(b)?;
                    }
                }
                Ok(Msg::Failed(e)) => return Err(e),
                Ok(Msg::Done) => self.producer_done = true,
                Err(_) => {
                    return Err(Error::invalid(format!(
                        "{}: the decoding thread stopped unexpectedly; this is a bug, please report it",
                        self.name
                    )));
                }
            }
        }
        match self.chunks.pop(self.producer_done)? {
            Some(b) => self.convert(b).map(Some),
            None => Ok(None),
        }
    }
}

impl Iterator for TextReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_chunk();
        crate::util::fuse(&mut self.done, next)
    }
}

impl std::fmt::Debug for TextReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextReader")
            .field("name", &self.name)
            .field("rows_out", &self.rows_out)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_semantics_keep_empty_strings() {
        let s = StringArray::from(vec![Some("a"), None, Some("NA"), Some("")]);
        let t = fix_text(&s, "NA", false);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![Some("a"), Some(""), None, Some("")]
        );
        let t = fix_text(&s, "NA", true);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            vec![Some("a"), None, None, Some("")]
        );
        let (n, saw) = null_na(&s, "NA");
        assert!(saw);
        assert_eq!(n.null_count(), 2);
    }
}
