//! `rx_summary`: mean, standard deviation, minimum, maximum, sum and valid/missing counts of
//! numeric terms, level counts of factors, and statistics of a variable per category of factors —
//! RevoScaleR's `rxSummary` / revoscalepy's `rx_summary`, as a PEMA.
//!
//! # Terms
//!
//! - a numeric or logical column, `I(expr)`, `log(x)`, ... and `N(f)` (a factor's codes, from 1):
//!   a row of [`RxSummary::numeric`];
//! - a factor column, a string column (treated as a factor) or `F(x)` (the integers of a numeric
//!   column as levels `low..high`): level counts in [`RxSummary::factors`]; an interaction of
//!   factors (`~ A:B`) counts each combination;
//! - a numeric variable crossed with factors, `~ y:F` or `y ~ F` (each right-hand term crossed
//!   with the response), `~ y:F:G`: statistics of `y` per category, [`RxSummary::by_category`]
//!   (RevoScaleR's "Statistics by category"). Numeric variables in one term multiply (`~ x:z` is
//!   the product, as in R);
//! - `.`: every numeric, logical, factor and string column except the weights.
//!
//! # Numerics
//!
//! Each cell keeps a [`Moments`]: a shift (its first value) and the shifted sums in double-double
//! arithmetic, so mean and standard deviation are as accurate as a corrected two-pass algorithm in
//! one pass, also on data far from zero relative to its spread, and partials merge exactly up to
//! double-double rounding. On the NIST StRD univariate sets the means reach LRE 15 (all
//! digits) and the standard deviations 13.1 (Mavro) to 15, and 9.5 and 8.3 on NumAcc3 and NumAcc4,
//! which is what exact arithmetic on the float64-parsed values gives there.
//!
//! # Missing values and weights
//!
//! Nulls, NaN and infinities are missing. By term (the default, `by_term = true`) each term counts
//! its own missing rows; with `by_term = false` a row missing in any term is missing in all.
//! Frequency weights (`fweights`) count each row `w` times: `valid_obs` is the sum of the weights
//! and the standard deviation divides by `sum(w) − 1`. Probability weights (`pweights`) give the
//! weighted mean and the same variance formula: RevoScaleR treats `pweights` like `fweights` in
//! summaries, and so does revoscale, so that the two agree. Rows with weight 0 do not count; a
//! negative weight is an error; a row whose weight is missing counts as one missing observation of
//! every term.
//!
//! # Factor levels
//!
//! Levels are reported in the variable's declared order when the data declares them (the
//! `rx:levels` field metadata, or the dictionary of a factor column, in code order; `low..high`
//! for `F(x)` when the bounds are given or in the column's `rx:low`/`rx:high` metadata), then in
//! order of first appearance; `F(x)` without known bounds has every integer from the smallest to
//! the largest value. Partials merge levels by name. Every level is listed, with count 0 where
//! nothing was seen, unless `remove_zero_counts`.

mod cells;
pub(crate) mod format;
mod moments;

use std::fmt;

use arrow::datatypes::Schema;
use arrow::record_batch::RecordBatch;
use rx_core::formula::{Formula, Var};
use rx_core::{ComputeContext, DataSource, Error, Pema, Result, RxOptions, Step};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

pub use cells::CellsPartial;
pub(crate) use cells::{Plan, Resolved, Resolver, is_supported};
pub use moments::Moments;

use format::{Count, serialize_count};

/// A statistic `rx_summary` can print (revoscalepy's `summary_stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SummaryStat {
    /// The (weighted) mean.
    Mean,
    /// The standard deviation, denominator `n − 1` (or `sum(w) − 1`).
    StdDev,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
    /// The number (or weight) of valid observations.
    ValidObs,
    /// The number (or weight) of missing observations.
    MissingObs,
    /// The (weighted) sum.
    Sum,
}

impl SummaryStat {
    /// The statistics RevoScaleR prints by default: all but `Sum`.
    pub const DEFAULT: [SummaryStat; 6] = [
        SummaryStat::Mean,
        SummaryStat::StdDev,
        SummaryStat::Min,
        SummaryStat::Max,
        SummaryStat::ValidObs,
        SummaryStat::MissingObs,
    ];

