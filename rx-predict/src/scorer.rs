//! Real-time scoring: a model prepared once, then one row (or a small batch) at a time without
//! the chunk machinery.
//!
//! [`Scorer::new`] turns a [`Model`] into flat tables: the data columns it reads, how each
//! variable of the design is computed from them (computed terms such as `log(x)` compiled to
//! refer to inputs by position, factor levels in hash maps), which variables and levels make each
//! model-matrix column, and the coefficients and covariance of the columns that are not aliased.
//! A row then costs a few hash look-ups (factor levels only) and `O(p)` arithmetic for the
//! prediction, `O(p²)` with a standard error.
//!
//! The chunked path ([`crate::rx_predict_default`]) scores through the same [`Scorer`], from the
//! variables that [`Design::frame`] reads out of each chunk, so the two agree bit for bit.
//!
//! # Standard errors and intervals
//!
//! With `x` the model-matrix row, `β` the coefficients, `C = (X'WX)⁻¹` and `φ` the dispersion
//! (σ² for linear models):
//!
//! - the linear predictor is `η = x'β` (plus the offset, if the model has one), its variance
//!   `x'Cx·φ` (for a cube model, whose cells are fitted by a partitioned inverse,
//!   `φ (1/n_k + (z − z̄_k)' W⁻¹ (z − z̄_k))` for a row in cell `k`);
//! - linear models: `<y>_StdErr = √(x'Cx·φ)`; the interval is `η ± t·√(x'Cx·φ)` for a confidence
//!   interval and `η ± t·√(x'Cx·φ + φ)` for a prediction interval (a new observation of unit
//!   weight), with `t` Student's quantile on the residual degrees of freedom — R's `predict.lm`;
//! - generalized linear models, response scale: the prediction is `μ = g⁻¹(η)`, its standard
//!   error `|dμ/dη|·√(x'Cx·φ)` (the delta method, R's `predict.glm(se.fit = TRUE)`); the
//!   confidence interval is formed on the link scale, `η ± q·√(x'Cx·φ)`, and transformed back by
//!   `g⁻¹` (so it stays inside the response's range and is not symmetric), with `q` the normal
//!   quantile when the family fixes the dispersion (binomial, Poisson) and Student's t on the
//!   residual degrees of freedom otherwise. On the link scale everything stays on `η`. A
//!   prediction interval for a GLM is refused: it would need the response distribution, not only
//!   the mean's uncertainty.

use std::collections::HashMap;
use std::fmt;

use arrow::array::AsArray;
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use rx_core::formula::{BinOp, Expr, Func};
use rx_core::{Error, Result};
use rx_models::design::{Design, FactorSource, Frame, NumSource};
use rx_models::family::Link;
use rx_models::{cube_fit::CubeCells, dist};

use crate::model::{Model, ModelKind};
use crate::predict::{Interval, PredictOptions, PredictType};

/// One input value of a row to score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// A number (NaN and infinities count as missing, as in the chunked path).
    Num(f64),
    /// A logical (0 or 1 in a numeric term).
    Bool(bool),
    /// A factor level.
    Text(&'a str),
    /// Missing: the row's predictions are missing.
    Missing,
}

impl From<f64> for Value<'_> {
    fn from(v: f64) -> Self {
        Value::Num(v)
    }
}

impl From<f32> for Value<'_> {
    fn from(v: f32) -> Self {
        Value::Num(f64::from(v))
    }
}

impl From<i32> for Value<'_> {
    fn from(v: i32) -> Self {
        Value::Num(f64::from(v))
    }
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        // As arrow's cast to Float64 does.
        Value::Num(v as f64)
    }
}

impl From<bool> for Value<'_> {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Missing, Into::into)
    }
}

/// The predictions for one row; all `None` when a variable the model uses is missing.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Score {
    /// The prediction (on the response or the link scale, as asked).
    pub pred: Option<f64>,
    /// Its standard error, when asked.
    pub std_err: Option<f64>,
    /// The lower interval limit, when an interval was asked.
    pub lower: Option<f64>,
    /// The upper interval limit.
    pub upper: Option<f64>,
}

