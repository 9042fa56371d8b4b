//! Kafka Connect `JsonConverter` envelopes: the schema types the payload.
//!
//! Wire type names: boolean, int8, int16, int32, int64, float, double, bytes, string,
//! array, map, struct. Logical types are recognised by the schema `name`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::{Map, Value as Json};
use sluice_plugin_sdk::{Column, PluginError, Value};

use crate::decimal;
use crate::plain::compact;

const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
const DATE: &str = "org.apache.kafka.connect.data.Date";
const TIME: &str = "org.apache.kafka.connect.data.Time";

const MICROS_PER_MILLI: i64 = 1_000;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Columns of an envelope's `payload` typed by its `schema`: a struct's fields in schema
/// order, a string-keyed map's entries, or any other value as one column `scalar_name`.
/// `None` when the payload is null and the schema has no default.
pub(crate) fn columns(schema: &Json, payload: Json, scalar_name: &str) -> Result<Option<Vec<Column>>, PluginError> {
    let payload = match payload {
        Json::Null => match schema.get("default") {
            Some(default) if !default.is_null() => default.clone(),
            _ => return Ok(None),
        },
        payload => payload,
    };
    match schema_type(schema, scalar_name)? {
        "struct" => {
            let Json::Object(mut payload) = payload else {
                return Err(mismatch(scalar_name, "struct", &payload));
            };
            let fields = schema
                .get("fields")
                .and_then(Json::as_array)
                .ok_or_else(|| invalid_schema(scalar_name, "a struct schema needs \"fields\""))?;
            fields
                .iter()
                .map(|field| {
                    let name = field
                        .get("field")
                        .and_then(Json::as_str)
                        .ok_or_else(|| invalid_schema(scalar_name, "a struct field needs \"field\""))?;
                    let value = convert(field, payload.swap_remove(name), name)?;
                    Ok(Column::new(name, value))
                })
                .collect::<Result<_, _>>()
                .map(Some)
        }
        "map" => {
            let key_type = schema.get("keys").map(|keys| schema_type(keys, scalar_name)).transpose()?;
            if key_type != Some("string") {
                return Err(invalid_schema(scalar_name, "only maps with string keys can become columns"));
            }
            let values =
                schema.get("values").ok_or_else(|| invalid_schema(scalar_name, "a map schema needs \"values\""))?;
            let Json::Object(payload) = payload else {
                return Err(mismatch(scalar_name, "map", &payload));
            };
            entries(payload, values).map(Some)
        }
        _ => {
            let value = convert(schema, Some(payload), scalar_name)?;
            Ok(Some(vec![Column::new(scalar_name, value)]))
        }
    }
}

fn entries(payload: Map<String, Json>, values: &Json) -> Result<Vec<Column>, PluginError> {
    payload
        .into_iter()
        .map(|(name, json)| {
            let value = convert(values, Some(json), &name)?;
            Ok(Column { name, value })
        })
        .collect()
}

/// One payload value (`None` when absent) typed by its schema.
fn convert(schema: &Json, payload: Option<Json>, field: &str) -> Result<Value, PluginError> {
    let payload = match payload {
        Some(json) if !json.is_null() => json,
        absent => match schema.get("default") {
            Some(default) if !default.is_null() => default.clone(),
            _ if optional(schema) => return Ok(Value::Null),
            _ => {
                let what = if absent.is_some() { "is null" } else { "is missing" };
                return Err(PluginError::new(
                    "missing-field",
                    format!("field {field} {what} but its schema is not optional and has no default"),
                )
                .with_field(field));
            }
        },
    };
    let ty = schema_type(schema, field)?;
    match (ty, schema.get("name").and_then(Json::as_str)) {
        ("int64", Some(TIMESTAMP)) => {
            let millis = integer(&payload, field, ty)?;
            millis
                .checked_mul(MICROS_PER_MILLI)
                .map(Value::TimestampUs)
                .ok_or_else(|| out_of_range(field, millis, "a timestamp"))
        }
        ("int32", Some(DATE)) => {
            let days = i64::from(narrow::<i32>(&payload, field, ty)?);
            days.checked_mul(MICROS_PER_DAY).map(Value::TimestampUs).ok_or_else(|| out_of_range(field, days, "a date"))
        }
        ("int32", Some(TIME)) => narrow::<i32>(&payload, field, ty).map(Value::Int32),
        ("bytes", Some(DECIMAL)) => decimal_value(schema, payload, field),
        ("boolean", _) => match payload {
            Json::Bool(b) => Ok(Value::Boolean(b)),
            other => Err(mismatch(field, ty, &other)),
        },
        ("int8", _) => narrow::<i8>(&payload, field, ty).map(Value::Int8),
        ("int16", _) => narrow::<i16>(&payload, field, ty).map(Value::Int16),
        ("int32", _) => narrow::<i32>(&payload, field, ty).map(Value::Int32),
        ("int64", _) => integer(&payload, field, ty).map(Value::Int64),
        ("float", _) => float(&payload, field, ty).map(|f| Value::Float32(f as f32)),
        ("double", _) => float(&payload, field, ty).map(Value::Float64),
        ("string", _) => match payload {
            Json::String(s) => Ok(Value::Text(s)),
            other => Err(mismatch(field, ty, &other)),
        },
        ("bytes", _) => bytes(&payload, field).map(Value::Binary),
        ("array", _) if payload.is_array() => Ok(Value::Text(compact(&payload))),
        ("struct", _) if payload.is_object() => Ok(Value::Text(compact(&payload))),
        // Maps with non-string keys are encoded as arrays of [key, value] pairs.
        ("map", _) if payload.is_object() || payload.is_array() => Ok(Value::Text(compact(&payload))),
        ("array" | "struct" | "map", _) => Err(mismatch(field, ty, &payload)),
        (other, _) => Err(invalid_schema(field, &format!("unknown schema type {other:?}"))),
    }
}

