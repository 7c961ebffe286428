//! `rx_line_plot`: y against x, one line per group, in data order (RevoScaleR's `rxLinePlot`).
//!
//! The points stream through an M4 reduction: the x range is cut into `resolution` columns, and of
//! each run of consecutive points of a group in one column only the first, lowest, highest and last
//! are kept (in their order). At a resolution at least the plot's width in pixels, the drawn lines
//! are the same as with every point, and memory no longer grows with the rows of sorted data. A
//! missing x or y breaks the line, as in R.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use plotters::coord::Shift;
use plotters::prelude::*;
use rx_core::{ComputeContext, DataSource, Error, Pema, Result, RxOptions, Step, VarInfo};
use serde::{Deserialize, Serialize};

use super::pretty::fmt_tick;
use super::{Extent, Figure, PlotOptions, Scale, chunk_groups, field, font, order_labels, to_f64};

/// Options of [`rx_line_plot`].
#[derive(Debug, Clone)]
pub struct LinePlotOptions {
    /// A grouping column: one line (and legend entry) per value.
    pub by: Option<String>,
    /// Columns of x kept by the reduction (at least the plot's width in pixels; default 4096).
    pub resolution: usize,
    /// Chunk size and the other general options.
    pub rx: RxOptions,
}

impl Default for LinePlotOptions {
    fn default() -> Self {
        LinePlotOptions {
            by: None,
            resolution: 4096,
            rx: RxOptions::default(),
        }
    }
}

impl LinePlotOptions {
    /// Sets the grouping column.
    pub fn by(mut self, by: impl Into<String>) -> Self {
        self.by = Some(by.into());
        self
    }
}

/// One group's line: its unbroken pieces, each a list of (x, y) in data order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The group's value (`None` without `by`).
    pub label: Option<String>,
    /// Pieces of the line between missing values.
    pub segments: Vec<Vec<(f64, f64)>>,
    /// Points of the group with x and y present.
    pub points: u64,
}

/// A line plot: reduced lines per group and the axes' ranges. [`LinePlot::save`] draws it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinePlot {
    /// The x variable.
    pub x: String,
    /// The y variable.
    pub y: String,
    /// The grouping column.
    pub by: Option<String>,
    /// Scale of x (numbers, dates or times).
    pub x_scale: Scale,
    /// Scale of y.
    pub y_scale: Scale,
    /// Range of x over all points.
    pub x_range: (f64, f64),
    /// Range of y over all points.
    pub y_range: (f64, f64),
    /// One line per group, in display order.
    pub traces: Vec<Trace>,
    /// Passes over the data it took (1 when x's range was known).
    pub passes: usize,
}

/// Plots `y` against `x` in data order, one line per group of `options.by`, reading the data in
/// chunks (RevoScaleR's `rxLinePlot`). x and y may be numbers, dates or timestamps.
pub fn rx_line_plot(
    x: &str,
    y: &str,
    data: &dyn DataSource,
    options: &LinePlotOptions,
    context: &impl ComputeContext,
) -> Result<LinePlot> {
    let schema = data.schema()?;
    let name = data.name();
    let scale = |col: &str| -> Result<Scale> {
        let f = field(&schema, col, &name)?;
        Scale::of(f.data_type()).ok_or_else(|| {
            Error::Schema(format!(
                "rx_line_plot: '{col}' in {name} is {}; a line plot needs numbers, dates or timestamps",
                f.data_type()
            ))
        })
    };
    let (x_scale, y_scale) = (scale(x)?, scale(y)?);
    let by_field = match &options.by {
        Some(b) => Some(field(&schema, b, &name)?.clone()),
        None => None,
    };
    if !(2..=1 << 20).contains(&options.resolution) {
        return Err(Error::InvalidArgument(format!(
            "rx_line_plot: resolution {} must be between 2 and 1048576",
            options.resolution
        )));
    }
    let info = VarInfo::from_field(field(&schema, x, &name)?);
    let x_range = match (x_scale, info.low, info.high) {
        (Scale::Number, Some(lo), Some(hi)) => Some((lo, hi)),
        _ => None,
    };
    let mut pema = LinePema {
        x: x.to_string(),
        y: y.to_string(),
        by: options.by.clone(),
        by_field,
        x_scale,
        y_scale,
        x_range,
        resolution: options.resolution,
        passes: 0,
    };
    context.run(&mut pema, data, &options.rx)
}

struct LinePema {
    x: String,
    y: String,
    by: Option<String>,
    by_field: Option<arrow::datatypes::Field>,
    x_scale: Scale,
    y_scale: Scale,
    x_range: Option<(f64, f64)>,
    resolution: usize,
    passes: usize,
}

