//! Parquet files (revoscalepy's `RxParquetData`): a chunked source with column projection, row
//! counts from the footer and splitting by row groups, and an atomic sink.
//!
//! Parquet keeps the Arrow schema (field metadata included) in its footer, so variable metadata
//! survives a round trip. Factor columns come back from Parquet with a dictionary per batch; the
//! source re-codes every batch onto one level table per column (seeded from the `rx:levels` field
//! metadata), so the stream keeps a fixed, growing level table as every revoscale stream does. The
//! sink writes the final level table into the footer's schema.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use parquet::arrow::arrow_reader::{
    ArrowPredicateFn, ArrowReaderMetadata, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::arrow::{ARROW_SCHEMA_META_KEY, ArrowWriter, ProjectionMask, encode_arrow_schema};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use parquet::file::writer::SerializedFileWriter;
use rx_core::factor::factor_type;
use rx_core::varinfo::{field_levels, is_factor, with_levels};
use rx_core::{
    ChunkReader, ChunkWriter, DataSink, DataSource, Error, ReadOptions, Result, WriteMode,
    WriteOptions,
};

use crate::util::{
    FactorRecoder, Rechunker, contiguous_parts, no_panic, persist, resolve_projection, temp_beside,
};

/// A Parquet file as a data source and sink (revoscalepy's `RxParquetData`).
///
/// ```no_run
/// use rx_core::{DataSource, ReadOptions};
/// use rx_data::ParquetData;
///
/// let src = ParquetData::new("flights.parquet");
/// println!("{:?} rows", src.num_rows()?);
/// for chunk in src.open(&ReadOptions::default().columns(["ArrDelay"]).rows_per_read(100_000))? {
///     println!("{} rows", chunk?.num_rows());
/// }
/// # Ok::<(), rx_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ParquetData {
    path: PathBuf,
    rows_per_read: usize,
    row_groups: Option<Vec<usize>>,
}

/// True for dictionary-of-strings fields (factors, with any key type).
fn is_string_dictionary(dt: &DataType) -> bool {
    matches!(dt, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View))
}

/// The field as revoscale streams it: string dictionaries become factors (`Int32` codes, `Utf8`
/// levels).
fn stream_field(f: &Field) -> Field {
    if is_string_dictionary(f.data_type()) && f.data_type() != &factor_type() {
        Field::new(f.name(), factor_type(), f.is_nullable()).with_metadata(f.metadata().clone())
    } else {
        f.clone()
    }
}

impl ParquetData {
    /// A Parquet file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ParquetData {
            path: path.into(),
            rows_per_read: 500_000,
            row_groups: None,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows per chunk when [`ReadOptions::rows_per_read`] is not given (default 500,000).
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rows_per_read = rows.max(1);
        self
    }

    /// The row groups this source reads (`None`: all); set on the parts made by
    /// [`DataSource::split`].
    pub fn row_groups(&self) -> Option<&[usize]> {
        self.row_groups.as_deref()
    }

    fn name_str(&self) -> String {
        self.path.display().to_string()
    }

    fn corrupt(&self, what: &str, e: impl std::fmt::Display) -> Error {
        Error::corrupt(
            &self.path,
            format!(
                "{what}: {e}; the file is not a valid Parquet file (truncated, damaged or another format)"
            ),
        )
    }

    fn builder(&self) -> Result<ParquetRecordBatchReaderBuilder<File>> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        no_panic(&self.path, "reading the Parquet footer", || {
            ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| self.corrupt("reading the Parquet footer", e))
        })
    }

    fn check_row_groups(&self, n: usize) -> Result<()> {
        if let Some(rgs) = &self.row_groups
            && let Some(bad) = rgs.iter().find(|&&g| g >= n)
        {
            return Err(Error::invalid(format!(
                "{}: row group {bad} does not exist (the file has {n})",
                self.name_str()
            )));
        }
        Ok(())
    }
}

impl DataSource for ParquetData {
    fn name(&self) -> String {
        self.name_str()
    }

