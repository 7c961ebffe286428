//! The DataFusion session a step runs in, and its errors as revoscale errors.
//!
//! A step plans with a DataFrame and then pulls the plan's batches one at a time from synchronous
//! code (`block_on` of the next batch on the engine's own tokio runtime), so a step is an ordinary
//! chunk iterator that sinks consume; nothing is collected.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::DataFusionError;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use futures::StreamExt;
use rx_core::{Error, Result};

/// Rows per batch inside plans when the caller does not choose: large enough that per-batch costs
/// vanish, small enough that a batch of a wide table is a few megabytes.
pub const DEFAULT_BATCH_ROWS: usize = 65_536;

/// A DataFusion session with its runtime.
pub struct Engine {
    rt: tokio::runtime::Runtime,
    ctx: SessionContext,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn config(batch_rows: Option<usize>) -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_batch_size(batch_rows.unwrap_or(DEFAULT_BATCH_ROWS).max(1))
        .with_target_partitions(threads())
        .with_information_schema(false);
    // Column names are case-sensitive, as in R and revoscalepy: `ArrDelay` is not `arrdelay`.
    config.options_mut().sql_parser.enable_ident_normalization = false;
    config
}

impl Engine {
    fn with_config(config: SessionConfig) -> Result<Self> {
        Self::with_runtime(config, None)
    }

    fn with_runtime(mut config: SessionConfig, memory_limit: Option<usize>) -> Result<Self> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads())
            .thread_name("rx-etl")
            .build()
            .map_err(|e| Error::External {
                context: "starting the ETL engine's threads".into(),
                source: Box::new(e),
            })?;
        let mut env = None;
        if let Some(limit) = memory_limit {
            // A sort buffers its input and at the end merges what it buffered; the merge cannot
            // spill, so its memory must be reserved. With DataFusion's defaults (a greedy pool,
            // 10 MB reserved per sort) one partition's sorter could hold most of the pool while
            // another partition's merge needed more, and a 10M-row sort under 1 GiB failed with
            // "Resources exhausted". A fair pool splits the spillable memory between the
            // partitions' sorters, and each reserves half of its share for its merge (the merge
            // of a buffer needs about half the buffer's size: row-encoded keys and cursors).
            let partitions = config.target_partitions().max(1);
            let reserve = (limit / (2 * partitions)).max(64 << 10);
            config.options_mut().execution.sort_spill_reservation_bytes = reserve;
            let pool = TrackConsumersPool::new(
                FairSpillPool::new(limit),
                NonZeroUsize::new(5).unwrap_or(NonZeroUsize::MIN),
            );
            let built = RuntimeEnvBuilder::new()
                .with_memory_pool(Arc::new(pool))
                .build_arc()
                .map_err(|e| df_error("setting the memory limit", e))?;
            env = Some(built);
        }
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_default_features();
        if let Some(env) = env {
            state = state.with_runtime_env(env);
        }
        let state = state.build();
        let ctx = SessionContext::new_with_state(state);
        ctx.register_udf(crate::udf::level_code());
        Ok(Engine { rt, ctx })
    }

    /// A session whose plans keep the input's row order (no round-robin repartitioning: a data
    /// step's output rows come in input order).
    pub fn ordered(batch_rows: Option<usize>) -> Result<Self> {
        Self::with_config(config(batch_rows).with_round_robin_repartition(false))
    }

    /// A session that uses every core (sorts, joins, aggregates).
    pub fn parallel(batch_rows: Option<usize>) -> Result<Self> {
        Self::with_config(config(batch_rows))
    }

    /// A session that uses every core and holds at most `limit` bytes in sorts, joins and
    /// aggregates, spilling the rest to temporary files.
    pub fn with_memory_limit(batch_rows: Option<usize>, limit: usize) -> Result<Self> {
        Self::with_runtime(config(batch_rows), Some(limit))
    }

    /// The session.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Runs a future on the engine's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    /// `table` as a DataFrame named `data`.
    pub fn table(&self, table: impl TableProvider + 'static) -> Result<DataFrame> {
        self.named_table("data", table)
    }

    /// `table` as a DataFrame under `name` (how SQL and error messages refer to it).
    pub fn named_table(
        &self,
        name: &str,
        table: impl TableProvider + 'static,
    ) -> Result<DataFrame> {
        self.ctx
            .register_table(name, Arc::new(table))
            .map_err(|e| df_error("registering the input", e))?;
        self.rt
            .block_on(self.ctx.table(name))
            .map_err(|e| df_error("reading the input", e))
    }

    /// Plans `df` (every planning error comes out here, before any output is created) and starts
    /// it.
    pub fn execute(&self, df: DataFrame) -> Result<SendableRecordBatchStream> {
        let task = Arc::new(df.task_ctx());
        let plan = self
            .rt
            .block_on(df.create_physical_plan())
            .map_err(|e| df_error("planning the step", e))?;
        // Plans with several partitions spawn their tasks when started: inside the runtime.
        let _inside = self.rt.enter();
        datafusion::physical_plan::execute_stream(plan, task)
            .map_err(|e| df_error("starting the step", e))
    }

    /// The next batch of a running plan (`None` at the end).
    pub fn next(&self, stream: &mut SendableRecordBatchStream) -> Option<Result<RecordBatch>> {
        self.rt
            .block_on(stream.next())
            .map(|r| r.map_err(|e| df_error("running the step", e)))
    }
}

/// A DataFusion error as a revoscale error: an error that revoscale raised inside the plan (a
/// corrupt file, a bad value) comes back as itself; others are wrapped with what was being done.
pub fn df_error(what: &str, e: DataFusionError) -> Error {
    match unwrap_ours(e) {
        Ok(ours) => ours,
        Err(e) => {
            let mut text = e.strip_backtrace();
            // DataFusion's advice to turn off identifier normalization is for its own SQL
            // sessions; revoscale's names are always case-sensitive.
            if let Some(i) = text.find("You can use double quotes") {
                text.truncate(i);
            }
            // One line: the CLI prints errors as one line.
            let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let hint = if text.contains("No field named") {
                " (column names are case-sensitive; write strings in single quotes, and names \
                 with spaces or other characters in double quotes)"
            } else {
                ""
            };
            Error::External {
                context: what.to_string(),
                source: format!("{text}{hint}").into(),
            }
        }
    }
}

/// Finds a revoscale error wrapped in a DataFusion error.
fn unwrap_ours(e: DataFusionError) -> std::result::Result<Error, DataFusionError> {
    match e {
        DataFusionError::External(b) => match b.downcast::<Error>() {
            Ok(ours) => Ok(*ours),
            Err(b) => Err(DataFusionError::External(b)),
        },
        DataFusionError::Context(c, inner) => {
            unwrap_ours(*inner).map_err(|i| DataFusionError::Context(c, Box::new(i)))
        }
        DataFusionError::Shared(arc) => match Arc::try_unwrap(arc) {
            Ok(inner) => unwrap_ours(inner),
            Err(arc) => Err(DataFusionError::Shared(arc)),
        },
        DataFusionError::ArrowError(a, ctx) => match *a {
            datafusion::arrow::error::ArrowError::ExternalError(b) => match b.downcast::<Error>() {
                Ok(ours) => Ok(*ours),
                Err(b) => Err(DataFusionError::ArrowError(
                    Box::new(datafusion::arrow::error::ArrowError::ExternalError(b)),
                    ctx,
                )),
            },
            other => Err(DataFusionError::ArrowError(Box::new(other), ctx)),
        },
        other => Err(other),
    }
}
