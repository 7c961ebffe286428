//! From a formula and a source to binned training data, in two PEMA passes: a sketch pass that
//! finds the bin edges of continuous predictors (and counts the rows), and a binning pass that
//! keeps every usable row as compact bin codes with its response and weights.

use arrow::array::AsArray;
use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use rx_core::formula::Formula;
use rx_core::source::DataSource;
use rx_core::{ComputeContext, Error, Pema, Result, RxOptions, Step};
use serde::{Deserialize, Serialize};

use super::bins::{MAX_BINS, ValueSketch, bin_of};
use crate::design::{
    Design, DesignOptions, FactorVar, NumSource, ResponseSource, ResponseSpec, factor_codes,
    numeric_values, weight_values,
};

/// A predictor of a tree model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TreeVar {
    /// A continuous predictor, split at cut points.
    Numeric {
        /// Its name in the formula (`x`, `log(x)`).
        name: String,
        /// Where its values come from.
        source: NumSource,
        /// The cut points between its bins (training).
        cuts: Vec<f64>,
    },
    /// A factor, split by level.
    Factor(FactorVar),
}

impl TreeVar {
    /// The predictor's name.
    pub fn name(&self) -> &str {
        match self {
            TreeVar::Numeric { name, .. } => name,
            TreeVar::Factor(f) => &f.name,
        }
    }
}

/// What a tree model reads: its predictors, response and weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TreeSpec {
    /// The formula as given.
    pub formula: String,
    /// The response.
    pub response: ResponseSpec,
    /// The predictors, in formula order.
    pub vars: Vec<TreeVar>,
    /// A probability-weight column.
    pub pweights: Option<String>,
    /// A frequency-weight column.
    pub fweights: Option<String>,
}

