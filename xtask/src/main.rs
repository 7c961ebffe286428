//! Developer tasks of the revoscale workspace, run as `cargo xtask <task>` (CI runs them too).
//!
//! - `features`: `cargo check` of the facade with no default features, then each feature alone.
//! - `deps`: checks the crate dependency rules (rx-core stays light; no cycles between our crates).
//! - `fuzz [SECONDS]`: the byte-mutation fuzz property tests of the .xdf reader and the CSV reader,
//!   with many more cases than the normal test run, bounded in time.

use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

/// The facade's features, each checked alone.
const FEATURES: &[&str] = &[
    "core", "xdf", "data", "etl", "models", "predict", "compute", "odbc", "cli", "full",
];

/// Crates that must never appear under rx-core (it is the light bottom of the graph).
const HEAVY: &[&str] = &[
    "datafusion",
    "odbc-api",
    "faer",
    "rx-xdf",
    "rx-data",
    "rx-etl",
    "rx-models",
];

fn cargo(args: &[&str]) -> Result<String, String> {
    eprintln!("xtask: cargo {}", args.join(" "));
    let out = Command::new(env!("CARGO"))
        .args(args)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("could not run cargo: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo {} failed", args.join(" ")));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn features() -> Result<(), String> {
    cargo(&["check", "-p", "revoscale", "--no-default-features"])?;
    for f in FEATURES {
        cargo(&[
            "check",
            "-p",
            "revoscale",
            "--no-default-features",
            "--features",
            f,
        ])?;
    }
    Ok(())
}

fn deps() -> Result<(), String> {
    let tree = cargo(&["tree", "-p", "rx-core", "-e", "normal", "--prefix", "none"])?;
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if HEAVY.contains(&name) {
            return Err(format!(
                "rx-core depends on {name}; rx-core must stay free of heavy and upper crates"
            ));
        }
    }
    // The layering: each crate may only use crates listed before it.
    let order = [
        "rx-core",
        "rx-xdf",
        "rx-data",
        "rx-etl",
        "rx-models",
        "rx-predict",
        "rx-compute",
    ];
    for (i, krate) in order.iter().enumerate() {
        let tree = cargo(&[
            "tree", "-p", krate, "-e", "normal", "--prefix", "none", "--depth", "1",
        ])?;
        for line in tree.lines().skip(1) {
            let name = line.split_whitespace().next().unwrap_or("");
            if let Some(j) = order.iter().position(|o| *o == name)
                && j >= i
            {
                return Err(format!(
                    "{krate} depends on {name}, which sits above it in the crate order"
                ));
            }
        }
    }
    // DataFusion is heavy: only rx-etl (and what is built on it) links it.
    for krate in ["rx-xdf", "rx-data", "rx-models", "rx-predict", "rx-compute"] {
        let tree = cargo(&["tree", "-p", krate, "-e", "normal", "--prefix", "none"])?;
        if tree
            .lines()
            .any(|l| l.split_whitespace().next() == Some("datafusion"))
        {
            return Err(format!(
                "{krate} depends on datafusion; only rx-etl may (keep the other crates light)"
            ));
        }
    }
    eprintln!("xtask: dependency rules hold");
    Ok(())
}

fn fuzz(seconds: u64) -> Result<(), String> {
    // Each round runs the mutation property tests with a fresh random seed; stop when time is up.
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rounds = 0;
    while Instant::now() < deadline || rounds == 0 {
        // `--workspace` keeps the feature set of `cargo test --workspace`, so nothing is rebuilt.
        let status = Command::new(env!("CARGO"))
            .args([
                "test",
                "--workspace",
                "--test",
                "rx_xdf",
                "--test",
                "revoscale",
                "--",
                "random_damage",
                "fuzz_",
            ])
            .env("PROPTEST_CASES", "1000")
            .env("PROPTEST_RNG_SEED", format!("{}", rounds * 7919 + 17))
            .status()
            .map_err(|e| format!("could not run cargo: {e}"))?;
        if !status.success() {
            return Err(
                "a fuzz property failed (proptest printed the minimal failing input)".into(),
            );
        }
        rounds += 1;
    }
    eprintln!("xtask: fuzz ran {rounds} round(s)");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("features") => features(),
        Some("deps") => deps(),
        Some("fuzz") => fuzz(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(120)),
        _ => Err("usage: cargo xtask features | deps | fuzz [SECONDS]".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
