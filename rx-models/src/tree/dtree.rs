//! `rx_dtree`: one classification or regression tree, as rpart grows and prunes it.
//!
//! The tree is grown to `max_depth` (subject to `min_split` and `min_bucket`) by the Gini index
//! or information (classification) or squared error (regression), then pruned by cost-complexity
//! as rpart does: every split gets the complexity at which the weakest-link sequence removes it,
//! in units of the root's risk, and splits whose complexity is at most `cp` are removed (with
//! `cp = 0`, the default as in revoscalepy, every split is kept). The cp table lists the nested
//! subtrees with their relative error and, with `x_val` folds, the cross-validated error and its
//! standard error.

use std::fmt;

use rand::seq::SliceRandom;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Result, RxOptions};
use serde::{Deserialize, Serialize};

use super::data::{Binned, TreeSpec, bin_data};
use super::grow::{AnovaRows, ClassRows, Criterion, Limits, Node, Rule, grow, leaf_of_codes};
use super::{FeatureInfo, importance, stream_rng};

/// Classification or regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DTreeMethod {
    /// A factor response: class probabilities, the class of least expected loss.
    Class,
    /// A numeric response: the mean.
    Anova,
}

/// The impurity classification splits minimize.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SplitCriterion {
    /// The Gini index (rpart's default).
    #[default]
    Gini,
    /// Information (entropy).
    Information,
}

impl std::str::FromStr for DTreeMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "class" => Ok(DTreeMethod::Class),
            "anova" => Ok(DTreeMethod::Anova),
            _ => Err(Error::invalid(format!(
                "method '{s}': use \"class\" or \"anova\""
            ))),
        }
    }
}

/// revoscalepy's `rx_dtree` arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct DTreeOptions {
    /// `None`: class for a factor response, anova for a numeric one.
    pub method: Option<DTreeMethod>,
    /// Gini or information (classification).
    pub criterion: SplitCriterion,
    /// Prior class probabilities (classification), in level order; default: the data's shares.
    pub priors: Option<Vec<f64>>,
    /// A loss matrix (classification), `loss[true][predicted]`, zero on the diagonal.
    pub loss: Option<Vec<Vec<f64>>>,
    /// Least rows in a node for a split to be tried (20).
    pub min_split: usize,
    /// Least rows in a leaf (default `round(min_split / 3)`).
    pub min_bucket: Option<usize>,
    /// Greatest depth, the root being 0 (10).
    pub max_depth: usize,
    /// Complexity: splits that do not improve the fit by this share of the root's risk are
    /// pruned (0).
    pub cp: f64,
    /// Bins per continuous predictor (default `min(1001, max(101, sqrt(n)))`).
    pub max_num_bins: Option<usize>,
    /// Cross-validation folds for the cp table's `xerror` (2, as revoscalepy; 0 or 1: none).
    pub x_val: usize,
    /// Multiclass factors with at most this many levels present in a node are split by trying
    /// every subset; with more, by ordering levels by the node's majority class (10).
    pub max_unordered_levels: usize,
    /// Surrogate splits kept per split, for rows whose split variable is missing (0: none;
    /// such rows go to the side with more rows).
    pub max_surrogate: usize,
    /// Probability weights.
    pub pweights: Option<String>,
    /// Frequency weights.
    pub fweights: Option<String>,
    /// Seed of the cross-validation folds.
    pub seed: u64,
    /// Chunking and the like.
    pub rx: RxOptions,
}

impl Default for DTreeOptions {
    fn default() -> Self {
        DTreeOptions {
            method: None,
            criterion: SplitCriterion::Gini,
            priors: None,
            loss: None,
            min_split: 20,
            min_bucket: None,
            max_depth: 10,
            cp: 0.0,
            max_num_bins: None,
            x_val: 2,
            max_unordered_levels: 10,
            max_surrogate: 0,
            pweights: None,
            fweights: None,
            seed: 1,
            rx: RxOptions::default(),
        }
    }
}

