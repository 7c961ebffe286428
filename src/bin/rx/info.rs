//! `rx info <file>`: rows, variables, blocks, variable information and the first rows.

use std::path::PathBuf;

use clap::Args;
use revoscale::arrow::array::RecordBatch;
use revoscale::arrow::util::display::{ArrayFormatter, FormatOptions};
use revoscale::core::{Error, ReadOptions, Result, VarInfo};
use revoscale::xdf::{XdfInfo, rx_get_info};
use serde_json::{Value, json};

use crate::sources::{Kind, kind_of, open_source};

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The file (.xdf, a composite .xdf directory, .parquet, .csv/.tsv/.txt).
    pub file: PathBuf,
    /// Show variable information (type, storage, low/high, levels, description).
    #[arg(long)]
    pub vars: bool,
    /// Show the rows of each block.
    #[arg(long)]
    pub blocks: bool,
    /// Show the first N rows.
    #[arg(long, value_name = "N")]
    pub head: Option<usize>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Information about any source: .xdf files report everything; others what their format knows.
fn gather(args: &InfoArgs) -> Result<XdfInfo> {
    let head = args.head.unwrap_or(0);
    if kind_of(&args.file)? == Kind::Xdf {
        return rx_get_info(&args.file, head);
    }
    let source = open_source(&args.file, |t| t)?;
    let schema = source.schema()?;
    let mut rows_per_block = Vec::new();
    let mut first = Vec::new();
    let mut taken = 0;
    for b in source.open(&ReadOptions::default())? {
        let b = b?;
        if taken < head {
            let n = (head - taken).min(b.num_rows());
            first.push(b.slice(0, n));
            taken += n;
        }
        rows_per_block.push(b.num_rows() as u64);
    }
    let vars: Vec<VarInfo> = schema
        .fields()
        .iter()
        .map(|f| VarInfo::from_field(f))
        .collect();
    let head = (head > 0).then(|| {
        if first.is_empty() {
            RecordBatch::new_empty(schema.clone())
        } else {
            revoscale::arrow::compute::concat_batches(&first[0].schema(), &first)
                .unwrap_or_else(|_| RecordBatch::new_empty(schema.clone()))
        }
    });
    Ok(XdfInfo {
        path: args.file.clone(),
        composite: false,
        num_rows: rows_per_block.iter().sum(),
        num_vars: vars.len(),
        num_blocks: rows_per_block.len(),
        rows_per_block,
        compression: "n/a".into(),
        file_size: std::fs::metadata(&args.file).map(|m| m.len()).unwrap_or(0),
        vars,
        head,
    })
}

fn head_rows(batch: &RecordBatch) -> Result<Vec<Value>> {
    let opts = FormatOptions::default().with_null("NA");
    let fmts: Vec<ArrayFormatter> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::arrow("formatting rows", e))?;
    let schema = batch.schema();
    Ok((0..batch.num_rows())
        .map(|r| {
            let mut obj = serde_json::Map::new();
            for ((f, fmt), col) in schema.fields().iter().zip(&fmts).zip(batch.columns()) {
                let v = if col.is_null(r) {
                    Value::Null
                } else {
                    Value::String(fmt.value(r).to_string())
                };
                obj.insert(f.name().clone(), v);
            }
            Value::Object(obj)
        })
        .collect())
}

pub fn run(args: InfoArgs) -> Result<()> {
    let info = gather(&args)?;
    if args.json {
        let vars: Vec<Value> = info
            .vars
            .iter()
            .map(|v| {
                json!({
                    "name": v.name,
                    "type": v.var_type.name(),
                    "storage": v.storage,
                    "low": v.low,
                    "high": v.high,
                    "levels": v.levels,
                    "description": v.description,
                    "value_labels": v.value_labels,
                })
            })
            .collect();
        let mut out = json!({
            "file": info.path.display().to_string(),
            "composite": info.composite,
            "num_rows": info.num_rows,
            "num_vars": info.num_vars,
            "num_blocks": info.num_blocks,
            "rows_per_block": info.rows_per_block,
            "compression": info.compression,
            "file_size": info.file_size,
            "vars": vars,
        });
        if let Some(h) = &info.head {
            out["head"] = Value::Array(head_rows(h)?);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| Error::external("printing JSON", e))?
        );
        return Ok(());
    }
    print!("{info}");
    if args.blocks {
        println!(
            "Rows per block: {}",
            info.rows_per_block
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.vars {
        print!("{}", revoscale::xdf::info::format_var_info(&info.vars));
    }
    if let Some(h) = &info.head {
        let opts = FormatOptions::default().with_null("NA");
        let table = revoscale::arrow::util::pretty::pretty_format_batches_with_options(
            std::slice::from_ref(h),
            &opts,
        )
        .map_err(|e| Error::arrow("formatting rows", e))?;
        println!("Data (first {} rows):\n{table}", h.num_rows());
    }
    Ok(())
}
