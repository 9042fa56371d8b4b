//! The JSON-to-point mapping: record values that are JSON objects become typed `point`s,
//! configured by keys so JSON topics need no custom plugin.
//!
//! - `tdengine.mapping.measurement`: the measurement (super table); `${topic}` is replaced
//!   by the record's topic. Or `tdengine.mapping.measurement.field`: the field holding it.
//! - `tdengine.mapping.tags`: comma-separated fields that become tags (tags are text).
//! - `tdengine.mapping.fields`: comma-separated `field:type` (types `i8`…`i64`, `u8`…`u64`,
//!   `f32`, `f64`, `bool`, `binary`, `nchar`; without `:type` numbers are `f64`, booleans
//!   `bool` and strings `binary`). When unset, every other top-level field is a field.
//! - `tdengine.mapping.timestamp.field` and `tdengine.mapping.timestamp.unit` (`s`, `ms`,
//!   `us`, `ns`; default `ms`): when no field is named, the Kafka record timestamp is used.
//! - `tdengine.mapping.table.field`: the field naming the child table (sent through
//!   `tdengine.table.name.key`).
//!
//! Fields are addressed by name or dotted path (`a.b`); a tag or column name is the path
//! with dots replaced by `_`.

use serde_json::Value as Json;
use sluice_plugin_sdk::{KafkaRecord, PluginError, Point, Settings, Value};

/// Keys this module reads (the host checks connector files against them).
pub const KEYS: &[&str] = &[
    "tdengine.mapping.measurement",
    "tdengine.mapping.measurement.field",
    "tdengine.mapping.tags",
    "tdengine.mapping.fields",
    "tdengine.mapping.timestamp.field",
    "tdengine.mapping.timestamp.unit",
    "tdengine.mapping.table.field",
];

/// A column type of the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Type {
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
    Bool,
    Binary,
    Nchar,
    Infer,
}

impl Type {
    fn parse(name: &str) -> Option<Type> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "i8" | "tinyint" => Type::I8,
            "i16" | "smallint" => Type::I16,
            "i32" | "int" => Type::I32,
            "i64" | "bigint" => Type::I64,
            "u8" => Type::U8,
            "u16" => Type::U16,
            "u32" => Type::U32,
            "u64" => Type::U64,
            "f32" | "float" => Type::F32,
            "f64" | "double" => Type::F64,
            "bool" => Type::Bool,
            "binary" | "varchar" => Type::Binary,
            "nchar" => Type::Nchar,
            _ => return None,
        })
    }
}

/// Where the measurement comes from.
#[derive(Debug, Clone)]
enum Measurement {
    Fixed(String),
    Field(String),
}

/// A configured mapping.
#[derive(Debug, Clone)]
pub struct Mapping {
    measurement: Measurement,
    tags: Vec<String>,
    fields: Option<Vec<(String, Type)>>,
    timestamp_field: Option<String>,
    timestamp_unit_ns: i64,
    table_field: Option<String>,
}

fn bad(key: &str, message: String) -> PluginError {
    PluginError::new("bad-setting", message).with_field(key)
}

fn list(settings: &Settings, key: &str) -> Vec<String> {
    settings
        .get(key)
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default()
}

impl Mapping {
    /// The mapping, when `tdengine.mapping.measurement` or `.measurement.field` is set.
    pub fn from_settings(settings: &Settings) -> Result<Option<Mapping>, PluginError> {
        let measurement = match (
            settings.get("tdengine.mapping.measurement").map(str::trim).filter(|s| !s.is_empty()),
            settings.get("tdengine.mapping.measurement.field").map(str::trim).filter(|s| !s.is_empty()),
        ) {
            (Some(_), Some(_)) => {
                return Err(bad(
                    "tdengine.mapping.measurement",
                    "set tdengine.mapping.measurement or tdengine.mapping.measurement.field, not both".into(),
                ))
            }
            (Some(name), None) => Measurement::Fixed(name.to_string()),
            (None, Some(field)) => Measurement::Field(field.to_string()),
            (None, None) => {
                for key in KEYS {
                    if settings.get(key).is_some() {
                        return Err(bad(key, format!(
                            "{key} needs tdengine.mapping.measurement (or tdengine.mapping.measurement.field) to turn on the JSON mapping"
                        )));
                    }
                }
                return Ok(None);
            }
        };
        let fields = match settings.get("tdengine.mapping.fields") {
            None => None,
            Some(_) => {
                let mut fields = Vec::new();
                for entry in list(settings, "tdengine.mapping.fields") {
                    let (name, ty) = match entry.split_once(':') {
                        Some((name, ty)) => (name.trim(), Type::parse(ty).ok_or_else(|| {
                            bad("tdengine.mapping.fields", format!(
                                "type `{ty}` of field `{name}` is not one of i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, bool, binary, nchar"
                            ))
                        })?),
                        None => (entry.as_str(), Type::Infer),
                    };
                    fields.push((name.to_string(), ty));
                }
                if fields.is_empty() {
                    return Err(bad("tdengine.mapping.fields", "tdengine.mapping.fields names no field".into()));
                }
                Some(fields)
            }
        };
        let timestamp_unit_ns =
            match settings.get_choice("tdengine.mapping.timestamp.unit", "ms", &["s", "ms", "us", "ns"])? {
                "s" => 1_000_000_000,
                "us" => 1_000,
                "ns" => 1,
                _ => 1_000_000,
            };
        Ok(Some(Mapping {
            measurement,
            tags: list(settings, "tdengine.mapping.tags"),
            fields,
            timestamp_field: settings.get("tdengine.mapping.timestamp.field").map(|s| s.trim().to_string()),
            timestamp_unit_ns,
            table_field: settings.get("tdengine.mapping.table.field").map(|s| s.trim().to_string()),
        }))
    }