/// A row of the cp table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpRow {
    /// The complexity parameter.
    #[serde(rename = "CP")]
    pub cp: f64,
    /// Splits in the subtree.
    pub nsplit: usize,
    /// Its risk relative to the root's.
    pub rel_error: f64,
    /// Cross-validated relative error (with `x_val` folds).
    pub xerror: Option<f64>,
    /// Its standard error.
    pub xstd: Option<f64>,
}

/// A fitted decision tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RxDTree {
    /// What it reads.
    pub spec: TreeSpec,
    /// Classification or regression.
    pub method: DTreeMethod,
    /// The splitting criterion (classification).
    pub criterion: SplitCriterion,
    /// The nodes (index 0 is the root), pruned.
    pub nodes: Vec<Node>,
    /// Per class, the factor that turns a node's class sums into prior-weighted shares.
    pub class_scale: Vec<f64>,
    /// The loss matrix (classification), `loss[true * k + predicted]`.
    pub loss: Vec<f64>,
    /// The cp table.
    pub cptable: Vec<CpRow>,
    /// Variable importance: the impurity decrease of the splits on each predictor.
    pub importance: Vec<(String, f64)>,
    /// Rows used.
    pub n_obs: u64,
    /// Rows left out for a missing response or weight.
    pub n_missing: u64,
    /// The cp the tree was pruned at.
    pub cp: f64,
}

/// Fits a decision tree.
pub fn rx_dtree(
    formula: &str,
    data: &dyn DataSource,
    options: &DTreeOptions,
    context: &impl ComputeContext,
) -> Result<RxDTree> {
    let mut spec = TreeSpec::resolve(
        formula,
        data,
        options.pweights.as_deref(),
        options.fweights.as_deref(),
        context,
        &options.rx,
    )?;
    let method = resolve_method(options.method, &spec)?;
    check_options(options)?;
    let binned = bin_data(&mut spec, data, options.max_num_bins, context, &options.rx)?;
    fit_binned(spec, method, &binned, options)
}

/// The method the options ask for, checked against the response (a factor response means
/// class, a numeric one anova, when not given).
pub(crate) fn resolve_method(asked: Option<DTreeMethod>, spec: &TreeSpec) -> Result<DTreeMethod> {
    let (formula, y) = (&spec.formula, &spec.response.name);
    match (asked, spec.classes()) {
        (Some(DTreeMethod::Class), None) => Err(Error::invalid(format!(
            "{formula}: method \"class\" needs a factor response; '{y}' is numeric (write F({y}) to treat its values as classes)"
        ))),
        (Some(DTreeMethod::Anova), Some(_)) => Err(Error::invalid(format!(
            "{formula}: method \"anova\" needs a numeric response; '{y}' is a factor"
        ))),
        (Some(m), _) => Ok(m),
        (None, Some(_)) => Ok(DTreeMethod::Class),
        (None, None) => Ok(DTreeMethod::Anova),
    }
}

/// Refuses a depth outside 1..=30.
pub(crate) fn check_depth(max_depth: usize) -> Result<()> {
    if max_depth == 0 || max_depth > 30 {
        return Err(Error::invalid(format!(
            "max_depth {max_depth}: use a depth from 1 to 30"
        )));
    }
    Ok(())
}

fn check_options(o: &DTreeOptions) -> Result<()> {
    check_depth(o.max_depth)?;
    if !(o.cp >= 0.0 && o.cp.is_finite()) {
        return Err(Error::invalid(format!("cp {}: use a number ≥ 0", o.cp)));
    }
    Ok(())
}

/// The learning problem of a classification tree: class weights and loss.
struct ClassSetup {
    /// Multiplies a row's weight by its class's factor (priors, altered by the loss).
    weight_scale: Vec<f64>,
    /// Turns node sums back into prior-weighted class shares.
    class_scale: Vec<f64>,
    loss: Vec<f64>,
}

