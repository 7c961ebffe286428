//! `rx dtree|dforest|btrees` and `rx predict` of their models, as a user runs them: the JSON
//! summary's keys, a saved model scored into a file, and one-line errors.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn rx(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rx"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("rx runs")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "rx failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// 400 rows: `late` is 1 when x > 5 (with a few exceptions), `delay` grows with x; g a factor.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,g,late,delay\n");
    for i in 0..400 {
        let x = (i % 100) as f64 / 10.0;
        let g = ["a", "b", "c"][i % 3];
        let late = u8::from((x > 5.0) ^ (i % 37 == 0));
        let delay = 2.0 * x + if g == "b" { 5.0 } else { 0.0 };
        csv.push_str(&format!("{x},{g},{late},{delay}\n"));
    }
    std::fs::write(dir.path().join("f.csv"), csv).unwrap();
    dir
}

#[test]
fn dtree_json_has_the_cp_table_and_prints_a_tree() {
    let d = setup();
    let out = ok(&rx(
        &[
            "dtree",
            "f.csv",
            "--formula",
            "F(late) ~ x + g",
            "--json",
            "--x-val",
            "3",
        ],
        d.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "class");
    assert_eq!(v["n_tree"], 1);
    assert!(v["oob_error"].is_array());
    assert_eq!(v["importance"][0]["variable"], "x");
    let cp = v["cptable"].as_array().unwrap();
    assert!(!cp.is_empty());
    assert!(cp[0]["xerror"].is_number(), "{cp:?}");
    let text = ok(&rx(
        &[
            "dtree",
            "f.csv",
            "--formula",
            "delay ~ x + g",
            "--max-depth",
            "2",
        ],
        d.path(),
    ));
    assert!(text.contains("node), split, n, deviance, yval"), "{text}");
    assert!(text.contains("1) root 400"), "{text}");
}

#[test]
fn a_saved_forest_and_boosted_model_predict_into_files() {
    let d = setup();
    let out = ok(&rx(
        &[
            "dforest",
            "f.csv",
            "--formula",
            "F(late) ~ x + g",
            "--n-tree",
            "20",
            "--seed",
            "3",
            "--json",
            "--save",
            "forest.json",
        ],
        d.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["n_tree"], 20);
    assert_eq!(v["oob_error"].as_array().unwrap().len(), 20);
    assert!(v["oob_error"][19].as_f64().unwrap() < 0.1);
    ok(&rx(
        &[
            "predict",
            "forest.json",
            "f.csv",
            "votes.csv",
            "--type",
            "vote",
        ],
        d.path(),
    ));
    let votes = std::fs::read_to_string(d.path().join("votes.csv")).unwrap();
    assert_eq!(votes.lines().next().unwrap(), "late_0_Vote,late_1_Vote");
    assert_eq!(votes.lines().count(), 401);

    let out = ok(&rx(
        &[
            "btrees",
            "f.csv",
            "--formula",
            "delay ~ x + g",
            "--n-tree",
            "30",
            "--max-depth",
            "2",
            "--json",
            "--save",
            "boost.rxm",
        ],
        d.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "gaussian");
    assert_eq!(v["n_tree"], 30);
    ok(&rx(
        &[
            "predict",
            "boost.rxm",
            "f.csv",
            "pred.csv",
            "--residuals",
            "--keep",
            "x",
        ],
        d.path(),
    ));
    let pred = std::fs::read_to_string(d.path().join("pred.csv")).unwrap();
    assert_eq!(pred.lines().next().unwrap(), "x,delay_Pred,delay_Resid");
}

#[test]
fn bad_input_gets_one_line_errors() {
    let d = setup();
    for (args, needle) in [
        (vec!["dtree", "f.csv", "--formula", "late ~ x:g"], "x:g"),
        (vec!["dtree", "f.csv", "--formula", "late ~ nope"], "nope"),
        (
            vec![
                "btrees",
                "f.csv",
                "--formula",
                "delay ~ x",
                "--loss",
                "bernoulli",
            ],
            "0/1",
        ),
        (
            vec![
                "dforest",
                "f.csv",
                "--formula",
                "delay ~ x",
                "--method",
                "class",
            ],
            "F(delay)",
        ),
    ] {
        let o = rx(&args, d.path());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(e.starts_with("rx: error: "), "{e}");
        assert!(!e.contains("panicked"), "{e}");
        assert!(e.contains(needle), "'{needle}' not in: {e}");
    }
}
