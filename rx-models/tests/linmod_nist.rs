//! `rx_lin_mod` on every NIST StRD linear least-squares set: coefficients, their standard errors,
//! the residual standard deviation and R² agree with the certified values to a log relative error
//! of at least 9 (Filip, the degree-10 polynomial: at least 7). The data are the CSVs copied into
//! rx-data/tests/data/nist.

use std::path::PathBuf;

use rx_core::RxLocalSeq;
use rx_data::TextData;
use rx_models::linmod::{LinModOptions, rx_lin_mod};

fn nist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rx-data/tests/data/nist")
}

/// Log relative error (log absolute error when the certified value is 0), capped at 15.
fn lre(got: f64, want: f64) -> f64 {
    let err = if want == 0.0 {
        got.abs()
    } else {
        ((got - want) / want).abs()
    };
    if err == 0.0 {
        15.0
    } else {
        (-err.log10()).min(15.0)
    }
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_str()
        .expect("certified values are strings")
        .parse()
        .expect("a number")
}

const LLS: [&str; 11] = [
    "Norris", "Pontius", "NoInt1", "NoInt2", "Filip", "Longley", "Wampler1", "Wampler2",
    "Wampler3", "Wampler4", "Wampler5",
];

#[test]
fn nist_lls_certified_values() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for name in LLS {
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(nist_dir().join(format!("{name}.json"))).unwrap(),
        )
        .unwrap();
        let mut formula = json["model"].as_str().unwrap().to_string();
        if !json["intercept"].as_bool().unwrap() && !formula.contains("- 1") {
            formula.push_str(" - 1");
        }
        let data = TextData::new(nist_dir().join(format!("{name}.csv")));
        let fit = rx_lin_mod(&formula, &data, &LinModOptions::default(), &RxLocalSeq)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let want_b: Vec<f64> = json["coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect();
        let want_se: Vec<f64> = json["std_errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(num)
            .collect();
        assert_eq!(
            fit.coefficients.len(),
            want_b.len(),
            "{name}: {:?}",
            fit.coefficients
        );
        let mut min_b: f64 = 15.0;
        let mut min_se: f64 = 15.0;
        for (c, (&b, &se)) in fit.coefficients.iter().zip(want_b.iter().zip(&want_se)) {
            assert!(!c.aliased, "{name}: {} reported aliased", c.term);
            min_b = min_b.min(lre(c.estimate.unwrap(), b));
            min_se = min_se.min(lre(c.std_error.unwrap_or(f64::NAN), se));
        }
        let sd = lre(fit.sigma, num(&json["residual_sd"]));
        let r2 = lre(fit.r_squared, num(&json["r_squared"]));
        let need = if name == "Filip" { 7.0 } else { 9.0 };
        report.push(format!(
            "{name:9} coef {min_b:5.1}  se {min_se:5.1}  sd {sd:5.1}  r2 {r2:5.1}  (cond {:.1e}, {} refinement passes)",
            fit.condition_number, fit.refinements
        ));
        for (what, v) in [
            ("coefficients", min_b),
            ("std errors", min_se),
            ("residual sd", sd),
            ("R²", r2),
        ] {
            if v.is_nan() || v < need {
                failures.push(format!("{name}: {what} LRE {v:.2} < {need}"));
            }
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "{}\n{}",
        failures.join("\n"),
        report.join("\n")
    );
}
