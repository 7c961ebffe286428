//! In-database analytics: [`RxInDatabase`] (any ODBC database) and [`RxInSqlServer`].
//!
//! An analysis on an [`RxOdbcData`] source in this context sends its sufficient statistics to the
//! database as SQL aggregates, so no row leaves the database:
//!
//! - `rx_lin_mod` ([`RxInDatabase::lin_mod`]): factor levels by `SELECT DISTINCT`, the means of the
//!   numeric variables, then per combination of factor levels (`GROUP BY`) the weighted count and
//!   the sums and cross-products of the centred numeric terms; the model is solved locally from
//!   those few numbers (see `rx_models::suffstats`).
//! - `rx_logit`, and `rx_glm` with the binomial family and logit link ([`RxInDatabase::logit`],
//!   [`RxInDatabase::glm`]): one query for the counts and centres, then one `GROUP BY` query per
//!   IRLS iteration that evaluates `η`, `μ`, the working weights and response and the deviance
//!   row by row in SQL and returns the same group sums as `rx_lin_mod`'s, with `z` as the
//!   response; the local IRLS (R's `glm.fit`, step halving and convergence rules included)
//!   decides each next point from them.
//! - `rx_summary`, `rx_cube` and `rx_crosstabs` ([`RxInDatabase::summary`], [`RxInDatabase::cube`],
//!   [`RxInDatabase::crosstabs`]): per term one `GROUP BY` over its factors, returning the
//!   counts, weights, shifted sums and squares, minimum and maximum of each cell.
//!
//! Any other analysis ([`ComputeContext::run`]) streams the rows over ODBC into the local
//! algorithm, and says so on standard error.
//!
//! Names are quoted by the database's dialect and values (factor levels, centres) are written as
//! escaped literals; nothing a user gives is pasted into SQL as it is.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, Schema};
use arrow::record_batch::RecordBatch;
use rx_core::formula::{BinOp, Expr, Func};
use rx_core::source::{DataSource, ReadOptions};
use rx_core::{ComputeContext, Error, Pema, Result, RxLocalSeq, RxOptions, Step};
use rx_data::odbc::{Dialect, From, RxOdbcData};
use rx_models::cube::{
    CrossTabsOptions, CrossTabsPema, CubeOptions, CubePema, RxCrossTabs, RxCube,
};
use rx_models::dd::Dd;
use rx_models::design::{
    Design, DesignOptions, FactorSource, FoundLevels, LevelsRequest, NumSource, ResponseSource,
};
use rx_models::family::{Family, Link};
use rx_models::glm::{GlmCounts, GlmOptions, GlmPartial, GlmPema, LogitOptions, RxGlm};
use rx_models::linmod::{LinModOptions, RxLinMod};
use rx_models::suffstats::{
    Atom, GroupStats, StatsLayout, SuffStats, lin_mod_from_stats, tsqr_from_stats,
};
use rx_models::summary::{
    CellsSql, Moments, RxSummary, SummaryOptions, SummaryPema, SummarySql, TermCells,
};

/// The in-database compute context for any ODBC database (revoscalepy's `RxInSqlServer`, for
/// every database the dialects know).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RxInDatabase {
    /// Refuse sources whose database is not SQL Server ([`RxInSqlServer`]).
    sql_server_only: bool,
    /// Print nothing when an analysis streams rows instead.
    quiet: bool,
}

/// revoscalepy's `RxInSqlServer`: [`RxInDatabase`] for SQL Server sources.
pub type RxInSqlServer = RxInDatabase;

impl RxInDatabase {
    /// The context for any ODBC database.
    pub fn new() -> Self {
        RxInDatabase::default()
    }

    /// The context for SQL Server (`RxInSqlServer`): other databases are refused.
    pub fn sql_server() -> Self {
        RxInDatabase {
            sql_server_only: true,
            quiet: false,
        }
    }

    /// Whether to stay silent when an analysis streams rows instead of running in the database.
    pub fn quiet(mut self, yes: bool) -> Self {
        self.quiet = yes;
        self
    }

    /// `rx_lin_mod` inside the database: only aggregates travel.
    pub fn lin_mod(
        &self,
        formula: &str,
        data: &RxOdbcData,
        options: &LinModOptions,
    ) -> Result<RxLinMod> {
        let parsed = rx_models::linmod::parse_formula(formula)?;
        if options.cube || data.has_column_info() {
            self.say(&format!(
                "rx_lin_mod with {} has no in-database form; streaming the rows over ODBC",
                if options.cube {
                    "cube = true"
                } else {
                    "column_info on the source"
                }
            ));
            return rx_models::linmod::rx_lin_mod(formula, data, options, &RxLocalSeq);
        }
        let db = Db::open(data, self.sql_server_only)?;
        let design = db.design(&parsed, options.drop_first)?;
        if matches!(
            design.response.as_ref().map(|r| &r.source),
            Some(ResponseSource::Factor(_))
        ) {
            return Err(Error::invalid(format!(
                "{formula}: the response is a factor; rx_lin_mod needs a numeric response (use rx_logit for a binary factor)"
            )));
        }
        let layout = StatsLayout::of(&design)?;
        let weights = Weights::of(
            &db,
            options.pweights.as_deref(),
            options.fweights.as_deref(),
        )?;
        let stats = db.linear_stats(&design, &layout, &weights)?;
        lin_mod_from_stats(design, options, &layout, &stats)
    }

    /// `rx_logit` inside the database: one aggregate query per IRLS iteration (see
    /// [`RxInDatabase::glm`]).
    pub fn logit(&self, formula: &str, data: &RxOdbcData, options: &LogitOptions) -> Result<RxGlm> {
        self.glm(formula, data, &options.glm_options())
    }

