//! ODBC sources and sinks: `RxOdbcData` (any ODBC database) and `RxSqlServerData` (SQL Server's
//! connection-string builder and T-SQL dialect), on odbc-api and arrow-odbc.
//!
//! - **Reading** runs `SELECT <columns> FROM <table>` (or from the user's `sql_query`) and fetches
//!   chunks of `rows_per_read` rows into Arrow batches. The Arrow schema is built here from the
//!   driver's column descriptions, not left to inference: an approximate number is always read as
//!   Float64 (psqlODBC reports `double precision` as `SQL_FLOAT` with 17 digits, which arrow-odbc
//!   would read as Float32), `NUMERIC` / `DECIMAL` as Float64, and text of unknown or huge length
//!   with a buffer of `max_text_size` characters (default 8,192; a longer value is an error that
//!   names the column and says to raise it). `column_info` turns columns into factors with given
//!   levels, renames them, etc., as for text files; `trim_space` trims text values.
//! - **Writing** creates the table from the schema (or appends to it, or replaces it), and inserts
//!   the chunks with array parameters, all in **one transaction**: a failed write leaves nothing
//!   behind (the new table is rolled back with the rows), and SQLite inserts in a transaction
//!   instead of one commit per row. Factors are written as text, or as their 1-based level codes
//!   with `write_factors_as_indexes` (R's factor codes).
//! - **Passwords** never appear in errors, logs or `Debug` output ([`ConnectionString`]).
//! - **Login timeout**: a wrong password or an unreachable server fails within
//!   `login_timeout_secs` (default 15) with the driver's message.

mod conn;
mod dialect;
mod store;
pub mod testing;

use std::sync::{Arc, OnceLock};

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_odbc::odbc_api::{self, Connection, ConnectionOptions, Environment, ResultSetMetadata};
use arrow_odbc::{OdbcReaderBuilder, OdbcWriter};
use rayon::prelude::*;
use rx_core::column_info::ColumnConverter;
use rx_core::source::{ChunkReader, ChunkWriter, WriteMode};
use rx_core::{ColumnInfoMap, DataSink, DataSource, Error, ReadOptions, Result, WriteOptions};

pub use conn::{ConnectionString, SqlServerConnection, brace};
pub use dialect::{Dialect, From};
pub use store::{rx_delete_object, rx_list_keys, rx_read_object, rx_write_object};

/// The ODBC environment: one per process, as ODBC asks.
fn environment() -> Result<&'static Environment> {
    static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();
    ENV.get_or_init(|| Environment::new().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| {
            Error::invalid(format!(
                "cannot start the ODBC driver manager: {e} (is unixODBC installed?)"
            ))
        })
}

/// A data source (and sink) in an ODBC database: a table, or the result of a query.
#[derive(Debug, Clone)]
pub struct RxOdbcData {
    connection: ConnectionString,
    from: From,
    column_info: ColumnInfoMap,
    rows_per_read: usize,
    trim_space: bool,
    max_text_size: usize,
    login_timeout_secs: u32,
    write_factors_as_indexes: bool,
    dialect: Option<Dialect>,
}

/// Errors from the driver, with the password taken out and what was being done in front.
fn odbc_error(conn: &ConnectionString, what: &str, e: impl std::fmt::Display) -> Error {
    let msg = conn.scrub(&e.to_string());
    Error::External {
        context: what.to_string(),
        source: msg.into(),
    }
}

impl RxOdbcData {
    /// The table `table` in the database of `connection` (an ODBC connection string).
    pub fn table(connection: impl Into<String>, table: impl Into<String>) -> Self {
        Self::with(ConnectionString::new(connection), From::Table(table.into()))
    }

    /// The rows of `sql_query` (a `SELECT` statement) in the database of `connection`.
    pub fn query(connection: impl Into<String>, sql_query: impl Into<String>) -> Self {
        Self::with(
            ConnectionString::new(connection),
            From::Query(sql_query.into()),
        )
    }

