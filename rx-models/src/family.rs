//! Families and link functions of generalized linear models, as R defines them (`make.link`,
//! `binomial()`, `poisson()`, `Gamma()`, `inverse.gaussian()`, `gaussian()` and statmod's
//! `tweedie()`), shared by fitting (`rx_glm`, `rx_logit`) and prediction (response scale, and
//! the delta method for standard errors).
//!
//! Every function here works on one row at a time (R's vectorised family functions applied
//! element by element), so a chunked fit computes exactly what R computes on the whole vector.

use serde::{Deserialize, Serialize};

use crate::dist;

/// A link function `η = g(μ)`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// `η = μ`.
    #[default]
    Identity,
    /// `η = log μ`.
    Log,
    /// `η = log(μ / (1 − μ))`.
    Logit,
    /// `η = Φ⁻¹(μ)`.
    Probit,
    /// `η = log(−log(1 − μ))`.
    Cloglog,
    /// `η = 1 / μ`.
    Inverse,
    /// `η = 1 / μ²`.
    InverseSquare,
    /// `η = √μ`.
    Sqrt,
    /// `η = μ^λ` (`λ = 0` is the log link), as statmod's tweedie `link.power`.
    Power(f64),
}

impl Link {
    /// R's name of the link (`"logit"`, `"1/mu^2"`, `"mu^0.5"`...).
    pub fn name(self) -> String {
        match self {
            Link::Identity => "identity".into(),
            Link::Log => "log".into(),
            Link::Logit => "logit".into(),
            Link::Probit => "probit".into(),
            Link::Cloglog => "cloglog".into(),
            Link::Inverse => "inverse".into(),
            Link::InverseSquare => "1/mu^2".into(),
            Link::Sqrt => "sqrt".into(),
            Link::Power(l) => format!("mu^{l}"),
        }
    }

    /// Parses R's names (`identity`, `log`, `logit`, `probit`, `cloglog`, `inverse`, `1/mu^2`,
    /// `sqrt`, `mu^λ`).
    pub fn from_name(name: &str) -> Option<Link> {
        Some(match name.trim() {
            "identity" => Link::Identity,
            "log" => Link::Log,
            "logit" => Link::Logit,
            "probit" => Link::Probit,
            "cloglog" => Link::Cloglog,
            "inverse" => Link::Inverse,
            "1/mu^2" | "inverse_square" => Link::InverseSquare,
            "sqrt" => Link::Sqrt,
            other => {
                let p: f64 = other.strip_prefix("mu^")?.parse().ok()?;
                Link::Power(p)
            }
        })
    }

    /// `g(μ)`.
    pub fn link(self, mu: f64) -> f64 {
        match self {
            Link::Identity => mu,
            Link::Log => mu.ln(),
            Link::Logit => (mu / (1.0 - mu)).ln(),
            Link::Probit => dist::qnorm(mu),
            Link::Cloglog => (-(-mu).ln_1p()).ln(),
            Link::Inverse => 1.0 / mu,
            Link::InverseSquare => 1.0 / (mu * mu),
            Link::Sqrt => mu.sqrt(),
            Link::Power(0.0) => mu.ln(),
            Link::Power(l) => mu.powf(l),
        }
    }

    /// `g⁻¹(η)`, with R's guards (logit and probit stay inside (0, 1), log above 0).
    pub fn inverse(self, eta: f64) -> f64 {
        const EPS: f64 = f64::EPSILON;
        match self {
            Link::Identity => eta,
            Link::Log => eta.exp().max(EPS),
            Link::Logit => {
                // R's logit_linkinv: clamps η to ±30.
                let thresh = 30.0;
                let e = if eta < -thresh {
                    EPS
                } else if eta > thresh {
                    1.0 / EPS
                } else {
                    eta.exp()
                };
                e / (1.0 + e)
            }
            Link::Probit => {
                let thresh = -dist::qnorm(EPS);
                dist::pnorm(eta.clamp(-thresh, thresh))
            }
            Link::Cloglog => (-(-eta.exp()).exp_m1()).clamp(EPS, 1.0 - EPS),
            Link::Inverse => 1.0 / eta,
            Link::InverseSquare => 1.0 / eta.sqrt(),
            Link::Sqrt => eta * eta,
            Link::Power(0.0) => eta.exp().max(EPS),
            Link::Power(l) => eta.max(0.0).powf(1.0 / l),
        }
    }

