//! Axis breaks: R's `pretty()` (multiples of 1, 2 or 5 times a power of ten) and Sturges' rule,
//! which R's `hist()` uses for its default bins.

/// Sturges' number of classes for `n` values: `ceil(log2(n) + 1)` (at least 1).
pub fn sturges(n: u64) -> usize {
    if n <= 1 {
        return 1;
    }
    ((n as f64).log2() + 1.0).ceil() as usize
}

/// About `n + 1` equally spaced round values covering `[lo, hi]`, as R's `pretty(c(lo, hi), n)`:
/// the step is 1, 2 or 5 times a power of ten, the first break is at or below `lo` and the last at
/// or above `hi`. A zero-width range is widened around its value first.
pub fn pretty(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let n = n.max(1);
    let (mut lo, mut hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
    if hi - lo <= f64::EPSILON * lo.abs().max(hi.abs()).max(1e-300) * 8.0 {
        let d = if lo == 0.0 { 0.5 } else { lo.abs() * 0.05 };
        lo -= d;
        hi += d;
    }
    // R_pretty with h = 1.5 and h5 = .5 + 1.5 h: prefer a step of 2 or 5 times a power of ten when
    // it is close to the ideal cell width.
    let (h, h5) = (1.5, 0.5 + 1.5 * 1.5);
    let cell = (hi - lo) / n as f64;
    let base = 10f64.powf(cell.log10().floor());
    let mut unit = base;
    if 2.0 * base - cell < h * (cell - unit) {
        unit = 2.0 * base;
        if 5.0 * base - cell < h5 * (cell - unit) {
            unit = 5.0 * base;
            if 10.0 * base - cell < h * (cell - unit) {
                unit = 10.0 * base;
            }
        }
    }
    const EPS: f64 = 1e-10;
    let mut ns = (lo / unit + EPS).floor();
    let mut nu = (hi / unit - EPS).ceil();
    while ns * unit > lo + EPS * unit {
        ns -= 1.0;
    }
    while nu * unit < hi - EPS * unit {
        nu += 1.0;
    }
    let k = (nu - ns).round().max(1.0) as usize;
    (0..=k)
        .map(|i| {
            let v = (ns + i as f64) * unit;
            // Multiples of a power of ten below 1 are not exact in binary; round to the step's
            // decimal precision so that labels and edges read as typed (0.3, not 0.30000000000000004).
            let digits = (-unit.log10().floor()).max(0.0) as i32 + 1;
            if digits > 0 && digits < 16 {
                let s = 10f64.powi(digits);
                (v * s).round() / s
            } else {
                v
            }
        })
        .collect()
}

/// `n` equal-width bins from `lo` to `hi` exactly (`n + 1` edges).
pub fn equal_breaks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let n = n.max(1);
    let w = (hi - lo) / n as f64;
    (0..=n)
        .map(|i| if i == n { hi } else { lo + w * i as f64 })
        .collect()
}

/// A tick label: integers without a fraction, other values with up to 6 significant decimals,
/// very large or small magnitudes in scientific notation.
pub fn fmt_tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-4..1e9).contains(&a) {
        return format!("{v:e}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_matches_r() {
        // R: pretty(c(0, 1), 5); pretty(c(1.3, 97.2), 10); pretty(c(-3.7, 12.1), 7)
        assert_eq!(pretty(0.0, 1.0, 5), vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(
            pretty(1.3, 97.2, 10),
            vec![
                0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0
            ]
        );
        assert_eq!(
            pretty(-3.7, 12.1, 7),
            vec![-4.0, -2.0, 0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]
        );
        assert_eq!(sturges(10_000_000), 25);
        assert_eq!(sturges(100), 8);
        let b = pretty(5.0, 5.0, 4);
        assert!(b[0] <= 5.0 && *b.last().unwrap() >= 5.0 && b.len() >= 2);
        assert_eq!(fmt_tick(0.30000000000000004), "0.3");
        assert_eq!(fmt_tick(2000.0), "2000");
    }
}
