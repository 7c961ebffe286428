//! Growing one tree from binned data: per-node, per-bin histograms of a few sums, the best split
//! per predictor found by one scan of its bins, children's histograms by building the smaller
//! child and subtracting it from the parent.
//!
//! Trees and forests use this grower, boosting the level-by-level one (which shares the split
//! search, [`best_split`]); they differ in the sums a row contributes (its [`Criterion`]): class
//! weights for classification, weight / weighted response / weighted square for regression,
//! gradient and hessian for boosting. The first sum is always the row's count (its frequency
//! weight), which `min_split` and `min_bucket` are measured in.

use rand::Rng;
use rand::rngs::StdRng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// How a node's sums are scored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Criterion {
    /// Classification by the Gini index; sums: count, then the weight of each of `k` classes.
    Gini { k: usize },
    /// Classification by information (entropy); sums as for Gini.
    Information { k: usize },
    /// Regression by squared error; sums: count, weight, weighted y, weighted y².
    Anova,
    /// A Newton step on a loss (boosting); sums: count, gradient, hessian (both weighted).
    Newton { lambda: f64 },
}

impl Criterion {
    /// The number of sums per row (the histogram stride).
    pub(crate) fn stride(self) -> usize {
        match self {
            Criterion::Gini { k } | Criterion::Information { k } => 1 + k,
            Criterion::Anova => 4,
            Criterion::Newton { .. } => 3,
        }
    }

    /// The impurity of a node with sums `v` (lower is better; a split gains
    /// `impurity(parent) - impurity(left) - impurity(right)`).
    pub(crate) fn impurity(self, v: &[f64]) -> f64 {
        match self {
            Criterion::Gini { .. } => {
                let w: f64 = v[1..].iter().sum();
                if w <= 0.0 {
                    return 0.0;
                }
                w - v[1..].iter().map(|c| c * c).sum::<f64>() / w
            }
            Criterion::Information { .. } => {
                let w: f64 = v[1..].iter().sum();
                if w <= 0.0 {
                    return 0.0;
                }
                v[1..]
                    .iter()
                    .filter(|&&c| c > 0.0)
                    .map(|&c| c * (w / c).ln())
                    .sum()
            }
            Criterion::Anova => {
                if v[1] <= 0.0 {
                    return 0.0;
                }
                (v[3] - v[2] * v[2] / v[1]).max(0.0)
            }
            Criterion::Newton { lambda } => {
                let h = v[2] + lambda;
                if h <= 0.0 { 0.0 } else { -v[1] * v[1] / h }
            }
        }
    }

    /// The value that orders a factor's levels for a split search (mean response, share of the
    /// second class, or Newton step); `None` for multiclass problems.
    fn level_key(self, v: &[f64], majority: usize) -> f64 {
        match self {
            Criterion::Gini { k } | Criterion::Information { k } => {
                let w: f64 = v[1..].iter().sum();
                if w <= 0.0 {
                    return 0.0;
                }
                if k == 2 {
                    v[2] / w
                } else {
                    v[1 + majority] / w
                }
            }
            Criterion::Anova => {
                if v[1] > 0.0 {
                    v[2] / v[1]
                } else {
                    0.0
                }
            }
            Criterion::Newton { lambda } => -v[1] / (v[2] + lambda).max(f64::MIN_POSITIVE),
        }
    }

    /// Whether no split can improve a node (its impurity is zero; never for Newton steps,
    /// whose impurity is not bounded below by zero).
    pub(crate) fn pure(self, v: &[f64]) -> bool {
        match self {
            Criterion::Newton { .. } => v[2] <= 0.0,
            _ => self.impurity(v) <= 0.0,
        }
    }

    fn multiclass(self) -> bool {
        matches!(self, Criterion::Gini { k } | Criterion::Information { k } if k > 2)
    }
}

/// How a split sends rows: by bin (continuous predictors) or by level (factors).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Rule {
    /// Left when the value is at most `value` (training: when the bin is at most `bin`).
    Below {
        /// The last bin that goes left.
        bin: u16,
        /// The cut point between that bin and the next.
        value: f64,
    },
    /// Left when the level is one of these (by level index).
    Levels(Vec<bool>),
}

