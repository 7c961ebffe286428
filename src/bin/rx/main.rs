//! `rx`: the revoscale command-line tool. One subcommand per revoscale function; human-readable
//! output by default, `--json` for machines; one-line errors and a non-zero exit on bad input.

mod context;
mod cube;
mod db;
mod demo;
mod etl;
mod execby;
mod glm;
mod import;
mod info;
mod linmod;
mod plot;
mod predict;
mod sources;
mod step;
mod summary;
mod trees;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Chunked work allocates large arrays per chunk; mimalloc reuses them (see Cargo.toml).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// revoscale: chunked, out-of-core data science (a successor to revoscalepy).
#[derive(Debug, Parser)]
#[command(name = "rx", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import (or export) data: .csv/.tsv/.txt, .parquet and .xdf, any of them to any of them.
    Import(import::ImportArgs),
    /// A data step: rows selected by a SQL predicate, SQL transforms, chosen columns, from any
    /// supported file to any other, streamed chunk by chunk.
    Datastep(step::DataStepArgs),
    /// Sort a file by one or more keys (`--by a,-b`), stable, spilling to disk under a memory limit.
    Sort(etl::SortArgs),
    /// Merge two files: inner, left, right or outer join on key columns, or the union of their rows.
    Merge(etl::MergeArgs),
    /// Split a file by key values into a partitioned .xdf set (one file per key combination).
    Partition(etl::PartitionArgs),
    /// Plots: `rx plot hist` (histograms, by group) and `rx plot line` (y against x), as PNG or SVG,
    /// computed in chunks.
    Plot(plot::PlotArgs),
    /// Show information about a data file: rows, variables, blocks, variable info, first rows.
    Info(info::InfoArgs),
    /// An end-to-end walk-through on sample data that ships with revoscale.
    Demo(demo::DemoArgs),
    /// A linear model (least squares): coefficients, standard errors, R², F test.
    Linmod(linmod::LinModArgs),
    /// A logistic regression (binomial, logit link) by IRLS, with revoscalepy's convergence rule.
    Logit(glm::LogitArgs),
    /// A generalized linear model by IRLS: --family gaussian|binomial|poisson|Gamma|inverse.gaussian|tweedie.
    Glm(glm::GlmArgs),
    /// Summary statistics: mean, standard deviation, min, max, counts; by category with `y ~ F`.
    Summary(summary::SummaryArgs),
    /// One analysis per partition of the data by key columns (rx_exec_by), in a compute context.
    ExecBy(execby::ExecByArgs),
    /// Counts and response means or sums per cell of factor combinations, one row per cell.
    Cube(cube::CubeArgs),
    /// Contingency tables of counts, sums or means, with marginals and chi-square tests.
    Crosstabs(cube::CrossTabsArgs),
    /// A decision tree (rpart's CART): --method class|anova, pruned by --cp, cp table by --x-val.
    Dtree(trees::TreeArgs),
    /// A random forest: --n-tree, --m-try, out-of-bag error, same forest whatever the threads.
    Dforest(trees::TreeArgs),
    /// Stochastic gradient boosting (gbm): --loss gaussian|bernoulli|multinomial, --learning-rate.
    Btrees(trees::TreeArgs),
    /// Predictions of a saved model on data, with residuals, standard errors and intervals.
    Predict(predict::PredictArgs),
}

/// Returns the pages mimalloc keeps free to the kernel (what
/// `revoscale::core::memory::release_free_memory` does in this program).
#[allow(unsafe_code)]
fn mimalloc_collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() -> ExitCode {
    revoscale::core::memory::set_release_hook(mimalloc_collect);
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(a) => import::run(a),
        Command::Datastep(a) => step::run(a),
        Command::Sort(a) => etl::run_sort(a),
        Command::Merge(a) => etl::run_merge(a),
        Command::Partition(a) => etl::run_partition(a),
        Command::Plot(a) => plot::run(a),
        Command::Info(a) => info::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Linmod(a) => linmod::run(a),
        Command::Logit(a) => glm::run_logit(a),
        Command::Glm(a) => glm::run_glm(a),
        Command::Summary(a) => summary::run(a),
        Command::ExecBy(a) => execby::run(a),
        Command::Cube(a) => cube::run_cube(a),
        Command::Crosstabs(a) => cube::run_crosstabs(a),
        Command::Predict(a) => predict::run(a),
        Command::Dtree(a) => trees::run(trees::TreeKind::DTree, a),
        Command::Dforest(a) => trees::run(trees::TreeKind::DForest, a),
        Command::Btrees(a) => trees::run(trees::TreeKind::BTrees, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rx: error: {e}");
            ExitCode::FAILURE
        }
    }
}
