//! Link functions of generalized linear models (R's `make.link`), shared by fitting (`rx_glm`,
//! `rx_logit`) and prediction (response scale, and the delta method for standard errors).

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
            Link::Power(l) if l == 0.0 => mu.ln(),
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
            Link::Power(l) if l == 0.0 => eta.exp().max(EPS),
            Link::Power(l) => eta.max(0.0).powf(1.0 / l),
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
                if eta.abs() > 30.0 { EPS } else { eta.exp() / (opexp * opexp) }
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
            Link::Power(l) if l == 0.0 => eta.exp().max(EPS),
            Link::Power(l) => (1.0 / l) * eta.max(0.0).powf(1.0 / l - 1.0),
        }
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
                let h = 1e-6;
                let num = (link.inverse(eta + h) - link.inverse(eta - h)) / (2.0 * h);
                assert!((link.mu_eta(eta) - num).abs() < 1e-6 * num.abs().max(1.0), "{link:?} d at {mu}");
            }
            assert_eq!(Link::from_name(&link.name()), Some(link));
        }
    }
}
