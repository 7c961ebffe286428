//! The per-row work of a logistic-regression IRLS pass, vectorized: the binomial family with the
//! logit link, unit prior weights and a 0/1 response (the case of `rx_logit`), a block of rows at
//! a time. It computes what the general code in [`crate::glm`] computes row by row through R's
//! formulas (`logit_linkinv`, `logit_mu_eta`, `binomial_dev_resids`, the working weights and
//! response), in the same operation order, with its own exponential and logarithm: branch-free
//! polynomial forms that the compiler turns into SIMD code, accurate to about one unit in the last
//! place (so fits agree with the general code's to rounding, far inside the tolerance of R's
//! agreement).

use pulp::Simd;

/// Sums and counts of a block.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct LogitSums {
    /// `Σ f·dev.resids` (also `−2 Σ f·log dbinom(y; 1, μ)`, the AIC's likelihood term).
    pub dev: f64,
    /// `Σ f`.
    pub n: f64,
    /// Rows with a fitted probability numerically 0 or 1.
    pub extreme: u64,
    /// Rows in the least-squares problem.
    pub informative: u64,
    /// Rows with a non-finite working weight or response.
    pub bad: u64,
}

/// One block's inputs and outputs.
pub(crate) struct LogitRows<'a> {
    /// `η` per row (offset included).
    pub eta: &'a [f64],
    /// The 0/1 response.
    pub y: &'a [f64],
    /// Frequency weights (`None`: 1).
    pub f: Option<&'a [f64]>,
    /// The offset per row.
    pub offset: &'a [f64],
    /// Whether the target is the working residual (a Newton step) rather than the working
    /// response.
    pub step_form: bool,
    /// Out: `√(f·W)` per row (0 outside the least-squares problem).
    pub sw: &'a mut [f64],
    /// Out: `√(f·W)·t` per row.
    pub swt: &'a mut [f64],
}

impl LogitRows<'_> {
    /// Whether the block qualifies: every `η` finite and every `y` 0 or 1.
    pub fn applies(eta: &[f64], y: &[f64]) -> bool {
        eta.iter().fold(true, |ok, e| ok & e.is_finite())
            && y.iter().fold(true, |ok, &v| ok & ((v == 0.0) | (v == 1.0)))
    }

    /// Runs the block with the CPU's widest SIMD.
    pub fn run(self) -> LogitSums {
        pulp::Arch::new().dispatch(self)
    }
}

impl pulp::WithSimd for LogitRows<'_> {
    type Output = LogitSums;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> LogitSums {
        rows(self)
    }
}

const EPS: f64 = f64::EPSILON;

#[inline(always)]
fn rows(b: LogitRows<'_>) -> LogitSums {
    let n = b.eta.len();
    let eps10 = 10.0 * EPS;
    let ones;
    let f = match b.f {
        Some(f) => f,
        None => {
            ones = vec![1.0; n];
            &ones[..]
        }
    };
    let (eta, y, offset) = (&b.eta[..n], &b.y[..n], &b.offset[..n]);
    let (sw, swt) = (&mut b.sw[..n], &mut b.swt[..n]);
    // The rows' deviance terms (times f), summed after the loop: a floating-point sum inside it
    // would keep the loop from vectorizing.
    let mut dev = vec![0.0; n];
    let (mut extreme, mut informative, mut bad) = (0u64, 0u64, 0u64);
    for i in 0..n {
        let e = eta[i];
        let yi = y[i];
        let fi = f[i];
        // R's logit_linkinv (η clamped to ±30) and logit_mu_eta (ε outside ±30).
        let inside = e.abs() <= 30.0;
        let ex = exp(e.clamp(-30.0, 30.0));
        let opexp = 1.0 + ex;
        let mu_out = if e < 0.0 {
            EPS / (1.0 + EPS)
        } else {
            (1.0 / EPS) / (1.0 + 1.0 / EPS)
        };
        let mu = if inside { ex / opexp } else { mu_out };
        let me = if inside { ex / (opexp * opexp) } else { EPS };
        // binomial_dev_resids with a 0/1 response: 2·log(1/μ) or 2·log(1/(1 − μ)).
        let arg = if yi == 1.0 {
            1.0 / mu
        } else {
            1.0 / (1.0 - mu)
        };
        dev[i] = fi * (2.0 * ln(arg));
        extreme += ((mu > 1.0 - eps10) | (mu < eps10)) as u64;
        let ww = 1.0 * me * me / (mu * (1.0 - mu));
        let res = (yi - mu) / me;
        let t = if b.step_form {
            res
        } else {
            e - offset[i] + res
        };
        let s = (fi * ww).sqrt();
        let ok = s.is_finite() & t.is_finite();
        bad += (!ok) as u64;
        let use_row = ok & (s > 0.0);
        informative += use_row as u64;
        sw[i] = if use_row { s } else { 0.0 };
        swt[i] = if use_row { s * t } else { 0.0 };
    }
    LogitSums {
        dev: sum4(&dev),
        n: sum4(f),
        extreme,
        informative,
        bad,
    }
}

