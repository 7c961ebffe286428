//! `rx_merge` (RevoScaleR's `rxMerge`): inner, left, right and full outer joins on key columns
//! (run by DataFusion's hash join), and the union of rows of any number of sources (a streaming
//! concatenation, linear in the total rows). Factor columns are reconciled by label: the output's
//! level table is the left (first) input's levels followed by the new levels of the others.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{Column as DfColumn, JoinType};
use datafusion::logical_expr::{Expr, col};
use rx_core::varinfo::{field_levels, with_levels};
use rx_core::{ChunkReader, DataSink, DataSource, Error, ReadOptions, Result, WriteOptions};

use crate::engine::{Engine, df_error};
use crate::step::{StepOutput, deliver, plan_chunks};
use crate::table::SourceTable;

/// How two inputs are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MergeHow {
    /// Rows whose keys are in both.
    #[default]
    Inner,
    /// Every left row, with the matching right rows (missing where none).
    Left,
    /// Every right row, with the matching left rows.
    Right,
    /// Every row of both.
    Outer,
    /// The rows of the left, then the rows of the right (columns matched by name; no keys).
    Union,
}

impl FromStr for MergeHow {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "inner" => MergeHow::Inner,
            "left" | "left_outer" => MergeHow::Left,
            "right" | "right_outer" => MergeHow::Right,
            "outer" | "full" | "full_outer" => MergeHow::Outer,
            "union" => MergeHow::Union,
            _ => {
                return Err(Error::invalid(format!(
                    "merge type '{s}': use inner, left, right, outer or union"
                )));
            }
        })
    }
}

impl fmt::Display for MergeHow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MergeHow::Inner => "inner",
            MergeHow::Left => "left",
            MergeHow::Right => "right",
            MergeHow::Outer => "outer",
            MergeHow::Union => "union",
        })
    }
}

/// What `rx_merge` does.
#[derive(Debug, Clone)]
pub struct MergeOptions {
    /// Key columns (same names in both inputs).
    pub on: Vec<String>,
    /// The kind of merge.
    pub how: MergeHow,
    /// Suffixes for non-key columns whose names are in both inputs (RevoScaleR's
    /// `duplicateVarExt`): `x` becomes `x.Left` and `x.Right`.
    pub suffixes: (String, String),
    /// Rows per output block.
    pub rows_per_block: Option<usize>,
    /// Create, overwrite or append, and compression.
    pub write: WriteOptions,
}

impl Default for MergeOptions {
    fn default() -> Self {
        MergeOptions {
            on: Vec::new(),
            how: MergeHow::Inner,
            suffixes: (".Left".into(), ".Right".into()),
            rows_per_block: None,
            write: WriteOptions::default(),
        }
    }
}

impl MergeOptions {
    /// A merge of this kind on these keys.
    pub fn on<S: Into<String>>(how: MergeHow, keys: impl IntoIterator<Item = S>) -> Self {
        MergeOptions {
            on: keys.into_iter().map(Into::into).collect(),
            how,
            ..MergeOptions::default()
        }
    }
}

