//! The model store (revoscalepy's `rx_write_object`, `rx_read_object`, `rx_delete_object`,
//! `rx_list_keys`): serde values as JSON in a key/version/value table reached through ODBC.
//!
//! The table (created on first write) has text columns `id`, `version` (empty when none is
//! given), `value` (`{"format": "revoscale-object/1", "value": ...}`) and `written` (UTC time).
//! Keys, versions and values travel as bound parameters, never inside SQL text. Values of any
//! length are read piecewise (`SQLGetData`), so a large forest is not cut at a text-buffer size.

use arrow::datatypes::DataType;
use arrow_odbc::odbc_api::{Connection, Cursor, IntoParameter, ResultSetMetadata};
use rx_core::{Error, Result};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{From, RxOdbcData, odbc_error};

const FORMAT: &str = "revoscale-object/1";

fn table_of(store: &RxOdbcData) -> Result<&str> {
    match store.from() {
        From::Table(t) => Ok(t),
        From::Query(_) => Err(Error::invalid(
            "the object store is a table: give RxOdbcData::table(connection, table)",
        )),
    }
}

/// Creates the store's table when it does not exist.
fn ensure_table(store: &RxOdbcData, conn: &Connection<'_>, table: &str) -> Result<()> {
    let d = store.dialect_of(conn);
    let probe = d.select(&["id".into()], &From::Table(table.into()), Some(1))?;
    if conn
        .prepare(&probe)
        .and_then(|mut p| p.num_result_cols())
        .is_ok()
        && conn.execute(&probe, (), None).is_ok()
    {
        return Ok(());
    }
    let cols = ["id", "version", "value", "written"]
        .iter()
        .map(|c| (c.to_string(), DataType::Utf8))
        .collect::<Vec<_>>();
    store.execute(conn, &d.create_table(table, &cols)?)
}

/// Stores `value` under `key` (and `version`, if given). An existing object with the same key and
/// version is an error unless `overwrite`, which replaces it in the same transaction.
pub fn rx_write_object<T: Serialize + ?Sized>(
    store: &RxOdbcData,
    key: &str,
    value: &T,
    version: Option<&str>,
    overwrite: bool,
) -> Result<()> {
    let table = table_of(store)?;
    let body = serde_json::to_string(&serde_json::json!({ "format": FORMAT, "value": value }))
        .map_err(|e| Error::external("serializing the object", e))?;
    let conn = store.connect()?;
    ensure_table(store, &conn, table)?;
    let d = store.dialect_of(&conn);
    let t = d.ident(table)?;
    let version = version.unwrap_or("");
    let cs = store.connection_string().clone();
    let err = |what: &str, e: arrow_odbc::odbc_api::Error| {
        odbc_error(&cs, &format!("{}: {what} object '{key}'", store.label()), e)
    };
    conn.set_autocommit(false).map_err(|e| err("writing", e))?;
    let existing = count(&conn, &t, key, version).map_err(|e| err("looking up", e))?;
    if existing > 0 {
        if !overwrite {
            return Err(Error::invalid(format!(
                "{}: an object with key '{key}'{} exists; pass overwrite to replace it",
                store.label(),
                if version.is_empty() {
                    String::new()
                } else {
                    format!(" and version '{version}'")
                }
            )));
        }
        conn.execute(
            &format!("DELETE FROM {t} WHERE id = ? AND version = ?"),
            (&key.into_parameter(), &version.into_parameter()),
            None,
        )
        .map_err(|e| err("replacing", e))?;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let written = chrono::DateTime::from_timestamp(now.as_secs() as i64, now.subsec_nanos())
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    conn.execute(
        &format!("INSERT INTO {t} (id, version, value, written) VALUES (?, ?, ?, ?)"),
        (
            &key.into_parameter(),
            &version.into_parameter(),
            &body.as_str().into_parameter(),
            &written.as_str().into_parameter(),
        ),
        None,
    )
    .map_err(|e| err("writing", e))?;
    conn.commit().map_err(|e| err("committing", e))?;
    Ok(())
}

fn count(
    conn: &Connection<'_>,
    t: &str,
    key: &str,
    version: &str,
) -> std::result::Result<i64, arrow_odbc::odbc_api::Error> {
    let mut n = 0i64;
    if let Some(mut cur) = conn.execute(
        &format!("SELECT COUNT(*) FROM {t} WHERE id = ? AND version = ?"),
        (&key.into_parameter(), &version.into_parameter()),
        None,
    )? && let Some(mut row) = cur.next_row()?
    {
        row.get_data(1, &mut n)?;
    }
    Ok(n)
}

/// Reads the object stored under `key` (and `version`). Without a version there must be exactly
/// one object with that key (as in revoscalepy); otherwise the error lists the versions.
pub fn rx_read_object<T: DeserializeOwned>(
    store: &RxOdbcData,
    key: &str,
    version: Option<&str>,
) -> Result<T> {
    let table = table_of(store)?;
    let conn = store.connect()?;
    let d = store.dialect_of(&conn);
    let t = d.ident(table)?;
    let cs = store.connection_string().clone();
    let err = |e: arrow_odbc::odbc_api::Error| {
        odbc_error(
            &cs,
            &format!("{}: reading object '{key}'", store.label()),
            e,
        )
    };
    let mut found: Vec<(String, Vec<u8>)> = Vec::new();
    {
        let cursor = match version {
            Some(v) => conn.execute(
                &format!("SELECT version, value FROM {t} WHERE id = ? AND version = ?"),
                (&key.into_parameter(), &v.into_parameter()),
                None,
            ),
            None => conn.execute(
                &format!("SELECT version, value FROM {t} WHERE id = ?"),
                &key.into_parameter(),
                None,
            ),
        }
        .map_err(err)?;
        if let Some(mut cur) = cursor {
            while let Some(mut row) = cur.next_row().map_err(err)? {
                let mut v = Vec::new();
                let mut body = Vec::new();
                row.get_text(1, &mut v).map_err(err)?;
                row.get_text(2, &mut body).map_err(err)?;
                found.push((String::from_utf8_lossy(&v).into_owned(), body));
            }
        }
    }
    let body = match found.len() {
        0 => {
            return Err(Error::invalid(format!(
                "{}: no object with key '{key}'{}",
                store.label(),
                version.map_or(String::new(), |v| format!(" and version '{v}'"))
            )));
        }
        1 => found.pop().map(|(_, b)| b).unwrap_or_default(),
        _ => {
            let versions: Vec<String> = found.iter().map(|(v, _)| format!("'{v}'")).collect();
            return Err(Error::invalid(format!(
                "{}: key '{key}' has {} versions ({}); name the one to read",
                store.label(),
                found.len(),
                versions.join(", ")
            )));
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        Error::external(
            format!("{}: object '{key}' is not valid JSON", store.label()),
            e,
        )
    })?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(Error::invalid(format!(
            "{}: object '{key}' was not written by rx_write_object (format {})",
            store.label(),
            v.get("format").map_or("missing".into(), |f| f.to_string())
        )));
    }
    serde_json::from_value(v["value"].clone()).map_err(|e| {
        Error::external(
            format!(
                "{}: object '{key}' does not have the type asked for",
                store.label()
            ),
            e,
        )
    })
}

