//! SQL dialects: how names and values are quoted and which column types a table gets.
//!
//! Nothing a user gives (a table or column name, a string value) is pasted into SQL unquoted:
//! identifiers go through [`Dialect::ident`] (the quote character doubled inside), values through
//! [`Dialect::string`] (single quotes doubled).

use arrow::datatypes::{DataType, TimeUnit};
use rx_core::{Error, Result};

/// The SQL dialect of a database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Dialect {
    /// Microsoft SQL Server (T-SQL): `[name]`, `TOP n`, `NVARCHAR(MAX)`, `DATETIME2`.
    SqlServer,
    /// PostgreSQL: `"name"`, `LIMIT n`, `DOUBLE PRECISION`, `TEXT`.
    PostgreSql,
    /// SQLite: `"name"`, `LIMIT n`, `DOUBLE`, `TEXT`.
    Sqlite,
    /// Any other ODBC database: SQL-92 (`"name"`, `FETCH FIRST n ROWS ONLY`).
    Generic,
}

impl Dialect {
    /// The dialect of a database from the name its driver reports (`SQL_DBMS_NAME`).
    pub fn from_dbms_name(name: &str) -> Self {
        let n = name.to_ascii_lowercase();
        if n.contains("sql server") {
            Dialect::SqlServer
        } else if n.contains("postgres") {
            Dialect::PostgreSql
        } else if n.contains("sqlite") {
            Dialect::Sqlite
        } else {
            Dialect::Generic
        }
    }

    /// A quoted identifier (table or column name): `[a]]b]` in T-SQL, `"a""b"` elsewhere. A name
    /// with a NUL character is refused (no database accepts one).
    pub fn ident(&self, name: &str) -> Result<String> {
        if name.contains('\0') || name.is_empty() {
            return Err(Error::invalid(format!(
                "'{}' cannot be a table or column name (empty, or it holds a NUL character)",
                name.escape_debug()
            )));
        }
        Ok(match self {
            Dialect::SqlServer => format!("[{}]", name.replace(']', "]]")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        })
    }

    /// A string literal: `'it''s'` (N'...' in T-SQL, so Unicode survives).
    pub fn string(&self, value: &str) -> Result<String> {
        if value.contains('\0') {
            return Err(Error::invalid(
                "a string value with a NUL character cannot be sent as SQL text",
            ));
        }
        let q = value.replace('\'', "''");
        Ok(match self {
            Dialect::SqlServer => format!("N'{q}'"),
            _ => format!("'{q}'"),
        })
    }

    /// `SELECT <columns> FROM (<query>) AS rx_q` (or `FROM <table>`), with at most `limit` rows.
    pub fn select(&self, columns: &[String], from: &From, limit: Option<u64>) -> Result<String> {
        let cols = if columns.is_empty() {
            "*".to_string()
        } else {
            columns
                .iter()
                .map(|c| self.ident(c))
                .collect::<Result<Vec<_>>>()?
                .join(", ")
        };
        let from = match from {
            From::Table(t) => self.ident(t)?,
            From::Query(q) => format!("({}) rx_q", q.trim().trim_end_matches(';')),
        };
        Ok(match (self, limit) {
            (_, None) => format!("SELECT {cols} FROM {from}"),
            (Dialect::SqlServer, Some(n)) => format!("SELECT TOP {n} {cols} FROM {from}"),
            (Dialect::Generic, Some(n)) => {
                format!("SELECT {cols} FROM {from} FETCH FIRST {n} ROWS ONLY")
            }
            (_, Some(n)) => format!("SELECT {cols} FROM {from} LIMIT {n}"),
        })
    }

    /// `DROP TABLE IF EXISTS <table>`.
    pub fn drop_table(&self, table: &str) -> Result<String> {
        Ok(match self {
            // IF EXISTS came with SQL Server 2016; OBJECT_ID works on every version.
            Dialect::SqlServer => format!(
                "IF OBJECT_ID({}, 'U') IS NOT NULL DROP TABLE {}",
                self.string(&self.ident(table)?)?,
                self.ident(table)?
            ),
            _ => format!("DROP TABLE IF EXISTS {}", self.ident(table)?),
        })
    }

    /// The column type for an Arrow type (factors are written as text, or as integer codes).
    pub fn column_type(&self, dt: &DataType) -> Result<&'static str> {
        use Dialect::*;
        Ok(match dt {
            DataType::Boolean => match self {
                SqlServer => "BIT",
                _ => "BOOLEAN",
            },
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => "SMALLINT",
            DataType::Int32 | DataType::UInt16 => match self {
                SqlServer => "INT",
                _ => "INTEGER",
            },
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "BIGINT",
            DataType::Float16 | DataType::Float32 => "REAL",
            DataType::Float64 => match self {
                SqlServer => "FLOAT",
                PostgreSql | Generic => "DOUBLE PRECISION",
                Sqlite => "DOUBLE",
            },
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Dictionary(..) => match self {
                SqlServer => "NVARCHAR(MAX)",
                PostgreSql | Sqlite => "TEXT",
                Generic => "VARCHAR(4000)",
            },
            DataType::Date32 | DataType::Date64 => "DATE",
            DataType::Timestamp(
                TimeUnit::Second | TimeUnit::Millisecond | TimeUnit::Microsecond,
                _,
            )
            | DataType::Timestamp(TimeUnit::Nanosecond, _) => match self {
                SqlServer => "DATETIME2",
                _ => "TIMESTAMP",
            },
            other => {
                return Err(Error::Schema(format!(
                    "a column of type {other} cannot be written to a database table; convert it to a number, text or date first"
                )));
            }
        })
    }