    /// `rx_glm` inside the database, for the binomial family with the logit link and a 0/1 (or
    /// two-level factor) response: a query for the counts and the centres of the numeric
    /// variables, then per IRLS iteration one `GROUP BY` query of the working least-squares
    /// problem's group sums and the deviance. Other families and links, probability weights
    /// and offsets stream the rows into the local fit, and say so.
    pub fn glm(&self, formula: &str, data: &RxOdbcData, options: &GlmOptions) -> Result<RxGlm> {
        let parsed = options.check(formula)?;
        let link = options.link.unwrap_or(options.family.default_link());
        let local = |why: &str| {
            self.say(&format!(
                "rx_glm with {why} has no in-database form; streaming the rows over ODBC"
            ));
            rx_models::rx_glm(formula, data, options, &RxLocalSeq)
        };
        if options.family != Family::Binomial || link != Link::Logit {
            return local(&format!(
                "the {} family and {} link (only binomial with logit runs in the database)",
                options.family.name(),
                link.name()
            ));
        }
        if options.pweights.is_some() {
            return local("probability weights");
        }
        if options.offset.is_some() {
            return local("an offset");
        }
        if data.has_column_info() {
            return local("column_info on the source");
        }
        let db = Db::open(data, self.sql_server_only)?;
        if !db.has_math()? {
            return local("a database without EXP and LN");
        }
        let design = db.design(&parsed, options.drop_first)?;
        if !design.offsets.is_empty() {
            return local("offset() in the formula");
        }
        let weights = Weights::of(&db, None, options.fweights.as_deref())?;
        let rows = db.model_rows(&design, &weights)?;
        let pre = db.logit_counts(&rows)?;
        if pre.not_binary > 0.0 {
            return local("a response other than 0 and 1");
        }
        let layout = StatsLayout::working(&design)?;
        let mut pema = GlmPema::new(design, link, &options.clone().gram_steps(false));
        // The IRLS ends by its own rules (at most max_iterations, and a few step halvings).
        for _ in 0..10_000 {
            let partial = db.logit_pass(&pema, &layout, &rows, &pre)?;
            if let Step::Done(fit) = pema.finish(partial)? {
                return Ok(fit);
            }
        }
        Err(Error::invalid(format!(
            "{formula}: the in-database IRLS did not end"
        )))
    }

    /// `rx_summary` inside the database: per term one `GROUP BY` query of counts, weighted sums
    /// about a shift, sums of squares, minimum and maximum. Text levels come sorted (the database
    /// has no row order for first appearances); `N(f)` and `F(x)` terms stream the rows instead.
    pub fn summary(
        &self,
        formula: &str,
        data: &RxOdbcData,
        options: &SummaryOptions,
    ) -> Result<RxSummary> {
        self.cells("rx_summary", data, |schema, name| {
            SummaryPema::new(formula, schema, name, options)
        })
        .unwrap_or_else(|| rx_models::rx_summary(formula, data, options, &RxLocalSeq))
    }

    /// `rx_cube` inside the database: one `GROUP BY` over the factors, with the counts and the
    /// response's sums per cell. Text levels come sorted; `F(x)` factors stream the rows.
    pub fn cube(&self, formula: &str, data: &RxOdbcData, options: &CubeOptions) -> Result<RxCube> {
        self.cells("rx_cube", data, |schema, name| {
            CubePema::new(formula, schema, name, options)
        })
        .unwrap_or_else(|| rx_models::rx_cube(formula, data, options, &RxLocalSeq))
    }

    /// `rx_crosstabs` inside the database: one `GROUP BY` per term; marginals and the
    /// chi-square tests are computed from the cells. Text levels come sorted; `F(x)` factors
    /// stream the rows.
    pub fn crosstabs(
        &self,
        formula: &str,
        data: &RxOdbcData,
        options: &CrossTabsOptions,
    ) -> Result<RxCrossTabs> {
        self.cells("rx_crosstabs", data, |schema, name| {
            CrossTabsPema::new(formula, schema, name, options)
        })
        .unwrap_or_else(|| rx_models::rx_crosstabs(formula, data, options, &RxLocalSeq))
    }

    /// Runs an analysis of cells in the database; `None` (after saying so) when it has no
    /// in-database form and the caller should stream the rows.
    fn cells<P: CellsSql>(
        &self,
        what: &str,
        data: &RxOdbcData,
        make: impl FnOnce(&Schema, &str) -> Result<P>,
    ) -> Option<Result<P::Output>> {
        let local = |why: &str| {
            self.say(&format!(
                "{what} with {why} has no in-database form; streaming the rows over ODBC"
            ));
            None
        };
        if data.has_column_info() {
            return local("column_info on the source");
        }
        let run = || -> Result<Option<P::Output>> {
            let db = Db::open(data, self.sql_server_only)?;
            let mut pema = make(&db.schema, &data.name())?;
            match pema.sql() {
                Some(sql) => db.cells(&mut pema, &sql).map(Some),
                None => Ok(None),
            }
        };
        match run() {
            Ok(Some(out)) => Some(Ok(out)),
            Ok(None) => local("N(f) codes, F(x) levels or declared factor levels"),
            Err(e) => Some(Err(e)),
        }
    }

    fn say(&self, message: &str) {
        if !self.quiet {
            eprintln!("RxInDatabase: {message}");
        }
    }
}

impl ComputeContext for RxInDatabase {
    fn name(&self) -> &str {
        if self.sql_server_only {
            "RxInSqlServer"
        } else {
            "RxInDatabase"
        }
    }

    /// An analysis without an in-database form: the rows stream over ODBC into the local
    /// algorithm (and a note says so).
    fn run<P: Pema>(
        &self,
        pema: &mut P,
        source: &dyn DataSource,
        options: &RxOptions,
    ) -> Result<P::Output> {
        let name = std::any::type_name::<P>();
        let short = name.rsplit("::").next().unwrap_or(name);
        self.say(&format!(
            "{short} has no in-database form; streaming the rows of {} into the local algorithm",
            source.name()
        ));
        RxLocalSeq.run(pema, source, options)
    }
}

/// The weights of a fit as SQL: `w` (probability × frequency) and `f` (frequency).
struct Weights {
    w: String,
    f: String,
    columns: Vec<String>,
}

