//! Helpers shared by the sources and sinks of this crate: column projection, re-chunking to
//! `rows_per_read`, factor re-coding onto a stream-wide level table, atomic output files and
//! turning library panics on damaged input into errors.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayData, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, DictionaryArray,
    Int32Array, StringArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, Buffer, MutableBuffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Int32Type, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use rayon::prelude::*;
use rx_core::factor::{LevelTable, factor_type};
use rx_core::{Error, Result};

/// The indexes (into `schema`) of the requested columns, in the requested order; all columns when
/// `columns` is `None`. An unknown name is [`Error::UnknownColumn`].
pub(crate) fn resolve_projection(
    schema: &Schema,
    columns: Option<&[String]>,
    source: &str,
) -> Result<Vec<usize>> {
    match columns {
        None => Ok((0..schema.fields().len()).collect()),
        Some(cols) => cols
            .iter()
            .map(|name| {
                schema
                    .index_of(name)
                    .map_err(|_| Error::unknown_column(name, source, schema))
            })
            .collect(),
    }
}

/// Collects batches and hands them out again in chunks of exactly `target` rows (the last one
/// may be shorter). Slicing is zero-copy; a chunk made of several batches is concatenated.
#[derive(Debug)]
pub(crate) struct Rechunker {
    queue: VecDeque<RecordBatch>,
    rows: usize,
    target: usize,
}

impl Rechunker {
    /// A re-chunker to `target` rows per chunk (at least 1).
    pub(crate) fn new(target: usize) -> Self {
        Rechunker {
            queue: VecDeque::new(),
            rows: 0,
            target: target.max(1),
        }
    }

    /// True when a full chunk is waiting.
    pub(crate) fn has_chunk(&self) -> bool {
        self.rows >= self.target
    }

    /// True when no row is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Adds a batch.
    pub(crate) fn push(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.rows += batch.num_rows();
            self.queue.push_back(batch);
        }
    }

    /// The next chunk: a full one, or (with `flush`) whatever is left.
    pub(crate) fn pop(&mut self, flush: bool) -> Result<Option<RecordBatch>> {
        if self.rows == 0 || (!flush && self.rows < self.target) {
            return Ok(None);
        }
        let mut need = self.target.min(self.rows);
        let mut parts = Vec::new();
        while need > 0 {
            let Some(front) = self.queue.pop_front() else {
                break;
            };
            let n = front.num_rows();
            if n <= need {
                need -= n;
                self.rows -= n;
                parts.push(front);
            } else {
                parts.push(front.slice(0, need));
                self.queue.push_front(front.slice(need, n - need));
                self.rows -= need;
                need = 0;
            }
        }
        match parts.len() {
            0 => Ok(None),
            1 => Ok(parts.pop()),
            _ => {
                // Columns are joined in parallel: at the end of a stream this is the last step
                // before the chunk is handed out.
                let schema = parts[0].schema();
                let n: usize = parts.iter().map(RecordBatch::num_rows).sum();
                let columns = (0..schema.fields().len())
                    .into_par_iter()
                    .map(|c| {
                        let arrays: Vec<&dyn Array> = parts
                            .iter()
                            .filter_map(|p| p.columns().get(c))
                            .map(|a| a.as_ref())
                            .collect();
                        arrow::compute::concat(&arrays)
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::arrow("joining blocks into a chunk", e))?;
                RecordBatch::try_new_with_options(
                    schema,
                    columns,
                    &RecordBatchOptions::new().with_row_count(Some(n)),
                )
                .map(Some)
                .map_err(|e| Error::arrow("joining blocks into a chunk", e))
            }
        }
    }
}