fn class_setup(data: &Binned, k: usize, options: &DTreeOptions) -> Result<ClassSetup> {
    let mut wk = vec![0.0; k];
    for r in 0..data.len() {
        wk[data.y[r] as usize] += data.weight_of(r);
    }
    let total: f64 = wk.iter().sum();
    let loss: Vec<f64> = match &options.loss {
        None => (0..k * k)
            .map(|i| if i / k == i % k { 0.0 } else { 1.0 })
            .collect(),
        Some(m) => {
            if m.len() != k || m.iter().any(|r| r.len() != k) {
                return Err(Error::invalid(format!(
                    "the loss matrix must be {k} × {k} (one row and column per class)"
                )));
            }
            if (0..k).any(|i| m[i][i] != 0.0) || m.iter().flatten().any(|&x| x.is_nan() || x < 0.0)
            {
                return Err(Error::invalid(
                    "the loss matrix must be zero on the diagonal and non-negative elsewhere",
                ));
            }
            m.iter().flatten().copied().collect()
        }
    };
    let priors: Vec<f64> = match &options.priors {
        None => wk.iter().map(|w| w / total).collect(),
        Some(p) => {
            if p.len() != k || p.iter().any(|&x| x.is_nan() || x <= 0.0) {
                return Err(Error::invalid(format!(
                    "priors: give {k} positive numbers, one per class"
                )));
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|x| x / s).collect()
        }
    };
    // rpart's altered priors: a class's prior times the loss of misclassifying it.
    let altered: Vec<f64> = (0..k)
        .map(|i| priors[i] * (0..k).map(|j| loss[i * k + j]).sum::<f64>())
        .collect();
    let asum: f64 = altered.iter().sum();
    let altered: Vec<f64> = if asum > 0.0 {
        altered.iter().map(|a| a / asum).collect()
    } else {
        priors.clone()
    };
    let weight_scale: Vec<f64> = (0..k)
        .map(|i| {
            if wk[i] > 0.0 {
                altered[i] * total / wk[i]
            } else {
                0.0
            }
        })
        .collect();
    let class_scale: Vec<f64> = (0..k)
        .map(|i| {
            if altered[i] > 0.0 {
                priors[i] / altered[i]
            } else {
                0.0
            }
        })
        .collect();
    Ok(ClassSetup {
        weight_scale,
        class_scale,
        loss,
    })
}

/// Grows a tree on `rows` of the binned data: classification when `class_scale` (the class
/// weight factors) is given, regression otherwise; each row counted `mult[r]` times when given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn grow_on(
    data: &Binned,
    features: &super::grow::Features<'_>,
    class_scale: Option<&[f64]>,
    mult: Option<&[u32]>,
    rows: &mut [u32],
    criterion: Criterion,
    limits: &Limits,
    rng: Option<&mut rand::rngs::StdRng>,
) -> Vec<Node> {
    let (count, weight) = (data.count.as_deref(), data.weight.as_deref());
    match class_scale {
        Some(scale) => {
            let rs = ClassRows {
                y: &data.y,
                count,
                weight,
                scale,
                mult,
            };
            grow(features, &rs, rows, criterion, limits, rng)
        }
        None => {
            let rs = AnovaRows {
                y: &data.y,
                count,
                weight,
                mult,
            };
            grow(features, &rs, rows, criterion, limits, rng)
        }
    }
}

/// What a tree needs to turn node sums into predictions and risks.
struct Scorer<'a> {
    method: DTreeMethod,
    class_scale: &'a [f64],
    loss: &'a [f64],
}

