//! The model matrix: from a formula and the variables' metadata to the numeric columns a model is
//! fitted on, chunk by chunk.
//!
//! A [`Design`] is resolved once per analysis (levels of every factor known up front: from the
//! column's metadata, from `F(x, low, high)`, or from a levels pass over the data) and is saved
//! with the fitted model, so prediction rebuilds exactly the same coding. Levels are matched by
//! name; a level the design does not know is an error that names it.
//!
//! Coding, as R and revoscalepy do it:
//! - a numeric term is its column (or the product of its numeric variables, `x:z`);
//! - a factor is coded by treatment contrasts when the term without it is also in the model (the
//!   empty term always counts), and by one indicator per level otherwise (`y ~ x:F`); without an
//!   intercept the first factor of the first term that has one is coded by indicators
//!   (`y ~ F - 1`). This is R's rule (`model.c`). The reference level is the **last** one by default, as revoscalepy's
//!   `drop_first = False`; `drop_first = true` makes it the first, as R's `lm`. The reference
//!   level stays in the coefficient list as a *dropped* coefficient (revoscalepy prints
//!   `Dropped`), so every level combination of a term has a row;
//! - interactions of factors take every combination of levels, the first factor varying
//!   fastest, as R orders them.
//!
//! Coefficient names follow revoscalepy: `(Intercept)`, `x`, `F=level`, `F=level, G=level`,
//! `x for F=level`, `x:z`, `I(x^2)`, `log(x)`; `F(x)` appears as the factor `F_x`.

use std::collections::HashMap;

use arrow::array::{Array, AsArray, DictionaryArray};
use arrow::buffer::{BooleanBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Float64Type, Int32Type, Schema};
use arrow::record_batch::RecordBatch;
use faer::MatMut;
use rx_core::formula::{Expr, Formula, Var};
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Pema, Result, RxOptions, Step};
use serde::{Deserialize, Serialize};

/// How factors are coded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesignOptions {
    /// Drop the first level of each contrast-coded factor (R's `lm`) instead of the last
    /// (revoscalepy's default).
    pub drop_first: bool,
}

/// Where a numeric variable's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NumSource {
    /// A numeric or boolean column (booleans as 0/1).
    Column(String),
    /// A computed term (`I(x^2)`, `log(x)`).
    Computed(Expr),
    /// `N(f)`: the 1-based position of a factor's level in `levels`.
    Codes {
        /// The factor column.
        column: String,
        /// Its levels.
        levels: Vec<String>,
    },
}

/// A numeric variable of the design.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumericVar {
    /// The name used in coefficient names (`x`, `I(x^2)`, `N(f)`).
    pub name: String,
    /// Where the values come from.
    pub source: NumSource,
}

/// Where a factor's level codes come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FactorSource {
    /// A factor (dictionary) or text column, matched by level name.
    Column(String),
    /// `F(x)`: a numeric column whose integer part `low + i` is level `i`.
    Integer {
        /// The column.
        column: String,
        /// The integer of the first level.
        low: i64,
    },
}

/// A factor of the design, with its levels fixed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorVar {
    /// The name used in coefficient names (`wool`, `F_x`).
    pub name: String,
    /// Where the codes come from.
    pub source: FactorSource,
    /// The levels, in order.
    pub levels: Vec<String>,
}

impl FactorVar {
    /// The data column the factor reads.
    pub fn column(&self) -> &str {
        match &self.source {
            FactorSource::Column(c) | FactorSource::Integer { column: c, .. } => c,
        }
    }
}

/// A term of the design: a product of numeric variables and factors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermSpec {
    /// The term as written in the formula (`a:b`).
    pub label: String,
    /// Indexes into [`Design::numerics`].
    pub numerics: Vec<usize>,
    /// Indexes into [`Design::factors`].
    pub factors: Vec<usize>,
    /// Per factor of the term: true for one indicator per level, false for treatment contrasts.
    pub full: Vec<bool>,
}

/// One coefficient of the model (a column of the model matrix, or a dropped reference level).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoefSpec {
    /// revoscalepy's name (`(Intercept)`, `x`, `F=a`, `F=a, G=b`, `x for F=a`).
    pub name: String,
    /// The term (`None` for the intercept).
    pub term: Option<usize>,
    /// The level of each factor of the term.
    pub levels: Vec<usize>,
    /// The model-matrix column, `None` when the coefficient is a dropped reference level.
    pub column: Option<usize>,
}

/// The response of a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseSpec {
    /// The response's name (`y`, `log(y)`), used for `<y>_Pred` output columns.
    pub name: String,
    /// Where the values come from.
    pub source: ResponseSource,
}

/// Where the response's values come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ResponseSource {
    /// A numeric value.
    Numeric(NumSource),
    /// A factor: 0 for its first level, 1 for any other (R's binomial coding).
    Factor(FactorVar),
}

/// A resolved model matrix specification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    /// The formula as given.
    pub formula: String,
    /// The response, if the formula has one.
    pub response: Option<ResponseSpec>,
    /// Whether the model has an intercept (the first column).
    pub intercept: bool,
    /// Numeric variables.
    pub numerics: Vec<NumericVar>,
    /// Factors.
    pub factors: Vec<FactorVar>,
    /// Terms, in formula order.
    pub terms: Vec<TermSpec>,
    /// Every coefficient, in order, including dropped reference levels.
    pub coefs: Vec<CoefSpec>,
    /// Number of model-matrix columns.
    pub ncols: usize,
    /// The coding options.
    pub options: DesignOptions,
    /// Offsets (`offset(log(n))` in the formula, or a model's offset column): summed, they are
    /// added to the linear predictor with coefficient 1, in fitting and in prediction.
    #[serde(default)]
    pub offsets: Vec<Expr>,
    /// Where each level combination goes (derived from `coefs`, computed on first use).
    #[serde(skip)]
    layout: LayoutCache,
}

/// A lazily computed [`Layout`]; equal to any other (it is derived data).
#[derive(Debug, Clone, Default)]
struct LayoutCache(std::sync::OnceLock<Layout>);

