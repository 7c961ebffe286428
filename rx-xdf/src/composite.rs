//! Composite .xdf sets (revoscalepy's `create_composite_set`): a directory `NAME/` holding the
//! metadata file `NAME.xdfm` (JSON: the part files and their block row counts) and part files
//! `data/NAME_K.xdfd`, each a complete .xdf file. Part files are written first and the metadata file
//! last (temporary file + rename), so an interrupted write or append leaves the set as it was.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use rx_core::factor::LevelTable;
use rx_core::{ChunkReader, ChunkWriter, Error, Result, WriteMode, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::reader::XdfFile;
use crate::writer::XdfWriter;

/// The metadata file of a composite set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompositeMeta {
    /// Always `xdf-composite`.
    pub format: String,
    /// Format version (1).
    pub version: u32,
    /// The part files, in order.
    pub parts: Vec<PartMeta>,
}

/// One part file of a composite set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartMeta {
    /// Path relative to the set's directory.
    pub file: String,
    /// Rows of each block of the part.
    pub blocks: Vec<u64>,
}

fn set_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "set".into())
}

fn meta_path(dir: &Path) -> PathBuf {
    dir.join(format!("{}.xdfm", set_name(dir)))
}

/// An open composite set.
#[derive(Debug)]
pub struct CompositeSet {
    dir: PathBuf,
    meta: CompositeMeta,
    schema: SchemaRef,
    compression: String,
}

impl CompositeSet {
    /// Opens the set in directory `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let mp = meta_path(dir);
        let text = std::fs::read_to_string(&mp).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corrupt(
                    dir,
                    format!("not a composite .xdf set: {} is missing", mp.display()),
                )
            } else {
                Error::io(&mp, e)
            }
        })?;
        let meta: CompositeMeta = serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(&mp, format!("damaged metadata file: {e}")))?;
        if meta.format != "xdf-composite" || meta.version != 1 {
            return Err(Error::corrupt(
                &mp,
                "not a composite .xdf metadata file (format/version)",
            ));
        }
        let (schema, compression) = match meta.parts.last() {
            Some(p) => {
                let f = XdfFile::open(&dir.join(&p.file))?;
                (f.schema().clone(), f.compression().to_string())
            }
            None => (Arc::new(Schema::empty()), "none".into()),
        };
        Ok(CompositeSet {
            dir: dir.to_path_buf(),
            meta,
            schema,
            compression,
        })
    }

    /// The schema (the last part's, whose level tables include every earlier part's levels).
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows of every block of every part, in order.
    pub fn rows_per_block(&self) -> Vec<u64> {
        self.meta
            .parts
            .iter()
            .flat_map(|p| p.blocks.iter().copied())
            .collect()
    }

    /// Total rows.
    pub fn num_rows(&self) -> u64 {
        self.rows_per_block().iter().sum()
    }

    /// Compression of the parts.
    pub fn compression(&self) -> String {
        self.compression.clone()
    }

    /// Bytes of the metadata file and all parts.
    pub fn total_bytes(&self) -> u64 {
        let mut n = std::fs::metadata(meta_path(&self.dir))
            .map(|m| m.len())
            .unwrap_or(0);
        for p in &self.meta.parts {
            n += std::fs::metadata(self.dir.join(&p.file))
                .map(|m| m.len())
                .unwrap_or(0);
        }
        n
    }

    /// Reads the global block range `blocks` (all when `None`) with the named columns.
    pub fn reader(
        &self,
        columns: Option<&[String]>,
        blocks: Option<std::ops::Range<usize>>,
    ) -> Result<ChunkReader> {
        let total: usize = self.meta.parts.iter().map(|p| p.blocks.len()).sum();
        let want = blocks.unwrap_or(0..total);
        let mut plan = Vec::new();
        let mut start = 0;
        for p in &self.meta.parts {
            let n = p.blocks.len();
            let s = want.start.max(start);
            let e = want.end.min(start + n);
            if s < e {
                plan.push((self.dir.join(&p.file), (s - start)..(e - start)));
            }
            start += n;
        }
        let schema = match (columns, self.meta.parts.last()) {
            (Some(c), Some(last)) => {
                XdfFile::open(&self.dir.join(&last.file))?.projected_schema(Some(c))?
            }
            _ => self.schema.clone(),
        };
        Ok(Box::new(CompositeIter {
            plan: plan.into_iter(),
            current: None,
            columns: columns.map(<[String]>::to_vec),
            schema,
        }))
    }
}

