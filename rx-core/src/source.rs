//! Data sources and sinks: where chunks come from and where they go.
//!
//! A [`DataSource`] opens a [`ChunkReader`] (an iterator of `RecordBatch` chunks) with a column
//! projection and `rows_per_read`; it knows its row count when it can, and it can split itself into
//! independent partitions for parallel reading. A [`DataSink`] creates a [`ChunkWriter`]; a writer
//! that is dropped without [`ChunkWriter::finish`] leaves no half-written output that looks valid.

use std::fmt::Debug;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::Result;

/// A stream of chunks. Factor columns keep one level table for the whole stream.
pub type ChunkReader = Box<dyn Iterator<Item = Result<RecordBatch>> + Send>;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// Columns to read, in this order; `None` reads all.
    pub columns: Option<Vec<String>>,
    /// Rows per chunk (revoscalepy's `rows_per_read`); `None` uses the source's natural blocks.
    pub rows_per_read: Option<usize>,
    /// A hint: rows the reader may leave out. A source that can evaluate it while decoding (Parquet
    /// decodes the other columns only for the rows it keeps) does; others ignore it, so a caller
    /// must still filter what it reads.
    pub row_filter: Option<RowFilter>,
}

/// The predicate of a row selection, for sources that can skip rows while decoding.
#[derive(Clone)]
pub struct RowFilter {
    /// The columns the predicate reads.
    pub columns: Vec<String>,
    /// Given a chunk holding (at least) `columns`, by name, in the source's types: the rows to
    /// keep. A null counts as not kept.
    pub predicate: RowPredicate,
}

/// See [`RowFilter::predicate`].
pub type RowPredicate =
    std::sync::Arc<dyn Fn(&RecordBatch) -> Result<arrow::array::BooleanArray> + Send + Sync>;

impl Debug for RowFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowFilter")
            .field("columns", &self.columns)
            .finish_non_exhaustive()
    }
}

/// Two filters are equal when they read the same columns with the same predicate object.
impl PartialEq for RowFilter {
    fn eq(&self, other: &Self) -> bool {
        self.columns == other.columns && std::sync::Arc::ptr_eq(&self.predicate, &other.predicate)
    }
}

impl Eq for RowFilter {}

impl ReadOptions {
    /// Reads only these columns.
    pub fn columns<S: Into<String>>(mut self, cols: impl IntoIterator<Item = S>) -> Self {
        self.columns = Some(cols.into_iter().map(Into::into).collect());
        self
    }

    /// Chunks of this many rows.
    pub fn rows_per_read(mut self, n: usize) -> Self {
        self.rows_per_read = Some(n);
        self
    }
}

/// Where chunks come from.
pub trait DataSource: Debug + Send + Sync {
    /// A short name for messages (usually the file path).
    fn name(&self) -> String;

    /// The schema of all columns, with variable metadata (factor levels, low/high, descriptions) in
    /// field metadata. For sources that discover factor levels while reading, the level table here
    /// may be incomplete; the chunks carry the full table known when each is produced.
    fn schema(&self) -> Result<SchemaRef>;

    /// Opens a chunk reader.
    fn open(&self, options: &ReadOptions) -> Result<ChunkReader>;

    /// The number of rows, when it is known without reading the data.
    fn num_rows(&self) -> Result<Option<u64>>;

    /// Splits the source into at most `n` independent parts whose chunks together are this source's
    /// chunks, in order. Sources that cannot split return one part.
    fn split(&self, n: usize) -> Result<Vec<Box<dyn DataSource>>>;
}

/// How an output that already exists is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteMode {
    /// Fail if the output exists (the default: nothing is replaced by accident).
    #[default]
    Create,
    /// Replace an existing output (atomically: the old one stays until the new one is complete).
    Overwrite,
    /// Add rows to an existing output (or create it).
    Append,
}

/// How to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// Create, overwrite or append.
    pub mode: WriteMode,
    /// Compression level: 0 = none; otherwise sink-specific (for .xdf: 1 = LZ4, the fast default;
    /// 2 and above = Zstandard).
    pub compression_level: u32,
    /// Rows per block of the output (re-blocks the input); `None` keeps the input's chunks.
    pub rows_per_block: Option<usize>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            mode: WriteMode::Create,
            compression_level: 1,
            rows_per_block: None,
        }
    }
}

impl WriteOptions {
    /// Replace an existing output.
    pub fn overwrite(mut self) -> Self {
        self.mode = WriteMode::Overwrite;
        self
    }

    /// Append to an existing output.
    pub fn append(mut self) -> Self {
        self.mode = WriteMode::Append;
        self
    }

    /// Sets the compression level.
    pub fn compression_level(mut self, level: u32) -> Self {
        self.compression_level = level;
        self
    }

