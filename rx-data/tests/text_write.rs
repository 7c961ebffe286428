//! Writing CSV: exact round trips, atomic create / overwrite / append.

use std::sync::Arc;

use rx_core::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, DictionaryArray, Float64Array, Int32Array, Int64Array,
    StringArray, TimestampMicrosecondArray,
};
use rx_core::arrow::datatypes::{DataType, Field, Int32Type, Schema, TimeUnit};
use rx_core::arrow::record_batch::RecordBatch;
use rx_core::factor::array_levels;
use rx_core::{ColType, ColumnInfo, DataSink, DataSource, Error, WriteOptions};
use rx_data::{MemoryData, TextData};

use crate::common::{col, read_one, strings};

fn sample() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("f", DataType::Float64, true),
        Field::new("i", DataType::Int32, true),
        Field::new("big", DataType::Int64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("g", rx_core::factor::factor_type(), true),
        Field::new("b", DataType::Boolean, true),
        Field::new("d", DataType::Date32, true),
        Field::new("t", DataType::Timestamp(TimeUnit::Microsecond, None), true),
    ]));
    let g: DictionaryArray<Int32Type> = vec![Some("lo"), Some("hi"), None, Some("lo")]
        .into_iter()
        .collect();
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![
            Some(0.1),
            Some(1.0 / 3.0),
            None,
            Some(-1.5e-300),
        ])),
        Arc::new(Int32Array::from(vec![
            Some(1),
            None,
            Some(-3),
            Some(i32::MAX),
        ])),
        Arc::new(Int64Array::from(vec![
            Some(1),
            Some(i64::MIN + 1),
            None,
            Some(5_000_000_000),
        ])),
        Arc::new(StringArray::from(vec![
            Some("plain"),
            Some(""),
            None,
            Some("with, \"quotes\"\nand newline"),
        ])),
        Arc::new(g),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
        ])),
        Arc::new(Date32Array::from(vec![
            Some(0),
            Some(18_000),
            None,
            Some(-365),
        ])),
        Arc::new(TimestampMicrosecondArray::from(vec![
            Some(0),
            Some(1_600_000_000_123_456),
            None,
            Some(1_000_000),
        ])),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn write(sink: &TextData, batch: &RecordBatch, options: &WriteOptions) -> rx_core::Result<u64> {
    let mut w = sink.create(batch.schema(), options)?;
    w.write(batch)?;
    w.finish()
}

#[test]
fn csv_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let batch = sample();
    assert_eq!(
        write(&TextData::new(&path), &batch, &WriteOptions::default()).unwrap(),
        4
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("f,i,big,s,g,b,d,t"));
    assert_eq!(
        lines.next(),
        Some("0.1,1,1,plain,lo,TRUE,1970-01-01,1970-01-01 00:00:00")
    );
    assert!(text.contains("NA,-3,NA,NA,NA,NA,NA,NA"), "{text}");
    // Read it back with the factor as a factor: every value is the same.
    let ci = [(
        "g".to_string(),
        ColumnInfo::default().with_type(ColType::Factor),
    )]
    .into_iter()
    .collect();
    let back = read_one(&TextData::new(&path).column_info(ci));
    assert_eq!(back.schema().fields().len(), 8);
    for (a, b) in batch.columns().iter().zip(back.columns()) {
        assert_eq!(a.data_type(), b.data_type());
        assert_eq!(strings(a), strings(b));
    }
    assert_eq!(
        crate::common::f64s(&col(&back, "f")),
        crate::common::f64s(&col(&batch, "f"))
    );
    // NA and "" stay apart.
    assert_eq!(strings(&col(&back, "s"))[1..3], [Some(String::new()), None]);
    assert_eq!(
        array_levels(col(&back, "g").as_ref()).unwrap(),
        ["lo", "hi"]
    );
}

#[test]
fn precision_and_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.tsv");
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Float64Array::from(vec![std::f64::consts::PI, 2.0])),
            Arc::new(StringArray::from(vec!["a,b", "c\td"])),
        ],
    )
    .unwrap();
    write(
        &TextData::new(&path).precision(4),
        &b,
        &WriteOptions::default(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "x\ts\n3.142\ta,b\n2.0\t\"c\td\"\n"
    );
}

