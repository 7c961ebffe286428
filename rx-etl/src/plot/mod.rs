//! Histograms and line plots (RevoScaleR's `rxHistogram` and `rxLinePlot`), computed as chunked
//! passes over any [`DataSource`](rx_core::DataSource) and drawn as PNG or SVG with plotters.
//!
//! Neither loads the data: a histogram keeps one count per bin and group; a line plot keeps, for
//! each group and each of a few thousand columns of x, the first, lowest, highest and last point
//! (the "M4" reduction, which draws the same picture as every point at that resolution).
//!
//! ```no_run
//! use rx_core::RxLocalSeq;
//! use rx_etl::plot::{HistogramOptions, PlotOptions, rx_histogram};
//! use rx_xdf::XdfData;
//!
//! let data = XdfData::new("flights.xdf");
//! let h = rx_histogram("ArrDelay", &data, &HistogramOptions::default().by("DayOfWeek"), &RxLocalSeq)?;
//! h.save("arrdelay.png", &PlotOptions::default())?;
//! # Ok::<(), rx_core::Error>(())
//! ```

mod hist;
mod line;
pub mod pretty;

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Once;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int32Type, TimeUnit};
use plotters::coord::Shift;
use plotters::prelude::*;
use rx_core::{Error, Result};

pub use hist::{Bins, HistGroup, Histogram, HistogramOptions, rx_histogram};
pub use line::{LinePlot, LinePlotOptions, Trace, rx_line_plot};

/// Size and titles of a plot file.
#[derive(Debug, Clone, PartialEq)]
pub struct PlotOptions {
    /// Width in pixels (SVG: user units).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The title over the plot (default: what is plotted).
    pub title: Option<String>,
    /// The x axis title (default: the variable's name).
    pub x_title: Option<String>,
    /// The y axis title (default: the variable's name, or Counts / Percent).
    pub y_title: Option<String>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            width: 960,
            height: 640,
            title: None,
            x_title: None,
            y_title: None,
        }
    }
}

impl PlotOptions {
    /// Sets the size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }
}

/// The file formats a plot is written in, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.png`
    Png,
    /// `.svg`
    Svg,
}

impl PlotFormat {
    /// The format for `path`'s extension, or an error naming the ones supported.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "png" => Ok(PlotFormat::Png),
            "svg" => Ok(PlotFormat::Svg),
            _ => Err(Error::InvalidArgument(format!(
                "{}: unknown plot format '{ext}'; use a .png or .svg file name",
                path.display()
            ))),
        }
    }
}

/// Something that draws itself on a plotters drawing area (a histogram, a line plot).
pub trait Figure {
    /// Draws the figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        options: &PlotOptions,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Writes `figure` to `path` (PNG or SVG by extension), replacing an existing file only when the
/// new one is complete.
pub fn save_figure(figure: &impl Figure, path: &Path, options: &PlotOptions) -> Result<()> {
    register_font();
    if options.width < 100
        || options.height < 100
        || options.width > 20_000
        || options.height > 20_000
    {
        return Err(Error::InvalidArgument(format!(
            "plot size {}x{}: width and height must be between 100 and 20000 pixels",
            options.width, options.height
        )));
    }
    let size = (options.width, options.height);
    let fail =
        |e: String| Error::InvalidArgument(format!("{}: drawing failed: {e}", path.display()));
    match PlotFormat::of(path)? {
        PlotFormat::Png => {
            // The bitmap backend picks the encoder by extension, so the temporary file ends in .png.
            let dir = rx_core::fs::parent_dir(path);
            let tmp = tempfile::Builder::new()
                .prefix(".rx-plot.")
                .suffix(".png")
                .tempfile_in(&dir)
                .map_err(|e| Error::io(&dir, e))?;
            {
                let root = BitMapBackend::new(tmp.path(), size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
                figure
                    .draw(&root, options)
                    .map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            rx_core::fs::persist(tmp, path, true)
        }
        PlotFormat::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
                figure
                    .draw(&root, options)
                    .map_err(|e| fail(e.to_string()))?;
                root.present().map_err(|e| fail(e.to_string()))?;
            }
            let mut tmp = rx_core::fs::temp_beside(path)?;
            tmp.write_all(svg.as_bytes())
                .map_err(|e| Error::io(tmp.path(), e))?;
            rx_core::fs::persist(tmp, path, true)
        }
    }
}

/// DejaVu Sans, shipped in the crate (see assets/DejaVuSans-LICENSE.txt), so text needs no system
/// fonts.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is a constant that parses; a failure would only leave text undrawn.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// How a plotted variable's values map to numbers on an axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Scale {
    /// Numbers (integers, floats, booleans as 0/1).
    Number,
    /// Dates, as days since 1970-01-01.
    Date,
    /// Timestamps, as seconds since 1970-01-01 00:00:00.
    Time,
}

impl Scale {
    /// The scale of a column type, or `None` when the type is not on a numeric axis.
    pub fn of(dt: &DataType) -> Option<Scale> {
        match dt {
            DataType::Date32 | DataType::Date64 => Some(Scale::Date),
            DataType::Timestamp(..) => Some(Scale::Time),
            d if d.is_numeric() => Some(Scale::Number),
            DataType::Boolean => Some(Scale::Number),
            _ => None,
        }
    }

    /// A tick label for a value on this scale.
    pub fn label(self, v: f64) -> String {
        match self {
            Scale::Number => pretty::fmt_tick(v),
            Scale::Date => chrono::DateTime::from_timestamp((v * 86_400.0).round() as i64, 0)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| pretty::fmt_tick(v)),
            Scale::Time => chrono::DateTime::from_timestamp(v.floor() as i64, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_else(|| pretty::fmt_tick(v)),
        }
    }
}

