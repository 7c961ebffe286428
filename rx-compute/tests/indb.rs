//! In-database fits on real databases (SQLite through its ODBC driver, PostgreSQL through
//! psqlODBC — `.ci/databases.sh` starts one): the aggregates the database computes give the local
//! fit on the same rows to 1e-9, with hostile table, column and string values. A missing driver or
//! server skips with a message, except in CI (`CI=true`), where a skip is a failure.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use rx_compute::RxInDatabase;
use rx_core::{DataSink, RxLocalSeq, WriteOptions};
use rx_data::odbc::{ConnectionString, From, RxOdbcData};
use rx_models::cube::{CrossTabsOptions, CubeOptions, RxCrossTabs, RxCube};
use rx_models::family::Family;
use rx_models::glm::{GlmOptions, LogitOptions, RxGlm};
use rx_models::linmod::{LinModOptions, RxLinMod, rx_lin_mod};
use rx_models::summary::{NumericSummary, RxSummary, SummaryOptions};

fn databases() -> Vec<(&'static str, String)> {
    let db = std::env::temp_dir().join(format!("rx-indb-test-{}.db", std::process::id()));
    rx_data::odbc::testing::databases(&db)
}

const TABLE: &str = "rx \"indb\"; -- drop [x]";
const X: &str = "x 'q'; --";
const G: &str = "g \"/*";
const H: &str = "h [*/]";

