//! The `rx` tool as a user runs it: import, info --json, demo, and one-line errors with a non-zero
//! exit on bad input.

use std::path::Path;
use std::process::{Command, Output};

fn rx(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rx"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rx runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Checks a failure: non-zero exit, one line starting with `rx: error:`, no panic.
fn assert_clean_error(o: &Output, must_contain: &[&str]) {
    let e = stderr(o);
    assert!(!o.status.success(), "expected failure, got success: {e}");
    assert!(e.starts_with("rx: error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    for m in must_contain {
        assert!(e.contains(m), "'{m}' not in: {e}");
    }
}

const CSV: &str = "x,g,n\n1.5,a,1\n2.5,b,2\nNA,a,3\n";

#[test]
fn import_then_info_json_has_the_documented_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.csv"), CSV).unwrap();
    let o = rx(
        &[
            "import",
            "in.csv",
            "out.xdf",
            "--factor",
            "g",
            "--col-type",
            "n=numeric",
            "--rows-per-block",
            "2",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = rx(&["info", "out.xdf", "--json", "--head", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["num_rows"], 3);
    assert_eq!(v["num_vars"], 3);
    assert_eq!(v["num_blocks"], 2);
    assert_eq!(v["rows_per_block"], serde_json::json!([2, 1]));
    let vars = v["vars"].as_array().unwrap();
    assert_eq!(vars[0]["name"], "x");
    assert_eq!(vars[0]["type"], "numeric");
    assert_eq!(vars[0]["storage"], "float64");
    assert_eq!(vars[0]["low"], 1.5);
    assert_eq!(vars[0]["high"], 2.5);
    assert_eq!(vars[1]["type"], "factor");
    assert_eq!(vars[1]["levels"], serde_json::json!(["a", "b"]));
    assert_eq!(vars[2]["storage"], "float64");
    assert!(vars[0].get("description").is_some());
    assert_eq!(v["head"].as_array().unwrap().len(), 2);
    // Human output with --vars --blocks.
    let o = rx(
        &["info", "out.xdf", "--vars", "--blocks", "--head", "3"],
        dir.path(),
    );
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("Number of observations: 3")
            && s.contains("Rows per block: 2, 1")
            && s.contains("2 factor levels: a b"),
        "{s}"
    );
    // Export back to CSV, and to Parquet and back.
    assert!(
        rx(&["import", "out.xdf", "back.csv"], dir.path())
            .status
            .success()
    );
    let back = std::fs::read_to_string(dir.path().join("back.csv")).unwrap();
    assert!(back.starts_with("x,g,n\n1.5,a,1"), "{back}");
    assert!(
        rx(&["import", "out.xdf", "p.parquet"], dir.path())
            .status
            .success()
    );
    assert!(
        rx(&["import", "p.parquet", "p.xdf"], dir.path())
            .status
            .success()
    );
    // Append and overwrite.
    let o = rx(
        &[
            "import",
            "in.csv",
            "out.xdf",
            "--factor",
            "g",
            "--col-type",
            "n=numeric",
        ],
        dir.path(),
    );
    assert_clean_error(&o, &["out.xdf", "exists", "--overwrite"]);
    assert!(
        rx(
            &[
                "import",
                "in.csv",
                "out.xdf",
                "--factor",
                "g",
                "--col-type",
                "n=numeric",
                "--append"
            ],
            dir.path()
        )
        .status
        .success()
    );
    let o = rx(&["info", "out.xdf", "--json"], dir.path());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["num_rows"], 6);
}

#[test]
fn bad_input_gives_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ragged.csv"), "a,b\n1,2\n3\n4,5\n").unwrap();
    assert_clean_error(
        &rx(&["import", "ragged.csv", "o.xdf"], d),
        &["ragged.csv", "line 3"],
    );
    std::fs::write(d.join("badnum.csv"), "a,b\n1,2\n3,4\n").unwrap();
    std::fs::write(d.join("badnum2.csv"), "a,b\n1,2\n3,zz\n").unwrap();
    assert_clean_error(
        &rx(
            &["import", "badnum2.csv", "o.xdf", "--col-type", "b=numeric"],
            d,
        ),
        &["badnum2.csv", "line 3", "'b'", "zz"],
    );
    let o = rx(
        &[
            "import",
            "badnum2.csv",
            "o.xdf",
            "--col-type",
            "b=numeric",
            "--bad-values-as-missing",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 values did not parse"),
        "{}",
        stderr(&o)
    );
    std::fs::write(d.join("empty.xdf"), "").unwrap();
    assert_clean_error(&rx(&["info", "empty.xdf"], d), &["empty.xdf"]);
    std::fs::write(d.join("junk.xdf"), "not an xdf file at all, just text").unwrap();
    assert_clean_error(
        &rx(&["info", "junk.xdf"], d),
        &["junk.xdf", "not an .xdf file"],
    );
    assert_clean_error(&rx(&["info", "nope.xdf"], d), &["nope.xdf"]);
    assert_clean_error(
        &rx(&["import", "badnum.csv", "o.json"], d),
        &["o.json", "unknown file type"],
    );
    assert_clean_error(
        &rx(
            &["import", "badnum.csv", "o2.xdf", "--col-type", "a=blob"],
            d,
        ),
        &["blob"],
    );
    assert_clean_error(
        &rx(&["import", "badnum.csv", "o3.xdf", "--levels", "a=1"], d),
        &["badnum.csv", "'3'"],
    );
    // A flipped byte in a valid file is reported, not read.
    assert!(rx(&["import", "badnum.csv", "ok.xdf"], d).status.success());
    let mut bytes = std::fs::read(d.join("ok.xdf")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(d.join("ok.xdf"), &bytes).unwrap();
    let o = rx(&["import", "ok.xdf", "ok.csv"], d);
    assert_clean_error(&o, &["ok.xdf"]);
    assert!(!d.join("ok.csv").exists(), "no half-written output");
}

#[test]
fn demo_runs_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let o = rx(&["demo", "--dir", "demo"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("imported 5000 rows") && s.contains("now 10000 rows"),
        "{s}"
    );
    assert!(dir.path().join("demo/airline.xdf").exists());
}

#[test]
fn etl_commands_select_transform_sort_merge_and_partition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csv = "ArrDelay,DayOfWeek,Origin\n20,Monday,JFK\n-3,Friday,LAX\n45,Friday,JFK\nNA,Monday,ORD\n16,Sunday,SFO\n";
    std::fs::write(d.join("f.csv"), csv).unwrap();
    let ok = |o: Output| assert!(o.status.success(), "{}", stderr(&o));
    ok(rx(&["import", "f.csv", "f.xdf", "--strings-as-factors"], d));
    ok(rx(
        &[
            "datastep",
            "f.xdf",
            "late.csv",
            "--where",
            "ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')",
            "--transform",
            "Hours = ArrDelay / 60.0",
            "--transform",
            "VeryLate = CASE WHEN ArrDelay > 30 THEN 'yes' ELSE 'no' END",
            "--keep",
            "ArrDelay,DayOfWeek",
        ],
        d,
    ));
    let out = std::fs::read_to_string(d.join("late.csv")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "ArrDelay,DayOfWeek,Hours,VeryLate", "{out}");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[2].starts_with("45,Friday,0.75,yes"), "{out}");

    ok(rx(
        &[
            "import",
            "f.xdf",
            "part.csv",
            "--start-row",
            "2",
            "--rows",
            "3",
            "--drop",
            "Origin",
            "--remove-missings",
        ],
        d,
    ));
    let out = std::fs::read_to_string(d.join("part.csv")).unwrap();
    assert_eq!(out.lines().count(), 3, "{out}"); // header + rows 2 and 3 (row 4 is missing)

    ok(rx(
        &["sort", "f.xdf", "s.csv", "--by", "DayOfWeek,-ArrDelay"],
        d,
    ));
    let out = std::fs::read_to_string(d.join("s.csv")).unwrap();
    let days: Vec<&str> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(
        days,
        ["Monday", "Monday", "Friday", "Friday", "Sunday"],
        "{out}"
    );
    assert!(out.lines().nth(1).unwrap().starts_with("20,"), "{out}");

    ok(rx(
        &["merge", "f.xdf", "f.xdf", "u.xdf", "--how", "union"],
        d,
    ));
    ok(rx(
        &[
            "merge", "f.xdf", "f.xdf", "j.csv", "--on", "Origin", "--how", "inner",
        ],
        d,
    ));
    let out = std::fs::read_to_string(d.join("j.csv")).unwrap();
    assert!(
        out.starts_with("Origin,ArrDelay.Left,DayOfWeek.Left,ArrDelay.Right"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1 + 4 + 1 + 1 + 1, "{out}"); // JFK 2x2, LAX, ORD, SFO

    ok(rx(&["partition", "f.xdf", "parts", "--by", "Origin"], d));
    assert!(d.join("parts/Origin=JFK.xdf").exists());
    assert!(d.join("parts/partitions.xdf").exists());

    // Bad expressions: one line, quoting the expression; no output left behind.
    let o = rx(
        &["datastep", "f.xdf", "bad.xdf", "--where", "ArrDelay >> 1"],
        d,
    );
    assert_clean_error(&o, &["row selection 'ArrDelay >> 1'"]);
    let o = rx(&["datastep", "f.xdf", "bad.xdf", "--where", "Dealy > 1"], d);
    assert_clean_error(&o, &["Dealy"]);
    let o = rx(
        &["datastep", "f.xdf", "bad.xdf", "--transform", "x == 1"],
        d,
    );
    assert_clean_error(&o, &["NAME = EXPRESSION"]);
    let o = rx(&["sort", "f.xdf", "bad.xdf", "--by", "Nope"], d);
    assert_clean_error(&o, &["'Nope'"]);
    let o = rx(
        &["merge", "f.xdf", "f.xdf", "bad.xdf", "--how", "sideways"],
        d,
    );
    assert_clean_error(&o, &["sideways"]);
    assert!(!d.join("bad.xdf").exists());
}