/// A node's split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The predictor (an index into the model's predictors).
    pub var: usize,
    /// Which rows go left.
    pub rule: Rule,
    /// Whether rows with a missing value go left (the side with more rows, when training).
    pub missing_left: bool,
    /// The decrease in impurity.
    pub improve: f64,
    /// Surrogate splits, best first: for a row whose split variable is missing, the first
    /// surrogate whose variable is present decides (rpart's `use_surrogate = 2`); with none,
    /// `missing_left` does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub surrogates: Vec<Surrogate>,
}

/// A split on another variable that sends rows the way the primary split does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Surrogate {
    /// The predictor.
    pub var: usize,
    /// Rows it sends left by this rule go right instead when `flip` is set.
    pub rule: Rule,
    /// Whether the rule's sides are swapped.
    pub flip: bool,
    /// The share of training rows (with both variables present) it sends the primary's way.
    pub agreement: f64,
}

/// Where a split sends a row, given a lookup of the row's bin code per predictor (`None` for
/// missing).
fn route(split: &Split, code: impl Fn(usize) -> Option<u16>) -> bool {
    if let Some(c) = code(split.var) {
        return rule_left(&split.rule, c);
    }
    for s in &split.surrogates {
        if let Some(c) = code(s.var) {
            return rule_left(&s.rule, c) != s.flip;
        }
    }
    split.missing_left
}

#[inline]
pub(crate) fn rule_left(rule: &Rule, c: u16) -> bool {
    match rule {
        Rule::Below { bin, .. } => c <= *bin,
        Rule::Levels(set) => set.get(c as usize).copied().unwrap_or(false),
    }
}

/// [`route`] on raw values: continuous values against cut points, factors by level index.
pub(crate) fn route_values(split: &Split, values: &[f64]) -> bool {
    let go = |rule: &Rule, x: f64| match rule {
        Rule::Below { value, .. } => x <= *value,
        Rule::Levels(set) => set.get(x as usize).copied().unwrap_or(false),
    };
    let x = values[split.var];
    if !x.is_nan() {
        return go(&split.rule, x);
    }
    for s in &split.surrogates {
        let x = values[s.var];
        if !x.is_nan() {
            return go(&s.rule, x) != s.flip;
        }
    }
    split.missing_left
}

/// A node of a tree; children are indexes into the tree's node list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// The split, `None` for a leaf.
    pub split: Option<Split>,
    /// The left child (when split).
    pub left: u32,
    /// The right child (when split).
    pub right: u32,
    /// Depth (the root is 0).
    pub depth: u16,
    /// The node's sums (see [`Criterion`]): the count first.
    pub stats: Vec<f64>,
}

impl Node {
    /// The node's row count (frequency-weighted).
    pub fn count(&self) -> f64 {
        self.stats[0]
    }
}

/// The sums each row adds to a histogram (see [`Criterion`] for their layout). Implemented on
/// the training columns themselves, so no per-row copy of the sums is made.
pub(crate) trait RowStats: Sync {
    /// Adds row `r`'s sums to `dst` (one slot per sum).
    fn add(&self, r: usize, dst: &mut [f64]);

    /// Adds the sums of `rows` to the histogram `h` of every predictor (predictor `v`'s bins
    /// start at `offsets[v]`; `s` sums per bin).
    fn fill(
        &self,
        features: &Features<'_>,
        offsets: &[usize],
        rows: &[u32],
        s: usize,
        h: &mut [f64],
    ) {
        fill_by_rows(self, features, offsets, rows, s, h);
    }
}

/// [`RowStats::fill`] through [`RowStats::add`]: each row's sums once, then added to the bin of
/// each predictor.
fn fill_by_rows<R: RowStats + ?Sized>(
    stats: &R,
    features: &Features<'_>,
    offsets: &[usize],
    rows: &[u32],
    s: usize,
    h: &mut [f64],
) {
    let p = features.p;
    let mut one = vec![0.0; s];
    for &r in rows {
        let r = r as usize;
        one.iter_mut().for_each(|v| *v = 0.0);
        stats.add(r, &mut one);
        let codes = &features.codes[r * p..r * p + p];
        for (v, &c) in codes.iter().enumerate() {
            let b = offsets[v] + c as usize * s;
            for (d, x) in h[b..b + s].iter_mut().zip(&one) {
                *d += x;
            }
        }
    }
}