    /// Maps one record value (a JSON object) to a point.
    pub fn point(&self, record: &KafkaRecord, text: &str) -> Result<Point, PluginError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| PluginError::new("invalid-json", format!("the value is not JSON: {e}")))?;
        let object = json
            .as_object()
            .ok_or_else(|| PluginError::new("invalid-json", "the mapping needs a JSON object as the record value"))?;
        let measurement = match &self.measurement {
            Measurement::Fixed(name) => name.replace("${topic}", &record.topic),
            Measurement::Field(path) => match lookup(&json, path) {
                Some(Json::String(name)) if !name.is_empty() => name.clone(),
                _ => return Err(missing(path, "the measurement, a non-empty string")),
            },
        };
        let time_us = match &self.timestamp_field {
            Some(path) => {
                let raw = lookup(&json, path).ok_or_else(|| missing(path, "the timestamp"))?;
                let units = raw
                    .as_i64()
                    .or_else(|| raw.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| field_error(path, format!("the timestamp must be a whole number, not {raw}")))?;
                let ns = (units as i128) * (self.timestamp_unit_ns as i128);
                i64::try_from(ns.div_euclid(1000))
                    .map_err(|_| field_error(path, format!("timestamp {units} is out of range")))?
            }
            None => record.timestamp_ms.and_then(|ms| ms.checked_mul(1000)).ok_or_else(|| {
                PluginError::new(
                    "missing-timestamp",
                    "the record has no timestamp; set tdengine.mapping.timestamp.field",
                )
            })?,
        };
        let mut tags = Vec::with_capacity(self.tags.len());
        for path in &self.tags {
            match lookup(&json, path) {
                None | Some(Json::Null) => {}
                Some(Json::String(s)) => tags.push((column_name(path), s.clone())),
                Some(other @ (Json::Number(_) | Json::Bool(_))) => tags.push((column_name(path), other.to_string())),
                Some(other) => {
                    return Err(field_error(path, format!("a tag must be a string, number or boolean, not {other}")))
                }
            }
        }
        let table = match &self.table_field {
            None => None,
            Some(path) => match lookup(&json, path) {
                Some(Json::String(s)) if !s.is_empty() => Some(s.clone()),
                Some(Json::Number(n)) => Some(n.to_string()),
                _ => return Err(missing(path, "the child table name")),
            },
        };
        let mut fields = Vec::new();
        match &self.fields {
            Some(list) => {
                for (path, ty) in list {
                    if let Some(value) = lookup(&json, path) {
                        fields.push(sluice_plugin_sdk::Column::new(column_name(path), convert(value, *ty, path)?));
                    }
                }
            }
            None => {
                let used = |name: &str| {
                    self.tags.iter().any(|t| t == name)
                        || self.timestamp_field.as_deref() == Some(name)
                        || self.table_field.as_deref() == Some(name)
                        || matches!(&self.measurement, Measurement::Field(f) if f == name)
                };
                for (name, value) in object {
                    if !used(name) && !value.is_object() && !value.is_array() {
                        fields.push(sluice_plugin_sdk::Column::new(name.clone(), convert(value, Type::Infer, name)?));
                    }
                }
            }
        }
        if fields.iter().all(|f| f.value.is_null()) {
            return Err(PluginError::new("no-fields", "none of the mapped fields is present in the record"));
        }
        Ok(Point { table, measurement, data_source: String::new(), tags, time_us, fields })
    }
}

fn lookup<'a>(json: &'a Json, path: &str) -> Option<&'a Json> {
    if let Some(v) = json.get(path) {
        return Some(v);
    }
    path.split('.').try_fold(json, |v, key| v.get(key))
}

fn column_name(path: &str) -> String {
    path.replace('.', "_")
}

fn missing(path: &str, what: &str) -> PluginError {
    PluginError::new("missing-field", format!("field `{path}` ({what}) is missing")).with_field(path)
}

fn field_error(path: &str, message: String) -> PluginError {
    PluginError::new("invalid-field", format!("field `{path}`: {message}")).with_field(path)
}

