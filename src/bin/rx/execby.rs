//! `rx exec-by <data> --keys K --formula F --analysis summary|linmod|logit`: one analysis per
//! partition of the data by key columns (revoscalepy's `rx_exec_by`), in a compute context.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use revoscale::compute::rx_exec_by;
use revoscale::core::{Error, Result, RxLocalSeq, RxOptions};
use revoscale::models::glm::{LogitOptions, rx_logit};
use revoscale::models::linmod::{LinModOptions, rx_lin_mod};
use revoscale::models::{SummaryOptions, rx_summary};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Analysis {
    Summary,
    Linmod,
    Logit,
}

#[derive(Debug, Args)]
pub struct ExecByArgs {
    /// The data (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt), or a database with
    /// --odbc / --sqlserver and --table or --query.
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub db: crate::db::DbArgs,
    /// The key columns to split by (comma-separated): factors, strings, integers, logicals, dates.
    #[arg(long, value_delimiter = ',', required = true)]
    pub keys: Vec<String>,
    /// The analysis run on each partition.
    #[arg(long, value_enum, default_value = "summary")]
    pub analysis: Analysis,
    /// Its formula, e.g. "~ ArrDelay" (summary) or "ArrDelay ~ CRSDepTime" (linmod).
    #[arg(long, short = 'f')]
    pub formula: String,
    #[command(flatten)]
    pub context: crate::context::ContextArg,
    /// Print JSON (one object per partition, with the analysis's full result) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One partition's result, as JSON (the full result) and as a short line for the table.
fn analyse(args: &ExecByArgs, part: &dyn revoscale::core::DataSource) -> Result<(Value, String)> {
    Ok(match args.analysis {
        Analysis::Summary => {
            let s = rx_summary(&args.formula, part, &SummaryOptions::default(), &RxLocalSeq)?;
            let short = s
                .numeric
                .iter()
                .map(|n| {
                    format!(
                        "{}: mean {}",
                        n.name,
                        n.mean.map_or("NA".into(), |m| format!("{m:.6}"))
                    )
                })
                .collect::<Vec<_>>()
                .join("; ");
            (to_json(serde_json::to_value(&s))?, short)
        }
        Analysis::Linmod => {
            let m = rx_lin_mod(&args.formula, part, &LinModOptions::default(), &RxLocalSeq)?;
            (
                to_json(serde_json::to_value(&m))?,
                coefficients(&m.coefficients),
            )
        }
        Analysis::Logit => {
            let m = rx_logit(&args.formula, part, &LogitOptions::default(), &RxLocalSeq)?;
            (
                to_json(serde_json::to_value(&m))?,
                coefficients(&m.coefficients),
            )
        }
    })
}

fn to_json(v: serde_json::Result<Value>) -> Result<Value> {
    v.map_err(|e| Error::external("writing JSON", e))
}

fn coefficients(c: &[revoscale::models::linmod::Coefficient]) -> String {
    c.iter()
        .map(|c| match c.estimate {
            Some(v) if !c.aliased => format!("{} = {v:.6}", c.term),
            _ => format!("{} = NA", c.term),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn run(args: ExecByArgs) -> Result<()> {
    let data = crate::db::open_data(&args.data, &args.db)?;
    let keys: Vec<&str> = args.keys.iter().map(String::as_str).collect();
    let context = args.context.get()?;
    let res = rx_exec_by(
        &context,
        data.as_ref(),
        &keys,
        &RxOptions::default(),
        |_, part| analyse(&args, part),
    )?;
    if args.json {
        let table = res.table(|(_, s)| s.clone())?;
        let mut out = Vec::new();
        for (i, r) in res.results.iter().enumerate() {
            let mut m = Map::new();
            for (k, name) in keys.iter().enumerate() {
                let v = revoscale::arrow::util::display::array_value_to_string(table.column(k), i)
                    .map_err(|e| Error::arrow("printing a key", e))?;
                let v = if table.column(k).is_null(i) {
                    Value::Null
                } else {
                    Value::String(v)
                };
                m.insert((*name).to_string(), v);
            }
            m.insert(".rxNumRows".into(), Value::from(res.rows[i]));
            match r {
                Ok((v, _)) => {
                    m.insert("status".into(), Value::from("ok"));
                    m.insert("result".into(), v.clone());
                }
                Err(e) => {
                    m.insert("status".into(), Value::from("error"));
                    m.insert("error".into(), Value::from(e.to_string()));
                }
            }
            out.push(Value::Object(m));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Error::external("writing JSON", e))?
        );
        return Ok(());
    }
    let table = res.table(|(_, s)| s.clone())?;
    let text = revoscale::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&table))
        .map_err(|e| Error::arrow("printing the table", e))?;
    println!("{text}");
    Ok(())
}
