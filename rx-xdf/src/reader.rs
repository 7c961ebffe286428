//! Reading .xdf files: the footer (checked against its CRC before it is parsed), dictionaries, and
//! record blocks with a column projection that reads only the bytes of the columns asked for, each
//! column checked against its CRC before it is decoded.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::buffer::{Buffer, MutableBuffer};
use arrow::datatypes::{Schema, SchemaRef};
use arrow_ipc::reader::FileDecoder;
use arrow_ipc::{Block, MetadataVersion};
use rx_core::{ChunkReader, Error, Result};

use crate::format::{
    ARROW_MAGIC, BlockTable, FORMAT_VERSION, KEY_BLOCKS, KEY_COMPRESSION, KEY_FORMAT, KEY_VERSION,
    RX_TRAILER_LEN, RX_TRAILER_MAGIC, column_buffer_ranges, message_flatbuffer,
};

/// An open .xdf file: its footer parsed and checked. Cheap to share between readers and threads.
#[derive(Debug)]
pub struct XdfFile {
    path: PathBuf,
    file: File,
    schema: SchemaRef,
    version: MetadataVersion,
    dict_blocks: Vec<Block>,
    record_blocks: Vec<Block>,
    table: BlockTable,
    compression: String,
    buffer_ranges: Vec<std::ops::Range<usize>>,
    data_end: u64,
    file_len: u64,
}

fn corrupt(path: &Path, msg: impl Into<String>) -> Error {
    Error::corrupt(path, msg)
}

