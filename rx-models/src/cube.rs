//! `rx_cube` and `rx_crosstabs`: counts, sums and means of a numeric response per cell of a
//! cross-classification by factors, with marginal totals and Pearson's chi-square test of
//! independence — RevoScaleR's `rxCube` and `rxCrossTabs` (which revoscalepy lacks), as PEMAs.
//!
//! The formula is `~ A:B` (counts) or `y ~ A:B` (sums or means of the numeric `y`, and counts).
//! The right-hand variables must be factors: factor or string columns, or `F(x)` for the integer
//! values of a numeric column. [`rx_cube`] takes one interaction term and returns the long form,
//! one row per cell (RevoScaleR's data frame: the factors, the response mean or sum, `Counts`),
//! also as an Arrow [`RecordBatch`] for any [`DataSink`]; [`rx_crosstabs`] takes one or more terms
//! and returns a contingency table per term with marginal totals and, with `chisq_test`, the
//! chi-square test of independence of each two-way table (for three or more factors, one test
//! per two-way slice, that is per combination of the third and further factors' levels).
//!
//! Cells list every combination of levels, first factor varying fastest (as `expand.grid`);
//! `remove_zero_counts` leaves out the cells without valid observations. A row with a missing
//! factor value or a missing response is left out of the counts and counted as missing. Weights
//! (`pweights` or `fweights`) make counts sums of weights and sums and means weighted; rows with
//! a missing weight are missing, rows with weight 0 do not count, negative weights are an error.
//! Level order is as in [`crate::summary`]: declared levels, then order of first appearance.
//!
//! The chi-square statistic is Pearson's `Σ (O − E)² / E` with `E = row total × column total /
//! total`, without continuity correction (R's `chisq.test(correct = FALSE)`), on the (weighted)
//! counts. Rows and columns of a table whose total is 0 are left out of the test (R would give
//! `NaN`; leaving them out equals dropping the unused levels first), so the degrees of freedom are
//! `(rows − 1)(columns − 1)` over the non-empty rows and columns; with fewer than two of either the
//! test has 0 degrees of freedom and no p value.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Float64Array, Int32Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use rx_core::factor::make_factor;
use rx_core::formula::{Formula, Var};
use rx_core::varinfo::META_LEVELS;
use rx_core::{
    ComputeContext, DataSink, DataSource, Error, Pema, Result, RxOptions, Step, WriteOptions,
};
use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};

use crate::dd::Dd;
use crate::dist::pchisq_upper;
use crate::summary::format::{
    Count, count, num, serialize_count, serialize_count_lists, serialize_counts, table,
};
use crate::summary::{
    CellsPartial, CellsSql, Moments, Plan, Resolved, Resolver, SummarySql, TermCells,
    cells_sql_from_plan, expand_dot, reject_offsets, weight_column,
};

/// Options of [`rx_cube`] (RevoScaleR's `rxCube` arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CubeOptions {
    /// True (default): the response's mean per cell; false: its sum.
    pub means: bool,
    /// Leave out the cells without valid observations.
    pub remove_zero_counts: bool,
    /// A column of probability weights.
    pub pweights: Option<String>,
    /// A column of frequency weights.
    pub fweights: Option<String>,
    /// Rows per chunk read.
    pub rows_per_read: usize,
    /// Blocks of an .xdf file per chunk read.
    pub blocks_per_read: usize,
}

impl Default for CubeOptions {
    fn default() -> Self {
        let rx = RxOptions::default();
        CubeOptions {
            means: true,
            remove_zero_counts: false,
            pweights: None,
            fweights: None,
            rows_per_read: rx.rows_per_read,
            blocks_per_read: rx.blocks_per_read,
        }
    }
}

/// Options of [`rx_crosstabs`] (RevoScaleR's `rxCrossTabs` arguments).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTabsOptions {
    /// False (default): the response's sum per cell; true: its mean.
    pub means: bool,
    /// Print marginal totals (they are always computed).
    pub marginals: bool,
    /// Add Pearson's chi-square test of independence for every two-way table.
    pub chisq_test: bool,
    /// A column of probability weights.
    pub pweights: Option<String>,
    /// A column of frequency weights.
    pub fweights: Option<String>,
    /// Rows per chunk read.
    pub rows_per_read: usize,
    /// Blocks of an .xdf file per chunk read.
    pub blocks_per_read: usize,
}

impl Default for CrossTabsOptions {
    fn default() -> Self {
        let rx = RxOptions::default();
        CrossTabsOptions {
            means: false,
            marginals: false,
            chisq_test: false,
            pweights: None,
            fweights: None,
            rows_per_read: rx.rows_per_read,
            blocks_per_read: rx.blocks_per_read,
        }
    }
}

