//! `rx_partition` (revoscalepy's `rx_partition`): split a source by the values of key columns into
//! a partitioned .xdf set — one .xdf file per key combination in a directory, and a partitions
//! table (`partitions.xdf`: the key values, the file and its row count) that [`rx_get_partitions`]
//! reads back. One pass; memory is one chunk plus one open writer per partition.
//!
//! The set is written into a temporary directory next to the output and renamed into place when
//! complete, so a failed partitioning leaves nothing that looks like a finished set (and a set it
//! was replacing stays intact).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rx_core::{
    ChunkWriter, DataSink, DataSource, Error, ReadOptions, Result, WriteMode, WriteOptions,
};
use rx_data::MemoryData;
use rx_xdf::XdfData;

/// The partitions table's file name inside a partitioned set.
pub const PARTITIONS_FILE: &str = "partitions.xdf";

/// What `rx_partition` does.
#[derive(Debug, Clone, Default)]
pub struct PartitionOptions {
    /// Replace an existing set.
    pub overwrite: bool,
    /// Compression level of the files.
    pub compression_level: Option<u32>,
}

/// One partition: its file (relative to the set's directory) and rows, with the key values in the
/// partitions table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The file, relative to the set's directory.
    pub file: String,
    /// Rows in the file.
    pub rows: u64,
}

struct Open {
    file: String,
    writer: Box<dyn ChunkWriter>,
    keys: RecordBatch,
    rows: u64,
}

/// Splits `input` by the values of `by` into a partitioned .xdf set in `out_dir`; returns the
/// partitions in order of first appearance.
pub fn rx_partition(
    input: Arc<dyn DataSource>,
    out_dir: &Path,
    by: &[String],
    options: &PartitionOptions,
) -> Result<Vec<Partition>> {
    if by.is_empty() {
        return Err(Error::invalid(
            "rx_partition: give the key columns to partition by",
        ));
    }
    let schema = input.schema()?;
    for k in by {
        if schema.field_with_name(k).is_err() {
            return Err(Error::unknown_column(k, &input.name(), &schema));
        }
    }
    if out_dir.exists() && !options.overwrite {
        return Err(Error::Exists {
            path: out_dir.to_path_buf(),
        });
    }
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".rx-partition-")
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let mut write = WriteOptions {
        mode: WriteMode::Create,
        ..WriteOptions::default()
    };
    if let Some(c) = options.compression_level {
        write.compression_level = c;
    }
    let key_idx: Vec<usize> = by
        .iter()
        .map(|k| schema.index_of(k).unwrap_or_default())
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut open: HashMap<String, Open> = HashMap::new();
    let mut used_files: HashMap<String, usize> = HashMap::new();
    for batch in input.open(&ReadOptions::default())? {
        let batch = batch?;
        let labels: Vec<StringArray> = key_idx
            .iter()
            .map(|&i| labels_of(batch.column(i)))
            .collect::<Result<_>>()?;
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut slot: HashMap<String, usize> = HashMap::new();
        for row in 0..batch.num_rows() {
            let key = labels
                .iter()
                .map(|l| {
                    if l.is_null(row) {
                        "\u{0}NA"
                    } else {
                        l.value(row)
                    }
                })
                .collect::<Vec<_>>()
                .join("\u{1}");
            let g = *slot.entry(key.clone()).or_insert_with(|| {
                groups.push((key, Vec::new()));
                groups.len() - 1
            });
            groups[g].1.push(row as u32);
        }
        for (key, rows) in groups {
            let idx = UInt32Array::from(rows);
            let cols: Vec<ArrayRef> = batch
                .columns()
                .iter()
                .map(|c| datafusion::arrow::compute::take(c, &idx, None))
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| Error::arrow("partitioning a chunk", e))?;
            let part = RecordBatch::try_new(batch.schema(), cols)
                .map_err(|e| Error::arrow("partitioning a chunk", e))?;
            if !open.contains_key(&key) {
                let stem = file_stem(by, &labels, idx.value(0) as usize);
                let n = used_files.entry(stem.clone()).or_insert(0);
                *n += 1;
                let file = if *n == 1 {
                    format!("{stem}.xdf")
                } else {
                    format!("{stem}~{n}.xdf")
                };
                let writer = XdfData::new(tmp.path().join(&file)).create(schema.clone(), &write)?;
                let keys = part
                    .project(&key_idx)
                    .map_err(|e| Error::arrow("partition keys", e))?
                    .slice(0, 1);
                order.push(key.clone());
                open.insert(
                    key.clone(),
                    Open {
                        file,
                        writer,
                        keys,
                        rows: 0,
                    },
                );
            }
            if let Some(o) = open.get_mut(&key) {
                o.writer.write(&part)?;
                o.rows += part.num_rows() as u64;
            }
        }
    }
    let mut parts = Vec::with_capacity(order.len());
    let mut key_rows = Vec::with_capacity(order.len());
    for key in &order {
        if let Some(o) = open.remove(key) {
            o.writer.finish()?;
            parts.push(Partition {
                file: o.file,
                rows: o.rows,
            });
            key_rows.push(o.keys);
        }
    }
    write_table(tmp.path(), &schema, &key_idx, &key_rows, &parts)?;
    // Into place: the finished set replaces an old one only now.
    let done = tmp.keep();
    if out_dir.exists() {
        let old = parent.join(format!(".rx-partition-old-{}", std::process::id()));
        std::fs::rename(out_dir, &old).map_err(|e| Error::io(out_dir, e))?;
        std::fs::rename(&done, out_dir).map_err(|e| Error::io(out_dir, e))?;
        std::fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
    } else {
        std::fs::rename(&done, out_dir).map_err(|e| Error::io(out_dir, e))?;
    }
    Ok(parts)
}

