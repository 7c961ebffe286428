//! # rx-xdf: the .xdf file format
//!
//! An .xdf file is chunked (blocks of rows), columnar, compressed per block (LZ4 by default,
//! Zstandard at a chosen level, or none), and appendable. It is an Arrow IPC file, so pyarrow,
//! DataFusion and every Arrow tool can open it; revoscale adds per-block, per-column CRC-32
//! checksums and a checksummed footer (see [`format`]), so a flipped byte is detected, never read.
//!
//! - [`XdfData`] is a [`DataSource`] (column projection reads only the bytes of the columns asked
//!   for; `split` by blocks for parallel reading) and a [`DataSink`] (create, overwrite, append).
//! - Factors are dictionary columns whose level table is fixed for the whole file: levels found
//!   while streaming are written as dictionary deltas, so old codes keep their meaning; an append
//!   extends the level table.
//! - Variable metadata (description, low/high computed on write, levels, value labels) lives in the
//!   footer schema's field metadata.
//! - Writes go to a temporary file that is renamed into place when complete: a writer that dies
//!   leaves the old file (or none), never a file that reads as valid but wrong.
//! - Composite sets ([`XdfData::composite`]): a directory of part files plus one metadata file, as
//!   revoscalepy's `create_composite_set`.
//! - [`rx_get_info`], [`rx_get_var_info`], [`rx_set_var_info`], [`rx_read_xdf`].

pub mod composite;
pub mod format;
pub mod info;
pub mod reader;
pub mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use rx_core::{ChunkReader, ChunkWriter, DataSink, DataSource, ReadOptions, WriteOptions};
pub use rx_core::{Error, Result};

pub use composite::CompositeWriter;
pub use info::{
    VarInfoUpdate, XdfInfo, rx_get_info, rx_get_var_info, rx_read_xdf, rx_set_var_info,
};
pub use reader::XdfFile;
pub use writer::XdfWriter;

/// An .xdf file or composite set, as a source and a sink (revoscalepy's `RxXdfData`).
#[derive(Debug, Clone)]
pub struct XdfData {
    path: PathBuf,
    composite: bool,
    blocks: Option<std::ops::Range<usize>>,
    blocks_per_part: usize,
}

impl XdfData {
    /// A single .xdf file (or, when `path` is an existing directory, a composite set).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let composite = path.is_dir();
        XdfData {
            path,
            composite,
            blocks: None,
            blocks_per_part: 1,
        }
    }

    /// A composite set: a directory holding `NAME.xdfm` and `data/NAME_K.xdfd` part files.
    pub fn composite(path: impl Into<PathBuf>) -> Self {
        XdfData {
            path: path.into(),
            composite: true,
            blocks: None,
            blocks_per_part: 1,
        }
    }

    /// Blocks written to each part file of a composite set (default 1, as revoscalepy).
    pub fn blocks_per_part(mut self, n: usize) -> Self {
        self.blocks_per_part = n.max(1);
        self
    }

    /// The path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True for a composite set.
    pub fn is_composite(&self) -> bool {
        self.composite
    }

    fn open_file(&self) -> Result<Arc<XdfFile>> {
        Ok(Arc::new(XdfFile::open(&self.path)?))
    }
}

impl DataSource for XdfData {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn schema(&self) -> Result<SchemaRef> {
        if self.composite {
            return Ok(composite::CompositeSet::open(&self.path)?.schema().clone());
        }
        Ok(self.open_file()?.schema().clone())
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let reader = if self.composite {
            composite::CompositeSet::open(&self.path)?
                .reader(options.columns.as_deref(), self.blocks.clone())?
        } else {
            let f = self.open_file()?;
            let blocks = self.blocks.clone().unwrap_or(0..f.num_blocks());
            f.reader(options.columns.as_deref(), blocks)?
        };
        Ok(match options.rows_per_read {
            Some(n) => rx_core::rechunk(reader, n),
            None => reader,
        })
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        let rows = if self.composite {
            let set = composite::CompositeSet::open(&self.path)?;
            match &self.blocks {
                None => set.num_rows(),
                Some(r) => set.rows_per_block()[r.clone()].iter().sum(),
            }
        } else {
            let f = self.open_file()?;
            match &self.blocks {
                None => f.num_rows(),
                Some(r) => f
                    .rows_per_block()
                    .get(r.clone())
                    .map_or(0, |s| s.iter().sum()),
            }
        };
        Ok(Some(rows))
    }

    fn split(&self, n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        let total = if self.composite {
            composite::CompositeSet::open(&self.path)?
                .rows_per_block()
                .len()
        } else {
            self.open_file()?.num_blocks()
        };
        let range = self.blocks.clone().unwrap_or(0..total);
        let len = range.end.saturating_sub(range.start);
        let parts = n.clamp(1, len.max(1));
        let mut out: Vec<Box<dyn DataSource>> = Vec::with_capacity(parts);
        for p in 0..parts {
            let s = range.start + len * p / parts;
            let e = range.start + len * (p + 1) / parts;
            let mut d = self.clone();
            d.blocks = Some(s..e);
            out.push(Box::new(d));
        }
        Ok(out)
    }
}

impl DataSink for XdfData {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        if self.composite {
            return Ok(Box::new(CompositeWriter::create(
                &self.path,
                &schema,
                options,
                self.blocks_per_part,
            )?));
        }
        Ok(Box::new(XdfWriter::create(&self.path, &schema, options)?))
    }
}

/// Writes batches to a new .xdf file (a convenience over [`XdfData`] as a sink).
pub fn rx_write_xdf(
    path: impl AsRef<Path>,
    schema: &Schema,
    batches: &[arrow::array::RecordBatch],
    options: &WriteOptions,
) -> Result<u64> {
    let mut w = XdfWriter::create(path.as_ref(), schema, options)?;
    for b in batches {
        w.write(b)?;
    }
    Box::new(w).finish()
}