    /// A source from a connection string and what to read.
    pub fn with(connection: ConnectionString, from: From) -> Self {
        RxOdbcData {
            connection,
            from,
            column_info: ColumnInfoMap::new(),
            rows_per_read: 50_000,
            trim_space: true,
            max_text_size: 8_192,
            login_timeout_secs: 15,
            write_factors_as_indexes: false,
            dialect: None,
        }
    }

    /// Column conversions (factor levels, new names, types), as revoscalepy's `column_info`.
    pub fn column_info(mut self, info: ColumnInfoMap) -> Self {
        self.column_info = info;
        self
    }

    /// Rows per chunk (default 50,000).
    pub fn rows_per_read(mut self, rows: usize) -> Self {
        self.rows_per_read = rows.max(1);
        self
    }

    /// Trim leading and trailing spaces of text values (default on, as in revoscalepy).
    pub fn trim_space(mut self, yes: bool) -> Self {
        self.trim_space = yes;
        self
    }

    /// The longest text value read, in characters (default 8,192).
    pub fn max_text_size(mut self, chars: usize) -> Self {
        self.max_text_size = chars.max(1);
        self
    }

    /// Seconds to wait for the login (default 15).
    pub fn login_timeout_secs(mut self, secs: u32) -> Self {
        self.login_timeout_secs = secs;
        self
    }

    /// Write factors as their 1-based level codes instead of their labels.
    pub fn write_factors_as_indexes(mut self, yes: bool) -> Self {
        self.write_factors_as_indexes = yes;
        self
    }

    /// Use this dialect instead of the one the driver's DBMS name implies.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    /// The connection string (its password hidden when printed).
    pub fn connection_string(&self) -> &ConnectionString {
        &self.connection
    }

    /// Whether text values are trimmed of trailing spaces.
    pub fn trims_space(&self) -> bool {
        self.trim_space
    }

    /// Whether `column_info` renames, retypes or relevels columns (so the table's own columns
    /// are not the ones an analysis sees).
    pub fn has_column_info(&self) -> bool {
        !self.column_info.is_empty()
    }

    /// What the source reads.
    pub fn from(&self) -> &From {
        &self.from
    }

    /// The name used in messages: the table, or the start of the query.
    pub fn label(&self) -> String {
        match &self.from {
            From::Table(t) => format!("ODBC table '{t}'"),
            From::Query(q) => {
                let q: String = q.chars().take(60).collect();
                format!("ODBC query '{q}'")
            }
        }
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Connection<'static>> {
        let env = environment()?;
        env.connect_with_connection_string(
            self.connection.expose(),
            ConnectionOptions {
                login_timeout_sec: Some(self.login_timeout_secs),
                ..Default::default()
            },
        )
        .map_err(|e| {
            odbc_error(
                &self.connection,
                &format!(
                    "cannot connect to the database ({}); check the driver, server, user and password",
                    self.connection
                ),
                e,
            )
        })
    }

    /// The dialect of the connected database.
    pub fn dialect_of(&self, conn: &Connection<'_>) -> Dialect {
        self.dialect.unwrap_or_else(|| {
            conn.database_management_system_name()
                .map(|n| Dialect::from_dbms_name(&n))
                .unwrap_or(Dialect::Generic)
        })
    }

    /// Runs one statement that returns no rows (DDL, DELETE, ...).
    pub fn execute(&self, conn: &Connection<'_>, sql: &str) -> Result<()> {
        conn.execute(sql, (), None).map_err(|e| {
            odbc_error(
                &self.connection,
                &format!("{}: running {sql}", self.label()),
                e,
            )
        })?;
        Ok(())
    }