/// Classification rows: count, then the class's weight (times its class factor); each row
/// times its multiplicity in a sample, when given.
pub(crate) struct ClassRows<'a> {
    pub y: &'a [f64],
    pub count: Option<&'a [f64]>,
    pub weight: Option<&'a [f64]>,
    pub scale: &'a [f64],
    pub mult: Option<&'a [u32]>,
}

impl RowStats for ClassRows<'_> {
    #[inline]
    fn add(&self, r: usize, dst: &mut [f64]) {
        let m = self.mult.map_or(1.0, |m| m[r] as f64);
        let c = self.y[r] as usize;
        dst[0] += self.count.map_or(1.0, |v| v[r]) * m;
        dst[1 + c] += self.weight.map_or(1.0, |v| v[r]) * self.scale[c] * m;
    }
}

/// Regression rows: count, weight, weighted y, weighted y²; times a multiplicity when given.
pub(crate) struct AnovaRows<'a> {
    pub y: &'a [f64],
    pub count: Option<&'a [f64]>,
    pub weight: Option<&'a [f64]>,
    pub mult: Option<&'a [u32]>,
}

impl RowStats for AnovaRows<'_> {
    #[inline]
    fn add(&self, r: usize, dst: &mut [f64]) {
        let m = self.mult.map_or(1.0, |m| m[r] as f64);
        let w = self.weight.map_or(1.0, |v| v[r]) * m;
        let y = self.y[r];
        dst[0] += self.count.map_or(1.0, |v| v[r]) * m;
        dst[1] += w;
        dst[2] += w * y;
        dst[3] += w * y * y;
    }
}

/// The predictors as the grower sees them.
pub(crate) struct Features<'a> {
    /// Bin codes, row-major: row `r`'s code of predictor `v` is `codes[r * p + v]`.
    pub codes: &'a [u16],
    /// Predictors per row.
    pub p: usize,
    /// Bins per predictor, not counting the missing bin (whose code is this number).
    pub nbins: &'a [usize],
    /// Whether each predictor is a factor (its bins are levels).
    pub factor: &'a [bool],
    /// The cut points of each continuous predictor (empty for factors).
    pub cuts: &'a [Vec<f64>],
}

impl Features<'_> {
    /// Row `r`'s bin code of predictor `v`.
    #[inline]
    pub fn code(&self, r: usize, v: usize) -> u16 {
        self.codes[r * self.p + v]
    }

    /// Row `r`'s bin code of predictor `v`, `None` where missing.
    #[inline]
    fn present(&self, r: usize, v: usize) -> Option<u16> {
        let c = self.code(r, v);
        (c as usize != self.nbins[v]).then_some(c)
    }
}

/// Limits on growth.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_depth: usize,
    pub min_split: f64,
    pub min_bucket: f64,
    /// The least impurity decrease a split must bring.
    pub min_gain: f64,
    /// Predictors tried per node (random forests); `None`: all.
    pub m_try: Option<usize>,
    /// Multiclass factors with at most this many levels present get an exhaustive subset search.
    pub max_exhaustive_levels: usize,
    /// Surrogate splits kept per split (0: none).
    pub max_surrogate: usize,
}

/// The root of a tree whose histogram (`s` sums per bin) is `hist`: its sums are those of the
/// first predictor's bins (every row is in exactly one bin of each predictor, the missing bin
/// included).
pub(crate) fn root_node(hist: &[f64], offsets: &[usize], s: usize) -> Node {
    let mut stats = vec![0.0; s];
    if offsets.len() > 1 {
        for b in hist[offsets[0]..offsets[1]].chunks(s) {
            stats.iter_mut().zip(b).for_each(|(t, v)| *t += v);
        }
    }
    Node {
        split: None,
        left: 0,
        right: 0,
        depth: 0,
        stats,
    }
}

impl Limits {
    /// Whether a node at `depth` with sums `stats` may be split.
    pub(crate) fn can_split(&self, stats: &[f64], depth: usize) -> bool {
        depth < self.max_depth && stats[0] >= self.min_split && stats[0] >= 2.0 * self.min_bucket
    }
}

