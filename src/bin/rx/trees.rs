//! `rx dtree|dforest|btrees <data> --formula F`: tree models, printed or as JSON, optionally saved.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use revoscale::core::{Error, Result, RxOptions};
use revoscale::models::tree::{
    BTreesOptions, DForestOptions, DTreeMethod, DTreeOptions, LossFunction, SplitCriterion,
    rx_btrees, rx_dforest, rx_dtree,
};
use revoscale::predict::{Model, rx_save_model};
use serde_json::{Value, json};

/// Which tree model a command fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    DTree,
    DForest,
    BTrees,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    Class,
    Anova,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LossArg {
    Gaussian,
    Bernoulli,
    Multinomial,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SplitArg {
    Gini,
    Information,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// The model formula, e.g. "Late ~ DayOfWeek + CRSDepTime + Distance".
    #[arg(long, short = 'f')]
    pub formula: String,
    /// class (a factor response) or anova (a numeric one); default from the response's type.
    #[arg(long)]
    pub method: Option<MethodArg>,
    /// Boosting loss; default from the response's type.
    #[arg(long)]
    pub loss: Option<LossArg>,
    /// The classification split criterion (dtree).
    #[arg(long, default_value = "gini")]
    pub split: SplitArg,
    /// Trees (forests) or rounds (boosting); default 10.
    #[arg(long, value_name = "N")]
    pub n_tree: Option<usize>,
    /// Greatest depth (default: 10; boosting 1).
    #[arg(long, value_name = "D")]
    pub max_depth: Option<usize>,
    /// Predictors tried per split (forests; default √p for classification, p/3 for regression).
    #[arg(long, value_name = "M")]
    pub m_try: Option<usize>,
    /// Shrinkage (boosting; 0.1).
    #[arg(long, value_name = "R")]
    pub learning_rate: Option<f64>,
    /// Share of rows sampled per tree (forests: 1 with replacement; boosting: 0.632).
    #[arg(long, value_name = "S")]
    pub sample_rate: Option<f64>,
    /// Forests: sample without replacement.
    #[arg(long)]
    pub no_replace: bool,
    /// Bins per continuous predictor (default min(1001, max(101, √n))).
    #[arg(long, value_name = "B")]
    pub max_num_bins: Option<usize>,
    /// Least rows in a leaf.
    #[arg(long, value_name = "K")]
    pub min_bucket: Option<usize>,
    /// Least rows in a node for a split.
    #[arg(long, value_name = "K")]
    pub min_split: Option<usize>,
    /// Complexity parameter (dtree; 0).
    #[arg(long, value_name = "C")]
    pub cp: Option<f64>,
    /// Cross-validation folds for the cp table (dtree; 2).
    #[arg(long, value_name = "K")]
    pub x_val: Option<usize>,
    /// The seed of every random draw.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Probability weights column.
    #[arg(long)]
    pub pweights: Option<String>,
    /// Frequency weights column.
    #[arg(long)]
    pub fweights: Option<String>,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Print a JSON summary (`n_tree`, `type`, `oob_error`, `importance`, dtree's `cptable`).
    #[arg(long)]
    pub json: bool,
    /// Save the fitted model (JSON; `.rxm` for the compact binary form).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

fn method(m: Option<MethodArg>) -> Option<DTreeMethod> {
    m.map(|m| match m {
        MethodArg::Class => DTreeMethod::Class,
        MethodArg::Anova => DTreeMethod::Anova,
    })
}

fn importance_json(imp: &[(String, f64)]) -> Value {
    Value::Array(
        imp.iter()
            .map(|(n, v)| json!({"variable": n, "importance": v}))
            .collect(),
    )
}

fn print_json(v: &Value) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| Error::external("writing JSON", e))?
    );
    Ok(())
}