impl Scorer<'_> {
    /// Prior-weighted class shares of a node.
    fn probs(&self, stats: &[f64]) -> Vec<f64> {
        let p: Vec<f64> = stats[1..]
            .iter()
            .zip(self.class_scale)
            .map(|(w, s)| w * s)
            .collect();
        let t: f64 = p.iter().sum();
        if t > 0.0 {
            p.iter().map(|x| x / t).collect()
        } else {
            p
        }
    }

    /// The class of least expected loss.
    fn class(&self, stats: &[f64]) -> usize {
        let p = self.probs(stats);
        let k = p.len();
        (0..k)
            .map(|j| (j, (0..k).map(|i| p[i] * self.loss[i * k + j]).sum::<f64>()))
            .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
            .map_or(0, |(j, _)| j)
    }

    /// A node's risk: expected loss times its weight (classification), or its sum of squares.
    fn risk(&self, stats: &[f64]) -> f64 {
        match self.method {
            DTreeMethod::Anova => Criterion::Anova.impurity(stats),
            DTreeMethod::Class => {
                let w: f64 = stats[1..]
                    .iter()
                    .zip(self.class_scale)
                    .map(|(w, s)| w * s)
                    .sum();
                let p = self.probs(stats);
                let k = p.len();
                let j = self.class(stats);
                w * (0..k).map(|i| p[i] * self.loss[i * k + j]).sum::<f64>()
            }
        }
    }

    /// The loss of predicting `node` for a row with response `y` and weight `w`.
    fn row_loss(&self, node: &[f64], y: f64, w: f64) -> f64 {
        match self.method {
            DTreeMethod::Anova => {
                let d = y - node[2] / node[1];
                w * d * d
            }
            DTreeMethod::Class => {
                let k = self.class_scale.len();
                let yi = y as usize;
                w * self.class_scale[yi] * self.loss[yi * k + self.class(node)]
            }
        }
    }
}

/// The weakest-link complexity of every split (in risk units): the least `alpha` at which
/// cost-complexity pruning removes it. Leaves get 0.
fn complexities(nodes: &[Node], risk: &[f64]) -> Vec<f64> {
    let n = nodes.len();
    let mut alive = vec![true; n]; // split still present
    for (i, node) in nodes.iter().enumerate() {
        alive[i] = node.split.is_some();
    }
    let mut cp = vec![0.0; n];
    let mut last = 0.0f64;
    // Post-order of the nodes, computed once (children have larger indexes than parents).
    loop {
        // Subtree risk and leaf counts of the current tree, bottom-up.
        let mut sub_risk = risk.to_vec();
        let mut leaves = vec![1.0f64; n];
        for i in (0..n).rev() {
            if alive[i] {
                let (l, r) = (nodes[i].left as usize, nodes[i].right as usize);
                sub_risk[i] = sub_risk[l] + sub_risk[r];
                leaves[i] = leaves[l] + leaves[r];
            }
        }
        let mut best: Option<f64> = None;
        for i in 0..n {
            if alive[i] {
                let g = (risk[i] - sub_risk[i]) / (leaves[i] - 1.0);
                if best.is_none_or(|b| g < b) {
                    best = Some(g);
                }
            }
        }
        let Some(g) = best else { break };
        let alpha = g.max(last);
        last = alpha;
        // Collapse every split at the weakest link (and everything below it).
        let weakest: Vec<usize> = (0..n)
            .filter(|&i| alive[i] && (risk[i] - sub_risk[i]) / (leaves[i] - 1.0) <= g)
            .collect();
        for i in weakest {
            let mut stack = vec![i];
            while let Some(j) = stack.pop() {
                if alive[j] {
                    alive[j] = false;
                    cp[j] = alpha;
                    stack.push(nodes[j].left as usize);
                    stack.push(nodes[j].right as usize);
                }
            }
        }
    }
    cp
}

