//! `rx_btrees`: stochastic gradient boosting (Friedman), as gbm and revoscalepy's `rx_btrees`.
//!
//! Each round samples `sample_rate` of the rows without replacement, fits a regression tree of
//! depth `max_depth` to the loss's gradients on them (splits by the Newton gain, which for the
//! gaussian loss is the squared-error reduction), sets each leaf to its Newton step — gbm's leaf
//! values: the mean residual (gaussian), Σ(y − p) / Σ p(1 − p) (bernoulli), and Friedman's
//! (K − 1)/K-scaled step per class (multinomial) — and adds it times `learning_rate`. The rows
//! left out of a round give its out-of-bag deviance.

use rand::Rng;
use rayon::prelude::*;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Result, RxOptions};
use serde::{Deserialize, Serialize};

use super::data::{Binned, TreeSpec, bin_data};
use super::flat::{Flat, FlatCache};
use super::grow::{Criterion, Features, Limits, Node, piece_window};
use super::level::{Code, Grad, Layout, Routing, grow_levels};
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
    /// The trees laid out for scoring, built on first use (the trees are not to be changed
    /// after a row has been scored).
    #[serde(skip)]
    flat: FlatCache,
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
    super::dtree::check_depth(options.max_depth)?;
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
    let w = |r: usize| data.weight_of(r);
    let wsum: f64 = (0..n).map(w).sum();
    let init: Vec<f64> = match (options.init_pred, loss) {
        (Some(v), LossFunction::Multinomial) => vec![v; k],
        (Some(v), _) => vec![v],
        (None, LossFunction::Gaussian) => {
            vec![(0..n).map(|r| w(r) * y[r]).sum::<f64>() / wsum]
        }
        (None, LossFunction::Bernoulli) => {
            let p = (0..n).map(|r| w(r) * y[r]).sum::<f64>() / wsum;
            let p = p.clamp(1e-12, 1.0 - 1e-12);
            vec![(p / (1.0 - p)).ln()]
        }
        (None, LossFunction::Multinomial) => {
            let mut c = vec![0.0; k];
            (0..n).for_each(|r| c[y[r] as usize] += w(r));
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
    let rounds = Rounds {
        data,
        features: &features,
        y: &y,
        loss,
        k,
        init: &init,
        limits,
        options,
    };
    // One byte per code when every predictor's codes fit (each pass then reads half as much).
    let (trees, oob_error, train_error) = if features.nbins.iter().all(|&nb| nb <= 255) {
        let codes: Vec<u8> = data.codes.iter().map(|&c| c as u8).collect();
        rounds.run(&codes)
    } else {
        rounds.run(&data.codes)
    };
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
        flat: FlatCache::default(),
    })
}

impl RxBTrees {
    /// The scores (link scale) of a row of predictor values, one per class (one unless
    /// multinomial).
    pub fn scores(&self, values: &[f64]) -> Vec<f64> {
        let k = self.init_pred.len();
        let mut f = self.init_pred.clone();
        let flat = self.flat.get(|| {
            Flat::build(
                self.trees.len(),
                |t| &self.trees[t].nodes,
                |t, i| self.trees[t].values[i],
            )
        });
        flat.for_each_leaf(
            values,
            |t| &self.trees[t].nodes,
            |t, step, _| f[t % k] += step,
        );
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

/// Everything the rounds of boosting share.
struct Rounds<'a> {
    data: &'a Binned,
    features: &'a Features<'a>,
    y: &'a [f64],
    loss: LossFunction,
    k: usize,
    init: &'a [f64],
    limits: Limits,
    options: &'a BTreesOptions,
}

/// Rows per piece of a pass over all rows (fixed, so sums do not depend on the threads).
const CHUNK: usize = 8192;

impl Rounds<'_> {
    /// Row `r`'s weighted gradient and hessian for `class` at probability (or value) `p`.
    #[inline]
    fn grad(&self, r: usize, p: f64, class: usize) -> [f64; 2] {
        let y = self.y[r];
        let (g, h) = match self.loss {
            LossFunction::Gaussian => (p - y, 1.0),
            LossFunction::Bernoulli => (p - y, (p * (1.0 - p)).max(1e-16)),
            LossFunction::Multinomial => {
                let t = if y as usize == class { 1.0 } else { 0.0 };
                (p - t, (p * (1.0 - p)).max(1e-16))
            }
        };
        let w = self.data.weight_of(r);
        [w * g, w * h]
    }

