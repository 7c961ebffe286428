//! The engine shared by `rx_summary`, `rx_cube` and `rx_crosstabs`: formula terms resolved against
//! a schema, evaluated chunk by chunk, and accumulated per cell of their factors.
//!
//! A term is a list of variables. Its numeric variables multiply into one value per row (R's `x:z`
//! for numeric `x` and `z`); its factor variables cross-classify the rows into cells. A term with
//! numeric variables keeps [`Moments`] per cell (one cell when it has no factor); a term of
//! factors only keeps counts per cell (also in a [`Moments`], without values).
//!
//! Factor levels are kept per partial in a [`LevelSet`] (level text → index, new levels appended),
//! cells are keyed by the level indices of their factors, and partials merge by level *name*, so
//! partials of different partitions that met levels in different orders merge correctly. The final
//! level order of a factor is: its declared levels first (the `rx:levels` field metadata, or
//! `low..high` for `F(x, low, high)` and for `F(x)` on a column whose metadata has `rx:low` and
//! `rx:high`), then the levels in the order the chunks' dictionaries list them, then other values
//! in order of first appearance. `F(x)` without known bounds has every integer from the smallest
//! to the largest value seen.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use rx_core::factor::{factor_to_strings, factor_type};
use rx_core::formula::{Expr, Var};
use rx_core::varinfo::{META_HIGH, META_LOW, field_levels};
use rx_core::{Error, Result};
use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use super::moments::Moments;
use crate::dd::Dd;

/// A missing factor code.
pub(crate) const MISSING: u32 = u32::MAX;
/// The most levels `F(x)` may have (every integer from low to high).
pub(crate) const MAX_INTEGER_LEVELS: i64 = 1_000_000;
/// The most cells a dense (all combinations) output may have.
pub(crate) const MAX_DENSE_CELLS: u64 = 10_000_000;

// ---------------------------------------------------------------------------------------------
// Level sets

/// Factor levels by name: level text → index, new levels appended. Serialized as the list of
/// levels.
#[derive(Debug, Clone, Default)]
pub(crate) struct LevelSet {
    levels: Vec<String>,
    index: HashMap<String, u32>,
}

impl LevelSet {
    /// A set holding `levels` (duplicates kept once).
    pub(crate) fn from_levels(levels: &[String]) -> Self {
        let mut s = LevelSet::default();
        for l in levels {
            s.insert(l);
        }
        s
    }

    /// The index of `level`, adding it at the end when it is new.
    pub(crate) fn insert(&mut self, level: &str) -> u32 {
        if let Some(&i) = self.index.get(level) {
            return i;
        }
        let i = u32::try_from(self.levels.len()).unwrap_or(MISSING - 1);
        self.levels.push(level.to_string());
        self.index.insert(level.to_string(), i);
        i
    }

    /// The levels, in index order.
    pub(crate) fn levels(&self) -> &[String] {
        &self.levels
    }

    /// The number of levels.
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }
}

impl Serialize for LevelSet {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.levels.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LevelSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let levels = Vec::<String>::deserialize(d)?;
        Ok(LevelSet::from_levels(&levels))
    }
}

// ---------------------------------------------------------------------------------------------
// Resolved variables

/// Where a numeric variable's values come from.
#[derive(Debug, Clone)]
pub(crate) enum NumSource {
    /// A numeric or logical column, as `f64`.
    Column(String),
    /// `N(f)` on a factor: its codes, 1-based as in R.
    Codes(String),
    /// `I(expr)`, `log(x)`, ...
    Expr(Expr),
}

/// A numeric variable of a formula.
#[derive(Debug, Clone)]
pub(crate) struct NumVar {
    /// The name in output (`x`, `log(x)`, `N(f)`).
    pub name: String,
    /// Where its values come from.
    pub source: NumSource,
}

