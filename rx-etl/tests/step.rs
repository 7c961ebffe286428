//! rx_data_step / rx_import end to end: selection, transforms, columns, ranges, re-blocking,
//! append, memory output, conversions and the Rust transform function.

use std::sync::Arc;

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use rx_core::varinfo::{META_DESCRIPTION, field_levels};
use rx_core::{ColType, ColumnInfo, DataSource};
use rx_etl::{DataStepOptions, rx_data_step, rx_import};
use rx_xdf::XdfData;

use crate::common::{self, DAYS, arr_delay, f64s, i64s, origin, read_all, strings};

fn input(dir: &std::path::Path) -> Arc<dyn DataSource> {
    Arc::new(common::xdf(dir, "in.xdf", 1000, 128))
}

#[test]
fn selection_and_transforms_stream_into_an_xdf_file_and_keep_factor_levels() {
    let dir = tempfile::tempdir().unwrap();
    let out = XdfData::new(dir.path().join("out.xdf"));
    let opts = DataStepOptions::default()
        .row_selection("ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')")
        .transform("Late", "ArrDelay > 60")
        .transform("Hours", "Distance / 60.0");
    let res = rx_data_step(input(dir.path()), Some(&out), opts).unwrap();

    let expected: Vec<usize> = (0..1000)
        .filter(|&i| {
            arr_delay(i).is_some_and(|d| d > 15.0) && i % 11 != 4 && matches!(i % 7, 0 | 4)
        })
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(res.rows, expected.len() as u64);
    let got = read_all(&out);
    assert_eq!(got.num_rows(), expected.len());
    assert_eq!(
        f64s(&got, "ArrDelay"),
        expected.iter().map(|&i| arr_delay(i)).collect::<Vec<_>>()
    );
    let late: Vec<bool> = strings(&got, "Late")
        .into_iter()
        .map(|s| s.unwrap() == "true")
        .collect();
    assert_eq!(
        late,
        expected
            .iter()
            .map(|&i| arr_delay(i).unwrap() > 60.0)
            .collect::<Vec<_>>()
    );
    let hours = f64s(&got, "Hours");
    for (h, &i) in hours.iter().zip(&expected) {
        let d = 100 + ((i * 53) % 2400) as i64;
        assert!((h.unwrap() - d as f64 / 60.0).abs() < 1e-12);
    }
    // The factor keeps its level table and its description.
    let schema = out.schema().unwrap();
    let dow = schema.field_with_name("DayOfWeek").unwrap();
    assert_eq!(field_levels(dow).unwrap(), DAYS);
    assert_eq!(
        dow.metadata().get(META_DESCRIPTION).map(String::as_str),
        Some("day of the week")
    );
    assert_eq!(
        strings(&got, "DayOfWeek"),
        expected
            .iter()
            .map(|&i| Some(DAYS[i % 7].to_string()))
            .collect::<Vec<_>>()
    );
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        names,
        [
            "ArrDelay",
            "DayOfWeek",
            "Origin",
            "Distance",
            "Late",
            "Hours"
        ]
    );
}

#[test]
fn keep_drop_and_a_row_range() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DataStepOptions::default()
        .vars_to_keep(["Distance", "ArrDelay"])
        .transform("d2", "Distance * 2")
        .start_row(101)
        .number_rows(250);
    let res = rx_data_step(input(dir.path()), None, opts).unwrap();
    assert_eq!(res.rows, 250);
    let data = res.data.unwrap();
    let got = read_all(&data);
    assert_eq!(
        got.schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect::<Vec<_>>(),
        ["ArrDelay", "Distance", "d2"]
    );
    assert_eq!(
        i64s(&got, "Distance"),
        (100..350)
            .map(|i| Some(100 + ((i * 53) % 2400) as i64))
            .collect::<Vec<_>>()
    );

    let res = rx_data_step(
        input(dir.path()),
        None,
        DataStepOptions::default()
            .vars_to_drop(["Origin", "DayOfWeek"])
            .start_row(990),
    )
    .unwrap();
    assert_eq!(res.rows, 11);
    let got = read_all(&res.data.unwrap());
    assert_eq!(got.num_columns(), 2);
}

