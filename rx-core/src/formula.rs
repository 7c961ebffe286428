//! The parser for revoscalepy / R model formulas.
//!
//! PARSER TO BE WRITTEN (helper task): see the types below; they are the contract.

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

impl Formula {
    /// Parses a formula.
    pub fn parse(text: &str) -> Result<Formula> {
        Err(Error::Formula { formula: text.to_string(), position: 0, message: "not yet parsed".into() })
    }
}