/// The tree with every split of complexity at most `alpha` removed (kept nodes renumbered, in
/// the same order).
fn prune(nodes: &[Node], cp: &[f64], alpha: f64, prune_all_at_alpha: bool) -> Vec<Node> {
    let cut = |i: usize| {
        nodes[i].split.is_some() && (cp[i] < alpha || (prune_all_at_alpha && cp[i] <= alpha))
    };
    let mut keep = vec![false; nodes.len()];
    let mut stack = vec![0usize];
    while let Some(i) = stack.pop() {
        keep[i] = true;
        if nodes[i].split.is_some() && !cut(i) {
            stack.push(nodes[i].left as usize);
            stack.push(nodes[i].right as usize);
        }
    }
    let mut index = vec![u32::MAX; nodes.len()];
    let mut out = Vec::new();
    for i in 0..nodes.len() {
        if keep[i] {
            index[i] = out.len() as u32;
            out.push(nodes[i].clone());
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        let o = &mut out[index[i] as usize];
        if cut(i) || node.split.is_none() {
            o.split = None;
            o.left = 0;
            o.right = 0;
        } else {
            o.left = index[node.left as usize];
            o.right = index[node.right as usize];
        }
    }
    out
}

struct Problem {
    criterion: Criterion,
    class: Option<ClassSetup>,
    limits: Limits,
}

fn problem(
    spec: &TreeSpec,
    method: DTreeMethod,
    data: &Binned,
    options: &DTreeOptions,
) -> Result<Problem> {
    let min_bucket = options
        .min_bucket
        .unwrap_or(((options.min_split as f64) / 3.0).round() as usize)
        .max(1);
    let limits = Limits {
        max_depth: options.max_depth,
        min_split: options.min_split.max(2) as f64,
        min_bucket: min_bucket as f64,
        min_gain: 0.0,
        m_try: None,
        max_exhaustive_levels: options.max_unordered_levels.min(16),
        max_surrogate: options.max_surrogate,
    };
    Ok(match method {
        DTreeMethod::Class => {
            let k = spec.classes().map_or(2, <[String]>::len);
            let setup = class_setup(data, k, options)?;
            let criterion = match options.criterion {
                SplitCriterion::Gini => Criterion::Gini { k },
                SplitCriterion::Information => Criterion::Information { k },
            };
            Problem {
                criterion,
                class: Some(setup),
                limits,
            }
        }
        DTreeMethod::Anova => Problem {
            criterion: Criterion::Anova,
            class: None,
            limits,
        },
    })
}

/// Fits the tree on data already binned (the cut points are in `spec`).
pub fn fit_binned(
    spec: TreeSpec,
    method: DTreeMethod,
    data: &Binned,
    options: &DTreeOptions,
) -> Result<RxDTree> {
    check_options(options)?;
    let info = FeatureInfo::new(&spec);
    let features = info.features(data);
    let p = problem(&spec, method, data, options)?;
    let (class_scale, loss) = match &p.class {
        Some(c) => (c.class_scale.clone(), c.loss.clone()),
        None => (Vec::new(), Vec::new()),
    };
    let scorer = Scorer {
        method,
        class_scale: &class_scale,
        loss: &loss,
    };
    let mut rows: Vec<u32> = (0..data.len() as u32).collect();
    let scale = p.class.as_ref().map(|c| c.weight_scale.as_slice());
    let full = grow_on(
        data,
        &features,
        scale,
        None,
        &mut rows,
        p.criterion,
        &p.limits,
        None,
    );
    let risk: Vec<f64> = full.iter().map(|n| scorer.risk(&n.stats)).collect();
    let root_risk = risk[0];
    let node_cp = complexities(&full, &risk);
    let scale = if root_risk > 0.0 { root_risk } else { 1.0 };

    // The nested subtrees: distinct complexities, largest first (the root alone).
    let mut alphas: Vec<f64> = full
        .iter()
        .zip(&node_cp)
        .filter(|(n, _)| n.split.is_some())
        .map(|(_, &c)| c)
        .collect();
    alphas.sort_by(|a, b| b.total_cmp(a));
    alphas.dedup();
    let subtree_stats = |t: &[Node]| -> (usize, f64) {
        let nsplit = t.iter().filter(|n| n.split.is_some()).count();
        let r: f64 = t
            .iter()
            .filter(|n| n.split.is_none())
            .map(|n| scorer.risk(&n.stats))
            .sum();
        (nsplit, r)
    };
    // Row per subtree: the tree optimal for complexities from its CP up to the previous row's,
    // then the tree pruned at the requested cp.
    let mut table = Vec::new();
    for &a in alphas.iter().filter(|&&a| a / scale > options.cp) {
        let (nsplit, r) = subtree_stats(&prune(&full, &node_cp, a, true));
        table.push(CpRow {
            cp: a / scale,
            nsplit,
            rel_error: r / scale,
            xerror: None,
            xstd: None,
        });
    }
    let nodes = prune(&full, &node_cp, options.cp * scale, options.cp > 0.0);
    let (nsplit, r) = subtree_stats(&nodes);
    table.push(CpRow {
        cp: options.cp,
        nsplit,
        rel_error: r / scale,
        xerror: None,
        xstd: None,
    });

    if options.x_val > 1 && data.len() >= options.x_val {
        cross_validate(&mut table, &features, data, &p, &scorer, options, scale);
    }

    let imp = importance(&spec, [nodes.as_slice()], 1.0);
    Ok(RxDTree {
        spec,
        method,
        criterion: options.criterion,
        nodes,
        class_scale,
        loss,
        cptable: table,
        importance: imp,
        n_obs: data.len() as u64,
        n_missing: data.n_missing,
        cp: options.cp,
    })
}

/// Fills the cp table's `xerror` and `xstd` from `options.x_val` folds.
fn cross_validate(
    table: &mut [CpRow],
    features: &super::grow::Features<'_>,
    data: &Binned,
    p: &Problem,
    scorer: &Scorer<'_>,
    options: &DTreeOptions,
    scale: f64,
) {
    let n = data.len();
    let k = options.x_val;
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.shuffle(&mut stream_rng(options.seed, u64::MAX));
    let mut fold = vec![0usize; n];
    for (i, &r) in order.iter().enumerate() {
        fold[r as usize] = i % k;
    }
    // The cp at which each table row is judged: the geometric mean of its cp and the previous.
    let mids: Vec<f64> = (0..table.len())
        .map(|i| {
            if i == 0 {
                f64::INFINITY
            } else {
                (table[i].cp * table[i - 1].cp).sqrt()
            }
        })
        .collect();
    let mut losses = vec![vec![0.0; n]; table.len()];
    for f in 0..k {
        let mut rows: Vec<u32> = (0..n as u32).filter(|&r| fold[r as usize] != f).collect();
        let scale = p.class.as_ref().map(|c| c.weight_scale.as_slice());
        let tree = grow_on(
            data,
            features,
            scale,
            None,
            &mut rows,
            p.criterion,
            &p.limits,
            None,
        );
        let risk: Vec<f64> = tree.iter().map(|n| scorer.risk(&n.stats)).collect();
        let cp = complexities(&tree, &risk);
        let fold_scale = if risk[0] > 0.0 { risk[0] } else { 1.0 };
        for (t, &m) in mids.iter().enumerate() {
            let pruned = prune(&tree, &cp, m * fold_scale, m > 0.0);
            for r in (0..n).filter(|&r| fold[r] == f) {
                let leaf = leaf_of_codes(&pruned, features, r);
                losses[t][r] = scorer.row_loss(&pruned[leaf].stats, data.y[r], data.weight_of(r));
            }
        }
    }
    for (row, l) in table.iter_mut().zip(&losses) {
        let sum: f64 = l.iter().sum();
        let mean = sum / n as f64;
        let ss: f64 = l.iter().map(|x| (x - mean) * (x - mean)).sum();
        row.xerror = Some(sum / scale);
        row.xstd = Some(ss.sqrt() / scale);
    }
}

impl RxDTree {
    /// The classes (classification).
    pub fn classes(&self) -> Option<&[String]> {
        self.spec.classes()
    }

    fn scorer(&self) -> Scorer<'_> {
        Scorer {
            method: self.method,
            class_scale: &self.class_scale,
            loss: &self.loss,
        }
    }

    /// The predicted value of a node: its mean (regression) or the index of its class.
    pub fn node_value(&self, node: usize) -> f64 {
        let st = &self.nodes[node].stats;
        match self.method {
            DTreeMethod::Anova => st[2] / st[1],
            DTreeMethod::Class => self.scorer().class(st) as f64,
        }
    }

    /// The class probabilities of a node (classification).
    pub fn node_probs(&self, node: usize) -> Vec<f64> {
        self.scorer().probs(&self.nodes[node].stats)
    }

    /// The leaf a row of predictor values (in predictor order, `NaN` where missing) reaches.
    pub fn leaf(&self, values: &[f64]) -> usize {
        super::grow::leaf_of_values(&self.nodes, values)
    }

    fn split_text(&self, split: &super::grow::Split, left: bool) -> String {
        let var = &self.spec.vars[split.var];
        let name = var.name();
        match (&split.rule, var) {
            (Rule::Below { value, .. }, _) => {
                if left {
                    format!("{name}< {}", fmt_num(*value))
                } else {
                    format!("{name}>={}", fmt_num(*value))
                }
            }
            (Rule::Levels(set), super::data::TreeVar::Factor(f)) => {
                let lv: Vec<&str> = f
                    .levels
                    .iter()
                    .zip(set)
                    .filter(|(_, s)| **s == left)
                    .map(|(l, _)| l.as_str())
                    .collect();
                format!("{name}={}", lv.join(","))
            }
            (Rule::Levels(_), _) => name.to_string(),
        }
    }
}

