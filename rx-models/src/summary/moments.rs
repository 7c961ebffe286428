//! A mergeable accumulator of count, weight, sum, sum of squares, minimum and maximum that keeps
//! the digits plain Welford/Chan updates lose.
//!
//! Every accumulator keeps a *shift* `K` (its first valid value) and the sums `Σ w (x − K)` and
//! `Σ w (x − K)²` in double-double arithmetic ([`crate::dd`]): `x − K` is formed exactly by
//! two-sum and its square exactly by two-product, so each row adds its exact contribution and only
//! the double-double additions round (about 2⁻¹⁰⁶ relative each). Two accumulators with different
//! shifts merge by re-basing one onto the other, also in double-double:
//!
//! ```text
//! Σ w (x − K₂)  = Σ w (x − K₁) + W δ             δ = K₁ − K₂ (exact by two-sum)
//! Σ w (x − K₂)² = Σ w (x − K₁)² + 2 δ Σ w (x − K₁) + W δ²
//! ```
//!
//! so a merged partial is as good as one that saw every row. On data whose values sit far from
//! zero relative to their spread (NIST's NumAcc sets: 1e6 or 1e7 varying in the first decimal) the
//! result equals exact rational arithmetic on the float64 values to within a few units in the last
//! place of the reported double: the accuracy of a corrected two-pass algorithm, in one pass.

use serde::{Deserialize, Serialize};

use crate::dd::{Dd, two_sum};

/// Count, weight, shifted sums, minimum and maximum of the valid values of one variable (or one
/// cell of a cross-classification), plus the weight of its missing rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Rows with a valid value and a positive weight.
    pub n: u64,
    /// The sum of their weights (`n` when unweighted).
    pub weight: Dd,
    /// The shift `K`: the first valid value seen (0 while `n == 0`).
    pub shift: f64,
    /// `Σ w (x − K)`.
    pub s1: Dd,
    /// `Σ w (x − K)²`.
    pub s2: Dd,
    /// The smallest valid value (meaningful when `n > 0`).
    pub min: f64,
    /// The largest valid value (meaningful when `n > 0`).
    pub max: f64,
    /// The weight of the rows whose value is missing (a row whose weight is itself missing counts
    /// as 1).
    pub missing: Dd,
}

impl Moments {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing was added (no valid and no missing rows).
    pub fn is_empty(&self) -> bool {
        self.n == 0 && self.missing.hi == 0.0 && self.weight.hi == 0.0
    }

