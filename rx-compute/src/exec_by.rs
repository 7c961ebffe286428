//! `rx_exec_by`: split a source by the values of key columns and run a function on each part.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array, make_array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use rayon::prelude::*;
use rx_core::source::{ReadOptions, WriteOptions};
use rx_core::{DataSink, DataSource, Error, Result, RxOptions};
use rx_data::MemoryData;
use rx_xdf::XdfData;

use crate::exec::run_task;
use crate::local::RxComputeContext;

/// What [`rx_exec_by`] returns: one row per key combination, in key order.
#[derive(Debug)]
pub struct ExecByResult<R> {
    /// The key columns, one row per partition (factor keys keep their level table).
    pub keys: RecordBatch,
    /// The rows in each partition.
    pub rows: Vec<u64>,
    /// The function's result, or the error of that partition's task.
    pub results: Vec<Result<R>>,
}

impl<R> ExecByResult<R> {
    /// A table of the keys, the partition's row count (`.rxNumRows`), `status` (`ok` / `error`),
    /// `result` (`render` of the result) and `error` (the message of a failed task).
    pub fn table(&self, render: impl Fn(&R) -> String) -> Result<RecordBatch> {
        let mut fields: Vec<Field> = self
            .keys
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut columns: Vec<ArrayRef> = self.keys.columns().to_vec();
        fields.push(Field::new(".rxNumRows", DataType::UInt64, false));
        columns.push(Arc::new(arrow::array::UInt64Array::from(self.rows.clone())));
        fields.push(Field::new("status", DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from_iter_values(
            self.results
                .iter()
                .map(|r| if r.is_ok() { "ok" } else { "error" }),
        )));
        fields.push(Field::new("result", DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter(
            self.results.iter().map(|r| r.as_ref().ok().map(&render)),
        )));
        fields.push(Field::new("error", DataType::Utf8, true));
        columns.push(Arc::new(StringArray::from_iter(
            self.results
                .iter()
                .map(|r| r.as_ref().err().map(error_chain)),
        )));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| Error::arrow("building the rx_exec_by table", e))
    }
}

