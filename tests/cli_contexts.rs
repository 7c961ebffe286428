//! `--context` on the analyses and `rx exec-by`, as a user runs them.

use serde_json::Value;

use crate::common::{ok, rx};

/// 600 rows in blocks of 50: `delay` = 2x (+5 for g = b, +1 per unit of x for g = c).
fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("x,g,delay\n");
    for i in 0..600 {
        let x = (i % 100) as f64 / 10.0;
        let g = ["a", "b", "c"][i % 3];
        let delay = 2.0 * x
            + match g {
                "b" => 5.0,
                "c" => x,
                _ => 0.0,
            }
            + ((i * 7919) % 13) as f64 / 100.0;
        csv.push_str(&format!("{x},{g},{delay}\n"));
    }
    std::fs::write(dir.path().join("f.csv"), csv).unwrap();
    ok(&rx(
        &[
            "import",
            "f.csv",
            "f.xdf",
            "--strings-as-factors",
            "--rows-per-block",
            "50",
        ],
        dir.path(),
    ));
    dir
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn analyses_agree_in_every_context() {
    let dir = setup();
    let fit = |ctx: &str| -> Value {
        let out = ok(&rx(
            &[
                "linmod",
                "f.xdf",
                "-f",
                "delay ~ x + g",
                "--json",
                "--context",
                ctx,
            ],
            dir.path(),
        ));
        serde_json::from_str(&out).unwrap()
    };
    let seq = fit("local");
    for ctx in ["parallel", "parallel:2", "parallel:3"] {
        let par = fit(ctx);
        let (a, b) = (
            seq["coefficients"].as_array().unwrap(),
            par["coefficients"].as_array().unwrap(),
        );
        for (p, q) in a.iter().zip(b) {
            if p["estimate"].is_null() {
                assert!(q["estimate"].is_null());
                continue;
            }
            let (x, y) = (num(&p["estimate"]), num(&q["estimate"]));
            assert!(
                (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                "{ctx}: {x} vs {y}"
            );
        }
        assert_eq!(seq["n_valid"], par["n_valid"]);
    }
    let summary = |ctx: &str| {
        ok(&rx(
            &["summary", "f.xdf", "-f", "~ delay + g", "--context", ctx],
            dir.path(),
        ))
    };
    assert_eq!(summary("local"), summary("parallel:2"));
}

#[test]
fn exec_by_runs_one_analysis_per_key() {
    let dir = setup();
    let out = ok(&rx(
        &[
            "exec-by",
            "f.xdf",
            "--keys",
            "g",
            "--analysis",
            "linmod",
            "-f",
            "delay ~ x",
            "--context",
            "parallel:2",
            "--json",
        ],
        dir.path(),
    ));
    let v: Value = serde_json::from_str(&out).unwrap();
    let parts = v.as_array().unwrap();
    assert_eq!(parts.len(), 3);
    let slopes: Vec<(String, f64)> = parts
        .iter()
        .map(|p| {
            assert_eq!(p["status"], "ok");
            assert_eq!(p[".rxNumRows"], 200);
            let c = p["result"]["coefficients"].as_array().unwrap();
            let x = c.iter().find(|c| c["term"] == "x").unwrap();
            (p["g"].as_str().unwrap().to_string(), num(&x["estimate"]))
        })
        .collect();
    assert_eq!(slopes[0].0, "a");
    assert!((slopes[0].1 - 2.0).abs() < 0.01, "{slopes:?}");
    assert!((slopes[1].1 - 2.0).abs() < 0.01, "{slopes:?}");
    assert!((slopes[2].1 - 3.0).abs() < 0.01, "{slopes:?}");
    // The table form.
    let out = ok(&rx(
        &["exec-by", "f.xdf", "--keys", "g", "-f", "~ delay"],
        dir.path(),
    ));
    assert!(
        out.contains(".rxNumRows") && out.contains("delay: mean"),
        "{out}"
    );
    // A failing partition is reported in its row, not as a failure of the whole run.
    let out = ok(&rx(
        &[
            "exec-by",
            "f.xdf",
            "--keys",
            "g",
            "--analysis",
            "linmod",
            "-f",
            "delay ~ nope",
        ],
        dir.path(),
    ));
    assert!(out.contains("error") && out.contains("nope"), "{out}");
}

#[test]
fn bad_contexts_and_keys_are_clear_errors() {
    let dir = setup();
    let o = rx(
        &["summary", "f.xdf", "-f", "~ x", "--context", "cluster"],
        dir.path(),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unknown compute context 'cluster'"), "{err}");
    let o = rx(
        &["exec-by", "f.xdf", "--keys", "x", "-f", "~ x"],
        dir.path(),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("floating point"), "{err}");
}
