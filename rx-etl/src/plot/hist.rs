//! `rx_histogram`: counts per bin (numeric variables) or per level (factors, text, booleans), by
//! group, in one pass over the chunks when the variable's range is known (.xdf files record it),
//! otherwise in two (the first finds the range).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use plotters::coord::Shift;
use plotters::prelude::*;
use rx_core::{ComputeContext, DataSource, Error, Pema, Result, RxOptions, Step, VarInfo};
use serde::{Deserialize, Serialize};

use super::pretty::{equal_breaks, fmt_tick, pretty, sturges};
use super::{
    Extent, Figure, PlotOptions, Scale, chunk_groups, field, font, order_labels, panel_grid, to_f64,
};

/// Options of [`rx_histogram`] (RevoScaleR's `rxHistogram` arguments).
#[derive(Debug, Clone, Default)]
pub struct HistogramOptions {
    /// A grouping column: one panel per value (RevoScaleR's `~ x | g`).
    pub by: Option<String>,
    /// The number of bins asked for. Without `start_val`/`end_val` the bins are R's `pretty()`
    /// breaks for about this many (default: Sturges' rule on the row count, as R's `hist`).
    pub num_breaks: Option<usize>,
    /// The lowest bin edge; with `end_val`, exactly `num_breaks` equal bins span the two, and values
    /// outside are counted as out of range.
    pub start_val: Option<f64>,
    /// The highest bin edge.
    pub end_val: Option<f64>,
    /// Percentages of each group's counted values instead of counts (`histType = "Percent"`).
    pub percent: bool,
    /// Chunk size and the other general options.
    pub rx: RxOptions,
}

impl HistogramOptions {
    /// Sets the grouping column.
    pub fn by(mut self, by: impl Into<String>) -> Self {
        self.by = Some(by.into());
        self
    }

    /// Sets the number of bins.
    pub fn num_breaks(mut self, n: usize) -> Self {
        self.num_breaks = Some(n);
        self
    }
}

/// The bins of a histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Bins {
    /// Numeric bins: `k + 1` edges for `k` bins; bins are closed on the right and the first also on
    /// the left, as in R's `hist`: `[b0, b1], (b1, b2], ...`.
    Breaks(Vec<f64>),
    /// One bin per level, in level order.
    Levels(Vec<String>),
}

impl Bins {
    /// The number of bins.
    pub fn len(&self) -> usize {
        match self {
            Bins::Breaks(b) => b.len().saturating_sub(1),
            Bins::Levels(l) => l.len(),
        }
    }

    /// True when there are no bins.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The counts of one group (or of all rows without `by`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistGroup {
    /// The group's value (`None` without `by`).
    pub label: Option<String>,
    /// One count per bin.
    pub counts: Vec<u64>,
    /// Rows whose value is missing (or NaN).
    pub missing: u64,
    /// Rows outside `start_val..end_val`.
    pub out_of_range: u64,
}

impl HistGroup {
    /// The values counted in bins.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A histogram: bins and per-group counts. [`Histogram::save`] draws it; [`Histogram::to_batch`]
/// gives the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// The variable.
    pub var: String,
    /// The grouping column.
    pub by: Option<String>,
    /// The bins.
    pub bins: Bins,
    /// The axis scale of numeric bins.
    pub scale: Scale,
    /// One entry per group, in display order (factor level order, numbers by value, text sorted).
    pub groups: Vec<HistGroup>,
    /// Percentages instead of counts in plots.
    pub percent: bool,
    /// Passes over the data it took (1 when the range was known).
    pub passes: usize,
}