    fn schema(&self) -> Result<SchemaRef> {
        let b = self.builder()?;
        let s = b.schema();
        Ok(Arc::new(Schema::new_with_metadata(
            s.fields()
                .iter()
                .map(|f| stream_field(f))
                .collect::<Vec<_>>(),
            s.metadata().clone(),
        )))
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let b = self.builder()?;
        let name = self.name_str();
        let file_schema = b.schema().clone();
        let proj = resolve_projection(&file_schema, options.columns.as_deref(), &name)?;
        let mut sorted = proj.clone();
        sorted.sort_unstable();
        sorted.dedup();
        let pos: Vec<usize> = proj
            .iter()
            .map(|i| sorted.binary_search(i).unwrap_or(0))
            .collect();
        let mask = ProjectionMask::roots(b.parquet_schema(), sorted.iter().copied());
        let rows = options.rows_per_read.unwrap_or(self.rows_per_read).max(1);
        let n_groups = b.metadata().num_row_groups();
        self.check_row_groups(n_groups)?;
        let groups: Vec<usize> = match &self.row_groups {
            Some(rgs) => rgs.clone(),
            None => (0..n_groups).collect(),
        };
        let workers = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(groups.len());
        let pushdown = options
            .row_filter
            .as_ref()
            .and_then(|f| Pushdown::new(f, &file_schema, b.parquet_schema()));
        let filtered = pushdown.is_some();
        let inner = if workers > 1 {
            Decoder::Prefetch(Prefetch::start(
                self, b, mask, rows, groups, workers, pushdown,
            )?)
        } else {
            let mut b = b
                .with_projection(mask)
                .with_batch_size(rows)
                .with_row_groups(groups);
            if let Some(p) = &pushdown {
                b = b.with_row_filter(p.row_filter());
            }
            Decoder::Serial(no_panic(&self.path, "opening the Parquet reader", || {
                b.build()
                    .map_err(|e| self.corrupt("opening the Parquet reader", e))
            })?)
        };
        let mut fields = Vec::with_capacity(proj.len());
        let mut recoders = Vec::with_capacity(proj.len());
        for &i in &proj {
            let f = stream_field(file_schema.field(i));
            recoders.push(
                is_factor(&f).then(|| FactorRecoder::new(&field_levels(&f).unwrap_or_default())),
            );
            fields.push(f);
        }
        Ok(Box::new(ParquetChunks {
            source: self.clone(),
            inner,
            pos,
            fields,
            recoders,
            rechunker: Rechunker::new(rows),
            filtered,
            exhausted: false,
            done: false,
        }))
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        let b = self.builder()?;
        let md = b.metadata();
        self.check_row_groups(md.num_row_groups())?;
        let n = match &self.row_groups {
            None => md.file_metadata().num_rows(),
            Some(rgs) => rgs
                .iter()
                .filter_map(|&g| md.row_groups().get(g))
                .map(|rg| rg.num_rows())
                .sum(),
        };
        Ok(Some(u64::try_from(n).unwrap_or(0)))
    }

    /// Splits by row groups into at most `n` contiguous parts. Each part seeds its factor level
    /// tables from the file's `rx:levels` metadata, so codes agree across parts when the file was
    /// written with its complete level tables (as this crate's sink does).
    fn split(&self, n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        let groups: Vec<usize> = match &self.row_groups {
            Some(g) => g.clone(),
            None => (0..self.builder()?.metadata().num_row_groups()).collect(),
        };
        if groups.len() <= 1 || n <= 1 {
            return Ok(vec![Box::new(self.clone())]);
        }
        Ok(contiguous_parts(groups.len(), n)
            .into_iter()
            .map(|r| {
                let part = ParquetData {
                    row_groups: Some(groups.get(r).map(<[usize]>::to_vec).unwrap_or_default()),
                    ..self.clone()
                };
                Box::new(part) as Box<dyn DataSource>
            })
            .collect())
    }
}

