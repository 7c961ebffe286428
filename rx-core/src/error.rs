//! The error type shared by every revoscale crate.
//!
//! Each variant names what is at fault (a file, a row and column, a byte offset, a formula position)
//! and, where there is one, what to do about it. Crates above rx-core wrap it in their own enums.

use std::path::PathBuf;

/// A `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in revoscale's core types and the crates built on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system error on a file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// An error from arrow, with what was being done.
    #[error("{context}: {source}")]
    Arrow {
        /// What revoscale was doing.
        context: String,
        /// The arrow error.
        #[source]
        source: Box<arrow::error::ArrowError>,
    },
    /// A formula that does not parse, with the position of the problem.
    #[error("{}", format_formula_error(formula, *position, message))]
    Formula {
        /// The whole formula text.
        formula: String,
        /// Byte offset of the problem in `formula`.
        position: usize,
        /// What is wrong there.
        message: String,
    },
    /// A column that the request names is not in the data.
    #[error("unknown column '{name}' in {source_name}; the columns are: {}", available.join(", "))]
    UnknownColumn {
        /// The missing name.
        name: String,
        /// The data source (usually a file name).
        source_name: String,
        /// The names that exist.
        available: Vec<String>,
    },
    /// A value in the input that cannot be read as asked.
    #[error("{location}: {message}")]
    BadValue {
        /// File, row and column, e.g. `data.csv: line 12, column 'x'`.
        location: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A file that is not what it claims to be, truncated or damaged.
    #[error("{}: {message}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What was found, with the byte offset where it helps.
        message: String,
    },
    /// A schema that a sink or an analysis cannot take.
    #[error("{0}")]
    Schema(String),
    /// An argument or option that is not valid.
    #[error("{0}")]
    InvalidArgument(String),
    /// An error from another library (Parquet, ...), with what was being done.
    #[error("{context}: {source}")]
    External {
        /// What revoscale was doing.
        context: String,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An output that exists and would be replaced without `overwrite`.
    #[error("{}: the file exists; pass overwrite (rx: --overwrite) to replace it or append (--append) to add rows", path.display())]
    Exists {
        /// The output file.
        path: PathBuf,
    },
}

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// An [`Error::Arrow`] with what was being done.
    pub fn arrow(context: impl Into<String>, source: arrow::error::ArrowError) -> Self {
        Error::Arrow {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// An [`Error::Corrupt`] for `path`.
    pub fn corrupt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An [`Error::External`] with what was being done.
    pub fn external(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::External {
            context: context.into(),
            source: Box::new(source),
        }
    }

    /// An [`Error::UnknownColumn`]: `name` is not a column of `schema`, read from `source_name`.
    pub fn unknown_column(
        name: &str,
        source_name: &str,
        schema: &arrow::datatypes::Schema,
    ) -> Self {
        Error::UnknownColumn {
            name: name.to_string(),
            source_name: source_name.to_string(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
        }
    }

    /// An [`Error::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }
}

fn format_formula_error(formula: &str, position: usize, message: &str) -> String {
    let col = formula
        .get(..position.min(formula.len()))
        .map_or(position, |p| p.chars().count());
    format!(
        "formula error at position {}: {message}\n  {formula}\n  {}^",
        col + 1,
        " ".repeat(col)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_error_points_at_position() {
        let e = Error::Formula {
            formula: "y ~ a +".into(),
            position: 7,
            message: "expected a term".into(),
        };
        let s = e.to_string();
        assert!(s.contains("position 8"), "{s}");
        assert!(s.ends_with("         ^"), "{s:?}");
    }

    #[test]
    fn errors_are_send_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