/// Splits node `id` by `split`: appends its two children (the left one with sums `left_stats`,
/// the right one with the rest of the node's) and returns their ids.
pub(crate) fn split_node(
    nodes: &mut Vec<Node>,
    id: usize,
    split: Split,
    left_stats: Vec<f64>,
) -> (usize, usize) {
    let right_stats: Vec<f64> = nodes[id]
        .stats
        .iter()
        .zip(&left_stats)
        .map(|(t, l)| t - l)
        .collect();
    let depth = nodes[id].depth + 1;
    let (l, r) = (nodes.len(), nodes.len() + 1);
    for stats in [left_stats, right_stats] {
        nodes.push(Node {
            split: None,
            left: 0,
            right: 0,
            depth,
            stats,
        });
    }
    nodes[id].split = Some(split);
    nodes[id].left = l as u32;
    nodes[id].right = r as u32;
    (l, r)
}

/// Grows a tree on `rows` (which it reorders), each row contributing its sums from `stats`.
pub(crate) fn grow<R: RowStats>(
    features: &Features<'_>,
    stats: &R,
    rows: &mut [u32],
    criterion: Criterion,
    limits: &Limits,
    mut rng: Option<&mut StdRng>,
) -> Vec<Node> {
    let s = criterion.stride();
    let nf = features.p;
    let offsets = hist_offsets(features.nbins, s);
    let hist_len = offsets[nf];

    let root_hist = build_hist(features, stats, rows, s, &offsets, hist_len);
    let mut nodes = vec![root_node(&root_hist, &offsets, s)];
    // (node, first row, end row, histogram if already known)
    let mut stack: Vec<(usize, usize, usize, Option<Vec<f64>>)> =
        vec![(0, 0, rows.len(), Some(root_hist))];
    // The partition buffer, one slot per row (a node's rows [lo, hi) use the same slots). One
    // buffer of 4 bytes a row, beside the binned data, is all the growing needs.
    let mut buf = vec![0u32; rows.len()];
    let mut candidates: Vec<usize> = (0..nf).collect();
    while let Some((id, lo, hi, hist)) = stack.pop() {
        let depth = nodes[id].depth as usize;
        let node_stats = nodes[id].stats.clone();
        if depth >= limits.max_depth
            || node_stats[0] < limits.min_split
            || node_stats[0] < 2.0 * limits.min_bucket
            || criterion.pure(&node_stats)
        {
            continue;
        }
        let hist = hist
            .unwrap_or_else(|| build_hist(features, stats, &rows[lo..hi], s, &offsets, hist_len));
        // The predictors to try.
        let tried: &[usize] = match (limits.m_try, rng.as_deref_mut()) {
            (Some(m), Some(rng)) if m < nf => {
                for i in 0..m {
                    let j = rng.random_range(i..nf);
                    candidates.swap(i, j);
                }
                &candidates[..m]
            }
            _ => &candidates[..],
        };
        let best = best_split(
            &hist,
            &offsets,
            features,
            &node_stats,
            criterion,
            limits,
            tried,
        );
        let Some((mut split, mut left_stats)) = best else {
            continue;
        };
        if limits.max_surrogate > 0 {
            split.surrogates = surrogates(
                features,
                stats,
                s,
                &rows[lo..hi],
                &split,
                limits.max_surrogate,
            );
        }
        // Partition the rows, stably: left rows first.
        let code_of = |r: usize| move |v: usize| features.present(r, v);
        let mut w = lo;
        if split.surrogates.is_empty() {
            // Where each bin of the split variable goes (the missing bin last).
            let var = split.var;
            let p = features.p;
            let nb = features.nbins[var];
            let lut: Vec<bool> = (0..=nb)
                .map(|c| {
                    if c == nb {
                        split.missing_left
                    } else {
                        rule_left(&split.rule, c as u16)
                    }
                })
                .collect();
            // Branch-free: each row of a piece is written to the piece's stretch of the buffer
            // twice, at the next slot from the front (left rows) and the next from the back
            // (right rows), and only its side advances (the direction is unpredictable, so a
            // branch would miss half the time). Before row i, a + b = i < n, so the two slots
            // never pass each other and no finished slot is written again. Returns how many went
            // left; the right rows end at the back in reverse order.
            let split_piece = |piece: &[u32], out: &mut [u32]| {
                let n = piece.len();
                let (mut a, mut b) = (0, 0);
                for &r in piece {
                    let left = lut[features.codes[r as usize * p + var] as usize];
                    out[a] = r;
                    out[n - 1 - b] = r;
                    a += usize::from(left);
                    b += usize::from(!left);
                }
                a
            };
            let out = &mut buf[lo..hi];
            let counts: Vec<(usize, usize)> = if hi - lo >= 2 * SPLIT_PIECE_ROWS {
                // Large nodes: pieces in parallel, put back in order (left rows, then right).
                rows[lo..hi]
                    .par_chunks(SPLIT_PIECE_ROWS)
                    .zip(out.par_chunks_mut(SPLIT_PIECE_ROWS))
                    .map(|(piece, o)| (split_piece(piece, o), piece.len()))
                    .collect()
            } else {
                vec![(split_piece(&rows[lo..hi], out), hi - lo)]
            };
            let mut start = 0;
            for &(nl, len) in &counts {
                rows[w..w + nl].copy_from_slice(&out[start..start + nl]);
                w += nl;
                start += len;
            }
            let (mut at, mut start) = (w, 0);
            for &(nl, len) in &counts {
                let right = &out[start + nl..start + len];
                for (dst, &r) in rows[at..at + right.len()]
                    .iter_mut()
                    .zip(right.iter().rev())
                {
                    *dst = r;
                }
                at += right.len();
                start += len;
            }
        } else {
            let mut nr = 0;
            for i in lo..hi {
                let r = rows[i];
                if route(&split, code_of(r as usize)) {
                    rows[w] = r;
                    w += 1;
                } else {
                    buf[lo + nr] = r;
                    nr += 1;
                }
            }
            rows[w..hi].copy_from_slice(&buf[lo..lo + nr]);
        }
        let mid = w;
        if !split.surrogates.is_empty() {
            // Surrogates may send missing rows another way than scoring assumed: sum the left.
            left_stats.iter_mut().for_each(|v| *v = 0.0);
            for &r in &rows[lo..mid] {
                stats.add(r as usize, &mut left_stats);
            }
            // Rows with every surrogate missing go to the larger child (rpart's majority).
            split.missing_left = left_stats[0] >= node_stats[0] - left_stats[0];
        }
        let (l, r) = split_node(&mut nodes, id, split, left_stats);
        // Children that may split get histograms: the smaller built, the larger by subtraction.
        let (need_l, need_r) = (
            limits.can_split(&nodes[l].stats, depth + 1),
            limits.can_split(&nodes[r].stats, depth + 1),
        );
        let (hl, hr) = if need_l && need_r {
            let left_small = mid - lo <= hi - mid;
            let small = if left_small {
                build_hist(features, stats, &rows[lo..mid], s, &offsets, hist_len)
            } else {
                build_hist(features, stats, &rows[mid..hi], s, &offsets, hist_len)
            };
            let mut large = hist;
            large.iter_mut().zip(&small).for_each(|(p, c)| *p -= c);
            if left_small {
                (Some(small), Some(large))
            } else {
                (Some(large), Some(small))
            }
        } else {
            (None, None)
        };
        // Depth first, left child first.
        if need_r {
            stack.push((r, mid, hi, hr));
        }
        if need_l {
            stack.push((l, lo, mid, hl));
        }
    }
    nodes
}