/// A [`rx_core::RowFilter`] hint as Parquet's row filter: the predicate's columns are decoded
/// first, and the other columns only for the rows it keeps.
#[derive(Clone)]
struct Pushdown {
    mask: ProjectionMask,
    predicate: rx_core::RowPredicate,
}

impl Pushdown {
    /// `None` when a column of the filter is not in the file (the hint is then ignored).
    fn new(
        filter: &rx_core::RowFilter,
        schema: &Schema,
        descr: &parquet::schema::types::SchemaDescriptor,
    ) -> Option<Self> {
        let mut roots = Vec::with_capacity(filter.columns.len());
        for c in &filter.columns {
            roots.push(schema.index_of(c).ok()?);
        }
        roots.sort_unstable();
        roots.dedup();
        Some(Pushdown {
            mask: ProjectionMask::roots(descr, roots),
            predicate: filter.predicate.clone(),
        })
    }

    fn row_filter(&self) -> parquet::arrow::arrow_reader::RowFilter {
        let predicate = self.predicate.clone();
        let f = ArrowPredicateFn::new(self.mask.clone(), move |batch: RecordBatch| {
            let keep = predicate(&batch)
                .map_err(|e| arrow::error::ArrowError::ExternalError(Box::new(e)))?;
            Ok(if arrow::array::Array::null_count(&keep) > 0 {
                arrow::compute::prep_null_mask_filter(&keep)
            } else {
                keep
            })
        });
        parquet::arrow::arrow_reader::RowFilter::new(vec![Box::new(f)])
    }
}

/// A decoded batch, the end of a row group (`None`), or why decoding failed.
type Decoded = std::result::Result<Option<RecordBatch>, String>;

/// Decodes the row groups of a file in order: on this thread, or on worker threads.
enum Decoder {
    Serial(ParquetRecordBatchReader),
    Prefetch(Prefetch),
}

/// The largest batch a [`Prefetch`] worker decodes at once.
const PREFETCH_BATCH_ROWS: usize = 8_192;

/// Row groups decoded ahead on worker threads, handed out in file order.
///
/// Worker `w` of `W` decodes row groups `w, w + W, ...` into its own bounded channel, ending each
/// group with a marker; the reader takes the groups' batches from the channels in turn. Decoding
/// (decompression, dictionary and level decoding) runs beside whatever consumes the chunks, while
/// rows keep their order; at most about one chunk (`rows_per_read`, at most a row group) per
/// worker is held ahead. Factor re-coding stays on the reading thread, so level tables grow in
/// row order as in a serial read.
struct Prefetch {
    channels: Vec<std::sync::mpsc::Receiver<Decoded>>,
    /// Position (in the part's list of row groups) of the group being read.
    at: usize,
    groups: usize,
}

impl Prefetch {
    fn start(
        source: &ParquetData,
        builder: ParquetRecordBatchReaderBuilder<File>,
        mask: ProjectionMask,
        batch_rows: usize,
        groups: Vec<usize>,
        workers: usize,
        pushdown: Option<Pushdown>,
    ) -> Result<Self> {
        // Workers decode in small batches (the reader re-chunks them): small buffers are reused by
        // the allocator, where row-group-sized ones were fresh pages from the kernel each time, and
        // a data step over 10M rows ran 5-10% faster than with 64K-row batches.
        let chunk_rows = batch_rows.max(1);
        let batch_rows = batch_rows.clamp(1, PREFETCH_BATCH_ROWS);
        let metadata = builder.metadata().clone();
        let reader_metadata = ArrowReaderMetadata::try_new(metadata.clone(), Default::default())
            .map_err(|e| source.corrupt("reading the Parquet footer", e))?;
        // Room per worker for one chunk of the reader's (so memory follows `rows_per_read`), at
        // most one row group, and at most 64 batches.
        let largest = groups
            .iter()
            .filter_map(|&g| metadata.row_groups().get(g))
            .map(|rg| usize::try_from(rg.num_rows()).unwrap_or(0))
            .max()
            .unwrap_or(0);
        let capacity = largest.min(chunk_rows).div_ceil(batch_rows).clamp(1, 64) + 1;
        let mut channels = Vec::with_capacity(workers);
        for w in 0..workers {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Decoded>(capacity);
            let file = File::open(&source.path).map_err(|e| Error::io(&source.path, e))?;
            let mine: Vec<usize> = groups.iter().copied().skip(w).step_by(workers).collect();
            let meta = reader_metadata.clone();
            let mask = mask.clone();
            let pushdown = pushdown.clone();
            std::thread::Builder::new()
                .name(format!("rx-parquet-{w}"))
                .spawn(move || {
                    let job = GroupJob {
                        metadata: &meta,
                        mask: &mask,
                        batch_rows,
                        pushdown: pushdown.as_ref(),
                    };
                    decode_groups(file, &job, &mine, &tx)
                })
                .map_err(|e| Error::External {
                    context: "starting a Parquet decoding thread".into(),
                    source: Box::new(e),
                })?;
            channels.push(rx);
        }
        Ok(Prefetch {
            channels,
            at: 0,
            groups: groups.len(),
        })
    }

