//! Writing .xdf files: a new file, an overwrite, or an append — always to a temporary file in the
//! same directory that is renamed into place when complete, so a writer that dies never leaves a
//! file that reads as valid but wrong, and an append leaves the old file valid until the new one,
//! footer included, is in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow_ipc::writer::{
    DictionaryHandling, DictionaryTracker, EncodedData, IpcDataGenerator, IpcWriteContext,
    IpcWriteOptions, write_message,
};
use arrow_ipc::{Block, CompressionType, MetadataVersion};
use flatbuffers::FlatBufferBuilder;
use rx_core::factor::{LevelTable, factor_to_strings, factor_type};
use rx_core::varinfo::{META_HIGH, META_LEVELS, META_LOW, fmt_f64};
use rx_core::{ChunkWriter, Error, Result, WriteMode, WriteOptions};

use crate::format::{
    ARROW_MAGIC, BlockSums, BlockTable, FORMAT_VERSION, KEY_BLOCKS, KEY_COMPRESSION, KEY_FORMAT,
    KEY_VERSION, RX_TRAILER_MAGIC, column_buffer_ranges, compression_name, message_flatbuffer,
    zstd_level,
};
use crate::reader::XdfFile;

/// Maps an input schema to the schema an .xdf file stores: factors as `Dictionary(Int32, Utf8)`,
/// large and view strings as `Utf8`, every field nullable; other unsupported types are an error.
pub fn storage_schema(schema: &Schema) -> Result<Schema> {
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let dt = match f.data_type() {
            DataType::Dictionary(_, v)
                if matches!(
                    **v,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) =>
            {
                factor_type()
            }
            DataType::LargeUtf8 | DataType::Utf8View => DataType::Utf8,
            DataType::Date64 => DataType::Date32,
            dt if crate::format::buffer_count(dt).is_some()
                && !matches!(dt, DataType::Dictionary(..)) =>
            {
                dt.clone()
            }
            dt => {
                return Err(Error::Schema(format!(
                    "column '{}' has type {dt}, which an .xdf file does not store; cast it to one of bool, \
                     int8/16/32/64, uint8/16/32, float32/64, string, factor, date32 or timestamp",
                    f.name()
                )));
            }
        };
        fields.push(Field::new(f.name(), dt, true).with_metadata(f.metadata().clone()));
    }
    Ok(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Per-column state kept across the stream.
#[derive(Debug, Clone)]
struct ColumnState {
    /// Level table of a factor column.
    levels: Option<LevelTable>,
    /// The dictionary values last written (reused while the level table does not change).
    values: Option<ArrayRef>,
    /// Dictionary values already stored in the file being appended to (their labels may have been
    /// changed since by `rx_set_var_info`, which only rewrites the footer metadata).
    physical: Vec<String>,
    low: Option<f64>,
    high: Option<f64>,
    numeric: bool,
}

/// An open .xdf output; see [`crate::XdfData`] for the usual way to get one.
pub struct XdfWriter {
    path: PathBuf,
    mode: WriteMode,
    out: Option<BufWriter<tempfile::NamedTempFile>>,
    schema: SchemaRef,
    options: IpcWriteOptions,
    compression: String,
    generator: IpcDataGenerator,
    context: IpcWriteContext,
    tracker: DictionaryTracker,
    offset: u64,
    dict_blocks: Vec<Block>,
    record_blocks: Vec<Block>,
    table: BlockTable,
    columns: Vec<ColumnState>,
    buffer_ranges: Vec<std::ops::Range<usize>>,
    rows_per_block: Option<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for XdfWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdfWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::io(path, e)
}

fn arrow_err(path: &Path) -> impl Fn(arrow::error::ArrowError) -> Error + '_ {
    move |e| Error::arrow(format!("writing {}", path.display()), e)
}