/// Where a factor variable's levels come from.
#[derive(Debug, Clone)]
pub(crate) enum FactorSource {
    /// A factor (dictionary) column or a string column.
    Text(String),
    /// `F(x)`: the integer part of a numeric column, optionally within bounds.
    Integers {
        /// The column.
        column: String,
        /// The lowest and highest level, when known before reading.
        bounds: Option<(i64, i64)>,
    },
}

/// A factor variable of a formula.
#[derive(Debug, Clone)]
pub(crate) struct FactorVar {
    /// The name in output (`g`, `F(x)`).
    pub name: String,
    /// Where its levels come from.
    pub source: FactorSource,
    /// Levels known before reading, in their declared order.
    pub declared: Vec<String>,
}

/// A variable resolved against the schema.
#[derive(Debug, Clone)]
pub(crate) enum Resolved {
    /// Numeric.
    Numeric(NumVar),
    /// A factor.
    Factor(FactorVar),
}

fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(k, v) => k.is_integer() && is_text(v),
        _ => false,
    }
}

fn is_number(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Boolean | DataType::Null)
}

/// True when an analysis can use a column of this type (numbers, logicals, factors, strings).
pub(crate) fn is_supported(dt: &DataType) -> bool {
    is_text(dt) || is_number(dt)
}

/// Resolves formula variables against a schema, with errors naming the data and the formula.
#[derive(Debug)]
pub(crate) struct Resolver<'a> {
    /// The schema of the data.
    pub schema: &'a Schema,
    /// The data's name.
    pub source: &'a str,
    /// The formula text.
    pub formula: &'a str,
}

