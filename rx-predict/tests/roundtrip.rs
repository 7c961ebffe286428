//! Saving and loading models: JSON and binary forms read back to the same model, which predicts
//! bit for bit as the original; damaged, foreign or newer files give clear errors.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use proptest::prelude::*;
use rx_core::RxLocalSeq;
use rx_data::MemoryData;
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_predict::{
    BINARY_SIGNATURE, Format, Interval, MODEL_FORMAT_VERSION, Model, PredictOptions, rx_load_model,
    rx_save_model, rx_serialize_model, rx_unserialize_model,
};

use crate::golden::{codings, data, fit_lm, lm_cases, predict};

fn everything() -> PredictOptions {
    PredictOptions::default()
        .compute_residuals(true)
        .compute_std_errors(true)
        .interval(Interval::Prediction)
}

/// Asserts two prediction outputs are the same bits, column by column.
#[track_caller]
fn same_bits(what: &str, a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.schema(), b.schema(), "{what}: schema");
    for (i, f) in a.schema().fields().iter().enumerate() {
        let (x, y) = (a.column(i), b.column(i));
        if let (Some(x), Some(y)) = (
            x.as_primitive_opt::<Float64Type>(),
            y.as_primitive_opt::<Float64Type>(),
        ) {
            for r in 0..x.len() {
                assert_eq!(
                    x.is_null(r),
                    y.is_null(r),
                    "{what}: {} row {r} null",
                    f.name()
                );
                assert_eq!(
                    x.value(r).to_bits(),
                    y.value(r).to_bits(),
                    "{what}: {} row {r}",
                    f.name()
                );
            }
        } else {
            assert_eq!(x, y, "{what}: {}", f.name());
        }
    }
}

#[test]
fn loaded_models_predict_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    for case in lm_cases() {
        let name = case["name"].as_str().unwrap();
        let source = data(case["data"].as_str().unwrap());
        for drop_first in codings(&case) {
            let model = Model::from(fit_lm(&case, drop_first));
            let want = predict(&model, &source, &everything());
            for format in [Format::Json, Format::Binary] {
                let bytes = rx_serialize_model(&model, format).unwrap();
                let back = rx_unserialize_model(&bytes)
                    .unwrap_or_else(|e| panic!("{name} {format:?}: {e}"));
                assert_eq!(back, model, "{name} {format:?}: the model changed");
                same_bits(
                    &format!("{name} {format:?}"),
                    &want,
                    &predict(&back, &source, &everything()),
                );
            }
            for file in ["m.json", "m.rxm"] {
                let path = dir.path().join(file);
                rx_save_model(&model, &path).unwrap();
                let back = rx_load_model(&path).unwrap();
                same_bits(
                    &format!("{name} {file}"),
                    &want,
                    &predict(&back, &source, &everything()),
                );
            }
            let rxm = std::fs::read(dir.path().join("m.rxm")).unwrap();
            assert!(rxm.starts_with(&BINARY_SIGNATURE), "{name}: .rxm is binary");
            let json = std::fs::read_to_string(dir.path().join("m.json")).unwrap();
            assert!(
                json.contains("\"format\": \"revoscale-model\""),
                "{name}: .json is JSON"
            );
        }
    }
}

#[test]
fn the_binary_form_is_smaller() {
    let case = &lm_cases()[2];
    let model = Model::from(fit_lm(case, true));
    let json = rx_serialize_model(&model, Format::Json).unwrap();
    let bin = rx_serialize_model(&model, Format::Binary).unwrap();
    eprintln!(
        "{}: JSON {} bytes, binary {} bytes",
        case["name"],
        json.len(),
        bin.len()
    );
    assert!(
        bin.len() * 2 < json.len(),
        "binary {} vs JSON {}",
        bin.len(),
        json.len()
    );
}

/// A model fitted on two rows with two coefficients: no residual degrees of freedom, so σ², R²
/// and the rest are NaN.
fn saturated_model() -> Model {
    let batch = RecordBatch::try_from_iter([
        (
            "x",
            std::sync::Arc::new(arrow::array::Float64Array::from(vec![1.0, 2.0])) as _,
        ),
        (
            "y",
            std::sync::Arc::new(arrow::array::Float64Array::from(vec![3.0, 5.0])) as _,
        ),
    ])
    .unwrap();
    let src = MemoryData::from_batches(vec![batch]).unwrap();
    Model::from(rx_lin_mod("y ~ x", &src, &LinModOptions::default(), &RxLocalSeq).unwrap())
}