    /// Draws round `round`'s sample of `draws` rows into `in_bag` (Knuth's selection sampling:
    /// row r is taken with probability needed / remaining), one uniform per row from
    /// SplitMix64 seeded by the round's generator (a ChaCha draw per row would cost more than
    /// the rest of the sampling).
    fn sample(&self, round: usize, draws: usize, in_bag: &mut [bool]) {
        let n = in_bag.len();
        let mut rng = stream_rng(self.options.seed, round as u64);
        let mut needed = draws;
        let mut state: u64 = rng.random();
        for (r, b) in in_bag.iter_mut().enumerate() {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let u = (z >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
            *b = needed > 0 && u * ((n - r) as f64) < needed as f64;
            needed -= usize::from(*b);
        }
    }

    /// Runs the rounds on bin codes `codes`: the trees, out-of-bag and in-bag deviance per round.
    fn run<C: Code>(&self, codes: &[C]) -> (Vec<BoostTree>, Vec<f64>, Vec<f64>) {
        let (data, options, loss, k) = (self.data, self.options, self.loss, self.k);
        let y = self.y;
        let n = data.len();
        let p = self.features.p;
        let criterion = Criterion::Newton { lambda: 0.0 };
        // Scores (link scale), row-major by class.
        let mut f: Vec<f64> = (0..n).flat_map(|_| self.init.iter().copied()).collect();
        let draws = ((options.sample_rate * n as f64).round() as usize).clamp(1, n);
        let mut trees: Vec<BoostTree> = Vec::with_capacity(options.n_tree * k);
        let mut oob_error = Vec::with_capacity(options.n_tree);
        let mut train_error = Vec::with_capacity(options.n_tree);
        let mut gh = vec![[0.0; 2]; n];
        // Class probabilities, kept only for several classes (one score: computed in place).
        let mut probs = vec![0.0; if k > 1 { n * k } else { 0 }];
        // The previous round's sample (whose deviance a round's first pass adds up) and this
        // round's (whose root histogram, with one score per row, that pass builds).
        let mut last_bag = vec![true; n];
        let mut in_bag = vec![true; n];
        let mut node_of = vec![0u32; n];
        // The last tree's lookup tables (with `node_of`, where its rows stopped).
        let mut routing: Option<Routing> = None;
        let layout = Layout::new(self.features.nbins);
        // Building the root's histogram in the first pass needs a histogram per piece of
        // CHUNK rows: only when that costs little beside the rows.
        let fused_root = k == 1 && layout.hist_len <= 2 * CHUNK;
        let unweighted = data.weight.is_none();
        let window = piece_window();
        let scale = if k > 1 {
            (k - 1) as f64 / k as f64
        } else {
            1.0
        };
        // Each round starts with one pass over all rows that (with one score per row) adds the
        // previous round's tree, turns the scores into probabilities and gradients, builds the
        // root histogram of this round's tree, and adds up the deviance of the previous round's
        // state in and out of its sample. Pieces of CHUNK rows, their sums added in order.
        for round in 0..=options.n_tree {
            let grows = round < options.n_tree;
            std::mem::swap(&mut last_bag, &mut in_bag);
            if grows && draws < n {
                self.sample(round, draws, &mut in_bag);
            }
            let (bag, next_bag) = (&last_bag, &in_bag);
            // With one score per row, the previous round's tree is added here.
            let last = trees.last().zip(routing.as_ref()).filter(|_| k == 1);
            let node_of_now = &node_of;
            let build_root = fused_root && grows;
            let mut prob_chunks: Vec<&mut [f64]> = if k > 1 {
                probs.chunks_mut(CHUNK * k).collect()
            } else {
                f.chunks(CHUNK).map(|_| &mut [][..]).collect()
            };
            let mut acc = [0.0; 4];
            let mut root: Option<Vec<f64>> = None;
            let pieces = f
                .chunks_mut(CHUNK * k)
                .zip(gh.chunks_mut(CHUNK))
                .zip(prob_chunks.iter_mut())
                .enumerate()
                .collect::<Vec<_>>();
            let mut pieces = pieces.into_iter();
            loop {
                let group: Vec<_> = pieces.by_ref().take(window).collect();
                if group.is_empty() {
                    break;
                }
                let parts: Vec<([f64; 4], Vec<f64>)> = group
                    .into_par_iter()
                    .map(|(c, ((fs, ghs), ps))| {
                        let mut acc = [0.0; 4];
                        // Out of and in the sample: running products of 1 − p, and the
                        // negated logarithms of those already flushed.
                        let (mut prod, mut logs) = ([1.0f64; 2], [0.0f64; 2]);
                        let mut hist = vec![0.0; if build_root { layout.hist_len } else { 0 }];
                        let (hist3, _) = hist.as_chunks_mut::<3>();
                        for (i, fi) in fs.chunks_mut(k).enumerate() {
                            let r = c * CHUNK + i;
                            let row = &codes[r * p..r * p + p];
                            if let Some((t, routing)) = last {
                                fi[0] += t.values[routing.leaf(row, node_of_now[r])];
                            }
                            let p0 = match loss {
                                LossFunction::Gaussian => fi[0],
                                LossFunction::Bernoulli => sigmoid(fi[0]),
                                LossFunction::Multinomial => {
                                    softmax(fi, &mut ps[i * k..i * k + k]);
                                    0.0
                                }
                            };
                            // One score per row: the round's gradients (and root histogram).
                            if k == 1 {
                                let [g, h] = self.grad(r, p0, 0);
                                ghs[i] = [g, h];
                                if build_root && next_bag[r] {
                                    layout.add(hist3, row, [data.count_of(r), g, h]);
                                }
                            }
                            if round == 0 {
                                continue;
                            }
                            let w = data.weight_of(r);
                            let inside = bag[r];
                            let d = match loss {
                                LossFunction::Gaussian => (y[r] - fi[0]) * (y[r] - fi[0]),
                                // −2 (y f − log(1 + e^f)), with log(1 + e^f) = −log(1 − p).
                                // Unweighted, the logarithms of a run of rows are one
                                // logarithm of the product of their 1 − p (see below).
                                LossFunction::Bernoulli => {
                                    let l = if fi[0] > 30.0 {
                                        fi[0]
                                    } else if unweighted {
                                        let q = &mut prod[usize::from(inside)];
                                        *q *= 1.0 - p0;
                                        if *q < 1e-270 {
                                            logs[usize::from(inside)] -= q.ln();
                                            *q = 1.0;
                                        }
                                        0.0
                                    } else {
                                        -(1.0 - p0).ln()
                                    };
                                    -2.0 * (y[r] * fi[0] - l)
                                }
                                LossFunction::Multinomial => {
                                    -2.0 * ps[i * k + y[r] as usize].max(1e-300).ln()
                                }
                            };
                            // In or out of the sample, without a branch on it.
                            let w_in = w * f64::from(u8::from(inside));
                            let w_out = w - w_in;
                            acc[0] += w_in * d;
                            acc[1] += w_in;
                            acc[2] += w_out * d;
                            acc[3] += w_out;
                        }
                        // The products' logarithms (each factor is at least e^-30, so a product
                        // is flushed before it leaves the normal range).
                        acc[0] += 2.0 * (logs[1] - prod[1].ln());
                        acc[2] += 2.0 * (logs[0] - prod[0].ln());
                        (acc, hist)
                    })
                    .collect();
                for (a, h) in parts {
                    acc.iter_mut().zip(a).for_each(|(t, v)| *t += v);
                    match &mut root {
                        None => root = Some(h),
                        Some(t) => t.iter_mut().zip(&h).for_each(|(x, v)| *x += v),
                    }
                }
            }
            let [din, win, dout, wout] = acc;
            if round > 0 {
                train_error.push(din / win);
                oob_error.push(if wout > 0.0 { dout / wout } else { f64::NAN });
            }
            if !grows {
                break;
            }
            for class in 0..k {
                // Gradients and hessians at the round's starting scores (with one score per
                // row, the pass above filled them).
                if k > 1 {
                    gh.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ghs)| {
                        for (i, g) in ghs.iter_mut().enumerate() {
                            let r = c * CHUNK + i;
                            *g = self.grad(r, probs[r * k + class], class);
                        }
                    });
                }
                let grad = Grad {
                    gh: &gh,
                    count: data.count.as_deref(),
                    in_bag: (draws < n).then_some(&in_bag[..]),
                };
                let (nodes, tree_routing) = grow_levels(
                    codes,
                    self.features,
                    &grad,
                    &mut node_of,
                    criterion,
                    &self.limits,
                    root.take().filter(|_| build_root),
                );
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
                if k > 1 {
                    // Several scores: this class's tree is added now (with one, by the next
                    // round's first pass).
                    let node_of = &node_of;
                    f.par_chunks_mut(CHUNK * k).enumerate().for_each(|(c, fs)| {
                        for (i, fr) in fs.chunks_mut(k).enumerate() {
                            let r = c * CHUNK + i;
                            let row = &codes[r * p..r * p + p];
                            fr[class] += values[tree_routing.leaf(row, node_of[r])];
                        }
                    });
                }
                trees.push(BoostTree { nodes, values });
                routing = Some(tree_routing);
            }
        }
        (trees, oob_error, train_error)
    }
}