macro_rules! shared_builders {
    ($t:ty) => {
        impl $t {
            /// Means (true) or sums (false) of the response.
            pub fn means(mut self, yes: bool) -> Self {
                self.means = yes;
                self
            }

            /// Probability weights from this column.
            pub fn pweights(mut self, column: impl Into<String>) -> Self {
                self.pweights = Some(column.into());
                self
            }

            /// Frequency weights from this column.
            pub fn fweights(mut self, column: impl Into<String>) -> Self {
                self.fweights = Some(column.into());
                self
            }

            /// Rows per chunk.
            pub fn rows_per_read(mut self, n: usize) -> Self {
                self.rows_per_read = n.max(1);
                self
            }

            /// Blocks per chunk.
            pub fn blocks_per_read(mut self, n: usize) -> Self {
                self.blocks_per_read = n.max(1);
                self
            }

            /// The shared options of a run.
            pub fn rx_options(&self) -> RxOptions {
                RxOptions::default()
                    .rows_per_read(self.rows_per_read)
                    .blocks_per_read(self.blocks_per_read)
                    .report_progress(0)
            }

            fn weights(&self) -> Option<(String, String)> {
                match (&self.pweights, &self.fweights) {
                    (Some(p), _) => Some((p.clone(), "pweights".into())),
                    (None, Some(f)) => Some((f.clone(), "fweights".into())),
                    (None, None) => None,
                }
            }
        }
    };
}

shared_builders!(CubeOptions);
shared_builders!(CrossTabsOptions);

impl CubeOptions {
    /// Leave out the empty cells.
    pub fn remove_zero_counts(mut self, yes: bool) -> Self {
        self.remove_zero_counts = yes;
        self
    }
}

impl CrossTabsOptions {
    /// Print marginal totals.
    pub fn marginals(mut self, yes: bool) -> Self {
        self.marginals = yes;
        self
    }

    /// Add the chi-square test of independence.
    pub fn chisq_test(mut self, yes: bool) -> Self {
        self.chisq_test = yes;
        self
    }
}

/// The resolved formula of a cube or cross tabulation.
#[derive(Debug, Clone)]
struct Tabulation {
    plan: Plan,
    response: Option<String>,
    formula: String,
    data: String,
}

impl Tabulation {
    fn new(
        what: &str,
        formula: &str,
        schema: &Schema,
        data: &str,
        weights: (Option<&str>, Option<&str>),
    ) -> Result<Self> {
        let parsed = Formula::parse(formula)?;
        let resolver = Resolver {
            schema,
            source: data,
            formula,
        };
        let w = weight_column(&resolver, weights.0, weights.1)?;
        reject_offsets(&parsed, what)?;
        let parsed = expand_dot(&parsed, schema, w.as_deref());
        if parsed.terms.is_empty() {
            return Err(Error::Formula {
                formula: formula.to_string(),
                position: formula.len(),
                message: format!(
                    "{what} needs factors to cross-classify by, as in `y ~ A:B` or `~ A:B`"
                ),
            });
        }
        if let Some(r) = &parsed.response
            && let Resolved::Factor(_) = resolver.resolve(r)?
        {
            return Err(Error::invalid(format!(
                "the response '{}' of `{formula}` is a factor; {what} sums or averages a numeric \
                 response (count factor combinations with `~ {}:...`)",
                r.name(),
                r
            )));
        }
        for t in &parsed.terms {
            for v in &t.vars {
                if let Resolved::Numeric(_) = resolver.resolve(v)? {
                    let hint = match v {
                        Var::Column(c) => format!("use F({c}) for its integer values as levels"),
                        _ => "use a factor".to_string(),
                    };
                    return Err(Error::invalid(format!(
                        "'{}' in `{formula}` is numeric; {what} cross-classifies by factors: {hint}",
                        v.name()
                    )));
                }
            }
        }
        let terms: Vec<Vec<Var>> = parsed
            .terms
            .iter()
            .map(|t| {
                let mut vars: Vec<Var> = parsed.response.iter().cloned().collect();
                vars.extend(t.vars.iter().cloned());
                vars
            })
            .collect();
        let plan = Plan::build(&resolver, &terms, w, true)?;
        Ok(Tabulation {
            plan,
            response: parsed.response.as_ref().map(Var::name),
            formula: formula.to_string(),
            data: data.to_string(),
        })
    }