    /// Sets rows per output block.
    pub fn rows_per_block(mut self, n: usize) -> Self {
        self.rows_per_block = Some(n);
        self
    }
}

/// Where chunks go.
pub trait DataSink: Debug + Send + Sync {
    /// A short name for messages (usually the file path).
    fn name(&self) -> String;

    /// Starts writing chunks of `schema`.
    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>>;
}

/// An open output. Dropping it without [`ChunkWriter::finish`] discards what was written.
pub trait ChunkWriter: Send {
    /// Writes one chunk.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;

    /// Completes the output (footer, rename into place) and returns the rows written.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// Copies every chunk of `reader` into `writer` and finishes it; on error the writer is dropped, so
/// nothing half-written is left looking valid. The writer runs on a thread of its own
/// ([`WriteBehind`]), so encoding and compressing a chunk overlaps reading the next.
pub fn copy_chunks(
    reader: ChunkReader,
    writer: Box<dyn ChunkWriter>,
    mut on_chunk: impl FnMut(&RecordBatch),
) -> Result<u64> {
    let mut writer = WriteBehind::start(writer)?;
    for batch in reader {
        let batch = batch?;
        on_chunk(&batch);
        writer.write(batch)?;
    }
    writer.finish()
}

/// What the caller of a [`WriteBehind`] hands its thread.
enum WriteMsg {
    Chunk(RecordBatch),
    Finish,
}

/// Chunks the caller has produced but the writer's thread has not taken yet.
const WRITE_BEHIND_CHUNKS: usize = 2;

/// A [`ChunkWriter`] run on a thread of its own: [`WriteBehind::write`] hands a chunk over (waiting
/// only while [`WRITE_BEHIND_CHUNKS`] chunks are queued) and returns, so the caller computes the
/// next chunk while this one is encoded, compressed and written. The output is completed only by
/// [`WriteBehind::finish`]; dropping a `WriteBehind` (on an error of the caller's) discards it, and
/// waits for the thread, so nothing of it is left behind when the drop returns.
pub struct WriteBehind {
    tx: Option<std::sync::mpsc::SyncSender<WriteMsg>>,
    thread: Option<std::thread::JoinHandle<Result<u64>>>,
}

impl WriteBehind {
    /// Starts the writer's thread.
    pub fn start(mut writer: Box<dyn ChunkWriter>) -> Result<Self> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<WriteMsg>(WRITE_BEHIND_CHUNKS);
        let thread = std::thread::Builder::new()
            .name("rx-writer".into())
            .spawn(move || -> Result<u64> {
                loop {
                    match rx.recv() {
                        Ok(WriteMsg::Chunk(batch)) => writer.write(&batch)?,
                        Ok(WriteMsg::Finish) => return writer.finish(),
                        // The caller stopped without finishing: `writer` is dropped, discarding
                        // the output.
                        Err(_) => {
                            return Err(crate::Error::invalid("the output was abandoned"));
                        }
                    }
                }
            })
            .map_err(|e| crate::Error::External {
                context: "starting the output's writer thread".into(),
                source: Box::new(e),
            })?;
        Ok(WriteBehind {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues one chunk. An error of an earlier chunk's write comes back here (or from `finish`).
    pub fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if self.send(WriteMsg::Chunk(batch)) {
            return Ok(());
        }
        // The thread has stopped, which it does only on an error: report it.
        match self.join() {
            Err(e) => Err(e),
            Ok(_) => Err(crate::Error::invalid(
                "internal error: the output's writer thread stopped early",
            )),
        }
    }

    /// Completes the output once every queued chunk is written; returns what
    /// [`ChunkWriter::finish`] returns.
    pub fn finish(mut self) -> Result<u64> {
        self.send(WriteMsg::Finish);
        self.join()
    }

    /// False when the thread no longer listens.
    fn send(&mut self, msg: WriteMsg) -> bool {
        self.tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
    }

    /// Closes the queue and waits for the thread's outcome.
    fn join(&mut self) -> Result<u64> {
        self.tx = None;
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|payload| {
                let what = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into());
                Err(crate::Error::invalid(format!(
                    "internal error: the output's writer failed: {what}"
                )))
            }),
            None => Err(crate::Error::invalid(
                "internal error: the output's writer was already finished",
            )),
        }
    }
}

impl Drop for WriteBehind {
    fn drop(&mut self) {
        if self.thread.is_some() {
            // Not finished: the thread drops its writer (discarding the output) and ends.
            let _ = self.join();
        }
    }
}

impl std::fmt::Debug for WriteBehind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBehind")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

/// Re-blocks a chunk stream into chunks of exactly `rows` rows (the last may be shorter).
pub fn rechunk(reader: ChunkReader, rows: usize) -> ChunkReader {
    Box::new(Rechunk {
        inner: reader,
        rows: rows.max(1),
        pending: Vec::new(),
        pending_rows: 0,
        done: false,
    })
}

