//! `rx`: the revoscale command-line tool. One subcommand per revoscale function; human-readable
//! output by default, `--json` for machines; one-line errors and a non-zero exit on bad input.

mod demo;
mod import;
mod info;
mod sources;

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
    /// Show information about a data file: rows, variables, blocks, variable info, first rows.
    Info(info::InfoArgs),
    /// An end-to-end walk-through on sample data that ships with revoscale.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Import(a) => import::run(a),
        Command::Info(a) => info::run(a),
        Command::Demo(a) => demo::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rx: error: {e}");
            ExitCode::FAILURE
        }
    }
}