    fn factor_names(&self, t: usize) -> Vec<String> {
        self.plan.terms[t]
            .factors
            .iter()
            .map(|&f| self.plan.factors[f].name.clone())
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// rx_cube

/// One cell of a cube.
#[derive(Debug, Clone, PartialEq)]
pub struct CubeCell {
    /// The level of each factor.
    pub levels: Vec<String>,
    /// The response's mean (or sum) in the cell; `None` without a response or without valid
    /// observations (a sum is 0 then).
    pub value: Option<f64>,
    /// Valid observations (sum of weights when weighted).
    pub counts: f64,
}

/// The result of [`rx_cube`]: one row per cell.
#[derive(Debug, Clone, PartialEq)]
pub struct RxCube {
    /// The formula as given.
    pub formula: String,
    /// The data source's name.
    pub data: String,
    /// The factors (`A`, `F(x)`).
    pub factors: Vec<String>,
    /// Every level of each factor, in order.
    pub levels: Vec<Vec<String>>,
    /// The response, if any.
    pub response: Option<String>,
    /// Means (true) or sums (false) of the response.
    pub means: bool,
    /// The weight column and its kind.
    pub weights: Option<(String, String)>,
    /// The cells, first factor varying fastest.
    pub cells: Vec<CubeCell>,
    /// Valid observations over all cells.
    pub valid_obs: f64,
    /// Missing observations (a factor or the response missing).
    pub missing_obs: f64,
}

impl Serialize for RxCube {
    /// The result's fields, with `cells` as rows keyed like the data frame RevoScaleR returns:
    /// each factor by name, the response by name, and `Counts`.
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Row<'a>(&'a RxCube, &'a CubeCell);
        impl Serialize for Row<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let (cube, cell) = (self.0, self.1);
                let mut m = s.serialize_map(None)?;
                for (f, l) in cube.factors.iter().zip(&cell.levels) {
                    m.serialize_entry(f, l)?;
                }
                if let Some(r) = &cube.response {
                    m.serialize_entry(r, &cell.value)?;
                }
                m.serialize_entry("Counts", &Count(cell.counts))?;
                m.end()
            }
        }
        let rows: Vec<Row<'_>> = self.cells.iter().map(|c| Row(self, c)).collect();
        let mut st = s.serialize_struct("RxCube", 10)?;
        st.serialize_field("formula", &self.formula)?;
        st.serialize_field("data", &self.data)?;
        st.serialize_field("factors", &self.factors)?;
        st.serialize_field("levels", &self.levels)?;
        st.serialize_field("response", &self.response)?;
        st.serialize_field("means", &self.means)?;
        st.serialize_field("weights", &self.weights)?;
        st.serialize_field("valid_obs", &Count(self.valid_obs))?;
        st.serialize_field("missing_obs", &Count(self.missing_obs))?;
        st.serialize_field("cells", &rows)?;
        st.end()
    }
}

/// The column name RevoScaleR gives a factor in a cube's data frame: `F(x)` becomes `F_x`.
fn column_name(factor: &str) -> String {
    match factor.strip_prefix("F(").and_then(|s| s.strip_suffix(')')) {
        Some(c) => format!("F_{c}"),
        None => factor.to_string(),
    }
}

impl RxCube {
    /// The cell of a combination of levels.
    pub fn cell(&self, levels: &[&str]) -> Option<&CubeCell> {
        self.cells.iter().find(|c| {
            c.levels
                .iter()
                .map(String::as_str)
                .eq(levels.iter().copied())
        })
    }

    /// The cube as a record batch, as revoscalepy returns a data frame: one factor column per
    /// factor (`F(x)` named `F_x`; every level in its dictionary and `rx:levels`), the response
    /// (`Float64`, null where undefined), and `Counts` (`Int64`, or `Float64` when weighted).
    pub fn to_record_batch(&self) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        for (i, (name, levels)) in self.factors.iter().zip(&self.levels).enumerate() {
            let index: HashMap<&str, i32> = levels
                .iter()
                .enumerate()
                .map(|(j, l)| (l.as_str(), j as i32))
                .collect();
            let codes: Int32Array = self
                .cells
                .iter()
                .map(|c| c.levels.get(i).and_then(|l| index.get(l.as_str()).copied()))
                .collect();
            let array = make_factor(codes, levels)?;
            let meta = HashMap::from([(
                META_LEVELS.to_string(),
                serde_json::to_string(levels).unwrap_or_default(),
            )]);
            fields.push(
                Field::new(column_name(name), array.data_type().clone(), true).with_metadata(meta),
            );
            columns.push(Arc::new(array));
        }
        if let Some(r) = &self.response {
            fields.push(Field::new(r, DataType::Float64, true));
            columns.push(Arc::new(Float64Array::from_iter(
                self.cells.iter().map(|c| c.value),
            )));
        }
        if self.weights.is_some() {
            fields.push(Field::new("Counts", DataType::Float64, false));
            columns.push(Arc::new(Float64Array::from_iter_values(
                self.cells.iter().map(|c| c.counts),
            )));
        } else {
            fields.push(Field::new("Counts", DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                self.cells.iter().map(|c| c.counts as i64),
            )));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| Error::arrow("building the cube's record batch", e))
    }

    /// Writes the cube (see [`RxCube::to_record_batch`]) to a sink; returns the rows written.
    pub fn write(&self, sink: &dyn DataSink, options: &WriteOptions) -> Result<u64> {
        let batch = self.to_record_batch()?;
        let mut writer = sink.create(batch.schema(), options)?;
        writer.write(&batch)?;
        writer.finish()
    }
}

