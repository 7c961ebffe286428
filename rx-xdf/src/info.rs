//! `rx_get_info`, `rx_get_var_info`, `rx_set_var_info` and `rx_read_xdf`.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::{Field, Schema};
use rx_core::varinfo::{
    META_DESCRIPTION, META_HIGH, META_LEVELS, META_LOW, META_VALUE_LABELS, fmt_f64,
};
use rx_core::{DataSource, Error, ReadOptions, Result, VarInfo};
use serde::Serialize;

use crate::XdfData;
use crate::composite::CompositeSet;
use crate::reader::XdfFile;

/// What `rx_get_info` reports about an .xdf file or composite set.
#[derive(Debug, Clone, Serialize)]
pub struct XdfInfo {
    /// The path.
    pub path: PathBuf,
    /// True for a composite set.
    pub composite: bool,
    /// Rows.
    pub num_rows: u64,
    /// Variables (columns).
    pub num_vars: usize,
    /// Blocks.
    pub num_blocks: usize,
    /// Rows of each block.
    pub rows_per_block: Vec<u64>,
    /// `none`, `lz4` or `zstd(LEVEL)`.
    pub compression: String,
    /// Bytes on disk.
    pub file_size: u64,
    /// Variable information.
    pub vars: Vec<VarInfo>,
    /// The first rows, when asked for.
    #[serde(skip)]
    pub head: Option<RecordBatch>,
}

/// Information about an .xdf file or composite set, with the first `head` rows when `head > 0`.
pub fn rx_get_info(path: impl AsRef<Path>, head: usize) -> Result<XdfInfo> {
    let path = path.as_ref();
    let data = XdfData::new(path);
    let (schema, rows_per_block, compression, file_size) = if data.is_composite() {
        let set = CompositeSet::open(path)?;
        (
            set.schema().clone(),
            set.rows_per_block(),
            set.compression(),
            set.total_bytes(),
        )
    } else {
        let f = XdfFile::open(path)?;
        (
            f.schema().clone(),
            f.rows_per_block(),
            f.compression().to_string(),
            f.file_len(),
        )
    };
    let head = if head > 0 {
        let mut rows = Vec::new();
        let mut n = 0;
        for b in data.open(&ReadOptions::default())? {
            let b = b?;
            let take = (head - n).min(b.num_rows());
            rows.push(b.slice(0, take));
            n += take;
            if n >= head {
                break;
            }
        }
        Some(if rows.is_empty() {
            RecordBatch::new_empty(schema.clone())
        } else {
            arrow::compute::concat_batches(&rows[0].schema(), &rows)
                .map_err(|e| Error::arrow("reading the first rows", e))?
        })
    } else {
        None
    };
    Ok(XdfInfo {
        path: path.to_path_buf(),
        composite: data.is_composite(),
        num_rows: rows_per_block.iter().sum(),
        num_vars: schema.fields().len(),
        num_blocks: rows_per_block.len(),
        rows_per_block,
        compression,
        file_size,
        vars: schema
            .fields()
            .iter()
            .map(|f| VarInfo::from_field(f))
            .collect(),
        head,
    })
}

/// Variable information of an .xdf file or composite set.
pub fn rx_get_var_info(path: impl AsRef<Path>) -> Result<Vec<VarInfo>> {
    let schema = XdfData::new(path.as_ref()).schema()?;
    Ok(schema
        .fields()
        .iter()
        .map(|f| VarInfo::from_field(f))
        .collect())
}

/// Reads a whole .xdf file (or the named columns) into memory as one batch.
pub fn rx_read_xdf(path: impl AsRef<Path>, columns: Option<&[String]>) -> Result<RecordBatch> {
    let data = XdfData::new(path.as_ref());
    let opts = ReadOptions {
        columns: columns.map(<[String]>::to_vec),
        rows_per_read: None,
        ..Default::default()
    };
    let schema = match columns {
        Some(c) => {
            let s = data.schema()?;
            let mut fields = Vec::new();
            for n in c {
                fields.push(
                    s.field_with_name(n)
                        .map_err(|_| Error::unknown_column(n, &data.name(), &s))?
                        .clone(),
                );
            }
            std::sync::Arc::new(Schema::new(fields))
        }
        None => data.schema()?,
    };
    let batches: Vec<RecordBatch> = data.open(&opts)?.collect::<Result<_>>()?;
    if batches.is_empty() {
        return Ok(RecordBatch::new_empty(schema));
    }
    arrow::compute::concat_batches(&batches[0].schema(), &batches)
        .map_err(|e| Error::arrow("reading into memory", e))
}

/// Changes to one variable's information (revoscalepy's `rx_set_var_info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VarInfoUpdate {
    /// New name.
    pub new_name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New low value.
    pub low: Option<f64>,
    /// New high value.
    pub high: Option<f64>,
    /// New labels for the factor's levels, in code order (same number of levels).
    pub levels: Option<Vec<String>>,
    /// Value labels.
    pub value_labels: Option<BTreeMap<String, String>>,
}