/// Where each predictor's bins start in a histogram of `s` sums per bin (each predictor has its
/// bins and a missing bin); the last entry is the histogram's length.
pub(crate) fn hist_offsets(nbins: &[usize], s: usize) -> Vec<usize> {
    let mut offsets = Vec::with_capacity(nbins.len() + 1);
    let mut total = 0;
    for &nb in nbins {
        offsets.push(total);
        total += (nb + 1) * s;
    }
    offsets.push(total);
    offsets
}

/// The best split of a node with sums `node_stats` and histogram `hist` among the predictors
/// `tried`, with its left child's sums; `None` when no split is allowed or none gains more than
/// `limits.min_gain` (and a rounding margin).
pub(crate) fn best_split(
    hist: &[f64],
    offsets: &[usize],
    features: &Features<'_>,
    node_stats: &[f64],
    criterion: Criterion,
    limits: &Limits,
    tried: &[usize],
) -> Option<(Split, Vec<f64>)> {
    let s = node_stats.len();
    let majority = (1..s)
        .max_by(|&a, &b| node_stats[a].total_cmp(&node_stats[b]).then(b.cmp(&a)))
        .map_or(0, |i| i - 1);
    let parent_imp = criterion.impurity(node_stats);
    let mut best: Option<(f64, Split, Vec<f64>)> = None;
    let mut tried_sorted: Vec<usize> = tried.to_vec();
    tried_sorted.sort_unstable();
    for &f in &tried_sorted {
        let h = &hist[offsets[f]..offsets[f + 1]];
        let nb = features.nbins[f];
        let found = if features.factor[f] {
            best_level_split(h, nb, node_stats, criterion, limits, majority)
        } else {
            best_bin_split(h, nb, node_stats, criterion, limits)
        };
        if let Some((imp, rule, missing_left, left)) = found {
            let gain = parent_imp - imp;
            if best.as_ref().is_none_or(|b| gain > b.0) {
                let rule = match rule {
                    Rule::Below { bin, .. } => Rule::Below {
                        bin,
                        value: features.cuts[f][bin as usize],
                    },
                    other => other,
                };
                let split = Split {
                    var: f,
                    rule,
                    missing_left,
                    improve: gain,
                    surrogates: Vec::new(),
                };
                best = Some((gain, split, left));
            }
        }
    }
    let (gain, split, left) = best?;
    if gain.is_nan() || gain <= limits.min_gain.max(1e-12 * parent_imp.abs()) {
        return None;
    }
    Some((split, left))
}