struct CompositeIter {
    plan: std::vec::IntoIter<(PathBuf, std::ops::Range<usize>)>,
    current: Option<ChunkReader>,
    columns: Option<Vec<String>>,
    /// The set's schema for the columns read: its level tables are the full ones.
    schema: SchemaRef,
}

impl CompositeIter {
    /// Puts a part's factor columns on the set's level tables (by level name).
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (f, col) in self.schema.fields().iter().zip(batch.columns()) {
            let levels = rx_core::varinfo::field_levels(f);
            match (levels, col.as_any_dictionary_opt()) {
                (Some(levels), Some(dict)) if matches!(f.data_type(), DataType::Dictionary(..)) => {
                    let values = dict.values().as_string::<i32>();
                    let prefix = values.len() <= levels.len()
                        && values
                            .iter()
                            .zip(&levels)
                            .all(|(v, l)| v == Some(l.as_str()));
                    let full: ArrayRef =
                        Arc::new(arrow::array::StringArray::from_iter_values(&levels));
                    if prefix {
                        cols.push(dict.with_values(full));
                    } else {
                        let mut t = LevelTable::fixed(&levels);
                        cols.push(Arc::new(t.recode(col.as_ref(), false, f.name())?));
                    }
                }
                _ => cols.push(col.clone()),
            }
        }
        RecordBatch::try_new(self.schema.clone(), cols)
            .map_err(|e| Error::arrow("reading a composite set", e))
    }
}