/// Builds chunks of exactly `target` rows (the last may be shorter) from batches pushed one after
/// another, copying each batch's columns into chunk-sized buffers as it arrives. Compared with
/// queueing batches and concatenating them when a chunk is full ([`Rechunker`]), the copying is
/// spread over the time the batches arrive (a reader waiting for the next decoded piece does it
/// meanwhile), each batch can be freed as soon as it is copied, and a chunk is ready as soon as its
/// last batch arrives.
///
/// Rows pushed while a finished chunk waits to be taken are held until it is taken; by then the
/// chunk before it has usually been dropped by whoever took it, and the next chunk reuses its
/// buffers instead of asking the allocator for fresh memory (which the kernel would have to
/// zero).
///
/// Fixed-width, boolean and string (`Utf8`) columns are copied as they come; columns of other
/// types are kept and concatenated when the chunk is full.
#[derive(Debug)]
pub(crate) struct ChunkAssembler {
    schema: SchemaRef,
    target: usize,
    cols: Vec<ColumnBuilder>,
    /// Rows in the chunk being built.
    rows: usize,
    /// Rows the rest of the stream is expected to hold (sizes the buffers of the next chunk).
    expect_rows: Option<usize>,
    /// Finished chunks, not taken yet.
    ready: VecDeque<RecordBatch>,
    /// Rows pushed while a finished chunk was waiting.
    held: VecDeque<RecordBatch>,
}

impl ChunkAssembler {
    /// An assembler of chunks of `target` rows (at least 1) of `schema`.
    pub(crate) fn new(schema: SchemaRef, target: usize) -> Self {
        let cols = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.data_type()))
            .collect();
        ChunkAssembler {
            schema,
            target: target.max(1),
            cols,
            rows: 0,
            expect_rows: None,
            ready: VecDeque::new(),
            held: VecDeque::new(),
        }
    }

    /// How many rows the rest of the stream is expected to hold (from the next batch pushed on):
    /// the next chunk's buffers are sized for that many rows (or a chunk) instead of growing.
    pub(crate) fn expect_rows(&mut self, rows: usize) {
        let held: usize = self.held.iter().map(RecordBatch::num_rows).sum();
        self.expect_rows = Some(rows + held);
    }

    /// True when a full chunk is waiting.
    pub(crate) fn has_chunk(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Adds the rows of `batch` (whose columns have the assembler's types).
    pub(crate) fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() > 0 {
            self.held.push_back(batch.clone());
        }
        self.drain()
    }

    /// Copies held rows into chunks until a chunk is finished (and waits to be taken) or none is
    /// left.
    fn drain(&mut self) -> Result<()> {
        while self.ready.is_empty() {
            let Some(batch) = self.held.pop_front() else {
                break;
            };
            let n = batch.num_rows();
            let take = (self.target - self.rows).min(n);
            if self.rows == 0 && take == self.target {
                // A whole chunk inside one batch: no copy.
                self.ready.push_back(batch.slice(0, take));
            } else {
                if self.rows == 0 {
                    let expect = self.expect_rows.unwrap_or(self.target).max(n);
                    let rows = expect.min(self.target);
                    for (b, col) in self.cols.iter_mut().zip(batch.columns()) {
                        b.start(rows, col.as_ref(), n);
                    }
                }
                for (b, col) in self.cols.iter_mut().zip(batch.columns()) {
                    b.append(col, 0, take)?;
                }
                self.rows += take;
                if self.rows == self.target {
                    self.finish_chunk()?;
                }
            }
            if let Some(e) = self.expect_rows.as_mut() {
                *e = e.saturating_sub(take);
            }
            if take < n {
                self.held.push_front(batch.slice(take, n - take));
            }
        }
        Ok(())
    }

    fn finish_chunk(&mut self) -> Result<()> {
        let n = std::mem::take(&mut self.rows);
        let columns = self
            .cols
            .iter_mut()
            .map(|b| b.finish(n))
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map_err(|e| Error::arrow("assembling a chunk", e))?;
        self.ready.push_back(batch);
        Ok(())
    }

    /// The next chunk: a full one, or (with `flush`, at the end of the stream) whatever is left.
    pub(crate) fn pop(&mut self, flush: bool) -> Result<Option<RecordBatch>> {
        if self.ready.is_empty() {
            self.drain()?;
        }
        if self.ready.is_empty() && flush && self.rows > 0 {
            self.finish_chunk()?;
        }
        Ok(self.ready.pop_front())
    }
}

/// Validity bits of a column being assembled; kept only once a missing value shows up.
#[derive(Debug, Default)]
struct NullsBuilder {
    bits: Option<BooleanBufferBuilder>,
    len: usize,
    capacity: usize,
}

impl NullsBuilder {
    fn start(&mut self, rows: usize) {
        self.bits = None;
        self.len = 0;
        self.capacity = rows;
    }

