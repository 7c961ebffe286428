//! Trees laid out for scoring rows of raw values one at a time (the real-time path and
//! `rx_predict`): every tree of a model in one array of 16-byte steps, each tree breadth first so
//! a split's two children sit side by side. A row goes down all the trees together, one level
//! at a time (so the loads of a hundred trees are in flight at once rather than one tree's chain
//! of dependent loads after another), by one comparison and one add per tree and level: a leaf
//! is a step to itself, so a tree that ends early costs no branch. Factor splits, surrogate
//! splits and missing values take the model's own routing ([`route_values`]) on the original
//! node, so the result is the same leaf, bit for bit.
//!
//! A model builds its layout the first time it scores a row and keeps it ([`FlatCache`]); the
//! layout is not saved with the model.

use std::fmt;
use std::sync::OnceLock;

use super::grow::{Node, Rule, route_values};

/// One node: a split on `row[var] <= value` (left child at `next`, right at `next + 1`). The
/// row a tree reads is the predictor values followed by two slots: `0.0`, which leaves read
/// (with `value` infinite and `next` themselves), and `NaN`, which splits that need the original
/// node read (factor rules, predictor indexes out of range), as a missing value does.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
struct Step {
    value: f64,
    var: u32,
    next: u32,
}

/// The trees of a model as steps.
#[derive(Debug, Default)]
pub(crate) struct Flat {
    steps: Vec<Step>,
    /// Per step, the node's index in its original tree (read for factor splits, missing values
    /// and the leaves reached).
    orig: Vec<u32>,
    /// Per step, the leaf's payload (0 for splits).
    payload: Vec<f64>,
    /// Per tree, the step of its root.
    roots: Vec<u32>,
    /// The predictors the splits read (the index of the leaves' slot).
    width: u32,
    /// The most levels of splits in a tree.
    depth: usize,
}

impl Flat {
    /// Lays out `n_trees` trees (`nodes(t)` gives tree `t`'s nodes, the root first); `payload(t,
    /// i)` is what leaf `i` of tree `t` hands to [`Flat::for_each_leaf`].
    pub(crate) fn build<'n>(
        n_trees: usize,
        nodes: impl Fn(usize) -> &'n [Node],
        payload: impl Fn(usize, usize) -> f64,
    ) -> Flat {
        // Splits on predictors past this many (not a real model's) take the slow path.
        const MAX_WIDTH: usize = 1 << 30;
        let width = (0..n_trees)
            .flat_map(|t| nodes(t).iter().filter_map(|n| n.split.as_ref()))
            .map(|s| s.var + 1)
            .filter(|&w| w <= MAX_WIDTH)
            .max()
            .unwrap_or(0) as u32;
        let mut flat = Flat {
            width,
            ..Flat::default()
        };
        // Original index and depth of each node in breadth-first order.
        let mut queue: Vec<(u32, usize)> = Vec::new();
        for t in 0..n_trees {
            let tree = nodes(t);
            let root = flat.steps.len();
            flat.roots.push(root as u32);
            queue.clear();
            queue.push((0, 0));
            let mut head = 0;
            while head < queue.len() {
                let (o, depth) = queue[head];
                let (o, at) = (o as usize, (root + head) as u32);
                head += 1;
                let node = &tree[o];
                let step = match &node.split {
                    // A node reached twice (a malformed model's cycle) ends as a leaf of the
                    // split node's payload rather than looping.
                    Some(split) if queue.len() + 2 <= tree.len() => {
                        let next = (root + queue.len()) as u32;
                        queue.push((node.left, depth + 1));
                        queue.push((node.right, depth + 1));
                        flat.depth = flat.depth.max(depth + 1);
                        match split.rule {
                            Rule::Below { value, .. } if split.var < width as usize => Step {
                                value,
                                var: split.var as u32,
                                next,
                            },
                            _ => Step {
                                value: 0.0,
                                var: width + 1,
                                next,
                            },
                        }
                    }
                    _ => Step {
                        value: f64::INFINITY,
                        var: width,
                        next: at,
                    },
                };
                let leaf = step.next == at;
                flat.steps.push(step);
                flat.orig.push(o as u32);
                flat.payload.push(if leaf { payload(t, o) } else { 0.0 });
            }
        }
        flat
    }

    /// Calls `f(tree, payload, leaf)` for the leaf a row of values (in predictor order, `NaN`
    /// where missing) reaches in each tree, trees in order; `nodes` gives the original trees
    /// as [`Flat::build`] had them.
    pub(crate) fn for_each_leaf<'n>(
        &self,
        values: &[f64],
        nodes: impl Fn(usize) -> &'n [Node],
        mut f: impl FnMut(usize, f64, usize),
    ) {
        let width = self.width as usize;
        let row: Vec<f64> = (0..width)
            .map(|v| values.get(v).copied().unwrap_or(f64::NAN))
            .chain([0.0, f64::NAN])
            .collect();
        let mut at = self.roots.clone();
        for _ in 0..self.depth {
            for (t, i) in at.iter_mut().enumerate() {
                let s = self.steps[*i as usize];
                let x = row[s.var as usize];
                *i = if x.is_nan() {
                    let left = nodes(t)[self.orig[*i as usize] as usize]
                        .split
                        .as_ref()
                        .is_some_and(|split| route_values(split, values));
                    s.next + u32::from(!left)
                } else {
                    s.next + u32::from(x > s.value)
                };
            }
        }
        for (t, &i) in at.iter().enumerate() {
            f(t, self.payload[i as usize], self.orig[i as usize] as usize);
        }
    }
}

