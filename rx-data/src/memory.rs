//! In-memory data: Arrow record batches as a source ([`MemoryData`]) and a sink that collects
//! them ([`MemorySink`]).

use std::sync::{Arc, Mutex, MutexGuard};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use rx_core::{
    ChunkReader, ChunkWriter, DataSink, DataSource, Error, ReadOptions, Result, WriteMode,
    WriteOptions,
};

use crate::util::{Rechunker, contiguous_parts, resolve_projection};

/// Record batches in memory as a data source.
///
/// Chunks are the batches as given, or exactly `rows_per_read` rows when a read asks for it
/// (batches are sliced and joined). Clones share the batches.
#[derive(Debug, Clone)]
pub struct MemoryData {
    name: String,
    schema: SchemaRef,
    batches: Arc<Vec<RecordBatch>>,
}

/// Checks that every batch has the schema's column types.
fn check_batches(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    for (i, b) in batches.iter().enumerate() {
        let ok = b.num_columns() == schema.fields().len()
            && b.columns()
                .iter()
                .zip(schema.fields())
                .all(|(c, f)| c.data_type() == f.data_type());
        if !ok {
            let types = |ts: Vec<String>| ts.join(", ");
            return Err(Error::Schema(format!(
                "batch {i} has columns of types [{}] but the schema has [{}]",
                types(
                    b.columns()
                        .iter()
                        .map(|c| c.data_type().to_string())
                        .collect()
                ),
                types(
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.data_type().to_string())
                        .collect()
                )
            )));
        }
    }
    Ok(())
}

impl MemoryData {
    /// Batches with `schema` (every batch must have its column types).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Result<Self> {
        check_batches(&schema, &batches)?;
        Ok(MemoryData {
            name: "memory".into(),
            schema,
            batches: Arc::new(batches),
        })
    }

    /// Batches whose schema is the first batch's; an error when there is none.
    pub fn from_batches(batches: Vec<RecordBatch>) -> Result<Self> {
        let schema = batches.first().map(|b| b.schema()).ok_or_else(|| {
            Error::invalid(
                "in-memory data needs at least one batch to know its schema; use MemoryData::new",
            )
        })?;
        Self::new(schema, batches)
    }

    /// Sets the name used in messages (default `memory`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The batches.
    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }
}

impl DataSource for MemoryData {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> Result<SchemaRef> {
        Ok(self.schema.clone())
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let proj = resolve_projection(&self.schema, options.columns.as_deref(), &self.name)?;
        let schema = Arc::new(
            self.schema
                .project(&proj)
                .map_err(|e| Error::arrow(self.name.clone(), e))?,
        );
        let batches = self.batches.clone();
        let name = self.name.clone();
        let projected = (0..batches.len()).map(move |i| {
            let b = batches
                .get(i)
                .ok_or_else(|| Error::invalid("batch out of range"))?;
            let cols = proj.iter().map(|&j| b.column(j).clone()).collect();
            RecordBatch::try_new_with_options(
                schema.clone(),
                cols,
                &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
            )
            .map_err(|e| Error::arrow(name.clone(), e))
        });
        match options.rows_per_read {
            None => Ok(Box::new(projected)),
            Some(n) => Ok(Box::new(Rechunked {
                inner: Box::new(projected),
                rechunker: Rechunker::new(n),
                done: false,
            })),
        }
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        Ok(Some(self.batches.iter().map(|b| b.num_rows() as u64).sum()))
    }

    /// Contiguous groups of batches (at most `n`, never more than there are batches).
    fn split(&self, n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        if self.batches.len() <= 1 || n <= 1 {
            return Ok(vec![Box::new(self.clone())]);
        }
        Ok(contiguous_parts(self.batches.len(), n)
            .into_iter()
            .map(|r| {
                let part = MemoryData {
                    name: format!("{} (batches {}..{})", self.name, r.start, r.end),
                    schema: self.schema.clone(),
                    batches: Arc::new(
                        self.batches
                            .get(r)
                            .map(<[RecordBatch]>::to_vec)
                            .unwrap_or_default(),
                    ),
                };
                Box::new(part) as Box<dyn DataSource>
            })
            .collect())
    }
}

/// Re-chunks a chunk stream to a fixed number of rows.
struct Rechunked {
    inner: ChunkReader,
    rechunker: Rechunker,
    done: bool,
}

impl Iterator for Rechunked {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rechunker.has_chunk() || self.done {
                return self.rechunker.pop(self.done).transpose();
            }
            match self.inner.next() {
                Some(Ok(b)) => self.rechunker.push(b),
                Some(Err(e)) => return Some(Err(e)),
                None => self.done = true,
            }
        }
    }
}