/// `rx_cube` as a PEMA.
#[derive(Debug, Clone)]
pub struct CubePema {
    tab: Tabulation,
    options: CubeOptions,
}

impl CubePema {
    /// Resolves `formula` (one interaction term of factors, optionally a numeric response)
    /// against the schema of the data named `data`.
    pub fn new(formula: &str, schema: &Schema, data: &str, options: &CubeOptions) -> Result<Self> {
        let tab = Tabulation::new(
            "rx_cube",
            formula,
            schema,
            data,
            (options.pweights.as_deref(), options.fweights.as_deref()),
        )?;
        if tab.plan.terms.len() != 1 {
            return Err(Error::invalid(format!(
                "rx_cube takes one interaction term, as in `y ~ A:B`; `{formula}` has {} terms \
                 (write A:B instead of A + B, or use rx_crosstabs for a table per term)",
                tab.plan.terms.len()
            )));
        }
        Ok(CubePema {
            tab,
            options: options.clone(),
        })
    }
}

cells_sql_from_plan!(CubePema, tab.plan);

impl Pema for CubePema {
    type Partial = CellsPartial;
    type Output = RxCube;

    fn columns(&self) -> Vec<String> {
        self.tab.plan.columns.clone()
    }

    fn init(&self) -> CellsPartial {
        self.tab.plan.init()
    }

    fn process(&self, acc: &mut CellsPartial, chunk: &RecordBatch) -> Result<()> {
        self.tab.plan.process(acc, chunk)
    }

    fn merge(&self, into: &mut CellsPartial, other: CellsPartial) -> Result<()> {
        self.tab.plan.merge(into, other)
    }

    fn finish(&mut self, acc: CellsPartial) -> Result<Step<RxCube>> {
        let plan = &self.tab.plan;
        let fl = plan.final_levels(&acc)?;
        let term = &plan.terms[0];
        let cells = plan.term_cells(0, &acc, &fl, self.options.remove_zero_counts)?;
        let has_response = self.tab.response.is_some();
        let means = self.options.means;
        let cells: Vec<CubeCell> = cells
            .iter()
            .map(|(key, m)| CubeCell {
                levels: key
                    .iter()
                    .zip(&term.factors)
                    .map(|(&c, &f)| fl.levels[f][c as usize].clone())
                    .collect(),
                value: match (has_response, means) {
                    (false, _) => None,
                    (true, true) => m.mean(),
                    (true, false) => Some(m.sum().unwrap_or(0.0)),
                },
                counts: m.valid_obs(),
            })
            .collect();
        Ok(Step::Done(RxCube {
            formula: self.tab.formula.clone(),
            data: self.tab.data.clone(),
            factors: self.tab.factor_names(0),
            levels: term.factors.iter().map(|&f| fl.levels[f].clone()).collect(),
            response: self.tab.response.clone(),
            means,
            weights: self.options.weights(),
            valid_obs: cells.iter().map(|c| c.counts).sum(),
            missing_obs: acc.terms[0].missing_obs(),
            cells,
        }))
    }
}

/// Counts, and sums or means of a numeric response, per cell of a cross-classification by
/// factors, in long form (RevoScaleR's `rxCube`).
///
/// ```
/// use std::sync::Arc;
/// use rx_core::RxLocalSeq;
/// use rx_core::arrow::array::{ArrayRef, Float64Array, StringArray};
/// use rx_core::arrow::record_batch::RecordBatch;
/// use rx_data::MemoryData;
/// use rx_models::cube::{CubeOptions, rx_cube};
///
/// let y: ArrayRef = Arc::new(Float64Array::from(vec![1.0, 3.0, 5.0]));
/// let a: ArrayRef = Arc::new(StringArray::from(vec!["p", "q", "p"]));
/// let batch = RecordBatch::try_from_iter([("y", y), ("a", a)]).unwrap();
/// let data = MemoryData::from_batches(vec![batch])?;
/// let cube = rx_cube("y ~ a", &data, &CubeOptions::default(), &RxLocalSeq)?;
/// let p = cube.cell(&["p"]).unwrap();
/// assert_eq!((p.value, p.counts), (Some(3.0), 2.0));
/// # Ok::<(), rx_core::Error>(())
/// ```
pub fn rx_cube(
    formula: &str,
    data: &dyn DataSource,
    options: &CubeOptions,
    context: &impl ComputeContext,
) -> Result<RxCube> {
    let schema = data.schema()?;
    let mut pema = CubePema::new(formula, &schema, &data.name(), options)?;
    context.run(&mut pema, data, &options.rx_options())
}