/// A computed term's expression with its columns replaced by input positions.
#[derive(Debug, Clone)]
enum Compiled {
    Input(usize),
    Number(f64),
    Neg(Box<Compiled>),
    Binary(BinOp, Box<Compiled>, Box<Compiled>),
    Call(Func, Box<Compiled>),
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

impl Compiled {
    /// Evaluates as `Expr::evaluate` does on a chunk: a missing or non-finite intermediate makes
    /// the result missing.
    fn eval(&self, inputs: &[Option<f64>]) -> Option<f64> {
        match self {
            Compiled::Input(i) => inputs[*i],
            Compiled::Number(v) => finite(*v),
            Compiled::Neg(e) => e.eval(inputs).map(|x| -x).and_then(finite),
            Compiled::Call(f, e) => e.eval(inputs).map(|x| f.apply(x)).and_then(finite),
            Compiled::Binary(op, a, b) => {
                let a = a.eval(inputs)?;
                let b = b.eval(inputs)?;
                finite(op.apply(a, b))
            }
        }
    }
}

/// How a numeric variable of the design is computed from the inputs.
#[derive(Debug, Clone)]
enum NumPlan {
    Input(usize),
    Computed(Compiled),
    /// `N(f)`: 1-based level position.
    Codes(usize, HashMap<String, u32>),
}

/// How a factor of the design gets its level code.
#[derive(Debug, Clone)]
enum FacPlan {
    Text {
        input: usize,
        name: String,
        levels: HashMap<String, u32>,
        shown: String,
    },
    Integer {
        input: usize,
        name: String,
        low: i64,
        nlev: i64,
    },
}

/// What goes into one model-matrix column: the product of numeric variables, times the
/// indicator that each factor has its level.
#[derive(Debug, Clone, Default)]
struct ColPlan {
    numerics: Vec<usize>,
    factors: Vec<(usize, u32)>,
}

/// The per-cell statistics of a cube model.
#[derive(Debug, Clone)]
struct CubePlan {
    cells: CubeCells,
    pz: usize,
}

/// Whether an input column is read as numbers or as level text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InputKind {
    Numeric,
    Text,
}

/// A fitted model prepared for scoring rows.
#[derive(Clone)]
pub struct Scorer {
    function_name: &'static str,
    formula: String,
    design: Design,
    kind: ModelKind,
    link: Link,
    predict_type: PredictType,
    std_errors: bool,
    interval: Interval,
    /// The lower-tail quantile `q((1 − level)/2)` (negative); lower = fit + q·w.
    quantile: f64,
    dispersion: f64,
    inputs: Vec<String>,
    input_kinds: Vec<InputKind>,
    input_index: HashMap<String, usize>,
    numerics: Vec<NumPlan>,
    factors: Vec<FacPlan>,
    columns: Vec<ColPlan>,
    /// The design's offsets (summed in order; the row is missing when one is).
    offsets: Vec<Compiled>,
    kept: Vec<usize>,
    beta: Vec<f64>,
    /// `C` over the kept columns, row-major `k × k`.
    cov: Vec<f64>,
    cube: Option<CubePlan>,
}

impl fmt::Debug for Scorer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scorer")
            .field("model", &self.function_name)
            .field("formula", &self.formula)
            .field("inputs", &self.inputs)
            .field("predict_type", &self.predict_type)
            .field("std_errors", &self.std_errors)
            .field("interval", &self.interval)
            .finish()
    }
}

fn bad_model(formula: &str, what: &str) -> Error {
    Error::invalid(format!(
        "the model for '{formula}' is inconsistent ({what}); it was damaged or edited after it was fitted: fit and save it again"
    ))
}

/// Levels as a lookup table and as the start of a list for messages.
fn level_map(levels: &[String]) -> (HashMap<String, u32>, String) {
    let map = levels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i as u32))
        .collect();
    let shown: Vec<&str> = levels.iter().take(20).map(String::as_str).collect();
    let more = if levels.len() > 20 { ", ..." } else { "" };
    (map, format!("{}{more}", shown.join(", ")))
}

