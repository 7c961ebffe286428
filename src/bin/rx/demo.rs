//! `rx demo`: an end-to-end walk-through on the sample data that ships inside the binary.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{
    DataSink, DataSource, Error, ReadOptions, Result, WriteOptions, copy_chunks,
};
use revoscale::data::{ParquetData, TextData};
use revoscale::xdf::{XdfData, rx_get_info, rx_read_xdf};

/// The sample data: 5,000 rows shaped like revoscalepy's AirlineDemoSmall (made by
/// ../shared/peers/gen_data.py --airline 5000).
const AIRLINE_CSV: &[u8] = include_bytes!("../../../data/AirlineDemoSmall.csv");

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's files (created; existing demo files in it are replaced).
    #[arg(long, default_value = "rx-demo")]
    pub dir: PathBuf,
}

fn step(n: u32, what: &str) {
    println!("\n== {n}. {what}");
}

pub fn run(args: DemoArgs) -> Result<()> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let csv = dir.join("AirlineDemoSmall.csv");
    std::fs::write(&csv, AIRLINE_CSV).map_err(|e| Error::io(&csv, e))?;
    println!("revoscale demo: files go to {}", dir.display());

    step(
        1,
        "Import the CSV into an .xdf file (types sniffed, strings as factors)",
    );
    let text = TextData::new(&csv)
        .strings_as_factors(true)
        .rows_per_read(1000);
    let xdf_path = dir.join("airline.xdf");
    let xdf = XdfData::new(&xdf_path);
    let rows = copy_chunks(
        text.open(&ReadOptions::default())?,
        xdf.create(text.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    println!("imported {rows} rows -> {}", xdf_path.display());

    step(2, "rx info: rows, blocks, variables");
    let info = rx_get_info(&xdf_path, 5)?;
    print!("{info}");
    print!("{}", revoscale::xdf::info::format_var_info(&info.vars));
    if let Some(h) = &info.head {
        let t = revoscale::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(h))
            .map_err(|e| Error::arrow("printing", e))?;
        println!("{t}");
    }

    step(
        3,
        "Read two columns only (a projection reads just their bytes)",
    );
    let two = rx_read_xdf(
        &xdf_path,
        Some(&["DayOfWeek".to_string(), "ArrDelay".to_string()]),
    )?;
    println!(
        "read {} rows x {} columns: {:?}",
        two.num_rows(),
        two.num_columns(),
        two.schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
    );

    step(
        4,
        "Append the same rows again (factor codes keep their meaning)",
    );
    let again = TextData::new(&csv)
        .strings_as_factors(true)
        .rows_per_read(1000);
    copy_chunks(
        again.open(&ReadOptions::default())?,
        xdf.create(again.schema()?, &WriteOptions::default().append())?,
        |_| {},
    )?;
    let info = rx_get_info(&xdf_path, 0)?;
    println!("now {} rows in {} blocks", info.num_rows, info.num_blocks);

    step(5, "Export to Parquet and back to CSV");
    let pq = dir.join("airline.parquet");
    let pq_sink = ParquetData::new(&pq);
    copy_chunks(
        xdf.open(&ReadOptions::default())?,
        pq_sink.create(xdf.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    let out_csv = dir.join("airline_export.csv");
    let csv_sink = TextData::new(&out_csv);
    let n = copy_chunks(
        xdf.open(&ReadOptions::default())?,
        csv_sink.create(xdf.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    println!(
        "{} and {} written ({n} rows)",
        pq.display(),
        out_csv.display()
    );

    step(
        6,
        "A composite set: a directory of part files plus a metadata file",
    );
    let comp_dir = dir.join("airline_set");
    let comp = XdfData::composite(&comp_dir);
    copy_chunks(
        xdf.open(&ReadOptions::default().rows_per_read(2500))?,
        comp.create(xdf.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    let ci = rx_get_info(&comp_dir, 0)?;
    println!(
        "{}: {} rows in {} parts/blocks",
        comp_dir.display(),
        ci.num_rows,
        ci.num_blocks
    );

    models(dir, &xdf)?;
    etl(dir, &xdf_path)?;
    trees(dir, &xdf)?;
    in_database(dir, &xdf)?;

    println!(
        "\nDone. Try: rx info {} --vars --head 5",
        xdf_path.display()
    );
    println!(
        "     rx linmod {} --formula \"ArrDelay ~ CRSDepTime + DayOfWeek\"",
        xdf_path.display()
    );
    println!(
        "     rx datastep {} late.xdf --where \"ArrDelay > 15\" --transform \"Hours = CRSDepTime / 24\"",
        xdf_path.display()
    );
    println!(
        "     rx plot hist {} --var ArrDelay --by DayOfWeek --out delays.png",
        xdf_path.display()
    );
    println!(
        "     rx btrees {} --formula \"F(Late) ~ CRSDepTime + DayOfWeek + Distance\" --n-tree 50 --max-depth 3 --json",
        xdf_path.display()
    );
    Ok(())
}

/// Steps 18–20: a decision tree, a random forest and boosted trees, and their predictions.
fn trees(dir: &std::path::Path, xdf: &XdfData) -> Result<()> {
    use revoscale::core::RxLocalSeq;
    use revoscale::models::tree::{
        BTreesOptions, DForestOptions, DTreeOptions, rx_btrees, rx_dforest, rx_dtree,
    };
    use revoscale::predict::{Model, PredictOptions, PredictType, rx_predict_default};

    step(
        18,
        "rx_dtree: a regression tree of arrival delay (pruned at cp = 0.01, 5-fold cp table)",
    );
    let tree = rx_dtree(
        "ArrDelay ~ CRSDepTime + DayOfWeek + Distance",
        xdf,
        &DTreeOptions {
            cp: 0.01,
            x_val: 5,
            max_depth: 4,
            ..DTreeOptions::default()
        },
        &RxLocalSeq,
    )?;
    println!("{tree}");
    for row in &tree.cptable {
        println!(
            "  CP {:.5}  nsplit {:>2}  rel error {:.5}  xerror {:.5}",
            row.cp,
            row.nsplit,
            row.rel_error,
            row.xerror.unwrap_or(f64::NAN)
        );
    }

    step(
        19,
        "rx_dforest: 50 trees for Late; out-of-bag error; the same forest on any number of threads",
    );
    let forest = rx_dforest(
        "F(Late) ~ CRSDepTime + DayOfWeek + Distance",
        xdf,
        &DForestOptions {
            n_tree: 50,
            seed: 7,
            ..DForestOptions::default()
        },
        &RxLocalSeq,
    )?;
    if let Some(e) = forest.oob_error.last() {
        println!(
            "{} trees, m_try {}: out-of-bag error rate {:.2}%",
            forest.trees.len(),
            forest.m_try,
            100.0 * e.error
        );
    }
    for (name, v) in &forest.importance {
        println!("  importance {name:<12} {v:>10.2}");
    }

    step(
        20,
        "rx_btrees: boosting (bernoulli loss) and its probabilities for every flight",
    );
    let boosted = rx_btrees(
        "F(Late) ~ CRSDepTime + DayOfWeek + Distance",
        xdf,
        &BTreesOptions {
            n_tree: 50,
            max_depth: 3,
            seed: 7,
            ..BTreesOptions::default()
        },
        &RxLocalSeq,
    )?;
    println!(
        "{} rounds: out-of-bag deviance {:.4} after the first, {:.4} after the last",
        boosted.oob_error.len(),
        boosted.oob_error.first().copied().unwrap_or(f64::NAN),
        boosted.oob_error.last().copied().unwrap_or(f64::NAN)
    );
    let out = dir.join("late_prob.csv");
    let summary = rx_predict_default(
        &Model::from(boosted),
        xdf,
        &TextData::new(&out),
        &PredictOptions::default()
            .predict_type(PredictType::Prob)
            .extra_vars_to_write(["Late"])
            .overwrite(true),
    )?;
    println!(
        "{} rows -> {} with columns {:?}",
        summary.rows,
        out.display(),
        summary.columns
    );
    Ok(())
}

/// Steps 12–15: a data step with SQL, a sort, a merge and a partitioned set.
fn etl(dir: &std::path::Path, xdf_path: &std::path::Path) -> Result<()> {
    use std::sync::Arc;

    use revoscale::arrow::array::{BooleanArray, RecordBatch, StringArray};
    use revoscale::arrow::datatypes::{DataType, Field, Schema};
    use revoscale::data::MemoryData;
    use revoscale::etl::{
        DataStepOptions, MergeHow, MergeOptions, SortOptions, parse_sort_keys, rx_data_step,
        rx_merge, rx_partition, rx_sort,
    };

    let input: Arc<dyn DataSource> = Arc::new(XdfData::new(xdf_path));
    step(
        12,
        "rx_data_step: late Monday and Friday flights, with two new columns (SQL on DataFusion)",
    );
    let late_path = dir.join("late.xdf");
    let late = XdfData::new(&late_path);
    let out = rx_data_step(
        input.clone(),
        Some(&late),
        DataStepOptions::default()
            .row_selection("ArrDelay > 15 AND DayOfWeek IN ('Monday', 'Friday')")
            .transform("VeryLate", "ArrDelay > 60")
            .transform("DepHour", "CAST(floor(CRSDepTime) AS INT)")
            .vars_to_keep(["ArrDelay", "CRSDepTime", "DayOfWeek"])
            .overwrite(),
    )?;
    println!("{} rows -> {}", out.rows, late_path.display());

    step(
        13,
        "rx_sort: by day of week (level order), then longest delay first",
    );
    let sorted_path = dir.join("late_sorted.xdf");
    let mut options = SortOptions::by(parse_sort_keys("DayOfWeek,-ArrDelay")?);
    options.write = WriteOptions::default().overwrite();
    let arc_late: Arc<dyn DataSource> = Arc::new(late);
    rx_sort(arc_late.clone(), Some(&XdfData::new(&sorted_path)), options)?;
    let head = rx_get_info(&sorted_path, 4)?;
    if let Some(h) = &head.head {
        let t = revoscale::arrow::util::pretty::pretty_format_batches(std::slice::from_ref(h))
            .map_err(|e| Error::arrow("printing", e))?;
        println!("{t}");
    }

    step(
        14,
        "rx_merge: a left merge with a small table of weekend flags",
    );
    let days = ["Monday", "Friday", "Saturday", "Sunday"];
    let schema = Arc::new(Schema::new(vec![
        Field::new("DayOfWeek", DataType::Utf8, false),
        Field::new("Weekend", DataType::Boolean, false),
    ]));
    let table = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(days.to_vec())),
            Arc::new(BooleanArray::from(vec![false, false, true, true])),
        ],
    )
    .map_err(|e| Error::arrow("the weekend table", e))?;
    // The merge keys must have one type: the day column becomes a factor here too.
    let weekend = rx_data_step(
        Arc::new(MemoryData::new(schema, vec![table])?),
        None,
        DataStepOptions::default().strings_as_factors(true),
    )?;
    let weekend: Arc<dyn DataSource> = Arc::new(
        weekend
            .data
            .ok_or_else(|| Error::invalid("no weekend table"))?,
    );
    let merged = rx_merge(
        arc_late,
        weekend,
        None,
        MergeOptions::on(MergeHow::Left, ["DayOfWeek"]),
    )?;
    println!("{} rows, columns now include Weekend", merged.rows);

    step(
        15,
        "rx_partition: one .xdf file per day of week, and a partitions table",
    );
    let parts_dir = dir.join("by_day");
    let parts = rx_partition(
        input,
        &parts_dir,
        &["DayOfWeek".to_string()],
        &revoscale::etl::PartitionOptions {
            overwrite: true,
            ..Default::default()
        },
    )?;
    for p in &parts {
        println!("  {}/{}: {} rows", parts_dir.display(), p.file, p.rows);
    }
    plots(dir, xdf_path, &sorted_path)
}

/// Steps 16–17: a histogram by group and a line plot, streamed from .xdf files.
fn plots(
    dir: &std::path::Path,
    xdf_path: &std::path::Path,
    late_path: &std::path::Path,
) -> Result<()> {
    use std::sync::Arc;

    use revoscale::core::RxLocalSeq;
    use revoscale::etl::plot::{
        HistogramOptions, LinePlotOptions, PlotOptions, rx_histogram, rx_line_plot,
    };
    use revoscale::etl::{SortOptions, parse_sort_keys, rx_sort};

    step(
        16,
        "rx_histogram: arrival delay by day of week, one pass over the chunks",
    );
    let h = rx_histogram(
        "ArrDelay",
        &XdfData::new(xdf_path),
        &HistogramOptions::default().by("DayOfWeek"),
        &RxLocalSeq,
    )?;
    for ext in ["png", "svg"] {
        let path = dir.join(format!("arrdelay_by_day.{ext}"));
        h.save(&path, &PlotOptions::default())?;
        println!("{}", path.display());
    }
    println!(
        "{} bins, {} panels, {} pass(es); Monday: {} delays counted",
        h.bins.len(),
        h.groups.len(),
        h.passes,
        h.counts_of(Some("Monday"))
            .map_or(0, |c| c.iter().sum::<u64>())
    );

    step(
        17,
        "rx_line_plot: late flights' delay by departure time, a line per day",
    );
    let by_time = dir.join("late_by_time.xdf");
    let mut options = SortOptions::by(parse_sort_keys("CRSDepTime")?);
    options.write = WriteOptions::default().overwrite();
    rx_sort(
        Arc::new(XdfData::new(late_path)),
        Some(&XdfData::new(&by_time)),
        options,
    )?;
    let p = rx_line_plot(
        "CRSDepTime",
        "ArrDelay",
        &XdfData::new(&by_time),
        &LinePlotOptions::default().by("DayOfWeek"),
        &RxLocalSeq,
    )?;
    let path = dir.join("late_by_time.png");
    p.save(&path, &PlotOptions::default())?;
    println!(
        "{}: {} lines, {} points",
        path.display(),
        p.traces.len(),
        p.traces.iter().map(|t| t.points).sum::<u64>()
    );
    Ok(())
}

/// Steps 7–11: summaries, a cross-tabulation, a linear and a logistic model, chunked and
/// real-time predictions.
fn models(dir: &std::path::Path, xdf: &XdfData) -> Result<()> {
    use revoscale::core::RxLocalSeq;
    use revoscale::models::cube::CrossTabsOptions;
    use revoscale::models::glm::{LogitOptions, rx_logit};
    use revoscale::models::linmod::{LinModOptions, rx_lin_mod};
    use revoscale::models::{SummaryOptions, rx_crosstabs, rx_summary};
    use revoscale::predict::{
        Interval, Model, PredictOptions, Scorer, Value, rx_load_model, rx_predict_default,
        rx_save_model,
    };

    step(7, "rx_summary: statistics per variable and by day of week");
    let s = rx_summary(
        "~ ArrDelay + CRSDepTime + DayOfWeek",
        xdf,
        &SummaryOptions::default(),
        &RxLocalSeq,
    )?;
    println!("{s}");
    let by = rx_summary(
        "ArrDelay ~ DayOfWeek",
        xdf,
        &SummaryOptions::default(),
        &RxLocalSeq,
    )?;
    println!("{by}");

    step(
        8,
        "rx_crosstabs: late flights by day, with a chi-square test",
    );
    let t = rx_crosstabs(
        "~ F(Late):DayOfWeek",
        xdf,
        &CrossTabsOptions::default().marginals(true).chisq_test(true),
        &RxLocalSeq,
    )?;
    println!("{t}");

    step(
        9,
        "rx_lin_mod: arrival delay on departure time and day of week",
    );
    let fit = rx_lin_mod(
        "ArrDelay ~ CRSDepTime + DayOfWeek",
        xdf,
        &LinModOptions::default(),
        &RxLocalSeq,
    )?;
    println!("{fit}");
    let model_path = dir.join("arrdelay_model.json");
    let model = Model::LinMod(fit);
    rx_save_model(&model, &model_path)?;
    println!("model saved to {}", model_path.display());

    step(10, "rx_logit: the chance of a late flight");
    let logit = rx_logit(
        "Late ~ CRSDepTime + Distance + DayOfWeek",
        xdf,
        &LogitOptions::default(),
        &RxLocalSeq,
    )?;
    println!("{logit}");

    step(
        11,
        "rx_predict: the saved model scores the data (chunked) and one row (real time)",
    );
    let loaded = rx_load_model(&model_path)?;
    let pred_path = dir.join("arrdelay_pred.csv");
    // The demo owns its folder: a second run replaces the first one's predictions.
    if pred_path.exists() {
        std::fs::remove_file(&pred_path).map_err(|e| Error::io(&pred_path, e))?;
    }
    let summary = rx_predict_default(
        &loaded,
        xdf,
        &TextData::new(&pred_path),
        &PredictOptions::default()
            .compute_residuals(true)
            .compute_std_errors(true)
            .interval(Interval::Prediction),
    )?;
    println!(
        "{} rows -> {} with columns {:?}",
        summary.rows,
        pred_path.display(),
        summary.columns
    );
    let scorer = Scorer::new(&loaded)?;
    let one = scorer.score(&[
        ("CRSDepTime", Value::Num(17.5)),
        ("DayOfWeek", Value::Text("Friday")),
    ])?;
    println!(
        "one Friday 17:30 departure: predicted ArrDelay {:.2} minutes",
        one.pred.unwrap_or(f64::NAN)
    );
    Ok(())
}

/// Step 21: the linear model of step 9 fitted inside SQLite (when its ODBC driver is present):
/// only aggregates come back.
#[cfg(feature = "odbc")]
fn in_database(dir: &std::path::Path, xdf: &XdfData) -> Result<()> {
    use revoscale::compute::RxInDatabase;
    use revoscale::core::RxLocalSeq;
    use revoscale::data::odbc::{ConnectionString, From, RxOdbcData};
    use revoscale::models::cube::CrossTabsOptions;
    use revoscale::models::glm::{LogitOptions, rx_logit};
    use revoscale::models::linmod::{LinModOptions, rx_lin_mod};
    step(
        21,
        "In-database: the models of steps 9 and 10 inside SQLite, through ODBC (RxInDatabase)",
    );
    let driver = std::env::var("RX_SQLITE_ODBC_DRIVER")
        .unwrap_or_else(|_| "/usr/lib/x86_64-linux-gnu/odbc/libsqlite3odbc.so".into());
    if !std::path::Path::new(&driver).exists() {
        println!(
            "skipped: no SQLite ODBC driver at {driver} (apt-get install libsqliteodbc, or set RX_SQLITE_ODBC_DRIVER)"
        );
        return Ok(());
    }
    let db = dir.join("airline.db");
    if db.exists() {
        std::fs::remove_file(&db).map_err(|e| Error::io(&db, e))?;
    }
    let table = RxOdbcData::with(
        ConnectionString::new(format!("Driver={driver};Database={}", db.display())),
        From::Table("airline".into()),
    );
    let rows = copy_chunks(
        xdf.open(&ReadOptions::default())?,
        table.create(xdf.schema()?, &WriteOptions::default().overwrite())?,
        |_| {},
    )?;
    println!("{rows} rows -> table airline in {}", db.display());
    let formula = "ArrDelay ~ CRSDepTime + DayOfWeek";
    let options = LinModOptions::default();
    let fit = RxInDatabase::new().lin_mod(formula, &table, &options)?;
    println!("{fit}");
    // The same model with the rows streamed over ODBC into the local algorithm (the table's text
    // column has its levels sorted, as R's factor() does, in both).
    let local = rx_lin_mod(formula, &table, &options, &RxLocalSeq)?;
    let worst = local
        .coefficients
        .iter()
        .filter_map(|a| {
            let b = fit.coefficients.iter().find(|b| b.term == a.term)?;
            Some((a.estimate?, b.estimate?))
        })
        .map(|(a, b)| (a - b).abs() / a.abs().max(f64::MIN_POSITIVE))
        .fold(0.0f64, f64::max);
    println!(
        "the database sent back sums and cross-products only; largest relative difference from the fit on the streamed rows: {worst:.1e}"
    );
    // Step 10's logistic regression: one GROUP BY query per IRLS iteration.
    let formula = "Late ~ CRSDepTime + Distance + DayOfWeek";
    let options = LogitOptions::default();
    let indb = RxInDatabase::new().logit(formula, &table, &options)?;
    let file = rx_logit(formula, xdf, &options, &RxLocalSeq)?;
    println!(
        "rx_logit inside SQLite: {} IRLS iterations, one aggregate query each; deviance {:.6} (on the .xdf file: {:.6}), AIC {:.4}",
        indb.iterations,
        indb.deviance,
        file.deviance,
        indb.aic.unwrap_or(f64::NAN)
    );
    // Step 8's cross tabulation as GROUP BY queries.
    let tabs =
        RxInDatabase::new().crosstabs("~ DayOfWeek", &table, &CrossTabsOptions::default())?;
    if let Some(t) = tabs.tables.first() {
        println!(
            "rx_crosstabs inside SQLite: {} flights over {} days",
            t.marginals.total,
            t.levels.first().map_or(0, Vec::len)
        );
    }
    Ok(())
}

/// Step 21 needs ODBC: say how to get it.
#[cfg(not(feature = "odbc"))]
fn in_database(_dir: &std::path::Path, _xdf: &XdfData) -> Result<()> {
    step(21, "In-database fits (RxInDatabase)");
    println!(
        "skipped: this build has no ODBC support; `cargo run --release --features odbc -- demo` (needs unixodbc-dev and libsqliteodbc) fits step 9's model inside SQLite"
    );
    Ok(())
}