    fn append(&mut self, nulls: Option<&NullBuffer>, off: usize, n: usize) {
        match nulls.filter(|nb| nb.slice(off, n).null_count() > 0) {
            Some(nb) => {
                let bits = self.bits.get_or_insert_with(|| {
                    let mut b = BooleanBufferBuilder::new(self.capacity.max(self.len + n));
                    b.append_n(self.len, true);
                    b
                });
                bits.append_buffer(&nb.inner().slice(off, n));
            }
            None => {
                if let Some(bits) = self.bits.as_mut() {
                    bits.append_n(n, true);
                }
            }
        }
        self.len += n;
    }

    fn finish(&mut self) -> Option<NullBuffer> {
        self.len = 0;
        self.bits
            .take()
            .map(|mut b| NullBuffer::new(b.finish()))
            .filter(|nb| nb.null_count() > 0)
    }
}

/// Buffers of chunks already handed out, taken back for new chunks once nobody else holds them.
#[derive(Debug, Default)]
struct Spares(Vec<Buffer>);

impl Spares {
    /// At most this many buffers are kept (a chunk being used, and the one before it).
    const KEEP: usize = 2;

    fn keep(&mut self, b: &Buffer) {
        if self.0.len() >= Self::KEEP {
            self.0.remove(0);
        }
        self.0.push(b.clone());
    }

    /// An empty buffer with room for `bytes`: a spare nobody else holds any more, or a new one.
    fn take(&mut self, bytes: usize) -> MutableBuffer {
        let mut i = 0;
        while i < self.0.len() {
            let b = self.0.remove(i);
            match b.into_mutable() {
                Ok(mut m) => {
                    if m.capacity() >= bytes {
                        m.clear();
                        return m;
                    }
                }
                Err(b) => {
                    self.0.insert(i, b);
                    i += 1;
                }
            }
        }
        MutableBuffer::with_capacity(bytes)
    }
}

/// One column of a chunk being assembled.
#[derive(Debug)]
enum ColumnBuilder {
    /// Fixed-width values (numbers, dates, timestamps, factor codes), copied byte for byte.
    Fixed {
        data_type: DataType,
        width: usize,
        values: MutableBuffer,
        nulls: NullsBuilder,
        spares: Spares,
    },
    Boolean {
        values: BooleanBufferBuilder,
        nulls: NullsBuilder,
    },
    /// Strings: offsets rebased as they are copied.
    Utf8 {
        offsets: MutableBuffer,
        last: i32,
        values: MutableBuffer,
        nulls: NullsBuilder,
        spare_offsets: Spares,
        spare_values: Spares,
    },
    /// Any other type: the pieces, concatenated when the chunk is full.
    Other { parts: Vec<ArrayRef> },
}

impl ColumnBuilder {
    fn new(dt: &DataType) -> Self {
        match dt {
            DataType::Boolean => ColumnBuilder::Boolean {
                values: BooleanBufferBuilder::new(0),
                nulls: NullsBuilder::default(),
            },
            DataType::Utf8 => ColumnBuilder::Utf8 {
                offsets: MutableBuffer::new(0),
                last: 0,
                values: MutableBuffer::new(0),
                nulls: NullsBuilder::default(),
                spare_offsets: Spares::default(),
                spare_values: Spares::default(),
            },
            dt => match dt.primitive_width() {
                Some(width) if !matches!(dt, DataType::Null) => ColumnBuilder::Fixed {
                    data_type: dt.clone(),
                    width,
                    values: MutableBuffer::new(0),
                    nulls: NullsBuilder::default(),
                    spares: Spares::default(),
                },
                _ => ColumnBuilder::Other { parts: Vec::new() },
            },
        }
    }

    /// Gets ready for a chunk of about `rows` rows; `sample` (a batch of `sample_rows` rows of
    /// the column) tells how many bytes string values take.
    fn start(&mut self, rows: usize, sample: &dyn Array, sample_rows: usize) {
        match self {
            ColumnBuilder::Fixed {
                width,
                values,
                nulls,
                spares,
                ..
            } => {
                *values = spares.take(rows * *width);
                nulls.start(rows);
            }
            ColumnBuilder::Boolean { values, nulls } => {
                *values = BooleanBufferBuilder::new(rows);
                nulls.start(rows);
            }
            ColumnBuilder::Utf8 {
                offsets,
                last,
                values,
                nulls,
                spare_offsets,
                spare_values,
            } => {
                let bytes = sample
                    .as_string_opt::<i32>()
                    .map_or(0, |s| s.value_data().len());
                let per_row = bytes as f64 / sample_rows.max(1) as f64;
                *offsets = spare_offsets.take((rows + 1) * 4);
                offsets.push(0i32);
                *last = 0;
                *values = spare_values.take((per_row * rows as f64 * 1.1) as usize + 64);
                nulls.start(rows);
            }
            ColumnBuilder::Other { parts } => parts.clear(),
        }
    }

