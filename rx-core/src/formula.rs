//! The parser for revoscalepy / R model formulas.
//!
//! A formula is `response ~ terms` or `~ terms`. The right side is R's formula algebra:
//!
//! | written            | means                                                            |
//! |--------------------|------------------------------------------------------------------|
//! | `a + b`            | the terms of `a` and of `b`                                      |
//! | `a - b`            | the terms of `a` without those of `b`                            |
//! | `a:b`              | the interaction of `a` and `b`                                   |
//! | `a*b`              | `a + b + a:b`                                                    |
//! | `a/b`              | `a + a:b` (`b` nested in `a`)                                    |
//! | `(a + b + c)^2`    | the main effects and all two-way interactions                    |
//! | `- 1`, `+ 0`, `0 +`| no intercept (`+ 1` keeps it)                                    |
//! | `.`                | all other columns (see [`Formula::expand_dot`])                  |
//! | `F(x)`, `F(x, 1, 5)` | a numeric column as a factor ([`Var::AsFactor`])               |
//! | `N(x)`             | a factor's codes as numbers ([`Var::AsNumeric`])                 |
//! | `I(x^2)`, `log(x)` | a computed numeric term ([`Var::Computed`])                      |
//! | `offset(log(n))`   | an offset: added to the linear predictor with coefficient 1 ([`Formula::offsets`]) |
//!
//! Inside `I(...)` and the functions `log`, `log10`, `log2`, `exp`, `sqrt` and `abs`, the
//! operators are arithmetic: `+ - * / ^` with the usual precedence (`^` binds tighter than unary
//! minus and is right-associative: `-x^2` is `-(x^2)`, `2^3^2` is `2^9`).
//!
//! Names are `[A-Za-z_.][A-Za-z0-9_.]*` (a lone `.` is the dot) or any text in backquotes:
//! `` `my var` `` (inside backquotes, `\` escapes the next character).
//!
//! Terms are kept once (`a:b` and `b:a` are the same term; the first spelling is kept) and are
//! ordered as R orders them: by the number of variables in the term, and otherwise as written.
//!
//! Every problem is an [`Error::Formula`] with the byte offset of the offending token.
//!
//! ```
//! use rx_core::formula::Formula;
//!
//! let f = Formula::parse("y ~ a*b + log(x + 1) - 1").unwrap();
//! let names: Vec<String> = f.terms.iter().map(|t| t.name()).collect();
//! assert_eq!(names, ["a", "b", "log(x + 1)", "a:b"]);
//! assert!(!f.intercept);
//! assert_eq!(f.to_string(), "y ~ a + b + log(x + 1) + a:b - 1");
//! ```

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use arrow::array::{Array, AsArray, Float64Array};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A parsed formula such as `y ~ a + b:c + F(x) + I(z^2) - 1`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Formula {
    /// The text as given.
    pub text: String,
    /// The response (`None` for `~ a + b`).
    pub response: Option<Var>,
    /// The terms after expanding `*`, `^` and parentheses and removing `- term`s, main effects
    /// first, then interactions by order (as R orders them), each once.
    pub terms: Vec<Term>,
    /// False after `- 1` or `+ 0`.
    pub intercept: bool,
    /// True when the formula has `.` ("all other columns"), not yet expanded.
    pub has_dot: bool,
    /// The `offset(expr)` terms, each once, in the order written: known parts of the linear
    /// predictor (coefficient 1), summed when there are several, as R does.
    #[serde(default)]
    pub offsets: Vec<Expr>,
}

/// One term: a single variable or an interaction of several (`a:b`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// The variables of the term, in the order written.
    pub vars: Vec<Var>,
}

/// A variable in a term.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Var {
    /// A column as it is.
    Column(String),
    /// `F(x)` or `F(x, low, high)`: a numeric column as a factor over integer levels low..high.
    AsFactor {
        /// The column.
        column: String,
        /// Lowest level (default: the column's low).
        low: Option<f64>,
        /// Highest level (default: the column's high).
        high: Option<f64>,
    },
    /// `N(x)`: a factor's codes as numbers.
    AsNumeric(String),
    /// A computed numeric term, `I(x^2)` or `log(x)`.
    Computed {
        /// The canonical text of the term (`I(x^2)`, `log(x)`), used as its name.
        label: String,
        /// The expression.
        expr: Expr,
    },
}

/// An arithmetic expression on numeric columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// A column.
    Column(String),
    /// A number.
    Number(f64),
    /// `-e`.
    Neg(Box<Expr>),
    /// `a op b`.
    Binary {
        /// The operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `f(e)`.
    Call {
        /// The function.
        func: Func,
        /// Its argument.
        arg: Box<Expr>,
    },
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `^`
    Pow,
}

/// Functions allowed in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Func {
    /// Natural logarithm.
    Log,
    /// Base-10 logarithm.
    Log10,
    /// Base-2 logarithm.
    Log2,
    /// `exp`.
    Exp,
    /// `sqrt`.
    Sqrt,
    /// `abs`.
    Abs,
}

/// How deeply parentheses, function calls, unary signs and powers may nest.
const MAX_NESTING: usize = 100;
/// How deep an expression tree may be (a chain `a + b + c + ...` is as deep as it is long).
const MAX_EXPR_DEPTH: usize = 200;
/// The most terms a formula may expand to.
const MAX_TERMS: usize = 10_000;
/// The most term combinations the expansion of `*`, `:`, `/` and `^` may try.
const MAX_WORK: usize = 1_000_000;
/// The functions a formula may call, for error messages.
const ALLOWED_FUNCTIONS: &str = "F(x), F(x, low, high), N(x), I(expr), log, log10, log2, exp, sqrt and abs (and offset(expr) as a term)";

impl Formula {
    /// Parses a formula such as `y ~ a*b + F(x) + I(z^2) - 1`.
    ///
    /// Every problem is an [`Error::Formula`] whose `position` is the byte offset of the
    /// offending token (the end of the text when something is missing there).
    pub fn parse(text: &str) -> Result<Formula> {
        let toks = lex(text)?;
        if toks.len() == 1 {
            return Err(formula_error(
                text,
                0,
                "the formula is empty; write it as `y ~ x1 + x2` (or `~ x1 + x2` without a response)",
            ));
        }
        let mut tildes = toks.iter().filter(|t| t.tok == Tok::Tilde);
        if tildes.next().is_none() {
            return Err(formula_error(
                text,
                0,
                "missing '~': a formula is `response ~ terms` or `~ terms`",
            ));
        }
        if let Some(second) = tildes.next() {
            return Err(formula_error(
                text,
                second.start,
                "a second '~': a formula has one '~' between the response and the terms",
            ));
        }
        let mut p = Parser::new(text, toks);
        let response = p.response()?;
        p.next(); // the '~'
        if p.peek().tok == Tok::End {
            return Err(p.err(
                text.len(),
                "nothing after '~': write the terms, as in `y ~ x1 + x2`, or `y ~ 1` for the intercept only",
            ));
        }
        let set = p.fsum()?;
        let t = p.peek().clone();
        match t.tok {
            Tok::End => {}
            Tok::RParen => return Err(p.err(t.start, "unmatched ')'")),
            _ => {
                return Err(p.err(
                    t.start,
                    format!(
                        "expected an operator (+, -, *, /, :, ^) or the end of the formula, found {}",
                        p.describe(&t)
                    ),
                ));
            }
        }
        let mut terms = set.terms;
        terms.sort_by_key(|t| t.vars.len());
        Ok(Formula {
            text: text.to_string(),
            response,
            terms,
            intercept: p.intercept,
            has_dot: set.dot.is_some(),
            offsets: set.offsets.map(|o| o.exprs).unwrap_or_default(),
        })
    }

    /// Replaces `.` ("all other columns") by every column of `columns` that is not used by the
    /// response and is not already a term on its own, in the order of `columns`, before the other
    /// main effects. A formula without `.` is returned as it is. `text` is kept as given. As in R,
    /// columns used only by an offset are not excluded.
    pub fn expand_dot(&self, columns: &[String]) -> Formula {
        if !self.has_dot {
            return self.clone();
        }
        let excluded = self.response.as_ref().map(Var::columns).unwrap_or_default();
        let mut seen = HashSet::new();
        let mut terms = Vec::new();
        for c in columns {
            if excluded.contains(c) || !seen.insert(c.as_str()) {
                continue;
            }
            let var = Var::Column(c.clone());
            if self
                .terms
                .iter()
                .any(|t| t.vars.len() == 1 && t.vars[0] == var)
            {
                continue;
            }
            terms.push(Term { vars: vec![var] });
        }
        terms.extend(self.terms.iter().cloned());
        terms.sort_by_key(|t| t.vars.len());
        Formula {
            text: self.text.clone(),
            response: self.response.clone(),
            terms,
            intercept: self.intercept,
            has_dot: false,
            offsets: self.offsets.clone(),
        }
    }

    /// Every column the formula names, each once: the response's first, then the terms' in the
    /// order of [`Formula::terms`], then the offsets'. The columns that `.` stands for are not
    /// included (see [`Formula::expand_dot`]).
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(r) = &self.response {
            push_unique(&mut out, r.columns());
        }
        for t in &self.terms {
            push_unique(&mut out, t.columns());
        }
        for o in &self.offsets {
            push_unique(&mut out, o.columns());
        }
        out
    }
}

impl FromStr for Formula {
    type Err = Error;

    fn from_str(s: &str) -> Result<Formula> {
        Formula::parse(s)
    }
}

impl fmt::Display for Formula {
    /// The canonical text: parsing it gives an equal formula (apart from `text`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.response {
            write!(f, "{r} ")?;
        }
        f.write_str("~ ")?;
        let mut parts: Vec<String> = Vec::with_capacity(self.terms.len() + 1);
        if self.has_dot {
            parts.push(".".into());
        }
        parts.extend(self.terms.iter().map(Term::to_string));
        parts.extend(self.offsets.iter().map(|o| format!("offset({o})")));
        if parts.is_empty() {
            return f.write_str(if self.intercept { "1" } else { "0" });
        }
        f.write_str(&parts.join(" + "))?;
        if !self.intercept {
            f.write_str(" - 1")?;
        }
        Ok(())
    }
}