/// 600 rows: x near 1e6 varying in the first decimals (a hard problem for raw sums of squares),
/// an integer z, a text factor whose levels hold quotes, semicolons and comment markers, weights,
/// and missing values.
fn sample() -> RecordBatch {
    let levels = ["it's; --", "b /* c */", "plain", "x\"y"];
    let n = 600;
    let mut x = Vec::new();
    let mut z = Vec::new();
    let mut g = Vec::new();
    let mut y = Vec::new();
    let mut w = Vec::new();
    let mut h = Vec::new();
    let mut b = Vec::new();
    for i in 0..n {
        let xi = 1e6 + ((i as f64) * 0.731).sin();
        let zi = (i % 5) as f64;
        let gi = (i * 7 + i / 11) % 4;
        let noise = (((i * 37) % 101) as f64 - 50.0) * 1e-3;
        let yi = 1.5 + 2.0 * (xi - 1e6) - 0.3 * zi
            + [0.4, -0.7, 0.0, 1.1][gi]
            + 0.25 * zi * (xi - 1e6)
            + noise;
        x.push(if i % 97 == 5 { None } else { Some(xi) });
        z.push(Some(zi));
        g.push(if i % 89 == 3 { None } else { Some(levels[gi]) });
        y.push(Some(yi + 10.0));
        w.push(Some(1.0 + (i % 4) as f64 * 0.5));
        let eta = 0.5 + 1.2 * (xi - 1e6) - 0.3 * zi + [0.4, -0.7, 0.0, 1.1][gi];
        let u = ((i * 7919) % 1000) as f64 / 1000.0;
        b.push(if i % 83 == 7 {
            None
        } else {
            Some(if u < 1.0 / (1.0 + (-eta).exp()) {
                1.0
            } else {
                0.0
            })
        });
        h.push(if i % 71 == 9 {
            None
        } else {
            Some(["u", "v; '--"][(i / 3 + gi) % 2])
        });
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new(X, DataType::Float64, true),
        Field::new("z", DataType::Float64, true),
        Field::new(G, DataType::Utf8, true),
        Field::new("y", DataType::Float64, true),
        Field::new("w", DataType::Float64, true),
        Field::new(H, DataType::Utf8, true),
        Field::new("b", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(x)),
        Arc::new(Float64Array::from(z)),
        Arc::new(StringArray::from(g)),
        Arc::new(Float64Array::from(y)),
        Arc::new(Float64Array::from(w)),
        Arc::new(StringArray::from(h)),
        Arc::new(Float64Array::from(b)),
    ];
    RecordBatch::try_new(schema, cols).unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

fn assert_same(db: &str, formula: &str, local: &RxLinMod, indb: &RxLinMod) {
    assert_eq!(local.n_valid, indb.n_valid, "{db} {formula}: valid rows");
    assert_eq!(
        local.n_missing, indb.n_missing,
        "{db} {formula}: missing rows"
    );
    assert_eq!(local.coefficients.len(), indb.coefficients.len());
    for (a, b) in local.coefficients.iter().zip(&indb.coefficients) {
        assert_eq!(a.term, b.term);
        assert_eq!(a.aliased, b.aliased, "{db} {formula}: {} aliased", a.term);
        if let (Some(x), Some(y)) = (a.estimate, b.estimate) {
            assert!(
                close(x, y, 1e-9),
                "{db} {formula}: {}: local {x}, in-db {y}",
                a.term
            );
            let (sx, sy) = (a.std_error.unwrap(), b.std_error.unwrap());
            assert!(
                close(sx, sy, 1e-9),
                "{db} {formula}: se of {}: {sx} vs {sy}",
                a.term
            );
        }
    }
    assert!(
        close(local.r_squared, indb.r_squared, 1e-9),
        "{db} {formula}: R²"
    );
    assert!(
        close(local.sigma, indb.sigma, 1e-9),
        "{db} {formula}: sigma"
    );
    assert!(close(local.rss, indb.rss, 1e-8), "{db} {formula}: rss");
}

#[test]
fn lin_mod_in_the_database_matches_the_local_fit() {
    for (db, conn) in databases() {
        let table = RxOdbcData::with(
            ConnectionString::new(conn.clone()),
            From::Table(TABLE.into()),
        );
        let batch = sample();
        let mut w = table
            .create(batch.schema(), &WriteOptions::default().overwrite())
            .unwrap_or_else(|e| panic!("{db}: {e}"));
        w.write(&batch).unwrap();
        w.finish().unwrap();
        let query = RxOdbcData::with(
            ConnectionString::new(conn.clone()),
            From::Query(format!(
                "SELECT * FROM \"{}\" WHERE z <> 4 OR \"{}\" = 'it''s; --'",
                TABLE.replace('"', "\"\""),
                G.replace('"', "\"\"")
            )),
        );
        let ctx = RxInDatabase::new();
        let cases: Vec<(&RxOdbcData, String, LinModOptions)> = vec![
            (
                &table,
                format!("y ~ `{X}` + z + `{G}` + `{X}`:z"),
                LinModOptions::default(),
            ),
            (
                &table,
                format!("y ~ `{X}` + `{G}`:z"),
                LinModOptions::default().pweights("w"),
            ),
            (
                &table,
                format!("y ~ `{G}` + `{X}` - 1"),
                LinModOptions::default().fweights("w"),
            ),
            (
                &table,
                format!("log(y) ~ F(z) + I(`{X}` - 1e6) + `{G}`"),
                LinModOptions::default().drop_first(true),
            ),
            (&query, format!("y ~ `{X}` * z"), LinModOptions::default()),
        ];
        for (src, formula, options) in cases {
            let local = rx_lin_mod(&formula, src, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .lin_mod(&formula, src, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same(db, &formula, &local, &indb);
        }
        // Errors name the column; a bad formula is refused before any SQL runs.
        let e = ctx
            .lin_mod("y ~ nope", &table, &LinModOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope"), "{db}: {e}");
        // Summaries as GROUP BY aggregates.
        let summaries: Vec<(&RxOdbcData, String, SummaryOptions)> = vec![
            (
                &table,
                format!("~ y + z + `{G}` + `{X}`"),
                SummaryOptions::default(),
            ),
            (
                &table,
                format!("~ `{X}`:`{G}` + log(y) + `{G}`"),
                SummaryOptions::default().pweights("w"),
            ),
            (
                &table,
                format!("y ~ `{G}`"),
                SummaryOptions::default().fweights("w"),
            ),
            (
                &table,
                format!("~ `{X}` + `{G}`:z"),
                SummaryOptions::default().by_term(false),
            ),
            (&query, format!("~ `{X}` + y"), SummaryOptions::default()),
        ];
        for (src, formula, options) in summaries {
            let local = rx_models::rx_summary(&formula, src, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .summary(&formula, src, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same_summary(db, &formula, &local, &indb);
        }
        // Logistic regressions: one aggregate query per IRLS iteration.
        let logits: Vec<(&RxOdbcData, String, LogitOptions)> = vec![
            (
                &table,
                format!("b ~ `{X}` + z + `{G}`"),
                LogitOptions::default().cov_coef(true),
            ),
            (
                &table,
                format!("b ~ z + `{G}`:z"),
                LogitOptions::default().fweights("w"),
            ),
            (
                &table,
                format!("`{H}` ~ `{X}` + `{G}`"),
                LogitOptions::default(),
            ),
            (
                &table,
                format!("b ~ `{G}` + F(z) - 1"),
                LogitOptions::default().drop_first(true),
            ),
            (&query, format!("b ~ `{X}`"), LogitOptions::default()),
        ];
        for (src, formula, options) in logits {
            let local = rx_models::rx_logit(&formula, src, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .logit(&formula, src, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same_glm(&format!("{db} {formula}"), &local, &indb);
        }
        let glm = GlmOptions::new(Family::Binomial);
        let formula = format!("b ~ z + `{X}`");
        let local = rx_models::rx_glm(&formula, &table, &glm, &RxLocalSeq).unwrap();
        let indb = ctx.glm(&formula, &table, &glm).unwrap();
        assert_same_glm(&format!("{db} glm {formula}"), &local, &indb);
        // Another family streams the rows into the local fit.
        let poisson = GlmOptions::new(Family::Poisson);
        let local = rx_models::rx_glm("z ~ y", &table, &poisson, &RxLocalSeq).unwrap();
        let streamed = ctx
            .clone()
            .quiet(true)
            .glm("z ~ y", &table, &poisson)
            .unwrap();
        assert_eq!(local, streamed, "{db}: poisson streams");
        // Cubes and cross tabulations as GROUP BY aggregates.
        let cubes: Vec<(String, CubeOptions)> = vec![
            (format!("y ~ `{G}`:`{H}`"), CubeOptions::default()),
            (
                format!("log(y) ~ `{H}`:`{G}`"),
                CubeOptions::default().pweights("w").means(false),
            ),
            (
                format!("~ `{G}`:`{H}`"),
                CubeOptions::default()
                    .fweights("w")
                    .remove_zero_counts(true),
            ),
        ];
        for (formula, options) in cubes {
            let local = rx_models::rx_cube(&formula, &table, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .cube(&formula, &table, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same_cube(&format!("{db} {formula}"), &local, &indb);
        }
        let tabs: Vec<(String, CrossTabsOptions)> = vec![
            (
                format!("y ~ `{G}`:`{H}`"),
                CrossTabsOptions::default().chisq_test(true).marginals(true),
            ),
            (
                format!("~ `{G}` + `{H}`:`{G}`"),
                CrossTabsOptions::default().fweights("w"),
            ),
            (
                format!("`{X}` ~ `{H}`:`{G}`"),
                CrossTabsOptions::default()
                    .means(true)
                    .pweights("w")
                    .chisq_test(true),
            ),
        ];
        for (formula, options) in tabs {
            let local = rx_models::rx_crosstabs(&formula, &table, &options, &RxLocalSeq)
                .unwrap_or_else(|e| panic!("{db} {formula}: local: {e}"));
            let indb = ctx
                .crosstabs(&formula, &table, &options)
                .unwrap_or_else(|e| panic!("{db} {formula}: in-db: {e}"));
            assert_same_crosstabs(&format!("{db} {formula}"), &local, &indb);
        }
        // A factor of integer values, F(z), streams the rows (and gives the local result).
        let f = rx_models::rx_cube("~ F(z)", &table, &CubeOptions::default(), &RxLocalSeq).unwrap();
        let g = ctx
            .clone()
            .quiet(true)
            .cube("~ F(z)", &table, &CubeOptions::default())
            .unwrap();
        assert_eq!(f, g, "{db}: F(z) cube");
        // Other analyses stream through the local algorithm in this context.
        let s = rx_models::rx_summary(
            "~ y + z",
            &table,
            &SummaryOptions::default(),
            &ctx.clone().quiet(true),
        )
        .unwrap_or_else(|e| panic!("{db}: summary: {e}"));
        let l = rx_models::rx_summary("~ y + z", &table, &SummaryOptions::default(), &RxLocalSeq)
            .unwrap();
        assert_eq!(format!("{s}"), format!("{l}"), "{db}: summary");
    }
}

fn same_opt(a: Option<f64>, b: Option<f64>, rel: f64) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b, rel) || (a - b).abs() < 1e-12,
        (None, None) => true,
        _ => false,
    }
}

fn assert_same_numeric(what: &str, a: &NumericSummary, b: &NumericSummary) {
    assert_eq!(a.name, b.name, "{what}");
    for (k, x, y) in [
        ("mean", a.mean, b.mean),
        ("std_dev", a.std_dev, b.std_dev),
        ("min", a.min, b.min),
        ("max", a.max, b.max),
        ("sum", a.sum, b.sum),
    ] {
        assert!(
            same_opt(x, y, 1e-9),
            "{what} {}: {k} {x:?} vs {y:?}",
            a.name
        );
    }
    assert!(
        close(a.valid_obs, b.valid_obs, 1e-12),
        "{what} {}: valid",
        a.name
    );
    assert!(
        a.missing_obs == b.missing_obs || close(a.missing_obs, b.missing_obs, 1e-12),
        "{what} {}: missing {} vs {}",
        a.name,
        a.missing_obs,
        b.missing_obs
    );
}

/// Same statistics; text levels may come in another order (the database's are sorted), so
/// cells are matched by level names.
fn assert_same_summary(db: &str, formula: &str, a: &RxSummary, b: &RxSummary) {
    let what = format!("{db} {formula}");
    assert_eq!(
        (a.nobs, a.nobs_valid, a.nobs_missing),
        (b.nobs, b.nobs_valid, b.nobs_missing),
        "{what}"
    );
    assert_eq!(a.numeric.len(), b.numeric.len(), "{what}");
    for (x, y) in a.numeric.iter().zip(&b.numeric) {
        assert_same_numeric(&what, x, y);
    }
    assert_eq!(a.factors.len(), b.factors.len(), "{what}");
    for (x, y) in a.factors.iter().zip(&b.factors) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.counts.0.len(), y.counts.0.len(), "{what} {}", x.name);
        for (levels, n) in &x.counts.0 {
            let l: Vec<&str> = levels.iter().map(String::as_str).collect();
            assert_eq!(y.counts.get(&l), Some(*n), "{what} {}: {levels:?}", x.name);
        }
        assert_eq!(x.missing_obs, y.missing_obs, "{what} {}", x.name);
    }
    assert_eq!(a.by_category.len(), b.by_category.len(), "{what}");
    for (x, y) in a.by_category.iter().zip(&b.by_category) {
        assert_eq!(x.categories.len(), y.categories.len(), "{what} {}", x.name);
        assert!(
            x.missing_obs == y.missing_obs || close(x.missing_obs, y.missing_obs, 1e-12),
            "{what} {}: missing",
            x.name
        );
        for c in &x.categories {
            let d = y
                .categories
                .iter()
                .find(|d| d.levels == c.levels)
                .unwrap_or_else(|| panic!("{what}: no cell {:?}", c.levels));
            assert_same_numeric(&what, &c.stats, &d.stats);
        }
    }
}

fn assert_same_cube(what: &str, a: &RxCube, b: &RxCube) {
    assert_eq!(a.factors, b.factors, "{what}");
    assert_eq!(a.cells.len(), b.cells.len(), "{what}");
    for c in &a.cells {
        let l: Vec<&str> = c.levels.iter().map(String::as_str).collect();
        let d = b
            .cell(&l)
            .unwrap_or_else(|| panic!("{what}: no cell {l:?}"));
        assert!(close(c.counts, d.counts, 1e-12), "{what} {l:?}: counts");
        assert!(
            same_opt(c.value, d.value, 1e-9),
            "{what} {l:?}: {:?} vs {:?}",
            c.value,
            d.value
        );
    }
    assert!(close(a.valid_obs, b.valid_obs, 1e-12), "{what}: valid");
    assert!(
        a.missing_obs == b.missing_obs || close(a.missing_obs, b.missing_obs, 1e-12),
        "{what}: missing {} vs {}",
        a.missing_obs,
        b.missing_obs
    );
}

fn assert_same_crosstabs(what: &str, a: &RxCrossTabs, b: &RxCrossTabs) {
    assert_eq!(a.tables.len(), b.tables.len(), "{what}");
    for (x, y) in a.tables.iter().zip(&b.tables) {
        let what = format!("{what} [{}]", x.name);
        assert_eq!(x.name, y.name, "{what}");
        let sorted = |l: &Vec<Vec<String>>| {
            l.iter()
                .map(|v| {
                    let mut v = v.clone();
                    v.sort();
                    v
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(sorted(&x.levels), sorted(&y.levels), "{what}");
        // Every combination of levels.
        let mut combos: Vec<Vec<&str>> = vec![Vec::new()];
        for levels in &x.levels {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    levels.iter().map(move |l| {
                        let mut c = c.clone();
                        c.push(l.as_str());
                        c
                    })
                })
                .collect();
        }
        for c in &combos {
            assert!(
                same_opt(x.count(c), y.count(c), 1e-12),
                "{what} {c:?}: counts"
            );
            assert!(same_opt(x.sum(c), y.sum(c), 1e-9), "{what} {c:?}: sums");
            assert!(same_opt(x.mean(c), y.mean(c), 1e-9), "{what} {c:?}: means");
        }
        assert!(close(x.marginals.total, y.marginals.total, 1e-12), "{what}");
        assert!(close(x.valid_obs, y.valid_obs, 1e-12), "{what}: valid");
        assert!(
            close(x.missing_obs, y.missing_obs, 1e-12) || x.missing_obs == y.missing_obs,
            "{what}: missing"
        );
        assert_eq!(x.chisq.len(), y.chisq.len(), "{what}");
        for (p, q) in x.chisq.iter().zip(&y.chisq) {
            assert_eq!(p.df, q.df, "{what}");
            assert!(close(p.statistic, q.statistic, 1e-9), "{what}: chi-square");
            assert!(same_opt(p.p_value, q.p_value, 1e-9), "{what}: p");
        }
    }
}

fn assert_same_glm(what: &str, a: &RxGlm, b: &RxGlm) {
    assert_eq!(
        (a.n_valid, a.n_missing),
        (b.n_valid, b.n_missing),
        "{what}: rows"
    );
    assert_eq!(a.iterations, b.iterations, "{what}: iterations");
    assert_eq!(a.converged, b.converged, "{what}: converged");
    assert_eq!(a.coefficients.len(), b.coefficients.len(), "{what}");
    for (x, y) in a.coefficients.iter().zip(&b.coefficients) {
        assert_eq!(x.term, y.term, "{what}");
        assert_eq!(x.aliased, y.aliased, "{what}: {} aliased", x.term);
        for (k, p, q) in [
            ("estimate", x.estimate, y.estimate),
            ("std_error", x.std_error, y.std_error),
            ("z", x.t_value, y.t_value),
        ] {
            assert!(
                same_opt(p, q, 1e-9),
                "{what}: {} {k}: {p:?} vs {q:?}",
                x.term
            );
        }
    }
    for (k, p, q) in [
        ("deviance", a.deviance, b.deviance),
        ("null deviance", a.null_deviance, b.null_deviance),
        ("df", a.df_residual, b.df_residual),
        ("dispersion", a.dispersion, b.dispersion),
    ] {
        assert!(close(p, q, 1e-9), "{what}: {k}: {p} vs {q}");
    }
    assert!(same_opt(a.aic, b.aic, 1e-9), "{what}: aic");
    assert_eq!(a.warnings, b.warnings, "{what}: warnings");
    match (&a.cov_coef, &b.cov_coef) {
        (Some(p), Some(q)) => {
            for (r, s) in p.iter().flatten().zip(q.iter().flatten()) {
                assert!(
                    close(*r, *s, 1e-8) || (r - s).abs() < 1e-14,
                    "{what}: cov {r} vs {s}"
                );
            }
        }
        (None, None) => {}
        _ => panic!("{what}: cov_coef"),
    }
}