impl fmt::Display for RxCube {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Call:")?;
        writeln!(
            f,
            "rxCube(formula = {}, data = {}{})\n",
            self.formula,
            self.data,
            if self.means { "" } else { ", means = FALSE" }
        )?;
        writeln!(f, "Cube Results for: {}", self.formula)?;
        writeln!(f, "Data: {}", self.data)?;
        if let Some(r) = &self.response {
            writeln!(f, "Dependent variable(s): {r}")?;
        }
        writeln!(f, "Number of valid observations: {}", count(self.valid_obs))?;
        writeln!(
            f,
            "Number of missing observations: {}",
            count(self.missing_obs)
        )?;
        if let Some(r) = &self.response {
            writeln!(
                f,
                "Statistic: {r} {}",
                if self.means { "means" } else { "sums" }
            )?;
        } else {
            writeln!(f, "Statistic: counts")?;
        }
        writeln!(f)?;
        let mut header = vec![String::new()];
        header.extend(self.factors.iter().map(|n| column_name(n)));
        header.extend(self.response.iter().cloned());
        header.push("Counts".into());
        let rows: Vec<Vec<String>> = self
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut r = vec![(i + 1).to_string()];
                r.extend(c.levels.iter().cloned());
                if self.response.is_some() {
                    r.push(num(c.value));
                }
                r.push(count(c.counts));
                r
            })
            .collect();
        f.write_str(&table(&header, &rows, &[]))
    }
}

// ---------------------------------------------------------------------------------------------
// rx_crosstabs

/// Pearson's chi-square test of independence of one two-way table (or one two-way slice).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChiSquareTest {
    /// The two factors tested.
    pub factors: (String, String),
    /// For a slice of a table of three or more factors: the other factors and their levels.
    pub strata: Vec<(String, String)>,
    /// `Σ (O − E)² / E` over the non-empty rows and columns.
    pub statistic: f64,
    /// `(rows − 1)(columns − 1)` over the non-empty rows and columns.
    pub df: u64,
    /// The upper tail probability of the chi-square distribution; `None` when `df` is 0.
    pub p_value: Option<f64>,
    /// The total count of the table.
    #[serde(serialize_with = "serialize_count")]
    pub n: f64,
}

/// Marginal totals of a table: per factor, over all other factors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Marginals {
    /// Per factor, the count of each level.
    #[serde(serialize_with = "serialize_count_lists")]
    pub counts: Vec<Vec<f64>>,
    /// Per factor, the response's sum for each level (with a response).
    pub sums: Option<Vec<Vec<f64>>>,
    /// Per factor, the response's mean for each level (with a response).
    pub means: Option<Vec<Vec<Option<f64>>>>,
    /// The total count.
    #[serde(serialize_with = "serialize_count")]
    pub total: f64,
    /// The response's total sum (with a response).
    pub total_sum: Option<f64>,
    /// The response's overall mean (with a response).
    pub total_mean: Option<f64>,
}

/// The cross tabulation of one term.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossTab {
    /// The term (`A:B`).
    pub name: String,
    /// The factors.
    pub factors: Vec<String>,
    /// Every level of each factor.
    pub levels: Vec<Vec<String>>,
    /// Counts (sums of weights when weighted) per cell, first factor varying fastest.
    #[serde(serialize_with = "serialize_counts")]
    pub counts: Vec<f64>,
    /// The response's sum per cell (0 for an empty cell), with a response.
    pub sums: Option<Vec<f64>>,
    /// The response's mean per cell (`None` for an empty cell), with a response.
    pub means: Option<Vec<Option<f64>>>,
    /// Marginal totals.
    pub marginals: Marginals,
    /// Chi-square tests of independence (with `chisq_test`): one for a two-way table, one per
    /// two-way slice for more factors.
    pub chisq: Vec<ChiSquareTest>,
    /// Valid observations.
    #[serde(serialize_with = "serialize_count")]
    pub valid_obs: f64,
    /// Missing observations (a factor or the response missing).
    #[serde(serialize_with = "serialize_count")]
    pub missing_obs: f64,
}

impl CrossTab {
    fn index(&self, levels: &[&str]) -> Option<usize> {
        if levels.len() != self.levels.len() {
            return None;
        }
        let mut index = 0;
        let mut stride = 1;
        for (l, all) in levels.iter().zip(&self.levels) {
            index += all.iter().position(|x| x == l)? * stride;
            stride *= all.len();
        }
        Some(index)
    }

    /// The count of a cell given its levels.
    pub fn count(&self, levels: &[&str]) -> Option<f64> {
        self.counts.get(self.index(levels)?).copied()
    }

    /// The response's sum in a cell.
    pub fn sum(&self, levels: &[&str]) -> Option<f64> {
        self.sums.as_ref()?.get(self.index(levels)?).copied()
    }

    /// The response's mean in a cell (`None` also for an empty cell).
    pub fn mean(&self, levels: &[&str]) -> Option<f64> {
        self.means
            .as_ref()?
            .get(self.index(levels)?)
            .copied()
            .flatten()
    }
}

