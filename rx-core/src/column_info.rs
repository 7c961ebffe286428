//! revoscalepy's `column_info`: per-column type override, new name, levels, new levels, description
//! and low/high — one struct used by every reader — and the converter that applies it chunk by chunk.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::CastOptions;
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::util::display::FormatOptions;
use serde::{Deserialize, Serialize};

use crate::factor::{LevelTable, factor_type, make_factor};
use crate::varinfo::{META_DESCRIPTION, META_HIGH, META_LEVELS, META_LOW, META_ORDERED, fmt_f64};
use crate::{Error, Result};

/// A target type named in `column_info` / `column_classes` (`--col-type NAME=TYPE` in the CLI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColType {
    /// `logical` / `bool`.
    Logical,
    /// `int8`.
    Int8,
    /// `int16`.
    Int16,
    /// `integer` / `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `uint8`.
    UInt8,
    /// `uint16`.
    UInt16,
    /// `uint32`.
    UInt32,
    /// `float32`.
    Float32,
    /// `numeric` / `float64`.
    Float64,
    /// `character` / `string`.
    Character,
    /// `factor`.
    Factor,
    /// `ordered` (an ordered factor).
    Ordered,
    /// `Date` / `date32`.
    Date,
    /// `timestamp` / `POSIXct` (microseconds, no time zone).
    Timestamp,
}

impl FromStr for ColType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "logical" | "bool" | "boolean" => ColType::Logical,
            "int8" => ColType::Int8,
            "int16" => ColType::Int16,
            "integer" | "int" | "int32" => ColType::Int32,
            "int64" => ColType::Int64,
            "uint8" => ColType::UInt8,
            "uint16" => ColType::UInt16,
            "uint32" => ColType::UInt32,
            "float32" | "float" => ColType::Float32,
            "numeric" | "float64" | "double" => ColType::Float64,
            "character" | "string" | "str" => ColType::Character,
            "factor" => ColType::Factor,
            "ordered" => ColType::Ordered,
            "date" | "date32" => ColType::Date,
            "timestamp" | "posixct" | "datetime" => ColType::Timestamp,
            other => {
                return Err(Error::invalid(format!(
                    "unknown column type '{other}'; use one of logical, integer, int8, int16, int32, int64, \
                     uint8, uint16, uint32, numeric, float32, float64, character, factor, ordered, Date, timestamp"
                )));
            }
        })
    }
}

impl ColType {
    /// The Arrow type this column type is stored as.
    pub fn data_type(self) -> DataType {
        match self {
            ColType::Logical => DataType::Boolean,
            ColType::Int8 => DataType::Int8,
            ColType::Int16 => DataType::Int16,
            ColType::Int32 => DataType::Int32,
            ColType::Int64 => DataType::Int64,
            ColType::UInt8 => DataType::UInt8,
            ColType::UInt16 => DataType::UInt16,
            ColType::UInt32 => DataType::UInt32,
            ColType::Float32 => DataType::Float32,
            ColType::Float64 => DataType::Float64,
            ColType::Character => DataType::Utf8,
            ColType::Factor | ColType::Ordered => factor_type(),
            ColType::Date => DataType::Date32,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// True for factor and ordered factor.
    pub fn is_factor(self) -> bool {
        matches!(self, ColType::Factor | ColType::Ordered)
    }
}

/// How one column is read (revoscalepy's `column_info` entry).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ColumnInfo {
    /// Target type.
    #[serde(rename = "type")]
    pub col_type: Option<ColType>,
    /// New column name.
    pub new_name: Option<String>,
    /// Factor levels, in code order (the level table is then fixed: other values are an error).
    pub levels: Option<Vec<String>>,
    /// New names for `levels` (same length), as revoscalepy's `newLevels`.
    pub new_levels: Option<Vec<String>>,
    /// Description.
    pub description: Option<String>,
    /// Low value.
    pub low: Option<f64>,
    /// High value.
    pub high: Option<f64>,
}

impl ColumnInfo {
    /// Sets the target type.
    pub fn with_type(mut self, t: ColType) -> Self {
        self.col_type = Some(t);
        self
    }