    /// Copies rows `off..off + n` of `array`.
    fn append(&mut self, array: &ArrayRef, off: usize, n: usize) -> Result<()> {
        let mismatch = || {
            Error::Schema(format!(
                "internal: a {} column cannot join a chunk of another type",
                array.data_type()
            ))
        };
        match self {
            ColumnBuilder::Fixed {
                data_type,
                width,
                values,
                nulls,
                ..
            } => {
                if array.data_type() != data_type {
                    return Err(mismatch());
                }
                let data = array.to_data();
                let buf = data.buffers().first().ok_or_else(mismatch)?;
                let start = (data.offset() + off) * *width;
                let bytes = buf
                    .as_slice()
                    .get(start..start + n * *width)
                    .ok_or_else(mismatch)?;
                values.extend_from_slice(bytes);
                nulls.append(array.nulls(), off, n);
            }
            ColumnBuilder::Boolean { values, nulls } => {
                let b = array.as_boolean_opt().ok_or_else(mismatch)?;
                values.append_buffer(&b.values().slice(off, n));
                nulls.append(b.nulls(), off, n);
            }
            ColumnBuilder::Utf8 {
                offsets,
                last,
                values,
                nulls,
                ..
            } => {
                let s = array.as_string_opt::<i32>().ok_or_else(mismatch)?;
                let src = s.value_offsets().get(off..=off + n).ok_or_else(mismatch)?;
                let (first, end) = (src[0], src[n]);
                let shift = i64::from(*last) - i64::from(first);
                if i64::from(end) + shift > i64::from(i32::MAX) {
                    return Err(Error::invalid(
                        "a chunk's strings take more than 2 GiB; read fewer rows per chunk (rows_per_read)",
                    ));
                }
                let shift = shift as i32;
                offsets.extend(src.iter().skip(1).map(|&o| o + shift));
                *last = end + shift;
                values.extend_from_slice(
                    s.value_data()
                        .get(first as usize..end as usize)
                        .ok_or_else(mismatch)?,
                );
                nulls.append(s.nulls(), off, n);
            }
            ColumnBuilder::Other { parts } => parts.push(array.slice(off, n)),
        }
        Ok(())
    }

    /// The assembled column of `n` rows; the builder is left empty for the next chunk.
    fn finish(&mut self, n: usize) -> Result<ArrayRef> {
        let err = |e| Error::arrow("assembling a chunk", e);
        Ok(match self {
            ColumnBuilder::Fixed {
                data_type,
                values,
                nulls,
                spares,
                ..
            } => {
                let bitmap = nulls.finish().map(|nb| nb.into_inner().into_inner());
                let values: Buffer = std::mem::replace(values, MutableBuffer::new(0)).into();
                spares.keep(&values);
                let data =
                    ArrayData::try_new(data_type.clone(), n, bitmap, 0, vec![values], vec![])
                        .map_err(err)?;
                arrow::array::make_array(data)
            }
            ColumnBuilder::Boolean { values, nulls } => {
                Arc::new(BooleanArray::new(values.finish(), nulls.finish()))
            }
            ColumnBuilder::Utf8 {
                offsets,
                values,
                nulls,
                spare_offsets,
                spare_values,
                ..
            } => {
                let offsets: Buffer = std::mem::replace(offsets, MutableBuffer::new(0)).into();
                let values: Buffer = std::mem::replace(values, MutableBuffer::new(0)).into();
                spare_offsets.keep(&offsets);
                spare_values.keep(&values);
                let offsets = OffsetBuffer::new(ScalarBuffer::new(offsets, 0, n + 1));
                Arc::new(StringArray::try_new(offsets, values, nulls.finish()).map_err(err)?)
            }
            ColumnBuilder::Other { parts } => {
                let arrays: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
                let out = arrow::compute::concat(&arrays).map_err(err)?;
                parts.clear();
                out
            }
        })
    }
}