/// A column's values as f64 on its scale (missing stays missing).
fn to_f64(col: &ArrayRef, scale: Scale, what: &str) -> Result<Float64Array> {
    let bad = |e| Error::arrow(format!("reading '{what}' as numbers"), e);
    let values = match (scale, col.data_type()) {
        (Scale::Date, DataType::Date32) => cast(
            &cast(col, &DataType::Int32).map_err(bad)?,
            &DataType::Float64,
        )
        .map_err(bad)?,
        (Scale::Date, _) => {
            let ms = cast(
                &cast(col, &DataType::Int64).map_err(bad)?,
                &DataType::Float64,
            )
            .map_err(bad)?;
            let ms = ms.as_primitive::<arrow::datatypes::Float64Type>();
            return Ok(ms.unary(|v| v / 86_400_000.0));
        }
        (Scale::Time, DataType::Timestamp(unit, _)) => {
            let per_sec = match unit {
                TimeUnit::Second => 1.0,
                TimeUnit::Millisecond => 1e3,
                TimeUnit::Microsecond => 1e6,
                TimeUnit::Nanosecond => 1e9,
            };
            let raw = cast(
                &cast(col, &DataType::Int64).map_err(bad)?,
                &DataType::Float64,
            )
            .map_err(bad)?;
            let raw = raw.as_primitive::<arrow::datatypes::Float64Type>();
            return Ok(raw.unary(|v| v / per_sec));
        }
        _ => cast(col, &DataType::Float64).map_err(bad)?,
    };
    Ok(values
        .as_primitive::<arrow::datatypes::Float64Type>()
        .clone())
}

/// A chunk's group per row: a local group number (or `None` for a missing group) and the label of
/// each local number. Factors use their codes; other types their text.
fn chunk_groups(col: &ArrayRef, what: &str) -> Result<(Vec<Option<u32>>, Vec<String>)> {
    if let Some(dict) = col.as_dictionary_opt::<Int32Type>() {
        let labels = cast(dict.values(), &DataType::Utf8)
            .map_err(|e| Error::arrow(format!("reading the levels of '{what}'"), e))?;
        let labels = labels.as_string::<i32>();
        let labels: Vec<String> = (0..labels.len())
            .map(|i| {
                if labels.is_null(i) {
                    String::new()
                } else {
                    labels.value(i).to_string()
                }
            })
            .collect();
        let keys = dict.keys();
        let idx = (0..keys.len())
            .map(|i| keys.is_valid(i).then(|| keys.value(i) as u32))
            .collect();
        return Ok((idx, labels));
    }
    let text = cast(col, &DataType::Utf8)
        .map_err(|e| Error::arrow(format!("reading '{what}' as text"), e))?;
    let text = text.as_string::<i32>();
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut labels = Vec::new();
    let idx = (0..text.len())
        .map(|i| {
            text.is_valid(i).then(|| {
                let v = text.value(i);
                *seen.entry(v).or_insert_with(|| {
                    labels.push(v.to_string());
                    labels.len() as u32 - 1
                })
            })
        })
        .collect();
    Ok((idx, labels))
}

/// Puts group labels in display order: a factor's level order, numbers by value, text sorted.
fn order_labels(mut labels: Vec<String>, field: &Field) -> Vec<String> {
    if let Some(levels) = rx_core::varinfo::field_levels(field) {
        let pos: HashMap<&str, usize> = levels
            .iter()
            .enumerate()
            .map(|(i, l)| (l.as_str(), i))
            .collect();
        labels.sort_by_key(|l| {
            (
                pos.get(l.as_str()).copied().unwrap_or(usize::MAX),
                l.clone(),
            )
        });
    } else if field.data_type().is_numeric() {
        labels.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(f64::NAN),
                b.parse::<f64>().unwrap_or(f64::NAN),
            );
            x.total_cmp(&y)
        });
    } else {
        labels.sort();
    }
    labels
}

/// The range of a variable's finite values, found by the first pass of a plot whose range the
/// source does not record; mergeable.
#[derive(Debug, Default, Clone, Copy, serde::Serialize, serde::Deserialize)]
struct Extent {
    min: Option<f64>,
    max: Option<f64>,
}

impl Extent {
    fn add(&mut self, values: &Float64Array) {
        for v in values.iter().flatten().filter(|v| v.is_finite()) {
            self.min = Some(self.min.map_or(v, |m| m.min(v)));
            self.max = Some(self.max.map_or(v, |m| m.max(v)));
        }
    }

    fn merge(&mut self, other: Extent) {
        if let (Some(lo), Some(hi)) = (other.min, other.max) {
            self.min = Some(self.min.map_or(lo, |m| m.min(lo)));
            self.max = Some(self.max.map_or(hi, |m| m.max(hi)));
        }
    }

    fn range(self) -> Option<(f64, f64)> {
        self.min.zip(self.max)
    }
}

/// The field called `name`, or an unknown-column error naming the source.
fn field<'a>(schema: &'a arrow::datatypes::Schema, name: &str, source: &str) -> Result<&'a Field> {
    schema
        .field_with_name(name)
        .map_err(|_| Error::unknown_column(name, source, schema))
}

/// The grid (rows, columns) for `n` panels: as square as possible, wider than tall.
fn panel_grid(n: usize) -> (usize, usize) {
    let cols = (n as f64).sqrt().ceil().max(1.0) as usize;
    (n.div_ceil(cols).max(1), cols)
}

/// The font of titles, axis labels and captions.
fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}
