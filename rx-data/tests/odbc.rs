//! ODBC sources and sinks on real databases: SQLite through the SQLite3 ODBC driver (a file
//! database) and PostgreSQL through psqlODBC (`.ci/databases.sh` starts one and writes the
//! connection string to /tmp/rx-db-env.sh). A missing driver or server skips with a message, except
//! in CI (`CI=true`), where a skip is a failure.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array,
    Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema};
use rx_core::column_info::ColumnInfo;
use rx_core::varinfo::META_LEVELS;
use rx_core::{ColumnInfoMap, DataSink, DataSource, ReadOptions, WriteOptions};
use rx_data::odbc::{ConnectionString, Dialect, From, RxOdbcData, SqlServerConnection};

/// The databases to test against, by name and connection string.
/// The test databases, with a SQLite file of the test's own: tests run in parallel, and two
/// SQLite connections that both write in one file can fail at once with "database is locked"
/// (SQLite's deadlock avoidance does not wait for the busy timeout), which a loaded CI machine
/// met.
fn databases(test: &str) -> Vec<(&'static str, String)> {
    let db = std::env::temp_dir().join(format!("rx-odbc-test-{}-{test}.db", std::process::id()));
    rx_data::odbc::testing::databases(&db)
}

const HOSTILE_TABLE: &str = "rx \"t\"; -- drop [x]";

fn levels_field(name: &str, levels: &[&str]) -> Field {
    Field::new(
        name,
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        true,
    )
    .with_metadata(HashMap::from([(
        META_LEVELS.to_string(),
        serde_json::to_string(levels).unwrap(),
    )]))
}

/// Two chunks of awkward values: doubles that Float32 would round, extreme integers, strings with
/// quotes, semicolons and comment markers, a factor, logicals, dates, and missing values.
fn sample() -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int32, true),
        Field::new("big", DataType::Int64, true),
        Field::new("s 'quoted'; --", DataType::Utf8, true),
        levels_field("g", &["lo", "mid", "hi"]),
        Field::new("ok", DataType::Boolean, true),
        Field::new("d", DataType::Date32, true),
    ]));
    let values: ArrayRef = Arc::new(StringArray::from(vec!["lo", "mid", "hi"]));
    let mk = |x: Vec<Option<f64>>,
              n: Vec<Option<i32>>,
              big: Vec<Option<i64>>,
              s: Vec<Option<&str>>,
              g: Vec<Option<i32>>,
              ok: Vec<Option<bool>>,
              d: Vec<Option<i32>>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(x)),
                Arc::new(Int32Array::from(n)),
                Arc::new(Int64Array::from(big)),
                Arc::new(StringArray::from(s)),
                Arc::new(
                    DictionaryArray::<Int32Type>::try_new(Int32Array::from(g), values.clone())
                        .unwrap(),
                ),
                Arc::new(BooleanArray::from(ok)),
                Arc::new(Date32Array::from(d)),
            ],
        )
        .unwrap()
    };
    let b1 = mk(
        vec![Some(0.1 + 1e-15), Some(-1.234_567_890_123_456_7e300), None],
        vec![Some(i32::MIN + 1), None, Some(7)],
        vec![Some(i64::MAX), Some(-3), None],
        vec![
            Some("it's; -- not a comment"),
            None,
            Some("x\"y\\ {é, NULL}"),
        ],
        vec![Some(2), Some(0), None],
        vec![Some(true), Some(false), None],
        vec![Some(0), Some(19_000), None],
    );
    let b2 = mk(
        vec![Some(std::f64::consts::PI * 1e-300)],
        vec![Some(1)],
        vec![Some(1 << 40)],
        vec![Some("  padded  ")],
        vec![Some(1)],
        vec![Some(true)],
        vec![Some(-365)],
    );
    (schema, vec![b1, b2])
}

fn write(dest: &RxOdbcData, options: &WriteOptions) -> rx_core::Result<u64> {
    let (schema, batches) = sample();
    let mut w = dest.create(schema, options)?;
    for b in &batches {
        w.write(b)?;
    }
    w.finish()
}

fn read_all(src: &RxOdbcData, columns: Option<Vec<String>>) -> RecordBatch {
    let chunks: Vec<RecordBatch> = src
        .open(&ReadOptions {
            columns,
            rows_per_read: Some(2),
            ..Default::default()
        })
        .unwrap()
        .collect::<rx_core::Result<_>>()
        .unwrap();
    assert!(chunks.len() >= 2, "read in chunks of 2 rows");
    arrow::compute::concat_batches(&chunks[0].schema(), &chunks).unwrap()
}