fn convert(value: &Json, ty: Type, path: &str) -> Result<Value, PluginError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let text = value.as_str();
    let int = || -> Result<i128, PluginError> {
        value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from))
            .or_else(|| text.and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| field_error(path, format!("{value} is not a whole number")))
    };
    let float = || -> Result<f64, PluginError> {
        value
            .as_f64()
            .or_else(|| text.and_then(|s| s.trim().parse().ok()))
            .filter(|f| f.is_finite())
            .ok_or_else(|| field_error(path, format!("{value} is not a number")))
    };
    macro_rules! narrow {
        ($variant:ident, $t:ty) => {{
            let i = int()?;
            Value::$variant(
                <$t>::try_from(i).map_err(|_| field_error(path, format!("{i} does not fit {}", stringify!($t))))?,
            )
        }};
    }
    Ok(match ty {
        Type::I8 => narrow!(Int8, i8),
        Type::I16 => narrow!(Int16, i16),
        Type::I32 => narrow!(Int32, i32),
        Type::I64 => narrow!(Int64, i64),
        Type::U8 => narrow!(Uint8, u8),
        Type::U16 => narrow!(Uint16, u16),
        Type::U32 => narrow!(Uint32, u32),
        Type::U64 => narrow!(Uint64, u64),
        Type::F32 => Value::Float32(float()? as f32),
        Type::F64 => Value::Float64(float()?),
        Type::Bool => match (value, text.map(str::to_ascii_lowercase).as_deref()) {
            (Json::Bool(b), _) => Value::Boolean(*b),
            (_, Some("true")) => Value::Boolean(true),
            (_, Some("false")) => Value::Boolean(false),
            _ => return Err(field_error(path, format!("{value} is not a boolean"))),
        },
        Type::Binary => Value::Binary(scalar_text(value, path)?.into_bytes()),
        Type::Nchar => Value::Text(scalar_text(value, path)?),
        Type::Infer => match value {
            Json::Bool(b) => Value::Boolean(*b),
            Json::Number(_) => Value::Float64(float()?),
            Json::String(s) => Value::Binary(s.clone().into_bytes()),
            other => return Err(field_error(path, format!("{other} is not a scalar; name a type or leave it out"))),
        },
    })
}

fn scalar_text(value: &Json, path: &str) -> Result<String, PluginError> {
    match value {
        Json::String(s) => Ok(s.clone()),
        Json::Number(_) | Json::Bool(_) => Ok(value.to_string()),
        other => Err(field_error(path, format!("{other} is not a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "meters".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: Some(1_700_000_000_000),
            key: None,
            value: Some(value.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    fn mapping(pairs: &[(&str, &str)]) -> Mapping {
        Mapping::from_settings(&pairs.iter().copied().collect()).unwrap().unwrap()
    }

    #[test]
    fn maps_typed_fields() {
        let m = mapping(&[
            ("tdengine.mapping.measurement", "${topic}"),
            ("tdengine.mapping.tags", "location,groupid"),
            ("tdengine.mapping.fields", "current:f32,voltage:i32,phase,site.name:nchar"),
            ("tdengine.mapping.timestamp.field", "ts"),
            ("tdengine.mapping.timestamp.unit", "ns"),
        ]);
        let v = r#"{"location":"Beijing","groupid":2,"current":11.8,"voltage":"221","phase":0.28,"site":{"name":"北"},"ts":1648432611249000000}"#;
        let p = m.point(&record(v), v).unwrap();
        assert_eq!(p.measurement, "meters");
        assert_eq!(p.tags, vec![("location".into(), "Beijing".into()), ("groupid".into(), "2".into())]);
        assert_eq!(p.time_us, 1_648_432_611_249_000);
        let values: Vec<&Value> = p.fields.iter().map(|f| &f.value).collect();
        assert_eq!(
            values,
            vec![&Value::Float32(11.8), &Value::Int32(221), &Value::Float64(0.28), &Value::Text("北".into())]
        );
        assert_eq!(p.fields[3].name, "site_name");
    }

    #[test]
    fn infers_and_reports() {
        let m = mapping(&[("tdengine.mapping.measurement.field", "kind"), ("tdengine.mapping.tags", "host")]);
        let v = r#"{"kind":"cpu","host":"a","usage":0.5,"up":true,"note":"x"}"#;
        let p = m.point(&record(v), v).unwrap();
        assert_eq!((p.measurement.as_str(), p.time_us), ("cpu", 1_700_000_000_000_000));
        assert_eq!(p.fields.len(), 3);
        let strict = mapping(&[("tdengine.mapping.measurement", "m"), ("tdengine.mapping.fields", "v:i8")]);
        let error = strict.point(&record("{\"v\":300}"), "{\"v\":300}").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("v"));
        assert!(strict.point(&record("[1]"), "[1]").is_err());
        assert_eq!(strict.point(&record("{}"), "{}").unwrap_err().code, "no-fields");
        let error = Mapping::from_settings(
            &[("tdengine.mapping.fields", "v:int128"), ("tdengine.mapping.measurement", "m")].into_iter().collect(),
        )
        .unwrap_err();
        assert!(error.message.contains("int128"));
        assert!(Mapping::from_settings(&[("tdengine.mapping.tags", "a")].into_iter().collect()).is_err());
    }
}
