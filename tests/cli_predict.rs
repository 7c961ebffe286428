//! `rx predict` as a user runs it: a saved model (binary or JSON) on a CSV into a file or onto
//! stdout (`-`), the values the library computes, and one-line errors on bad input.

use std::path::Path;
use std::process::{Command, Output};

use revoscale::core::RxLocalSeq;
use revoscale::data::{MemorySink, TextData};
use revoscale::models::linmod::{LinModOptions, rx_lin_mod};
use revoscale::predict::{Interval, Model, PredictOptions, rx_predict_default, rx_save_model};

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

#[track_caller]
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

const TRAIN: &str = "id,x,g,y\n1,1.0,a,2.1\n2,2.0,b,3.9\n3,3.0,c,6.2\n4,4.0,a,7.8\n5,5.0,b,10.1\n6,6.0,c,12.2\n7,7.0,a,13.8\n8,8.0,b,16.3\n9,9.0,c,18.1\n10,10.0,a,19.7\n";
const NEW: &str = "id,x,g,y\n11,1.5,b,3.0\n12,NA,a,4.0\n13,2.5,c,NA\n14,3.5,a,7.0\n15,4.5,b,9.0\n";

/// A folder with train.csv, new.csv and the model fitted on train.csv saved as m.rxm and
/// m.json.
fn setup() -> (tempfile::TempDir, Model) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("train.csv"), TRAIN).unwrap();
    std::fs::write(dir.path().join("new.csv"), NEW).unwrap();
    let fit = rx_lin_mod(
        "y ~ x + g",
        &TextData::new(dir.path().join("train.csv")),
        &LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    let model = Model::from(fit);
    rx_save_model(&model, dir.path().join("m.rxm")).unwrap();
    rx_save_model(&model, dir.path().join("m.json")).unwrap();
    (dir, model)
}

/// A CSV's column as numbers (`NA` as None).
fn csv_column(text: &str, name: &str) -> Vec<Option<f64>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let k = header
        .iter()
        .position(|h| *h == name)
        .unwrap_or_else(|| panic!("no {name} in {header:?}"));
    lines
        .map(|l| {
            let v = l.split(',').nth(k).unwrap();
            (v != "NA").then(|| v.parse().unwrap())
        })
        .collect()
}