fn decimal_value(schema: &Json, payload: Json, field: &str) -> Result<Value, PluginError> {
    let scale = schema
        .get("parameters")
        .and_then(|parameters| parameters.get("scale"))
        .and_then(|scale| match scale {
            Json::String(s) => s.trim().parse::<i32>().ok(),
            Json::Number(n) => n.as_i64().and_then(|n| i32::try_from(n).ok()),
            _ => None,
        })
        .ok_or_else(|| invalid_schema(field, "a Decimal schema needs an integer parameters.scale"))?;
    match payload {
        // `decimal.format=NUMERIC` writes decimals as JSON numbers.
        Json::Number(n) => Ok(Value::Text(n.to_string())),
        other => {
            let unscaled = bytes(&other, field)?;
            decimal::to_string(&unscaled, scale).map(Value::Text).ok_or_else(|| {
                PluginError::new("type-mismatch", format!("field {field}: an empty Decimal")).with_field(field)
            })
        }
    }
}

fn schema_type<'a>(schema: &'a Json, field: &str) -> Result<&'a str, PluginError> {
    schema.get("type").and_then(Json::as_str).ok_or_else(|| invalid_schema(field, "a schema needs a string \"type\""))
}

fn optional(schema: &Json) -> bool {
    schema.get("optional").and_then(Json::as_bool).unwrap_or(false)
}

/// An integral JSON number (`5` or `5.0`) as `i64`.
fn integer(payload: &Json, field: &str, ty: &str) -> Result<i64, PluginError> {
    let Json::Number(n) = payload else {
        return Err(mismatch(field, ty, payload));
    };
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(out_of_range(field, n, ty));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(f as i64),
        Some(f) if f.fract() == 0.0 => Err(out_of_range(field, n, ty)),
        _ => Err(mismatch(field, ty, payload)),
    }
}

/// An integral JSON number that must fit `T`.
fn narrow<T: TryFrom<i64>>(payload: &Json, field: &str, ty: &str) -> Result<T, PluginError> {
    let i = integer(payload, field, ty)?;
    T::try_from(i).map_err(|_| out_of_range(field, i, ty))
}

fn float(payload: &Json, field: &str, ty: &str) -> Result<f64, PluginError> {
    payload.as_f64().ok_or_else(|| mismatch(field, ty, payload))
}

fn bytes(payload: &Json, field: &str) -> Result<Vec<u8>, PluginError> {
    let Json::String(encoded) = payload else {
        return Err(mismatch(field, "bytes", payload));
    };
    BASE64.decode(encoded).map_err(|err| {
        PluginError::new("type-mismatch", format!("field {field}: bytes must be base64 text: {err}")).with_field(field)
    })
}

fn mismatch(field: &str, ty: &str, payload: &Json) -> PluginError {
    let found = match payload {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    };
    PluginError::new("type-mismatch", format!("field {field}: the schema says {ty} but the payload has {found}"))
        .with_field(field)
}

fn out_of_range(field: &str, value: impl std::fmt::Display, ty: &str) -> PluginError {
    PluginError::new("out-of-range", format!("field {field}: {value} does not fit {ty}")).with_field(field)
}

