//! # rx-core
//!
//! The types every revoscale crate shares, and nothing heavy: no DataFusion, no ODBC, no faer.
//!
//! - [`Error`]: the error type, naming the file, row, column or formula term at fault.
//! - [`VarInfo`], [`VarType`]: revoscalepy's variable information (type, storage, description,
//!   low/high, factor levels, value labels), carried in Arrow field metadata so it survives every hop.
//! - [`ColumnInfo`]: revoscalepy's `column_info` (type override, new name, levels, new levels,
//!   description, low/high), one struct used by every reader.
//! - [`factor`]: the chunk model's factors: dictionary arrays (`Int32` codes, `Utf8` levels) whose
//!   level table is fixed for a whole stream, and the encoder that grows it while streaming.
//! - [`DataSource`] / [`DataSink`]: open a chunk reader with a column projection and `rows_per_read`,
//!   know the row count when it is known, split into partitions for parallel reading; write chunks
//!   with nothing half-written left looking valid.
//! - [`formula`]: the parser for revoscalepy/R model formulas.
//! - [`Pema`] and [`ComputeContext`]: every analysis is init / process chunk / merge / finish, and a
//!   compute context decides where the chunks are processed.
//! - [`RxOptions`]: `rows_per_read`, `blocks_per_read`, `report_progress`, compression level.

pub mod column_info;
pub mod error;
pub mod factor;
pub mod formula;
pub mod fs;
pub mod memory;
pub mod options;
pub mod pema;
pub mod source;
pub mod varinfo;

pub use column_info::{ColType, ColumnInfo, ColumnInfoMap};
pub use error::{Error, Result};
pub use options::RxOptions;
pub use pema::{ComputeContext, Pema, RxLocalSeq, Step};
pub use source::{
    ChunkReader, ChunkWriter, DataSink, DataSource, ReadOptions, RowFilter, RowPredicate,
    WriteBehind, WriteMode, WriteOptions, copy_chunks, rechunk,
};
pub use varinfo::{VarInfo, VarType};

/// Re-exported so that users of rx-core get the arrow version it was built with.
pub use arrow;
