//! Loading the R golden cases (tests/data/golden, made by make_golden.R): the data sets as
//! TextData with R's factor levels, and tolerant comparisons.

use std::path::PathBuf;

use rx_core::{ColType, ColumnInfo, ColumnInfoMap};
use rx_data::TextData;
use serde_json::Value;

pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden")
}

pub fn read_json(file: &str) -> Value {
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

/// A JSON number or null.
pub fn opt(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Asserts `got` is within `rel` relative (or `abs` absolute) of `want`.
#[track_caller]
pub fn close(what: &str, got: f64, want: f64, rel: f64) {
    let err = (got - want).abs();
    let scale = want.abs().max(1e-300);
    assert!(
        err <= rel * scale.max(1e-12),
        "{what}: got {got:e}, R gives {want:e} (relative error {:e})",
        err / scale
    );
}
