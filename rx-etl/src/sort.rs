//! `rx_sort` (RevoScaleR's `rxSort`): sort by one or more keys, stable, spilling to disk under a
//! memory limit.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::Column as DfColumn;
use datafusion::logical_expr::{SortExpr, col};
use rx_core::{DataSink, DataSource, Error, Result, WriteOptions};

use crate::engine::{Engine, df_error};
use crate::step::{StepOutput, deliver, plan_chunks};
use crate::table::SourceTable;

/// The hidden column that makes the sort stable (ties keep their input order).
const ROW: &str = "__rx_row_number";

/// One sort key: a column, ascending or descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortKey {
    /// The column.
    pub name: String,
    /// Largest first.
    pub descending: bool,
}

impl SortKey {
    /// Ascending by `name`.
    pub fn asc(name: impl Into<String>) -> Self {
        SortKey {
            name: name.into(),
            descending: false,
        }
    }

    /// Descending by `name`.
    pub fn desc(name: impl Into<String>) -> Self {
        SortKey {
            name: name.into(),
            descending: true,
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", if self.descending { "-" } else { "" }, self.name)
    }
}

impl FromStr for SortKey {
    type Err = Error;

    /// `name` or `+name` ascending, `-name` descending.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let (name, descending) = match s.strip_prefix('-') {
            Some(n) => (n, true),
            None => (s.strip_prefix('+').unwrap_or(s), false),
        };
        if name.trim().is_empty() {
            return Err(Error::invalid(format!(
                "sort key '{s}': give a column name, '-name' for descending"
            )));
        }
        Ok(SortKey {
            name: name.trim().to_string(),
            descending,
        })
    }
}

/// Parses `a,-b` into keys.
pub fn parse_sort_keys(s: &str) -> Result<Vec<SortKey>> {
    s.split(',').map(str::parse).collect()
}

/// What `rx_sort` does.
#[derive(Debug, Clone)]
pub struct SortOptions {
    /// The keys, most significant first.
    pub keys: Vec<SortKey>,
    /// Missing values sort as the lowest values (RevoScaleR's `missingsLow`, the default): first
    /// in an ascending key, last in a descending one. `false` does the opposite.
    pub missings_low: bool,
    /// Memory the sort may hold before it spills sorted runs to temporary files (default:
    /// [`default_sort_memory`]).
    pub memory_limit: usize,
    /// Output only these columns (all when `None`).
    pub vars_to_keep: Option<Vec<String>>,
    /// Rows per output block.
    pub rows_per_block: Option<usize>,
    /// Create, overwrite or append, and compression.
    pub write: WriteOptions,
}

/// The smallest default memory limit of a sort: 1 GiB.
pub const DEFAULT_SORT_MEMORY: usize = 1 << 30;

/// The default memory limit of a sort: a quarter of the machine's physical memory, and at least
/// [`DEFAULT_SORT_MEMORY`] (which is also the limit where the physical memory cannot be read).
/// DuckDB takes 80% by default; a quarter leaves room for the analyses around a sort.
pub fn default_sort_memory() -> usize {
    rx_core::options::physical_memory()
        .map_or(0, |bytes| bytes / 4)
        .max(DEFAULT_SORT_MEMORY)
}

impl Default for SortOptions {
    fn default() -> Self {
        SortOptions {
            keys: Vec::new(),
            missings_low: true,
            memory_limit: default_sort_memory(),
            vars_to_keep: None,
            rows_per_block: None,
            write: WriteOptions::default(),
        }
    }
}

impl SortOptions {
    /// Sorts by these keys.
    pub fn by(keys: impl IntoIterator<Item = SortKey>) -> Self {
        SortOptions {
            keys: keys.into_iter().collect(),
            ..SortOptions::default()
        }
    }
}

/// Sorts `input` into `output` (or into memory). Ties keep their input order.
pub fn rx_sort(
    input: Arc<dyn DataSource>,
    output: Option<&dyn DataSink>,
    options: SortOptions,
) -> Result<StepOutput> {
    if options.keys.is_empty() {
        return Err(Error::invalid("rx_sort: give at least one sort key"));
    }
    let name = input.name();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let engine = Engine::with_memory_limit(options.rows_per_block, options.memory_limit)?;
    let table = SourceTable::new(input)?
        .with_partitions(threads)
        .with_row_numbers(ROW);
    let in_schema = datafusion::catalog::TableProvider::schema(&table);
    let names: Vec<String> = in_schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .filter(|n| n != ROW)
        .collect();
    let unknown = |n: &str| Error::UnknownColumn {
        name: n.to_string(),
        source_name: name.clone(),
        available: names.clone(),
    };
    for k in &options.keys {
        if !names.contains(&k.name) {
            return Err(unknown(&k.name));
        }
    }
    let keep: Vec<&str> = match &options.vars_to_keep {
        Some(k) => {
            for n in k {
                if !names.contains(n) {
                    return Err(unknown(n));
                }
            }
            names
                .iter()
                .filter(|n| k.contains(n))
                .map(String::as_str)
                .collect()
        }
        None => names.iter().map(String::as_str).collect(),
    };
    let mut order: Vec<SortExpr> = options
        .keys
        .iter()
        .map(|k| {
            let c = col(DfColumn::from_name(&k.name));
            // Factors sort by their level order, as in R, not by their labels.
            let is_factor = in_schema
                .field_with_name(&k.name)
                .is_ok_and(|f| matches!(f.data_type(), DataType::Dictionary(..)));
            let key = if is_factor {
                crate::udf::level_code().call(vec![c])
            } else {
                c
            };
            key.sort(!k.descending, options.missings_low != k.descending)
        })
        .collect();
    order.push(col(ROW).sort(true, false));
    let what = format!(
        "sorting {name} by {}",
        options
            .keys
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    let df = engine
        .table(table)?
        .sort(order)
        .and_then(|df| df.select_columns(&keep))
        .map_err(|e| df_error(&what, e))?;
    let passed = |n: &str| in_schema.field_with_name(n).ok().cloned();
    let reader = plan_chunks(engine, df, &name, &passed, &Default::default(), false, None)?;
    let mut write = options.write.clone();
    if write.rows_per_block.is_none() {
        write.rows_per_block = options.rows_per_block;
    }
    deliver(reader, output, &write)
}
