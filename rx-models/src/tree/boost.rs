//! `rx_btrees`: stochastic gradient boosting (Friedman), as gbm and revoscalepy's `rx_btrees`.
//!
//! Each round samples `sample_rate` of the rows without replacement, fits a regression tree of
//! depth `max_depth` to the loss's gradients on them (splits by the Newton gain, which for the
//! gaussian loss is the squared-error reduction), sets each leaf to its Newton step — gbm's leaf
//! values: the mean residual (gaussian), Σ(y − p) / Σ p(1 − p) (bernoulli), and Friedman's
//! (K − 1)/K-scaled step per class (multinomial) — and adds it times `learning_rate`. The rows
//! left out of a round give its out-of-bag deviance.

use rand::seq::SliceRandom;
use rayon::prelude::*;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Result, RxOptions};
use serde::{Deserialize, Serialize};

use super::data::{Binned, TreeSpec, bin_data};
use super::grow::{Criterion, Limits, Node, grow, leaf_of_codes, leaf_of_values};
use super::{FeatureInfo, importance, stream_rng};

/// The loss boosting minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossFunction {
    /// Squared error (a numeric response).
    Gaussian,
    /// Log loss of two classes (a two-level factor, or a 0/1 response).
    Bernoulli,
    /// Log loss of several classes (a factor).
    Multinomial,
}

impl std::str::FromStr for LossFunction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "gaussian" => Ok(LossFunction::Gaussian),
            "bernoulli" => Ok(LossFunction::Bernoulli),
            "multinomial" => Ok(LossFunction::Multinomial),
            _ => Err(Error::invalid(format!(
                "loss function '{s}': use gaussian, bernoulli or multinomial"
            ))),
        }
    }
}

/// revoscalepy's `rx_btrees` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct BTreesOptions {
    /// `None`: multinomial for a factor of more than two levels, bernoulli for two, gaussian
    /// for a numeric response.
    pub loss_function: Option<LossFunction>,
    /// Rounds (trees per class for multinomial) (10, as revoscalepy).
    pub n_tree: usize,
    /// Shrinkage (0.1).
    pub learning_rate: f64,
    /// Depth of each tree (1).
    pub max_depth: usize,
    /// Share of rows each round samples, without replacement (0.632).
    pub sample_rate: f64,
    /// Least rows in a leaf (10, gbm's `n.minobsinnode`).
    pub min_bucket: usize,
    /// Least rows for a split (default `2 * min_bucket`).
    pub min_split: Option<usize>,
    /// Bins per continuous predictor.
    pub max_num_bins: Option<usize>,
    /// The starting prediction on the link scale (default: the best constant).
    pub init_pred: Option<f64>,
    /// Probability weights.
    pub pweights: Option<String>,
    /// Frequency weights.
    pub fweights: Option<String>,
    /// The seed of the row samples.
    pub seed: u64,
    /// Chunking and the like.
    pub rx: RxOptions,
}

impl Default for BTreesOptions {
    fn default() -> Self {
        BTreesOptions {
            loss_function: None,
            n_tree: 10,
            learning_rate: 0.1,
            max_depth: 1,
            sample_rate: 0.632,
            min_bucket: 10,
            min_split: None,
            max_num_bins: None,
            init_pred: None,
            pweights: None,
            fweights: None,
            seed: 1,
            rx: RxOptions::default(),
        }
    }
}

/// One tree of a boosted model: its nodes and the value each leaf adds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BoostTree {
    /// The nodes.
    pub nodes: Vec<Node>,
    /// Per node, the value added on the link scale (learning rate included; 0 for splits).
    pub values: Vec<f64>,
}

/// A fitted boosted model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxBTrees {
    /// What it reads.
    pub spec: TreeSpec,
    /// The loss.
    pub loss_function: LossFunction,
    /// The starting prediction per class (one value unless multinomial).
    pub init_pred: Vec<f64>,
    /// The trees, round by round (for multinomial, one per class per round, classes fastest).
    pub trees: Vec<BoostTree>,
    /// The shrinkage.
    pub learning_rate: f64,
    /// Out-of-bag deviance after each round.
    pub oob_error: Vec<f64>,
    /// In-bag (training sample) deviance after each round.
    pub train_error: Vec<f64>,
    /// Impurity (Newton gain) decrease per predictor, per tree.
    pub importance: Vec<(String, f64)>,
    /// Rows used.
    pub n_obs: u64,
    /// Rows left out for a missing response or weight.
    pub n_missing: u64,
    /// The seed.
    pub seed: u64,
}

