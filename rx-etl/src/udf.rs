//! SQL functions revoscale adds to DataFusion's.
//!
//! - `level_code(f)`: a factor's 0-based level code (Int32; null where the value is missing). It
//!   orders a factor by its levels, as R does, instead of by its labels; `rx_sort` uses it for factor
//!   keys, and transforms may too (`DayNo = level_code(DayOfWeek) + 1`).

use datafusion::arrow::array::{AsArray, Int32Array};
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::{Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The SQL name of [`LevelCode`].
pub const LEVEL_CODE: &str = "level_code";

/// `level_code(factor)`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct LevelCode {
    signature: Signature,
}

impl Default for LevelCode {
    fn default() -> Self {
        LevelCode {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

/// The `level_code` function, ready to register.
pub fn level_code() -> ScalarUDF {
    ScalarUDF::from(LevelCode::default())
}

impl ScalarUDFImpl for LevelCode {
    fn name(&self) -> &str {
        LEVEL_CODE
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        match args.first() {
            Some(DataType::Dictionary(k, _)) if **k == DataType::Int32 => Ok(DataType::Int32),
            Some(t) => exec_err!("level_code() takes a factor column, not a column of type {t}"),
            None => exec_err!("level_code() takes one factor column"),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        match args.args.first() {
            Some(ColumnarValue::Array(a)) => {
                let Some(d) = a.as_dictionary_opt::<Int32Type>() else {
                    return exec_err!("level_code() takes a factor column");
                };
                let keys: &Int32Array = d.keys();
                Ok(ColumnarValue::Array(std::sync::Arc::new(keys.clone())))
            }
            Some(ColumnarValue::Scalar(ScalarValue::Dictionary(_, v))) => {
                // A constant factor value has no level table of its own: its code is unknown.
                let _ = v;
                Ok(ColumnarValue::Scalar(ScalarValue::Int32(None)))
            }
            _ => exec_err!("level_code() takes a factor column"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Array;

    #[test]
    fn codes_of_a_factor() {
        let levels = ["a".to_string(), "b".to_string()];
        let f =
            rx_core::factor::make_factor(Int32Array::from(vec![Some(1), None, Some(0)]), &levels)
                .unwrap();
        let out = LevelCode::default()
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![ColumnarValue::Array(std::sync::Arc::new(f))],
                arg_fields: vec![],
                number_rows: 3,
                return_field: std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
                    "c",
                    DataType::Int32,
                    true,
                )),
                config_options: Default::default(),
            })
            .unwrap();
        let ColumnarValue::Array(a) = out else {
            panic!("an array")
        };
        let a = a.as_primitive::<Int32Type>();
        assert_eq!(a.iter().collect::<Vec<_>>(), [Some(1), None, Some(0)]);
        assert!(a.is_null(1));
    }
}
