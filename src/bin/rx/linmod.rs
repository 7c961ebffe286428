//! `rx linmod <data> --formula F`: a linear model, printed as R's `summary()` or as JSON.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{Error, Result};
use revoscale::models::linmod::{LinModOptions, RxLinMod, rx_lin_mod};
use serde_json::Value;

#[derive(Debug, Args)]
pub struct LinModArgs {
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// The model formula, e.g. "y ~ x + F + x:F".
    #[arg(long, short = 'f')]
    pub formula: String,
    /// Probability weights column.
    #[arg(long)]
    pub pweights: Option<String>,
    /// Frequency weights column.
    #[arg(long)]
    pub fweights: Option<String>,
    /// Drop the first level of each factor (R's coding) instead of the last (revoscalepy's).
    #[arg(long)]
    pub drop_first: bool,
    /// Fit the leading factor term by a partitioned inverse: one coefficient per level.
    #[arg(long)]
    pub cube: bool,
    /// Also report the coefficient covariance matrix.
    #[arg(long)]
    pub cov_coef: bool,
    /// Rows per chunk.
    #[arg(long, value_name = "N")]
    pub rows_per_read: Option<usize>,
    /// Print one JSON object instead of the summary table.
    #[arg(long)]
    pub json: bool,
    /// Save the fitted model (JSON; `.rxm` for the compact binary form).
    #[arg(long, value_name = "FILE")]
    pub save: Option<PathBuf>,
}

/// The JSON a user sees: the result without the prediction internals.
pub fn summary_json(fit: &RxLinMod) -> Result<Value> {
    let mut v = serde_json::to_value(fit).map_err(|e| Error::external("writing JSON", e))?;
    if let Value::Object(m) = &mut v {
        m.remove("model");
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

pub fn run(args: LinModArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let mut options = LinModOptions::default()
        .drop_first(args.drop_first)
        .cube(args.cube)
        .cov_coef(args.cov_coef);
    options.pweights = args.pweights.clone();
    options.fweights = args.fweights.clone();
    if let Some(n) = args.rows_per_read {
        options = options.rows_per_read(n);
    }
    let context = args.context.get()?;
    #[cfg(feature = "odbc")]
    let fit = match crate::context::in_database(&context, &args.db)? {
        Some((indb, db)) => indb.lin_mod(&args.formula, &db, &options)?,
        None => rx_lin_mod(&args.formula, data.as_ref(), &options, &context)?,
    };
    #[cfg(not(feature = "odbc"))]
    let fit = rx_lin_mod(&args.formula, data.as_ref(), &options, &context)?;
    if let Some(path) = &args.save {
        revoscale::predict::rx_save_model(&revoscale::predict::Model::LinMod(fit.clone()), path)?;
    }
    if args.json {
        let v = summary_json(&fit)?;
        println!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(|e| Error::external("writing JSON", e))?
        );
    } else {
        println!("{fit}");
    }
    Ok(())
}
