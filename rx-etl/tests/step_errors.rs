//! Bad expressions and columns: errors that quote the expression and name the problem; a failed
//! step leaves no output, and an output it was replacing intact.

use std::sync::Arc;

use rx_core::DataSource;
use rx_etl::{DataStepOptions, Transform, rx_data_step};
use rx_xdf::XdfData;

use crate::common::{self, read_all};

fn err(opts: DataStepOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let input: Arc<dyn DataSource> = Arc::new(common::xdf(dir.path(), "in.xdf", 300, 64));
    let out = XdfData::new(dir.path().join("out.xdf"));
    let e = rx_data_step(input, Some(&out), opts)
        .unwrap_err()
        .to_string();
    assert!(
        !dir.path().join("out.xdf").exists(),
        "a failed step left an output: {e}"
    );
    e
}

#[test]
fn an_unknown_column_in_a_selection_is_quoted_and_named() {
    let e = err(DataStepOptions::default().row_selection("ArrDelayy > 15"));
    assert!(e.contains("row selection 'ArrDelayy > 15'"), "{e}");
    assert!(e.contains("ArrDelayy") && e.contains("ArrDelay"), "{e}");
}

#[test]
fn column_names_are_case_sensitive() {
    let e = err(DataStepOptions::default().row_selection("arrdelay > 15"));
    assert!(
        e.contains("arrdelay") && e.contains("case-sensitive"),
        "{e}"
    );
}

#[test]
fn a_syntax_error_is_quoted() {
    let e = err(DataStepOptions::default().row_selection("ArrDelay > > 15"));
    assert!(e.contains("'ArrDelay > > 15'"), "{e}");
    let e = err(DataStepOptions::default().transform("x", "ArrDelay +"));
    assert!(e.contains("transform 'x = ArrDelay +'"), "{e}");
}

#[test]
fn a_selection_that_is_not_a_condition_is_refused() {
    let e = err(DataStepOptions::default().row_selection("ArrDelay + 1"));
    assert!(
        e.contains("not a condition") && e.contains("Float64"),
        "{e}"
    );
}

#[test]
fn a_type_mismatch_is_named() {
    let e = err(DataStepOptions::default().transform("x", "Origin - Distance"));
    assert!(e.contains("transform 'x = Origin - Distance'"), "{e}");
}

#[test]
fn unknown_kept_or_dropped_columns_are_named() {
    let e = err(DataStepOptions::default().vars_to_keep(["Nope"]));
    assert!(e.contains("'Nope'") && e.contains("ArrDelay"), "{e}");
    let e = err(DataStepOptions::default().vars_to_drop(["Gone"]));
    assert!(e.contains("'Gone'"), "{e}");
    let e = err(DataStepOptions::default().start_row(0));
    assert!(e.contains("1-based"), "{e}");
}

#[test]
fn transform_specs_parse_and_bad_ones_say_how_to_write_them() {
    let t: Transform = "Late = ArrDelay > 15".parse().unwrap();
    assert_eq!(
        (t.name.as_str(), t.expr.as_str()),
        ("Late", "ArrDelay > 15")
    );
    let t: Transform = "\"Arr Delay h\" = ArrDelay / 60".parse().unwrap();
    assert_eq!(t.name, "Arr Delay h");
    let t: Transform = "ok = a >= 1".parse().unwrap();
    assert_eq!(t.expr, "a >= 1");
    for bad in ["no equals", "= 1", "x == 1", "x =  ", "a > b = 1"] {
        let e = bad.parse::<Transform>().unwrap_err().to_string();
        assert!(e.contains("NAME = EXPRESSION"), "{bad}: {e}");
    }
}

#[test]
fn a_step_that_fails_while_running_leaves_the_previous_output_intact() {
    let dir = tempfile::tempdir().unwrap();
    let input: Arc<dyn DataSource> = Arc::new(common::xdf(dir.path(), "in.xdf", 300, 64));
    let out = XdfData::new(dir.path().join("out.xdf"));
    rx_data_step(
        input.clone(),
        Some(&out),
        DataStepOptions::default().number_rows(7),
    )
    .unwrap();
    // Origin holds airport codes: casting them to integers fails on the first row, at run time.
    let e = rx_data_step(
        input,
        Some(&out),
        DataStepOptions::default()
            .transform("n", "CAST(Origin AS INT)")
            .overwrite(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("JFK")
            || e.contains("LAX")
            || e.contains("ORD")
            || e.contains("SFO")
            || e.contains("Cast"),
        "{e}"
    );
    assert_eq!(read_all(&out).num_rows(), 7);
}
