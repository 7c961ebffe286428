//! `rx_lin_mod` on a PostgreSQL table: in the database (RxInDatabase: only aggregates travel)
//! against pulling every row over ODBC into the local algorithm, in one run.
//!
//! ```text
//! bash .ci/databases.sh        # starts PostgreSQL, writes /tmp/rx-db-env.sh
//! cargo run --release -p rx-compute --features odbc --example indb_bench -- [rows]
//! ```
//!
//! The table (default 10,000,000 rows: two numeric predictors, a 7-level text factor and a
//! response) is made by `generate_series` inside PostgreSQL, once; a later run with the same row
//! count reuses it.

use std::time::Instant;

use rx_compute::RxInDatabase;
use rx_core::RxLocalSeq;
use rx_data::odbc::{ConnectionString, From, RxOdbcData};
use rx_models::linmod::{LinModOptions, rx_lin_mod};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: u64 = std::env::args()
        .nth(1)
        .map(|s| s.replace('_', "").parse())
        .transpose()?
        .unwrap_or(10_000_000);
    let conn = rx_data::odbc::testing::setting("RX_TEST_PG_ODBC")
        .ok_or("no PostgreSQL: run .ci/databases.sh first (or set RX_TEST_PG_ODBC)")?;
    let table_name = format!("rx_bench_lm_{rows}");
    let table = RxOdbcData::with(ConnectionString::new(conn), From::Table(table_name.clone()))
        .rows_per_read(100_000);
    let c = table.connect()?;
    let exists = table
        .execute(&c, &format!("SELECT 1 FROM {table_name} LIMIT 1"))
        .is_ok();
    if !exists {
        let t = Instant::now();
        table.execute(&c, "SELECT setseed(0.25)")?;
        table.execute(
            &c,
            &format!(
                "CREATE TABLE {table_name} AS SELECT x1, x2, g, \
                 3.0 + 1.5 * x1 - 0.25 * x2 + CASE g WHEN 'Mon' THEN 0.5 WHEN 'Fri' THEN -0.75 ELSE 0.0 END + random() - 0.5 AS y \
                 FROM (SELECT 1000.0 + random() * 10.0 AS x1, random() * 100.0 AS x2, \
                 (ARRAY['Mon','Tue','Wed','Thu','Fri','Sat','Sun'])[1 + (i % 7)] AS g \
                 FROM generate_series(1, {rows}) i) s"
            ),
        )?;
        table.execute(&c, &format!("ANALYZE {table_name}"))?;
        println!(
            "made {table_name} ({rows} rows) in {:.1} s",
            t.elapsed().as_secs_f64()
        );
    }
    drop(c);
    let formula = "y ~ x1 + x2 + g";
    let options = LinModOptions::default();

    let t = Instant::now();
    let indb = RxInDatabase::new().lin_mod(formula, &table, &options)?;
    let t_indb = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let local = rx_lin_mod(formula, &table, &options, &RxLocalSeq)?;
    let t_local = t.elapsed().as_secs_f64();

    let worst = local
        .coefficients
        .iter()
        .zip(&indb.coefficients)
        .filter_map(|(a, b)| Some((a.estimate?, b.estimate?)))
        .map(|(a, b)| (a - b).abs() / a.abs().max(f64::MIN_POSITIVE))
        .fold(0.0f64, f64::max);
    println!(
        "rx_lin_mod {formula} on {rows} PostgreSQL rows ({} valid)",
        indb.n_valid
    );
    println!("  in-database (RxInDatabase):        {t_indb:8.2} s");
    println!("  pull over ODBC + local (RxLocalSeq): {t_local:8.2} s");
    println!(
        "  ratio local / in-database:         {:8.2}",
        t_local / t_indb
    );
    println!("  largest relative coefficient difference: {worst:.2e}");
    Ok(())
}
