//! Helpers shared by the `rx` command-line tests.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `rx` with `args` in `dir` (without a database password from the environment).
pub fn rx(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rx"))
        .args(args)
        .current_dir(dir)
        .env_remove("RX_DB_PASSWORD")
        .output()
        .expect("rx runs")
}

/// The stdout of a run that must succeed (its stderr in the panic message otherwise).
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "rx failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
