//! The local compute contexts and the per-scope current context.
//!
//! - [`RxLocalSeq`] (rx-core's, the default) reads the chunks of a source in order and processes them
//!   one at a time on the calling thread. As RevoScaleR's local context does with `numCoresToUse`,
//!   the kernels inside one chunk (the QR of a linear model's rows, a GLM's weighted sums, a tree's
//!   histograms) may still use rayon's pool, in pieces of a fixed size so the result does not depend
//!   on the thread count.
//! - [`RxLocalParallel`] splits the source into independent parts ([`DataSource::split`]: .xdf
//!   block ranges, Parquet row groups, in-memory batches) and runs one task per part on its own
//!   rayon pool of `tasks` threads; kernels inside a task share that pool, so the machine is never
//!   oversubscribed. Partials are merged in part order, so a run is reproducible.
//! - [`RxComputeContext`] is any of them, chosen at run time (`"local"`, `"parallel:4"`), and
//!   [`rx_set_compute_context`] / [`rx_get_compute_context`] keep a current context per thread
//!   and scope (a guard restores the previous one), never a process-wide global: two analyses on two
//!   threads each see their own.

use std::cell::RefCell;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rayon::prelude::*;
use rx_core::pema::{run_pass, run_pass_caching};
use rx_core::{ComputeContext, DataSource, Error, Pema, Result, RxLocalSeq, RxOptions, Step};

/// Runs an analysis's passes over the parts of a source, one rayon task per part.
#[derive(Clone)]
pub struct RxLocalParallel {
    tasks: usize,
    pool: Arc<rayon::ThreadPool>,
}

impl fmt::Debug for RxLocalParallel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RxLocalParallel")
            .field("tasks", &self.tasks)
            .finish()
    }
}

impl PartialEq for RxLocalParallel {
    fn eq(&self, other: &Self) -> bool {
        self.tasks == other.tasks
    }
}

impl RxLocalParallel {
    /// A context with `tasks` parallel tasks (and as many threads); 0 means one per core.
    pub fn new(tasks: usize) -> Result<Self> {
        let tasks = if tasks == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            tasks
        };
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(tasks)
            .thread_name(|i| format!("rx-parallel-{i}"))
            .build()
            .map_err(|e| Error::invalid(format!("cannot start {tasks} worker threads: {e}")))?;
        Ok(RxLocalParallel {
            tasks,
            pool: Arc::new(pool),
        })
    }

    /// The number of parallel tasks.
    pub fn tasks(&self) -> usize {
        self.tasks
    }

    /// Runs `f` on this context's pool (rayon calls inside it use this pool's threads).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

impl ComputeContext for RxLocalParallel {
    fn name(&self) -> &str {
        "RxLocalParallel"
    }

    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        let parts = source.split(self.tasks)?;
        let budget = if pema.expects_more_passes() {
            options.max_cache_bytes / parts.len().max(1)
        } else {
            0
        };
        // First pass: every part read once, its chunks kept for later passes when they fit.
        let first: Vec<Result<PassResult<P>>> = {
            let shared: &P = pema;
            self.pool.install(|| {
                parts
                    .par_iter()
                    .map(|part| run_pass_caching(shared, part.as_ref(), options, budget))
                    .collect()
            })
        };
        let mut partials = Vec::with_capacity(first.len());
        let mut caches = Vec::with_capacity(first.len());
        for r in first {
            let (acc, cache) = r?;
            partials.push(acc);
            caches.push(cache);
        }
        // `finish` runs on the calling thread (its output need not be `Send`); rayon work inside it
        // (growing trees) uses the global pool.
        let mut step = pema.finish(merge_in_order(pema, partials)?)?;
        loop {
            if let Step::Done(out) = step {
                return Ok(out);
            }
            let partials: Vec<Result<P::Partial>> = {
                let shared: &P = pema;
                let caches = &caches;
                self.pool.install(|| {
                    parts
                        .par_iter()
                        .zip(caches.par_iter())
                        .map(|(part, cache)| match cache {
                            Some(chunks) => {
                                let mut acc = shared.init();
                                for chunk in chunks {
                                    shared.process(&mut acc, chunk)?;
                                }
                                Ok(acc)
                            }
                            None => run_pass(shared, part.as_ref(), options),
                        })
                        .collect()
                })
            };
            let partials = partials.into_iter().collect::<Result<Vec<_>>>()?;
            step = pema.finish(merge_in_order(pema, partials)?)?;
        }
    }
}

/// A part's first-pass partial and, when they fit the budget, its chunks.
type PassResult<P> = (
    <P as Pema>::Partial,
    Option<Vec<arrow::record_batch::RecordBatch>>,
);

/// Merges the parts' partials left to right (part order = the source's chunk order).
fn merge_in_order<P: Pema>(pema: &P, partials: Vec<P::Partial>) -> Result<P::Partial> {
    let mut it = partials.into_iter();
    let mut acc = it.next().unwrap_or_else(|| pema.init());
    for p in it {
        pema.merge(&mut acc, p)?;
    }
    Ok(acc)
}

/// A compute context chosen at run time.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub enum RxComputeContext {
    /// Chunks in order on the calling thread (the default).
    #[default]
    LocalSeq,
    /// Parts of the source in parallel tasks.
    LocalParallel(RxLocalParallel),
    /// Inside the database of an ODBC source (analyses without an in-database form stream the
    /// rows into the local algorithm).
    #[cfg(feature = "odbc")]
    InDatabase(crate::indb::RxInDatabase),
}