#[test]
fn roundtrip_through_each_database() {
    for (db, conn) in databases("roundtrip_through_each_database") {
        let t = RxOdbcData::table(&conn, HOSTILE_TABLE);
        // Create; a second create without overwrite is refused; overwrite replaces.
        let mut opts = WriteOptions::default();
        let _ = write(&t, &opts.clone().overwrite());
        let e = write(&t, &opts).unwrap_err().to_string();
        assert!(e.contains("exists"), "{db}: {e}");
        opts = opts.overwrite();
        assert_eq!(write(&t, &opts).unwrap(), 4, "{db}");
        let got = read_all(&t, None);
        assert_eq!(got.num_rows(), 4, "{db}");
        let got_schema = got.schema();
        let names: Vec<&str> = got_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            names,
            vec!["x", "n", "big", "s 'quoted'; --", "g", "ok", "d"],
            "{db}"
        );
        // Doubles come back bit for bit from PostgreSQL (not through Float32). The SQLite ODBC
        // driver passes doubles as text through SQLite's own printf, which is good to about
        // 16.5 significant digits, not 17: within 2 units in the last place there.
        let x = got.column(0).as_primitive::<Float64Type>();
        let ulps = if db == "sqlite" { 2 } else { 0 };
        for (i, want) in [
            (0, 0.1 + 1e-15f64),
            (1, -1.234_567_890_123_456_7e300),
            (3, std::f64::consts::PI * 1e-300),
        ] {
            let got = x.value(i);
            let diff = (got.to_bits() as i64 - want.to_bits() as i64).unsigned_abs();
            assert!(diff <= ulps, "{db}: row {i}: {got:e} vs {want:e}");
        }
        assert!(x.is_null(2));
        let big = arrow::compute::cast(got.column(2), &DataType::Int64).unwrap();
        assert_eq!(big.as_primitive::<Int64Type>().value(0), i64::MAX, "{db}");
        let s = got.column(3).as_string::<i32>();
        assert_eq!(s.value(0), "it's; -- not a comment", "{db}");
        assert!(s.is_null(1));
        assert_eq!(s.value(2), "x\"y\\ {é, NULL}", "{db}");
        assert_eq!(s.value(3), "padded", "{db}: trim_space is on by default");
        // The factor was written as its labels.
        let g = got.column(4).as_string::<i32>();
        assert_eq!(
            (g.value(0), g.value(1), g.is_null(2), g.value(3)),
            ("hi", "lo", true, "mid"),
            "{db}"
        );
        // Append adds rows.
        assert_eq!(write(&t, &WriteOptions::default().append()).unwrap(), 4);
        assert_eq!(read_all(&t, None).num_rows(), 8, "{db}");

        // A query source, with a projection and column_info making `g` a factor again.
        let mut info = ColumnInfoMap::new();
        info.insert(
            "g".into(),
            ColumnInfo::default().with_levels(["lo", "mid", "hi"]),
        );
        let quoted = match Dialect::from_dbms_name(db) {
            d @ Dialect::SqlServer => d.ident(HOSTILE_TABLE).unwrap(),
            d => d.ident(HOSTILE_TABLE).unwrap(),
        };
        let q = RxOdbcData::query(&conn, format!("SELECT * FROM {quoted} WHERE n IS NOT NULL"))
            .column_info(info);
        let schema = q.schema().unwrap();
        assert!(matches!(
            schema.field_with_name("g").unwrap().data_type(),
            DataType::Dictionary(..)
        ));
        let got = read_all(&q, Some(vec!["g".into(), "x".into()]));
        assert_eq!(got.num_columns(), 2);
        assert_eq!(got.num_rows(), 6, "{db}");
        let levels = got.schema().field(0).metadata()[META_LEVELS].clone();
        assert_eq!(
            levels, "[\"lo\",\"mid\",\"hi\"]",
            "{db}: the declared levels"
        );

        // Factors as 1-based codes.
        let codes = RxOdbcData::table(&conn, "rx_codes").write_factors_as_indexes(true);
        write(&codes, &WriteOptions::default().overwrite()).unwrap();
        let got = read_all(&codes, Some(vec!["g".into()]));
        let g = arrow::compute::cast(got.column(0), &DataType::Int64).unwrap();
        let g = g.as_primitive::<Int64Type>();
        assert_eq!((g.value(0), g.value(1), g.value(3)), (3, 1, 2), "{db}");
    }
}

