//! Tree models: known splits on small data, chunking and thread independence, errors.

use std::sync::Arc;

use arrow::array::{ArrayRef, DictionaryArray, Float64Array, StringArray};
use arrow::datatypes::Int32Type;
use arrow::record_batch::RecordBatch;
use proptest::prelude::*;
use rx_core::{RxLocalSeq, RxOptions};
use rx_data::MemoryData;
use rx_models::tree::{
    BTreesOptions, DForestOptions, DTreeMethod, DTreeOptions, LossFunction, Rule, rx_btrees,
    rx_dforest, rx_dtree,
};

fn factor(values: &[&str]) -> ArrayRef {
    let a: DictionaryArray<Int32Type> = values.iter().copied().collect();
    Arc::new(a)
}

fn source(columns: Vec<(&str, ArrayRef)>) -> MemoryData {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    MemoryData::from_batches(vec![batch]).unwrap()
}

fn rx(rows: usize) -> RxOptions {
    RxOptions::default().rows_per_read(rows).report_progress(0)
}

/// A deterministic pseudo-random sequence in [0, 1).
fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

/// y is 0 up to x = 50 and 10 above; z is noise.
fn step_data() -> MemoryData {
    let x: Vec<f64> = (1..=100).map(f64::from).collect();
    let y: Vec<f64> = x
        .iter()
        .map(|&v| if v <= 50.0 { 0.0 } else { 10.0 })
        .collect();
    let z = uniform(100, 7);
    source(vec![
        ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
        ("y", Arc::new(Float64Array::from(y))),
        ("z", Arc::new(Float64Array::from(z))),
    ])
}