/// Merges `left` and `right` into `output` (or into memory).
pub fn rx_merge(
    left: Arc<dyn DataSource>,
    right: Arc<dyn DataSource>,
    output: Option<&dyn DataSink>,
    options: MergeOptions,
) -> Result<StepOutput> {
    let mut write = options.write.clone();
    if write.rows_per_block.is_none() {
        write.rows_per_block = options.rows_per_block;
    }
    if options.how == MergeHow::Union {
        return rx_union(vec![left, right], output, &write);
    }
    if options.on.is_empty() {
        return Err(Error::invalid(format!(
            "a {} merge needs key columns (rx: --on k1,k2)",
            options.how
        )));
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let engine = Engine::parallel(options.rows_per_block)?;
    let (lname, rname) = (left.name(), right.name());
    let lt = SourceTable::new(left)?.with_partitions(threads);
    let rt = SourceTable::new(right)?.with_partitions(threads);
    let ls = datafusion::catalog::TableProvider::schema(&lt);
    let rs = datafusion::catalog::TableProvider::schema(&rt);
    for k in &options.on {
        for (s, n) in [(&ls, &lname), (&rs, &rname)] {
            if s.field_with_name(k).is_err() {
                return Err(Error::unknown_column(k, n, s));
            }
        }
    }
    let what = format!(
        "{} merge of {lname} and {rname} on {}",
        options.how,
        options.on.join(",")
    );
    let join = match options.how {
        MergeHow::Inner => JoinType::Inner,
        MergeHow::Left => JoinType::Left,
        MergeHow::Right => JoinType::Right,
        MergeHow::Outer | MergeHow::Union => JoinType::Full,
    };
    let ldf = engine.named_table("left", lt)?;
    let rdf = engine.named_table("right", rt)?;
    // Keys as qualified columns: names given as strings would be normalized (lower-cased).
    let side = |t: &str, n: &str| col(DfColumn::new(Some(t), n));
    let on: Vec<Expr> = options
        .on
        .iter()
        .map(|k| side("left", k).eq(side("right", k)))
        .collect();
    let df = ldf.join_on(rdf, join, on).map_err(|e| df_error(&what, e))?;

    // The output columns: keys once, then the left's other columns, then the right's.
    let mut exprs: Vec<Expr> = Vec::new();
    let mut passed: HashMap<String, Field> = HashMap::new();
    for k in &options.on {
        let e = match options.how {
            MergeHow::Right => side("right", k),
            MergeHow::Outer => {
                datafusion::functions::expr_fn::coalesce(vec![side("left", k), side("right", k)])
            }
            _ => side("left", k),
        };
        exprs.push(e.alias(k));
        let lf = ls.field_with_name(k).map_err(|e| Error::arrow(&what, e))?;
        let rf = rs.field_with_name(k).map_err(|e| Error::arrow(&what, e))?;
        passed.insert(k.clone(), reconcile(lf, rf));
    }
    for (s, t, suffix, other) in [
        (&ls, "left", &options.suffixes.0, &rs),
        (&rs, "right", &options.suffixes.1, &ls),
    ] {
        for f in s.fields() {
            if options.on.contains(f.name()) {
                continue;
            }
            let out = if other.field_with_name(f.name()).is_ok() {
                format!("{}{suffix}", f.name())
            } else {
                f.name().clone()
            };
            exprs.push(side(t, f.name()).alias(&out));
            passed.insert(out, f.as_ref().clone());
        }
    }
    let df = df.select(exprs).map_err(|e| df_error(&what, e))?;
    let lookup = |n: &str| passed.get(n).cloned();
    let reader = plan_chunks(
        engine,
        df,
        &lname,
        &lookup,
        &Default::default(),
        false,
        None,
    )?;
    deliver(reader, output, &write)
}

/// A key field whose factor levels are both inputs' (left first).
fn reconcile(left: &Field, right: &Field) -> Field {
    match (field_levels(left), field_levels(right)) {
        (Some(mut l), Some(r)) => {
            for level in r {
                if !l.contains(&level) {
                    l.push(level);
                }
            }
            with_levels(left.clone(), &l)
        }
        _ => left.clone(),
    }
}

/// The rows of every input, in order, into `output` (or into memory). Columns are matched by name
/// (every input must have the first one's columns, with the same types; factor levels may differ
/// and are merged); memory is one chunk, time is linear in the total rows.
pub fn rx_union(
    inputs: Vec<Arc<dyn DataSource>>,
    output: Option<&dyn DataSink>,
    write: &WriteOptions,
) -> Result<StepOutput> {
    let first = inputs
        .first()
        .ok_or_else(|| Error::invalid("a union needs at least one input"))?;
    let schema = first.schema()?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    for input in &inputs[1..] {
        let s = input.schema()?;
        if s.fields().len() != names.len() {
            return Err(Error::Schema(format!(
                "union: {} has columns [{}] but {} has [{}]; the inputs need the same columns",
                input.name(),
                s.fields()
                    .iter()
                    .map(|f| f.name().clone())
                    .collect::<Vec<_>>()
                    .join(", "),
                first.name(),
                names.join(", ")
            )));
        }
        for f in fields.iter_mut() {
            let g = s
                .field_with_name(f.name())
                .map_err(|_| Error::unknown_column(f.name(), &input.name(), &s))?;
            let same = match (f.data_type(), g.data_type()) {
                (DataType::Dictionary(..), DataType::Dictionary(..)) => true,
                (a, b) => a == b,
            };
            if !same {
                return Err(Error::Schema(format!(
                    "union: column '{}' is {} in {} but {} in {}; convert one of them first",
                    f.name(),
                    f.data_type(),
                    first.name(),
                    g.data_type(),
                    input.name()
                )));
            }
            *f = reconcile(f, g);
        }
    }
    let schema: SchemaRef = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
    let reader: ChunkReader = Box::new(Union {
        inputs,
        next_input: 0,
        current: None,
        columns: names,
        schema,
        emitted: false,
    });
    deliver(reader, output, write)
}

/// The chunks of each input in turn, with the columns in the first input's order.
struct Union {
    inputs: Vec<Arc<dyn DataSource>>,
    next_input: usize,
    current: Option<ChunkReader>,
    columns: Vec<String>,
    schema: SchemaRef,
    emitted: bool,
}

impl Iterator for Union {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.as_mut() {
                match r.next() {
                    Some(Ok(b)) => {
                        self.emitted = true;
                        let cols: Vec<ArrayRef> = b.columns().to_vec();
                        return Some(
                            RecordBatch::try_new(self.schema.clone(), cols)
                                .map_err(|e| Error::arrow("union: joining the inputs' chunks", e)),
                        );
                    }
                    Some(Err(e)) => return Some(Err(e)),
                    None => self.current = None,
                }
            }
            let Some(input) = self.inputs.get(self.next_input) else {
                if !self.emitted {
                    self.emitted = true;
                    return Some(Ok(RecordBatch::new_empty(self.schema.clone())));
                }
                return None;
            };
            self.next_input += 1;
            match input.open(&ReadOptions::default().columns(self.columns.clone())) {
                Ok(r) => self.current = Some(r),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