/// Fits a boosted model.
pub fn rx_btrees(
    formula: &str,
    data: &dyn DataSource,
    options: &BTreesOptions,
    context: &impl ComputeContext,
) -> Result<RxBTrees> {
    let mut spec = TreeSpec::resolve(
        formula,
        data,
        options.pweights.as_deref(),
        options.fweights.as_deref(),
        context,
        &options.rx,
    )?;
    let k = spec.classes().map(<[String]>::len);
    let loss = match (options.loss_function, k) {
        (None, None) => LossFunction::Gaussian,
        (None, Some(2)) => LossFunction::Bernoulli,
        (None, Some(_)) => LossFunction::Multinomial,
        (Some(LossFunction::Gaussian), Some(_)) => {
            return Err(Error::invalid(format!(
                "{formula}: the gaussian loss needs a numeric response; '{}' is a factor",
                spec.response.name
            )));
        }
        (Some(LossFunction::Multinomial), None) => {
            return Err(Error::invalid(format!(
                "{formula}: the multinomial loss needs a factor response (write F({}))",
                spec.response.name
            )));
        }
        (Some(LossFunction::Bernoulli), Some(k)) if k != 2 => {
            return Err(Error::invalid(format!(
                "{formula}: the bernoulli loss needs two classes; '{}' has {k} levels (use multinomial)",
                spec.response.name
            )));
        }
        (Some(l), _) => l,
    };
    let binned = bin_data(&mut spec, data, options.max_num_bins, context, &options.rx)?;
    fit_binned(spec, loss, &binned, options)
}