impl XdfWriter {
    /// Starts writing `schema` to `path` with `options` (create, overwrite or append).
    pub fn create(path: &Path, schema: &Schema, options: &WriteOptions) -> Result<Self> {
        let exists = path.exists();
        if path.is_dir() {
            return Err(Error::invalid(format!(
                "{} is a directory; a composite .xdf set is written with XdfData::composite",
                path.display()
            )));
        }
        if exists && options.mode == WriteMode::Create {
            return Err(Error::Exists {
                path: path.to_path_buf(),
            });
        }
        let tmp = rx_core::fs::temp_beside(path)?;

        if exists && options.mode == WriteMode::Append {
            let old = XdfFile::open(path)?;
            return Self::start_append(path, tmp, old, schema, options);
        }

        let storage = storage_schema(schema)?;
        let mut w = Self::new_state(path, tmp, Arc::new(storage), options)?;
        // Header: magic, padding to 8 bytes, schema message.
        let mut header = Vec::new();
        header.extend_from_slice(ARROW_MAGIC);
        header.extend_from_slice(&[0, 0]);
        let encoded = w.generator.schema_to_bytes_with_dictionary_tracker(
            &w.schema,
            &mut w.tracker,
            &w.options,
        );
        let (meta, data) =
            write_message(&mut header, encoded, &w.options).map_err(arrow_err(path))?;
        debug_assert_eq!(meta + data + 8, header.len());
        w.write_raw(&header)?;
        Ok(w)
    }