impl Term {
    /// The coefficient-style name: the variables' [`Var::name`]s joined by `:` (`a:b`).
    pub fn name(&self) -> String {
        self.vars
            .iter()
            .map(Var::name)
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The columns the term uses, each once, in order.
    pub fn columns(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.vars {
            push_unique(&mut out, v.columns());
        }
        out
    }
}

impl fmt::Display for Term {
    /// The variables joined by `:`, names in backquotes where needed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.vars.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl Var {
    /// The coefficient-style name: the column for [`Var::Column`], `F(x)` for [`Var::AsFactor`]
    /// (whatever its low and high), `N(x)` for [`Var::AsNumeric`] and the label for
    /// [`Var::Computed`]. Column names are not quoted.
    pub fn name(&self) -> String {
        match self {
            Var::Column(c) => c.clone(),
            Var::AsFactor { column, .. } => format!("F({column})"),
            Var::AsNumeric(c) => format!("N({c})"),
            Var::Computed { label, .. } => label.clone(),
        }
    }

    /// The columns the variable uses, each once, in order.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Var::Column(c) | Var::AsNumeric(c) | Var::AsFactor { column: c, .. } => vec![c.clone()],
            Var::Computed { expr, .. } => expr.columns(),
        }
    }
}

impl fmt::Display for Var {
    /// The formula text of the variable: `x`, `` `my var` ``, `F(x)`, `F(x, 1, 5)`, `N(x)`, or the
    /// label of a computed one. The bounds of `F` are shown only when both are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Var::Column(c) => write_name(f, c),
            Var::AsFactor { column, low, high } => {
                f.write_str("F(")?;
                write_name(f, column)?;
                if let (Some(low), Some(high)) = (low, high) {
                    write!(f, ", {low}, {high}")?;
                }
                f.write_str(")")
            }
            Var::AsNumeric(c) => {
                f.write_str("N(")?;
                write_name(f, c)?;
                f.write_str(")")
            }
            Var::Computed { label, .. } => f.write_str(label),
        }
    }
}

impl BinOp {
    /// The operator as written (`+`, `-`, `*`, `/`, `^`).
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Pow => "^",
        }
    }

    /// Applies the operator to two numbers.
    pub fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
            BinOp::Div => a / b,
            BinOp::Pow => a.powf(b),
        }
    }

    /// How tightly the operator binds (higher binds tighter).
    fn precedence(self) -> u8 {
        match self {
            BinOp::Add | BinOp::Sub => 1,
            BinOp::Mul | BinOp::Div => 2,
            BinOp::Pow => 4,
        }
    }
}

impl Func {
    /// Every function, in the order they are listed in messages.
    pub const ALL: [Func; 6] = [
        Func::Log,
        Func::Log10,
        Func::Log2,
        Func::Exp,
        Func::Sqrt,
        Func::Abs,
    ];

