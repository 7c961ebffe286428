//! Variable information (revoscalepy's `rx_get_var_info`), carried in Arrow field metadata.
//!
//! The metadata keys are public so that any Arrow tool can read them:
//! `rx:description`, `rx:low`, `rx:high` (decimal text), `rx:levels` (a JSON list of strings),
//! `rx:ordered` (`"true"` for ordered factors) and `rx:value_labels` (a JSON object from value to
//! label). A factor's level table is also the dictionary of its column; the metadata copy is what a
//! stream fixes up front, so a code means the same level in every chunk.

use std::collections::{BTreeMap, HashMap};

use arrow::datatypes::{DataType, Field, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Metadata key of a variable's description.
pub const META_DESCRIPTION: &str = "rx:description";
/// Metadata key of a variable's low value.
pub const META_LOW: &str = "rx:low";
/// Metadata key of a variable's high value.
pub const META_HIGH: &str = "rx:high";
/// Metadata key of a factor's level table (JSON list of strings).
pub const META_LEVELS: &str = "rx:levels";
/// Metadata key marking an ordered factor.
pub const META_ORDERED: &str = "rx:ordered";
/// Metadata key of value labels (JSON object value → label).
pub const META_VALUE_LABELS: &str = "rx:value_labels";

/// The type of a variable as revoscalepy names it (`"numeric"`, `"integer"`, `"factor"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VarType {
    /// `bool` storage.
    Logical,
    /// Signed or unsigned integer storage.
    Integer,
    /// `float32` or `float64` storage.
    Numeric,
    /// Strings.
    Character,
    /// A categorical variable: codes into a level table.
    Factor,
    /// A factor whose levels are ordered.
    Ordered,
    /// Calendar dates.
    Date,
    /// Date and time.
    Timestamp,
}

impl VarType {
    /// The name revoscalepy prints.
    pub fn name(self) -> &'static str {
        match self {
            VarType::Logical => "logical",
            VarType::Integer => "integer",
            VarType::Numeric => "numeric",
            VarType::Character => "character",
            VarType::Factor => "factor",
            VarType::Ordered => "ordered",
            VarType::Date => "Date",
            VarType::Timestamp => "timestamp",
        }
    }
}

impl std::fmt::Display for VarType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One variable's information, as `rx_get_var_info` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VarInfo {
    /// Column name.
    pub name: String,
    /// revoscalepy type.
    #[serde(rename = "type")]
    pub var_type: VarType,
    /// Storage type (`"float64"`, `"int32"`, `"string"`, `"int32 codes"`, ...).
    pub storage: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Smallest value (numeric types; computed on write for .xdf files).
    pub low: Option<f64>,
    /// Largest value.
    pub high: Option<f64>,
    /// Factor levels, in code order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
    /// Value labels: value (as text) → label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_labels: Option<BTreeMap<String, String>>,
}

/// The storage name of an Arrow type, or an error for types revoscale does not keep.
pub fn storage_name(dt: &DataType) -> Option<String> {
    Some(match dt {
        DataType::Boolean => "bool".into(),
        DataType::Int8 => "int8".into(),
        DataType::Int16 => "int16".into(),
        DataType::Int32 => "int32".into(),
        DataType::Int64 => "int64".into(),
        DataType::UInt8 => "uint8".into(),
        DataType::UInt16 => "uint16".into(),
        DataType::UInt32 => "uint32".into(),
        DataType::Float32 => "float32".into(),
        DataType::Float64 => "float64".into(),
        DataType::Utf8 => "string".into(),
        DataType::Dictionary(k, v) if **v == DataType::Utf8 && k.is_integer() => {
            format!("{} codes", storage_name(k)?)
        }
        DataType::Date32 => "date32".into(),
        DataType::Timestamp(u, tz) => {
            let unit = match u {
                TimeUnit::Second => "s",
                TimeUnit::Millisecond => "ms",
                TimeUnit::Microsecond => "us",
                TimeUnit::Nanosecond => "ns",
            };
            match tz {
                Some(tz) => format!("timestamp[{unit}, {tz}]"),
                None => format!("timestamp[{unit}]"),
            }
        }
        _ => return None,
    })
}

/// True when `dt` is one of the types revoscale stores (see [`storage_name`]).
pub fn is_supported_type(dt: &DataType) -> bool {
    storage_name(dt).is_some()
}

/// True when the field is a factor (a dictionary of strings).
pub fn is_factor(field: &Field) -> bool {
    matches!(field.data_type(), DataType::Dictionary(_, v) if **v == DataType::Utf8)
}

fn parse_f64(meta: &HashMap<String, String>, key: &str) -> Option<f64> {
    meta.get(key).and_then(|s| s.parse().ok())
}

