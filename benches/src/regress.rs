//! Regression benchmark data: `y` (numeric), `yb` (0/1), `x1`..`x10` (numeric) and `F`, a factor
//! with 7 levels — the shape of the regression issue's benchmark ("10 numeric terms + a 7-level
//! factor"). Deterministic for a given row count.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Schema, SchemaRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rx_core::factor::{factor_type, make_factor};
use rx_core::varinfo::with_levels;
use rx_core::{DataSource, ReadOptions, Result};

/// The factor's levels.
pub const LEVELS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
/// Rows per generated batch.
pub const BATCH_ROWS: usize = 500_000;
/// The formula of the linear model benchmark.
pub const LINMOD_FORMULA: &str = "y ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + F";
/// The summary the contexts benchmark times: every numeric column and the factor.
pub const SUMMARY_FORMULA: &str = "~ y + x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + F";
/// The logistic regression the benchmarks time.
pub const LOGIT_FORMULA: &str = "yb ~ x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + x9 + x10 + F";

/// The schema of [`RegressGen`]'s batches.
pub fn schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("y", DataType::Float64, false),
        Field::new("yb", DataType::Float64, false),
    ];
    for j in 1..=10 {
        fields.push(Field::new(format!("x{j}"), DataType::Float64, false));
    }
    let levels: Vec<String> = LEVELS.iter().map(|s| (*s).to_string()).collect();
    fields.push(with_levels(Field::new("F", factor_type(), false), &levels));
    Arc::new(Schema::new(fields))
}

/// Generates the rows batch by batch.
#[derive(Debug)]
pub struct RegressGen {
    rng: StdRng,
    left: usize,
}

impl RegressGen {
    /// A generator of `rows` rows.
    pub fn new(rows: usize) -> Self {
        RegressGen {
            rng: StdRng::seed_from_u64(20261125),
            left: rows,
        }
    }

    fn normal(&mut self) -> f64 {
        let u1: f64 = 1.0 - self.rng.random::<f64>();
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

impl Iterator for RegressGen {
    type Item = RecordBatch;

    fn next(&mut self) -> Option<RecordBatch> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(BATCH_ROWS);
        self.left -= n;
        let beta = [0.5, -1.0, 0.25, 2.0, -0.5, 0.1, 0.0, 1.5, -2.0, 0.75];
        let effect = [0.0, 0.2, -0.3, 0.5, 0.1, -0.6, 0.4];
        let mut x: Vec<Vec<f64>> = (0..10).map(|_| Vec::with_capacity(n)).collect();
        let mut y = Vec::with_capacity(n);
        let mut yb = Vec::with_capacity(n);
        let mut f = Vec::with_capacity(n);
        for _ in 0..n {
            let mut eta = 1.0;
            for (j, col) in x.iter_mut().enumerate() {
                // Different scales and offsets per column, as real data has.
                let v = self.normal() * (1.0 + j as f64) + 10.0 * j as f64;
                col.push(v);
                eta += beta[j] * (v - 10.0 * j as f64) / (1.0 + j as f64);
            }
            let level = self.rng.random_range(0..7usize);
            eta += effect[level];
            f.push(level as i32);
            y.push(eta + self.normal());
            let p = 1.0 / (1.0 + (-eta / 3.0).exp());
            yb.push(if self.rng.random::<f64>() < p {
                1.0
            } else {
                0.0
            });
        }
        let levels: Vec<String> = LEVELS.iter().map(|s| (*s).to_string()).collect();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(y)),
            Arc::new(Float64Array::from(yb)),
        ];
        cols.extend(
            x.into_iter()
                .map(|c| Arc::new(Float64Array::from(c)) as ArrayRef),
        );
        let factor = make_factor(Int32Array::from(f), &levels).ok()?;
        cols.push(Arc::new(factor));
        RecordBatch::try_new(schema(), cols).ok()
    }
}

/// The columns the linear model reads: `y`, `x1`..`x10`, `F`.
pub fn linmod_columns() -> Vec<String> {
    let mut columns: Vec<String> = vec!["y".into()];
    columns.extend((1..=10).map(|j| format!("x{j}")));
    columns.push("F".into());
    columns
}

/// One plain pass over the columns the linear model reads, summing each (the codes for `F`):
/// the floor of any one-pass method on the same data.
pub fn plain_pass(data: &dyn DataSource) -> Result<f64> {
    let read = ReadOptions {
        columns: Some(linmod_columns()),
        rows_per_read: Some(rx_core::RxOptions::default().rows_per_read),
        ..Default::default()
    };
    let mut total = 0.0;
    for chunk in data.open(&read)? {
        for col in chunk?.columns() {
            total += match col.data_type() {
                DataType::Float64 => col
                    .as_primitive::<Float64Type>()
                    .values()
                    .iter()
                    .sum::<f64>(),
                DataType::Dictionary(..) => {
                    let keys = col.as_dictionary::<Int32Type>().keys();
                    keys.values().iter().map(|&k| f64::from(k)).sum::<f64>()
                }
                _ => col.len() as f64,
            };
        }
    }
    Ok(total)
}