/// A sink that keeps what is written in memory.
///
/// Clones share the collected batches. Rows written become visible when the writer finishes
/// (a writer dropped without finishing leaves the sink as it was).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    inner: Arc<Mutex<Collected>>,
}

#[derive(Debug, Default)]
struct Collected {
    schema: Option<SchemaRef>,
    batches: Vec<RecordBatch>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Collected> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The schema of what was written, if anything was.
    pub fn schema(&self) -> Option<SchemaRef> {
        self.lock().schema.clone()
    }

    /// A copy of the collected batches (cheap: arrays are shared).
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.lock().batches.clone()
    }

    /// Takes the collected batches, leaving the sink empty.
    pub fn take(&self) -> Vec<RecordBatch> {
        let mut c = self.lock();
        c.schema = None;
        std::mem::take(&mut c.batches)
    }

    /// The rows collected.
    pub fn num_rows(&self) -> u64 {
        self.lock()
            .batches
            .iter()
            .map(|b| b.num_rows() as u64)
            .sum()
    }

    /// All collected rows as one batch (`None` when nothing was written).
    pub fn concat(&self) -> Result<Option<RecordBatch>> {
        let c = self.lock();
        let Some(schema) = c.schema.clone() else {
            return Ok(None);
        };
        arrow::compute::concat_batches(&schema, &c.batches)
            .map(Some)
            .map_err(|e| Error::arrow("joining the collected batches", e))
    }

    /// What was collected, as a source.
    pub fn to_memory_data(&self) -> Result<Option<MemoryData>> {
        let c = self.lock();
        match &c.schema {
            None => Ok(None),
            Some(s) => MemoryData::new(s.clone(), c.batches.clone()).map(Some),
        }
    }
}

impl DataSink for MemorySink {
    fn name(&self) -> String {
        "memory".into()
    }

    /// `Create` fails when the sink already holds data, `Overwrite` replaces it and `Append` adds
    /// rows (the column types must match). `rows_per_block` re-chunks what is written.
    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        {
            let c = self.lock();
            match (options.mode, &c.schema) {
                (WriteMode::Create, Some(_)) => {
                    return Err(Error::invalid(
                        "the memory sink already holds data; write with overwrite to replace it or append to add rows",
                    ));
                }
                (WriteMode::Append, Some(existing)) => {
                    let same = existing.fields().len() == schema.fields().len()
                        && existing
                            .fields()
                            .iter()
                            .zip(schema.fields())
                            .all(|(a, b)| a.data_type() == b.data_type());
                    if !same {
                        return Err(Error::Schema(format!(
                            "cannot append to the memory sink: its columns are [{}] but the data's are [{}]",
                            existing
                                .fields()
                                .iter()
                                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                                .collect::<Vec<_>>()
                                .join(", "),
                            schema
                                .fields()
                                .iter()
                                .map(|f| format!("{}: {}", f.name(), f.data_type()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(Box::new(MemoryWriter {
            sink: self.clone(),
            schema,
            mode: options.mode,
            pending: Vec::new(),
            rechunker: options.rows_per_block.map(Rechunker::new),
            rows: 0,
        }))
    }
}

/// An open [`MemorySink`] writer.
struct MemoryWriter {
    sink: MemorySink,
    schema: SchemaRef,
    mode: WriteMode,
    pending: Vec<RecordBatch>,
    rechunker: Option<Rechunker>,
    rows: u64,
}

impl ChunkWriter for MemoryWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        check_batches(&self.schema, std::slice::from_ref(batch))?;
        let b = batch.clone();
        self.rows += b.num_rows() as u64;
        match &mut self.rechunker {
            None => self.pending.push(b),
            Some(r) => {
                r.push(b);
                while let Some(c) = r.pop(false)? {
                    self.pending.push(c);
                }
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        if let Some(r) = &mut self.rechunker {
            while let Some(c) = r.pop(true)? {
                self.pending.push(c);
            }
        }
        // The last chunk's schema carries the most complete metadata (a stream's level tables grow).
        let schema = self
            .pending
            .last()
            .map_or_else(|| self.schema.clone(), RecordBatch::schema);
        let mut c = self.sink.lock();
        match (self.mode, c.schema.is_some()) {
            (WriteMode::Append, true) => c.batches.append(&mut self.pending),
            _ => c.batches = std::mem::take(&mut self.pending),
        }
        c.schema = Some(schema);
        Ok(self.rows)
    }
}
