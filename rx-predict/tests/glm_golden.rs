//! Predictions of `rx_glm` models against R's `predict.glm` on every golden case of glm.json
//! (both contrast codings): the linear predictor and its standard error (`type = "link"`), the
//! mean and its delta-method standard error (`type = "response"`), offsets included, on every row
//! of the data; confidence intervals formed on the link scale; and the same bits from the
//! real-time scorer.

use rx_core::RxLocalSeq;
use rx_models::family::{Family, Link};
use rx_models::glm::{GlmOptions, rx_glm};
use rx_predict::{Interval, Model, PredictOptions, PredictType, Scorer};
use serde_json::Value as Json;

use crate::golden::{
    all_rows, close_all, codings, col, data, json_col, max_rel, predict, read_json, row_values,
    texts,
};

fn family_of(case: &Json) -> Family {
    match case["family"].as_str().unwrap() {
        "Tweedie" => {
            let extra = &case["family_extra"];
            Family::tweedie(
                extra["var_power"].as_f64().unwrap(),
                extra["link_power"].as_f64(),
            )
        }
        name => Family::from_name(name).unwrap_or_else(|| panic!("family {name}")),
    }
}

/// `rx_glm` of a golden glm case with the given coding.
pub fn fit_glm(case: &Json, drop_first: bool) -> Model {
    let link = Link::from_name(case["link"].as_str().unwrap()).unwrap();
    let mut o = GlmOptions::new(family_of(case))
        .link(link)
        .drop_first(drop_first);
    if let Some(w) = case["weights"].as_object() {
        let col = w["column"].as_str().unwrap();
        o = match w["type"].as_str().unwrap() {
            "pweights" => o.pweights(col),
            _ => o.fweights(col),
        };
    }
    let source = data(case["data"].as_str().unwrap());
    let fit = rx_glm(case["formula"].as_str().unwrap(), &source, &o, &RxLocalSeq)
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]));
    Model::from(fit)
}

fn glm_cases() -> Vec<Json> {
    read_json("glm.json")["cases"].as_array().unwrap().clone()
}

fn response_name(case: &Json) -> String {
    case["formula"]
        .as_str()
        .unwrap()
        .split('~')
        .next()
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn glm_predictions_match_r() {
    let mut checked = 0;
    for case in glm_cases() {
        let name = case["name"].as_str().unwrap();
        // R's last iterate of a separated fit has standard errors of 5e4 and fitted values that
        // are 0 or 1 to rounding: agreement there is to 1e-8 (the fit itself agrees to 4e-10).
        let rel = if case["expect"] == "separation" {
            1e-8
        } else {
            1e-9
        };
        let y = response_name(&case);
        let p = &case["predictions"];
        let source = data(case["data"].as_str().unwrap());
        for drop_first in codings(&case) {
            let what = format!("{name} (drop_first = {drop_first})");
            let model = fit_glm(&case, drop_first);
            let o = PredictOptions::default()
                .compute_std_errors(true)
                .rows_per_read(10);
            let link = predict(&model, &source, &o.clone().predict_type(PredictType::Link));
            let resp = predict(&model, &source, &o);
            let pairs = [
                (col(&link, &format!("{y}_Pred")), "link_fit"),
                (col(&link, &format!("{y}_StdErr")), "link_se_fit"),
                (col(&resp, &format!("{y}_Pred")), "response_fit"),
                (col(&resp, &format!("{y}_StdErr")), "response_se_fit"),
            ];
            let mut worst = Vec::new();
            for (got, key) in &pairs {
                let want = json_col(&p[*key]);
                close_all(&format!("{what} {key}"), got, &want, rel);
                worst.push(format!("{key} {:.1e}", max_rel(got, &want)));
            }
            eprintln!("{what}: max relative error {}", worst.join(", "));
            checked += 1;
        }
    }
    assert!(checked >= 18, "only {checked} fits checked");
}

#[test]
fn glm_intervals_are_formed_on_the_link_scale() {
    for case in glm_cases() {
        let name = case["name"].as_str().unwrap();
        let y = response_name(&case);
        let source = data(case["data"].as_str().unwrap());
        let model = fit_glm(&case, true);
        let fixed = !family_of(&case).estimates_dispersion();
        let q = if fixed {
            rx_models::dist::qnorm(0.05)
        } else {
            rx_models::dist::qt(0.05, model.predictor().unwrap().df_residual)
        };
        let o = PredictOptions::default()
            .compute_std_errors(true)
            .interval(Interval::Confidence)
            .confidence_level(0.9);
        let link = predict(&model, &source, &o.clone().predict_type(PredictType::Link));
        let resp = predict(&model, &source, &o);
        let (eta, se) = (
            col(&link, &format!("{y}_Pred")),
            col(&link, &format!("{y}_StdErr")),
        );
        let g = model.predictor().unwrap().link;
        let a: Vec<Option<f64>> = (0..eta.len()).map(|r| Some(eta[r]? + q * se[r]?)).collect();
        let b: Vec<Option<f64>> = (0..eta.len()).map(|r| Some(eta[r]? - q * se[r]?)).collect();
        close_all(
            &format!("{name} link lower"),
            &col(&link, &format!("{y}_Lower")),
            &a,
            1e-15,
        );
        close_all(
            &format!("{name} link upper"),
            &col(&link, &format!("{y}_Upper")),
            &b,
            1e-15,
        );
        let lo: Vec<Option<f64>> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| Some(g.inverse((*a)?).min(g.inverse((*b)?))))
            .collect();
        let hi: Vec<Option<f64>> = a
            .iter()
            .zip(&b)
            .map(|(a, b)| Some(g.inverse((*a)?).max(g.inverse((*b)?))))
            .collect();
        close_all(
            &format!("{name} response lower"),
            &col(&resp, &format!("{y}_Lower")),
            &lo,
            1e-15,
        );
        close_all(
            &format!("{name} response upper"),
            &col(&resp, &format!("{y}_Upper")),
            &hi,
            1e-15,
        );
        // The mean lies inside its interval.
        let mu = col(&resp, &format!("{y}_Pred"));
        for r in 0..mu.len() {
            if let (Some(m), Some(l), Some(h)) = (mu[r], lo[r], hi[r]) {
                assert!(l <= m && m <= h, "{name} row {r}: {l} <= {m} <= {h}");
            }
        }
    }
}