/// Counts `var`'s values in bins, per group of `options.by`, in chunks (RevoScaleR's
/// `rxHistogram`). Numeric variables (and dates) get numeric bins; factors, text and booleans one
/// bin per value.
pub fn rx_histogram(
    var: &str,
    data: &dyn DataSource,
    options: &HistogramOptions,
    context: &impl ComputeContext,
) -> Result<Histogram> {
    let schema = data.schema()?;
    let name = data.name();
    let vfield = field(&schema, var, &name)?;
    let by_field = match &options.by {
        Some(b) => Some(field(&schema, b, &name)?.clone()),
        None => None,
    };
    if let Some(n) = options.num_breaks
        && n == 0
    {
        return Err(Error::InvalidArgument(
            "rx_histogram: num_breaks must be at least 1".into(),
        ));
    }
    let kind = match vfield.data_type() {
        DataType::Dictionary(..)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Boolean => None,
        dt => match Scale::of(dt) {
            Some(s) => Some(s),
            None => {
                return Err(Error::Schema(format!(
                    "rx_histogram: '{var}' in {name} is {dt}; a histogram needs a numeric, date, factor or text variable"
                )));
            }
        },
    };
    let mut pema = HistPema {
        var: var.to_string(),
        by: options.by.clone(),
        scale: kind,
        breaks: None,
        passes: 0,
        options: options.clone(),
        vfield: vfield.clone(),
        by_field,
    };
    if let Some(scale) = kind {
        match (options.start_val, options.end_val) {
            (Some(lo), Some(hi)) => {
                if lo >= hi || !lo.is_finite() || !hi.is_finite() {
                    return Err(Error::InvalidArgument(format!(
                        "rx_histogram: start_val {lo} must be below end_val {hi}"
                    )));
                }
                let n = match options.num_breaks {
                    Some(n) => n,
                    None => sturges(data.num_rows()?.unwrap_or(0)).max(10),
                };
                pema.breaks = Some(equal_breaks(lo, hi, n));
            }
            _ => {
                // A recorded range (an .xdf file's low/high) saves the first pass; dates and times
                // are not recorded in axis units.
                let info = VarInfo::from_field(vfield);
                let rows = data.num_rows()?;
                if let (Scale::Number, Some(lo), Some(hi), Some(rows)) =
                    (scale, info.low, info.high, rows)
                {
                    pema.breaks = Some(pema.breaks_for(lo, hi, rows));
                }
            }
        }
    }
    context.run(&mut pema, data, &options.rx)
}

struct HistPema {
    var: String,
    by: Option<String>,
    /// `Some` for numeric bins.
    scale: Option<Scale>,
    /// Numeric bin edges, once known.
    breaks: Option<Vec<f64>>,
    passes: usize,
    options: HistogramOptions,
    vfield: Field,
    by_field: Option<Field>,
}

/// A partial: the range pass's extremes and rows, or the counting pass's per-group counts (by
/// group label, then by bin number or level label).
#[derive(Debug, Default, Serialize, Deserialize)]
struct HistPartial {
    rows: u64,
    extent: Extent,
    groups: BTreeMap<String, GroupAcc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GroupAcc {
    counts: Vec<u64>,
    levels: BTreeMap<String, u64>,
    missing: u64,
    out_of_range: u64,
}

impl GroupAcc {
    fn add(&mut self, other: GroupAcc) {
        if self.counts.len() < other.counts.len() {
            self.counts.resize(other.counts.len(), 0);
        }
        for (a, b) in self.counts.iter_mut().zip(other.counts) {
            *a += b;
        }
        for (k, v) in other.levels {
            *self.levels.entry(k).or_default() += v;
        }
        self.missing += other.missing;
        self.out_of_range += other.out_of_range;
    }
}

impl HistPema {
    fn breaks_for(&self, lo: f64, hi: f64, rows: u64) -> Vec<f64> {
        let n = self.options.num_breaks.unwrap_or_else(|| sturges(rows));
        let lo = self.options.start_val.unwrap_or(lo);
        let hi = self.options.end_val.unwrap_or(hi);
        pretty(lo, hi, n)
    }

    fn column(&self, chunk: &RecordBatch, name: &str) -> Result<ArrayRef> {
        chunk
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| Error::unknown_column(name, "the chunk", &chunk.schema()))
    }

    /// Per-row group numbers and their labels (one unnamed group without `by`).
    fn groups(&self, chunk: &RecordBatch) -> Result<(Vec<Option<u32>>, Vec<String>)> {
        match &self.by {
            Some(b) => chunk_groups(&self.column(chunk, b)?, b),
            None => Ok((vec![Some(0); chunk.num_rows()], vec![String::new()])),
        }
    }
}