impl RxComputeContext {
    /// The parallel context with `tasks` tasks (0: one per core).
    pub fn parallel(tasks: usize) -> Result<Self> {
        Ok(RxComputeContext::LocalParallel(RxLocalParallel::new(
            tasks,
        )?))
    }

    /// The number of tasks that run at once.
    pub fn tasks(&self) -> usize {
        match self {
            RxComputeContext::LocalSeq => 1,
            RxComputeContext::LocalParallel(p) => p.tasks(),
            #[cfg(feature = "odbc")]
            RxComputeContext::InDatabase(_) => 1,
        }
    }

    /// Runs `f` on the context's threads (rayon calls inside use them).
    pub(crate) fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        match self {
            RxComputeContext::LocalSeq => f(),
            RxComputeContext::LocalParallel(p) => p.install(f),
            #[cfg(feature = "odbc")]
            RxComputeContext::InDatabase(_) => f(),
        }
    }
}

impl fmt::Display for RxComputeContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RxComputeContext::LocalSeq => write!(f, "RxLocalSeq"),
            RxComputeContext::LocalParallel(p) => write!(f, "RxLocalParallel({} tasks)", p.tasks),
            #[cfg(feature = "odbc")]
            RxComputeContext::InDatabase(c) => write!(f, "{}", c.name()),
        }
    }
}

impl FromStr for RxComputeContext {
    type Err = Error;

    /// `local` (or `seq`, `RxLocalSeq`), `parallel` (one task per core), `parallel:N`, or `indb`
    /// (`RxInDatabase`; `RxInSqlServer` for SQL Server only) in builds with the `odbc` feature.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim();
        let lower = t.to_ascii_lowercase();
        match lower.as_str() {
            "local" | "seq" | "localseq" | "rxlocalseq" => return Ok(RxComputeContext::LocalSeq),
            "parallel" | "localparallel" | "rxlocalparallel" => return Self::parallel(0),
            "indb" | "indatabase" | "rxindatabase" | "rxinsqlserver" | "insqlserver" => {
                #[cfg(feature = "odbc")]
                return Ok(RxComputeContext::InDatabase(
                    if lower.contains("sqlserver") {
                        crate::indb::RxInDatabase::sql_server()
                    } else {
                        crate::indb::RxInDatabase::new()
                    },
                ));
                #[cfg(not(feature = "odbc"))]
                return Err(Error::invalid(format!(
                    "compute context '{t}' runs analyses inside a database over ODBC; this build has no ODBC support (build with the odbc feature)"
                )));
            }
            _ => {}
        }
        if let Some(n) = lower.strip_prefix("parallel:") {
            let n: usize = n.trim().parse().map_err(|_| {
                Error::invalid(format!(
                    "compute context '{t}': the number of tasks after 'parallel:' must be a whole number, e.g. parallel:4"
                ))
            })?;
            if n == 0 {
                return Err(Error::invalid(format!(
                    "compute context '{t}': needs at least one task (or 'parallel' for one per core)"
                )));
            }
            return Self::parallel(n);
        }
        Err(Error::invalid(format!(
            "unknown compute context '{t}'; use local, parallel, parallel:N or indb"
        )))
    }
}

impl ComputeContext for RxComputeContext {
    fn name(&self) -> &str {
        match self {
            RxComputeContext::LocalSeq => "RxLocalSeq",
            RxComputeContext::LocalParallel(_) => "RxLocalParallel",
            #[cfg(feature = "odbc")]
            RxComputeContext::InDatabase(c) => c.name(),
        }
    }

    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        match self {
            RxComputeContext::LocalSeq => RxLocalSeq.run(pema, source, options),
            RxComputeContext::LocalParallel(p) => p.run(pema, source, options),
            #[cfg(feature = "odbc")]
            RxComputeContext::InDatabase(c) => c.run(pema, source, options),
        }
    }
}

impl From<RxLocalSeq> for RxComputeContext {
    fn from(_: RxLocalSeq) -> Self {
        RxComputeContext::LocalSeq
    }
}

impl From<RxLocalParallel> for RxComputeContext {
    fn from(p: RxLocalParallel) -> Self {
        RxComputeContext::LocalParallel(p)
    }
}

thread_local! {
    static CURRENT: RefCell<Vec<RxComputeContext>> = const { RefCell::new(Vec::new()) };
}

/// Makes `context` this thread's current compute context until the guard is dropped (then the
/// previous one is current again). Other threads are not affected.
#[must_use = "the context is current only while the guard lives"]
pub fn rx_set_compute_context(context: impl Into<RxComputeContext>) -> ContextGuard {
    CURRENT.with(|c| c.borrow_mut().push(context.into()));
    ContextGuard {
        _not_send: std::marker::PhantomData,
    }
}

/// This thread's current compute context ([`RxComputeContext::LocalSeq`] unless a guard from
/// [`rx_set_compute_context`] is alive).
pub fn rx_get_compute_context() -> RxComputeContext {
    CURRENT.with(|c| c.borrow().last().cloned().unwrap_or_default())
}

/// Restores the previous compute context when dropped. It stays on the thread that made it.
#[derive(Debug)]
pub struct ContextGuard {
    _not_send: std::marker::PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

/// The context that is current when the analysis runs ([`rx_get_compute_context`]): pass it to an
/// analysis to follow [`rx_set_compute_context`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CurrentContext;

impl ComputeContext for CurrentContext {
    fn name(&self) -> &str {
        "current"
    }

    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        rx_get_compute_context().run(pema, source, options)
    }
}
