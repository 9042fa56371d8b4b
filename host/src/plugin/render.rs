//! A stable JSON rendering of plugin outputs and errors, used by the file and stdout sinks
//! and by anything that shows outputs to people.
//!
//! Columns render as `{"name": "id", "int64": 5}`: the key names the value's type, so the
//! rendering round-trips every type of the contract. Bytes render as base64.

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};

use super::bindings::{Column, Output, PluginError, Value, WriteKind};

/// Renders one output.
pub fn output(output: &Output) -> Json {
    match output {
        Output::Row(row) => json!({"row": {
            "table": row.table,
            "kind": match row.kind { WriteKind::Put => "put", WriteKind::Update => "update", WriteKind::Delete => "delete" },
            "primary_key": columns(&row.primary_key),
            "columns": columns(&row.columns),
            "deleted_columns": row.deleted_columns,
        }}),
        Output::Point(point) => json!({"point": {
            "table": point.table,
            "measurement": point.measurement,
            "data_source": point.data_source,
            "tags": point.tags.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
            "time_us": point.time_us,
            "fields": columns(&point.fields),
        }}),
        Output::Raw(raw) => match std::str::from_utf8(&raw.data) {
            Ok(text) => json!({"raw": {"format": raw.format, "text": text}}),
            Err(_) => json!({"raw": {"format": raw.format, "base64": base64(&raw.data)}}),
        },
    }
}

/// Renders a plugin's structured error.
pub fn error(error: &PluginError) -> Json {
    json!({"code": error.code, "message": error.message, "field": error.field})
}

fn columns(columns: &[Column]) -> Json {
    Json::Array(columns.iter().map(column).collect())
}

fn column(column: &Column) -> Json {
    let mut object = Map::with_capacity(2);
    object.insert("name".into(), Json::String(column.name.clone()));
    let (kind, rendered) = value(&column.value);
    object.insert(kind.into(), rendered);
    Json::Object(object)
}

/// Renders a value as (type name, JSON value).
pub fn value(value: &Value) -> (&'static str, Json) {
    match value {
        Value::Null => ("null", Json::Null),
        Value::Boolean(b) => ("boolean", Json::Bool(*b)),
        Value::Int8(v) => ("int8", json!(v)),
        Value::Int16(v) => ("int16", json!(v)),
        Value::Int32(v) => ("int32", json!(v)),
        Value::Int64(v) => ("int64", json!(v)),
        Value::Uint8(v) => ("uint8", json!(v)),
        Value::Uint16(v) => ("uint16", json!(v)),
        Value::Uint32(v) => ("uint32", json!(v)),
        Value::Uint64(v) => ("uint64", json!(v)),
        Value::Float32(v) => ("float32", float(f64::from(*v))),
        Value::Float64(v) => ("float64", float(*v)),
        Value::Text(s) => ("text", Json::String(s.clone())),
        Value::Binary(b) => ("binary", Json::String(base64(b))),
        Value::TimestampUs(v) => ("timestamp_us", json!(v)),
    }
}

fn float(v: f64) -> Json {
    serde_json::Number::from_f64(v).map(Json::Number).unwrap_or_else(|| Json::String(v.to_string()))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Raw, Row};

    #[test]
    fn row_renders_typed_columns_in_order() {
        let row = Output::Row(Row {
            table: None,
            kind: WriteKind::Put,
            primary_key: vec![Column { name: "offset".into(), value: Value::Int64(7) }],
            columns: vec![
                Column { name: "b".into(), value: Value::Binary(vec![1, 2]) },
                Column { name: "f".into(), value: Value::Float64(f64::NAN) },
            ],
            deleted_columns: vec![],
        });
        assert_eq!(
            output(&row).to_string(),
            r#"{"row":{"table":null,"kind":"put","primary_key":[{"name":"offset","int64":7}],"columns":[{"name":"b","binary":"AQI="},{"name":"f","float64":"NaN"}],"deleted_columns":[]}}"#
        );
    }

    #[test]
    fn raw_renders_text_or_base64() {
        let text = Output::Raw(Raw { format: "line".into(), data: b"m v=1".to_vec() });
        assert_eq!(output(&text)["raw"]["text"], "m v=1");
        let bin = Output::Raw(Raw { format: "bin".into(), data: vec![0xff] });
        assert_eq!(output(&bin)["raw"]["base64"], "/w==");
    }
}
