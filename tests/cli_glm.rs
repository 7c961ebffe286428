//! `rx logit` and `rx glm` as a user runs them: the JSON keys (those of `rx linmod --json` with
//! `z_value` for `t_value`, plus deviance, null deviance, AIC, iterations and convergence),
//! agreement with R's glm on the golden data, the R-like table, separation as a warning, a
//! saved model that `rx predict` scores with its offset, and one-line errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn golden() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rx-models/tests/data/golden")
}

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

fn json(o: &Output) -> Value {
    let out = ok(o);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A one-line error on stderr, a non-zero exit, no panic.
fn assert_clean_error(o: &Output, must_contain: &[&str]) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure: {e}");
    assert!(e.starts_with("rx: error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert_eq!(e.trim_end().lines().count(), 1, "one line: {e}");
    for m in must_contain {
        assert!(e.contains(m), "'{m}' not in: {e}");
    }
}

#[track_caller]
fn close(what: &str, got: &Value, want: f64) {
    let g = got
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {got} is not a number"));
    assert!(
        (g - want).abs() <= 1e-8 * want.abs(),
        "{what}: {g} vs R's {want}"
    );
}

#[test]
fn glm_json_has_the_issue_keys_and_agrees_with_r() {
    let dir = golden();
    // R: glm(Claims ~ District + Group + Age + offset(log(Holders)), poisson, Insurance).
    let v = json(&rx(
        &[
            "glm",
            "insurance.csv",
            "--formula",
            "Claims ~ District + Group + Age + offset(log(Holders))",
            "--family",
            "poisson",
            "--json",
            "--cov-coef",
        ],
        &dir,
    ));
    for key in [
        "coefficients",
        "deviance",
        "null_deviance",
        "aic",
        "iterations",
        "converged",
        "df_residual",
        "df_null",
        "dispersion",
        "n_valid",
        "n_missing",
        "condition_number",
        "cov_coef",
        "cov_coef_terms",
        "family",
        "link",
        "warnings",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert!(v.get("model").is_none());
    let coefs = v["coefficients"].as_array().unwrap();
    for key in [
        "term",
        "estimate",
        "std_error",
        "z_value",
        "p_value",
        "aliased",
    ] {
        assert!(coefs[0].get(key).is_some(), "coefficient lacks {key}");
    }
    assert!(coefs[0].get("t_value").is_none());
    assert_eq!(coefs[0]["term"], "(Intercept)");
    close("deviance", &v["deviance"], 51.42003274905353);
    close("null deviance", &v["null_deviance"], 236.2589588788608);
    close("aic", &v["aic"], 388.7415539984868);
    assert_eq!(v["iterations"], 4);
    assert_eq!(v["converged"], true);
    assert_eq!(v["df_residual"], 54.0);
    assert_eq!(v["family"], "poisson");
    assert_eq!(v["link"], "log");
    // The dropped reference levels are listed, as revoscalepy lists them.
    assert_eq!(
        coefs.iter().filter(|c| c["aliased"] == true).count(),
        3,
        "{coefs:?}"
    );
}

#[test]
fn logit_json_table_and_weights() {
    let dir = golden();
    // R: glm(am ~ wt + hp, binomial, mtcars): deviance 10.0591104722670, 8 iterations.
    let v = json(&rx(
        &["logit", "mtcars.csv", "-f", "am ~ wt + hp", "--json"],
        &dir,
    ));
    close("deviance", &v["deviance"], 10.059110472266989);
    close("null deviance", &v["null_deviance"], 43.22973327685781);
    close("wt", &v["coefficients"][1]["estimate"], -8.083475182444635);
    assert_eq!(v["iterations"], 8);
    assert_eq!(v["family"], "binomial");
    // Frequency weights repeat rows: R's fit on the repeated data.
    let v = json(&rx(
        &[
            "logit",
            "mtcars.csv",
            "-f",
            "am ~ wt + hp",
            "--fweights",
            "fw",
            "--json",
        ],
        &dir,
    ));
    close("fweights deviance", &v["deviance"], 15.107707031464882);
    assert_eq!(v["df_residual"], 55.0);
    let table = ok(&rx(
        &[
            "logit",
            "mtcars.csv",
            "-f",
            "am ~ wt + hp",
            "--pweights",
            "w",
        ],
        &dir,
    ));
    for needle in [
        "Coefficients:",
        "z value",
        "Pr(>|z|)",
        "Null deviance:",
        "Residual deviance:",
        "AIC:",
        "Number of Fisher Scoring iterations:",
    ] {
        assert!(table.contains(needle), "{needle:?} not in {table}");
    }
}

#[test]
fn glm_families_links_and_tweedie_powers() {
    let dir = golden();
    // R: glm(mpg ~ wt + hp, Gamma(link = "log"), mtcars) is glm_mtcars_gamma_log's sibling;
    // here inverse.gaussian(log): deviance 0.0217342280760377, 5 iterations.
    let v = json(&rx(
        &[
            "glm",
            "mtcars.csv",
            "-f",
            "mpg ~ wt + hp",
            "--family",
            "inverse.gaussian",
            "--link",
            "log",
            "--json",
        ],
        &dir,
    ));
    close("deviance", &v["deviance"], 0.0217342280760377);
    close("dispersion", &v["dispersion"], 0.0008005881536240488);
    assert_eq!(v["iterations"], 5);
    // statmod::tweedie(var.power = 1.5, link.power = 0): AIC is NA.
    let v = json(&rx(
        &[
            "glm",
            "insectsprays.csv",
            "-f",
            "count ~ spray",
            "--family",
            "tweedie",
            "--var-power",
            "1.5",
            "--link-power",
            "0",
            "--json",
        ],
        &dir,
    ));
    close("tweedie deviance", &v["deviance"], 44.45866877802908);
    assert!(v["aic"].is_null());
    assert_eq!(v["link"], "mu^0");
    assert_eq!(v["var_power"], 1.5);
    // A gaussian glm with the identity link is least squares: one iteration to the answer.
    let v = json(&rx(
        &[
            "glm",
            "mtcars.csv",
            "-f",
            "mpg ~ wt + hp",
            "--family",
            "gaussian",
            "--json",
            "--rows-per-read",
            "5",
        ],
        &dir,
    ));
    close("gaussian deviance", &v["deviance"], 195.04775474146604);
    close("gaussian aic", &v["aic"], 156.6523388256413);
    assert_eq!(v["iterations"], 2);
}

#[test]
fn separation_is_a_warning_not_a_failure() {
    let dir = golden();
    let o = rx(
        &[
            "logit",
            "iris.csv",
            "-f",
            "is_setosa ~ Petal.Length",
            "--json",
        ],
        &dir,
    );
    let v = json(&o);
    assert_eq!(v["converged"], false);
    assert_eq!(v["iterations"], 25);
    let warnings: Vec<&str> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert!(
        warnings.contains(&"fitted probabilities numerically 0 or 1 occurred"),
        "{warnings:?}"
    );
    for c in v["coefficients"].as_array().unwrap() {
        assert!(
            c["estimate"].is_number() && c["std_error"].is_number(),
            "{c}"
        );
    }
    let table = ok(&rx(
        &["logit", "iris.csv", "-f", "is_setosa ~ Petal.Length"],
        &dir,
    ));
    assert!(
        table.contains("Warning: fitted probabilities numerically 0 or 1 occurred"),
        "{table}"
    );
}

#[test]
fn saved_glm_predicts_with_its_offset() {
    let dir = golden();
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("claims.json");
    ok(&rx(
        &[
            "glm",
            "insurance.csv",
            "-f",
            "Claims ~ District + Group + Age + offset(log(Holders))",
            "--family",
            "poisson",
            "--save",
            model.to_str().unwrap(),
        ],
        &dir,
    ));
    let out = ok(&rx(
        &["predict", model.to_str().unwrap(), "insurance.csv", "-"],
        &dir,
    ));
    let preds: Vec<f64> = out.lines().skip(1).map(|l| l.parse().unwrap()).collect();
    assert_eq!(preds.len(), 64);
    // R: predict(fit, type = "response") on the first rows (offset included).
    for (got, want) in
        preds
            .iter()
            .zip([31.863584647969105, 35.275867104918596, 28.180801820155505])
    {
        assert!((got - want).abs() <= 1e-9 * want, "{got} vs R's {want}");
    }
}

#[test]
fn bad_input_is_a_one_line_error() {
    let dir = golden();
    assert_clean_error(
        &rx(
            &["glm", "mtcars.csv", "-f", "mpg ~ wt", "--family", "quasi"],
            &dir,
        ),
        &["unknown family 'quasi'"],
    );
    assert_clean_error(
        &rx(
            &[
                "glm",
                "mtcars.csv",
                "-f",
                "mpg ~ wt",
                "--family",
                "Gamma",
                "--link",
                "loggy",
            ],
            &dir,
        ),
        &["unknown link 'loggy'"],
    );
    assert_clean_error(
        &rx(
            &[
                "glm",
                "mtcars.csv",
                "-f",
                "mpg ~ wt",
                "--family",
                "poisson",
                "--var-power",
                "1.5",
            ],
            &dir,
        ),
        &["tweedie"],
    );
    assert_clean_error(
        &rx(&["logit", "mtcars.csv", "-f", "mpg ~ wt"], &dir),
        &["outside 0..1"],
    );
    assert_clean_error(
        &rx(
            &["logit", "mtcars.csv", "-f", "am ~ wt", "--offset", "nope"],
            &dir,
        ),
        &["unknown column 'nope'"],
    );
    assert_clean_error(
        &rx(&["logit", "mtcars.csv", "-f", "am ~ wt + nope"], &dir),
        &["nope"],
    );
    // A formula error points at the place on a second line (as every rx command shows them).
    let o = rx(
        &["glm", "mtcars.csv", "-f", "mpg ~ wt +", "--family", "Gamma"],
        &dir,
    );
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !e.contains("panicked"), "{e}");
    assert!(
        e.starts_with("rx: error: formula error at position 11"),
        "{e}"
    );
}