    /// R's `valideta` of the link at one `η` (false where `η` is outside the link's domain).
    pub fn valideta(self, eta: f64) -> bool {
        match self {
            Link::Inverse => eta.is_finite() && eta != 0.0,
            Link::InverseSquare | Link::Sqrt => eta.is_finite() && eta > 0.0,
            Link::Power(l) if l != 0.0 => eta.is_finite() && eta > 0.0,
            _ => true,
        }
    }

    /// `(g⁻¹(η), dμ/dη)`: the values of [`Link::inverse`] and [`Link::mu_eta`], with one
    /// exponential for the logit link.
    pub fn inverse_and_mu_eta(self, eta: f64) -> (f64, f64) {
        match self {
            Link::Logit if eta.abs() <= 30.0 => {
                let e = eta.exp();
                let opexp = 1.0 + e;
                (e / opexp, e / (opexp * opexp))
            }
            _ => (self.inverse(eta), self.mu_eta(eta)),
        }
    }

    /// `dμ/dη` at `η`.
    pub fn mu_eta(self, eta: f64) -> f64 {
        const EPS: f64 = f64::EPSILON;
        match self {
            Link::Identity => 1.0,
            Link::Log => eta.exp().max(EPS),
            Link::Logit => {
                let opexp = 1.0 + eta.exp();
                if eta.abs() > 30.0 {
                    EPS
                } else {
                    eta.exp() / (opexp * opexp)
                }
            }
            Link::Probit => {
                let d = (-0.5 * eta * eta).exp() / (2.0 * std::f64::consts::PI).sqrt();
                d.max(EPS)
            }
            Link::Cloglog => {
                let e = eta.min(700.0);
                (e.exp() * (-e.exp()).exp()).max(EPS)
            }
            Link::Inverse => -1.0 / (eta * eta),
            Link::InverseSquare => -1.0 / (2.0 * eta.powf(1.5)),
            Link::Sqrt => 2.0 * eta,
            Link::Power(0.0) => eta.exp().max(EPS),
            Link::Power(l) => (1.0 / l) * eta.max(0.0).powf(1.0 / l - 1.0),
        }
    }
}

/// The error distribution of a generalized linear model (R's `family` objects).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Normal errors, `V(μ) = 1`; dispersion estimated.
    #[default]
    Gaussian,
    /// Binomial proportions (0/1 responses, or a factor: its first level is 0, any other 1),
    /// `V(μ) = μ(1 − μ)`; dispersion 1.
    Binomial,
    /// Counts, `V(μ) = μ`; dispersion 1.
    Poisson,
    /// Positive continuous responses with a constant coefficient of variation, `V(μ) = μ²`;
    /// dispersion estimated.
    Gamma,
    /// Positive continuous responses, `V(μ) = μ³`; dispersion estimated.
    InverseGaussian,
    /// statmod's Tweedie family: `V(μ) = μ^var_power`, with the power link `μ^link_power`
    /// (`link_power = 0` is the log link); dispersion estimated, AIC not defined.
    Tweedie {
        /// The variance power `p` (0 normal, 1 Poisson, between 1 and 2 compound Poisson-gamma,
        /// 2 gamma, 3 inverse Gaussian).
        var_power: f64,
        /// The link power `λ` of the default link (`1 − var_power` is the canonical one).
        link_power: f64,
    },
}

/// Per-row sums from which [`Family::aic`] computes the AIC once the deviance is known (R's
/// `family$aic(y, n, mu, wt, dev)` needs the deviance for the families with a dispersion, so
/// the sums must not depend on it). All sums count each row by its frequency weight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct AicSums {
    /// Rows with a positive prior weight.
    pub n: f64,
    /// `Σ wt`.
    pub sum_w: f64,
    /// `Σ log wt` (rows with a positive weight).
    pub sum_log_w: f64,
    /// `Σ wt log y`.
    pub sum_w_log_y: f64,
    /// `Σ wt log μ`.
    pub sum_w_log_mu: f64,
    /// `Σ wt y / μ`.
    pub sum_w_y_over_mu: f64,
    /// `−2 Σ log-likelihood` terms that do not need the deviance (binomial, Poisson).
    pub minus_2_loglik: f64,
}

