//! Shared test data: a small flights-like table in memory and as a multi-block .xdf file.

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, SchemaRef};
use rx_core::factor::{factor_type, make_factor};
use rx_core::varinfo::{META_DESCRIPTION, with_levels};
use rx_core::{DataSource, ReadOptions, WriteOptions};
use rx_xdf::XdfData;

pub const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub fn schema() -> SchemaRef {
    let days: Vec<String> = DAYS.iter().map(|s| s.to_string()).collect();
    let dow = with_levels(Field::new("DayOfWeek", factor_type(), true), &days);
    let mut meta = dow.metadata().clone();
    meta.insert(META_DESCRIPTION.to_string(), "day of the week".to_string());
    let dow = dow.with_metadata(meta);
    Arc::new(Schema::new(vec![
        Field::new("ArrDelay", DataType::Float64, true),
        dow,
        Field::new("Origin", DataType::Utf8, true),
        Field::new("Distance", DataType::Int64, true),
    ]))
}

/// Row `i` of the table (deterministic; some missing values, one NaN every 97 rows).
pub fn arr_delay(i: usize) -> Option<f64> {
    if i % 13 == 5 {
        None
    } else if i % 97 == 7 {
        Some(f64::NAN)
    } else {
        Some(((i * 37) % 181) as f64 - 40.0)
    }
}

pub fn origin(i: usize) -> Option<&'static str> {
    const O: [&str; 4] = ["JFK", "LAX", "ORD", "SFO"];
    (i % 17 != 3).then(|| O[(i * 7) % 4])
}

pub fn batches(rows: usize, block: usize) -> Vec<RecordBatch> {
    let schema = schema();
    let days: Vec<String> = DAYS.iter().map(|s| s.to_string()).collect();
    (0..rows)
        .step_by(block)
        .map(|start| {
            let r = start..(start + block).min(rows);
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Float64Array::from(
                    r.clone().map(arr_delay).collect::<Vec<_>>(),
                )),
                Arc::new(
                    make_factor(
                        Int32Array::from(
                            r.clone()
                                .map(|i| (i % 11 != 4).then_some((i % 7) as i32))
                                .collect::<Vec<_>>(),
                        ),
                        &days,
                    )
                    .unwrap(),
                ),
                Arc::new(StringArray::from(r.clone().map(origin).collect::<Vec<_>>())),
                Arc::new(Int64Array::from(
                    r.map(|i| Some(100 + ((i * 53) % 2400) as i64))
                        .collect::<Vec<_>>(),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect()
}

/// The table as an .xdf file of `rows` rows in blocks of `block`.
pub fn xdf(dir: &Path, name: &str, rows: usize, block: usize) -> XdfData {
    let path = dir.join(name);
    rx_xdf::rx_write_xdf(
        &path,
        &schema(),
        &batches(rows, block),
        &WriteOptions::default().overwrite(),
    )
    .unwrap();
    XdfData::new(path)
}

/// Every chunk of a source, concatenated.
pub fn read_all(source: &dyn DataSource) -> RecordBatch {
    let schema = source.schema().unwrap();
    let chunks: Vec<RecordBatch> = source
        .open(&ReadOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    arrow::compute::concat_batches(&chunks.first().map_or(schema, |c| c.schema()), &chunks).unwrap()
}

pub fn f64s(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = b.column_by_name(name).unwrap();
    let a = arrow::compute::cast(a, &DataType::Float64).unwrap();
    a.as_primitive::<Float64Type>().iter().collect()
}

pub fn i64s(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = b.column_by_name(name).unwrap();
    a.as_primitive::<Int64Type>().iter().collect()
}

/// A column as strings (factor labels for factors), None for missing.
pub fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap();
    let s = arrow::compute::cast(a, &DataType::Utf8).unwrap();
    let s = s.as_string::<i32>();
    (0..s.len())
        .map(|i| s.is_valid(i).then(|| s.value(i).to_string()))
        .collect()
}

/// The batches with every NaN of `ArrDelay` made null.
pub fn nan_as_null(batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
    batches
        .into_iter()
        .map(|b| {
            let a = b.column(0).as_primitive::<Float64Type>();
            let fixed: Float64Array = a.iter().map(|v| v.filter(|x| !x.is_nan())).collect();
            let mut cols = b.columns().to_vec();
            cols[0] = Arc::new(fixed);
            RecordBatch::try_new(b.schema(), cols).unwrap()
        })
        .collect()
}
