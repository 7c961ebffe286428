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

    println!(
        "\nDone. Try: rx info {} --vars --head 5",
        xdf_path.display()
    );
    println!(
        "     rx linmod {} --formula \"ArrDelay ~ CRSDepTime + DayOfWeek\"",
        xdf_path.display()
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