impl Resolver<'_> {
    fn field(&self, name: &str) -> Result<&arrow::datatypes::Field> {
        self.schema.field_with_name(name).map_err(|_| {
            Error::unknown_column(
                name,
                &format!("{} (formula `{}`)", self.source, self.formula),
                self.schema,
            )
        })
    }

    fn unsupported(&self, name: &str, dt: &DataType) -> Error {
        Error::invalid(format!(
            "column '{name}' in formula `{}` is of type {dt}; analyses take numeric, logical, \
             factor and string columns (convert it, e.g. with rx_data_step, or leave it out)",
            self.formula
        ))
    }

    /// The column a weight name refers to, which must be numeric.
    pub(crate) fn weight_column(&self, name: &str, what: &str) -> Result<String> {
        let f = self.field(name)?;
        if !is_number(f.data_type()) {
            return Err(Error::invalid(format!(
                "the {what} column '{name}' is of type {}; weights must be numeric",
                f.data_type()
            )));
        }
        Ok(name.to_string())
    }

    /// Resolves one variable.
    pub(crate) fn resolve(&self, var: &Var) -> Result<Resolved> {
        let name = var.name();
        match var {
            Var::Column(c) => {
                let f = self.field(c)?;
                let dt = f.data_type();
                if is_text(dt) {
                    Ok(Resolved::Factor(FactorVar {
                        name,
                        source: FactorSource::Text(c.clone()),
                        declared: field_levels(f).unwrap_or_default(),
                    }))
                } else if is_number(dt) {
                    Ok(Resolved::Numeric(NumVar {
                        name,
                        source: NumSource::Column(c.clone()),
                    }))
                } else {
                    Err(self.unsupported(c, dt))
                }
            }
            Var::AsFactor { column, low, high } => {
                let f = self.field(column)?;
                let dt = f.data_type();
                if is_text(dt) {
                    // F() of a factor is the factor.
                    return Ok(Resolved::Factor(FactorVar {
                        name,
                        source: FactorSource::Text(column.clone()),
                        declared: field_levels(f).unwrap_or_default(),
                    }));
                }
                if !is_number(dt) {
                    return Err(self.unsupported(column, dt));
                }
                let meta = |key: &str| f.metadata().get(key).and_then(|s| s.parse::<f64>().ok());
                let low = low.or_else(|| meta(META_LOW));
                let high = high.or_else(|| meta(META_HIGH));
                let bounds = match (low, high) {
                    (Some(l), Some(h)) if l.is_finite() && h.is_finite() => {
                        let (l, h) = (l.trunc(), h.trunc());
                        if h < l {
                            return Err(Error::invalid(format!(
                                "{var}: the low bound {l} is above the high bound {h}"
                            )));
                        }
                        if h - l + 1.0 > MAX_INTEGER_LEVELS as f64 {
                            return Err(Error::invalid(format!(
                                "{var} would have {} levels (every integer from {l} to {h}); the \
                                 most is {MAX_INTEGER_LEVELS}: give narrower bounds, as in \
                                 F({column}, low, high)",
                                h - l + 1.0
                            )));
                        }
                        Some((l as i64, h as i64))
                    }
                    _ => None,
                };
                let declared = bounds
                    .map(|(l, h)| (l..=h).map(|v| v.to_string()).collect())
                    .unwrap_or_default();
                Ok(Resolved::Factor(FactorVar {
                    name,
                    source: FactorSource::Integers {
                        column: column.clone(),
                        bounds,
                    },
                    declared,
                }))
            }
            Var::AsNumeric(c) => {
                let f = self.field(c)?;
                let dt = f.data_type();
                let source = if is_text(dt) {
                    NumSource::Codes(c.clone())
                } else if is_number(dt) {
                    NumSource::Column(c.clone())
                } else {
                    return Err(self.unsupported(c, dt));
                };
                Ok(Resolved::Numeric(NumVar { name, source }))
            }
            Var::Computed { expr, .. } => {
                for c in expr.columns() {
                    let f = self.field(&c)?;
                    if !is_number(f.data_type()) {
                        return Err(Error::invalid(format!(
                            "column '{c}' in {name} is {}, not numeric; arithmetic in I() and in \
                             functions such as log() needs numeric columns (use N({c}) for a \
                             factor's codes as a term of its own)",
                            if is_text(f.data_type()) {
                                "a factor".to_string()
                            } else {
                                format!("of type {}", f.data_type())
                            }
                        )));
                    }
                }
                Ok(Resolved::Numeric(NumVar {
                    name,
                    source: NumSource::Expr(expr.clone()),
                }))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Plans

/// One term: which numeric variables multiply into its value and which factors classify it.
#[derive(Debug, Clone)]
pub(crate) struct TermPlan {
    /// The term's name (`x`, `g`, `y:g`).
    pub name: String,
    /// Indexes into [`Plan::numeric`].
    pub numeric: Vec<usize>,
    /// Indexes into [`Plan::factors`], in the order written.
    pub factors: Vec<usize>,
}

/// Resolved terms, ready to evaluate on chunks.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Numeric variables (each once).
    pub numeric: Vec<NumVar>,
    /// Factor variables (each once).
    pub factors: Vec<FactorVar>,
    /// The terms.
    pub terms: Vec<TermPlan>,
    /// The weight column.
    pub weights: Option<String>,
    /// False: a row with a missing value in any term is missing in every term.
    pub by_term: bool,
    /// The columns to read.
    pub columns: Vec<String>,
}

impl Plan {
    /// Resolves terms (each a list of variables) against the schema.
    pub(crate) fn build(
        resolver: &Resolver<'_>,
        terms: &[Vec<Var>],
        weights: Option<String>,
        by_term: bool,
    ) -> Result<Plan> {
        let mut plan = Plan {
            numeric: Vec::new(),
            factors: Vec::new(),
            terms: Vec::new(),
            weights,
            by_term,
            columns: Vec::new(),
        };
        let mut keys: HashMap<String, (bool, usize)> = HashMap::new();
        for vars in terms {
            let mut term = TermPlan {
                name: vars.iter().map(Var::name).collect::<Vec<_>>().join(":"),
                numeric: Vec::new(),
                factors: Vec::new(),
            };
            for var in vars {
                for c in var.columns() {
                    if !plan.columns.contains(&c) {
                        plan.columns.push(c);
                    }
                }
                let key = var.to_string();
                let (is_factor, index) = match keys.get(&key) {
                    Some(&k) => k,
                    None => {
                        let k = match resolver.resolve(var)? {
                            Resolved::Numeric(v) => {
                                plan.numeric.push(v);
                                (false, plan.numeric.len() - 1)
                            }
                            Resolved::Factor(v) => {
                                plan.factors.push(v);
                                (true, plan.factors.len() - 1)
                            }
                        };
                        keys.insert(key, k);
                        k
                    }
                };
                let list = if is_factor {
                    &mut term.factors
                } else {
                    &mut term.numeric
                };
                if !list.contains(&index) {
                    list.push(index);
                }
            }
            plan.terms.push(term);
        }
        if let Some(w) = &plan.weights
            && !plan.columns.contains(w)
        {
            plan.columns.push(w.clone());
        }
        Ok(plan)
    }

    /// An empty partial.
    pub(crate) fn init(&self) -> CellsPartial {
        CellsPartial {
            rows: 0,
            rows_valid: 0,
            levels: self
                .factors
                .iter()
                .map(|f| LevelSet::from_levels(&f.declared))
                .collect(),
            terms: vec![TermAcc::default(); self.terms.len()],
        }
    }

    fn check_shape(&self, p: &CellsPartial) -> Result<()> {
        if p.levels.len() != self.factors.len() || p.terms.len() != self.terms.len() {
            return Err(Error::invalid(
                "a partial result of another analysis (different terms or factors) cannot be \
                 merged into this one",
            ));
        }
        Ok(())
    }

    /// Folds one chunk into a partial.
    pub(crate) fn process(&self, acc: &mut CellsPartial, chunk: &RecordBatch) -> Result<()> {
        self.check_shape(acc)?;
        let n = chunk.num_rows();
        let numeric = self
            .numeric
            .iter()
            .map(|v| v.evaluate(chunk))
            .collect::<Result<Vec<_>>>()?;
        let codes = self
            .factors
            .iter()
            .zip(acc.levels.iter_mut())
            .map(|(f, levels)| f.codes(chunk, levels))
            .collect::<Result<Vec<_>>>()?;
        let weights = match &self.weights {
            Some(w) => Some(weight_values(chunk, w)?),
            None => None,
        };
        let values: Vec<Option<Float64Array>> = self
            .terms
            .iter()
            .map(|t| product(t.numeric.iter().map(|&i| &numeric[i])))
            .collect();

        // Rows valid in every term (for by_term = false and the valid-row count).
        let mut all_valid = vec![true; n];
        let mut and_nulls = |nulls: Option<&NullBuffer>| {
            if let Some(nb) = nulls {
                for (r, ok) in all_valid.iter_mut().enumerate() {
                    *ok &= nb.is_valid(r);
                }
            }
        };
        if let Some(w) = &weights {
            and_nulls(w.nulls());
        }
        for v in values.iter().flatten() {
            and_nulls(v.nulls());
        }
        for c in &codes {
            for (ok, &code) in all_valid.iter_mut().zip(c) {
                *ok &= code != MISSING;
            }
        }
        acc.rows += n as u64;
        acc.rows_valid += all_valid.iter().filter(|&&v| v).count() as u64;

        let mask = (!self.by_term).then_some(all_valid.as_slice());
        for ((term, term_acc), value) in self.terms.iter().zip(&mut acc.terms).zip(&values) {
            let sizes: Vec<usize> = term.factors.iter().map(|&f| acc.levels[f].len()).collect();
            let input = TermInput {
                sizes: &sizes,
                factors: &term.factors,
                codes: &codes,
                value: value.as_ref(),
                weights: weights.as_ref(),
                mask,
            };
            accumulate(term_acc, &input, n)?;
        }
        Ok(())
    }

    /// Folds `other` into `into`, matching factor levels by name.
    pub(crate) fn merge(&self, into: &mut CellsPartial, other: CellsPartial) -> Result<()> {
        self.check_shape(into)?;
        self.check_shape(&other)?;
        let remaps: Vec<Vec<u32>> = other
            .levels
            .iter()
            .zip(into.levels.iter_mut())
            .map(|(o, i)| o.levels().iter().map(|l| i.insert(l)).collect())
            .collect();
        for ((term, acc), o) in self.terms.iter().zip(&mut into.terms).zip(other.terms) {
            acc.missing = acc.missing.add(o.missing);
            for (key, m) in o.cells {
                let key = remap_key(&key, &term.factors, &remaps)?;
                acc.cells.entry(key).or_default().merge(&m);
            }
        }
        into.rows += other.rows;
        into.rows_valid += other.rows_valid;
        Ok(())
    }

    /// The final level order of every factor, and the map from a partial's level indexes to it.
    pub(crate) fn final_levels(&self, acc: &CellsPartial) -> Result<FinalLevels> {
        self.check_shape(acc)?;
        let mut levels = Vec::with_capacity(self.factors.len());
        let mut maps = Vec::with_capacity(self.factors.len());
        for (f, set) in self.factors.iter().zip(&acc.levels) {
            match &f.source {
                FactorSource::Integers { bounds: None, .. } if set.len() > 0 => {
                    let values = set
                        .levels()
                        .iter()
                        .map(|l| {
                            l.parse::<i64>().map_err(|_| {
                                Error::invalid(format!(
                                    "{}: level '{l}' of a partial result is not an integer",
                                    f.name
                                ))
                            })
                        })
                        .collect::<Result<Vec<i64>>>()?;
                    let lo = values.iter().copied().min().unwrap_or(0);
                    let hi = values.iter().copied().max().unwrap_or(0);
                    let count = (i128::from(hi) - i128::from(lo) + 1) as f64;
                    if count > MAX_INTEGER_LEVELS as f64 {
                        return Err(Error::invalid(format!(
                            "{} would have {count} levels (every integer from {lo} to {hi} in the \
                             data); the most is {MAX_INTEGER_LEVELS}: give bounds, as in \
                             F(x, low, high), or use a factor column",
                            f.name
                        )));
                    }
                    levels.push((lo..=hi).map(|v| v.to_string()).collect());
                    maps.push(values.iter().map(|v| (v - lo) as u32).collect());
                }
                _ => {
                    levels.push(set.levels().to_vec());
                    maps.push((0..set.len() as u32).collect());
                }
            }
        }
        Ok(FinalLevels { levels, maps })
    }

    /// The cells of term `t` keyed by final level indexes: every combination of levels (first
    /// factor varying fastest, as R's `expand.grid`), or only the cells with valid observations
    /// when `remove_zero_counts`, in the same order.
    pub(crate) fn term_cells(
        &self,
        t: usize,
        acc: &CellsPartial,
        fl: &FinalLevels,
        remove_zero_counts: bool,
    ) -> Result<Vec<(Vec<u32>, Moments)>> {
        let (Some(term), Some(term_acc)) = (self.terms.get(t), acc.terms.get(t)) else {
            return Err(Error::invalid("internal error: no such term"));
        };
        let mut cells: HashMap<Vec<u32>, Moments> = HashMap::with_capacity(term_acc.cells.len());
        for (key, m) in &term_acc.cells {
            let key = remap_key(key, &term.factors, &fl.maps)?;
            cells.entry(key).or_default().merge(m);
        }
        if remove_zero_counts {
            let mut out: Vec<(Vec<u32>, Moments)> =
                cells.into_iter().filter(|(_, m)| m.n > 0).collect();
            // First factor fastest: compare from the last factor.
            out.sort_by(|a, b| a.0.iter().rev().cmp(b.0.iter().rev()));
            return Ok(out);
        }
        let sizes: Vec<u64> = term
            .factors
            .iter()
            .map(|&f| fl.levels[f].len() as u64)
            .collect();
        let total = sizes
            .iter()
            .try_fold(1u64, |a, &s| a.checked_mul(s))
            .filter(|&t| t <= MAX_DENSE_CELLS)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "the term {} has more than {MAX_DENSE_CELLS} cells ({}); use fewer or \
                     coarser factors, or ask rx_summary or rx_cube for the non-empty cells only \
                     with remove_zero_counts (rx: --remove-zero-counts)",
                    term.name,
                    sizes
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" x ")
                ))
            })?;
        let mut out = Vec::with_capacity(total as usize);
        for mut i in 0..total {
            let mut key = Vec::with_capacity(sizes.len());
            for &s in &sizes {
                key.push((i % s) as u32);
                i /= s;
            }
            let m = cells.remove(&key).unwrap_or_default();
            out.push((key, m));
        }
        Ok(out)
    }
}