    /// The column header RevoScaleR prints.
    pub fn header(self) -> &'static str {
        match self {
            SummaryStat::Mean => "Mean",
            SummaryStat::StdDev => "StdDev",
            SummaryStat::Min => "Min",
            SummaryStat::Max => "Max",
            SummaryStat::ValidObs => "ValidObs",
            SummaryStat::MissingObs => "MissingObs",
            SummaryStat::Sum => "Sum",
        }
    }

    fn value(self, s: &NumericSummary) -> String {
        use format::{count, num};
        match self {
            SummaryStat::Mean => num(s.mean),
            SummaryStat::StdDev => num(s.std_dev),
            SummaryStat::Min => num(s.min),
            SummaryStat::Max => num(s.max),
            SummaryStat::ValidObs => count(s.valid_obs),
            SummaryStat::MissingObs => count(s.missing_obs),
            SummaryStat::Sum => num(s.sum),
        }
    }
}

impl std::str::FromStr for SummaryStat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().replace('_', "").as_str() {
            "mean" => SummaryStat::Mean,
            "stddev" => SummaryStat::StdDev,
            "min" => SummaryStat::Min,
            "max" => SummaryStat::Max,
            "validobs" => SummaryStat::ValidObs,
            "missingobs" => SummaryStat::MissingObs,
            "sum" => SummaryStat::Sum,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown summary statistic '{s}'; use Mean, StdDev, Min, Max, ValidObs, \
                     MissingObs or Sum"
                )));
            }
        })
    }
}

/// Options of [`rx_summary`] (revoscalepy's arguments of the same names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryOptions {
    /// The statistics printed by `Display` (all are computed); default: all but `Sum`.
    pub summary_stats: Vec<SummaryStat>,
    /// True (default): missing values are removed term by term; false: a row with a missing
    /// value in any term is left out of every term.
    pub by_term: bool,
    /// A column of probability weights.
    pub pweights: Option<String>,
    /// A column of frequency weights.
    pub fweights: Option<String>,
    /// Leave out factor levels (and category cells) without valid observations.
    pub remove_zero_counts: bool,
    /// Rows per chunk read.
    pub rows_per_read: usize,
    /// Blocks of an .xdf file per chunk read.
    pub blocks_per_read: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        let rx = RxOptions::default();
        SummaryOptions {
            summary_stats: SummaryStat::DEFAULT.to_vec(),
            by_term: true,
            pweights: None,
            fweights: None,
            remove_zero_counts: false,
            rows_per_read: rx.rows_per_read,
            blocks_per_read: rx.blocks_per_read,
        }
    }
}

impl SummaryOptions {
    /// The statistics to print.
    pub fn summary_stats(mut self, stats: impl IntoIterator<Item = SummaryStat>) -> Self {
        self.summary_stats = stats.into_iter().collect();
        self
    }

    /// Missing values removed term by term (true) or row-wise over all terms (false).
    pub fn by_term(mut self, yes: bool) -> Self {
        self.by_term = yes;
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

    /// Leave out empty levels and cells.
    pub fn remove_zero_counts(mut self, yes: bool) -> Self {
        self.remove_zero_counts = yes;
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
}

/// The weight column of `pweights` / `fweights` (at most one may be given), checked against the
/// schema.
pub(crate) fn weight_column(
    resolver: &Resolver<'_>,
    pweights: Option<&str>,
    fweights: Option<&str>,
) -> Result<Option<String>> {
    match (pweights, fweights) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "both pweights and fweights are given; use one weight column",
        )),
        (Some(p), None) => resolver.weight_column(p, "pweights").map(Some),
        (None, Some(f)) => resolver.weight_column(f, "fweights").map(Some),
        (None, None) => Ok(None),
    }
}

/// Expands `.` to the columns an analysis can use, leaving out the weight column.
pub(crate) fn expand_dot(formula: &Formula, schema: &Schema, weights: Option<&str>) -> Formula {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .filter(|f| is_supported(f.data_type()) && Some(f.name().as_str()) != weights)
        .map(|f| f.name().clone())
        .collect();
    formula.expand_dot(&columns)
}

/// An error for `offset()` terms, which only models use.
pub(crate) fn reject_offsets(formula: &Formula, what: &str) -> Result<()> {
    match formula.offsets.first() {
        None => Ok(()),
        Some(o) => Err(Error::invalid(format!(
            "offset({o}) in `{}`: offsets are for models (rx_glm); {what} has no use for them, \
             leave it out",
            formula.text
        ))),
    }
}