    /// The next batch, `Some(Ok(None))` at the end of each row group, `None` at the end.
    fn next(&mut self, source: &ParquetData) -> Option<Result<Option<RecordBatch>>> {
        if self.at >= self.groups {
            return None;
        }
        let channel = self.channels.get(self.at % self.channels.len())?;
        Some(match channel.recv() {
            Ok(Ok(Some(batch))) => Ok(Some(batch)),
            Ok(Ok(None)) => {
                self.at += 1;
                Ok(None)
            }
            Ok(Err(e)) => {
                self.at = self.groups;
                Err(source.corrupt("reading Parquet data", e))
            }
            Err(_) => {
                self.at = self.groups;
                Err(source.corrupt(
                    "reading Parquet data",
                    "a decoding thread stopped without finishing its row groups",
                ))
            }
        })
    }
}

/// What a worker of [`Prefetch`] decodes each of its row groups with.
struct GroupJob<'a> {
    metadata: &'a ArrowReaderMetadata,
    mask: &'a ProjectionMask,
    batch_rows: usize,
    pushdown: Option<&'a Pushdown>,
}

/// A worker of [`Prefetch`]: decodes `groups` in order into `tx`, each followed by an end marker.
/// Stops early when the reader is dropped (a send fails) or on the first error, which it sends.
fn decode_groups(
    file: File,
    job: &GroupJob<'_>,
    groups: &[usize],
    tx: &std::sync::mpsc::SyncSender<Decoded>,
) {
    let run = || -> std::result::Result<(), String> {
        for &g in groups {
            let file = file.try_clone().map_err(|e| e.to_string())?;
            let mut builder =
                ParquetRecordBatchReaderBuilder::new_with_metadata(file, job.metadata.clone())
                    .with_projection(job.mask.clone())
                    .with_batch_size(job.batch_rows)
                    .with_row_groups(vec![g]);
            if let Some(p) = job.pushdown {
                builder = builder.with_row_filter(p.row_filter());
            }
            let reader = builder.build().map_err(|e| e.to_string())?;
            for batch in reader {
                let batch = batch.map_err(|e| e.to_string())?;
                if tx.send(Ok(Some(batch))).is_err() {
                    return Ok(());
                }
            }
            if tx.send(Ok(None)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the decoder failed".into()),
    };
    let _ = tx.send(Err(error));
}

/// The chunk reader of a [`ParquetData`].
struct ParquetChunks {
    source: ParquetData,
    inner: Decoder,
    /// For each requested column, its position in the reader's (file-ordered) output.
    pos: Vec<usize>,
    fields: Vec<Field>,
    recoders: Vec<Option<FactorRecoder>>,
    rechunker: Rechunker,
    /// A row filter is pushed down: see `next_chunk`.
    filtered: bool,
    exhausted: bool,
    done: bool,
}

impl ParquetChunks {
    fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        // With a row filter, a row group's kept rows are handed out when the group ends rather
        // than held until `rows_per_read` of them have been kept (a chunk is at most
        // `rows_per_read` rows, as when reading, and often fewer, as after a selection): so what
        // consumes the chunks starts, and goes on, while later groups are decoded.
        let mut group_end = false;
        while !self.exhausted && !self.rechunker.has_chunk() && !group_end {
            let next = match &mut self.inner {
                Decoder::Serial(inner) => {
                    let path = self.source.path.clone();
                    no_panic(&path, "reading Parquet data", || Ok(inner.next()))?.map(|r| {
                        r.map(Some)
                            .map_err(|e| self.source.corrupt("reading Parquet data", e))
                    })
                }
                Decoder::Prefetch(p) => p.next(&self.source),
            };
            match next {
                None => self.exhausted = true,
                Some(Ok(Some(b))) => self.rechunker.push(b),
                Some(Ok(None)) => group_end = self.filtered && !self.rechunker.is_empty(),
                Some(Err(e)) => return Err(e),
            }
        }
        let Some(batch) = self.rechunker.pop(self.exhausted || group_end)? else {
            return Ok(None);
        };
        let name = self.source.name_str();
        let mut cols = Vec::with_capacity(self.pos.len());
        let mut fields = Vec::with_capacity(self.pos.len());
        for ((&p, field), recoder) in self
            .pos
            .iter()
            .zip(&self.fields)
            .zip(self.recoders.iter_mut())
        {
            let col = batch.columns().get(p).ok_or_else(|| {
                Error::corrupt(
                    &self.source.path,
                    format!("column '{}' is missing from the data", field.name()),
                )
            })?;
            match recoder {
                Some(r) => {
                    let what = format!("{name}: column '{}'", field.name());
                    let out = r.recode(col.as_ref(), &what)?;
                    fields.push(with_levels(field.clone(), r.levels()));
                    cols.push(out);
                }
                None => {
                    fields.push(field.clone());
                    cols.push(col.clone());
                }
            }
        }
        let n = batch.num_rows();
        RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(n)),
        )
        .map(Some)
        .map_err(|e| self.source.corrupt("building a chunk", e))
    }
}

