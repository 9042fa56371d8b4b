//! OpenTSDB JSON as TDengine parses it: an object or an array of objects with exactly the
//! keys `metric`, `timestamp`, `value` and `tags` (any case); timestamps of 10 or 13 digits
//! (or `{"value":…,"type":"s|ms|us|ns"}`); non-empty tags.

use serde_json::{Map, Value};
use sluice_plugin_sdk::PluginError;

use crate::telnet::check_timestamp;

/// Types a typed value (`{"value":…,"type":…}`) may name.
const TYPES: &[&str] = &[
    "bool",
    "i8",
    "tinyint",
    "i16",
    "smallint",
    "i32",
    "int",
    "i64",
    "bigint",
    "f32",
    "float",
    "f64",
    "double",
    "binary",
    "varbinary",
    "nchar",
];

/// Checks the document and re-serialises it compactly (one line, any pretty-printing gone).
pub(crate) fn normalise(text: &str) -> Result<Vec<u8>, PluginError> {
    if text.trim().is_empty() {
        return Err(crate::empty("JSON"));
    }
    let document: Value = serde_json::from_str(text)
        .map_err(|e| PluginError::new("invalid-json", format!("the value is not JSON: {e}")))?;
    match &document {
        Value::Array(points) if points.is_empty() => return Err(crate::empty("JSON")),
        Value::Array(points) => {
            for (i, point) in points.iter().enumerate() {
                check(point).map_err(|e| invalid(format!("element {i}: {e}")))?;
            }
        }
        point => check(point).map_err(invalid)?,
    }
    serde_json::to_vec(&document).map_err(|e| PluginError::new("invalid-json", e.to_string()))
}

fn invalid(message: String) -> PluginError {
    PluginError::new("invalid-json", format!("not an OpenTSDB JSON point: {message}"))
}

fn check(point: &Value) -> Result<(), String> {
    let object = point.as_object().ok_or("a point must be a JSON object")?;
    if object.len() != 4 {
        return Err(format!(
            "a point has exactly the keys metric, timestamp, value and tags; this one has {}",
            keys(object)
        ));
    }
    let get = |name: &str| object.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v);
    let metric = get("metric").ok_or("`metric` is missing")?;
    match metric.as_str() {
        Some(m) if !m.is_empty() && m.len() <= 192 => {}
        _ => return Err(format!("`metric` must be a non-empty string of at most 192 bytes, not {metric}")),
    }
    let timestamp = get("timestamp").ok_or("`timestamp` is missing")?;
    match timestamp {
        Value::Number(n) if n.is_u64() => check_timestamp(&n.to_string())?,
        Value::Object(typed) => {
            let unit = typed.get("type").and_then(Value::as_str).unwrap_or("");
            if !matches!(unit, "s" | "ms" | "us" | "ns") || !typed.get("value").is_some_and(Value::is_u64) {
                return Err(format!(
                    "`timestamp` {timestamp} must be {{\"value\": <integer>, \"type\": \"s|ms|us|ns\"}}"
                ));
            }
        }
        other => return Err(format!("`timestamp` must be a whole number, not {other}")),
    }
    check_value(get("value").ok_or("`value` is missing")?, "value")?;
    let tags = get("tags").ok_or("`tags` is missing")?.as_object().ok_or("`tags` must be an object")?;
    if tags.is_empty() {
        return Err("`tags` is empty; TDengine needs at least one tag".into());
    }
    for (name, value) in tags {
        check_value(value, &format!("tag `{name}`"))?;
    }
    Ok(())
}

fn check_value(value: &Value, what: &str) -> Result<(), String> {
    match value {
        Value::Number(_) | Value::Bool(_) | Value::String(_) => Ok(()),
        Value::Object(typed) => {
            let ty = typed.get("type").and_then(Value::as_str).unwrap_or("");
            if !TYPES.contains(&ty.to_ascii_lowercase().as_str()) || !typed.contains_key("value") {
                return Err(format!(
                    "{what} {value} must be {{\"value\": …, \"type\": <one of {}>}}",
                    TYPES.join(", ")
                ));
            }
            Ok(())
        }
        other => Err(format!("{what} must be a number, boolean, string or typed value, not {other}")),
    }
}

fn keys(object: &Map<String, Value>) -> String {
    object.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_points() {
        let ok = r#"[{"metric":"meters.current","timestamp":1648432611249,"value":10.3,"tags":{"location":"California.SanFrancisco","groupid":2}},
                    {"Metric":"m","timestamp":{"value":1648432611249123,"type":"us"},"value":{"value":3,"type":"i8"},"tags":{"t":"a"}}]"#;
        assert!(normalise(ok).is_ok());
        let cases = [
            (r#"{"metric":"m","timestamp":1,"value":1,"tags":{"t":"a"}}"#, "10 digits"),
            (r#"{"metric":"m","timestamp":1648432611,"value":1,"tags":{}}"#, "empty"),
            (r#"{"metric":"m","timestamp":1648432611,"value":1}"#, "exactly the keys"),
            (r#"{"metric":"m","timestamp":1648432611,"value":[1],"tags":{"t":"a"}}"#, "value"),
            (r#"{"metric":"m","timestamp":1648432611,"value":{"value":1,"type":"int128"},"tags":{"t":"a"}}"#, "type"),
            (r#"[1]"#, "element 0"),
            ("{", "not JSON"),
        ];
        for (text, expected) in cases {
            let error = normalise(text).unwrap_err();
            assert!(error.message.contains(expected), "{text}: {}", error.message);
        }
    }
}