impl PartialEq for LayoutCache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::ops::Deref for LayoutCache {
    type Target = std::sync::OnceLock<Layout>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

// ---------------------------------------------------------------------------------------------
// Resolving a formula

/// What a formula variable becomes, before levels are known.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Numeric(NumericVar),
    /// A factor column (dictionary or text) whose levels must be found in the data.
    FactorColumn {
        name: String,
        column: String,
    },
    /// `F(x)` with unknown bounds.
    IntegerFactor {
        name: String,
        column: String,
        low: Option<f64>,
        high: Option<f64>,
    },
    /// `N(f)` with unknown levels.
    Codes {
        name: String,
        column: String,
    },
    Factor(FactorVar),
}

/// What a levels pass must find.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LevelsRequest {
    /// Factor or text columns whose levels are not declared.
    pub level_columns: Vec<String>,
    /// Numeric columns used in `F(x)` without known low/high.
    pub range_columns: Vec<String>,
}

impl LevelsRequest {
    fn is_empty(&self) -> bool {
        self.level_columns.is_empty() && self.range_columns.is_empty()
    }
}

/// Levels and ranges found in the data by [`LevelsPema`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FoundLevels {
    /// Per level column: the levels seen (in order of first appearance for factors, sorted for
    /// text), and whether the column is text.
    pub levels: Vec<(String, Vec<String>, bool)>,
    /// Per range column: min and max of the values seen.
    pub ranges: Vec<(String, f64, f64)>,
}

fn field<'a>(
    schema: &'a Schema,
    name: &str,
    source_name: &str,
) -> Result<&'a arrow::datatypes::Field> {
    schema
        .field_with_name(name)
        .map_err(|_| Error::UnknownColumn {
            name: name.to_string(),
            source_name: source_name.to_string(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
        })
}