impl Iterator for ParquetChunks {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_chunk();
        crate::util::fuse(&mut self.done, next)
    }
}

impl DataSink for ParquetData {
    fn name(&self) -> String {
        self.name_str()
    }

    /// Writes a Parquet file with Zstandard compression (`compression_level` 0: uncompressed;
    /// otherwise the Zstandard level, 1 to 22), row groups of `rows_per_block` rows (default
    /// 1,048,576), to a temporary file renamed into place by `finish`. Columns are dictionary
    /// encoded, except float and 64-bit integer columns whose first rows are mostly distinct
    /// values. Parquet files cannot be appended to.
    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        match options.mode {
            WriteMode::Append => {
                return Err(Error::invalid(format!(
                    "{}: Parquet files cannot be appended to; write to an .xdf file (which can be appended to) or \
                     overwrite the Parquet file with all the rows",
                    self.name_str()
                )));
            }
            WriteMode::Create if self.path.exists() => {
                return Err(Error::Exists {
                    path: self.path.clone(),
                });
            }
            _ => {}
        }
        let schema = Arc::new(Schema::new_with_metadata(
            schema
                .fields()
                .iter()
                .map(|f| stream_field(f))
                .collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        let compression = match options.compression_level {
            0 => Compression::UNCOMPRESSED,
            l => Compression::ZSTD(
                ZstdLevel::try_new(l.clamp(1, 22) as i32)
                    .map_err(|e| Error::invalid(format!("compression level {l}: {e}")))?,
            ),
        };
        let mut props = WriterProperties::builder().set_compression(compression);
        if let Some(rows) = options.rows_per_block {
            props = props.set_max_row_group_row_count(Some(rows.max(1)));
        }
        // The schema is checked now; the writer itself starts with the first rows, which decide
        // each column's dictionary encoding.
        parquet::arrow::ArrowSchemaConverter::new()
            .convert(&schema)
            .map_err(|e| {
                Error::external(format!("{}: starting the Parquet file", self.name_str()), e)
            })?;
        let tmp = temp_beside(&self.path)?;
        let recoders = schema
            .fields()
            .iter()
            .map(|f| is_factor(f).then(|| FactorRecoder::new(&field_levels(f).unwrap_or_default())))
            .collect();
        Ok(Box::new(ParquetWriter {
            path: self.path.clone(),
            tmp,
            writer: None,
            props: Some(props),
            schema,
            recoders,
            overwrite: options.mode == WriteMode::Overwrite,
            rows: 0,
        }))
    }
}

/// An open Parquet output.
struct ParquetWriter {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    /// Started by the first rows written (or by `finish` when there are none), from `props`.
    writer: Option<ColumnsWriter>,
    props: Option<WriterPropertiesBuilder>,
    schema: SchemaRef,
    recoders: Vec<Option<FactorRecoder>>,
    overwrite: bool,
    rows: u64,
}

impl ParquetWriter {
    fn ext(&self, what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::external(format!("{}: {what}", self.path.display()), e)
    }