    /// Adds a value with weight 1. `x` must be finite.
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.start(x);
        let d = self.deviation(x);
        self.s1 = self.s1.add(d);
        self.s2 = self.s2.add(d.mul(d));
        self.weight = self.weight.add_f64(1.0);
    }

    /// Adds a value with weight `w` (finite and positive; callers skip zero weights). `x` must be
    /// finite.
    #[inline]
    pub fn push_weighted(&mut self, x: f64, w: f64) {
        self.start(x);
        let d = self.deviation(x);
        let wd = d.mul_f64(w);
        self.s1 = self.s1.add(wd);
        self.s2 = self.s2.add(wd.mul(d));
        self.weight = self.weight.add_f64(w);
    }

    /// Counts a row with weight `w` without a value (the cells of a factor-only term).
    #[inline]
    pub fn push_count(&mut self, w: f64) {
        self.n += 1;
        self.weight = self.weight.add_f64(w);
    }

    /// Counts a missing row with weight `w`.
    #[inline]
    pub fn push_missing(&mut self, w: f64) {
        self.missing = self.missing.add_f64(w);
    }

    #[inline]
    fn start(&mut self, x: f64) {
        if self.n == 0 {
            self.shift = x;
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        self.n += 1;
    }

    /// `x − K` exactly.
    #[inline]
    fn deviation(&self, x: f64) -> Dd {
        let (hi, lo) = two_sum(x, -self.shift);
        Dd { hi, lo }
    }

    /// Folds `other` into `self`; the result does not depend on which of the two came first
    /// beyond double-double rounding.
    pub fn merge(&mut self, other: &Moments) {
        self.missing = self.missing.add(other.missing);
        if other.n == 0 {
            // A count-only accumulator (or an empty one) carries its weight without sums.
            self.weight = self.weight.add(other.weight);
            return;
        }
        if self.n == 0 {
            let missing = self.missing;
            let weight = self.weight;
            *self = *other;
            self.missing = missing;
            self.weight = self.weight.add(weight);
            return;
        }
        // Re-base `other` onto this shift: δ = K_other − K_self.
        let (hi, lo) = two_sum(other.shift, -self.shift);
        let delta = Dd { hi, lo };
        let s1 = other.s1.add(other.weight.mul(delta));
        let s2 = other
            .s2
            .add(other.s1.mul(delta).mul_f64(2.0))
            .add(other.weight.mul(delta.mul(delta)));
        self.s1 = self.s1.add(s1);
        self.s2 = self.s2.add(s2);
        self.weight = self.weight.add(other.weight);
        self.n += other.n;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// The number of valid observations: the sum of weights (the row count when unweighted).
    pub fn valid_obs(&self) -> f64 {
        self.weight.to_f64()
    }

    /// The weight of the missing rows.
    pub fn missing_obs(&self) -> f64 {
        self.missing.to_f64()
    }

    /// The (weighted) mean, `None` without valid values.
    pub fn mean(&self) -> Option<f64> {
        if self.n == 0 || self.weight.hi <= 0.0 {
            return None;
        }
        let m = Dd::new(self.shift).add(self.s1.div(self.weight)).to_f64();
        m.is_finite().then_some(m)
    }

    /// The (weighted) sum `Σ w x`, `None` without valid values.
    pub fn sum(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let s = self.weight.mul_f64(self.shift).add(self.s1).to_f64();
        s.is_finite().then_some(s)
    }

    /// The variance with denominator `W − 1` (`W` the sum of weights), `None` when `W ≤ 1`.
    pub fn variance(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let denom = self.weight.sub(Dd::new(1.0));
        if denom.hi <= 0.0 {
            return None;
        }
        // Σ w (x − mean)² = Σ w (x − K)² − (Σ w (x − K))² / W.
        let ss = self.s2.sub(self.s1.mul(self.s1).div(self.weight));
        let v = ss.div(denom).to_f64().max(0.0);
        v.is_finite().then_some(v)
    }

    /// The standard deviation (denominator `W − 1`), `None` when `W ≤ 1`.
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(f64::sqrt)
    }

    /// The smallest value, `None` without valid values.
    pub fn min(&self) -> Option<f64> {
        (self.n > 0).then_some(self.min)
    }

    /// The largest value, `None` without valid values.
    pub fn max(&self) -> Option<f64> {
        (self.n > 0).then_some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_exact_values() {
        let mut m = Moments::new();
        for x in [1.0, 2.0, 3.0, 4.0] {
            m.push(x);
        }
        m.push_missing(1.0);
        assert_eq!(m.mean(), Some(2.5));
        assert_eq!(m.sum(), Some(10.0));
        assert_eq!(m.variance(), Some(5.0 / 3.0));
        assert_eq!((m.min(), m.max()), (Some(1.0), Some(4.0)));
        assert_eq!((m.valid_obs(), m.missing_obs()), (4.0, 1.0));
    }

    #[test]
    fn empty_and_single() {
        let m = Moments::new();
        assert!(m.is_empty());
        assert_eq!(
            (m.mean(), m.std_dev(), m.min(), m.sum()),
            (None, None, None, None)
        );
        let mut m = Moments::new();
        m.push(7.0);
        assert_eq!((m.mean(), m.std_dev()), (Some(7.0), None));
    }

    #[test]
    fn weighted_equals_repeated() {
        let mut w = Moments::new();
        let mut r = Moments::new();
        for (x, k) in [(1.5, 3u32), (-2.0, 1), (10.25, 2)] {
            w.push_weighted(x, f64::from(k));
            for _ in 0..k {
                r.push(x);
            }
        }
        assert_eq!(w.mean(), r.mean());
        assert_eq!(w.variance(), r.variance());
        assert_eq!(w.sum(), r.sum());
        assert_eq!(w.valid_obs(), 6.0);
    }

    #[test]
    fn merge_rebases_far_shifts() {
        // 1e12 + small variations: halves with different shifts merge to the one-pass result.
        let xs: Vec<f64> = (0..100).map(|i| 1e12 + f64::from(i % 7) * 0.1).collect();
        let mut all = Moments::new();
        xs.iter().for_each(|&x| all.push(x));
        let mut a = Moments::new();
        let mut b = Moments::new();
        xs[..37].iter().for_each(|&x| a.push(x));
        xs[37..].iter().rev().for_each(|&x| b.push(x));
        let mut ab = a;
        ab.merge(&b);
        let mut ba = b;
        ba.merge(&a);
        for m in [ab, ba] {
            assert_eq!(m.n, 100);
            assert_eq!(m.mean(), all.mean());
            let (v, w) = (m.variance().unwrap(), all.variance().unwrap());
            assert!((v - w).abs() <= 1e-14 * w, "{v} {w}");
        }
    }

    #[test]
    fn merging_empty_keeps_missing_and_counts() {
        let mut a = Moments::new();
        a.push_missing(2.0);
        let mut b = Moments::new();
        b.push(3.0);
        a.merge(&b);
        assert_eq!((a.n, a.mean(), a.missing_obs()), (1, Some(3.0), 2.0));
        let mut c = Moments::new();
        c.push_count(2.5);
        let mut d = Moments::new();
        d.push_count(1.0);
        c.merge(&d);
        assert_eq!((c.n, c.valid_obs()), (2, 3.5));
    }
}
