//! Data sources and sinks chosen by file extension, and the progress bar.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use revoscale::core::{DataSink, DataSource, Error, Result};
use revoscale::data::{ParquetData, TextData};
use revoscale::xdf::XdfData;

/// The kinds of file `rx` reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Parquet,
    Xdf,
}

/// The kind of a path, by extension (a directory is a composite .xdf set).
pub fn kind_of(path: &Path) -> Result<Kind> {
    if path.is_dir() {
        return Ok(Kind::Xdf);
    }
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "csv" | "tsv" | "txt" => Ok(Kind::Text),
        "parquet" | "pq" => Ok(Kind::Parquet),
        "xdf" | "xdfd" => Ok(Kind::Xdf),
        _ => Err(Error::invalid(format!(
            "{}: unknown file type '{ext}'; use .csv, .tsv, .txt, .parquet or .xdf",
            path.display()
        ))),
    }
}

/// A source for `path` (text sources configured by `text`).
pub fn open_source(
    path: &Path,
    text: impl FnOnce(TextData) -> TextData,
) -> Result<Box<dyn DataSource>> {
    Ok(match kind_of(path)? {
        Kind::Text => Box::new(text(TextData::new(path))),
        Kind::Parquet => Box::new(ParquetData::new(path)),
        Kind::Xdf => Box::new(XdfData::new(path)),
    })
}

/// A sink for `path`.
pub fn open_sink(path: &Path) -> Result<Box<dyn DataSink>> {
    Ok(match kind_of(path)? {
        Kind::Text => Box::new(TextData::new(path)),
        Kind::Parquet => Box::new(ParquetData::new(path)),
        Kind::Xdf => Box::new(XdfData::new(path)),
    })
}

/// A progress bar on stderr when it is a terminal; hidden otherwise.
pub fn progress(total_rows: Option<u64>, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total_rows {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template(
                "{msg} [{bar:30}] {human_pos}/{human_len} rows ({per_sec}, {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} rows ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_message(what.to_string());
    bar
}