#[test]
fn create_overwrite_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let sink = TextData::new(&path);
    let batch = sample();
    write(&sink, &batch, &WriteOptions::default()).unwrap();
    let e = write(&sink, &batch, &WriteOptions::default()).unwrap_err();
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    assert!(e.to_string().contains("overwrite"), "{e}");
    write(&sink, &batch, &WriteOptions::default().append()).unwrap();
    assert_eq!(read_one(&TextData::new(&path)).num_rows(), 8);
    write(
        &sink,
        &batch.slice(0, 1),
        &WriteOptions::default().overwrite(),
    )
    .unwrap();
    assert_eq!(read_one(&TextData::new(&path)).num_rows(), 1);
    // Append to a file that does not exist creates it, with a header.
    let p2 = dir.path().join("new.csv");
    write(
        &TextData::new(&p2),
        &batch,
        &WriteOptions::default().append(),
    )
    .unwrap();
    assert_eq!(read_one(&TextData::new(&p2)).num_rows(), 4);
    // Appending other columns is an error that names both.
    let other = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("zz", DataType::Int32, true)])),
        vec![Arc::new(Int32Array::from(vec![1]))],
    )
    .unwrap();
    let e = write(&sink, &other, &WriteOptions::default().append())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot append") && e.contains("zz"), "{e}");
    assert_eq!(read_one(&TextData::new(&path)).num_rows(), 1);
}

#[test]
fn appending_to_a_file_without_a_final_newline() {
    let (_dir, path) = crate::common::file_with("a.csv", "x,y\n1,2");
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("y", DataType::Int32, true),
    ]));
    let b = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int32Array::from(vec![3])),
            Arc::new(Int32Array::from(vec![4])),
        ],
    )
    .unwrap();
    write(&TextData::new(&path), &b, &WriteOptions::default().append()).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "x,y\n1,2\n3,4\n");
}

#[test]
fn a_dropped_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.csv");
    let batch = sample();
    {
        let mut w = TextData::new(&path)
            .create(batch.schema(), &WriteOptions::default())
            .unwrap();
        w.write(&batch).unwrap();
    }
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file is left"
    );
}

#[test]
fn one_string_column_with_empty_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.csv");
    let schema = Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]));
    let b = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![
            Some("a"),
            Some(""),
            None,
            Some("b"),
        ]))],
    )
    .unwrap();
    write(&TextData::new(&path), &b, &WriteOptions::default()).unwrap();
    let back = read_one(&TextData::new(&path).has_header(true));
    assert_eq!(strings(back.column(0)), strings(b.column(0)));
}

#[test]
fn memory_to_csv_to_memory() {
    let batch = sample();
    let src = MemoryData::new(batch.schema(), vec![batch.slice(0, 2), batch.slice(2, 2)]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.csv");
    let sink = TextData::new(&path);
    let reader = src.open(&Default::default()).unwrap();
    let writer = sink
        .create(src.schema().unwrap(), &WriteOptions::default())
        .unwrap();
    assert_eq!(
        rx_core::source::copy_chunks(reader, writer, |_| {}).unwrap(),
        4
    );
    assert_eq!(read_one(&TextData::new(&path)).num_rows(), 4);
}

#[test]
fn writing_through_a_source_makes_it_sniff_again() {
    let (_dir, path) = crate::common::file_with("t.csv", "a,b\n1,x\n");
    let td = TextData::new(&path);
    assert_eq!(td.schema().unwrap().fields().len(), 2);
    let schema = Arc::new(Schema::new(vec![Field::new("z", DataType::Float64, true)]));
    let b = RecordBatch::try_new(
        schema,
        vec![Arc::new(Float64Array::from(vec![1.5, 2.5])) as ArrayRef],
    )
    .unwrap();
    write(&td, &b, &WriteOptions::default().overwrite()).unwrap();
    let back = read_one(&td);
    assert_eq!(back.schema().field(0).name(), "z");
    assert_eq!(crate::common::f64s(back.column(0)), [Some(1.5), Some(2.5)]);
}
