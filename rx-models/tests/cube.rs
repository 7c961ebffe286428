//! rx_cube and rx_crosstabs: R's golden cross tabulations (counts, totals, chi-square tests,
//! response sums and means, weighted counts), the long form and its record batch, sparse output,
//! three-way tables, errors, and the PEMA laws.

use std::sync::Arc;

use proptest::prelude::*;
use rx_core::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use rx_core::arrow::datatypes::{DataType, Float64Type, Int32Type, Int64Type};
use rx_core::varinfo::META_LEVELS;
use rx_core::{DataSource, Pema, RxLocalSeq, Step, WriteOptions};
use rx_data::{MemoryData, MemorySink};
use rx_models::cube::{
    CrossTabsOptions, CrossTabsPema, CubeOptions, CubePema, RxCrossTabs, RxCube, rx_crosstabs,
    rx_cube,
};
use serde_json::Value;

use crate::summary::{batch, close, data_dir, f64s, golden_data, memory, read_json, strs};

fn golden_cases() -> Vec<Value> {
    read_json(&data_dir().join("golden/crosstab.json"))["cases"]
        .as_array()
        .unwrap()
        .clone()
}

fn matrix(v: &Value) -> Vec<Vec<Option<f64>>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(Value::as_f64).collect())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// A golden variable as a formula variable: numeric ones (infert's `case`) by their integer
/// values, as R tabulates them.
fn golden_var(case: &Value, key: &str) -> String {
    let name = case[key].as_str().unwrap();
    let levels = strings(&case[format!("{key}_levels")]);
    if levels.iter().all(|l| l.parse::<i64>().is_ok()) {
        format!("F(`{name}`)")
    } else {
        format!("`{name}`")
    }
}