/// Deletes the object under `key` and `version` (every version with `version = None`); returns
/// how many were deleted.
pub fn rx_delete_object(store: &RxOdbcData, key: &str, version: Option<&str>) -> Result<usize> {
    let table = table_of(store)?;
    let conn = store.connect()?;
    let t = store.dialect_of(&conn).ident(table)?;
    let cs = store.connection_string().clone();
    let err = |e: arrow_odbc::odbc_api::Error| {
        odbc_error(
            &cs,
            &format!("{}: deleting object '{key}'", store.label()),
            e,
        )
    };
    let before = rx_list_keys(store, Some(key))?.len();
    match version {
        Some(v) => conn.execute(
            &format!("DELETE FROM {t} WHERE id = ? AND version = ?"),
            (&key.into_parameter(), &v.into_parameter()),
            None,
        ),
        None => conn.execute(
            &format!("DELETE FROM {t} WHERE id = ?"),
            &key.into_parameter(),
            None,
        ),
    }
    .map_err(err)?;
    let after = rx_list_keys(store, Some(key))?.len();
    Ok(before - after.min(before))
}

/// The `(key, version)` pairs in the store (only those of `key` when given), sorted.
pub fn rx_list_keys(store: &RxOdbcData, key: Option<&str>) -> Result<Vec<(String, String)>> {
    let table = table_of(store)?;
    let conn = store.connect()?;
    let t = store.dialect_of(&conn).ident(table)?;
    let cs = store.connection_string().clone();
    let err = |e: arrow_odbc::odbc_api::Error| {
        odbc_error(&cs, &format!("{}: listing keys", store.label()), e)
    };
    let mut out = Vec::new();
    let cursor = match key {
        Some(k) => conn.execute(
            &format!("SELECT id, version FROM {t} WHERE id = ?"),
            &k.into_parameter(),
            None,
        ),
        None => conn.execute(&format!("SELECT id, version FROM {t}"), (), None),
    }
    .map_err(err)?;
    if let Some(mut cur) = cursor {
        while let Some(mut row) = cur.next_row().map_err(err)? {
            let (mut k, mut v) = (Vec::new(), Vec::new());
            row.get_text(1, &mut k).map_err(err)?;
            row.get_text(2, &mut v).map_err(err)?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
    }
    out.sort();
    Ok(out)
}