    /// `CREATE TABLE <table> (<col> <type>, ...)` for `(name, type)` pairs.
    pub fn create_table(&self, table: &str, columns: &[(String, DataType)]) -> Result<String> {
        let cols = columns
            .iter()
            .map(|(n, t)| Ok(format!("{} {}", self.ident(n)?, self.column_type(t)?)))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        Ok(format!("CREATE TABLE {} ({cols})", self.ident(table)?))
    }

    /// `INSERT INTO <table> (<cols>) VALUES (?, ...)`.
    pub fn insert(&self, table: &str, columns: &[String]) -> Result<String> {
        let cols = columns
            .iter()
            .map(|c| self.ident(c))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        let marks = vec!["?"; columns.len()].join(", ");
        Ok(format!(
            "INSERT INTO {} ({cols}) VALUES ({marks})",
            self.ident(table)?
        ))
    }
}

impl Dialect {
    /// PostgreSQL's bulk insert without COPY (which ODBC cannot send): `INSERT INTO <table>
    /// (<cols>) SELECT UNNEST(CAST(? AS <type>[])), ...`, one parameter per column holding an
    /// array literal of many rows; `None` for other dialects (they bind arrays of rows). The
    /// set-returning functions in the select list run in lockstep without materializing the rows
    /// (`FROM UNNEST(a, b, ...)` builds a tuple store first: 25% slower, measured).
    pub fn insert_arrays(
        &self,
        table: &str,
        columns: &[(String, DataType)],
    ) -> Result<Option<String>> {
        if *self != Dialect::PostgreSql {
            return Ok(None);
        }
        let names = columns
            .iter()
            .map(|(c, _)| self.ident(c))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        let arrays = columns
            .iter()
            .map(|(_, t)| Ok(format!("UNNEST(CAST(? AS {}[]))", self.column_type(t)?)))
            .collect::<Result<Vec<_>>>()?
            .join(", ");
        Ok(Some(format!(
            "INSERT INTO {} ({names}) SELECT {arrays}",
            self.ident(table)?
        )))
    }
}

/// A PostgreSQL array literal of a column's values (`{1.5,NULL,"it's \"q\""}`): text quoted with
/// `"` and `\` escaped, nulls as `NULL`, numbers bare in their shortest exact form (`NaN`, `inf`
/// and `-inf` included, which PostgreSQL reads).
pub fn pg_array_literal(column: &dyn arrow::array::Array, name: &str) -> Result<String> {
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type};
    use std::fmt::Write;
    let n = column.len();
    let mut out = String::with_capacity(n * 12 + 2);
    out.push('{');
    let sep = |out: &mut String, i: usize| {
        if i > 0 {
            out.push(',');
        }
    };
    macro_rules! numbers {
        ($t:ty, $fmt:literal) => {{
            let a = column.as_primitive::<$t>();
            for i in 0..n {
                sep(&mut out, i);
                if a.is_null(i) {
                    out.push_str("NULL");
                } else {
                    let _ = write!(out, $fmt, a.value(i));
                }
            }
        }};
    }
    match column.data_type() {
        DataType::Float64 => numbers!(Float64Type, "{:?}"),
        DataType::Float32 => numbers!(Float32Type, "{:?}"),
        DataType::Int64 => numbers!(Int64Type, "{}"),
        DataType::Int32 => numbers!(Int32Type, "{}"),
        DataType::Boolean => {
            let a = column.as_boolean();
            for i in 0..n {
                sep(&mut out, i);
                out.push_str(if a.is_null(i) {
                    "NULL"
                } else if a.value(i) {
                    "t"
                } else {
                    "f"
                });
            }
        }
        _ => {
            let text = arrow::compute::cast(column, &DataType::Utf8)
                .map_err(|e| Error::arrow(format!("column '{name}'"), e))?;
            let a = text.as_string::<i32>();
            for i in 0..n {
                sep(&mut out, i);
                if a.is_null(i) {
                    out.push_str("NULL");
                    continue;
                }
                let v = a.value(i);
                if v.contains('\0') {
                    return Err(Error::invalid(format!(
                        "column '{name}', row {}: a text value with a NUL character cannot be stored in PostgreSQL",
                        i + 1
                    )));
                }
                out.push('"');
                for ch in v.chars() {
                    if ch == '"' || ch == '\\' {
                        out.push('\\');
                    }
                    out.push(ch);
                }
                out.push('"');
            }
        }
    }
    out.push('}');
    Ok(out)
}

/// What a query reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// A table, by name.
    Table(String),
    /// A `SELECT` statement.
    Query(String),
}
