//! Parquet: round trips with factors and metadata, projection, chunking, splitting, damaged files.

use std::collections::HashMap;
use std::sync::Arc;

use rx_core::arrow::array::{
    ArrayRef, AsArray, DictionaryArray, Float64Array, Int32Array, StringArray,
};
use rx_core::arrow::datatypes::{DataType, Field, Int32Type, Schema};
use rx_core::arrow::record_batch::RecordBatch;
use rx_core::factor::{array_levels, factor_type};
use rx_core::varinfo::{META_DESCRIPTION, field_levels, with_levels};
use rx_core::{DataSink, DataSource, Error, ReadOptions, WriteOptions};
use rx_data::{MemoryData, ParquetData, TextData};

use crate::common::{col, f64s, file_with, read_all, read_one, strings};

fn factor(values: &[Option<&str>]) -> ArrayRef {
    let d: DictionaryArray<Int32Type> = values.iter().copied().collect();
    Arc::new(d)
}

/// Three batches whose factor column has a different dictionary in each (as a Parquet reader or
/// another tool would give them).
fn batches() -> (Arc<Schema>, Vec<RecordBatch>) {
    let mut meta = HashMap::new();
    meta.insert(META_DESCRIPTION.to_string(), "the group".to_string());
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("g", factor_type(), true).with_metadata(meta),
        Field::new("s", DataType::Utf8, true),
    ]));
    let mk = |x: Vec<Option<f64>>, g: &[Option<&str>], s: Vec<Option<&str>>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Float64Array::from(x)),
                factor(g),
                Arc::new(StringArray::from(s)),
            ],
        )
        .unwrap()
    };
    let b1 = mk(
        vec![Some(1.0), Some(2.0)],
        &[Some("b"), Some("a")],
        vec![Some("x"), None],
    );
    let b2 = mk(
        vec![None, Some(4.5)],
        &[Some("c"), None],
        vec![Some(""), Some("y")],
    );
    let b3 = mk(
        vec![Some(5.0), Some(6.0), Some(7.0)],
        &[Some("a"), Some("d"), Some("b")],
        vec![Some("z"), Some("w"), Some("v")],
    );
    (schema, vec![b1, b2, b3])
}

fn write_parquet(path: &std::path::Path, options: &WriteOptions) -> u64 {
    let (schema, bs) = batches();
    let src = MemoryData::new(schema.clone(), bs).unwrap();
    let w = ParquetData::new(path).create(schema, options).unwrap();
    rx_core::source::copy_chunks(src.open(&ReadOptions::default()).unwrap(), w, |_| {}).unwrap()
}

#[test]
fn round_trip_keeps_values_factors_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    assert_eq!(write_parquet(&path, &WriteOptions::default()), 7);
    let src = ParquetData::new(&path);
    assert_eq!(src.num_rows().unwrap(), Some(7));
    let schema = src.schema().unwrap();
    let g = schema.field_with_name("g").unwrap();
    assert_eq!(g.data_type(), &factor_type());
    assert_eq!(
        g.metadata().get(META_DESCRIPTION).map(String::as_str),
        Some("the group")
    );
    // The footer has the final level table, in order of appearance.
    assert_eq!(field_levels(g).unwrap(), ["b", "a", "c", "d"]);
    let b = read_one(&src);
    assert_eq!(
        f64s(&col(&b, "x")),
        [
            Some(1.0),
            Some(2.0),
            None,
            Some(4.5),
            Some(5.0),
            Some(6.0),
            Some(7.0)
        ]
    );
    let gs = col(&b, "g");
    assert_eq!(array_levels(gs.as_ref()).unwrap(), ["b", "a", "c", "d"]);
    assert_eq!(
        gs.as_dictionary::<Int32Type>()
            .keys()
            .iter()
            .collect::<Vec<_>>(),
        [Some(0), Some(1), Some(2), None, Some(1), Some(3), Some(0)]
    );
    assert_eq!(
        strings(&col(&b, "s"))[..3],
        [Some("x".into()), None, Some(String::new())]
    );
}