fn is_text(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

fn is_factor_type(dt: &DataType) -> bool {
    matches!(dt, DataType::Dictionary(_, v) if is_text(v))
}

fn is_numeric_type(dt: &DataType) -> bool {
    dt.is_numeric() || matches!(dt, DataType::Boolean)
}

fn pending_var(var: &Var, schema: &Schema, source_name: &str) -> Result<Pending> {
    Ok(match var {
        Var::Column(c) => {
            let f = field(schema, c, source_name)?;
            let dt = f.data_type();
            if is_factor_type(dt) || is_text(dt) {
                match rx_core::varinfo::field_levels(f) {
                    Some(levels) if is_factor_type(dt) => Pending::Factor(FactorVar {
                        name: c.clone(),
                        source: FactorSource::Column(c.clone()),
                        levels,
                    }),
                    _ => Pending::FactorColumn {
                        name: c.clone(),
                        column: c.clone(),
                    },
                }
            } else if is_numeric_type(dt) {
                Pending::Numeric(NumericVar {
                    name: c.clone(),
                    source: NumSource::Column(c.clone()),
                })
            } else {
                return Err(Error::invalid(format!(
                    "column '{c}' has type {dt}, which a model term cannot use; convert it to a number or a factor"
                )));
            }
        }
        Var::AsFactor { column, low, high } => {
            let f = field(schema, column, source_name)?;
            let dt = f.data_type();
            let name = format!("F_{column}");
            if is_factor_type(dt) || is_text(dt) {
                // F() of a factor is the factor itself.
                return pending_var(&Var::Column(column.clone()), schema, source_name).map(|p| {
                    match p {
                        Pending::Factor(mut fv) => {
                            fv.name = name;
                            Pending::Factor(fv)
                        }
                        Pending::FactorColumn { column, .. } => {
                            Pending::FactorColumn { name, column }
                        }
                        other => other,
                    }
                });
            }
            if !is_numeric_type(dt) {
                return Err(Error::invalid(format!(
                    "F({column}): column '{column}' has type {dt}; F() needs a numeric column"
                )));
            }
            let info = rx_core::VarInfo::from_field(f);
            let low = low.or(info.low);
            let high = high.or(info.high);
            match (low, high) {
                (Some(l), Some(h)) => Pending::Factor(integer_factor(&name, column, l, h)?),
                _ => Pending::IntegerFactor {
                    name,
                    column: column.clone(),
                    low,
                    high,
                },
            }
        }
        Var::AsNumeric(c) => {
            let f = field(schema, c, source_name)?;
            let dt = f.data_type();
            let name = format!("N({c})");
            if is_numeric_type(dt) {
                Pending::Numeric(NumericVar {
                    name,
                    source: NumSource::Column(c.clone()),
                })
            } else if is_factor_type(dt) {
                match rx_core::varinfo::field_levels(f) {
                    Some(levels) => Pending::Numeric(NumericVar {
                        name,
                        source: NumSource::Codes {
                            column: c.clone(),
                            levels,
                        },
                    }),
                    None => Pending::Codes {
                        name,
                        column: c.clone(),
                    },
                }
            } else {
                return Err(Error::invalid(format!(
                    "N({c}): column '{c}' has type {dt}; N() needs a factor or a numeric column"
                )));
            }
        }
        Var::Computed { label, expr } => {
            for c in expr.columns() {
                let f = field(schema, &c, source_name)?;
                if !is_numeric_type(f.data_type()) {
                    return Err(Error::invalid(format!(
                        "{label}: column '{c}' is not numeric; arithmetic and functions need numeric columns"
                    )));
                }
            }
            Pending::Numeric(NumericVar {
                name: label.clone(),
                source: NumSource::Computed(expr.clone()),
            })
        }
    })
}

/// The largest number of levels `F(x)` may create.
const MAX_INTEGER_LEVELS: f64 = 1e7;

fn integer_factor(name: &str, column: &str, low: f64, high: f64) -> Result<FactorVar> {
    let (l, h) = (low.floor(), high.floor());
    if !l.is_finite() || !h.is_finite() || h < l || h - l >= MAX_INTEGER_LEVELS {
        return Err(Error::invalid(format!(
            "F({column}): the range {low}..{high} does not give between 1 and {MAX_INTEGER_LEVELS} integer levels; give F({column}, low, high)"
        )));
    }
    let low = l as i64;
    let n = (h - l) as i64 + 1;
    Ok(FactorVar {
        name: name.to_string(),
        source: FactorSource::Integer {
            column: column.to_string(),
            low,
        },
        levels: (0..n).map(|i| (low + i).to_string()).collect(),
    })
}

/// The variables of a formula before levels are known.
#[derive(Debug, Clone)]
struct Plan {
    formula: Formula,
    response: Option<(String, Pending)>,
    /// Per term, per variable: index into `vars`.
    terms: Vec<Vec<usize>>,
    vars: Vec<Pending>,
}

/// Checks that an offset's columns are in the data and numeric.
pub fn check_offset(offset: &Expr, schema: &Schema, source_name: &str) -> Result<()> {
    for c in offset.columns() {
        let f = field(schema, &c, source_name)?;
        if !is_numeric_type(f.data_type()) {
            return Err(Error::invalid(format!(
                "offset({offset}): column '{c}' has type {}; an offset needs numeric columns",
                f.data_type()
            )));
        }
    }
    Ok(())
}

fn plan(formula: &Formula, schema: &Schema, source_name: &str) -> Result<Plan> {
    let formula = if formula.has_dot {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        formula.expand_dot(&names)
    } else {
        formula.clone()
    };
    let response = match &formula.response {
        Some(v) => Some((v.name(), pending_var(v, schema, source_name)?)),
        None => None,
    };
    for o in &formula.offsets {
        check_offset(o, schema, source_name)?;
    }
    let mut vars: Vec<(Var, Pending)> = Vec::new();
    let mut terms = Vec::new();
    for t in &formula.terms {
        let mut idx = Vec::new();
        for v in &t.vars {
            let i = match vars.iter().position(|(w, _)| w == v) {
                Some(i) => i,
                None => {
                    vars.push((v.clone(), pending_var(v, schema, source_name)?));
                    vars.len() - 1
                }
            };
            if !idx.contains(&i) {
                idx.push(i);
            }
        }
        terms.push(idx);
    }
    Ok(Plan {
        formula,
        response,
        terms,
        vars: vars.into_iter().map(|(_, p)| p).collect(),
    })
}

impl Plan {
    fn request(&self) -> LevelsRequest {
        let mut req = LevelsRequest::default();
        let all = self.vars.iter().chain(self.response.iter().map(|(_, p)| p));
        for p in all {
            match p {
                Pending::FactorColumn { column, .. } | Pending::Codes { column, .. } => {
                    if !req.level_columns.contains(column) {
                        req.level_columns.push(column.clone());
                    }
                }
                Pending::IntegerFactor { column, .. } => {
                    if !req.range_columns.contains(column) {
                        req.range_columns.push(column.clone());
                    }
                }
                Pending::Numeric(_) | Pending::Factor(_) => {}
            }
        }
        req
    }
}

fn settle(p: Pending, found: &FoundLevels) -> Result<Pending> {
    let levels_of = |column: &str| -> Result<Vec<String>> {
        found
            .levels
            .iter()
            .find(|(c, _, _)| c == column)
            .map(|(_, l, _)| l.clone())
            .ok_or_else(|| {
                Error::invalid(format!("the levels of column '{column}' were not found"))
            })
    };
    Ok(match p {
        Pending::FactorColumn { name, column } => Pending::Factor(FactorVar {
            name,
            levels: levels_of(&column)?,
            source: FactorSource::Column(column),
        }),
        Pending::Codes { name, column } => Pending::Numeric(NumericVar {
            name,
            source: NumSource::Codes {
                levels: levels_of(&column)?,
                column,
            },
        }),
        Pending::IntegerFactor {
            name,
            column,
            low,
            high,
        } => {
            let Some(&(_, min, max)) = found.ranges.iter().find(|(c, _, _)| *c == column) else {
                return Err(Error::invalid(format!(
                    "F({column}): column '{column}' has no values, so F() has no levels; give F({column}, low, high)"
                )));
            };
            Pending::Factor(integer_factor(
                &name,
                &column,
                low.unwrap_or(min),
                high.unwrap_or(max),
            )?)
        }
        other => other,
    })
}

impl Design {
    /// Resolves `formula` against a source: reads the schema, and when some factor's levels
    /// (or some `F(x)`'s range) are not declared in the metadata, runs one levels pass over the
    /// data with `context`.
    pub fn resolve(
        formula: &Formula,
        data: &dyn DataSource,
        options: DesignOptions,
        context: &impl ComputeContext,
        rx_options: &RxOptions,
    ) -> Result<Design> {
        let schema = data.schema()?;
        let plan = plan(formula, &schema, &data.name())?;
        let req = plan.request();
        let found = if req.is_empty() {
            FoundLevels::default()
        } else {
            let mut pema = LevelsPema::new(req);
            context.run(&mut pema, data, rx_options)?
        };
        Design::from_plan(plan, &found, options)
    }

    /// Resolves `formula` against a schema, with `find` supplying the levels (and `F(x)` ranges)
    /// the metadata does not declare — e.g. from `SELECT DISTINCT` in a database, so no row is
    /// read here. Text levels must come sorted, as the levels pass sorts them.
    pub fn resolve_with(
        formula: &Formula,
        schema: &Schema,
        source_name: &str,
        options: DesignOptions,
        find: impl FnOnce(&LevelsRequest) -> Result<FoundLevels>,
    ) -> Result<Design> {
        let plan = plan(formula, schema, source_name)?;
        let req = plan.request();
        let found = if req.is_empty() {
            FoundLevels::default()
        } else {
            find(&req)?
        };
        Design::from_plan(plan, &found, options)
    }

    /// Resolves `formula` against a schema whose factors all declare their levels (no pass).
    pub fn from_schema(
        formula: &Formula,
        schema: &Schema,
        options: DesignOptions,
    ) -> Result<Design> {
        let plan = plan(formula, schema, "the data")?;
        let req = plan.request();
        if let Some(c) = req.level_columns.first().or(req.range_columns.first()) {
            return Err(Error::invalid(format!(
                "the levels of column '{c}' are not declared in the schema; resolve the design against the data"
            )));
        }
        Design::from_plan(plan, &FoundLevels::default(), options)
    }

    fn from_plan(plan: Plan, found: &FoundLevels, options: DesignOptions) -> Result<Design> {
        let Plan {
            formula,
            response,
            terms: plan_terms,
            vars,
        } = plan;
        let mut numerics = Vec::new();
        let mut factors = Vec::new();
        // Per plan var: (is_factor, index).
        let mut slots = Vec::with_capacity(vars.len());
        for p in vars {
            match settle(p, found)? {
                Pending::Numeric(n) => {
                    slots.push((false, numerics.len()));
                    numerics.push(n);
                }
                Pending::Factor(f) => {
                    if f.levels.is_empty() {
                        return Err(Error::invalid(format!(
                            "factor '{}' has no levels (no non-missing values); drop it from the formula",
                            f.name
                        )));
                    }
                    slots.push((true, factors.len()));
                    factors.push(f);
                }
                _ => return Err(Error::invalid("internal: a variable was left unresolved")),
            }
        }
        let response = match response {
            None => None,
            Some((name, p)) => Some(ResponseSpec {
                name,
                source: match settle(p, found)? {
                    Pending::Numeric(n) => ResponseSource::Numeric(n.source),
                    Pending::Factor(f) => ResponseSource::Factor(f),
                    _ => return Err(Error::invalid("internal: the response was left unresolved")),
                },
            }),
        };
        // Terms: their numeric and factor parts, as sets for the margin rule.
        let mut terms: Vec<TermSpec> = Vec::new();
        // Each term's (numeric, factor) variable sets, sorted, for the margin rule.
        let split = |idx: &[usize]| -> (Vec<usize>, Vec<usize>) {
            let nums = idx
                .iter()
                .filter(|&&i| !slots[i].0)
                .map(|&i| slots[i].1)
                .collect();
            let facs = idx
                .iter()
                .filter(|&&i| slots[i].0)
                .map(|&i| slots[i].1)
                .collect();
            (nums, facs)
        };
        let sets: Vec<(Vec<usize>, Vec<usize>)> = plan_terms
            .iter()
            .map(|idx| {
                let (mut n, mut f) = split(idx);
                n.sort_unstable();
                f.sort_unstable();
                (n, f)
            })
            .collect();
        // R's rule (model.c): a factor is coded by contrasts when the term without it is in the
        // model (the empty term always counts), by indicators otherwise; without an intercept the
        // first factor of the first term that has one is coded by indicators.
        for (ti, idx) in plan_terms.iter().enumerate() {
            let (nums, facs) = split(idx);
            let full = facs
                .iter()
                .map(|&f| {
                    let mut margin_f: Vec<usize> =
                        facs.iter().copied().filter(|&g| g != f).collect();
                    margin_f.sort_unstable();
                    let margin = (sets[ti].0.clone(), margin_f);
                    !((margin.0.is_empty() && margin.1.is_empty()) || sets[..ti].contains(&margin))
                })
                .collect();
            terms.push(TermSpec {
                label: formula.terms[ti].name(),
                numerics: nums,
                factors: facs,
                full,
            });
        }
        if !formula.intercept
            && let Some(flag) = terms
                .iter_mut()
                .flat_map(|t| t.full.iter_mut())
                .find(|f| !**f)
        {
            *flag = true;
        }
        let mut design = Design {
            formula: formula.text.clone(),
            response,
            intercept: formula.intercept,
            numerics,
            factors,
            terms,
            coefs: Vec::new(),
            ncols: 0,
            options,
            offsets: formula.offsets.clone(),
            layout: LayoutCache::default(),
        };
        design.expand_coefs();
        Ok(design)
    }

    fn expand_coefs(&mut self) {
        let mut coefs = Vec::new();
        let mut col = 0;
        if self.intercept {
            coefs.push(CoefSpec {
                name: "(Intercept)".into(),
                term: None,
                levels: Vec::new(),
                column: Some(0),
            });
            col = 1;
        }
        for (ti, t) in self.terms.iter().enumerate() {
            let num_name = t
                .numerics
                .iter()
                .map(|&i| self.numerics[i].name.as_str())
                .collect::<Vec<_>>()
                .join(":");
            let sizes: Vec<usize> = t
                .factors
                .iter()
                .map(|&f| self.factors[f].levels.len())
                .collect();
            let total: usize = sizes.iter().product();
            let mut combo = vec![0usize; sizes.len()];
            for _ in 0..total {
                let dropped = t
                    .factors
                    .iter()
                    .zip(&combo)
                    .zip(&t.full)
                    .any(|((&f, &l), &full)| {
                        let reference = if self.options.drop_first {
                            0
                        } else {
                            self.factors[f].levels.len() - 1
                        };
                        !full && l == reference
                    });
                let fac_name = t
                    .factors
                    .iter()
                    .zip(&combo)
                    .map(|(&f, &l)| {
                        format!("{}={}", self.factors[f].name, self.factors[f].levels[l])
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let name = match (num_name.is_empty(), fac_name.is_empty()) {
                    (false, true) => num_name.clone(),
                    (true, false) => fac_name,
                    (false, false) => format!("{num_name} for {fac_name}"),
                    (true, true) => String::new(),
                };
                coefs.push(CoefSpec {
                    name,
                    term: Some(ti),
                    levels: combo.clone(),
                    column: if dropped { None } else { Some(col) },
                });
                if !dropped {
                    col += 1;
                }
                // Next combination, first factor fastest.
                for (c, &s) in combo.iter_mut().zip(&sizes) {
                    *c += 1;
                    if *c < s {
                        break;
                    }
                    *c = 0;
                }
            }
        }
        self.coefs = coefs;
        self.ncols = col;
    }

    /// The data columns the design reads (terms, response and `extra` such as weights), each once.
    pub fn columns(&self, extra: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: &str| {
            if !out.iter().any(|o| o == c) {
                out.push(c.to_string());
            }
        };
        if let Some(r) = &self.response {
            match &r.source {
                ResponseSource::Numeric(s) => num_source_columns(s).iter().for_each(|c| push(c)),
                ResponseSource::Factor(f) => push(f.column()),
            }
        }
        for n in &self.numerics {
            num_source_columns(&n.source).iter().for_each(|c| push(c));
        }
        for f in &self.factors {
            push(f.column());
        }
        for o in &self.offsets {
            o.columns().iter().for_each(|c| push(c));
        }
        for e in extra {
            push(e);
        }
        out
    }

    /// The design of the terms after the first (used by cube fits, whose first term is handled
    /// by cell means): coefficients renumbered from column 0, no intercept.
    pub(crate) fn without_first_term(&self) -> Design {
        let mut d = self.clone();
        d.layout = LayoutCache::default();
        d.intercept = false;
        if !d.terms.is_empty() {
            d.terms.remove(0);
        }
        let mut col = 0;
        d.coefs = self
            .coefs
            .iter()
            .filter(|c| c.term.is_some_and(|t| t > 0))
            .map(|c| {
                let mut c = c.clone();
                c.term = c.term.map(|t| t - 1);
                if c.column.is_some() {
                    c.column = Some(col);
                    col += 1;
                }
                c
            })
            .collect();
        d.ncols = col;
        d
    }

    /// The data columns the response reads.
    pub fn response_columns(&self) -> Vec<String> {
        match self.response.as_ref().map(|r| &r.source) {
            None => Vec::new(),
            Some(ResponseSource::Numeric(s)) => num_source_columns(s),
            Some(ResponseSource::Factor(f)) => vec![f.column().to_string()],
        }
    }

    /// The names of the model-matrix columns, in order.
    pub fn column_names(&self) -> Vec<String> {
        self.coefs
            .iter()
            .filter(|c| c.column.is_some())
            .map(|c| c.name.clone())
            .collect()
    }

    /// Evaluates the variables of the design over a chunk. `need_response` makes a missing
    /// response make the row missing (fitting); without it the response is read if present.
    pub fn frame(
        &self,
        batch: &RecordBatch,
        weights: &[&str],
        need_response: bool,
    ) -> Result<Frame> {
        self.frame_with(batch, weights, need_response, true)
    }

    /// [`Design::frame`], optionally without the scan that makes NaN and infinite values of
    /// float columns missing (`check_finite = false`): a pass over data already in memory then
    /// reads each column once, not twice, and must itself find such values in the rows it
    /// uses — and build the checked frame when it does ([`Frame::finite_checked`]).
    pub fn frame_with(
        &self,
        batch: &RecordBatch,
        weights: &[&str],
        need_response: bool,
        check_finite: bool,
    ) -> Result<Frame> {
        let n = batch.num_rows();
        let mut valid: Option<BooleanBuffer> = None;
        let mut nums = Vec::with_capacity(self.numerics.len());
        for v in &self.numerics {
            let (vals, ok) = numeric_values(&v.source, batch, check_finite)?;
            and_mask(&mut valid, ok);
            nums.push(vals);
        }
        let mut codes = Vec::with_capacity(self.factors.len());
        for f in &self.factors {
            let (c, ok) = factor_codes(f, batch, "")?;
            and_mask(&mut valid, ok);
            codes.push(c);
        }
        let mut response = None;
        if let Some(r) = &self.response
            && (need_response
                || self
                    .response_columns()
                    .iter()
                    .all(|c| batch.column_by_name(c).is_some()))
        {
            let (vals, ok) = match &r.source {
                ResponseSource::Numeric(s) => numeric_values(s, batch, check_finite)?,
                ResponseSource::Factor(f) => {
                    let (c, ok) = factor_codes(f, batch, " (the response)")?;
                    (
                        c.iter().map(|&k| if k == 0 { 0.0 } else { 1.0 }).collect(),
                        ok,
                    )
                }
            };
            if need_response {
                and_mask(&mut valid, ok.clone());
            }
            response = Some((vals, ok));
        }
        let mut wts = Vec::with_capacity(weights.len());
        for w in weights {
            let (vals, ok) = weight_values(w, batch, check_finite)?;
            and_mask(&mut valid, ok);
            wts.push(vals);
        }
        let mut offset: Option<Vec<f64>> = None;
        for o in &self.offsets {
            let a = o.evaluate(batch)?;
            and_mask(&mut valid, a.nulls().map(|m| m.inner().clone()));
            match &mut offset {
                None => offset = Some(a.values().to_vec()),
                Some(sum) => sum
                    .iter_mut()
                    .zip(a.values().iter())
                    .for_each(|(s, v)| *s += v),
            }
        }
        let rows: Vec<u32> = match &valid {
            None => (0..n as u32).collect(),
            Some(m) => m.set_indices().map(|i| i as u32).collect(),
        };
        Ok(Frame {
            finite_checked: check_finite,
            nrows: n,
            rows,
            nums,
            codes,
            response,
            weights: wts,
            offset,
        })
    }

    /// Writes the model-matrix rows `frame.rows[start..start + out.nrows()]` into `out`
    /// (columns `0..ncols`).
    pub fn fill(&self, frame: &Frame, start: usize, mut out: MatMut<'_, f64>) {
        let rows = &frame.rows[start..start + out.nrows()];
        let layout = self.layout();
        if let Some(col) = layout.intercept {
            out.as_mut().col_mut(col).fill(1.0);
        }
        for (t, tl) in self.terms.iter().zip(&layout.terms) {
            // The product of the term's numeric variables, per row.
            let value = |r: usize| -> f64 {
                let mut v = 1.0;
                for &ni in &t.numerics {
                    v *= frame.nums[ni][r];
                }
                v
            };
            if t.factors.is_empty() {
                if let Some(col) = tl.columns.first().copied().flatten() {
                    let mut dst = out.as_mut().col_mut(col);
                    if let [ni] = t.numerics[..] {
                        let src = &frame.nums[ni];
                        let first = rows.first().map_or(0, |&r| r as usize);
                        let contiguous = rows
                            .last()
                            .is_some_and(|&l| l as usize - first + 1 == rows.len());
                        match dst.as_mut().try_as_col_major_mut() {
                            Some(d) if contiguous => {
                                d.as_slice_mut()
                                    .copy_from_slice(&src[first..first + rows.len()]);
                            }
                            _ => {
                                for (k, &r) in rows.iter().enumerate() {
                                    dst[k] = src[r as usize];
                                }
                            }
                        }
                    } else {
                        for (k, &r) in rows.iter().enumerate() {
                            dst[k] = value(r as usize);
                        }
                    }
                }
                continue;
            }
            for col in tl.columns.iter().flatten() {
                out.as_mut().col_mut(*col).fill(0.0);
            }
            // One factor alone: an indicator per row, the common case, without the level
            // arithmetic.
            if let ([fi], []) = (&t.factors[..], &t.numerics[..]) {
                let codes = &frame.codes[*fi];
                for (k, &r) in rows.iter().enumerate() {
                    if let Some(Some(col)) = tl.columns.get(codes[r as usize] as usize) {
                        out[(k, *col)] = 1.0;
                    }
                }
                continue;
            }
            for (k, &r) in rows.iter().enumerate() {
                let r = r as usize;
                let mut combo = 0;
                let mut stride = 1;
                for (&fi, &size) in t.factors.iter().zip(&tl.sizes) {
                    combo += frame.codes[fi][r] as usize * stride;
                    stride *= size;
                }
                if let Some(col) = tl.columns[combo] {
                    out[(k, col)] = value(r);
                }
            }
        }
    }

    /// The model matrix's columns as simple pieces, in column order, when every term is one
    /// numeric variable or one factor alone (no interaction, no product): the shape a block
    /// kernel can build without [`Design::fill`]. `None` otherwise.
    pub(crate) fn simple_columns(&self) -> Option<Vec<SimpleColumns>> {
        let layout = self.layout();
        let mut out = Vec::with_capacity(self.terms.len() + 1);
        let mut next = 0usize;
        if let Some(c) = layout.intercept {
            if c != 0 {
                return None;
            }
            out.push(SimpleColumns::Intercept);
            next = 1;
        }
        for (t, tl) in self.terms.iter().zip(&layout.terms) {
            match (&t.factors[..], &t.numerics[..]) {
                ([], [ni]) => {
                    // A term without a column (aliased at design time) is not simple.
                    let col = tl.columns.first().copied().flatten()?;
                    if col != next {
                        return None;
                    }
                    next += 1;
                    out.push(SimpleColumns::Numeric { col, var: *ni });
                }
                ([fi], []) => {
                    // The level columns must follow one another, in level order.
                    for col in tl.columns.iter().flatten() {
                        if *col != next {
                            return None;
                        }
                        next += 1;
                    }
                    out.push(SimpleColumns::Factor {
                        factor: *fi,
                        columns: tl.columns.clone(),
                    });
                }
                _ => return None,
            }
        }
        (next == self.ncols).then_some(out)
    }

    /// Per term, the model-matrix column of each level combination (computed once).
    fn layout(&self) -> &Layout {
        self.layout.get_or_init(|| {
            let mut terms: Vec<TermLayout> = self
                .terms
                .iter()
                .map(|t| {
                    let sizes: Vec<usize> = t
                        .factors
                        .iter()
                        .map(|&f| self.factors[f].levels.len())
                        .collect();
                    TermLayout {
                        columns: vec![None; sizes.iter().product::<usize>().max(1)],
                        sizes,
                    }
                })
                .collect();
            let mut intercept = None;
            for c in &self.coefs {
                match c.term {
                    None => intercept = c.column,
                    Some(ti) => {
                        let tl = &mut terms[ti];
                        let mut combo = 0;
                        let mut stride = 1;
                        for (&l, &size) in c.levels.iter().zip(&tl.sizes) {
                            combo += l * stride;
                            stride *= size;
                        }
                        tl.columns[combo] = c.column;
                    }
                }
            }
            Layout { intercept, terms }
        })
    }

    /// The offset of `frame.rows[start..start + len]` (the sum of the offsets; zeros without any).
    pub fn offset_values(&self, frame: &Frame, start: usize, len: usize) -> Vec<f64> {
        match &frame.offset {
            None => vec![0.0; len],
            Some(o) => frame.rows[start..start + len]
                .iter()
                .map(|&r| o[r as usize])
                .collect(),
        }
    }

    /// The response values of `frame.rows[start..start + len]`.
    pub fn response_values(&self, frame: &Frame, start: usize, len: usize) -> Vec<f64> {
        let Some((vals, _)) = &frame.response else {
            return vec![f64::NAN; len];
        };
        frame.rows[start..start + len]
            .iter()
            .map(|&r| vals[r as usize])
            .collect()
    }
}

/// A piece of a model matrix whose terms are simple ([`Design::simple_columns`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SimpleColumns {
    /// The intercept, column 0.
    Intercept,
    /// Numeric variable `var` (of [`Frame::nums`]) in column `col`.
    Numeric { col: usize, var: usize },
    /// Factor `factor` (of [`Frame::codes`]): per level, its column (`None`: the dropped
    /// reference level).
    Factor {
        factor: usize,
        columns: Vec<Option<usize>>,
    },
}

/// Where each level combination of each term goes in the model matrix.
#[derive(Debug, Clone, Default, PartialEq)]
struct Layout {
    intercept: Option<usize>,
    terms: Vec<TermLayout>,
}

#[derive(Debug, Clone, Default, PartialEq)]
struct TermLayout {
    /// Levels per factor of the term.
    sizes: Vec<usize>,
    /// Per level combination (first factor fastest): its column, `None` when dropped.
    columns: Vec<Option<usize>>,
}

fn num_source_columns(s: &NumSource) -> Vec<String> {
    match s {
        NumSource::Column(c) | NumSource::Codes { column: c, .. } => vec![c.clone()],
        NumSource::Computed(e) => e.columns(),
    }
}

fn and_mask(valid: &mut Option<BooleanBuffer>, ok: Option<BooleanBuffer>) {
    if let Some(ok) = ok {
        *valid = Some(match valid.take() {
            Some(v) => &v & &ok,
            None => ok,
        });
    }
}

/// A chunk evaluated for a design: variable values for every row, and the rows with no missing
/// value in any of them.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Whether NaN and infinite values of float columns were made missing (false: they may be
    /// among [`Frame::rows`]; see [`Design::frame_with`]).
    pub finite_checked: bool,
    /// Rows in the chunk.
    pub nrows: usize,
    /// The rows with every variable (and weight) present, in order.
    pub rows: Vec<u32>,
    /// Per numeric variable, its values (anything where missing).
    pub nums: Vec<ScalarBuffer<f64>>,
    /// Per factor, its level index per row (`u32::MAX` where missing).
    pub codes: Vec<Vec<u32>>,
    /// The response values and where they are present (`None`: everywhere), when read.
    pub response: Option<(ScalarBuffer<f64>, Option<BooleanBuffer>)>,
    /// Per weight column, its values.
    pub weights: Vec<ScalarBuffer<f64>>,
    /// The sum of the design's offsets per row (`None` without offsets).
    pub offset: Option<Vec<f64>>,
}

impl Frame {
    /// Number of rows with something missing.
    pub fn n_missing(&self) -> usize {
        self.nrows - self.rows.len()
    }

    /// The chunk rows of `rows[start..start + len]` as a range, when they are consecutive
    /// (`None` otherwise, and for no rows).
    pub fn consecutive(&self, start: usize, len: usize) -> Option<std::ops::Range<usize>> {
        let rows = &self.rows[start..start + len];
        let (lo, hi) = (*rows.first()? as usize, *rows.last()? as usize);
        (hi - lo + 1 == len).then_some(lo..hi + 1)
    }

    /// Whether the float values of rows `rows[start..start + len]` (numeric variables,
    /// response, weights) are all finite — always true for a checked frame.
    pub fn rows_finite(&self, start: usize, len: usize) -> bool {
        if self.finite_checked {
            return true;
        }
        let rows = &self.rows[start..start + len];
        let consecutive = self.consecutive(start, len);
        let all = |v: &[f64]| match &consecutive {
            Some(range) => v[range.clone()]
                .iter()
                .fold(true, |ok, x| ok & x.is_finite()),
            None => rows
                .iter()
                .fold(true, |ok, &r| ok & v[r as usize].is_finite()),
        };
        self.nums.iter().all(|v| all(v))
            && self.weights.iter().all(|v| all(v))
            && self.response.as_ref().is_none_or(|(v, _)| all(v))
    }

    /// Whether row `r` of the chunk has a response value.
    pub fn has_response(&self, r: usize) -> bool {
        match &self.response {
            None => false,
            Some((_, None)) => true,
            Some((_, Some(m))) => m.value(r),
        }
    }
}

/// Values and presence (`None`: all present) of a numeric variable. NaN and infinite values are
/// missing, as R's model functions treat them.
/// A weight column's values and presence; a negative present weight is an error naming its row.
pub(crate) fn weight_values(
    column: &str,
    batch: &RecordBatch,
    check: bool,
) -> Result<(ScalarBuffer<f64>, Option<BooleanBuffer>)> {
    let (vals, ok) = numeric_values(&NumSource::Column(column.to_string()), batch, check)?;
    for (i, &v) in vals.iter().enumerate() {
        if v < 0.0 && ok.as_ref().is_none_or(|m| m.value(i)) {
            return Err(Error::BadValue {
                location: format!("row {} of the chunk, column '{column}'", i + 1),
                message: format!("weight {v} is negative; weights must be zero or positive"),
            });
        }
    }
    Ok((vals, ok))
}

pub(crate) fn numeric_values(
    source: &NumSource,
    batch: &RecordBatch,
    check: bool,
) -> Result<(ScalarBuffer<f64>, Option<BooleanBuffer>)> {
    let a = match source {
        NumSource::Column(c) => match batch.column_by_name(c) {
            Some(col) if *col.data_type() == DataType::Float64 => {
                let a = col.as_primitive::<Float64Type>();
                // A branch-free scan (it vectorizes; `all` stops early but does not).
                if !check || a.values().iter().fold(true, |ok, v| ok & v.is_finite()) {
                    // The column as it is: no copy.
                    return Ok((a.values().clone(), a.nulls().map(|n| n.inner().clone())));
                }
                Expr::Column(c.clone()).evaluate(batch)?
            }
            _ => Expr::Column(c.clone()).evaluate(batch)?,
        },
        NumSource::Computed(e) => e.evaluate(batch)?,
        NumSource::Codes { column, levels } => {
            let f = FactorVar {
                name: format!("N({column})"),
                source: FactorSource::Column(column.clone()),
                levels: levels.clone(),
            };
            let (codes, ok) = factor_codes(&f, batch, "")?;
            return Ok((codes.iter().map(|&c| c as f64 + 1.0).collect(), ok));
        }
    };
    Ok((a.values().clone(), a.nulls().map(|n| n.inner().clone())))
}

fn unseen_level(f: &FactorVar, level: &str, what: &str) -> Error {
    let shown: Vec<&str> = f.levels.iter().take(20).map(String::as_str).collect();
    Error::invalid(format!(
        "factor '{}'{what}: level '{level}' is not one of the model's levels ({}{}); the model can only use levels it was fitted on",
        f.name,
        shown.join(", "),
        if f.levels.len() > 20 { ", ..." } else { "" }
    ))
}

pub(crate) fn factor_codes(
    f: &FactorVar,
    batch: &RecordBatch,
    what: &str,
) -> Result<(Vec<u32>, Option<BooleanBuffer>)> {
    let column = f.column();
    let schema = batch.schema();
    let Some((idx, _)) = schema.column_with_name(column) else {
        return Err(Error::UnknownColumn {
            name: column.to_string(),
            source_name: "the data".into(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
        });
    };
    let arr = batch.column(idx);
    let n = arr.len();
    let mut codes = vec![u32::MAX; n];
    let mut ok = vec![false; n];
    match (&f.source, arr.data_type()) {
        (FactorSource::Column(_), DataType::Dictionary(k, _)) if **k == DataType::Int32 => {
            let dict: &DictionaryArray<Int32Type> = arr.as_dictionary();
            let values = arrow::compute::cast(dict.values(), &DataType::Utf8)
                .map_err(|e| Error::arrow(format!("reading the levels of '{column}'"), e))?;
            let values = values.as_string::<i32>();
            let index: HashMap<&str, u32> = f
                .levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i as u32))
                .collect();
            // Map each dictionary entry once; only entries that are used must be known.
            let map: Vec<Option<u32>> = (0..values.len())
                .map(|i| {
                    if values.is_null(i) {
                        None
                    } else {
                        index.get(values.value(i)).copied()
                    }
                })
                .collect();
            // The usual case, without a branch per row: no missing keys, every entry a level.
            let table: Vec<u32> = map.iter().flatten().copied().collect();
            if dict.keys().null_count() == 0 && table.len() == map.len() {
                let codes: Vec<u32> = dict
                    .keys()
                    .values()
                    .iter()
                    .map(|&k| table.get(k as usize).copied().unwrap_or(u32::MAX))
                    .collect();
                if !codes.contains(&u32::MAX) {
                    return Ok((codes, None));
                }
            }
            for (i, key) in dict.keys().iter().enumerate() {
                let Some(k) = key else { continue };
                let k = k as usize;
                match map.get(k).copied().flatten() {
                    Some(c) => {
                        codes[i] = c;
                        ok[i] = true;
                    }
                    None if k < values.len() && !values.is_null(k) => {
                        return Err(unseen_level(f, values.value(k), what));
                    }
                    None => {}
                }
            }
        }
        (FactorSource::Column(_), dt) if is_text(dt) || matches!(dt, DataType::Dictionary(..)) => {
            let strings = arrow::compute::cast(arr, &DataType::Utf8)
                .map_err(|e| Error::arrow(format!("reading the levels of '{column}'"), e))?;
            let strings = strings.as_string::<i32>();
            let index: HashMap<&str, u32> = f
                .levels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.as_str(), i as u32))
                .collect();
            for (i, s) in strings.iter().enumerate() {
                let Some(s) = s else { continue };
                match index.get(s) {
                    Some(&c) => {
                        codes[i] = c;
                        ok[i] = true;
                    }
                    None => return Err(unseen_level(f, s, what)),
                }
            }
        }
        (FactorSource::Integer { low, .. }, dt) if is_numeric_type(dt) => {
            let vals = Expr::Column(column.to_string()).evaluate(batch)?;
            let nlev = f.levels.len() as i64;
            for (i, v) in vals.iter().enumerate() {
                let Some(v) = v else { continue };
                let k = v.floor() as i64 - low;
                if k < 0 || k >= nlev {
                    return Err(unseen_level(f, &format!("{}", v.floor()), what));
                }
                codes[i] = k as u32;
                ok[i] = true;
            }
        }
        (_, dt) => {
            return Err(Error::invalid(format!(
                "column '{column}' has type {dt}, but the model uses it as the factor '{}'",
                f.name
            )));
        }
    }
    let ok = if ok.iter().all(|&b| b) {
        None
    } else {
        Some(BooleanBuffer::from(ok))
    };
    Ok((codes, ok))
}