/// The probabilities of a multinomial row from its K scores.
fn softmax(f: &[f64], out: &mut [f64]) {
    let m = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut s = 0.0;
    for (o, &x) in out.iter_mut().zip(f) {
        *o = (x - m).exp();
        s += *o;
    }
    out.iter_mut().for_each(|o| *o /= s);
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The deviance of one row (weight 1) given its scores.
fn deviance(loss: LossFunction, y: f64, f: &[f64], buf: &mut [f64]) -> f64 {
    match loss {
        LossFunction::Gaussian => (y - f[0]) * (y - f[0]),
        LossFunction::Bernoulli => {
            // -2 (y f - log(1 + e^f)), computed without overflow.
            let f = f[0];
            let log1pexp = if f > 0.0 {
                f + (-f).exp().ln_1p()
            } else {
                f.exp().ln_1p()
            };
            -2.0 * (y * f - log1pexp)
        }
        LossFunction::Multinomial => {
            softmax(f, buf);
            -2.0 * buf[y as usize].max(1e-300).ln()
        }
    }
}

/// Fits the boosted model on binned data.
pub fn fit_binned(
    spec: TreeSpec,
    loss: LossFunction,
    data: &Binned,
    options: &BTreesOptions,
) -> Result<RxBTrees> {
    if options.n_tree == 0 {
        return Err(Error::invalid("n_tree must be at least 1"));
    }
    if !(options.learning_rate > 0.0 && options.learning_rate <= 1.0) {
        return Err(Error::invalid(format!(
            "learning_rate {}: use a number in (0, 1]",
            options.learning_rate
        )));
    }
    if !(options.sample_rate > 0.0 && options.sample_rate <= 1.0) {
        return Err(Error::invalid(format!(
            "sample_rate {}: use a share in (0, 1]",
            options.sample_rate
        )));
    }
    if options.max_depth == 0 || options.max_depth > 30 {
        return Err(Error::invalid(format!(
            "max_depth {}: use a depth from 1 to 30",
            options.max_depth
        )));
    }
    let n = data.len();
    let y: Vec<f64> = match (loss, spec.classes()) {
        // A numeric bernoulli response must be 0 or 1.
        (LossFunction::Bernoulli, None) => {
            if let Some(r) = data.y.iter().position(|&v| v != 0.0 && v != 1.0) {
                return Err(Error::invalid(format!(
                    "{}: the bernoulli loss needs a 0/1 response; '{}' has the value {} (usable row {})",
                    spec.formula,
                    spec.response.name,
                    data.y[r],
                    r + 1
                )));
            }
            data.y.clone()
        }
        _ => data.y.clone(),
    };
    let k = match loss {
        LossFunction::Multinomial => spec.classes().map_or(2, <[String]>::len),
        _ => 1,
    };
    let w: Vec<f64> = (0..n).map(|r| data.weight_of(r)).collect();
    let wsum: f64 = w.iter().sum();
    let init: Vec<f64> = match (options.init_pred, loss) {
        (Some(v), LossFunction::Multinomial) => vec![v; k],
        (Some(v), _) => vec![v],
        (None, LossFunction::Gaussian) => {
            vec![(0..n).map(|r| w[r] * y[r]).sum::<f64>() / wsum]
        }
        (None, LossFunction::Bernoulli) => {
            let p = (0..n).map(|r| w[r] * y[r]).sum::<f64>() / wsum;
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            vec![(p / (1.0 - p)).ln()]
        }
        (None, LossFunction::Multinomial) => {
            let mut c = vec![0.0; k];
            (0..n).for_each(|r| c[y[r] as usize] += w[r]);
            let logs: Vec<f64> = c.iter().map(|x| (x / wsum).max(1e-12).ln()).collect();
            let mean = logs.iter().sum::<f64>() / k as f64;
            logs.iter().map(|l| l - mean).collect()
        }
    };
    let info = FeatureInfo::new(&spec);
    let features = info.features(data);
    let min_bucket = options.min_bucket.max(1);
    let limits = Limits {
        max_depth: options.max_depth,
        min_split: options.min_split.unwrap_or(2 * min_bucket).max(2) as f64,
        min_bucket: min_bucket as f64,
        min_gain: 0.0,
        m_try: None,
        max_exhaustive_levels: 0,
        max_surrogate: 0,
    };
    let criterion = Criterion::Newton { lambda: 0.0 };
    // Scores (link scale), row-major by class.
    let mut f: Vec<f64> = (0..n).flat_map(|_| init.iter().copied()).collect();
    let draws = ((options.sample_rate * n as f64).round() as usize).clamp(1, n);
    let mut trees = Vec::with_capacity(options.n_tree * k);
    let mut oob_error = Vec::with_capacity(options.n_tree);
    let mut train_error = Vec::with_capacity(options.n_tree);
    let mut stats = vec![0.0; n * 3];
    let mut probs = vec![0.0; n * k];
    let mut order: Vec<u32> = (0..n as u32).collect();
    let mut in_bag = vec![false; n];
    let scale = if k > 1 {
        (k - 1) as f64 / k as f64
    } else {
        1.0
    };
    const CHUNK: usize = 8192;
    for round in 0..options.n_tree {
        let mut rng = stream_rng(options.seed, round as u64);
        // Sample without replacement: a partial shuffle of all rows, the sample sorted.
        order
            .iter_mut()
            .enumerate()
            .for_each(|(i, o)| *o = i as u32);
        order.partial_shuffle(&mut rng, draws);
        let mut sample: Vec<u32> = order[..draws].to_vec();
        sample.sort_unstable();
        in_bag.iter_mut().for_each(|b| *b = false);
        sample.iter().for_each(|&r| in_bag[r as usize] = true);
        if k > 1 {
            probs
                .par_chunks_mut(CHUNK * k)
                .zip(f.par_chunks(CHUNK * k))
                .for_each(|(p, fs)| {
                    for (pi, fi) in p.chunks_mut(k).zip(fs.chunks(k)) {
                        softmax(fi, pi);
                    }
                });
        }
        for class in 0..k {
            // Gradients and hessians of the loss at the current scores.
            stats
                .par_chunks_mut(CHUNK * 3)
                .enumerate()
                .for_each(|(c, st)| {
                    for (i, s) in st.chunks_mut(3).enumerate() {
                        let r = c * CHUNK + i;
                        let (g, h) = match loss {
                            LossFunction::Gaussian => (f[r] - y[r], 1.0),
                            LossFunction::Bernoulli => {
                                let p = sigmoid(f[r]);
                                (p - y[r], (p * (1.0 - p)).max(1e-16))
                            }
                            LossFunction::Multinomial => {
                                let p = probs[r * k + class];
                                let t = if y[r] as usize == class { 1.0 } else { 0.0 };
                                (p - t, (p * (1.0 - p)).max(1e-16))
                            }
                        };
                        let c = data.count_of(r);
                        s[0] = c;
                        s[1] = w[r] * g;
                        s[2] = w[r] * h;
                    }
                });
            let mut rows = sample.clone();
            let nodes = grow(&features, &stats, &mut rows, criterion, &limits, None);
            let values: Vec<f64> = nodes
                .iter()
                .map(|nd| {
                    if nd.split.is_some() || nd.stats[2] <= 0.0 {
                        0.0
                    } else {
                        -options.learning_rate * scale * nd.stats[1] / nd.stats[2]
                    }
                })
                .collect();
            f.par_chunks_mut(CHUNK * k).enumerate().for_each(|(c, fs)| {
                for (i, fr) in fs.chunks_mut(k).enumerate() {
                    let r = c * CHUNK + i;
                    fr[class] += values[leaf_of_codes(&nodes, &features, r)];
                }
            });
            trees.push(BoostTree { nodes, values });
        }
        // Deviances of the rows in and out of this round's sample.
        let (din, win, dout, wout) = f
            .par_chunks(CHUNK * k)
            .enumerate()
            .map(|(c, fs)| {
                let mut buf = vec![0.0; k];
                let mut acc = (0.0, 0.0, 0.0, 0.0);
                for (i, fr) in fs.chunks(k).enumerate() {
                    let r = c * CHUNK + i;
                    let d = w[r] * deviance(loss, y[r], fr, &mut buf);
                    if in_bag[r] {
                        acc.0 += d;
                        acc.1 += w[r];
                    } else {
                        acc.2 += d;
                        acc.3 += w[r];
                    }
                }
                acc
            })
            .collect::<Vec<_>>()
            .into_iter()
            .fold((0.0, 0.0, 0.0, 0.0), |a, b| {
                (a.0 + b.0, a.1 + b.1, a.2 + b.2, a.3 + b.3)
            });
        train_error.push(din / win);
        oob_error.push(if wout > 0.0 { dout / wout } else { f64::NAN });
    }
    let imp = importance(
        &spec,
        trees.iter().map(|t| t.nodes.as_slice()),
        trees.len() as f64,
    );
    Ok(RxBTrees {
        spec,
        loss_function: loss,
        init_pred: init,
        trees,
        learning_rate: options.learning_rate,
        oob_error,
        train_error,
        importance: imp,
        n_obs: n as u64,
        n_missing: data.n_missing,
        seed: options.seed,
    })
}

impl RxBTrees {
    /// The scores (link scale) of a row of predictor values, one per class (one unless
    /// multinomial).
    pub fn scores(&self, values: &[f64]) -> Vec<f64> {
        let k = self.init_pred.len();
        let mut f = self.init_pred.clone();
        for (i, t) in self.trees.iter().enumerate() {
            f[i % k] += t.values[leaf_of_values(&t.nodes, values)];
        }
        f
    }

    /// The response-scale prediction: the value (gaussian), the probability of the second class
    /// (bernoulli), or the class probabilities (multinomial).
    pub fn probabilities(&self, values: &[f64]) -> Vec<f64> {
        let f = self.scores(values);
        match self.loss_function {
            LossFunction::Gaussian => f,
            LossFunction::Bernoulli => vec![sigmoid(f[0])],
            LossFunction::Multinomial => {
                let mut p = vec![0.0; f.len()];
                softmax(&f, &mut p);
                p
            }
        }
    }
}
