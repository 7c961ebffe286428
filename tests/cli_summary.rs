//! `rx summary`, `rx cube` and `rx crosstabs` as a user runs them: JSON keys, R-like tables, the
//! cube written to a file, and one-line errors with a non-zero exit.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

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

fn json_of(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).expect("one JSON object")
}

const CSV: &str = "y,g,h,n,w\n\
1.5,a,u,1,1\n\
2.5,b,u,2,2\n\
NA,a,v,1,1\n\
4.5,a,v,3,1\n\
3.5,b,u,2,0\n";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("d.csv"), CSV).unwrap();
    dir
}

#[test]
fn summary_json_has_the_documented_keys() {
    let dir = setup();
    let v = json_of(&rx(
        &["summary", "d.csv", "--formula", "~ y + g", "--json"],
        dir.path(),
    ));
    let y = &v["numeric"][0];
    assert_eq!(y["name"], "y");
    assert_eq!(y["mean"], 3.0);
    assert_eq!(y["min"], 1.5);
    assert_eq!(y["max"], 4.5);
    assert_eq!(y["sum"], 12.0);
    assert_eq!(y["valid_obs"], 4);
    assert_eq!(y["missing_obs"], 1);
    let sd = y["std_dev"].as_f64().unwrap();
    assert!((sd - (5.0f64 / 3.0).sqrt()).abs() < 1e-15, "{sd}");
    assert_eq!(v["factors"][0]["name"], "g");
    assert_eq!(v["factors"][0]["counts"], json!({"a": 3, "b": 2}));
    // The default formula is every column.
    let v = json_of(&rx(&["summary", "d.csv", "--json"], dir.path()));
    assert_eq!(v["numeric"].as_array().unwrap().len(), 3);
    assert_eq!(v["factors"].as_array().unwrap().len(), 2);
}

#[test]
fn summary_tables_and_categories() {
    let dir = setup();
    let text = ok(&rx(&["summary", "d.csv", "-f", "~ y + h"], dir.path()));
    assert!(
        text.contains("Summary Statistics Results for: ~ y + h"),
        "{text}"
    );
    assert!(
        text.contains(" Name Mean   StdDev Min Max ValidObs MissingObs"),
        "{text}"
    );
    assert!(text.contains("Category Counts for h"), "{text}");
    let text = ok(&rx(
        &[
            "summary",
            "d.csv",
            "-f",
            "y ~ g",
            "--fweights",
            "w",
            "--stats",
            "Mean,ValidObs,Sum",
        ],
        dir.path(),
    ));
    // a: 1.5 (w 1), 4.5 (w 1); b: 2.5 (w 2), 3.5 (w 0, not counted).
    assert!(
        text.contains("Statistics by category (2 categories):"),
        "{text}"
    );
    assert!(text.contains(" Category  g Means ValidObs Sum"), "{text}");
    assert!(text.contains(" y for g=a a     3        2   6"), "{text}");
    assert!(text.contains(" y for g=b b   2.5        2   5"), "{text}");
}

#[test]
fn crosstabs_with_chi_square() {
    let dir = setup();
    let v = json_of(&rx(
        &["crosstabs", "d.csv", "-f", "~ g:h", "--chisq", "--json"],
        dir.path(),
    ));
    let t = &v["tables"][0];
    assert_eq!(t["levels"], json!([["a", "b"], ["u", "v"]]));
    assert_eq!(t["counts"], json!([1, 2, 2, 0]));
    // Table [[1, 2], [2, 0]]: expected [[1.8, 1.2], [1.2, 0.8]] → X² = 20/9.
    let x2 = t["chisq"][0]["statistic"].as_f64().unwrap();
    assert!((x2 - 20.0 / 9.0).abs() < 1e-13, "{x2}");
    assert_eq!(t["chisq"][0]["df"], 1);
    let p = t["chisq"][0]["p_value"].as_f64().unwrap();
    assert!(p > 0.13 && p < 0.14, "{p}");
    let text = ok(&rx(
        &["crosstabs", "d.csv", "-f", "y ~ g:h", "--means"],
        dir.path(),
    ));
    assert!(text.contains("y (means):"), "{text}");
    assert!(text.contains(" g   u   v"), "{text}");
}

#[test]
fn cube_json_and_output_file() {
    let dir = setup();
    let v = json_of(&rx(
        &["cube", "d.csv", "-f", "y ~ g:F(n)", "--json"],
        dir.path(),
    ));
    assert_eq!(v["factors"], json!(["g", "F(n)"]));
    assert_eq!(
        v["cells"][0],
        json!({"g": "a", "F(n)": "1", "y": 1.5, "Counts": 1})
    );
    assert_eq!(v["cells"].as_array().unwrap().len(), 6);
    let o = rx(
        &[
            "cube",
            "d.csv",
            "-f",
            "y ~ g:F(n)",
            "--sums",
            "--remove-zero-counts",
            "--out",
            "cube.csv",
        ],
        dir.path(),
    );
    let text = ok(&o);
    assert!(text.contains("Statistic: y sums"), "{text}");
    let csv = std::fs::read_to_string(dir.path().join("cube.csv")).unwrap();
    assert_eq!(
        csv, "g,F_n,y,Counts\na,1,1.5,1\nb,2,6.0,2\na,3,4.5,1\n",
        "{csv}"
    );
}

#[test]
fn errors_are_one_line() {
    let dir = setup();
    for (args, want) in [
        (
            vec!["summary", "d.csv", "-f", "~ y + zz"],
            "unknown column 'zz'",
        ),
        (vec!["cube", "d.csv", "-f", "y ~ n"], "use F(n)"),
        (
            vec!["crosstabs", "d.csv", "-f", "~ g", "--chisq"],
            "two factors",
        ),
        (vec!["summary", "nope.csv"], "nope.csv"),
    ] {
        let o = rx(&args, dir.path());
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{args:?} succeeded");
        assert!(e.starts_with("rx: error: "), "{e}");
        assert_eq!(e.trim_end().lines().count(), 1, "{e}");
        assert!(e.contains(want), "{want:?} not in {e}");
    }
}
