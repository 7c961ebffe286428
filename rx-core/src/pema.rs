//! PEMA: every analysis is init / process chunk / merge / finish, possibly over several passes.
//!
//! A [`Pema`] says which columns it reads and how to fold a chunk into a mergeable partial result;
//! a [`ComputeContext`] owns the loop and decides where the chunks are processed. Partials are
//! serializable so they can cross a thread, a process or a network. The law every analysis keeps
//! (tested with proptest): processing chunk A then chunk B equals merging the partial of A with the
//! partial of B.

use std::fmt::Debug;

use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::source::{DataSource, ReadOptions};
use crate::{Result, RxOptions};

/// What [`Pema::finish`] decides after a pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<O> {
    /// The analysis is complete.
    Done(O),
    /// Another pass over the data is needed (IRLS, one tree level per pass, boosting rounds).
    AnotherPass,
}

/// A parallel external-memory algorithm.
pub trait Pema: Send + Sync {
    /// The mergeable partial result of some chunks.
    type Partial: Send + Serialize + DeserializeOwned;
    /// The final result.
    type Output;

    /// The columns the analysis reads (the projection passed to the source).
    fn columns(&self) -> Vec<String>;

    /// An empty partial result, for the current pass.
    fn init(&self) -> Self::Partial;

    /// Folds one chunk into a partial result.
    fn process(&self, acc: &mut Self::Partial, chunk: &RecordBatch) -> Result<()>;

    /// Folds `other` into `into`.
    fn merge(&self, into: &mut Self::Partial, other: Self::Partial) -> Result<()>;

    /// Ends a pass: the result, or a request for another pass (the analysis keeps what it needs).
    fn finish(&mut self, acc: Self::Partial) -> Result<Step<Self::Output>>;

    /// Whether the analysis expects more than one pass (IRLS does; a one-pass summary does not).
    /// A context may then keep the chunks of the first pass in memory, within
    /// [`RxOptions::max_cache_bytes`], and replay them instead of reading the source again.
    fn expects_more_passes(&self) -> bool {
        false
    }
}

/// Where the chunks of an analysis are processed.
pub trait ComputeContext: Debug + Send + Sync {
    /// The context's name (`"RxLocalSeq"`, `"RxLocalParallel"`, ...).
    fn name(&self) -> &str;

    /// Runs an analysis over a source to its end, pass after pass.
    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output>
    where
        Self: Sized;
}

/// The sequential compute context: one thread, chunks in order (revoscalepy's default).
#[derive(Debug, Clone, Copy, Default)]
pub struct RxLocalSeq;

impl ComputeContext for RxLocalSeq {
    fn name(&self) -> &str {
        "RxLocalSeq"
    }

    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        let budget = if pema.expects_more_passes() {
            options.max_cache_bytes
        } else {
            0
        };
        let (acc, cache) = run_pass_caching(pema, source, options, budget)?;
        let mut step = pema.finish(acc)?;
        loop {
            if let Step::Done(out) = step {
                return Ok(out);
            }
            let acc = match &cache {
                Some(chunks) => {
                    let mut acc = pema.init();
                    for chunk in chunks {
                        pema.process(&mut acc, chunk)?;
                    }
                    acc
                }
                None => run_pass(pema, source, options)?,
            };
            step = pema.finish(acc)?;
        }
    }
}

/// Runs one pass of `pema` over all chunks of `source`, in order, and returns the partial.
///
/// The next chunk is read (decompressed, parsed) on a second thread while the current one is
/// processed. Processed chunks go back to that thread to be dropped there, so their buffers are
/// freed by the thread that allocated them and the allocator reuses them for the next chunk
/// instead of returning them to the kernel.
pub fn run_pass<P: Pema>(
    pema: &P,
    source: &dyn DataSource,
    options: &RxOptions,
) -> Result<P::Partial> {
    run_pass_caching(pema, source, options, 0).map(|(acc, _)| acc)
}

/// [`run_pass`], keeping the chunks it read when all of them fit in `budget` bytes (then they
/// are returned, in order, for the passes that follow).
pub fn run_pass_caching<P: Pema>(
    pema: &P,
    source: &dyn DataSource,
    options: &RxOptions,
    budget: usize,
) -> Result<(P::Partial, Option<Vec<RecordBatch>>)> {
    let read = ReadOptions {
        columns: Some(pema.columns()),
        rows_per_read: Some(options.rows_per_read),
        ..Default::default()
    };
    let reader = source.open(&read)?;
    let mut acc = pema.init();
    let mut kept: Option<Vec<RecordBatch>> = (budget > 0).then(Vec::new);
    let mut kept_bytes = 0usize;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<RecordBatch>>(1);
        let (done_tx, done_rx) = std::sync::mpsc::channel::<RecordBatch>();
        scope.spawn(move || {
            for chunk in reader {
                // Drop what the consumer has finished with, here, before reading on.
                while done_rx.try_recv().is_ok() {}
                let stop = chunk.is_err();
                // A closed channel means the consumer stopped (an error): stop reading.
                if tx.send(chunk).is_err() || stop {
                    break;
                }
            }
            drop(tx);
            // The consumer hands back the last chunks after the reader is exhausted.
            while done_rx.recv().is_ok() {}
        });
        for chunk in rx {
            let chunk = chunk?;
            pema.process(&mut acc, &chunk)?;
            if let Some(chunks) = &mut kept {
                kept_bytes = kept_bytes.saturating_add(batch_bytes(&chunk));
                if kept_bytes <= budget {
                    chunks.push(chunk);
                    continue;
                }
                // Too large to keep: stream this pass and the next ones.
                for old in chunks.drain(..) {
                    let _ = done_tx.send(old);
                }
                kept = None;
            }
            // The reader may have stopped: then the chunk is simply dropped here.
            let _ = done_tx.send(chunk);
        }
        drop(done_tx);
        Ok(())
    })?;
    Ok((acc, kept))
}

/// The bytes a chunk's columns use: the slices they view, not the whole buffers behind them (a
/// reader may decode every column of a block into one allocation).
fn batch_bytes(batch: &RecordBatch) -> usize {
    batch
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            data.get_slice_memory_size()
                .unwrap_or_else(|_| c.get_array_memory_size())
        })
        .sum()
}