#[test]
fn an_unfinished_write_leaves_nothing() {
    for (db, conn) in databases("an_unfinished_write_leaves_nothing") {
        let t = RxOdbcData::table(&conn, "rx_unfinished");
        let c = t.connect().unwrap();
        let sql = t.dialect_of(&c).drop_table("rx_unfinished").unwrap();
        t.execute(&c, &sql).unwrap();
        drop(c);
        let (schema, batches) = sample();
        {
            let mut w = t
                .create(schema.clone(), &WriteOptions::default().overwrite())
                .unwrap();
            w.write(&batches[0]).unwrap();
            // Dropped without finish (an error upstream, a lost source...).
        }
        assert!(
            t.schema().is_err(),
            "{db}: the half-written table must not exist"
        );
        // And an overwrite that fails keeps the old table.
        write(&t, &WriteOptions::default()).unwrap();
        {
            let mut w = t
                .create(schema, &WriteOptions::default().overwrite())
                .unwrap();
            w.write(&batches[1]).unwrap();
        }
        assert_eq!(
            read_all(&t, None).num_rows(),
            4,
            "{db}: the old table stays"
        );
    }
}

#[test]
fn bad_sql_and_bad_names_are_clear_errors() {
    for (db, conn) in databases("bad_sql_and_bad_names_are_clear_errors") {
        let q = RxOdbcData::query(&conn, "SELEC oops FROM nowhere");
        let e = q.schema().unwrap_err().to_string();
        assert!(e.contains("SELEC oops"), "{db}: {e}");
        let t = RxOdbcData::table(&conn, "no_such_table_rx");
        let e = t.open(&ReadOptions::default()).err().unwrap().to_string();
        assert!(e.contains("no_such_table_rx"), "{db}: {e}");
        let t = RxOdbcData::table(&conn, "rx_bad_names");
        write(&t, &WriteOptions::default().overwrite()).unwrap();
        let e = t
            .open(&ReadOptions::default().columns(["nope"]))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("unknown column 'nope'"), "{db}: {e}");
    }
}

#[test]
fn passwords_never_show() {
    let pg = databases("passwords_never_show")
        .into_iter()
        .find(|(db, _)| *db == "postgres");
    let Some((_, conn)) = pg else { return };
    let bad = ConnectionString::new(&conn)
        .pairs()
        .into_iter()
        .map(|(k, v)| {
            if k.eq_ignore_ascii_case("pwd") {
                format!("{k}=wrong-Secret-42")
            } else {
                format!("{k}={}", rx_data::odbc::brace(&v))
            }
        })
        .collect::<Vec<_>>()
        .join(";");
    let t = RxOdbcData::table(&bad, "t").login_timeout_secs(5);
    let start = std::time::Instant::now();
    let e = t.schema().unwrap_err();
    assert!(start.elapsed().as_secs() < 10);
    let msg = format!("{e} {e:?} {t:?}");
    assert!(!msg.contains("wrong-Secret-42"), "{msg}");
    assert!(
        msg.contains("password") || msg.contains("authentication"),
        "{msg}"
    );
    // An unreachable server fails within the login timeout.
    let t = RxOdbcData::table(conn.replace("54329", "1"), "t").login_timeout_secs(3);
    let start = std::time::Instant::now();
    assert!(t.schema().is_err());
    assert!(start.elapsed().as_secs() < 10);
}