    /// Makes the column a factor with these levels.
    pub fn with_levels<S: Into<String>>(mut self, levels: impl IntoIterator<Item = S>) -> Self {
        self.levels = Some(levels.into_iter().map(Into::into).collect());
        if self.col_type.is_none_or(|t| !t.is_factor()) {
            self.col_type = Some(ColType::Factor);
        }
        self
    }

    /// Renames the column.
    pub fn with_new_name(mut self, name: impl Into<String>) -> Self {
        self.new_name = Some(name.into());
        self
    }

    /// The type the column will have, given the type it has.
    fn target_type(&self, current: &DataType) -> DataType {
        match self.col_type {
            Some(t) => t.data_type(),
            None if self.levels.is_some() => factor_type(),
            None => current.clone(),
        }
    }
}

/// Column name → how to read it.
pub type ColumnInfoMap = BTreeMap<String, ColumnInfo>;

/// Applies a [`ColumnInfo`] to one column, chunk after chunk, keeping a factor's level table fixed
/// across the stream.
#[derive(Debug, Clone)]
pub struct ColumnConverter {
    field: Field,
    target: DataType,
    levels: Option<LevelTable>,
    /// Position `i` of the input levels → renamed level (from `new_levels`).
    rename: Option<Vec<String>>,
    source_name: String,
}

impl ColumnConverter {
    /// A converter for a column that has type `field.data_type()` in the input. `source_name` names
    /// the input in error messages.
    pub fn new(field: &Field, info: Option<&ColumnInfo>, source_name: &str) -> Result<Self> {
        let default = ColumnInfo::default();
        let info = info.unwrap_or(&default);
        let target = info.target_type(field.data_type());
        let ordered = info.col_type == Some(ColType::Ordered);
        let levels = if matches!(target, DataType::Dictionary(..)) {
            Some(match &info.levels {
                Some(l) => LevelTable::fixed(l),
                None => LevelTable::new(),
            })
        } else {
            None
        };
        if let (Some(newl), Some(l)) = (&info.new_levels, &info.levels)
            && newl.len() != l.len()
        {
            return Err(Error::invalid(format!(
                "column '{}': new_levels has {} entries but levels has {}",
                field.name(),
                newl.len(),
                l.len()
            )));
        }
        if info.new_levels.is_some() && info.levels.is_none() {
            return Err(Error::invalid(format!(
                "column '{}': new_levels needs levels (the old names, in order)",
                field.name()
            )));
        }
        let mut meta = field.metadata().clone();
        if let Some(d) = &info.description {
            meta.insert(META_DESCRIPTION.into(), d.clone());
        }
        if let Some(v) = info.low {
            meta.insert(META_LOW.into(), fmt_f64(v));
        }
        if let Some(v) = info.high {
            meta.insert(META_HIGH.into(), fmt_f64(v));
        }
        if ordered {
            meta.insert(META_ORDERED.into(), "true".into());
        }
        let name = info
            .new_name
            .clone()
            .unwrap_or_else(|| field.name().clone());
        let mut out_field = Field::new(name, target.clone(), true).with_metadata(meta);
        if !matches!(target, DataType::Dictionary(..)) {
            let mut m = out_field.metadata().clone();
            m.remove(META_LEVELS);
            out_field = out_field.with_metadata(m);
        }
        let mut conv = ColumnConverter {
            field: out_field,
            target,
            levels,
            rename: info.new_levels.clone(),
            source_name: source_name.to_string(),
        };
        conv.sync_levels();
        Ok(conv)
    }

    /// The output field (name, type and metadata, including the level table known so far).
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// The output level table, after renaming by `new_levels`.
    pub fn output_levels(&self) -> Option<Vec<String>> {
        let t = self.levels.as_ref()?;
        Some(match &self.rename {
            Some(r) => t
                .levels()
                .iter()
                .enumerate()
                .map(|(i, l)| r.get(i).cloned().unwrap_or_else(|| l.clone()))
                .collect(),
            None => t.levels().to_vec(),
        })
    }

    fn sync_levels(&mut self) {
        if let Some(l) = self.output_levels() {
            self.field = crate::varinfo::with_levels(self.field.clone(), &l);
        }
    }

