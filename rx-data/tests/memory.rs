//! In-memory data: projection, re-chunking, splitting, and the collecting sink.

use std::sync::Arc;

use rx_core::arrow::array::{ArrayRef, Int32Array, StringArray};
use rx_core::arrow::datatypes::{DataType, Field, Schema};
use rx_core::arrow::record_batch::RecordBatch;
use rx_core::{DataSink, DataSource, Error, ReadOptions, WriteOptions};
use rx_data::{MemoryData, MemorySink};

use crate::common::{i32s, read_all, strings};

fn data() -> MemoryData {
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true),
    ]));
    let mk = |a: Vec<i32>| {
        let s: Vec<String> = a.iter().map(|v| format!("s{v}")).collect();
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(a)) as ArrayRef,
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    };
    MemoryData::new(
        schema.clone(),
        vec![
            mk(vec![0, 1, 2]),
            mk(vec![3]),
            mk(vec![4, 5, 6, 7]),
            mk(vec![8, 9]),
        ],
    )
    .unwrap()
}

#[test]
fn natural_chunks_projection_and_rechunking() {
    let src = data();
    assert_eq!(src.num_rows().unwrap(), Some(10));
    let natural = read_all(&src, &ReadOptions::default()).unwrap();
    assert_eq!(
        natural.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [3, 1, 4, 2]
    );
    let re = read_all(
        &src,
        &ReadOptions::default().columns(["b", "a"]).rows_per_read(4),
    )
    .unwrap();
    assert_eq!(
        re.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [4, 4, 2]
    );
    assert_eq!(re[0].schema().field(0).name(), "b");
    assert_eq!(i32s(re[1].column(1)), [4, 5, 6, 7].map(Some));
    assert_eq!(
        strings(re[2].column(0)),
        [Some("s8".into()), Some("s9".into())]
    );
    let e = src
        .open(&ReadOptions::default().columns(["c"]))
        .err()
        .unwrap();
    assert!(matches!(e, Error::UnknownColumn { .. }));
}

#[test]
fn split_into_contiguous_groups() {
    let src = data();
    let parts = src.split(3).unwrap();
    assert_eq!(parts.len(), 3);
    let all: Vec<Option<i32>> = parts
        .iter()
        .flat_map(|p| read_all(p.as_ref(), &ReadOptions::default()).unwrap())
        .flat_map(|b| i32s(b.column(0)))
        .collect();
    assert_eq!(all, (0..10).map(Some).collect::<Vec<_>>());
    assert_eq!(src.split(10).unwrap().len(), 4);
    assert_eq!(src.split(1).unwrap().len(), 1);
}

#[test]
fn mismatched_batches_are_rejected() {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Utf8, true)]));
    let b = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)])),
        vec![Arc::new(Int32Array::from(vec![1])) as ArrayRef],
    )
    .unwrap();
    assert!(MemoryData::new(schema, vec![b]).is_err());
    assert!(MemoryData::from_batches(vec![]).is_err());
}

#[test]
fn sink_collects_on_finish() {
    let src = data();
    let sink = MemorySink::new();
    let schema = src.schema().unwrap();
    {
        let mut w = sink
            .create(schema.clone(), &WriteOptions::default())
            .unwrap();
        w.write(&src.batches()[0]).unwrap();
    }
    assert_eq!(sink.num_rows(), 0, "a dropped writer adds nothing");
    let w = sink
        .create(schema.clone(), &WriteOptions::default().rows_per_block(5))
        .unwrap();
    let n = rx_core::source::copy_chunks(src.open(&ReadOptions::default()).unwrap(), w, |_| {})
        .unwrap();
    assert_eq!(n, 10);
    assert_eq!(
        sink.batches()
            .iter()
            .map(|b| b.num_rows())
            .collect::<Vec<_>>(),
        [5, 5]
    );
    let e = sink
        .create(schema.clone(), &WriteOptions::default())
        .err()
        .unwrap();
    assert!(e.to_string().contains("already holds data"), "{e}");
    let mut w = sink
        .create(schema.clone(), &WriteOptions::default().append())
        .unwrap();
    w.write(&src.batches()[1]).unwrap();
    w.finish().unwrap();
    assert_eq!(sink.num_rows(), 11);
    let one = sink.concat().unwrap().unwrap();
    assert_eq!(one.num_rows(), 11);
    let back = sink.to_memory_data().unwrap().unwrap();
    assert_eq!(back.num_rows().unwrap(), Some(11));
    let mut w = sink
        .create(schema, &WriteOptions::default().overwrite())
        .unwrap();
    w.write(&src.batches()[3]).unwrap();
    w.finish().unwrap();
    assert_eq!(sink.take().len(), 1);
    assert_eq!(sink.num_rows(), 0);
    assert!(sink.schema().is_none());
}