/// Statistics of one numeric term (a row of RevoScaleR's summary table), or of one category.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NumericSummary {
    /// The term (`x`, `log(x)`), or `y for F=a` for a category.
    pub name: String,
    /// The (weighted) mean; `None` without valid observations.
    pub mean: Option<f64>,
    /// The standard deviation (denominator `n − 1`); `None` with fewer than two.
    pub std_dev: Option<f64>,
    /// The smallest value.
    pub min: Option<f64>,
    /// The largest value.
    pub max: Option<f64>,
    /// The (weighted) sum.
    pub sum: Option<f64>,
    /// Valid observations (sum of weights when weighted).
    #[serde(serialize_with = "serialize_count")]
    pub valid_obs: f64,
    /// Missing observations (sum of weights when weighted).
    #[serde(serialize_with = "serialize_count")]
    pub missing_obs: f64,
}

impl NumericSummary {
    pub(crate) fn from_moments(name: String, m: &Moments, extra_missing: f64) -> Self {
        NumericSummary {
            name,
            mean: m.mean(),
            std_dev: m.std_dev(),
            min: m.min(),
            max: m.max(),
            sum: m.sum(),
            valid_obs: m.valid_obs(),
            missing_obs: m.missing_obs() + extra_missing,
        }
    }
}

/// Counts per level (or per combination of levels), in level order. Serialized as an object from
/// level (levels joined by `:` for an interaction) to count.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LevelCounts(pub Vec<(Vec<String>, f64)>);

impl LevelCounts {
    /// The count of a level (or a combination of levels); `None` for a level not listed.
    pub fn get(&self, levels: &[&str]) -> Option<f64> {
        self.0
            .iter()
            .find(|(l, _)| l.iter().map(String::as_str).eq(levels.iter().copied()))
            .map(|(_, c)| *c)
    }
}

impl Serialize for LevelCounts {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (levels, c) in &self.0 {
            map.serialize_entry(&levels.join(":"), &Count(*c))?;
        }
        map.end()
    }
}

/// Level counts of a factor term (RevoScaleR's "Category Counts").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FactorSummary {
    /// The term (`g`, `F(x)`, `A:B`).
    pub name: String,
    /// The factors of the term.
    pub factors: Vec<String>,
    /// Count (sum of weights when weighted) per level or combination, first factor varying
    /// fastest.
    pub counts: LevelCounts,
    /// Valid observations.
    #[serde(serialize_with = "serialize_count")]
    pub valid_obs: f64,
    /// Missing observations.
    #[serde(serialize_with = "serialize_count")]
    pub missing_obs: f64,
}

/// The statistics of one category of a [`CategorySummary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategoryStats {
    /// The level of each factor.
    pub levels: Vec<String>,
    /// The statistics of the variable in this category (`name` is `y for F=a, G=b`).
    #[serde(flatten)]
    pub stats: NumericSummary,
}

/// Statistics of a numeric variable per category of factors (`~ y:F`, `y ~ F`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CategorySummary {
    /// The term (`y:F`).
    pub name: String,
    /// The numeric variable.
    pub variable: String,
    /// The factors.
    pub factors: Vec<String>,
    /// One entry per category, first factor varying fastest.
    pub categories: Vec<CategoryStats>,
    /// Rows whose factor value is missing (in no category).
    #[serde(serialize_with = "serialize_count")]
    pub missing_obs: f64,
}

/// The result of [`rx_summary`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RxSummary {
    /// The formula as given.
    pub formula: String,
    /// The data source's name.
    pub data: String,
    /// Rows read.
    pub nobs: u64,
    /// Rows valid in every term (with a valid weight).
    pub nobs_valid: u64,
    /// Rows missing in some term.
    pub nobs_missing: u64,
    /// The weight column and its kind (`pweights` or `fweights`).
    pub weights: Option<(String, String)>,
    /// Numeric terms (RevoScaleR's `sDataFrame`).
    pub numeric: Vec<NumericSummary>,
    /// Factor terms (RevoScaleR's `categorical` counts).
    pub factors: Vec<FactorSummary>,
    /// Numeric variables by category.
    pub by_category: Vec<CategorySummary>,
    /// The statistics `Display` prints.
    #[serde(skip)]
    pub summary_stats: Vec<SummaryStat>,
}

