//! Double-double arithmetic: a value held as an unevaluated sum `hi + lo` of two doubles, good to
//! about 106 bits. Used where float64 loses the digits the statistics need: residuals for iterative
//! refinement of least squares, and sums that must not drift (summaries, cross-products).
//!
//! The error-free transformations are Knuth's two-sum and a fused-multiply-add two-product; the
//! operations follow Hida, Li and Bailey's QD library ("sloppy" add is not used: every add is the
//! accurate one).

use serde::{Deserialize, Serialize};

/// `a + b` exactly, as `(sum, error)`.
#[inline]
pub fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

/// `a + b` exactly when `|a| >= |b|`, as `(sum, error)`.
#[inline]
fn quick_two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    (s, b - (s - a))
}

/// `a * b` exactly, as `(product, error)` (needs a hardware or correctly rounded FMA).
#[inline]
pub fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// A double-double number `hi + lo`, `|lo| <= ulp(hi) / 2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Dd {
    /// The leading double.
    pub hi: f64,
    /// The trailing correction.
    pub lo: f64,
}

// Named methods (`add`, `mul`, ...) rather than operator overloads: a call site says which
// precision it asks for (`add_f64`, `add_prod`), which `+` would hide.
#[allow(clippy::should_implement_trait)]
impl Dd {
    /// Zero.
    pub const ZERO: Dd = Dd { hi: 0.0, lo: 0.0 };

    /// The double `x`.
    #[inline]
    pub fn new(x: f64) -> Dd {
        Dd { hi: x, lo: 0.0 }
    }

    /// The nearest double.
    #[inline]
    pub fn to_f64(self) -> f64 {
        self.hi + self.lo
    }

    /// `self + x`.
    #[inline]
    pub fn add_f64(self, x: f64) -> Dd {
        let (s, e) = two_sum(self.hi, x);
        let (hi, lo) = quick_two_sum(s, e + self.lo);
        Dd { hi, lo }
    }

    /// `self + other`.
    #[inline]
    pub fn add(self, other: Dd) -> Dd {
        let (s1, s2) = two_sum(self.hi, other.hi);
        let (t1, t2) = two_sum(self.lo, other.lo);
        let (s1, s2) = quick_two_sum(s1, s2 + t1);
        let (hi, lo) = quick_two_sum(s1, s2 + t2);
        Dd { hi, lo }
    }

    /// `-self`.
    #[inline]
    pub fn neg(self) -> Dd {
        Dd {
            hi: -self.hi,
            lo: -self.lo,
        }
    }

    /// `self - other`.
    #[inline]
    pub fn sub(self, other: Dd) -> Dd {
        self.add(other.neg())
    }

    /// `self * x`.
    #[inline]
    pub fn mul_f64(self, x: f64) -> Dd {
        let (p, e) = two_prod(self.hi, x);
        let (hi, lo) = quick_two_sum(p, e + self.lo * x);
        Dd { hi, lo }
    }

    /// `self * other`.
    #[inline]
    pub fn mul(self, other: Dd) -> Dd {
        let (p, e) = two_prod(self.hi, other.hi);
        let (hi, lo) = quick_two_sum(p, e + (self.hi * other.lo + self.lo * other.hi));
        Dd { hi, lo }
    }

    /// `self / other` (one Newton correction of the double quotient).
    #[inline]
    pub fn div(self, other: Dd) -> Dd {
        let q1 = self.hi / other.hi;
        let r = self.sub(other.mul_f64(q1));
        let q2 = r.hi / other.hi;
        let r = r.sub(other.mul_f64(q2));
        let q3 = r.hi / other.hi;
        let (hi, lo) = quick_two_sum(q1, q2);
        Dd { hi, lo }.add_f64(q3)
    }

    /// `self + a * b` with the product kept exactly before it is added.
    #[inline]
    pub fn add_prod(self, a: f64, b: f64) -> Dd {
        let (p, e) = two_prod(a, b);
        self.add(Dd { hi: p, lo: e })
    }
}

/// The exact dot product of two slices, rounded once to double-double.
pub fn dot(a: &[f64], b: &[f64]) -> Dd {
    a.iter()
        .zip(b)
        .fold(Dd::ZERO, |acc, (&x, &y)| acc.add_prod(x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sum_and_two_prod_are_exact() {
        let (s, e) = two_sum(1.0, 1e-20);
        assert_eq!((s, e), (1.0, 1e-20));
        let (p, e) = two_prod(1.0 + f64::EPSILON, 1.0 - f64::EPSILON);
        assert_eq!(p, 1.0);
        assert_eq!(e, -f64::EPSILON * f64::EPSILON);
    }

    #[test]
    fn sums_keep_what_doubles_lose() {
        // 1e16 + 1 - 1e16 is 0 in doubles and 1 in double-double.
        let x = Dd::new(1e16).add_f64(1.0).add_f64(-1e16);
        assert_eq!(x.to_f64(), 1.0);
        let third = Dd::new(1.0).div(Dd::new(3.0));
        let back = third.mul_f64(3.0).sub(Dd::new(1.0));
        assert!(back.to_f64().abs() < 1e-30, "{back:?}");
    }

    #[test]
    fn dot_is_exact_on_cancelling_terms() {
        let a = [1e8, 1.0, -1e8];
        let b = [1e8, 1e-8, 1e8];
        assert_eq!(dot(&a, &b).to_f64(), 1e-8);
    }
}