/// The result of [`rx_crosstabs`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RxCrossTabs {
    /// The formula as given.
    pub formula: String,
    /// The data source's name.
    pub data: String,
    /// The response, if any.
    pub depvar: Option<String>,
    /// Means (true) or sums (false) of the response are the printed statistic.
    pub means: bool,
    /// The weight column and its kind.
    pub weights: Option<(String, String)>,
    /// One table per term.
    pub tables: Vec<CrossTab>,
    /// Print marginal totals.
    #[serde(skip)]
    pub marginals: bool,
}

impl RxCrossTabs {
    /// The table of a term by name (`A:B`).
    pub fn table(&self, name: &str) -> Option<&CrossTab> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// `rx_crosstabs` as a PEMA.
#[derive(Debug, Clone)]
pub struct CrossTabsPema {
    tab: Tabulation,
    options: CrossTabsOptions,
}

impl CrossTabsPema {
    /// Resolves `formula` (terms of factors, optionally a numeric response) against the schema of
    /// the data named `data`.
    pub fn new(
        formula: &str,
        schema: &Schema,
        data: &str,
        options: &CrossTabsOptions,
    ) -> Result<Self> {
        let tab = Tabulation::new(
            "rx_crosstabs",
            formula,
            schema,
            data,
            (options.pweights.as_deref(), options.fweights.as_deref()),
        )?;
        if options.chisq_test
            && let Some(t) = tab.plan.terms.iter().find(|t| t.factors.len() < 2)
        {
            return Err(Error::invalid(format!(
                "the chi-square test of independence needs two factors per term, as in `~ A:B`; \
                 the term '{}' of `{formula}` has one",
                t.name
            )));
        }
        Ok(CrossTabsPema {
            tab,
            options: options.clone(),
        })
    }
}

cells_sql_from_plan!(CrossTabsPema, tab.plan);

impl Pema for CrossTabsPema {
    type Partial = CellsPartial;
    type Output = RxCrossTabs;

    fn columns(&self) -> Vec<String> {
        self.tab.plan.columns.clone()
    }

    fn init(&self) -> CellsPartial {
        self.tab.plan.init()
    }

    fn process(&self, acc: &mut CellsPartial, chunk: &RecordBatch) -> Result<()> {
        self.tab.plan.process(acc, chunk)
    }

    fn merge(&self, into: &mut CellsPartial, other: CellsPartial) -> Result<()> {
        self.tab.plan.merge(into, other)
    }