    /// The columns of the result as the driver describes them, mapped to Arrow types that lose
    /// nothing (see the module docs).
    fn describe(&self, meta: &mut impl ResultSetMetadata, sql: &str) -> Result<Schema> {
        let what = format!("{}: describing the result of {sql}", self.label());
        let n = meta
            .num_result_cols()
            .map_err(|e| odbc_error(&self.connection, &what, e))?;
        let mut fields = Vec::with_capacity(n as usize);
        for i in 1..=n as u16 {
            let name = meta
                .col_name(i)
                .map_err(|e| odbc_error(&self.connection, &what, e))?;
            let ty = meta
                .col_data_type(i)
                .map_err(|e| odbc_error(&self.connection, &what, e))?;
            let nullable = !matches!(meta.col_nullability(i), Ok(odbc_api::Nullability::NoNulls));
            let dt = arrow_type(&ty).ok_or_else(|| {
                Error::Schema(format!(
                    "{}: column '{name}' has the ODBC type {ty:?}, which revoscale cannot read; cast it in the query (e.g. CAST({name} AS VARCHAR(100)))",
                    self.label()
                ))
            })?;
            fields.push(Field::new(name, dt, nullable));
        }
        Ok(Schema::new(fields))
    }

    /// The raw (driver) schema of all columns.
    fn raw_schema(&self, conn: &Connection<'_>, dialect: Dialect) -> Result<Schema> {
        let sql = dialect.select(&[], &self.from, None)?;
        let mut prepared = conn.prepare(&sql).map_err(|e| {
            odbc_error(
                &self.connection,
                &format!("{}: preparing {sql}", self.label()),
                e,
            )
        })?;
        self.describe(&mut prepared, &sql)
    }

    /// One converter per raw column (column_info applied).
    fn converters(&self, raw: &Schema) -> Result<Vec<ColumnConverter>> {
        let name = self.label();
        raw.fields()
            .iter()
            .map(|f| ColumnConverter::new(f, self.column_info.get(f.name()), &name))
            .collect()
    }
}

/// The Arrow type a column of ODBC type `ty` is read as (`None`: not supported).
fn arrow_type(ty: &odbc_api::DataType) -> Option<DataType> {
    use odbc_api::DataType as O;
    Some(match ty {
        O::Bit => DataType::Boolean,
        O::TinyInt | O::SmallInt => DataType::Int16,
        O::Integer => DataType::Int32,
        O::BigInt => DataType::Int64,
        O::Real => DataType::Float32,
        // SQL_FLOAT and SQL_DOUBLE are double precision whatever digits the driver reports.
        O::Float { .. } | O::Double => DataType::Float64,
        O::Numeric {
            scale: 0,
            precision,
        }
        | O::Decimal {
            scale: 0,
            precision,
        } if *precision <= 18 => DataType::Int64,
        O::Numeric { .. } | O::Decimal { .. } => DataType::Float64,
        O::Date => DataType::Date32,
        O::Timestamp { .. } => DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None),
        O::Char { .. }
        | O::WChar { .. }
        | O::Varchar { .. }
        | O::WVarchar { .. }
        | O::LongVarchar { .. }
        | O::WLongVarchar { .. }
        | O::Time { .. }
        | O::Unknown
        | O::Other { .. } => DataType::Utf8,
        _ => return None,
    })
}

impl DataSource for RxOdbcData {
    fn name(&self) -> String {
        self.label()
    }

    fn schema(&self) -> Result<SchemaRef> {
        let conn = self.connect()?;
        let dialect = self.dialect_of(&conn);
        let raw = self.raw_schema(&conn, dialect)?;
        let conv = self.converters(&raw)?;
        Ok(Arc::new(Schema::new(
            conv.iter().map(|c| c.field().clone()).collect::<Vec<_>>(),
        )))
    }

