//! Factors and column_info: levels, new levels, new names, type overrides, one level table per
//! stream.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use rx_core::arrow::array::{Array, AsArray};
use rx_core::arrow::datatypes::{DataType, Int32Type};
use rx_core::factor::{array_levels, factor_type};
use rx_core::varinfo::{META_DESCRIPTION, META_HIGH, META_LOW, META_ORDERED, field_levels};
use rx_core::{ColType, ColumnInfo, ColumnInfoMap, DataSource, ReadOptions};
use rx_data::TextData;

use crate::common::{col, f64s, file_with, read_all, read_one, strings};

fn info(pairs: Vec<(&str, ColumnInfo)>) -> ColumnInfoMap {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[test]
fn strings_as_factors_keeps_one_growing_level_table() {
    let (_dir, path) = file_with("t.csv", "g,x\nb,1\na,2\nb,3\nc,4\nNA,5\n,6\n");
    let src = TextData::new(&path).strings_as_factors(true);
    assert_eq!(src.schema().unwrap().field(0).data_type(), &factor_type());
    let batches = read_all(&src, &ReadOptions::default().rows_per_read(2)).unwrap();
    assert_eq!(batches.len(), 3);
    let levels: Vec<Vec<String>> = batches
        .iter()
        .map(|b| array_levels(b.column(0).as_ref()).unwrap())
        .collect();
    // Each chunk holds the level table known when it was made: the table only grows, in order of
    // appearance.
    for w in levels.windows(2) {
        assert!(w[1].starts_with(&w[0]), "{levels:?}");
    }
    assert!(
        levels[0].starts_with(&["b".to_string(), "a".to_string()]),
        "{levels:?}"
    );
    assert_eq!(levels[2], ["b", "a", "c", ""]);
    // Codes are stable across chunks.
    let codes: Vec<Option<i32>> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_dictionary::<Int32Type>()
                .keys()
                .iter()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(codes, [Some(0), Some(1), Some(0), Some(2), None, Some(3)]);
    // Each chunk's schema carries the level table known so far.
    for (b, l) in batches.iter().zip(&levels) {
        assert_eq!(&field_levels(b.schema().field(0)).unwrap(), l);
    }
}

#[test]
fn levels_fix_the_table_and_new_levels_rename() {
    let (_dir, path) = file_with("t.csv", "size,n\nS,1\nL,2\nM,3\nS,4\n");
    let ci = ColumnInfo {
        levels: Some(vec!["S".into(), "M".into(), "L".into()]),
        new_levels: Some(vec!["small".into(), "medium".into(), "large".into()]),
        new_name: Some("Size".into()),
        description: Some("shirt size".into()),
        ..Default::default()
    };
    let src = TextData::new(&path).column_info(info(vec![("size", ci)]));
    let schema = src.schema().unwrap();
    let f = schema.field(0);
    assert_eq!(f.name(), "Size");
    assert_eq!(field_levels(f).unwrap(), ["small", "medium", "large"]);
    assert_eq!(
        f.metadata().get(META_DESCRIPTION).map(String::as_str),
        Some("shirt size")
    );
    let b = read_one(&src);
    let a = col(&b, "Size");
    assert_eq!(
        a.as_dictionary::<Int32Type>().keys().values().to_vec(),
        [0, 2, 1, 0]
    );
    assert_eq!(
        strings(&a),
        [
            Some("small".into()),
            Some("large".into()),
            Some("medium".into()),
            Some("small".into())
        ]
    );
}

#[test]
fn a_value_outside_given_levels_is_an_error_or_missing() {
    let mut text = String::from("g\n");
    for _ in 0..10 {
        text.push_str("a\n");
    }
    text.push_str("z\n");
    let (_dir, path) = file_with("t.csv", &text);
    let ci = info(vec![("g", ColumnInfo::default().with_levels(["a", "b"]))]);
    let e = read_all(
        &TextData::new(&path)
            .has_header(true)
            .column_info(ci.clone()),
        &ReadOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("line 12")
            && e.contains("column 'g'")
            && e.contains("'z'")
            && e.contains("levels"),
        "{e}"
    );
    let src = TextData::new(&path)
        .has_header(true)
        .column_info(ci)
        .bad_values_as_missing(true);
    let b = read_one(&src);
    assert_eq!(b.column(0).null_count(), 1);
    assert_eq!(src.bad_value_count(), 1);
    assert_eq!(array_levels(b.column(0).as_ref()).unwrap(), ["a", "b"]);
}

#[test]
fn type_overrides_and_column_classes() {
    let (_dir, path) = file_with(
        "t.csv",
        "code,amount,flag,when\n001,5,1,2020-01-01\n002,6,0,2020-01-02\n",
    );
    let classes: BTreeMap<String, ColType> = [
        ("code".to_string(), ColType::Character),
        ("amount".to_string(), ColType::Float64),
        ("flag".to_string(), ColType::Int64),
    ]
    .into_iter()
    .collect();
    // column_info's type wins over column_classes; low/high go to the metadata.
    let ci = info(vec![
        (
            "flag",
            ColumnInfo {
                col_type: Some(ColType::Factor),
                low: Some(0.0),
                high: Some(1.0),
                ..Default::default()
            },
        ),
        (
            "when",
            ColumnInfo::default()
                .with_type(ColType::Character)
                .with_new_name("When"),
        ),
    ]);
    let src = TextData::new(&path).column_classes(classes).column_info(ci);
    let b = read_one(&src);
    assert_eq!(
        strings(&col(&b, "code")),
        [Some("001".into()), Some("002".into())]
    );
    assert_eq!(f64s(&col(&b, "amount")), [Some(5.0), Some(6.0)]);
    assert_eq!(col(&b, "flag").data_type(), &factor_type());
    assert_eq!(array_levels(col(&b, "flag").as_ref()).unwrap(), ["1", "0"]);
    let schema = b.schema();
    let flag = schema.field_with_name("flag").unwrap();
    assert_eq!(
        flag.metadata().get(META_LOW).map(String::as_str),
        Some("0.0")
    );
    assert_eq!(
        flag.metadata().get(META_HIGH).map(String::as_str),
        Some("1.0")
    );
    assert_eq!(col(&b, "When").data_type(), &DataType::Utf8);
}

#[test]
fn ordered_factors_are_marked() {
    let (_dir, path) = file_with("t.csv", "grade\nlow\nhigh\n");
    let ci = info(vec![(
        "grade",
        ColumnInfo {
            col_type: Some(ColType::Ordered),
            levels: Some(vec!["low".into(), "high".into()]),
            ..Default::default()
        },
    )]);
    let schema = TextData::new(&path)
        .has_header(true)
        .column_info(ci)
        .schema()
        .unwrap();
    assert_eq!(
        schema
            .field(0)
            .metadata()
            .get(META_ORDERED)
            .map(String::as_str),
        Some("true")
    );
}

#[test]
fn numeric_column_as_factor_treats_empty_as_missing() {
    let (_dir, path) = file_with("t.csv", "k,v\n1,a\n,b\n2,c\n1,d\n");
    let ci = info(vec![(
        "k",
        ColumnInfo::default().with_type(ColType::Factor),
    )]);
    let b = read_one(&TextData::new(&path).column_info(ci));
    let k = col(&b, "k");
    assert_eq!(
        strings(&k),
        [Some("1".into()), None, Some("2".into()), Some("1".into())]
    );
    assert_eq!(array_levels(k.as_ref()).unwrap(), ["1", "2"]);
}

#[test]
fn many_levels_across_parallel_pieces() {
    // Levels first seen in later pieces get later codes, in order of appearance.
    let mut text = String::from("g\n");
    for i in 0..200_000 {
        let _ = writeln!(text, "L{}", i / 1000);
    }
    let (_dir, path) = file_with("t.csv", &text);
    let src = TextData::new(&path)
        .strings_as_factors(true)
        .has_header(true);
    let batches = read_all(&src, &ReadOptions::default().rows_per_read(30_000)).unwrap();
    let last = batches.last().unwrap();
    let levels = array_levels(last.column(0).as_ref()).unwrap();
    assert_eq!(levels.len(), 200);
    assert!(
        levels
            .iter()
            .enumerate()
            .all(|(i, l)| *l == format!("L{i}"))
    );
    let texts: Vec<Option<String>> = batches.iter().flat_map(|b| strings(b.column(0))).collect();
    assert!(
        texts
            .iter()
            .enumerate()
            .all(|(i, t)| t.as_deref() == Some(format!("L{}", i / 1000).as_str()))
    );
}