impl VarInfo {
    /// Reads the variable information of an Arrow field (its type and `rx:` metadata).
    pub fn from_field(field: &Field) -> Self {
        let meta = field.metadata();
        let dt = field.data_type();
        let ordered = meta.get(META_ORDERED).is_some_and(|v| v == "true");
        let var_type = match dt {
            DataType::Boolean => VarType::Logical,
            DataType::Float16
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(..) => VarType::Numeric,
            d if d.is_integer() => VarType::Integer,
            DataType::Dictionary(..) if ordered => VarType::Ordered,
            DataType::Dictionary(..) => VarType::Factor,
            DataType::Date32 | DataType::Date64 => VarType::Date,
            DataType::Timestamp(..) => VarType::Timestamp,
            _ => VarType::Character,
        };
        let levels = meta
            .get(META_LEVELS)
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok());
        let value_labels = meta
            .get(META_VALUE_LABELS)
            .and_then(|s| serde_json::from_str(s).ok());
        VarInfo {
            name: field.name().clone(),
            var_type,
            storage: storage_name(dt).unwrap_or_else(|| dt.to_string()),
            description: meta.get(META_DESCRIPTION).cloned(),
            low: parse_f64(meta, META_LOW),
            high: parse_f64(meta, META_HIGH),
            levels,
            value_labels,
        }
    }

    /// Writes this information into a field's metadata (the name and type are not changed).
    pub fn apply_to_field(&self, field: Field) -> Field {
        let mut meta = field.metadata().clone();
        set_or_remove(&mut meta, META_DESCRIPTION, self.description.clone());
        set_or_remove(&mut meta, META_LOW, self.low.map(fmt_f64));
        set_or_remove(&mut meta, META_HIGH, self.high.map(fmt_f64));
        set_or_remove(
            &mut meta,
            META_LEVELS,
            self.levels.as_ref().map(json_string),
        );
        set_or_remove(
            &mut meta,
            META_ORDERED,
            (self.var_type == VarType::Ordered).then(|| "true".to_string()),
        );
        set_or_remove(
            &mut meta,
            META_VALUE_LABELS,
            self.value_labels.as_ref().map(json_string),
        );
        field.with_metadata(meta)
    }
}

fn json_string<T: Serialize + ?Sized>(v: &T) -> String {
    // Serializing strings and maps of strings cannot fail.
    serde_json::to_string(v).unwrap_or_default()
}

fn set_or_remove(meta: &mut HashMap<String, String>, key: &str, value: Option<String>) {
    match value {
        Some(v) => {
            meta.insert(key.to_string(), v);
        }
        None => {
            meta.remove(key);
        }
    }
}

/// Formats a float so that it parses back to the same value (shortest round-trip form).
pub fn fmt_f64(v: f64) -> String {
    format!("{v:?}")
}

/// The factor levels recorded in a field's metadata.
pub fn field_levels(field: &Field) -> Option<Vec<String>> {
    field
        .metadata()
        .get(META_LEVELS)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// Returns `field` with its level table set in the metadata.
pub fn with_levels(field: Field, levels: &[String]) -> Field {
    let mut meta = field.metadata().clone();
    meta.insert(META_LEVELS.to_string(), json_string(levels));
    field.with_metadata(meta)
}

/// Checks that every field of a schema has a type revoscale stores.
pub fn check_supported(schema: &arrow::datatypes::Schema) -> Result<()> {
    for f in schema.fields() {
        if !is_supported_type(f.data_type()) {
            return Err(Error::Schema(format!(
                "column '{}' has type {}, which revoscale does not store; cast it to one of bool, \
                 int8/16/32/64, uint8/16/32, float32/64, string, factor, date32 or timestamp",
                f.name(),
                f.data_type()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_info_round_trips_through_field_metadata() {
        let f = Field::new_dictionary("g", DataType::Int32, DataType::Utf8, true);
        let mut vi = VarInfo::from_field(&f);
        assert_eq!(vi.var_type, VarType::Factor);
        vi.levels = Some(vec!["a".into(), "b é".into(), String::new()]);
        vi.description = Some("group".into());
        vi.low = Some(0.1);
        vi.var_type = VarType::Ordered;
        let f2 = vi.apply_to_field(f);
        let back = VarInfo::from_field(&f2);
        assert_eq!(back, vi);
        assert_eq!(back.storage, "int32 codes");
    }

    #[test]
    fn unsupported_types_are_named() {
        let s = arrow::datatypes::Schema::new(vec![Field::new(
            "l",
            DataType::new_list(DataType::Int32, true),
            true,
        )]);
        let e = check_supported(&s).unwrap_err().to_string();
        assert!(e.contains("column 'l'"), "{e}");
    }
}
