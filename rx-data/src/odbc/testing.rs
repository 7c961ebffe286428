//! The databases a test or benchmark can use: SQLite through its ODBC driver (a file database)
//! and the PostgreSQL that `.ci/databases.sh` starts (it writes the connection strings to
//! `/tmp/rx-db-env.sh`; environment variables of the same names win).
//!
//! A missing driver or server is reported on standard error and left out, except in CI
//! (`CI=true`), where it is a failure: the tests must not pass by skipping there.

use std::path::Path;

/// A setting from the environment, or from `/tmp/rx-db-env.sh`.
pub fn setting(key: &str) -> Option<String> {
    std::env::var(key).ok().or_else(|| {
        let env_file = std::fs::read_to_string("/tmp/rx-db-env.sh").unwrap_or_default();
        env_file.lines().find_map(|l| {
            l.strip_prefix(&format!("export {key}="))
                .map(|v| v.trim_matches('\'').to_string())
        })
    })
}

/// `(name, connection string)` of each database present: `"sqlite"` (a database file at
/// `sqlite_file`) and `"postgres"`.
///
/// # Panics
///
/// In CI (`CI=true`), when a driver or the server is missing.
pub fn databases(sqlite_file: &Path) -> Vec<(&'static str, String)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let mut out = Vec::new();
    let sqlite = setting("RX_TEST_SQLITE_ODBC_DRIVER")
        .unwrap_or_else(|| "/usr/lib/x86_64-linux-gnu/odbc/libsqlite3odbc.so".into());
    if Path::new(&sqlite).exists() {
        out.push((
            "sqlite",
            format!("Driver={sqlite};Database={}", sqlite_file.display()),
        ));
    } else {
        let why =
            format!("SQLite ODBC driver not found at {sqlite} (apt-get install libsqliteodbc)");
        assert!(!ci, "CI: {why}");
        eprintln!("skipping SQLite: {why}");
    }
    match setting("RX_TEST_PG_ODBC") {
        Some(pg) => out.push(("postgres", pg)),
        None => {
            let why = "no PostgreSQL: run .ci/databases.sh (sets RX_TEST_PG_ODBC)";
            assert!(!ci, "CI: {why}");
            eprintln!("skipping PostgreSQL: {why}");
        }
    }
    out
}