impl RxSummary {
    /// The summary of a numeric term by name.
    pub fn numeric(&self, name: &str) -> Option<&NumericSummary> {
        self.numeric.iter().find(|s| s.name == name)
    }

    /// The counts of a factor term by name.
    pub fn factor(&self, name: &str) -> Option<&FactorSummary> {
        self.factors.iter().find(|s| s.name == name)
    }

    /// The statistics by category of a term by name (`y:F`).
    pub fn category(&self, name: &str) -> Option<&CategorySummary> {
        self.by_category.iter().find(|s| s.name == name)
    }
}

/// The kind of output of a term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermKind {
    Numeric,
    Factor,
    Category,
}

/// `rx_summary` as a PEMA.
#[derive(Debug, Clone)]
pub struct SummaryPema {
    plan: Plan,
    kinds: Vec<TermKind>,
    formula: String,
    data: String,
    options: SummaryOptions,
}

impl SummaryPema {
    /// Resolves `formula` against the schema of the data named `data`.
    pub fn new(
        formula: &str,
        schema: &Schema,
        data: &str,
        options: &SummaryOptions,
    ) -> Result<Self> {
        let parsed = Formula::parse(formula)?;
        let resolver = Resolver {
            schema,
            source: data,
            formula,
        };
        let weights = weight_column(
            &resolver,
            options.pweights.as_deref(),
            options.fweights.as_deref(),
        )?;
        reject_offsets(&parsed, "rx_summary")?;
        let parsed = expand_dot(&parsed, schema, weights.as_deref());
        if parsed.terms.is_empty() {
            return Err(Error::Formula {
                formula: formula.to_string(),
                position: formula.len(),
                message: "the formula has no terms to summarise; write them, as in `~ x + g`"
                    .into(),
            });
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
        let plan = Plan::build(&resolver, &terms, weights, options.by_term)?;
        let mut kinds = Vec::with_capacity(plan.terms.len());
        for (t, term) in plan.terms.iter().zip(&parsed.terms) {
            let kind = match (t.numeric.is_empty(), t.factors.is_empty()) {
                (true, _) => TermKind::Factor,
                (false, true) => TermKind::Numeric,
                (false, false) => TermKind::Category,
            };
            if let Some(r) = &parsed.response
                && kind == TermKind::Numeric
            {
                return Err(Error::invalid(format!(
                    "in `{formula}` the term '{}' has no factor: with a response, rx_summary gives \
                     the statistics of '{}' per category of the right-hand factors; write \
                     `~ {} + {}` for separate summaries",
                    term.name(),
                    r.name(),
                    r,
                    term
                )));
            }
            kinds.push(kind);
        }
        Ok(SummaryPema {
            plan,
            kinds,
            formula: formula.to_string(),
            data: data.to_string(),
            options: options.clone(),
        })
    }
}

/// A summary's terms as a database aggregates them (rx-compute's `RxInDatabase`).
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySql {
    /// The weight column (probability or frequency).
    pub weights: Option<String>,
    /// True: a row missing in one term still counts in the others.
    pub by_term: bool,
    /// The numeric variables, as expressions over columns.
    pub numeric: Vec<rx_core::formula::Expr>,
    /// The factors: text columns whose levels the data decide.
    pub factors: Vec<String>,
    /// Per term: the numeric variables multiplied into its value, and the factors classifying it.
    pub terms: Vec<(Vec<usize>, Vec<usize>)>,
}

/// One term's cells computed elsewhere: the weight of the rows in no cell, and per cell (by level
/// names, one per factor of the term) its moments.
#[derive(Debug, Clone, Default)]
pub struct TermCells {
    /// Rows in no cell (a factor missing, or a row missing in another term when not `by_term`).
    pub missing: f64,
    /// The cells.
    pub cells: Vec<(Vec<String>, Moments)>,
}

/// An analysis over the cells of factor combinations — [`SummaryPema`], `rx_cube`'s
/// [`crate::cube::CubePema`] and `rx_crosstabs`' [`crate::cube::CrossTabsPema`] — whose cells a
/// database can aggregate (rx-compute's `RxInDatabase`): it says which sums it needs
/// ([`CellsSql::sql`]) and finishes from cells computed elsewhere ([`CellsSql::finish_cells`]).
pub trait CellsSql: Pema<Partial = CellsPartial> {
    /// The terms as SQL can aggregate them, or `None` when a variable needs the local algorithm
    /// (`N(f)` codes, `F(x)` levels, factors with declared levels).
    fn sql(&self) -> Option<SummarySql>;