impl Pema for HistPema {
    type Partial = HistPartial;
    type Output = Histogram;

    fn columns(&self) -> Vec<String> {
        let mut c = vec![self.var.clone()];
        if let Some(b) = &self.by
            && b != &self.var
        {
            c.push(b.clone());
        }
        c
    }

    fn init(&self) -> HistPartial {
        HistPartial::default()
    }

    fn process(&self, acc: &mut HistPartial, chunk: &RecordBatch) -> Result<()> {
        let col = self.column(chunk, &self.var)?;
        acc.rows += chunk.num_rows() as u64;
        let Some(scale) = self.scale else {
            return self.count_levels(acc, chunk, &col);
        };
        let x = to_f64(&col, scale, &self.var)?;
        let Some(breaks) = &self.breaks else {
            // The range pass.
            acc.extent.add(&x);
            return Ok(());
        };
        let (gid, labels) = self.groups(chunk)?;
        let nbins = breaks.len() - 1;
        let mut local: Vec<GroupAcc> = labels
            .iter()
            .map(|_| GroupAcc {
                counts: vec![0; nbins],
                ..GroupAcc::default()
            })
            .collect();
        let (lo, hi) = (breaks[0], breaks[nbins]);
        let uppers = &breaks[1..];
        for (v, g) in x.iter().zip(gid) {
            let Some(g) = g else { continue };
            let a = &mut local[g as usize];
            match v {
                Some(v) if !v.is_nan() => {
                    if v < lo || v > hi {
                        a.out_of_range += 1;
                    } else {
                        // Right-closed bins: the number of upper edges strictly below v.
                        let i = uppers.partition_point(|&b| b < v).min(nbins - 1);
                        a.counts[i] += 1;
                    }
                }
                _ => a.missing += 1,
            }
        }
        for (label, g) in labels.into_iter().zip(local) {
            acc.groups.entry(label).or_default().add(g);
        }
        Ok(())
    }

    fn merge(&self, into: &mut HistPartial, other: HistPartial) -> Result<()> {
        into.rows += other.rows;
        into.extent.merge(other.extent);
        for (k, g) in other.groups {
            into.groups.entry(k).or_default().add(g);
        }
        Ok(())
    }

    fn finish(&mut self, acc: HistPartial) -> Result<Step<Histogram>> {
        self.passes += 1;
        if self.scale.is_some() && self.breaks.is_none() {
            let Some((lo, hi)) = acc.extent.range() else {
                return Err(Error::InvalidArgument(format!(
                    "rx_histogram: '{}' has no non-missing values to bin",
                    self.var
                )));
            };
            self.breaks = Some(self.breaks_for(lo, hi, acc.rows));
            return Ok(Step::AnotherPass);
        }
        let labels = order_labels(
            acc.groups.keys().cloned().collect(),
            self.by_field.as_ref().unwrap_or(&self.vfield),
        );
        let mut groups_acc = acc.groups;
        let bins = match &self.breaks {
            Some(b) => Bins::Breaks(b.clone()),
            None => {
                let mut all: Vec<String> = Vec::new();
                for g in groups_acc.values() {
                    for k in g.levels.keys() {
                        if !all.contains(k) {
                            all.push(k.clone());
                        }
                    }
                }
                // Every level of a factor gets a bin, also those with no rows.
                if let Some(levels) = rx_core::varinfo::field_levels(&self.vfield) {
                    for l in levels {
                        if !all.contains(&l) {
                            all.push(l);
                        }
                    }
                }
                Bins::Levels(order_labels(all, &self.vfield))
            }
        };
        let groups = labels
            .into_iter()
            .filter_map(|label| {
                let g = groups_acc.remove(&label)?;
                let counts = match &bins {
                    Bins::Breaks(_) => g.counts,
                    Bins::Levels(levels) => levels
                        .iter()
                        .map(|l| g.levels.get(l).copied().unwrap_or(0))
                        .collect(),
                };
                Some(HistGroup {
                    label: self.by.as_ref().map(|_| label),
                    counts,
                    missing: g.missing,
                    out_of_range: g.out_of_range,
                })
            })
            .collect();
        Ok(Step::Done(Histogram {
            var: self.var.clone(),
            by: self.by.clone(),
            bins,
            scale: self.scale.unwrap_or(Scale::Number),
            groups,
            percent: self.options.percent,
            passes: self.passes,
        }))
    }
}

