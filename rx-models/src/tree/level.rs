//! Growing a boosting tree level by level, in passes over the rows in their stored order.
//!
//! The depth-first grower ([`super::grow`]) keeps each node's rows as a list of row numbers and
//! gathers their codes and sums from all over memory; after the first split most of every
//! cache line it loads is other rows'. Boosting grows shallow trees on all rows, so here each
//! row instead carries the id of its node, and one pass per level over the rows, in order, moves
//! every row to its child and adds the rows of the nodes that need a histogram to it. Only
//! sequential reads, split across threads by fixed pieces of rows whose histograms are added in
//! order, so the sums do not depend on the number of threads. Each level builds the histogram of
//! the smaller child of a split and takes the larger one's from the parent by subtraction, as the
//! depth-first grower does; the trees are the same (up to the rounding of the sums' order), only
//! their nodes are numbered level by level.

use std::ops::Range;

use rayon::prelude::*;

use super::grow::{
    Criterion, Features, Limits, Node, best_split, hist_offsets, piece_window, root_node,
    rule_left, split_node,
};

/// A bin code: `u8` when every predictor has at most 255 bins (the missing code included),
/// which halves what each pass reads; `u16` otherwise.
pub(crate) trait Code: Copy + Send + Sync {
    /// The code as an index.
    fn idx(self) -> usize;
}

impl Code for u8 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}

impl Code for u16 {
    #[inline]
    fn idx(self) -> usize {
        self as usize
    }
}

/// What each row adds to a histogram: its count (frequency weight, 1 when `None`) and its
/// weighted gradient and hessian; rows outside the round's sample add nothing.
pub(crate) struct Grad<'a> {
    /// Weighted gradient and hessian per row.
    pub gh: &'a [[f64; 2]],
    /// Frequency weights.
    pub count: Option<&'a [f64]>,
    /// The round's sample (`None`: every row).
    pub in_bag: Option<&'a [bool]>,
}

/// No histogram slot (in the slot table).
const NO_SLOT: u32 = u32::MAX;

/// Most histogram slots (`f64`s) built in one pass per piece of rows; a level needing more
/// builds its histograms in several passes.
const SLOT_BUDGET: usize = 1 << 20;

/// Grows a tree of Newton steps on the rows of `grad`, with bin codes `codes` (row-major, `p`
/// per row as in `features`). On return `node_of[r]` is the deepest node row `r` was moved to:
/// the nodes whose children needed no histogram are not descended into, so the leaf of a row is
/// found from there with the returned [`Routing`].
pub(crate) fn grow_levels<C: Code>(
    codes: &[C],
    features: &Features<'_>,
    grad: &Grad<'_>,
    node_of: &mut [u32],
    criterion: Criterion,
    limits: &Limits,
    root: Option<Vec<f64>>,
) -> (Vec<Node>, Routing) {
    grow_levels_within(
        codes,
        features,
        grad,
        node_of,
        criterion,
        limits,
        root,
        SLOT_BUDGET,
    )
}