/// A point with its sequence number in its group.
type Pt = (u64, f64, f64);

/// The points of one x column being reduced.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Run {
    col: i64,
    first: Pt,
    low: Pt,
    high: Pt,
    last: Pt,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct TraceAcc {
    segments: Vec<Vec<(f64, f64)>>,
    /// The last segment continues with the next point (no missing value since).
    open: bool,
    /// The first thing this partial saw of the group was a missing value.
    leading_break: bool,
    run: Option<Run>,
    seq: u64,
    points: u64,
}

impl TraceAcc {
    fn flush(&mut self) {
        let Some(r) = self.run.take() else { return };
        let mut pts = [r.first, r.low, r.high, r.last];
        pts.sort_by_key(|p| p.0);
        if !self.open || self.segments.is_empty() {
            self.segments.push(Vec::new());
            self.open = true;
        }
        let seg = self
            .segments
            .last_mut()
            .expect("a segment was just ensured");
        let mut prev = None;
        for p in pts {
            if prev != Some(p.0) {
                seg.push((p.1, p.2));
                prev = Some(p.0);
            }
        }
    }

    fn push(&mut self, col: i64, x: f64, y: f64) {
        self.points += 1;
        let p = (self.seq, x, y);
        self.seq += 1;
        match &mut self.run {
            Some(r) if r.col == col => {
                if y < r.low.2 {
                    r.low = p;
                }
                if y > r.high.2 {
                    r.high = p;
                }
                r.last = p;
            }
            _ => {
                self.flush();
                self.run = Some(Run {
                    col,
                    first: p,
                    low: p,
                    high: p,
                    last: p,
                });
            }
        }
    }

    fn gap(&mut self) {
        if self.points == 0 && self.segments.is_empty() {
            self.leading_break = true;
        }
        self.flush();
        self.open = false;
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct LinePartial {
    extent: Extent,
    traces: BTreeMap<String, TraceAcc>,
}

impl Pema for LinePema {
    type Partial = LinePartial;
    type Output = LinePlot;

    fn columns(&self) -> Vec<String> {
        let mut c = vec![self.x.clone()];
        for extra in [Some(&self.y), self.by.as_ref()].into_iter().flatten() {
            if !c.contains(extra) {
                c.push(extra.clone());
            }
        }
        c
    }

    fn init(&self) -> LinePartial {
        LinePartial::default()
    }

    fn process(&self, acc: &mut LinePartial, chunk: &RecordBatch) -> Result<()> {
        let get = |name: &str| {
            chunk
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| Error::unknown_column(name, "the chunk", &chunk.schema()))
        };
        let xs = to_f64(&get(&self.x)?, self.x_scale, &self.x)?;
        let Some((lo, hi)) = self.x_range else {
            acc.extent.add(&xs);
            return Ok(());
        };
        let ys = to_f64(&get(&self.y)?, self.y_scale, &self.y)?;
        let (gid, labels) = match &self.by {
            Some(b) => chunk_groups(&get(b)?, b)?,
            None => (vec![Some(0); chunk.num_rows()], vec![String::new()]),
        };
        let mut local: Vec<Option<TraceAcc>> = Vec::new();
        local.resize_with(labels.len(), || None);
        // Each label's accumulator is taken out of the map for the chunk and put back after.
        for (i, l) in labels.iter().enumerate() {
            local[i] = acc.traces.remove(l);
        }
        let width = (hi - lo).max(f64::MIN_POSITIVE);
        let cols = self.resolution as f64;
        for ((x, y), g) in xs.iter().zip(ys.iter()).zip(gid) {
            let Some(g) = g else { continue };
            let t = local[g as usize].get_or_insert_with(TraceAcc::default);
            match (x, y) {
                (Some(x), Some(y)) if x.is_finite() && y.is_finite() => {
                    let col = (((x - lo) / width) * cols).floor().clamp(-1.0, cols) as i64;
                    t.push(col, x, y);
                }
                _ => t.gap(),
            }
        }
        for (l, t) in labels.into_iter().zip(local) {
            if let Some(t) = t {
                acc.traces.insert(l, t);
            }
        }
        Ok(())
    }

    fn merge(&self, into: &mut LinePartial, other: LinePartial) -> Result<()> {
        into.extent.merge(other.extent);
        // `other` holds later rows: its lines continue `into`'s unless it began with a gap.
        for (label, mut o) in other.traces {
            o.flush();
            let t = into.traces.entry(label).or_default();
            t.flush();
            let mut segs = o.segments.into_iter();
            if !o.leading_break
                && t.open
                && let (Some(last), Some(first)) = (t.segments.last_mut(), segs.next())
            {
                last.extend(first);
            }
            t.segments.extend(segs);
            t.open = o.open;
            t.points += o.points;
            t.seq += o.seq;
        }
        Ok(())
    }

    fn finish(&mut self, acc: LinePartial) -> Result<Step<LinePlot>> {
        self.passes += 1;
        if self.x_range.is_none() {
            let Some((lo, hi)) = acc.extent.range() else {
                return Err(Error::InvalidArgument(format!(
                    "rx_line_plot: '{}' has no non-missing values to plot",
                    self.x
                )));
            };
            self.x_range = Some((lo, hi));
            return Ok(Step::AnotherPass);
        }
        let labels = order_labels(
            acc.traces.keys().cloned().collect(),
            self.by_field
                .as_ref()
                .unwrap_or(&arrow::datatypes::Field::new(
                    "",
                    arrow::datatypes::DataType::Utf8,
                    true,
                )),
        );
        let mut traces_acc = acc.traces;
        let mut traces = Vec::new();
        let (mut xlo, mut xhi, mut ylo, mut yhi) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for label in labels {
            let Some(mut t) = traces_acc.remove(&label) else {
                continue;
            };
            t.flush();
            let segments: Vec<Vec<(f64, f64)>> =
                t.segments.into_iter().filter(|s| !s.is_empty()).collect();
            for &(x, y) in segments.iter().flatten() {
                xlo = xlo.min(x);
                xhi = xhi.max(x);
                ylo = ylo.min(y);
                yhi = yhi.max(y);
            }
            traces.push(Trace {
                label: self.by.as_ref().map(|_| label),
                segments,
                points: t.points,
            });
        }
        if !xlo.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "rx_line_plot: no row has both '{}' and '{}'",
                self.x, self.y
            )));
        }
        Ok(Step::Done(LinePlot {
            x: self.x.clone(),
            y: self.y.clone(),
            by: self.by.clone(),
            x_scale: self.x_scale,
            y_scale: self.y_scale,
            x_range: (xlo, xhi),
            y_range: (ylo, yhi),
            traces,
            passes: self.passes,
        }))
    }
}

