//! Helpers shared by the sources and sinks of this crate: column projection, re-chunking to
//! `rows_per_read`, factor re-coding onto a stream-wide level table, atomic output files and
//! turning library panics on damaged input into errors.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Int32Type, Schema};
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
