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

/// What a query reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum From {
    /// A table, by name.
    Table(String),
    /// A `SELECT` statement.
    Query(String),
}
