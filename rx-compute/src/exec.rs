//! `rx_exec`: one function over a list of argument sets, in a compute context.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;
use rx_core::{Error, Result};

use crate::local::RxComputeContext;

/// How [`rx_exec`] runs its tasks (revoscalepy's `rx_exec` arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOptions {
    /// Run the function this many times with the one argument set given (`times_to_run`); `None`
    /// runs it once per argument set.
    pub times_to_run: Option<usize>,
    /// Keep going when a task fails, with its error in that task's slot (the default, as in
    /// revoscalepy); otherwise stop at the first failure and return its error.
    pub continue_on_failure: bool,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            times_to_run: None,
            continue_on_failure: true,
        }
    }
}

impl ExecOptions {
    /// Runs the function `n` times.
    pub fn times_to_run(mut self, n: usize) -> Self {
        self.times_to_run = Some(n);
        self
    }

    /// Sets `continue_on_failure`.
    pub fn continue_on_failure(mut self, yes: bool) -> Self {
        self.continue_on_failure = yes;
        self
    }
}

/// Runs `f(task_index, args)` for each argument set of `elem_args` (or `times_to_run` times with
/// the single argument set given) in `context`: one after the other in [`RxComputeContext::LocalSeq`],
/// as parallel tasks in [`RxComputeContext::LocalParallel`]. Results come back in task order.
///
/// A task that fails (or panics) leaves its error in its slot when `continue_on_failure` is set;
/// otherwise the first failure (by task index) is returned and tasks not yet started are skipped.
pub fn rx_exec<A, R, F>(
    context: &RxComputeContext,
    elem_args: &[A],
    options: &ExecOptions,
    f: F,
) -> Result<Vec<Result<R>>>
where
    A: Sync,
    R: Send,
    F: Fn(usize, &A) -> Result<R> + Sync,
{
    let n = match options.times_to_run {
        Some(k) => {
            if elem_args.len() != 1 {
                return Err(Error::invalid(format!(
                    "rx_exec: times_to_run = {k} runs one argument set several times, but {} argument sets were given; pass exactly one, or leave times_to_run unset to run once per argument set",
                    elem_args.len()
                )));
            }
            k
        }
        None => elem_args.len(),
    };
    let arg = |i: usize| {
        if options.times_to_run.is_some() {
            &elem_args[0]
        } else {
            &elem_args[i]
        }
    };
    let failed = AtomicBool::new(false);
    let stop_early = !options.continue_on_failure;
    let run_one = |i: usize| -> Result<R> {
        if stop_early && failed.load(Ordering::Relaxed) {
            return Err(Error::invalid(format!(
                "rx_exec task {i} was not run: an earlier task failed and continue_on_failure is off"
            )));
        }
        let out = run_task(i, || f(i, arg(i)));
        if out.is_err() {
            failed.store(true, Ordering::Relaxed);
        }
        out
    };
    let results: Vec<Result<R>> = match context {
        RxComputeContext::LocalSeq => (0..n).map(run_one).collect(),
        _ => context.install(|| (0..n).into_par_iter().map(run_one).collect()),
    };
    if stop_early && let Some(i) = results.iter().position(|r| r.is_err()) {
        let mut results = results;
        return Err(results
            .swap_remove(i)
            .err()
            .unwrap_or_else(|| Error::invalid(format!("rx_exec task {i} failed"))));
    }
    Ok(results)
}

/// Runs one task, turning a panic into an error that names the task.
pub(crate) fn run_task<R>(index: usize, f: impl FnOnce() -> Result<R>) -> Result<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(Error::External {
            context: format!("task {index}"),
            source: Box::new(e),
        }),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Err(Error::invalid(format!("task {index} panicked: {msg}")))
        }
    }
}
