//! The JSON form of a model, written from and read into a CBOR value tree.
//!
//! The model is first turned into a [`ciborium::Value`] (which keeps every `f64` exactly,
//! NaN and infinities included, and keeps struct fields in their declared order), then written as
//! JSON here: finite numbers in Rust's shortest round-trip form, non-finite ones as
//! `{"$f64": "NaN"}`, `{"$f64": "Infinity"}` or `{"$f64": "-Infinity"}`. Reading goes the other
//! way: serde_json's correctly rounded parser, then the same markers turned back into floats.

use std::fmt::Write as _;

use ciborium::Value;
use rx_core::{Error, Result};

/// The key of the object that stands for a non-finite number.
const NON_FINITE_KEY: &str = "$f64";

/// Writes `v` as indented JSON; `depth` is the current indentation level.
pub(crate) fn write_value(out: &mut String, v: &Value, depth: usize) -> Result<()> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(i) => {
            let _ = write!(out, "{}", i128::from(*i));
        }
        Value::Float(f) => write_f64(out, *f),
        Value::Text(s) => write_str(out, s),
        Value::Bytes(b) => {
            out.push('[');
            for (k, byte) in b.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{byte}");
            }
            out.push(']');
        }
        Value::Tag(_, inner) => write_value(out, inner, depth)?,
        Value::Array(items) => {
            if items.iter().all(is_scalar) {
                out.push('[');
                for (k, item) in items.iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    write_value(out, item, depth + 1)?;
                }
                out.push(']');
            } else {
                out.push('[');
                for (k, item) in items.iter().enumerate() {
                    out.push_str(if k > 0 { ",\n" } else { "\n" });
                    indent(out, depth + 1);
                    write_value(out, item, depth + 1)?;
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
        }
        Value::Map(entries) => {
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (k, (key, value)) in entries.iter().enumerate() {
                out.push_str(if k > 0 { ",\n" } else { "\n" });
                indent(out, depth + 1);
                let Value::Text(key) = key else {
                    return Err(Error::invalid(format!(
                        "the model has a map with a non-text key ({key:?}), which JSON cannot hold; save it in the binary form (a .rxm file)"
                    )));
                };
                write_str(out, key);
                out.push_str(": ");
                write_value(out, value, depth + 1)?;
            }
            out.push('\n');
            indent(out, depth);
            out.push('}');
        }
        other => {
            return Err(Error::invalid(format!(
                "the model holds a value JSON cannot represent ({other:?}); save it in the binary form (a .rxm file)"
            )));
        }
    }
    Ok(())
}

fn is_scalar(v: &Value) -> bool {
    match v {
        Value::Float(f) => f.is_finite(),
        Value::Null | Value::Bool(_) | Value::Integer(_) | Value::Text(_) => true,
        _ => false,
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn write_f64(out: &mut String, f: f64) {
    if f.is_finite() {
        // Debug is the shortest form that reads back to the same bits, always with a `.` or an
        // exponent (`1.0`, `1e-7`), so it also reads back as a float: valid JSON.
        let _ = write!(out, "{f:?}");
    } else {
        let name = if f.is_nan() {
            "NaN"
        } else if f > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        let _ = write!(out, "{{\"{NON_FINITE_KEY}\": \"{name}\"}}");
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A parsed JSON value as a CBOR value, with the non-finite markers turned back into floats.
pub(crate) fn to_cbor(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Integer(u.into())
            } else if let Some(i) = n.as_i64() {
                Value::Integer(i.into())
            } else {
                Value::Float(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::Text(s),
        serde_json::Value::Array(items) => Value::Array(items.into_iter().map(to_cbor).collect()),
        serde_json::Value::Object(map) => {
            if map.len() == 1
                && let Some(serde_json::Value::String(name)) = map.get(NON_FINITE_KEY)
            {
                match name.as_str() {
                    "NaN" => return Value::Float(f64::NAN),
                    "Infinity" => return Value::Float(f64::INFINITY),
                    "-Infinity" => return Value::Float(f64::NEG_INFINITY),
                    _ => {}
                }
            }
            Value::Map(
                map.into_iter()
                    .map(|(k, v)| (Value::Text(k), to_cbor(v)))
                    .collect(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(f: f64) -> f64 {
        let mut s = String::new();
        write_value(&mut s, &Value::Array(vec![Value::Float(f)]), 0).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&s).unwrap();
        match to_cbor(parsed) {
            Value::Array(v) => v[0].as_float().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn floats_keep_their_bits() {
        for f in [
            0.1,
            -0.0,
            1.0,
            1e300,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            2.0f64.sqrt(),
            123456789.12345678,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            assert_eq!(round_trip(f).to_bits(), f.to_bits(), "{f:?}");
        }
        assert!(round_trip(f64::NAN).is_nan());
    }

    #[test]
    fn strings_are_escaped() {
        let mut s = String::new();
        write_value(&mut s, &Value::Text("a\"b\\c\nd\u{1}é".into()), 0).unwrap();
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1}é");
    }

    #[test]
    fn a_marker_with_another_name_stays_an_object() {
        let v: serde_json::Value = serde_json::from_str(r#"{"$f64": "nan?"}"#).unwrap();
        assert!(matches!(to_cbor(v), Value::Map(_)));
    }
}
