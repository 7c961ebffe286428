//! `rx` with databases (built with the `odbc` feature): import a query into .xdf, export a file
//! into a table, and run analyses on a table, against SQLite (and PostgreSQL when
//! `.ci/databases.sh` has started one). A missing driver skips, except in CI.

use std::path::Path;

use serde_json::Value;

use crate::common::{ok, rx};

/// Connection strings of the databases present: SQLite (a file in `dir`) and PostgreSQL.
fn databases(dir: &Path) -> Vec<(&'static str, String)> {
    revoscale::data::odbc::testing::databases(&dir.join("t.db"))
}

#[test]
fn import_export_and_analyse_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,g,y,b\n");
    for i in 0..300 {
        let x = i as f64 / 10.0;
        let g = ["a", "b", "c"][i % 3];
        let y = 1.5 + 2.0 * x + if g == "b" { 3.0 } else { 0.0 } + ((i * 31) % 7) as f64 / 10.0;
        let b = u8::from((i * 37) % 11 < 3 + i / 60);
        csv.push_str(&format!("{x},{g},{y},{b}\n"));
    }
    std::fs::write(dir.path().join("f.csv"), csv).unwrap();
    ok(&rx(
        &["import", "f.csv", "f.xdf", "--strings-as-factors"],
        dir.path(),
    ));
    let local: Value = serde_json::from_str(&ok(&rx(
        &["linmod", "f.xdf", "-f", "y ~ x + g", "--json"],
        dir.path(),
    )))
    .unwrap();
    for (db, conn) in databases(dir.path()) {
        // Export the file into a table (then replace it).
        ok(&rx(
            &[
                "import",
                "f.xdf",
                "--odbc",
                &conn,
                "--table",
                "rx cli",
                "--overwrite",
            ],
            dir.path(),
        ));
        let o = rx(
            &["import", "f.xdf", "--odbc", &conn, "--table", "rx cli"],
            dir.path(),
        );
        assert!(!o.status.success(), "{db}: exists without --overwrite");
        // Import a query into .xdf, with the factor's levels declared.
        let q = if db == "sqlite" {
            "SELECT * FROM \"rx cli\" WHERE x >= 10"
        } else {
            "SELECT * FROM \"rx cli\" WHERE x >= 10 ORDER BY x"
        };
        let out = format!("{db}.xdf");
        ok(&rx(
            &[
                "import", "--odbc", &conn, "--query", q, &out, "--levels", "g=a,b,c",
            ],
            dir.path(),
        ));
        let info = ok(&rx(&["info", &out, "--json"], dir.path()));
        let info: Value = serde_json::from_str(&info).unwrap();
        assert_eq!(info["num_rows"], 200, "{db}: {info}");
        // An analysis on the table agrees with the one on the file, streamed or in-database.
        for context in ["local", "indb"] {
            let fit: Value = serde_json::from_str(&ok(&rx(
                &[
                    "linmod",
                    "--odbc",
                    &conn,
                    "--table",
                    "rx cli",
                    "-f",
                    "y ~ x + g",
                    "--context",
                    context,
                    "--json",
                ],
                dir.path(),
            )))
            .unwrap();
            assert_eq!(fit["n_valid"], 300, "{db} {context}: {fit}");
            for (a, b) in local["coefficients"]
                .as_array()
                .unwrap()
                .iter()
                .zip(fit["coefficients"].as_array().unwrap())
            {
                assert_eq!(a["term"], b["term"]);
                for key in ["estimate", "std_error"] {
                    if let (Some(x), Some(y)) = (a[key].as_f64(), b[key].as_f64()) {
                        assert!(
                            (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                            "{db} {context} {key}: {x} vs {y}"
                        );
                    }
                }
            }
        }
        // In the database context a summary is GROUP BY aggregates and agrees with the file's;
        // an analysis without an in-database form says it streams.
        let summary =
            |args: &[&str]| -> Value { serde_json::from_str(&ok(&rx(args, dir.path()))).unwrap() };
        let file = summary(&["summary", "f.xdf", "-f", "~ x + y + g", "--json"]);
        let indb = summary(&[
            "summary",
            "--odbc",
            &conn,
            "--table",
            "rx cli",
            "-f",
            "~ x + y + g",
            "--context",
            "indb",
            "--json",
        ]);
        assert_eq!(file["numeric"].as_array().unwrap().len(), 2);
        for (a, b) in file["numeric"]
            .as_array()
            .unwrap()
            .iter()
            .zip(indb["numeric"].as_array().unwrap())
        {
            for key in ["mean", "std_dev", "min", "max", "sum"] {
                let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                    "{db} {key}: {x} vs {y}"
                );
            }
        }
        assert_eq!(file["factors"], indb["factors"], "{db}");
        // Cubes and logistic regressions in the database agree with the file's.
        let on_file = summary(&["cube", "f.xdf", "-f", "y ~ g", "--json"]);
        let in_db = summary(&[
            "cube",
            "--odbc",
            &conn,
            "--table",
            "rx cli",
            "-f",
            "y ~ g",
            "--context",
            "indb",
            "--json",
        ]);
        for (a, b) in on_file["cells"]
            .as_array()
            .unwrap()
            .iter()
            .zip(in_db["cells"].as_array().unwrap())
        {
            assert_eq!((&a["g"], &a["Counts"]), (&b["g"], &b["Counts"]), "{db}");
            let (x, y) = (a["y"].as_f64().unwrap(), b["y"].as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs(), "{db} cube: {x} vs {y}");
        }
        let f = "b ~ x + g";
        let on_file = summary(&["logit", "f.xdf", "-f", f, "--json"]);
        let o = rx(
            &[
                "logit",
                "--odbc",
                &conn,
                "--table",
                "rx cli",
                "-f",
                f,
                "--context",
                "indb",
                "--json",
            ],
            dir.path(),
        );
        let in_db: Value = serde_json::from_str(&ok(&o)).unwrap();
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("streaming"),
            "{db}: logit streamed"
        );
        assert_eq!(on_file["iterations"], in_db["iterations"], "{db}");
        for key in ["deviance", "null_deviance", "aic"] {
            let (x, y) = (on_file[key].as_f64().unwrap(), in_db[key].as_f64().unwrap());
            assert!(
                (x - y).abs() <= 1e-9 * x.abs(),
                "{db} logit {key}: {x} vs {y}"
            );
        }
        let o = rx(
            &[
                "dtree",
                "--odbc",
                &conn,
                "--table",
                "rx cli",
                "-f",
                "y ~ x",
                "--context",
                "indb",
            ],
            dir.path(),
        );
        assert!(
            o.status.success(),
            "{db}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("streaming the rows"), "{db}: {err}");
        // The in-database context needs a database.
        let o = rx(
            &["linmod", "f.xdf", "-f", "y ~ x", "--context", "indb"],
            dir.path(),
        );
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("--odbc"));
        // A bad query names itself; a bad password does not show.
        let o = rx(
            &[
                "summary",
                "--odbc",
                &conn,
                "--query",
                "SELEC nope",
                "-f",
                "~ x",
            ],
            dir.path(),
        );
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("SELEC nope"), "{db}: {err}");
    }
}