impl TreeSpec {
    /// Resolves `formula` against `data` (one levels pass when factor levels are not declared).
    /// Every term must be one variable: trees find interactions themselves.
    pub fn resolve(
        formula: &str,
        data: &dyn DataSource,
        pweights: Option<&str>,
        fweights: Option<&str>,
        context: &impl ComputeContext,
        rx: &RxOptions,
    ) -> Result<TreeSpec> {
        let parsed = Formula::parse(formula)?;
        if parsed.response.is_none() {
            return Err(Error::Formula {
                formula: formula.to_string(),
                position: 0,
                message: "a tree model needs a response: write `y ~ x1 + x2`".into(),
            });
        }
        if let Some(o) = parsed.offsets.first() {
            return Err(Error::invalid(format!(
                "{formula}: tree models do not take offsets (offset({o}))"
            )));
        }
        let rx = &pass_options(rx);
        let design = Design::resolve(&parsed, data, DesignOptions::default(), context, rx)?;
        let mut vars = Vec::new();
        for t in &design.terms {
            match (t.numerics.as_slice(), t.factors.as_slice()) {
                ([n], []) => vars.push(TreeVar::Numeric {
                    name: design.numerics[*n].name.clone(),
                    source: design.numerics[*n].source.clone(),
                    cuts: Vec::new(),
                }),
                ([], [f]) => {
                    let f = &design.factors[*f];
                    if f.levels.len() > MAX_BINS {
                        return Err(Error::invalid(format!(
                            "{formula}: factor '{}' has {} levels; tree models take at most {MAX_BINS}",
                            f.name,
                            f.levels.len()
                        )));
                    }
                    vars.push(TreeVar::Factor(f.clone()));
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "{formula}: the term '{}' combines variables; tree models take single variables (`a + b`) and find interactions themselves",
                        t.label
                    )));
                }
            }
        }
        if vars.is_empty() {
            return Err(Error::invalid(format!(
                "{formula}: the formula has no predictors"
            )));
        }
        let response = design.response.clone().expect("checked above");
        for w in [pweights, fweights].into_iter().flatten() {
            if !data.schema()?.fields().iter().any(|f| f.name() == w) {
                return Err(Error::UnknownColumn {
                    name: w.to_string(),
                    source_name: data.name(),
                    available: data
                        .schema()?
                        .fields()
                        .iter()
                        .map(|f| f.name().clone())
                        .collect(),
                });
            }
        }
        Ok(TreeSpec {
            formula: formula.to_string(),
            response,
            vars,
            pweights: pweights.map(str::to_string),
            fweights: fweights.map(str::to_string),
        })
    }

    /// The classes of a factor response (`None` for a numeric response).
    pub fn classes(&self) -> Option<&[String]> {
        match &self.response.source {
            ResponseSource::Factor(f) => Some(&f.levels),
            ResponseSource::Numeric(_) => None,
        }
    }

    /// The columns read for training.
    pub fn columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut push = |c: String| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        self.response_columns().into_iter().for_each(&mut push);
        self.predictor_columns().into_iter().for_each(&mut push);
        for w in [&self.pweights, &self.fweights].into_iter().flatten() {
            push(w.clone());
        }
        out
    }

    /// The columns the response reads.
    pub fn response_columns(&self) -> Vec<String> {
        match &self.response.source {
            ResponseSource::Numeric(s) => source_columns(s),
            ResponseSource::Factor(f) => vec![f.column().to_string()],
        }
    }

    /// The columns the predictors read.
    pub fn predictor_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for v in &self.vars {
            let cols = match v {
                TreeVar::Numeric { source, .. } => source_columns(source),
                TreeVar::Factor(f) => vec![f.column().to_string()],
            };
            for c in cols {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        out
    }

    /// The predictors' values over a chunk, per predictor: continuous values, or level indexes
    /// as numbers; `NaN` where missing.
    pub fn predictor_values(&self, batch: &RecordBatch) -> Result<Vec<Vec<f64>>> {
        self.vars
            .iter()
            .map(|v| match v {
                TreeVar::Numeric { source, .. } => numeric_or_nan(source, batch),
                TreeVar::Factor(f) => {
                    let (codes, _) = factor_codes(f, batch, "")?;
                    Ok(codes
                        .iter()
                        .map(|&c| if c == u32::MAX { f64::NAN } else { c as f64 })
                        .collect())
                }
            })
            .collect()
    }

    /// The response over a chunk: values (class indexes for a factor), `NaN` where missing.
    pub fn response_values(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        match &self.response.source {
            ResponseSource::Numeric(s) => numeric_or_nan(s, batch),
            ResponseSource::Factor(f) => {
                let (codes, _) = factor_codes(f, batch, " (the response)")?;
                Ok(codes
                    .iter()
                    .map(|&c| if c == u32::MAX { f64::NAN } else { c as f64 })
                    .collect())
            }
        }
    }

    /// Per row of a chunk: (count weight, case weight), `None` where a weight is missing or zero.
    fn weights(&self, batch: &RecordBatch) -> Result<Vec<Option<(f64, f64)>>> {
        let n = batch.num_rows();
        let mut out = vec![Some((1.0, 1.0)); n];
        for (col, freq) in [(&self.pweights, false), (&self.fweights, true)] {
            let Some(col) = col else { continue };
            let (vals, ok) = weight_values(col, batch, true)?;
            for (i, o) in out.iter_mut().enumerate() {
                let present = ok.as_ref().is_none_or(|m| m.value(i));
                let v = vals[i];
                *o = match *o {
                    Some((c, w)) if present && v.is_finite() && v > 0.0 => {
                        Some((if freq { c * v } else { c }, w * v))
                    }
                    _ => None,
                };
            }
        }
        Ok(out)
    }
}

/// A numeric variable's values over a chunk, `NaN` where missing (or not finite).
fn numeric_or_nan(source: &NumSource, batch: &RecordBatch) -> Result<Vec<f64>> {
    let (vals, ok) = numeric_values(source, batch, true)?;
    Ok(vals
        .iter()
        .enumerate()
        .map(|(i, &x)| {
            if ok.as_ref().is_none_or(|m| m.value(i)) && x.is_finite() {
                x
            } else {
                f64::NAN
            }
        })
        .collect())
}

fn source_columns(s: &NumSource) -> Vec<String> {
    match s {
        NumSource::Column(c) | NumSource::Codes { column: c, .. } => vec![c.clone()],
        NumSource::Computed(e) => e.columns(),
    }
}

