//! rx-compute's tests: every analysis agrees across contexts; scoped current context; rx_exec and
//! rx_exec_by.

#[cfg(feature = "odbc")]
mod indb;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, Int32Array, RecordBatch, StringArray,
};
use arrow::datatypes::{DataType, Field, Int32Type, Schema, SchemaRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rx_compute::{
    ComputeContext, CurrentContext, ExecOptions, RxComputeContext, RxLocalParallel, RxLocalSeq,
    rx_exec, rx_exec_by, rx_get_compute_context, rx_set_compute_context,
};
use rx_core::source::WriteOptions;
use rx_core::varinfo::META_LEVELS;
use rx_core::{DataSource, Error, RxOptions};
use rx_data::MemoryData;
use rx_models::cube::{CrossTabsOptions, CubeOptions};
use rx_models::linmod::LinModOptions;
use rx_models::tree::{BTreesOptions, DForestOptions, DTreeOptions, LossFunction};
use rx_models::{LogitOptions, SummaryOptions};
use serde_json::Value;

const LEVELS: [&str; 4] = ["north", "south", "east", "west"];

fn schema() -> SchemaRef {
    let f = Field::new(
        "region",
        DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)),
        true,
    )
    .with_metadata(HashMap::from([(
        META_LEVELS.to_string(),
        serde_json::to_string(&LEVELS).unwrap(),
    )]));
    Arc::new(Schema::new(vec![
        Field::new("x1", DataType::Float64, true),
        Field::new("x2", DataType::Float64, true),
        f,
        Field::new("y", DataType::Float64, true),
        Field::new("late", DataType::Int32, true),
        Field::new("w", DataType::Float64, true),
    ]))
}

/// `batches` chunks of `rows` rows: y linear in x1, x2 and the region plus noise, a 0/1 response
/// `late`, a few missing values, and one level (`west`) that never occurs after the first chunk.
fn data(batches: usize, rows: usize, seed: u64) -> MemoryData {
    let mut rng = StdRng::seed_from_u64(seed);
    let schema = schema();
    let values: ArrayRef = Arc::new(StringArray::from(LEVELS.to_vec()));
    let mut out = Vec::new();
    for b in 0..batches {
        let mut x1 = Vec::new();
        let mut x2 = Vec::new();
        let mut reg = Vec::new();
        let mut y = Vec::new();
        let mut late = Vec::new();
        let mut w = Vec::new();
        for i in 0..rows {
            let a: f64 = rng.random_range(-3.0..3.0);
            let c: f64 = rng.random_range(-5.0..5.0);
            let r: i32 = if b == 0 {
                (i % 4) as i32
            } else {
                (i % 3) as i32
            };
            let noise: f64 = rng.random_range(-1.0..1.0);
            let yy = 1.0 + 2.0 * a - 0.5 * c + [0.0, 1.5, -2.0, 0.5][r as usize] + noise;
            let p = 1.0 / (1.0 + (-(0.3 * a + 0.2 * noise)).exp());
            x1.push(if i % 97 == 5 { None } else { Some(a) });
            x2.push(Some(c));
            reg.push(Some(r));
            y.push(Some(yy));
            late.push(Some(i32::from(rng.random::<f64>() < p)));
            w.push(Some(rng.random_range(0.5..2.0)));
        }
        let keys = Int32Array::from(reg);
        let dict = DictionaryArray::<Int32Type>::try_new(keys, values.clone()).unwrap();
        out.push(
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Float64Array::from(x1)),
                    Arc::new(Float64Array::from(x2)),
                    Arc::new(dict),
                    Arc::new(Float64Array::from(y)),
                    Arc::new(Int32Array::from(late)),
                    Arc::new(Float64Array::from(w)),
                ],
            )
            .unwrap(),
        );
    }
    MemoryData::new(schema, out).unwrap().with_name("test data")
}