impl LinePlot {
    /// Draws the plot into `path` (.png or .svg).
    pub fn save(&self, path: impl AsRef<Path>, options: &PlotOptions) -> Result<()> {
        super::save_figure(self, path.as_ref(), options)
    }

    /// The points kept after the reduction, over all groups.
    pub fn kept_points(&self) -> usize {
        self.traces
            .iter()
            .flat_map(|t| &t.segments)
            .map(Vec::len)
            .sum()
    }
}

/// A range padded by 4% on each side (and widened when empty).
fn padded((lo, hi): (f64, f64)) -> std::ops::Range<f64> {
    let d = if hi > lo {
        (hi - lo) * 0.04
    } else {
        lo.abs().max(1.0) * 0.5
    };
    (lo - d)..(hi + d)
}

impl Figure for LinePlot {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        options: &PlotOptions,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let title = options
            .title
            .clone()
            .unwrap_or_else(|| format!("{} by {}", self.y, self.x));
        let mut chart = ChartBuilder::on(root)
            .caption(title, font(22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(padded(self.x_range), padded(self.y_range))?;
        let (xs, ys) = (self.x_scale, self.y_scale);
        chart
            .configure_mesh()
            .x_desc(options.x_title.clone().unwrap_or_else(|| self.x.clone()))
            .y_desc(options.y_title.clone().unwrap_or_else(|| self.y.clone()))
            .x_labels(8)
            .x_label_formatter(&|v| xs.label(*v))
            .y_label_formatter(&|v| {
                if ys == Scale::Number {
                    fmt_tick(*v)
                } else {
                    ys.label(*v)
                }
            })
            .label_style(font(12))
            .axis_desc_style(font(14))
            .draw()?;
        for (i, t) in self.traces.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            for (j, seg) in t.segments.iter().enumerate() {
                let series = chart
                    .draw_series(LineSeries::new(seg.iter().copied(), color.stroke_width(2)))?;
                if j == 0
                    && let (Some(b), Some(l)) = (&self.by, &t.label)
                {
                    series.label(format!("{b} = {l}")).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
            }
        }
        if self.by.is_some() {
            chart
                .configure_series_labels()
                .label_font(font(13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
        }
        Ok(())
    }
}
