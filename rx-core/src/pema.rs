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
        loop {
            let acc = run_pass(pema, source, options)?;
            if let Step::Done(out) = pema.finish(acc)? {
                return Ok(out);
            }
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
    let read = ReadOptions {
        columns: Some(pema.columns()),
        rows_per_read: Some(options.rows_per_read),
    };
    let reader = source.open(&read)?;
    let mut acc = pema.init();
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
            // The reader may have stopped: then the chunk is simply dropped here.
            let _ = done_tx.send(chunk);
        }
        drop(done_tx);
        Ok(())
    })?;
    Ok(acc)
}