/// [`grow_levels`] building at most `budget` histogram values per piece of rows in one pass.
#[allow(clippy::too_many_arguments)]
fn grow_levels_within<C: Code>(
    codes: &[C],
    features: &Features<'_>,
    grad: &Grad<'_>,
    node_of: &mut [u32],
    criterion: Criterion,
    limits: &Limits,
    root: Option<Vec<f64>>,
    budget: usize,
) -> (Vec<Node>, Routing) {
    let s = criterion.stride();
    debug_assert_eq!(s, 3, "the level grower adds count, gradient and hessian");
    let p = features.p;
    let offsets = hist_offsets(features.nbins, s);
    let hist_len = offsets[p];
    let all: Vec<usize> = (0..p).collect();
    node_of.iter_mut().for_each(|n| *n = 0);
    let pass = Pass {
        codes,
        p,
        grad,
        layout: Layout::new(features.nbins),
    };
    let mut routing = Routing::new(features.nbins);
    let root_hist = match root {
        Some(h) if h.len() == hist_len => h,
        _ => pass
            .run(node_of, &routing, &[0], 0..1)
            .pop()
            .unwrap_or_else(|| vec![0.0; hist_len]),
    };
    let root = root_node(&root_hist, &offsets, s);
    let mut frontier: Vec<(usize, Vec<f64>)> = if limits.can_split(&root.stats, 0) {
        vec![(0, root_hist)]
    } else {
        Vec::new()
    };
    let mut nodes = vec![root];
    while !frontier.is_empty() {
        // Split this level's nodes; note which children need a histogram built from their rows
        // (`build`) and which are their parent's minus their sibling's (`derive`).
        let mut build: Vec<u32> = Vec::new();
        let mut derive: Vec<(usize, usize, Vec<f64>)> = Vec::new();
        for (id, hist) in frontier {
            let node_stats = nodes[id].stats.clone();
            let depth = nodes[id].depth as usize;
            if criterion.pure(&node_stats) {
                continue;
            }
            let Some((split, left_stats)) = best_split(
                &hist,
                &offsets,
                features,
                &node_stats,
                criterion,
                limits,
                &all,
            ) else {
                continue;
            };
            // The children's ids (as `split_node` appends them), and the steps to them by code.
            let (l, r) = (nodes.len(), nodes.len() + 1);
            let nb = features.nbins[split.var];
            routing.route[id] = (split.var as u32, routing.luts.len() as u32);
            routing.luts.extend((0..=nb).map(|c| {
                let left = if c == nb {
                    split.missing_left
                } else {
                    rule_left(&split.rule, c as u16)
                };
                (if left { l - id } else { r - id }) as u32
            }));
            routing.route.extend([(0, 0), (0, 0)]);
            split_node(&mut nodes, id, split, left_stats);
            let (need_l, need_r) = (
                limits.can_split(&nodes[l].stats, depth + 1),
                limits.can_split(&nodes[r].stats, depth + 1),
            );
            match (need_l, need_r) {
                (true, true) => {
                    let (small, large) = if nodes[l].stats[0] <= nodes[r].stats[0] {
                        (l, r)
                    } else {
                        (r, l)
                    };
                    build.push(small as u32);
                    derive.push((small, large, hist));
                }
                (true, false) => build.push(l as u32),
                (false, true) => build.push(r as u32),
                (false, false) => {}
            }
        }
        if build.is_empty() {
            // No child can split: the rows' leaves are found from their nodes when scored.
            break;
        }
        let mut slot_of = vec![NO_SLOT; nodes.len()];
        for (i, &b) in build.iter().enumerate() {
            slot_of[b as usize] = i as u32;
        }
        // One pass moves the rows to this level's children and builds the first batch of
        // histograms; more slots than the budget take further passes (the rows stay put).
        let batch = (budget / hist_len.max(1)).max(1);
        let mut built: Vec<Vec<f64>> = Vec::with_capacity(build.len());
        let mut first = 0;
        while first < build.len() {
            let end = (first + batch).min(build.len());
            let stay = Routing::new(features.nbins);
            let moved = if first == 0 { &routing } else { &stay };
            built.extend(pass.run(node_of, moved, &slot_of, first..end));
            first = end;
        }
        let mut next: Vec<(usize, Vec<f64>)> =
            build.iter().map(|&b| b as usize).zip(built).collect();
        for (small, large, mut parent) in derive {
            let h = &next
                .iter()
                .find(|(id, _)| *id == small)
                .map(|(_, h)| h)
                .unwrap_or_else(|| unreachable!("the smaller child's histogram is built"));
            parent.iter_mut().zip(h.iter()).for_each(|(a, b)| *a -= b);
            next.push((large, parent));
        }
        next.sort_by_key(|(id, _)| *id);
        frontier = next;
    }
    (nodes, routing)
}

/// A tree's splits as lookup tables: per node, its split variable and where the steps to its
/// children by bin code (the missing code last) start in `luts`; a node that is not split uses
/// the table of zeros at the start. Moving a row down is then one lookup per level, with no
/// branch on the rule, the side, or whether the node is split.
#[derive(Debug, Clone)]
pub(crate) struct Routing {
    route: Vec<(u32, u32)>,
    luts: Vec<u32>,
}

impl Routing {
    /// The table of an unsplit root, for predictors of `nbins` bins.
    fn new(nbins: &[usize]) -> Routing {
        let codes = nbins.iter().max().map_or(1, |&nb| nb + 1);
        Routing {
            route: vec![(0, 0)],
            luts: vec![0; codes],
        }
    }

    /// The child of node `nd` that a row with codes `codes` goes to (`nd` itself when `nd` is
    /// not split).
    #[inline]
    fn step<C: Code>(&self, codes: &[C], nd: usize) -> usize {
        let (var, start) = self.route.get(nd).copied().unwrap_or((0, 0));
        nd + self.luts[start as usize + codes[var as usize].idx()] as usize
    }

