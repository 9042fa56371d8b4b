//! A stable JSON rendering of plugin outputs and errors, used by the file and stdout sinks
//! and by anything that shows outputs to people.
//!
//! Columns render as `{"name": "id", "int64": 5}`: the key names the value's type, so the
//! rendering round-trips every type of the contract. Bytes render as base64.

use base64::Engine as _;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{json, Value as Json};

use crate::model::{Column, Output, PluginError, Point, Raw, Row, Value, WriteKind};

/// Renders one output.
pub fn output(output: &Output) -> Json {
    // Serialising plain data into a `serde_json::Value` cannot fail.
    serde_json::to_value(OutputJson(output)).unwrap_or(Json::Null)
}

/// An output that serialises straight to its rendering, without building a
/// [`serde_json::Value`] first (the file sink's hot path).
pub struct OutputJson<'a>(pub &'a Output);

impl Serialize for OutputJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut outer = serializer.serialize_map(Some(1))?;
        match self.0 {
            Output::Row(row) => outer.serialize_entry("row", &RowJson(row))?,
            Output::Point(point) => outer.serialize_entry("point", &PointJson(point))?,
            Output::Raw(raw) => outer.serialize_entry("raw", &RawJson(raw))?,
        }
        outer.end()
    }
}

struct RowJson<'a>(&'a Row);

impl Serialize for RowJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let row = self.0;
        let mut map = serializer.serialize_map(Some(5))?;
        map.serialize_entry("table", &row.table)?;
        let kind = match row.kind {
            WriteKind::Put => "put",
            WriteKind::Update => "update",
            WriteKind::Delete => "delete",
        };
        map.serialize_entry("kind", kind)?;
        map.serialize_entry("primary_key", &ColumnsJson(&row.primary_key))?;
        map.serialize_entry("columns", &ColumnsJson(&row.columns))?;
        map.serialize_entry("deleted_columns", &row.deleted_columns)?;
        map.end()
    }
}

struct PointJson<'a>(&'a Point);

impl Serialize for PointJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let point = self.0;
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("table", &point.table)?;
        map.serialize_entry("measurement", &point.measurement)?;
        map.serialize_entry("data_source", &point.data_source)?;
        map.serialize_entry("tags", &point.tags)?;
        map.serialize_entry("time_us", &point.time_us)?;
        map.serialize_entry("fields", &ColumnsJson(&point.fields))?;
        map.end()
    }
}

struct RawJson<'a>(&'a Raw);

impl Serialize for RawJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw = self.0;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("format", &raw.format)?;
        match std::str::from_utf8(&raw.data) {
            Ok(text) => map.serialize_entry("text", text)?,
            Err(_) => map.serialize_entry("base64", &base64(&raw.data))?,
        }
        map.end()
    }
}

struct ColumnsJson<'a>(&'a [Column]);

impl Serialize for ColumnsJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for column in self.0 {
            seq.serialize_element(&ColumnJson(column))?;
        }
        seq.end()
    }
}

struct ColumnJson<'a>(&'a Column);

impl Serialize for ColumnJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let column = self.0;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("name", &column.name)?;
        let kind = type_name(&column.value);
        match &column.value {
            Value::Null => map.serialize_entry(kind, &())?,
            Value::Boolean(v) => map.serialize_entry(kind, v)?,
            Value::Int8(v) => map.serialize_entry(kind, v)?,
            Value::Int16(v) => map.serialize_entry(kind, v)?,
            Value::Int32(v) => map.serialize_entry(kind, v)?,
            Value::Int64(v) => map.serialize_entry(kind, v)?,
            Value::Uint8(v) => map.serialize_entry(kind, v)?,
            Value::Uint16(v) => map.serialize_entry(kind, v)?,
            Value::Uint32(v) => map.serialize_entry(kind, v)?,
            Value::Uint64(v) => map.serialize_entry(kind, v)?,
            Value::Float32(v) => map.serialize_entry(kind, &FloatJson(f64::from(*v)))?,
            Value::Float64(v) => map.serialize_entry(kind, &FloatJson(*v))?,
            Value::Text(v) => map.serialize_entry(kind, v)?,
            Value::Binary(v) => map.serialize_entry(kind, &base64(v))?,
            Value::TimestampUs(v) => map.serialize_entry(kind, v)?,
        }
        map.end()
    }
}

/// A float as a JSON number, or as its text when JSON has no number for it (NaN, infinity).
struct FloatJson(f64);

impl Serialize for FloatJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            serializer.serialize_f64(self.0)
        } else {
            serializer.serialize_str(&self.0.to_string())
        }
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Boolean(_) => "boolean",
        Value::Int8(_) => "int8",
        Value::Int16(_) => "int16",
        Value::Int32(_) => "int32",
        Value::Int64(_) => "int64",
        Value::Uint8(_) => "uint8",
        Value::Uint16(_) => "uint16",
        Value::Uint32(_) => "uint32",
        Value::Uint64(_) => "uint64",
        Value::Float32(_) => "float32",
        Value::Float64(_) => "float64",
        Value::Text(_) => "text",
        Value::Binary(_) => "binary",
        Value::TimestampUs(_) => "timestamp_us",
    }
}