// ---------------------------------------------------------------------------------------------
// The levels pass

/// A pass that finds the levels of factor and text columns and the range of `F(x)` columns.
#[derive(Debug, Clone)]
pub struct LevelsPema {
    request: LevelsRequest,
}

/// The partial result of [`LevelsPema`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LevelsPartial {
    /// Per level column: levels in order of first appearance; whether the column is text.
    levels: Vec<(Vec<String>, bool)>,
    /// Per range column: min and max (None before any value).
    ranges: Vec<Option<(f64, f64)>>,
}

impl LevelsPema {
    /// A pass for `request`.
    pub fn new(request: LevelsRequest) -> Self {
        LevelsPema { request }
    }
}

fn push_level(levels: &mut Vec<String>, seen: &mut std::collections::HashSet<String>, l: &str) {
    if !seen.contains(l) {
        seen.insert(l.to_string());
        levels.push(l.to_string());
    }
}

impl Pema for LevelsPema {
    type Partial = LevelsPartial;
    type Output = FoundLevels;

    fn columns(&self) -> Vec<String> {
        let mut c = self.request.level_columns.clone();
        for r in &self.request.range_columns {
            if !c.contains(r) {
                c.push(r.clone());
            }
        }
        c
    }

    fn init(&self) -> LevelsPartial {
        LevelsPartial {
            levels: vec![(Vec::new(), false); self.request.level_columns.len()],
            ranges: vec![None; self.request.range_columns.len()],
        }
    }