    fn open(&self, options: &ReadOptions) -> Result<ChunkReader> {
        let conn = self.connect()?;
        let dialect = self.dialect_of(&conn);
        let raw = self.raw_schema(&conn, dialect)?;
        let all = self.converters(&raw)?;
        // Projection by output name (after column_info renames).
        let out_schema = Schema::new(all.iter().map(|c| c.field().clone()).collect::<Vec<_>>());
        let proj = crate::util::resolve_projection(
            &out_schema,
            options.columns.as_deref(),
            &self.label(),
        )?;
        let raw_names: Vec<String> = proj.iter().map(|&i| raw.field(i).name().clone()).collect();
        let read_schema = Arc::new(Schema::new(
            proj.iter()
                .map(|&i| raw.field(i).clone())
                .collect::<Vec<_>>(),
        ));
        let converters: Vec<ColumnConverter> = proj.iter().map(|&i| all[i].clone()).collect();
        // The SQLite ODBC driver hands doubles over as text with 15 significant digits, losing
        // the last one or two; ask SQLite for 17 (round-trip exact) and parse them here.
        let exact_text: Vec<bool> = read_schema
            .fields()
            .iter()
            .map(|f| dialect == Dialect::Sqlite && f.data_type() == &DataType::Float64)
            .collect();
        let read_schema = if exact_text.iter().any(|&b| b) {
            Arc::new(Schema::new(
                read_schema
                    .fields()
                    .iter()
                    .zip(&exact_text)
                    .map(|(f, &t)| {
                        if t {
                            f.as_ref().clone().with_data_type(DataType::Utf8)
                        } else {
                            f.as_ref().clone()
                        }
                    })
                    .collect::<Vec<_>>(),
            ))
        } else {
            read_schema
        };
        let sql = if exact_text.iter().any(|&b| b) {
            let cols = raw_names
                .iter()
                .zip(&exact_text)
                .map(|(n, &t)| {
                    let q = dialect.ident(n)?;
                    Ok(if t {
                        format!(
                            "CASE WHEN {q} IS NULL THEN NULL ELSE printf('%!.17g', {q}) END AS {q}"
                        )
                    } else {
                        q
                    })
                })
                .collect::<Result<Vec<_>>>()?
                .join(", ");
            let from = match &self.from {
                From::Table(t) => dialect.ident(t)?,
                From::Query(q) => format!("({}) rx_q", q.trim().trim_end_matches(';')),
            };
            format!("SELECT {cols} FROM {from}")
        } else {
            dialect.select(&raw_names, &self.from, None)?
        };
        let cursor = conn
            .into_cursor(&sql, (), None)
            .map_err(|e| {
                odbc_error(
                    &self.connection,
                    &format!("{}: running {sql}", self.label()),
                    e.error,
                )
            })?
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{}: the query returned no result set; give a SELECT statement",
                    self.label()
                ))
            })?;
        let rows = options.rows_per_read.unwrap_or(self.rows_per_read).max(1);
        let reader = OdbcReaderBuilder::new()
            .with_schema(read_schema.clone())
            .with_max_num_rows_per_batch(rows)
            .with_max_bytes_per_batch(256 << 20)
            .with_max_text_size(self.max_text_size)
            .build(cursor)
            .map_err(|e| odbc_error(&self.connection, &format!("{}: reading", self.label()), e))?;
        Ok(Box::new(OdbcChunks {
            reader: Some(Box::new(reader)),
            converters,
            exact_text,
            trim: self.trim_space,
            connection: self.connection.clone(),
            name: self.label(),
            max_text_size: self.max_text_size,
            row: 0,
        }))
    }

    fn num_rows(&self) -> Result<Option<u64>> {
        Ok(None)
    }

    fn split(&self, _n: usize) -> Result<Vec<Box<dyn DataSource>>> {
        Ok(vec![Box::new(self.clone())])
    }
}

type BatchIter =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send>;

/// The chunk stream of an ODBC query: arrow-odbc's batches, trimmed and converted.
struct OdbcChunks {
    reader: Option<BatchIter>,
    converters: Vec<ColumnConverter>,
    /// Columns read as exact decimal text, parsed into Float64 here.
    exact_text: Vec<bool>,
    trim: bool,
    connection: ConnectionString,
    name: String,
    max_text_size: usize,
    row: u64,
}

impl OdbcChunks {
    fn convert(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let first_row = self.row;
        self.row += batch.num_rows() as u64;
        let mut cols = Vec::with_capacity(batch.num_columns());
        for ((c, conv), &exact) in batch
            .columns()
            .iter()
            .zip(self.converters.iter_mut())
            .zip(&self.exact_text)
        {
            let c = if exact {
                parse_doubles(c, conv.field().name(), first_row, &self.name)?
            } else if self.trim && c.data_type() == &DataType::Utf8 {
                trim(c)
            } else {
                c.clone()
            };
            cols.push(conv.convert(&c, first_row)?);
        }
        let schema = Arc::new(Schema::new(
            self.converters
                .iter()
                .map(|c| c.field().clone())
                .collect::<Vec<_>>(),
        ));
        RecordBatch::try_new(schema, cols).map_err(|e| Error::arrow(&self.name, e))
    }
}