/// Renders a plugin's structured error.
pub fn error(error: &PluginError) -> Json {
    json!({"code": error.code, "message": error.message, "field": error.field})
}

/// Renders a value as (type name, JSON value).
pub fn value(value: &Value) -> (&'static str, Json) {
    (type_name(value), value_json(value))
}

fn value_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Int8(v) => json!(v),
        Value::Int16(v) => json!(v),
        Value::Int32(v) => json!(v),
        Value::Int64(v) => json!(v),
        Value::Uint8(v) => json!(v),
        Value::Uint16(v) => json!(v),
        Value::Uint32(v) => json!(v),
        Value::Uint64(v) => json!(v),
        Value::Float32(v) => float(f64::from(*v)),
        Value::Float64(v) => float(*v),
        Value::Text(s) => Json::String(s.to_string()),
        Value::Binary(b) => Json::String(base64(b)),
        Value::TimestampUs(v) => json!(v),
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
    use crate::model::{Bytes, Point, Raw, Row};

    #[test]
    fn row_renders_typed_columns_in_order() {
        let row = Output::Row(Row {
            table: None,
            kind: WriteKind::Put,
            primary_key: vec![Column { name: "offset".into(), value: Value::Int64(7) }],
            columns: vec![
                Column { name: "b".into(), value: Value::Binary(vec![1, 2].into()) },
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
    fn direct_serialisation_matches_the_value_rendering_for_every_type() {
        let all = vec![
            Value::Null,
            Value::Boolean(true),
            Value::Int8(-8),
            Value::Int16(-16),
            Value::Int32(-32),
            Value::Int64(i64::MIN),
            Value::Uint8(8),
            Value::Uint16(16),
            Value::Uint32(32),
            Value::Uint64(u64::MAX),
            Value::Float32(0.1),
            Value::Float64(-2.5e300),
            Value::Float64(f64::INFINITY),
            Value::Text("quote \" and \u{e9}".into()),
            Value::Binary(vec![0, 255].into()),
            Value::TimestampUs(1_700_000_000_000_000),
        ];
        let columns: Vec<Column> =
            all.iter().enumerate().map(|(i, v)| Column { name: format!("c{i}").into(), value: v.clone() }).collect();
        let outputs = [
            Output::Row(Row {
                table: Some("t".into()),
                kind: WriteKind::Update,
                primary_key: columns[..2].to_vec(),
                columns: columns.clone(),
                deleted_columns: vec!["gone".into()],
            }),
            Output::Point(Point {
                table: None,
                measurement: "m".into(),
                data_source: "h".into(),
                tags: vec![("k".into(), "v".into())],
                time_us: 5,
                fields: columns,
            }),
            Output::Raw(Raw { format: "line".into(), data: Bytes::from_static(b"m v=1") }),
            Output::Raw(Raw { format: "bin".into(), data: vec![0xff].into() }),
        ];
        for output in &outputs {
            let direct = serde_json::to_string(&OutputJson(output)).expect("serialises");
            let mut expected = serde_json::Map::new();
            match output {
                Output::Row(row) => {
                    let cols = |cs: &[Column]| {
                        Json::Array(
                            cs.iter()
                                .map(|c| {
                                    let (k, v) = value(&c.value);
                                    json!({"name": c.name, k: v})
                                })
                                .collect(),
                        )
                    };
                    expected.insert(
                        "row".into(),
                        json!({"table": row.table, "kind": "update",
                        "primary_key": cols(&row.primary_key), "columns": cols(&row.columns),
                        "deleted_columns": row.deleted_columns}),
                    );
                }
                Output::Point(point) => {
                    let fields: Vec<Json> = point
                        .fields
                        .iter()
                        .map(|c| {
                            let (k, v) = value(&c.value);
                            json!({"name": c.name, k: v})
                        })
                        .collect();
                    expected.insert(
                        "point".into(),
                        json!({"table": null, "measurement": "m", "data_source": "h",
                        "tags": [["k", "v"]], "time_us": 5, "fields": fields}),
                    );
                }
                Output::Raw(raw) if raw.format == "line" => {
                    expected.insert("raw".into(), json!({"format": "line", "text": "m v=1"}));
                }
                Output::Raw(_) => {
                    expected.insert("raw".into(), json!({"format": "bin", "base64": "/w=="}));
                }
            }
            assert_eq!(direct, Json::Object(expected).to_string());
        }
    }

    #[test]
    fn raw_renders_text_or_base64() {
        let text = Output::Raw(Raw { format: "line".into(), data: Bytes::from_static(b"m v=1") });
        assert_eq!(output(&text)["raw"]["text"], "m v=1");
        let bin = Output::Raw(Raw { format: "bin".into(), data: vec![0xff].into() });
        assert_eq!(output(&bin)["raw"]["base64"], "/w==");
    }
}