#[test]
fn rows_per_read_reblocks_and_append_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blocks.xdf");
    let out = XdfData::new(&path);
    let src = input(dir.path());
    rx_data_step(
        src.clone(),
        Some(&out),
        DataStepOptions::default()
            .row_selection("Distance > 300")
            .rows_per_read(50),
    )
    .unwrap();
    let file = rx_xdf::reader::XdfFile::open(&path).unwrap();
    let blocks = file.rows_per_block();
    let n = file.num_rows();
    assert!(blocks.len() > 2);
    assert!(
        blocks[..blocks.len() - 1].iter().all(|&b| b == 50),
        "{blocks:?}"
    );

    // Without overwrite or append an existing output is an error; append adds every row.
    assert!(rx_data_step(src.clone(), Some(&out), DataStepOptions::default()).is_err());
    let res = rx_data_step(
        src.clone(),
        Some(&out),
        DataStepOptions::default()
            .row_selection("Distance > 300")
            .append(),
    )
    .unwrap();
    assert_eq!(res.rows, n);
    let all = read_all(&out);
    assert_eq!(all.num_rows() as u64, 2 * n);
    let d = i64s(&all, "Distance");
    assert_eq!(d[..n as usize], d[n as usize..]);

    // Overwrite replaces.
    rx_data_step(
        src,
        Some(&out),
        DataStepOptions::default().number_rows(10).overwrite(),
    )
    .unwrap();
    assert_eq!(read_all(&out).num_rows(), 10);
}

#[test]
fn import_to_memory_and_parquet_and_csv() {
    let dir = tempfile::tempdir().unwrap();
    let src = input(dir.path());
    let pq = rx_data::ParquetData::new(dir.path().join("o.parquet"));
    let csv = rx_data::TextData::new(dir.path().join("o.csv"));
    for sink in [&pq as &dyn rx_core::DataSink, &csv] {
        let res = rx_import(
            src.clone(),
            Some(sink),
            DataStepOptions::default().row_selection("Origin = 'JFK'"),
        )
        .unwrap();
        let expected = (0..1000).filter(|&i| origin(i) == Some("JFK")).count();
        assert_eq!(res.rows, expected as u64);
    }
    let back = read_all(&pq);
    assert!(
        strings(&back, "Origin")
            .iter()
            .all(|s| s.as_deref() == Some("JFK"))
    );
    let back = read_all(&rx_data::TextData::new(dir.path().join("o.csv")));
    assert!(
        strings(&back, "Origin")
            .iter()
            .all(|s| s.as_deref() == Some("JFK"))
    );
}

#[test]
fn a_selection_that_keeps_nothing_still_writes_an_empty_file_with_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let out = XdfData::new(dir.path().join("none.xdf"));
    let res = rx_data_step(
        input(dir.path()),
        Some(&out),
        DataStepOptions::default()
            .row_selection("ArrDelay > 1e9")
            .transform("x", "ArrDelay + 1"),
    )
    .unwrap();
    assert_eq!(res.rows, 0);
    let schema = out.schema().unwrap();
    assert_eq!(schema.fields().len(), 5);
    assert_eq!(out.num_rows().unwrap(), Some(0));
}

#[test]
fn remove_missings_drops_nulls_and_nans() {
    let dir = tempfile::tempdir().unwrap();
    let res = rx_data_step(
        input(dir.path()),
        None,
        DataStepOptions::default()
            .vars_to_keep(["ArrDelay", "Distance"])
            .remove_missings(true),
    )
    .unwrap();
    let expected = (0..1000)
        .filter(|&i| arr_delay(i).is_some_and(|d| !d.is_nan()))
        .count();
    assert_eq!(res.rows, expected as u64);
}