    fn new_state(
        path: &Path,
        tmp: tempfile::NamedTempFile,
        schema: SchemaRef,
        options: &WriteOptions,
    ) -> Result<Self> {
        let mut ipc = IpcWriteOptions::try_new(8, false, MetadataVersion::V5)
            .map_err(arrow_err(path))?
            .with_dictionary_handling(DictionaryHandling::Delta);
        ipc = match options.compression_level {
            0 => ipc,
            1 => ipc
                .try_with_compression(Some(CompressionType::LZ4_FRAME))
                .map_err(arrow_err(path))?,
            l => ipc
                .try_with_compression(Some(CompressionType::ZSTD))
                .and_then(|o| o.try_with_compression_level(Some(zstd_level(l))))
                .map_err(arrow_err(path))?,
        };
        let buffer_ranges = column_buffer_ranges(&schema).ok_or_else(|| {
            Error::Schema("the schema has a type an .xdf file does not store".into())
        })?;
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnState {
                levels: matches!(f.data_type(), DataType::Dictionary(..)).then(|| {
                    LevelTable::with_levels(&rx_core::varinfo::field_levels(f).unwrap_or_default())
                }),
                values: None,
                physical: Vec::new(),
                low: None,
                high: None,
                numeric: f.data_type().is_numeric(),
            })
            .collect();
        Ok(XdfWriter {
            path: path.to_path_buf(),
            mode: options.mode,
            out: Some(BufWriter::with_capacity(1 << 20, tmp)),
            schema,
            options: ipc,
            compression: compression_name(options.compression_level),
            generator: IpcDataGenerator::default(),
            context: IpcWriteContext::default(),
            tracker: DictionaryTracker::new(true),
            offset: 0,
            dict_blocks: Vec::new(),
            record_blocks: Vec::new(),
            table: BlockTable::default(),
            columns,
            buffer_ranges,
            rows_per_block: options.rows_per_block.filter(|&n| n > 0),
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
            scratch: Vec::new(),
        })
    }

    fn start_append(
        path: &Path,
        tmp: tempfile::NamedTempFile,
        old: XdfFile,
        schema: &Schema,
        options: &WriteOptions,
    ) -> Result<Self> {
        let old_schema = old.schema();
        // Every column of the file must be in the new data, and nothing else.
        for f in schema.fields() {
            if old_schema.field_with_name(f.name()).is_err() {
                return Err(Error::Schema(format!(
                    "cannot append to {}: column '{}' is not in the file (its columns are: {})",
                    path.display(),
                    f.name(),
                    old_schema
                        .fields()
                        .iter()
                        .map(|f| f.name().as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        for f in old_schema.fields() {
            if schema.field_with_name(f.name()).is_err() {
                return Err(Error::Schema(format!(
                    "cannot append to {}: the new rows have no column '{}'",
                    path.display(),
                    f.name()
                )));
            }
        }
        let mut opts = options.clone();
        if old.compression_level().is_some()
            && opts.compression_level == WriteOptions::default().compression_level
        {
            opts.compression_level = old.compression_level().unwrap_or(opts.compression_level);
        }
        let mut w = Self::new_state(path, tmp, old_schema.clone(), &opts)?;
        w.mode = WriteMode::Append;
        // Copy the old file's bytes up to the end of its last block; the old file is not touched.
        let data_end = old.data_end();
        let mut src = File::open(path).map_err(io_err(path))?.take(data_end);
        let out = w
            .out
            .as_mut()
            .ok_or_else(|| Error::invalid("writer is closed"))?;
        std::io::copy(&mut src, out.get_mut()).map_err(io_err(path))?;
        w.offset = data_end;
        w.dict_blocks = old.dict_blocks().to_vec();
        w.record_blocks = old.record_blocks().to_vec();
        w.table = old.block_table().clone();
        w.rows = old.num_rows();
        // The dictionary ids, as the schema assigns them.
        let _ = w.generator.schema_to_bytes_with_dictionary_tracker(
            &w.schema,
            &mut w.tracker,
            &w.options,
        );
        let ids: Vec<i64> = w.tracker.dict_id().to_vec();
        let dicts = old.dictionaries()?;
        let mut id_iter = ids.into_iter();
        for (i, f) in old_schema.fields().iter().enumerate() {
            let st = &mut w.columns[i];
            st.low = f.metadata().get(META_LOW).and_then(|v| v.parse().ok());
            st.high = f.metadata().get(META_HIGH).and_then(|v| v.parse().ok());
            if matches!(f.data_type(), DataType::Dictionary(..)) {
                let id = id_iter.next().ok_or_else(|| {
                    Error::corrupt(path, "dictionary ids do not match the schema")
                })?;
                if let Some(values) = dicts.get(&id) {
                    let physical: Vec<String> = values
                        .as_string::<i32>()
                        .iter()
                        .map(|v| v.unwrap_or_default().to_string())
                        .collect();
                    // The logical levels are the footer's (relabelled) ones when they match in number.
                    let logical = rx_core::varinfo::field_levels(f)
                        .filter(|l| l.len() == physical.len())
                        .unwrap_or_else(|| physical.clone());
                    st.levels = Some(LevelTable::with_levels(&logical));
                    st.physical = physical;
                    st.values = Some(values.clone());
                    let primer: ArrayRef = Arc::new(
                        DictionaryArray::<Int32Type>::try_new(
                            Int32Array::from(Vec::<i32>::new()),
                            values.clone(),
                        )
                        .map_err(arrow_err(path))?,
                    );
                    w.tracker
                        .insert_column(id, &primer, DictionaryHandling::Delta)
                        .map_err(arrow_err(path))?;
                }
            }
        }
        Ok(w)
    }

    /// The schema being written.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::invalid("the .xdf writer is closed"))?;
        out.write_all(bytes).map_err(|e| Error::io(&self.path, e))?;
        self.offset += bytes.len() as u64;
        Ok(())
    }

    /// Converts an input batch to the stored form, factor columns as plain Int32 codes into the
    /// stream's level table, and updates low/high.
    fn normalize(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        let mut fields = Vec::with_capacity(self.schema.fields().len());
        for (i, f) in self.schema.fields().iter().enumerate() {
            let Some(array) = batch.column_by_name(f.name()) else {
                return Err(Error::Schema(format!(
                    "writing {}: the chunk has no column '{}'",
                    self.path.display(),
                    f.name()
                )));
            };
            let what = format!("{}: column '{}'", self.path.display(), f.name());
            let st = &mut self.columns[i];
            let out: ArrayRef = if let Some(table) = st.levels.as_mut() {
                Arc::new(factor_codes(array, table, &what)?)
            } else if array.data_type() == f.data_type() {
                array.clone()
            } else {
                rx_core::column_info::cast_strict(array, f.data_type(), &what, self.rows)?
            };
            if st.numeric {
                update_range(&out, &mut st.low, &mut st.high);
            }
            let dt = out.data_type().clone();
            cols.push(out);
            fields.push(Field::new(f.name(), dt, true));
        }
        let schema = Arc::new(Schema::new(fields));
        RecordBatch::try_new_with_options(
            schema,
            cols,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(arrow_err(&self.path))
    }

    /// Turns a normalized batch into the stored batch (codes → dictionary arrays).
    fn stored_batch(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut cols = Vec::with_capacity(batch.num_columns());
        for (i, col) in batch.columns().iter().enumerate() {
            let st = &mut self.columns[i];
            if let Some(table) = &st.levels {
                let stale = st
                    .values
                    .as_ref()
                    .is_none_or(|v| v.len() != table.levels().len());
                if stale {
                    let n = st.physical.len();
                    let values = st.physical.iter().chain(table.levels().iter().skip(n));
                    st.values = Some(Arc::new(StringArray::from_iter_values(values)));
                }
                let values = st
                    .values
                    .clone()
                    .unwrap_or_else(|| Arc::new(StringArray::new_null(0)));
                let codes = col.as_primitive::<Int32Type>().clone();
                let dict = DictionaryArray::<Int32Type>::try_new(codes, values)
                    .map_err(arrow_err(&self.path))?;
                cols.push(Arc::new(dict) as ArrayRef);
            } else {
                cols.push(col.clone());
            }
        }
        RecordBatch::try_new_with_options(
            Arc::new(strip_metadata(&self.schema)),
            cols,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(arrow_err(&self.path))
    }

    fn write_block(&mut self, batch: &RecordBatch) -> Result<()> {
        let stored = self.stored_batch(batch)?;
        let (dicts, record) = self
            .generator
            .encode(&stored, &mut self.tracker, &self.options, &mut self.context)
            .map_err(arrow_err(&self.path))?;
        for d in dicts {
            let (meta, body) = self.encode_message(d)?;
            let crc = crc32fast::hash(&self.scratch);
            self.flush_scratch()?;
            self.dict_blocks.push(Block::new(
                self.offset_before(meta, body),
                meta as i32,
                body as i64,
            ));
            self.table.dicts.push(crc);
        }
        let (meta, body) = self.encode_message(record)?;
        let sums = self.block_sums(meta, stored.num_rows() as u64)?;
        self.flush_scratch()?;
        self.record_blocks.push(Block::new(
            self.offset_before(meta, body),
            meta as i32,
            body as i64,
        ));
        self.table.blocks.push(sums);
        self.rows += stored.num_rows() as u64;
        Ok(())
    }

    fn offset_before(&self, meta: usize, body: usize) -> i64 {
        (self.offset - (meta + body) as u64) as i64
    }

    fn encode_message(&mut self, data: EncodedData) -> Result<(usize, usize)> {
        self.scratch.clear();
        write_message(&mut self.scratch, data, &self.options).map_err(arrow_err(&self.path))
    }

    fn flush_scratch(&mut self) -> Result<()> {
        let scratch = std::mem::take(&mut self.scratch);
        let r = self.write_raw(&scratch);
        self.scratch = scratch;
        r
    }

    /// Checksums of the record-batch message in `scratch` (header region, then each column's buffers).
    fn block_sums(&self, meta_len: usize, rows: u64) -> Result<BlockSums> {
        let bad = || Error::invalid("internal error: could not re-read an encoded record batch");
        let meta = self.scratch.get(..meta_len).ok_or_else(bad)?;
        let body = self.scratch.get(meta_len..).ok_or_else(bad)?;
        let fb = message_flatbuffer(meta).ok_or_else(bad)?;
        let msg = arrow_ipc::root_as_message(fb).map_err(|_| bad())?;
        let rb = msg.header_as_record_batch().ok_or_else(bad)?;
        let buffers = rb.buffers().ok_or_else(bad)?;
        let mut c = Vec::with_capacity(self.buffer_ranges.len());
        for range in &self.buffer_ranges {
            let mut h = crc32fast::Hasher::new();
            for bi in range.clone() {
                let b = buffers.get(bi);
                let start = b.offset() as usize;
                let end = start + b.length() as usize;
                h.update(body.get(start..end).ok_or_else(bad)?);
            }
            c.push(h.finalize());
        }
        Ok(BlockSums {
            rows,
            h: crc32fast::hash(meta),
            c,
        })
    }

    fn write_pending(&mut self, all: bool) -> Result<()> {
        let Some(n) = self.rows_per_block else {
            for b in std::mem::take(&mut self.pending) {
                self.write_block(&b)?;
            }
            self.pending_rows = 0;
            return Ok(());
        };
        while self.pending_rows >= n || (all && self.pending_rows > 0) {
            let merged = arrow::compute::concat_batches(&self.pending[0].schema(), &self.pending)
                .map_err(arrow_err(&self.path))?;
            let take = n.min(merged.num_rows());
            self.write_block(&merged.slice(0, take))?;
            let rest = merged.slice(take, merged.num_rows() - take);
            self.pending_rows = rest.num_rows();
            self.pending = if rest.num_rows() > 0 {
                vec![rest]
            } else {
                Vec::new()
            };
        }
        Ok(())
    }

    /// The final schema: level tables and low/high in the field metadata.
    fn final_schema(&self) -> Schema {
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .zip(&self.columns)
            .map(|(f, st)| {
                let mut meta: HashMap<String, String> = f.metadata().clone();
                if let Some(t) = &st.levels {
                    meta.insert(
                        META_LEVELS.into(),
                        serde_json::to_string(t.levels()).unwrap_or_default(),
                    );
                }
                if st.numeric {
                    match (st.low, st.high) {
                        (Some(lo), Some(hi)) => {
                            meta.insert(META_LOW.into(), fmt_f64(lo));
                            meta.insert(META_HIGH.into(), fmt_f64(hi));
                        }
                        _ => {
                            meta.remove(META_LOW);
                            meta.remove(META_HIGH);
                        }
                    }
                }
                f.as_ref().clone().with_metadata(meta)
            })
            .collect();
        Schema::new_with_metadata(fields, self.schema.metadata().clone())
    }
}

fn strip_metadata(schema: &Schema) -> Schema {
    Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(HashMap::new()))
            .collect::<Vec<_>>(),
    )
}

/// Codes of a factor (or string) column in the stream's level table.
fn factor_codes(array: &ArrayRef, table: &mut LevelTable, what: &str) -> Result<Int32Array> {
    if let Some(dict) = array.as_any_dictionary_opt() {
        let values = factor_to_strings(dict.values().as_ref())?;
        // Map each dictionary entry to the stream's code (usually the identity: a prefix match).
        let mut map = Vec::with_capacity(values.len());
        let mut identity = true;
        for (i, v) in values.iter().enumerate() {
            let code = table
                .code_of(v.unwrap_or_default())
                .ok_or_else(|| Error::BadValue {
                    location: what.to_string(),
                    message: format!(
                        "level '{}' is not in the level table",
                        v.unwrap_or_default()
                    ),
                })?;
            identity &= code as usize == i;
            map.push(code);
        }
        let keys = arrow::compute::cast(dict.keys(), &DataType::Int32)
            .map_err(|e| Error::arrow(what.to_string(), e))?;
        let keys = keys.as_primitive::<Int32Type>();
        if identity {
            return Ok(keys.clone());
        }
        let mut bad = None;
        let out: Int32Array = keys
            .iter()
            .map(|k| {
                k.and_then(|k| {
                    let c = map.get(k as usize).copied();
                    if c.is_none() {
                        bad = Some(k);
                    }
                    c
                })
            })
            .collect();
        if let Some(k) = bad {
            return Err(Error::BadValue {
                location: what.to_string(),
                message: format!("dictionary key {k} is out of range"),
            });
        }
        Ok(out)
    } else {
        let strings = factor_to_strings(array.as_ref())?;
        Ok(table.encode_strings(&strings, false, what)?.keys().clone())
    }
}

/// Updates the running low/high of a numeric column (missing and NaN values ignored).
fn update_range(array: &ArrayRef, low: &mut Option<f64>, high: &mut Option<f64>) {
    use arrow::datatypes::*;
    let (lo, hi) = match array.data_type() {
        DataType::Float64 => min_max(array.as_primitive::<Float64Type>()),
        DataType::Float32 => min_max(array.as_primitive::<Float32Type>()),
        DataType::Int8 => min_max(array.as_primitive::<Int8Type>()),
        DataType::Int16 => min_max(array.as_primitive::<Int16Type>()),
        DataType::Int32 => min_max(array.as_primitive::<Int32Type>()),
        DataType::Int64 => min_max(array.as_primitive::<Int64Type>()),
        DataType::UInt8 => min_max(array.as_primitive::<UInt8Type>()),
        DataType::UInt16 => min_max(array.as_primitive::<UInt16Type>()),
        DataType::UInt32 => min_max(array.as_primitive::<UInt32Type>()),
        _ => return,
    };
    if lo <= hi {
        *low = Some(low.map_or(lo, |l| l.min(lo)));
        *high = Some(high.map_or(hi, |h| h.max(hi)));
    }
}

/// Smallest and largest value as f64, skipping missing values and NaN (`(inf, -inf)` if none).
fn min_max<T>(a: &arrow::array::PrimitiveArray<T>) -> (f64, f64)
where
    T: arrow::datatypes::ArrowPrimitiveType,
    T::Native: num_traits_like::ToF64,
{
    use num_traits_like::ToF64;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    let mut see = |v: f64| {
        // NaN compares false both ways and is skipped.
        if v < lo {
            lo = v;
        }
        if v > hi {
            hi = v;
        }
    };
    if a.null_count() == 0 {
        a.values().iter().for_each(|v| see(v.to_f64()));
    } else {
        a.iter().flatten().for_each(|v| see(v.to_f64()));
    }
    (lo, hi)
}

/// Lossless-enough conversion of stored numeric types to f64 for low/high.
mod num_traits_like {
    /// Converts to f64.
    pub trait ToF64: Copy {
        /// The value as f64.
        fn to_f64(self) -> f64;
    }
    macro_rules! to_f64 {
        ($($t:ty),*) => {$(impl ToF64 for $t { fn to_f64(self) -> f64 { self as f64 } })*};
    }
    to_f64!(f32, f64, i8, i16, i32, i64, u8, u16, u32);
}

impl ChunkWriter for XdfWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let normalized = self.normalize(batch)?;
        if normalized.num_rows() == 0 {
            // Nothing to store; the level tables and the schema already took what it had.
            return Ok(());
        }
        if self.rows_per_block.is_none() {
            return self.write_block(&normalized);
        }
        self.pending_rows += normalized.num_rows();
        self.pending.push(normalized);
        self.write_pending(false)
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.write_pending(true)?;
        // End-of-stream marker, then the rx trailer and the footer.
        let footer = self.footer_bytes()?;
        self.write_raw(&tail_bytes(&footer))?;
        let out = self
            .out
            .take()
            .ok_or_else(|| Error::invalid("the .xdf writer is closed"))?;
        let tmp = out
            .into_inner()
            .map_err(|e| Error::io(&self.path, e.into_error()))?;
        tmp.as_file()
            .sync_all()
            .map_err(|e| Error::io(&self.path, e))?;
        rx_core::fs::persist(tmp, &self.path, self.mode != WriteMode::Create)?;

        Ok(self.rows)
    }
}

impl XdfWriter {
    fn footer_bytes(&mut self) -> Result<Vec<u8>> {
        let schema = self.final_schema();
        footer_bytes(
            &schema,
            &self.dict_blocks,
            &self.record_blocks,
            &self.table,
            &self.compression,
        )
    }

    /// Record blocks written so far.
    pub fn num_blocks(&self) -> usize {
        self.record_blocks.len()
    }

    /// The schema as it would be written now: level tables and low/high in field metadata.
    pub fn current_schema(&self) -> Schema {
        self.final_schema()
    }
}

/// Builds an .xdf footer (schema with metadata, block lists, revoscale's custom metadata).
pub(crate) fn footer_bytes(
    schema: &Schema,
    dict_blocks: &[Block],
    record_blocks: &[Block],
    table: &BlockTable,
    compression: &str,
) -> Result<Vec<u8>> {
    let mut custom = HashMap::new();
    custom.insert(KEY_FORMAT.to_string(), "xdf".to_string());
    custom.insert(KEY_VERSION.to_string(), FORMAT_VERSION.to_string());
    custom.insert(KEY_COMPRESSION.to_string(), compression.to_string());
    custom.insert(
        KEY_BLOCKS.to_string(),
        serde_json::to_string(table).map_err(|e| Error::external("encoding the block table", e))?,
    );
    let mut fbb = FlatBufferBuilder::new();
    let dictionaries = fbb.create_vector(dict_blocks);
    let record_batches = fbb.create_vector(record_blocks);
    let mut tracker = DictionaryTracker::new(true);
    let fb_schema = arrow_ipc::convert::IpcSchemaEncoder::new()
        .with_dictionary_tracker(&mut tracker)
        .schema_to_fb_offset(&mut fbb, schema);
    let fb_custom = arrow_ipc::convert::metadata_to_fb(&mut fbb, &custom);
    let mut footer = arrow_ipc::FooterBuilder::new(&mut fbb);
    footer.add_version(MetadataVersion::V5);
    footer.add_schema(fb_schema);
    footer.add_dictionaries(dictionaries);
    footer.add_recordBatches(record_batches);
    footer.add_custom_metadata(fb_custom);
    let root = footer.finish();
    fbb.finish(root, None);
    Ok(fbb.finished_data().to_vec())
}

/// The bytes after the last block: end-of-stream marker, rx trailer, footer, footer length, magic.
pub(crate) fn tail_bytes(footer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(footer.len() + 40);
    out.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    out.extend_from_slice(RX_TRAILER_MAGIC);
    out.extend_from_slice(&crc32fast::hash(footer).to_le_bytes());
    out.extend_from_slice(&(footer.len() as u32).to_le_bytes());
    out.extend_from_slice(footer);
    out.extend_from_slice(&(footer.len() as i32).to_le_bytes());
    out.extend_from_slice(ARROW_MAGIC);
    out
}
