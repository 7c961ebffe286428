//! PostgreSQL through ODBC next to `psql \copy`, in one run: 1M rows from a table into .xdf vs
//! `\copy ... TO` a CSV file, and 1M rows from .xdf into a table vs `\copy ... FROM` that CSV.
//!
//! ```sh
//! bash .ci/databases.sh && source /tmp/rx-db-env.sh
//! cargo run --release -p rx-data --features odbc --example odbc_bench -- [--rows 1000000]
//! ```
//! Needs `RX_TEST_PG_ODBC` (the ODBC connection string) and `RX_TEST_PG_URL` (for psql).

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rx_core::{DataSink, DataSource, ReadOptions, Result, WriteOptions, copy_chunks};
use rx_data::odbc::RxOdbcData;
use rx_xdf::XdfData;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn psql(url: &str, cmd: &str) -> f64 {
    let t = Instant::now();
    let out = Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", cmd])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

fn main() -> Result<()> {
    let rows = arg("--rows", 1_000_000);
    let conn =
        std::env::var("RX_TEST_PG_ODBC").expect("RX_TEST_PG_ODBC (source /tmp/rx-db-env.sh)");
    let url = std::env::var("RX_TEST_PG_URL").expect("RX_TEST_PG_URL");
    let dir = tempfile::tempdir().map_err(|e| rx_core::Error::io("tempdir", e))?;
    // 1M rows: 5 doubles, an integer and a short text column.
    let schema = Arc::new(Schema::new(
        (1..=5)
            .map(|i| Field::new(format!("x{i}"), DataType::Float64, true))
            .chain([
                Field::new("n", DataType::Int64, true),
                Field::new("carrier", DataType::Utf8, true),
            ])
            .collect::<Vec<_>>(),
    ));
    let src_xdf = XdfData::new(dir.path().join("src.xdf"));
    let mut w = src_xdf.create(schema.clone(), &WriteOptions::default())?;
    let chunk = 100_000;
    for start in (0..rows).step_by(chunk) {
        let len = chunk.min(rows - start);
        let mut cols: Vec<ArrayRef> = (1..=5)
            .map(|k| {
                Arc::new(Float64Array::from_iter_values(
                    (start..start + len)
                        .map(|i| ((i * 7919 + k * 104_729) % 1_000_003) as f64 / 997.0),
                )) as ArrayRef
            })
            .collect();
        cols.push(Arc::new(Int64Array::from_iter_values(
            (start..start + len).map(|i| i as i64),
        )));
        cols.push(Arc::new(StringArray::from_iter_values(
            (start..start + len).map(|i| ["AA", "DL", "UA", "WN", "B6"][i % 5]),
        )));
        w.write(
            &RecordBatch::try_new(schema.clone(), cols)
                .map_err(|e| rx_core::Error::arrow("gen", e))?,
        )?;
    }
    w.finish()?;

    // .xdf → PostgreSQL table through ODBC (creates the table).
    let table = RxOdbcData::table(&conn, "rx_bench");
    let t = Instant::now();
    let n = copy_chunks(
        src_xdf.open(&ReadOptions::default())?,
        table.create(src_xdf.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    let export = t.elapsed().as_secs_f64();
    assert_eq!(n as usize, rows);

    // PostgreSQL table → .xdf through ODBC.
    let out = XdfData::new(dir.path().join("out.xdf"));
    let t = Instant::now();
    let n = copy_chunks(
        table.open(&ReadOptions::default())?,
        out.create(table.schema()?, &WriteOptions::default())?,
        |_| {},
    )?;
    let import = t.elapsed().as_secs_f64();
    assert_eq!(n as usize, rows);

    // The peers: psql \copy to and from CSV.
    let csv = dir.path().join("t.csv");
    let copy_to = psql(
        &url,
        &format!("\\copy rx_bench TO '{}' CSV HEADER", csv.display()),
    );
    psql(
        &url,
        "DROP TABLE IF EXISTS rx_bench2; CREATE TABLE rx_bench2 (LIKE rx_bench)",
    );
    let copy_from = psql(
        &url,
        &format!("\\copy rx_bench2 FROM '{}' CSV HEADER", csv.display()),
    );

    println!("rows={rows}");
    println!("import_odbc_seconds={import:.3}");
    println!("psql_copy_to_csv_seconds={copy_to:.3}");
    println!("import_ratio={:.2}", import / copy_to);
    println!("export_odbc_seconds={export:.3}");
    println!("psql_copy_from_csv_seconds={copy_from:.3}");
    println!("export_ratio={:.2}", export / copy_from);
    println!("export_rows_per_second={:.0}", rows as f64 / export);
    Ok(())
}