    /// The partial of cells computed elsewhere (see [`CellsSql::finish_cells`]).
    fn partial_from_cells(
        &self,
        rows: u64,
        rows_valid: u64,
        terms: Vec<TermCells>,
    ) -> Result<CellsPartial>;

    /// The result from cells computed elsewhere: `rows` read, `rows_valid` valid in every term,
    /// and per term its cells. Text levels are taken in sorted order (a database has no row
    /// order to take first appearances from).
    fn finish_cells(
        &mut self,
        rows: u64,
        rows_valid: u64,
        terms: Vec<TermCells>,
    ) -> Result<Self::Output> {
        let acc = self.partial_from_cells(rows, rows_valid, terms)?;
        match self.finish(acc)? {
            Step::Done(s) => Ok(s),
            Step::AnotherPass => Err(Error::invalid(
                "internal: an analysis of cells asked for another pass",
            )),
        }
    }
}

impl Plan {
    /// The plan's terms as SQL can aggregate them (see [`CellsSql::sql`]).
    pub(crate) fn sql(&self) -> Option<SummarySql> {
        let numeric = self
            .numeric
            .iter()
            .map(|v| match &v.source {
                cells::NumSource::Column(c) => Some(rx_core::formula::Expr::Column(c.clone())),
                cells::NumSource::Expr(e) => Some(e.clone()),
                cells::NumSource::Codes(_) => None,
            })
            .collect::<Option<Vec<_>>>()?;
        let factors = self
            .factors
            .iter()
            .map(|f| match &f.source {
                cells::FactorSource::Text(c) if f.declared.is_empty() => Some(c.clone()),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SummarySql {
            weights: self.weights.clone(),
            by_term: self.by_term,
            numeric,
            factors,
            terms: self
                .terms
                .iter()
                .map(|t| (t.numeric.clone(), t.factors.clone()))
                .collect(),
        })
    }

    /// A partial holding cells computed elsewhere (see [`CellsSql::finish_cells`]).
    pub(crate) fn partial_from_cells(
        &self,
        rows: u64,
        rows_valid: u64,
        terms: Vec<TermCells>,
    ) -> Result<CellsPartial> {
        if terms.len() != self.terms.len() {
            return Err(Error::invalid(
                "internal: cells for another number of terms",
            ));
        }
        let mut acc = self.init();
        acc.rows = rows;
        acc.rows_valid = rows_valid;
        let mut names: Vec<Vec<String>> = vec![Vec::new(); self.factors.len()];
        for (t, tc) in terms.iter().enumerate() {
            for (levels, _) in &tc.cells {
                for (&f, l) in self.terms[t].factors.iter().zip(levels) {
                    names[f].push(l.clone());
                }
            }
        }
        for (set, mut n) in acc.levels.iter_mut().zip(names) {
            n.sort();
            n.dedup();
            for l in &n {
                set.insert(l);
            }
        }
        for (t, tc) in terms.into_iter().enumerate() {
            let factors = &self.terms[t].factors;
            let term_acc = &mut acc.terms[t];
            term_acc.missing = crate::dd::Dd::new(tc.missing);
            for (levels, m) in tc.cells {
                if levels.len() != factors.len() {
                    return Err(Error::invalid("internal: a cell of another shape"));
                }
                let key: Vec<u32> = factors
                    .iter()
                    .zip(&levels)
                    .map(|(&f, l)| acc.levels[f].insert(l))
                    .collect();
                term_acc.cells.entry(key).or_default().merge(&m);
            }
        }
        Ok(acc)
    }
}

/// `CellsSql` for an analysis whose cells are those of the plan at `$($plan).+`.
macro_rules! cells_sql_from_plan {
    ($t:ty, $($plan:ident).+) => {
        impl CellsSql for $t {
            fn sql(&self) -> Option<SummarySql> {
                self.$($plan).+.sql()
            }

            fn partial_from_cells(
                &self,
                rows: u64,
                rows_valid: u64,
                terms: Vec<TermCells>,
            ) -> Result<CellsPartial> {
                self.$($plan).+.partial_from_cells(rows, rows_valid, terms)
            }
        }
    };
}
pub(crate) use cells_sql_from_plan;

cells_sql_from_plan!(SummaryPema, plan);

impl Pema for SummaryPema {
    type Partial = CellsPartial;
    type Output = RxSummary;