fn remap_key(key: &[u32], factors: &[usize], maps: &[Vec<u32>]) -> Result<Vec<u32>> {
    if key.len() != factors.len() {
        return Err(Error::invalid(
            "a partial result has cells of another shape; it belongs to another analysis",
        ));
    }
    key.iter()
        .zip(factors)
        .map(|(&c, &f)| {
            maps.get(f)
                .and_then(|m| m.get(c as usize))
                .copied()
                .ok_or_else(|| {
                    Error::invalid("a partial result has a cell for an unknown factor level")
                })
        })
        .collect()
}

/// The final levels of each factor and, per factor, partial level index → final index.
#[derive(Debug, Clone)]
pub(crate) struct FinalLevels {
    /// Levels per factor, in output order.
    pub levels: Vec<Vec<String>>,
    /// Per factor, partial level index → final index.
    pub maps: Vec<Vec<u32>>,
}

// ---------------------------------------------------------------------------------------------
// Partials

/// The accumulators of one term: per cell, and the weight of the rows that fall in no cell.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TermAcc {
    /// Rows that fall in no cell (a factor is missing, or the row is missing in another term
    /// with `by_term = false`), by weight (1 for a row whose weight is missing).
    pub missing: Dd,
    /// Cell (level index per factor of the term) → accumulator.
    #[serde(with = "cell_map")]
    pub cells: HashMap<Vec<u32>, Moments>,
}

