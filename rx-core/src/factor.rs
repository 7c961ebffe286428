//! Factors in the chunk model: dictionary arrays with `Int32` codes and `Utf8` levels.
//!
//! A stream fixes its level table: every chunk's dictionary holds the *whole* level table known so
//! far (new levels only ever go at the end), so a code means the same level in every chunk. A
//! [`LevelTable`] grows that table while streaming (text import discovers levels as it reads) and
//! maps other level tables onto it by name.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray, Int32Array, StringArray};
use arrow::datatypes::{DataType, Int32Type};

use crate::{Error, Result};

/// The Arrow type of a factor column.
pub fn factor_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// A factor array from codes and a level table. Codes must be valid indexes into `levels`.
pub fn make_factor(codes: Int32Array, levels: &[String]) -> Result<DictionaryArray<Int32Type>> {
    let values: ArrayRef = Arc::new(StringArray::from_iter_values(levels.iter()));
    DictionaryArray::try_new(codes, values).map_err(|e| Error::arrow("building a factor column", e))
}

/// A growing level table: level text → code, with new levels appended at the end.
#[derive(Debug, Clone, Default)]
pub struct LevelTable {
    levels: Vec<String>,
    index: HashMap<String, i32>,
    /// When set, levels not in the table are an error instead of being added.
    fixed: bool,
}

impl LevelTable {
    /// An empty table that grows as levels are seen.
    pub fn new() -> Self {
        Self::default()
    }

    /// A table that starts from `levels` and grows after them.
    pub fn with_levels(levels: &[String]) -> Self {
        let mut t = Self::new();
        for l in levels {
            t.code_of(l);
        }
        t
    }

    /// A table with exactly `levels`; a value outside it is an error (or missing, see
    /// [`LevelTable::encode_strings`]).
    pub fn fixed(levels: &[String]) -> Self {
        let mut t = Self::with_levels(levels);
        t.fixed = true;
        t
    }

    /// True when no new level may be added.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The levels in code order.
    pub fn levels(&self) -> &[String] {
        &self.levels
    }

    /// The code of a level, adding it when the table may grow.
    pub fn code_of(&mut self, level: &str) -> Option<i32> {
        if let Some(&c) = self.index.get(level) {
            return Some(c);
        }
        if self.fixed {
            return None;
        }
        let c = self.levels.len() as i32;
        self.levels.push(level.to_string());
        self.index.insert(level.to_string(), c);
        Some(c)
    }

    /// The code of a level, without adding it.
    pub fn get(&self, level: &str) -> Option<i32> {
        self.index.get(level).copied()
    }

    /// Encodes strings as a factor with this table's levels (the table grows unless fixed).
    ///
    /// A value outside a fixed table becomes missing when `unknown_as_missing`, and otherwise is an
    /// error naming the value and `what` (e.g. the column).
    pub fn encode_strings(
        &mut self,
        strings: &StringArray,
        unknown_as_missing: bool,
        what: &str,
    ) -> Result<DictionaryArray<Int32Type>> {
        let mut codes = Vec::with_capacity(strings.len());
        for v in strings.iter() {
            codes.push(match v {
                None => None,
                Some(s) => match self.code_of(s) {
                    Some(c) => Some(c),
                    None if unknown_as_missing => None,
                    None => {
                        return Err(Error::BadValue {
                            location: what.to_string(),
                            message: format!(
                                "value '{s}' is not one of the factor levels [{}]; add it to the levels or \
                                 treat unknown levels as missing",
                                self.levels.join(", ")
                            ),
                        });
                    }
                },
            });
        }
        make_factor(Int32Array::from(codes), &self.levels)
    }

    /// Re-codes a factor (any dictionary of strings) onto this table by level name.
    pub fn recode(
        &mut self,
        array: &dyn Array,
        unknown_as_missing: bool,
        what: &str,
    ) -> Result<DictionaryArray<Int32Type>> {
        let strings = factor_to_strings(array)?;
        self.encode_strings(&strings, unknown_as_missing, what)
    }
}

/// The text of each element of a factor (or string) array.
pub fn factor_to_strings(array: &dyn Array) -> Result<StringArray> {
    let out = arrow::compute::cast(array, &DataType::Utf8)
        .map_err(|e| Error::arrow("reading factor levels", e))?;
    Ok(out.as_string::<i32>().clone())
}

/// The levels of a factor array (its dictionary values), or `None` for other arrays.
pub fn array_levels(array: &dyn Array) -> Option<Vec<String>> {
    let dict = array.as_any_dictionary_opt()?;
    let values = dict.values().as_string_opt::<i32>()?;
    Some(
        values
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable_as_levels_grow() {
        let mut t = LevelTable::new();
        let a = t
            .encode_strings(
                &StringArray::from(vec![Some("b"), None, Some("a")]),
                false,
                "x",
            )
            .unwrap();
        let b = t
            .encode_strings(&StringArray::from(vec![Some("c"), Some("b")]), false, "x")
            .unwrap();
        assert_eq!(a.keys().values().to_vec()[..1], [0]);
        assert_eq!(b.keys().values().to_vec(), vec![2, 0]);
        assert_eq!(t.levels(), ["b", "a", "c"]);
        assert_eq!(array_levels(&b).unwrap(), ["b", "a", "c"]);
    }

    #[test]
    fn fixed_table_rejects_or_drops_unknown_levels() {
        let mut t = LevelTable::fixed(&["x".into()]);
        let e = t
            .encode_strings(&StringArray::from(vec!["y"]), false, "col 'g'")
            .unwrap_err();
        assert!(e.to_string().contains("'y'"));
        let ok = t
            .encode_strings(&StringArray::from(vec!["y", "x"]), true, "g")
            .unwrap();
        assert_eq!(ok.null_count(), 1);
    }
}
