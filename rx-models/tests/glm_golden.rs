//! `rx_glm` and `rx_logit` against R's `glm` on the golden cases (tests/data/golden/glm.json,
//! made by make_golden.R with R 4.2.2 and statmod 1.5.0): every case and contrast coding —
//! coefficients, standard errors, z/t statistics, p values, aliased and dropped coefficients,
//! deviance, null deviance (with the offset), degrees of freedom, AIC, dispersion, iteration
//! count, convergence, warnings and the coefficient covariance.
//!
//! `rx_glm` runs R's `glm.fit` iteration from R's starting values with R's convergence rule,
//! so it takes the same iterations and agrees with R to rounding: the relative tolerance is
//! 1e-8 (the worst error reached is printed with `--nocapture`: about 1e-12 on the converged
//! cases, most of it in p values near 1e-88). The perfectly separated case, whose 25th iterate
//! R reports with standard errors of 5e4, is held to 1e-6 (it reaches a few 1e-9).

use rx_core::RxLocalSeq;
use rx_models::family::{Family, Link};
use rx_models::glm::{GlmOptions, LogitOptions, RxGlm, rx_glm, rx_logit};
use serde_json::Value;

use crate::golden::{data, read_json};

fn family_of(case: &Value) -> Family {
    match case["family"].as_str().unwrap() {
        "Tweedie" => {
            let extra = &case["family_extra"];
            Family::tweedie(
                extra["var_power"].as_f64().unwrap(),
                extra["link_power"].as_f64(),
            )
        }
        name => Family::from_name(name).unwrap_or_else(|| panic!("family {name}")),
    }
}

fn options(case: &Value, drop_first: bool) -> GlmOptions {
    let link = Link::from_name(case["link"].as_str().unwrap()).unwrap();
    let mut o = GlmOptions::new(family_of(case))
        .link(link)
        .drop_first(drop_first)
        .cov_coef(true);
    if let Some(w) = case["weights"].as_object() {
        let col = w["column"].as_str().unwrap();
        o = match w["type"].as_str().unwrap() {
            "pweights" => o.pweights(col),
            _ => o.fweights(col),
        };
    }
    o
}

/// The largest relative error seen, with what it was.
#[derive(Default)]
struct Worst {
    rel: f64,
    what: String,
}

impl Worst {
    #[track_caller]
    fn check(&mut self, what: &str, got: f64, want: f64, tol: f64) {
        let rel = if got == want {
            0.0
        } else {
            (got - want).abs() / want.abs().max(1e-300)
        };
        assert!(
            rel <= tol,
            "{what}: got {got:e}, R gives {want:e} (relative error {rel:e})"
        );
        if rel > self.rel {
            self.rel = rel;
            self.what = what.to_string();
        }
    }
}