/// A sum in four interleaved partial sums (vectorizes; the order is fixed, so the result does
/// not depend on the machine).
#[inline(always)]
fn sum4(v: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            acc[k] += c[k];
        }
    }
    let mut total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for x in rest {
        total += x;
    }
    total
}

/// `ln 2` in two parts (fdlibm's): the high part has trailing zero bits, so `k · LN2_HI` is
/// exact for the exponents here.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// `1.5 · 2⁵²`: adding it rounds a double of magnitude below 2⁵¹ to an integer, which then sits
/// in the low bits of the sum's representation.
const MAGIC: f64 = 6755399441055744.0;

/// `eˣ` for `|x| ≤ 708`, branch-free: `x = k ln 2 + r` (Cody–Waite), `eʳ` by its Taylor series
/// to degree 13 (`|r| ≤ ln 2 / 2`: truncation below 1e-17 relative), times `2ᵏ`.
#[inline(always)]
pub(crate) fn exp(x: f64) -> f64 {
    let t = x.mul_add(std::f64::consts::LOG2_E, MAGIC);
    let k = t - MAGIC;
    let r = (-k).mul_add(LN2_LO, (-k).mul_add(LN2_HI, x));
    let ki = t.to_bits().wrapping_sub(MAGIC.to_bits());
    // Horner on 1/13!, ..., 1/2!, 1, 1.
    let mut p: f64 = 1.0 / 6_227_020_800.0;
    p = p.mul_add(r, 1.0 / 479_001_600.0);
    p = p.mul_add(r, 1.0 / 39_916_800.0);
    p = p.mul_add(r, 1.0 / 3_628_800.0);
    p = p.mul_add(r, 1.0 / 362_880.0);
    p = p.mul_add(r, 1.0 / 40_320.0);
    p = p.mul_add(r, 1.0 / 5_040.0);
    p = p.mul_add(r, 1.0 / 720.0);
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    let scale = f64::from_bits(ki.wrapping_add(1023) << 52);
    p * scale
}

/// `ln x` for a finite `x > 0` of normal magnitude, branch-free: `x = 2ᵉ m` with
/// `m ∈ [√½, √2)`, `ln m = 2 atanh(f)`, `f = (m − 1)/(m + 1)`, by its series to `f²³`
/// (`|f| ≤ 0.172`: truncation below 1e-18 relative).
#[inline(always)]
pub(crate) fn ln(x: f64) -> f64 {
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    let bits = x.to_bits();
    let e0 = (bits >> 52) as i64 - 1023;
    let m0 = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m0 >= SQRT2;
    let m = if big { m0 * 0.5 } else { m0 };
    let e = e0 + big as i64;
    let ef = f64::from_bits(MAGIC.to_bits().wrapping_add(e as u64)) - MAGIC;
    let f = (m - 1.0) / (m + 1.0);
    let s = f * f;
    let mut p: f64 = 1.0 / 23.0;
    p = p.mul_add(s, 1.0 / 21.0);
    p = p.mul_add(s, 1.0 / 19.0);
    p = p.mul_add(s, 1.0 / 17.0);
    p = p.mul_add(s, 1.0 / 15.0);
    p = p.mul_add(s, 1.0 / 13.0);
    p = p.mul_add(s, 1.0 / 11.0);
    p = p.mul_add(s, 1.0 / 9.0);
    p = p.mul_add(s, 1.0 / 7.0);
    p = p.mul_add(s, 1.0 / 5.0);
    p = p.mul_add(s, 1.0 / 3.0);
    // ln m = 2f + 2f·s·p; then + e ln 2 in two parts.
    let two_f = 2.0 * f;
    let lnm = (two_f * s).mul_add(p, two_f);
    ef.mul_add(LN2_HI, ef.mul_add(LN2_LO, lnm))
}