/// Inputs registered while compiling, each once.
#[derive(Default)]
struct InputTable {
    names: Vec<String>,
    kinds: Vec<InputKind>,
}

impl InputTable {
    fn add(&mut self, name: &str, kind: InputKind) -> usize {
        match self.names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                self.names.push(name.to_string());
                self.kinds.push(kind);
                self.names.len() - 1
            }
        }
    }

    fn compile(&mut self, e: &Expr) -> Compiled {
        match e {
            Expr::Column(c) => Compiled::Input(self.add(c, InputKind::Numeric)),
            Expr::Number(v) => Compiled::Number(*v),
            Expr::Neg(a) => Compiled::Neg(Box::new(self.compile(a))),
            Expr::Call { func, arg } => Compiled::Call(*func, Box::new(self.compile(arg))),
            Expr::Binary { op, lhs, rhs } => Compiled::Binary(
                *op,
                Box::new(self.compile(lhs)),
                Box::new(self.compile(rhs)),
            ),
        }
    }
}

impl Scorer {
    /// Prepares `model` for scoring predictions on the response scale, without standard errors.
    pub fn new(model: &Model) -> Result<Scorer> {
        Scorer::with_options(model, &PredictOptions::default())
    }

    /// Prepares `model` for scoring with the prediction type, standard errors and interval of
    /// `options` (the other options concern the chunked path only).
    pub fn with_options(model: &Model, options: &PredictOptions) -> Result<Scorer> {
        let p = model.predictor()?;
        let d = &p.design;
        let formula = d.formula.clone();
        let kind = model
            .kind()
            .ok_or_else(|| Error::invalid("a tree model has no linear scorer"))?;
        if !matches!(
            options.predict_type,
            PredictType::Response | PredictType::Link
        ) {
            return Err(Error::invalid(format!(
                "{} '{formula}': prediction type {:?} is for tree models; use response or link",
                model.function_name(),
                options.predict_type
            )));
        }
        let level = options.confidence_level;
        if options.interval != Interval::None && !(level > 0.0 && level < 1.0) {
            return Err(Error::invalid(format!(
                "confidence_level {level} is not between 0 and 1; give e.g. 0.95 for a 95% interval"
            )));
        }
        if options.interval == Interval::Prediction && matches!(kind, ModelKind::Glm { .. }) {
            return Err(Error::invalid(format!(
                "{} '{formula}': prediction intervals are defined for linear models only; a GLM's new observation follows its family's distribution, not a normal one. Ask for interval = confidence (the mean's interval) instead",
                model.function_name()
            )));
        }
        let df = p.df_residual;
        let tail = (1.0 - level) / 2.0;
        let quantile = match kind {
            ModelKind::Glm {
                dispersion_fixed: true,
            } => dist::qnorm(tail),
            _ => dist::qt(tail, df),
        };

        // Inputs and variables.
        let mut table = InputTable::default();
        let mut numerics = Vec::with_capacity(d.numerics.len());
        for v in &d.numerics {
            numerics.push(match &v.source {
                NumSource::Column(c) => NumPlan::Input(table.add(c, InputKind::Numeric)),
                NumSource::Computed(e) => NumPlan::Computed(table.compile(e)),
                NumSource::Codes { column, levels } => {
                    NumPlan::Codes(table.add(column, InputKind::Text), level_map(levels).0)
                }
            });
        }
        let mut factors = Vec::with_capacity(d.factors.len());
        for f in &d.factors {
            factors.push(match &f.source {
                FactorSource::Column(c) => {
                    let (levels, shown) = level_map(&f.levels);
                    FacPlan::Text {
                        input: table.add(c, InputKind::Text),
                        name: f.name.clone(),
                        levels,
                        shown,
                    }
                }
                FactorSource::Integer { column, low } => FacPlan::Integer {
                    input: table.add(column, InputKind::Numeric),
                    name: f.name.clone(),
                    low: *low,
                    nlev: f.levels.len() as i64,
                },
            });
        }

        let offsets = d.offsets.iter().map(|o| table.compile(o)).collect();

        // Model-matrix columns.
        let ncols = d.ncols;
        if p.beta.len() != ncols || p.aliased.len() != ncols {
            return Err(bad_model(
                &formula,
                "coefficients and columns differ in number",
            ));
        }
        let mut columns = vec![ColPlan::default(); ncols];
        let mut seen = vec![false; ncols];
        for c in &d.coefs {
            let Some(col) = c.column else { continue };
            if col >= ncols || seen[col] {
                return Err(bad_model(
                    &formula,
                    "a coefficient names a column twice or out of range",
                ));
            }
            seen[col] = true;
            let Some(ti) = c.term else { continue };
            let t = d
                .terms
                .get(ti)
                .ok_or_else(|| bad_model(&formula, "a coefficient names a missing term"))?;
            if t.numerics.iter().any(|&n| n >= numerics.len())
                || t.factors.len() != c.levels.len()
                || t.factors
                    .iter()
                    .zip(&c.levels)
                    .any(|(&f, &l)| d.factors.get(f).is_none_or(|f| l >= f.levels.len()))
            {
                return Err(bad_model(
                    &formula,
                    "a term names a missing variable or level",
                ));
            }
            columns[col] = ColPlan {
                numerics: t.numerics.clone(),
                factors: t
                    .factors
                    .iter()
                    .zip(&c.levels)
                    .map(|(&f, &l)| (f, l as u32))
                    .collect(),
            };
        }
        if seen.iter().any(|s| !s) {
            return Err(bad_model(
                &formula,
                "a model-matrix column has no coefficient",
            ));
        }
        let kept: Vec<usize> = (0..ncols).filter(|&j| !p.aliased[j]).collect();
        let beta = kept.iter().map(|&j| p.beta[j]).collect();
        let cube = match &p.cube {
            Some(cells) => {
                let k = cells.cell_columns.len();
                let pz = cells.z_columns.len();
                let ok = cells.n.len() == k
                    && cells.means.len() == k * (pz + 1)
                    && cells.within_inv.len() == pz * pz
                    && cells
                        .cell_columns
                        .iter()
                        .chain(&cells.z_columns)
                        .all(|&c| c < ncols);
                if !ok {
                    return Err(bad_model(
                        &formula,
                        "the cube cells do not match the columns",
                    ));
                }
                Some(CubePlan {
                    cells: cells.clone(),
                    pz,
                })
            }
            None => None,
        };
        let cov = if cube.is_some() {
            Vec::new()
        } else {
            if p.cov_unscaled.len() != ncols * ncols {
                return Err(bad_model(
                    &formula,
                    "the covariance is not columns × columns",
                ));
            }
            let mut cov = Vec::with_capacity(kept.len() * kept.len());
            for &i in &kept {
                for &j in &kept {
                    cov.push(p.cov_unscaled[i * ncols + j]);
                }
            }
            cov
        };
        let input_index = table
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Ok(Scorer {
            function_name: model.function_name(),
            formula,
            design: d.clone(),
            kind,
            link: p.link,
            predict_type: options.predict_type,
            std_errors: options.compute_std_errors,
            interval: options.interval,
            quantile,
            dispersion: p.dispersion,
            inputs: table.names,
            input_kinds: table.kinds,
            input_index,
            numerics,
            factors,
            columns,
            offsets,
            kept,
            beta,
            cov,
            cube,
        })
    }

