//! NIST StRD data sets (copied into tests/data/nist): each imports with the certified number of
//! observations, and every value is exactly the f64 that Rust's `str::parse::<f64>` gives for its
//! text.

use std::collections::BTreeMap;

use rx_core::ColType;
use rx_core::arrow::array::Array;
use rx_core::arrow::datatypes::DataType;
use rx_data::TextData;

use crate::common::{data_dir, f64s, read_one};

fn sets() -> Vec<(String, u64)> {
    let dir = data_dir().join("nist");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("tests/data/nist") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let n = v["n_observations"]
                .as_u64()
                .unwrap_or_else(|| panic!("{} has no n_observations", path.display()));
            out.push((path.file_stem().unwrap().to_string_lossy().into_owned(), n));
        }
    }
    out.sort();
    out
}

#[test]
fn every_nist_set_is_present() {
    let names: Vec<String> = sets().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names.len(), 20, "{names:?}");
    for n in ["Filip", "Longley", "Wampler5", "NumAcc4", "Michelso"] {
        assert!(names.iter().any(|x| x == n), "{n} missing");
    }
}

#[test]
fn nist_sets_import_with_full_precision() {
    for (name, n) in sets() {
        let path = data_dir().join("nist").join(format!("{name}.csv"));
        // As sniffed.
        let src = TextData::new(&path);
        let b = read_one(&src);
        assert_eq!(b.num_rows() as u64, n, "{name}: row count");
        for c in b.columns() {
            assert_eq!(c.null_count(), 0, "{name}");
            assert!(
                matches!(c.data_type(), DataType::Float64 | DataType::Int32),
                "{name}: {}",
                c.data_type()
            );
        }
        // As float64: every value is exactly Rust's parse of its text.
        let fmt = src.format().unwrap();
        let classes: BTreeMap<String, ColType> = fmt
            .names
            .iter()
            .map(|c| (c.clone(), ColType::Float64))
            .collect();
        let b = read_one(&TextData::new(&path).column_classes(classes));
        let text = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.split(',').collect())
            .collect();
        assert_eq!(rows.len() as u64, n, "{name}");
        for (j, c) in b.columns().iter().enumerate() {
            let got = f64s(c);
            for (i, row) in rows.iter().enumerate() {
                let want: f64 = row[j].trim().parse().unwrap();
                let v = got[i].unwrap();
                assert_eq!(
                    v.to_bits(),
                    want.to_bits(),
                    "{name}: row {i} column {j}: text '{}' read as {v:?}",
                    row[j]
                );
            }
        }
    }
}