/// `acc[i] += v[i]·b`, with the CPU's widest SIMD (the same bits as the plain loop: one
/// multiply and one add per element, not fused).
pub(crate) fn add_scaled(acc: &mut [f64], v: &[f64], b: f64) {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            for (a, &x) in acc.iter_mut().zip(v) {
                *a += x * b;
            }
        },
    )
}

/// `out[i] = v[i]·w[i]`, and whether every `v[i]` is finite, with the CPU's widest SIMD.
pub(crate) fn scale_checked(out: &mut [f64], v: &[f64], w: &[f64]) -> bool {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            let mut ok = true;
            for ((d, &x), &s) in out.iter_mut().zip(v).zip(w) {
                *d = x * s;
                ok &= x.is_finite();
            }
            ok
        },
    )
}

/// Whether every value is finite, with the CPU's widest SIMD.
pub(crate) fn all_finite(v: &[f64]) -> bool {
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || v.iter().fold(true, |ok, x| ok & x.is_finite()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> f64 {
        ((a - b) / (b.abs() * f64::EPSILON)).abs()
    }

    #[test]
    fn exp_and_ln_are_within_two_ulps_of_the_standard_library() {
        let mut worst = (0.0f64, 0.0f64);
        let mut x = -30.0;
        while x <= 30.0 {
            worst.0 = worst.0.max(ulps(exp(x), x.exp()));
            x += 0.000_731;
        }
        for k in 0..200_000 {
            let v = 1.0 + k as f64 * 0.000_37;
            if v.ln() > 1e-3 {
                worst.1 = worst.1.max(ulps(ln(v), v.ln()));
            }
            let big = 1.0 + (k as f64).powf(2.5) * 1e-3;
            if (big.ln()).abs() > 1e-3 {
                worst.1 = worst.1.max(ulps(ln(big), big.ln()));
            }
        }
        assert!(worst.0 <= 2.0, "exp: {} ulps", worst.0);
        assert!(worst.1 <= 2.0, "ln: {} ulps", worst.1);
        assert_eq!(ln(1.0), 0.0);
        assert!((ln(1.0 / f64::EPSILON) - (1.0 / f64::EPSILON).ln()).abs() < 1e-14);
        let near_one = 1.0 + 1e-12;
        assert!((ln(near_one) - near_one.ln()).abs() < 1e-27);
    }

    #[test]
    fn rows_agree_with_r_formulas() {
        let eta = [-40.0, -30.0, -3.5, -0.2, 0.0, 0.7, 12.0, 30.0, 31.0];
        let y = [0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let off = [0.0, 0.0, 0.1, 0.0, 0.0, -0.3, 0.0, 0.0, 0.0];
        let n = eta.len();
        let (mut sw, mut swt) = (vec![0.0; n], vec![0.0; n]);
        assert!(LogitRows::applies(&eta, &y));
        let sums = LogitRows {
            eta: &eta,
            y: &y,
            f: None,
            offset: &off,
            step_form: false,
            sw: &mut sw,
            swt: &mut swt,
        }
        .run();
        let link = crate::family::Link::Logit;
        let fam = crate::family::Family::Binomial;
        let mut dev = 0.0;
        let mut extreme = 0;
        for i in 0..n {
            let (mu, me) = link.inverse_and_mu_eta(eta[i]);
            dev += fam.dev_resid(y[i], mu, 1.0);
            if !(10.0 * f64::EPSILON..=1.0 - 10.0 * f64::EPSILON).contains(&mu) {
                extreme += 1;
            }
            let ww = me * me / fam.variance(mu);
            let z = eta[i] - off[i] + (y[i] - mu) / me;
            let s = ww.sqrt();
            assert!(ulps(sw[i], s) <= 4.0, "sw at {}: {} vs {s}", eta[i], sw[i]);
            assert!(
                (swt[i] - s * z).abs() <= 1e-13 * (s * z).abs().max(1e-300),
                "swt at {}",
                eta[i]
            );
        }
        assert!((sums.dev - dev).abs() <= 1e-14 * dev);
        assert_eq!(sums.n, n as f64);
        assert_eq!(sums.informative, n as u64);
        assert_eq!(sums.extreme, extreme);
        assert_eq!(extreme, 2);
        assert!(!LogitRows::applies(&[f64::NAN], &[1.0]));
        assert!(!LogitRows::applies(&[0.0], &[0.5]));
    }
}