/// Re-codes a factor array (a dictionary of strings with any key type) onto a stream-wide level
/// table. `encode` receives the distinct values the array references, in order of first
/// appearance, and returns them as a factor array (its keys are the stream codes, its dictionary
/// the whole level table); each key of the input is then replaced by its stream code. Values that
/// `encode` maps to null become null.
pub(crate) fn remap_factor(
    array: &dyn Array,
    encode: impl FnOnce(&ArrayRef) -> Result<ArrayRef>,
) -> Result<ArrayRef> {
    let (keys, levels) = remap_factor_parts(array, encode)?;
    let out = DictionaryArray::<Int32Type>::try_new(keys, levels)
        .map_err(|e| Error::arrow("building a factor column", e))?;
    Ok(Arc::new(out))
}

/// [`remap_factor`], returning the stream codes and the level table separately.
pub(crate) fn remap_factor_parts(
    array: &dyn Array,
    encode: impl FnOnce(&ArrayRef) -> Result<ArrayRef>,
) -> Result<(Int32Array, ArrayRef)> {
    let normalized;
    let dict = match array.as_dictionary_opt::<Int32Type>() {
        Some(d) if d.values().data_type() == &DataType::Utf8 => d,
        _ => {
            normalized = arrow::compute::cast(array, &factor_type())
                .map_err(|e| Error::arrow("reading a factor column", e))?;
            normalized.as_dictionary_opt::<Int32Type>().ok_or_else(|| {
                Error::Schema(format!(
                    "a factor column has type {}; expected a dictionary of strings",
                    array.data_type()
                ))
            })?
        }
    };
    let keys = dict.keys();
    let nvalues = dict.values().len();
    // slot[k]: position of dictionary entry k among the referenced values, or -1.
    let mut slot = vec![-1i32; nvalues];
    let mut order: Vec<u32> = Vec::new();
    for (i, &k) in keys.values().iter().enumerate() {
        if keys.is_valid(i)
            && let Some(s) = slot.get_mut(k as usize)
            && *s < 0
        {
            *s = order.len() as i32;
            order.push(k as u32);
        }
    }
    let distinct = arrow::compute::take(dict.values().as_ref(), &UInt32Array::from(order), None)
        .map_err(|e| Error::arrow("reading factor levels", e))?;
    let encoded = encode(&distinct)?;
    let enc = encoded.as_dictionary_opt::<Int32Type>().ok_or_else(|| {
        Error::Schema("internal: factor encoding did not give a dictionary array".into())
    })?;
    let codes = enc.keys();
    // map[k]: the stream code of dictionary entry k, or -1 (not referenced, or encoded as missing).
    let map: Vec<i32> = slot
        .iter()
        .map(|&s| match usize::try_from(s) {
            Ok(s) if s < codes.len() && codes.is_valid(s) => codes.value(s),
            _ => -1,
        })
        .collect();
    let raw: Vec<i32> = keys
        .values()
        .iter()
        .map(|&k| map.get(k as usize).copied().unwrap_or(-1))
        .collect();
    let valid = BooleanBuffer::collect_bool(raw.len(), |i| keys.is_valid(i) && raw[i] >= 0);
    let nulls = NullBuffer::new(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let values: Vec<i32> = raw.into_iter().map(|c| c.max(0)).collect();
    Ok((Int32Array::new(values.into(), nulls), enc.values().clone()))
}

/// Re-codes factor arrays onto one growing level table (used where no `ColumnConverter` applies:
/// Parquet sources and sinks).
#[derive(Debug, Clone)]
pub(crate) struct FactorRecoder {
    table: LevelTable,
    /// The table as an array, rebuilt when it grows.
    values: Option<ArrayRef>,
}

impl FactorRecoder {
    /// A recoder whose table starts with `levels`.
    pub(crate) fn new(levels: &[String]) -> Self {
        FactorRecoder {
            table: LevelTable::with_levels(levels),
            values: None,
        }
    }

    /// The levels so far.
    pub(crate) fn levels(&self) -> &[String] {
        self.table.levels()
    }

    fn values(&mut self) -> ArrayRef {
        match &self.values {
            Some(v) if v.len() == self.table.levels().len() => v.clone(),
            _ => {
                let v: ArrayRef =
                    Arc::new(StringArray::from_iter_values(self.table.levels().iter()));
                self.values = Some(v.clone());
                v
            }
        }
    }

    /// Re-codes one chunk of a factor column.
    pub(crate) fn recode(&mut self, array: &dyn Array, what: &str) -> Result<ArrayRef> {
        // Fast path: the chunk's dictionary is a prefix of the table (as in files written from a
        // stream with a fixed level table), so its keys are already stream codes.
        if let Some(d) = array.as_dictionary_opt::<Int32Type>()
            && let Some(vals) = d.values().as_string_opt::<i32>()
            && vals.len() <= self.table.levels().len()
            && vals.null_count() == 0
            && vals
                .iter()
                .zip(self.table.levels())
                .all(|(a, b)| a == Some(b.as_str()))
        {
            let keys = d.keys().clone();
            let values = self.values();
            let out = DictionaryArray::<Int32Type>::try_new(keys, values)
                .map_err(|e| Error::arrow(what.to_string(), e))?;
            return Ok(Arc::new(out));
        }
        let table = &mut self.table;
        let out = remap_factor(array, |distinct| {
            let strings = distinct
                .as_string_opt::<i32>()
                .ok_or_else(|| Error::Schema(format!("{what}: factor levels are not strings")))?;
            let enc = table.encode_strings(strings, false, what)?;
            Ok(Arc::new(enc) as ArrayRef)
        })?;
        Ok(out)
    }
}

pub(crate) use rx_core::fs::{persist, temp_beside};

/// Runs `f`, turning a panic inside a library (on damaged input) into [`Error::Corrupt`].
pub(crate) fn no_panic<T>(path: &Path, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown failure".into());
            Err(Error::corrupt(
                path,
                format!("{what} failed ({msg}); the file is damaged or not in the expected format"),
            ))
        }
    }
}

