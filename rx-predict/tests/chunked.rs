//! `rx_predict_default` beyond the golden values: output columns and names, missing rows, chunk
//! sizes, sinks, cube models, and the errors a user can meet.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use rx_core::{DataSink, RxLocalSeq};
use rx_data::{MemoryData, MemorySink, TextData};
use rx_models::linmod::{LinModOptions, rx_lin_mod};
use rx_predict::{Interval, Model, PredictOptions, PredictType, rx_predict_default};
use rx_xdf::XdfData;

use crate::golden::{all_rows, close_all, col, data, fit_lm, lm_cases, predict};

fn case(name: &str) -> serde_json::Value {
    lm_cases().into_iter().find(|c| c["name"] == name).unwrap()
}

fn names(b: &RecordBatch) -> Vec<String> {
    b.schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect()
}

#[test]
fn missing_predictors_give_missing_rows_that_are_kept() {
    let c = case("lm_airquality_missing");
    let model = Model::from(fit_lm(&c, true));
    let source = data("airquality.csv");
    let sink = MemorySink::new();
    let s = rx_predict_default(
        &model,
        &source,
        &sink,
        &PredictOptions::default().compute_residuals(true),
    )
    .unwrap();
    assert_eq!(s.rows, 153);
    // Solar.R is missing on 7 rows (Ozone, the response, is not a predictor).
    assert_eq!(s.rows_missing, 7);
    assert_eq!(s.rows_predicted, 146);
    let out = sink.concat().unwrap().unwrap();
    let pred = col(&out, "Ozone_Pred");
    let resid = col(&out, "Ozone_Resid");
    assert_eq!(pred.iter().filter(|p| p.is_none()).count(), 7);
    // Residuals are missing where Ozone or the prediction is.
    assert_eq!(resid.iter().filter(|p| p.is_some()).count(), 111);
}

#[test]
fn columns_come_in_order_with_their_names() {
    let c = case("lm_mtcars_transforms");
    let model = Model::from(fit_lm(&c, true));
    let source = data("mtcars.csv");
    let o = PredictOptions::default()
        .compute_residuals(true)
        .compute_std_errors(true)
        .interval(Interval::Confidence)
        .extra_vars_to_write(["model", "wt"])
        .write_model_vars(true);
    let out = predict(&model, &source, &o);
    assert_eq!(
        names(&out),
        [
            "model",
            "wt",
            "mpg",
            "hp",
            "mpg_Pred",
            "mpg_Resid",
            "mpg_StdErr",
            "mpg_Lower",
            "mpg_Upper"
        ]
    );
    let all = all_rows(&source);
    assert_eq!(out.column(0), all.column_by_name("model").unwrap());
    assert_eq!(out.column(3), all.column_by_name("hp").unwrap());
    // Descriptions travel in the field metadata.
    let d = rx_core::VarInfo::from_field(out.schema().field(4))
        .description
        .unwrap();
    assert!(
        d.contains("Predicted mpg") && d.contains("rx_lin_mod"),
        "{d}"
    );

    let renamed = predict(
        &model,
        &source,
        &PredictOptions::default()
            .compute_residuals(true)
            .pred_var_names("fitted")
            .resid_var_names("r"),
    );
    assert_eq!(names(&renamed), ["fitted", "r"]);
    let e = rx_predict_default(
        &model,
        &source,
        &MemorySink::new(),
        &PredictOptions::default()
            .pred_var_names("wt")
            .extra_vars_to_write(["wt"]),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("'wt'"), "{e}");
}