/// An error with its sources, one line.
fn error_chain(e: &Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// One partition while the source is being split.
struct Part {
    key: Vec<ArrayRef>,
    buffered: Vec<RecordBatch>,
    rows: u64,
    spill: Option<XdfData>,
}

/// Splits `source` by the values of the `keys` columns and runs `f(key_row, partition)` on each
/// partition in `context` (in parallel tasks in a parallel context). `key_row` is a one-row batch
/// of the key columns; `partition` has every column of the source, with factor columns keeping
/// the source's full level table (unlike RevoScaleR, which drops absent levels).
///
/// Partitions come in key order (factor keys in level order, others by value); rows whose key is
/// missing form their own partition (with a null key) rather than being dropped. The split is one
/// pass; partitions are kept in memory while they fit in `options.max_cache_bytes` and spilled to
/// temporary .xdf files past it, so a source larger than memory can be split.
pub fn rx_exec_by<R, F>(
    context: &RxComputeContext,
    source: &dyn DataSource,
    keys: &[&str],
    options: &RxOptions,
    f: F,
) -> Result<ExecByResult<R>>
where
    R: Send,
    F: Fn(&RecordBatch, &dyn DataSource) -> Result<R> + Sync,
{
    if keys.is_empty() {
        return Err(Error::invalid(
            "rx_exec_by needs at least one key column to split by",
        ));
    }
    let schema = source.schema()?;
    let mut key_idx = Vec::with_capacity(keys.len());
    for k in keys {
        let i = schema
            .index_of(k)
            .map_err(|_| Error::unknown_column(k, &source.name(), &schema))?;
        let dt = schema.field(i).data_type();
        if matches!(
            dt,
            DataType::Float32 | DataType::Float64 | DataType::Float16
        ) {
            return Err(Error::invalid(format!(
                "rx_exec_by: key column '{k}' is floating point; split by a factor, string, integer, logical or date column (convert it with F({k}) or a transform first)"
            )));
        }
        key_idx.push(i);
    }
    let spill_dir = tempfile::Builder::new()
        .prefix("rx-exec-by-")
        .tempdir()
        .map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let budget = options.max_cache_bytes;
    let reader = source.open(&ReadOptions {
        rows_per_read: Some(options.rows_per_read),
        ..Default::default()
    })?;
    let mut groups: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut converter: Option<RowConverter> = None;
    let mut chunk_schema: Option<SchemaRef> = None;
    let mut buffered_bytes = 0usize;
    for chunk in reader {
        let chunk = chunk?;
        if chunk_schema.is_none() {
            chunk_schema = Some(chunk.schema());
        }
        if chunk.num_rows() == 0 {
            continue;
        }
        // Factors group (and sort) by their codes, i.e. in level order; other keys by value.
        let group_cols: Vec<ArrayRef> = key_idx
            .iter()
            .map(|&i| {
                let c = chunk.column(i);
                match c.as_any_dictionary_opt() {
                    Some(d) => make_array(d.keys().to_data()),
                    None => c.clone(),
                }
            })
            .collect();
        if converter.is_none() {
            let fields = group_cols
                .iter()
                .map(|c| SortField::new(c.data_type().clone()))
                .collect();
            converter = Some(
                RowConverter::new(fields)
                    .map_err(|e| Error::arrow("rx_exec_by: preparing the key columns", e))?,
            );
        }
        let Some(conv) = converter.as_ref() else {
            continue;
        };
        let rows = conv
            .convert_columns(&group_cols)
            .map_err(|e| Error::arrow("rx_exec_by: reading the key columns", e))?;
        let mut chunk_groups: BTreeMap<usize, Vec<u32>> = BTreeMap::new();
        for (r, row) in rows.iter().enumerate() {
            let bytes = row.as_ref();
            let g = match groups.get(bytes) {
                Some(&g) => g,
                None => {
                    let g = parts.len();
                    groups.insert(bytes.to_vec(), g);
                    parts.push(Part {
                        key: key_idx
                            .iter()
                            .map(|&i| chunk.column(i).slice(r, 1))
                            .collect(),
                        buffered: Vec::new(),
                        rows: 0,
                        spill: None,
                    });
                    g
                }
            };
            chunk_groups.entry(g).or_default().push(r as u32);
        }
        for (g, idx) in chunk_groups {
            let idx = UInt32Array::from(idx);
            let part = arrow::compute::take_record_batch(&chunk, &idx)
                .map_err(|e| Error::arrow("rx_exec_by: splitting a chunk", e))?;
            buffered_bytes += part.get_array_memory_size();
            parts[g].rows += part.num_rows() as u64;
            parts[g].buffered.push(part);
        }
        if buffered_bytes > budget {
            for (g, part) in parts.iter_mut().enumerate() {
                spill(part, g, spill_dir.path())?;
            }
            buffered_bytes = 0;
        }
    }
    let schema = chunk_schema.unwrap_or(schema);
    if parts.iter().any(|p| p.spill.is_some()) {
        for (g, part) in parts.iter_mut().enumerate() {
            spill(part, g, spill_dir.path())?;
        }
    }
    // Key order: BTreeMap iteration over the row-format bytes.
    let order: Vec<usize> = groups.values().copied().collect();
    let mut ordered: Vec<Option<Part>> = parts.into_iter().map(Some).collect();
    let parts: Vec<Part> = order
        .iter()
        .filter_map(|&g| ordered.get_mut(g).and_then(Option::take))
        .collect();
    let key_schema = Arc::new(Schema::new(
        key_idx
            .iter()
            .map(|&i| schema.field(i).as_ref().clone())
            .collect::<Vec<_>>(),
    ));
    let key_columns: Vec<ArrayRef> = (0..key_idx.len())
        .map(|k| {
            let pieces: Vec<&dyn Array> = parts.iter().map(|p| p.key[k].as_ref()).collect();
            if pieces.is_empty() {
                Ok(arrow::array::new_empty_array(
                    key_schema.field(k).data_type(),
                ))
            } else {
                arrow::compute::concat(&pieces)
                    .map_err(|e| Error::arrow("rx_exec_by: collecting the keys", e))
            }
        })
        .collect::<Result<_>>()?;
    let keys_batch = RecordBatch::try_new(key_schema, key_columns)
        .map_err(|e| Error::arrow("rx_exec_by: collecting the keys", e))?;
    let run_one = |(i, part): (usize, &Part)| -> Result<R> {
        let key_row = keys_batch.slice(i, 1);
        run_task(i, || match &part.spill {
            Some(x) => f(&key_row, x),
            None => {
                let data = MemoryData::new(schema.clone(), part.buffered.clone())?
                    .with_name(format!("{} (partition {})", source.name(), i + 1));
                f(&key_row, &data)
            }
        })
    };
    let results: Vec<Result<R>> = match context {
        RxComputeContext::LocalSeq => parts.iter().enumerate().map(run_one).collect(),
        _ => context.install(|| parts.par_iter().enumerate().map(run_one).collect()),
    };
    let rows = parts.iter().map(|p| p.rows).collect();
    drop(parts);
    drop(spill_dir);
    Ok(ExecByResult {
        keys: keys_batch,
        rows,
        results,
    })
}

/// Appends a partition's buffered rows to its temporary .xdf file.
fn spill(part: &mut Part, g: usize, dir: &std::path::Path) -> Result<()> {
    if part.buffered.is_empty() {
        return Ok(());
    }
    let xdf = part
        .spill
        .get_or_insert_with(|| XdfData::new(dir.join(format!("part-{g}.xdf"))))
        .clone();
    let schema = part.buffered[0].schema();
    let mut w = xdf.create(
        schema,
        &WriteOptions::default().append().compression_level(1),
    )?;
    for b in part.buffered.drain(..) {
        w.write(&b)?;
    }
    w.finish()?;
    Ok(())
}