#[test]
fn a_regression_tree_finds_the_step() {
    let data = step_data();
    let fit = rx_dtree("y ~ x + z", &data, &DTreeOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(fit.method, DTreeMethod::Anova);
    let root = &fit.nodes[0];
    let split = root.split.as_ref().expect("the root splits");
    assert_eq!(split.var, 0, "splits on x");
    match &split.rule {
        Rule::Below { value, .. } => assert_eq!(*value, 50.5),
        r => panic!("{r:?}"),
    }
    // Both children are pure: no further split, means 0 and 10, and the sum of squares 2500 gone.
    assert!(fit.nodes.iter().filter(|n| n.split.is_some()).count() == 1);
    assert_eq!(fit.node_value(root.left as usize), 0.0);
    assert_eq!(fit.node_value(root.right as usize), 10.0);
    assert!((split.improve - 2500.0).abs() < 1e-9);
    assert_eq!(fit.importance[0].0, "x");
    // The cp table: the root (cp 1, rel error 1) and the split tree (rel error 0).
    assert_eq!(fit.cptable.len(), 2);
    assert!((fit.cptable[0].cp - 1.0).abs() < 1e-12);
    assert_eq!(fit.cptable[1].nsplit, 1);
    assert!(fit.cptable[1].rel_error.abs() < 1e-12);
    assert!(fit.cptable[1].xerror.unwrap() < 0.2);
    let printed = fit.to_string();
    assert!(printed.contains("2) x< 50.5 50 0 0 *"), "{printed}");
    assert!(printed.contains("3) x>=50.5 50 0 10 *"), "{printed}");
    // Prediction from raw values: x = 50 goes left, 51 right, a missing x the majority way.
    assert_eq!(fit.node_value(fit.leaf(&[50.0, 0.5])), 0.0);
    assert_eq!(fit.node_value(fit.leaf(&[51.0, 0.5])), 10.0);
}

#[test]
fn a_classification_tree_splits_a_factor_by_level() {
    // Levels a and c are "yes", b and d "no", with one exception in d.
    let levels = ["a", "b", "c", "d"];
    let mut f = Vec::new();
    let mut y = Vec::new();
    for i in 0..80 {
        let l = levels[i % 4];
        f.push(l);
        let yes = (l == "a" || l == "c") ^ (i == 3);
        y.push(if yes { "yes" } else { "no" });
    }
    let data = source(vec![("f", factor(&f)), ("y", factor(&y))]);
    let options = DTreeOptions {
        min_split: 2,
        min_bucket: Some(1),
        ..DTreeOptions::default()
    };
    let fit = rx_dtree("y ~ f", &data, &options, &RxLocalSeq).unwrap();
    assert_eq!(fit.method, DTreeMethod::Class);
    let split = fit.nodes[0].split.as_ref().unwrap();
    let Rule::Levels(set) = &split.rule else {
        panic!("{:?}", split.rule)
    };
    // a and c on one side, b and d on the other.
    assert_eq!(set[0], set[2]);
    assert_eq!(set[1], set[3]);
    assert_ne!(set[0], set[1]);
    // Gini (weighted): root 80 − (41² + 39²)/80 = 39.975; the b, d side 40 − (1 + 39²)/40 = 1.95.
    assert!((split.improve - 38.025).abs() < 1e-9, "{}", split.improve);
    // The side with d has one "yes" in 40 rows.
    let d_side = if set[3] {
        fit.nodes[0].left
    } else {
        fit.nodes[0].right
    } as usize;
    let probs = fit.node_probs(d_side);
    let classes = fit.classes().unwrap();
    let yes = classes.iter().position(|c| c == "yes").unwrap();
    assert!((probs[yes] - 1.0 / 40.0).abs() < 1e-12);
}

#[test]
fn class_needs_a_factor_and_terms_must_be_single_variables() {
    let data = step_data();
    let e = rx_dtree(
        "y ~ x",
        &data,
        &DTreeOptions {
            method: Some(DTreeMethod::Class),
            ..DTreeOptions::default()
        },
        &RxLocalSeq,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("F(y)"), "{e}");
    let e = rx_dtree("y ~ x:z", &data, &DTreeOptions::default(), &RxLocalSeq)
        .unwrap_err()
        .to_string();
    assert!(e.contains("x:z"), "{e}");
    let e = rx_dtree("y ~ nope", &data, &DTreeOptions::default(), &RxLocalSeq)
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}

/// Two classes from a noisy threshold on x1 + x2, with a factor and a useless predictor.
fn classes_data(n: usize, seed: u64) -> RecordBatch {
    let x1 = uniform(n, seed);
    let x2 = uniform(n, seed + 1);
    let noise = uniform(n, seed + 2);
    let g: Vec<&str> = uniform(n, seed + 3)
        .iter()
        .map(|&u| ["p", "q", "r"][(u * 3.0) as usize])
        .collect();
    let y: Vec<&str> = (0..n)
        .map(|i| {
            let s = x1[i] + x2[i] + if g[i] == "q" { 0.3 } else { 0.0 } + 0.3 * noise[i];
            if s > 1.2 { "hi" } else { "lo" }
        })
        .collect();
    let mut x3 = uniform(n, seed + 4);
    x3[0] = f64::NAN;
    RecordBatch::try_from_iter(vec![
        ("x1", Arc::new(Float64Array::from(x1)) as ArrayRef),
        ("x2", Arc::new(Float64Array::from(x2))),
        ("x3", Arc::new(Float64Array::from(x3))),
        ("g", factor(&g)),
        ("y", factor(&y)),
        (
            "label",
            Arc::new(StringArray::from(vec!["row"; n])) as ArrayRef,
        ),
    ])
    .unwrap()
}

#[test]
fn chunking_does_not_change_the_tree() {
    let batch = classes_data(3000, 11);
    let data = MemoryData::from_batches(vec![batch]).unwrap();
    let fit = |rows: usize| {
        let options = DTreeOptions {
            rx: rx(rows),
            max_num_bins: Some(64),
            ..DTreeOptions::default()
        };
        rx_dtree("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
    };
    let whole = fit(1_000_000);
    assert!(whole.nodes.len() > 3);
    assert_eq!(whole, fit(97));
    assert_eq!(whole, fit(1000));
}

fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

#[test]
fn a_forest_is_the_same_on_one_and_two_threads() {
    let data = MemoryData::from_batches(vec![classes_data(40_000, 3)]).unwrap();
    let options = DForestOptions {
        n_tree: 12,
        seed: 42,
        ..DForestOptions::default()
    };
    let one = in_pool(1, || {
        rx_dforest("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
    });
    let two = in_pool(2, || {
        rx_dforest("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
    });
    assert_eq!(one, two);
    assert_eq!(one.oob_error.len(), 12);
    let last = one.oob_error.last().unwrap().error;
    assert!(last < 0.15, "out-of-bag error {last}");
    assert_eq!(one.m_try, 2);
    // Scoring by the flat steps reaches the leaves walking the nodes does: continuous values,
    // factor levels (codes past the last level too) and missing values.
    for i in 0..400 {
        let at = |j: usize| ((i * 7 + j * 13) % 23) as f64 / 20.0 - 0.05;
        let mut row = [at(0), at(1), at(2), (i % 4) as f64];
        if i % 5 == 0 {
            row[i % 4] = f64::NAN;
        }
        let mut votes = vec![0u32; 2];
        let mut probs = vec![0.0; 2];
        for leaf in one.leaves(&row) {
            votes[usize::from(leaf.stats[2] > leaf.stats[1])] += 1;
            let w = leaf.stats[1] + leaf.stats[2];
            probs[0] += leaf.stats[1] / w;
            probs[1] += leaf.stats[2] / w;
        }
        probs.iter_mut().for_each(|p| *p /= 12.0);
        assert_eq!(one.votes(&row), votes, "row {row:?}");
        assert_eq!(one.probabilities(&row), probs, "row {row:?}");
    }
    // Another seed, another forest.
    let other = rx_dforest(
        "y ~ x1 + x2 + x3 + g",
        &data,
        &DForestOptions {
            seed: 43,
            ..options.clone()
        },
        &RxLocalSeq,
    )
    .unwrap();
    assert_ne!(one.trees, other.trees);
    let x3 = one.importance.iter().find(|(n, _)| n == "x3").unwrap().1;
    let x1 = one.importance.iter().find(|(n, _)| n == "x1").unwrap().1;
    assert!(x1 > 5.0 * x3, "{:?}", one.importance);
}

#[test]
fn boosting_is_the_same_on_one_and_two_threads_and_learns() {
    let data = MemoryData::from_batches(vec![classes_data(30_000, 5)]).unwrap();
    let options = BTreesOptions {
        n_tree: 40,
        max_depth: 3,
        seed: 9,
        ..BTreesOptions::default()
    };
    let one = in_pool(1, || {
        rx_btrees("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
    });
    let two = in_pool(2, || {
        rx_btrees("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
    });
    assert_eq!(one, two);
    assert_eq!(one.loss_function, LossFunction::Bernoulli);
    assert!(
        one.oob_error[39] < one.oob_error[0] * 0.7,
        "{:?}",
        one.oob_error
    );
    // The probability is of the second level.
    let p = one.probabilities(&[0.9, 0.9, 0.5, 0.0])[0];
    let hi_second = one.spec.classes().unwrap()[1] == "hi";
    let p_hi = if hi_second { p } else { 1.0 - p };
    assert!(p_hi > 0.8, "{p_hi}");
}

#[test]
fn a_gaussian_stump_with_full_steps_is_the_regression_stump() {
    let data = step_data();
    let b = rx_btrees(
        "y ~ x + z",
        &data,
        &BTreesOptions {
            n_tree: 1,
            learning_rate: 1.0,
            sample_rate: 1.0,
            min_bucket: 1,
            ..BTreesOptions::default()
        },
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(b.init_pred, vec![5.0]);
    assert_eq!(b.scores(&[10.0, 0.0]), vec![0.0]);
    assert_eq!(b.scores(&[90.0, 0.0]), vec![10.0]);
    assert_eq!(b.train_error, vec![0.0]);
}

#[test]
fn multinomial_boosting_and_a_regression_forest() {
    let n = 6000;
    let x = uniform(n, 21);
    let y: Vec<&str> = x
        .iter()
        .map(|&v| {
            if v < 0.3 {
                "a"
            } else if v < 0.7 {
                "b"
            } else {
                "c"
            }
        })
        .collect();
    let data = source(vec![
        ("x", Arc::new(Float64Array::from(x.clone())) as ArrayRef),
        ("y", factor(&y)),
        (
            "v",
            Arc::new(Float64Array::from(
                x.iter().map(|v| 3.0 * v).collect::<Vec<_>>(),
            )),
        ),
    ]);
    let b = rx_btrees(
        "y ~ x",
        &data,
        &BTreesOptions {
            n_tree: 30,
            max_depth: 2,
            ..BTreesOptions::default()
        },
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(b.loss_function, LossFunction::Multinomial);
    assert_eq!(b.trees.len(), 90);
    let p = b.probabilities(&[0.5]);
    let classes = b.spec.classes().unwrap();
    let best = (0..3).max_by(|&i, &j| p[i].total_cmp(&p[j])).unwrap();
    assert_eq!(classes[best], "b", "{p:?}");
    let f = rx_dforest("v ~ x", &data, &DForestOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(f.method, DTreeMethod::Anova);
    let r2 = f.oob_error.last().unwrap().pseudo_r2.unwrap();
    assert!(r2 > 0.99, "{r2}");
    assert!((f.mean(&[0.5]) - 1.5).abs() < 0.05);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Histograms (and the value sketch) merge the same whatever the chunking: a forest grown
    /// from data read in chunks of any size is the forest grown from one chunk.
    #[test]
    fn merging_is_independent_of_chunking(rows in 1usize..700, seed in 0u64..1000) {
        let data = MemoryData::from_batches(vec![classes_data(1500, seed)]).unwrap();
        let fit = |r: usize| {
            let options = DForestOptions { n_tree: 3, rx: rx(r), max_num_bins: Some(32), ..DForestOptions::default() };
            rx_dforest("y ~ x1 + x2 + x3 + g", &data, &options, &RxLocalSeq).unwrap()
        };
        prop_assert_eq!(fit(rows), fit(100_000));
    }
}

#[test]
fn surrogates_route_rows_whose_split_variable_is_missing() {
    // y steps at x = 50; z follows x except on every fifth row (mirrored); a third of the x
    // values are missing.
    let n = 300;
    let x: Vec<Option<f64>> = (0..n)
        .map(|i| (i % 3 != 0).then_some((i % 100) as f64))
        .collect();
    let z: Vec<f64> = (0..n)
        .map(|i| {
            let v = (i % 100) as f64 + 0.5;
            if i % 5 == 0 { 100.0 - v } else { v }
        })
        .collect();
    let y: Vec<f64> = (0..n)
        .map(|i| if i % 100 < 50 { 0.0 } else { 10.0 })
        .collect();
    let data = source(vec![
        ("x", Arc::new(Float64Array::from(x)) as ArrayRef),
        ("z", Arc::new(Float64Array::from(z))),
        ("y", Arc::new(Float64Array::from(y))),
    ]);
    let fit_with = |max_surrogate: usize| {
        let options = DTreeOptions {
            max_surrogate,
            max_depth: 1,
            ..DTreeOptions::default()
        };
        rx_dtree("y ~ x + z", &data, &options, &RxLocalSeq).unwrap()
    };
    let fit = fit_with(2);
    let split = fit.nodes[0].split.as_ref().unwrap();
    assert_eq!(split.var, 0, "x is the better split");
    assert_eq!(split.surrogates.len(), 1);
    let sur = &split.surrogates[0];
    assert_eq!(sur.var, 1);
    assert!((sur.agreement - 0.8).abs() < 0.02, "{}", sur.agreement);
    let (l, r) = (fit.nodes[0].left as usize, fit.nodes[0].right as usize);
    // Rows without x follow z: the leaves hold all 300 rows, and the left one is no longer the
    // majority side of the missing rows only.
    assert_eq!(fit.nodes[l].count() + fit.nodes[r].count(), 300.0);
    assert_eq!(fit.leaf(&[f64::NAN, 80.5]), r, "{sur:?}");
    assert_eq!(fit.leaf(&[f64::NAN, 10.5]), l);
    // Both missing: the majority side.
    let majority = if fit.nodes[l].count() >= fit.nodes[r].count() {
        l
    } else {
        r
    };
    assert_eq!(fit.leaf(&[f64::NAN, f64::NAN]), majority);
    // Surrogates make the fit better than sending every missing row one way.
    let plain = fit_with(0);
    assert!(plain.nodes[0].split.as_ref().unwrap().surrogates.is_empty());
    assert!(fit.cptable.last().unwrap().rel_error < plain.cptable.last().unwrap().rel_error);
}

/// Large enough that the root's histogram is built in several windows of parallel pieces and
/// its rows are partitioned in parallel pieces: the tree must not depend on the threads, and
/// each child must hold exactly the rows its rule sends there.
#[test]
fn a_large_regression_tree_is_the_same_on_one_and_two_threads_and_partitions_exactly() {
    let n = 300_000;
    let x1 = uniform(n, 11);
    let x2 = uniform(n, 12);
    let noise = uniform(n, 13);
    let y: Vec<f64> = (0..n)
        .map(|i| 3.0 * x1[i] + if x2[i] > 0.3 { 1.7 } else { 0.0 } + noise[i])
        .collect();
    let data = source(vec![
        ("x1", Arc::new(Float64Array::from(x1.clone())) as ArrayRef),
        ("x2", Arc::new(Float64Array::from(x2.clone()))),
        ("y", Arc::new(Float64Array::from(y))),
    ]);
    let options = DTreeOptions {
        method: Some(DTreeMethod::Anova),
        max_depth: 3,
        max_num_bins: Some(255),
        x_val: 0,
        rx: rx(70_000),
        ..DTreeOptions::default()
    };
    let one = in_pool(1, || {
        rx_dtree("y ~ x1 + x2", &data, &options, &RxLocalSeq).unwrap()
    });
    let two = in_pool(2, || {
        rx_dtree("y ~ x1 + x2", &data, &options, &RxLocalSeq).unwrap()
    });
    assert_eq!(one, two);
    // The root's children, and the left child's children, count the rows their rules select.
    let goes_left = |node: usize, i: usize| -> bool {
        let split = one.nodes[node].split.as_ref().unwrap();
        let x = if split.var == 0 { x1[i] } else { x2[i] };
        match split.rule {
            Rule::Below { value, .. } => x <= value,
            Rule::Levels(_) => unreachable!("numeric predictors"),
        }
    };
    let root = &one.nodes[0];
    let (l, r) = (root.left as usize, root.right as usize);
    let left_rows: Vec<usize> = (0..n).filter(|&i| goes_left(0, i)).collect();
    assert_eq!(one.nodes[l].stats[0], left_rows.len() as f64);
    assert_eq!(one.nodes[r].stats[0], (n - left_rows.len()) as f64);
    let child = &one.nodes[l];
    assert!(child.split.is_some(), "the left child splits");
    let ll = left_rows.iter().filter(|&&i| goes_left(l, i)).count();
    assert_eq!(one.nodes[child.left as usize].stats[0], ll as f64);
    assert_eq!(
        one.nodes[child.right as usize].stats[0],
        (left_rows.len() - ll) as f64
    );
}

#[test]
fn boosting_deviance_is_that_of_its_own_scores() {
    let n = 20_000;
    let batch = classes_data(n, 11);
    let data = MemoryData::from_batches(vec![batch.clone()]).unwrap();
    let y = arrow::compute::cast(
        batch.column_by_name("y").unwrap(),
        &arrow::datatypes::DataType::Utf8,
    )
    .unwrap();
    let y = y.as_any().downcast_ref::<StringArray>().unwrap();
    for sample_rate in [1.0, 0.5] {
        let b = rx_btrees(
            "y ~ x1 + x2 + x3 + g",
            &data,
            &BTreesOptions {
                n_tree: 8,
                max_depth: 3,
                learning_rate: 0.3,
                sample_rate,
                ..BTreesOptions::default()
            },
            &RxLocalSeq,
        )
        .unwrap();
        let second = &b.spec.classes().unwrap()[1];
        let cols = b.spec.predictor_values(&batch).unwrap();
        // −2 (y f − log(1 + e^f)) per row from the model's scores, summed in one go.
        let total: f64 = (0..n)
            .map(|r| {
                let values: Vec<f64> = cols.iter().map(|c| c[r]).collect();
                let f = b.scores(&values)[0];
                let y01 = f64::from(u8::from(y.value(r) == second.as_str()));
                -2.0 * (y01 * f - (f.max(0.0) + (-f.abs()).exp().ln_1p()))
            })
            .sum();
        let in_bag = (sample_rate * n as f64).round();
        let last = b.train_error.len() - 1;
        let fitted = if sample_rate == 1.0 {
            b.train_error[last] * n as f64
        } else {
            b.train_error[last] * in_bag + b.oob_error[last] * (n as f64 - in_bag)
        };
        assert!(
            (fitted - total).abs() <= 1e-11 * total,
            "sample_rate {sample_rate}: {fitted} vs {total}"
        );
    }
}
