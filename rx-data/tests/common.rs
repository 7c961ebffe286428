//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

use rx_core::arrow::array::{ArrayRef, AsArray};
use rx_core::arrow::datatypes::{Float64Type, Int32Type, Int64Type};
use rx_core::arrow::record_batch::RecordBatch;
use rx_core::{DataSource, ReadOptions};

/// A temporary directory with a file of `text` named `name`; returns both (keep the dir alive).
pub fn file_with(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

/// Reads every chunk of a source.
pub fn read_all(src: &dyn DataSource, options: &ReadOptions) -> rx_core::Result<Vec<RecordBatch>> {
    src.open(options)?.collect()
}

/// Reads a source into one batch.
pub fn read_one(src: &dyn DataSource) -> RecordBatch {
    let batches = read_all(src, &ReadOptions::default()).expect("read");
    let schema = src.schema().expect("schema");
    let schema = batches.last().map(|b| b.schema()).unwrap_or(schema);
    rx_core::arrow::compute::concat_batches(&schema, &batches).expect("concat")
}

/// A column's values as text (`None` for missing), factors as their levels.
pub fn strings(a: &ArrayRef) -> Vec<Option<String>> {
    let s =
        rx_core::arrow::compute::cast(a, &rx_core::arrow::datatypes::DataType::Utf8).expect("cast");
    s.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect()
}

/// A float column's values.
pub fn f64s(a: &ArrayRef) -> Vec<Option<f64>> {
    a.as_primitive::<Float64Type>().iter().collect()
}

/// An int32 column's values.
pub fn i32s(a: &ArrayRef) -> Vec<Option<i32>> {
    a.as_primitive::<Int32Type>().iter().collect()
}

/// An int64 column's values.
pub fn i64s(a: &ArrayRef) -> Vec<Option<i64>> {
    a.as_primitive::<Int64Type>().iter().collect()
}

/// The column named `name`.
pub fn col(b: &RecordBatch, name: &str) -> ArrayRef {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name} in {:?}", b.schema()))
        .clone()
}

/// The directory of the test data.
pub fn data_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data"))
}
