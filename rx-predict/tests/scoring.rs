//! Real-time scoring: one row (by name or by position) and small batches give the same bits as
//! the chunked path, on every golden lm case; bad rows give clear errors.

use arrow::array::RecordBatch;
use rx_predict::{Interval, Model, PredictOptions, Scorer, Value};

use crate::golden::{all_rows, col, data, fit_lm, lm_cases, predict, row_values, texts};

fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

fn check_case(case: &serde_json::Value, options: &PredictOptions) {
    let name = case["name"].as_str().unwrap();
    let y = case["formula"]
        .as_str()
        .unwrap()
        .split('~')
        .next()
        .unwrap()
        .trim()
        .to_string();
    let source = data(case["data"].as_str().unwrap());
    let model = Model::from(fit_lm(case, true));
    let chunked = predict(&model, &source, &options.clone().rows_per_read(7));
    let scorer = Scorer::with_options(&model, options).unwrap();
    let rows: RecordBatch = all_rows(&source);
    let t = texts(&rows);
    let pred = col(&chunked, &format!("{y}_Pred"));
    let se = col(&chunked, &format!("{y}_StdErr"));
    let lo = col(&chunked, &format!("{y}_Lower"));
    let hi = col(&chunked, &format!("{y}_Upper"));
    let batch_scores = scorer.score_rows(&rows).unwrap();
    for r in 0..rows.num_rows() {
        let row = row_values(&rows, r, &t);
        let s = scorer
            .score(&row)
            .unwrap_or_else(|e| panic!("{name} row {r}: {e}"));
        assert_eq!(bits(s.pred), bits(pred[r]), "{name} row {r}: prediction");
        assert_eq!(bits(s.std_err), bits(se[r]), "{name} row {r}: std error");
        assert_eq!(bits(s.lower), bits(lo[r]), "{name} row {r}: lower");
        assert_eq!(bits(s.upper), bits(hi[r]), "{name} row {r}: upper");
        assert_eq!(batch_scores[r], s, "{name} row {r}: score_rows");
        // By position, in the order of inputs().
        let values: Vec<Value<'_>> = scorer
            .inputs()
            .iter()
            .map(|i| row.iter().find(|(n, _)| n == i).unwrap().1)
            .collect();
        assert_eq!(
            scorer.score_values(&values).unwrap(),
            s,
            "{name} row {r}: score_values"
        );
    }
}

#[test]
fn one_row_scoring_is_bit_identical_to_the_chunked_path() {
    let conf = PredictOptions::default()
        .compute_std_errors(true)
        .interval(Interval::Confidence);
    let pred = PredictOptions::default()
        .compute_std_errors(true)
        .interval(Interval::Prediction);
    for case in lm_cases() {
        check_case(&case, &conf);
        check_case(&case, &pred);
    }
}

fn mtcars_factor_model() -> Model {
    let case = lm_cases()
        .into_iter()
        .find(|c| c["name"] == "lm_mtcars_factors")
        .unwrap();
    Model::from(fit_lm(&case, false))
}

#[test]
fn rows_with_a_missing_value_have_no_prediction() {
    let model = mtcars_factor_model();
    let scorer = Scorer::new(&model).unwrap();
    assert_eq!(scorer.inputs(), ["wt", "cyl_f", "am_f"]);
    let s = scorer
        .score(&[
            ("wt", Value::Missing),
            ("cyl_f", "c4".into()),
            ("am_f", "manual".into()),
        ])
        .unwrap();
    assert_eq!(s.pred, None);
    let s = scorer
        .score(&[
            ("wt", f64::NAN.into()),
            ("cyl_f", "c4".into()),
            ("am_f", "manual".into()),
        ])
        .unwrap();
    assert_eq!(s.pred, None, "NaN counts as missing");
    let s = scorer
        .score(&[
            ("am_f", "manual".into()),
            ("wt", 2.5.into()),
            ("cyl_f", "c4".into()),
            ("other", 1.0.into()),
        ])
        .unwrap();
    assert!(s.pred.is_some() && s.std_err.is_none(), "{s:?}");
}

#[test]
fn bad_rows_are_clear_errors() {
    let model = mtcars_factor_model();
    let scorer = Scorer::new(&model).unwrap();
    let e = scorer
        .score(&[
            ("wt", 2.5.into()),
            ("cyl_f", "c5".into()),
            ("am_f", "manual".into()),
        ])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cyl_f") && e.contains("'c5'") && e.contains("c4, c6, c8"),
        "{e}"
    );
    let e = scorer.score(&[("wt", 2.5.into())]).unwrap_err().to_string();
    assert!(e.contains("'cyl_f'") && e.contains("'am_f'"), "{e}");
    let e = scorer
        .score(&[
            ("wt", "heavy".into()),
            ("cyl_f", "c4".into()),
            ("am_f", "manual".into()),
        ])
        .unwrap_err()
        .to_string();
    assert!(e.contains("'wt'") && e.contains("numeric"), "{e}");
    let e = scorer
        .score(&[
            ("wt", 2.5.into()),
            ("cyl_f", 4.0.into()),
            ("am_f", "manual".into()),
        ])
        .unwrap_err()
        .to_string();
    assert!(e.contains("'cyl_f'") && e.contains("factor"), "{e}");
    let e = scorer
        .score_values(&[Value::Num(1.0)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("wt, cyl_f, am_f"), "{e}");
}

#[test]
fn scorer_options_are_checked() {
    let model = mtcars_factor_model();
    for level in [0.0, 1.0, 1.5, f64::NAN] {
        let e = Scorer::with_options(
            &model,
            &PredictOptions::default()
                .interval(Interval::Confidence)
                .confidence_level(level),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("confidence_level"), "{e}");
    }
}

#[test]
fn models_and_scorers_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Model>();
    send_sync::<Scorer>();
    send_sync::<rx_predict::PredictSummary>();
    send_sync::<rx_core::Error>();
}