    /// The data columns the model reads (its predictors and offsets; not the response), in the
    /// order [`Scorer::score_values`] takes them.
    pub fn inputs(&self) -> &[String] {
        &self.inputs
    }

    /// The model's design (coding, response, terms).
    pub fn design(&self) -> &Design {
        &self.design
    }

    /// The link of the model.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Scores one row given as `(column, value)` pairs (any order; columns the model does not
    /// read are ignored). Every input of [`Scorer::inputs`] must be present: pass
    /// [`Value::Missing`] for a missing value.
    pub fn score(&self, row: &[(&str, Value<'_>)]) -> Result<Score> {
        let n = self.inputs.len();
        let mut values = [Value::Missing; 32];
        let mut heap;
        let slots: &mut [Value<'_>] = if n <= values.len() {
            &mut values[..n]
        } else {
            heap = vec![Value::Missing; n];
            &mut heap
        };
        let mut found = 0usize;
        let mut have = vec![false; n];
        for (k, (name, v)) in row.iter().enumerate() {
            // Rows given in the order of `inputs` need no hashing.
            let i = if self.inputs.get(k).is_some_and(|s| s == name) {
                Some(k)
            } else {
                self.input_index.get(*name).copied()
            };
            if let Some(i) = i
                && !have[i]
            {
                have[i] = true;
                found += 1;
                slots[i] = *v;
            }
        }
        if found < n {
            let missing: Vec<&str> = (0..n)
                .filter(|&i| !have[i])
                .map(|i| self.inputs[i].as_str())
                .collect();
            return Err(Error::invalid(format!(
                "the row has no value for {} that the model '{}' reads; give every column of Scorer::inputs() ({}), with Value::Missing where a value is missing",
                missing
                    .iter()
                    .map(|m| format!("'{m}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.formula,
                self.inputs.join(", ")
            )));
        }
        self.score_values(slots)
    }

    /// Scores one row given as values in the order of [`Scorer::inputs`] (no look-ups by name).
    pub fn score_values(&self, values: &[Value<'_>]) -> Result<Score> {
        if values.len() != self.inputs.len() {
            return Err(Error::invalid(format!(
                "{} values given; the model '{}' reads {} columns: {}",
                values.len(),
                self.formula,
                self.inputs.len(),
                self.inputs.join(", ")
            )));
        }
        // Inputs as numbers (numeric inputs) — factor inputs are read by their plans.
        let mut nums_in = [None; 32];
        let mut heap_in;
        let nums_in: &mut [Option<f64>] = if values.len() <= nums_in.len() {
            &mut nums_in[..values.len()]
        } else {
            heap_in = vec![None; values.len()];
            &mut heap_in
        };
        for (i, v) in values.iter().enumerate() {
            if self.input_kinds[i] == InputKind::Numeric {
                nums_in[i] = match v {
                    Value::Num(x) => finite(*x),
                    Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                    Value::Missing => None,
                    Value::Text(t) => {
                        return Err(Error::invalid(format!(
                            "column '{}' is numeric in the model '{}', but the row gives the text '{t}'; give a number",
                            self.inputs[i], self.formula
                        )));
                    }
                };
            }
        }
        let mut buf = Buffers::new(self);
        let mut complete = true;
        for (k, plan) in self.numerics.iter().enumerate() {
            let v = match plan {
                NumPlan::Input(i) => nums_in[*i],
                NumPlan::Computed(e) => e.eval(nums_in),
                NumPlan::Codes(i, map) => match self.text_value(*i, values[*i])? {
                    Some(t) => match map.get(t) {
                        Some(&c) => Some(c as f64 + 1.0),
                        None => return Err(self.unseen_for_codes(*i, t)),
                    },
                    None => None,
                },
            };
            match v {
                Some(v) => buf.num[k] = v,
                None => complete = false,
            }
        }
        for (k, plan) in self.factors.iter().enumerate() {
            let code = match plan {
                FacPlan::Text {
                    input,
                    name,
                    levels,
                    shown,
                } => match self.text_value(*input, values[*input])? {
                    Some(t) => match levels.get(t) {
                        Some(&c) => Some(c),
                        None => {
                            return Err(unseen(name, &self.inputs[*input], t, shown));
                        }
                    },
                    None => None,
                },
                FacPlan::Integer {
                    input,
                    name,
                    low,
                    nlev,
                } => match nums_in[*input] {
                    Some(v) => {
                        let c = v.floor() as i64 - low;
                        if c < 0 || c >= *nlev {
                            return Err(unseen(
                                name,
                                &self.inputs[*input],
                                &format!("{}", v.floor()),
                                &format!("{low}..{}", low + nlev - 1),
                            ));
                        }
                        Some(c as u32)
                    }
                    None => None,
                },
            };
            match code {
                Some(c) => buf.codes[k] = c,
                None => complete = false,
            }
        }
        // Summed as the chunked path sums them: the first offset, then each further one added.
        let mut offset = None;
        for o in &self.offsets {
            match (o.eval(nums_in), offset) {
                (None, _) => complete = false,
                (Some(v), None) => offset = Some(v),
                (Some(v), Some(sum)) => offset = Some(sum + v),
            }
        }
        if !complete {
            return Ok(Score::default());
        }
        Ok(self.eval(&buf.num, &buf.codes, offset, &mut buf.x))
    }

    fn text_value<'v>(&self, input: usize, v: Value<'v>) -> Result<Option<&'v str>> {
        match v {
            Value::Text(t) => Ok(Some(t)),
            Value::Missing => Ok(None),
            other => Err(Error::invalid(format!(
                "column '{}' is a factor in the model '{}', but the row gives {other:?}; give its level as text",
                self.inputs[input], self.formula
            ))),
        }
    }

    fn unseen_for_codes(&self, input: usize, level: &str) -> Error {
        Error::invalid(format!(
            "column '{}': level '{level}' is not one of the levels the model '{}' was fitted on",
            self.inputs[input], self.formula
        ))
    }

    /// Scores the rows of a batch (which must hold every column of [`Scorer::inputs`]), one
    /// [`Score`] per row.
    pub fn score_rows(&self, batch: &RecordBatch) -> Result<Vec<Score>> {
        let projected = self.project(batch, "the batch")?;
        let frame = self.frame(&projected, "the batch", 0)?;
        let mut out = Vec::with_capacity(batch.num_rows());
        self.score_frame(&frame, |_, s| out.push(s));
        Ok(out)
    }

    /// `batch` reduced to the model's inputs (an error names a missing one).
    pub(crate) fn project(&self, batch: &RecordBatch, source_name: &str) -> Result<RecordBatch> {
        let schema = batch.schema();
        let mut idx = Vec::with_capacity(self.inputs.len());
        for name in &self.inputs {
            match schema.index_of(name) {
                Ok(i) => idx.push(i),
                Err(_) => return Err(Error::unknown_column(name, source_name, &schema)),
            }
        }
        batch
            .project(&idx)
            .map_err(|e| Error::arrow(format!("{source_name}: selecting the model's columns"), e))
    }

    /// The design's variables over a chunk; an error names the data, row and column.
    pub(crate) fn frame(
        &self,
        batch: &RecordBatch,
        source_name: &str,
        first_row: u64,
    ) -> Result<Frame> {
        self.design
            .frame(batch, &[], false)
            .map_err(|e| match self.locate_bad_level(batch) {
                Some((row, column, message)) => Error::BadValue {
                    location: format!(
                        "{source_name}: row {}, column '{column}'",
                        first_row + row as u64 + 1
                    ),
                    message,
                },
                None => Error::BadValue {
                    location: format!(
                        "{source_name}: rows {}..{}",
                        first_row + 1,
                        first_row + batch.num_rows() as u64
                    ),
                    message: e.to_string(),
                },
            })
    }

    /// The first value of a factor input that the model does not know: its row, column and a
    /// message.
    fn locate_bad_level(&self, batch: &RecordBatch) -> Option<(usize, String, String)> {
        for plan in &self.factors {
            match plan {
                FacPlan::Text {
                    input,
                    name,
                    levels,
                    shown,
                } => {
                    let column = &self.inputs[*input];
                    let arr = batch.column_by_name(column)?;
                    let strings = arrow::compute::cast(arr, &DataType::Utf8).ok()?;
                    let strings = strings.as_string::<i32>();
                    for (row, s) in strings.iter().enumerate() {
                        if let Some(s) = s
                            && !levels.contains_key(s)
                        {
                            return Some((row, column.clone(), unseen_message(name, s, shown)));
                        }
                    }
                }
                FacPlan::Integer {
                    input,
                    name,
                    low,
                    nlev,
                } => {
                    let column = &self.inputs[*input];
                    let vals = Expr::Column(column.clone()).evaluate(batch).ok()?;
                    for (row, v) in vals.iter().enumerate() {
                        if let Some(v) = v {
                            let c = v.floor() as i64 - low;
                            if c < 0 || c >= *nlev {
                                let shown = format!("{low}..{}", low + nlev - 1);
                                return Some((
                                    row,
                                    column.clone(),
                                    unseen_message(name, &format!("{}", v.floor()), &shown),
                                ));
                            }
                        }
                    }
                }
            }
        }
        for plan in &self.numerics {
            if let NumPlan::Codes(input, map) = plan {
                let column = &self.inputs[*input];
                let arr = batch.column_by_name(column)?;
                let strings = arrow::compute::cast(arr, &DataType::Utf8).ok()?;
                for (row, s) in strings.as_string::<i32>().iter().enumerate() {
                    if let Some(s) = s
                        && !map.contains_key(s)
                    {
                        return Some((
                            row,
                            column.clone(),
                            format!("level '{s}' is not one of the levels the model was fitted on"),
                        ));
                    }
                }
            }
        }
        None
    }

    /// Scores every row of a frame: `emit(row, score)` in row order (missing rows included).
    pub(crate) fn score_frame(&self, frame: &Frame, mut emit: impl FnMut(usize, Score)) {
        let mut buf = Buffers::new(self);
        let mut valid = frame.rows.iter().map(|&r| r as usize).peekable();
        for r in 0..frame.nrows {
            if valid.peek() != Some(&r) {
                emit(r, Score::default());
                continue;
            }
            valid.next();
            for (k, v) in buf.num.iter_mut().enumerate() {
                *v = frame.nums[k][r];
            }
            for (k, c) in buf.codes.iter_mut().enumerate() {
                *c = frame.codes[k][r];
            }
            let offset = frame.offset.as_ref().map(|o| o[r]);
            let s = self.eval(&buf.num, &buf.codes, offset, &mut buf.x);
            emit(r, s);
        }
    }

    /// The response-scale mean of a row's linear predictor (for residuals).
    pub(crate) fn mean_of(&self, score: &Score) -> Option<f64> {
        let pred = score.pred?;
        match (self.kind, self.predict_type) {
            (ModelKind::Glm { .. }, PredictType::Link) => Some(self.link.inverse(pred)),
            _ => Some(pred),
        }
    }

    /// The predictions for one complete row of variables.
    fn eval(&self, num: &[f64], codes: &[u32], offset: Option<f64>, x: &mut [f64]) -> Score {
        for (xj, col) in x.iter_mut().zip(&self.columns) {
            let mut v = 1.0;
            for &ni in &col.numerics {
                v *= num[ni];
            }
            for &(fi, l) in &col.factors {
                if codes[fi] != l {
                    v = 0.0;
                }
            }
            *xj = v;
        }
        let mut eta = 0.0;
        for (&j, &b) in self.kept.iter().zip(&self.beta) {
            eta += x[j] * b;
        }
        if let Some(o) = offset {
            eta += o;
        }
        let want_var = self.std_errors || self.interval != Interval::None;
        let var = if want_var {
            self.var_unscaled(x) * self.dispersion
        } else {
            f64::NAN
        };
        if let Some(c) = &self.cube
            && cube_cell(c, x).is_none()
        {
            // An empty cell: the cell's coefficient is not estimable.
            eta = f64::NAN;
        }
        let se_link = var.sqrt();
        let glm_response = matches!(self.kind, ModelKind::Glm { .. })
            && self.predict_type == PredictType::Response;
        let pred = if glm_response {
            self.link.inverse(eta)
        } else {
            eta
        };
        let std_err = self.std_errors.then(|| {
            if glm_response {
                se_link * self.link.mu_eta(eta).abs()
            } else {
                se_link
            }
        });
        let (lower, upper) = match self.interval {
            Interval::None => (None, None),
            Interval::Confidence if glm_response => {
                let a = self.link.inverse(eta + self.quantile * se_link);
                let b = self.link.inverse(eta - self.quantile * se_link);
                (Some(a.min(b)), Some(a.max(b)))
            }
            Interval::Confidence => {
                let w = self.quantile * se_link;
                (Some(eta + w), Some(eta - w))
            }
            Interval::Prediction => {
                let w = self.quantile * (var + self.dispersion).sqrt();
                (Some(eta + w), Some(eta - w))
            }
        };
        Score {
            pred: Some(pred),
            std_err,
            lower,
            upper,
        }
    }

    /// `x'Cx` (or a cube model's `1/n_k + (z − z̄_k)' W⁻¹ (z − z̄_k)`).
    fn var_unscaled(&self, x: &[f64]) -> f64 {
        match &self.cube {
            None => {
                let k = self.kept.len();
                let mut total = 0.0;
                for (a, &ja) in self.kept.iter().enumerate() {
                    let row = &self.cov[a * k..(a + 1) * k];
                    let mut s = 0.0;
                    for (&jb, &c) in self.kept.iter().zip(row) {
                        s += c * x[jb];
                    }
                    total += x[ja] * s;
                }
                total
            }
            Some(c) => {
                let Some(cell) = cube_cell(c, x) else {
                    return f64::NAN;
                };
                let pz = c.pz;
                let q = pz + 1;
                let means = &c.cells.means[cell * q..cell * q + pz];
                let mut total = 0.0;
                for a in 0..pz {
                    let da = x[c.cells.z_columns[a]] - means[a];
                    let row = &c.cells.within_inv[a * pz..(a + 1) * pz];
                    let mut s = 0.0;
                    for (b, &w) in row.iter().enumerate() {
                        s += w * (x[c.cells.z_columns[b]] - means[b]);
                    }
                    total += da * s;
                }
                1.0 / c.cells.n[cell] + total
            }
        }
    }
}

/// The cell of a row of a cube model (`None` when it is an empty cell).
fn cube_cell(c: &CubePlan, x: &[f64]) -> Option<usize> {
    let cell = c.cells.cell_columns.iter().position(|&j| x[j] != 0.0)?;
    (c.cells.n[cell] > 0.0).then_some(cell)
}

fn unseen_message(name: &str, level: &str, shown: &str) -> String {
    format!(
        "level '{level}' of factor '{name}' is not one of the model's levels ({shown}); the model can only score levels it was fitted on: recode the value or drop the row"
    )
}

fn unseen(name: &str, column: &str, level: &str, shown: &str) -> Error {
    Error::BadValue {
        location: format!("column '{column}'"),
        message: unseen_message(name, level, shown),
    }
}

/// Scratch space for one row: variables, level codes and the model-matrix row.
struct Buffers {
    num: Vec<f64>,
    codes: Vec<u32>,
    x: Vec<f64>,
}

impl Buffers {
    fn new(s: &Scorer) -> Self {
        Buffers {
            num: vec![0.0; s.numerics.len()],
            codes: vec![0; s.factors.len()],
            x: vec![0.0; s.columns.len()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_expressions_follow_the_chunk_rules() {
        // log(x) of 0 is -inf: missing, as Expr::evaluate makes it.
        let e = Compiled::Call(Func::Log, Box::new(Compiled::Input(0)));
        assert_eq!(e.eval(&[Some(0.0)]), None);
        assert_eq!(e.eval(&[Some(1.0)]), Some(0.0));
        let sq = Compiled::Binary(
            BinOp::Pow,
            Box::new(Compiled::Input(0)),
            Box::new(Compiled::Number(2.0)),
        );
        assert_eq!(sq.eval(&[Some(3.0)]), Some(9.0));
        assert_eq!(sq.eval(&[None]), None);
    }
}
