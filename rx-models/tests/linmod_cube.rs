//! `rx_lin_mod(cube = true)`: one coefficient per level of the leading factor by a partitioned
//! inverse — the same fit as the full model without an intercept, and a 10,000-level factor
//! fits without a 10,000 × 10,000 matrix.

use std::sync::Arc;

use rx_core::RxLocalSeq;
use rx_core::arrow::array::{ArrayRef, Float64Array, Int32Array, RecordBatch};
use rx_core::arrow::datatypes::{DataType, Field, Schema};
use rx_core::factor::{factor_type, make_factor};
use rx_core::varinfo::with_levels;
use rx_data::MemoryData;
use rx_models::linmod::{LinModOptions, rx_lin_mod};

/// `rows` rows of y, x, z and the factor `g` with `levels` levels, in batches of `batch`.
fn data(rows: usize, levels: usize, batch: usize) -> MemoryData {
    let names: Vec<String> = (0..levels).map(|i| format!("L{i}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("y", DataType::Float64, false),
        Field::new("x", DataType::Float64, false),
        Field::new("z", DataType::Float64, false),
        with_levels(Field::new("g", factor_type(), false), &names),
    ]));
    let mut batches = Vec::new();
    let mut start = 0;
    while start < rows {
        let n = batch.min(rows - start);
        let mut y = Vec::new();
        let mut x = Vec::new();
        let mut z = Vec::new();
        let mut g = Vec::new();
        for i in start..start + n {
            let level = (i * 7919) % levels;
            let xi = ((i * 37) % 101) as f64 / 10.0;
            let zi = ((i * 53) % 89) as f64 - 40.0;
            let noise = (((i * 2654435761) % 1000) as f64 - 500.0) / 250.0;
            y.push(2.0 + 0.01 * level as f64 + 1.5 * xi - 0.25 * zi + noise);
            x.push(xi);
            z.push(zi);
            g.push(level as i32);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(y)),
            Arc::new(Float64Array::from(x)),
            Arc::new(Float64Array::from(z)),
            Arc::new(make_factor(Int32Array::from(g), &names).unwrap()),
        ];
        batches.push(RecordBatch::try_new(schema.clone(), cols).unwrap());
        start += n;
    }
    MemoryData::new(schema, batches).unwrap()
}

#[test]
fn cube_equals_the_full_fit_without_intercept() {
    let d = data(3000, 12, 700);
    let cube = rx_lin_mod(
        "y ~ g + x + z",
        &d,
        &LinModOptions::default().cube(true),
        &RxLocalSeq,
    )
    .unwrap();
    let full = rx_lin_mod(
        "y ~ g + x + z - 1",
        &d,
        &LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(cube.coefficients.len(), full.coefficients.len());
    for (a, b) in cube.coefficients.iter().zip(&full.coefficients) {
        assert_eq!(a.term, b.term);
        let (ea, eb) = (a.estimate.unwrap(), b.estimate.unwrap());
        assert!(
            (ea - eb).abs() <= 1e-10 * eb.abs().max(1.0),
            "{}: {ea} vs {eb}",
            a.term
        );
        let (sa, sb) = (a.std_error.unwrap(), b.std_error.unwrap());
        assert!((sa - sb).abs() <= 1e-9 * sb, "{} se: {sa} vs {sb}", a.term);
    }
    assert!((cube.sigma - full.sigma).abs() <= 1e-10 * full.sigma);
    assert_eq!(cube.df_residual, full.df_residual);
    // R² about the mean (the cells stand in for the intercept).
    let with_intercept =
        rx_lin_mod("y ~ g + x + z", &d, &LinModOptions::default(), &RxLocalSeq).unwrap();
    assert!((cube.r_squared - with_intercept.r_squared).abs() < 1e-10);
    assert!(
        (cube.f_statistic.unwrap() - with_intercept.f_statistic.unwrap()).abs()
            < 1e-6 * with_intercept.f_statistic.unwrap()
    );
}

#[test]
fn cube_is_invariant_to_chunking() {
    let a = rx_lin_mod(
        "y ~ g + x",
        &data(2000, 9, 2000),
        &LinModOptions::default().cube(true),
        &RxLocalSeq,
    )
    .unwrap();
    let b = rx_lin_mod(
        "y ~ g + x",
        &data(2000, 9, 37),
        &LinModOptions::default().cube(true).rows_per_read(53),
        &RxLocalSeq,
    )
    .unwrap();
    for (x, y) in a.coefficients.iter().zip(&b.coefficients) {
        let (ex, ey) = (x.estimate.unwrap(), y.estimate.unwrap());
        assert!(
            (ex - ey).abs() <= 1e-10 * ey.abs().max(1.0),
            "{}: {ex} vs {ey}",
            x.term
        );
    }
}

#[test]
fn cube_fits_ten_thousand_levels() {
    let d = data(60_000, 10_000, 20_000);
    let fit = rx_lin_mod(
        "y ~ g + x + z",
        &d,
        &LinModOptions::default().cube(true),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(fit.coefficients.len(), 10_002);
    let x = fit.coefficients.iter().find(|c| c.term == "x").unwrap();
    assert!((x.estimate.unwrap() - 1.5).abs() < 0.05, "{x:?}");
    let z = fit.coefficients.iter().find(|c| c.term == "z").unwrap();
    assert!((z.estimate.unwrap() + 0.25).abs() < 0.01, "{z:?}");
    assert_eq!(fit.df_residual, 60_000.0 - 10_002.0);
    assert!(
        fit.model.cov_unscaled.is_empty(),
        "no levels x levels matrix is kept"
    );
}
