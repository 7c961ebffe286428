//! Shared helpers: small batches with every stored type.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int8Array, Int16Array,
    Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray, UInt8Array,
    UInt16Array, UInt32Array,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rx_core::factor::{LevelTable, factor_type};

pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("b", DataType::Boolean, true),
        Field::new("i8", DataType::Int8, true),
        Field::new("i16", DataType::Int16, true),
        Field::new("i32", DataType::Int32, true),
        Field::new("i64", DataType::Int64, true),
        Field::new("u8", DataType::UInt8, true),
        Field::new("u16", DataType::UInt16, true),
        Field::new("u32", DataType::UInt32, true),
        Field::new("f32", DataType::Float32, true),
        Field::new("f64", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("g", factor_type(), true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]))
}

/// A batch of `n` rows starting at `start`, with factor levels drawn from `levels` through `table`.
pub fn batch(start: i64, n: usize, table: &mut LevelTable, levels: &[&str]) -> RecordBatch {
    let r = |i: usize| start + i as i64;
    let null = |i: usize| (r(i) % 7) == 3;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(BooleanArray::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) % 2 == 0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int8Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some((r(i) % 100) as i8))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int16Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some((r(i) % 1000) as i16))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int32Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) as i32 - 5))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) * 1_000_000_007))
                .collect::<Vec<_>>(),
        )),
        Arc::new(UInt8Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some((r(i) % 250) as u8))
                .collect::<Vec<_>>(),
        )),
        Arc::new(UInt16Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some((r(i) % 60000) as u16))
                .collect::<Vec<_>>(),
        )),
        Arc::new(UInt32Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) as u32 * 3))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float32Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) as f32 / 3.0))
                .collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) as f64 / 7.0 + 1e6))
                .collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            (0..n)
                .map(|i| {
                    (!null(i)).then(|| {
                        if r(i) % 5 == 0 {
                            String::new()
                        } else {
                            format!("é{}", r(i))
                        }
                    })
                })
                .collect::<Vec<_>>(),
        )),
        Arc::new(
            table
                .encode_strings(
                    &StringArray::from(
                        (0..n)
                            .map(|i| (!null(i)).then(|| levels[i % levels.len()]))
                            .collect::<Vec<_>>(),
                    ),
                    false,
                    "g",
                )
                .unwrap(),
        ),
        Arc::new(Date32Array::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) as i32 + 18000))
                .collect::<Vec<_>>(),
        )),
        Arc::new(TimestampMicrosecondArray::from(
            (0..n)
                .map(|i| (!null(i)).then_some(r(i) * 1_000_123))
                .collect::<Vec<_>>(),
        )),
    ];
    RecordBatch::try_new(schema(), cols).unwrap()
}

/// Compares two batches by value, factors by level text.
pub fn assert_same(a: &RecordBatch, b: &RecordBatch) {
    assert_eq!(a.num_rows(), b.num_rows(), "row counts differ");
    assert_eq!(a.num_columns(), b.num_columns());
    for (i, (x, y)) in a.columns().iter().zip(b.columns()).enumerate() {
        let (x, y) = match x.data_type() {
            DataType::Dictionary(..) => (
                arrow::compute::cast(x, &DataType::Utf8).unwrap(),
                arrow::compute::cast(y, &DataType::Utf8).unwrap(),
            ),
            _ => (x.clone(), y.clone()),
        };
        assert_eq!(&x, &y, "column {} differs", a.schema().field(i).name());
    }
}

pub fn concat(batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&batches[0].schema(), batches).unwrap()
}