/// Decimal text (from `printf('%.17g')`) as Float64.
fn parse_doubles(c: &ArrayRef, column: &str, first_row: u64, source: &str) -> Result<ArrayRef> {
    let s = c.as_string::<i32>();
    let mut out = arrow::array::Float64Builder::with_capacity(s.len());
    for (i, v) in s.iter().enumerate() {
        match v {
            None => out.append_null(),
            Some(t) => out.append_value(t.trim().parse::<f64>().map_err(|_| Error::BadValue {
                location: format!(
                    "{source}: row {}, column '{column}'",
                    first_row + i as u64 + 1
                ),
                message: format!("'{t}' is not a number"),
            })?),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn trim(c: &ArrayRef) -> ArrayRef {
    let s = c.as_string::<i32>();
    Arc::new(s.iter().map(|v| v.map(str::trim)).collect::<StringArray>())
}

impl Iterator for OdbcChunks {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let next = self.reader.as_mut()?.next()?;
        let out = match next {
            Ok(b) => self.convert(b),
            Err(e) => {
                let msg = self.connection.scrub(&e.to_string());
                let hint = if msg.contains("larger than") || msg.contains("truncat") {
                    format!(
                        " (a text value is longer than max_text_size = {} characters; raise it, rx: --max-text-size)",
                        self.max_text_size
                    )
                } else {
                    String::new()
                };
                Err(Error::External {
                    context: format!("{}: reading rows after row {}{hint}", self.name, self.row),
                    source: msg.into(),
                })
            }
        };
        if out.is_err() {
            // Stop after an error: the cursor is in an unknown state.
            self.reader = None;
        }
        Some(out)
    }
}

impl DataSink for RxOdbcData {
    fn name(&self) -> String {
        self.label()
    }

    fn create(&self, schema: SchemaRef, options: &WriteOptions) -> Result<Box<dyn ChunkWriter>> {
        let From::Table(table) = &self.from else {
            return Err(Error::invalid(
                "an ODBC output needs a table name, not a query (RxOdbcData::table)",
            ));
        };
        let conn = self.connect()?;
        let dialect = self.dialect_of(&conn);
        conn.set_autocommit(false)
            .map_err(|e| odbc_error(&self.connection, "starting a transaction", e))?;
        let exists = self.raw_schema(&conn, dialect).is_ok();
        // A failed probe may have aborted the transaction (PostgreSQL): start clean.
        conn.rollback()
            .map_err(|e| odbc_error(&self.connection, "starting a transaction", e))?;
        // Output columns: factors as text or as codes.
        let out_fields: Vec<(String, DataType)> = schema
            .fields()
            .iter()
            .map(|f| {
                let dt = match f.data_type() {
                    DataType::Dictionary(..) if self.write_factors_as_indexes => DataType::Int32,
                    DataType::Dictionary(..) | DataType::LargeUtf8 | DataType::Utf8View => {
                        DataType::Utf8
                    }
                    DataType::UInt64 | DataType::UInt32 => DataType::Int64,
                    DataType::UInt16 | DataType::UInt8 | DataType::Int8 => DataType::Int32,
                    DataType::Float16 => DataType::Float32,
                    DataType::Date64 => DataType::Date32,
                    other => other.clone(),
                };
                (f.name().clone(), dt)
            })
            .collect();
        match (exists, options.mode) {
            (true, WriteMode::Create) => {
                return Err(Error::invalid(format!(
                    "{}: the table exists; pass overwrite (rx: --overwrite) to replace it or append (--append) to add rows",
                    self.label()
                )));
            }
            (true, WriteMode::Overwrite) => {
                self.execute(&conn, &dialect.drop_table(table)?)?;
                self.execute(&conn, &dialect.create_table(table, &out_fields)?)?;
            }
            (true, WriteMode::Append) => {}
            (false, _) => self.execute(&conn, &dialect.create_table(table, &out_fields)?)?,
        }
        let names: Vec<String> = out_fields.iter().map(|(n, _)| n.clone()).collect();
        let insert = dialect.insert(table, &names)?;
        let insert_arrays = dialect.insert_arrays(table, &out_fields)?;
        let write_schema = Arc::new(Schema::new(
            out_fields
                .iter()
                .map(|(n, t)| Field::new(n, t.clone(), true))
                .collect::<Vec<_>>(),
        ));
        Ok(Box::new(OdbcTableWriter {
            conn: Some(conn),
            insert,
            insert_arrays,
            worker: None,
            schema: write_schema,
            connection: self.connection.clone(),
            name: self.label(),
            rows: 0,
        }))
    }
}

/// Inserts chunks into a table inside one transaction; committed by `finish`, rolled back when
/// dropped unfinished.
struct OdbcTableWriter {
    conn: Option<Connection<'static>>,
    insert: String,
    /// PostgreSQL: one statement per slice of rows, a parameter per column holding an array.
    insert_arrays: Option<String>,
    /// PostgreSQL: the thread that owns the connection and runs the statements while the next
    /// slice is formatted.
    worker: Option<ArrayWorker>,
    schema: SchemaRef,
    connection: ConnectionString,
    name: String,
    rows: u64,
}

impl OdbcTableWriter {
    /// The chunk in the table's column types (factors as labels or 1-based codes).
    fn prepare(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (c, f) in batch.columns().iter().zip(self.schema.fields()) {
            let out = match (c.data_type(), f.data_type()) {
                (DataType::Dictionary(..), DataType::Int32) => {
                    let codes =
                        arrow::compute::cast(c.as_any_dictionary().keys(), &DataType::Int32)
                            .map_err(|e| Error::arrow(&self.name, e))?;
                    arrow::compute::kernels::numeric::add(
                        &codes,
                        &arrow::array::Int32Array::new_scalar(1),
                    )
                    .map_err(|e| Error::arrow(&self.name, e))?
                }
                (a, b) if a == b => c.clone(),
                (_, b) => arrow::compute::cast_with_options(
                    c,
                    b,
                    &arrow::compute::CastOptions {
                        safe: false,
                        ..Default::default()
                    },
                )
                .map_err(|e| Error::arrow(format!("{}: column '{}'", self.name, f.name()), e))?,
            };
            cols.push(out);
        }
        RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| Error::arrow(&self.name, e))
    }
}

/// One array-insert statement's parameters and the rows they hold (for errors).
type ArrayJob = (Vec<odbc_api::parameter::VarCharBox>, u64, u64);

/// The thread running a PostgreSQL write's statements on its connection.
struct ArrayWorker {
    tx: Option<std::sync::mpsc::SyncSender<ArrayJob>>,
    handle: Option<std::thread::JoinHandle<(Connection<'static>, Result<()>)>>,
}

impl ArrayWorker {
    /// Stops after the statements sent so far; returns the connection and the first error
    /// (`None` when the thread panicked: its connection, dropped, rolled back).
    fn join(&mut self) -> Option<(Connection<'static>, Result<()>)> {
        self.tx.take();
        self.handle.take()?.join().ok()
    }
}

impl OdbcTableWriter {
    /// Writes a chunk with PostgreSQL's array insert: slices of at most 100,000 rows (a few
    /// megabytes per parameter) are formatted here, while the worker thread runs the previous
    /// slice's statement.
    fn write_arrays(&mut self, batch: &RecordBatch) -> Result<()> {
        let sql = self.insert_arrays.clone().unwrap_or_default();
        if self.worker.is_none() {
            let conn = self
                .conn
                .take()
                .ok_or_else(|| Error::invalid("internal: write after finish"))?;
            let (tx, rx) = std::sync::mpsc::sync_channel::<ArrayJob>(1);
            let (connection, name) = (self.connection.clone(), self.name.clone());
            let handle = std::thread::spawn(move || {
                for (params, first, last) in rx {
                    let done = conn.execute(&sql, &params[..], None).map(|_| ());
                    if let Err(e) = done {
                        let e = odbc_error(
                            &connection,
                            &format!("{name}: inserting rows {first}..{last}"),
                            e,
                        );
                        return (conn, Err(e));
                    }
                }
                (conn, Ok(()))
            });
            self.worker = Some(ArrayWorker {
                tx: Some(tx),
                handle: Some(handle),
            });
        }
        let mut start = 0;
        while start < batch.num_rows() {
            let len = (batch.num_rows() - start).min(100_000);
            let slice = batch.slice(start, len);
            let columns: Vec<(ArrayRef, String)> = slice
                .columns()
                .iter()
                .cloned()
                .zip(self.schema.fields().iter().map(|f| f.name().clone()))
                .collect();
            let params = columns
                .par_iter()
                .map(|(c, name)| {
                    Ok(odbc_api::parameter::VarCharBox::from_vec(
                        dialect::pg_array_literal(c.as_ref(), name)?.into_bytes(),
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let job = (
                params,
                self.rows + start as u64 + 1,
                self.rows + (start + len) as u64,
            );
            let sent = self
                .worker
                .as_ref()
                .and_then(|w| w.tx.as_ref())
                .is_some_and(|tx| tx.send(job).is_ok());
            if !sent {
                // The worker stopped on an error: report it (the connection rolls back).
                return Err(self.stop_worker().err().unwrap_or_else(|| {
                    Error::invalid(format!("{}: the insert thread stopped", self.name))
                }));
            }
            start += len;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Ends the worker thread, taking its connection back; its first error, if any.
    fn stop_worker(&mut self) -> Result<()> {
        let Some(mut worker) = self.worker.take() else {
            return Ok(());
        };
        match worker.join() {
            Some((conn, result)) => {
                self.conn = Some(conn);
                result
            }
            None => Err(Error::invalid(format!(
                "{}: the insert thread failed; nothing was committed",
                self.name
            ))),
        }
    }
}

impl ChunkWriter for OdbcTableWriter {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.prepare(batch)?;
        if self.insert_arrays.is_some() {
            return self.write_arrays(&batch);
        }
        let Some(conn) = &self.conn else {
            return Err(Error::invalid("internal: write after finish"));
        };
        let prepared = conn.prepare(&self.insert).map_err(|e| {
            odbc_error(
                &self.connection,
                &format!("{}: preparing {}", self.name, self.insert),
                e,
            )
        })?;
        let capacity = batch.num_rows().min(10_000);
        let mut w = OdbcWriter::new(capacity, &self.schema, prepared)
            .map_err(|e| odbc_error(&self.connection, &self.name, e))?;
        w.write_batch(&batch)
            .and_then(|()| w.flush())
            .map_err(|e| {
                odbc_error(
                    &self.connection,
                    &format!("{}: inserting rows {}..", self.name, self.rows + 1),
                    e,
                )
            })?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        self.stop_worker()?;
        let conn = self
            .conn
            .take()
            .ok_or_else(|| Error::invalid("internal: finish twice"))?;
        conn.commit()
            .map_err(|e| odbc_error(&self.connection, &format!("{}: committing", self.name), e))?;
        Ok(self.rows)
    }
}

impl Drop for OdbcTableWriter {
    fn drop(&mut self) {
        let _ = self.stop_worker();
        if let Some(conn) = self.conn.take() {
            // Unfinished: nothing of this write stays (the new table included).
            let _ = conn.rollback();
        }
    }
}

/// A SQL Server table or query (revoscalepy's `RxSqlServerData`): an [`RxOdbcData`] with the
/// connection string from [`SqlServerConnection`] and the T-SQL dialect.
pub fn rx_sql_server_data(connection: &SqlServerConnection, from: From) -> RxOdbcData {
    RxOdbcData::with(connection.connection_string(), from).dialect(Dialect::SqlServer)
}