#[test]
fn glm_prediction_intervals_are_refused() {
    let case = glm_cases()
        .into_iter()
        .find(|c| c["name"] == "glm_mtcars_gamma_log")
        .unwrap();
    let model = fit_glm(&case, true);
    let e = Scorer::with_options(
        &model,
        &PredictOptions::default().interval(Interval::Prediction),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("prediction intervals") && e.contains("confidence"),
        "{e}"
    );
}

#[test]
fn glm_scoring_is_bit_identical_to_the_chunked_path() {
    for case in glm_cases() {
        let name = case["name"].as_str().unwrap();
        let y = response_name(&case);
        let source = data(case["data"].as_str().unwrap());
        let model = fit_glm(&case, false);
        for t in [PredictType::Response, PredictType::Link] {
            let o = PredictOptions::default()
                .compute_std_errors(true)
                .interval(Interval::Confidence)
                .predict_type(t);
            let chunked = predict(&model, &source, &o);
            let scorer = Scorer::with_options(&model, &o).unwrap();
            let rows = all_rows(&source);
            let tx = texts(&rows);
            let cols: Vec<Vec<Option<f64>>> = ["Pred", "StdErr", "Lower", "Upper"]
                .iter()
                .map(|s| col(&chunked, &format!("{y}_{s}")))
                .collect();
            for r in 0..rows.num_rows() {
                let s = scorer.score(&row_values(&rows, r, &tx)).unwrap();
                let got = [s.pred, s.std_err, s.lower, s.upper];
                for (k, (g, c)) in got.iter().zip(&cols).enumerate() {
                    assert_eq!(
                        g.map(f64::to_bits),
                        c[r].map(f64::to_bits),
                        "{name} {t:?} row {r} column {k}"
                    );
                }
            }
        }
    }
}

#[test]
fn glm_models_round_trip() {
    for case in glm_cases() {
        let model = fit_glm(&case, true);
        for format in [rx_predict::Format::Json, rx_predict::Format::Binary] {
            let back = rx_predict::rx_unserialize_model(
                &rx_predict::rx_serialize_model(&model, format).unwrap(),
            )
            .unwrap();
            assert_eq!(back, model, "{} {format:?}", case["name"]);
        }
    }
}

#[test]
fn a_missing_offset_makes_the_prediction_missing() {
    let case = glm_cases()
        .into_iter()
        .find(|c| c["name"] == "glm_insurance_poisson_offset")
        .unwrap();
    let model = fit_glm(&case, true);
    let scorer = Scorer::new(&model).unwrap();
    assert_eq!(scorer.inputs(), ["District", "Group", "Age", "Holders"]);
    let row = |h: rx_predict::Value<'static>| {
        [
            ("District", "D1".into()),
            ("Group", "<1l".into()),
            ("Age", "<25".into()),
            ("Holders", h),
        ]
    };
    assert_eq!(
        scorer.score(&row(rx_predict::Value::Missing)).unwrap().pred,
        None
    );
    // log(0) is not finite: missing, as in the chunked path.
    assert_eq!(scorer.score(&row(0.0.into())).unwrap().pred, None);
    let a = scorer.score(&row(100.0.into())).unwrap().pred.unwrap();
    let b = scorer.score(&row(200.0.into())).unwrap().pred.unwrap();
    // Poisson with log link and offset log(Holders): the mean is proportional to Holders.
    assert!((b / a - 2.0).abs() < 1e-12, "{a} {b}");
}