    fn columns(&self) -> Vec<String> {
        self.plan.columns.clone()
    }

    fn init(&self) -> CellsPartial {
        self.plan.init()
    }

    fn process(&self, acc: &mut CellsPartial, chunk: &RecordBatch) -> Result<()> {
        self.plan.process(acc, chunk)
    }

    fn merge(&self, into: &mut CellsPartial, other: CellsPartial) -> Result<()> {
        self.plan.merge(into, other)
    }

    fn finish(&mut self, acc: CellsPartial) -> Result<Step<RxSummary>> {
        let fl = self.plan.final_levels(&acc)?;
        let remove = self.options.remove_zero_counts;
        let mut out = RxSummary {
            formula: self.formula.clone(),
            data: self.data.clone(),
            nobs: acc.rows,
            nobs_valid: acc.rows_valid,
            nobs_missing: acc.rows - acc.rows_valid,
            weights: match (&self.options.pweights, &self.options.fweights) {
                (Some(p), _) => Some((p.clone(), "pweights".into())),
                (None, Some(f)) => Some((f.clone(), "fweights".into())),
                (None, None) => None,
            },
            numeric: Vec::new(),
            factors: Vec::new(),
            by_category: Vec::new(),
            summary_stats: self.options.summary_stats.clone(),
        };
        for (t, (term, kind)) in self.plan.terms.iter().zip(&self.kinds).enumerate() {
            let term_acc = &acc.terms[t];
            let factor_names: Vec<String> = term
                .factors
                .iter()
                .map(|&f| self.plan.factors[f].name.clone())
                .collect();
            let level_names = |key: &[u32]| -> Vec<String> {
                key.iter()
                    .zip(&term.factors)
                    .map(|(&c, &f)| fl.levels[f][c as usize].clone())
                    .collect()
            };
            match kind {
                TermKind::Numeric => {
                    let cells = self.plan.term_cells(t, &acc, &fl, false)?;
                    let m = cells.first().map(|(_, m)| *m).unwrap_or_default();
                    out.numeric.push(NumericSummary::from_moments(
                        term.name.clone(),
                        &m,
                        term_acc.missing.to_f64(),
                    ));
                }
                TermKind::Factor => {
                    let cells = self.plan.term_cells(t, &acc, &fl, remove)?;
                    let valid = cells.iter().map(|(_, m)| m.valid_obs()).sum();
                    out.factors.push(FactorSummary {
                        name: term.name.clone(),
                        factors: factor_names,
                        counts: LevelCounts(
                            cells
                                .iter()
                                .map(|(k, m)| (level_names(k), m.valid_obs()))
                                .collect(),
                        ),
                        valid_obs: valid,
                        missing_obs: term_acc.missing_obs(),
                    });
                }
                TermKind::Category => {
                    let variable = term
                        .numeric
                        .iter()
                        .map(|&i| self.plan.numeric[i].name.clone())
                        .collect::<Vec<_>>()
                        .join(":");
                    let cells = self.plan.term_cells(t, &acc, &fl, remove)?;
                    let categories = cells
                        .iter()
                        .map(|(k, m)| {
                            let levels = level_names(k);
                            let label = factor_names
                                .iter()
                                .zip(&levels)
                                .map(|(f, l)| format!("{f}={l}"))
                                .collect::<Vec<_>>()
                                .join(", ");
                            CategoryStats {
                                stats: NumericSummary::from_moments(
                                    format!("{variable} for {label}"),
                                    m,
                                    0.0,
                                ),
                                levels,
                            }
                        })
                        .collect();
                    out.by_category.push(CategorySummary {
                        name: term.name.clone(),
                        variable,
                        factors: factor_names,
                        categories,
                        missing_obs: term_acc.missing.to_f64(),
                    });
                }
            }
        }
        Ok(Step::Done(out))
    }
}

/// Summary statistics of the terms of `formula` over `data` (RevoScaleR's `rxSummary`).
///
/// ```
/// use std::sync::Arc;
/// use rx_core::RxLocalSeq;
/// use rx_core::arrow::array::{ArrayRef, Float64Array, StringArray};
/// use rx_core::arrow::record_batch::RecordBatch;
/// use rx_data::MemoryData;
/// use rx_models::summary::{SummaryOptions, rx_summary};
///
/// let x: ArrayRef = Arc::new(Float64Array::from(vec![Some(1.0), Some(3.0), None]));
/// let g: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
/// let batch = RecordBatch::try_from_iter([("x", x), ("g", g)]).unwrap();
/// let data = MemoryData::from_batches(vec![batch])?;
/// let s = rx_summary("~ x + g", &data, &SummaryOptions::default(), &RxLocalSeq)?;
/// assert_eq!(s.numeric[0].mean, Some(2.0));
/// assert_eq!(s.numeric[0].missing_obs, 1.0);
/// assert_eq!(s.factors[0].counts.get(&["a"]), Some(2.0));
/// # Ok::<(), rx_core::Error>(())
/// ```
pub fn rx_summary(
    formula: &str,
    data: &dyn DataSource,
    options: &SummaryOptions,
    context: &impl ComputeContext,
) -> Result<RxSummary> {
    let schema = data.schema()?;
    let mut pema = SummaryPema::new(formula, &schema, &data.name(), options)?;
    context.run(&mut pema, data, &options.rx_options())
}

impl fmt::Display for RxSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use format::{count, table};
        writeln!(f, "Call:")?;
        write!(
            f,
            "rxSummary(formula = {}, data = {}",
            self.formula, self.data
        )?;
        if let Some((w, kind)) = &self.weights {
            write!(f, ", {kind} = \"{w}\"")?;
        }
        writeln!(f, ")\n")?;
        writeln!(f, "Summary Statistics Results for: {}", self.formula)?;
        writeln!(f, "Data: {}", self.data)?;
        writeln!(f, "Number of valid observations: {}", self.nobs_valid)?;
        writeln!(f, "Number of missing observations: {}", self.nobs_missing)?;
        let stats = if self.summary_stats.is_empty() {
            SummaryStat::DEFAULT.to_vec()
        } else {
            self.summary_stats.clone()
        };
        if !self.numeric.is_empty() {
            writeln!(f)?;
            let mut header = vec!["Name".to_string()];
            header.extend(stats.iter().map(|s| s.header().to_string()));
            let rows: Vec<Vec<String>> = self
                .numeric
                .iter()
                .map(|s| {
                    let mut r = vec![s.name.clone()];
                    r.extend(stats.iter().map(|st| st.value(s)));
                    r
                })
                .collect();
            let mut left = vec![true];
            left.extend(stats.iter().map(|_| false));
            f.write_str(&table(&header, &rows, &left))?;
        }
        for c in &self.by_category {
            writeln!(
                f,
                "\nStatistics by category ({} categories):\n",
                c.categories.len()
            )?;
            let mut header = vec!["Category".to_string()];
            header.extend(c.factors.iter().cloned());
            header.extend(stats.iter().map(|s| match s {
                SummaryStat::Mean => "Means".to_string(),
                s => s.header().to_string(),
            }));
            let rows: Vec<Vec<String>> = c
                .categories
                .iter()
                .map(|cat| {
                    let mut r = vec![cat.stats.name.clone()];
                    r.extend(cat.levels.iter().cloned());
                    r.extend(stats.iter().map(|st| st.value(&cat.stats)));
                    r
                })
                .collect();
            let mut left = vec![true; 1 + c.factors.len()];
            left.extend(stats.iter().map(|_| false));
            f.write_str(&table(&header, &rows, &left))?;
        }
        for c in &self.factors {
            writeln!(f, "\nCategory Counts for {}", c.name)?;
            writeln!(f, "Number of categories: {}", c.counts.0.len())?;
            writeln!(f, "Number of valid observations: {}", count(c.valid_obs))?;
            writeln!(
                f,
                "Number of missing observations: {}\n",
                count(c.missing_obs)
            )?;
            let mut header = c.factors.clone();
            header.push("Counts".into());
            let rows: Vec<Vec<String>> = c
                .counts
                .0
                .iter()
                .map(|(levels, n)| {
                    let mut r = levels.clone();
                    r.push(count(*n));
                    r
                })
                .collect();
            let mut left = vec![true; c.factors.len()];
            left.push(false);
            f.write_str(&table(&header, &rows, &left))?;
        }
        Ok(())
    }
}