/// Compares one fit with one variant of a case; returns the worst relative error.
fn compare(what: &str, case: &Value, v: &Value, fit: &RxGlm, coef_tol: f64, tol: f64) -> Worst {
    let mut worst = Worst::default();
    for c in v["coefficients"].as_array().unwrap() {
        let rx_name = c["rx_name"].as_str().unwrap();
        let ours = fit
            .coefficients
            .iter()
            .find(|o| o.term == rx_name)
            .unwrap_or_else(|| {
                panic!(
                    "{what}: no coefficient {rx_name}; have {:?}",
                    fit.coefficients.iter().map(|c| &c.term).collect::<Vec<_>>()
                )
            });
        if c["aliased"].as_bool().unwrap() {
            assert!(ours.aliased, "{what}: {rx_name} should be aliased");
            continue;
        }
        assert!(!ours.aliased, "{what}: {rx_name} reported aliased");
        let w = |k: &str| c[k].as_f64().unwrap();
        worst.check(
            &format!("{what} {rx_name} estimate"),
            ours.estimate.unwrap(),
            w("estimate"),
            coef_tol,
        );
        worst.check(
            &format!("{what} {rx_name} std error"),
            ours.std_error.unwrap(),
            w("std_error"),
            coef_tol,
        );
        worst.check(
            &format!("{what} {rx_name} statistic"),
            ours.t_value.unwrap(),
            w("statistic"),
            coef_tol,
        );
        worst.check(
            &format!("{what} {rx_name} p"),
            ours.p_value.unwrap(),
            w("p_value"),
            coef_tol,
        );
    }
    for d in v["dropped"].as_array().unwrap() {
        let rx_name = d["rx_name"].as_str().unwrap();
        let ours = fit.coefficients.iter().find(|o| o.term == rx_name);
        assert!(
            ours.is_some_and(|o| o.aliased),
            "{what}: dropped level {rx_name} not listed as aliased"
        );
    }
    let full: Vec<&str> = v["rx_full"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["rx_name"].as_str().unwrap())
        .collect();
    let ours: Vec<&str> = fit.coefficients.iter().map(|c| c.term.as_str()).collect();
    assert_eq!(ours, full, "{what}: coefficient order");
    worst.check(
        &format!("{what} deviance"),
        fit.deviance,
        v["deviance"].as_f64().unwrap(),
        tol,
    );
    worst.check(
        &format!("{what} null deviance"),
        fit.null_deviance,
        v["null_deviance"].as_f64().unwrap(),
        tol,
    );
    assert_eq!(
        fit.df_residual,
        v["df_residual"].as_f64().unwrap(),
        "{what}: df residual"
    );
    assert_eq!(
        fit.df_null,
        v["df_null"].as_f64().unwrap(),
        "{what}: df null"
    );
    match v["aic"].as_f64() {
        Some(aic) => worst.check(&format!("{what} AIC"), fit.aic.unwrap(), aic, tol),
        None => assert_eq!(fit.aic, None, "{what}: R's AIC is NA"),
    }
    worst.check(
        &format!("{what} dispersion"),
        fit.dispersion,
        v["dispersion"].as_f64().unwrap(),
        coef_tol,
    );
    assert_eq!(
        fit.converged,
        v["converged"].as_bool().unwrap(),
        "{what}: converged"
    );
    assert_eq!(
        fit.boundary,
        v["boundary"].as_bool().unwrap(),
        "{what}: boundary"
    );
    assert_eq!(
        fit.n_missing,
        case["n_missing"].as_u64().unwrap(),
        "{what}: n_missing"
    );
    let rank = fit.coefficients.iter().filter(|c| !c.aliased).count();
    assert_eq!(rank as u64, v["rank"].as_u64().unwrap(), "{what}: rank");
    for w in v["warnings"].as_array().unwrap() {
        let w = w.as_str().unwrap();
        let w = w.strip_prefix("glm.fit: ").unwrap_or(w);
        assert!(
            fit.warnings.iter().any(|o| o == w),
            "{what}: warning {w:?} missing from {:?}",
            fit.warnings
        );
    }
    // vcov(fit): dispersion × (R'R)⁻¹ over the estimated coefficients.
    let r_rx: Vec<(String, bool)> = v["coefficients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["rx_name"].as_str().unwrap().to_string(),
                c["aliased"].as_bool().unwrap(),
            )
        })
        .collect();
    let est: Vec<&str> = fit
        .coefficients
        .iter()
        .filter(|c| !c.aliased)
        .map(|c| c.term.as_str())
        .collect();
    let cov = fit.cov_coef.as_ref().unwrap();
    let m = v["vcov"]["matrix"].as_array().unwrap();
    for (i, (ni, ai)) in r_rx.iter().enumerate() {
        for (j, (nj, aj)) in r_rx.iter().enumerate() {
            if *ai || *aj {
                continue;
            }
            let a = est.iter().position(|e| e == ni).unwrap();
            let b = est.iter().position(|e| e == nj).unwrap();
            let want = m[i][j].as_f64().unwrap();
            let scale = (m[i][i].as_f64().unwrap() * m[j][j].as_f64().unwrap()).sqrt();
            let rel = (cov[a][b] - want).abs() / scale;
            assert!(
                rel <= coef_tol,
                "{what}: vcov[{ni}, {nj}] {} vs {want}",
                cov[a][b]
            );
            if rel > worst.rel {
                worst.rel = rel;
                worst.what = format!("{what} vcov[{ni}, {nj}]");
            }
        }
    }
    worst
}