    /// The function's name in a formula (`log`, `log10`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Func::Log => "log",
            Func::Log10 => "log10",
            Func::Log2 => "log2",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Abs => "abs",
        }
    }

    /// The function called `name` (case-sensitive), if there is one.
    pub fn from_name(name: &str) -> Option<Func> {
        Func::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Applies the function to a number (NaN where it is not defined, as `f64` does).
    pub fn apply(self, x: f64) -> f64 {
        match self {
            Func::Log => x.ln(),
            Func::Log10 => x.log10(),
            Func::Log2 => x.log2(),
            Func::Exp => x.exp(),
            Func::Sqrt => x.sqrt(),
            Func::Abs => x.abs(),
        }
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Expr {
    /// The columns the expression uses, each once, in order of appearance.
    pub fn columns(&self) -> Vec<String> {
        fn walk(e: &Expr, out: &mut Vec<String>) {
            match e {
                Expr::Column(c) => {
                    if !out.contains(c) {
                        out.push(c.clone());
                    }
                }
                Expr::Number(_) => {}
                Expr::Neg(e) | Expr::Call { arg: e, .. } => walk(e, out),
                Expr::Binary { lhs, rhs, .. } => {
                    walk(lhs, out);
                    walk(rhs, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// Evaluates the expression element-wise over a chunk.
    ///
    /// Columns are cast to `f64` (numeric and boolean columns only: a factor or text column is an
    /// [`Error::InvalidArgument`]; a column not in the chunk is an [`Error::UnknownColumn`]).
    /// Nulls propagate, and results that are NaN or infinite (`log(0)`, `1/0`, `sqrt(-1)`)
    /// become null, as R treats them as missing in models.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<Float64Array> {
        let n = batch.num_rows();
        Ok(match self.eval(batch)? {
            Val::Array(a) => a,
            Val::Scalar(Some(v)) => Float64Array::from_value(v, n),
            Val::Scalar(None) => Float64Array::new_null(n),
        })
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Val> {
        Ok(match self {
            Expr::Column(name) => Val::Array(numeric_column(batch, name)?),
            Expr::Number(v) => Val::Scalar(finite(*v)),
            Expr::Neg(e) => map1(e.eval(batch)?, |x| -x),
            Expr::Call { func, arg } => map1(arg.eval(batch)?, |x| func.apply(x)),
            Expr::Binary { op, lhs, rhs } => {
                let a = lhs.eval(batch)?;
                let b = rhs.eval(batch)?;
                map2(a, b, |x, y| op.apply(x, y))
            }
        })
    }

    /// How tightly the printed expression binds, to decide on parentheses.
    fn precedence(&self) -> u8 {
        match self {
            Expr::Binary { op, .. } => op.precedence(),
            Expr::Neg(_) => 3,
            Expr::Number(v) if v.is_sign_negative() => 3,
            Expr::Column(_) | Expr::Number(_) | Expr::Call { .. } => 5,
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical text with the fewest parentheses that keep the tree: `x^2`, `log(x + 1)`,
    /// `(a + b)*c`, `a - (b - c)`; `+` and `-` are spaced, `*`, `/` and `^` are not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, e: &Expr, parens: bool) -> fmt::Result {
            if parens {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        }
        match self {
            Expr::Column(c) => write_name(f, c),
            Expr::Number(v) => write!(f, "{v}"),
            Expr::Neg(e) => {
                f.write_str("-")?;
                child(f, e, e.precedence() < 3)
            }
            Expr::Call { func, arg } => write!(f, "{func}({arg})"),
            Expr::Binary { op, lhs, rhs } => {
                let p = op.precedence();
                if *op == BinOp::Pow {
                    // Right-associative, and the exponent may carry a unary minus: `a^-b`.
                    child(f, lhs, lhs.precedence() <= p)?;
                    f.write_str("^")?;
                    child(f, rhs, rhs.precedence() < 3)
                } else {
                    child(f, lhs, lhs.precedence() < p)?;
                    match op {
                        BinOp::Add | BinOp::Sub => write!(f, " {} ", op.symbol())?,
                        _ => f.write_str(op.symbol())?,
                    }
                    child(f, rhs, rhs.precedence() <= p)
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// An intermediate value: a constant or one value per row.
enum Val {
    Scalar(Option<f64>),
    Array(Float64Array),
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// An array from computed values and the nulls of the inputs, with NaN and infinities as nulls.
fn finish(values: Vec<f64>, nulls: Option<NullBuffer>) -> Float64Array {
    let is_finite = BooleanBuffer::collect_bool(values.len(), |i| values[i].is_finite());
    let valid = match &nulls {
        Some(n) => n.inner() & &is_finite,
        None => is_finite,
    };
    let nulls = NullBuffer::new(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Float64Array::new(ScalarBuffer::from(values), nulls)
}

fn map1(v: Val, f: impl Fn(f64) -> f64) -> Val {
    match v {
        Val::Scalar(x) => Val::Scalar(x.map(f).and_then(finite)),
        Val::Array(a) => Val::Array(finish(
            a.values().iter().map(|&x| f(x)).collect(),
            a.nulls().cloned(),
        )),
    }
}

fn map2(a: Val, b: Val, f: impl Fn(f64, f64) -> f64) -> Val {
    match (a, b) {
        (Val::Scalar(x), Val::Scalar(y)) => {
            Val::Scalar(x.zip(y).map(|(x, y)| f(x, y)).and_then(finite))
        }
        (Val::Scalar(None), Val::Array(a)) | (Val::Array(a), Val::Scalar(None)) => {
            Val::Array(Float64Array::new_null(a.len()))
        }
        (Val::Scalar(Some(x)), Val::Array(b)) => Val::Array(finish(
            b.values().iter().map(|&y| f(x, y)).collect(),
            b.nulls().cloned(),
        )),
        (Val::Array(a), Val::Scalar(Some(y))) => Val::Array(finish(
            a.values().iter().map(|&x| f(x, y)).collect(),
            a.nulls().cloned(),
        )),
        (Val::Array(a), Val::Array(b)) => {
            let values = a
                .values()
                .iter()
                .zip(b.values().iter())
                .map(|(&x, &y)| f(x, y))
                .collect();
            Val::Array(finish(values, NullBuffer::union(a.nulls(), b.nulls())))
        }
    }
}

/// A column of the chunk as `f64`, with NaN and infinities as nulls.
fn numeric_column(batch: &RecordBatch, name: &str) -> Result<Float64Array> {
    let schema = batch.schema();
    let Some((index, field)) = schema.column_with_name(name) else {
        return Err(Error::UnknownColumn {
            name: name.to_string(),
            source_name: "the data".to_string(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
        });
    };
    let what = match field.data_type() {
        t if t.is_numeric() || matches!(t, DataType::Boolean | DataType::Null) => None,
        DataType::Dictionary(..) => Some("a factor".to_string()),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Some("text".to_string()),
        other => Some(format!("of type {other}")),
    };
    if let Some(what) = what {
        return Err(Error::invalid(format!(
            "column '{name}' is {what}, not numeric; arithmetic in I() and in functions such as log() needs numeric columns"
        )));
    }
    let cast = arrow::compute::cast(batch.column(index), &DataType::Float64)
        .map_err(|e| Error::arrow(format!("converting column '{name}' to numbers"), e))?;
    let a = cast.as_primitive::<Float64Type>();
    Ok(finish(a.values().to_vec(), a.nulls().cloned()))
}

// ---------------------------------------------------------------------------------------------
// Names

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b'.'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.'
}

/// Whether `s` reads back as the name `s` without backquotes.
fn is_plain_name(s: &str) -> bool {
    let b = s.as_bytes();
    match b {
        [] => false,
        [b'.'] => false,
        [b'.', d, ..] if d.is_ascii_digit() => false,
        [first, rest @ ..] => is_ident_start(*first) && rest.iter().all(|&c| is_ident_char(c)),
    }
}

/// Writes a name, in backquotes (with `` ` `` and `\` escaped) when it needs them.
fn write_name(f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
    if is_plain_name(name) {
        return f.write_str(name);
    }
    f.write_str("`")?;
    for c in name.chars() {
        if c == '`' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    f.write_str("`")
}

fn push_unique(out: &mut Vec<String>, names: Vec<String>) {
    for n in names {
        if !out.contains(&n) {
            out.push(n);
        }
    }
}

fn formula_error(text: &str, position: usize, message: impl Into<String>) -> Error {
    Error::Formula {
        formula: text.to_string(),
        position,
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Tilde,
    Plus,
    Minus,
    Star,
    Slash,
    Caret,
    Colon,
    LParen,
    RParen,
    Comma,
    /// A lone `.`.
    Dot,
    Number(f64),
    /// An identifier.
    Name(String),
    /// A backquoted name (never a function).
    Quoted(String),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    /// Byte offsets in the text, always on character boundaries.
    start: usize,
    end: usize,
}

fn lex(text: &str) -> Result<Vec<Token>> {
    let b = text.as_bytes();
    let len = b.len();
    let mut toks = Vec::new();
    let mut i = 0;
    // `i` is always on a character boundary: it only moves by whole characters or ASCII bytes.
    while let Some(c) = text.get(i..).and_then(|s| s.chars().next()) {
        let start = i;
        if c.is_whitespace() {
            i += c.len_utf8();
            continue;
        }
        let single = match c {
            '~' => Some(Tok::Tilde),
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '*' => Some(Tok::Star),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            ':' => Some(Tok::Colon),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(tok) = single {
            i += 1;
            toks.push(Token { tok, start, end: i });
            continue;
        }
        if c == '`' {
            let mut name = String::new();
            let mut end = None;
            let mut chars = text[i + 1..].char_indices();
            while let Some((k, ch)) = chars.next() {
                match ch {
                    '`' => {
                        end = Some(i + 1 + k + 1);
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, e)) => name.push(e),
                        None => break,
                    },
                    _ => name.push(ch),
                }
            }
            let Some(end) = end else {
                return Err(formula_error(
                    text,
                    start,
                    "this '`' is never closed: a quoted name ends with '`'",
                ));
            };
            if name.is_empty() {
                return Err(formula_error(text, start, "empty name ``"));
            }
            toks.push(Token {
                tok: Tok::Quoted(name),
                start,
                end,
            });
            i = end;
            continue;
        }
        let next_is_digit = b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if c.is_ascii_digit() || (c == '.' && next_is_digit) {
            let mut j = i;
            while j < len && b[j].is_ascii_digit() {
                j += 1;
            }
            if j < len && b[j] == b'.' {
                j += 1;
                while j < len && b[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < len && (b[j] == b'e' || b[j] == b'E') {
                let mut k = j + 1;
                if k < len && (b[k] == b'+' || b[k] == b'-') {
                    k += 1;
                }
                if k < len && b[k].is_ascii_digit() {
                    while k < len && b[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
            if j < len && is_ident_char(b[j]) {
                while j < len && is_ident_char(b[j]) {
                    j += 1;
                }
                return Err(formula_error(
                    text,
                    start,
                    format!("malformed number '{}'", &text[start..j]),
                ));
            }
            let s = &text[start..j];
            let value: f64 = s
                .parse()
                .map_err(|_| formula_error(text, start, format!("malformed number '{s}'")))?;
            if !value.is_finite() {
                return Err(formula_error(
                    text,
                    start,
                    format!("the number '{s}' is too large"),
                ));
            }
            toks.push(Token {
                tok: Tok::Number(value),
                start,
                end: j,
            });
            i = j;
            continue;
        }
        if c.is_ascii() && is_ident_start(c as u8) {
            let mut j = i + 1;
            while j < len && is_ident_char(b[j]) {
                j += 1;
            }
            let s = &text[start..j];
            let tok = if s == "." {
                Tok::Dot
            } else {
                Tok::Name(s.to_string())
            };
            toks.push(Token { tok, start, end: j });
            i = j;
            continue;
        }
        let hint = match c {
            '%' => "; operators such as %in% are not supported",
            '"' | '\'' => {
                "; names with spaces or other characters go in backquotes, as in `my var`"
            }
            c if c.is_alphanumeric() => {
                "; names with other characters go in backquotes, as in `my var`"
            }
            _ => "",
        };
        return Err(formula_error(
            text,
            start,
            format!("unexpected character '{}'{hint}", c.escape_debug()),
        ));
    }
    toks.push(Token {
        tok: Tok::End,
        start: len,
        end: len,
    });
    Ok(toks)
}

// ---------------------------------------------------------------------------------------------
// Parser

/// The terms a part of the formula stands for, while the formula is expanded.
struct TermSet {
    terms: Vec<Term>,
    /// The keys of `terms`, to keep each term once.
    keys: HashSet<Vec<String>>,
    /// The position of a `.` among the terms.
    dot: Option<usize>,
    /// Where the part starts in the text.
    start: usize,
    /// The part is the number 0 or 1.
    literal: bool,
    /// The `offset(...)` terms of the part, boxed so that the parser's deep recursion keeps small
    /// frames.
    offsets: Option<Box<Offsets>>,
}

/// The offsets of a part of the formula.
struct Offsets {
    /// Each once, in the order written.
    exprs: Vec<Expr>,
    /// Where the part's first `offset(` is in the text.
    at: usize,
}

impl TermSet {
    fn empty(start: usize) -> Self {
        TermSet {
            terms: Vec::new(),
            keys: HashSet::new(),
            dot: None,
            start,
            literal: false,
            offsets: None,
        }
    }

    /// Adds the offsets of `other` (each once).
    fn add_offsets(&mut self, other: &mut TermSet) {
        let Some(theirs) = other.offsets.take() else {
            return;
        };
        match &mut self.offsets {
            None => self.offsets = Some(theirs),
            Some(ours) => {
                for o in theirs.exprs {
                    if !ours.exprs.contains(&o) {
                        ours.exprs.push(o);
                    }
                }
            }
        }
    }
}

/// The identity of a term: its variables in a fixed order (so `a:b` is `b:a`).
fn term_key(t: &Term) -> Vec<String> {
    let mut k: Vec<String> = t.vars.iter().map(Var::to_string).collect();
    k.sort();
    k
}

/// The interaction of two terms: the variables of `a`, then those of `b` not in `a`.
fn join(a: &Term, b: &Term) -> Term {
    let mut vars = a.vars.clone();
    for v in &b.vars {
        if !vars.contains(v) {
            vars.push(v.clone());
        }
    }
    Term { vars }
}

/// An argument of a call.
struct Arg {
    expr: Expr,
    /// Where it starts in the text.
    start: usize,
    /// The depth of its tree.
    depth: usize,
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<Token>,
    /// The current token; never past the final `End`.
    pos: usize,
    intercept: bool,
    /// Inside the right side of a `-` (an odd number of them): 1 removes the intercept, 0 adds it.
    negative: bool,
    nesting: usize,
    work: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, toks: Vec<Token>) -> Self {
        Parser {
            text,
            toks,
            pos: 0,
            intercept: true,
            negative: false,
            nesting: 0,
            work: 0,
        }
    }

    fn peek(&self) -> &Token {
        &self.toks[self.pos]
    }

    fn next(&mut self) -> Token {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err(&self, position: usize, message: impl Into<String>) -> Error {
        formula_error(self.text, position, message)
    }

    fn describe(&self, t: &Token) -> String {
        match &t.tok {
            Tok::End => "the end of the formula".to_string(),
            Tok::Number(_) => format!("the number {}", &self.text[t.start..t.end]),
            _ => format!("'{}'", &self.text[t.start..t.end]),
        }
    }

    /// " after '+'" when the token before the current one is an operator, else "".
    fn after_operator(&self) -> String {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t)
                if matches!(
                    t.tok,
                    Tok::Plus
                        | Tok::Minus
                        | Tok::Star
                        | Tok::Slash
                        | Tok::Caret
                        | Tok::Colon
                        | Tok::Tilde
                ) =>
            {
                format!(" after '{}'", &self.text[t.start..t.end])
            }
            _ => String::new(),
        }
    }

    fn enter(&mut self, at: usize) -> Result<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(self.err(
                at,
                format!("the formula nests too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    fn check_depth(&self, depth: usize, at: usize) -> Result<()> {
        if depth > MAX_EXPR_DEPTH {
            return Err(self.err(at, format!("the expression is too long or nests too deeply (more than {MAX_EXPR_DEPTH} levels)")));
        }
        Ok(())
    }

    /// Consumes the `)` that closes the `(` at `open`.
    fn close_paren(&mut self, open: usize, what: &str) -> Result<()> {
        let t = self.peek().clone();
        match t.tok {
            Tok::RParen => {
                self.next();
                Ok(())
            }
            Tok::End => Err(self.err(open, format!("this '(' is never closed{what}"))),
            _ => Err(self.err(
                t.start,
                format!("expected ')' or an operator, found {}", self.describe(&t)),
            )),
        }
    }

    // --- the response -------------------------------------------------------------------------

    fn response(&mut self) -> Result<Option<Var>> {
        let t = self.peek().clone();
        let var = match &t.tok {
            Tok::Tilde => return Ok(None),
            Tok::Name(_) | Tok::Quoted(_) => self.var()?,
            Tok::Dot => {
                return Err(self.err(t.start, "`.` (all other columns) cannot be the response"));
            }
            _ => {
                return Err(self.err(
                    t.start,
                    format!(
                        "expected the response (a column or an expression such as log(y)) or '~', found {}",
                        self.describe(&t)
                    ),
                ));
            }
        };
        let t = self.peek().clone();
        match t.tok {
            Tok::Tilde => Ok(Some(var)),
            Tok::Plus | Tok::Minus | Tok::Star | Tok::Slash | Tok::Caret | Tok::Colon => Err(self.err(
                t.start,
                "the response is one column or expression; for arithmetic use I(), as in I(a + b) ~ x",
            )),
            _ => Err(self.err(t.start, format!("expected '~' after the response, found {}", self.describe(&t)))),
        }
    }

    // --- formula algebra ----------------------------------------------------------------------

    fn add_term(&mut self, set: &mut TermSet, term: Term, at: usize) -> Result<()> {
        self.work += 1;
        if self.work > MAX_WORK {
            return Err(self.err(at, "the formula expands to too many terms"));
        }
        if set.keys.insert(term_key(&term)) {
            set.terms.push(term);
            if set.terms.len() > MAX_TERMS {
                return Err(self.err(
                    at,
                    format!("the formula expands to more than {MAX_TERMS} terms"),
                ));
            }
        }
        Ok(())
    }

    fn union(&mut self, acc: &mut TermSet, mut rhs: TermSet) -> Result<()> {
        acc.add_offsets(&mut rhs);
        for t in rhs.terms {
            self.add_term(acc, t, rhs.start)?;
        }
        acc.dot = acc.dot.or(rhs.dot);
        acc.literal = false;
        Ok(())
    }

    fn subtract(&mut self, acc: &mut TermSet, rhs: TermSet) -> Result<()> {
        if let Some(d) = rhs.dot {
            return Err(self.err(d, "`.` (all other columns) cannot be removed"));
        }
        let column = rhs
            .terms
            .iter()
            .find(|t| matches!(t.vars.as_slice(), [Var::Column(_)]));
        if let (Some(_), Some(t)) = (acc.dot, column) {
            return Err(self.err(
                rhs.start,
                format!(
                    "cannot remove '{}' from `.` (all other columns): list the columns to use instead",
                    t.name()
                ),
            ));
        }
        if rhs.keys.iter().any(|k| acc.keys.contains(k)) {
            acc.terms.retain(|t| !rhs.keys.contains(&term_key(t)));
            acc.keys.retain(|k| !rhs.keys.contains(k));
        }
        acc.literal = false;
        Ok(())
    }

    /// Checks that a part can be an operand of `*`, `/`, `:` or `^`.
    fn check_operand(&self, set: &TermSet, op: &Token) -> Result<()> {
        let op = &self.text[op.start..op.end];
        if let Some(o) = &set.offsets {
            return Err(self.err(
                o.at,
                format!(
                    "offset() can only be added to the formula on its own, as in `y ~ x + offset(log(n))`; \
                     it cannot be used with '{op}'"
                ),
            ));
        }
        if let Some(d) = set.dot {
            return Err(self.err(
                d,
                format!(
                    "`.` (all other columns) can only be added on its own, as in `y ~ .` or `y ~ . + a:b`; \
                     to use '{op}', list the columns instead"
                ),
            ));
        }
        if set.terms.is_empty() {
            let message = if set.literal {
                format!(
                    "0 and 1 only remove or keep the intercept; they cannot be used with '{op}'"
                )
            } else {
                format!("this part has no terms to use with '{op}'")
            };
            return Err(self.err(set.start, message));
        }
        Ok(())
    }

    /// Every term of `a` interacted with every term of `b` (`a:b`).
    fn interact(&mut self, a: &TermSet, b: &TermSet) -> Result<TermSet> {
        let mut out = TermSet::empty(a.start);
        for x in &a.terms {
            for y in &b.terms {
                self.add_term(&mut out, join(x, y), b.start)?;
            }
        }
        Ok(out)
    }

    /// `a*b` = `a + b + a:b`.
    fn cross(&mut self, mut a: TermSet, b: TermSet) -> Result<TermSet> {
        let ab = self.interact(&a, &b)?;
        self.union(&mut a, b)?;
        self.union(&mut a, ab)?;
        Ok(a)
    }

    /// `a/b` = `a + (all variables of a):b`.
    fn nest(&mut self, mut a: TermSet, b: TermSet) -> Result<TermSet> {
        let mut all = Term { vars: Vec::new() };
        for t in &a.terms {
            all = join(&all, t);
        }
        let mut whole = TermSet::empty(a.start);
        self.add_term(&mut whole, all, a.start)?;
        let nested = self.interact(&whole, &b)?;
        self.union(&mut a, nested)?;
        Ok(a)
    }

    /// `+` and `-`, with an optional leading sign.
    fn fsum(&mut self) -> Result<TermSet> {
        let start = self.peek().start;
        let mut acc = match self.peek().tok {
            Tok::Minus => {
                self.next();
                let rhs = self.negated(Self::fprod)?;
                let mut acc = TermSet::empty(start);
                self.subtract(&mut acc, rhs)?;
                acc
            }
            Tok::Plus => {
                self.next();
                self.fprod()?
            }
            _ => self.fprod()?,
        };
        loop {
            match self.peek().tok {
                Tok::Plus => {
                    self.next();
                    let rhs = self.fprod()?;
                    self.union(&mut acc, rhs)?;
                }
                Tok::Minus => {
                    self.next();
                    let rhs = self.negated(Self::fprod)?;
                    self.subtract(&mut acc, rhs)?;
                }
                _ => break,
            }
        }
        acc.start = start;
        Ok(acc)
    }

    /// Parses with the sign of 0 and 1 flipped (the right side of `-`).
    fn negated(&mut self, parse: impl FnOnce(&mut Self) -> Result<TermSet>) -> Result<TermSet> {
        self.negative = !self.negative;
        let r = parse(self);
        self.negative = !self.negative;
        r
    }

    /// `*` and `/`.
    fn fprod(&mut self) -> Result<TermSet> {
        let mut acc = self.finter()?;
        loop {
            let op = self.peek().clone();
            if !matches!(op.tok, Tok::Star | Tok::Slash) {
                break;
            }
            self.next();
            let rhs = self.finter()?;
            self.check_operand(&acc, &op)?;
            self.check_operand(&rhs, &op)?;
            let start = acc.start;
            acc = if op.tok == Tok::Star {
                self.cross(acc, rhs)?
            } else {
                self.nest(acc, rhs)?
            };
            acc.start = start;
        }
        Ok(acc)
    }

    /// `:`.
    fn finter(&mut self) -> Result<TermSet> {
        let mut acc = self.fpow()?;
        while self.peek().tok == Tok::Colon {
            let op = self.next();
            let rhs = self.fpow()?;
            self.check_operand(&acc, &op)?;
            self.check_operand(&rhs, &op)?;
            let start = acc.start;
            acc = self.interact(&acc, &rhs)?;
            acc.start = start;
        }
        Ok(acc)
    }

    /// `^` with a whole number.
    fn fpow(&mut self) -> Result<TermSet> {
        let base = self.fprimary()?;
        if self.peek().tok != Tok::Caret {
            return Ok(base);
        }
        let op = self.next();
        self.check_operand(&base, &op)?;
        let t = self.next();
        let power = match t.tok {
            Tok::Number(v) if v >= 1.0 && v.fract() == 0.0 => v,
            _ => {
                return Err(self.err(
                    t.start,
                    format!(
                        "expected a whole number of 1 or more after '^', as in (a + b)^2, found {}",
                        self.describe(&t)
                    ),
                ));
            }
        };
        let mut acc = TermSet::empty(base.start);
        for term in &base.terms {
            self.add_term(&mut acc, term.clone(), base.start)?;
        }
        let mut k = 1.0;
        while k < power {
            let before = acc.terms.len();
            let more = self.interact(&acc, &base)?;
            self.union(&mut acc, more)?;
            if acc.terms.len() == before {
                break;
            }
            k += 1.0;
        }
        acc.start = base.start;
        let t = self.peek();
        if t.tok == Tok::Caret {
            return Err(self.err(
                t.start,
                "a second '^': put the first power in parentheses, as in ((a + b)^2)^3",
            ));
        }
        Ok(acc)
    }

    /// A term, a parenthesised part, `.`, or 0 / 1.
    fn fprimary(&mut self) -> Result<TermSet> {
        let t = self.peek().clone();
        match &t.tok {
            Tok::LParen => {
                self.enter(t.start)?;
                self.next();
                let mut inner = self.fsum()?;
                self.close_paren(t.start, "")?;
                self.leave();
                inner.start = t.start;
                inner.literal = false;
                Ok(inner)
            }
            Tok::Dot => {
                self.next();
                let mut set = TermSet::empty(t.start);
                set.dot = Some(t.start);
                Ok(set)
            }
            &Tok::Number(v) if v == 0.0 || v == 1.0 => {
                self.next();
                self.intercept = (v == 1.0) != self.negative;
                let mut set = TermSet::empty(t.start);
                set.literal = true;
                Ok(set)
            }
            Tok::Number(_) => Err(self.err(
                t.start,
                format!(
                    "expected a term, found {}; only 0 and 1 can stand as terms (to remove or keep the \
                     intercept); for a constant use I(...)",
                    self.describe(&t)
                ),
            )),
            Tok::Name(name)
                if name == "offset"
                    && self.toks.get(self.pos + 1).is_some_and(|n| n.tok == Tok::LParen) =>
            {
                self.offset(t.start)
            }
            Tok::Name(_) | Tok::Quoted(_) => {
                let var = self.var()?;
                let mut set = TermSet::empty(t.start);
                self.add_term(&mut set, Term { vars: vec![var] }, t.start)?;
                Ok(set)
            }
            Tok::End => Err(self.err(t.start, format!("expected a term{}", self.after_operator()))),
            _ => Err(self.err(t.start, format!("expected a term, found {}", self.describe(&t)))),
        }
    }

    /// `offset(expr)`: a part with no terms and one offset.
    fn offset(&mut self, at: usize) -> Result<TermSet> {
        if self.negative {
            return Err(self.err(
                at,
                "an offset cannot be removed with '-'; leave offset(...) out of the formula instead",
            ));
        }
        self.next(); // the name `offset`
        let args = self.args("offset")?;
        let [x] = <[Arg; 1]>::try_from(args).map_err(|a| {
            self.err(
                at,
                format!(
                    "offset takes 1 argument, as in offset(log(n)); found {}",
                    a.len()
                ),
            )
        })?;
        let mut set = TermSet::empty(at);
        set.offsets = Some(Box::new(Offsets {
            exprs: vec![x.expr],
            at,
        }));
        Ok(set)
    }

    /// A variable: a column, `F(...)`, `N(...)`, `I(...)` or a function call.
    fn var(&mut self) -> Result<Var> {
        let t = self.next();
        match t.tok {
            Tok::Quoted(name) => Ok(Var::Column(name)),
            Tok::Name(name) if self.peek().tok == Tok::LParen => self.call_var(&name, t.start),
            Tok::Name(name) => Ok(Var::Column(name)),
            _ => Err(self.err(
                t.start,
                format!("expected a variable, found {}", self.describe(&t)),
            )),
        }
    }

    /// `name(...)` as a term.
    fn call_var(&mut self, name: &str, at: usize) -> Result<Var> {
        let func = match name {
            "F" | "N" | "I" => None,
            _ => Some(Func::from_name(name).ok_or_else(|| unknown_function(self, name, at))?),
        };
        let args = self.args(name)?;
        let count = |expected: &str, found: usize| {
            self.err(at, format!("{name} takes {expected}; found {found}"))
        };
        match (name, func) {
            ("F", _) => {
                let (column, low, high) = match <[Arg; 1]>::try_from(args) {
                    Ok([x]) => (x, None, None),
                    Err(args) => match <[Arg; 3]>::try_from(args) {
                        Ok([x, low, high]) => (x, Some(low), Some(high)),
                        Err(args) => {
                            return Err(count(
                                "1 or 3 arguments, as in F(x) or F(x, low, high)",
                                args.len(),
                            ));
                        }
                    },
                };
                let column = self.column_arg(name, column)?;
                let (low, high) = match (low, high) {
                    (Some(low_arg), Some(high_arg)) => {
                        let low = self.constant_arg(&low_arg)?;
                        let high = self.constant_arg(&high_arg)?;
                        if low > high {
                            return Err(self.err(
                                low_arg.start,
                                format!(
                                    "in F(x, low, high) the low ({low}) is above the high ({high})"
                                ),
                            ));
                        }
                        (Some(low), Some(high))
                    }
                    _ => (None, None),
                };
                Ok(Var::AsFactor { column, low, high })
            }
            ("N", _) => {
                let [x] = <[Arg; 1]>::try_from(args)
                    .map_err(|a| count("1 argument, as in N(x)", a.len()))?;
                Ok(Var::AsNumeric(self.column_arg(name, x)?))
            }
            (_, None) => {
                let [x] = <[Arg; 1]>::try_from(args)
                    .map_err(|a| count("1 argument, as in I(x^2)", a.len()))?;
                let expr = x.expr;
                Ok(Var::Computed {
                    label: format!("I({expr})"),
                    expr,
                })
            }
            (_, Some(func)) => {
                let [x] = <[Arg; 1]>::try_from(args)
                    .map_err(|a| count(&format!("1 argument, as in {name}(x)"), a.len()))?;
                let expr = Expr::Call {
                    func,
                    arg: Box::new(x.expr),
                };
                Ok(Var::Computed {
                    label: expr.to_string(),
                    expr,
                })
            }
        }
    }

    fn column_arg(&self, func: &str, arg: Arg) -> Result<String> {
        match arg.expr {
            Expr::Column(c) => Ok(c),
            _ => Err(self.err(
                arg.start,
                format!("{func}() takes a column name, as in {func}(x)"),
            )),
        }
    }

    fn constant_arg(&self, arg: &Arg) -> Result<f64> {
        match &arg.expr {
            Expr::Number(v) => Ok(*v),
            Expr::Neg(e) => match **e {
                Expr::Number(v) => Ok(-v),
                _ => Err(self.err(
                    arg.start,
                    "the low and high of F(x, low, high) must be numbers",
                )),
            },
            _ => Err(self.err(
                arg.start,
                "the low and high of F(x, low, high) must be numbers",
            )),
        }
    }

    /// The arguments of a call, from its `(` to its `)`.
    fn args(&mut self, name: &str) -> Result<Vec<Arg>> {
        let open = self.next();
        self.enter(open.start)?;
        let mut out = Vec::new();
        if self.peek().tok == Tok::RParen {
            self.next();
            self.leave();
            return Ok(out);
        }
        loop {
            let start = self.peek().start;
            let (expr, depth) = self.expr()?;
            out.push(Arg { expr, start, depth });
            let t = self.peek().clone();
            match t.tok {
                Tok::Comma => {
                    self.next();
                }
                Tok::RParen => {
                    self.next();
                    break;
                }
                Tok::End => {
                    return Err(self.err(open.start, format!("the '(' of {name}( is never closed")));
                }
                _ => {
                    return Err(self.err(
                        t.start,
                        format!(
                            "expected ',', ')' or an operator in {name}(...), found {}",
                            self.describe(&t)
                        ),
                    ));
                }
            }
        }
        self.leave();
        Ok(out)
    }

    // --- arithmetic ---------------------------------------------------------------------------

    /// `+` and `-`. Returns the expression and the depth of its tree.
    fn expr(&mut self) -> Result<(Expr, usize)> {
        self.binary_level(
            |t| match t {
                Tok::Plus => Some(BinOp::Add),
                Tok::Minus => Some(BinOp::Sub),
                _ => None,
            },
            Self::mul_expr,
        )
    }

    /// `*` and `/`.
    fn mul_expr(&mut self) -> Result<(Expr, usize)> {
        self.binary_level(
            |t| match t {
                Tok::Star => Some(BinOp::Mul),
                Tok::Slash => Some(BinOp::Div),
                _ => None,
            },
            Self::unary_expr,
        )
    }

    /// A left-associative level of binary operators: operands parsed by `operand`, joined by
    /// the operators `op_of` recognises.
    fn binary_level(
        &mut self,
        op_of: fn(&Tok) -> Option<BinOp>,
        operand: fn(&mut Self) -> Result<(Expr, usize)>,
    ) -> Result<(Expr, usize)> {
        let (mut lhs, mut depth) = operand(self)?;
        while let Some(op) = op_of(&self.peek().tok) {
            let t = self.next();
            let (rhs, d) = operand(self)?;
            depth = depth.max(d) + 1;
            self.check_depth(depth, t.start)?;
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok((lhs, depth))
    }

    /// Unary `-` and `+` (looser than `^`: `-x^2` is `-(x^2)`).
    fn unary_expr(&mut self) -> Result<(Expr, usize)> {
        match self.peek().tok {
            Tok::Minus | Tok::Plus => {
                let t = self.next();
                self.enter(t.start)?;
                let (e, d) = self.unary_expr()?;
                self.leave();
                if t.tok == Tok::Plus {
                    return Ok((e, d));
                }
                self.check_depth(d + 1, t.start)?;
                Ok((Expr::Neg(Box::new(e)), d + 1))
            }
            _ => self.power_expr(),
        }
    }

    /// `^`, right-associative; the exponent may have a sign (`x^-1`).
    fn power_expr(&mut self) -> Result<(Expr, usize)> {
        let (base, bd) = self.atom()?;
        if self.peek().tok != Tok::Caret {
            return Ok((base, bd));
        }
        let t = self.next();
        self.enter(t.start)?;
        let (exp, ed) = self.unary_expr()?;
        self.leave();
        let depth = bd.max(ed) + 1;
        self.check_depth(depth, t.start)?;
        Ok((
            Expr::Binary {
                op: BinOp::Pow,
                lhs: Box::new(base),
                rhs: Box::new(exp),
            },
            depth,
        ))
    }

    /// A number, a column, a function call or a parenthesised expression.
    fn atom(&mut self) -> Result<(Expr, usize)> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Number(v) => {
                self.next();
                Ok((Expr::Number(v), 1))
            }
            Tok::Quoted(name) => {
                self.next();
                Ok((Expr::Column(name), 1))
            }
            Tok::Name(name) => {
                self.next();
                if self.peek().tok != Tok::LParen {
                    return Ok((Expr::Column(name), 1));
                }
                if matches!(name.as_str(), "F" | "N" | "I") {
                    return Err(self.err(
                        t.start,
                        format!("{name}() can only be used as a term of the formula, not inside an expression"),
                    ));
                }
                let func =
                    Func::from_name(&name).ok_or_else(|| unknown_function(self, &name, t.start))?;
                let args = self.args(&name)?;
                let [x] = <[Arg; 1]>::try_from(args).map_err(|a| {
                    self.err(
                        t.start,
                        format!(
                            "{name} takes 1 argument, as in {name}(x); found {}",
                            a.len()
                        ),
                    )
                })?;
                let depth = x.depth + 1;
                self.check_depth(depth, t.start)?;
                let arg = x.expr;
                Ok((
                    Expr::Call {
                        func,
                        arg: Box::new(arg),
                    },
                    depth,
                ))
            }
            Tok::LParen => {
                self.enter(t.start)?;
                self.next();
                let inner = self.expr()?;
                self.close_paren(t.start, "")?;
                self.leave();
                Ok(inner)
            }
            Tok::Dot => Err(self.err(
                t.start,
                "`.` (all other columns) cannot be used inside an expression",
            )),
            Tok::End => Err(self.err(
                t.start,
                format!("expected a value{}", self.after_operator()),
            )),
            _ => Err(self.err(
                t.start,
                format!(
                    "expected a value (a column, a number or a function call), found {}",
                    self.describe(&t)
                ),
            )),
        }
    }
}

fn unknown_function(p: &Parser<'_>, name: &str, at: usize) -> Error {
    let hint = match name {
        "factor" | "as.factor" => "; for a factor use F(x)",
        "as.numeric" => "; for a factor's codes use N(x)",
        "offset" => {
            "; offset(expr) can only be a term on the right side, as in y ~ x + offset(log(n))"
        }
        _ => "",
    };
    p.err(
        at,
        format!("unknown function '{name}'; the functions allowed are {ALLOWED_FUNCTIONS}{hint}"),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, BooleanArray, DictionaryArray, Int32Array, StringArray};
    use arrow::datatypes::Int32Type;

    use super::*;

    fn parse(text: &str) -> Formula {
        match Formula::parse(text) {
            Ok(f) => f,
            Err(e) => panic!("{text:?} should parse:\n{e}"),
        }
    }

    fn names(text: &str) -> Vec<String> {
        parse(text).terms.iter().map(Term::name).collect()
    }

    /// The message and position of the error of a formula that must not parse.
    fn error(text: &str) -> (String, usize) {
        match Formula::parse(text) {
            Ok(f) => panic!("{text:?} should not parse, got {f:?}"),
            Err(Error::Formula {
                formula,
                position,
                message,
            }) => {
                assert_eq!(formula, text);
                assert!(
                    position <= text.len() && text.is_char_boundary(position),
                    "{position} in {text:?}"
                );
                (message, position)
            }
            Err(e) => panic!("{text:?}: not a formula error: {e}"),
        }
    }

    fn assert_error(text: &str, position: usize, needle: &str) {
        let (message, at) = error(text);
        assert!(
            message.contains(needle),
            "{text:?}: {message:?} should contain {needle:?}"
        );
        assert_eq!(at, position, "{text:?}: {message}");
    }

    fn col(name: &str) -> Expr {
        Expr::Column(name.into())
    }

    fn num(v: f64) -> Expr {
        Expr::Number(v)
    }

    fn bin(op: BinOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    fn computed(f: &Formula, i: usize) -> (&str, &Expr) {
        match &f.terms[i].vars[..] {
            [Var::Computed { label, expr }] => (label, expr),
            other => panic!("not a computed term: {other:?}"),
        }
    }

    /// Display re-parses to an equal formula.
    fn assert_round_trip(text: &str) {
        let f = parse(text);
        let shown = f.to_string();
        let g = parse(&shown);
        assert_eq!(
            Formula {
                text: f.text.clone(),
                ..g
            },
            f,
            "{text:?} shown as {shown:?}"
        );
    }

    // --- structure ----------------------------------------------------------------------------

    #[test]
    fn response_and_main_effects() {
        let f = parse("y ~ a + b");
        assert_eq!(f.text, "y ~ a + b");
        assert_eq!(f.response, Some(Var::Column("y".into())));
        assert_eq!(names("y ~ a + b"), ["a", "b"]);
        assert!(f.intercept);
        assert!(!f.has_dot);
    }

    #[test]
    fn no_response() {
        let f = parse("~ a + b");
        assert_eq!(f.response, None);
        assert_eq!(names("~ a + b"), ["a", "b"]);
        assert_eq!(f.to_string(), "~ a + b");
    }

    #[test]
    fn whitespace_is_free() {
        let a = parse("y~a*b+log(x+1)-1");
        let b = parse("  y \t~\n a * b +  log ( x + 1 ) - 1  ");
        assert_eq!(
            Formula {
                text: String::new(),
                ..a
            },
            Formula {
                text: String::new(),
                ..b
            }
        );
    }

    #[test]
    fn crossing_and_removal() {
        assert_eq!(names("y ~ a*b"), ["a", "b", "a:b"]);
        assert_eq!(names("y ~ a*b - a:b"), ["a", "b"]);
        assert_eq!(names("y ~ a*b - b:a"), ["a", "b"]);
        assert_eq!(names("y ~ a*b - a"), ["b", "a:b"]);
        assert_eq!(names("y ~ a - a"), Vec::<String>::new());
        assert_eq!(names("y ~ a + b - c"), ["a", "b"]);
    }

    #[test]
    fn interactions() {
        assert_eq!(names("y ~ a:b"), ["a:b"]);
        assert_eq!(names("y ~ a:b:c + a"), ["a", "a:b:c"]);
        assert_eq!(names("y ~ a:a"), ["a"]);
        assert_eq!(names("y ~ (a + b):c"), ["a:c", "b:c"]);
    }

    #[test]
    fn parentheses_distribute() {
        assert_eq!(names("y ~ a*(b + c)"), ["a", "b", "c", "a:b", "a:c"]);
        assert_eq!(
            names("y ~ (a + b)*(c + d)"),
            ["a", "b", "c", "d", "a:c", "a:d", "b:c", "b:d"]
        );
        assert_eq!(names("y ~ ((a))"), ["a"]);
    }

    #[test]
    fn three_way_crossing_in_r_order() {
        assert_eq!(
            names("y ~ a*b*c"),
            ["a", "b", "c", "a:b", "a:c", "b:c", "a:b:c"]
        );
    }

    #[test]
    fn powers() {
        assert_eq!(
            names("y ~ (a + b + c)^2"),
            ["a", "b", "c", "a:b", "a:c", "b:c"]
        );
        assert_eq!(names("y ~ (a + b + c)^3"), names("y ~ a*b*c"));
        assert_eq!(names("y ~ (a + b + c)^10"), names("y ~ a*b*c"));
        assert_eq!(names("y ~ (a + b)^1"), ["a", "b"]);
        assert_eq!(names("y ~ a^2"), ["a"]);
        assert_eq!(
            names("y ~ (a + b + c)^2 - a:b"),
            ["a", "b", "c", "a:c", "b:c"]
        );
    }

    #[test]
    fn nesting() {
        assert_eq!(names("y ~ a/b"), ["a", "a:b"]);
        assert_eq!(names("y ~ (a + b)/c"), ["a", "b", "a:b:c"]);
        assert_eq!(names("y ~ a/(b + c)"), ["a", "a:b", "a:c"]);
    }

    #[test]
    fn terms_are_kept_once_with_the_first_spelling() {
        assert_eq!(names("y ~ a + a"), ["a"]);
        assert_eq!(names("y ~ b:a + a:b"), ["b:a"]);
        assert_eq!(names("y ~ a:b + b + a*b"), ["b", "a", "a:b"]);
        assert_eq!(names("y ~ log(x) + log( x )"), ["log(x)"]);
    }

    #[test]
    fn terms_are_ordered_by_degree_then_as_written() {
        assert_eq!(names("y ~ a:b:c + c:d + e + a"), ["e", "a", "c:d", "a:b:c"]);
    }

    #[test]
    fn intercept() {
        assert!(parse("y ~ a").intercept);
        assert!(!parse("y ~ a - 1").intercept);
        assert!(!parse("y ~ a + 0").intercept);
        assert!(!parse("y ~ 0 + a").intercept);
        assert!(!parse("y ~ -1 + a").intercept);
        assert!(parse("y ~ a + 1").intercept);
        assert!(parse("y ~ a - 1 + 1").intercept);
        assert!(parse("y ~ a - 0").intercept);
        assert!(!parse("y ~ a - (b + 1)").intercept);
        assert!(!parse("y ~ a + 0.0").intercept);
        assert_eq!(names("y ~ 0 + a + b"), ["a", "b"]);
    }

    #[test]
    fn intercept_only_and_empty_models() {
        let f = parse("y ~ 1");
        assert!(f.terms.is_empty() && f.intercept);
        assert_eq!(f.to_string(), "y ~ 1");
        let f = parse("y ~ 0");
        assert!(f.terms.is_empty() && !f.intercept);
        assert_eq!(f.to_string(), "y ~ 0");
        let f = parse("y ~ -1");
        assert!(f.terms.is_empty() && !f.intercept);
        assert_eq!(parse("y ~ a - a").to_string(), "y ~ 1");
    }

    #[test]
    fn factor_and_numeric_conversions() {
        let f = parse("y ~ F(x) + F(z, 1, 5) + F(w, -2, 3.5) + N(g)");
        assert_eq!(
            f.terms
                .iter()
                .map(|t| t.vars[0].clone())
                .collect::<Vec<_>>(),
            [
                Var::AsFactor {
                    column: "x".into(),
                    low: None,
                    high: None
                },
                Var::AsFactor {
                    column: "z".into(),
                    low: Some(1.0),
                    high: Some(5.0)
                },
                Var::AsFactor {
                    column: "w".into(),
                    low: Some(-2.0),
                    high: Some(3.5)
                },
                Var::AsNumeric("g".into()),
            ]
        );
        assert_eq!(
            f.to_string(),
            "y ~ F(x) + F(z, 1, 5) + F(w, -2, 3.5) + N(g)"
        );
        assert_eq!(
            names("y ~ F(x) + F(z, 1, 5) + N(g):a"),
            ["F(x)", "F(z)", "N(g):a"]
        );
        assert_eq!(
            parse("F(y) ~ x").response,
            Some(Var::AsFactor {
                column: "y".into(),
                low: None,
                high: None
            })
        );
    }

    #[test]
    fn identity_terms() {
        let f = parse("y ~ I(x^2)");
        assert_eq!(
            computed(&f, 0),
            ("I(x^2)", &bin(BinOp::Pow, col("x"), num(2.0)))
        );
        let f = parse("y ~ I( (a+b) * c )");
        assert_eq!(computed(&f, 0).0, "I((a + b)*c)");
        let f = parse("y ~ I(x)");
        assert_eq!(computed(&f, 0), ("I(x)", &col("x")));
        assert_eq!(names("y ~ I(x) + x"), ["I(x)", "x"]);
    }

    #[test]
    fn function_terms() {
        for func in Func::ALL {
            let text = format!("y ~ {}(x)", func.name());
            let f = parse(&text);
            let expr = Expr::Call {
                func,
                arg: Box::new(col("x")),
            };
            assert_eq!(
                computed(&f, 0),
                (format!("{}(x)", func.name()).as_str(), &expr)
            );
        }
        let f = parse("y ~ log(x + 1)");
        assert_eq!(computed(&f, 0).0, "log(x + 1)");
        let f = parse("y ~ sqrt(abs(x - 1))");
        assert_eq!(computed(&f, 0).0, "sqrt(abs(x - 1))");
        assert_eq!(names("y ~ log(x):a"), ["log(x):a"]);
        assert_eq!(names("y ~ log"), ["log"]);
        assert_eq!(names("y ~ F + I + N"), ["F", "I", "N"]);
    }

    #[test]
    fn arithmetic_precedence() {
        let e = |text: &str| computed(&parse(&format!("y ~ I({text})")), 0).1.clone();
        assert_eq!(
            e("-x^2"),
            Expr::Neg(Box::new(bin(BinOp::Pow, col("x"), num(2.0))))
        );
        assert_eq!(
            e("2^3^2"),
            bin(BinOp::Pow, num(2.0), bin(BinOp::Pow, num(3.0), num(2.0)))
        );
        assert_eq!(
            e("a - b - c"),
            bin(BinOp::Sub, bin(BinOp::Sub, col("a"), col("b")), col("c"))
        );
        assert_eq!(
            e("a/b/c"),
            bin(BinOp::Div, bin(BinOp::Div, col("a"), col("b")), col("c"))
        );
        assert_eq!(
            e("a + b*c"),
            bin(BinOp::Add, col("a"), bin(BinOp::Mul, col("b"), col("c")))
        );
        assert_eq!(
            e("(a + b)*c"),
            bin(BinOp::Mul, bin(BinOp::Add, col("a"), col("b")), col("c"))
        );
        assert_eq!(
            e("x^-1"),
            bin(BinOp::Pow, col("x"), Expr::Neg(Box::new(num(1.0))))
        );
        assert_eq!(e("+x"), col("x"));
        assert_eq!(
            e("-(-x)"),
            Expr::Neg(Box::new(Expr::Neg(Box::new(col("x")))))
        );
        assert_eq!(
            e("2*-x"),
            bin(BinOp::Mul, num(2.0), Expr::Neg(Box::new(col("x"))))
        );
    }

    #[test]
    fn numbers() {
        let e = |text: &str| computed(&parse(&format!("y ~ I(x*{text})")), 0).1.clone();
        for (text, v) in [
            ("1e-3", 1e-3),
            (".5", 0.5),
            ("1.", 1.0),
            ("2.5E2", 250.0),
            ("1e+2", 100.0),
            ("007", 7.0),
        ] {
            assert_eq!(e(text), bin(BinOp::Mul, col("x"), num(v)), "{text}");
        }
    }

    #[test]
    fn canonical_expression_text() {
        for (written, shown) in [
            ("I(x^2)", "I(x^2)"),
            ("I(((x)))", "I(x)"),
            ("I((x)^(2))", "I(x^2)"),
            ("I((a + b)*c)", "I((a + b)*c)"),
            ("I(a + (b + c))", "I(a + (b + c))"),
            ("I((a + b) + c)", "I(a + b + c)"),
            ("I(a - (b - c))", "I(a - (b - c))"),
            ("I(a/(b*c))", "I(a/(b*c))"),
            ("I((a*b)/c)", "I(a*b/c)"),
            ("I((x^2)^3)", "I((x^2)^3)"),
            ("I(x^(2^3))", "I(x^2^3)"),
            ("I(-(x^2))", "I(-x^2)"),
            ("I((-x)^2)", "I((-x)^2)"),
            ("I(x^(-1))", "I(x^-1)"),
            ("I(x^(a+1))", "I(x^(a + 1))"),
            ("I(-(a + b))", "I(-(a + b))"),
            ("I(a - -b)", "I(a - -b)"),
            ("I(x * 1e-3)", "I(x*0.001)"),
            ("log(exp(x)/2)", "log(exp(x)/2)"),
            ("log((x))", "log(x)"),
            ("I(`my var` + 1)", "I(`my var` + 1)"),
        ] {
            let f = parse(&format!("y ~ {written}"));
            assert_eq!(computed(&f, 0).0, shown, "{written}");
            assert_round_trip(&format!("y ~ {written}"));
        }
    }

    #[test]
    fn hand_built_expressions_print_readably() {
        assert_eq!(bin(BinOp::Pow, num(-2.0), num(2.0)).to_string(), "(-2)^2");
        assert_eq!(bin(BinOp::Mul, num(0.5), col("1x")).to_string(), "0.5*`1x`");
    }

    #[test]
    fn backquoted_names() {
        let f = parse("`my y` ~ `my var` + `a:b`:c + `x\\`y` + `.` + `.5`");
        assert_eq!(f.response, Some(Var::Column("my y".into())));
        assert_eq!(names(&f.text), ["my var", "x`y", ".", ".5", "a:b:c"]);
        assert_eq!(
            f.to_string(),
            "`my y` ~ `my var` + `x\\`y` + `.` + `.5` + `a:b`:c"
        );
        assert!(!f.has_dot);
        assert_round_trip(&f.text);
        assert_eq!(names("y ~ `log`"), ["log"]);
        assert_eq!(names("y ~ `é`"), ["é"]);
    }

    #[test]
    fn identifiers() {
        assert_eq!(
            names("y ~ a.b + _c + .d + x1 + ..e"),
            ["a.b", "_c", ".d", "x1", "..e"]
        );
    }

    #[test]
    fn dot() {
        let f = parse("y ~ .");
        assert!(f.has_dot && f.terms.is_empty() && f.intercept);
        assert_eq!(f.to_string(), "y ~ .");
        let f = parse("y ~ . + a:b - 1");
        assert!(f.has_dot && !f.intercept);
        assert_eq!(f.to_string(), "y ~ . + a:b - 1");
        assert_round_trip("y ~ a:b + . + log(x)");
        assert!(parse("y ~ (. + a)").has_dot);
    }

    #[test]
    fn expand_dot() {
        let cols: Vec<String> = ["x", "y", "a", "b", "c", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = parse("y ~ . + a:b + log(x) + c").expand_dot(&cols);
        assert!(!f.has_dot);
        assert_eq!(
            f.terms.iter().map(Term::name).collect::<Vec<_>>(),
            ["x", "a", "b", "log(x)", "c", "a:b"]
        );
        assert_eq!(f.text, "y ~ . + a:b + log(x) + c");
        let f = parse("log(y) ~ .").expand_dot(&cols);
        assert_eq!(
            f.terms.iter().map(Term::name).collect::<Vec<_>>(),
            ["x", "a", "b", "c"]
        );
        let f = parse("~ .").expand_dot(&cols);
        assert_eq!(f.terms.len(), 5);
        let g = parse("y ~ a");
        assert_eq!(g.expand_dot(&cols), g);
    }

    #[test]
    fn computed_responses() {
        let f = parse("log(y) ~ x");
        assert_eq!(
            f.response,
            Some(Var::Computed {
                label: "log(y)".into(),
                expr: Expr::Call {
                    func: Func::Log,
                    arg: Box::new(col("y"))
                }
            })
        );
        assert_eq!(f.to_string(), "log(y) ~ x");
        let f = parse("I(y / 1000) ~ x");
        assert_eq!(
            f.response.as_ref().map(Var::name).as_deref(),
            Some("I(y/1000)")
        );
        assert_eq!(parse("N(g) ~ x").response, Some(Var::AsNumeric("g".into())));
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "y ~ a + b",
            "~ a*b*c",
            "y ~ (a + b + c)^2 - 1",
            "log(y) ~ F(x, 1, 10):a + I(x^2) + sqrt(abs(z)) + N(g)",
            "y ~ 0 + a/b",
            "y ~ .",
            "y ~ . - 1",
            "`y 2` ~ `a b`*c",
            "y ~ 1",
            "y ~ 0",
            "y ~ I(-x^2 + 2^-1)",
            "y ~ I(1e300*x) + I(x/1e-300)",
            "y ~ F(x, -1.5, 2.25)",
        ] {
            assert_round_trip(text);
        }
    }

    #[test]
    fn names_and_columns() {
        let f = parse("log(y) ~ a:b + I(a*c) + F(d) + N(`e e`) + I(2)");
        assert_eq!(
            f.terms.iter().map(Term::name).collect::<Vec<_>>(),
            ["I(a*c)", "F(d)", "N(e e)", "I(2)", "a:b"]
        );
        assert_eq!(f.columns(), ["y", "a", "c", "d", "e e", "b"]);
        assert_eq!(f.terms[2].to_string(), "N(`e e`)");
        assert_eq!(f.terms[4].columns(), ["a", "b"]);
        assert_eq!(Var::Column("my var".into()).name(), "my var");
        assert_eq!(Var::Column("my var".into()).to_string(), "`my var`");
        assert_eq!(
            Var::AsFactor {
                column: "x".into(),
                low: Some(1.0),
                high: Some(3.0)
            }
            .name(),
            "F(x)"
        );
        assert_eq!(
            Var::AsFactor {
                column: "x".into(),
                low: Some(1.0),
                high: Some(3.0)
            }
            .columns(),
            ["x"]
        );
        let (_, e) = computed(&f, 0);
        assert_eq!(e.columns(), ["a", "c"]);
        assert_eq!(
            bin(BinOp::Add, col("x"), bin(BinOp::Mul, col("z"), col("x"))).columns(),
            ["x", "z"]
        );
        assert_eq!(parse("~ a").columns(), ["a"]);
    }

    #[test]
    fn from_str_and_serde() {
        let f: Formula = "y ~ a*F(b) + log(c)".parse().unwrap();
        let json = serde_json::to_string(&f).unwrap();
        let g: Formula = serde_json::from_str(&json).unwrap();
        assert_eq!(f, g);
    }

    // --- errors -------------------------------------------------------------------------------

    #[test]
    fn empty_formula() {
        assert_error("", 0, "empty");
        assert_error("   \n", 0, "empty");
    }

    #[test]
    fn missing_and_repeated_tilde() {
        assert_error("y + x", 0, "missing '~'");
        assert_error("y ~ a ~ b", 6, "second '~'");
        assert_error("~ a ~", 4, "second '~'");
    }

    #[test]
    fn trailing_and_dangling_operators() {
        assert_error("y ~ a +", 7, "expected a term after '+'");
        assert_error("y ~ a*", 6, "expected a term after '*'");
        assert_error("y ~ a:", 6, "after ':'");
        assert_error("y ~ a + * b", 8, "expected a term, found '*'");
        assert_error("y ~ a +, b", 7, "found ','");
        assert_error(
            "y ~ I(x +)",
            9,
            "expected a value (a column, a number or a function call), found ')'",
        );
        assert_error("y ~ log(x *", 11, "expected a value after '*'");
    }

    #[test]
    fn unbalanced_parentheses() {
        assert_error("y ~ (a + b", 4, "'(' is never closed");
        assert_error("y ~ ((a + b)", 4, "never closed");
        assert_error("y ~ a + b)", 9, "unmatched ')'");
        assert_error("y ~ (a + b))", 11, "unmatched ')'");
        assert_error("y ~ (a b)", 7, "expected ')' or an operator, found 'b'");
        assert_error("y ~ log(x", 7, "the '(' of log( is never closed");
        assert_error("y ~ I((x + 1)", 5, "the '(' of I( is never closed");
        assert_error("y ~ ()", 5, "expected a term, found ')'");
    }

    #[test]
    fn unknown_functions() {
        let (message, position) = error("y ~ foo(x)");
        assert_eq!(position, 4);
        assert!(message.contains("'foo'"), "{message}");
        for allowed in [
            "F(x)", "N(x)", "I(expr)", "log", "log10", "log2", "exp", "sqrt", "abs",
        ] {
            assert!(message.contains(allowed), "{message}");
        }
        assert_error("y ~ a + factor(x)", 8, "use F(x)");
        assert_error("y ~ I(foo(x))", 6, "unknown function 'foo'");
        assert_error("y ~ Log(x)", 4, "unknown function 'Log'");
        assert_error("bar(y) ~ x", 0, "unknown function 'bar'");
    }

    #[test]
    fn argument_counts() {
        assert_error(
            "y ~ F(x, 1)",
            4,
            "F takes 1 or 3 arguments, as in F(x) or F(x, low, high); found 2",
        );
        assert_error("y ~ F()", 4, "found 0");
        assert_error("y ~ a + F(x, 1, 2, 3)", 8, "found 4");
        assert_error("y ~ N()", 4, "N takes 1 argument");
        assert_error("y ~ N(a, b)", 4, "found 2");
        assert_error("y ~ I()", 4, "I takes 1 argument, as in I(x^2); found 0");
        assert_error("y ~ I(a, b)", 4, "found 2");
        assert_error("y ~ log(x, 10)", 4, "log takes 1 argument");
        assert_error("y ~ I(exp())", 6, "exp takes 1 argument");
        assert_error("y ~ log(x,)", 10, "expected a value");
    }

    #[test]
    fn bad_arguments() {
        assert_error("y ~ F(log(x))", 6, "F() takes a column name");
        assert_error("y ~ N(1)", 6, "N() takes a column name");
        assert_error("y ~ F(x, a, 2)", 9, "must be numbers");
        assert_error("y ~ F(x, 5, 1)", 9, "above the high");
        assert_error("y ~ I(F(x))", 6, "F() can only be used as a term");
        assert_error("y ~ log(I(x))", 8, "I() can only be used as a term");
    }

    #[test]
    fn numbers_as_terms() {
        assert_error("y ~ a + 2", 8, "found the number 2");
        assert_error("y ~ 0.5", 4, "found the number 0.5");
        assert_error("y ~ a - 3", 8, "only 0 and 1");
        assert_error("y ~ a*1", 6, "0 and 1 only remove or keep the intercept");
        assert_error("y ~ 0:a", 4, "cannot be used with ':'");
        assert_error("y ~ (a - a)*b", 4, "no terms");
        assert_error("2 ~ x", 0, "expected the response");
    }

    #[test]
    fn powers_need_whole_numbers() {
        assert_error("y ~ (a + b)^0", 12, "whole number");
        assert_error("y ~ (a + b)^1.5", 12, "whole number");
        assert_error("y ~ (a + b)^c", 12, "found 'c'");
        assert_error("y ~ (a + b)^", 12, "the end of the formula");
        assert_error("y ~ 1^2", 4, "cannot be used with '^'");
        assert_error("y ~ (a + b)^2^3", 13, "a second '^'");
        assert_eq!(names("y ~ ((a + b + c)^2)^1"), names("y ~ (a + b + c)^2"));
    }

    #[test]
    fn unexpected_characters() {
        assert_error("y ~ a $ b", 6, "unexpected character '$'");
        assert_error("y ~ a %in% b", 6, "%in%");
        assert_error("y ~ \"a\"", 4, "backquotes");
        assert_error("y ~ é", 4, "unexpected character 'é'");
        assert_error("y ~ a + b§", 9, "'§'");
        assert_error("y ~ `a", 4, "never closed");
        assert_error("y ~ ``", 4, "empty name");
        assert_error("y ~ a + 1x", 8, "malformed number '1x'");
        assert_error("y ~ I(1e)", 6, "malformed number '1e'");
        assert_error("y ~ I(1.5.3)", 6, "malformed number '1.5.3'");
        assert_error("y ~ I(1e999)", 6, "too large");
        assert_error(
            "y ~ a b",
            6,
            "expected an operator (+, -, *, /, :, ^) or the end of the formula, found 'b'",
        );
        assert_error("y ~ a, b", 5, "found ','");
        assert_error("y ~ I(a:b)", 7, "found ':'");
    }

    #[test]
    fn error_display_points_at_the_character() {
        let e = Formula::parse("é ~ é + $").unwrap_err();
        let s = e.to_string();
        assert!(s.contains("position 1"), "{s}");
        let e = Formula::parse("y ~ é + $").unwrap_err();
        assert!(e.to_string().ends_with("\n      ^"), "{e}");
    }

    #[test]
    fn empty_right_side() {
        assert_error("y ~", 3, "nothing after '~'");
        assert_error("y ~   ", 6, "nothing after '~'");
        assert_error("~", 1, "nothing after '~'");
    }

    #[test]
    fn bad_responses() {
        assert_error("a + b ~ x", 2, "I(a + b) ~ x");
        assert_error("-y ~ x", 0, "expected the response");
        assert_error(". ~ x", 0, "cannot be the response");
        assert_error("y z ~ x", 2, "expected '~' after the response, found 'z'");
        assert_error("(y) ~ x", 0, "expected the response");
    }

    #[test]
    fn dot_restrictions() {
        assert_error("y ~ .^2", 4, "can only be added on its own");
        assert_error("y ~ .:a", 4, "can only be added on its own");
        assert_error("y ~ a*(. + b)", 7, "can only be added on its own");
        assert_error("y ~ . - x", 8, "cannot remove 'x' from `.`");
        assert_error("y ~ a - .", 8, "cannot be removed");
        assert_error("y ~ I(.)", 6, "cannot be used inside an expression");
        assert_eq!(parse("y ~ . - a:b").terms, Vec::<Term>::new());
    }

    #[test]
    fn deep_and_large_inputs_fail_cleanly() {
        let deep = format!("y ~ {}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(error(&deep).0.contains("nests too deeply"));
        let deep = format!("y ~ I({}x)", "-".repeat(100_000));
        assert!(error(&deep).0.contains("too deeply"));
        let deep = format!("y ~ log({}x{})", "log(".repeat(10_000), ")".repeat(10_000));
        assert!(error(&deep).0.contains("too deeply"));
        let long = format!("y ~ I(x{})", "+x".repeat(100_000));
        assert!(error(&long).0.contains("too long"));
        let pow = format!("y ~ I(x{})", "^x".repeat(100_000));
        assert!(error(&pow).0.contains("too deeply"));
        let vars: Vec<String> = (0..30).map(|i| format!("v{i}")).collect();
        let big = format!("y ~ ({})^30", vars.join(" + "));
        assert!(
            error(&big).0.contains("more than 10000 terms"),
            "{}",
            error(&big).0
        );
        let big = format!("y ~ {}", vars.join("*"));
        assert!(error(&big).0.contains("terms"));
        // Long but flat formulas are fine.
        let wide = format!(
            "y ~ {}",
            (0..5000)
                .map(|i| format!("x{i}"))
                .collect::<Vec<_>>()
                .join(" + ")
        );
        assert_eq!(parse(&wide).terms.len(), 5000);
        let wide = format!("y ~ I(x{})", "+x".repeat(150));
        parse(&wide);
    }

    // --- evaluation ---------------------------------------------------------------------------

    fn batch() -> RecordBatch {
        let a: ArrayRef = Arc::new(Int32Array::from(vec![Some(1), Some(2), None, Some(4)]));
        let b: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 0.0, 2.0, -1.0]));
        let c: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true, false]));
        let f: ArrayRef = Arc::new(
            ["u", "v", "u", "v"]
                .into_iter()
                .collect::<DictionaryArray<Int32Type>>(),
        );
        let s: ArrayRef = Arc::new(StringArray::from(vec!["1", "2", "3", "4"]));
        let n: ArrayRef = Arc::new(Float64Array::from(vec![f64::NAN, 1.0, f64::INFINITY, 2.0]));
        RecordBatch::try_from_iter([("a", a), ("b", b), ("c", c), ("f", f), ("s", s), ("n", n)])
            .unwrap()
    }

    fn eval(text: &str) -> Vec<Option<f64>> {
        let f = parse(&format!("y ~ {text}"));
        let (_, expr) = computed(&f, 0);
        let out = expr.evaluate(&batch()).unwrap();
        assert_eq!(out.len(), 4);
        out.iter().collect()
    }

    #[test]
    fn evaluates_arithmetic() {
        assert_eq!(eval("I(a + b)"), [Some(1.5), Some(2.0), None, Some(3.0)]);
        assert_eq!(eval("I(a*2 - 1)"), [Some(1.0), Some(3.0), None, Some(7.0)]);
        assert_eq!(eval("I(-a^2)"), [Some(-1.0), Some(-4.0), None, Some(-16.0)]);
        assert_eq!(eval("I(2^a)"), [Some(2.0), Some(4.0), None, Some(16.0)]);
        assert_eq!(
            eval("I(c*10)"),
            [Some(10.0), Some(0.0), Some(10.0), Some(0.0)]
        );
        assert_eq!(eval("abs(b)"), [Some(0.5), Some(0.0), Some(2.0), Some(1.0)]);
        assert_eq!(eval("I(3)"), [Some(3.0); 4]);
        assert_eq!(eval("I(2 + 3*4)"), [Some(14.0); 4]);
    }

    #[test]
    fn non_finite_results_are_null() {
        assert_eq!(eval("I(a/b)"), [Some(2.0), None, None, Some(-4.0)]);
        assert_eq!(
            eval("log(b)"),
            [Some(0.5f64.ln()), None, Some(2f64.ln()), None]
        );
        assert_eq!(
            eval("sqrt(b)"),
            [Some(0.5f64.sqrt()), Some(0.0), Some(2f64.sqrt()), None]
        );
        assert_eq!(eval("I(n)"), [None, Some(1.0), None, Some(2.0)]);
        assert_eq!(eval("I(n*0 + 1)"), [None, Some(1.0), None, Some(1.0)]);
        assert_eq!(eval("I(1/0)"), [None; 4]);
        assert_eq!(eval("I(a + 1/0)"), [None; 4]);
        assert_eq!(eval("exp(1000*c)"), [None, Some(1.0), None, Some(1.0)]);
    }

    #[test]
    fn evaluates_sliced_batches() {
        let f = parse("y ~ I(a*b)");
        let (_, expr) = computed(&f, 0);
        let out = expr.evaluate(&batch().slice(1, 3)).unwrap();
        assert_eq!(
            out.iter().collect::<Vec<_>>(),
            [Some(0.0), None, Some(-4.0)]
        );
    }

    #[test]
    fn evaluation_errors() {
        let f = parse("y ~ I(f + 1) + log(s) + I(z*2)");
        let err = |i: usize| computed(&f, i).1.evaluate(&batch()).unwrap_err();
        match err(0) {
            Error::InvalidArgument(m) => {
                assert!(m.contains("'f'") && m.contains("not numeric"), "{m}")
            }
            e => panic!("{e}"),
        }
        match err(1) {
            Error::InvalidArgument(m) => {
                assert!(m.contains("'s'") && m.contains("not numeric"), "{m}")
            }
            e => panic!("{e}"),
        }
        match err(2) {
            Error::UnknownColumn {
                name, available, ..
            } => {
                assert_eq!(name, "z");
                assert_eq!(available, ["a", "b", "c", "f", "s", "n"]);
            }
            e => panic!("{e}"),
        }
    }
}