/// Training data as bin codes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Binned {
    /// Bin codes, row by row: row `r`'s code of predictor `v` is `codes[r * p + v]` (the
    /// predictor's bin count where missing). Row-major, so a histogram pass reads each row's
    /// codes together.
    pub codes: Vec<u16>,
    /// Predictors per row.
    pub p: usize,
    /// The response per row (a class index for classification).
    pub y: Vec<f64>,
    /// Count (frequency) weights, when given.
    pub count: Option<Vec<f64>>,
    /// Case weights (frequency × probability weights), when given.
    pub weight: Option<Vec<f64>>,
    /// Rows left out for a missing response or weight.
    pub n_missing: u64,
    /// Per row, its stratum (an index into `strata_levels`), when sampling is stratified.
    pub strata: Option<Vec<u32>>,
    /// The strata, in order of first appearance.
    pub strata_levels: Vec<String>,
}

impl Binned {
    /// Rows kept.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether no row was kept.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// The count weight of row `r`.
    #[inline]
    pub fn count_of(&self, r: usize) -> f64 {
        self.count.as_ref().map_or(1.0, |c| c[r])
    }

    /// The case weight of row `r`.
    #[inline]
    pub fn weight_of(&self, r: usize) -> f64 {
        self.weight.as_ref().map_or(1.0, |w| w[r])
    }
}

/// The partial result of the sketch pass.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SketchPartial {
    sketches: Vec<ValueSketch>,
    rows: u64,
}

struct SketchPema<'a> {
    spec: &'a TreeSpec,
}

impl Pema for SketchPema<'_> {
    type Partial = SketchPartial;
    type Output = SketchPartial;

    fn columns(&self) -> Vec<String> {
        self.spec.columns()
    }

    fn init(&self) -> SketchPartial {
        SketchPartial {
            sketches: vec![ValueSketch::default(); self.spec.vars.len()],
            rows: 0,
        }
    }

    fn process(&self, acc: &mut SketchPartial, chunk: &RecordBatch) -> Result<()> {
        let keep = usable_rows(self.spec, chunk)?.0;
        acc.rows += keep.iter().filter(|k| k.is_some()).count() as u64;
        // Each predictor's sketch on its own (in parallel: the pass is bound by the inserts).
        self.spec
            .vars
            .par_iter()
            .zip(acc.sketches.par_iter_mut())
            .try_for_each(|(v, sketch)| -> Result<()> {
                if let TreeVar::Numeric { source, .. } = v {
                    let (vals, ok) = numeric_values(source, chunk, true)?;
                    for (i, k) in keep.iter().enumerate() {
                        if k.is_some()
                            && ok.as_ref().is_none_or(|m| m.value(i))
                            && vals[i].is_finite()
                        {
                            sketch.insert(vals[i]);
                        }
                    }
                }
                Ok(())
            })
    }

    fn merge(&self, into: &mut SketchPartial, other: SketchPartial) -> Result<()> {
        into.rows += other.rows;
        for (a, b) in into.sketches.iter_mut().zip(other.sketches) {
            a.merge(b);
        }
        Ok(())
    }

    fn finish(&mut self, acc: SketchPartial) -> Result<Step<SketchPartial>> {
        Ok(Step::Done(acc))
    }
}

/// Per row of a chunk: `Some((count, weight))` when the row is usable (response and weights
/// present), and the response values.
#[allow(clippy::type_complexity)]
fn usable_rows(
    spec: &TreeSpec,
    chunk: &RecordBatch,
) -> Result<(Vec<Option<(f64, f64)>>, Vec<f64>)> {
    let mut keep = spec.weights(chunk)?;
    let y = spec.response_values(chunk)?;
    for (k, v) in keep.iter_mut().zip(&y) {
        if v.is_nan() {
            *k = None;
        }
    }
    Ok((keep, y))
}

struct BinPema<'a> {
    spec: &'a TreeSpec,
    nbins: Vec<usize>,
    strata: Option<&'a str>,
    /// Rows to reserve room for (the sketch pass counted them).
    capacity: usize,
}

