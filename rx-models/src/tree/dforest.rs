//! `rx_dforest`: a random forest of decision trees (Breiman), as revoscalepy's `rx_dforest`.
//!
//! Each tree is grown on a bootstrap sample (or a sample without replacement), trying `m_try`
//! randomly chosen predictors at each split, from the same binned data. Trees are grown in
//! parallel, in batches; each draws from its own generator seeded from `seed` and its index, and
//! out-of-bag predictions are added tree by tree in index order, so the forest and its
//! out-of-bag errors are the same whatever the number of threads.

use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Result, RxOptions};
use serde::{Deserialize, Serialize};

use super::data::{Binned, TreeSpec, bin_data_with_strata};
use super::dtree::{DTreeMethod, check_depth, grow_on, resolve_method};
use super::flat::{Flat, FlatCache};
use super::grow::{Criterion, Limits, Node, leaf_of_codes};
use super::{FeatureInfo, importance, stream_rng};

/// revoscalepy's `rx_dforest` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct DForestOptions {
    /// `None`: class for a factor response, anova for a numeric one.
    pub method: Option<DTreeMethod>,
    /// Trees in the forest (10, as revoscalepy).
    pub n_tree: usize,
    /// Predictors tried per split (default √p for classification, p/3 for regression).
    pub m_try: Option<usize>,
    /// Sample with replacement (true) or without.
    pub replace: bool,
    /// The share of rows sampled per tree (default 1 with replacement, 0.632 without).
    pub sample_rate: Option<f64>,
    /// A column whose values are sampled separately, each at `sample_rate` (stratified
    /// sampling); rows where it is missing are left out.
    pub strata: Option<String>,
    /// Per class, the share of votes it needs: the class with the largest votes / cutoff wins
    /// (default: equal, i.e. majority vote).
    pub cutoff: Option<Vec<f64>>,
    /// Least rows in a node for a split to be tried (2).
    pub min_split: usize,
    /// Least rows in a leaf (1).
    pub min_bucket: usize,
    /// Greatest depth (10).
    pub max_depth: usize,
    /// Bins per continuous predictor.
    pub max_num_bins: Option<usize>,
    /// Probability weights.
    pub pweights: Option<String>,
    /// Frequency weights.
    pub fweights: Option<String>,
    /// The seed of every random draw.
    pub seed: u64,
    /// Chunking and the like.
    pub rx: RxOptions,
}

impl Default for DForestOptions {
    fn default() -> Self {
        DForestOptions {
            method: None,
            n_tree: 10,
            m_try: None,
            replace: true,
            sample_rate: None,
            strata: None,
            cutoff: None,
            min_split: 2,
            min_bucket: 1,
            max_depth: 10,
            max_num_bins: None,
            pweights: None,
            fweights: None,
            seed: 1,
            rx: RxOptions::default(),
        }
    }
}

/// A tree and its out-of-bag predictions (row, class or value).
type GrownTree = (Vec<Node>, Vec<(u32, f64)>);

/// Out-of-bag error after a number of trees.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OobError {
    /// Trees so far.
    pub trees: usize,
    /// Classification: the error rate; regression: the mean squared error.
    pub error: f64,
    /// Regression: 1 − MSE / variance of the response.
    pub pseudo_r2: Option<f64>,
}

/// A fitted random forest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxDForest {
    /// What it reads.
    pub spec: TreeSpec,
    /// Classification or regression.
    pub method: DTreeMethod,
    /// The trees.
    pub trees: Vec<Vec<Node>>,
    /// Predictors tried per split.
    pub m_try: usize,
    /// Class cutoffs.
    pub cutoff: Vec<f64>,
    /// Out-of-bag error after each tree.
    pub oob_error: Vec<OobError>,
    /// Classification: out-of-bag confusion matrix, `[true][predicted]`.
    pub confusion: Option<Vec<Vec<u64>>>,
    /// Mean decrease in impurity per predictor, per tree.
    pub importance: Vec<(String, f64)>,
    /// Rows used.
    pub n_obs: u64,
    /// Rows left out for a missing response or weight.
    pub n_missing: u64,
    /// The seed.
    pub seed: u64,
    /// The trees laid out for scoring, built on first use (the trees are not to be changed
    /// after a row has been scored).
    #[serde(skip)]
    flat: FlatCache,
}