    fn process(&self, acc: &mut LevelsPartial, chunk: &RecordBatch) -> Result<()> {
        for (i, column) in self.request.level_columns.iter().enumerate() {
            let arr = chunk.column_by_name(column).ok_or_else(|| {
                Error::invalid(format!("column '{column}' is missing from a chunk"))
            })?;
            let (levels, text) = &mut acc.levels[i];
            let mut seen: std::collections::HashSet<String> = levels.iter().cloned().collect();
            match arr.data_type() {
                DataType::Dictionary(..) => {
                    let dict = arr.as_any_dictionary();
                    let values =
                        arrow::compute::cast(dict.values(), &DataType::Utf8).map_err(|e| {
                            Error::arrow(format!("reading the levels of '{column}'"), e)
                        })?;
                    let values = values.as_string::<i32>();
                    // Levels in dictionary order, but only those used.
                    let keys = arrow::compute::cast(dict.keys(), &DataType::Int64)
                        .map_err(|e| Error::arrow(format!("reading the codes of '{column}'"), e))?;
                    let keys = keys.as_primitive::<arrow::datatypes::Int64Type>();
                    let mut used = vec![false; values.len()];
                    for k in keys.iter().flatten() {
                        if let Some(u) = used.get_mut(k as usize) {
                            *u = true;
                        }
                    }
                    for (j, u) in used.iter().enumerate() {
                        if *u && !values.is_null(j) {
                            push_level(levels, &mut seen, values.value(j));
                        }
                    }
                }
                _ => {
                    *text = true;
                    let strings = arrow::compute::cast(arr, &DataType::Utf8)
                        .map_err(|e| Error::arrow(format!("reading column '{column}'"), e))?;
                    for s in strings.as_string::<i32>().iter().flatten() {
                        push_level(levels, &mut seen, s);
                    }
                }
            }
        }
        for (i, column) in self.request.range_columns.iter().enumerate() {
            let vals = Expr::Column(column.clone()).evaluate(chunk)?;
            for v in vals.iter().flatten() {
                let r = acc.ranges[i].get_or_insert((v, v));
                r.0 = r.0.min(v);
                r.1 = r.1.max(v);
            }
        }
        Ok(())
    }

