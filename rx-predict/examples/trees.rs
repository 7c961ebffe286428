//! Times revoscale's tree models end to end (read the training file, bin, fit) and scores them on
//! held-out data (AUC and accuracy of `Late`), for the side-by-side run with scikit-learn and
//! LightGBM in `benches/peers/trees.sh`.
//!
//! ```sh
//! cargo run --release -p rx-predict --example trees -- --train train.parquet --test test.parquet
//!     [--only dtree,dforest,btrees,btrees_default] [--reps 1] [--n-tree 100] [--formula F]
//!     (`--test none`: time the fits only)
//! ```
//!
//! The formula is `F(Late) ~ CRSDepTime + DayOfWeek + Distance + UniqueCarrier` (the airline
//! data of ../shared/peers/gen_data.py). Prints `key=value` lines on stdout, a log on stderr.

/// The allocator of the `rx` binary.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Instant;

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use rx_core::{Error, Result, RxLocalSeq};
use rx_data::{MemorySink, ParquetData};
use rx_models::tree::{
    BTreesOptions, DForestOptions, DTreeOptions, rx_btrees, rx_dforest, rx_dtree,
};
use rx_predict::{Model, PredictOptions, PredictType, rx_predict_default};

const FORMULA: &str = "F(Late) ~ CRSDepTime + DayOfWeek + Distance + UniqueCarrier";

/// The response column whose second level's probability is scored: `F(col)` or `col`.
fn response_column(formula: &str) -> String {
    let lhs = formula.split('~').next().unwrap_or("").trim();
    lhs.trim_start_matches("F(")
        .trim_end_matches(')')
        .to_string()
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The area under the ROC curve of `scores` for the 0/1 `truth` (ties count half).
fn auc(scores: &[f64], truth: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut pos) = (0.0, 0.0);
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            if truth[k] {
                rank_sum += mid;
                pos += 1.0;
            }
        }
        i = j + 1;
    }
    let neg = scores.len() as f64 - pos;
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// AUC and accuracy of a model's probability of `Late = 1` on the test file.
fn score(model: &Model, test: &ParquetData, y: &str) -> Result<(f64, f64)> {
    let sink = MemorySink::new();
    let options = PredictOptions::default()
        .predict_type(PredictType::Prob)
        .extra_vars_to_write([y]);
    rx_predict_default(model, test, &sink, &options)?;
    let out = sink
        .concat()?
        .ok_or_else(|| Error::invalid("no predictions"))?;
    let p = out
        .column_by_name(&format!("{y}_1_Prob"))
        .ok_or_else(|| Error::invalid(format!("no {y}_1_Prob column")))?;
    let p: Vec<f64> = p.as_primitive::<Float64Type>().values().to_vec();
    let late = arrow::compute::cast(
        out.column_by_name("Late")
            .ok_or_else(|| Error::invalid("no Late"))?,
        &arrow::datatypes::DataType::Float64,
    )
    .map_err(|e| Error::arrow(y, e))?;
    let truth: Vec<bool> = late
        .as_primitive::<Float64Type>()
        .values()
        .iter()
        .map(|&v| v == 1.0)
        .collect();
    let right = p
        .iter()
        .zip(&truth)
        .filter(|(p, t)| (**p > 0.5) == **t)
        .count();
    Ok((auc(&p, &truth), right as f64 / truth.len() as f64))
}

/// As the `rx` binary: mimalloc returns its free pages when an analysis asks.
#[allow(unsafe_code)]
fn mimalloc_collect() {
    // SAFETY: `mi_collect` takes no pointers and may be called from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) }
}