#[test]
fn a_computed_response_names_the_columns() {
    let src = data("mtcars.csv");
    let fit = rx_lin_mod(
        "log(mpg) ~ wt",
        &src,
        &LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    let out = predict(
        &Model::from(fit),
        &src,
        &PredictOptions::default().compute_residuals(true),
    );
    assert_eq!(names(&out), ["log(mpg)_Pred", "log(mpg)_Resid"]);
    assert!(col(&out, "log(mpg)_Resid").iter().all(Option::is_some));
}

#[test]
fn chunk_size_does_not_change_a_bit() {
    let c = case("lm_iris_factor_numeric");
    let model = Model::from(fit_lm(&c, false));
    let source = data("iris.csv");
    let o = PredictOptions::default()
        .compute_std_errors(true)
        .interval(Interval::Prediction)
        .compute_residuals(true);
    let whole = predict(&model, &source, &o);
    for rows in [1, 13, 150, 1000] {
        let part = predict(&model, &source, &o.clone().rows_per_read(rows));
        assert_eq!(part, whole, "rows_per_read {rows}");
    }
}

#[test]
fn link_scale_of_a_linear_model_is_the_response_scale() {
    let c = case("lm_mtcars_numeric");
    let model = Model::from(fit_lm(&c, true));
    let source = data("mtcars.csv");
    let a = predict(
        &model,
        &source,
        &PredictOptions::default().compute_std_errors(true),
    );
    let b = predict(
        &model,
        &source,
        &PredictOptions::default()
            .compute_std_errors(true)
            .predict_type(PredictType::Link),
    );
    assert_eq!(a.columns(), b.columns());
}

#[test]
fn data_without_the_response_is_scored() {
    let c = case("lm_mtcars_factors");
    let model = Model::from(fit_lm(&c, true));
    let all = all_rows(&data("mtcars.csv"));
    let keep: Vec<usize> = ["wt", "cyl_f", "am_f"]
        .iter()
        .map(|n| all.schema().index_of(n).unwrap())
        .collect();
    let new = MemoryData::from_batches(vec![all.project(&keep).unwrap()]).unwrap();
    let out = predict(
        &model,
        &new,
        &PredictOptions::default()
            .compute_residuals(true)
            .write_model_vars(true),
    );
    assert_eq!(
        names(&out),
        ["wt", "cyl_f", "am_f", "mpg_Pred", "mpg_Resid"]
    );
    assert!(col(&out, "mpg_Resid").iter().all(Option::is_none));
    assert!(col(&out, "mpg_Pred").iter().all(Option::is_some));
}

#[test]
fn an_unseen_level_names_the_data_row_and_column() {
    let c = case("lm_mtcars_factors");
    let model = Model::from(fit_lm(&c, true));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.csv");
    std::fs::write(
        &path,
        "wt,cyl_f,am_f\n2.5,c4,auto\n3.1,c6,manual\n2.9,c5,auto\n",
    )
    .unwrap();
    let new = TextData::new(&path).strings_as_factors(true);
    let e = rx_predict_default(&model, &new, &MemorySink::new(), &PredictOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("new.csv") && e.contains("row 3") && e.contains("'cyl_f'") && e.contains("'c5'"),
        "{e}"
    );

    // A column the model needs is missing: named, with the data.
    std::fs::write(&path, "wt,am_f\n2.5,auto\n").unwrap();
    let e = rx_predict_default(
        &model,
        &TextData::new(&path),
        &MemorySink::new(),
        &PredictOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("'cyl_f'") && e.contains("new.csv"), "{e}");
}

#[test]
fn outputs_go_to_files_and_are_not_replaced_by_accident() {
    let c = case("lm_warpbreaks_interaction");
    let model = Model::from(fit_lm(&c, true));
    let source = data("warpbreaks.csv");
    let dir = tempfile::tempdir().unwrap();
    let o = PredictOptions::default()
        .compute_std_errors(true)
        .extra_vars_to_write(["wool"])
        .rows_per_read(20);
    let want = predict(&model, &source, &o);
    let xdf = dir.path().join("p.xdf");
    let s = rx_predict_default(&model, &source, &XdfData::new(&xdf), &o).unwrap();
    assert_eq!((s.rows, s.chunks), (54, 3));
    let back = all_rows(&XdfData::new(&xdf));
    assert_eq!(back.columns()[1..], want.columns()[1..]);
    let wool = arrow::compute::cast(back.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    assert_eq!(wool.as_string::<i32>().value(0), "A");
    let e = rx_predict_default(&model, &source, &XdfData::new(&xdf), &o)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exists"), "{e}");
    rx_predict_default(
        &model,
        &source,
        &XdfData::new(&xdf),
        &o.clone().overwrite(true),
    )
    .unwrap();

    let csv = dir.path().join("p.csv");
    rx_predict_default(&model, &source, &TextData::new(&csv), &o).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(
        text.starts_with("wool,breaks_Pred,breaks_StdErr\nA,"),
        "{text}"
    );
    assert_eq!(text.lines().count(), 55);
}

#[test]
fn cube_models_predict_as_the_ordinary_fit() {
    for (file, formula) in [
        ("warpbreaks.csv", "breaks ~ tension + wool"),
        ("iris.csv", "Sepal.Length ~ Species + Petal.Length"),
    ] {
        let src = data(file);
        let plain = rx_lin_mod(formula, &src, &LinModOptions::default(), &RxLocalSeq).unwrap();
        let cube = rx_lin_mod(
            formula,
            &src,
            &LinModOptions::default().cube(true),
            &RxLocalSeq,
        )
        .unwrap();
        assert!(cube.model.cube.is_some());
        let y = formula.split(' ').next().unwrap();
        for interval in [Interval::Confidence, Interval::Prediction] {
            let o = PredictOptions::default()
                .compute_std_errors(true)
                .interval(interval)
                .compute_residuals(true);
            let a = predict(&Model::from(plain.clone()), &src, &o);
            let b = predict(&Model::from(cube.clone()), &src, &o);
            for suffix in ["Pred", "StdErr", "Lower", "Upper", "Resid"] {
                let name = format!("{y}_{suffix}");
                let scale = col(&a, &format!("{y}_Pred"))
                    .iter()
                    .flatten()
                    .fold(0.0f64, |m, v| m.max(v.abs()));
                let (x, z) = (col(&b, &name), col(&a, &name));
                for (r, (x, z)) in x.iter().zip(&z).enumerate() {
                    let (x, z) = (x.unwrap(), z.unwrap());
                    assert!(
                        (x - z).abs() <= 1e-10 * scale,
                        "{formula} {name} row {r}: cube {x}, plain {z}"
                    );
                }
            }
        }
    }
}

#[test]
fn pweights_predict_with_unit_weight_for_new_observations() {
    // R: predict(lm(weights = w), interval = "prediction") uses pred.var = σ² (a new observation
    // of weight 1); the golden test checks it against R, this one the formula.
    let c = case("lm_mtcars_pweights");
    let fit = fit_lm(&c, true);
    let sigma2 = fit.sigma * fit.sigma;
    let model = Model::from(fit);
    let source = data("mtcars.csv");
    let out = predict(
        &model,
        &source,
        &PredictOptions::default()
            .compute_std_errors(true)
            .interval(Interval::Prediction),
    );
    let (p, se, up) = (
        col(&out, "mpg_Pred"),
        col(&out, "mpg_StdErr"),
        col(&out, "mpg_Upper"),
    );
    let t = rx_models::dist::qt(0.975, model.predictor().unwrap().df_residual);
    let want: Vec<Option<f64>> = (0..p.len())
        .map(|r| Some(p[r]? + t * (se[r]?.powi(2) + sigma2).sqrt()))
        .collect();
    close_all("pweights upper", &up, &want, 1e-12);
}

#[test]
fn empty_data_gives_an_empty_output() {
    let c = case("lm_mtcars_numeric");
    let model = Model::from(fit_lm(&c, true));
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("wt", arrow::datatypes::DataType::Float64, true),
        arrow::datatypes::Field::new("hp", arrow::datatypes::DataType::Float64, true),
        arrow::datatypes::Field::new("qsec", arrow::datatypes::DataType::Float64, true),
    ]));
    let empty = MemoryData::new(schema, vec![]).unwrap();
    let sink = MemorySink::new();
    let s = rx_predict_default(&model, &empty, &sink, &PredictOptions::default()).unwrap();
    assert_eq!((s.rows, s.chunks), (0, 0));
    assert_eq!(sink.schema().unwrap().field(0).name(), "mpg_Pred");
}

#[test]
fn sink_names_appear_in_the_summary() {
    let c = case("lm_mtcars_numeric");
    let model = Model::from(fit_lm(&c, true));
    let sink = MemorySink::new();
    let s = rx_predict_default(
        &model,
        &data("mtcars.csv"),
        &sink,
        &PredictOptions::default(),
    )
    .unwrap();
    assert_eq!(s.output, sink.name());
    assert!(s.to_string().contains("32 rows"), "{s}");
}