/// Every number in `a` and `b` agrees to `rel` relative (integers and strings exactly).
fn assert_close(a: &Value, b: &Value, rel: f64, path: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if x.is_f64() || y.is_f64() {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                let scale = x.abs().max(y.abs());
                // A tiny p value is an ill-conditioned function of its statistic (p ≈ e^(−t²/2):
                // relative error t² times the statistic's), so it is held to its statistic's
                // accuracy scaled by that factor instead.
                let rel = if path.ends_with("p_value") && scale < 1e-10 {
                    rel * 2.0 * scale.ln().abs()
                } else {
                    rel
                };
                assert!(
                    (x - y).abs() <= rel * scale || (x - y).abs() < 1e-300,
                    "{path}: {x} vs {y}"
                );
            } else {
                assert_eq!(x, y, "{path}: counts must agree exactly");
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{path}: lengths differ");
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                assert_close(p, q, rel, &format!("{path}[{i}]"));
            }
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>(),
                "{path}: keys differ"
            );
            for (k, p) in x {
                assert_close(p, &y[k], rel, &format!("{path}.{k}"));
            }
        }
        _ => assert_eq!(a, b, "{path}"),
    }
}

/// Runs every analysis in `ctx` and returns its results as JSON, by name.
fn all_analyses(ctx: &impl ComputeContext, data: &dyn DataSource) -> Vec<(&'static str, Value)> {
    let j = |v: &dyn erased::Ser| v.json();
    let mut out = Vec::new();
    let s = rx_models::rx_summary(
        "~ x1 + x2 + y + region",
        data,
        &SummaryOptions::default(),
        ctx,
    )
    .unwrap();
    out.push(("summary", j(&s)));
    let s = rx_models::rx_summary("y ~ region", data, &SummaryOptions::default(), ctx).unwrap();
    out.push(("summary by group", j(&s)));
    let c = rx_models::rx_cube("y ~ region", data, &CubeOptions::default(), ctx).unwrap();
    out.push(("cube", j(&c)));
    let c = rx_models::rx_crosstabs("~ region:F(late)", data, &CrossTabsOptions::default(), ctx)
        .unwrap();
    out.push(("crosstabs", j(&c)));
    let opts = LinModOptions {
        cov_coef: true,
        ..Default::default()
    };
    let m = rx_models::linmod::rx_lin_mod("y ~ x1 + x2 + region", data, &opts, ctx).unwrap();
    out.push(("lin_mod", j(&m)));
    let opts = LinModOptions {
        pweights: Some("w".into()),
        ..Default::default()
    };
    let m = rx_models::linmod::rx_lin_mod("y ~ x1 * region", data, &opts, ctx).unwrap();
    out.push(("weighted lin_mod", j(&m)));
    let m = rx_models::rx_logit("late ~ x1 + region", data, &LogitOptions::default(), ctx).unwrap();
    out.push(("logit", j(&m)));
    let opts = rx_models::GlmOptions {
        family: rx_models::family::Family::Poisson,
        ..Default::default()
    };
    let m = rx_models::rx_glm("late ~ x1", data, &opts, ctx).unwrap();
    out.push(("glm", j(&m)));
    let opts = DTreeOptions {
        x_val: 0,
        ..Default::default()
    };
    let m = rx_models::rx_dtree("y ~ x1 + x2 + region", data, &opts, ctx).unwrap();
    out.push(("dtree", j(&m)));
    let opts = DForestOptions {
        n_tree: 6,
        seed: 7,
        ..Default::default()
    };
    let m = rx_models::rx_dforest("F(late) ~ x1 + x2 + region", data, &opts, ctx).unwrap();
    out.push(("dforest", j(&m)));
    let opts = BTreesOptions {
        n_tree: 10,
        loss_function: Some(LossFunction::Bernoulli),
        seed: 3,
        ..Default::default()
    };
    let m = rx_models::rx_btrees("late ~ x1 + x2 + region", data, &opts, ctx).unwrap();
    out.push(("btrees", j(&m)));
    out
}