/// A key column's values as labels (factor labels for factors).
fn labels_of(a: &ArrayRef) -> Result<StringArray> {
    let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)
        .map_err(|e| Error::arrow("reading partition keys", e))?;
    Ok(s.as_string::<i32>().clone())
}

/// `k1=v1,k2=v2` with characters that do not belong in a file name replaced.
fn file_stem(by: &[String], labels: &[StringArray], row: usize) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .take(60)
            .collect()
    };
    by.iter()
        .zip(labels)
        .map(|(k, l)| {
            let v = if l.is_null(row) { "NA" } else { l.value(row) };
            format!("{}={}", clean(k), clean(v))
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn write_table(
    dir: &Path,
    schema: &SchemaRef,
    key_idx: &[usize],
    key_rows: &[RecordBatch],
    parts: &[Partition],
) -> Result<()> {
    let keys_schema = Arc::new(
        schema
            .project(key_idx)
            .map_err(|e| Error::arrow("partition keys", e))?,
    );
    let keys = datafusion::arrow::compute::concat_batches(&keys_schema, key_rows)
        .map_err(|e| Error::arrow("the partitions table", e))?;
    let mut fields: Vec<Field> = keys_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("file", DataType::Utf8, false));
    fields.push(Field::new("rows", DataType::Int64, false));
    let mut cols = keys.columns().to_vec();
    cols.push(Arc::new(StringArray::from_iter_values(
        parts.iter().map(|p| p.file.as_str()),
    )));
    cols.push(Arc::new(Int64Array::from_iter_values(
        parts
            .iter()
            .map(|p| i64::try_from(p.rows).unwrap_or(i64::MAX)),
    )));
    let table = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::arrow("the partitions table", e))?;
    let mut w =
        XdfData::new(dir.join(PARTITIONS_FILE)).create(table.schema(), &WriteOptions::default())?;
    w.write(&table)?;
    w.finish()?;
    Ok(())
}

/// The partitions table of a set written by [`rx_partition`]: the key columns, `file` (relative to
/// the directory) and `rows`, one row per partition.
pub fn rx_get_partitions(dir: &Path) -> Result<MemoryData> {
    let path = dir.join(PARTITIONS_FILE);
    if !path.exists() {
        return Err(Error::invalid(format!(
            "{}: not a partitioned set (no {PARTITIONS_FILE}); make one with rx_partition / rx partition",
            dir.display()
        )));
    }
    let src = XdfData::new(path);
    let schema = src.schema()?;
    let batches = src
        .open(&ReadOptions::default())?
        .collect::<Result<Vec<_>>>()?;
    MemoryData::new(schema, batches)
}