impl TermAcc {
    /// The missing weight of the term: rows in no cell and missing values within cells.
    pub(crate) fn missing_obs(&self) -> f64 {
        self.cells
            .values()
            .fold(self.missing, |a, m| a.add(m.missing))
            .to_f64()
    }
}

mod cell_map {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        map: &HashMap<Vec<u32>, Moments>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        let mut entries: Vec<(&Vec<u32>, &Moments)> = map.iter().collect();
        entries.sort_by(|a, b| a.0.cmp(b.0));
        s.collect_seq(entries)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<HashMap<Vec<u32>, Moments>, D::Error> {
        let entries = Vec::<(Vec<u32>, Moments)>::deserialize(d)?;
        let mut map: HashMap<Vec<u32>, Moments> = HashMap::with_capacity(entries.len());
        for (k, m) in entries {
            map.entry(k).or_default().merge(&m);
        }
        Ok(map)
    }
}

/// The mergeable partial result of `rx_summary`, `rx_cube` and `rx_crosstabs`: rows read, factor
/// levels met (merged by name) and per term the accumulators of its cells. Serializable, so a
/// partial can cross a thread, a process or a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellsPartial {
    pub(crate) rows: u64,
    pub(crate) rows_valid: u64,
    pub(crate) levels: Vec<LevelSet>,
    pub(crate) terms: Vec<TermAcc>,
}

