//! `rx_models::dist` against reference values computed with mpmath at 60 digits
//! (`tests/data/dist/make_dist_ref.py`, which writes `dist_ref.json`).

use rx_models::dist;
use std::collections::BTreeMap;

#[derive(serde::Deserialize)]
struct Case {
    f: String,
    /// Each double as the shortest string that round-trips, parsed exactly by `str::parse`.
    args: Vec<String>,
    want: String,
    tol: f64,
    floor: f64,
}

#[derive(serde::Deserialize)]
struct RefFile {
    cases: Vec<Case>,
}

fn num(s: &str) -> f64 {
    match s.parse() {
        Ok(v) => v,
        Err(e) => panic!("bad number {s:?} in dist_ref.json: {e}"),
    }
}

fn eval(f: &str, a: &[f64]) -> f64 {
    match (f, a) {
        ("lgamma", [x]) => dist::lgamma(*x),
        ("ln_beta", [a, b]) => dist::ln_beta(*a, *b),
        ("gamma_p", [a, x]) => dist::gamma_p(*a, *x),
        ("gamma_q", [a, x]) => dist::gamma_q(*a, *x),
        ("beta_i", [a, b, x]) => dist::beta_i(*a, *b, *x),
        ("beta_i_upper", [a, b, x]) => dist::beta_i_upper(*a, *b, *x),
        ("pnorm", [x]) => dist::pnorm(*x),
        ("pnorm_upper", [x]) => dist::pnorm_upper(*x),
        ("z_two_sided_p", [z]) => dist::z_two_sided_p(*z),
        ("qnorm", [p]) => dist::qnorm(*p),
        ("pt", [t, df]) => dist::pt(*t, *df),
        ("pt_upper", [t, df]) => dist::pt_upper(*t, *df),
        ("t_two_sided_p", [t, df]) => dist::t_two_sided_p(*t, *df),
        ("qt", [p, df]) => dist::qt(*p, *df),
        ("pf_upper", [f, d1, d2]) => dist::pf_upper(*f, *d1, *d2),
        ("pf", [f, d1, d2]) => dist::pf(*f, *d1, *d2),
        ("pchisq", [x, df]) => dist::pchisq(*x, *df),
        ("pchisq_upper", [x, df]) => dist::pchisq_upper(*x, *df),
        _ => panic!("unknown reference function {f} with {} arguments", a.len()),
    }
}

/// `|got - want| / max(|want|, floor)`; exact agreement (including infinities) is 0.
fn error(got: f64, want: f64, floor: f64) -> f64 {
    if got == want {
        return 0.0;
    }
    if !got.is_finite() || !want.is_finite() {
        return f64::INFINITY;
    }
    (got - want).abs() / want.abs().max(floor)
}

#[test]
fn distribution_functions_match_mpmath_references() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dist/dist_ref.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let file: RefFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert!(file.cases.len() > 1000, "too few reference cases");

    // Per function: the worst error, the case it was found at, and the number of cases.
    let mut worst: BTreeMap<&str, (f64, String, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &file.cases {
        let args: Vec<f64> = case.args.iter().map(|s| num(s)).collect();
        let want = num(&case.want);
        let got = eval(&case.f, &args);
        let err = error(got, want, case.floor);
        let desc = format!("{}({:?}) = {got:e}, want {want:e}", case.f, args);
        let entry = worst
            .entry(case.f.as_str())
            .or_insert((0.0, String::new(), 0));
        entry.2 += 1;
        if entry.1.is_empty() || err > entry.0 {
            entry.0 = err;
            entry.1 = desc.clone();
        }
        if err.is_nan() || err > case.tol {
            failures.push(format!("{desc}: error {err:.3e} > {:e}", case.tol));
        }
    }
    for (f, (err, desc, n)) in &worst {
        println!("{f:>14}: {n:>5} cases, worst error {err:.3e} at {desc}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases out of tolerance:\n{}",
        failures.len(),
        file.cases.len(),
        failures.join("\n")
    );
}