/// The strata of a chunk's rows as text (`None` where missing).
fn strata_values(column: &str, chunk: &RecordBatch) -> Result<Vec<Option<String>>> {
    let col = chunk
        .column_by_name(column)
        .ok_or_else(|| Error::UnknownColumn {
            name: column.to_string(),
            source_name: "the data".into(),
            available: chunk
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect(),
        })?;
    let text = arrow::compute::cast(col, &arrow::datatypes::DataType::Utf8)
        .map_err(|e| Error::arrow(format!("reading the strata column '{column}'"), e))?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

impl Pema for BinPema<'_> {
    type Partial = Binned;
    type Output = Binned;

    fn columns(&self) -> Vec<String> {
        let mut c = self.spec.columns();
        if let Some(s) = self.strata
            && !c.iter().any(|x| x == s)
        {
            c.push(s.to_string());
        }
        c
    }

    fn init(&self) -> Binned {
        Binned {
            y: Vec::with_capacity(self.capacity),
            strata: self.strata.map(|_| Vec::new()),
            codes: Vec::with_capacity(self.capacity * self.spec.vars.len()),
            p: self.spec.vars.len(),
            count: self.spec.fweights.as_ref().map(|_| Vec::new()),
            weight: (self.spec.fweights.is_some() || self.spec.pweights.is_some()).then(Vec::new),
            ..Default::default()
        }
    }

    fn process(&self, acc: &mut Binned, chunk: &RecordBatch) -> Result<()> {
        let (mut keep, y) = usable_rows(self.spec, chunk)?;
        let values = self.spec.predictor_values(chunk)?;
        if let Some(col) = self.strata {
            let st = strata_values(col, chunk)?;
            let codes = acc.strata.get_or_insert_with(Vec::new);
            for (k, s) in keep.iter_mut().zip(st) {
                let Some(s) = s else {
                    *k = None;
                    continue;
                };
                if k.is_none() {
                    continue;
                }
                let code = match acc.strata_levels.iter().position(|l| *l == s) {
                    Some(c) => c,
                    None => {
                        acc.strata_levels.push(s);
                        acc.strata_levels.len() - 1
                    }
                };
                codes.push(code as u32);
            }
        }
        for (i, k) in keep.iter().enumerate() {
            let Some((c, w)) = *k else {
                acc.n_missing += 1;
                continue;
            };
            acc.y.push(y[i]);
            if let Some(cs) = &mut acc.count {
                cs.push(c);
            }
            if let Some(ws) = &mut acc.weight {
                ws.push(w);
            }
        }
        let p = self.spec.vars.len();
        let kept: Vec<usize> = (0..keep.len()).filter(|&i| keep[i].is_some()).collect();
        let start = acc.codes.len();
        acc.codes.resize(start + kept.len() * p, 0);
        // Row pieces in parallel, each into its own stretch of the codes (the binary search per
        // value is the pass's work).
        let code = |v: &TreeVar, nb: usize, x: f64| -> u16 {
            if x.is_nan() {
                nb as u16
            } else {
                match v {
                    TreeVar::Numeric { cuts, .. } => bin_of(cuts, x),
                    TreeVar::Factor(_) => x as u16,
                }
            }
        };
        acc.codes[start..]
            .par_chunks_mut(BIN_PIECE_ROWS * p.max(1))
            .zip(kept.par_chunks(BIN_PIECE_ROWS))
            .for_each(|(out, rows)| {
                for (o, &i) in out.chunks_exact_mut(p.max(1)).zip(rows) {
                    for ((slot, v), (vals, &nb)) in o
                        .iter_mut()
                        .zip(&self.spec.vars)
                        .zip(values.iter().zip(&self.nbins))
                    {
                        *slot = code(v, nb, vals[i]);
                    }
                }
            });
        debug_assert_eq!(acc.codes.len(), acc.y.len() * p);
        Ok(())
    }

    fn merge(&self, into: &mut Binned, other: Binned) -> Result<()> {
        into.codes.extend(other.codes);
        into.y.extend(other.y);
        if let (Some(a), Some(b)) = (&mut into.count, other.count) {
            a.extend(b);
        }
        if let (Some(a), Some(b)) = (&mut into.weight, other.weight) {
            a.extend(b);
        }
        into.n_missing += other.n_missing;
        if let (Some(a), Some(b)) = (&mut into.strata, other.strata) {
            // Renumber the other part's strata into this part's table.
            let map: Vec<u32> = other
                .strata_levels
                .into_iter()
                .map(|l| match into.strata_levels.iter().position(|x| *x == l) {
                    Some(c) => c as u32,
                    None => {
                        into.strata_levels.push(l);
                        (into.strata_levels.len() - 1) as u32
                    }
                })
                .collect();
            a.extend(b.into_iter().map(|c| map[c as usize]));
        }
        Ok(())
    }

    fn finish(&mut self, acc: Binned) -> Result<Step<Binned>> {
        Ok(Step::Done(acc))
    }
}