/// Rows per piece of a histogram built in parallel: four times the histogram's length, so
/// adding a piece's histogram costs little beside filling it, and between 8K and 64K rows.
/// Pieces are summed in order, so the result depends on the histogram's shape and the rows,
/// not on the number of threads.
fn hist_piece_rows(len: usize) -> usize {
    len.saturating_mul(4).clamp(8_192, 65_536)
}

/// Rows per piece of a partition done in parallel (the partition is stable, so the pieces do
/// not change the result).
const SPLIT_PIECE_ROWS: usize = 8_192;

/// The histogram of `rows`: per predictor, per bin (the missing bin last), the sums of the rows.
fn build_hist<R: RowStats>(
    features: &Features<'_>,
    stats: &R,
    rows: &[u32],
    s: usize,
    offsets: &[usize],
    len: usize,
) -> Vec<f64> {
    let piece = hist_piece_rows(len);
    if rows.len() <= piece {
        let mut hist = vec![0.0; len];
        stats.fill(features, offsets, rows, s, &mut hist);
        return hist;
    }
    // Pieces are built in parallel a window at a time and added in order, so the sum does not
    // depend on the threads or the window, and only a window's histograms exist at once (all
    // of a 10M-row root's pieces would take 300 of them, 70 MB for 10 predictors of 1,000 bins).
    let window = piece_window();
    let mut hist: Option<Vec<f64>> = None;
    for group in rows.chunks(piece * window) {
        let pieces: Vec<Vec<f64>> = group
            .par_chunks(piece)
            .map(|part| {
                let mut h = vec![0.0; len];
                stats.fill(features, offsets, part, s, &mut h);
                h
            })
            .collect();
        for h in pieces {
            match &mut hist {
                None => hist = Some(h),
                Some(t) => t.iter_mut().zip(&h).for_each(|(a, b)| *a += b),
            }
        }
    }
    hist.unwrap_or_else(|| vec![0.0; len])
}

/// Histogram pieces built at once per thread (see [`build_hist`]).
const PIECE_WINDOW_PER_THREAD: usize = 4;

/// Pieces of rows handled at once by a pass whose pieces' sums are added in order: enough to
/// keep every thread busy, few enough that their partial sums take little memory. The sums do
/// not depend on it.
pub(crate) fn piece_window() -> usize {
    PIECE_WINDOW_PER_THREAD * rayon::current_num_threads().max(1)
}