impl HistPema {
    /// The counting pass for factors, text and booleans: counts per code within the chunk, then
    /// per label.
    fn count_levels(
        &self,
        acc: &mut HistPartial,
        chunk: &RecordBatch,
        col: &ArrayRef,
    ) -> Result<()> {
        let (vid, vlabels) = chunk_groups(col, &self.var)?;
        let (gid, glabels) = self.groups(chunk)?;
        let nv = vlabels.len();
        let mut counts = vec![0u64; glabels.len() * nv];
        let mut missing = vec![0u64; glabels.len()];
        for (v, g) in vid.iter().zip(&gid) {
            let Some(g) = *g else { continue };
            match v {
                Some(v) => counts[g as usize * nv + *v as usize] += 1,
                None => missing[g as usize] += 1,
            }
        }
        for (gi, glabel) in glabels.into_iter().enumerate() {
            let row = &counts[gi * nv..(gi + 1) * nv];
            if missing[gi] == 0 && row.iter().all(|&c| c == 0) {
                continue;
            }
            let a = acc.groups.entry(glabel).or_default();
            a.missing += missing[gi];
            for (l, &c) in vlabels.iter().zip(row) {
                if c > 0 {
                    *a.levels.entry(l.clone()).or_default() += c;
                }
            }
        }
        Ok(())
    }
}

impl Histogram {
    /// The table of the histogram: the group column (named as `by`), then `bin_low`, `bin_high`
    /// (numeric bins) or `level`, then `count` and `percent` (of the group's counted values).
    pub fn to_batch(&self) -> Result<RecordBatch> {
        let mut fields = Vec::new();
        let mut cols: Vec<ArrayRef> = Vec::new();
        let nb = self.bins.len();
        if let Some(b) = &self.by {
            fields.push(Field::new(b, DataType::Utf8, true));
            cols.push(Arc::new(StringArray::from_iter(
                self.groups
                    .iter()
                    .flat_map(|g| std::iter::repeat_n(g.label.clone(), nb)),
            )));
        }
        match &self.bins {
            Bins::Breaks(b) => {
                fields.push(Field::new("bin_low", DataType::Float64, false));
                fields.push(Field::new("bin_high", DataType::Float64, false));
                let lows = self.groups.iter().flat_map(|_| b[..nb].iter().copied());
                let highs = self.groups.iter().flat_map(|_| b[1..].iter().copied());
                cols.push(Arc::new(Float64Array::from_iter_values(lows)));
                cols.push(Arc::new(Float64Array::from_iter_values(highs)));
            }
            Bins::Levels(l) => {
                fields.push(Field::new("level", DataType::Utf8, false));
                cols.push(Arc::new(StringArray::from_iter_values(
                    self.groups.iter().flat_map(|_| l.iter()),
                )));
            }
        }
        fields.push(Field::new("count", DataType::Int64, false));
        fields.push(Field::new("percent", DataType::Float64, false));
        cols.push(Arc::new(Int64Array::from_iter_values(
            self.groups
                .iter()
                .flat_map(|g| g.counts.iter().map(|&c| c as i64)),
        )));
        cols.push(Arc::new(Float64Array::from_iter_values(
            self.groups.iter().flat_map(|g| {
                let t = g.total().max(1) as f64;
                g.counts.iter().map(move |&c| 100.0 * c as f64 / t)
            }),
        )));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
            .map_err(|e| Error::arrow("building the histogram table", e))
    }

    /// Draws the histogram into `path` (.png or .svg): one panel per group, sharing the y scale.
    pub fn save(&self, path: impl AsRef<Path>, options: &PlotOptions) -> Result<()> {
        super::save_figure(self, path.as_ref(), options)
    }

