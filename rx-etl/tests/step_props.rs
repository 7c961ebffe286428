//! Property tests: a data step with a random selection and projection equals the same query run by
//! DataFusion on all the data in memory, from .xdf and from Parquet (where the selection is pushed
//! into the reader as a row filter); re-blocking keeps every row.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use proptest::prelude::*;
use rx_core::DataSource;
use rx_etl::{DataStepOptions, rx_data_step};

use crate::common::{self, read_all};

fn predicate() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        (-50i32..150).prop_map(|c| format!("ArrDelay > {c}")),
        (0i32..2500).prop_map(|c| format!("Distance <= {c}")),
        prop::sample::select(common::DAYS.to_vec()).prop_map(|d| format!("DayOfWeek = '{d}'")),
        prop::sample::select(vec!["JFK", "LAX", "ORD", "SFO"])
            .prop_map(|o| format!("Origin <> '{o}'")),
        Just("ArrDelay IS NULL".to_string()),
        Just("Origin IS NOT NULL".to_string()),
    ];
    atom.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) AND ({b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a}) OR ({b})")),
            inner.prop_map(|a| format!("NOT ({a})")),
        ]
    })
}

fn columns() -> impl Strategy<Value = Vec<&'static str>> {
    prop::sample::subsequence(vec!["ArrDelay", "DayOfWeek", "Origin", "Distance"], 1..=4)
}

/// The same query on one in-memory table, by DataFusion directly.
fn reference(batches: Vec<RecordBatch>, pred: &str, cols: &[&str]) -> RecordBatch {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let schema = batches[0].schema();
    let mut config = datafusion::prelude::SessionConfig::new().with_target_partitions(1);
    config.options_mut().sql_parser.enable_ident_normalization = false;
    let ctx = SessionContext::new_with_config(config);
    let table = MemTable::try_new(schema.clone(), vec![batches]).unwrap();
    ctx.register_table("t", Arc::new(table)).unwrap();
    let sql = format!(
        "SELECT {} FROM t WHERE {pred}",
        cols.iter()
            .map(|c| format!("\"{c}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (s, out) = rt
        .block_on(async {
            let df = ctx.sql(&sql).await?;
            let s = Arc::new(df.schema().as_arrow().clone());
            Ok::<_, datafusion::error::DataFusionError>((s, df.collect().await?))
        })
        .unwrap();
    arrow::compute::concat_batches(&s, &out).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_step_equals_datafusion_on_the_whole_data(
        pred in predicate(),
        cols in columns(),
        block in 17usize..300,
        rows_per_read in prop::option::of(1usize..200),
        parquet in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut input: Arc<dyn DataSource> =
            Arc::new(common::xdf(dir.path(), "in.xdf", 700, block));
        if parquet {
            // Row groups of `block` rows, so several are decoded ahead with the filter.
            let pq = rx_data::ParquetData::new(dir.path().join("in.parquet"));
            let opts = DataStepOptions {
                write: rx_core::WriteOptions::default().rows_per_block(block),
                ..Default::default()
            };
            rx_data_step(input, Some(&pq), opts).unwrap();
            input = Arc::new(pq);
        }
        let mut opts = DataStepOptions::default()
            .row_selection(pred.clone())
            .vars_to_keep(cols.clone());
        opts.rows_per_read = rows_per_read;
        let res = rx_data_step(input, None, opts).unwrap();
        let got = read_all(&res.data.unwrap());
        // revoscale reads NaN as missing, so the reference data hold nulls where the file has NaN.
        let want = reference(common::nan_as_null(common::batches(700, 700)), &pred, &cols);
        prop_assert_eq!(got.num_rows(), want.num_rows());
        for c in &cols {
            prop_assert_eq!(
                common::strings(&got, c),
                common::strings(&want, c),
                "column {}", c
            );
        }
    }
}