impl CellsPartial {
    /// Rows read.
    pub fn rows(&self) -> u64 {
        self.rows
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation on a chunk

fn column<'a>(chunk: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    chunk
        .column_by_name(name)
        .ok_or_else(|| Error::unknown_column(name, "the chunk read", &chunk.schema()))
}

/// A numeric array as `f64`, with NaN and infinities as missing.
fn finite_f64(array: &ArrayRef, name: &str) -> Result<Float64Array> {
    let cast = arrow::compute::cast(array, &DataType::Float64)
        .map_err(|e| Error::arrow(format!("converting column '{name}' to numbers"), e))?;
    let a = cast.as_primitive::<Float64Type>();
    Ok(with_finite_nulls(
        a.values().clone(),
        a.nulls().cloned(),
        a.len(),
    ))
}

fn with_finite_nulls(
    values: ScalarBuffer<f64>,
    nulls: Option<NullBuffer>,
    n: usize,
) -> Float64Array {
    let finite = arrow::buffer::BooleanBuffer::collect_bool(n, |i| values[i].is_finite());
    let valid = match &nulls {
        Some(nb) => nb.inner() & &finite,
        None => finite,
    };
    let nulls = NullBuffer::new(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Float64Array::new(values, nulls)
}

/// The weights of a chunk: missing where null or not finite; negative weights are an error.
fn weight_values(chunk: &RecordBatch, name: &str) -> Result<Float64Array> {
    let w = finite_f64(column(chunk, name)?, name)?;
    if let Some(bad) = w.iter().flatten().find(|&v| v < 0.0) {
        return Err(Error::invalid(format!(
            "the weight column '{name}' has a negative value ({bad}); frequency and probability \
             weights must be zero or positive"
        )));
    }
    Ok(w)
}

/// The product of numeric arrays, `None` for none; non-finite products are missing.
fn product<'a>(mut arrays: impl Iterator<Item = &'a Float64Array>) -> Option<Float64Array> {
    let first = arrays.next()?.clone();
    Some(arrays.fold(first, |acc, b| {
        let values: Vec<f64> = acc
            .values()
            .iter()
            .zip(b.values().iter())
            .map(|(x, y)| x * y)
            .collect();
        let nulls = NullBuffer::union(acc.nulls(), b.nulls());
        with_finite_nulls(ScalarBuffer::from(values), nulls, acc.len())
    }))
}

impl NumVar {
    fn evaluate(&self, chunk: &RecordBatch) -> Result<Float64Array> {
        match &self.source {
            NumSource::Column(c) => finite_f64(column(chunk, c)?, c),
            NumSource::Codes(c) => {
                let dict = as_factor(column(chunk, c)?, c)?;
                let keys = dict.as_dictionary::<Int32Type>().keys();
                let values: Vec<f64> = keys.values().iter().map(|&k| f64::from(k) + 1.0).collect();
                Ok(Float64Array::new(
                    ScalarBuffer::from(values),
                    keys.nulls().cloned(),
                ))
            }
            NumSource::Expr(e) => e.evaluate(chunk),
        }
    }
}

/// A text or dictionary column as a dictionary with `Int32` codes and `Utf8` levels.
fn as_factor(array: &ArrayRef, name: &str) -> Result<ArrayRef> {
    if *array.data_type() == factor_type() {
        return Ok(array.clone());
    }
    arrow::compute::cast(array, &factor_type())
        .map_err(|e| Error::arrow(format!("reading column '{name}' as a factor"), e))
}

impl FactorVar {
    /// The level index of each row in `levels` (added when new), [`MISSING`] where missing.
    fn codes(&self, chunk: &RecordBatch, levels: &mut LevelSet) -> Result<Vec<u32>> {
        match &self.source {
            FactorSource::Text(c) => {
                let array = column(chunk, c)?;
                if matches!(array.data_type(), DataType::Dictionary(..)) {
                    let dict = as_factor(array, c)?;
                    let dict = dict.as_dictionary::<Int32Type>();
                    let values = dict.values().as_string::<i32>();
                    let map: Vec<u32> = (0..values.len())
                        .map(|i| {
                            if values.is_null(i) {
                                MISSING
                            } else {
                                levels.insert(values.value(i))
                            }
                        })
                        .collect();
                    Ok(dict
                        .keys()
                        .iter()
                        .map(|k| {
                            k.and_then(|k| usize::try_from(k).ok())
                                .and_then(|k| map.get(k).copied())
                                .unwrap_or(MISSING)
                        })
                        .collect())
                } else {
                    let strings = factor_to_strings(array.as_ref())?;
                    Ok(strings
                        .iter()
                        .map(|s| s.map_or(MISSING, |s| levels.insert(s)))
                        .collect())
                }
            }
            FactorSource::Integers { column: c, bounds } => {
                let x = finite_f64(column(chunk, c)?, c)?;
                let mut cache: HashMap<i64, u32> = HashMap::new();
                Ok(x.iter()
                    .map(|v| {
                        let Some(v) = v else { return MISSING };
                        let t = v.trunc();
                        if let Some((lo, hi)) = bounds
                            && (t < *lo as f64 || t > *hi as f64)
                        {
                            return MISSING;
                        }
                        let t = t as i64;
                        *cache
                            .entry(t)
                            .or_insert_with(|| levels.insert(&t.to_string()))
                    })
                    .collect())
            }
        }
    }
}

/// One term's inputs for one chunk.
struct TermInput<'a> {
    sizes: &'a [usize],
    factors: &'a [usize],
    codes: &'a [Vec<u32>],
    value: Option<&'a Float64Array>,
    weights: Option<&'a Float64Array>,
    mask: Option<&'a [bool]>,
}