/// Fits a random forest.
pub fn rx_dforest(
    formula: &str,
    data: &dyn DataSource,
    options: &DForestOptions,
    context: &impl ComputeContext,
) -> Result<RxDForest> {
    let mut spec = TreeSpec::resolve(
        formula,
        data,
        options.pweights.as_deref(),
        options.fweights.as_deref(),
        context,
        &options.rx,
    )?;
    let method = resolve_method(options.method, &spec)?;
    let binned = bin_data_with_strata(
        &mut spec,
        data,
        options.max_num_bins,
        options.strata.as_deref(),
        context,
        &options.rx,
    )?;
    fit_binned(spec, method, &binned, options)
}

/// Fits the forest on binned data.
pub fn fit_binned(
    spec: TreeSpec,
    method: DTreeMethod,
    data: &Binned,
    options: &DForestOptions,
) -> Result<RxDForest> {
    if options.n_tree == 0 {
        return Err(Error::invalid("n_tree must be at least 1"));
    }
    let p = spec.vars.len();
    let m_try = options
        .m_try
        .unwrap_or(match method {
            DTreeMethod::Class => (p as f64).sqrt().floor() as usize,
            DTreeMethod::Anova => p / 3,
        })
        .clamp(1, p);
    let rate = options
        .sample_rate
        .unwrap_or(if options.replace { 1.0 } else { 0.632 });
    if !(rate > 0.0 && (rate <= 1.0 || options.replace)) {
        return Err(Error::invalid(format!(
            "sample_rate {rate}: use a share in (0, 1] (above 1 only with replacement)"
        )));
    }
    let k = spec.classes().map_or(0, <[String]>::len);
    let cutoff = match (&options.cutoff, method) {
        (Some(c), DTreeMethod::Class) => {
            if c.len() != k || c.iter().any(|&x| x.is_nan() || x <= 0.0) {
                return Err(Error::invalid(format!(
                    "cutoff: give {k} positive numbers, one per class"
                )));
            }
            c.clone()
        }
        (_, DTreeMethod::Class) => vec![1.0 / k as f64; k],
        _ => Vec::new(),
    };
    check_depth(options.max_depth)?;
    let info = FeatureInfo::new(&spec);
    let features = info.features(data);
    let ones = vec![1.0; k];
    let (criterion, class_scale) = match method {
        DTreeMethod::Class => (Criterion::Gini { k }, Some(ones.as_slice())),
        DTreeMethod::Anova => (Criterion::Anova, None),
    };
    let limits = Limits {
        max_depth: options.max_depth,
        min_split: options.min_split.max(2) as f64,
        min_bucket: options.min_bucket.max(1) as f64,
        min_gain: 0.0,
        m_try: Some(m_try),
        max_exhaustive_levels: 10,
        max_surrogate: 0,
    };
    let n = data.len();
    // The rows of each stratum (one stratum without `strata`).
    let groups: Vec<Vec<u32>> = match &data.strata {
        None => vec![(0..n as u32).collect()],
        Some(codes) => {
            let mut g = vec![Vec::new(); data.strata_levels.len()];
            for (r, &c) in codes.iter().enumerate() {
                g[c as usize].push(r as u32);
            }
            g
        }
    };

    // Out-of-bag accumulators: class votes, or sums of predictions and their counts.
    let mut votes = vec![0u32; if k > 0 { n * k } else { 0 }];
    let mut sums = vec![0.0; if k == 0 { n } else { 0 }];
    let mut counts = vec![0u32; n];
    let (ymean, yvar) = {
        let (mut sw, mut swy) = (0.0, 0.0);
        for r in 0..n {
            sw += data.weight_of(r);
            swy += data.weight_of(r) * data.y[r];
        }
        let m = swy / sw;
        let ss: f64 = (0..n)
            .map(|r| data.weight_of(r) * (data.y[r] - m) * (data.y[r] - m))
            .sum();
        (m, ss / sw)
    };
    let _ = ymean;
    let mut trees = Vec::with_capacity(options.n_tree);
    let mut oob_error = Vec::with_capacity(options.n_tree);
    // Each row's current out-of-bag error (weighted), and their sums.
    let mut row_err = vec![0.0; n];
    let (mut err_sum, mut w_sum) = (0.0, 0.0);
    let batch = rayon::current_num_threads().max(1) * 2;
    let mut t0 = 0;
    while t0 < options.n_tree {
        let t1 = (t0 + batch).min(options.n_tree);
        // Each tree comes back with its out-of-bag predictions: (row, class or value).
        let grown: Vec<GrownTree> = (t0..t1)
            .into_par_iter()
            .map(|t| {
                let mut rng = stream_rng(options.seed, t as u64);
                let mult = sample_counts(&groups, n, rate, options.replace, &mut rng);
                let mut rows: Vec<u32> = (0..n as u32).filter(|&r| mult[r as usize] > 0).collect();
                let nodes = grow_on(
                    data,
                    &features,
                    class_scale,
                    Some(&mult),
                    &mut rows,
                    criterion,
                    &limits,
                    Some(&mut rng),
                );
                let oob: Vec<(u32, f64)> = (0..n)
                    .filter(|&r| mult[r] == 0)
                    .map(|r| {
                        let leaf = &nodes[leaf_of_codes(&nodes, &features, r)];
                        let v = if k > 0 {
                            majority(&leaf.stats) as f64
                        } else {
                            leaf.stats[2] / leaf.stats[1]
                        };
                        (r as u32, v)
                    })
                    .collect();
                (nodes, oob)
            })
            .collect();
        for (nodes, oob) in grown {
            // Add this tree's out-of-bag predictions; the error changes only on their rows.
            for (r, v) in oob {
                let r = r as usize;
                let w = data.weight_of(r);
                if counts[r] > 0 {
                    err_sum -= row_err[r];
                } else {
                    w_sum += w;
                }
                counts[r] += 1;
                row_err[r] = if k > 0 {
                    votes[r * k + v as usize] += 1;
                    let c = vote_winner(&votes[r * k..r * k + k], &cutoff);
                    if c != data.y[r] as usize { w } else { 0.0 }
                } else {
                    sums[r] += v;
                    let d = sums[r] / counts[r] as f64 - data.y[r];
                    w * d * d
                };
                err_sum += row_err[r];
            }
            trees.push(nodes);
            let error = if w_sum > 0.0 {
                err_sum.max(0.0) / w_sum
            } else {
                f64::NAN
            };
            oob_error.push(OobError {
                trees: trees.len(),
                error,
                pseudo_r2: (k == 0).then(|| 1.0 - error / yvar),
            });
        }
        t0 = t1;
    }
    let confusion = (k > 0).then(|| {
        let mut m = vec![vec![0u64; k]; k];
        for r in (0..n).filter(|&r| counts[r] > 0) {
            m[data.y[r] as usize][vote_winner(&votes[r * k..r * k + k], &cutoff)] += 1;
        }
        m
    });
    let imp = importance(&spec, trees.iter().map(Vec::as_slice), trees.len() as f64);
    Ok(RxDForest {
        spec,
        method,
        trees,
        m_try,
        cutoff,
        oob_error,
        confusion,
        importance: imp,
        n_obs: n as u64,
        n_missing: data.n_missing,
        seed: options.seed,
        flat: FlatCache::default(),
    })
}

