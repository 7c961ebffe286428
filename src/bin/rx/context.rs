//! `--context`: where an analysis runs (revoscalepy's compute context), shared by every analysis.

use clap::Args;
use revoscale::compute::RxComputeContext;
use revoscale::core::Result;

#[derive(Debug, Clone, Args)]
pub struct ContextArg {
    /// Where the analysis runs: `local` (RxLocalSeq: chunks in order), `parallel` (RxLocalParallel,
    /// one task per core over parts of the data) or `parallel:N` (N tasks).
    #[arg(long, default_value = "local", value_name = "local|parallel[:N]")]
    pub context: String,
}

impl ContextArg {
    /// The compute context named.
    pub fn get(&self) -> Result<RxComputeContext> {
        self.context.parse()
    }
}
