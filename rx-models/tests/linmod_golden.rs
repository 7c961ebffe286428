//! `rx_lin_mod` against R's `lm` on the golden cases (tests/data/golden/lm.json): coefficients,
//! standard errors, t and p values, aliased and dropped coefficients, σ, R², adjusted R², the F
//! test, degrees of freedom and the coefficient covariance, with both contrast codings.

use rx_core::RxLocalSeq;
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use serde_json::Value;

use crate::golden::{close, data, opt, read_json};

fn options(case: &Value, drop_first: bool) -> LinModOptions {
    let mut o = LinModOptions::default()
        .drop_first(drop_first)
        .cov_coef(true);
    if let Some(w) = case["weights"].as_object() {
        let col = w["column"].as_str().unwrap();
        o = match w["type"].as_str().unwrap() {
            "pweights" => o.pweights(col),
            _ => o.fweights(col),
        };
    }
    o
}

#[test]
fn lm_matches_r() {
    let lm = read_json("lm.json");
    let mut checked = 0;
    for case in lm["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let formula = case["formula"].as_str().unwrap();
        let source = data(case["data"].as_str().unwrap());
        for v in case["variants"].as_array().unwrap() {
            let drop_first = v["drop_first"].as_bool().unwrap_or(false);
            let what = format!("{name} (drop_first = {drop_first})");
            let fit = rx_lin_mod(formula, &source, &options(case, drop_first), &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            // Every R coefficient, by revoscalepy name.
            for c in v["coefficients"].as_array().unwrap() {
                let rx_name = c["rx_name"].as_str().unwrap();
                let ours = fit
                    .coefficients
                    .iter()
                    .find(|o| o.term == rx_name)
                    .unwrap_or_else(|| {
                        panic!(
                            "{what}: no coefficient {rx_name}; have {:?}",
                            fit.coefficients.iter().map(|c| &c.term).collect::<Vec<_>>()
                        )
                    });
                if c["aliased"].as_bool().unwrap() {
                    assert!(ours.aliased, "{what}: {rx_name} should be aliased");
                    continue;
                }
                assert!(!ours.aliased, "{what}: {rx_name} reported aliased");
                close(
                    &format!("{what} {rx_name} estimate"),
                    ours.estimate.unwrap(),
                    opt(&c["estimate"]).unwrap(),
                    1e-9,
                );
                close(
                    &format!("{what} {rx_name} std error"),
                    ours.std_error.unwrap(),
                    opt(&c["std_error"]).unwrap(),
                    1e-9,
                );
                close(
                    &format!("{what} {rx_name} t"),
                    ours.t_value.unwrap(),
                    opt(&c["statistic"]).unwrap(),
                    1e-9,
                );
                close(
                    &format!("{what} {rx_name} p"),
                    ours.p_value.unwrap(),
                    opt(&c["p_value"]).unwrap(),
                    1e-8,
                );
            }
            // Dropped reference levels are listed, aliased.
            for d in v["dropped"].as_array().unwrap() {
                let rx_name = d["rx_name"].as_str().unwrap();
                let ours = fit.coefficients.iter().find(|o| o.term == rx_name);
                assert!(
                    ours.is_some_and(|o| o.aliased),
                    "{what}: dropped level {rx_name} not listed as aliased"
                );
            }
            // The full listing has R's order of level combinations.
            let full: Vec<&str> = v["rx_full"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["rx_name"].as_str().unwrap())
                .collect();
            let ours: Vec<&str> = fit.coefficients.iter().map(|c| c.term.as_str()).collect();
            assert_eq!(ours, full, "{what}: coefficient order");
            close(
                &format!("{what} sigma"),
                fit.sigma,
                v["sigma"].as_f64().unwrap(),
                1e-9,
            );
            close(
                &format!("{what} r2"),
                fit.r_squared,
                v["r_squared"].as_f64().unwrap(),
                1e-9,
            );
            close(
                &format!("{what} adj r2"),
                fit.adj_r_squared,
                v["adj_r_squared"].as_f64().unwrap(),
                1e-9,
            );
            assert_eq!(
                fit.df_residual,
                v["df_residual"].as_f64().unwrap(),
                "{what}: df residual"
            );
            let fs = &v["fstatistic"];
            if let Some(f) = fs["value"].as_f64() {
                close(&format!("{what} F"), fit.f_statistic.unwrap(), f, 1e-9);
                assert_eq!(
                    fit.df_model,
                    fs["numdf"].as_f64().unwrap(),
                    "{what}: df model"
                );
                close(
                    &format!("{what} F p"),
                    fit.f_p_value.unwrap(),
                    fs["p_value"].as_f64().unwrap(),
                    1e-8,
                );
            }
            assert_eq!(
                fit.n_missing,
                case["n_missing"].as_u64().unwrap(),
                "{what}: n_missing"
            );
            // The covariance of the estimated coefficients.
            let names: Vec<&str> = v["vcov"]["names"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            let r_rx: Vec<(String, bool)> = v["coefficients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["rx_name"].as_str().unwrap().to_string(),
                        c["aliased"].as_bool().unwrap(),
                    )
                })
                .collect();
            assert_eq!(names.len(), r_rx.len());
            let est: Vec<&str> = fit
                .coefficients
                .iter()
                .filter(|c| !c.aliased)
                .map(|c| c.term.as_str())
                .collect();
            let cov = fit.cov_coef.as_ref().unwrap();
            let m = v["vcov"]["matrix"].as_array().unwrap();
            for (i, (ni, ai)) in r_rx.iter().enumerate() {
                for (j, (nj, aj)) in r_rx.iter().enumerate() {
                    if *ai || *aj {
                        continue;
                    }
                    let a = est.iter().position(|e| e == ni).unwrap();
                    let b = est.iter().position(|e| e == nj).unwrap();
                    let want = m[i][j].as_f64().unwrap();
                    let scale = (m[i][i].as_f64().unwrap() * m[j][j].as_f64().unwrap()).sqrt();
                    assert!(
                        (cov[a][b] - want).abs() <= 1e-9 * scale,
                        "{what}: vcov[{ni}, {nj}] {} vs {want}",
                        cov[a][b]
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} variants checked");
}