    fn closed(&self) -> Error {
        Error::invalid(format!("{}: the writer is closed", self.path.display()))
    }

    /// The writer, started on the first call. `first` (the first rows written, if any) decides
    /// which columns skip dictionary encoding: see [`mostly_distinct`].
    fn writer(&mut self, first: Option<&RecordBatch>) -> Result<&mut ColumnsWriter> {
        if self.writer.is_none() {
            let Some(mut props) = self.props.take() else {
                return Err(self.closed());
            };
            if let Some(batch) = first {
                for (f, col) in self.schema.fields().iter().zip(batch.columns()) {
                    if mostly_distinct(col.as_ref()) {
                        props = props.set_column_dictionary_enabled(
                            parquet::schema::types::ColumnPath::from(f.name().as_str()),
                            false,
                        );
                    }
                }
            }
            let file = self
                .tmp
                .as_file()
                .try_clone()
                .map_err(|e| Error::io(self.tmp.path(), e))?;
            let writer = ColumnsWriter::new(file, self.schema.clone(), props.build())
                .map_err(|e| self.ext("starting the Parquet file", e))?;
            self.writer = Some(writer);
        }
        let closed = self.closed();
        self.writer.as_mut().ok_or(closed)
    }
}

/// Parquet encoding with the columns of each row group encoded and compressed in parallel, as
/// parquet-rs's `ArrowColumnWriter` allows; [`ArrowWriter`] encodes them one after the other.
struct ColumnsWriter {
    file: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// Rows per row group.
    max_rows: usize,
    /// The column writers of the row group being written, and its rows so far.
    group: Option<Vec<ArrowColumnWriter>>,
    buffered: usize,
    /// Row groups written.
    groups: usize,
    /// Writes each finished row group out to disk in the background, so the sync before the
    /// rename waits for the last one only.
    sync: Option<rx_core::fs::SyncAhead>,
}

impl ColumnsWriter {
    fn new(
        file: File,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> parquet::errors::Result<Self> {
        // Without a second handle (or a thread) the final sync does all the writing out.
        let sync = file
            .try_clone()
            .ok()
            .and_then(rx_core::fs::SyncAhead::start);
        let max_rows = props
            .max_row_group_row_count()
            .unwrap_or(parquet::file::properties::DEFAULT_MAX_ROW_GROUP_ROW_COUNT)
            .max(1);
        let (file, factory) = ArrowWriter::try_new_with_options(
            file,
            schema.clone(),
            ArrowWriterOptions::new()
                .with_properties(props)
                .with_skip_arrow_metadata(true),
        )?
        .into_serialized_writer()?;
        Ok(ColumnsWriter {
            file,
            factory,
            schema,
            max_rows,
            group: None,
            buffered: 0,
            groups: 0,
            sync,
        })
    }

    fn write(&mut self, batch: &RecordBatch) -> parquet::errors::Result<()> {
        let mut at = 0;
        while at < batch.num_rows() {
            let take = (self.max_rows - self.buffered).min(batch.num_rows() - at);
            let part = batch.slice(at, take);
            let mut leaves = Vec::with_capacity(part.num_columns());
            for (f, col) in self.schema.fields().iter().zip(part.columns()) {
                leaves.extend(compute_leaves(f, col)?);
            }
            let writers = match &mut self.group {
                Some(w) => w,
                None => self
                    .group
                    .insert(self.factory.create_column_writers(self.groups)?),
            };
            let pairs: Vec<_> = writers.iter_mut().zip(&leaves).collect();
            in_parallel(pairs, |(w, leaf)| w.write(leaf))
                .into_iter()
                .collect::<parquet::errors::Result<()>>()?;
            self.buffered += take;
            at += take;
            if self.buffered >= self.max_rows {
                self.flush()?;
            }
        }
        Ok(())
    }

    /// Closes the row group being written (its last pages are compressed in parallel too).
    fn flush(&mut self) -> parquet::errors::Result<()> {
        let Some(writers) = self.group.take() else {
            return Ok(());
        };
        let chunks = in_parallel(writers, ArrowColumnWriter::close)
            .into_iter()
            .collect::<parquet::errors::Result<Vec<_>>>()?;
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        self.groups += 1;
        self.buffered = 0;
        if let Some(s) = &self.sync {
            s.request();
        }
        Ok(())
    }

    /// Writes the last row group and the footer (with `metadata`), and returns the file and the
    /// background sync (for [`rx_core::fs::SyncAhead::finish`] after the final sync).
    fn finish(
        mut self,
        metadata: KeyValue,
    ) -> parquet::errors::Result<(File, Option<rx_core::fs::SyncAhead>)> {
        self.flush()?;
        self.file.append_key_value_metadata(metadata);
        let sync = self.sync.take();
        Ok((self.file.into_inner()?, sync))
    }
}

/// `f` of each item, in order, spread over one scoped thread per core (at most one per item). Not a
/// rayon pool: the writer runs on its own thread while the pool's workers may be blocked handing it
/// chunks (a data step run inside a rayon task), and waiting on that pool could then never end.
fn in_parallel<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let per = items.len().div_ceil(threads);
    let mut parts: Vec<Vec<T>> = Vec::with_capacity(threads);
    let mut items = items.into_iter();
    loop {
        let part: Vec<T> = items.by_ref().take(per).collect();
        if part.is_empty() {
            break;
        }
        parts.push(part);
    }
    let f = &f;
    std::thread::scope(|scope| {
        let mut parts = parts.into_iter();
        let first = parts.next().unwrap_or_default();
        // A part whose thread cannot be started runs on this thread.
        let others: Vec<std::result::Result<_, Vec<T>>> = parts
            .map(|part| {
                let (tx, rx) = std::sync::mpsc::channel::<Vec<T>>();
                let spawned = std::thread::Builder::new().spawn_scoped(scope, move || {
                    rx.recv()
                        .map(|part| part.into_iter().map(f).collect::<Vec<R>>())
                        .unwrap_or_default()
                });
                match spawned {
                    Ok(handle) => match tx.send(part) {
                        Ok(()) => Ok(handle),
                        Err(back) => Err(back.0),
                    },
                    Err(_) => Err(part),
                }
            })
            .collect();
        let mut out: Vec<R> = first.into_iter().map(f).collect();
        for other in others {
            match other {
                Ok(handle) => match handle.join() {
                    Ok(rs) => out.extend(rs),
                    Err(payload) => std::panic::resume_unwind(payload),
                },
                Err(part) => out.extend(part.into_iter().map(f)),
            }
        }
        out
    })
}

/// Rows sampled from the start of a numeric column by [`mostly_distinct`].
const DICTIONARY_SAMPLE: usize = 4096;

/// True when a float or 64-bit integer column's first rows are mostly distinct values (over 3/4
/// of up to [`DICTIONARY_SAMPLE`] non-missing ones), so a Parquet dictionary would not pay:
/// parquet-rs would hash every value into a dictionary until it outgrows its page limit, and then
/// fall back to plain encoding, in every row group. DuckDB's writer likewise drops the dictionary
/// of high-cardinality columns. Other columns (factors, strings, small integers) keep it.
fn mostly_distinct(col: &dyn arrow::array::Array) -> bool {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float32Type, Float64Type, Int64Type, UInt64Type};
    fn distinct_share<I: Iterator<Item = u64>>(values: I) -> bool {
        let mut seen = std::collections::HashSet::with_capacity(DICTIONARY_SAMPLE);
        let mut n = 0usize;
        for v in values.take(DICTIONARY_SAMPLE) {
            seen.insert(v);
            n += 1;
        }
        n >= 64 && seen.len() * 4 > n * 3
    }
    match col.data_type() {
        DataType::Float64 => distinct_share(
            col.as_primitive::<Float64Type>()
                .iter()
                .flatten()
                .map(f64::to_bits),
        ),
        DataType::Float32 => distinct_share(
            col.as_primitive::<Float32Type>()
                .iter()
                .flatten()
                .map(|v| u64::from(v.to_bits())),
        ),
        DataType::Int64 => distinct_share(
            col.as_primitive::<Int64Type>()
                .iter()
                .flatten()
                .map(|v| v as u64),
        ),
        DataType::UInt64 => distinct_share(col.as_primitive::<UInt64Type>().iter().flatten()),
        _ => false,
    }
}