/// A model's [`Flat`] layout, built on first use. Not saved, not compared: two models are equal
/// when their trees are, and a clone builds its own.
#[derive(Default)]
pub(crate) struct FlatCache(OnceLock<Flat>);

impl FlatCache {
    /// The layout, built by `build` the first time.
    pub(crate) fn get(&self, build: impl FnOnce() -> Flat) -> &Flat {
        self.0.get_or_init(build)
    }
}

impl Clone for FlatCache {
    fn clone(&self) -> Self {
        FlatCache::default()
    }
}

impl PartialEq for FlatCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl fmt::Debug for FlatCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FlatCache")
    }
}

#[cfg(test)]
mod tests {
    use super::super::grow::{Split, leaf_of_values};
    use super::*;

    fn split(var: usize, rule: Rule, missing_left: bool) -> Option<Split> {
        Some(Split {
            var,
            rule,
            missing_left,
            improve: 1.0,
            surrogates: Vec::new(),
        })
    }

    fn node(split: Option<Split>, left: u32, right: u32) -> Node {
        Node {
            split,
            left,
            right,
            depth: 0,
            stats: vec![1.0],
        }
    }

    #[test]
    fn flat_trees_reach_the_leaves_the_nodes_do() {
        // Tree 0: x0 <= 0.5 (missing right), then on the right a factor split on x1 (levels 0
        // and 2 left). Nodes in depth-first order, so the layout reorders them.
        let below = |bin, value| Rule::Below { bin, value };
        let t0 = vec![
            node(split(0, below(3, 0.5), false), 1, 2),
            node(None, 0, 0),
            node(split(1, Rule::Levels(vec![true, false, true]), true), 3, 4),
            node(None, 0, 0),
            node(None, 0, 0),
        ];
        // Tree 1: a leaf only. Tree 2: x1 <= 1.5 (missing left), its left child x0 <= -1.
        let t1 = vec![node(None, 0, 0)];
        let t2 = vec![
            node(split(1, below(1, 1.5), true), 3, 1),
            node(None, 0, 0),
            node(None, 0, 0),
            node(split(0, below(0, -1.0), false), 2, 4),
            node(None, 0, 0),
        ];
        let trees = [t0, t1, t2];
        let flat = Flat::build(trees.len(), |t| &trees[t], |t, i| (100 * t + i) as f64);
        let rows = [
            [0.0, 0.0],
            [0.5, 1.5],
            [0.6, 0.0],
            [0.6, 1.0],
            [0.6, f64::NAN],
            [f64::NAN, 2.0],
            [-2.0, f64::NAN],
            [f64::NAN, f64::NAN],
            [7.0, 9.0],
        ];
        for row in rows {
            let mut got = Vec::new();
            flat.for_each_leaf(&row, |t| &trees[t], |t, p, leaf| got.push((t, p, leaf)));
            let want: Vec<(usize, f64, usize)> = trees
                .iter()
                .enumerate()
                .map(|(t, nodes)| {
                    let leaf = leaf_of_values(nodes, &row);
                    (t, (100 * t + leaf) as f64, leaf)
                })
                .collect();
            assert_eq!(got, want, "row {row:?}");
        }
    }

    #[test]
    fn a_cycle_in_a_malformed_tree_ends() {
        let t = vec![node(
            split(0, Rule::Below { bin: 0, value: 0.0 }, false),
            0,
            0,
        )];
        let flat = Flat::build(1, |_| &t, |_, _| 1.0);
        let mut n = 0;
        flat.for_each_leaf(&[1.0], |_| &t, |_, _, _| n += 1);
        assert_eq!(n, 1);
    }
}