/// A candidate: the impurity of the two children, the rule, where missing values go, and the
/// left child's sums.
type Candidate = (f64, Rule, bool, Vec<f64>);

/// Scores a split whose non-missing left rows sum to `left` (the missing rows go to the larger
/// side); `None` when a child would be too small. The children's sums are left in `l` and `r`.
fn score(
    left: &[f64],
    missing: &[f64],
    total: &[f64],
    criterion: Criterion,
    limits: &Limits,
    l: &mut [f64],
    r: &mut [f64],
) -> Option<(f64, bool)> {
    let right_n = total[0] - missing[0] - left[0];
    let missing_left = left[0] >= right_n;
    for i in 0..l.len() {
        l[i] = if missing_left {
            left[i] + missing[i]
        } else {
            left[i]
        };
        r[i] = total[i] - l[i];
    }
    if l[0] < limits.min_bucket || r[0] < limits.min_bucket || l[0] <= 0.0 || r[0] <= 0.0 {
        return None;
    }
    Some((criterion.impurity(l) + criterion.impurity(r), missing_left))
}

/// Empty bins (allowing for the rounding of histogram subtraction).
fn empty(v: &[f64]) -> bool {
    v[0] <= 1e-9
}

fn best_bin_split(
    h: &[f64],
    nb: usize,
    total: &[f64],
    criterion: Criterion,
    limits: &Limits,
) -> Option<Candidate> {
    let s = total.len();
    let missing = &h[nb * s..nb * s + s];
    let mut left = vec![0.0; s];
    let (mut l, mut r) = (vec![0.0; s], vec![0.0; s]);
    let mut best: Option<Candidate> = None;
    let present = total[0] - missing[0];
    for b in 0..nb.saturating_sub(1) {
        let bin = &h[b * s..b * s + s];
        if empty(bin) {
            continue;
        }
        left.iter_mut().zip(bin).for_each(|(a, v)| *a += v);
        if left[0] >= present - 1e-9 {
            break;
        }
        if let Some((imp, ml)) = score(&left, missing, total, criterion, limits, &mut l, &mut r)
            && best.as_ref().is_none_or(|c| imp < c.0)
        {
            best = Some((
                imp,
                Rule::Below {
                    bin: b as u16,
                    value: f64::NAN,
                },
                ml,
                l.clone(),
            ));
        }
    }
    best
}

fn best_level_split(
    h: &[f64],
    nb: usize,
    total: &[f64],
    criterion: Criterion,
    limits: &Limits,
    majority: usize,
) -> Option<Candidate> {
    let s = total.len();
    let missing = &h[nb * s..nb * s + s];
    let present: Vec<usize> = (0..nb).filter(|&b| !empty(&h[b * s..b * s + s])).collect();
    if present.len() < 2 {
        return None;
    }
    let mut best: Option<Candidate> = None;
    let (mut l, mut r) = (vec![0.0; s], vec![0.0; s]);
    let mut consider = |set: &[bool], left: &[f64]| {
        if let Some((imp, ml)) = score(left, missing, total, criterion, limits, &mut l, &mut r)
            && best.as_ref().is_none_or(|c| imp < c.0)
        {
            best = Some((imp, Rule::Levels(set.to_vec()), ml, l.clone()));
        }
    };
    if criterion.multiclass() && present.len() <= limits.max_exhaustive_levels {
        // Every split of the present levels into two groups (the last level always right).
        let m = present.len() - 1;
        for mask in 1u64..(1u64 << m) {
            let mut set = vec![false; nb];
            let mut left = vec![0.0; s];
            for (i, &b) in present[..m].iter().enumerate() {
                if mask >> i & 1 == 1 {
                    set[b] = true;
                    left.iter_mut()
                        .zip(&h[b * s..b * s + s])
                        .for_each(|(a, v)| *a += v);
                }
            }
            consider(&set, &left);
        }
        return best;
    }
    // Order the levels by their key and split the ordered list.
    let mut order = present;
    order.sort_by(|&a, &b| {
        let ka = criterion.level_key(&h[a * s..a * s + s], majority);
        let kb = criterion.level_key(&h[b * s..b * s + s], majority);
        ka.total_cmp(&kb).then(a.cmp(&b))
    });
    let mut set = vec![false; nb];
    let mut left = vec![0.0; s];
    for &b in &order[..order.len() - 1] {
        set[b] = true;
        left.iter_mut()
            .zip(&h[b * s..b * s + s])
            .for_each(|(a, v)| *a += v);
        consider(&set, &left);
    }
    best
}