#[test]
fn glm_matches_r_on_every_case_and_coding() {
    let glm = read_json("glm.json");
    let mut checked = 0;
    let mut variants = 0;
    for case in glm["cases"].as_array().unwrap() {
        variants += case["variants"].as_array().unwrap().len();
        let name = case["name"].as_str().unwrap();
        let formula = case["formula"].as_str().unwrap();
        let source = data(case["data"].as_str().unwrap());
        let separated = case["expect"].as_str() == Some("separation");
        for v in case["variants"].as_array().unwrap() {
            let drop_first = v["drop_first"].as_bool().unwrap_or(false);
            let what = format!("{name} (drop_first = {drop_first})");
            let fit = rx_glm(formula, &source, &options(case, drop_first), &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                fit.iterations,
                v["iter"].as_u64().unwrap() as u32,
                "{what}: iterations"
            );
            assert_eq!(fit.family.name(), case["family"].as_str().unwrap());
            assert_eq!(fit.link.name(), case["link"].as_str().unwrap());
            // The separated case is R's 25th iterate on the way to infinite coefficients, with
            // standard errors of 5e4 from a nearly singular weighted problem: its last digits
            // depend on rounding in the QR, so it is held to 1e-6 (it reaches about 4e-9).
            let tol = if separated { 1e-6 } else { 1e-8 };
            let worst = compare(&what, case, v, &fit, tol, tol);
            eprintln!(
                "{what}: {} iterations as R, worst relative error {:.1e} ({})",
                fit.iterations, worst.rel, worst.what
            );
            if separated {
                assert!(!fit.converged);
                assert!(
                    fit.warnings
                        .iter()
                        .any(|w| w.contains("fitted probabilities numerically 0 or 1 occurred"))
                );
                assert!(
                    fit.coefficients
                        .iter()
                        .all(|c| c.estimate.is_some_and(f64::is_finite))
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, variants);
    assert!(checked >= 27, "only {checked} variants checked");
}

/// `rx_logit` (revoscalepy's convergence rule) reaches R's fit on the logit cases; it stops by
/// its own rule, so it is compared at the accuracy that rule promises.
#[test]
fn logit_matches_r_on_the_logit_cases() {
    let glm = read_json("glm.json");
    let mut checked = 0;
    for case in glm["cases"].as_array().unwrap() {
        if case["family"] != "binomial"
            || case["link"] != "logit"
            || case["expect"].as_str() == Some("separation")
        {
            continue;
        }
        let name = case["name"].as_str().unwrap();
        let source = data(case["data"].as_str().unwrap());
        for v in case["variants"].as_array().unwrap() {
            let drop_first = v["drop_first"].as_bool().unwrap_or(false);
            let mut o = LogitOptions::default()
                .drop_first(drop_first)
                .cov_coef(true);
            if let Some(w) = case["weights"].as_object() {
                let col = w["column"].as_str().unwrap();
                o = match w["type"].as_str().unwrap() {
                    "pweights" => o.pweights(col),
                    _ => o.fweights(col),
                };
            }
            let what = format!("rx_logit {name} (drop_first = {drop_first})");
            let fit = rx_logit(case["formula"].as_str().unwrap(), &source, &o, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(fit.converged, "{what}");
            let worst = compare(&what, case, v, &fit, 1e-6, 1e-8);
            eprintln!(
                "{what}: {} iterations (R: {}), worst relative error {:.1e} ({})",
                fit.iterations, v["iter"], worst.rel, worst.what
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} logit variants checked");
}

/// Perfect separation: rx_logit finishes with a warning and finite numbers, never NaN or a
/// panic, and says it did not converge.
#[test]
fn logit_separation_is_a_warning_not_a_failure() {
    let source = data("iris.csv");
    let fit = rx_logit(
        "is_setosa ~ Petal.Length",
        &source,
        &LogitOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    assert!(!fit.converged);
    assert_eq!(fit.iterations, 25);
    assert!(
        fit.warnings
            .iter()
            .any(|w| w == "fitted probabilities numerically 0 or 1 occurred"),
        "{:?}",
        fit.warnings
    );
    assert!(
        fit.warnings
            .iter()
            .any(|w| w == "algorithm did not converge")
    );
    for c in &fit.coefficients {
        assert!(
            c.estimate.is_some_and(f64::is_finite) && c.std_error.is_some_and(f64::is_finite),
            "{c:?}"
        );
    }
    assert!(fit.deviance.is_finite() && fit.deviance < 1e-6);
    let shown = fit.to_string();
    assert!(
        shown.contains("Warning: fitted probabilities numerically 0 or 1 occurred"),
        "{shown}"
    );
}

/// The `offset` option is the same as an `offset()` term, and prediction data keeps it.
#[test]
fn offset_option_equals_offset_term() {
    let source = data("insurance.csv");
    // The offset option names a column: log(Holders) as a column is not in the data, so compare
    // offset(Holders) written both ways.
    let term = rx_glm(
        "Claims ~ District + Group + Age + offset(Holders)",
        &source,
        &GlmOptions::new(Family::Gaussian),
        &RxLocalSeq,
    )
    .unwrap();
    let option = rx_glm(
        "Claims ~ District + Group + Age",
        &source,
        &GlmOptions::new(Family::Gaussian).offset("Holders"),
        &RxLocalSeq,
    )
    .unwrap();
    for (a, b) in term.coefficients.iter().zip(&option.coefficients) {
        assert_eq!(a.term, b.term);
        let (x, y) = (a.estimate.unwrap_or(0.0), b.estimate.unwrap_or(0.0));
        assert!(
            (x - y).abs() <= 1e-12 * x.abs().max(1.0),
            "{}: {x} vs {y}",
            a.term
        );
    }
    assert!((term.null_deviance - option.null_deviance).abs() <= 1e-10 * term.null_deviance);
    assert_eq!(option.model.design.offsets.len(), 1);
    assert!(
        option
            .model
            .design
            .columns(&[])
            .contains(&"Holders".to_string())
    );
}

#[test]
fn bad_input_is_an_error_that_says_what_to_do() {
    let mtcars = data("mtcars.csv");
    let e = rx_glm(
        "mpg ~ wt",
        &mtcars,
        &GlmOptions::new(Family::Binomial),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("outside 0..1"), "{e}");
    let e = rx_glm(
        "I(mpg - 20) ~ wt",
        &mtcars,
        &GlmOptions::new(Family::Poisson),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("negative"), "{e}");
    let e = rx_glm(
        "am_f ~ wt",
        &mtcars,
        &GlmOptions::new(Family::Poisson),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("factor"), "{e}");
    let e = rx_glm(
        "mpg ~ wt",
        &mtcars,
        &GlmOptions::new(Family::Gamma).offset("nope"),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("nope"), "{e}");
    let e = rx_glm(
        "mpg ~ wt + offset(am_f)",
        &mtcars,
        &GlmOptions::new(Family::Gamma),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("numeric"), "{e}");
    let e = rx_glm(
        "mpg ~ wt",
        &mtcars,
        &GlmOptions::new(Family::Gamma).max_iterations(0),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("max_iterations"), "{e}");
    // A factor response is binomial's 0/1: the first level is 0.
    let fit = rx_logit(
        "am_f ~ wt + hp",
        &mtcars,
        &LogitOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    let numeric = rx_logit(
        "am ~ wt + hp",
        &mtcars,
        &LogitOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(
        fit.coefficients[1].estimate,
        numeric.coefficients[1].estimate
    );
}

#[test]
fn display_reads_like_r_summary() {
    let fit = rx_glm(
        "count ~ spray",
        &data("insectsprays.csv"),
        &GlmOptions::new(Family::Poisson).drop_first(true),
        &RxLocalSeq,
    )
    .unwrap();
    let shown = fit.to_string();
    for needle in [
        "Family: poisson, link: log",
        "z value",
        "Pr(>|z|)",
        "(Dispersion parameter for poisson family taken to be 1)",
        "Null deviance: 409.041  on 71  degrees of freedom",
        "Residual deviance: 98.3287  on 66  degrees of freedom",
        "AIC: 376.589",
        "Number of Fisher Scoring iterations: 5",
    ] {
        assert!(shown.contains(needle), "{needle:?} not in\n{shown}");
    }
    let gamma = rx_glm(
        "mpg ~ wt + hp",
        &data("mtcars.csv"),
        &GlmOptions::new(Family::Gamma),
        &RxLocalSeq,
    )
    .unwrap();
    assert!(gamma.to_string().contains("t value"));
    assert!(
        gamma
            .to_string()
            .contains("(Dispersion parameter for Gamma family taken to be 0.0116121)")
    );
}

/// The paths of `glm.fit` the main cases do not reach, against R (tests/data/glm_extra,
/// made by make_glm_extra.R): step halving after a divergent step, non-convergence, the
/// null-deviance refit for an intercept plus an offset with non-canonical links, no intercept
/// with an offset, non-integer binomial successes, and prior weights in the gaussian and
/// inverse Gaussian AIC.
#[test]
fn glm_matches_r_on_halving_offset_and_weight_paths() {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/glm_extra");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("glm_extra.json")).unwrap())
            .unwrap();
    let mut info = rx_core::ColumnInfoMap::new();
    for c in ["x8", "g8", "x20", "g20", "e", "cnt", "b", "pw"] {
        info.insert(
            c.to_string(),
            rx_core::ColumnInfo::default().with_type(rx_core::ColType::Float64),
        );
    }
    let source = rx_data::TextData::new(dir.join("glm_extra.csv")).column_info(info);
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let family = Family::from_name(case["family"].as_str().unwrap()).unwrap();
        let link = Link::from_name(case["link"].as_str().unwrap()).unwrap();
        let mut o = GlmOptions::new(family).link(link);
        if let Some(w) = case["pweights"].as_str() {
            o = o.pweights(w);
        }
        let fit = rx_glm(case["formula"].as_str().unwrap(), &source, &o, &RxLocalSeq)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut worst = Worst::default();
        assert_eq!(
            fit.iterations as u64,
            case["iter"].as_u64().unwrap(),
            "{name}: iterations"
        );
        assert_eq!(
            fit.converged,
            case["converged"].as_bool().unwrap(),
            "{name}: converged"
        );
        assert_eq!(
            fit.boundary,
            case["boundary"].as_bool().unwrap(),
            "{name}: boundary"
        );
        for c in case["coefficients"].as_array().unwrap() {
            let term = c["name"].as_str().unwrap();
            let ours = fit
                .coefficients
                .iter()
                .find(|o| o.term == term)
                .unwrap_or_else(|| panic!("{name}: no {term}"));
            for (what, got, key) in [
                ("estimate", ours.estimate, "estimate"),
                ("std error", ours.std_error, "std_error"),
                ("statistic", ours.t_value, "statistic"),
                ("p", ours.p_value, "p_value"),
            ] {
                worst.check(
                    &format!("{name} {term} {what}"),
                    got.unwrap(),
                    c[key].as_f64().unwrap(),
                    1e-8,
                );
            }
        }
        worst.check(
            &format!("{name} deviance"),
            fit.deviance,
            case["deviance"].as_f64().unwrap(),
            1e-8,
        );
        worst.check(
            &format!("{name} null deviance"),
            fit.null_deviance,
            case["null_deviance"].as_f64().unwrap(),
            1e-8,
        );
        worst.check(
            &format!("{name} AIC"),
            fit.aic.unwrap(),
            case["aic"].as_f64().unwrap(),
            1e-8,
        );
        worst.check(
            &format!("{name} dispersion"),
            fit.dispersion,
            case["dispersion"].as_f64().unwrap(),
            1e-8,
        );
        assert_eq!(
            fit.df_residual,
            case["df_residual"].as_f64().unwrap(),
            "{name}: df residual"
        );
        assert_eq!(
            fit.df_null,
            case["df_null"].as_f64().unwrap(),
            "{name}: df null"
        );
        for w in case["warnings"].as_array().unwrap() {
            let w = w.as_str().unwrap();
            if w == "NaNs produced" {
                continue; // R's warning from log() of a negative mean, not glm's own.
            }
            let w = w.strip_prefix("glm.fit: ").unwrap_or(w);
            assert!(
                fit.warnings.iter().any(|o| o == w),
                "{name}: warning {w:?} missing from {:?}",
                fit.warnings
            );
        }
        eprintln!(
            "{name}: {} iterations as R, worst relative error {:.1e} ({})",
            fit.iterations, worst.rel, worst.what
        );
        checked += 1;
    }
    assert_eq!(checked, 11);
}

/// rx_lin_mod does not fit offsets: it says so and points to rx_glm, whose gaussian family
/// with the identity link is least squares with the offset (R: lm(y ~ x + offset(o))).
#[test]
fn linmod_refuses_offsets_and_the_gaussian_glm_fits_them() {
    let mtcars = data("mtcars.csv");
    let e = rx_models::linmod::rx_lin_mod(
        "mpg ~ wt + offset(hp)",
        &mtcars,
        &rx_models::linmod::LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("rx_glm"), "{e}");
    // y − offset regressed on the terms is the same fit.
    let glm = rx_glm(
        "mpg ~ wt + offset(hp)",
        &mtcars,
        &GlmOptions::new(Family::Gaussian),
        &RxLocalSeq,
    )
    .unwrap();
    let lm = rx_models::linmod::rx_lin_mod(
        "I(mpg - hp) ~ wt",
        &mtcars,
        &rx_models::linmod::LinModOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    for (a, b) in glm.coefficients.iter().zip(&lm.coefficients) {
        let (x, y) = (a.estimate.unwrap(), b.estimate.unwrap());
        assert!((x - y).abs() <= 1e-10 * y.abs(), "{}: {x} vs {y}", a.term);
        let (x, y) = (a.std_error.unwrap(), b.std_error.unwrap());
        assert!((x - y).abs() <= 1e-10 * y.abs(), "{}: {x} vs {y}", a.term);
    }
    assert!((glm.deviance - lm.rss).abs() <= 1e-10 * lm.rss);
    assert_eq!(glm.iterations, 2);
}