    /// Converts one chunk of the column. `first_row` (0-based, of the whole input) helps the error
    /// message name the row of a value that cannot be converted.
    pub fn convert(&mut self, array: &ArrayRef, first_row: u64) -> Result<ArrayRef> {
        let what = format!("{}: column '{}'", self.source_name, self.field.name());
        let out: ArrayRef = if let Some(table) = self.levels.as_mut() {
            let strings = match array.data_type() {
                DataType::Utf8 => array.as_string::<i32>().clone(),
                _ => {
                    let fmt = FormatOptions::default();
                    let s = arrow::compute::cast_with_options(
                        array,
                        &DataType::Utf8,
                        &CastOptions {
                            safe: false,
                            format_options: fmt,
                        },
                    )
                    .map_err(|e| Error::arrow(what.clone(), e))?;
                    s.as_string::<i32>().clone()
                }
            };
            let dict = table.encode_strings(&strings, false, &what)?;
            let dict = match &self.rename {
                None => dict,
                Some(_) => {
                    let levels = self.output_levels().unwrap_or_default();
                    make_factor(dict.keys().clone(), &levels)?
                }
            };
            Arc::new(dict)
        } else if array.data_type() == &self.target {
            array.clone()
        } else {
            cast_strict(array, &self.target, &what, first_row)?
        };
        self.sync_levels();
        Ok(out)
    }
}

/// Casts `array` to `target`; a value that does not convert is an error naming its row.
pub fn cast_strict(
    array: &ArrayRef,
    target: &DataType,
    what: &str,
    first_row: u64,
) -> Result<ArrayRef> {
    let safe =
        arrow::compute::cast(array, target).map_err(|e| Error::arrow(what.to_string(), e))?;
    if safe.null_count() == array.null_count() {
        return Ok(safe);
    }
    // A value turned into null: find the first and say which.
    for i in 0..array.len() {
        if array.is_valid(i) && safe.is_null(i) {
            let shown = arrow::util::display::array_value_to_string(array, i).unwrap_or_default();
            return Err(Error::BadValue {
                location: format!("{what}, row {}", first_row + i as u64 + 1),
                message: format!("value '{shown}' cannot be converted to {target}"),
            });
        }
    }
    Ok(safe)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    #[test]
    fn factor_with_new_levels_renames_by_position() {
        let info = ColumnInfo {
            levels: Some(vec!["1".into(), "2".into()]),
            new_levels: Some(vec!["low".into(), "high".into()]),
            ..Default::default()
        };
        let f = Field::new("g", DataType::Int64, true);
        let mut c = ColumnConverter::new(&f, Some(&info), "t.csv").unwrap();
        let out = c
            .convert(&(Arc::new(Int64Array::from(vec![2, 1, 2])) as ArrayRef), 0)
            .unwrap();
        assert_eq!(crate::factor::array_levels(&out).unwrap(), ["low", "high"]);
        assert_eq!(
            crate::varinfo::field_levels(c.field()).unwrap(),
            ["low", "high"]
        );
        let e = c
            .convert(&(Arc::new(Int64Array::from(vec![3])) as ArrayRef), 10)
            .unwrap_err()
            .to_string();
        assert!(e.contains("'3'") && e.contains("t.csv"), "{e}");
    }

    #[test]
    fn failed_cast_names_the_row() {
        let f = Field::new("x", DataType::Utf8, true);
        let mut c = ColumnConverter::new(
            &f,
            Some(&ColumnInfo::default().with_type(ColType::Int32)),
            "a.csv",
        )
        .unwrap();
        let e = c
            .convert(
                &(Arc::new(StringArray::from(vec!["1", "zz"])) as ArrayRef),
                100,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("row 102") && e.contains("'zz'"), "{e}");
    }

    #[test]
    fn col_type_names_parse() {
        assert_eq!("numeric".parse::<ColType>().unwrap(), ColType::Float64);
        assert_eq!("Date".parse::<ColType>().unwrap(), ColType::Date);
        assert!("blob".parse::<ColType>().is_err());
    }
}