    /// The leaf a row with codes `codes` (its `p` codes) reaches from node `start`.
    #[inline]
    pub(crate) fn leaf<C: Code>(&self, codes: &[C], start: u32) -> usize {
        let mut i = start as usize;
        loop {
            let next = self.step(codes, i);
            if next == i {
                return i;
            }
            i = next;
        }
    }
}

/// One pass over all rows.
struct Pass<'a, C> {
    codes: &'a [C],
    p: usize,
    grad: &'a Grad<'a>,
    layout: Layout,
}

/// Where each predictor's bins start in a histogram of (count, gradient, hessian) bins.
pub(crate) struct Layout {
    bins: Vec<usize>,
    /// The histogram's length in `f64`s.
    pub(crate) hist_len: usize,
}

impl Layout {
    /// The layout for predictors of `nbins` bins (each with a missing bin).
    pub(crate) fn new(nbins: &[usize]) -> Layout {
        let offsets = hist_offsets(nbins, 3);
        Layout {
            bins: offsets[..nbins.len()].iter().map(|o| o / 3).collect(),
            hist_len: offsets[nbins.len()],
        }
    }

    /// Adds a row of codes `codes` and sums `v` to the histogram `hist`.
    #[inline]
    pub(crate) fn add<C: Code>(&self, hist: &mut [[f64; 3]], codes: &[C], v: [f64; 3]) {
        for (&c, &b) in codes.iter().zip(&self.bins) {
            let d = &mut hist[b + c.idx()];
            d[0] += v[0];
            d[1] += v[1];
            d[2] += v[2];
        }
    }
}

