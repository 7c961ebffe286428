//! Database arguments shared by every command that reads or writes data: `--odbc "<connection
//! string>"` with `--table T` or `--query "SELECT ..."`, or SQL Server's `--sqlserver --server S
//! --database D [--user U --password P | --trusted-connection] [--driver NAME]`.
//!
//! ODBC needs the unixODBC driver manager at link time, so it is in `rx` only when built with the
//! `odbc` feature (`cargo install --features odbc`); without it these flags give an error that
//! says so.

use std::path::PathBuf;

use clap::Args;
use revoscale::core::{DataSink, DataSource, Error, Result};

use crate::sources::open_source;

#[derive(Debug, Clone, Args, Default)]
pub struct DbArgs {
    /// An ODBC connection string, e.g. "Driver={/usr/lib/x86_64-linux-gnu/odbc/psqlodbcw.so};Server=127.0.0.1;Port=5432;Database=db;Uid=me;Pwd=..."
    /// (the password may come from RX_DB_PASSWORD instead).
    #[arg(long, value_name = "CONNECTION STRING")]
    pub odbc: Option<String>,
    /// A SQL Server database (RxSqlServerData): build the connection from --server, --database, ...
    #[arg(long)]
    pub sqlserver: bool,
    /// SQL Server: the server (`host`, `host,port` or `host\instance`).
    #[arg(long, requires = "sqlserver")]
    pub server: Option<String>,
    /// SQL Server: the database.
    #[arg(long, requires = "sqlserver")]
    pub database: Option<String>,
    /// SQL Server: the user (SQL Server authentication).
    #[arg(long, requires = "sqlserver")]
    pub user: Option<String>,
    /// SQL Server: the password (or set RX_DB_PASSWORD, which keeps it out of the process list).
    #[arg(long, requires = "sqlserver")]
    pub password: Option<String>,
    /// SQL Server: Windows (trusted) authentication.
    #[arg(long, requires = "sqlserver")]
    pub trusted_connection: bool,
    /// SQL Server: the ODBC driver name or library path (default "ODBC Driver 18 for SQL Server").
    #[arg(long, requires = "sqlserver")]
    pub driver: Option<String>,
    /// The database table to read (or, for `rx import <file> --table T`, to write).
    #[arg(long, conflicts_with = "query")]
    pub table: Option<String>,
    /// A SELECT statement whose rows are the data.
    #[arg(long)]
    pub query: Option<String>,
    /// The longest text value read from the database, in characters.
    #[arg(long, value_name = "CHARS", default_value_t = 8192)]
    pub max_text_size: usize,
}

impl DbArgs {
    /// Whether a database was named.
    pub fn is_set(&self) -> bool {
        self.odbc.is_some() || self.sqlserver
    }

    #[cfg(feature = "odbc")]
    fn data(&self) -> Result<revoscale::data::odbc::RxOdbcData> {
        use revoscale::data::odbc::{
            ConnectionString, From, RxOdbcData, SqlServerConnection, brace,
        };
        let from = match (&self.table, &self.query) {
            (Some(t), None) => From::Table(t.clone()),
            (None, Some(q)) => From::Query(q.clone()),
            _ => {
                return Err(Error::invalid(
                    "a database source needs --table T or --query \"SELECT ...\"",
                ));
            }
        };
        let env_password = std::env::var("RX_DB_PASSWORD").ok();
        let data = if self.sqlserver {
            let server = self.server.clone().ok_or_else(|| {
                Error::invalid("--sqlserver needs --server (host, host,port or host\\instance)")
            })?;
            let mut c = SqlServerConnection::new(server);
            c.database = self.database.clone();
            c.trusted_connection = self.trusted_connection;
            c.driver = self.driver.clone();
            if let Some(u) = &self.user {
                c.user = Some(u.clone());
                c.password = self.password.clone().or(env_password);
            }
            revoscale::data::odbc::rx_sql_server_data(&c, from)
        } else {
            let mut conn = self.odbc.clone().unwrap_or_default();
            let cs = ConnectionString::new(conn.clone());
            if cs.get("pwd").is_none()
                && cs.get("password").is_none()
                && let Some(p) = env_password
            {
                conn = format!("{};Pwd={}", conn.trim_end_matches(';'), brace(&p));
            }
            RxOdbcData::with(ConnectionString::new(conn), from)
        };
        Ok(data.max_text_size(self.max_text_size))
    }

    /// The database source named, as an ODBC source (for in-database analyses).
    #[cfg(feature = "odbc")]
    pub fn odbc_source(&self) -> Result<Option<revoscale::data::odbc::RxOdbcData>> {
        if self.is_set() {
            self.data().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The database source named, if any.
    pub fn source(&self) -> Result<Option<Box<dyn DataSource>>> {
        if !self.is_set() {
            return Ok(None);
        }
        #[cfg(feature = "odbc")]
        {
            Ok(Some(Box::new(self.data()?)))
        }
        #[cfg(not(feature = "odbc"))]
        Err(no_odbc())
    }

    /// The database table to write to.
    pub fn sink(&self) -> Result<Box<dyn DataSink>> {
        if self.query.is_some() {
            return Err(Error::invalid(
                "writing to a database needs --table T (not --query)",
            ));
        }
        #[cfg(feature = "odbc")]
        {
            Ok(Box::new(self.data()?))
        }
        #[cfg(not(feature = "odbc"))]
        Err(no_odbc())
    }
}

#[cfg(not(feature = "odbc"))]
fn no_odbc() -> Error {
    Error::invalid(
        "this rx was built without ODBC support; build it with `cargo build --release --features odbc` (needs the unixODBC library: apt-get install unixodbc-dev)",
    )
}

/// The data of an analysis: a file, or the database the flags name (not both).
pub fn open_data(path: &Option<PathBuf>, db: &DbArgs) -> Result<Box<dyn DataSource>> {
    match (path, db.source()?) {
        (Some(_), Some(_)) => Err(Error::invalid(
            "give either a data file or a database (--odbc / --sqlserver), not both",
        )),
        (Some(p), None) => open_source(p, |t| t),
        (None, Some(s)) => Ok(s),
        (None, None) => Err(Error::invalid(
            "no data: give a data file, or a database with --odbc \"<connection string>\" and --table or --query",
        )),
    }
}