#[test]
fn projection_chunking_and_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet(&path, &WriteOptions::default().rows_per_block(2));
    let src = ParquetData::new(&path);
    let chunks = read_all(
        &src,
        &ReadOptions::default().columns(["s", "g"]).rows_per_read(3),
    )
    .unwrap();
    assert_eq!(
        chunks.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
        [3, 3, 1]
    );
    let names: Vec<String> = chunks[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["s", "g"]);
    // One level table for the whole stream.
    assert_eq!(
        array_levels(chunks[0].column(1).as_ref()).unwrap(),
        ["b", "a", "c", "d"]
    );
    assert_eq!(strings(chunks[2].column(1)), [Some("b".into())]);
    let e = src
        .open(&ReadOptions::default().columns(["nope"]))
        .err()
        .unwrap();
    assert!(matches!(e, Error::UnknownColumn { .. }), "{e}");
    // Four row groups of 2, 2, 2, 1 rows; split into at most 3 contiguous parts.
    let parts = src.split(3).unwrap();
    assert_eq!(parts.len(), 3);
    let counts: Vec<u64> = parts
        .iter()
        .map(|p| p.num_rows().unwrap().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 7);
    let mut xs = Vec::new();
    for p in &parts {
        for b in read_all(p.as_ref(), &ReadOptions::default().columns(["x", "g"])).unwrap() {
            xs.extend(f64s(b.column(0)));
            assert_eq!(
                array_levels(b.column(1).as_ref()).unwrap(),
                ["b", "a", "c", "d"]
            );
        }
    }
    assert_eq!(xs, f64s(&col(&read_one(&src), "x")));
}

#[test]
fn uncompressed_and_zstd_levels() {
    let dir = tempfile::tempdir().unwrap();
    for level in [0, 1, 9] {
        let path = dir.path().join(format!("l{level}.parquet"));
        write_parquet(&path, &WriteOptions::default().compression_level(level));
        assert_eq!(read_one(&ParquetData::new(&path)).num_rows(), 7);
    }
}

#[test]
fn create_overwrite_and_no_append() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet(&path, &WriteOptions::default());
    let (schema, _) = batches();
    let sink = ParquetData::new(&path);
    let e = sink
        .create(schema.clone(), &WriteOptions::default())
        .err()
        .unwrap();
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    let e = sink
        .create(schema.clone(), &WriteOptions::default().append())
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("cannot be appended") && e.contains(".xdf"),
        "{e}"
    );
    write_parquet(&path, &WriteOptions::default().overwrite());
    // A dropped writer leaves the old file as it was and no temporary file.
    {
        let mut w = sink
            .create(schema, &WriteOptions::default().overwrite())
            .unwrap();
        w.write(&batches().1[0]).unwrap();
    }
    assert_eq!(ParquetData::new(&path).num_rows().unwrap(), Some(7));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn damaged_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_parquet(&good, &WriteOptions::default().compression_level(0));
    let bytes = std::fs::read(&good).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty.parquet", Vec::new()),
        ("text.parquet", b"a,b\n1,2\n".to_vec()),
        ("truncated.parquet", bytes[..bytes.len() / 2].to_vec()),
        ("nofooter.parquet", bytes[..bytes.len() - 3].to_vec()),
        ("garbled.parquet", {
            let mut b = bytes.clone();
            for v in b.iter_mut().skip(4).take(bytes.len() / 2) {
                *v = v.wrapping_mul(31).wrapping_add(7);
            }
            b
        }),
    ];
    for (name, data) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        let src = ParquetData::new(&path);
        let result = src
            .schema()
            .and_then(|_| read_all(&src, &ReadOptions::default()).map(|_| ()));
        let e = result.expect_err(name);
        let msg = e.to_string();
        assert!(msg.contains(name), "{name}: {msg}");
        assert!(matches!(e, Error::Corrupt { .. }), "{name}: {msg}");
    }
    let e = ParquetData::new(dir.path().join("missing.parquet"))
        .num_rows()
        .unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
}

