//! Schemaless JSON to columns.

use serde_json::{Number, Value as Json};
use sluice_plugin_sdk::{Column, Value};

use crate::converter::Integers;

/// An object's fields as columns in document order; any other non-null value as one column
/// named `scalar_name`; `None` for JSON `null`.
pub(crate) fn columns(json: Json, scalar_name: &str, integers: Integers) -> Option<Vec<Column>> {
    match json {
        Json::Null => None,
        Json::Object(map) => {
            Some(map.into_iter().map(|(name, json)| Column { name, value: value(json, integers) }).collect())
        }
        other => Some(vec![Column { name: scalar_name.to_owned(), value: value(other, integers) }]),
    }
}

/// One JSON value as a typed value; objects and arrays become their compact JSON text.
pub(crate) fn value(json: Json, integers: Integers) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => number(&n, integers),
        Json::String(s) => Value::Text(s),
        nested @ (Json::Array(_) | Json::Object(_)) => Value::Text(compact(&nested)),
    }
}

fn number(n: &Number, integers: Integers) -> Value {
    if let Some(i) = n.as_i64() {
        match integers {
            Integers::Int64 => Value::Int64(i),
            Integers::Text => Value::Text(i.to_string()),
        }
    } else if let Some(u) = n.as_u64() {
        match integers {
            Integers::Int64 => Value::Uint64(u),
            Integers::Text => Value::Text(u.to_string()),
        }
    } else {
        Value::Float64(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Compact JSON text of `json`.
pub(crate) fn compact(json: &Json) -> String {
    // Serialising a `serde_json::Value` to a string cannot fail: its keys are strings.
    serde_json::to_string(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars() {
        let i = Integers::Int64;
        assert_eq!(value(json!(null), i), Value::Null);
        assert_eq!(value(json!(true), i), Value::Boolean(true));
        assert_eq!(value(json!(-3), i), Value::Int64(-3));
        assert_eq!(value(json!(u64::MAX), i), Value::Uint64(u64::MAX));
        assert_eq!(value(json!(1.5), i), Value::Float64(1.5));
        assert_eq!(value(json!("s"), i), Value::text("s"));
        assert_eq!(value(json!([1, {"a": 2}]), i), Value::text(r#"[1,{"a":2}]"#));
        assert_eq!(value(json!(-3), Integers::Text), Value::text("-3"));
        assert_eq!(value(json!(u64::MAX), Integers::Text), Value::text(u64::MAX.to_string()));
        assert_eq!(value(json!(1.5), Integers::Text), Value::Float64(1.5));
    }

    #[test]
    fn top_level() {
        let i = Integers::Int64;
        assert_eq!(columns(json!(null), "value", i), None);
        assert_eq!(columns(json!(7), "value", i), Some(vec![Column::new("value", 7i64)]));
        assert_eq!(
            columns(json!({"b": 1, "a": "x"}), "value", i),
            Some(vec![Column::new("b", 1i64), Column::new("a", "x")])
        );
    }
}