    fn finish(&mut self, acc: CellsPartial) -> Result<Step<RxCrossTabs>> {
        let plan = &self.tab.plan;
        let fl = plan.final_levels(&acc)?;
        let has_response = self.tab.response.is_some();
        let mut tables = Vec::with_capacity(plan.terms.len());
        for (t, term) in plan.terms.iter().enumerate() {
            let cells = plan.term_cells(t, &acc, &fl, false)?;
            let levels: Vec<Vec<String>> =
                term.factors.iter().map(|&f| fl.levels[f].clone()).collect();
            let factors = self.tab.factor_names(t);
            // Marginal accumulators per factor and level, and the grand total.
            let mut margins: Vec<Vec<Moments>> = levels
                .iter()
                .map(|l| vec![Moments::new(); l.len()])
                .collect();
            let mut total = Moments::new();
            for (key, m) in &cells {
                for (j, &c) in key.iter().enumerate() {
                    margins[j][c as usize].merge(m);
                }
                total.merge(m);
            }
            let sum_of = |m: &Moments| m.sum().unwrap_or(0.0);
            let counts: Vec<f64> = cells.iter().map(|(_, m)| m.valid_obs()).collect();
            let marginals = Marginals {
                counts: margins
                    .iter()
                    .map(|ms| ms.iter().map(Moments::valid_obs).collect())
                    .collect(),
                sums: has_response.then(|| {
                    margins
                        .iter()
                        .map(|ms| ms.iter().map(sum_of).collect())
                        .collect()
                }),
                means: has_response.then(|| {
                    margins
                        .iter()
                        .map(|ms| ms.iter().map(Moments::mean).collect())
                        .collect()
                }),
                total: total.valid_obs(),
                total_sum: has_response.then(|| sum_of(&total)),
                total_mean: if has_response { total.mean() } else { None },
            };
            let chisq = if self.options.chisq_test {
                chi_square_tests(&factors, &levels, &counts)
            } else {
                Vec::new()
            };
            tables.push(CrossTab {
                name: factors.join(":"),
                factors,
                sums: has_response.then(|| cells.iter().map(|(_, m)| sum_of(m)).collect()),
                means: has_response.then(|| cells.iter().map(|(_, m)| m.mean()).collect()),
                valid_obs: total.valid_obs(),
                missing_obs: acc.terms[t].missing_obs(),
                levels,
                counts,
                marginals,
                chisq,
            });
        }
        Ok(Step::Done(RxCrossTabs {
            formula: self.tab.formula.clone(),
            data: self.tab.data.clone(),
            depvar: self.tab.response.clone(),
            means: self.options.means,
            weights: self.options.weights(),
            tables,
            marginals: self.options.marginals,
        }))
    }
}

/// Chi-square tests of the two-way slices of a dense table (first factor fastest).
fn chi_square_tests(
    factors: &[String],
    levels: &[Vec<String>],
    counts: &[f64],
) -> Vec<ChiSquareTest> {
    if levels.len() < 2 {
        return Vec::new();
    }
    let (nr, nc) = (levels[0].len(), levels[1].len());
    let slice_len = nr * nc;
    let outer: Vec<usize> = levels[2..].iter().map(Vec::len).collect();
    let slices: usize = outer.iter().product();
    let mut out = Vec::with_capacity(slices);
    for s in 0..slices {
        let mut strata = Vec::with_capacity(outer.len());
        let mut rest = s;
        for (j, &len) in outer.iter().enumerate() {
            strata.push((factors[j + 2].clone(), levels[j + 2][rest % len].clone()));
            rest /= len;
        }
        let o = |i: usize, j: usize| {
            counts
                .get(s * slice_len + i + j * nr)
                .copied()
                .unwrap_or(0.0)
        };
        out.push(chi_square(
            (factors[0].clone(), factors[1].clone()),
            strata,
            nr,
            nc,
            o,
        ));
    }
    out
}

/// Pearson's chi-square test of an `nr × nc` table of counts `o(i, j)`, leaving out empty rows
/// and columns.
fn chi_square(
    factors: (String, String),
    strata: Vec<(String, String)>,
    nr: usize,
    nc: usize,
    o: impl Fn(usize, usize) -> f64,
) -> ChiSquareTest {
    let sum = |it: &mut dyn Iterator<Item = f64>| it.fold(Dd::ZERO, |a, x| a.add_f64(x)).to_f64();
    let rows: Vec<f64> = (0..nr)
        .map(|i| sum(&mut (0..nc).map(|j| o(i, j))))
        .collect();
    let cols: Vec<f64> = (0..nc)
        .map(|j| sum(&mut (0..nr).map(|i| o(i, j))))
        .collect();
    let n = sum(&mut rows.iter().copied());
    let used_rows: Vec<usize> = (0..nr).filter(|&i| rows[i] > 0.0).collect();
    let used_cols: Vec<usize> = (0..nc).filter(|&j| cols[j] > 0.0).collect();
    let df = (used_rows.len().saturating_sub(1) * used_cols.len().saturating_sub(1)) as u64;
    let mut stat = Dd::ZERO;
    for &i in &used_rows {
        for &j in &used_cols {
            let e = rows[i] * cols[j] / n;
            let d = o(i, j) - e;
            stat = stat.add_f64(d * d / e);
        }
    }
    let statistic = stat.to_f64();
    let p_value = (df > 0)
        .then(|| pchisq_upper(statistic, df as f64))
        .filter(|p| p.is_finite());
    ChiSquareTest {
        factors,
        strata,
        statistic,
        df,
        p_value,
        n,
    }
}

/// Counts, and sums or means of a numeric response, per cell of each term's cross-classification,
/// with marginal totals and optionally the chi-square test of independence (RevoScaleR's
/// `rxCrossTabs`).
///
/// ```
/// use std::sync::Arc;
/// use rx_core::RxLocalSeq;
/// use rx_core::arrow::array::{ArrayRef, StringArray};
/// use rx_core::arrow::record_batch::RecordBatch;
/// use rx_data::MemoryData;
/// use rx_models::cube::{CrossTabsOptions, rx_crosstabs};
///
/// let a: ArrayRef = Arc::new(StringArray::from(vec!["p", "q", "p", "q"]));
/// let b: ArrayRef = Arc::new(StringArray::from(vec!["u", "u", "v", "u"]));
/// let batch = RecordBatch::try_from_iter([("a", a), ("b", b)]).unwrap();
/// let data = MemoryData::from_batches(vec![batch])?;
/// let x = rx_crosstabs("~ a:b", &data, &CrossTabsOptions::default(), &RxLocalSeq)?;
/// let t = x.table("a:b").unwrap();
/// assert_eq!(t.count(&["q", "u"]), Some(2.0));
/// assert_eq!(t.marginals.counts[0], [2.0, 2.0]);
/// # Ok::<(), rx_core::Error>(())
/// ```
pub fn rx_crosstabs(
    formula: &str,
    data: &dyn DataSource,
    options: &CrossTabsOptions,
    context: &impl ComputeContext,
) -> Result<RxCrossTabs> {
    let schema = data.schema()?;
    let mut pema = CrossTabsPema::new(formula, &schema, &data.name(), options)?;
    context.run(&mut pema, data, &options.rx_options())
}

impl fmt::Display for RxCrossTabs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Call:")?;
        writeln!(
            f,
            "rxCrossTabs(formula = {}, data = {})\n",
            self.formula, self.data
        )?;
        writeln!(f, "Cross Tabulation Results for: {}", self.formula)?;
        writeln!(f, "Data: {}", self.data)?;
        if let Some(d) = &self.depvar {
            writeln!(f, "Dependent variable(s): {d}")?;
        }
        let statistic = match (&self.depvar, self.means) {
            (None, _) => "counts",
            (Some(_), false) => "sums",
            (Some(_), true) => "means",
        };
        for t in &self.tables {
            writeln!(f, "Number of valid observations: {}", count(t.valid_obs))?;
            writeln!(
                f,
                "Number of missing observations: {}",
                count(t.missing_obs)
            )?;
            writeln!(f, "Statistic: {statistic}\n")?;
            let title = match &self.depvar {
                Some(d) => format!("{d} ({statistic})"),
                None => format!("{} (counts)", t.name),
            };
            writeln!(f, "{title}:")?;
            let values: Vec<String> = match (&self.depvar, self.means) {
                (None, _) => t.counts.iter().map(|&c| count(c)).collect(),
                (Some(_), false) => t.sums.iter().flatten().map(|&s| num(Some(s))).collect(),
                (Some(_), true) => t.means.iter().flatten().map(|&m| num(m)).collect(),
            };
            write_table(f, t, &values, self.marginals, statistic)?;
            for c in &t.chisq {
                writeln!(
                    f,
                    "\nChi-squared test of independence between {} and {}{}",
                    c.factors.0,
                    c.factors.1,
                    if c.strata.is_empty() {
                        String::new()
                    } else {
                        format!(
                            " ({})",
                            c.strata
                                .iter()
                                .map(|(k, v)| format!("{k} = {v}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                )?;
                f.write_str(&table(
                    &["X-squared".into(), "df".into(), "p-value".into()],
                    &[vec![
                        num(Some(c.statistic)),
                        c.df.to_string(),
                        num(c.p_value),
                    ]],
                    &[],
                ))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// Prints a table as R prints an `xtabs`: two-way slices with the first factor down and the
/// second across, one slice per combination of the other factors' levels.
fn write_table(
    f: &mut fmt::Formatter<'_>,
    t: &CrossTab,
    values: &[String],
    marginals: bool,
    statistic: &str,
) -> fmt::Result {
    let k = t.levels.len();
    if k == 0 {
        return Ok(());
    }
    let nr = t.levels[0].len();
    let nc = t.levels.get(1).map_or(1, Vec::len);
    let outer: Vec<usize> = t.levels.iter().skip(2).map(Vec::len).collect();
    let slices: usize = outer.iter().product();
    let counts_shown = statistic == "counts";
    for s in 0..slices {
        if !outer.is_empty() {
            let mut rest = s;
            let mut parts = Vec::new();
            for (j, &len) in outer.iter().enumerate() {
                parts.push(format!(
                    "{} = {}",
                    t.factors[j + 2],
                    t.levels[j + 2][rest % len]
                ));
                rest /= len;
            }
            writeln!(f, ", , {}\n", parts.join(", "))?;
        }
        let cell = |i: usize, j: usize| {
            values
                .get(s * nr * nc + i + j * nr)
                .cloned()
                .unwrap_or_default()
        };
        let count_at = |i: usize, j: usize| {
            t.counts
                .get(s * nr * nc + i + j * nr)
                .copied()
                .unwrap_or(0.0)
        };
        let mut header = vec![t.factors[0].clone()];
        if k == 1 {
            header.push(statistic.to_string());
        } else {
            header.extend(t.levels[1].iter().cloned());
        }
        let totals = marginals && counts_shown && k >= 2;
        if totals {
            header.push("Row Total".into());
        }
        let mut rows: Vec<Vec<String>> = (0..nr)
            .map(|i| {
                let mut r = vec![t.levels[0][i].clone()];
                r.extend((0..nc).map(|j| cell(i, j)));
                if totals {
                    r.push(count((0..nc).map(|j| count_at(i, j)).sum()));
                }
                r
            })
            .collect();
        if totals {
            let mut r = vec!["Col Total".to_string()];
            r.extend((0..nc).map(|j| count((0..nr).map(|i| count_at(i, j)).sum())));
            r.push(count(
                (0..nr)
                    .flat_map(|i| (0..nc).map(move |j| (i, j)))
                    .map(|(i, j)| count_at(i, j))
                    .sum(),
            ));
            rows.push(r);
        }
        if k >= 2 {
            // The second factor's name above the first column of levels, as R prints it.
            let first = rows
                .iter()
                .map(|r| r[0].chars().count())
                .chain([t.factors[0].chars().count()])
                .max()
                .unwrap_or(0);
            writeln!(f, " {:first$} {}", "", t.factors[1])?;
        }
        f.write_str(&table(&header, &rows, &[true]))?;
        if !outer.is_empty() {
            writeln!(f)?;
        }
    }
    Ok(())
}