#[test]
fn connection_strings_and_dialects_as_text() {
    let c = ConnectionString::new("Driver={x};Server=s;Pwd={a;b}}c};Uid=u");
    assert_eq!(c.get("pwd").as_deref(), Some("a;b}c"));
    assert_eq!(c.to_string(), "Driver=x;Server=s;Pwd=***;Uid=u");
    assert!(!format!("{c:?}").contains("a;b"));
    assert_eq!(c.scrub("login failed for a;b}c"), "login failed for ***");
    let ss = SqlServerConnection::new("db.example.com,1433")
        .database("flights")
        .user("analyst", "p;w}d")
        .connection_string();
    assert_eq!(ss.get("Pwd").as_deref(), Some("p;w}d"));
    assert_eq!(
        ss.redacted(),
        "Driver=ODBC Driver 18 for SQL Server;Server=db.example.com,1433;Database=flights;Uid=analyst;Pwd=***"
    );
    let trusted = SqlServerConnection::new("srv")
        .trusted_connection(true)
        .driver("ODBC Driver 17 for SQL Server")
        .connection_string();
    assert_eq!(
        trusted.to_string(),
        "Driver=ODBC Driver 17 for SQL Server;Server=srv;Trusted_Connection=Yes"
    );
    let t = Dialect::SqlServer;
    assert_eq!(t.ident("a]b").unwrap(), "[a]]b]");
    assert_eq!(t.string("it's").unwrap(), "N'it''s'");
    assert_eq!(
        t.select(&["x".into()], &From::Table("t t".into()), Some(5))
            .unwrap(),
        "SELECT TOP 5 [x] FROM [t t]"
    );
    assert_eq!(
        t.drop_table("t").unwrap(),
        "IF OBJECT_ID(N'[t]', 'U') IS NOT NULL DROP TABLE [t]"
    );
    assert_eq!(
        t.create_table(
            "t",
            &[
                ("x".into(), DataType::Float64),
                ("s".into(), DataType::Utf8)
            ]
        )
        .unwrap(),
        "CREATE TABLE [t] ([x] FLOAT, [s] NVARCHAR(MAX))"
    );
    let p = Dialect::PostgreSql;
    assert_eq!(p.ident("a\"b").unwrap(), "\"a\"\"b\"");
    assert_eq!(
        p.select(&[], &From::Query("SELECT 1;".into()), Some(3))
            .unwrap(),
        "SELECT * FROM (SELECT 1) rx_q LIMIT 3"
    );
    assert_eq!(
        p.insert("t", &["a".into(), "b".into()]).unwrap(),
        "INSERT INTO \"t\" (\"a\", \"b\") VALUES (?, ?)"
    );
    assert!(p.ident("a\0b").is_err());
    assert!(Dialect::Sqlite.column_type(&DataType::Binary).is_err());
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Model {
    name: String,
    coefficients: Vec<f64>,
    notes: String,
}

#[test]
fn model_store_keeps_versioned_objects() {
    use rx_data::odbc::{rx_delete_object, rx_list_keys, rx_read_object, rx_write_object};
    for (db, conn) in databases("model_store_keeps_versioned_objects") {
        let store = RxOdbcData::table(&conn, "rx objects; --");
        for (k, _) in rx_list_keys(&store, None).unwrap_or_default() {
            rx_delete_object(&store, &k, None).unwrap();
        }
        // A large value (beyond any text buffer) with quotes and comment markers.
        let m = Model {
            name: "it's a model; -- with /* hostile */ text".into(),
            coefficients: (0..50_000).map(|i| i as f64 * 0.1 + 1e-13).collect(),
            notes: "x".repeat(100_000),
        };
        let key = "flights'; DROP TABLE x; --";
        rx_write_object(&store, key, &m, None, false).unwrap();
        let back: Model = rx_read_object(&store, key, None).unwrap();
        assert_eq!(back.name, m.name, "{db}");
        assert_eq!(back.notes.len(), m.notes.len(), "{db}");
        assert_eq!(back.coefficients.len(), m.coefficients.len(), "{db}");
        let bad = back
            .coefficients
            .iter()
            .zip(&m.coefficients)
            .position(|(a, b)| a != b);
        assert!(bad.is_none(), "{db}: coefficient {bad:?} differs");
        assert!(back == m, "{db}");
        // Writing again needs overwrite.
        let e = rx_write_object(&store, key, &m, None, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("exists") && e.contains("overwrite"), "{db}: {e}");
        rx_write_object(&store, key, &m, None, true).unwrap();
        // Versions.
        rx_write_object(&store, key, &1u32, Some("v2"), false).unwrap();
        let e = rx_read_object::<Model>(&store, key, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 versions") && e.contains("'v2'"), "{db}: {e}");
        let v2: u32 = rx_read_object(&store, key, Some("v2")).unwrap();
        assert_eq!(v2, 1);
        assert_eq!(
            rx_list_keys(&store, None).unwrap(),
            vec![
                (key.to_string(), String::new()),
                (key.to_string(), "v2".into())
            ],
            "{db}"
        );
        // The wrong type is a clear error.
        let e = rx_read_object::<Model>(&store, key, Some("v2"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not have the type"), "{db}: {e}");
        assert_eq!(rx_delete_object(&store, key, Some("v2")).unwrap(), 1);
        assert_eq!(rx_delete_object(&store, key, None).unwrap(), 1);
        let e = rx_read_object::<Model>(&store, key, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no object"), "{db}: {e}");
    }
}
