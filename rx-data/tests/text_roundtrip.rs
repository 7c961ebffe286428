//! Property test: batches written as CSV read back exactly (floats to the bit, NA apart from "").

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use rx_core::arrow::array::{ArrayRef, Float64Array, Int32Array, StringArray};
use rx_core::arrow::datatypes::{DataType, Field, Schema};
use rx_core::arrow::record_batch::RecordBatch;
use rx_core::{ColType, DataSink, WriteOptions};
use rx_data::TextData;

use crate::common::{f64s, i32s, read_one, strings};

fn float() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        8 => any::<f64>().prop_map(Some),
        1 => Just(None),
        1 => prop_oneof![Just(f64::INFINITY), Just(f64::NEG_INFINITY), Just(0.1), Just(-0.0), Just(1e-310)].prop_map(Some),
    ]
}

fn text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        6 => "[a-zé][a-z ,;\"\n\té]{0,8}".prop_map(Some),
        1 => Just(Some(String::new())),
        1 => Just(None),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn csv_round_trip(rows in proptest::collection::vec((float(), any::<Option<i32>>(), text()), 0..60)) {
        let schema = Arc::new(Schema::new(vec![
            Field::new("f", DataType::Float64, true),
            Field::new("i", DataType::Int32, true),
            Field::new("s", DataType::Utf8, true),
        ]));
        let f: Vec<Option<f64>> = rows.iter().map(|r| r.0).collect();
        let i: Vec<Option<i32>> = rows.iter().map(|r| r.1).collect();
        let s: Vec<Option<String>> = rows.iter().map(|r| r.2.clone()).collect();
        let batch = RecordBatch::try_new(schema.clone(), vec![
            Arc::new(Float64Array::from(f.clone())) as ArrayRef,
            Arc::new(Int32Array::from(i.clone())),
            Arc::new(StringArray::from(s.clone())),
        ]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.csv");
        let mut w = TextData::new(&path).create(schema, &WriteOptions::default()).unwrap();
        w.write(&batch).unwrap();
        w.finish().unwrap();
        let classes: BTreeMap<String, ColType> = [("f", ColType::Float64), ("i", ColType::Int32), ("s", ColType::Character)]
            .into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let back = read_one(&TextData::new(&path).has_header(true).delimiter(b',').column_classes(classes));
        prop_assert_eq!(back.num_rows(), rows.len());
        let bf = f64s(back.column(0));
        for (a, b) in f.iter().zip(&bf) {
            match (a, b) {
                (Some(a), Some(b)) if a.is_nan() => prop_assert!(b.is_nan()),
                (Some(a), Some(b)) => prop_assert_eq!(a.to_bits(), b.to_bits()),
                (a, b) => prop_assert_eq!(a.is_none(), b.is_none()),
            }
        }
        prop_assert_eq!(i32s(back.column(1)), i);
        prop_assert_eq!(strings(back.column(2)), s);
    }
}