pub fn run(kind: TreeKind, args: TreeArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let mut rx = RxOptions::default();
    if let Some(n) = args.rows_per_read {
        rx = rx.rows_per_read(n);
    }
    let model: Model = match kind {
        TreeKind::DTree => {
            let d = DTreeOptions::default();
            let o = DTreeOptions {
                method: method(args.method),
                criterion: match args.split {
                    SplitArg::Gini => SplitCriterion::Gini,
                    SplitArg::Information => SplitCriterion::Information,
                },
                min_split: args.min_split.unwrap_or(d.min_split),
                min_bucket: args.min_bucket,
                max_depth: args.max_depth.unwrap_or(d.max_depth),
                cp: args.cp.unwrap_or(d.cp),
                max_num_bins: args.max_num_bins,
                x_val: args.x_val.unwrap_or(d.x_val),
                pweights: args.pweights.clone(),
                fweights: args.fweights.clone(),
                seed: args.seed,
                rx,
                ..d
            };
            rx_dtree(&args.formula, data.as_ref(), &o, &args.context.get()?)?.into()
        }
        TreeKind::DForest => {
            let d = DForestOptions::default();
            let o = DForestOptions {
                method: method(args.method),
                n_tree: args.n_tree.unwrap_or(d.n_tree),
                m_try: args.m_try,
                replace: !args.no_replace,
                sample_rate: args.sample_rate,
                min_split: args.min_split.unwrap_or(d.min_split),
                min_bucket: args.min_bucket.unwrap_or(d.min_bucket),
                max_depth: args.max_depth.unwrap_or(d.max_depth),
                max_num_bins: args.max_num_bins,
                pweights: args.pweights.clone(),
                fweights: args.fweights.clone(),
                seed: args.seed,
                rx,
                ..d
            };
            rx_dforest(&args.formula, data.as_ref(), &o, &args.context.get()?)?.into()
        }
        TreeKind::BTrees => {
            let d = BTreesOptions::default();
            let o = BTreesOptions {
                loss_function: args.loss.map(|l| match l {
                    LossArg::Gaussian => LossFunction::Gaussian,
                    LossArg::Bernoulli => LossFunction::Bernoulli,
                    LossArg::Multinomial => LossFunction::Multinomial,
                }),
                n_tree: args.n_tree.unwrap_or(d.n_tree),
                learning_rate: args.learning_rate.unwrap_or(d.learning_rate),
                max_depth: args.max_depth.unwrap_or(d.max_depth),
                sample_rate: args.sample_rate.unwrap_or(d.sample_rate),
                min_bucket: args.min_bucket.unwrap_or(d.min_bucket),
                min_split: args.min_split,
                max_num_bins: args.max_num_bins,
                pweights: args.pweights.clone(),
                fweights: args.fweights.clone(),
                seed: args.seed,
                rx,
                ..d
            };
            rx_btrees(&args.formula, data.as_ref(), &o, &args.context.get()?)?.into()
        }
    };
    if let Some(path) = &args.save {
        rx_save_model(&model, path)?;
    }
    match &model {
        Model::DTree(m) => {
            if args.json {
                print_json(&json!({
                    "type": match m.method { DTreeMethod::Class => "class", DTreeMethod::Anova => "anova" },
                    "n_tree": 1,
                    "n_obs": m.n_obs,
                    "n_missing": m.n_missing,
                    "n_splits": m.nodes.iter().filter(|n| n.split.is_some()).count(),
                    "oob_error": Value::Array(Vec::new()),
                    "importance": importance_json(&m.importance),
                    "cptable": serde_json::to_value(&m.cptable).map_err(|e| Error::external("writing JSON", e))?,
                }))?;
            } else {
                println!("{m}");
                println!(
                    "{:>12} {:>6} {:>10} {:>10} {:>10}",
                    "CP", "nsplit", "rel error", "xerror", "xstd"
                );
                for (i, r) in m.cptable.iter().enumerate() {
                    let opt = |v: Option<f64>| v.map_or("".to_string(), |x| format!("{x:.6}"));
                    println!(
                        "{:<2}{:>10.6} {:>6} {:>10.6} {:>10} {:>10}",
                        i + 1,
                        r.cp,
                        r.nsplit,
                        r.rel_error,
                        opt(r.xerror),
                        opt(r.xstd)
                    );
                }
                print_importance(&m.importance);
            }
        }
        Model::DForest(m) => {
            let class = m.method == DTreeMethod::Class;
            if args.json {
                print_json(&json!({
                    "type": if class { "class" } else { "anova" },
                    "n_tree": m.trees.len(),
                    "m_try": m.m_try,
                    "n_obs": m.n_obs,
                    "n_missing": m.n_missing,
                    "oob_error": m.oob_error.iter().map(|e| e.error).collect::<Vec<_>>(),
                    "pseudo_r2": m.oob_error.last().and_then(|e| e.pseudo_r2),
                    "confusion": m.confusion,
                    "classes": m.spec.classes(),
                    "importance": importance_json(&m.importance),
                }))?;
            } else {
                println!("rx_dforest: {}", m.spec.formula);
                println!(
                    "Type of decision forest: {}\nNumber of trees: {}\nNo. of variables tried at each split: {}\n",
                    if class {
                        "classification"
                    } else {
                        "regression"
                    },
                    m.trees.len(),
                    m.m_try
                );
                if let Some(e) = m.oob_error.last() {
                    if class {
                        println!("OOB estimate of error rate: {:.2}%", 100.0 * e.error);
                    } else {
                        println!(
                            "Mean of squared residuals: {}\n% Var explained: {:.2}",
                            e.error,
                            100.0 * e.pseudo_r2.unwrap_or(f64::NAN)
                        );
                    }
                }
                if let (Some(c), Some(levels)) = (&m.confusion, m.spec.classes()) {
                    println!("Confusion matrix (rows: observed, columns: predicted):");
                    println!(
                        "{:>12} {}",
                        "",
                        levels
                            .iter()
                            .map(|l| format!("{l:>10}"))
                            .collect::<String>()
                    );
                    for (l, row) in levels.iter().zip(c) {
                        println!(
                            "{l:>12} {}",
                            row.iter().map(|v| format!("{v:>10}")).collect::<String>()
                        );
                    }
                }
                print_importance(&m.importance);
            }
        }
        Model::BTrees(m) => {
            let loss = match m.loss_function {
                LossFunction::Gaussian => "gaussian",
                LossFunction::Bernoulli => "bernoulli",
                LossFunction::Multinomial => "multinomial",
            };
            if args.json {
                print_json(&json!({
                    "type": loss,
                    "n_tree": m.oob_error.len(),
                    "learning_rate": m.learning_rate,
                    "init_pred": m.init_pred,
                    "n_obs": m.n_obs,
                    "n_missing": m.n_missing,
                    "oob_error": m.oob_error,
                    "train_error": m.train_error,
                    "importance": importance_json(&m.importance),
                }))?;
            } else {
                println!("rx_btrees: {}", m.spec.formula);
                println!(
                    "Loss function: {loss}\nNumber of rounds: {}\nLearning rate: {}\nInitial prediction: {:?}",
                    m.oob_error.len(),
                    m.learning_rate,
                    m.init_pred
                );
                if let (Some(o), Some(t)) = (m.oob_error.last(), m.train_error.last()) {
                    println!("Final deviance: training sample {t:.6}, out of bag {o:.6}");
                }
                print_importance(&m.importance);
            }
        }
        _ => {}
    }
    Ok(())
}

fn print_importance(imp: &[(String, f64)]) {
    let total: f64 = imp.iter().map(|(_, v)| v).sum();
    println!("\nVariable importance (impurity decrease, % of total):");
    for (n, v) in imp {
        let pct = if total > 0.0 { 100.0 * v / total } else { 0.0 };
        println!("  {n:<24} {v:>14.6} {pct:>6.1}%");
    }
}
