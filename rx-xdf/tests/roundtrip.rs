//! Writing and reading .xdf files: every type, growing factor levels, projection, append,
//! overwrite protection, re-blocking, composite sets, var info.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use rx_core::factor::LevelTable;
use rx_core::{DataSink, DataSource, ReadOptions, VarType, WriteOptions};
use rx_xdf::{VarInfoUpdate, XdfData, rx_get_info, rx_get_var_info, rx_read_xdf, rx_set_var_info};

use crate::common::{assert_same, batch, concat, schema};

fn write(data: &XdfData, batches: &[RecordBatch], opts: &WriteOptions) -> u64 {
    let mut w = data.create(schema(), opts).unwrap();
    for b in batches {
        w.write(b).unwrap();
    }
    w.finish().unwrap()
}

fn read_all(data: &XdfData, opts: &ReadOptions) -> Vec<RecordBatch> {
    data.open(opts)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn every_type_round_trips_with_levels_found_while_streaming() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.xdf");
    let mut t = LevelTable::new();
    let b1 = batch(0, 100, &mut t, &["x", "y"]);
    let b2 = batch(100, 50, &mut t, &["z", "x", "w é"]);
    let b3 = batch(150, 0, &mut t, &["q"]);
    for level in [0, 1, 3] {
        let data = XdfData::new(&path);
        write(
            &data,
            &[b1.clone(), b2.clone(), b3.clone()],
            &WriteOptions::default().overwrite().compression_level(level),
        );
        let back = read_all(&data, &ReadOptions::default());
        assert_eq!(back.len(), 2, "two non-empty blocks");
        assert_same(&concat(&[b1.clone(), b2.clone()]), &concat(&back));
        // Codes keep their meaning: the level table is the order levels were first seen.
        let info = rx_get_var_info(&path).unwrap();
        let g = info.iter().find(|v| v.name == "g").unwrap();
        assert_eq!(g.levels.as_deref().unwrap(), ["x", "y", "z", "w é"]);
        assert_eq!(g.var_type, VarType::Factor);
        let f64i = info.iter().find(|v| v.name == "f64").unwrap();
        assert_eq!(f64i.low, Some(1e6));
        assert_eq!(f64i.high, Some(149.0 / 7.0 + 1e6));
    }
}