mod erased {
    /// Serialize behind a trait object.
    pub trait Ser {
        fn json(&self) -> serde_json::Value;
    }
    impl<T: serde::Serialize> Ser for T {
        fn json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}

#[test]
fn every_analysis_agrees_across_contexts() {
    let d = data(8, 2_500, 1);
    let seq = all_analyses(&RxLocalSeq, &d);
    for tasks in [2, 3] {
        let par = RxLocalParallel::new(tasks).unwrap();
        let got = all_analyses(&par, &d);
        for ((name, a), (_, b)) in seq.iter().zip(&got) {
            assert_close(a, b, 1e-12, &format!("{name} (parallel:{tasks})"));
        }
    }
}

#[test]
fn xdf_blocks_split_across_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.xdf");
    let d = data(4, 3_000, 2);
    rx_xdf::rx_write_xdf(
        &path,
        &d.schema().unwrap(),
        d.batches(),
        &WriteOptions::default().rows_per_block(1_000),
    )
    .unwrap();
    let x = rx_xdf::XdfData::new(&path);
    assert_eq!(x.split(2).unwrap().len(), 2);
    let seq = rx_models::linmod::rx_lin_mod(
        "y ~ x1 + x2 + region",
        &x,
        &LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    let par = rx_models::linmod::rx_lin_mod(
        "y ~ x1 + x2 + region",
        &x,
        &LinModOptions::default(),
        &RxComputeContext::parallel(2).unwrap(),
    )
    .unwrap();
    assert_close(
        &serde_json::to_value(&seq).unwrap(),
        &serde_json::to_value(&par).unwrap(),
        1e-12,
        "lin_mod on .xdf",
    );
    assert_eq!(seq.n_valid, 12_000 - 4 * 31);
}

#[test]
fn current_context_is_scoped_per_thread() {
    assert_eq!(rx_get_compute_context(), RxComputeContext::LocalSeq);
    {
        let _g = rx_set_compute_context(RxLocalParallel::new(2).unwrap());
        assert_eq!(rx_get_compute_context().tasks(), 2);
        {
            let _inner = rx_set_compute_context(RxLocalSeq);
            assert_eq!(rx_get_compute_context(), RxComputeContext::LocalSeq);
        }
        assert_eq!(rx_get_compute_context().tasks(), 2);
        // Another thread has its own current context.
        let other = std::thread::spawn(rx_get_compute_context).join().unwrap();
        assert_eq!(other, RxComputeContext::LocalSeq);
        // An analysis given CurrentContext follows the scope.
        let d = data(4, 500, 3);
        let s =
            rx_models::rx_summary("~ y", &d, &SummaryOptions::default(), &CurrentContext).unwrap();
        assert_eq!(s.nobs_valid, 2_000);
    }
    assert_eq!(rx_get_compute_context(), RxComputeContext::LocalSeq);
}

#[test]
fn context_names_parse() {
    assert_eq!(
        "local".parse::<RxComputeContext>().unwrap(),
        RxComputeContext::LocalSeq
    );
    assert_eq!("parallel:3".parse::<RxComputeContext>().unwrap().tasks(), 3);
    assert!("parallel".parse::<RxComputeContext>().unwrap().tasks() >= 1);
    for bad in ["parallel:0", "parallel:x", "cluster"] {
        let e = bad.parse::<RxComputeContext>().unwrap_err().to_string();
        assert!(e.contains(bad), "{e}");
    }
    assert_eq!(
        RxComputeContext::parallel(2).unwrap().to_string(),
        "RxLocalParallel(2 tasks)"
    );
}

#[test]
fn rx_exec_runs_in_order_and_keeps_failures_in_their_slots() {
    for ctx in [
        RxComputeContext::LocalSeq,
        RxComputeContext::parallel(2).unwrap(),
    ] {
        let args: Vec<i64> = (0..20).collect();
        let out = rx_exec(&ctx, &args, &ExecOptions::default(), |i, a| {
            assert_eq!(i as i64, *a);
            if *a == 7 {
                return Err(Error::invalid("seven is bad"));
            }
            if *a == 9 {
                panic!("nine panics");
            }
            Ok(a * a)
        })
        .unwrap();
        assert_eq!(out.len(), 20);
        for (i, r) in out.iter().enumerate() {
            match i {
                7 => {
                    let e = r.as_ref().unwrap_err();
                    let msg = format!("{e}: {}", std::error::Error::source(e).unwrap());
                    assert!(
                        msg.contains("task 7") && msg.contains("seven is bad"),
                        "{msg}"
                    );
                }
                9 => {
                    let msg = r.as_ref().unwrap_err().to_string();
                    assert!(msg.contains("task 9 panicked: nine panics"), "{msg}");
                }
                _ => assert_eq!(*r.as_ref().unwrap(), (i * i) as i64),
            }
        }
        // Stop at the first failure.
        let e = rx_exec(
            &ctx,
            &args,
            &ExecOptions::default().continue_on_failure(false),
            |_, a| {
                if *a >= 7 {
                    Err(Error::invalid(format!("{a} fails")))
                } else {
                    Ok(*a)
                }
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("task 7"), "{e}");
        // times_to_run: the same argument set, several times, each with its own index.
        let out = rx_exec(
            &ctx,
            &[10u64],
            &ExecOptions::default().times_to_run(5),
            |i, a| Ok(a + i as u64),
        )
        .unwrap();
        let got: Vec<u64> = out.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(got, vec![10, 11, 12, 13, 14]);
        let e = rx_exec(
            &ctx,
            &[1, 2],
            &ExecOptions::default().times_to_run(3),
            |_, a| Ok(*a),
        )
        .unwrap_err();
        assert!(e.to_string().contains("times_to_run"), "{e}");
    }
}

/// Runs a summary of `y` by partition and checks factor levels survive in each.
fn exec_by_summaries(ctx: &RxComputeContext, d: &MemoryData, options: &RxOptions) -> Vec<String> {
    let res = rx_exec_by(ctx, d, &["region"], options, |key, part| {
        // Every partition keeps the full level table of the factor.
        let schema = part.schema()?;
        let levels = schema.field_with_name("region").unwrap().metadata()[META_LEVELS].clone();
        assert_eq!(levels, serde_json::to_string(&LEVELS).unwrap());
        let s = rx_models::rx_summary(
            "~ y + region",
            part,
            &SummaryOptions::default(),
            &RxLocalSeq,
        )?;
        let f = &s.factors[0];
        assert_eq!(
            f.counts.0.len(),
            4,
            "all four levels, even those absent here"
        );
        let key = key.column(0).as_any_dictionary();
        assert_eq!(key.len(), 1);
        Ok(format!(
            "{:.9} {}",
            s.numeric("y").unwrap().mean.unwrap(),
            s.nobs_valid
        ))
    })
    .unwrap();
    assert_eq!(res.keys.num_rows(), 4);
    let table = res.table(|s| s.clone()).unwrap();
    assert_eq!(
        table
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>(),
        vec!["region", ".rxNumRows", "status", "result", "error"]
    );
    // Key order is level order.
    let keys = table.column(0).as_any_dictionary();
    let codes: Vec<i64> = (0..4)
        .map(|i| {
            arrow::array::cast::as_primitive_array::<Int32Type>(keys.keys())
                .value(i)
                .into()
        })
        .collect();
    assert_eq!(codes, vec![0, 1, 2, 3]);
    assert_eq!(res.rows.iter().sum::<u64>(), 6_000);
    res.results.into_iter().map(|r| r.unwrap()).collect()
}

#[test]
fn rx_exec_by_splits_by_key_and_keeps_levels() {
    let d = data(6, 1_000, 4);
    let opts = RxOptions::default();
    let seq = exec_by_summaries(&RxComputeContext::LocalSeq, &d, &opts);
    let par = exec_by_summaries(&RxComputeContext::parallel(2).unwrap(), &d, &opts);
    assert_eq!(seq, par);
    // A tiny memory budget spills the partitions to temporary .xdf files: same results.
    let spilled = exec_by_summaries(
        &RxComputeContext::LocalSeq,
        &d,
        &RxOptions::default().max_cache_bytes(1),
    );
    assert_eq!(seq, spilled);
    // 'west' (code 3) occurs only in the first chunk: 250 rows.
    assert!(seq[3].ends_with(" 250"), "{seq:?}");
}

#[test]
fn rx_exec_by_reports_failures_and_bad_keys() {
    let d = data(2, 100, 5);
    let res = rx_exec_by(
        &RxComputeContext::LocalSeq,
        &d,
        &["region", "late"],
        &RxOptions::default(),
        |key, _| {
            let late = key.column(1).as_primitive::<Int32Type>().value(0);
            if late == 1 {
                Err(Error::invalid("no model for late flights"))
            } else {
                Ok(late)
            }
        },
    )
    .unwrap();
    let table = res.table(|v| v.to_string()).unwrap();
    let status = table.column(3).as_string::<i32>();
    let error = table.column(5).as_string::<i32>();
    let late = table.column(1).as_primitive::<Int32Type>();
    for i in 0..table.num_rows() {
        if late.value(i) == 1 {
            assert_eq!(status.value(i), "error");
            assert!(error.value(i).contains("no model for late flights"));
        } else {
            assert_eq!(status.value(i), "ok");
            assert!(error.is_null(i));
        }
    }
    let e = rx_exec_by(
        &RxComputeContext::LocalSeq,
        &d,
        &["x1"],
        &RxOptions::default(),
        |_, _| Ok(()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("floating point"), "{e}");
    let e = rx_exec_by(
        &RxComputeContext::LocalSeq,
        &d,
        &["nope"],
        &RxOptions::default(),
        |_, _| Ok(()),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
}