struct Rechunk {
    inner: ChunkReader,
    rows: usize,
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    done: bool,
}

impl Rechunk {
    fn take(&mut self, n: usize) -> Result<RecordBatch> {
        let schema = match self.pending.first() {
            Some(b) => b.schema(),
            None => return Err(crate::Error::invalid("internal error: nothing to re-block")),
        };
        let all = if self.pending.len() == 1 {
            self.pending.remove(0)
        } else {
            let b = arrow::compute::concat_batches(&schema, &self.pending)
                .map_err(|e| crate::Error::arrow("re-blocking chunks", e))?;
            self.pending.clear();
            b
        };
        let n = n.min(all.num_rows());
        let out = all.slice(0, n);
        let rest = all.slice(n, all.num_rows() - n);
        self.pending_rows = rest.num_rows();
        if rest.num_rows() > 0 {
            self.pending.push(rest);
        }
        Ok(out)
    }
}

impl Iterator for Rechunk {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.pending_rows >= self.rows {
                return Some(self.take(self.rows));
            }
            if self.done {
                if self.pending_rows > 0 {
                    return Some(self.take(self.rows));
                }
                return None;
            }
            match self.inner.next() {
                Some(Ok(b)) => {
                    // Empty chunks carry nothing to re-block.
                    if b.num_rows() > 0 {
                        self.pending_rows += b.num_rows();
                        self.pending.push(b);
                    }
                }
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                None => self.done = true,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow::array::Int32Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    /// A writer that records what reaches it, failing on a chunk of `fail_at` rows.
    struct Recorder {
        log: Arc<Mutex<Vec<String>>>,
        fail_at: usize,
    }

    impl ChunkWriter for Recorder {
        fn write(&mut self, batch: &RecordBatch) -> Result<()> {
            if batch.num_rows() == self.fail_at {
                return Err(crate::Error::invalid("disk full"));
            }
            self.log
                .lock()
                .unwrap()
                .push(format!("{}", batch.num_rows()));
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<u64> {
            self.log.lock().unwrap().push("finished".into());
            Ok(7)
        }
    }

    impl Drop for Recorder {
        fn drop(&mut self) {
            self.log.lock().unwrap().push("dropped".into());
        }
    }

    fn chunk(rows: i32) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int32, false)]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int32Array::from_iter_values(0..rows))],
        )
        .unwrap()
    }

    fn recorder(fail_at: usize) -> (Box<dyn ChunkWriter>, Arc<Mutex<Vec<String>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let w = Recorder {
            log: log.clone(),
            fail_at,
        };
        (Box::new(w), log)
    }

    /// Chunks reach the writer in order and `finish` returns the writer's own result.
    #[test]
    fn write_behind_writes_in_order_and_finishes() {
        let (w, log) = recorder(usize::MAX);
        let mut wb = WriteBehind::start(w).unwrap();
        for rows in [3, 1, 4, 1, 5] {
            wb.write(chunk(rows)).unwrap();
        }
        assert_eq!(wb.finish().unwrap(), 7);
        assert_eq!(
            *log.lock().unwrap(),
            ["3", "1", "4", "1", "5", "finished", "dropped"]
        );
    }

    /// A failed write comes back from a later `write` or from `finish`, and the output is never
    /// finished; a `WriteBehind` dropped on the caller's error discards the output before the drop
    /// returns.
    #[test]
    fn write_behind_reports_errors_and_discards() {
        let (w, log) = recorder(2);
        let mut wb = WriteBehind::start(w).unwrap();
        let mut error = None;
        for rows in [1, 2, 3, 4, 5, 6, 7, 8] {
            if let Err(e) = wb.write(chunk(rows)) {
                error = Some(e);
                break;
            }
        }
        let e = match error {
            Some(e) => e,
            None => wb.finish().unwrap_err(),
        };
        assert!(e.to_string().contains("disk full"), "{e}");
        assert!(!log.lock().unwrap().contains(&"finished".to_string()));

        let (w, log) = recorder(usize::MAX);
        let mut wb = WriteBehind::start(w).unwrap();
        wb.write(chunk(3)).unwrap();
        drop(wb);
        assert_eq!(*log.lock().unwrap(), ["3", "dropped"]);
    }

    /// `copy_chunks` stops at a reading error without finishing the output.
    #[test]
    fn copy_chunks_discards_on_a_read_error() {
        let (w, log) = recorder(usize::MAX);
        let reader: ChunkReader =
            Box::new(vec![Ok(chunk(2)), Err(crate::Error::invalid("bad row 3"))].into_iter());
        let e = copy_chunks(reader, w, |_| {}).unwrap_err();
        assert!(e.to_string().contains("bad row 3"), "{e}");
        assert_eq!(*log.lock().unwrap(), ["2", "dropped"]);
    }
}