/// How many times each of `n` rows is drawn for one tree: from each group (stratum) of rows,
/// `round(rate × size)` draws, with or without replacement.
pub(crate) fn sample_counts(
    groups: &[Vec<u32>],
    n: usize,
    rate: f64,
    replace: bool,
    rng: &mut rand::rngs::StdRng,
) -> Vec<u32> {
    let mut mult = vec![0u32; n];
    for group in groups {
        let m = group.len();
        if m == 0 {
            continue;
        }
        let draws = ((rate * m as f64).round() as usize).max(1);
        if replace {
            for _ in 0..draws {
                mult[group[rng.random_range(0..m)] as usize] += 1;
            }
        } else {
            let mut idx = group.clone();
            let (chosen, _) = idx.partial_shuffle(rng, draws.min(m));
            for &r in chosen.iter() {
                mult[r as usize] = 1;
            }
        }
    }
    mult
}

/// The class with the largest weight in a node's sums.
pub(crate) fn majority(stats: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..stats.len() - 1 {
        if stats[1 + i] > stats[1 + best] {
            best = i;
        }
    }
    best
}

/// The class whose votes over its cutoff are largest (ties: the first).
pub(crate) fn vote_winner(votes: &[u32], cutoff: &[f64]) -> usize {
    let mut best = 0;
    for i in 1..votes.len() {
        if votes[i] as f64 / cutoff[i] > votes[best] as f64 / cutoff[best] {
            best = i;
        }
    }
    best
}