impl Weights {
    fn of(db: &Db, pweights: Option<&str>, fweights: Option<&str>) -> Result<Weights> {
        let mut w = Vec::new();
        let mut columns = Vec::new();
        let mut f = "1".to_string();
        for (c, freq) in [(pweights, false), (fweights, true)] {
            if let Some(c) = c {
                db.check_column(c)?;
                let e = db.float(&db.dialect.ident(c)?);
                if freq {
                    f = e.clone();
                }
                w.push(e);
                columns.push(c.to_string());
            }
        }
        Ok(Weights {
            w: if w.is_empty() {
                "1".into()
            } else {
                w.join(" * ")
            },
            f,
            columns,
        })
    }
}

/// A database source, connected once to learn its dialect and schema.
struct Db<'a> {
    data: &'a RxOdbcData,
    dialect: Dialect,
    schema: Arc<Schema>,
    from: String,
}

impl<'a> Db<'a> {
    fn open(data: &'a RxOdbcData, sql_server_only: bool) -> Result<Db<'a>> {
        let dialect = {
            let conn = data.connect()?;
            data.dialect_of(&conn)
        };
        if sql_server_only && dialect != Dialect::SqlServer {
            return Err(Error::invalid(format!(
                "RxInSqlServer runs in SQL Server, but {} is a {dialect:?} database; use RxInDatabase",
                data.name()
            )));
        }
        let schema = data.schema()?;
        let from = match data.from() {
            From::Table(t) => dialect.ident(t)?,
            From::Query(q) => format!("({}) rx_src", q.trim().trim_end_matches(';')),
        };
        Ok(Db {
            data,
            dialect,
            schema,
            from,
        })
    }

    fn check_column(&self, c: &str) -> Result<()> {
        if self.schema.field_with_name(c).is_err() {
            return Err(Error::invalid(format!(
                "{}: no column '{c}'; the columns are {}",
                self.data.name(),
                self.schema
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(())
    }

    /// `e` as a double.
    fn float(&self, e: &str) -> String {
        match self.dialect {
            Dialect::SqlServer => format!("CAST({e} AS FLOAT)"),
            Dialect::Sqlite => format!("CAST({e} AS REAL)"),
            _ => format!("CAST({e} AS DOUBLE PRECISION)"),
        }
    }

    /// A double literal that reads back as exactly `v`.
    fn number(&self, v: f64) -> Result<String> {
        if !v.is_finite() {
            return Err(Error::invalid(format!(
                "the in-database fit met a non-finite value ({v}); check the data for infinities"
            )));
        }
        Ok(self.float(&format!("{v:e}")))
    }

    /// An aggregate as the result column `c<i>`, read back without loss (SQLite's driver gives
    /// 15 digits of a double, so SQLite prints 17).
    fn out(&self, agg: &str, i: usize) -> String {
        match self.dialect {
            Dialect::Sqlite => format!("printf('%!.17g', {agg}) AS c{i}"),
            _ => format!("{agg} AS c{i}"),
        }
    }

    fn count(&self) -> &'static str {
        match self.dialect {
            Dialect::SqlServer => "COUNT_BIG(*)",
            _ => "COUNT(*)",
        }
    }

    /// Runs a query and returns its result as one batch.
    fn query(&self, sql: &str) -> Result<RecordBatch> {
        let q = RxOdbcData::with(
            self.data.connection_string().clone(),
            From::Query(sql.into()),
        )
        .dialect(self.dialect)
        .trim_space(self.data.trims_space())
        .rows_per_read(100_000);
        let schema = q.schema().map_err(|e| self.explain(e, sql))?;
        let mut batches = Vec::new();
        for b in q
            .open(&ReadOptions::default())
            .map_err(|e| self.explain(e, sql))?
        {
            batches.push(b.map_err(|e| self.explain(e, sql))?);
        }
        arrow::compute::concat_batches(&schema, &batches)
            .map_err(|e| Error::arrow(format!("{}: collecting {sql}", self.data.name()), e))
    }

    fn explain(&self, e: Error, sql: &str) -> Error {
        Error::invalid(format!(
            "{}: the in-database query failed ({e}); the query was: {sql}. If the database lacks a function the formula uses, run the analysis with the local context instead",
            self.data.name()
        ))
    }

    /// The SQL of a numeric variable's values.
    fn numeric(&self, s: &NumSource) -> Result<String> {
        match s {
            NumSource::Column(c) => {
                let q = self.dialect.ident(c)?;
                Ok(
                    match self.schema.field_with_name(c).map(|f| f.data_type()) {
                        Ok(DataType::Boolean) => {
                            format!("CASE WHEN {q} THEN 1.0 WHEN NOT {q} THEN 0.0 END")
                        }
                        _ => self.float(&q),
                    },
                )
            }
            NumSource::Computed(e) => self.expr(e),
            NumSource::Codes { column, levels } => {
                let mut s = format!("CASE {}", self.dialect.ident(column)?);
                for (i, l) in levels.iter().enumerate() {
                    s.push_str(&format!(" WHEN {} THEN {}", self.dialect.string(l)?, i + 1));
                }
                s.push_str(" END");
                Ok(self.float(&s))
            }
        }
    }

    /// A formula expression as SQL; undefined values (log of a non-positive number, division by
    /// zero) become NULL, so the row counts as missing.
    fn expr(&self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::Column(c) => self.numeric(&NumSource::Column(c.clone()))?,
            Expr::Number(v) => self.number(*v)?,
            Expr::Neg(a) => format!("(-{})", self.expr(a)?),
            Expr::Binary { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                match op {
                    BinOp::Add => format!("({a} + {b})"),
                    BinOp::Sub => format!("({a} - {b})"),
                    BinOp::Mul => format!("({a} * {b})"),
                    BinOp::Div => format!("({a} / NULLIF({b}, 0))"),
                    BinOp::Pow => format!("POWER({a}, {b})"),
                }
            }
            Expr::Call { func, arg } => {
                let a = self.expr(arg)?;
                let ln = |x: &str| match self.dialect {
                    Dialect::SqlServer => format!("LOG({x})"),
                    _ => format!("LN({x})"),
                };
                match func {
                    Func::Log => format!("(CASE WHEN {a} > 0 THEN {} END)", ln(&a)),
                    Func::Log10 => format!(
                        "(CASE WHEN {a} > 0 THEN {} / {} END)",
                        ln(&a),
                        ln(&self.number(10.0)?)
                    ),
                    Func::Log2 => format!(
                        "(CASE WHEN {a} > 0 THEN {} / {} END)",
                        ln(&a),
                        ln(&self.number(2.0)?)
                    ),
                    Func::Exp => format!("EXP({a})"),
                    Func::Sqrt => format!("(CASE WHEN {a} >= 0 THEN SQRT({a}) END)"),
                    Func::Abs => format!("ABS({a})"),
                }
            }
        })
    }

    /// The SQL of a factor's group key.
    fn factor_key(&self, source: &FactorSource) -> Result<String> {
        match source {
            FactorSource::Column(c) => self.dialect.ident(c),
            FactorSource::Integer { column, .. } => {
                let x = self.float(&self.dialect.ident(column)?);
                Ok(match self.dialect {
                    // No FLOOR without SQLite's optional math functions.
                    Dialect::Sqlite => {
                        format!("(CAST({x} AS INTEGER) - ({x} < CAST({x} AS INTEGER)))")
                    }
                    _ => format!("FLOOR({x})"),
                })
            }
        }
    }

    /// Levels of text columns (sorted, as the local levels pass sorts text) and ranges of `F(x)`
    /// columns, by `SELECT DISTINCT` and `MIN`/`MAX`.
    fn levels(&self, req: &LevelsRequest) -> Result<FoundLevels> {
        let mut found = FoundLevels::default();
        for c in &req.level_columns {
            let q = self.dialect.ident(c)?;
            let text = !matches!(
                self.schema.field_with_name(c).map(|f| f.data_type()),
                Ok(DataType::Dictionary(..))
            );
            let sql = format!(
                "SELECT DISTINCT {q} AS c0 FROM {} WHERE {q} IS NOT NULL",
                self.from
            );
            let b = self.query(&sql)?;
            let col = arrow::compute::cast(b.column(0), &DataType::Utf8)
                .map_err(|e| Error::arrow(format!("reading the levels of '{c}'"), e))?;
            let mut levels: Vec<String> = col
                .as_string::<i32>()
                .iter()
                .flatten()
                .map(str::to_string)
                .collect();
            levels.sort();
            levels.dedup();
            found.levels.push((c.clone(), levels, text));
        }
        for c in &req.range_columns {
            let x = self.float(&self.dialect.ident(c)?);
            let sql = format!(
                "SELECT {}, {} FROM {}",
                self.out(&format!("MIN({x})"), 0),
                self.out(&format!("MAX({x})"), 1),
                self.from
            );
            let b = self.query(&sql)?;
            let v = floats(&b)?;
            if let (Some(Some(lo)), Some(Some(hi))) = (v[0].first(), v[1].first()) {
                found.ranges.push((c.clone(), *lo, *hi));
            }
        }
        Ok(found)
    }

    /// The group statistics of a linear model: two queries over the source.
    fn linear_stats(
        &self,
        design: &Design,
        layout: &StatsLayout,
        weights: &Weights,
    ) -> Result<SuffStats> {
        let rows = self.model_rows(design, weights)?;
        let (valid, numerics, response) = (&rows.valid, &rows.numerics, &rows.response);
        let w = &weights.w;

        // Query 1: counts and the means the atoms are centred by.
        let mut cols = vec![
            self.out(self.count(), 0),
            self.out(&format!("SUM(CASE WHEN {valid} THEN 1 ELSE 0 END)"), 1),
            self.out(&format!("SUM(CASE WHEN {valid} THEN {w} END)"), 2),
        ];
        for (i, e) in numerics.iter().chain(std::iter::once(response)).enumerate() {
            cols.push(self.out(&format!("SUM(CASE WHEN {valid} THEN {w} * {e} END)"), 3 + i));
        }
        let b = self.query(&format!("SELECT {} FROM {}", cols.join(", "), self.from))?;
        let v = floats(&b)?;
        let first = |i: usize| v[i].first().copied().flatten().unwrap_or(0.0);
        let (n_all, n_valid, sum_w) = (first(0), first(1), first(2));
        let mean = |i: usize| {
            if sum_w != 0.0 {
                first(3 + i) / sum_w
            } else {
                0.0
            }
        };
        let means: Vec<f64> = (0..numerics.len()).map(mean).collect();
        let response_mean = mean(numerics.len());
        let n_missing = (n_all - n_valid).max(0.0) as u64;
        if n_valid == 0.0 {
            return Ok(SuffStats {
                means,
                response_mean,
                groups: Vec::new(),
                n_missing,
            });
        }

        // Query 2: per combination of factor levels, the sums of the centred atoms and their
        // products.
        let atoms: Vec<String> = layout
            .atoms
            .iter()
            .map(|a| match a {
                Atom::Product(vars) => self.centred_product(vars, numerics, &means),
                Atom::Response(_) => Ok(format!("({response} - {})", self.number(response_mean)?)),
            })
            .collect::<Result<_>>()?;
        let keys = &rows.keys;
        let nk = keys.len();
        let mut cols: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        let f = &weights.f;
        cols.extend(self.group_sums(w, &format!("CASE WHEN {w} > 0 THEN {f} ELSE 0 END"), &atoms));
        let mut sql = format!(
            "SELECT {} FROM {} WHERE {valid}",
            cols.join(", "),
            self.from
        );
        if nk > 0 {
            sql.push_str(&format!(" GROUP BY {}", keys.join(", ")));
        }
        let b = self.query(&sql)?;
        let groups = self
            .groups_of(&b, design, layout)?
            .0
            .into_iter()
            .map(|(g, _)| g)
            .collect();
        Ok(SuffStats {
            means,
            response_mean,
            groups,
            n_missing,
        })
    }

    /// The design of a parsed formula on this source, factor levels found by `SELECT DISTINCT`.
    fn design(&self, parsed: &rx_core::formula::Formula, drop_first: bool) -> Result<Design> {
        Design::resolve_with(
            parsed,
            &self.schema,
            &self.data.name(),
            DesignOptions { drop_first },
            |req| self.levels(req),
        )
    }

    /// `Π (v − centre)` over the numerics `vars` (values as SQL, centres as exact literals).
    fn centred_product(
        &self,
        vars: &[usize],
        values: &[String],
        centres: &[f64],
    ) -> Result<String> {
        Ok(vars
            .iter()
            .map(|&v| Ok(format!("({} - {})", values[v], self.number(centres[v])?)))
            .collect::<Result<Vec<_>>>()?
            .join(" * "))
    }

    /// The sums of a group query, after its key columns: the row count, `Σ w`, the observations
    /// (`Σ n_obs`), then `Σ w·a` per atom and `Σ w·a·b` per pair of atoms (see [`GroupStats`]).
    fn group_sums(&self, w: &str, n_obs: &str, atoms: &[String]) -> Vec<String> {
        let mut cols = vec![
            self.out(self.count(), 0),
            self.out(&format!("SUM({w})"), 1),
            self.out(&format!("SUM({n_obs})"), 2),
        ];
        for a in atoms {
            cols.push(self.out(&format!("SUM({w} * {a})"), cols.len()));
        }
        for x in 0..atoms.len() {
            for z in x..atoms.len() {
                cols.push(self.out(
                    &format!("SUM({w} * {} * {})", atoms[x], atoms[z]),
                    cols.len(),
                ));
            }
        }
        cols
    }

    /// The groups of a result whose columns are the design's factor keys and then
    /// [`Db::group_sums`]'s (empty groups left out), each with its row; and the result's numbers
    /// (after the keys) for any further columns.
    fn groups_of(
        &self,
        b: &RecordBatch,
        design: &Design,
        layout: &StatsLayout,
    ) -> Result<(Vec<(GroupStats, usize)>, Numbers)> {
        let nk = design.factors.len();
        let (key_cols, nums) = keys_and_numbers(b, nk)?;
        let na = layout.atoms.len();
        let mut groups = Vec::with_capacity(b.num_rows());
        for r in 0..b.num_rows() {
            let get = |c: usize| nums.get(c).and_then(|v| v[r]).unwrap_or(0.0);
            if get(0) == 0.0 {
                continue;
            }
            let mut levels = Vec::with_capacity(nk);
            for (k, f) in design.factors.iter().enumerate() {
                levels.push(self.level_of(key_cols[k].as_string::<i32>(), r, f)?);
            }
            let group = GroupStats {
                levels,
                rows: get(0) as u64,
                sum_w: get(1),
                n_obs: get(2),
                s1: (0..na).map(|a| get(3 + a)).collect(),
                s2: (0..layout.pairs()).map(|p| get(3 + na + p)).collect(),
            };
            groups.push((group, r));
        }
        Ok((groups, nums))
    }

    /// Whether the database has `EXP` and `LN` (SQLite has them only when built with its math
    /// functions).
    fn has_math(&self) -> Result<bool> {
        if self.dialect != Dialect::Sqlite {
            return Ok(true);
        }
        Ok(self
            .query(&format!(
                "SELECT EXP({0}) AS c0, LN({0}) AS c1",
                self.number(1.0)?
            ))
            .is_ok())
    }

    /// The rows of a model as SQL: which are valid, and the values of its variables there.
    fn model_rows(&self, design: &Design, weights: &Weights) -> Result<ModelRows> {
        let mut valid: Vec<String> = Vec::new();
        for c in design.columns(
            &weights
                .columns
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        ) {
            self.check_column(&c)?;
            valid.push(format!("{} IS NOT NULL", self.dialect.ident(&c)?));
        }
        let numerics: Vec<String> = design
            .numerics
            .iter()
            .map(|n| self.numeric(&n.source))
            .collect::<Result<_>>()?;
        let keys: Vec<String> = design
            .factors
            .iter()
            .map(|f| self.factor_key(&f.source))
            .collect::<Result<_>>()?;
        let response = match design.response.as_ref().map(|r| &r.source) {
            Some(ResponseSource::Numeric(s)) => self.numeric(s)?,
            Some(ResponseSource::Factor(f)) => {
                let first = f.levels.first().ok_or_else(|| {
                    Error::invalid(format!(
                        "{}: the response factor '{}' has no levels",
                        self.data.name(),
                        f.name
                    ))
                })?;
                format!(
                    "CASE WHEN {} = {} THEN 0.0 ELSE 1.0 END",
                    self.factor_key(&f.source)?,
                    self.level_literal(f, 0, first)?
                )
            }
            None => return Err(Error::invalid("internal: a model without a response")),
        };
        // Computed terms are NULL where undefined (log of a non-positive number, ...).
        for e in numerics.iter().chain(std::iter::once(&response)) {
            valid.push(format!("{e} IS NOT NULL"));
        }
        valid.push(format!("{} IS NOT NULL", weights.w));
        Ok(ModelRows {
            valid: valid.join(" AND "),
            numerics,
            keys,
            response,
            f: weights.f.clone(),
        })
    }

    /// The literal a factor's key is compared with for level `l` (named `name`).
    fn level_literal(
        &self,
        f: &rx_models::design::FactorVar,
        l: usize,
        name: &str,
    ) -> Result<String> {
        match &f.source {
            FactorSource::Column(_) => self.dialect.string(name),
            FactorSource::Integer { low, .. } => self.number((low + l as i64) as f64),
        }
    }

    /// The first query of an in-database logistic regression: counts, sums and the centres of
    /// the numeric variables.
    fn logit_counts(&self, rows: &ModelRows) -> Result<LogitCounts> {
        let (valid, f, y) = (&rows.valid, &rows.f, &rows.response);
        let mut cols = vec![
            self.out(self.count(), 0),
            self.out(&format!("SUM(CASE WHEN {valid} THEN 1 ELSE 0 END)"), 1),
            self.out(&format!("SUM(CASE WHEN {valid} THEN {f} END)"), 2),
            self.out(&format!("SUM(CASE WHEN {valid} THEN {f} * {y} END)"), 3),
            self.out(
                &format!("SUM(CASE WHEN {valid} AND {y} <> 0 AND {y} <> 1 THEN 1 ELSE 0 END)"),
                4,
            ),
            self.out(
                &format!("SUM(CASE WHEN {valid} AND {f} < 0 THEN 1 ELSE 0 END)"),
                5,
            ),
        ];
        for (i, e) in rows.numerics.iter().enumerate() {
            cols.push(self.out(&format!("SUM(CASE WHEN {valid} THEN {f} * {e} END)"), 6 + i));
        }
        let b = self.query(&format!("SELECT {} FROM {}", cols.join(", "), self.from))?;
        let v = floats(&b)?;
        let first = |i: usize| v[i].first().copied().flatten().unwrap_or(0.0);
        if first(5) > 0.0 {
            return Err(Error::invalid(format!(
                "{}: the frequency weights have {} negative values; weights must be 0 or more",
                self.data.name(),
                first(5)
            )));
        }
        let sum_f = first(2);
        let means = (0..rows.numerics.len())
            .map(|i| {
                if sum_f > 0.0 {
                    first(6 + i) / sum_f
                } else {
                    0.0
                }
            })
            .collect();
        Ok(LogitCounts {
            counts: GlmCounts {
                n_valid: first(1) as u64,
                n_missing: (first(0) - first(1)).max(0.0) as u64,
                n_obs: sum_f,
                sum_w: Dd::new(sum_f),
                sum_wy: Dd::new(first(3)),
                non_integer: 0,
            },
            means,
            not_binary: first(4),
        })
    }

    /// One IRLS pass of a logistic regression at the PEMA's current point: the group sums of
    /// the working least-squares problem, the deviance and the counts the PEMA checks.
    fn logit_pass(
        &self,
        pema: &GlmPema,
        layout: &StatsLayout,
        rows: &ModelRows,
        pre: &LogitCounts,
    ) -> Result<GlmPartial> {
        let design = pema.design();
        let y = &rows.response;
        let eta = match pema.point() {
            None => {
                let start =
                    |v: f64| self.number(Link::Logit.link(Family::Binomial.mustart(v, 1.0)));
                format!(
                    "CASE WHEN {y} = 1 THEN {} ELSE {} END",
                    start(1.0)?,
                    start(0.0)?
                )
            }
            Some(beta) => {
                let mut parts = Vec::new();
                for c in &design.coefs {
                    let Some(j) = c.column else { continue };
                    let b = beta.get(j).copied().unwrap_or(0.0);
                    if b == 0.0 {
                        continue;
                    }
                    let mut product = vec![self.number(b)?];
                    let mut when = Vec::new();
                    if let Some(t) = c.term {
                        let term = &design.terms[t];
                        product.extend(term.numerics.iter().map(|&v| rows.numerics[v].clone()));
                        for (&f, &l) in term.factors.iter().zip(&c.levels) {
                            let fv = &design.factors[f];
                            let name = fv.levels.get(l).map_or("", String::as_str);
                            when.push(format!(
                                "{} = {}",
                                rows.keys[f],
                                self.level_literal(fv, l, name)?
                            ));
                        }
                    }
                    let product = product.join(" * ");
                    parts.push(if when.is_empty() {
                        product
                    } else {
                        format!(
                            "CASE WHEN {} THEN {product} ELSE 0.0 END",
                            when.join(" AND ")
                        )
                    });
                }
                if parts.is_empty() {
                    self.number(0.0)?
                } else {
                    parts.join(" + ")
                }
            }
        };
        // Innermost: keys, centred atoms, y, f and η of the valid rows.
        let mut inner: Vec<String> = rows
            .keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{k} AS k{i}"))
            .collect();
        let mut atoms = Vec::with_capacity(layout.atoms.len());
        for (i, a) in layout.atoms.iter().enumerate() {
            match a {
                Atom::Product(vars) => {
                    let e = self.centred_product(vars, &rows.numerics, &pre.means)?;
                    inner.push(format!("{e} AS a{i}"));
                    atoms.push(format!("a{i}"));
                }
                Atom::Response(_) => atoms.push("rx_z".to_string()),
            }
        }
        inner.push(format!("{y} AS rx_y"));
        inner.push(format!("{} AS rx_f", rows.f));
        inner.push(format!("{eta} AS rx_eta"));
        let eps = f64::EPSILON;
        let sql_inner = format!(
            "SELECT {} FROM {} WHERE {}",
            inner.join(", "),
            self.from,
            rows.valid
        );
        // R's logit link: η clamped at ±30.
        let l2 = format!(
            "SELECT r.*, CASE WHEN rx_eta < -30 THEN {} WHEN rx_eta > 30 THEN {} ELSE EXP(rx_eta) END AS rx_e FROM ({sql_inner}) r",
            self.number(eps)?,
            self.number(1.0 / eps)?
        );
        let l3 = format!(
            "SELECT r.*, rx_e / (1.0 + rx_e) AS rx_mu, CASE WHEN ABS(rx_eta) > 30 THEN {} ELSE rx_e / ((1.0 + rx_e) * (1.0 + rx_e)) END AS rx_me FROM ({l2}) r",
            self.number(eps)?
        );
        let l4 = format!(
            "SELECT r.*, rx_f * rx_me * rx_me / (rx_mu * (1.0 - rx_mu)) AS rx_w, rx_eta + (rx_y - rx_mu) / rx_me AS rx_z FROM ({l3}) r"
        );
        let nk = rows.keys.len();
        let mut cols: Vec<String> = (0..nk).map(|i| format!("k{i}")).collect();
        cols.extend(self.group_sums("rx_w", "rx_f", &atoms));
        let i = cols.len() - nk;
        let extra = i;
        // R's binomial deviance residuals of a 0/1 response, 2·log(1/μ) or 2·log(1/(1−μ)).
        cols.push(self.out(
            "SUM(2.0 * rx_f * LN(1.0 / (CASE WHEN rx_y = 1 THEN rx_mu ELSE 1.0 - rx_mu END)))",
            extra,
        ));
        cols.push(self.out(
            &format!(
                "SUM(CASE WHEN rx_mu > {} OR rx_mu < {} THEN 1 ELSE 0 END)",
                self.number(1.0 - 10.0 * eps)?,
                self.number(10.0 * eps)?
            ),
            extra + 1,
        ));
        cols.push(self.out("SUM(CASE WHEN rx_w > 0 THEN 1 ELSE 0 END)", extra + 2));
        let mut sql = format!("SELECT {} FROM ({l4}) r", cols.join(", "));
        if nk > 0 {
            sql.push_str(&format!(
                " GROUP BY {}",
                (0..nk)
                    .map(|i| format!("k{i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let b = self.query(&sql)?;
        let (groups, nums) = self.groups_of(&b, design, layout)?;
        let (mut dev, mut extreme, mut informative) = (Dd::ZERO, 0u64, 0u64);
        for (_, r) in &groups {
            let get = |c: usize| nums[c][*r].unwrap_or(0.0);
            dev = dev.add(Dd::new(get(extra)));
            extreme += get(extra + 1) as u64;
            informative += get(extra + 2) as u64;
        }
        let groups = groups.into_iter().map(|(g, _)| g).collect();
        let mut partial = pema.init();
        let stats = SuffStats {
            means: pre.means.clone(),
            response_mean: 0.0,
            groups,
            n_missing: pre.counts.n_missing,
        };
        if partial.fit && stats.groups.iter().map(|g| g.sum_w).sum::<f64>() > 0.0 {
            partial.tsqr = tsqr_from_stats(layout, &stats);
        }
        let dev = dev.to_f64();
        partial.dev = Dd::new(dev);
        partial.extreme = extreme;
        partial.informative = informative;
        let sum_f = pre.counts.sum_w.to_f64();
        partial.aic.n = sum_f;
        partial.aic.sum_w = sum_f;
        partial.aic.minus_2_loglik = dev;
        partial.counts = pre.counts.clone();
        // The null model: the deviance at the mean of y (with an intercept) or at μ = ½.
        let m = if design.intercept {
            pre.counts.sum_wy.div(pre.counts.sum_w).to_f64()
        } else {
            Link::Logit.inverse(0.0)
        };
        let ones = pre.counts.sum_wy.to_f64();
        let fam = Family::Binomial;
        partial.null.dev = Dd::new(ones * fam.dev_resid(1.0, m, 1.0))
            .add(Dd::new((sum_f - ones) * fam.dev_resid(0.0, m, 1.0)));
        Ok(partial)
    }

    /// The first non-missing value of `v` (the shift its sums are taken about).
    fn first_value(&self, v: &str) -> Result<f64> {
        let sql = match self.dialect {
            Dialect::SqlServer => {
                format!(
                    "SELECT TOP 1 {} FROM {} WHERE {v} IS NOT NULL",
                    self.out(v, 0),
                    self.from
                )
            }
            Dialect::Generic => format!(
                "SELECT {} FROM {} WHERE {v} IS NOT NULL FETCH FIRST 1 ROWS ONLY",
                self.out(v, 0),
                self.from
            ),
            _ => format!(
                "SELECT {} FROM {} WHERE {v} IS NOT NULL LIMIT 1",
                self.out(v, 0),
                self.from
            ),
        };
        let b = self.query(&sql)?;
        Ok(floats(&b)?[0].first().copied().flatten().unwrap_or(0.0))
    }

    /// The cells of every term of a summary, cube or cross tabulation, one query per term.
    fn cells<P: CellsSql>(&self, pema: &mut P, sql: &SummarySql) -> Result<P::Output> {
        let wq = match &sql.weights {
            Some(w) => {
                self.check_column(w)?;
                self.float(&self.dialect.ident(w)?)
            }
            None => "1".to_string(),
        };
        let wm = if sql.weights.is_some() {
            format!("COALESCE({wq}, 1)")
        } else {
            "1".into()
        };
        let numeric: Vec<String> = sql
            .numeric
            .iter()
            .map(|e| self.expr(e))
            .collect::<Result<_>>()?;
        let factors: Vec<String> = sql
            .factors
            .iter()
            .map(|f| self.dialect.ident(f))
            .collect::<Result<_>>()?;
        let mut all = vec!["1 = 1".to_string()];
        if sql.weights.is_some() {
            all.push(format!("{wq} IS NOT NULL"));
        }
        all.extend(numeric.iter().map(|e| format!("{e} IS NOT NULL")));
        all.extend(factors.iter().map(|f| format!("{f} IS NOT NULL")));
        let all = all.join(" AND ");
        let b = self.query(&format!(
            "SELECT {}, {}, {} FROM {}",
            self.out(self.count(), 0),
            self.out(&format!("SUM(CASE WHEN {all} THEN 1 ELSE 0 END)"), 1),
            self.out(&format!("SUM(CASE WHEN {wq} < 0 THEN 1 ELSE 0 END)"), 2),
            self.from
        ))?;
        let v = floats(&b)?;
        let first = |i: usize| v[i].first().copied().flatten().unwrap_or(0.0);
        let (rows, rows_valid) = (first(0) as u64, first(1) as u64);
        if first(2) > 0.0
            && let Some(w) = &sql.weights
        {
            return Err(Error::invalid(format!(
                "{}: the weight column '{w}' has {} negative values; frequency and probability weights must be 0 or more",
                self.data.name(),
                first(2)
            )));
        }
        let mut terms = Vec::with_capacity(sql.terms.len());
        for (nums, facs) in &sql.terms {
            let value = (!nums.is_empty()).then(|| {
                nums.iter()
                    .map(|&i| format!("({})", numeric[i]))
                    .collect::<Vec<_>>()
                    .join(" * ")
            });
            let keys: Vec<&String> = facs.iter().map(|&f| &factors[f]).collect();
            let mut inside = vec![if sql.by_term {
                "1 = 1".to_string()
            } else {
                format!("({all})")
            }];
            inside.extend(keys.iter().map(|k| format!("{k} IS NOT NULL")));
            let inside = inside.join(" AND ");
            let mut ok = format!("{inside} AND {wq} IS NOT NULL AND {wq} <> 0");
            let mut cols: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k} AS k{i}"))
                .collect();
            cols.push(self.out(
                &format!("SUM(CASE WHEN NOT ({inside}) THEN {wm} ELSE 0 END)"),
                0,
            ));
            let shift = match &value {
                Some(v) => {
                    cols.push(self.out(
                        &format!(
                            "SUM(CASE WHEN {inside} AND {wq} IS NULL THEN 1 WHEN {inside} AND {wq} <> 0 AND {v} IS NULL THEN {wq} ELSE 0 END)"
                        ),
                        1,
                    ));
                    ok.push_str(&format!(" AND {v} IS NOT NULL"));
                    self.first_value(v)?
                }
                None => {
                    cols.push(self.out(
                        &format!("SUM(CASE WHEN {inside} AND {wq} IS NULL THEN 1 ELSE 0 END)"),
                        1,
                    ));
                    0.0
                }
            };
            cols.push(self.out(&format!("SUM(CASE WHEN {ok} THEN 1 ELSE 0 END)"), 2));
            cols.push(self.out(&format!("SUM(CASE WHEN {ok} THEN {wq} ELSE 0 END)"), 3));
            if let Some(v) = &value {
                let d = format!("({v} - {})", self.number(shift)?);
                cols.push(self.out(
                    &format!("SUM(CASE WHEN {ok} THEN {wq} * {d} ELSE 0 END)"),
                    4,
                ));
                cols.push(self.out(
                    &format!("SUM(CASE WHEN {ok} THEN {wq} * {d} * {d} ELSE 0 END)"),
                    5,
                ));
                cols.push(self.out(&format!("MIN(CASE WHEN {ok} THEN {v} END)"), 6));
                cols.push(self.out(&format!("MAX(CASE WHEN {ok} THEN {v} END)"), 7));
            }
            let mut q = format!("SELECT {} FROM {}", cols.join(", "), self.from);
            if !keys.is_empty() {
                q.push_str(&format!(
                    " GROUP BY {}",
                    keys.iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let b = self.query(&q)?;
            let nk = keys.len();
            let (key_cols, nums) = keys_and_numbers(&b, nk)?;
            let mut tc = TermCells::default();
            for r in 0..b.num_rows() {
                let get = |c: usize| nums.get(c).and_then(|v| v[r]).unwrap_or(0.0);
                tc.missing += get(0);
                let levels: Option<Vec<String>> = key_cols
                    .iter()
                    .map(|c| {
                        let s = c.as_string::<i32>();
                        (!s.is_null(r)).then(|| s.value(r).to_string())
                    })
                    .collect();
                let Some(levels) = levels else { continue };
                let n = get(2) as u64;
                let mut m = Moments::new();
                m.n = n;
                m.weight = rx_models::dd::Dd::new(get(3));
                m.missing = rx_models::dd::Dd::new(get(1));
                if value.is_some() && n > 0 {
                    m.shift = shift;
                    m.s1 = rx_models::dd::Dd::new(get(4));
                    m.s2 = rx_models::dd::Dd::new(get(5));
                    m.min = get(6);
                    m.max = get(7);
                }
                tc.cells.push((levels, m));
            }
            terms.push(tc);
        }
        pema.finish_cells(rows, rows_valid, terms)
    }

    /// The level index of a group key.
    fn level_of(
        &self,
        keys: &arrow::array::StringArray,
        r: usize,
        f: &rx_models::design::FactorVar,
    ) -> Result<usize> {
        let v = if keys.is_null(r) { "" } else { keys.value(r) };
        let unseen = || {
            Error::invalid(format!(
                "{}: factor '{}' has the value '{v}', which is not among its levels {:?}",
                self.data.name(),
                f.name,
                f.levels
            ))
        };
        match &f.source {
            FactorSource::Column(_) => f.levels.iter().position(|l| l == v).ok_or_else(unseen),
            FactorSource::Integer { low, .. } => {
                let x: f64 = v.trim().parse().map_err(|_| unseen())?;
                let k = x as i64 - low;
                if k < 0 || k as usize >= f.levels.len() {
                    return Err(unseen());
                }
                Ok(k as usize)
            }
        }
    }
}

/// The rows of a model as SQL (see `Db::model_rows`).
struct ModelRows {
    /// The condition of a valid row.
    valid: String,
    /// Per design numeric, its value.
    numerics: Vec<String>,
    /// Per design factor, its group key.
    keys: Vec<String>,
    /// The response (0/1 for a factor response).
    response: String,
    /// The frequency weight.
    f: String,
}

/// The first query of an in-database logistic regression.
struct LogitCounts {
    counts: GlmCounts,
    /// Per design numeric, the centre of its sums (its mean).
    means: Vec<f64>,
    /// Valid rows whose response is neither 0 nor 1.
    not_binary: f64,
}

/// Columns of a result as numbers, one `Vec` per column.
type Numbers = Vec<Vec<Option<f64>>>;

/// A grouped result split into its `nk` key columns (as text) and the rest (as numbers).
fn keys_and_numbers(b: &RecordBatch, nk: usize) -> Result<(Vec<arrow::array::ArrayRef>, Numbers)> {
    let keys = (0..nk)
        .map(|k| {
            arrow::compute::cast(b.column(k), &DataType::Utf8)
                .map_err(|e| Error::arrow("reading a group key", e))
        })
        .collect::<Result<Vec<_>>>()?;
    let nums = floats(
        &b.project(&(nk..b.num_columns()).collect::<Vec<_>>())
            .map_err(|e| Error::arrow("reading the in-database statistics", e))?,
    )?;
    Ok((keys, nums))
}

/// Every column of a result as numbers (text parsed: SQLite's exact output).
fn floats(b: &RecordBatch) -> Result<Numbers> {
    b.columns()
        .iter()
        .map(|c| {
            let x = arrow::compute::cast(c, &DataType::Float64)
                .map_err(|e| Error::arrow("reading the in-database statistics", e))?;
            Ok(x.as_primitive::<Float64Type>().iter().collect())
        })
        .collect()
}