#[test]
fn golden_cross_tabulations() {
    let cases = golden_cases();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let src = golden_data(case["data"].as_str().unwrap());
        let (row, col) = (golden_var(&case, "row"), golden_var(&case, "col"));
        let y = case["response"]["variable"].as_str().unwrap();
        let opts = CrossTabsOptions::default().chisq_test(true);
        let x = rx_crosstabs(&format!("`{y}` ~ {row}:{col}"), &src, &opts, &RxLocalSeq)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let t = &x.tables[0];
        let (rl, cl) = (strings(&case["row_levels"]), strings(&case["col_levels"]));
        assert_eq!(
            t.levels,
            [rl.clone(), cl.clone()],
            "{name}: levels in R's order"
        );
        let counts = matrix(&case["counts"]);
        let sums = matrix(&case["response"]["sum"]);
        let means = matrix(&case["response"]["mean"]);
        for (i, r) in rl.iter().enumerate() {
            for (j, c) in cl.iter().enumerate() {
                let cell = [r.as_str(), c.as_str()];
                assert_eq!(t.count(&cell), counts[i][j], "{name} {cell:?}");
                close(
                    &format!("{name} sum {cell:?}"),
                    t.sum(&cell),
                    sums[i][j],
                    1e-14,
                );
                close(
                    &format!("{name} mean {cell:?}"),
                    t.mean(&cell),
                    means[i][j],
                    1e-14,
                );
            }
        }
        let totals = |k: &str| -> Vec<f64> {
            case[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        assert_eq!(t.marginals.counts[0], totals("row_totals"), "{name}");
        assert_eq!(t.marginals.counts[1], totals("col_totals"), "{name}");
        assert_eq!(Some(t.marginals.total), case["total"].as_f64());
        let empty = t.counts.iter().filter(|&&c| c == 0.0).count();
        assert_eq!(Some(empty as u64), case["empty_cells"].as_u64());
        // Pearson's chi-square without continuity correction.
        let chisq = &t.chisq[0];
        let want = &case["chisq"];
        assert_eq!(Some(chisq.df), want["df"].as_u64(), "{name}");
        let stat = want["statistic"].as_f64().unwrap();
        if stat == 0.0 {
            assert!(chisq.statistic.abs() < 1e-12, "{name}: {}", chisq.statistic);
        } else {
            close(
                &format!("{name} X²"),
                Some(chisq.statistic),
                Some(stat),
                1e-13,
            );
        }
        close(
            &format!("{name} p"),
            chisq.p_value,
            want["p_value"].as_f64(),
            1e-10,
        );

        // Weighted counts: xtabs(fw ~ row + col).
        if let Some(w) = case.get("weighted_counts") {
            let opts = CrossTabsOptions::default().fweights(w["weights"].as_str().unwrap());
            let x = rx_crosstabs(&format!("~ {row}:{col}"), &src, &opts, &RxLocalSeq).unwrap();
            let want = matrix(&w["counts"]);
            for (i, r) in rl.iter().enumerate() {
                for (j, c) in cl.iter().enumerate() {
                    assert_eq!(x.tables[0].count(&[r, c]), want[i][j], "{name} weighted");
                }
            }
        }

        // The cube of the same formula, means and sums, in long form.
        let formula = format!("`{y}` ~ {row}:{col}");
        let cube = rx_cube(&formula, &src, &CubeOptions::default(), &RxLocalSeq).unwrap();
        let sums_cube = rx_cube(
            &formula,
            &src,
            &CubeOptions::default().means(false),
            &RxLocalSeq,
        )
        .unwrap();
        assert_eq!(cube.cells.len(), rl.len() * cl.len());
        for (i, r) in rl.iter().enumerate() {
            for (j, c) in cl.iter().enumerate() {
                let cell = cube.cell(&[r, c]).unwrap();
                assert_eq!(Some(cell.counts), counts[i][j]);
                close("cube mean", cell.value, means[i][j], 1e-14);
                let s = sums_cube.cell(&[r, c]).unwrap();
                close("cube sum", s.value, sums[i][j], 1e-14);
            }
        }
        // First factor varies fastest.
        assert_eq!(cube.cells[1].levels, [rl[1].clone(), cl[0].clone()]);
    }
}

#[test]
fn empty_cells_and_remove_zero_counts() {
    // mtcars: no car has 8 cylinders and 4 gears.
    let src = golden_data("mtcars.csv");
    let full = rx_cube(
        "mpg ~ cyl_f:gear_f",
        &src,
        &CubeOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(full.cells.len(), 9);
    let empty = full.cell(&["c8", "g4"]).unwrap();
    assert_eq!((empty.value, empty.counts), (None, 0.0));
    let opts = CubeOptions::default().remove_zero_counts(true);
    let sparse = rx_cube("mpg ~ cyl_f:gear_f", &src, &opts, &RxLocalSeq).unwrap();
    assert_eq!(sparse.cells.len(), 8);
    assert!(sparse.cell(&["c8", "g4"]).is_none());
    // The same order as the full cube, without the empty cell.
    let full_order: Vec<_> = full
        .cells
        .iter()
        .filter(|c| c.counts > 0.0)
        .map(|c| c.levels.clone())
        .collect();
    let sparse_order: Vec<_> = sparse.cells.iter().map(|c| c.levels.clone()).collect();
    assert_eq!(full_order, sparse_order);
    // The level lists stay complete.
    assert_eq!(sparse.levels[1], ["g3", "g4", "g5"]);
}

fn data() -> MemoryData {
    memory(batch(vec![
        (
            "y",
            f64s(vec![
                Some(1.0),
                Some(2.0),
                Some(3.0),
                None,
                Some(5.0),
                Some(6.0),
                Some(7.0),
            ]),
        ),
        (
            "a",
            strs(vec![
                Some("p"),
                Some("q"),
                Some("p"),
                Some("q"),
                None,
                Some("p"),
                Some("q"),
            ]),
        ),
        (
            "n",
            Arc::new(Int64Array::from(vec![1, 2, 2, 1, 1, 3, 1])) as ArrayRef,
        ),
        (
            "c",
            strs(vec![
                Some("u"),
                Some("u"),
                Some("v"),
                Some("v"),
                Some("u"),
                Some("u"),
                Some("v"),
            ]),
        ),
        (
            "w",
            f64s(vec![
                Some(1.0),
                Some(2.5),
                Some(1.0),
                Some(1.0),
                Some(1.0),
                Some(0.5),
                Some(2.0),
            ]),
        ),
    ]))
}

#[test]
fn cube_as_record_batch_and_sink() {
    let cube = rx_cube("y ~ a:F(n)", &data(), &CubeOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(cube.factors, ["a", "F(n)"]);
    assert_eq!(cube.levels, [vec!["p", "q"], vec!["1", "2", "3"]]);
    // y missing in row 4 and a missing in row 5.
    assert_eq!((cube.valid_obs, cube.missing_obs), (5.0, 2.0));
    let b = cube.to_record_batch().unwrap();
    let names: Vec<String> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["a", "F_n", "y", "Counts"]);
    assert_eq!(b.num_rows(), 6);
    let f_n = b.schema().field(1).clone();
    assert_eq!(f_n.metadata()[META_LEVELS], r#"["1","2","3"]"#);
    let codes = b.column(1).as_dictionary::<Int32Type>().keys().clone();
    assert_eq!(codes.values().to_vec(), [0, 0, 1, 1, 2, 2]);
    let y = b.column(2).as_primitive::<Float64Type>();
    // (p,1) = 1; (q,1) = 7 (row 4's y is missing); (p,2) = 3; (q,2) = 2; (p,3) = 6; (q,3) empty.
    assert_eq!(
        y.iter().collect::<Vec<_>>(),
        [Some(1.0), Some(7.0), Some(3.0), Some(2.0), Some(6.0), None]
    );
    assert_eq!(b.column(3).data_type(), &DataType::Int64);
    assert_eq!(
        b.column(3).as_primitive::<Int64Type>().values().to_vec(),
        [1, 1, 1, 1, 1, 0]
    );
    // Any sink takes it.
    let sink = MemorySink::new();
    assert_eq!(cube.write(&sink, &WriteOptions::default()).unwrap(), 6);
    assert_eq!(sink.batches()[0], b);
    // Weighted counts are Float64.
    let w = rx_cube(
        "y ~ a",
        &data(),
        &CubeOptions::default().fweights("w"),
        &RxLocalSeq,
    )
    .unwrap();
    let b = w.to_record_batch().unwrap();
    assert_eq!(b.column(2).data_type(), &DataType::Float64);
    let p = w.cell(&["p"]).unwrap();
    // p: y 1 (w 1), 3 (w 1), 6 (w 0.5): weighted mean 7 / 2.5.
    assert_eq!((p.counts, p.value), (2.5, Some(7.0 / 2.5)));
}

#[test]
fn counts_only_cube_and_json_rows() {
    let cube = rx_cube("~ a:c", &data(), &CubeOptions::default(), &RxLocalSeq).unwrap();
    assert_eq!(cube.response, None);
    assert_eq!(cube.cell(&["p", "u"]).unwrap().counts, 2.0);
    assert_eq!(cube.cell(&["q", "v"]).unwrap().counts, 2.0);
    assert_eq!(cube.missing_obs, 1.0);
    let v = serde_json::to_value(&cube).unwrap();
    assert_eq!(
        v["cells"][0],
        serde_json::json!({"a": "p", "c": "u", "Counts": 2})
    );
    let b = cube.to_record_batch().unwrap();
    assert_eq!(b.num_columns(), 3);
    let text = cube.to_string();
    assert!(text.contains("Cube Results for: ~ a:c"), "{text}");
    assert!(text.contains("Statistic: counts"), "{text}");
    assert!(text.contains(" 1 p u      2"), "{text}");
}

#[test]
fn three_way_tables_test_each_slice() {
    let src = golden_data("mtcars.csv");
    let opts = CrossTabsOptions::default().chisq_test(true);
    let x = rx_crosstabs("~ cyl_f:gear_f:am_f", &src, &opts, &RxLocalSeq).unwrap();
    let t = &x.tables[0];
    assert_eq!(t.chisq.len(), 2);
    assert_eq!(
        t.chisq[0].strata,
        [("am_f".to_string(), "auto".to_string())]
    );
    // Each slice equals the two-way test on the rows of that level, computed here from the
    // slice's counts.
    for (s, level) in ["auto", "manual"].iter().enumerate() {
        let o: Vec<Vec<f64>> = ["c4", "c6", "c8"]
            .iter()
            .map(|r| {
                ["g3", "g4", "g5"]
                    .iter()
                    .map(|c| t.count(&[r, c, level]).unwrap())
                    .collect()
            })
            .collect();
        let rows: Vec<f64> = o.iter().map(|r| r.iter().sum()).collect();
        let cols: Vec<f64> = (0..3).map(|j| o.iter().map(|r| r[j]).sum()).collect();
        let n: f64 = rows.iter().sum();
        let used_r: Vec<usize> = (0..3).filter(|&i| rows[i] > 0.0).collect();
        let used_c: Vec<usize> = (0..3).filter(|&j| cols[j] > 0.0).collect();
        let mut stat = 0.0;
        for &i in &used_r {
            for &j in &used_c {
                let e = rows[i] * cols[j] / n;
                stat += (o[i][j] - e).powi(2) / e;
            }
        }
        let c = &t.chisq[s];
        close("slice X²", Some(c.statistic), Some(stat), 1e-12);
        assert_eq!(c.df as usize, (used_r.len() - 1) * (used_c.len() - 1));
        assert_eq!(c.n, n);
    }
    // Manual cars: no 3-gear car, so the g3 column is left out of the test.
    assert_eq!(t.chisq[1].df, 2);
    let text = x.to_string();
    assert!(text.contains(", , am_f = manual"), "{text}");
    assert!(
        text.contains("Chi-squared test of independence between cyl_f and gear_f (am_f = auto)"),
        "{text}"
    );
}

#[test]
fn display_of_a_two_way_table() {
    let src = golden_data("warpbreaks.csv");
    let opts = CrossTabsOptions::default().marginals(true).chisq_test(true);
    let x = rx_crosstabs("~ wool:tension", &src, &opts, &RxLocalSeq).unwrap();
    let text = x.to_string();
    for part in [
        "Cross Tabulation Results for: ~ wool:tension",
        "Number of valid observations: 54",
        "wool:tension (counts):",
        "           tension",
        " wool       L  M  H Row Total",
        " A          9  9  9        27",
        " Col Total 18 18 18        54",
        "Chi-squared test of independence between wool and tension",
        " X-squared df p-value",
        "         0  2       1",
    ] {
        assert!(text.contains(part), "{part:?} not in\n{text}");
    }
    let sums = rx_crosstabs(
        "breaks ~ wool:tension",
        &src,
        &CrossTabsOptions::default().means(true),
        &RxLocalSeq,
    )
    .unwrap();
    let text = sums.to_string();
    assert!(text.contains("breaks (means):"), "{text}");
    assert!(text.contains("44.55556"), "{text}");
    let v = serde_json::to_value(&sums).unwrap();
    assert_eq!(v["tables"][0]["counts"][0], 9);
    assert_eq!(
        v["tables"][0]["marginals"]["counts"][0],
        serde_json::json!([27, 27])
    );
    assert_eq!(v["depvar"], "breaks");
}

#[test]
fn several_terms_give_several_tables() {
    let x = rx_crosstabs(
        "y ~ a + a:c",
        &data(),
        &CrossTabsOptions::default(),
        &RxLocalSeq,
    )
    .unwrap();
    assert_eq!(x.tables.len(), 2);
    let a = x.table("a").unwrap();
    // p: 1 + 3 + 6; q: 2 + 7 (row 4's y missing).
    assert_eq!(a.sums.as_ref().unwrap(), &[10.0, 9.0]);
    assert_eq!(a.marginals.total_sum, Some(19.0));
    assert_eq!(a.missing_obs, 2.0);
    let ac = x.table("a:c").unwrap();
    assert_eq!(ac.sum(&["q", "v"]), Some(7.0));
    assert_eq!(ac.mean(&["q", "v"]), Some(7.0));
    // c = u: 1 + 2 + 6 (row 5's a is missing); c = v: 3 + 7.
    assert_eq!(ac.marginals.sums.as_ref().unwrap()[1], [9.0, 10.0]);
}

#[test]
fn errors_say_what_to_do() {
    let d = data();
    let cube = |f: &str| {
        rx_cube(f, &d, &CubeOptions::default(), &RxLocalSeq)
            .unwrap_err()
            .to_string()
    };
    let e = cube("y ~ n");
    assert!(e.contains("'n'") && e.contains("F(n)"), "{e}");
    let e = cube("a ~ c");
    assert!(e.contains("response 'a'") && e.contains("factor"), "{e}");
    let e = cube("y ~ a + c");
    assert!(
        e.contains("one interaction term") && e.contains("A:B"),
        "{e}"
    );
    let e = cube("y ~ a + offset(n)");
    assert!(e.contains("offset(n)") && e.contains("rx_cube"), "{e}");
    let e = cube("y ~ a:zz");
    assert!(e.contains("'zz'") && e.contains("y ~ a:zz"), "{e}");
    let e = rx_crosstabs(
        "~ a",
        &d,
        &CrossTabsOptions::default().chisq_test(true),
        &RxLocalSeq,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("two factors"), "{e}");
}

// ---------------------------------------------------------------------------------------------
// PEMA laws

fn finish_cube(pema: &CubePema, p: rx_models::summary::CellsPartial) -> RxCube {
    match pema.clone().finish(p).unwrap() {
        Step::Done(c) => c,
        Step::AnotherPass => panic!("one pass"),
    }
}

fn finish_tabs(pema: &CrossTabsPema, p: rx_models::summary::CellsPartial) -> RxCrossTabs {
    match pema.clone().finish(p).unwrap() {
        Step::Done(c) => c,
        Step::AnotherPass => panic!("one pass"),
    }
}

fn round_trip(p: &rx_models::summary::CellsPartial) -> rx_models::summary::CellsPartial {
    serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap()
}

#[track_caller]
fn same_cube(a: &RxCube, b: &RxCube) {
    assert_eq!(a.cells.len(), b.cells.len());
    for c in &a.cells {
        let levels: Vec<&str> = c.levels.iter().map(String::as_str).collect();
        let d = b.cell(&levels).unwrap();
        assert_eq!(c.counts, d.counts);
        match (c.value, d.value) {
            (Some(u), Some(v)) => assert!((u - v).abs() <= 1e-12 * u.abs().max(v.abs())),
            (u, v) => assert_eq!(u, v),
        }
    }
    assert_eq!(a.missing_obs, b.missing_obs);
}

fn arb_batch() -> impl Strategy<Value = RecordBatch> {
    prop::collection::vec(
        (
            prop::option::weighted(0.9, -1e3..1e3f64),
            prop::option::weighted(0.9, 0usize..3),
            prop::option::weighted(0.9, 0usize..4),
        ),
        1..100,
    )
    .prop_map(|rows| {
        let a = ["x", "y", "z"];
        batch(vec![
            ("v", f64s(rows.iter().map(|r| r.0).collect())),
            ("a", strs(rows.iter().map(|r| r.1.map(|i| a[i])).collect())),
            (
                "k",
                f64s(rows.iter().map(|r| r.2.map(|k| k as f64)).collect()),
            ),
        ])
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn cube_merge_law_and_chunk_size(b in arb_batch(), cut in 0usize..100, chunk in 1usize..40) {
        let cut = cut.min(b.num_rows());
        let (x, y) = (b.slice(0, cut), b.slice(cut, b.num_rows() - cut));
        let pema = CubePema::new("v ~ a:F(k)", &b.schema(), "d", &CubeOptions::default()).unwrap();
        let mut seq = pema.init();
        pema.process(&mut seq, &x).unwrap();
        pema.process(&mut seq, &y).unwrap();
        let seq = finish_cube(&pema, seq);
        let (mut px, mut py) = (pema.init(), pema.init());
        pema.process(&mut px, &x).unwrap();
        pema.process(&mut py, &y).unwrap();
        let mut yx = round_trip(&py);
        pema.merge(&mut yx, round_trip(&px)).unwrap();
        same_cube(&seq, &finish_cube(&pema, yx));
        let data = memory(b.clone());
        let chunked = rx_cube(
            "v ~ a:F(k)",
            &data,
            &CubeOptions::default().rows_per_read(chunk),
            &RxLocalSeq,
        )
        .unwrap();
        same_cube(&seq, &chunked);
    }

    #[test]
    fn crosstabs_merge_law(b in arb_batch(), cut in 0usize..100) {
        let cut = cut.min(b.num_rows());
        let (x, y) = (b.slice(0, cut), b.slice(cut, b.num_rows() - cut));
        let opts = CrossTabsOptions::default().chisq_test(true);
        let pema = CrossTabsPema::new("v ~ a:F(k, 0, 3)", &b.schema(), "d", &opts).unwrap();
        let mut seq = pema.init();
        pema.process(&mut seq, &x).unwrap();
        pema.process(&mut seq, &y).unwrap();
        let seq = finish_tabs(&pema, seq);
        let (mut px, mut py) = (pema.init(), pema.init());
        pema.process(&mut px, &x).unwrap();
        pema.process(&mut py, &y).unwrap();
        let mut yx = round_trip(&py);
        pema.merge(&mut yx, round_trip(&px)).unwrap();
        let merged = finish_tabs(&pema, yx);
        let (s, m) = (&seq.tables[0], &merged.tables[0]);
        // Levels of `a` may come in another order after merging; compare by name.
        for r in &s.levels[0] {
            for c in &s.levels[1] {
                let cell = [r.as_str(), c.as_str()];
                prop_assert_eq!(s.count(&cell), m.count(&cell));
                let (u, v) = (s.sum(&cell).unwrap(), m.sum(&cell).unwrap());
                prop_assert!((u - v).abs() <= 1e-12 * u.abs().max(v.abs()).max(1e-300));
            }
        }
        prop_assert_eq!(s.marginals.total, m.marginals.total);
        let (u, v) = (s.chisq[0].statistic, m.chisq[0].statistic);
        prop_assert!((u - v).abs() <= 1e-12 * u.abs().max(1.0));
        prop_assert_eq!(s.chisq[0].df, m.chisq[0].df);
    }
}

#[test]
fn sources_split_into_partitions_merge_to_the_whole() {
    // A source split into parts (as a parallel context would), each part's partial merged.
    let src = golden_data("airquality.csv");
    let pema = CrossTabsPema::new(
        "Ozone ~ month_f:F(Day, 1, 31)",
        &src.schema().unwrap(),
        "airquality",
        &CrossTabsOptions::default(),
    )
    .unwrap();
    let whole = rx_core::pema::run_pass(&pema, &src, &rx_core::RxOptions::default()).unwrap();
    let parts = src.split(3).unwrap();
    let mut merged = pema.init();
    for part in parts.iter().rev() {
        let p = rx_core::pema::run_pass(
            &pema,
            part.as_ref(),
            &rx_core::RxOptions::default().rows_per_read(17),
        )
        .unwrap();
        pema.merge(&mut merged, p).unwrap();
    }
    let (a, b) = (finish_tabs(&pema, whole), finish_tabs(&pema, merged));
    assert_eq!(a.tables[0].counts, b.tables[0].counts);
    assert_eq!(a.tables[0].missing_obs, 37.0);
    assert_eq!(a.tables[0].levels, b.tables[0].levels);
    let (sa, sb) = (
        a.tables[0].sums.as_ref().unwrap(),
        b.tables[0].sums.as_ref().unwrap(),
    );
    for (u, v) in sa.iter().zip(sb) {
        assert!((u - v).abs() <= 1e-12 * u.abs().max(1.0));
    }
    assert!(a.tables[0].valid_obs > 0.0 && a.tables[0].counts.len() == 5 * 31);
}