#[test]
fn strings_as_factors_and_column_info() {
    let dir = tempfile::tempdir().unwrap();
    let opts = DataStepOptions::default()
        .strings_as_factors(true)
        .column_info(
            "DayOfWeek",
            ColumnInfo {
                levels: Some(DAYS.iter().map(|s| s.to_string()).collect()),
                new_levels: Some(
                    ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
                        .map(String::from)
                        .to_vec(),
                ),
                new_name: Some("Day".into()),
                description: Some("weekday".into()),
                ..Default::default()
            },
        )
        .column_info(
            "Distance",
            ColumnInfo::default().with_type(ColType::Float64),
        );
    let res = rx_data_step(input(dir.path()), None, opts).unwrap();
    let data = res.data.unwrap();
    let schema = data.schema().unwrap();
    let origin_f = schema.field_with_name("Origin").unwrap();
    assert!(matches!(origin_f.data_type(), DataType::Dictionary(..)));
    let day = schema.field_with_name("Day").unwrap();
    assert_eq!(
        field_levels(day).unwrap(),
        ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    );
    assert_eq!(
        day.metadata().get(META_DESCRIPTION).map(String::as_str),
        Some("weekday")
    );
    assert_eq!(
        schema.field_with_name("Distance").unwrap().data_type(),
        &DataType::Float64
    );
    let all = read_all(&data);
    assert_eq!(strings(&all, "Day")[0].as_deref(), Some("Mo"));
    assert_eq!(strings(&all, "Day")[1].as_deref(), Some("Tu"));

    let e = rx_data_step(
        input(dir.path()),
        None,
        DataStepOptions::default().column_info("Nope", ColumnInfo::default()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("'Nope'") && e.contains("Distance"), "{e}");
}

#[test]
fn a_transform_function_sees_every_chunk_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut running = 0.0_f64;
    let mut chunks = 0;
    let opts = DataStepOptions::default()
        .vars_to_keep(["Distance"])
        .rows_per_read(100)
        .transform_function(move |batch: RecordBatch, info| {
            assert_eq!(info.index, chunks);
            chunks += 1;
            let d = f64s(&batch, "Distance");
            let cum: Float64Array = d
                .iter()
                .map(|v| {
                    running += v.unwrap_or(0.0);
                    Some(running)
                })
                .collect();
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| f.as_ref().clone())
                .collect();
            fields.push(Field::new("cumulative", DataType::Float64, true));
            let mut cols = batch.columns().to_vec();
            cols.push(Arc::new(cum));
            RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
                .map_err(|e| rx_core::Error::arrow("cumulative", e))
        });
    let res = rx_data_step(input(dir.path()), None, opts).unwrap();
    let all = read_all(&res.data.unwrap());
    let cum = all.column_by_name("cumulative").unwrap();
    let total: f64 = (0..1000).map(|i| (100 + ((i * 53) % 2400)) as f64).sum();
    let last = arrow::compute::cast(cum, &DataType::Float64).unwrap();
    let last = last
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .value(999);
    assert_eq!(last, total);
}

/// A Parquet input of several row groups gets the row selection as a row filter (the other columns
/// are decoded only for the rows it keeps); the result must be exactly the filtered .xdf input's,
/// with NaN and null never selected, a factor compared by label, and `level_code` (which is not
/// pushed to the source) still right.
#[test]
fn a_selection_on_parquet_is_pushed_into_the_reader_with_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    let xdf = input(dir.path());
    let pq = rx_data::ParquetData::new(dir.path().join("in.parquet"));
    let opts = DataStepOptions {
        write: rx_core::WriteOptions::default().rows_per_block(100),
        ..Default::default()
    };
    rx_import(xdf.clone(), Some(&pq), opts).unwrap();
    assert!(pq.split(4).unwrap().len() > 1, "several row groups");
    let pq: Arc<dyn DataSource> = Arc::new(pq);
    let selections = [
        "ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')",
        "ArrDelay <= 15 OR Origin = 'JFK'",
        "level_code(DayOfWeek) = 2 AND Distance > 500",
        "ArrDelay > 1000",
    ];
    for sel in selections {
        let step = |src: &Arc<dyn DataSource>, name: &str| {
            let out = XdfData::new(dir.path().join(name));
            let mut opts = DataStepOptions::default()
                .row_selection(sel)
                .transform("Late", "ArrDelay > 60");
            opts.write = rx_core::WriteOptions::default().overwrite();
            let res = rx_data_step(src.clone(), Some(&out), opts).unwrap();
            (res.rows, read_all(&out))
        };
        let (n_x, from_xdf) = step(&xdf, "x.xdf");
        let (n_p, from_pq) = step(&pq, "p.xdf");
        assert_eq!(n_x, n_p, "{sel}");
        // Bits, so that a NaN passed through compares equal to itself.
        let bits = |b: &RecordBatch, col: &str| -> Vec<Option<u64>> {
            f64s(b, col)
                .into_iter()
                .map(|v| v.map(f64::to_bits))
                .collect()
        };
        for col in ["ArrDelay", "Distance"] {
            assert_eq!(bits(&from_xdf, col), bits(&from_pq, col), "{sel}: {col}");
        }
        for col in ["DayOfWeek", "Origin", "Late"] {
            assert_eq!(
                strings(&from_xdf, col),
                strings(&from_pq, col),
                "{sel}: {col}"
            );
        }
    }
}
