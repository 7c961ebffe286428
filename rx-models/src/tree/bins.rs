//! Bin edges for continuous predictors, from a mergeable sketch of the values.
//!
//! [`ValueSketch`] counts values exactly while a column has at most [`SKETCH_CAPACITY`] distinct
//! values. Past that it coarsens: values are counted by an order-preserving 64-bit key with its
//! lowest `shift` bits dropped, `shift` raised one bit at a time until the count of distinct keys
//! fits again. Merging two sketches brings both to the larger shift, adds the counts, and
//! coarsens again if needed. The result is the same whatever the chunking or the merge order: a
//! sketch always ends at the smallest shift at which *all* its values fit (any part of the data
//! needs at most that shift), with exact counts at that shift. Equal-count bins are then cut from
//! the sorted keys; with few distinct values every value is its own bin and the cut points are
//! the midpoints between neighbouring values, as rpart reports them.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

/// The most distinct keys a sketch keeps per column.
pub const SKETCH_CAPACITY: usize = 1 << 16;

/// The largest number of bins a continuous predictor may have (bin codes are `u16`, and one code
/// is kept for missing values).
pub const MAX_BINS: usize = u16::MAX as usize - 1;

/// Counts of a column's values, exact or at a coarser resolution (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValueSketch {
    shift: u32,
    counts: Counts,
}

/// A sketch's counts per key.
type Counts = HashMap<u64, u64, BuildHasherDefault<KeyHasher>>;

/// The hash of a sketch key: splitmix64's finalizer of the key. Keys are order-preserving float
/// bits, whose low bits are all zero for round values, so a plain multiplicative hash would put
/// them in few buckets; the standard SipHash made the sketch pass several times slower. What a
/// sketch holds does not depend on the hash.
#[derive(Debug, Clone, Copy, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, k: u64) {
        self.0 = k;
    }
}

/// The order-preserving key of a value (`-0.0` counts as `0.0`).
fn key(x: f64) -> u64 {
    let x = if x == 0.0 { 0.0 } else { x };
    let b = x.to_bits();
    if b >> 63 == 1 { !b } else { b | (1 << 63) }
}

/// The value of a key (the inverse of [`key`]).
fn unkey(k: u64) -> f64 {
    let b = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
    f64::from_bits(b)
}

impl ValueSketch {
    /// Counts `x` (finite values only; the caller leaves missing values out).
    pub fn insert(&mut self, x: f64) {
        *self.counts.entry(key(x) >> self.shift).or_insert(0) += 1;
        if self.counts.len() > SKETCH_CAPACITY {
            self.coarsen(self.shift + 1);
        }
    }

    /// The number of values counted.
    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Adds the counts of `other`.
    pub fn merge(&mut self, other: ValueSketch) {
        let shift = self.shift.max(other.shift);
        self.set_shift(shift);
        let mut other = other;
        other.set_shift(shift);
        for (k, c) in other.counts {
            *self.counts.entry(k).or_insert(0) += c;
        }
        if self.counts.len() > SKETCH_CAPACITY {
            self.coarsen(self.shift + 1);
        }
    }

    fn set_shift(&mut self, shift: u32) {
        if shift == self.shift {
            return;
        }
        let by = shift - self.shift;
        let mut next = Counts::with_capacity_and_hasher(self.counts.len(), Default::default());
        for (k, c) in self.counts.drain() {
            *next.entry(if by >= 64 { 0 } else { k >> by }).or_insert(0) += c;
        }
        self.counts = next;
        self.shift = shift;
    }

    /// Raises the shift, from `from`, until the distinct keys fit.
    fn coarsen(&mut self, from: u32) {
        let mut shift = from;
        loop {
            self.set_shift(shift.min(64));
            if self.counts.len() <= SKETCH_CAPACITY || shift >= 64 {
                return;
            }
            shift += 1;
        }
    }

