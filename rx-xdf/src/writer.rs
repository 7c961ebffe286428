//! Writing .xdf files: a new file, an overwrite, or an append — always to a temporary file in the
//! same directory that is renamed into place when complete, so a writer that dies never leaves a
//! file that reads as valid but wrong, and an append leaves the old file valid until the new one,
//! footer included, is in place.
//!
//! Record blocks and dictionary deltas are encoded here rather than by arrow-ipc's
//! `IpcDataGenerator`, in the same Arrow IPC layout (metadata V5, 8-byte alignment, per-buffer
//! `BodyCompression` with LZ4 frames or Zstandard, a buffer stored raw with length `-1` when
//! compressing does not make it smaller). Doing it here lets a block skip two copies: uncompressed
//! buffers go from the columns to the file, and compressed ones from the columns into scratch
//! buffers that are kept from block to block. Columns are compressed (and checksummed) in
//! parallel: the writing thread works through them and idle threads of the rayon pool join in,
//! so a writer that runs alongside a busy pool (an import decoding the next chunk) never waits
//! for the pool.
//!
//! Durability: the file is synced (`fsync`) before it is renamed into place, as always. To keep
//! that final sync short, a helper thread asks the kernel to write out the blocks already written
//! (`fdatasync`) while the next ones are produced; any error it meets is reported by `finish`.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use arrow::array::{Array, ArrayData, ArrayRef, AsArray, Int32Array, RecordBatch, StringArray};
use arrow::buffer::Buffer;
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use arrow_ipc::writer::{
    DictionaryHandling, DictionaryTracker, IpcDataGenerator, IpcWriteOptions, write_message,
};
use arrow_ipc::{Block, CompressionType, MetadataVersion};
use flatbuffers::FlatBufferBuilder;
use rx_core::factor::{LevelTable, factor_to_strings, factor_type};
use rx_core::varinfo::{META_HIGH, META_LEVELS, META_LOW, fmt_f64};
use rx_core::{ChunkWriter, Error, Result, WriteMode, WriteOptions};

use crate::format::{
    ARROW_MAGIC, BlockSums, BlockTable, FORMAT_VERSION, KEY_BLOCKS, KEY_COMPRESSION, KEY_FORMAT,
    KEY_VERSION, RX_TRAILER_MAGIC, compression_name, zstd_level,
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
    /// The dictionary id of a factor column (as the schema message assigns them).
    dict_id: Option<i64>,
    /// How many dictionary values of a factor column the file holds (`None`: no dictionary
    /// message yet, so the next one is the whole dictionary, not a delta).
    dict_written: Option<usize>,
}