#[test]
fn projection_reads_columns_in_the_order_asked() {
    let dir = tempfile::tempdir().unwrap();
    let data = XdfData::new(dir.path().join("p.xdf"));
    let mut t = LevelTable::new();
    let b = batch(0, 30, &mut t, &["a", "b", "c"]);
    write(&data, std::slice::from_ref(&b), &WriteOptions::default());
    let back = read_all(&data, &ReadOptions::default().columns(["s", "g", "b"]));
    let want = b.project(&[10, 11, 0]).unwrap();
    assert_same(&want, &concat(&back));
    assert_eq!(back[0].schema().field(0).name(), "s");
    let err = data
        .open(&ReadOptions::default().columns(["nope"]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("unknown column 'nope'") && err.contains("i32"),
        "{err}"
    );
}

#[test]
fn rows_per_read_and_rows_per_block_reblock() {
    let dir = tempfile::tempdir().unwrap();
    let data = XdfData::new(dir.path().join("r.xdf"));
    let mut t = LevelTable::new();
    let bs: Vec<_> = (0..5)
        .map(|k| batch(k * 37, 37, &mut t, &["u", "v"]))
        .collect();
    write(&data, &bs, &WriteOptions::default().rows_per_block(50));
    let info = rx_get_info(data.path(), 3).unwrap();
    assert_eq!(info.rows_per_block, vec![50, 50, 50, 35]);
    assert_eq!(info.num_rows, 185);
    assert_eq!(info.head.as_ref().unwrap().num_rows(), 3);
    let chunks = read_all(&data, &ReadOptions::default().rows_per_read(60));
    assert_eq!(
        chunks.iter().map(RecordBatch::num_rows).collect::<Vec<_>>(),
        vec![60, 60, 60, 5]
    );
    assert_same(&concat(&bs), &concat(&chunks));
    // Splitting by blocks covers every row once, in order.
    let parts = data.split(3).unwrap();
    assert_eq!(parts.len(), 3);
    let mut all = Vec::new();
    for p in &parts {
        all.extend(p.open(&ReadOptions::default()).unwrap().map(Result::unwrap));
    }
    assert_same(&concat(&bs), &concat(&all));
    let counts: u64 = parts.iter().map(|p| p.num_rows().unwrap().unwrap()).sum();
    assert_eq!(counts, 185);
}

#[test]
fn append_equals_one_write_and_extends_levels() {
    let dir = tempfile::tempdir().unwrap();
    let one = XdfData::new(dir.path().join("one.xdf"));
    let two = XdfData::new(dir.path().join("two.xdf"));
    let mut t = LevelTable::new();
    let b1 = batch(0, 40, &mut t, &["a", "b"]);
    let b2 = batch(40, 40, &mut t, &["c", "a"]);
    write(&one, &[b1.clone(), b2.clone()], &WriteOptions::default());
    write(&two, std::slice::from_ref(&b1), &WriteOptions::default());
    // The second chunk arrives with its own level table (c, a): it is matched by name.
    let mut t2 = LevelTable::new();
    let b2_own = batch(40, 40, &mut t2, &["c", "a"]);
    write(&two, &[b2_own], &WriteOptions::default().append());
    assert_same(
        &rx_read_xdf(one.path(), None).unwrap(),
        &rx_read_xdf(two.path(), None).unwrap(),
    );
    let g = rx_get_var_info(two.path())
        .unwrap()
        .into_iter()
        .find(|v| v.name == "g")
        .unwrap();
    assert_eq!(g.levels.unwrap(), ["a", "b", "c"]);
    // Codes of old rows are unchanged.
    let back = rx_read_xdf(two.path(), Some(&["g".to_string()])).unwrap();
    let d = back
        .column(0)
        .as_dictionary::<arrow::datatypes::Int32Type>();
    assert_eq!(d.keys().value(0), 0);
    assert_eq!(d.keys().value(1), 1);
}

#[test]
fn create_does_not_overwrite_and_failed_writes_leave_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = XdfData::new(dir.path().join("o.xdf"));
    let mut t = LevelTable::new();
    let b = batch(0, 10, &mut t, &["a"]);
    write(&data, std::slice::from_ref(&b), &WriteOptions::default());
    let err = data
        .create(schema(), &WriteOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("exists") && err.contains("--overwrite"),
        "{err}"
    );
    // A writer dropped without finish (a crash, an error) leaves the old file and no temp file.
    {
        let mut w = data
            .create(schema(), &WriteOptions::default().overwrite())
            .unwrap();
        w.write(&batch(0, 99, &mut t, &["zz"])).unwrap();
    }
    assert_same(&b, &rx_read_xdf(data.path(), None).unwrap());
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    // Same for an append.
    {
        let mut w = data
            .create(schema(), &WriteOptions::default().append())
            .unwrap();
        w.write(&batch(0, 5, &mut t, &["a"])).unwrap();
    }
    assert_same(&b, &rx_read_xdf(data.path(), None).unwrap());
}

#[test]
fn empty_stream_writes_a_valid_empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = XdfData::new(dir.path().join("e.xdf"));
    assert_eq!(write(&data, &[], &WriteOptions::default()), 0);
    let info = rx_get_info(data.path(), 5).unwrap();
    assert_eq!((info.num_rows, info.num_blocks, info.num_vars), (0, 0, 14));
    assert_eq!(rx_read_xdf(data.path(), None).unwrap().num_rows(), 0);
    // And an append to it works.
    let mut t = LevelTable::new();
    let b = batch(0, 3, &mut t, &["k"]);
    write(
        &data,
        std::slice::from_ref(&b),
        &WriteOptions::default().append(),
    );
    assert_same(&b, &rx_read_xdf(data.path(), None).unwrap());
}

