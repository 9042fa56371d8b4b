//! Kafka Connect's `JsonConverter` between bytes and [`Data`]: the `{"schema":..,"payload":..}`
//! envelope when `schemas.enable=true`, plain JSON otherwise; bytes as base64; `Decimal` as
//! base64 of its unscaled value (`decimal.format=BASE64`, the default; a number is accepted
//! when reading); a null field with a default reads and writes as the default
//! (`replace.null.with.default=true`, the default).

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

use super::record::Data;
use super::schema::{Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};
use super::values::{base64_decode, base64_encode, f32_json, f64_json, BigDec};

impl Data {
    /// Reads a key or value as JsonConverter does. `None` (a tombstone) is null without a
    /// schema. With `schemas_enable` the JSON must be exactly `{"schema":..,"payload":..}`.
    pub fn from_json_converter(bytes: Option<&[u8]>, schemas_enable: bool) -> anyhow::Result<Data> {
        let Some(bytes) = bytes else {
            return Ok(Data::null());
        };
        let json: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(bytes).map_err(|e| {
                anyhow!("Converting byte[] to Kafka Connect data failed due to serialization error: {e}")
            })?
        };
        if !schemas_enable {
            return Ok(Data::schemaless(json));
        }
        let envelope =
            json.as_object().filter(|o| o.len() == 2 && o.contains_key("schema") && o.contains_key("payload"));
        let Some(envelope) = envelope else {
            bail!(
                "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain \
                 additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in \
                 your converter configuration."
            );
        };
        if envelope["schema"].is_null() {
            return Ok(Data::schemaless(envelope["payload"].clone()));
        }
        let schema = Schema::from_json(&envelope["schema"])?;
        let value = to_connect(&schema, &envelope["payload"], "payload")?;
        Ok(Data::new(Some(schema), value))
    }

    /// Writes a key or value as JsonConverter does; `None` for null without a schema (a
    /// tombstone). Fails when the value does not fit its schema (a required field is null).
    pub fn to_json_converter(&self, schemas_enable: bool) -> anyhow::Result<Option<Vec<u8>>> {
        if self.schema.is_none() && self.value.is_null() {
            return Ok(None);
        }
        let payload = match &self.schema {
            Some(schema) => from_connect(schema, &self.value, "payload")?,
            None => self.value.clone(),
        };
        let json = if schemas_enable {
            let mut envelope = Map::new();
            envelope.insert("schema".into(), self.schema.as_ref().map_or(Value::Null, Schema::to_json));
            envelope.insert("payload".into(), payload);
            Value::Object(envelope)
        } else {
            payload
        };
        Ok(Some(serde_json::to_vec(&json)?))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reads a payload `json` that follows `schema` into the in-memory form (see [`Data`]):
/// null fields take their default, struct fields come in schema order (extra keys dropped),
/// numbers are narrowed to their type, `Decimal` numbers become base64.
pub(crate) fn to_connect(schema: &Schema, json: &Value, at: &str) -> anyhow::Result<Value> {
    if json.is_null() {
        if let Some(default) = &schema.default {
            return Ok(default.clone());
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        bail!("{at}: invalid null value for required {} field", schema.kind.kafka_name());
    }
    let mismatch = || anyhow!("{at}: expected {} but found a JSON {}", schema.kind.kafka_name(), json_type(json));
    match schema.logical() {
        Some(DECIMAL) => {
            let scale = schema.decimal_scale().map_err(|e| anyhow!("{at}: {e}"))?;
            return match json {
                Value::String(text) => {
                    let bytes =
                        base64_decode(text).map_err(|e| anyhow!("{at}: invalid bytes for Decimal field: {e}"))?;
                    BigDec::from_bytes(&bytes, scale).map_err(|e| anyhow!("{at}: {e}"))?;
                    Ok(Value::from(base64_encode(&bytes)))
                }
                Value::Number(number) => {
                    let decimal = BigDec::from_json_number(number)
                        .and_then(|d| d.rescale(scale))
                        .ok_or_else(|| anyhow!("{at}: {number} does not fit a Decimal of scale {scale}"))?;
                    Ok(Value::from(base64_encode(&decimal.to_bytes())))
                }
                _ => Err(anyhow!(
                    "{at}: invalid type for Decimal, underlying representation should be numeric or bytes but was {}",
                    json_type(json)
                )),
            };
        }
        Some(DATE) | Some(TIME) => {
            let int = json.as_i64().filter(|v| i32::try_from(*v).is_ok()).ok_or_else(|| {
                anyhow!(
                    "{at}: invalid type for {}, underlying representation should be integer",
                    schema.name.as_deref().unwrap_or("")
                )
            })?;
            return Ok(Value::from(int));
        }
        Some(TIMESTAMP) => {
            let int = json.as_i64().ok_or_else(|| {
                anyhow!("{at}: invalid type for Timestamp, underlying representation should be integral")
            })?;
            return Ok(Value::from(int));
        }
        _ => {}
    }
    Ok(match &schema.kind {
        SchemaKind::Boolean => Value::Bool(json.as_bool().ok_or_else(mismatch)?),
        SchemaKind::Int8 => Value::from(java_int(json).ok_or_else(mismatch)? as i32 as i8),
        SchemaKind::Int16 => Value::from(java_int(json).ok_or_else(mismatch)? as i32 as i16),
        SchemaKind::Int32 => Value::from(java_int(json).ok_or_else(mismatch)? as i32),
        SchemaKind::Int64 => Value::from(java_int(json).ok_or_else(mismatch)?),
        SchemaKind::Float32 => {
            f32_json(json.as_f64().ok_or_else(mismatch)? as f32).map_err(|e| anyhow!("{at}: {e}"))?
        }
        SchemaKind::Float64 => f64_json(json.as_f64().ok_or_else(mismatch)?).map_err(|e| anyhow!("{at}: {e}"))?,
        SchemaKind::String => {
            json.as_str().ok_or_else(mismatch)?;
            json.clone()
        }
        SchemaKind::Bytes => {
            let text = json.as_str().ok_or_else(mismatch)?;
            let bytes = base64_decode(text).map_err(|e| anyhow!("{at}: invalid bytes field: {e}"))?;
            Value::from(base64_encode(&bytes))
        }
        SchemaKind::Array(items) => {
            let array = json.as_array().ok_or_else(mismatch)?;
            let converted: anyhow::Result<Vec<Value>> =
                array.iter().enumerate().map(|(i, item)| to_connect(items, item, &format!("{at}[{i}]"))).collect();
            Value::Array(converted?)
        }
        SchemaKind::Map(keys, values) => {
            if keys.kind == SchemaKind::String {
                let object = json.as_object().ok_or_else(|| {
                    anyhow!(
                        "{at}: maps with string fields should be encoded as JSON objects, but found {}",
                        json_type(json)
                    )
                })?;
                let mut out = Map::new();
                for (key, value) in object {
                    out.insert(key.clone(), to_connect(values, value, &format!("{at}.{key}"))?);
                }
                Value::Object(out)
            } else {
                let pairs = json.as_array().ok_or_else(|| {
                    anyhow!(
                        "{at}: maps with non-string fields should be encoded as JSON array of tuples, but found {}",
                        json_type(json)
                    )
                })?;
                let mut out = Vec::with_capacity(pairs.len());
                for (i, pair) in pairs.iter().enumerate() {
                    let pair = pair
                        .as_array()
                        .filter(|p| p.len() == 2)
                        .ok_or_else(|| anyhow!("{at}[{i}]: found invalid map entry, expected a [key, value] array"))?;
                    let key = to_connect(keys, &pair[0], &format!("{at}[{i}][0]"))?;
                    let value = to_connect(values, &pair[1], &format!("{at}[{i}][1]"))?;
                    out.push(Value::Array(vec![key, value]));
                }
                Value::Array(out)
            }
        }
        SchemaKind::Struct(fields) => {
            let object = json.as_object().ok_or_else(|| {
                anyhow!("{at}: structs should be encoded as JSON objects, but found {}", json_type(json))
            })?;
            let mut out = Map::new();
            for field in fields {
                let value = object.get(&field.name).unwrap_or(&Value::Null);
                out.insert(field.name.clone(), to_connect(&field.schema, value, &format!("{at}.{}", field.name))?);
            }
            Value::Object(out)
        }
    })
}

/// A JSON number as Java's `JsonNode.longValue()` reads it (fractions truncated).
fn java_int(json: &Value) -> Option<i64> {
    let number = json.as_number()?;
    number.as_i64().or_else(|| number.as_u64().map(|u| u as i64)).or_else(|| number.as_f64().map(|f| f as i64))
}

/// Writes an in-memory value that follows `schema` as a payload: nulls take their default,
/// required nulls without one are an error, struct fields are written in schema order.
pub(crate) fn from_connect(schema: &Schema, value: &Value, at: &str) -> anyhow::Result<Value> {
    if value.is_null() {
        if let Some(default) = &schema.default {
            return from_connect(schema, default, at);
        }
        if schema.optional {
            return Ok(Value::Null);
        }
        bail!("{at}: null value for field that is required and has no default value");
    }
    Ok(match &schema.kind {
        SchemaKind::Struct(fields) => {
            let object = value.as_object().ok_or_else(|| anyhow!("{at}: a struct must be an object, found {value}"))?;
            let mut out = Map::new();
            for field in fields {
                let field_value = object.get(&field.name).unwrap_or(&Value::Null);
                out.insert(
                    field.name.clone(),
                    from_connect(&field.schema, field_value, &format!("{at}.{}", field.name))?,
                );
            }
            Value::Object(out)
        }
        SchemaKind::Array(items) => {
            let array = value.as_array().ok_or_else(|| anyhow!("{at}: an array must be an array, found {value}"))?;
            let written: anyhow::Result<Vec<Value>> =
                array.iter().enumerate().map(|(i, item)| from_connect(items, item, &format!("{at}[{i}]"))).collect();
            Value::Array(written?)
        }
        SchemaKind::Map(_, values) => match value {
            Value::Object(object) => {
                let mut out = Map::new();
                for (key, item) in object {
                    out.insert(key.clone(), from_connect(values, item, &format!("{at}.{key}"))?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        },
        _ => to_connect(schema, value, at)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transforms::schema::Field;

    const ENVELOPE: &str = r#"{"schema":{"type":"struct","optional":false,"name":"ev","fields":[
       {"field":"id","type":"int64","optional":false},
       {"field":"amt","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal",
        "version":1,"parameters":{"scale":"2"}},
       {"field":"ts","type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1},
       {"field":"tags","type":"map","keys":{"type":"string","optional":false},"values":{"type":"string","optional":true},
        "optional":false},
       {"field":"xs","type":"array","items":{"type":"double","optional":false},"optional":false}]},
     "payload":{"id":1,"amt":"MDk=","ts":1700000000000,"tags":{"a":"b"},"xs":[1.5]}}"#;

    // The envelope of kafka_connect.md §4 (with the `"optional":false` JsonConverter writes on
    // every schema) reads to a struct and writes back unchanged.
    #[test]
    fn round_trips_the_reference_envelope() {
        let data = Data::from_json_converter(Some(ENVELOPE.as_bytes()), true).unwrap();
        assert_eq!(data.value, json!({"id":1,"amt":"MDk=","ts":1700000000000i64,"tags":{"a":"b"},"xs":[1.5]}));
        let written: Value = serde_json::from_slice(&data.to_json_converter(true).unwrap().unwrap()).unwrap();
        let original: Value = serde_json::from_str(ENVELOPE).unwrap();
        assert_eq!(written, original);
        // Without the envelope only the payload is written.
        let plain: Value = serde_json::from_slice(&data.to_json_converter(false).unwrap().unwrap()).unwrap();
        assert_eq!(plain, original["payload"]);
    }

    #[test]
    fn plain_json_without_schemas_and_the_classic_error() {
        let data = Data::from_json_converter(Some(br#"{"a":1}"#), false).unwrap();
        assert_eq!(data, Data::schemaless(json!({"a":1})));
        let error = Data::from_json_converter(Some(br#"{"a":1}"#), true).unwrap_err().to_string();
        assert!(error.contains("set schemas.enable=false"), "{error}");
    }

    #[test]
    fn tombstones_are_none_both_ways() {
        assert_eq!(Data::from_json_converter(None, true).unwrap(), Data::null());
        assert_eq!(Data::null().to_json_converter(true).unwrap(), None);
    }

    #[test]
    fn decimal_numbers_become_base64_and_defaults_fill_nulls() {
        let schema = Schema::structure(vec![
            Field::new("amt", Schema::decimal(2)),
            Field::new("n", Schema::new(SchemaKind::Int32).optional().with_default(json!(5))),
            Field::new("f", Schema::new(SchemaKind::Float32)),
        ]);
        let envelope = json!({"schema": schema.to_json(), "payload": {"amt": 123.45, "n": null, "f": 1.1}});
        let data = Data::from_json_converter(Some(envelope.to_string().as_bytes()), true).unwrap();
        assert_eq!(data.value, json!({"amt": "MDk=", "n": 5, "f": 1.1}));
    }

    #[test]
    fn required_null_is_refused_naming_the_field() {
        let schema = Schema::structure(vec![Field::new("id", Schema::new(SchemaKind::Int64))]);
        let envelope = json!({"schema": schema.to_json(), "payload": {}});
        let error = Data::from_json_converter(Some(envelope.to_string().as_bytes()), true).unwrap_err().to_string();
        assert!(error.contains("payload.id") && error.contains("required INT64"), "{error}");
        let error = Data::new(Some(schema), json!({"id": null})).to_json_converter(true).unwrap_err().to_string();
        assert!(error.contains("payload.id"), "{error}");
    }
}