impl Iterator for CompositeIter {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(r) = self.current.as_mut() {
                match r.next() {
                    Some(Ok(b)) => return Some(self.conform(b)),
                    Some(Err(e)) => {
                        self.current = None;
                        self.plan = Vec::new().into_iter();
                        return Some(Err(e));
                    }
                    None => self.current = None,
                }
            }
            let (path, range) = self.plan.next()?;
            match XdfFile::open(&path)
                .and_then(|f| Arc::new(f).reader(self.columns.as_deref(), range))
            {
                Ok(r) => self.current = Some(r),
                Err(e) => {
                    self.plan = Vec::new().into_iter();
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Writes a composite set: a new part file every `blocks_per_part` blocks.
#[derive(Debug)]
pub struct CompositeWriter {
    /// The final directory.
    dir: PathBuf,
    /// Where parts are written: a temporary directory (new set, overwrite) or `dir` (append).
    work: PathBuf,
    temp: Option<tempfile::TempDir>,
    name: String,
    schema: Schema,
    options: WriteOptions,
    blocks_per_part: usize,
    parts: Vec<PartMeta>,
    /// Parts this writer created (removed if it is dropped unfinished while appending).
    created: Vec<PathBuf>,
    current: Option<XdfWriter>,
    rows: u64,
    finished: bool,
}

impl CompositeWriter {
    /// Starts writing a composite set in directory `dir`.
    pub fn create(
        dir: &Path,
        schema: &Schema,
        options: &WriteOptions,
        blocks_per_part: usize,
    ) -> Result<Self> {
        let name = set_name(dir);
        let exists = dir.exists();
        if exists && options.mode == WriteMode::Create {
            return Err(Error::Exists {
                path: dir.to_path_buf(),
            });
        }
        let mut parts = Vec::new();
        let mut schema = crate::writer::storage_schema(schema)?;
        let (work, temp) = if exists && options.mode == WriteMode::Append {
            let set = CompositeSet::open(dir)?;
            parts = set.meta.parts.clone();
            if !set.meta.parts.is_empty() {
                // Continue the level tables of the set.
                schema = set.schema().as_ref().clone();
            }
            (dir.to_path_buf(), None)
        } else {
            let parent = match dir.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let t = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .tempdir_in(&parent)
                .map_err(|e| Error::io(&parent, e))?;
            (t.path().to_path_buf(), Some(t))
        };
        std::fs::create_dir_all(work.join("data")).map_err(|e| Error::io(&work, e))?;
        let mut opts = options.clone();
        opts.mode = WriteMode::Create;
        Ok(CompositeWriter {
            dir: dir.to_path_buf(),
            work,
            temp,
            name,
            schema,
            options: opts,
            blocks_per_part: blocks_per_part.max(1),
            parts,
            created: Vec::new(),
            current: None,
            rows: 0,
            finished: false,
        })
    }

    fn next_part_path(&self) -> (String, PathBuf) {
        let mut k = self.parts.len() + 1;
        loop {
            let rel = format!("data/{}_{k}.xdfd", self.name);
            let p = self.work.join(&rel);
            if !p.exists() {
                return (rel, p);
            }
            k += 1;
        }
    }

    fn close_part(&mut self) -> Result<()> {
        if let Some(w) = self.current.take() {
            self.schema = w.current_schema();
            let path = self.created.last().cloned().unwrap_or_default();
            Box::new(w).finish()?;
            let f = XdfFile::open(&path)?;
            let rel = path
                .strip_prefix(&self.work)
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            self.parts.push(PartMeta {
                file: rel,
                blocks: f.rows_per_block(),
            });
        }
        Ok(())
    }

    fn open_part(&mut self) -> Result<()> {
        let (_, path) = self.next_part_path();
        let w = XdfWriter::create(&path, &self.schema, &self.options)?;
        self.created.push(path);
        self.current = Some(w);
        Ok(())
    }
}

impl ChunkWriter for CompositeWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.current.is_none() {
            self.open_part()?;
        }
        if let Some(w) = self.current.as_mut() {
            w.write(batch)?;
            self.rows += batch.num_rows() as u64;
            if w.num_blocks() >= self.blocks_per_part {
                self.close_part()?;
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        if self.current.is_none() && self.parts.is_empty() {
            // An empty set still has one (empty) part, so that it has a schema.
            self.open_part()?;
        }
        self.close_part()?;
        let meta = CompositeMeta {
            format: "xdf-composite".into(),
            version: 1,
            parts: self.parts.clone(),
        };
        let text = serde_json::to_string_pretty(&meta)
            .map_err(|e| Error::external("writing composite metadata", e))?;
        let mp = self.work.join(format!("{}.xdfm", self.name));
        let mut tmp = rx_core::fs::temp_beside(&mp)?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| Error::io(&mp, e))?;
        rx_core::fs::persist(tmp, &mp, true)?;
        if let Some(t) = self.temp.take() {
            let work = t.keep();
            if self.dir.exists() {
                let old =
                    self.dir
                        .with_file_name(format!(".{}.old-{}", self.name, std::process::id()));
                std::fs::rename(&self.dir, &old).map_err(|e| Error::io(&self.dir, e))?;
                std::fs::rename(&work, &self.dir).map_err(|e| Error::io(&self.dir, e))?;
                let _ = std::fs::remove_dir_all(&old);
            } else {
                std::fs::rename(&work, &self.dir).map_err(|e| Error::io(&self.dir, e))?;
            }
        }
        self.finished = true;
        Ok(self.rows)
    }
}

impl Drop for CompositeWriter {
    fn drop(&mut self) {
        if !self.finished && self.temp.is_none() {
            // An unfinished append: its parts are not in the metadata file; remove them.
            self.current = None;
            for p in &self.created {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}