/// Splits `n_items` into at most `parts` contiguous, non-empty ranges of nearly equal size.
pub(crate) fn contiguous_parts(n_items: usize, parts: usize) -> Vec<std::ops::Range<usize>> {
    let parts = parts.clamp(1, n_items.max(1));
    let mut out = Vec::with_capacity(parts);
    let mut start = 0;
    for p in 0..parts {
        let end = n_items * (p + 1) / parts;
        if end > start {
            out.push(start..end);
        }
        start = end;
    }
    out
}

/// Ends a chunk stream at its end or at its first error: `done` is set, and later calls return
/// `None` (callers check `done` first).
pub(crate) fn fuse(
    done: &mut bool,
    next: Result<Option<RecordBatch>>,
) -> Option<Result<RecordBatch>> {
    match next {
        Ok(Some(b)) => Some(Ok(b)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}

/// A chunk written to `path` must have the output's `expected` number of columns.
pub(crate) fn check_column_count(path: &Path, batch: &RecordBatch, expected: usize) -> Result<()> {
    if batch.num_columns() != expected {
        return Err(Error::Schema(format!(
            "{}: a chunk has {} columns but the output has {expected}",
            path.display(),
            batch.num_columns()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;
    use arrow::datatypes::Field;

    fn batch(vals: Vec<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, true)]));
        RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vals))]).unwrap()
    }

    #[test]
    fn rechunker_gives_exact_chunks() {
        let mut r = Rechunker::new(4);
        r.push(batch(vec![1, 2, 3]));
        r.push(batch(vec![4, 5, 6, 7, 8, 9]));
        let a = r.pop(false).unwrap().unwrap();
        assert_eq!(a.num_rows(), 4);
        let b = r.pop(false).unwrap().unwrap();
        assert_eq!(
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec(),
            vec![5, 6, 7, 8]
        );
        assert!(r.pop(false).unwrap().is_none());
        assert_eq!(r.pop(true).unwrap().unwrap().num_rows(), 1);
        assert!(r.pop(true).unwrap().is_none());
    }

    #[test]
    fn assembler_gives_exact_chunks_of_the_same_rows() {
        use arrow::array::{BooleanArray, Date32Array, Float64Array, LargeStringArray};
        let schema = Arc::new(Schema::new(vec![
            Field::new("f", DataType::Float64, true),
            Field::new("i", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("d", DataType::Date32, true),
            Field::new("l", DataType::LargeUtf8, true),
        ]));
        let make = |from: usize, n: usize| {
            let r = from..from + n;
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from_iter(
                    r.clone().map(|i| (i % 7 != 0).then_some(i as f64)),
                )),
                Arc::new(Int32Array::from_iter(r.clone().map(|i| Some(i as i32)))),
                Arc::new(StringArray::from_iter(
                    r.clone().map(|i| (i % 5 != 1).then(|| "x".repeat(i % 4))),
                )),
                Arc::new(BooleanArray::from_iter(
                    r.clone().map(|i| (i % 11 != 2).then_some(i % 3 == 0)),
                )),
                Arc::new(Date32Array::from_iter_values(r.clone().map(|i| i as i32))),
                Arc::new(LargeStringArray::from_iter_values(
                    r.clone().map(|i| i.to_string()),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        };
        // Batches of odd sizes, some of them slices (offsets not at 0), one bigger than a chunk.
        let sizes = [3usize, 17, 1, 40, 9, 100, 2, 33];
        let mut inputs = Vec::new();
        let mut at = 0;
        for (k, &n) in sizes.iter().enumerate() {
            let b = make(at, n + 5);
            inputs.push(if k % 2 == 0 {
                b.slice(5, n)
            } else {
                b.slice(0, n)
            });
            at += n;
        }
        for target in [1usize, 7, 16, 64, 1000] {
            let mut a = ChunkAssembler::new(schema.clone(), target);
            a.expect_rows(10);
            let mut out = Vec::new();
            for b in &inputs {
                a.push(b).unwrap();
                while let Some(c) = a.pop(false).unwrap() {
                    out.push(c);
                }
            }
            while let Some(c) = a.pop(true).unwrap() {
                out.push(c);
            }
            let total: usize = sizes.iter().sum();
            let n_chunks = total.div_ceil(target);
            assert_eq!(out.len(), n_chunks, "target {target}");
            for (k, c) in out.iter().enumerate() {
                let want = if k + 1 < n_chunks {
                    target
                } else {
                    total - target * k
                };
                assert_eq!(c.num_rows(), want, "target {target}");
            }
            let got = arrow::compute::concat_batches(&schema, &out).unwrap();
            let want = arrow::compute::concat_batches(&schema, &inputs).unwrap();
            assert_eq!(got, want, "target {target}");

            // Chunks dropped as soon as they are checked: later chunks reuse their buffers.
            let mut a = ChunkAssembler::new(schema.clone(), target);
            let mut at = 0;
            let mut check = |c: RecordBatch| {
                assert_eq!(c, want.slice(at, c.num_rows()), "target {target} at {at}");
                at += c.num_rows();
            };
            for b in &inputs {
                a.push(b).unwrap();
                while let Some(c) = a.pop(false).unwrap() {
                    check(c);
                }
            }
            while let Some(c) = a.pop(true).unwrap() {
                check(c);
            }
            assert_eq!(at, total);
        }
    }

    #[test]
    fn recoder_maps_by_name_in_order_of_appearance() {
        let mut r = FactorRecoder::new(&["x".into()]);
        let a: DictionaryArray<Int32Type> = vec![Some("b"), None, Some("x"), Some("a"), Some("b")]
            .into_iter()
            .collect();
        let out = r.recode(&a, "t").unwrap();
        let d = out.as_dictionary::<Int32Type>();
        assert_eq!(
            d.keys().iter().collect::<Vec<_>>(),
            vec![Some(1), None, Some(0), Some(2), Some(1)]
        );
        assert_eq!(r.levels(), ["x", "b", "a"]);
        // Already on the table: keys kept.
        let same = r.recode(&out, "t").unwrap();
        assert_eq!(same.as_dictionary::<Int32Type>().keys(), d.keys());
    }

    #[test]
    fn contiguous_parts_cover_everything() {
        assert_eq!(contiguous_parts(5, 2), vec![0..2, 2..5]);
        assert_eq!(contiguous_parts(2, 8), vec![0..1, 1..2]);
        assert_eq!(contiguous_parts(0, 3), Vec::<std::ops::Range<usize>>::new());
    }
}
