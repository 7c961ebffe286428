//! In-database fits on real databases (SQLite through its ODBC driver, PostgreSQL through
//! psqlODBC — `.ci/databases.sh` starts one): the aggregates the database computes give the local
//! fit on the same rows to 1e-9, with hostile table, column and string values. A missing driver or
//! server skips with a message, except in CI (`CI=true`), where a skip is a failure.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rx_compute::RxInDatabase;
use rx_core::{DataSink, RxLocalSeq, WriteOptions};
use rx_data::odbc::{ConnectionString, From, RxOdbcData};
use rx_models::linmod::{LinModOptions, RxLinMod, rx_lin_mod};

fn databases() -> Vec<(&'static str, String)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let env_file = std::fs::read_to_string("/tmp/rx-db-env.sh").unwrap_or_default();
    let from_env = |key: &str| -> Option<String> {
        std::env::var(key).ok().or_else(|| {
            env_file.lines().find_map(|l| {
                l.strip_prefix(&format!("export {key}="))
                    .map(|v| v.trim_matches('\'').to_string())
            })
        })
    };
    let mut out = Vec::new();
    let sqlite = from_env("RX_TEST_SQLITE_ODBC_DRIVER")
        .unwrap_or_else(|| "/usr/lib/x86_64-linux-gnu/odbc/libsqlite3odbc.so".into());
    if std::path::Path::new(&sqlite).exists() {
        let db = std::env::temp_dir().join(format!("rx-indb-test-{}.db", std::process::id()));
        out.push((
            "sqlite",
            format!("Driver={sqlite};Database={}", db.display()),
        ));
    } else {
        assert!(!ci, "CI: no SQLite ODBC driver at {sqlite}");
        eprintln!("skipping SQLite: no driver at {sqlite} (apt-get install libsqliteodbc)");
    }
    match from_env("RX_TEST_PG_ODBC") {
        Some(pg) => out.push(("postgres", pg)),
        None => {
            assert!(!ci, "CI: no PostgreSQL (RX_TEST_PG_ODBC)");
            eprintln!("skipping PostgreSQL: run .ci/databases.sh (sets RX_TEST_PG_ODBC)");
        }
    }
    out
}

const TABLE: &str = "rx \"indb\"; -- drop [x]";
const X: &str = "x 'q'; --";
const G: &str = "g \"/*";