impl XdfFile {
    /// Opens and checks an .xdf file.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if path.is_dir() {
            return Err(Error::invalid(format!(
                "{} is a directory, not an .xdf file",
                path.display()
            )));
        }
        let min = 8 + 8 + RX_TRAILER_LEN as u64 + 10;
        if file_len == 0 {
            return Err(corrupt(path, "the file is empty; it is not an .xdf file"));
        }
        let mut head = [0u8; 6];
        read_at(&file, path, &mut head, 0)?;
        if &head != ARROW_MAGIC {
            return Err(corrupt(
                path,
                "not an .xdf file (it does not start with the Arrow IPC magic 'ARROW1')",
            ));
        }
        if file_len < min {
            return Err(corrupt(
                path,
                format!("truncated .xdf file: only {file_len} bytes"),
            ));
        }
        let mut tail = [0u8; 10];
        read_at(&file, path, &mut tail, file_len - 10)?;
        if &tail[4..] != ARROW_MAGIC {
            return Err(corrupt(
                path,
                format!(
                    "truncated or damaged .xdf file: no footer at the end (byte {}); it may be an interrupted write",
                    file_len - 6
                ),
            ));
        }
        let footer_len = i32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
        let footer_len =
            u64::try_from(footer_len).map_err(|_| corrupt(path, "damaged footer length"))?;
        if footer_len + 10 + RX_TRAILER_LEN as u64 + 8 > file_len {
            return Err(corrupt(
                path,
                format!(
                    "damaged footer length {footer_len} at byte {}",
                    file_len - 10
                ),
            ));
        }
        let footer_start = file_len - 10 - footer_len;
        let trailer_start = footer_start - RX_TRAILER_LEN as u64;
        let mut trailer = [0u8; RX_TRAILER_LEN];
        read_at(&file, path, &mut trailer, trailer_start)?;
        if &trailer[..8] != RX_TRAILER_MAGIC {
            return Err(corrupt(
                path,
                format!(
                    "no revoscale trailer at byte {trailer_start}: an Arrow IPC file not written by revoscale, or a \
                     damaged .xdf file"
                ),
            ));
        }
        let want_crc = u32::from_le_bytes([trailer[8], trailer[9], trailer[10], trailer[11]]);
        let want_len = u32::from_le_bytes([trailer[12], trailer[13], trailer[14], trailer[15]]);
        if u64::from(want_len) != footer_len {
            return Err(corrupt(
                path,
                format!("footer length mismatch at byte {trailer_start}"),
            ));
        }
        let mut footer_bytes = vec![0u8; footer_len as usize];
        read_at(&file, path, &mut footer_bytes, footer_start)?;
        if crc32fast::hash(&footer_bytes) != want_crc {
            return Err(corrupt(
                path,
                format!(
                    "checksum mismatch in the footer (bytes {footer_start}..{}): the file is damaged",
                    file_len - 10
                ),
            ));
        }
        let footer = arrow_ipc::root_as_footer(&footer_bytes)
            .map_err(|e| corrupt(path, format!("the footer does not parse: {e}")))?;
        let fb_schema = footer
            .schema()
            .ok_or_else(|| corrupt(path, "the footer has no schema"))?;
        let schema = arrow_ipc::convert::fb_to_schema(fb_schema);
        let mut custom = HashMap::new();
        if let Some(kvs) = footer.custom_metadata() {
            for kv in kvs {
                if let (Some(k), Some(v)) = (kv.key(), kv.value()) {
                    custom.insert(k.to_string(), v.to_string());
                }
            }
        }
        if custom.get(KEY_FORMAT).map(String::as_str) != Some("xdf") {
            return Err(corrupt(
                path,
                "not an .xdf file: the footer lacks revoscale's 'rx:format' entry",
            ));
        }
        if custom.get(KEY_VERSION).map(String::as_str) != Some(FORMAT_VERSION) {
            return Err(corrupt(
                path,
                format!(
                    "unsupported .xdf version {:?}; this revoscale reads version {FORMAT_VERSION}",
                    custom.get(KEY_VERSION)
                ),
            ));
        }
        let table: BlockTable = custom
            .get(KEY_BLOCKS)
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| corrupt(path, "the footer's block table is missing or damaged"))?;
        let dict_blocks: Vec<Block> = footer
            .dictionaries()
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        let record_blocks: Vec<Block> = footer
            .recordBatches()
            .map(|v| v.iter().copied().collect())
            .unwrap_or_default();
        if record_blocks.len() != table.blocks.len() || dict_blocks.len() != table.dicts.len() {
            return Err(corrupt(
                path,
                "the footer's block table does not match its block list",
            ));
        }
        let buffer_ranges = column_buffer_ranges(&schema).ok_or_else(|| {
            corrupt(
                path,
                "the schema has a column type an .xdf file does not hold",
            )
        })?;
        let mut data_end = 8u64;
        for (i, b) in dict_blocks.iter().chain(record_blocks.iter()).enumerate() {
            let (off, meta, body) = (b.offset(), b.metaDataLength(), b.bodyLength());
            let end = u64::try_from(off)
                .ok()
                .zip(u64::try_from(meta).ok())
                .zip(u64::try_from(body).ok())
                .and_then(|((o, m), bl)| o.checked_add(m)?.checked_add(bl))
                .filter(|&e| e <= trailer_start && off >= 8 && meta >= 8);
            let Some(end) = end else {
                return Err(corrupt(
                    path,
                    format!("block {i} lies outside the data region"),
                ));
            };
            data_end = data_end.max(end);
        }
        for (i, (b, s)) in record_blocks.iter().zip(&table.blocks).enumerate() {
            if s.c.len() != buffer_ranges.len() {
                return Err(corrupt(
                    path,
                    format!("block {i}: checksum list does not match the columns"),
                ));
            }
            let _ = b;
        }
        Ok(XdfFile {
            path: path.to_path_buf(),
            file,
            schema: Arc::new(schema),
            version: footer.version(),
            dict_blocks,
            record_blocks,
            table,
            compression: custom
                .get(KEY_COMPRESSION)
                .cloned()
                .unwrap_or_else(|| "none".into()),
            buffer_ranges,
            data_end,
            file_len,
        })
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema, with variable metadata (final level tables, low/high) in field metadata.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Total rows.
    pub fn num_rows(&self) -> u64 {
        self.table.blocks.iter().map(|b| b.rows).sum()
    }

    /// Rows of each block.
    pub fn rows_per_block(&self) -> Vec<u64> {
        self.table.blocks.iter().map(|b| b.rows).collect()
    }

    /// Number of record blocks.
    pub fn num_blocks(&self) -> usize {
        self.record_blocks.len()
    }

    /// Compression as recorded (`none`, `lz4`, `zstd(LEVEL)`).
    pub fn compression(&self) -> &str {
        &self.compression
    }

    /// The compression level that reproduces this file's compression.
    pub fn compression_level(&self) -> Option<u32> {
        match self.compression.as_str() {
            "none" => Some(0),
            "lz4" => Some(1),
            s => s.strip_prefix("zstd(")?.strip_suffix(')')?.parse().ok(),
        }
    }

    /// File size in bytes.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    pub(crate) fn data_end(&self) -> u64 {
        self.data_end
    }

    pub(crate) fn dict_blocks(&self) -> &[Block] {
        &self.dict_blocks
    }

    pub(crate) fn record_blocks(&self) -> &[Block] {
        &self.record_blocks
    }

    pub(crate) fn block_table(&self) -> &BlockTable {
        &self.table
    }

    fn read_exact(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        read_at(&self.file, &self.path, buf, offset)
    }

    /// A decoder with every dictionary (deltas applied) loaded and checked.
    fn decoder(&self, projection: Option<Vec<usize>>) -> Result<FileDecoder> {
        let mut decoder = FileDecoder::new(self.schema.clone(), self.version);
        if let Some(p) = projection {
            decoder = decoder.with_projection(p);
        }
        for (i, (b, &crc)) in self.dict_blocks.iter().zip(&self.table.dicts).enumerate() {
            let len = (b.metaDataLength() as u64 + b.bodyLength() as u64) as usize;
            let mut buf = MutableBuffer::from_len_zeroed(len);
            self.read_exact(buf.as_slice_mut(), b.offset() as u64)?;
            if crc32fast::hash(buf.as_slice()) != crc {
                return Err(corrupt(
                    &self.path,
                    format!(
                        "checksum mismatch in dictionary block {i} (bytes {}..{})",
                        b.offset(),
                        b.offset() as u64 + len as u64
                    ),
                ));
            }
            decoder
                .read_dictionary(b, &Buffer::from(buf))
                .map_err(|e| corrupt(&self.path, format!("dictionary block {i}: {e}")))?;
        }
        Ok(decoder)
    }

    /// The dictionaries (factor level tables) by dictionary id.
    pub(crate) fn dictionaries(&self) -> Result<HashMap<i64, ArrayRef>> {
        // Decode a zero-projection of the first block is not needed: read the dictionary blocks.
        let mut out: HashMap<i64, ArrayRef> = HashMap::new();
        let decoder_schema = self.schema.clone();
        let mut ids = Vec::new();
        let mut next = 0i64;
        for f in decoder_schema.fields() {
            if matches!(f.data_type(), arrow::datatypes::DataType::Dictionary(..)) {
                ids.push((next, f.name().clone()));
                next += 1;
            }
        }
        if self.record_blocks.is_empty() {
            return Ok(out);
        }
        // The first block, read with only the factor columns, carries the full level tables.
        let factor_cols: Vec<usize> = decoder_schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| matches!(f.data_type(), arrow::datatypes::DataType::Dictionary(..)))
            .map(|(i, _)| i)
            .collect();
        if factor_cols.is_empty() {
            return Ok(out);
        }
        let decoder = self.decoder(Some(factor_cols.clone()))?;
        let batch = self.read_block(&decoder, 0, &factor_cols, &mut None)?;
        for ((id, _), col) in ids.iter().zip(batch.columns()) {
            if let Some(d) = col.as_any_dictionary_opt() {
                out.insert(*id, d.values().clone());
            }
        }
        Ok(out)
    }

    /// Reads record block `index` with the decoder's projection `columns` (sorted, schema indexes).
    ///
    /// The block is mapped ([`XdfFile::map_range`]) and decoded in place. Where the file cannot
    /// be mapped, it is read instead: a whole block with one read; a projection reads the block's header, then only the
    /// buffers of the projected columns, into a compact body: the header is rebuilt with the same
    /// field nodes and buffer list, the projected buffers at their new offsets and the others
    /// empty (the decoder skips unprojected columns without touching their buffers). So memory and
    /// I/O are proportional to the columns asked for. Every column is checked against its CRC
    /// before it is decoded.
    ///
    /// `spare` is a read buffer to reuse, and receives this block's when the batch does not
    /// hold on to it (compressed columns are decoded into memory of their own): a scan then
    /// reads every block into the same memory instead of faulting in fresh pages per block.
    fn read_block(
        &self,
        decoder: &FileDecoder,
        index: usize,
        columns: &[usize],
        spare: &mut Option<MutableBuffer>,
    ) -> Result<RecordBatch> {
        let b = self
            .record_blocks
            .get(index)
            .ok_or_else(|| Error::invalid(format!("no block {index}")))?;
        let meta_len = b.metaDataLength() as usize;
        let body_len = b.bodyLength() as usize;
        let offset = b.offset() as u64;
        let whole = columns.len() == self.schema.fields().len();
        // The block mapped from the page cache: nothing copied, no fresh memory (a cached pass
        // that keeps every chunk would otherwise fault in and zero as many pages as it keeps),
        // and the pages of the columns not asked for are never touched.
        if let Some(mapped) = self.map_range(offset, meta_len + body_len)? {
            return self.decode_mapped(decoder, index, columns, mapped, b);
        }
        let mut buf = if whole {
            let mut buf = zeroed(spare, meta_len + body_len);
            self.read_exact(buf.as_slice_mut(), offset)?;
            buf
        } else {
            let mut buf = MutableBuffer::from_len_zeroed(meta_len);
            self.read_exact(buf.as_slice_mut(), offset)?;
            buf
        };
        let bad = |what: &str| corrupt(&self.path, format!("block {index}: {what}"));
        let header = buf.as_slice()[..meta_len].to_vec();
        let (msg, rb) = self.parse_header(index, offset, &header)?;
        let buffers = rb.buffers().ok_or_else(|| bad("no buffer list"))?;
        let mut ranges = self.projected_ranges(index, &buffers, columns, body_len)?;
        let (block, body_start) = if whole {
            (*b, meta_len)
        } else {
            // Compact body: the projected buffers, each at an 8-byte aligned offset.
            let mut new_buffers = vec![arrow_ipc::Buffer::new(0, 0); buffers.len()];
            let mut placed = Vec::with_capacity(ranges.len());
            let mut body_size = 0usize;
            for &(bi, s, e) in &ranges {
                new_buffers[bi] = arrow_ipc::Buffer::new(body_size as i64, (e - s) as i64);
                placed.push((body_size, s, e));
                body_size += (e - s).div_ceil(8) * 8;
            }
            let fb_new = compact_header(&msg, &rb, &new_buffers, body_size);
            let padded = fb_new.len().div_ceil(8) * 8;
            let new_meta = 8 + padded;
            let mut out = zeroed(spare, new_meta + body_size);
            let slice = out.as_slice_mut();
            slice[..4].copy_from_slice(&[0xff; 4]);
            slice[4..8].copy_from_slice(&(padded as i32).to_le_bytes());
            slice[8..8 + fb_new.len()].copy_from_slice(&fb_new);
            for &(at, s, e) in &placed {
                if e > s {
                    let dst = new_meta + at;
                    read_at(
                        &self.file,
                        &self.path,
                        &mut slice[dst..dst + (e - s)],
                        offset + (meta_len + s) as u64,
                    )?;
                }
            }
            // Present the compact ranges to the checksum loop below.
            for (r, &(at, s, e)) in ranges.iter_mut().zip(&placed) {
                *r = (r.0, at, at + (e - s));
            }
            buf = out;
            (Block::new(0, new_meta as i32, body_size as i64), new_meta)
        };
        self.check_columns(index, offset, columns, &ranges, buf.as_slice(), body_start)?;
        let buffer = Buffer::from(buf);
        let batch = self.decode(decoder, index, &block, &buffer)?;
        if let Ok(b) = buffer.into_mutable() {
            *spare = Some(b);
        }
        Ok(batch)
    }

    /// Checks the message header of block `index` (at byte `offset` of the file) against its CRC
    /// and parses it.
    fn parse_header<'a>(
        &self,
        index: usize,
        offset: u64,
        header: &'a [u8],
    ) -> Result<(arrow_ipc::Message<'a>, arrow_ipc::RecordBatch<'a>)> {
        if crc32fast::hash(header) != self.table.blocks[index].h {
            return Err(corrupt(
                &self.path,
                format!(
                    "checksum mismatch in the header of block {index} (bytes {offset}..{})",
                    offset + header.len() as u64
                ),
            ));
        }
        let bad = |what: &str| corrupt(&self.path, format!("block {index}: {what}"));
        let fb = message_flatbuffer(header).ok_or_else(|| bad("damaged message header"))?;
        let msg = arrow_ipc::root_as_message(fb)
            .map_err(|e| bad(&format!("damaged message header: {e}")))?;
        let rb = msg
            .header_as_record_batch()
            .ok_or_else(|| bad("not a record batch"))?;
        Ok((msg, rb))
    }

    /// The byte range in the body, `(buffer, start, end)`, of every buffer of every projected
    /// column of block `index`, in column order.
    fn projected_ranges(
        &self,
        index: usize,
        buffers: &flatbuffers::Vector<'_, arrow_ipc::Buffer>,
        columns: &[usize],
        body_len: usize,
    ) -> Result<Vec<(usize, usize, usize)>> {
        let bad = |what: &str| corrupt(&self.path, format!("block {index}: {what}"));
        let mut ranges = Vec::new();
        for &c in columns {
            for bi in self.buffer_ranges[c].clone() {
                if bi >= buffers.len() {
                    return Err(bad("buffer list shorter than the schema"));
                }
                let bf = buffers.get(bi);
                let start = usize::try_from(bf.offset()).map_err(|_| bad("bad buffer offset"))?;
                let len = usize::try_from(bf.length()).map_err(|_| bad("bad buffer length"))?;
                let end = start
                    .checked_add(len)
                    .filter(|&e| e <= body_len)
                    .ok_or_else(|| bad("buffer outside the block"))?;
                ranges.push((bi, start, end));
            }
        }
        Ok(ranges)
    }

    /// Checks each projected column of block `index` (at byte `offset` of the file) against its
    /// CRC before it is decoded: its buffers at `ranges` ([`XdfFile::projected_ranges`]) of the
    /// body that starts at `body_start` in `bytes`.
    fn check_columns(
        &self,
        index: usize,
        offset: u64,
        columns: &[usize],
        ranges: &[(usize, usize, usize)],
        bytes: &[u8],
        body_start: usize,
    ) -> Result<()> {
        let sums = &self.table.blocks[index];
        let mut k = 0;
        for &c in columns {
            let mut h = crc32fast::Hasher::new();
            for _ in self.buffer_ranges[c].clone() {
                let (_, s, e) = ranges[k];
                h.update(&bytes[body_start + s..body_start + e]);
                k += 1;
            }
            if h.finalize() != sums.c[c] {
                return Err(corrupt(
                    &self.path,
                    format!(
                        "checksum mismatch in block {index}, column '{}' (block at byte {offset}): the file is damaged",
                        self.schema.field(c).name()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `len` bytes at `offset`, mapped read-only (`None` where the file cannot be mapped: the
    /// caller reads it instead). A range past the end of the file is the same error as a short
    /// read.
    #[allow(unsafe_code)]
    fn map_range(&self, offset: u64, len: usize) -> Result<Option<Buffer>> {
        let end = offset.checked_add(len as u64);
        if end.is_none_or(|e| e > self.file_len) {
            return Err(corrupt(
                &self.path,
                format!("truncated .xdf file: expected {len} bytes at byte {offset}"),
            ));
        }
        if len == 0 {
            return Ok(None);
        }
        // SAFETY: the mapping is read-only and private to this process. .xdf files are replaced
        // by renaming a new file over them and appended past their last block, so the bytes of
        // a block already listed in the footer read at open do not change while it is mapped
        // (truncating the file from outside would, as for any memory-mapped reader).
        let map = match unsafe {
            memmap2::MmapOptions::new()
                .offset(offset)
                .len(len)
                .map(&self.file)
        } {
            Ok(map) => Arc::new(map),
            Err(_) => return Ok(None),
        };
        let Some(ptr) = std::ptr::NonNull::new(map.as_ptr().cast_mut()) else {
            return Ok(None);
        };
        // SAFETY: `ptr` points at `len` readable bytes that live as long as `map`, which the
        // buffer owns.
        Ok(Some(unsafe {
            Buffer::from_custom_allocation(ptr, len, map)
        }))
    }

    /// Checks and decodes a block mapped whole ([`XdfFile::map_range`]): its header, then each
    /// projected column against its CRC, then the projected columns (the decoder does not touch
    /// the others).
    fn decode_mapped(
        &self,
        decoder: &FileDecoder,
        index: usize,
        columns: &[usize],
        mapped: Buffer,
        b: &Block,
    ) -> Result<RecordBatch> {
        let offset = b.offset() as u64;
        let meta_len = b.metaDataLength() as usize;
        let body_len = b.bodyLength() as usize;
        let bad = |what: &str| corrupt(&self.path, format!("block {index}: {what}"));
        let bytes = mapped.as_slice();
        let (_, rb) = self.parse_header(index, offset, &bytes[..meta_len])?;
        let buffers = rb.buffers().ok_or_else(|| bad("no buffer list"))?;
        let ranges = self.projected_ranges(index, &buffers, columns, body_len)?;
        self.check_columns(index, offset, columns, &ranges, bytes, meta_len)?;
        let block = Block::new(0, meta_len as i32, body_len as i64);
        self.decode(decoder, index, &block, &mapped)
    }

    /// Decodes block `index`, whose checked message is `block` in `buffer`, and checks its row
    /// count against the block table.
    fn decode(
        &self,
        decoder: &FileDecoder,
        index: usize,
        block: &Block,
        buffer: &Buffer,
    ) -> Result<RecordBatch> {
        let bad = |what: &str| corrupt(&self.path, format!("block {index}: {what}"));
        let batch = decoder
            .read_record_batch(block, buffer)
            .map_err(|e| bad(&e.to_string()))?
            .ok_or_else(|| bad("empty message"))?;
        if batch.num_rows() as u64 != self.table.blocks[index].rows {
            return Err(bad("row count differs from the block table"));
        }
        Ok(batch)
    }

    /// Opens a chunk reader over blocks `blocks` with the named columns (all when `None`), in the
    /// order given.
    pub fn reader(
        self: &Arc<Self>,
        columns: Option<&[String]>,
        blocks: std::ops::Range<usize>,
    ) -> Result<ChunkReader> {
        let (sorted, order) = match columns {
            None => ((0..self.schema.fields().len()).collect::<Vec<_>>(), None),
            Some(names) => {
                let mut idx = Vec::with_capacity(names.len());
                for n in names {
                    let i = self.schema.index_of(n).map_err(|_| {
                        Error::unknown_column(n, &self.path.display().to_string(), &self.schema)
                    })?;
                    if idx.contains(&i) {
                        return Err(Error::invalid(format!("column '{n}' is asked for twice")));
                    }
                    idx.push(i);
                }
                let mut sorted = idx.clone();
                sorted.sort_unstable();
                let order: Vec<usize> = idx
                    .iter()
                    .map(|i| sorted.iter().position(|s| s == i).unwrap_or(0))
                    .collect();
                (sorted, Some(order))
            }
        };
        let decoder = self.decoder(Some(sorted.clone()))?;
        let end = blocks.end.min(self.record_blocks.len());
        Ok(Box::new(BlockIter {
            file: self.clone(),
            decoder,
            spare: None,
            columns: sorted,
            order,
            next: blocks.start,
            end,
            relabel: None,
        }))
    }

    /// The projected schema for `columns` (all when `None`).
    pub fn projected_schema(&self, columns: Option<&[String]>) -> Result<SchemaRef> {
        match columns {
            None => Ok(self.schema.clone()),
            Some(names) => {
                let mut fields = Vec::new();
                for n in names {
                    let f = self.schema.field_with_name(n).map_err(|_| {
                        Error::unknown_column(n, &self.path.display().to_string(), &self.schema)
                    })?;
                    fields.push(f.clone());
                }
                Ok(Arc::new(Schema::new_with_metadata(
                    fields,
                    self.schema.metadata().clone(),
                )))
            }
        }
    }
}

struct BlockIter {
    file: Arc<XdfFile>,
    decoder: FileDecoder,
    /// The last read buffer, when no batch holds on to it.
    spare: Option<MutableBuffer>,
    columns: Vec<usize>,
    order: Option<Vec<usize>>,
    next: usize,
    end: usize,
    /// Per output column: level labels that replace the stored dictionary values (after
    /// `rx_set_var_info` relabelled levels in the footer only). Worked out on the first block.
    relabel: Option<Vec<Option<ArrayRef>>>,
}

/// Replaces a factor column's dictionary values by the footer's level labels where they differ.
fn relabel_batch(
    batch: RecordBatch,
    relabel: &mut Option<Vec<Option<ArrayRef>>>,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let table = relabel.get_or_insert_with(|| {
        schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(f, col)| {
                let levels = rx_core::varinfo::field_levels(f)?;
                let dict = col.as_any_dictionary_opt()?;
                let values = dict.values().as_string_opt::<i32>()?;
                let same = values.len() == levels.len()
                    && values
                        .iter()
                        .zip(&levels)
                        .all(|(v, l)| v == Some(l.as_str()));
                if same || values.len() != levels.len() {
                    return None;
                }
                Some(Arc::new(arrow::array::StringArray::from_iter_values(levels)) as ArrayRef)
            })
            .collect()
    });
    if table.iter().all(Option::is_none) {
        return Ok(batch);
    }
    let mut cols = batch.columns().to_vec();
    for (col, new) in cols.iter_mut().zip(table.iter()) {
        if let (Some(values), Some(dict)) = (new, col.as_any_dictionary_opt()) {
            *col = dict.with_values(values.clone());
        }
    }
    RecordBatch::try_new(schema, cols).map_err(|e| Error::arrow("relabelling factor levels", e))
}

impl Iterator for BlockIter {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next >= self.end {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let r = self
            .file
            .read_block(&self.decoder, i, &self.columns, &mut self.spare)
            .and_then(|b| match &self.order {
                None => Ok(b),
                Some(o) => b
                    .project(o)
                    .map_err(|e| Error::arrow("projecting columns", e)),
            });
        let r = r.and_then(|b| relabel_batch(b, &mut self.relabel));
        if r.is_err() {
            self.next = self.end;
        }
        Some(r)
    }
}

/// `len` zero bytes, in `spare`'s memory when there is one.
fn zeroed(spare: &mut Option<MutableBuffer>, len: usize) -> MutableBuffer {
    match spare.take() {
        Some(mut b) => {
            b.clear();
            b.resize(len, 0);
            b
        }
        None => MutableBuffer::from_len_zeroed(len),
    }
}

fn read_at(file: &File, path: &Path, buf: &mut [u8], offset: u64) -> Result<()> {
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::corrupt(
                path,
                format!(
                    "truncated .xdf file: expected {} bytes at byte {offset}",
                    buf.len()
                ),
            )
        } else {
            Error::io(path, e)
        }
    })
}

/// A record-batch message like `msg`/`rb` (same length, field nodes and compression) with the
/// buffer list `buffers` and body length `body_len`.
fn compact_header(
    msg: &arrow_ipc::Message<'_>,
    rb: &arrow_ipc::RecordBatch<'_>,
    buffers: &[arrow_ipc::Buffer],
    body_len: usize,
) -> Vec<u8> {
    let mut fbb = flatbuffers::FlatBufferBuilder::new();
    let nodes: Vec<arrow_ipc::FieldNode> = rb
        .nodes()
        .map(|n| n.iter().copied().collect())
        .unwrap_or_default();
    let nodes = fbb.create_vector(&nodes);
    let bufs = fbb.create_vector(buffers);
    let compression = rb.compression().map(|c| {
        let mut cb = arrow_ipc::BodyCompressionBuilder::new(&mut fbb);
        cb.add_codec(c.codec());
        cb.add_method(c.method());
        cb.finish()
    });
    let mut rbb = arrow_ipc::RecordBatchBuilder::new(&mut fbb);
    rbb.add_length(rb.length());
    rbb.add_nodes(nodes);
    rbb.add_buffers(bufs);
    if let Some(c) = compression {
        rbb.add_compression(c);
    }
    let header = rbb.finish();
    let mut mb = arrow_ipc::MessageBuilder::new(&mut fbb);
    mb.add_version(msg.version());
    mb.add_header_type(arrow_ipc::MessageHeader::RecordBatch);
    mb.add_header(header.as_union_value());
    mb.add_bodyLength(body_len as i64);
    let root = mb.finish();
    fbb.finish(root, None);
    fbb.finished_data().to_vec()
}