impl ChunkWriter for ParquetWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let fields = self.schema.fields();
        crate::util::check_column_count(&self.path, batch, fields.len())?;
        let name = self.path.display().to_string();
        let mut cols = Vec::with_capacity(fields.len());
        for ((f, col), recoder) in fields
            .iter()
            .zip(batch.columns())
            .zip(self.recoders.iter_mut())
        {
            match recoder {
                Some(r) => {
                    if !is_string_dictionary(col.data_type()) && col.data_type() != &DataType::Utf8
                    {
                        return Err(Error::Schema(format!(
                            "{name}: column '{}' is a factor in the output but has type {} in a chunk",
                            f.name(),
                            col.data_type()
                        )));
                    }
                    cols.push(r.recode(col.as_ref(), &format!("{name}: column '{}'", f.name()))?);
                }
                None => {
                    if col.data_type() != f.data_type() {
                        return Err(Error::Schema(format!(
                            "{name}: column '{}' has type {} in a chunk but {} in the output",
                            f.name(),
                            col.data_type(),
                            f.data_type()
                        )));
                    }
                    cols.push(col.clone());
                }
            }
        }
        let b = RecordBatch::try_new_with_options(
            self.schema.clone(),
            cols,
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )
        .map_err(|e| Error::arrow(format!("{name}: preparing a chunk"), e))?;
        if b.num_rows() == 0 {
            return Ok(());
        }
        let w = self.writer(Some(&b))?;
        w.write(&b)
            .map_err(|e| Error::external(format!("{name}: writing a row group"), e))?;
        self.rows += b.num_rows() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        // The footer's Arrow schema carries the final level tables.
        let fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .zip(&self.recoders)
            .map(|(f, r)| match r {
                Some(r) => with_levels(f.as_ref().clone(), r.levels()),
                None => f.as_ref().clone(),
            })
            .collect();
        let final_schema = Schema::new_with_metadata(fields, self.schema.metadata().clone());
        self.writer(None)?;
        let Some(w) = self.writer.take() else {
            return Err(self.closed());
        };
        let (file, sync) = w
            .finish(KeyValue::new(
                ARROW_SCHEMA_META_KEY.to_string(),
                encode_arrow_schema(&final_schema),
            ))
            .map_err(|e| self.ext("writing the Parquet footer", e))?;
        rx_core::fs::sync_finished(&file, sync, self.tmp.path())?;
        drop(file);
        let ParquetWriter {
            path,
            tmp,
            overwrite,
            rows,
            ..
        } = *self;
        persist(tmp, &path, overwrite)?;
        Ok(rows)
    }
}