/// 600 rows: x near 1e6 varying in the first decimals (a hard problem for raw sums of squares),
/// an integer z, a text factor whose levels hold quotes, semicolons and comment markers, weights,
/// and missing values.
fn sample() -> RecordBatch {
    let levels = ["it's; --", "b /* c */", "plain", "x\"y"];
    let n = 600;
    let mut x = Vec::new();
    let mut z = Vec::new();
    let mut g = Vec::new();
    let mut y = Vec::new();
    let mut w = Vec::new();
    for i in 0..n {
        let xi = 1e6 + ((i as f64) * 0.731).sin();
        let zi = (i % 5) as f64;
        let gi = (i * 7 + i / 11) % 4;
        let noise = (((i * 37) % 101) as f64 - 50.0) * 1e-3;
        let yi = 1.5 + 2.0 * (xi - 1e6) - 0.3 * zi
            + [0.4, -0.7, 0.0, 1.1][gi]
            + 0.25 * zi * (xi - 1e6)
            + noise;
        x.push(if i % 97 == 5 { None } else { Some(xi) });
        z.push(Some(zi));
        g.push(if i % 89 == 3 { None } else { Some(levels[gi]) });
        y.push(Some(yi + 10.0));
        w.push(Some(1.0 + (i % 4) as f64 * 0.5));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new(X, DataType::Float64, true),
        Field::new("z", DataType::Float64, true),
        Field::new(G, DataType::Utf8, true),
        Field::new("y", DataType::Float64, true),
        Field::new("w", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(x)),
        Arc::new(Float64Array::from(z)),
        Arc::new(StringArray::from(g)),
        Arc::new(Float64Array::from(y)),
        Arc::new(Float64Array::from(w)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn assert_same(db: &str, formula: &str, local: &RxLinMod, indb: &RxLinMod) {
    assert_eq!(local.n_valid, indb.n_valid, "{db} {formula}: valid rows");
    assert_eq!(
        local.n_missing, indb.n_missing,
        "{db} {formula}: missing rows"
    );
    assert_eq!(local.coefficients.len(), indb.coefficients.len());
    for (a, b) in local.coefficients.iter().zip(&indb.coefficients) {
        assert_eq!(a.term, b.term);
        assert_eq!(a.aliased, b.aliased, "{db} {formula}: {} aliased", a.term);
        if let (Some(x), Some(y)) = (a.estimate, b.estimate) {
            assert!(
                close(x, y, 1e-9),
                "{db} {formula}: {}: local {x}, in-db {y}",
                a.term
            );
            let (sx, sy) = (a.std_error.unwrap(), b.std_error.unwrap());
            assert!(
                close(sx, sy, 1e-9),
                "{db} {formula}: se of {}: {sx} vs {sy}",
                a.term
            );
        }
    }
    assert!(
        close(local.r_squared, indb.r_squared, 1e-9),
        "{db} {formula}: R²"
    );
    assert!(
        close(local.sigma, indb.sigma, 1e-9),
        "{db} {formula}: sigma"
    );
    assert!(close(local.rss, indb.rss, 1e-8), "{db} {formula}: rss");
}

#[test]
fn lin_mod_in_the_database_matches_the_local_fit() {
    for (db, conn) in databases() {
        let table = RxOdbcData::with(
            ConnectionString::new(conn.clone()),
            From::Table(TABLE.into()),
        );
        let batch = sample();
        let mut w = table
            .create(batch.schema(), &WriteOptions::default().overwrite())
            .unwrap_or_else(|e| panic!("{db}: {e}"));
        w.write(&batch).unwrap();
        w.finish().unwrap();
        let query = RxOdbcData::with(
            ConnectionString::new(conn.clone()),
            From::Query(format!(
                "SELECT * FROM \"{}\" WHERE z <> 4 OR \"{}\" = 'it''s; --'",
                TABLE.replace('"', "\"\""),
                G.replace('"', "\"\"")
            )),
        );
        let ctx = RxInDatabase::new();
        let cases: Vec<(&RxOdbcData, String, LinModOptions)> = vec![
            (
                &table,
                format!("y ~ `{X}` + z + `{G}` + `{X}`:z"),
                LinModOptions::default(),
            ),
            (
                &table,
                format!("y ~ `{X}` + `{G}`:z"),
                LinModOptions::default().pweights("w"),
            ),
            (
                &table,
                format!("y ~ `{G}` + `{X}` - 1"),
                LinModOptions::default().fweights("w"),
            ),
            (
                &table,
                format!("log(y) ~ F(z) + I(`{X}` - 1e6) + `{G}`"),
                LinModOptions::default().drop_first(true),
            ),
            (&query, format!("y ~ `{X}` * z"), LinModOptions::default()),
        ];
        for (src, formula, options) in cases {
            let local = rx_lin_mod(&formula, src, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .lin_mod(&formula, src, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same(db, &formula, &local, &indb);
        }
        // Errors name the column; a bad formula is refused before any SQL runs.
        let e = ctx
            .lin_mod("y ~ nope", &table, &LinModOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{db}: {e}");
        // Other analyses stream through the local algorithm in this context.
        let s = rx_models::rx_summary(
            "~ y + z",
            &table,
            &rx_models::SummaryOptions::default(),
            &ctx.clone().quiet(true),
        )
        .unwrap_or_else(|e| panic!("{db}: summary: {e}"));
        let l = rx_models::rx_summary(
            "~ y + z",
            &table,
            &rx_models::SummaryOptions::default(),
            &RxLocalSeq,
        )
        .unwrap();
        assert_eq!(format!("{s}"), format!("{l}"), "{db}: summary");
    }
}
