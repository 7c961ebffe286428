//! rx_histogram and rx_line_plot: counts against a direct count of the rows, one pass when the
//! range is recorded, the same result whatever the chunk size, the M4 reduction keeping extremes,
//! PNG and SVG files, and errors.

use std::sync::Arc;

use arrow::array::{ArrayRef, Date32Array, Float64Array, Int32Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rx_core::{RxLocalSeq, RxOptions};
use rx_data::MemoryData;
use rx_etl::plot::{
    Bins, HistogramOptions, LinePlotOptions, PlotOptions, rx_histogram, rx_line_plot,
};

use crate::common::{self, DAYS};

/// R's hist(): bins closed on the right, the first also on the left.
fn direct_counts(values: &[f64], breaks: &[f64]) -> Vec<u64> {
    let mut c = vec![0; breaks.len() - 1];
    for &v in values {
        for i in 0..c.len() {
            if (i == 0 && v >= breaks[0] && v <= breaks[1]) || (v > breaks[i] && v <= breaks[i + 1])
            {
                c[i] += 1;
                break;
            }
        }
    }
    c
}

fn delays(rows: usize, day: Option<usize>) -> Vec<f64> {
    (0..rows)
        .filter(|&i| day.is_none_or(|d| i % 11 != 4 && i % 7 == d))
        .filter_map(common::arr_delay)
        .filter(|v| !v.is_nan())
        .collect()
}

#[test]
fn numeric_histogram_counts_every_row_in_r_bins_by_group() {
    let rows = 5_000;
    let mem = MemoryData::from_batches(common::batches(rows, 700)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let xdf = common::xdf(dir.path(), "h.xdf", rows, 700);

    let opts = HistogramOptions::default();
    let h_mem = rx_histogram("ArrDelay", &mem, &opts, &RxLocalSeq).unwrap();
    let h_xdf = rx_histogram("ArrDelay", &xdf, &opts, &RxLocalSeq).unwrap();
    // The memory source has no recorded range: a range pass, then the counts; the .xdf file
    // records low/high, so one pass.
    assert_eq!((h_mem.passes, h_xdf.passes), (2, 1));
    assert_eq!(h_mem.groups, h_xdf.groups);
    let Bins::Breaks(breaks) = &h_mem.bins else {
        panic!("numeric bins expected")
    };
    // Values -40..=140; Sturges for 5000 rows asks for 14 bins; pretty() gives steps of 10.
    assert_eq!(breaks.first(), Some(&-40.0));
    assert_eq!(breaks.last(), Some(&140.0));
    assert_eq!(breaks.len(), 19);
    let all = delays(rows, None);
    let g = &h_mem.groups[0];
    assert_eq!(g.counts, direct_counts(&all, breaks));
    assert_eq!(g.total() as usize, all.len());
    let missing = (0..rows)
        .filter(|&i| common::arr_delay(i).is_none_or(f64::is_nan))
        .count();
    assert_eq!(g.missing as usize, missing);

    // By day: a panel per level, in level order, each counted directly.
    let by = rx_histogram("ArrDelay", &xdf, &opts.clone().by("DayOfWeek"), &RxLocalSeq).unwrap();
    let labels: Vec<_> = by.groups.iter().map(|g| g.label.clone().unwrap()).collect();
    assert_eq!(labels, DAYS);
    for (d, g) in by.groups.iter().enumerate() {
        assert_eq!(
            g.counts,
            direct_counts(&delays(rows, Some(d)), breaks),
            "{}",
            DAYS[d]
        );
    }

    // The same counts whatever the chunk size.
    let small = HistogramOptions {
        rx: RxOptions::default().rows_per_read(97),
        ..opts.clone().by("DayOfWeek")
    };
    let by_small = rx_histogram("ArrDelay", &mem, &small, &RxLocalSeq).unwrap();
    assert_eq!(by_small.groups, by.groups);

    // The table: one row per group and bin.
    let t = by.to_batch().unwrap();
    assert_eq!(t.num_rows(), 7 * (breaks.len() - 1));
    let names: Vec<_> = t
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["DayOfWeek", "bin_low", "bin_high", "count", "percent"]
    );
}

#[test]
fn fixed_range_bins_count_outside_values_apart() {
    let mem = MemoryData::from_batches(common::batches(2_000, 500)).unwrap();
    let opts = HistogramOptions {
        start_val: Some(0.0),
        end_val: Some(100.0),
        num_breaks: Some(4),
        ..HistogramOptions::default()
    };
    let h = rx_histogram("ArrDelay", &mem, &opts, &RxLocalSeq).unwrap();
    assert_eq!(h.passes, 1);
    assert_eq!(h.bins, Bins::Breaks(vec![0.0, 25.0, 50.0, 75.0, 100.0]));
    let all = delays(2_000, None);
    let inside = all.iter().filter(|v| (0.0..=100.0).contains(*v)).count() as u64;
    assert_eq!(h.groups[0].total(), inside);
    assert_eq!(h.groups[0].out_of_range, all.len() as u64 - inside);
}

#[test]
fn factor_and_text_histograms_count_levels_including_empty_ones() {
    let rows = 3_000;
    let mem = MemoryData::from_batches(common::batches(rows, 400)).unwrap();
    let h = rx_histogram("DayOfWeek", &mem, &HistogramOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(
        h.bins,
        Bins::Levels(DAYS.iter().map(|s| s.to_string()).collect())
    );
    for (d, &c) in h.groups[0].counts.iter().enumerate() {
        let direct = (0..rows).filter(|&i| i % 11 != 4 && i % 7 == d).count() as u64;
        assert_eq!(c, direct, "{}", DAYS[d]);
    }
    assert_eq!(
        h.groups[0].missing,
        (0..rows).filter(|&i| i % 11 == 4).count() as u64
    );

    // A level with no rows keeps its (empty) bin: keep only Mondays, then count.
    let monday = common::batches(rows, 400)
        .into_iter()
        .map(|b| {
            let keep = arrow::compute::kernels::cmp::eq(
                &arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap(),
                &StringArray::new_scalar("Monday"),
            )
            .unwrap();
            arrow::compute::filter_record_batch(&b, &keep).unwrap()
        })
        .collect();
    let mon = MemoryData::new(common::schema(), monday).unwrap();
    let h = rx_histogram("DayOfWeek", &mon, &HistogramOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(h.bins.len(), 7);
    assert_eq!(&h.groups[0].counts[1..], &[0; 6]);

    // Text: one bin per value, sorted; by a factor.
    let h = rx_histogram(
        "Origin",
        &mem,
        &HistogramOptions::default().by("DayOfWeek"),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(
        h.bins,
        Bins::Levels(["JFK", "LAX", "ORD", "SFO"].map(String::from).to_vec())
    );
    let total: u64 = h.groups.iter().map(|g| g.total()).sum();
    let direct = (0..rows)
        .filter(|&i| i % 11 != 4 && common::origin(i).is_some())
        .count();
    assert_eq!(total as usize, direct);
}

#[test]
fn histograms_and_line_plots_write_png_and_svg_files() {
    let dir = tempfile::tempdir().unwrap();
    let xdf = common::xdf(dir.path(), "p.xdf", 4_000, 1_000);
    let h = rx_histogram(
        "ArrDelay",
        &xdf,
        &HistogramOptions::default().by("DayOfWeek"),
        &RxLocalSeq,
    )
    .unwrap();
    let png = dir.path().join("h.png");
    h.save(&png, &PlotOptions::default()).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        bytes.len() > 5_000,
        "a drawn PNG, not an empty one: {} bytes",
        bytes.len()
    );
    let svg = dir.path().join("h.svg");
    h.save(&svg, &PlotOptions::default().title("Delays"))
        .unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    assert!(text.contains("Delays") && text.contains("DayOfWeek = Friday"));
    assert!(text.matches("<rect").count() > 7 * 18);

    let f = rx_histogram("DayOfWeek", &xdf, &HistogramOptions::default(), &RxLocalSeq).unwrap();
    let fsvg = dir.path().join("f.svg");
    f.save(&fsvg, &PlotOptions::default()).unwrap();
    assert!(
        std::fs::read_to_string(&fsvg)
            .unwrap()
            .contains("Wednesday")
    );

    let l = rx_line_plot(
        "Distance",
        "ArrDelay",
        &xdf,
        &LinePlotOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    let lpng = dir.path().join("l.png");
    l.save(&lpng, &PlotOptions::default()).unwrap();
    assert_eq!(&std::fs::read(&lpng).unwrap()[..4], b"\x89PNG");

    // A bad extension is refused before anything is written; nothing is left behind.
    let err = h
        .save(dir.path().join("h.jpg"), &PlotOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("use a .png or .svg"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

fn series(n: usize, block: usize) -> MemoryData {
    // x = 0..n sorted, y a sawtooth with one spike; group g alternates in blocks of 1000 rows;
    // y is missing at row 5000 (a gap in group A's line).
    let schema = Arc::new(Schema::new(vec![
        Field::new("t", DataType::Int32, false),
        Field::new("y", DataType::Float64, true),
        Field::new("g", DataType::Utf8, false),
    ]));
    let batches = (0..n)
        .step_by(block)
        .map(|s| {
            let r = s..(s + block).min(n);
            let cols: Vec<ArrayRef> = vec![
                Arc::new(Int32Array::from_iter_values(r.clone().map(|i| i as i32))),
                Arc::new(Float64Array::from_iter(r.clone().map(|i| match i {
                    5_000 => None,
                    77_777 => Some(1e6),
                    _ => Some((i % 100) as f64),
                }))),
                Arc::new(StringArray::from_iter_values(
                    r.map(|i| if (i / 1000) % 2 == 0 { "A" } else { "B" }),
                )),
            ];
            RecordBatch::try_new(schema.clone(), cols).unwrap()
        })
        .collect();
    MemoryData::new(schema, batches).unwrap()
}

#[test]
fn line_plot_reduces_points_but_keeps_extremes_gaps_and_order() {
    let n = 200_000;
    let opts = LinePlotOptions {
        resolution: 1000,
        ..LinePlotOptions::default()
    };
    let p = rx_line_plot("t", "y", &series(n, 8192), &opts, &RxLocalSeq).unwrap();
    assert_eq!(p.passes, 2);
    assert_eq!(p.traces.len(), 1);
    let t = &p.traces[0];
    assert_eq!(t.points as usize, n - 1);
    // At most 4 points per column (and the gap's split column once more).
    assert!(
        p.kept_points() <= 4 * 1000 + 4,
        "{} points kept",
        p.kept_points()
    );
    assert_eq!(
        t.segments.len(),
        2,
        "the missing y at row 5000 breaks the line"
    );
    assert_eq!(t.segments[0].first(), Some(&(0.0, 0.0)));
    assert_eq!(t.segments[1].last(), Some(&((n - 1) as f64, 99.0)));
    assert_eq!(p.y_range, (0.0, 1e6));
    assert_eq!(p.x_range, (0.0, (n - 1) as f64));
    assert!(
        t.segments
            .iter()
            .flatten()
            .any(|&(x, y)| x == 77_777.0 && y == 1e6)
    );
    // Data order is kept: x never decreases within a piece of this sorted series.
    for s in &t.segments {
        assert!(s.windows(2).all(|w| w[0].0 <= w[1].0));
    }
    // The same lines whatever the chunk size.
    let q = rx_line_plot("t", "y", &series(n, 1000), &opts, &RxLocalSeq).unwrap();
    assert_eq!(p.traces, q.traces);

    // Grouped: one line per group, each with its own points.
    let g = rx_line_plot(
        "t",
        "y",
        &series(n, 8192),
        &LinePlotOptions {
            by: Some("g".into()),
            ..opts
        },
        &RxLocalSeq,
    )
    .unwrap();
    let labels: Vec<_> = g.traces.iter().map(|t| t.label.clone().unwrap()).collect();
    assert_eq!(labels, ["A", "B"]);
    assert_eq!(g.traces[0].points + g.traces[1].points, (n - 1) as u64);
}

#[test]
fn line_plot_over_dates_and_errors_name_the_column() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("day", DataType::Date32, false),
        Field::new("v", DataType::Float64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let b = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(Date32Array::from_iter_values(19_000..19_100)),
            Arc::new(Float64Array::from_iter_values(
                (0..100).map(|i| (i as f64).sqrt()),
            )),
            Arc::new(StringArray::from_iter_values(
                (0..100).map(|i| format!("n{i}")),
            )),
        ],
    )
    .unwrap();
    let mem = MemoryData::new(schema, vec![b]).unwrap();
    let p = rx_line_plot("day", "v", &mem, &LinePlotOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(p.x_range, (19_000.0, 19_099.0));
    assert_eq!(p.x_scale.label(19_000.0), "2022-01-08");
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("d.svg");
    p.save(&svg, &PlotOptions::default()).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("2022-"));

    let e = rx_line_plot(
        "day",
        "name",
        &mem,
        &LinePlotOptions::default(),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("'name'") && e.to_string().contains("numbers, dates"),
        "{e}"
    );
    let e = rx_line_plot("nope", "v", &mem, &LinePlotOptions::default(), &RxLocalSeq).unwrap_err();
    assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
    let e = rx_histogram(
        "v",
        &mem,
        &HistogramOptions::default().by("missing_col"),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("'missing_col'"), "{e}");
    let e = rx_histogram(
        "v",
        &mem,
        &HistogramOptions::default().num_breaks(0),
        &RxLocalSeq,
    )
    .unwrap_err();
    assert!(e.to_string().contains("num_breaks"), "{e}");
}