fn fmt_num(x: f64) -> String {
    let s = format!("{x:.7}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

impl fmt::Display for RxDTree {
    /// rpart's printed tree. A continuous split is shown as `x< c` / `x>=c`, where rows with
    /// `x <= c` go left (the cut point is a midpoint between data values, so no data value
    /// equals it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "n= {} \n", self.n_obs)?;
        match self.method {
            DTreeMethod::Class => {
                writeln!(f, "node), split, n, loss, yval, (yprob)")?;
            }
            DTreeMethod::Anova => writeln!(f, "node), split, n, deviance, yval")?,
        }
        writeln!(f, "      * denotes terminal node\n")?;
        let classes = self.classes().map(<[String]>::to_vec).unwrap_or_default();
        // (node index, rpart number, label)
        let mut stack = vec![(0usize, 1u64, "root".to_string())];
        while let Some((i, num, label)) = stack.pop() {
            let node = &self.nodes[i];
            let depth = node.depth as usize;
            let risk = self.scorer().risk(&node.stats);
            let line = match self.method {
                DTreeMethod::Class => {
                    let probs = self.node_probs(i);
                    let c = self.node_value(i) as usize;
                    let ps: Vec<String> = probs.iter().map(|p| format!("{p:.8}")).collect();
                    let ps: Vec<String> = ps
                        .iter()
                        .map(|p| p.trim_end_matches('0').trim_end_matches('.').to_string())
                        .collect();
                    format!(
                        "{num}) {label} {} {} {} ({})",
                        fmt_num(node.count()),
                        fmt_num(risk),
                        classes.get(c).map_or("?", String::as_str),
                        ps.join(" ")
                    )
                }
                DTreeMethod::Anova => format!(
                    "{num}) {label} {} {} {}",
                    fmt_num(node.count()),
                    fmt_num(risk),
                    fmt_num(self.node_value(i))
                ),
            };
            let star = if node.split.is_none() { " *" } else { "" };
            writeln!(f, "{}{line}{star}", "  ".repeat(depth))?;
            if let Some(split) = &node.split {
                stack.push((
                    node.right as usize,
                    num * 2 + 1,
                    self.split_text(split, false),
                ));
                stack.push((node.left as usize, num * 2, self.split_text(split, true)));
            }
        }
        Ok(())
    }
}
