//! `rx logit <data> --formula F` and `rx glm <data> --formula F --family F [--link L]`:
//! generalized linear models, printed as R's `summary.glm()` or as JSON.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{Error, Result};
use revoscale::models::family::{Family, Link};
use revoscale::models::glm::{GlmOptions, LogitOptions, RxGlm, rx_glm, rx_logit};
use serde_json::Value;

/// The options `rx logit` and `rx glm` share.
#[derive(Debug, Args)]
pub struct ModelArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// The model formula, e.g. "y ~ x + F + offset(log(n))".
    #[arg(long, short = 'f')]
    pub formula: String,
    /// Probability weights column (R's prior weights).
    #[arg(long)]
    pub pweights: Option<String>,
    /// Frequency weights column (each row counts this many times).
    #[arg(long)]
    pub fweights: Option<String>,
    /// A numeric column added to the linear predictor with coefficient 1.
    #[arg(long, value_name = "COLUMN")]
    pub offset: Option<String>,
    /// Drop the first level of each factor (R's coding) instead of the last (revoscalepy's).
    #[arg(long)]
    pub drop_first: bool,
    /// At most this many IRLS iterations.
    #[arg(long, value_name = "N", default_value_t = 25)]
    pub max_iterations: u32,
    /// Also report the coefficient covariance matrix.
    #[arg(long)]
    pub cov_coef: bool,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Start from R's `mustart` even on a large source (by default a source of 1,000,000 rows or
    /// more starts from the fit of its first 262,144 rows, which saves passes).
    #[arg(long)]
    pub no_warm_start: bool,
    /// Print one JSON object instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Save the fitted model for `rx predict` (JSON; `.rxm` for the compact binary form).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogitArgs {
    #[command(flatten)]
    pub model: ModelArgs,
}

#[derive(Debug, Args)]
pub struct GlmArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The family: gaussian, binomial, poisson, Gamma, inverse.gaussian or tweedie.
    #[arg(long)]
    pub family: String,
    /// The link (default: the family's): identity, log, logit, probit, cloglog, inverse,
    /// 1/mu^2, sqrt or mu^p.
    #[arg(long)]
    pub link: Option<String>,
    /// Tweedie: the variance power p (V(μ) = μ^p).
    #[arg(long, value_name = "P")]
    pub var_power: Option<f64>,
    /// Tweedie: the link power (0 is the log link; default 1 − var_power).
    #[arg(long, value_name = "P", allow_hyphen_values = true)]
    pub link_power: Option<f64>,
}

/// The JSON a user sees: the keys of `rx linmod --json` with `z_value` in place of `t_value`,
/// the family and link by R's names, and no prediction internals.
pub fn summary_json(fit: &RxGlm) -> Result<Value> {
    let mut v = serde_json::to_value(fit).map_err(|e| Error::external("writing JSON", e))?;
    if let Value::Object(m) = &mut v {
        m.remove("model");
        m.insert("family".into(), Value::String(fit.family.name().into()));
        m.insert("link".into(), Value::String(fit.link.name()));
        if let Family::Tweedie { var_power, .. } = fit.family {
            m.insert("var_power".into(), Value::from(var_power));
        }
        if let Some(Value::Array(coefs)) = m.get_mut("coefficients") {
            for c in coefs {
                if let Value::Object(c) = c
                    && let Some(t) = c.remove("t_value")
                {
                    c.insert("z_value".into(), t);
                }
            }
        }
        if m.get("cov_coef").is_some_and(Value::is_null) {
            m.remove("cov_coef");
        } else {
            let names: Vec<Value> = fit
                .coefficients
                .iter()
                .filter(|c| !c.aliased)
                .map(|c| Value::String(c.term.clone()))
                .collect();
            m.insert("cov_coef_terms".into(), Value::Array(names));
        }
    }
    Ok(v)
}

fn finish(fit: RxGlm, args: &ModelArgs) -> Result<()> {
    if args.json {
        let v = summary_json(&fit)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::external("writing JSON", e))?
        );
    } else {
        println!("{fit}");
    }
    if let Some(path) = &args.save {
        revoscale::predict::rx_save_model(&revoscale::predict::Model::Glm(fit), path)?;
    }
    Ok(())
}

pub fn run_logit(args: LogitArgs) -> Result<()> {
    let a = &args.model;
    let data = crate::db::open_data(&a.data, &a.db)?;
    let mut options = LogitOptions::default()
        .drop_first(a.drop_first)
        .cov_coef(a.cov_coef)
        .max_iterations(a.max_iterations)
        .warm_start(!a.no_warm_start);
    options.pweights = a.pweights.clone();
    options.fweights = a.fweights.clone();
    options.offset = a.offset.clone();
    if let Some(n) = a.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = a.context.get()?;
    #[cfg(feature = "odbc")]
    let fit = match crate::context::in_database(&context, &a.db)? {
        Some((indb, db)) => indb.logit(&a.formula, &db, &options)?,
        None => rx_logit(&a.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let fit = rx_logit(&a.formula, data.as_ref(), &options, &context)?;
    finish(fit, a)
}

pub fn run_glm(args: GlmArgs) -> Result<()> {
    let family = Family::parse(&args.family, args.var_power, args.link_power)?;
    let link = match &args.link {
        None => None,
        Some(name) => Some(Link::from_name(name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown link '{name}'; use identity, log, logit, probit, cloglog, inverse, 1/mu^2, sqrt or mu^p (e.g. mu^0.5)"
            ))
        })?),
    };
    let a = &args.model;
    let data = crate::db::open_data(&a.data, &a.db)?;
    let mut options = GlmOptions::new(family)
        .drop_first(a.drop_first)
        .cov_coef(a.cov_coef)
        .max_iterations(a.max_iterations);
    options.link = link;
    options.pweights = a.pweights.clone();
    options.fweights = a.fweights.clone();
    options.offset = a.offset.clone();
    if let Some(n) = a.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = a.context.get()?;
    #[cfg(feature = "odbc")]
    let fit = match crate::context::in_database(&context, &a.db)? {
        Some((indb, db)) => indb.glm(&a.formula, &db, &options)?,
        None => rx_glm(&a.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let fit = rx_glm(&a.formula, data.as_ref(), &options, &context)?;
    finish(fit, a)
}