/// The leaf a row of bin codes reaches (training-time routing).
pub(crate) fn leaf_of_codes(nodes: &[Node], features: &Features<'_>, r: usize) -> usize {
    let mut i = 0;
    let code = |v: usize| features.present(r, v);
    while let Some(split) = &nodes[i].split {
        let left = route(split, code);
        i = if left { nodes[i].left } else { nodes[i].right } as usize;
    }
    i
}

/// The leaf a row of raw values reaches (prediction): continuous values compared with the cut
/// points, factors by level index, `NaN` for missing.
pub fn leaf_of_values(nodes: &[Node], values: &[f64]) -> usize {
    let mut i = 0;
    while let Some(split) = &nodes[i].split {
        let left = route_values(split, values);
        i = if left { nodes[i].left } else { nodes[i].right } as usize;
    }
    i
}

/// The best surrogates of `split` among the other predictors, on the node's `rows` whose split
/// variable is present: per predictor, the rule (and side) that sends the most rows (by count
/// weight) the primary's way; kept when it beats sending every row to the majority side.
fn surrogates<R: RowStats>(
    features: &Features<'_>,
    stats: &R,
    s: usize,
    rows: &[u32],
    split: &Split,
    max: usize,
) -> Vec<Surrogate> {
    let primary = split.var;
    let pmiss = features.nbins[primary] as u16;
    let dirs: Vec<(u32, bool, f64)> = rows
        .iter()
        .filter_map(|&r| {
            let c = features.code(r as usize, primary);
            (c != pmiss).then(|| {
                let mut one = vec![0.0; s];
                stats.add(r as usize, &mut one);
                (r, rule_left(&split.rule, c), one[0])
            })
        })
        .collect();
    let mut found: Vec<Surrogate> = Vec::new();
    for v in 0..features.p {
        if v == primary {
            continue;
        }
        let nb = features.nbins[v];
        // Per bin: weight going left, right.
        let mut h = vec![[0.0f64; 2]; nb];
        for &(r, left, w) in &dirs {
            let c = features.code(r as usize, v) as usize;
            if c < nb {
                h[c][usize::from(!left)] += w;
            }
        }
        let (tl, tr) = h.iter().fold((0.0, 0.0), |a, b| (a.0 + b[0], a.1 + b[1]));
        let total = tl + tr;
        if total <= 0.0 {
            continue;
        }
        let majority = tl.max(tr);
        let best: Option<(f64, Rule, bool)> = if features.factor[v] {
            let set: Vec<bool> = h.iter().map(|b| b[0] >= b[1] && b[0] > 0.0).collect();
            let agree: f64 = h.iter().map(|b| b[0].max(b[1])).sum();
            Some((agree, Rule::Levels(set), false))
        } else {
            let (mut cl, mut cr) = (0.0, 0.0);
            let mut best: Option<(f64, Rule, bool)> = None;
            for (b, bin) in h.iter().enumerate().take(nb.saturating_sub(1)) {
                cl += bin[0];
                cr += bin[1];
                let straight = cl + (tr - cr);
                let flipped = cr + (tl - cl);
                let (agree, flip) = if straight >= flipped {
                    (straight, false)
                } else {
                    (flipped, true)
                };
                if best.as_ref().is_none_or(|x| agree > x.0) {
                    best = Some((
                        agree,
                        Rule::Below {
                            bin: b as u16,
                            value: features.cuts[v][b],
                        },
                        flip,
                    ));
                }
            }
            best
        };
        if let Some((agree, rule, flip)) = best
            && agree > majority + 1e-9 * total
        {
            found.push(Surrogate {
                var: v,
                rule,
                flip,
                agreement: agree / total,
            });
        }
    }
    found.sort_by(|a, b| b.agreement.total_cmp(&a.agreement).then(a.var.cmp(&b.var)));
    found.truncate(max);
    found
}
