//! `--context`: where an analysis runs (revoscalepy's compute context), shared by every analysis.

use clap::Args;
use revoscale::compute::RxComputeContext;
use revoscale::core::Result;

#[derive(Debug, Clone, Args)]
pub struct ContextArg {
    /// Where the analysis runs: `local` (RxLocalSeq: chunks in order), `parallel` (RxLocalParallel,
    /// one task per core over parts of the data), `parallel:N` (N tasks) or `indb` (RxInDatabase,
    /// builds with ODBC: linmod, logit, glm, summary, cube and crosstabs run as SQL aggregates
    /// inside the database of --odbc/--sqlserver; other analyses stream the rows and say so).
    #[arg(long, default_value = "local", value_name = "local|parallel[:N]|indb")]
    pub context: String,
}

impl ContextArg {
    /// The compute context named.
    pub fn get(&self) -> Result<RxComputeContext> {
        self.context.parse()
    }
}

/// With `--context indb`: the in-database context and the database source of `db` (an error when
/// no database was named); `None` for the local contexts.
#[cfg(feature = "odbc")]
pub fn in_database<'a>(
    context: &'a RxComputeContext,
    db: &crate::db::DbArgs,
) -> Result<
    Option<(
        &'a revoscale::compute::RxInDatabase,
        revoscale::data::odbc::RxOdbcData,
    )>,
> {
    match context {
        RxComputeContext::InDatabase(c) => match db.odbc_source()? {
            Some(d) => Ok(Some((c, d))),
            None => Err(revoscale::core::Error::invalid(
                "--context indb runs the analysis inside a database: give one with --odbc \"<connection string>\" (or --sqlserver ...) and --table or --query",
            )),
        },
        _ => Ok(None),
    }
}