#[test]
fn composite_set_equals_single_file() {
    let dir = tempfile::tempdir().unwrap();
    let single = XdfData::new(dir.path().join("s.xdf"));
    let comp = XdfData::composite(dir.path().join("cset"));
    let mut t = LevelTable::new();
    let bs: Vec<_> = (0..4)
        .map(|k| batch(k * 25, 25, &mut t, &[["a", "b", "c", "d"][k as usize], "a"]))
        .collect();
    write(&single, &bs, &WriteOptions::default());
    write(&comp, &bs[..3], &WriteOptions::default());
    write(
        &XdfData::new(dir.path().join("cset")),
        &bs[3..],
        &WriteOptions::default().append(),
    );
    assert!(dir.path().join("cset/cset.xdfm").exists());
    assert!(dir.path().join("cset/data/cset_4.xdfd").exists());
    let c = XdfData::new(dir.path().join("cset"));
    assert!(c.is_composite());
    assert_same(
        &rx_read_xdf(single.path(), None).unwrap(),
        &rx_read_xdf(c.path(), None).unwrap(),
    );
    let info = rx_get_info(c.path(), 0).unwrap();
    assert_eq!(info.num_blocks, 4);
    assert_eq!(
        info.vars
            .iter()
            .find(|v| v.name == "g")
            .unwrap()
            .levels
            .as_deref()
            .unwrap(),
        ["a", "b", "c", "d"]
    );
    // Projection and splitting work across parts.
    let parts = c.split(2).unwrap();
    let mut all = Vec::new();
    for p in &parts {
        all.extend(
            p.open(&ReadOptions::default().columns(["g", "i64"]))
                .unwrap()
                .map(Result::unwrap),
        );
    }
    assert_same(&concat(&bs).project(&[11, 4]).unwrap(), &concat(&all));
}

#[test]
fn set_var_info_renames_relabels_and_describes_without_touching_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = XdfData::new(dir.path().join("v.xdf"));
    let mut t = LevelTable::new();
    let b = batch(0, 20, &mut t, &["lo", "hi"]);
    write(&data, std::slice::from_ref(&b), &WriteOptions::default());
    let mut up = BTreeMap::new();
    up.insert(
        "g".to_string(),
        VarInfoUpdate {
            new_name: Some("grade".into()),
            levels: Some(vec!["LOW".into(), "HIGH".into()]),
            ..Default::default()
        },
    );
    up.insert(
        "f64".to_string(),
        VarInfoUpdate {
            description: Some("a float".into()),
            ..Default::default()
        },
    );
    rx_set_var_info(data.path(), &up).unwrap();
    let info = rx_get_var_info(data.path()).unwrap();
    let g = info.iter().find(|v| v.name == "grade").unwrap();
    assert_eq!(g.levels.as_deref().unwrap(), ["LOW", "HIGH"]);
    assert_eq!(
        info.iter()
            .find(|v| v.name == "f64")
            .unwrap()
            .description
            .as_deref(),
        Some("a float")
    );
    let back = rx_read_xdf(data.path(), Some(&["grade".to_string()])).unwrap();
    let s = arrow::compute::cast(back.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    let s = s.as_string::<i32>();
    assert_eq!(s.value(0), "LOW");
    assert_eq!(s.value(1), "HIGH");
    // Appending rows labelled with the new names keeps the codes.
    let mut t2 = LevelTable::new();
    let more = batch(20, 4, &mut t2, &["HIGH", "new"]);
    let cols: Vec<_> = more.columns().to_vec();
    let mut fields: Vec<_> = more
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[11] = fields[11].clone().with_name("grade");
    let more = RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), cols).unwrap();
    let mut w = data
        .create(more.schema(), &WriteOptions::default().append())
        .unwrap();
    w.write(&more).unwrap();
    w.finish().unwrap();
    let g = rx_get_var_info(data.path())
        .unwrap()
        .into_iter()
        .find(|v| v.name == "grade")
        .unwrap();
    assert_eq!(g.levels.unwrap(), ["LOW", "HIGH", "new"]);
    let back = rx_read_xdf(data.path(), Some(&["grade".to_string()])).unwrap();
    let s = arrow::compute::cast(back.column(0), &arrow::datatypes::DataType::Utf8).unwrap();
    assert_eq!(s.as_string::<i32>().value(20), "HIGH");
    assert_eq!(s.len(), 24);
    // Unknown columns and wrong level counts are errors.
    let mut bad = BTreeMap::new();
    bad.insert("nope".to_string(), VarInfoUpdate::default());
    assert!(
        rx_set_var_info(data.path(), &bad)
            .unwrap_err()
            .to_string()
            .contains("nope")
    );
}