#[test]
fn files_from_other_writers_get_a_stream_level_table() {
    // Written with arrow's own Parquet writer: each row group has its own dictionary and no
    // rx:levels metadata.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.parquet");
    let schema = Arc::new(Schema::new(vec![
        Field::new("g", factor_type(), true),
        Field::new("n", DataType::Int32, false),
    ]));
    let file = std::fs::File::create(&path).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(2))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), Some(props)).unwrap();
    for (g, n) in [
        (vec![Some("z"), Some("y")], vec![1, 2]),
        (vec![Some("x"), Some("z")], vec![3, 4]),
    ] {
        let b = RecordBatch::try_new(
            schema.clone(),
            vec![factor(&g), Arc::new(Int32Array::from(n))],
        )
        .unwrap();
        w.write(&b).unwrap();
    }
    w.close().unwrap();
    let chunks = read_all(
        &ParquetData::new(&path),
        &ReadOptions::default().rows_per_read(2),
    )
    .unwrap();
    assert_eq!(
        array_levels(chunks[0].column(0).as_ref()).unwrap(),
        ["z", "y"]
    );
    assert_eq!(
        array_levels(chunks[1].column(0).as_ref()).unwrap(),
        ["z", "y", "x"]
    );
    assert_eq!(
        chunks[1]
            .column(0)
            .as_dictionary::<Int32Type>()
            .keys()
            .values()
            .to_vec(),
        [2, 0]
    );
    assert_eq!(
        field_levels(chunks[1].schema().field(0)).unwrap(),
        ["z", "y", "x"]
    );
}

#[test]
fn csv_to_parquet_to_csv() {
    let (_dir, csv) = file_with("in.csv", "g,x\nb,1.5\na,NA\nb,\n,2\n");
    let src = TextData::new(&csv).strings_as_factors(true);
    let out = csv.with_extension("parquet");
    let w = ParquetData::new(&out)
        .create(src.schema().unwrap(), &WriteOptions::default())
        .unwrap();
    rx_core::source::copy_chunks(
        src.open(&ReadOptions::default().rows_per_read(2)).unwrap(),
        w,
        |_| {},
    )
    .unwrap();
    let pq = ParquetData::new(&out);
    assert_eq!(
        field_levels(pq.schema().unwrap().field(0)).unwrap(),
        ["b", "a", ""]
    );
    let b = read_one(&pq);
    assert_eq!(
        strings(&col(&b, "g")),
        [
            Some("b".into()),
            Some("a".into()),
            Some("b".into()),
            Some(String::new())
        ]
    );
    assert_eq!(f64s(&col(&b, "x")), [Some(1.5), None, None, Some(2.0)]);
    let seeded = with_levels(Field::new("g", factor_type(), true), &["q".to_string()]);
    assert_eq!(field_levels(&seeded).unwrap(), ["q"]);
}

/// A row filter hint: the reader keeps only the rows the predicate keeps (null counts as not kept),
/// across row groups decoded ahead, in order, with the factor's level table unchanged; a predicate
/// error is reported as a read error; a filter on a column the file lacks is ignored.
#[test]
fn a_row_filter_keeps_only_its_rows() {
    use rx_core::arrow::array::{Array, BooleanArray};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    write_parquet(&path, &WriteOptions::default().rows_per_block(2));
    let src = ParquetData::new(&path);
    // x > 1.5, null where x is missing.
    let over = |batch: &RecordBatch| -> rx_core::Result<BooleanArray> {
        let x = batch
            .column_by_name("x")
            .unwrap()
            .as_primitive::<rx_core::arrow::datatypes::Float64Type>();
        Ok(x.iter().map(|v| v.map(|v| v > 1.5)).collect())
    };
    let filter = rx_core::RowFilter {
        columns: vec!["x".into()],
        predicate: Arc::new(over),
    };
    let mut options = ReadOptions::default().columns(["g", "x"]);
    options.row_filter = Some(filter.clone());
    let chunks = read_all(&src, &options).unwrap();
    let xs: Vec<Option<f64>> = chunks.iter().flat_map(|b| f64s(b.column(1))).collect();
    assert_eq!(xs, [Some(2.0), Some(4.5), Some(5.0), Some(6.0), Some(7.0)]);
    let gs: Vec<Option<String>> = chunks.iter().flat_map(|b| strings(b.column(0))).collect();
    assert_eq!(
        gs,
        [
            Some("a".into()),
            None,
            Some("a".into()),
            Some("d".into()),
            Some("b".into())
        ]
    );
    assert_eq!(
        array_levels(chunks[0].column(0).as_ref()).unwrap(),
        ["b", "a", "c", "d"]
    );
    assert!(chunks.iter().all(|b| b.column(1).len() == b.num_rows()));
    // Decoded ahead (on more than one core), the kept rows of each row group come as a chunk of
    // their own instead of waiting for `rows_per_read` kept rows.
    let sizes: Vec<usize> = chunks.iter().map(RecordBatch::num_rows).collect();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) > 1 {
        assert_eq!(sizes, [1, 1, 2, 1]);
    } else {
        assert_eq!(sizes, [5]);
    }
    let small = read_all(&src, &options.clone().rows_per_read(1)).unwrap();
    assert_eq!(small.len(), 5);

    let failing = rx_core::RowFilter {
        columns: vec!["x".into()],
        predicate: Arc::new(|_: &RecordBatch| Err(Error::invalid("no good"))),
    };
    options.row_filter = Some(failing);
    let e = read_all(&src, &options).err().unwrap();
    assert!(e.to_string().contains("no good"), "{e}");

    options.row_filter = Some(rx_core::RowFilter {
        columns: vec!["nope".into()],
        ..filter
    });
    assert_eq!(
        read_all(&src, &options)
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>(),
        7
    );
}