    /// Cut points for at most `max_bins` bins of roughly equal counts: a value `x` falls in bin
    /// `b` when `cuts[b - 1] < x <= cuts[b]` (the last bin has no upper cut). Fewer distinct
    /// values than `max_bins` give one bin per value.
    pub fn cuts(&self, max_bins: usize) -> Vec<f64> {
        let max_bins = max_bins.clamp(2, MAX_BINS);
        let mut items: Vec<(u64, u64)> = self.counts.iter().map(|(&k, &c)| (k, c)).collect();
        items.sort_unstable();
        if items.len() < 2 {
            return Vec::new();
        }
        // The upper and lower value of a key's range.
        let upper = |k: u64| -> f64 {
            if self.shift == 0 {
                unkey(k)
            } else if self.shift >= 64 {
                f64::INFINITY
            } else {
                unkey(((k + 1) << self.shift).wrapping_sub(1))
            }
        };
        let lower = |k: u64| -> f64 {
            if self.shift >= 64 {
                f64::NEG_INFINITY
            } else {
                unkey(k << self.shift)
            }
        };
        let cut_after = |i: usize| -> f64 {
            let lo = upper(items[i].0);
            if self.shift > 0 {
                return lo;
            }
            let hi = lower(items[i + 1].0);
            let mid = lo / 2.0 + hi / 2.0;
            if mid >= lo && mid < hi { mid } else { lo }
        };
        let mut cuts = Vec::new();
        if items.len() <= max_bins {
            for i in 0..items.len() - 1 {
                cuts.push(cut_after(i));
            }
            return cuts;
        }
        let total: u64 = items.iter().map(|&(_, c)| c).sum();
        let mut remaining = total as f64;
        let mut bins_left = max_bins as f64;
        let mut in_bin = 0u64;
        for (i, &(_, c)) in items.iter().enumerate().take(items.len() - 1) {
            in_bin += c;
            let target = remaining / bins_left;
            // Close the bin when it has its share, or when the next value alone would overfill
            // it by more than this bin lacks.
            let next = items[i + 1].1 as f64;
            let have = in_bin as f64;
            if have >= target || (have + next > target && target - have < have + next - target) {
                cuts.push(cut_after(i));
                remaining -= have;
                bins_left -= 1.0;
                in_bin = 0;
                if bins_left <= 1.0 {
                    break;
                }
            }
        }
        cuts
    }
}

/// The bin of `x` given the cut points (`cuts.len()` bins + 1 in all).
#[inline]
pub fn bin_of(cuts: &[f64], x: f64) -> u16 {
    cuts.partition_point(|&c| c < x) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_order() {
        let xs = [-1e300, -2.5, -1.0, -1e-300, 0.0, 1e-300, 1.0, 2.5, 1e300];
        for w in xs.windows(2) {
            assert!(key(w[0]) < key(w[1]), "{} {}", w[0], w[1]);
        }
        for &x in &xs {
            assert_eq!(unkey(key(x)), x);
        }
        assert_eq!(key(-0.0), key(0.0));
    }

    #[test]
    fn few_values_cut_at_midpoints() {
        let mut s = ValueSketch::default();
        for x in [1.0, 2.0, 2.0, 4.0] {
            s.insert(x);
        }
        assert_eq!(s.cuts(101), vec![1.5, 3.0]);
        assert_eq!(bin_of(&[1.5, 3.0], 1.0), 0);
        assert_eq!(bin_of(&[1.5, 3.0], 2.0), 1);
        assert_eq!(bin_of(&[1.5, 3.0], 4.0), 2);
    }

    #[test]
    fn equal_count_bins() {
        let mut s = ValueSketch::default();
        for i in 0..1000 {
            s.insert(i as f64);
        }
        let cuts = s.cuts(10);
        assert_eq!(cuts.len(), 9);
        let mut counts = [0usize; 10];
        for i in 0..1000 {
            counts[bin_of(&cuts, i as f64) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 100), "{counts:?}");
    }

    #[test]
    fn coarsened_sketch_is_independent_of_chunking() {
        let values: Vec<f64> = (0..200_000u64)
            .map(|i| ((i.wrapping_mul(2654435761) % 1_000_003) as f64).sqrt() * 1.37)
            .collect();
        let mut whole = ValueSketch::default();
        values.iter().for_each(|&x| whole.insert(x));
        assert!(whole.shift > 0);
        let mut merged = ValueSketch::default();
        for part in values.chunks(30_001).rev() {
            let mut p = ValueSketch::default();
            part.iter().for_each(|&x| p.insert(x));
            merged.merge(p);
        }
        assert_eq!(whole, merged);
        assert_eq!(whole.total(), 200_000);
        let cuts = whole.cuts(255);
        assert_eq!(cuts.len(), 254);
        assert!(cuts.windows(2).all(|w| w[0] < w[1]));
    }
}