fn invalid_schema(field: &str, why: &str) -> PluginError {
    PluginError::new("invalid-schema", format!("field {field}: {why}")).with_field(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(schema: Json, payload: Json) -> Result<Value, PluginError> {
        convert(&schema, Some(payload), "f")
    }

    #[test]
    fn primitives() {
        assert_eq!(one(json!({"type": "boolean"}), json!(true)), Ok(Value::Boolean(true)));
        assert_eq!(one(json!({"type": "int8"}), json!(-128)), Ok(Value::Int8(-128)));
        assert_eq!(one(json!({"type": "int16"}), json!(300)), Ok(Value::Int16(300)));
        assert_eq!(one(json!({"type": "int32"}), json!(5.0)), Ok(Value::Int32(5)));
        assert_eq!(one(json!({"type": "int64"}), json!(i64::MIN)), Ok(Value::Int64(i64::MIN)));
        assert_eq!(one(json!({"type": "float"}), json!(1.5)), Ok(Value::Float32(1.5)));
        assert_eq!(one(json!({"type": "double"}), json!(2)), Ok(Value::Float64(2.0)));
        assert_eq!(one(json!({"type": "string"}), json!("s")), Ok(Value::text("s")));
        assert_eq!(one(json!({"type": "bytes"}), json!("AQI=")), Ok(Value::binary(vec![1, 2])));
        assert_eq!(one(json!({"type": "array", "items": {"type": "int32"}}), json!([1, 2])), Ok(Value::text("[1,2]")));
    }

    #[test]
    fn range_and_type_errors_name_the_field() {
        let err = one(json!({"type": "int8"}), json!(128)).unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("out-of-range", Some("f")));
        let err = one(json!({"type": "int64"}), json!(u64::MAX)).unwrap_err();
        assert_eq!(err.code, "out-of-range");
        let err = one(json!({"type": "int32"}), json!(1.5)).unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("type-mismatch", Some("f")));
        let err = one(json!({"type": "string"}), json!(1)).unwrap_err();
        assert_eq!(err.code, "type-mismatch");
        let err = one(json!({"type": "bytes"}), json!("not base64!")).unwrap_err();
        assert_eq!(err.code, "type-mismatch");
        let err = one(json!({"type": "struct"}), json!([])).unwrap_err();
        assert_eq!(err.code, "type-mismatch");
        let err = one(json!({"type": "uuid"}), json!("x")).unwrap_err();
        assert_eq!(err.code, "invalid-schema");
    }

    #[test]
    fn nulls_defaults_and_missing_fields() {
        let optional = json!({"type": "int32", "optional": true});
        assert_eq!(convert(&optional, None, "f"), Ok(Value::Null));
        assert_eq!(convert(&optional, Some(Json::Null), "f"), Ok(Value::Null));
        let defaulted = json!({"type": "int32", "optional": false, "default": 7});
        assert_eq!(convert(&defaulted, None, "f"), Ok(Value::Int32(7)));
        assert_eq!(convert(&defaulted, Some(Json::Null), "f"), Ok(Value::Int32(7)));
        let required = json!({"type": "int32", "optional": false});
        let err = convert(&required, None, "f").unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("missing-field", Some("f")));
        assert_eq!(convert(&required, Some(Json::Null), "f").unwrap_err().code, "missing-field");
    }

    #[test]
    fn logical_types() {
        let date = json!({"type": "int32", "name": DATE});
        assert_eq!(one(date.clone(), json!(1)), Ok(Value::TimestampUs(MICROS_PER_DAY)));
        assert_eq!(one(date, json!(i32::MAX)).unwrap_err().code, "out-of-range");
        let time = json!({"type": "int32", "name": TIME});
        assert_eq!(one(time, json!(3_600_000)), Ok(Value::Int32(3_600_000)));
        let ts = json!({"type": "int64", "name": TIMESTAMP});
        assert_eq!(one(ts.clone(), json!(1_700_000_000_123i64)), Ok(Value::TimestampUs(1_700_000_000_123_000)));
        assert_eq!(one(ts, json!(i64::MAX)).unwrap_err().code, "out-of-range");
        let dec = json!({"type": "bytes", "name": DECIMAL, "parameters": {"scale": "2"}});
        assert_eq!(one(dec.clone(), json!("BNI=")), Ok(Value::text("12.34")));
        assert_eq!(one(dec, json!(12.34)), Ok(Value::text("12.34")));
        let unscaled = json!({"type": "bytes", "name": DECIMAL});
        assert_eq!(one(unscaled, json!("BNI=")).unwrap_err().code, "invalid-schema");
    }

    #[test]
    fn top_level_shapes() {
        let schema = json!({"type": "int32", "optional": true});
        assert_eq!(columns(&schema, json!(3), "value"), Ok(Some(vec![Column::new("value", 3i32)])));
        assert_eq!(columns(&schema, Json::Null, "value"), Ok(None));
        let map = json!({"type": "map", "keys": {"type": "int32"}, "values": {"type": "int32"}});
        assert_eq!(columns(&map, json!([[1, 2]]), "value").unwrap_err().code, "invalid-schema");
        let map = json!({"type": "map", "keys": {"type": "string"}, "values": {"type": "int8"}});
        let err = columns(&map, json!({"a": 1, "b": 1000}), "value").unwrap_err();
        assert_eq!((err.code.as_str(), err.field.as_deref()), ("out-of-range", Some("b")));
    }
}