fn main() -> Result<()> {
    rx_core::memory::set_release_hook(mimalloc_collect);
    let args: Vec<String> = std::env::args().collect();
    let train = PathBuf::from(arg(&args, "--train", "train.parquet".to_string()));
    let test = PathBuf::from(arg(&args, "--test", "test.parquet".to_string()));
    let only: String = arg(&args, "--only", "dtree,dforest,btrees".to_string());
    let reps: usize = arg(&args, "--reps", 1);
    let n_tree: usize = arg(&args, "--n-tree", 100);
    // Another two-class formula (`F(y) ~ x1 + x2`); `--test none` skips scoring.
    let formula: String = arg(&args, "--formula", FORMULA.to_string());
    let formula = formula.as_str();
    let score_test = !args.iter().any(|a| a == "none");
    let train = ParquetData::new(&train);
    let test = ParquetData::new(&test);
    let y = response_column(formula);
    eprintln!("threads: {}", rayon::current_num_threads());
    for job in only.split(',').filter(|j| !j.is_empty()) {
        let mut times = Vec::new();
        let mut model: Option<Model> = None;
        for _ in 0..reps.max(1) {
            let t = Instant::now();
            let m: Model = match job {
                "dtree" => rx_dtree(
                    formula,
                    &train,
                    &DTreeOptions {
                        max_depth: 10,
                        min_split: 2,
                        min_bucket: Some(1),
                        x_val: 0,
                        ..DTreeOptions::default()
                    },
                    &RxLocalSeq,
                )?
                .into(),
                "dforest" => rx_dforest(
                    formula,
                    &train,
                    &DForestOptions {
                        n_tree,
                        max_depth: 10,
                        ..DForestOptions::default()
                    },
                    &RxLocalSeq,
                )?
                .into(),
                "btrees" | "btrees_default" => rx_btrees(
                    formula,
                    &train,
                    &BTreesOptions {
                        n_tree,
                        max_depth: 6,
                        learning_rate: 0.1,
                        max_num_bins: Some(255),
                        min_bucket: 20,
                        sample_rate: if job == "btrees" { 1.0 } else { 0.632 },
                        ..BTreesOptions::default()
                    },
                    &RxLocalSeq,
                )?
                .into(),
                other => return Err(Error::invalid(format!("unknown job {other}"))),
            };
            times.push(t.elapsed().as_secs_f64());
            model = Some(m);
        }
        times.sort_by(f64::total_cmp);
        let secs = times[times.len() / 2];
        let model = model.ok_or_else(|| Error::invalid("no run"))?;
        println!("{job}_seconds={secs}");
        if let Model::DForest(forest) = &model {
            // Real-time path: one row at a time, values in predictor order, no chunk machinery.
            let rows: Vec<Vec<f64>> = (0..10_000)
                .map(|i| {
                    (0..forest.spec.vars.len())
                        .map(|v| ((i * 31 + v * 7) % 97) as f64 / 97.0 * 20.0)
                        .collect()
                })
                .collect();
            // The first row lays out the trees for scoring; it is not timed.
            let mut sink = forest.votes(&rows[0])[0];
            let t = Instant::now();
            for r in &rows {
                sink = sink.wrapping_add(forest.votes(std::hint::black_box(r))[0]);
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / rows.len() as f64;
            // The same rows through the trees' nodes (the layout scoring used before).
            let t = Instant::now();
            for r in &rows {
                for leaf in forest.leaves(std::hint::black_box(r)) {
                    sink = sink.wrapping_add(u32::from(leaf.stats[1] >= leaf.stats[2]));
                }
            }
            let walk = t.elapsed().as_secs_f64() * 1e6 / rows.len() as f64;
            eprintln!(
                "{job}: one-row votes of {} trees: {us:.2} µs per row, {walk:.2} µs walking the nodes ({sink})",
                forest.trees.len()
            );
            println!("{job}_one_row_us={us}");
            println!("{job}_one_row_node_walk_us={walk}");
        }
        if !score_test {
            eprintln!("{job}: {secs:.3} s");
            continue;
        }
        let (a, acc) = score(&model, &test, &y)?;
        eprintln!("{job}: {secs:.3} s, test AUC {a:.4}, accuracy {acc:.4}");
        println!("{job}_auc={a}");
        println!("{job}_accuracy={acc}");
    }
    Ok(())
}