#[test]
fn predictions_on_a_file_match_the_library_bit_for_bit() {
    let (dir, model) = setup();
    let o = rx(
        &[
            "predict",
            "m.rxm",
            "new.csv",
            "out.csv",
            "--residuals",
            "--std-errors",
            "--interval",
            "prediction",
            "--level",
            "0.9",
            "--keep",
            "id",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let summary = String::from_utf8(o.stdout).unwrap();
    assert!(
        summary.contains("5 rows") && summary.contains("4 predicted"),
        "{summary}"
    );
    let text = std::fs::read_to_string(dir.path().join("out.csv")).unwrap();
    assert!(
        text.starts_with("id,y_Pred,y_Resid,y_StdErr,y_Lower,y_Upper\n11,"),
        "{text}"
    );

    let sink = MemorySink::new();
    let options = PredictOptions::default()
        .compute_residuals(true)
        .compute_std_errors(true)
        .interval(Interval::Prediction)
        .confidence_level(0.9);
    rx_predict_default(
        &model,
        &TextData::new(dir.path().join("new.csv")),
        &sink,
        &options,
    )
    .unwrap();
    let want = sink.concat().unwrap().unwrap();
    for name in ["y_Pred", "y_Resid", "y_StdErr", "y_Lower", "y_Upper"] {
        let got = csv_column(&text, name);
        let want: Vec<Option<f64>> = want
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<revoscale::arrow::array::Float64Array>()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(
            got.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>(),
            want.iter().map(|v| v.map(f64::to_bits)).collect::<Vec<_>>(),
            "{name}"
        );
    }
    // Row 12 has no x: kept, with missing predictions; row 13 has no y: no residual.
    assert_eq!(csv_column(&text, "y_Pred")[1], None);
    assert_eq!(csv_column(&text, "y_Resid")[2], None);
    assert!(csv_column(&text, "y_Pred")[2].is_some());
}

#[test]
fn dash_writes_the_same_csv_to_stdout() {
    let (dir, _) = setup();
    let o = rx(
        &[
            "predict",
            "m.json",
            "new.csv",
            "file.csv",
            "--std-errors",
            "--model-vars",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let file = std::fs::read_to_string(dir.path().join("file.csv")).unwrap();
    for rows in ["1", "2", "100"] {
        let o = rx(
            &[
                "predict",
                "m.json",
                "new.csv",
                "-",
                "--std-errors",
                "--model-vars",
                "--rows-per-read",
                rows,
            ],
            dir.path(),
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(
            String::from_utf8(o.stdout).unwrap(),
            file,
            "rows per read {rows}"
        );
    }
    assert!(file.starts_with("y,x,g,y_Pred,y_StdErr\n"), "{file}");
    // Nothing but the data on stdout, and no scratch files left in the folder.
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 5, "train.csv new.csv m.rxm m.json file.csv");
}

#[test]
fn link_type_names_and_json_summary() {
    let (dir, _) = setup();
    let o = rx(
        &[
            "predict",
            "m.rxm",
            "new.csv",
            "out.xdf",
            "--type",
            "link",
            "--pred-name",
            "fitted",
            "--json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"], 5);
    assert_eq!(v["columns"], serde_json::json!(["fitted"]));
    let o = rx(&["info", "out.xdf", "--json"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["num_rows"], 5);
}

#[test]
fn bad_input_gives_one_line_errors() {
    let (dir, _) = setup();
    std::fs::write(dir.path().join("bad.csv"), "x,g\n1.0,a\n2.0,z\n").unwrap();
    assert_clean_error(
        &rx(&["predict", "m.rxm", "bad.csv", "-"], dir.path()),
        &["bad.csv", "row 2", "'g'", "'z'"],
    );
    std::fs::write(dir.path().join("nog.csv"), "x\n1.0\n").unwrap();
    assert_clean_error(
        &rx(&["predict", "m.rxm", "nog.csv", "o.csv"], dir.path()),
        &["'g'", "nog.csv"],
    );
    std::fs::write(dir.path().join("junk.rxm"), "not a model").unwrap();
    assert_clean_error(
        &rx(&["predict", "junk.rxm", "new.csv", "o.csv"], dir.path()),
        &["junk.rxm", "not a revoscale model"],
    );
    assert_clean_error(
        &rx(&["predict", "none.rxm", "new.csv", "o.csv"], dir.path()),
        &["none.rxm"],
    );
    assert_clean_error(
        &rx(
            &[
                "predict",
                "m.rxm",
                "new.csv",
                "o.csv",
                "--interval",
                "confidence",
                "--level",
                "95",
            ],
            dir.path(),
        ),
        &["confidence_level"],
    );
    let ok = rx(&["predict", "m.rxm", "new.csv", "o.csv"], dir.path());
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert_clean_error(
        &rx(&["predict", "m.rxm", "new.csv", "o.csv"], dir.path()),
        &["o.csv", "exists", "--overwrite"],
    );
    let again = rx(
        &["predict", "m.rxm", "new.csv", "o.csv", "--overwrite"],
        dir.path(),
    );
    assert!(again.status.success(), "{}", stderr(&again));
}

#[test]
fn a_model_saved_by_rx_linmod_predicts() {
    let (dir, _) = setup();
    let o = rx(
        &[
            "linmod",
            "train.csv",
            "-f",
            "y ~ x + g",
            "--save",
            "cli.rxm",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let from_cli = rx(
        &["predict", "cli.rxm", "new.csv", "-", "--std-errors"],
        dir.path(),
    );
    assert!(from_cli.status.success(), "{}", stderr(&from_cli));
    let from_lib = rx(
        &["predict", "m.rxm", "new.csv", "-", "--std-errors"],
        dir.path(),
    );
    assert_eq!(
        String::from_utf8(from_cli.stdout).unwrap(),
        String::from_utf8(from_lib.stdout).unwrap()
    );
}
