//! Predictions of `rx_lin_mod` models against R's `predict.lm` on every golden case of lm.json
//! (both contrast codings): fits, standard errors, confidence and prediction limits at 0.95, and
//! residuals, on every row of the data (rows with a missing predictor are missing, as R's
//! `na.exclude`), read in chunks of 10 rows.

use rx_predict::{Interval, Model, PredictOptions};

use crate::golden::{close_all, codings, col, data, fit_lm, json_col, lm_cases, max_rel, predict};

/// Relative agreement with R asked of every value.
const REL: f64 = 1e-9;

#[test]
fn lm_predictions_match_r() {
    let mut checked = 0;
    for case in lm_cases() {
        let name = case["name"].as_str().unwrap();
        let y = case["formula"]
            .as_str()
            .unwrap()
            .split('~')
            .next()
            .unwrap()
            .trim()
            .to_string();
        let p = &case["predictions"];
        let source = data(case["data"].as_str().unwrap());
        for drop_first in codings(&case) {
            let what = format!("{name} (drop_first = {drop_first})");
            let model = Model::from(fit_lm(&case, drop_first));
            let conf = PredictOptions::default()
                .compute_residuals(true)
                .compute_std_errors(true)
                .interval(Interval::Confidence)
                .rows_per_read(10);
            let out = predict(&model, &source, &conf);
            let fit = col(&out, &format!("{y}_Pred"));
            close_all(&format!("{what} fit"), &fit, &json_col(&p["fit"]), REL);
            close_all(
                &format!("{what} se_fit"),
                &col(&out, &format!("{y}_StdErr")),
                &json_col(&p["se_fit"]),
                REL,
            );
            close_all(
                &format!("{what} conf_lwr"),
                &col(&out, &format!("{y}_Lower")),
                &json_col(&p["conf_lwr"]),
                REL,
            );
            close_all(
                &format!("{what} conf_upr"),
                &col(&out, &format!("{y}_Upper")),
                &json_col(&p["conf_upr"]),
                REL,
            );
            // Residuals are differences of nearby numbers: compare them on the scale of the fit.
            let resid = col(&out, &format!("{y}_Resid"));
            let want = json_col(&p["residuals"]);
            assert_eq!(
                resid.iter().map(Option::is_some).collect::<Vec<_>>(),
                want.iter().map(Option::is_some).collect::<Vec<_>>(),
                "{what}: missing residuals"
            );
            for (i, ((g, w), f)) in resid.iter().zip(&want).zip(&fit).enumerate() {
                if let (Some(g), Some(w), Some(f)) = (g, w, f) {
                    assert!(
                        (g - w).abs() <= REL * w.abs().max(f.abs()),
                        "{what} residual row {}: got {g:e}, R gives {w:e}",
                        i + 1
                    );
                }
            }
            let pred = predict(
                &model,
                &source,
                &conf
                    .clone()
                    .interval(Interval::Prediction)
                    .compute_residuals(false),
            );
            close_all(
                &format!("{what} pred_lwr"),
                &col(&pred, &format!("{y}_Lower")),
                &json_col(&p["pred_lwr"]),
                REL,
            );
            close_all(
                &format!("{what} pred_upr"),
                &col(&pred, &format!("{y}_Upper")),
                &json_col(&p["pred_upr"]),
                REL,
            );
            eprintln!(
                "{what}: max relative error fit {:.1e}, se {:.1e}, conf {:.1e}, pred {:.1e}",
                max_rel(&fit, &json_col(&p["fit"])),
                max_rel(&col(&out, &format!("{y}_StdErr")), &json_col(&p["se_fit"])),
                max_rel(&col(&out, &format!("{y}_Lower")), &json_col(&p["conf_lwr"])).max(max_rel(
                    &col(&out, &format!("{y}_Upper")),
                    &json_col(&p["conf_upr"])
                )),
                max_rel(
                    &col(&pred, &format!("{y}_Lower")),
                    &json_col(&p["pred_lwr"])
                )
                .max(max_rel(
                    &col(&pred, &format!("{y}_Upper")),
                    &json_col(&p["pred_upr"])
                )),
            );
            checked += 1;
        }
    }
    // 16 cases, 12 of them with factors fitted in both codings.
    assert!(checked >= 16, "only {checked} fits checked");
}
