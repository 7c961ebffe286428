//! Writes a small .xdf file with a factor whose levels grow while streaming, then appends to it:
//! `cargo run -p rx-xdf --example write_sample -- out.xdf`. Used to check that Arrow tools open it.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rx_core::factor::{LevelTable, factor_type};
use rx_core::{DataSink, WriteOptions};
use rx_xdf::XdfData;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "sample.xdf".into());
    let schema = Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("g", factor_type(), true),
    ]));
    let mut t = LevelTable::new();
    let mut batch =
        |xs: Vec<f64>, gs: Vec<&str>| -> Result<RecordBatch, Box<dyn std::error::Error>> {
            let g = t.encode_strings(&StringArray::from(gs), false, "g")?;
            Ok(RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Float64Array::from(xs)) as ArrayRef, Arc::new(g)],
            )?)
        };
    let b1 = batch(vec![1.0, 2.0], vec!["a", "b"])?;
    let b2 = batch(vec![3.0], vec!["c"])?;
    let b3 = batch(vec![4.0], vec!["d"])?;
    let data = XdfData::new(&path);
    let mut w = data.create(schema.clone(), &WriteOptions::default().overwrite())?;
    w.write(&b1)?;
    w.write(&b2)?;
    w.finish()?;
    let mut w = data.create(schema.clone(), &WriteOptions::default().append())?;
    w.write(&b3)?;
    w.finish()?;
    println!("wrote {path}");
    Ok(())
}