/// Changes variable information of an .xdf file without re-encoding its data: the footer is
/// replaced (the data blocks are copied byte for byte into a temporary file that is renamed into
/// place, so an interrupted update leaves the old file as it was).
pub fn rx_set_var_info(
    path: impl AsRef<Path>,
    updates: &BTreeMap<String, VarInfoUpdate>,
) -> Result<()> {
    let path = path.as_ref();
    if path.is_dir() {
        return Err(Error::invalid(format!(
            "{}: rx_set_var_info works on single .xdf files; for a composite set update each part",
            path.display()
        )));
    }
    let file = XdfFile::open(path)?;
    let schema = file.schema();
    for name in updates.keys() {
        if schema.field_with_name(name).is_err() {
            return Err(Error::unknown_column(
                name,
                &path.display().to_string(),
                schema,
            ));
        }
    }
    let mut fields = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let Some(u) = updates.get(f.name()) else {
            fields.push(f.as_ref().clone());
            continue;
        };
        let mut meta = f.metadata().clone();
        if let Some(d) = &u.description {
            meta.insert(META_DESCRIPTION.into(), d.clone());
        }
        if let Some(v) = u.low {
            meta.insert(META_LOW.into(), fmt_f64(v));
        }
        if let Some(v) = u.high {
            meta.insert(META_HIGH.into(), fmt_f64(v));
        }
        if let Some(l) = &u.value_labels {
            meta.insert(
                META_VALUE_LABELS.into(),
                serde_json::to_string(l).unwrap_or_default(),
            );
        }
        if let Some(levels) = &u.levels {
            let old = rx_core::varinfo::field_levels(f).ok_or_else(|| {
                Error::invalid(format!(
                    "{}: column '{}' is not a factor; it has no levels to relabel",
                    path.display(),
                    f.name()
                ))
            })?;
            if old.len() != levels.len() {
                return Err(Error::invalid(format!(
                    "{}: column '{}' has {} levels but {} new labels were given",
                    path.display(),
                    f.name(),
                    old.len(),
                    levels.len()
                )));
            }
            let mut seen = std::collections::HashSet::new();
            if let Some(d) = levels.iter().find(|l| !seen.insert(l.as_str())) {
                return Err(Error::invalid(format!(
                    "{}: level '{d}' is given twice for '{}'",
                    path.display(),
                    f.name()
                )));
            }
            meta.insert(
                META_LEVELS.into(),
                serde_json::to_string(levels).unwrap_or_default(),
            );
        }
        let name = u.new_name.clone().unwrap_or_else(|| f.name().clone());
        fields.push(Field::new(name, f.data_type().clone(), f.is_nullable()).with_metadata(meta));
    }
    let new_schema = Schema::new_with_metadata(fields, schema.metadata().clone());
    let mut names = std::collections::HashSet::new();
    if let Some(d) = new_schema
        .fields()
        .iter()
        .find(|f| !names.insert(f.name().clone()))
    {
        return Err(Error::invalid(format!(
            "{}: two columns would be named '{}'",
            path.display(),
            d.name()
        )));
    }
    let footer = crate::writer::footer_bytes(
        &new_schema,
        file.dict_blocks(),
        file.record_blocks(),
        file.block_table(),
        file.compression(),
    )?;
    replace_tail(path, file.data_end(), &crate::writer::tail_bytes(&footer))
}

/// Writes `path`'s first `keep` bytes followed by `tail` to a temporary file and renames it into place.
fn replace_tail(path: &Path, keep: u64, tail: &[u8]) -> Result<()> {
    let mut tmp = rx_core::fs::temp_beside(path)?;
    let mut src = File::open(path).map_err(|e| Error::io(path, e))?.take(keep);
    std::io::copy(&mut src, tmp.as_file_mut()).map_err(|e| Error::io(path, e))?;
    tmp.as_file_mut()
        .write_all(tail)
        .map_err(|e| Error::io(path, e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    rx_core::fs::persist(tmp, path, true)
}

impl fmt::Display for XdfInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "File name: {}", self.path.display())?;
        if self.composite {
            writeln!(f, "Composite set: yes")?;
        }
        writeln!(f, "Number of observations: {}", self.num_rows)?;
        writeln!(f, "Number of variables: {}", self.num_vars)?;
        writeln!(f, "Number of blocks: {}", self.num_blocks)?;
        writeln!(f, "Compression type: {}", self.compression)?;
        Ok(())
    }
}

/// Formats variable information as revoscalepy prints it (`Var 1: name, Type: ..., Low/High: ...`).
pub fn format_var_info(vars: &[VarInfo]) -> String {
    let mut s = String::from("Variable information:\n");
    for (i, v) in vars.iter().enumerate() {
        s.push_str(&format!("Var {}: {}", i + 1, v.name));
        if let Some(d) = &v.description {
            s.push_str(&format!(", {d}"));
        }
        s.push('\n');
        match &v.levels {
            Some(l) => {
                s.push_str(&format!(
                    "       {} {} levels: {}\n",
                    l.len(),
                    v.var_type,
                    l.join(" ")
                ));
            }
            None => {
                s.push_str(&format!(
                    "       Type: {}, Storage: {}",
                    v.var_type, v.storage
                ));
                if let (Some(lo), Some(hi)) = (v.low, v.high) {
                    s.push_str(&format!(", Low/High: ({lo:.4}, {hi:.4})"));
                }
                s.push('\n');
            }
        }
    }
    s
}
