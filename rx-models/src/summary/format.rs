//! R-like printing of numbers and tables for the results' `Display`.

/// A number as R prints it with 7 significant digits: whole numbers without decimals, trailing
/// zeros dropped, scientific notation for very large and very small magnitudes; `NA` for `None`.
pub(crate) fn num(x: Option<f64>) -> String {
    let Some(x) = x else {
        return "NA".to_string();
    };
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN".into()
        } else if x > 0.0 {
            "Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if x == 0.0 {
        return "0".into();
    }
    // Round to 7 significant digits first; the exponent decides the notation.
    let sci = format!("{x:.6e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-5..15).contains(&exp) {
        let decimals = (6 - exp).max(0) as usize;
        trim_zeros(&format!("{x:.decimals$}"))
    } else {
        let m = trim_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    }
}

/// A count: whole numbers without decimals.
pub(crate) fn count(x: f64) -> String {
    num(Some(x))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

/// A table with a header, left-aligned text columns and right-aligned number columns; every line
/// starts with a space, as R prints data frames without row names.
pub(crate) fn table(header: &[String], rows: &[Vec<String>], left: &[bool]) -> String {
    let ncol = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate().take(ncol) {
            let pad = widths[i].saturating_sub(c.chars().count());
            s.push(' ');
            if left.get(i).copied().unwrap_or(false) {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(header);
    for r in rows {
        line(r);
    }
    out
}

/// Serializes a count or an observation total as an integer when it is whole, else as a float.
pub(crate) fn serialize_count<S: serde::Serializer>(
    v: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// A count that serializes as an integer when it is whole.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count(pub f64);

impl serde::Serialize for Count {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        serialize_count(&self.0, s)
    }
}

/// Serializes counts with [`serialize_count`].
pub(crate) fn serialize_counts<S: serde::Serializer>(
    v: &[f64],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|&c| Count(c)))
}

/// Serializes lists of counts with [`serialize_count`].
pub(crate) fn serialize_count_lists<S: serde::Serializer>(
    v: &[Vec<f64>],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(
        v.iter()
            .map(|l| l.iter().map(|&c| Count(c)).collect::<Vec<_>>()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_r_prints_them() {
        assert_eq!(num(Some(3.0)), "3");
        assert_eq!(num(Some(-76.0)), "-76");
        assert_eq!(num(Some(12.025604123)), "12.0256");
        assert_eq!(num(Some(40.02463)), "40.02463");
        assert_eq!(num(Some(0.1)), "0.1");
        assert_eq!(num(Some(1e-7)), "1e-07");
        assert_eq!(num(Some(1.5e20)), "1.5e+20");
        assert_eq!(num(Some(10000000.2)), "10000000");
        assert_eq!(num(Some(1.0 / 3.0)), "0.3333333");
        assert_eq!(num(None), "NA");
        assert_eq!(count(600000.0), "600000");
    }

    #[test]
    fn tables_align() {
        let t = table(
            &["Name".into(), "Mean".into()],
            &[
                vec!["x".into(), "1.5".into()],
                vec!["long".into(), "10".into()],
            ],
            &[true, false],
        );
        assert_eq!(t, " Name Mean\n x     1.5\n long   10\n");
    }
}
