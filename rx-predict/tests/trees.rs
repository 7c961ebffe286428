//! Predictions of tree models: output columns per type, save/load bit-identical, errors.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, DictionaryArray, Float64Array};
use arrow::datatypes::{Float64Type, Int32Type};
use arrow::record_batch::RecordBatch;
use rx_core::{RxLocalSeq, RxOptions};
use rx_data::{MemoryData, MemorySink};
use rx_models::tree::{
    BTreesOptions, DForestOptions, DTreeOptions, rx_btrees, rx_dforest, rx_dtree,
};
use rx_predict::{
    Format, Model, PredictOptions, PredictType, rx_predict_default, rx_serialize_model,
    rx_unserialize_model,
};

fn data(n: usize) -> MemoryData {
    let x: Vec<f64> = (0..n).map(|i| (i * 7919 % n) as f64 / n as f64).collect();
    let z: Vec<f64> = (0..n).map(|i| (i * 104729 % n) as f64 / n as f64).collect();
    let y: Vec<f64> = x.iter().map(|&v| if v < 0.5 { 1.0 } else { 3.0 }).collect();
    let c: DictionaryArray<Int32Type> = x
        .iter()
        .zip(&z)
        .map(|(&a, &b)| if a + 0.2 * b > 0.6 { "yes" } else { "no" })
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
        ("z", Arc::new(Float64Array::from(z))),
        ("y", Arc::new(Float64Array::from(y))),
        ("c", Arc::new(c)),
    ])
    .unwrap();
    MemoryData::from_batches(vec![batch]).unwrap()
}

fn predict(model: &Model, source: &MemoryData, options: &PredictOptions) -> RecordBatch {
    let sink = MemorySink::new();
    rx_predict_default(model, source, &sink, options).unwrap();
    sink.concat().unwrap().unwrap()
}

fn opts(t: PredictType) -> PredictOptions {
    let mut o = PredictOptions::default().predict_type(t);
    o.rx = RxOptions::default().rows_per_read(333);
    o
}

#[test]
fn a_regression_tree_predicts_means_and_residuals() {
    let src = data(2000);
    let fit = rx_dtree("y ~ x + z", &src, &DTreeOptions::default(), &RxLocalSeq).unwrap();
    let model = Model::from(fit);
    let out = predict(
        &model,
        &src,
        &opts(PredictType::Response).compute_residuals(true),
    );
    assert_eq!(out.num_rows(), 2000);
    let pred = out
        .column_by_name("y_Pred")
        .unwrap()
        .as_primitive::<Float64Type>();
    let resid = out
        .column_by_name("y_Resid")
        .unwrap()
        .as_primitive::<Float64Type>();
    for i in 0..2000 {
        assert!(pred.value(i) == 1.0 || pred.value(i) == 3.0);
        assert_eq!(resid.value(i), 0.0);
    }
    let e = rx_predict_default(&model, &src, &MemorySink::new(), &opts(PredictType::Prob))
        .unwrap_err()
        .to_string();
    assert!(e.contains("classification"), "{e}");
}

#[test]
fn class_models_write_labels_and_probabilities_and_reload_bit_for_bit() {
    let src = data(3000);
    let models: Vec<Model> = vec![
        rx_dtree("c ~ x + z", &src, &DTreeOptions::default(), &RxLocalSeq)
            .unwrap()
            .into(),
        rx_dforest(
            "c ~ x + z",
            &src,
            &DForestOptions {
                n_tree: 5,
                ..DForestOptions::default()
            },
            &RxLocalSeq,
        )
        .unwrap()
        .into(),
        rx_btrees(
            "c ~ x + z",
            &src,
            &BTreesOptions {
                n_tree: 20,
                max_depth: 3,
                ..BTreesOptions::default()
            },
            &RxLocalSeq,
        )
        .unwrap()
        .into(),
    ];
    for model in &models {
        let what = model.function_name();
        let class = predict(model, &src, &opts(PredictType::Class));
        let labels = class.column_by_name("c_Pred").unwrap();
        let labels = labels.as_dictionary::<Int32Type>();
        let levels = labels.values().as_string::<i32>();
        let truth = src.batches()[0].column_by_name("c").unwrap().clone();
        let truth = truth.as_dictionary::<Int32Type>();
        let tv = truth.values().as_string::<i32>();
        let mut right = 0;
        for i in 0..labels.len() {
            let a = levels.value(labels.keys().value(i) as usize);
            let b = tv.value(truth.keys().value(i) as usize);
            right += usize::from(a == b);
        }
        assert!(
            right as f64 / 3000.0 > 0.93,
            "{what}: {right} of 3000 right"
        );
        let probs = predict(model, &src, &opts(PredictType::Prob));
        let yes = probs
            .column_by_name("c_yes_Prob")
            .unwrap()
            .as_primitive::<Float64Type>();
        let no = probs
            .column_by_name("c_no_Prob")
            .unwrap()
            .as_primitive::<Float64Type>();
        for i in 0..3000 {
            assert!((yes.value(i) + no.value(i) - 1.0).abs() < 1e-12, "{what}");
        }
        // Saved and loaded, in both forms: the same predictions, bit for bit.
        for format in [Format::Json, Format::Binary] {
            let back = rx_unserialize_model(&rx_serialize_model(model, format).unwrap()).unwrap();
            assert_eq!(&back, model, "{what} {format:?}");
            assert_eq!(predict(&back, &src, &opts(PredictType::Prob)), probs);
        }
    }
    // Forests also give votes; others do not.
    let votes = predict(&models[1], &src, &opts(PredictType::Vote));
    let v = votes
        .column_by_name("c_yes_Vote")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(v.values().iter().all(|&x| (0.0..=5.0).contains(&x)));
    assert!(
        rx_predict_default(
            &models[0],
            &src,
            &MemorySink::new(),
            &opts(PredictType::Vote)
        )
        .is_err()
    );
}