impl<C: Code> Pass<'_, C> {
    /// Moves each row one step down `routing` (rows of unsplit nodes stay), then
    /// adds the row to the histogram of its node's slot when that slot is in `slots`. Returns
    /// the histograms of `slots`, in order.
    fn run(
        &self,
        node_of: &mut [u32],
        routing: &Routing,
        slot_of: &[u32],
        slots: Range<usize>,
    ) -> Vec<Vec<f64>> {
        let len = slots.len() * self.layout.hist_len;
        let n = node_of.len();
        // Pieces hold four rows per histogram slot (so adding them up costs little beside
        // filling them) but are at most a sixteenth of the rows (so two or more threads share
        // them evenly), 16K to 256K rows; fixed by the shapes, not by the threads.
        let piece = len.saturating_mul(4).min(n / 16).clamp(16_384, 262_144);
        let window = piece_window();
        let mut total: Option<Vec<f64>> = None;
        let mut start = 0;
        for group in node_of.chunks_mut(piece * window) {
            let base = start;
            start += group.len();
            let parts: Vec<Vec<f64>> = group
                .par_chunks_mut(piece)
                .enumerate()
                .map(|(i, nodes)| {
                    let mut h = vec![0.0; len];
                    let rows = base + i * piece;
                    self.fill(rows, nodes, routing, slot_of, slots.clone(), &mut h);
                    h
                })
                .collect();
            for h in parts {
                match &mut total {
                    None => total = Some(h),
                    Some(t) => t.iter_mut().zip(&h).for_each(|(a, b)| *a += b),
                }
            }
        }
        let total = total.unwrap_or_else(|| vec![0.0; len]);
        total
            .chunks(self.layout.hist_len.max(1))
            .map(<[f64]>::to_vec)
            .collect()
    }

    /// [`Pass::run`] on the rows from `first`, whose nodes are `nodes`.
    fn fill(
        &self,
        first: usize,
        nodes: &mut [u32],
        routing: &Routing,
        slot_of: &[u32],
        slots: Range<usize>,
        h: &mut [f64],
    ) {
        let p = self.p;
        let g = self.grad;
        let (lo, width) = (slots.start as u32, slots.len() as u32);
        let bins_per_slot = self.layout.hist_len / 3;
        let (dst, _) = h.as_chunks_mut::<3>();
        for (i, node) in nodes.iter_mut().enumerate() {
            let r = first + i;
            let codes = &self.codes[r * p..r * p + p];
            let nd = routing.step(codes, *node as usize);
            *node = nd as u32;
            let slot = slot_of[nd].wrapping_sub(lo);
            if slot >= width || g.in_bag.is_some_and(|b| !b[r]) {
                continue;
            }
            let [gr, he] = g.gh[r];
            let count = g.count.map_or(1.0, |c| c[r]);
            let at = slot as usize * bins_per_slot;
            let hist = &mut dst[at..at + bins_per_slot];
            self.layout.add(hist, codes, [count, gr, he]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::grow::{RowStats, grow};

    /// Count, gradient and hessian per row, for the depth-first grower.
    struct Rows<'a>(&'a Grad<'a>);

    impl RowStats for Rows<'_> {
        fn add(&self, r: usize, dst: &mut [f64]) {
            let [g, h] = self.0.gh[r];
            dst[0] += self.0.count.map_or(1.0, |c| c[r]);
            dst[1] += g;
            dst[2] += h;
        }
    }

    /// Whether two trees split alike from nodes `a` and `b` down, with sums equal to rounding.
    fn same(x: &[Node], a: usize, y: &[Node], b: usize) -> bool {
        let (m, n) = (&x[a], &y[b]);
        let close = m
            .stats
            .iter()
            .zip(&n.stats)
            .all(|(u, v)| (u - v).abs() <= 1e-9 * (1.0 + u.abs()));
        match (&m.split, &n.split) {
            (None, None) => close,
            (Some(s), Some(t)) => {
                close
                    && s.var == t.var
                    && s.rule == t.rule
                    && s.missing_left == t.missing_left
                    && same(x, m.left as usize, y, n.left as usize)
                    && same(x, m.right as usize, y, n.right as usize)
            }
            _ => false,
        }
    }

    #[test]
    fn level_by_level_grows_the_depth_first_tree() {
        let n = 50_000;
        let nbins = [40usize, 5, 300];
        let factor = [false, true, false];
        let cuts: Vec<Vec<f64>> = nbins
            .iter()
            .zip(&factor)
            .map(|(&nb, &f)| {
                if f {
                    Vec::new()
                } else {
                    (0..nb).map(|b| b as f64).collect()
                }
            })
            .collect();
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize
        };
        // Codes (the missing code now and then), and gradients that depend on them.
        let codes: Vec<u16> = (0..n * 3)
            .map(|i| {
                let nb = nbins[i % 3];
                if next() % 50 == 0 {
                    nb as u16
                } else {
                    (next() % nb) as u16
                }
            })
            .collect();
        let gh: Vec<[f64; 2]> = (0..n)
            .map(|r| {
                let c = &codes[r * 3..r * 3 + 3];
                let g = (c[0] as f64 / 40.0) - if c[1] == 2 { 0.7 } else { 0.1 }
                    + (next() % 1000) as f64 / 4000.0;
                [g, 0.2 + (next() % 100) as f64 / 400.0]
            })
            .collect();
        let count: Vec<f64> = (0..n).map(|_| (1 + next() % 3) as f64).collect();
        let in_bag: Vec<bool> = (0..n).map(|_| next() % 3 != 0).collect();
        let features = Features {
            codes: &codes,
            p: 3,
            nbins: &nbins,
            factor: &factor,
            cuts: &cuts,
        };
        let limits = Limits {
            max_depth: 5,
            min_split: 40.0,
            min_bucket: 20.0,
            min_gain: 0.0,
            m_try: None,
            max_exhaustive_levels: 0,
            max_surrogate: 0,
        };
        let criterion = Criterion::Newton { lambda: 0.0 };
        for (count, in_bag) in [(None, None), (Some(&count[..]), Some(&in_bag[..]))] {
            let grad = Grad {
                gh: &gh,
                count,
                in_bag,
            };
            let mut rows: Vec<u32> = (0..n as u32)
                .filter(|&r| in_bag.is_none_or(|b| b[r as usize]))
                .collect();
            let deep = grow(&features, &Rows(&grad), &mut rows, criterion, &limits, None);
            assert!(deep.len() > 20, "{} nodes", deep.len());
            let mut node_of = vec![0; n];
            let (by_level, routing) = grow_levels(
                &codes,
                &features,
                &grad,
                &mut node_of,
                criterion,
                &limits,
                None,
            );
            assert!(same(&by_level, 0, &deep, 0));
            // Several passes per level (one histogram per pass) give the same tree.
            let mut again = vec![0; n];
            let hist_len = hist_offsets(&nbins, 3)[3];
            let (batched, _) = grow_levels_within(
                &codes, &features, &grad, &mut again, criterion, &limits, None, hist_len,
            );
            assert_eq!(batched, by_level);
            assert_eq!(again, node_of);
            // Every row's leaf, from where the passes left it, is its leaf in the tree.
            for r in 0..n {
                let leaf = routing.leaf(&codes[r * 3..r * 3 + 3], node_of[r]);
                assert!(by_level[leaf].split.is_none());
                assert_eq!(
                    leaf,
                    crate::tree::grow::leaf_of_codes(&by_level, &features, r)
                );
            }
        }
    }
}