impl AicSums {
    /// Adds another partial's sums.
    pub fn merge(&mut self, o: &AicSums) {
        self.n += o.n;
        self.sum_w += o.sum_w;
        self.sum_log_w += o.sum_log_w;
        self.sum_w_log_y += o.sum_w_log_y;
        self.sum_w_log_mu += o.sum_w_log_mu;
        self.sum_w_y_over_mu += o.sum_w_y_over_mu;
        self.minus_2_loglik += o.minus_2_loglik;
    }
}

/// `log C(n, k)` for whole numbers `0 <= k <= n`.
fn lchoose(n: f64, k: f64) -> f64 {
    if k == 0.0 || k == n {
        return 0.0;
    }
    dist::lgamma(n + 1.0) - dist::lgamma(k + 1.0) - dist::lgamma(n - k + 1.0)
}

/// R's `dbinom(x, n, p, log = TRUE)` for whole `x`, `n`.
fn log_dbinom(x: f64, n: f64, p: f64) -> f64 {
    if x < 0.0 || x > n {
        return f64::NEG_INFINITY;
    }
    // choose(n, 0) = choose(n, n) = 1 (exactly what lchoose gives, without its three lgammas).
    let mut v = if x == 0.0 || x == n {
        0.0
    } else {
        lchoose(n, x)
    };
    if x > 0.0 {
        v += x * p.ln();
    }
    if n - x > 0.0 {
        v += (n - x) * (-p).ln_1p();
    }
    v
}

/// R's `dpois(x, λ, log = TRUE)`: `−∞` for a negative or fractional `x`, as R (with a warning).
fn log_dpois(x: f64, lambda: f64) -> f64 {
    if x < 0.0 || x.fract() != 0.0 || !x.is_finite() {
        return f64::NEG_INFINITY;
    }
    if x == 0.0 {
        return -lambda;
    }
    x * lambda.ln() - lambda - dist::lgamma(x + 1.0)
}

/// `y log(y / μ)`, 0 at `y = 0` (R's `y_log_y` in `binomial_dev_resids`).
fn y_log_y(y: f64, mu: f64) -> f64 {
    if y != 0.0 { y * (y / mu).ln() } else { 0.0 }
}