    fn heights(&self, g: &HistGroup) -> Vec<f64> {
        let t = g.total().max(1) as f64;
        g.counts
            .iter()
            .map(|&c| {
                if self.percent {
                    100.0 * c as f64 / t
                } else {
                    c as f64
                }
            })
            .collect()
    }
}

impl Figure for Histogram {
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        options: &PlotOptions,
    ) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let title = options
            .title
            .clone()
            .unwrap_or_else(|| format!("Histogram of {}", self.var));
        let area = root.titled(&title, font(22))?;
        let ymax = self
            .groups
            .iter()
            .flat_map(|g| self.heights(g))
            .fold(0.0f64, f64::max)
            .max(1e-9)
            * 1.05;
        let x_title = options.x_title.clone().unwrap_or_else(|| self.var.clone());
        let y_title = options
            .y_title
            .clone()
            .unwrap_or_else(|| if self.percent { "Percent" } else { "Counts" }.into());
        let n = self.groups.len().max(1);
        let (rows, cols) = panel_grid(n);
        let panels = area.split_evenly((rows, cols));
        let bar = RGBColor(70, 130, 180);
        for (g, panel) in self.groups.iter().zip(&panels) {
            let caption = match (&self.by, &g.label) {
                (Some(b), Some(l)) => format!("{b} = {l}"),
                _ => String::new(),
            };
            let heights = self.heights(g);
            let mut cb = ChartBuilder::on(panel);
            cb.margin(8).x_label_area_size(36).y_label_area_size(56);
            if !caption.is_empty() {
                cb.caption(caption, font(15));
            }
            match &self.bins {
                Bins::Breaks(b) => {
                    let (lo, hi) = (b[0], b[b.len() - 1]);
                    let mut chart = cb.build_cartesian_2d(lo..hi, 0.0..ymax)?;
                    let scale = self.scale;
                    chart
                        .configure_mesh()
                        .disable_x_mesh()
                        .x_desc(x_title.as_str())
                        .y_desc(y_title.as_str())
                        .x_labels(8)
                        .x_label_formatter(&|v| scale.label(*v))
                        .y_label_formatter(&|v| fmt_tick(*v))
                        .label_style(font(12))
                        .axis_desc_style(font(14))
                        .draw()?;
                    chart.draw_series(b.windows(2).zip(&heights).map(|(w, &h)| {
                        Rectangle::new([(w[0], 0.0), (w[1], h)], bar.mix(0.85).filled())
                    }))?;
                    chart.draw_series(b.windows(2).zip(&heights).map(|(w, &h)| {
                        Rectangle::new([(w[0], 0.0), (w[1], h)], BLACK.stroke_width(1))
                    }))?;
                }
                Bins::Levels(levels) => {
                    let k = levels.len().max(1) as i32;
                    let mut chart = cb.build_cartesian_2d((0..k).into_segmented(), 0.0..ymax)?;
                    let names = levels.clone();
                    chart
                        .configure_mesh()
                        .disable_x_mesh()
                        .x_desc(x_title.as_str())
                        .y_desc(y_title.as_str())
                        .x_labels(k as usize)
                        .x_label_formatter(&|v| match v {
                            SegmentValue::CenterOf(i) => {
                                names.get(*i as usize).cloned().unwrap_or_default()
                            }
                            _ => String::new(),
                        })
                        .y_label_formatter(&|v| fmt_tick(*v))
                        .label_style(font(12))
                        .axis_desc_style(font(14))
                        .draw()?;
                    chart.draw_series(heights.iter().enumerate().map(|(i, &h)| {
                        let i = i as i32;
                        Rectangle::new(
                            [
                                (SegmentValue::Exact(i), 0.0),
                                (SegmentValue::Exact(i + 1), h),
                            ],
                            bar.mix(0.85).filled(),
                        )
                    }))?;
                }
            }
        }
        Ok(())
    }
}

impl Histogram {
    /// The counts of the group labelled `label` (`None` without `by`).
    pub fn counts_of(&self, label: Option<&str>) -> Option<&[u64]> {
        self.groups
            .iter()
            .find(|g| g.label.as_deref() == label)
            .map(|g| g.counts.as_slice())
    }
}
