//! # rx-data
//!
//! revoscale's data sources and sinks outside the .xdf format (revoscalepy's `RxTextData`,
//! `RxParquetData` and in-memory data), each a [`rx_core::DataSource`] that yields Arrow record
//! batches in chunks of `rows_per_read` rows with a column projection, and a [`rx_core::DataSink`]
//! that writes atomically (a temporary file renamed into place).
//!
//! - [`TextData`]: delimited text. Sniffs the delimiter, the header and the column types; reads
//!   with arrow-csv's typed decoder, in parallel over pieces of the file cut at record boundaries;
//!   applies `column_info` / `column_classes` / `strings_as_factors` (factors keep one growing level
//!   table for the whole stream). Errors name the file, the line and the column, and say what to
//!   do; with `bad_values_as_missing` bad values become missing and are counted
//!   ([`TextData::bad_value_count`]). Writes CSV that reads back exactly (missing as `NA`, empty
//!   strings as empty fields, floats in shortest round-trip form).
//! - [`ParquetData`]: Parquet through the `parquet` crate's Arrow reader and writer; row counts
//!   from the footer, splitting by row groups, factor columns re-coded onto one level table per
//!   stream, field metadata kept. Damaged files are a clear error naming the file.
//! - [`MemoryData`] / [`MemorySink`]: record batches in memory.
//!
//! ```no_run
//! use rx_core::{DataSink, DataSource, ReadOptions, WriteOptions, source::copy_chunks};
//! use rx_data::{ParquetData, TextData};
//!
//! // CSV -> Parquet, 100,000 rows at a time.
//! let src = TextData::new("flights.csv").strings_as_factors(true);
//! let reader = src.open(&ReadOptions::default().rows_per_read(100_000))?;
//! let writer = ParquetData::new("flights.parquet").create(src.schema()?, &WriteOptions::default())?;
//! let rows = copy_chunks(reader, writer, |_| {})?;
//! println!("{rows} rows");
//! # Ok::<(), rx_core::Error>(())
//! ```

#![warn(missing_docs)]

pub mod memory;
#[cfg(feature = "odbc")]
pub mod odbc;
pub mod parquet;
pub mod text;
mod util;

pub use memory::{MemoryData, MemorySink};
#[cfg(feature = "odbc")]
pub use odbc::{ConnectionString, Dialect, RxOdbcData, SqlServerConnection, rx_sql_server_data};
pub use parquet::ParquetData;
pub use text::{BadValueReport, TextData, TextFormat};