impl Family {
    /// R's `family$family` (`"gaussian"`, `"binomial"`, `"poisson"`, `"Gamma"`,
    /// `"inverse.gaussian"`, `"Tweedie"`).
    pub fn name(&self) -> &'static str {
        match self {
            Family::Gaussian => "gaussian",
            Family::Binomial => "binomial",
            Family::Poisson => "poisson",
            Family::Gamma => "Gamma",
            Family::InverseGaussian => "inverse.gaussian",
            Family::Tweedie { .. } => "Tweedie",
        }
    }

    /// Parses a family name: `gaussian`, `binomial`, `poisson`, `Gamma` (or `gamma`),
    /// `inverse.gaussian` (or `inverse_gaussian`), `tweedie` (with statmod's defaults,
    /// `var_power = 0`, `link_power = 1 − var_power`; see [`Family::tweedie`]).
    pub fn from_name(name: &str) -> Option<Family> {
        Some(match name.trim() {
            "gaussian" | "normal" => Family::Gaussian,
            "binomial" => Family::Binomial,
            "poisson" => Family::Poisson,
            "Gamma" | "gamma" => Family::Gamma,
            "inverse.gaussian" | "inverse_gaussian" => Family::InverseGaussian,
            "tweedie" | "Tweedie" => Family::tweedie(0.0, None),
            _ => return None,
        })
    }

    /// Parses a family as the `rx glm` options give it: a name, and for `tweedie` the variance
    /// and link powers. Powers given with another family are an error.
    pub fn parse(
        name: &str,
        var_power: Option<f64>,
        link_power: Option<f64>,
    ) -> rx_core::Result<Family> {
        let family = Family::from_name(name).ok_or_else(|| {
            rx_core::Error::invalid(format!(
                "unknown family '{name}'; use gaussian, binomial, poisson, Gamma, inverse.gaussian or tweedie"
            ))
        })?;
        match family {
            Family::Tweedie { .. } => {
                let p = var_power.unwrap_or(0.0);
                if !p.is_finite() || (p > 0.0 && p < 1.0) {
                    return Err(rx_core::Error::invalid(format!(
                        "tweedie: var_power {p} is not allowed; use 0, or 1 and above (1 < p < 2 for compound Poisson-gamma data)"
                    )));
                }
                if link_power.is_some_and(|l| !l.is_finite()) {
                    return Err(rx_core::Error::invalid(
                        "tweedie: link_power must be a finite number (0 is the log link)",
                    ));
                }
                Ok(Family::tweedie(p, link_power))
            }
            _ if var_power.is_some() || link_power.is_some() => {
                Err(rx_core::Error::invalid(format!(
                    "var_power and link_power belong to the tweedie family, not {}; for another link use the link option",
                    family.name()
                )))
            }
            f => Ok(f),
        }
    }

    /// statmod's `tweedie(var.power, link.power = 1 − var.power)`.
    pub fn tweedie(var_power: f64, link_power: Option<f64>) -> Family {
        Family::Tweedie {
            var_power,
            link_power: link_power.unwrap_or(1.0 - var_power),
        }
    }

    /// The canonical link (`θ = η`): identity, logit, log, inverse, `1/mu^2`, and `μ^(1 − p)`
    /// for Tweedie.
    pub fn canonical_link(&self) -> Link {
        match *self {
            Family::Gaussian => Link::Identity,
            Family::Binomial => Link::Logit,
            Family::Poisson => Link::Log,
            Family::Gamma => Link::Inverse,
            Family::InverseGaussian => Link::InverseSquare,
            Family::Tweedie { var_power, .. } => Link::Power(1.0 - var_power),
        }
    }

    /// The link used when none is given: R's defaults (the canonical links) and, for Tweedie,
    /// `μ^link_power`.
    pub fn default_link(&self) -> Link {
        match *self {
            Family::Tweedie { link_power, .. } => Link::Power(link_power),
            _ => self.canonical_link(),
        }
    }

    /// Whether the dispersion is estimated (Pearson χ² / residual df) rather than fixed at 1
    /// (binomial, Poisson); it decides between z and t statistics.
    pub fn estimates_dispersion(&self) -> bool {
        !matches!(self, Family::Binomial | Family::Poisson)
    }

    /// The variance function `V(μ)`.
    pub fn variance(&self, mu: f64) -> f64 {
        match *self {
            Family::Gaussian => 1.0,
            Family::Binomial => mu * (1.0 - mu),
            Family::Poisson => mu,
            Family::Gamma => mu * mu,
            Family::InverseGaussian => mu * mu * mu,
            Family::Tweedie { var_power, .. } => mu.powf(var_power),
        }
    }

    /// R's `validmu` at one `μ`.
    pub fn validmu(&self, mu: f64) -> bool {
        match *self {
            Family::Gaussian | Family::InverseGaussian => true,
            Family::Binomial => mu.is_finite() && mu > 0.0 && mu < 1.0,
            Family::Poisson | Family::Gamma => mu.is_finite() && mu > 0.0,
            Family::Tweedie { var_power, .. } => {
                if var_power == 0.0 {
                    true
                } else if var_power > 0.0 {
                    mu >= 0.0
                } else {
                    mu > 0.0
                }
            }
        }
    }

    /// One row's deviance residual `d(y, μ)` with prior weight `wt` (R's `dev.resids`).
    pub fn dev_resid(&self, y: f64, mu: f64, wt: f64) -> f64 {
        match *self {
            Family::Gaussian => wt * (y - mu) * (y - mu),
            Family::Binomial => 2.0 * wt * (y_log_y(y, mu) + y_log_y(1.0 - y, 1.0 - mu)),
            Family::Poisson => {
                if y > 0.0 {
                    2.0 * wt * (y * (y / mu).ln() - (y - mu))
                } else {
                    2.0 * mu * wt
                }
            }
            Family::Gamma => {
                let ratio = if y == 0.0 { 1.0 } else { y / mu };
                -2.0 * wt * (ratio.ln() - (y - mu) / mu)
            }
            Family::InverseGaussian => wt * (y - mu) * (y - mu) / (y * mu * mu),
            Family::Tweedie { var_power: p, .. } => {
                let y1 = if y == 0.0 { y + 0.1 } else { y };
                let theta = if p == 1.0 {
                    (y1 / mu).ln()
                } else {
                    (y1.powf(1.0 - p) - mu.powf(1.0 - p)) / (1.0 - p)
                };
                let kappa = if p == 2.0 {
                    (y1 / mu).ln()
                } else {
                    (y.powf(2.0 - p) - mu.powf(2.0 - p)) / (2.0 - p)
                };
                2.0 * wt * (y * theta - kappa)
            }
        }
    }

    /// Checks one response value as R's `family$initialize` does; the message says what is
    /// wrong (the caller adds where).
    pub fn check_response(&self, y: f64, wt: f64, link: Link) -> Result<(), String> {
        let bad = match *self {
            Family::Gaussian => {
                (link == Link::Inverse && y == 0.0) || (link == Link::Log && y <= 0.0)
            }
            Family::Binomial => wt > 0.0 && !(0.0..=1.0).contains(&y),
            Family::Poisson => y < 0.0,
            Family::Gamma | Family::InverseGaussian => y <= 0.0,
            Family::Tweedie { var_power, .. } => var_power != 0.0 && y < 0.0,
        };
        if !bad {
            return Ok(());
        }
        Err(match *self {
            Family::Gaussian => format!(
                "the response {y} gives no valid starting value for the gaussian family with the {} link; use another link",
                link.name()
            ),
            Family::Binomial => format!(
                "the response {y} is outside 0..1; the binomial family needs 0/1 (or proportions between 0 and 1), or a factor"
            ),
            Family::Poisson => format!(
                "the response {y} is negative; the Poisson family needs counts of 0 or more"
            ),
            Family::Gamma => {
                format!("the response {y} is not positive; the Gamma family needs values above 0")
            }
            Family::InverseGaussian => {
                format!(
                    "the response {y} is not positive; the inverse.gaussian family needs values above 0"
                )
            }
            Family::Tweedie { .. } => format!(
                "the response {y} is negative; the tweedie family needs values of 0 or more"
            ),
        })
    }

    /// R's starting value `mustart` for one row (`family$initialize`), given the prior weight.
    pub fn mustart(&self, y: f64, wt: f64) -> f64 {
        match *self {
            Family::Gaussian | Family::Gamma | Family::InverseGaussian => y,
            Family::Binomial => {
                let y = if wt == 0.0 { 0.0 } else { y };
                (wt * y + 0.5) / (wt + 1.0)
            }
            Family::Poisson => y + 0.1,
            Family::Tweedie { .. } => {
                if y == 0.0 {
                    0.1
                } else {
                    y
                }
            }
        }
    }

    /// Adds one row (response `y`, fitted mean `mu`, prior weight `wt`, frequency weight `f`)
    /// to the sums of [`Family::aic`].
    pub fn aic_add(&self, sums: &mut AicSums, y: f64, mu: f64, wt: f64, f: f64) {
        if wt <= 0.0 {
            return;
        }
        sums.n += f;
        sums.sum_w += f * wt;
        match *self {
            Family::Gaussian => sums.sum_log_w += f * wt.ln(),
            Family::Binomial => {
                // m = wt, as R's binomial()$aic for a 0/1 (or proportion) response.
                let x = (wt * y).round_ties_even();
                let n = wt.round_ties_even();
                sums.minus_2_loglik += -2.0 * f * log_dbinom(x, n, mu);
            }
            Family::Poisson => sums.minus_2_loglik += -2.0 * f * wt * log_dpois(y, mu),
            Family::Gamma => {
                sums.sum_w_log_y += f * wt * y.ln();
                sums.sum_w_log_mu += f * wt * mu.ln();
                sums.sum_w_y_over_mu += f * wt * y / mu;
            }
            Family::InverseGaussian => sums.sum_w_log_y += f * wt * y.ln(),
            Family::Tweedie { .. } => {}
        }
    }

    /// R's `family$aic(y, n, mu, wt, dev)` (without the `2·rank` that `glm` adds), from the
    /// sums of [`Family::aic_add`] and the deviance; `None` for Tweedie (R: `NA`) and where it
    /// is not finite.
    ///
    /// One difference from R: rows with a zero prior weight are left out of the Gaussian
    /// AIC's `nobs` and `Σ log wt` (R's formula gives `+∞` with a zero weight).
    pub fn aic(&self, sums: &AicSums, dev: f64) -> Option<f64> {
        let two_pi = 2.0 * std::f64::consts::PI;
        let v = match *self {
            Family::Gaussian => {
                let n = sums.n;
                n * ((dev / n * two_pi).ln() + 1.0) + 2.0 - sums.sum_log_w
            }
            Family::Binomial | Family::Poisson => sums.minus_2_loglik,
            Family::Gamma => {
                // −2 Σ wt · log dgamma(y; shape 1/disp, scale μ·disp) + 2, disp = dev / Σ wt.
                let w = sums.sum_w;
                let disp = dev / w;
                let shape = 1.0 / disp;
                let loglik = -w * dist::lgamma(shape) - shape * (sums.sum_w_log_mu + w * disp.ln())
                    + (shape - 1.0) * sums.sum_w_log_y
                    - shape * sums.sum_w_y_over_mu;
                -2.0 * loglik + 2.0
            }
            Family::InverseGaussian => {
                let w = sums.sum_w;
                w * ((dev / w * two_pi).ln() + 1.0) + 3.0 * sums.sum_w_log_y + 2.0
            }
            Family::Tweedie { .. } => return None,
        };
        v.is_finite().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_undoes_link_and_mu_eta_is_the_derivative() {
        let links = [
            Link::Identity,
            Link::Log,
            Link::Logit,
            Link::Probit,
            Link::Cloglog,
            Link::Inverse,
            Link::InverseSquare,
            Link::Sqrt,
            Link::Power(0.0),
            Link::Power(0.5),
        ];
        for link in links {
            for mu in [0.2, 0.5, 0.7] {
                let eta = link.link(mu);
                assert!((link.inverse(eta) - mu).abs() < 1e-12, "{link:?} at {mu}");
                let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
                for e in [eta, eta + 31.0, eta - 31.0] {
                    let (mu, me) = link.inverse_and_mu_eta(e);
                    assert!(
                        same(mu, link.inverse(e)) && same(me, link.mu_eta(e)),
                        "{link:?} at {e}"
                    );
                }
                let h = 1e-6;
                let num = (link.inverse(eta + h) - link.inverse(eta - h)) / (2.0 * h);
                assert!(
                    (link.mu_eta(eta) - num).abs() < 1e-6 * num.abs().max(1.0),
                    "{link:?} d at {mu}"
                );
            }
            assert_eq!(Link::from_name(&link.name()), Some(link));
        }
    }

    #[test]
    fn families_parse_by_r_name_and_tweedie_takes_its_powers() {
        for f in [
            Family::Gaussian,
            Family::Binomial,
            Family::Poisson,
            Family::Gamma,
            Family::InverseGaussian,
        ] {
            assert_eq!(Family::from_name(f.name()), Some(f));
            assert_eq!(f.default_link(), f.canonical_link());
        }
        assert_eq!(Family::from_name("gamma"), Some(Family::Gamma));
        let t = Family::parse("tweedie", Some(1.5), Some(0.0)).unwrap();
        assert_eq!(
            t,
            Family::Tweedie {
                var_power: 1.5,
                link_power: 0.0
            }
        );
        assert_eq!(t.default_link().name(), "mu^0");
        assert_eq!(t.canonical_link(), Link::Power(-0.5));
        assert_eq!(
            Family::parse("tweedie", Some(1.5), None)
                .unwrap()
                .default_link(),
            Link::Power(-0.5)
        );
        assert!(Family::parse("poisson", Some(1.5), None).is_err());
        assert!(Family::parse("tweedie", Some(0.5), None).is_err());
        assert!(
            Family::parse("quasi", None, None)
                .unwrap_err()
                .to_string()
                .contains("unknown family")
        );
    }

    #[test]
    fn deviance_residuals_are_zero_at_the_response_and_positive_elsewhere() {
        let families = [
            Family::Gaussian,
            Family::Binomial,
            Family::Poisson,
            Family::Gamma,
            Family::InverseGaussian,
            Family::tweedie(1.5, Some(0.0)),
        ];
        for f in families {
            for y in [0.25, 0.75] {
                assert!(f.dev_resid(y, y, 2.0).abs() < 1e-15, "{f:?} at {y}");
                assert!(f.dev_resid(y, 0.5 * y + 0.1, 2.0) > 0.0, "{f:?} at {y}");
            }
        }
        // R: binomial()$dev.resids(c(0, 1), 0.25, 1) = -2 log(0.75), -2 log(0.25).
        assert!((Family::Binomial.dev_resid(0.0, 0.25, 1.0) + 2.0 * 0.75f64.ln()).abs() < 1e-15);
        assert!((Family::Binomial.dev_resid(1.0, 0.25, 1.0) + 2.0 * 0.25f64.ln()).abs() < 1e-15);
        assert_eq!(Family::Poisson.dev_resid(0.0, 1.5, 2.0), 6.0);
    }

    #[test]
    fn aic_of_single_rows_matches_r() {
        // R: -2 * dpois(3, 2.5, log = TRUE) = 3.471856..., -2 * dbinom(1, 1, 0.3, log = TRUE).
        let mut s = AicSums::default();
        Family::Poisson.aic_add(&mut s, 3.0, 2.5, 1.0, 1.0);
        let want = -2.0 * (3.0 * 2.5f64.ln() - 2.5 - 6.0f64.ln());
        assert!((Family::Poisson.aic(&s, 0.0).unwrap() - want).abs() < 1e-13);
        let mut s = AicSums::default();
        Family::Binomial.aic_add(&mut s, 1.0, 0.3, 1.0, 2.0);
        assert!((Family::Binomial.aic(&s, 0.0).unwrap() + 4.0 * 0.3f64.ln()).abs() < 1e-13);
        assert_eq!(Family::tweedie(1.5, None).aic(&s, 1.0), None);
        // A fractional count has no Poisson likelihood: R gives Inf (with a warning), we None.
        let mut s = AicSums::default();
        Family::Poisson.aic_add(&mut s, 1.5, 2.0, 1.0, 1.0);
        assert_eq!(Family::Poisson.aic(&s, 0.0), None);
    }

    #[test]
    fn starting_values_and_response_checks_follow_r() {
        assert_eq!(Family::Binomial.mustart(1.0, 1.0), 0.75);
        assert_eq!(Family::Binomial.mustart(1.0, 0.0), 0.5);
        assert_eq!(Family::Poisson.mustart(0.0, 1.0), 0.1);
        assert_eq!(Family::tweedie(1.5, None).mustart(0.0, 1.0), 0.1);
        assert!(
            Family::Binomial
                .check_response(2.0, 1.0, Link::Logit)
                .is_err()
        );
        assert!(
            Family::Binomial
                .check_response(2.0, 0.0, Link::Logit)
                .is_ok()
        );
        assert!(
            Family::Gamma
                .check_response(0.0, 1.0, Link::Inverse)
                .is_err()
        );
        assert!(
            Family::Gaussian
                .check_response(0.0, 1.0, Link::Log)
                .is_err()
        );
        assert!(
            Family::Gaussian
                .check_response(0.0, 1.0, Link::Identity)
                .is_ok()
        );
        assert!(Link::InverseSquare.valideta(0.5) && !Link::InverseSquare.valideta(-0.5));
        assert!(!Link::Inverse.valideta(0.0) && Link::Logit.valideta(-1e300));
    }
}