/// An open .xdf output; see [`crate::XdfData`] for the usual way to get one.
pub struct XdfWriter {
    path: PathBuf,
    mode: WriteMode,
    out: Option<BufWriter<tempfile::NamedTempFile>>,
    schema: SchemaRef,
    options: IpcWriteOptions,
    compression: String,
    codec: Codec,
    generator: IpcDataGenerator,
    tracker: DictionaryTracker,
    offset: u64,
    dict_blocks: Vec<Block>,
    record_blocks: Vec<Block>,
    table: BlockTable,
    columns: Vec<ColumnState>,
    rows_per_block: Option<usize>,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    rows: u64,
    /// Per column, the scratch its compressed buffers go to (kept from block to block).
    packs: Vec<Vec<u8>>,
    /// Compressor state (LZ4 hash tables, Zstandard contexts), shared by the encoding threads.
    compressors: Arc<CompressorPool>,
    fbb: FlatBufferBuilder<'static>,
    scratch: Vec<u8>,
    /// Writes finished blocks out to disk in the background (see the module docs).
    syncer: Option<rx_core::fs::SyncAhead>,
    /// Bytes written since the last background sync was asked for.
    unsynced: u64,
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
        w.assign_dict_ids();
        w.write_raw(&header)?;
        Ok(w)
    }

    /// Takes the dictionary ids the schema message gave the factor columns, in schema order.
    fn assign_dict_ids(&mut self) {
        let ids: Vec<i64> = self.tracker.dict_id().to_vec();
        let mut ids = ids.into_iter();
        for (st, f) in self.columns.iter_mut().zip(self.schema.fields()) {
            if matches!(f.data_type(), DataType::Dictionary(..)) {
                st.dict_id = ids.next();
            }
        }
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
        if crate::format::column_buffer_ranges(&schema).is_none() {
            return Err(Error::Schema(
                "the schema has a type an .xdf file does not store".into(),
            ));
        }
        let codec = match options.compression_level {
            0 => Codec::None,
            1 => Codec::Lz4,
            l => Codec::Zstd(zstd_level(l)),
        };
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
                dict_id: None,
                dict_written: None,
            })
            .collect();
        let ncols = schema.fields().len();
        Ok(XdfWriter {
            path: path.to_path_buf(),
            mode: options.mode,
            out: Some(BufWriter::with_capacity(1 << 20, tmp)),
            schema,
            options: ipc,
            compression: compression_name(options.compression_level),
            codec,
            generator: IpcDataGenerator::default(),
            tracker: DictionaryTracker::new(true),
            offset: 0,
            dict_blocks: Vec::new(),
            record_blocks: Vec::new(),
            table: BlockTable::default(),
            columns,
            rows_per_block: options.rows_per_block.filter(|&n| n > 0),
            pending: Vec::new(),
            pending_rows: 0,
            rows: 0,
            packs: vec![Vec::new(); ncols],
            compressors: Arc::new(CompressorPool::new(codec)),
            fbb: FlatBufferBuilder::new(),
            scratch: Vec::new(),
            syncer: None,
            unsynced: 0,
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
        w.assign_dict_ids();
        let dicts = old.dictionaries()?;
        for (i, f) in old_schema.fields().iter().enumerate() {
            let st = &mut w.columns[i];
            st.low = f.metadata().get(META_LOW).and_then(|v| v.parse().ok());
            st.high = f.metadata().get(META_HIGH).and_then(|v| v.parse().ok());
            if matches!(f.data_type(), DataType::Dictionary(..)) {
                let id = st.dict_id.ok_or_else(|| {
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
                    st.dict_written = Some(physical.len());
                    st.physical = physical;
                    st.values = Some(values.clone());
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
    /// stream's level table, and (with `ranges`) updates low/high.
    fn normalize(&mut self, batch: &RecordBatch, ranges: bool) -> Result<RecordBatch> {
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
            if ranges && st.numeric {
                let (lo, hi) = min_max_of(&out);
                merge_range(lo, hi, &mut st.low, &mut st.high);
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

    /// Brings the dictionary values of factor column `i` up to date with its level table (the
    /// values already stored in an appended-to file, then the levels added since) and returns
    /// them.
    fn dict_values(&mut self, i: usize) -> Option<ArrayRef> {
        let st = &mut self.columns[i];
        let table = st.levels.as_ref()?;
        let stale = st
            .values
            .as_ref()
            .is_none_or(|v| v.len() != table.levels().len());
        if stale {
            let n = st.physical.len();
            let values = st.physical.iter().chain(table.levels().iter().skip(n));
            st.values = Some(Arc::new(StringArray::from_iter_values(values)));
        }
        st.values.clone()
    }

    /// Writes one record block: first a dictionary message for each factor column whose level
    /// table is new or grew (the whole dictionary the first time, then deltas), then the record
    /// batch, with its checksums.
    fn write_block(&mut self, batch: &RecordBatch) -> Result<()> {
        self.write_block_ranged(batch, false)
    }

    /// [`Self::write_block`], also updating low/high from the block when `ranges`.
    fn write_block_ranged(&mut self, batch: &RecordBatch, ranges: bool) -> Result<()> {
        for i in 0..batch.num_columns() {
            let Some(values) = self.dict_values(i) else {
                continue;
            };
            let st = &self.columns[i];
            let (Some(id), written) = (st.dict_id, st.dict_written) else {
                return Err(Error::invalid(format!(
                    "writing {}: internal error: factor column {i} has no dictionary id",
                    self.path.display()
                )));
            };
            let from = written.unwrap_or(0);
            if written.is_some() && values.len() <= from {
                continue;
            }
            let delta = values.slice(from, values.len() - from);
            self.write_dictionary(id, &delta, written.is_some())?;
            self.columns[i].dict_written = Some(values.len());
        }

        let rows = batch.num_rows();
        // Factor columns are stored as their codes (the dictionary went in its own messages).
        let columns: Vec<(ArrayRef, bool)> = batch
            .columns()
            .iter()
            .zip(&self.columns)
            .map(|(c, st)| (c.clone(), ranges && st.numeric))
            .collect();
        let bytes = batch.get_array_memory_size();
        let packs = std::mem::take(&mut self.packs);
        let encoded = encode_columns(
            columns,
            packs,
            self.codec,
            &self.compressors,
            bytes >= PARALLEL_MIN_BYTES,
        )?;
        for (e, st) in encoded.iter().zip(self.columns.iter_mut()) {
            if let Some((lo, hi)) = e.range {
                merge_range(lo, hi, &mut st.low, &mut st.high);
            }
        }
        let header =
            self.message_header(MessageKind::Record { rows }, &encoded, body_len(&encoded));
        let meta = header.len();
        let h = crc32fast::hash(&header);
        let start = self.offset;
        self.write_raw(&header)?;
        let body = self.write_body(&encoded)?;
        self.record_blocks
            .push(Block::new(start as i64, meta as i32, body as i64));
        self.table.blocks.push(BlockSums {
            rows: rows as u64,
            h,
            c: encoded.iter().map(|e| e.crc).collect(),
        });
        self.packs = encoded.into_iter().map(|e| e.pack).collect();
        self.rows += rows as u64;
        Ok(())
    }

    /// Writes a dictionary message (the values of one factor column's dictionary, or the values
    /// added since the last one when `delta`), with its checksum.
    fn write_dictionary(&mut self, id: i64, values: &ArrayRef, delta: bool) -> Result<()> {
        let (message, meta) = self.dictionary_message(id, values, delta)?;
        let body = message.len() - meta;
        let crc = crc32fast::hash(&message);
        let start = self.offset;
        self.write_raw(&message)?;
        self.dict_blocks
            .push(Block::new(start as i64, meta as i32, body as i64));
        self.table.dicts.push(crc);
        Ok(())
    }

    /// A dictionary message and the length of its header.
    fn dictionary_message(
        &mut self,
        id: i64,
        values: &ArrayRef,
        delta: bool,
    ) -> Result<(Vec<u8>, usize)> {
        let encoded = encode_columns(
            vec![(values.clone(), false)],
            vec![std::mem::take(&mut self.scratch)],
            self.codec,
            &self.compressors,
            false,
        )?;
        let header = self.message_header(
            MessageKind::Dictionary { id, delta },
            &encoded,
            body_len(&encoded),
        );
        let mut message = header.clone();
        let meta = header.len();
        for e in &encoded {
            e.append_body(&mut message);
        }
        self.scratch = encoded
            .into_iter()
            .next()
            .map(|e| e.pack)
            .unwrap_or_default();
        Ok((message, meta))
    }

    /// The encapsulated message header (continuation marker, length, flatbuffer, padding to 8) of
    /// a record batch or dictionary batch whose body holds `encoded`.
    fn message_header(
        &mut self,
        kind: MessageKind,
        encoded: &[EncodedColumn],
        body_len: usize,
    ) -> Vec<u8> {
        let fbb = &mut self.fbb;
        fbb.reset();
        let mut nodes = Vec::with_capacity(encoded.len());
        let mut buffers = Vec::new();
        let mut offset = 0usize;
        for e in encoded {
            nodes.push(e.node);
            for seg in &e.segs {
                let len = seg.len();
                buffers.push(arrow_ipc::Buffer::new(offset as i64, len as i64));
                offset += len + pad8(len);
            }
        }
        let compression = self.codec.ipc_type().map(|codec| {
            let mut c = arrow_ipc::BodyCompressionBuilder::new(fbb);
            c.add_method(arrow_ipc::BodyCompressionMethod::BUFFER);
            c.add_codec(codec);
            c.finish()
        });
        let buffers = fbb.create_vector(&buffers);
        let nodes = fbb.create_vector(&nodes);
        let length = match kind {
            MessageKind::Record { rows } => rows,
            MessageKind::Dictionary { .. } => encoded.first().map_or(0, |e| e.len),
        };
        let batch = {
            let mut b = arrow_ipc::RecordBatchBuilder::new(fbb);
            b.add_length(length as i64);
            b.add_nodes(nodes);
            b.add_buffers(buffers);
            if let Some(c) = compression {
                b.add_compression(c);
            }
            b.finish()
        };
        let (header_type, header) = match kind {
            MessageKind::Record { .. } => (
                arrow_ipc::MessageHeader::RecordBatch,
                batch.as_union_value(),
            ),
            MessageKind::Dictionary { id, delta } => {
                let mut d = arrow_ipc::DictionaryBatchBuilder::new(fbb);
                d.add_id(id);
                d.add_data(batch);
                d.add_isDelta(delta);
                (
                    arrow_ipc::MessageHeader::DictionaryBatch,
                    d.finish().as_union_value(),
                )
            }
        };
        let mut message = arrow_ipc::MessageBuilder::new(fbb);
        message.add_version(MetadataVersion::V5);
        message.add_header_type(header_type);
        message.add_bodyLength(body_len as i64);
        message.add_header(header);
        let root = message.finish();
        fbb.finish(root, None);
        let fb = fbb.finished_data();
        // Continuation marker and length, then the flatbuffer padded so the body starts aligned.
        let padded = fb.len() + pad8(fb.len() + 8);
        let mut out = Vec::with_capacity(8 + padded);
        out.extend_from_slice(&[0xff; 4]);
        out.extend_from_slice(&(padded as i32).to_le_bytes());
        out.extend_from_slice(fb);
        out.resize(8 + padded, 0);
        out
    }

    /// Writes the body of a message (every buffer, each padded to 8 bytes); returns its length.
    /// Every [`SYNC_AHEAD_BYTES`] written, the background thread is asked to write them out, so
    /// the disk works on the first buffers of a block while the next ones are copied.
    fn write_body(&mut self, encoded: &[EncodedColumn]) -> Result<usize> {
        let mut n = 0usize;
        for e in encoded {
            for seg in &e.segs {
                let bytes = e.bytes(seg);
                let pad = pad8(bytes.len());
                let out = self
                    .out
                    .as_mut()
                    .ok_or_else(|| Error::invalid("the .xdf writer is closed"))?;
                out.write_all(bytes)
                    .and_then(|_| out.write_all(&PADDING[..pad]))
                    .map_err(|err| Error::io(&self.path, err))?;
                n += bytes.len() + pad;
                self.unsynced += (bytes.len() + pad) as u64;
                if self.unsynced >= SYNC_AHEAD_BYTES {
                    self.unsynced = 0;
                    self.sync_ahead()?;
                }
            }
        }
        self.offset += n as u64;
        Ok(n)
    }

    /// Asks the background thread to write out what has been written so far (started on first
    /// use).
    fn sync_ahead(&mut self) -> Result<()> {
        if self.syncer.is_none() {
            let Some(out) = self.out.as_ref() else {
                return Ok(());
            };
            let file = out
                .get_ref()
                .as_file()
                .try_clone()
                .map_err(|e| Error::io(&self.path, e))?;
            self.syncer = rx_core::fs::SyncAhead::start(file);
        }
        if let Some(s) = &self.syncer {
            s.request();
        }
        Ok(())
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

/// Smallest and largest value of a numeric column as f64, missing and NaN values ignored
/// (`(inf, -inf)` when there is none, or for other types).
fn min_max_of(array: &ArrayRef) -> (f64, f64) {
    use arrow::datatypes::*;
    match array.data_type() {
        DataType::Float64 => min_max(array.as_primitive::<Float64Type>()),
        DataType::Float32 => min_max(array.as_primitive::<Float32Type>()),
        DataType::Int8 => min_max(array.as_primitive::<Int8Type>()),
        DataType::Int16 => min_max(array.as_primitive::<Int16Type>()),
        DataType::Int32 => min_max(array.as_primitive::<Int32Type>()),
        DataType::Int64 => min_max(array.as_primitive::<Int64Type>()),
        DataType::UInt8 => min_max(array.as_primitive::<UInt8Type>()),
        DataType::UInt16 => min_max(array.as_primitive::<UInt16Type>()),
        DataType::UInt32 => min_max(array.as_primitive::<UInt32Type>()),
        _ => (f64::INFINITY, f64::NEG_INFINITY),
    }
}

/// Folds a block's low/high into a column's running low/high.
fn merge_range(lo: f64, hi: f64, low: &mut Option<f64>, high: &mut Option<f64>) {
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
        // A chunk written as one block has its low/high taken while its columns are encoded (in
        // parallel); chunks re-blocked by `rows_per_block` have them taken now, so that
        // `current_schema` covers rows still waiting for their block.
        let direct = self.rows_per_block.is_none();
        let normalized = self.normalize(batch, !direct)?;
        if normalized.num_rows() == 0 {
            // Nothing to store; the level tables and the schema already took what it had.
            return Ok(());
        }
        if direct {
            return self.write_block_ranged(&normalized, true);
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
        rx_core::fs::sync_finished(tmp.as_file(), self.syncer.take(), &self.path)?;
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

// ---- Encoding record-batch and dictionary bodies ----

/// Alignment of message bodies and of every buffer in them (as `IpcWriteOptions` is set up).
const ALIGN: usize = 8;
const PADDING: [u8; ALIGN] = [0; ALIGN];

/// Blocks at least this large (in memory) are encoded by several threads when the pool has idle
/// ones.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// After this many bytes written, the background thread is asked to write them out to disk.
const SYNC_AHEAD_BYTES: u64 = 4 << 20;

/// Zero bytes that pad a buffer of `len` bytes to the alignment.
fn pad8(len: usize) -> usize {
    (ALIGN - len % ALIGN) % ALIGN
}

/// How body buffers are compressed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Codec {
    None,
    Lz4,
    Zstd(i32),
}

impl Codec {
    fn ipc_type(self) -> Option<CompressionType> {
        match self {
            Codec::None => None,
            Codec::Lz4 => Some(CompressionType::LZ4_FRAME),
            Codec::Zstd(_) => Some(CompressionType::ZSTD),
        }
    }
}

/// Which message a header is for.
#[derive(Debug, Clone, Copy)]
enum MessageKind {
    Record { rows: usize },
    Dictionary { id: i64, delta: bool },
}

/// One buffer of an encoded column.
#[derive(Debug)]
enum Seg {
    /// Stored as is: the column's own buffer (no copy).
    Raw(Buffer),
    /// Compressed (8-byte length prefix, then the frame), in the column's scratch.
    Packed(Range<usize>),
}

impl Seg {
    fn len(&self) -> usize {
        match self {
            Seg::Raw(b) => b.len(),
            Seg::Packed(r) => r.len(),
        }
    }
}

/// A column (or a dictionary's values) encoded for a message body.
#[derive(Debug)]
struct EncodedColumn {
    /// Rows.
    len: usize,
    node: arrow_ipc::FieldNode,
    segs: Vec<Seg>,
    /// CRC-32 of the buffers as stored (without padding), for the block table.
    crc: u32,
    /// Smallest and largest value, when asked for.
    range: Option<(f64, f64)>,
    /// The scratch compressed buffers live in; handed back for the next block.
    pack: Vec<u8>,
}

impl EncodedColumn {
    fn bytes<'a>(&'a self, seg: &'a Seg) -> &'a [u8] {
        match seg {
            Seg::Raw(b) => b.as_slice(),
            Seg::Packed(r) => self.pack.get(r.clone()).unwrap_or(&[]),
        }
    }

    /// Appends the column's buffers, each padded, to `out`.
    fn append_body(&self, out: &mut Vec<u8>) {
        for seg in &self.segs {
            let b = self.bytes(seg);
            out.extend_from_slice(b);
            out.extend_from_slice(&PADDING[..pad8(b.len())]);
        }
    }
}

/// The length of a message body holding `encoded` (every buffer padded).
fn body_len(encoded: &[EncodedColumn]) -> usize {
    encoded
        .iter()
        .flat_map(|e| e.segs.iter())
        .map(|s| s.len() + pad8(s.len()))
        .sum()
}

/// The buffers of a top-level column in a message body, as arrow-ipc lays them out (metadata
/// V5): the validity bitmap (empty when no value is missing), then the offsets and the values of
/// a string column, the bits of a boolean one, or the values of a fixed-width one (dictionary
/// keys included). A sliced column is cut to its rows, string offsets rebased to start at 0.
fn ipc_buffers(data: &ArrayData) -> Result<Vec<Buffer>> {
    let (len, offset) = (data.len(), data.offset());
    let mut out = Vec::with_capacity(3);
    out.push(match data.nulls() {
        Some(n) if data.null_count() > 0 => n.inner().sliced(),
        _ => Buffer::from(Vec::<u8>::new()),
    });
    let first = || {
        data.buffers().first().ok_or_else(|| {
            Error::invalid(format!("a {} column has no data buffer", data.data_type()))
        })
    };
    match data.data_type() {
        DataType::Utf8 => {
            if len == 0 {
                out.push(Buffer::from_vec(vec![0i32]));
                out.push(Buffer::from(Vec::<u8>::new()));
                return Ok(out);
            }
            let values = data
                .buffers()
                .get(1)
                .ok_or_else(|| Error::invalid("a string column has no values buffer"))?;
            let offsets = data.buffer::<i32>(0).get(..=len).ok_or_else(|| {
                Error::invalid("a string column's offsets are shorter than the column")
            })?;
            let (start, end) = (offsets[0], offsets[len]);
            out.push(if start == 0 {
                first()?.slice_with_length(offset * 4, (len + 1) * 4)
            } else {
                Buffer::from_vec(offsets.iter().map(|o| o - start).collect::<Vec<i32>>())
            });
            let (start, end) = (start as usize, end as usize);
            if end < start || end > values.len() {
                return Err(Error::invalid("a string column's offsets are out of range"));
            }
            out.push(values.slice_with_length(start, end - start));
        }
        DataType::Boolean => out.push(first()?.bit_slice(offset, len)),
        dt => {
            let width = match dt {
                DataType::Dictionary(k, _) => k.primitive_width(),
                dt => dt.primitive_width(),
            }
            .ok_or_else(|| Error::Schema(format!("an .xdf file does not store type {dt}")))?;
            let b = first()?;
            let start = (offset * width).min(b.len());
            out.push(b.slice_with_length(start, (len * width).min(b.len() - start)));
        }
    }
    Ok(out)
}

/// Compressor state for one thread at a time.
struct Compressor {
    lz4: lz4_flex::block::CompressTable,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    /// Where the codec writes (sized for the largest buffer so far).
    scratch: Vec<u8>,
}

/// Compressors kept between blocks and shared by the threads that encode them.
struct CompressorPool {
    codec: Codec,
    free: Mutex<Vec<Compressor>>,
}

impl std::fmt::Debug for CompressorPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompressorPool")
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl CompressorPool {
    fn new(codec: Codec) -> Self {
        CompressorPool {
            codec,
            free: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Compressor> {
        if let Some(c) = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop() {
            return Ok(c);
        }
        let zstd = match self.codec {
            Codec::Zstd(level) => Some(
                zstd::bulk::Compressor::new(level)
                    .map_err(|e| Error::external("starting a Zstandard compressor", e))?,
            ),
            _ => None,
        };
        Ok(Compressor {
            lz4: lz4_flex::block::CompressTable::large(),
            zstd,
            scratch: Vec::new(),
        })
    }

    fn give(&self, c: Compressor) {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(c);
    }
}

/// Grows `buf` (never shrinks it, so reused scratch is not zeroed again) to hold `len` bytes.
fn ensure_len(buf: &mut Vec<u8>, len: usize) {
    if buf.len() < len {
        buf.resize(len, 0);
    }
}

/// LZ4 frame block size code and bytes for an input of `len` bytes, chosen as lz4_flex's frame
/// encoder (which arrow-ipc uses) chooses them, and the frame header's checksum byte for it
/// (the frame descriptor is always: version 1, independent blocks, no checksums, no size).
fn lz4_block_size(len: usize) -> (u8, usize, u8) {
    if len > 256 << 10 {
        (0x70, 4 << 20, 0x73)
    } else if len > 64 << 10 {
        (0x50, 256 << 10, 0xfb)
    } else {
        (0x40, 64 << 10, 0x82)
    }
}

/// The most bytes [`lz4_frame`] writes for `len` input bytes.
fn lz4_frame_bound(len: usize) -> usize {
    let (_, block, _) = lz4_block_size(len);
    let blocks = len.div_ceil(block).max(1);
    7 + blocks * 4 + lz4_flex::block::get_maximum_output_size(len) + blocks * 20 + 4
}

/// Compresses `input` as one LZ4 frame into `out` (at least [`lz4_frame_bound`] long), as
/// lz4_flex's `FrameEncoder` with default settings frames it; returns the bytes written.
fn lz4_frame(
    input: &[u8],
    out: &mut [u8],
    table: &mut lz4_flex::block::CompressTable,
) -> Result<usize> {
    let (bd, block, hc) = lz4_block_size(input.len());
    let short = || Error::invalid("internal error: LZ4 output buffer too small");
    let mut at = 7usize;
    out.get_mut(..7)
        .ok_or_else(short)?
        .copy_from_slice(&[0x04, 0x22, 0x4d, 0x18, 0x60, bd, hc]);
    for chunk in input.chunks(block) {
        let dst = out.get_mut(at + 4..).ok_or_else(short)?;
        let n = lz4_flex::block::compress_into_with_table(chunk, dst, table)
            .map_err(|e| Error::external("LZ4 compression", e))?;
        let word = if n < chunk.len() {
            n as u32
        } else {
            dst.get_mut(..chunk.len())
                .ok_or_else(short)?
                .copy_from_slice(chunk);
            chunk.len() as u32 | 0x8000_0000
        };
        let size = if n < chunk.len() { n } else { chunk.len() };
        out.get_mut(at..at + 4)
            .ok_or_else(short)?
            .copy_from_slice(&word.to_le_bytes());
        at += 4 + size;
    }
    out.get_mut(at..at + 4)
        .ok_or_else(short)?
        .copy_from_slice(&[0; 4]);
    Ok(at + 4)
}

/// Appends `input` to `pack` as an IPC compressed buffer: its length as 8 bytes, then the
/// compressed bytes; or `-1` and the bytes themselves when compressing does not make it smaller
/// (as arrow-ipc does). Returns where it went. The codec writes into the compressor's scratch
/// (kept from buffer to buffer), so `pack` only ever receives the bytes it keeps.
fn compress_buffer(
    codec: Codec,
    input: &[u8],
    pack: &mut Vec<u8>,
    c: &mut Compressor,
) -> Result<Range<usize>> {
    let start = pack.len();
    if input.is_empty() {
        return Ok(start..start);
    }
    let bound = match codec {
        Codec::None => 0,
        Codec::Lz4 => lz4_frame_bound(input.len()),
        Codec::Zstd(_) => zstd::zstd_safe::compress_bound(input.len()),
    };
    ensure_len(&mut c.scratch, bound);
    let dst = &mut c.scratch[..bound];
    let n = match (codec, c.zstd.as_mut()) {
        (Codec::Lz4, _) => lz4_frame(input, dst, &mut c.lz4)?,
        (Codec::Zstd(_), Some(z)) => z
            .compress_to_buffer(input, dst)
            .map_err(|e| Error::external("Zstandard compression", e))?,
        _ => input.len() + 1, // not compressed: stored raw below
    };
    if 8 + n > input.len() {
        pack.extend_from_slice(&(-1i64).to_le_bytes());
        pack.extend_from_slice(input);
    } else {
        pack.extend_from_slice(&(input.len() as i64).to_le_bytes());
        pack.extend_from_slice(c.scratch.get(..n).unwrap_or(&[]));
    }
    Ok(start..pack.len())
}

/// Encodes one column: its buffers, compressed into `pack` when there is a codec, their CRC and
/// (with `range`) its smallest and largest value.
fn encode_column(
    column: &ArrayRef,
    range: bool,
    mut pack: Vec<u8>,
    codec: Codec,
    pool: &CompressorPool,
) -> Result<EncodedColumn> {
    let data = column.to_data();
    let data = &data;
    let range = range.then(|| min_max_of(column));
    let buffers = ipc_buffers(data)?;
    let mut h = crc32fast::Hasher::new();
    let mut segs = Vec::with_capacity(buffers.len());
    if codec == Codec::None {
        for b in buffers {
            h.update(b.as_slice());
            segs.push(Seg::Raw(b));
        }
    } else {
        let mut c = pool.take()?;
        // Room for every buffer stored raw: reserving does not touch the memory, and the pack
        // never has to move.
        pack.clear();
        pack.reserve(buffers.iter().map(|b| b.len() + 8).sum());
        let mut result = Ok(());
        for b in &buffers {
            match compress_buffer(codec, b.as_slice(), &mut pack, &mut c) {
                Ok(r) => {
                    h.update(&pack[r.clone()]);
                    segs.push(Seg::Packed(r));
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        pool.give(c);
        result?;
    }
    Ok(EncodedColumn {
        len: data.len(),
        node: arrow_ipc::FieldNode::new(data.len() as i64, data.null_count() as i64),
        segs,
        crc: h.finalize(),
        range,
        pack,
    })
}

/// A column to encode, whether to take its low/high, and the scratch for its compressed buffers.
type ColumnInput = ((ArrayRef, bool), Vec<u8>);

/// The columns of one message being encoded, claimed one at a time by the writing thread and by
/// pool threads that come to help.
struct EncodeJob {
    inputs: Vec<Mutex<Option<ColumnInput>>>,
    next: AtomicUsize,
    results: Mutex<(Vec<Option<Result<EncodedColumn>>>, usize)>,
    finished: Condvar,
    codec: Codec,
    pool: Arc<CompressorPool>,
}

impl EncodeJob {
    /// Encodes unclaimed columns until none is left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.inputs.get(i) else {
                return;
            };
            let input = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            let result = match input {
                Some(((column, range), pack)) => std::panic::catch_unwind(
                    std::panic::AssertUnwindSafe(|| {
                        encode_column(&column, range, pack, self.codec, &self.pool)
                    }),
                )
                .unwrap_or_else(|_| {
                    Err(Error::invalid(
                        "encoding a column failed unexpectedly; this is a bug, please report it",
                    ))
                }),
                None => Err(Error::invalid("internal error: a column was encoded twice")),
            };
            let mut r = self.results.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(out) = r.0.get_mut(i) {
                *out = Some(result);
            }
            r.1 += 1;
            self.finished.notify_all();
        }
    }
}

/// Encodes `columns` (with their scratch `packs`), in order. With `parallel`, idle threads of the
/// rayon pool help: the calling thread never waits for a pool thread to start, only for columns a
/// pool thread already took on.
fn encode_columns(
    columns: Vec<(ArrayRef, bool)>,
    mut packs: Vec<Vec<u8>>,
    codec: Codec,
    pool: &Arc<CompressorPool>,
    parallel: bool,
) -> Result<Vec<EncodedColumn>> {
    let n = columns.len();
    packs.resize_with(n, Vec::new);
    if !parallel || n < 2 || (codec == Codec::None && n < 8) {
        return columns
            .iter()
            .zip(packs)
            .map(|((c, r), p)| encode_column(c, *r, p, codec, pool))
            .collect();
    }
    let job = Arc::new(EncodeJob {
        inputs: columns
            .into_iter()
            .zip(packs)
            .map(|x| Mutex::new(Some(x)))
            .collect(),
        next: AtomicUsize::new(0),
        results: Mutex::new(((0..n).map(|_| None).collect(), 0)),
        finished: Condvar::new(),
        codec,
        pool: pool.clone(),
    });
    for _ in 0..rayon::current_num_threads().min(n - 1) {
        let job = job.clone();
        rayon::spawn(move || job.work());
    }
    job.work();
    let mut r = job.results.lock().unwrap_or_else(|e| e.into_inner());
    while r.1 < n {
        r = job.finished.wait(r).unwrap_or_else(|e| e.into_inner());
    }
    std::mem::take(&mut r.0)
        .into_iter()
        .map(|x| {
            x.unwrap_or_else(|| Err(Error::invalid("internal error: a column was not encoded")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{
        BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, TimestampMicrosecondArray,
    };
    use arrow_ipc::writer::IpcWriteContext;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        // Partly compressible: runs, repeats and noise.
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if i % 97 < 40 {
                    (i / 13) as u8
                } else {
                    (x >> 33) as u8
                }
            })
            .collect()
    }

    #[test]
    fn lz4_frames_are_lz4_flex_frames() {
        let mut table = lz4_flex::block::CompressTable::large();
        for n in [1usize, 100, 65_536, 65_537, 262_144, 262_145, 5_000_000] {
            let input = bytes(n, n as u64);
            let mut out = vec![0u8; lz4_frame_bound(n)];
            let len = lz4_frame(&input, &mut out, &mut table).unwrap();
            let mut want = Vec::new();
            let mut enc = lz4_flex::frame::FrameEncoder::new(&mut want);
            enc.write_all(&input).unwrap();
            enc.finish().unwrap();
            assert_eq!(&out[..len], &want[..], "{n} bytes");
            let mut back = Vec::new();
            lz4_flex::frame::FrameDecoder::new(&out[..len])
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, input);
        }
    }

    fn sample() -> RecordBatch {
        let n = 70_000;
        let f: Float64Array = (0..n)
            .map(|i| (i % 11 != 3).then_some(i as f64 * 0.25))
            .collect();
        let k: Int32Array = (0..n).map(|i| Some(i % 7)).collect();
        let s: StringArray = (0..n)
            .map(|i| (i % 5 != 0).then(|| format!("v{}", i % 300)))
            .collect();
        let b: BooleanArray = (0..n).map(|i| (i % 9 != 0).then_some(i % 3 == 0)).collect();
        let d = Date32Array::from_iter_values(0..n);
        let t = TimestampMicrosecondArray::from_iter_values((0..n).map(|i| i as i64 * 1_000_003));
        let l = Int64Array::from_iter_values((0..n).map(|i| (i as i64) << 20));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(f),
            Arc::new(k),
            Arc::new(s),
            Arc::new(b),
            Arc::new(d),
            Arc::new(t),
            Arc::new(l),
        ];
        let fields: Vec<Field> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true))
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
    }

    /// The record-batch messages written here are byte for byte the ones arrow-ipc writes.
    #[test]
    fn record_messages_are_arrow_ipc_messages() {
        let batch = sample();
        for (level, codec) in [(0, Codec::None), (1, Codec::Lz4), (3, Codec::Zstd(3))] {
            let mut opts = IpcWriteOptions::try_new(8, false, MetadataVersion::V5).unwrap();
            opts = match level {
                0 => opts,
                1 => opts
                    .try_with_compression(Some(CompressionType::LZ4_FRAME))
                    .unwrap(),
                l => opts
                    .try_with_compression(Some(CompressionType::ZSTD))
                    .and_then(|o| o.try_with_compression_level(Some(l)))
                    .unwrap(),
            };
            // Whole, sliced at a byte boundary, and sliced mid-byte (bitmaps shifted, offsets
            // rebased).
            for (off, len) in [(0, batch.num_rows()), (8, 40_000), (13, 50_001)] {
                let b = batch.slice(off, len);
                let mut tracker = DictionaryTracker::new(true);
                let (_, data) = IpcDataGenerator::default()
                    .encode(&b, &mut tracker, &opts, &mut IpcWriteContext::default())
                    .unwrap();
                let mut want = Vec::new();
                write_message(&mut want, data, &opts).unwrap();

                let pool = Arc::new(CompressorPool::new(codec));
                let cols: Vec<(ArrayRef, bool)> =
                    b.columns().iter().map(|c| (c.clone(), true)).collect();
                for parallel in [false, true] {
                    let enc =
                        encode_columns(cols.clone(), Vec::new(), codec, &pool, parallel).unwrap();
                    let path = PathBuf::from("x");
                    let mut w = XdfWriter {
                        codec,
                        ..XdfWriter::new_state(
                            &path,
                            tempfile::NamedTempFile::new().unwrap(),
                            b.schema(),
                            &WriteOptions::default(),
                        )
                        .unwrap()
                    };
                    let mut got = w.message_header(
                        MessageKind::Record { rows: b.num_rows() },
                        &enc,
                        body_len(&enc),
                    );
                    for e in &enc {
                        e.append_body(&mut got);
                    }
                    assert_eq!(got.len(), want.len(), "level {level}, slice {off}+{len}");
                    assert!(got == want, "level {level}, slice {off}+{len}");
                }
            }
        }
    }

    /// Dictionary messages (a whole dictionary, then a delta) are the ones arrow-ipc writes.
    #[test]
    fn dictionary_messages_are_arrow_ipc_messages() {
        use arrow::array::DictionaryArray;
        let schema = Arc::new(Schema::new(vec![Field::new("f", factor_type(), true)]));
        let levels: Vec<String> = (0..5000).map(|i| format!("level {i}")).collect();
        for level in [0u32, 1, 3] {
            let mut opts = IpcWriteOptions::try_new(8, false, MetadataVersion::V5)
                .unwrap()
                .with_dictionary_handling(DictionaryHandling::Delta);
            opts = match level {
                0 => opts,
                1 => opts
                    .try_with_compression(Some(CompressionType::LZ4_FRAME))
                    .unwrap(),
                l => opts
                    .try_with_compression(Some(CompressionType::ZSTD))
                    .and_then(|o| o.try_with_compression_level(Some(l as i32)))
                    .unwrap(),
            };
            let generator = IpcDataGenerator::default();
            let mut tracker = DictionaryTracker::new(true);
            let _ = generator.schema_to_bytes_with_dictionary_tracker(&schema, &mut tracker, &opts);
            let id = tracker.dict_id()[0];
            let mut ctx = IpcWriteContext::default();
            let mut w = XdfWriter::new_state(
                Path::new("x"),
                tempfile::NamedTempFile::new().unwrap(),
                schema.clone(),
                &WriteOptions::default().compression_level(level),
            )
            .unwrap();
            for (n, delta) in [(3000usize, false), (5000, true)] {
                let values: ArrayRef = Arc::new(StringArray::from_iter_values(&levels[..n]));
                let keys = Int32Array::from_iter_values(0..n as i32);
                let dict = DictionaryArray::<Int32Type>::try_new(keys, values.clone()).unwrap();
                let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(dict)]).unwrap();
                let (dicts, _) = generator
                    .encode(&batch, &mut tracker, &opts, &mut ctx)
                    .unwrap();
                let mut want = Vec::new();
                for d in dicts {
                    write_message(&mut want, d, &opts).unwrap();
                }
                let from = if delta { 3000 } else { 0 };
                let (got, _) = w
                    .dictionary_message(id, &values.slice(from, n - from), delta)
                    .unwrap();
                assert!(got == want, "level {level}, {n} values");
            }
        }
    }
}