/// Cells of one chunk: a dense vector when the level combinations are few, a map otherwise.
enum LocalCells {
    Dense(Vec<Moments>),
    Sparse(HashMap<u64, Moments>),
}

impl LocalCells {
    #[inline]
    fn cell(&mut self, key: u64) -> &mut Moments {
        match self {
            // Keys are below the product of the level counts, which is the vector's length.
            LocalCells::Dense(v) => &mut v[key as usize],
            LocalCells::Sparse(m) => m.entry(key).or_default(),
        }
    }
}

fn accumulate(acc: &mut TermAcc, input: &TermInput<'_>, n: usize) -> Result<()> {
    let mut strides = Vec::with_capacity(input.sizes.len());
    let mut total: u64 = 1;
    for &s in input.sizes {
        strides.push(total);
        total = total.checked_mul(s as u64).ok_or_else(|| {
            Error::invalid(
                "a term crosses factors with more level combinations than fit in 64 bits; \
                 use fewer or coarser factors",
            )
        })?;
    }
    let mut local = if total <= 4096 || total.saturating_mul(4) <= n as u64 {
        LocalCells::Dense(vec![Moments::new(); total as usize])
    } else {
        LocalCells::Sparse(HashMap::new())
    };
    let mut missing = acc.missing;
    'rows: for r in 0..n {
        let (w, w_ok) = match input.weights {
            None => (1.0, true),
            Some(w) if w.is_valid(r) => (w.value(r), true),
            Some(_) => (1.0, false),
        };
        if input.mask.is_some_and(|m| !m[r]) {
            missing = missing.add_f64(w);
            continue;
        }
        let mut key = 0u64;
        for (&f, &stride) in input.factors.iter().zip(&strides) {
            let c = input.codes[f][r];
            if c == MISSING {
                missing = missing.add_f64(w);
                continue 'rows;
            }
            key += u64::from(c) * stride;
        }
        let cell = local.cell(key);
        if !w_ok {
            cell.push_missing(1.0);
            continue;
        }
        if w == 0.0 {
            continue;
        }
        match input.value {
            None => cell.push_count(w),
            Some(v) if v.is_valid(r) => {
                if input.weights.is_some() {
                    cell.push_weighted(v.value(r), w);
                } else {
                    cell.push(v.value(r));
                }
            }
            Some(_) => cell.push_missing(w),
        }
    }
    acc.missing = missing;
    let mut fold = |key: u64, m: &Moments| {
        if m.is_empty() {
            return;
        }
        let mut k = key;
        let cell: Vec<u32> = input
            .sizes
            .iter()
            .map(|&s| {
                let c = (k % s as u64) as u32;
                k /= s as u64;
                c
            })
            .collect();
        acc.cells.entry(cell).or_default().merge(m);
    };
    match &local {
        LocalCells::Dense(v) => v.iter().enumerate().for_each(|(k, m)| fold(k as u64, m)),
        LocalCells::Sparse(map) => map.iter().for_each(|(&k, m)| fold(k, m)),
    }
    Ok(())
}