/// Row groups are encoded column by column in parallel: several row groups, written in chunks that
/// straddle their bounds, read back exactly. A float column of distinct values is written without
/// a dictionary; a float column of few values, a factor and a string column keep theirs.
#[test]
fn parallel_row_groups_and_dictionaries_by_cardinality() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let schema = Arc::new(Schema::new(vec![
        Field::new("u", DataType::Float64, true),
        Field::new("c", DataType::Float64, true),
        Field::new("g", factor_type(), true),
        Field::new("s", DataType::Utf8, true),
    ]));
    let n = 10_000usize;
    let batches: Vec<RecordBatch> = (0..n)
        .step_by(1_000)
        .map(|start| {
            let rows = start..start + 1_000;
            let u: Float64Array = rows
                .clone()
                .map(|i| (i % 997 != 5).then_some(i as f64 * 0.37 + 0.001))
                .collect();
            let c: Float64Array = rows.clone().map(|i| Some((i % 7) as f64)).collect();
            let g: Vec<Option<&str>> = rows
                .clone()
                .map(|i| Some(["lo", "mid", "hi"][i % 3]))
                .collect();
            let s: StringArray = rows.map(|i| Some(format!("k{}", i % 11))).collect();
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(u), Arc::new(c), factor(&g), Arc::new(s)],
            )
            .unwrap()
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.parquet");
    let src = MemoryData::new(schema.clone(), batches.clone()).unwrap();
    let w = ParquetData::new(&path)
        .create(schema, &WriteOptions::default().rows_per_block(3_000))
        .unwrap();
    let rows = rx_core::source::copy_chunks(src.open(&ReadOptions::default()).unwrap(), w, |_| {})
        .unwrap();
    assert_eq!(rows, n as u64);

    let back = read_all(&ParquetData::new(&path), &ReadOptions::default()).unwrap();
    let got: Vec<Option<f64>> = back.iter().flat_map(|b| f64s(&col(b, "u"))).collect();
    let want: Vec<Option<f64>> = batches.iter().flat_map(|b| f64s(&col(b, "u"))).collect();
    assert_eq!(got, want);
    let got: Vec<Option<String>> = back.iter().flat_map(|b| strings(&col(b, "g"))).collect();
    let want: Vec<Option<String>> = batches.iter().flat_map(|b| strings(&col(b, "g"))).collect();
    assert_eq!(got, want);
    let got: Vec<Option<String>> = back.iter().flat_map(|b| strings(&col(b, "s"))).collect();
    assert_eq!(got[10], Some("k10".to_string()));
    assert_eq!(got.len(), n);

    let reader = SerializedFileReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let meta = reader.metadata();
    let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    assert_eq!(groups, [3_000, 3_000, 3_000, 1_000]);
    for g in meta.row_groups() {
        let dictionary: Vec<bool> = g
            .columns()
            .iter()
            .map(|c| c.dictionary_page_offset().is_some())
            .collect();
        assert_eq!(dictionary, [false, true, true, true]);
    }
}
