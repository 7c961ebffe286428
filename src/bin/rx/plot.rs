//! `rx plot hist` and `rx plot line`: histograms and line plots of any file, as PNG or SVG.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use revoscale::core::{Error, Result, RxLocalSeq, RxOptions};
use revoscale::etl::plot::{
    Bins, HistogramOptions, LinePlotOptions, PlotFormat, PlotOptions, rx_histogram, rx_line_plot,
};

use crate::sources::open_source;

/// `rx plot <kind> ...`.
#[derive(Debug, Args)]
pub struct PlotArgs {
    #[command(subcommand)]
    pub kind: PlotKind,
}

/// The kinds of plot.
#[derive(Debug, Subcommand)]
pub enum PlotKind {
    /// A histogram of a numeric variable (bins) or a factor (one bar per level), one panel per
    /// group with --by; prints the counts.
    Hist(HistArgs),
    /// y against x in data order, one line per group with --by.
    Line(LineArgs),
}

/// Size and titles, shared by the kinds of plot.
#[derive(Debug, Args)]
pub struct FigureArgs {
    /// Output file: .png or .svg (replaced if it exists).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Width in pixels.
    #[arg(long, default_value_t = 960)]
    pub width: u32,
    /// Height in pixels.
    #[arg(long, default_value_t = 640)]
    pub height: u32,
    /// Title over the plot.
    #[arg(long)]
    pub title: Option<String>,
    /// Rows per chunk read.
    #[arg(long, value_name = "N", default_value_t = 500_000)]
    pub rows_per_read: usize,
}

impl FigureArgs {
    fn options(&self) -> Result<PlotOptions> {
        // Checked before the data are read, so a typo costs nothing.
        PlotFormat::of(&self.out)?;
        Ok(PlotOptions {
            width: self.width,
            height: self.height,
            title: self.title.clone(),
            ..PlotOptions::default()
        })
    }
}

/// `rx plot hist <in> --var x [--by g] --out h.png|h.svg`.
#[derive(Debug, Args)]
pub struct HistArgs {
    /// Input file.
    pub input: PathBuf,
    /// The variable to count.
    #[arg(long)]
    pub var: String,
    /// One panel per value of this column.
    #[arg(long)]
    pub by: Option<String>,
    /// About this many bins (R's pretty breaks; default: Sturges' rule).
    #[arg(long, value_name = "N")]
    pub breaks: Option<usize>,
    /// Lowest bin edge (with --end: exactly --breaks equal bins between them).
    #[arg(long, allow_hyphen_values = true)]
    pub start: Option<f64>,
    /// Highest bin edge.
    #[arg(long, allow_hyphen_values = true)]
    pub end: Option<f64>,
    /// Percentages of each group instead of counts.
    #[arg(long)]
    pub percent: bool,
    #[command(flatten)]
    pub figure: FigureArgs,
}

/// `rx plot line <in> --x a --y b [--by g] --out p.png`.
#[derive(Debug, Args)]
pub struct LineArgs {
    /// Input file.
    pub input: PathBuf,
    /// The x variable (numbers, dates or timestamps).
    #[arg(long)]
    pub x: String,
    /// The y variable.
    #[arg(long)]
    pub y: String,
    /// One line per value of this column.
    #[arg(long)]
    pub by: Option<String>,
    #[command(flatten)]
    pub figure: FigureArgs,
}

pub fn run(args: PlotArgs) -> Result<()> {
    match args.kind {
        PlotKind::Hist(a) => run_hist(a),
        PlotKind::Line(a) => run_line(a),
    }
}

fn rx_options(f: &FigureArgs) -> RxOptions {
    RxOptions::default().rows_per_read(f.rows_per_read)
}

fn run_hist(args: HistArgs) -> Result<()> {
    let plot = args.figure.options()?;
    if args.start.is_some() != args.end.is_some() {
        return Err(Error::invalid("--start and --end go together"));
    }
    let source = open_source(&args.input, |t| t)?;
    let options = HistogramOptions {
        by: args.by.clone(),
        num_breaks: args.breaks,
        start_val: args.start,
        end_val: args.end,
        percent: args.percent,
        rx: rx_options(&args.figure),
    };
    let start = std::time::Instant::now();
    let h = rx_histogram(&args.var, source.as_ref(), &options, &RxLocalSeq)?;
    h.save(&args.figure.out, &plot)?;
    let table = h.to_batch()?;
    let text = revoscale::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&table))
        .map_err(|e| Error::arrow("formatting the histogram", e))?;
    println!("{text}");
    for g in &h.groups {
        let name = g
            .label
            .as_deref()
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        if g.missing > 0 || g.out_of_range > 0 {
            println!(
                "{}{name}: {} counted, {} missing, {} outside the bins",
                h.var,
                g.total(),
                g.missing,
                g.out_of_range
            );
        }
    }
    let bins = match &h.bins {
        Bins::Breaks(_) => format!("{} bins", h.bins.len()),
        Bins::Levels(_) => format!("{} levels", h.bins.len()),
    };
    eprintln!(
        "rx plot hist: {} of {} ({bins}, {} group(s), {} pass(es)) -> {} in {:.2} s",
        h.var,
        args.input.display(),
        h.groups.len(),
        h.passes,
        args.figure.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_line(args: LineArgs) -> Result<()> {
    let plot = args.figure.options()?;
    let source = open_source(&args.input, |t| t)?;
    let options = LinePlotOptions {
        by: args.by.clone(),
        resolution: (args.figure.width as usize * 2).max(1024),
        rx: rx_options(&args.figure),
    };
    let start = std::time::Instant::now();
    let p = rx_line_plot(&args.x, &args.y, source.as_ref(), &options, &RxLocalSeq)?;
    p.save(&args.figure.out, &plot)?;
    let points: u64 = p.traces.iter().map(|t| t.points).sum();
    eprintln!(
        "rx plot line: {} by {} of {} ({} line(s), {} points drawn as {}) -> {} in {:.2} s",
        p.y,
        p.x,
        args.input.display(),
        p.traces.len(),
        points,
        p.kept_points(),
        args.figure.out.display(),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
