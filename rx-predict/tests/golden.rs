//! Loading the R golden cases (tests/data/golden, copied from rx-models; see the README there):
//! the data sets as TextData with R's factor levels, fitted models, predictions through a
//! memory sink, and tolerant comparisons.

use std::path::PathBuf;

use arrow::array::{Array, AsArray, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Float64Type};
use rx_core::{ColType, ColumnInfo, ColumnInfoMap, DataSource, ReadOptions, RxLocalSeq};
use rx_data::{MemorySink, TextData};
use rx_models::linmod::{LinModOptions, RxLinMod, rx_lin_mod};
use rx_predict::{Model, PredictOptions, Value, rx_predict_default};
use serde_json::Value as Json;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

pub fn read_json(file: &str) -> Json {
    let path = golden_dir().join(file);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// The CSV `file` of the golden folder, with every factor column read as a factor with R's levels.
pub fn data(file: &str) -> TextData {
    let sets = read_json("datasets.json");
    let set = sets["datasets"]
        .as_object()
        .unwrap()
        .values()
        .find(|s| s["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in datasets.json"));
    let mut info = ColumnInfoMap::new();
    for c in set["columns"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        match c["type"].as_str().unwrap() {
            "factor" => {
                let levels: Vec<String> = c["levels"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap().to_string())
                    .collect();
                info.insert(name.to_string(), ColumnInfo::default().with_levels(levels));
            }
            "numeric" | "integer" => {
                info.insert(
                    name.to_string(),
                    ColumnInfo::default().with_type(ColType::Float64),
                );
            }
            _ => {}
        }
    }
    TextData::new(golden_dir().join(file)).column_info(info)
}

/// The whole data set as one batch.
pub fn all_rows(source: &dyn DataSource) -> RecordBatch {
    let batches: Vec<RecordBatch> = source
        .open(&ReadOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// The lm cases of lm.json.
pub fn lm_cases() -> Vec<Json> {
    read_json("lm.json")["cases"].as_array().unwrap().clone()
}

/// `rx_lin_mod` of a golden lm case with the given coding.
pub fn fit_lm(case: &Json, drop_first: bool) -> RxLinMod {
    let mut o = LinModOptions::default().drop_first(drop_first);
    if let Some(w) = case["weights"].as_object() {
        let col = w["column"].as_str().unwrap();
        o = match w["type"].as_str().unwrap() {
            "pweights" => o.pweights(col),
            _ => o.fweights(col),
        };
    }
    let source = data(case["data"].as_str().unwrap());
    rx_lin_mod(case["formula"].as_str().unwrap(), &source, &o, &RxLocalSeq)
        .unwrap_or_else(|e| panic!("{}: {e}", case["name"]))
}

/// The drop_first settings a case was fitted with.
pub fn codings(case: &Json) -> Vec<bool> {
    case["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["drop_first"].as_bool().unwrap_or(false))
        .collect()
}

/// `rx_predict_default` into memory, as one batch.
pub fn predict(model: &Model, source: &dyn DataSource, options: &PredictOptions) -> RecordBatch {
    let sink = MemorySink::new();
    let summary =
        rx_predict_default(model, source, &sink, options).unwrap_or_else(|e| panic!("{e}"));
    let batch = sink.concat().unwrap().expect("some output");
    assert_eq!(summary.rows, batch.num_rows() as u64);
    batch
}

/// A float column of a batch.
pub fn col(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = batch.column_by_name(name).unwrap_or_else(|| {
        panic!(
            "no column {name} in {:?}",
            batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
        )
    });
    let a: &Float64Array = a.as_primitive::<Float64Type>();
    a.iter().collect()
}

/// A JSON array of numbers or nulls.
pub fn json_col(v: &Json) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(Json::as_f64).collect()
}

/// Asserts each value is within `rel` relative of R's (both missing, or both present).
#[track_caller]
pub fn close_all(what: &str, got: &[Option<f64>], want: &[Option<f64>], rel: f64) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (None, None) => {}
            (Some(g), Some(w)) => {
                let err = (g - w).abs();
                assert!(
                    err <= rel * w.abs().max(1e-300),
                    "{what}, row {}: got {g:e}, R gives {w:e} (relative error {:e})",
                    i + 1,
                    err / w.abs()
                );
            }
            _ => panic!("{what}, row {}: got {g:?}, R gives {w:?}", i + 1),
        }
    }
}

/// The largest relative error of `got` against `want` (present values only).
pub fn max_rel(got: &[Option<f64>], want: &[Option<f64>]) -> f64 {
    got.iter()
        .zip(want)
        .filter_map(|(g, w)| Some(((*g)? - (*w)?).abs() / (*w)?.abs().max(1e-300)))
        .fold(0.0, f64::max)
}

/// Row `r` of `batch` as `(column, value)` pairs for the real-time scorer.
pub fn row_values<'a>(
    batch: &'a RecordBatch,
    r: usize,
    texts: &'a [Option<Vec<Option<String>>>],
) -> Vec<(&'a str, Value<'a>)> {
    let schema = batch.schema_ref();
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let a = batch.column(i);
            let v = if a.is_null(r) {
                Value::Missing
            } else if let Some(t) = &texts[i] {
                t[r].as_deref().map_or(Value::Missing, Value::Text)
            } else {
                match a.data_type() {
                    DataType::Float64 => Value::Num(a.as_primitive::<Float64Type>().value(r)),
                    DataType::Int64 => {
                        Value::from(a.as_primitive::<arrow::datatypes::Int64Type>().value(r))
                    }
                    DataType::Int32 => {
                        Value::from(a.as_primitive::<arrow::datatypes::Int32Type>().value(r))
                    }
                    DataType::Boolean => Value::Bool(a.as_boolean().value(r)),
                    other => panic!("column {} has type {other}", f.name()),
                }
            };
            (f.name().as_str(), v)
        })
        .collect()
}

/// The text of every factor or string column of `batch` (None for other columns).
pub fn texts(batch: &RecordBatch) -> Vec<Option<Vec<Option<String>>>> {
    batch
        .columns()
        .iter()
        .map(|a| match a.data_type() {
            DataType::Dictionary(..) | DataType::Utf8 => {
                let s = arrow::compute::cast(a, &DataType::Utf8).unwrap();
                Some(
                    s.as_string::<i32>()
                        .iter()
                        .map(|v| v.map(str::to_string))
                        .collect(),
                )
            }
            _ => None,
        })
        .collect()
}
