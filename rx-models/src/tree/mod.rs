//! Tree models: `rx_dtree` (rpart's CART), `rx_dforest` (random forests), `rx_btrees`
//! (stochastic gradient boosting, as gbm), histogram-based as revoscalepy's trees are.
//!
//! Each model reads its data in two PEMA passes ([`data`]): a mergeable sketch of every
//! continuous predictor gives bin edges of roughly equal counts (at most `max_num_bins`, by
//! default `min(1001, max(101, sqrt(n)))`), then every usable row is kept as compact bin codes
//! (two bytes per predictor) with its response and weights. All trees, cross-validation folds
//! and boosting rounds then reuse those codes in memory ([`grow`]): per node, per predictor, per
//! bin histograms of a few sums, the smaller child's built from its rows and the larger one's by
//! subtraction; only bin edges are tried as split points. Boosting grows its shallow trees on
//! all rows level by level instead (module `level`): one pass per level over the rows in order moves
//! each row to its child and fills the smaller children's histograms. Trees split rows with a
//! missing value of the split variable to the side with more rows (the majority direction).
//!
//! Randomness (forest samples and `m_try` draws, boosting samples, cross-validation folds) comes
//! from one generator per tree (or per round, or per fold) seeded from the model's `seed` and the
//! tree's index, so models do not depend on the number of threads.

pub mod bins;
pub mod boost;
pub mod data;
pub mod dforest;
pub mod dtree;
mod flat;
pub mod grow;
mod level;

pub use boost::{BTreesOptions, LossFunction, RxBTrees, rx_btrees};
pub use data::{Binned, TreeSpec, TreeVar};
pub use dforest::{DForestOptions, RxDForest, rx_dforest};
pub use dtree::{CpRow, DTreeMethod, DTreeOptions, RxDTree, SplitCriterion, rx_dtree};
pub use grow::{Node, Rule, Split};

use rand::SeedableRng;
use rand::rngs::StdRng;

/// A generator for stream `index` of a model seeded with `seed` (SplitMix64 of both), so that
/// each tree, round or fold draws the same numbers whichever thread grows it.
pub(crate) fn stream_rng(seed: u64, index: u64) -> StdRng {
    let mut z = seed
        .wrapping_add(0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(index.wrapping_add(1)))
        .wrapping_add(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    StdRng::seed_from_u64(z)
}

/// The cut points and factor flags of a spec's predictors, as the grower takes them.
pub(crate) struct FeatureInfo {
    pub nbins: Vec<usize>,
    pub factor: Vec<bool>,
    pub cuts: Vec<Vec<f64>>,
}

impl FeatureInfo {
    pub(crate) fn new(spec: &TreeSpec) -> FeatureInfo {
        FeatureInfo {
            nbins: spec.vars.iter().map(data::nbins_of).collect(),
            factor: spec
                .vars
                .iter()
                .map(|v| matches!(v, TreeVar::Factor(_)))
                .collect(),
            cuts: spec
                .vars
                .iter()
                .map(|v| match v {
                    TreeVar::Numeric { cuts, .. } => cuts.clone(),
                    TreeVar::Factor(_) => Vec::new(),
                })
                .collect(),
        }
    }

    pub(crate) fn features<'a>(&'a self, data: &'a Binned) -> grow::Features<'a> {
        grow::Features {
            codes: &data.codes,
            p: data.p,
            nbins: &self.nbins,
            factor: &self.factor,
            cuts: &self.cuts,
        }
    }
}

/// Variable importance as (name, value) pairs, largest first: the impurity decrease of every
/// split on each predictor, summed over `trees` and divided by `divisor`.
pub(crate) fn importance<'a>(
    spec: &TreeSpec,
    trees: impl IntoIterator<Item = &'a [Node]>,
    divisor: f64,
) -> Vec<(String, f64)> {
    let mut sums = vec![0.0; spec.vars.len()];
    for nodes in trees {
        for n in nodes {
            if let Some(s) = &n.split {
                sums[s.var] += s.improve;
            }
        }
    }
    let mut out: Vec<(String, f64)> = spec
        .vars
        .iter()
        .zip(sums)
        .map(|(v, s)| (v.name().to_string(), s / divisor))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}