    fn merge(&self, into: &mut LevelsPartial, other: LevelsPartial) -> Result<()> {
        for ((a, ta), (b, tb)) in into.levels.iter_mut().zip(other.levels) {
            let mut seen: std::collections::HashSet<String> = a.iter().cloned().collect();
            for l in &b {
                push_level(a, &mut seen, l);
            }
            *ta |= tb;
        }
        for (a, b) in into.ranges.iter_mut().zip(other.ranges) {
            *a = match (*a, b) {
                (Some((l1, h1)), Some((l2, h2))) => Some((l1.min(l2), h1.max(h2))),
                (x, None) => x,
                (None, y) => y,
            };
        }
        Ok(())
    }

    fn finish(&mut self, acc: LevelsPartial) -> Result<Step<FoundLevels>> {
        let levels = self
            .request
            .level_columns
            .iter()
            .zip(acc.levels)
            .map(|(c, (mut l, text))| {
                // Text has no declared order: sort, as R's factor() does, so the coding does not
                // depend on the order of the rows.
                if text {
                    l.sort();
                }
                (c.clone(), l, text)
            })
            .collect();
        let ranges = self
            .request
            .range_columns
            .iter()
            .zip(acc.ranges)
            .filter_map(|(c, r)| r.map(|(l, h)| (c.clone(), l, h)))
            .collect();
        Ok(Step::Done(FoundLevels { levels, ranges }))
    }
}
