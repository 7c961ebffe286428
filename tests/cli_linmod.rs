//! `rx linmod` as a user runs it: the JSON keys the issue fixes, the R-like table, a saved model
//! that `rx predict` uses, the cube fit, and one-line errors naming the term.

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

/// y = 1 + 2x + (g = b: 3) + small noise; one row with a missing x.
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("y,x,g,w\n");
    for i in 0..40 {
        let x = f64::from(i) / 4.0;
        let g = if i % 3 == 0 { "b" } else { "a" };
        let noise = f64::from((i * 7919) % 11) / 100.0 - 0.05;
        let y = 1.0 + 2.0 * x + if g == "b" { 3.0 } else { 0.0 } + noise;
        csv.push_str(&format!("{y},{x},{g},{}\n", 1 + i % 3));
    }
    csv.push_str("5.0,NA,a,1\n");
    std::fs::write(dir.path().join("d.csv"), csv).unwrap();
    dir
}

#[test]
fn linmod_json_has_the_issue_keys() {
    let dir = setup();
    let out = ok(&rx(
        &[
            "linmod",
            "d.csv",
            "--formula",
            "y ~ x + g",
            "--json",
            "--cov-coef",
        ],
        dir.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    for key in [
        "coefficients",
        "r_squared",
        "adj_r_squared",
        "f_statistic",
        "f_p_value",
        "sigma",
        "df_model",
        "df_residual",
        "n_valid",
        "n_missing",
        "condition_number",
        "cov_coef",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {out}");
    }
    assert_eq!(v["n_valid"], 40);
    assert_eq!(v["n_missing"], 1);
    let coefs = v["coefficients"].as_array().unwrap();
    let names: Vec<&str> = coefs.iter().map(|c| c["term"].as_str().unwrap()).collect();
    // revoscalepy's coding: the last level (b) is the dropped reference.
    assert_eq!(names, ["(Intercept)", "x", "g=a", "g=b"]);
    for key in [
        "term",
        "estimate",
        "std_error",
        "t_value",
        "p_value",
        "aliased",
    ] {
        assert!(coefs[0].get(key).is_some(), "coefficient lacks {key}");
    }
    assert_eq!(coefs[3]["aliased"], true);
    assert!(coefs[3]["estimate"].is_null());
    let slope = coefs[1]["estimate"].as_f64().unwrap();
    assert!((slope - 2.0).abs() < 0.01, "{slope}");
    let ga = coefs[2]["estimate"].as_f64().unwrap();
    assert!((ga + 3.0).abs() < 0.05, "{ga}");
    // --drop-first: R's coding, g=a is the reference.
    let out = ok(&rx(
        &[
            "linmod",
            "d.csv",
            "-f",
            "y ~ x + g",
            "--json",
            "--drop-first",
        ],
        dir.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["coefficients"][2]["term"], "g=a");
    assert_eq!(v["coefficients"][2]["aliased"], true);
    let gb = v["coefficients"][3]["estimate"].as_f64().unwrap();
    assert!((gb - 3.0).abs() < 0.05, "{gb}");
}

#[test]
fn linmod_table_weights_cube_and_saved_model() {
    let dir = setup();
    let table = ok(&rx(
        &["linmod", "d.csv", "-f", "y ~ x + g", "--fweights", "w"],
        dir.path(),
    ));
    assert!(
        table.contains("Coefficients:") && table.contains("Dropped") && table.contains("R-squared"),
        "{table}"
    );
    let cube = ok(&rx(
        &["linmod", "d.csv", "-f", "y ~ g + x", "--cube", "--json"],
        dir.path(),
    ));
    let v: Value = serde_json::from_str(&cube).unwrap();
    let names: Vec<&str> = v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["term"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["g=a", "g=b", "x"]);
    ok(&rx(
        &["linmod", "d.csv", "-f", "y ~ x + g", "--save", "m.json"],
        dir.path(),
    ));
    let pred = ok(&rx(
        &["predict", "m.json", "d.csv", "-", "--residuals"],
        dir.path(),
    ));
    let header = pred.lines().next().unwrap();
    assert!(
        header.contains("y_Pred") && header.contains("y_Resid"),
        "{header}"
    );
    assert_eq!(
        pred.lines().count(),
        42,
        "a row per input row, plus the header"
    );
}

#[test]
fn linmod_errors_are_one_line_and_name_the_problem() {
    let dir = setup();
    let o = rx(&["linmod", "d.csv", "-f", "y ~ x + nosuch"], dir.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("nosuch") && err.lines().count() == 1 && !err.contains("panicked"),
        "{err}"
    );
    let o = rx(&["linmod", "d.csv", "-f", "y ~ x +"], dir.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains('^') && !err.contains("panicked"), "{err}");
    let o = rx(&["linmod", "d.csv", "-f", "~ x"], dir.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("response"));
}