impl RxDForest {
    /// Per tree, the leaf a row of predictor values reaches.
    pub fn leaves<'a>(&'a self, values: &'a [f64]) -> impl Iterator<Item = &'a Node> + 'a {
        self.trees
            .iter()
            .map(move |t| &t[super::grow::leaf_of_values(t, values)])
    }

    /// The trees as steps, each leaf holding its majority class (classification) or mean.
    fn flat(&self) -> &Flat {
        self.flat.get(|| {
            Flat::build(
                self.trees.len(),
                |t| &self.trees[t],
                |t, i| {
                    let st = &self.trees[t][i].stats;
                    match self.method {
                        DTreeMethod::Class => majority(st) as f64,
                        DTreeMethod::Anova => st[2] / st[1],
                    }
                },
            )
        })
    }

    /// Calls `f(payload, leaf)` for the leaf a row reaches in each tree, trees in order.
    fn each_leaf(&self, values: &[f64], mut f: impl FnMut(f64, &Node)) {
        self.flat().for_each_leaf(
            values,
            |t| &self.trees[t],
            |t, payload, leaf| {
                f(payload, &self.trees[t][leaf]);
            },
        );
    }

    /// Class votes for a row (classification).
    pub fn votes(&self, values: &[f64]) -> Vec<u32> {
        let k = self.cutoff.len();
        let mut v = vec![0u32; k];
        self.each_leaf(values, |class, _| {
            if let Some(n) = v.get_mut(class as usize) {
                *n += 1;
            }
        });
        v
    }

    /// The mean prediction for a row (regression; of a classification forest, the mean of the
    /// trees' majority class indexes).
    pub fn mean(&self, values: &[f64]) -> f64 {
        let mut s = 0.0;
        self.each_leaf(values, |mean, _| s += mean);
        s / self.trees.len() as f64
    }

    /// Class probabilities for a row (classification): the mean over the trees of each leaf's
    /// class shares, as scikit-learn's forests give them (votes rank rows poorly when one class
    /// is rare: most trees then vote for the common class everywhere).
    pub fn probabilities(&self, values: &[f64]) -> Vec<f64> {
        let k = self.cutoff.len();
        let mut p = vec![0.0; k];
        self.each_leaf(values, |_, leaf| {
            let w: f64 = leaf.stats[1..].iter().sum();
            if w > 0.0 {
                for (pi, c) in p.iter_mut().zip(&leaf.stats[1..]) {
                    *pi += c / w;
                }
            }
        });
        let t = self.trees.len() as f64;
        p.iter_mut().for_each(|x| *x /= t);
        p
    }

    /// The winning class for votes.
    pub fn winner(&self, votes: &[u32]) -> usize {
        vote_winner(votes, &self.cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strata_are_sampled_separately() {
        // 10 rows in stratum 0, 90 in stratum 1.
        let groups = vec![(0..10).collect::<Vec<u32>>(), (10..100).collect()];
        let mut rng = stream_rng(5, 0);
        let m = sample_counts(&groups, 100, 0.5, false, &mut rng);
        assert_eq!(m[..10].iter().sum::<u32>(), 5);
        assert_eq!(m[10..].iter().sum::<u32>(), 45);
        assert!(m.iter().all(|&c| c <= 1));
        let m = sample_counts(&groups, 100, 1.0, true, &mut rng);
        assert_eq!(m[..10].iter().sum::<u32>(), 10);
        assert_eq!(m[10..].iter().sum::<u32>(), 90);
    }
}