#[test]
fn non_finite_numbers_survive_json() {
    let model = saturated_model();
    assert!(model.predictor().unwrap().dispersion.is_nan());
    let json = rx_serialize_model(&model, Format::Json).unwrap();
    let text = String::from_utf8(json.clone()).unwrap();
    assert!(text.contains(r#"{"$f64": "NaN"}"#), "{text}");
    // Still JSON that any parser reads.
    serde_json::from_str::<serde_json::Value>(&text).unwrap();
    for bytes in [json, rx_serialize_model(&model, Format::Binary).unwrap()] {
        let back = rx_unserialize_model(&bytes).unwrap();
        assert!(back.predictor().unwrap().dispersion.is_nan());
        assert_eq!(
            back.predictor().unwrap().beta,
            model.predictor().unwrap().beta
        );
    }
}

fn err(bytes: &[u8]) -> String {
    rx_unserialize_model(bytes)
        .expect_err("should not load")
        .to_string()
}

#[test]
fn damaged_foreign_and_newer_models_are_refused_clearly() {
    let model = saturated_model();
    let bin = rx_serialize_model(&model, Format::Binary).unwrap();
    let json = String::from_utf8(rx_serialize_model(&model, Format::Json).unwrap()).unwrap();

    assert!(err(b"").contains("not a revoscale model"));
    assert!(err(b"PK\x03\x04 some zip").contains("not a revoscale model"));
    assert!(err(&bin[..10]).contains("truncated"), "{}", err(&bin[..10]));
    assert!(err(&bin[..bin.len() - 1]).contains("truncated"));
    let mut flipped = bin.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(err(&flipped).contains("checksum"));
    let mut newer = bin.clone();
    newer[8..12].copy_from_slice(&(MODEL_FORMAT_VERSION + 1).to_le_bytes());
    let e = err(&newer);
    assert!(
        e.contains("newer revoscale")
            && e.contains(&format!("version {}", MODEL_FORMAT_VERSION + 1)),
        "{e}"
    );

    let newer_json = json.replacen(
        &format!("\"version\": {MODEL_FORMAT_VERSION}"),
        &format!("\"version\": {}", MODEL_FORMAT_VERSION + 1),
        1,
    );
    assert!(err(newer_json.as_bytes()).contains("newer revoscale"));
    assert!(err(br#"{"a": 1}"#).contains("not a revoscale model"));
    assert!(err(&json.as_bytes()[..json.len() / 2]).contains("does not parse"));
    let unknown = json.replacen("\"lin_mod\"", "\"forest\"", 1);
    assert!(
        err(unknown.as_bytes()).contains("cannot read"),
        "{}",
        err(unknown.as_bytes())
    );

    // From a file: the path is named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.rxm");
    std::fs::write(&path, &flipped).unwrap();
    let e = rx_load_model(&path).unwrap_err().to_string();
    assert!(e.contains("bad.rxm") && e.contains("checksum"), "{e}");
    let e = rx_load_model(dir.path().join("none.rxm"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("none.rxm"), "{e}");
}

#[test]
fn saving_replaces_a_file_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.rxm");
    let model = saturated_model();
    rx_save_model(&model, &path).unwrap();
    rx_save_model(&model, &path).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any f64 (every bit pattern but NaN payloads) comes back with the same bits from both forms.
    #[test]
    fn any_coefficient_round_trips(bits in any::<u64>(), j in 0usize..2) {
        let mut model = saturated_model();
        let value = f64::from_bits(bits);
        let Model::LinMod(m) = &mut model else { unreachable!() };
        m.model.beta[j] = value;
        m.r_squared = -value;
        for format in [Format::Json, Format::Binary] {
            let back = rx_unserialize_model(&rx_serialize_model(&model, format).unwrap()).unwrap();
            let Model::LinMod(b) = back else { unreachable!() };
            if value.is_nan() {
                prop_assert!(b.model.beta[j].is_nan());
            } else {
                prop_assert_eq!(b.model.beta[j].to_bits(), bits);
                prop_assert_eq!(b.r_squared.to_bits(), (-value).to_bits());
            }
        }
    }
}