/// Rows per piece of a chunk binned in parallel.
const BIN_PIECE_ROWS: usize = 8_192;

/// The most rows per chunk of a tree model's passes over the data.
const PASS_ROWS_PER_READ: usize = 50_000;

/// `rx` for a tree model's passes (levels, sketch, binning): they keep little per row, and the
/// binned data grow beside them, so chunks of at most [`PASS_ROWS_PER_READ`] rows keep the read
/// buffers small. The results do not depend on the chunking.
fn pass_options(rx: &RxOptions) -> RxOptions {
    RxOptions {
        rows_per_read: rx.rows_per_read.min(PASS_ROWS_PER_READ),
        ..rx.clone()
    }
}

/// revoscalepy's default bin count: `min(1001, max(101, sqrt(n)))`.
pub fn default_max_bins(n: u64) -> usize {
    ((n as f64).sqrt() as usize).clamp(101, 1001)
}

/// Sets the cut points of `spec`'s continuous predictors (at most `max_num_bins` bins each, or
/// the default for the data's size) and bins the data. Two passes.
pub fn bin_data(
    spec: &mut TreeSpec,
    data: &dyn DataSource,
    max_num_bins: Option<usize>,
    context: &impl ComputeContext,
    rx: &RxOptions,
) -> Result<Binned> {
    bin_data_with_strata(spec, data, max_num_bins, None, context, rx)
}

/// [`bin_data`], also keeping each row's stratum from the column `strata` (rows where it is
/// missing are left out).
pub fn bin_data_with_strata(
    spec: &mut TreeSpec,
    data: &dyn DataSource,
    max_num_bins: Option<usize>,
    strata: Option<&str>,
    context: &impl ComputeContext,
    rx: &RxOptions,
) -> Result<Binned> {
    if let Some(s) = strata {
        let schema = data.schema()?;
        if schema.field_with_name(s).is_err() {
            return Err(Error::UnknownColumn {
                name: s.to_string(),
                source_name: data.name(),
                available: schema.fields().iter().map(|f| f.name().clone()).collect(),
            });
        }
    }
    let rx = &pass_options(rx);
    let sketch = context.run(&mut SketchPema { spec }, data, rx)?;
    if sketch.rows == 0 {
        return Err(Error::invalid(format!(
            "{}: no row of {} has the response and weights present",
            spec.formula,
            data.name()
        )));
    }
    let bins = max_num_bins
        .unwrap_or_else(|| default_max_bins(sketch.rows))
        .clamp(2, MAX_BINS);
    for (v, s) in spec.vars.iter_mut().zip(&sketch.sketches) {
        if let TreeVar::Numeric { cuts, .. } = v {
            *cuts = s.cuts(bins);
        }
    }
    let capacity = sketch.rows as usize;
    // The sketches (up to a few MB each) are not needed beside the binned data, nor is what
    // the pass's threads freed.
    drop(sketch);
    rx_core::memory::release_free_memory();
    let nbins = spec.vars.iter().map(nbins_of).collect();
    let binned = context.run(
        &mut BinPema {
            spec,
            nbins,
            strata,
            capacity,
        },
        data,
        rx,
    )?;
    // The fit allocates its row index next: let it take pages the read buffers left.
    rx_core::memory::release_free_memory();
    Ok(binned)
}

/// The bins of a predictor (not counting the missing bin).
pub fn nbins_of(v: &TreeVar) -> usize {
    match v {
        TreeVar::Numeric { cuts, .. } => cuts.len() + 1,
        TreeVar::Factor(f) => f.levels.len(),
    }
}
