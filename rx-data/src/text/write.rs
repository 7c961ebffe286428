//! Writing delimited text: a header, then one line per row; factors as their level text, missing
//! values as the missing-value string, empty strings as empty fields, dates in ISO form, floats in
//! shortest round-trip form (or with a fixed number of significant digits). The output goes to a
//! temporary file beside the target and is renamed into place by `finish`.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float32Array, Float64Array, StringArray,
};
use arrow::datatypes::{DataType, Float32Type, Float64Type, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rx_core::varinfo::check_supported;
use rx_core::{ChunkWriter, Error, Result, WriteMode, WriteOptions};

use super::LayoutCache;
use crate::util::{persist, temp_beside};

/// Settings of a text output.
#[derive(Debug, Clone)]
pub(crate) struct TextOut {
    pub path: PathBuf,
    pub delimiter: Option<u8>,
    pub quote: u8,
    pub na: String,
    pub precision: Option<usize>,
}

/// The default delimiter for a path: tab for `.tsv`/`.tab`, otherwise comma.
pub(crate) fn default_delimiter(path: &Path) -> u8 {
    let tsv = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
    if tsv { b'\t' } else { b',' }
}

/// An open text output.
pub(crate) struct TextWriter {
    path: PathBuf,
    out: BufWriter<tempfile::NamedTempFile>,
    schema: SchemaRef,
    delimiter: u8,
    quote: u8,
    na: String,
    precision: Option<usize>,
    mode: WriteMode,
    /// Appending to a file that exists (rows only, no header).
    append_existing: bool,
    rows: u64,
    line: String,
    /// The source's sniffed layout, forgotten once the file changes.
    cache: LayoutCache,
    /// Writes the file out to disk in the background every [`SYNC_AHEAD_BYTES`] (started then),
    /// so the sync before the rename waits for the last part only.
    sync: Option<rx_core::fs::SyncAhead>,
    unsynced: u64,
}

const SYNC_AHEAD_BYTES: u64 = 8 << 20;

impl std::fmt::Debug for TextWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

impl TextWriter {
    /// Starts writing; `existing_header` reads the header (and delimiter) of an existing file to
    /// append to.
    pub(crate) fn create(
        cfg: &TextOut,
        schema: SchemaRef,
        options: &WriteOptions,
        existing_header: impl FnOnce() -> Result<(Vec<String>, u8)>,
        cache: LayoutCache,
    ) -> Result<Self> {
        check_supported(&schema)?;
        let path = cfg.path.clone();
        let mut delimiter = cfg.delimiter.unwrap_or_else(|| default_delimiter(&path));
        let exists = path.exists();
        let mut append_existing = false;
        match options.mode {
            WriteMode::Create if exists => return Err(Error::Exists { path }),
            WriteMode::Append
                if exists
                    && std::fs::metadata(&path)
                        .map(|m| m.len() > 0)
                        .unwrap_or(false) =>
            {
                let (names, d) = existing_header()?;
                let ours: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
                if names != ours {
                    return Err(Error::Schema(format!(
                        "{}: cannot append: the file's columns are [{}] but the data's are [{}]; write to a new file \
                         or select and rename columns to match",
                        path.display(),
                        names.join(", "),
                        ours.join(", ")
                    )));
                }
                delimiter = d;
                append_existing = true;
            }
            _ => {}
        }
        if delimiter == cfg.quote || matches!(delimiter, b'\n' | b'\r') {
            return Err(Error::invalid(format!(
                "{}: the delimiter {:?} cannot be the quote character or a line break",
                path.display(),
                delimiter as char
            )));
        }
        let tmp = temp_beside(&path)?;
        let mut w = TextWriter {
            path,
            out: BufWriter::with_capacity(1 << 20, tmp),
            schema,
            delimiter,
            quote: cfg.quote,
            na: cfg.na.clone(),
            precision: cfg.precision.map(|p| p.clamp(1, 17)),
            mode: options.mode,
            append_existing,
            rows: 0,
            line: String::new(),
            cache,
            sync: None,
            unsynced: 0,
        };
        if !append_existing {
            let names: Vec<String> = w.schema.fields().iter().map(|f| f.name().clone()).collect();
            let single = names.len() == 1;
            let mut line = String::new();
            for (j, n) in names.iter().enumerate() {
                if j > 0 {
                    line.push(w.delimiter as char);
                }
                w.push_str(&mut line, n, single);
            }
            line.push('\n');
            w.out
                .write_all(line.as_bytes())
                .map_err(|e| Error::io(&w.path, e))?;
        }
        Ok(w)
    }

    /// Appends `s` to `line`, quoted when it holds the delimiter, the quote or a line break (or is
    /// empty in a one-column file, where an empty line would be skipped on reading).
    fn push_str(&self, line: &mut String, s: &str, single_column: bool) {
        let d = self.delimiter;
        let q = self.quote;
        let needs = (single_column && s.is_empty())
            || s.bytes()
                .any(|b| b == d || b == q || b == b'\n' || b == b'\r');
        if !needs {
            line.push_str(s);
            return;
        }
        let qc = q as char;
        line.push(qc);
        for ch in s.chars() {
            if ch == qc {
                line.push(qc);
            }
            line.push(ch);
        }
        line.push(qc);
    }
}

/// A column ready to be formatted.
enum Col<'a> {
    F64(&'a Float64Array),
    F32(&'a Float32Array),
    Str(&'a StringArray),
    Bool(&'a BooleanArray),
    Other(ArrayFormatter<'a>),
}

/// Writes a finite or special float as R reads it: shortest round-trip form, or `precision`
/// significant digits; always with a `.` or an exponent so that it reads back as a float.
pub(crate) fn push_f64(line: &mut String, v: f64, precision: Option<usize>) {
    if v.is_nan() {
        line.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        line.push_str(if v > 0.0 { "Inf" } else { "-Inf" });
        return;
    }
    let start = line.len();
    match precision {
        None => {
            let _ = write!(line, "{v:?}");
        }
        Some(p) => push_sig(line, v, p),
    }
    let written = line.get(start..).unwrap_or("");
    if !written.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        line.push_str(".0");
    }
}

/// `v` with `p` significant digits, as C's `%g` (trailing zeros dropped).
fn push_sig(line: &mut String, v: f64, p: usize) {
    let sci = format!("{:.*e}", p.saturating_sub(1), v);
    let Some((mant, exp)) = sci.split_once('e') else {
        line.push_str(&sci);
        return;
    };
    let exp: i64 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if exp < -4 || exp >= p as i64 {
        let m = trim(mant);
        let _ = write!(line, "{m}e{exp}");
    } else {
        let decimals = (p as i64 - 1 - exp).max(0) as usize;
        let fixed = format!("{v:.decimals$}");
        line.push_str(&trim(&fixed));
    }
}

impl ChunkWriter for TextWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let fields = self.schema.fields();
        crate::util::check_column_count(&self.path, batch, fields.len())?;
        // Text forms of factors and other string types, kept alive while formatting.
        let mut owned: Vec<Option<ArrayRef>> = Vec::with_capacity(fields.len());
        for (f, a) in fields.iter().zip(batch.columns()) {
            let needs_text = matches!(
                a.data_type(),
                DataType::Dictionary(..) | DataType::LargeUtf8 | DataType::Utf8View
            );
            if needs_text {
                let s = arrow::compute::cast(a, &DataType::Utf8).map_err(|e| {
                    Error::arrow(format!("{}: column '{}'", self.path.display(), f.name()), e)
                })?;
                owned.push(Some(s));
            } else {
                owned.push(None);
            }
        }
        let opts = FormatOptions::default()
            .with_null(&self.na)
            .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"));
        let mut cols = Vec::with_capacity(fields.len());
        for ((f, a), o) in fields.iter().zip(batch.columns()).zip(&owned) {
            let a: &ArrayRef = o.as_ref().unwrap_or(a);
            let col = match a.data_type() {
                DataType::Float64 => Col::F64(a.as_primitive::<Float64Type>()),
                DataType::Float32 => Col::F32(a.as_primitive::<Float32Type>()),
                DataType::Utf8 => Col::Str(a.as_string::<i32>()),
                DataType::Boolean => Col::Bool(a.as_boolean()),
                _ => Col::Other(ArrayFormatter::try_new(a.as_ref(), &opts).map_err(|e| {
                    Error::arrow(format!("{}: column '{}'", self.path.display(), f.name()), e)
                })?),
            };
            cols.push(col);
        }
        let single = cols.len() == 1;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        let d = self.delimiter as char;
        for row in 0..batch.num_rows() {
            for (j, col) in cols.iter().enumerate() {
                if j > 0 {
                    line.push(d);
                }
                match col {
                    Col::F64(a) if a.is_valid(row) => {
                        push_f64(&mut line, a.value(row), self.precision)
                    }
                    Col::F32(a) if a.is_valid(row) => {
                        let v = a.value(row);
                        match self.precision {
                            // The shortest form of the f32, so that it reads back as the same f32.
                            None if v.is_finite() => {
                                let _ = write!(line, "{v:?}");
                            }
                            _ => push_f64(&mut line, f64::from(v), self.precision.or(Some(9))),
                        }
                    }
                    Col::Str(a) if a.is_valid(row) => {
                        self.push_str(&mut line, a.value(row), single)
                    }
                    Col::Bool(a) if a.is_valid(row) => {
                        line.push_str(if a.value(row) { "TRUE" } else { "FALSE" })
                    }
                    Col::Other(fmt) => {
                        let _ = write!(line, "{}", fmt.value(row));
                    }
                    _ => line.push_str(&self.na),
                }
            }
            line.push('\n');
            if line.len() > 1 << 20 {
                self.out
                    .write_all(line.as_bytes())
                    .map_err(|e| Error::io(&self.path, e))?;
                self.unsynced += line.len() as u64;
                line.clear();
            }
        }
        self.out
            .write_all(line.as_bytes())
            .map_err(|e| Error::io(&self.path, e))?;
        self.unsynced += line.len() as u64;
        line.clear();
        self.line = line;
        self.rows += batch.num_rows() as u64;
        if self.unsynced >= SYNC_AHEAD_BYTES {
            self.unsynced = 0;
            if self.sync.is_none() {
                // Without a second handle the final sync does all the writing out.
                self.sync = (self.out.get_ref().as_file().try_clone().ok())
                    .and_then(rx_core::fs::SyncAhead::start);
            }
            if let Some(s) = &self.sync {
                s.request();
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<u64> {
        let TextWriter {
            path,
            out,
            mode,
            append_existing,
            rows,
            cache,
            sync,
            ..
        } = *self;
        let tmp = out
            .into_inner()
            .map_err(|e| Error::io(&path, e.into_error()))?;
        rx_core::fs::sync_finished(tmp.as_file(), sync, &path)?;
        if append_existing {
            append_into(tmp, &path)?;
        } else {
            persist(tmp, &path, mode != WriteMode::Create)?;
        }
        cache.clear();
        Ok(rows)
    }
}

/// Adds the rows in `tmp` to the end of `path`; on failure the file is cut back to its old length.
fn append_into(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    let mut target = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    let old_len = target.metadata().map_err(|e| Error::io(path, e))?.len();
    let result = (|| -> std::io::Result<()> {
        let mut last = [0u8; 1];
        if old_len > 0 {
            target.seek(SeekFrom::Start(old_len - 1))?;
            target.read_exact(&mut last)?;
        }
        target.seek(SeekFrom::End(0))?;
        if old_len > 0 && last[0] != b'\n' {
            target.write_all(b"\n")?;
        }
        let mut src = File::open(tmp.path())?;
        std::io::copy(&mut src, &mut target)?;
        target.sync_all()
    })();
    if let Err(e) = result {
        let _ = target.set_len(old_len);
        return Err(Error::io(path, e));
    }
    drop(tmp);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64, p: Option<usize>) -> String {
        let mut s = String::new();
        push_f64(&mut s, v, p);
        s
    }

    #[test]
    fn floats_round_trip_and_stay_floats() {
        assert_eq!(f(1.0, None), "1.0");
        assert_eq!(f(0.1, None), "0.1");
        assert_eq!(f(1e300, None), "1e300");
        assert_eq!(f(f64::NAN, None), "NaN");
        assert_eq!(f(f64::NEG_INFINITY, None), "-Inf");
        for v in [0.1, 1.0 / 3.0, 123456.789e-300, -2.5e17] {
            assert_eq!(f(v, None).parse::<f64>().unwrap(), v);
        }
    }

    #[test]
    fn precision_gives_significant_digits() {
        assert_eq!(f(1.23456, Some(3)), "1.23");
        assert_eq!(f(1234567.0, Some(3)), "1.23e6");
        assert_eq!(f(0.000012345, Some(2)), "1.2e-5");
        assert_eq!(f(100.0, Some(3)), "100.0");
        assert_eq!(f(9.9996, Some(4)), "10.0");
    }
}
