//! `header.converter`: how a record's header bytes become Kafka Connect data for the
//! transforms and predicates, and how headers the transforms add or change are written back
//! to bytes for the parser. Kafka Connect 3.9's header converters:
//! `SimpleHeaderConverter` (the default: text typed by `Values.parseString`, written back with
//! `Values.convertToString`), `StringConverter`, `JsonConverter` (`schemas.enable`, default
//! true) and `ByteArrayConverter`.

use anyhow::{anyhow, bail};
use serde_json::Value;

use super::record::Data;
use super::schema::{Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};
use super::values::{
    base64_decode, base64_encode, iso_string_for_millis, java_double_string, java_float_string, parse_literal, BigDec,
    MILLIS_PER_DAY,
};

/// Kafka Connect's default header converter.
pub(crate) const SIMPLE_HEADER_CONVERTER: &str = "org.apache.kafka.connect.storage.SimpleHeaderConverter";
const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

/// A configured header converter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderConverter {
    /// `SimpleHeaderConverter`.
    Simple,
    /// `StringConverter`.
    String,
    /// `JsonConverter` with its `schemas.enable`.
    Json { schemas: bool },
    /// `ByteArrayConverter`.
    ByteArray,
}

impl HeaderConverter {
    /// Reads `header.converter` (default `SimpleHeaderConverter`) and, for `JsonConverter`,
    /// `header.converter.schemas.enable` from the converter settings in effect (later entries
    /// win). Another class is refused, naming the key and the classes sluice implements.
    pub(crate) fn from_settings(settings: &[(String, String)]) -> anyhow::Result<Self> {
        let get = |key: &str| settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim());
        Ok(match get("header.converter").unwrap_or(SIMPLE_HEADER_CONVERTER) {
            SIMPLE_HEADER_CONVERTER | "" => HeaderConverter::Simple,
            STRING_CONVERTER => HeaderConverter::String,
            BYTE_ARRAY_CONVERTER => HeaderConverter::ByteArray,
            JSON_CONVERTER => {
                let schemas = match get("header.converter.schemas.enable") {
                    None => true,
                    Some(text) if text.eq_ignore_ascii_case("true") => true,
                    Some(text) if text.eq_ignore_ascii_case("false") => false,
                    Some(text) => bail!("`header.converter.schemas.enable` must be true or false, got `{text}`"),
                };
                HeaderConverter::Json { schemas }
            }
            other => bail!(
                "`header.converter` = `{other}` is not a header converter sluice implements; use \
                 {SIMPLE_HEADER_CONVERTER} (Kafka Connect's default), {STRING_CONVERTER}, {JSON_CONVERTER} \
                 or {BYTE_ARRAY_CONVERTER}"
            ),
        })
    }

    /// `toConnectHeader`: the data header `key`'s bytes hold (`None` is a null header).
    pub(crate) fn read(&self, key: &str, bytes: Option<&[u8]>) -> anyhow::Result<Data> {
        let Some(bytes) = bytes else { return Ok(Data::null()) };
        match self {
            // Java decodes the bytes as UTF-8 with replacement, then types the text.
            HeaderConverter::Simple => Ok(parse_literal(&String::from_utf8_lossy(bytes))),
            HeaderConverter::String => Ok(Data::new(
                Some(Schema::new(SchemaKind::String).optional()),
                Value::String(String::from_utf8_lossy(bytes).into_owned()),
            )),
            HeaderConverter::ByteArray => {
                Ok(Data::new(Some(Schema::new(SchemaKind::Bytes).optional()), Value::String(base64_encode(bytes))))
            }
            &HeaderConverter::Json { schemas } => Data::from_json_converter(Some(bytes), schemas).map_err(|e| {
                anyhow!("header `{key}` is not what JsonConverter (schemas.enable={schemas}) reads: {e:#}")
            }),
        }
    }

    /// `fromConnectHeader`: the bytes for header `key`'s data (`None` for a null value).
    pub(crate) fn write(&self, key: &str, data: &Data) -> anyhow::Result<Option<Vec<u8>>> {
        if data.value.is_null() {
            return Ok(None);
        }
        match self {
            HeaderConverter::Simple => Ok(Some(convert_to_string(data).into_bytes())),
            HeaderConverter::String => Ok(Some(match &data.value {
                Value::String(text) => text.clone().into_bytes(),
                _ => convert_to_string(data).into_bytes(),
            })),
            HeaderConverter::ByteArray => {
                let is_bytes = data.schema.as_ref().is_none_or(|s| s.kind == SchemaKind::Bytes && s.name.is_none());
                match (&data.value, is_bytes) {
                    (Value::String(text), true) if data.schema.is_some() => base64_decode(text)
                        .map(Some)
                        .map_err(|e| anyhow!("header `{key}` holds bytes that are not base64: {e}")),
                    _ => bail!(
                        "header `{key}` is not bytes, so ByteArrayConverter (`header.converter`) cannot write it; \
                         use a header converter that writes {}",
                        data.schema.as_ref().map_or("schemaless values", |s| s.kind.kafka_name())
                    ),
                }
            }
            &HeaderConverter::Json { schemas } => data.to_json_converter(schemas),
        }
    }
}

/// Kafka's `Values.convertToString`: the text `SimpleHeaderConverter` writes for a value.
pub(crate) fn convert_to_string(data: &Data) -> String {
    let mut out = String::new();
    append(&mut out, data.schema.as_ref(), &data.value, false);
    out
}

/// `Values.append`: strings and bytes are quoted (with `\` and `"` escaped) only when inside
/// a list, map or struct; dates, times and timestamps take the ISO form their instant picks.
fn append(out: &mut String, schema: Option<&Schema>, value: &Value, embedded: bool) {
    if value.is_null() {
        out.push_str("null");
        return;
    }
    if let Some(schema) = schema {
        match (schema.name.as_deref(), value) {
            (Some(DATE), Value::Number(n)) => {
                out.push_str(&iso_string_for_millis(n.as_i64().unwrap_or(0).saturating_mul(MILLIS_PER_DAY)));
                return;
            }
            (Some(TIME | TIMESTAMP), Value::Number(n)) => {
                out.push_str(&iso_string_for_millis(n.as_i64().unwrap_or(0)));
                return;
            }
            (Some(DECIMAL), Value::String(text)) => {
                let scale = schema.decimal_scale().unwrap_or(0);
                if let Some(decimal) = base64_decode(text).ok().and_then(|b| BigDec::from_bytes(&b, scale).ok()) {
                    out.push_str(&decimal.to_java_string());
                    return;
                }
            }
            _ => {}
        }
        match (&schema.kind, value) {
            (SchemaKind::Float32, Value::Number(n)) => {
                out.push_str(&java_float_string(n.as_f64().unwrap_or(0.0) as f32));
                return;
            }
            (SchemaKind::Float64, Value::Number(n)) => {
                out.push_str(&java_double_string(n.as_f64().unwrap_or(0.0)));
                return;
            }
            (SchemaKind::Array(items), Value::Array(list)) => {
                out.push('[');
                for (i, item) in list.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    append(out, Some(items), item, true);
                }
                out.push(']');
                return;
            }
            (SchemaKind::Map(keys, values), Value::Object(map)) => {
                out.push('{');
                for (i, (k, v)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    append(out, Some(keys), &Value::String(k.clone()), true);
                    out.push(':');
                    append(out, Some(values), v, true);
                }
                out.push('}');
                return;
            }
            (SchemaKind::Map(keys, values), Value::Array(pairs)) => {
                out.push('{');
                for (i, pair) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let (k, v) = match pair.as_array().map(Vec::as_slice) {
                        Some([k, v]) => (k, v),
                        _ => (&Value::Null, &Value::Null),
                    };
                    append(out, Some(keys), k, true);
                    out.push(':');
                    append(out, Some(values), v, true);
                }
                out.push('}');
                return;
            }
            (SchemaKind::Struct(fields), Value::Object(map)) => {
                out.push('{');
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    append(out, None, &Value::String(field.name.clone()), true);
                    out.push(':');
                    append(out, Some(&field.schema), map.get(&field.name).unwrap_or(&Value::Null), true);
                }
                out.push('}');
                return;
            }
            _ => {}
        }
    }
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        // Bytes are base64 text already; both are quoted (bytes unescaped) when embedded.
        Value::String(text) if embedded && schema.is_some_and(|s| s.kind == SchemaKind::Bytes) => {
            out.push('"');
            out.push_str(text);
            out.push('"');
        }
        Value::String(text) if embedded => {
            out.push('"');
            out.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        }
        Value::String(text) => out.push_str(text),
        Value::Array(list) => {
            out.push('[');
            for (i, item) in list.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, None, item, true);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, None, &Value::String(k.clone()), true);
                out.push(':');
                append(out, None, v, true);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::transforms::schema::Field;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn simple(text: &str) -> Data {
        HeaderConverter::Simple.read("h", Some(text.as_bytes())).unwrap()
    }

    fn kind(data: &Data) -> Option<&SchemaKind> {
        data.schema.as_ref().map(|s| &s.kind)
    }

    // SimpleHeaderConverterTest: numbers take the smallest integer type, booleans, maps and
    // lists are typed, anything else stays a string; null stays null.
    #[test]
    fn simple_header_converter_types_text_like_values_parse_string() {
        assert_eq!((kind(&simple("42")), &simple("42").value), (Some(&SchemaKind::Int8), &json!(42)));
        assert_eq!(kind(&simple("1000")), Some(&SchemaKind::Int16));
        assert_eq!(kind(&simple("100000")), Some(&SchemaKind::Int32));
        assert_eq!(kind(&simple("10000000000")), Some(&SchemaKind::Int64));
        assert_eq!((kind(&simple("true")), &simple("true").value), (Some(&SchemaKind::Boolean), &json!(true)));
        assert_eq!(kind(&simple("3.25")), Some(&SchemaKind::Float32));
        let string = simple("a string with spaces");
        assert_eq!((kind(&string), &string.value), (Some(&SchemaKind::String), &json!("a string with spaces")));
        // "true}" is a string, not a boolean (Values' single-token rule).
        assert_eq!(simple("true}").value, json!("true}"));
        let map = simple(r#"{"foo":"123","bar":"baz"}"#);
        assert_eq!(
            kind(&map),
            Some(&SchemaKind::Map(
                Box::new(Schema::new(SchemaKind::String)),
                Box::new(Schema::new(SchemaKind::String))
            ))
        );
        assert_eq!(map.value, json!({"foo": "123", "bar": "baz"}));
        let list = simple("[1, 2, 3]");
        assert_eq!(kind(&list), Some(&SchemaKind::Array(Box::new(Schema::new(SchemaKind::Int8)))));
        assert_eq!(list.value, json!([1, 2, 3]));
        let date = simple("2019-03-01");
        assert_eq!((date.schema.as_ref().unwrap().name.as_deref(), &date.value), (Some(DATE), &json!(17956)));
        assert_eq!(HeaderConverter::Simple.read("h", None).unwrap(), Data::null());
        assert_eq!(simple(""), Data::new(Some(Schema::new(SchemaKind::String)), json!("")));
    }

    // SimpleHeaderConverter writes `Values.convertToString`: bare strings, quoted strings inside
    // containers, numbers in Java's text, structs as a map of their fields.
    #[test]
    fn simple_header_converter_writes_values_convert_to_string() {
        let write =
            |data: Data| String::from_utf8(HeaderConverter::Simple.write("h", &data).unwrap().unwrap()).unwrap();
        assert_eq!(write(Data::new(Some(Schema::new(SchemaKind::String)), json!("a \"b\""))), "a \"b\"");
        assert_eq!(write(Data::new(Some(Schema::new(SchemaKind::Int32)), json!(42))), "42");
        assert_eq!(write(Data::new(Some(Schema::new(SchemaKind::Float64)), json!(1e20))), "1.0E20");
        assert_eq!(write(Data::new(Some(Schema::new(SchemaKind::Float32)), json!(2.5))), "2.5");
        assert_eq!(write(Data::new(Some(Schema::date()), json!(17956))), "2019-03-01");
        assert_eq!(write(Data::new(Some(Schema::decimal(2)), json!(base64_encode(&[0x30, 0x39])))), "123.45");
        let schema = Schema::structure(vec![
            Field::new("name", Schema::new(SchemaKind::String)),
            Field::new("tags", Schema::new(SchemaKind::Array(Box::new(Schema::new(SchemaKind::String))))),
            Field::new("n", Schema::new(SchemaKind::Int64).optional()),
        ]);
        let data = Data::new(Some(schema), json!({"name": "x\\y", "tags": ["a", "b"], "n": null}));
        assert_eq!(write(data), r#"{"name":"x\\y","tags":["a","b"],"n":null}"#);
        assert_eq!(write(Data::schemaless(json!({"a": 1, "b": [true, "s"]}))), r#"{"a":1,"b":[true,"s"]}"#);
        assert_eq!(HeaderConverter::Simple.write("h", &Data::null()).unwrap(), None);
        // What it writes reads back to the same data.
        assert_eq!(simple(r#"{"foo":"123","bar":"baz"}"#), simple(&write(simple(r#"{"foo":"123","bar":"baz"}"#))));
    }

    #[test]
    fn configured_header_converters() {
        assert_eq!(HeaderConverter::from_settings(&[]).unwrap(), HeaderConverter::Simple);
        let string = HeaderConverter::from_settings(&pairs(&[("header.converter", STRING_CONVERTER)])).unwrap();
        let data = string.read("h", Some(b"42")).unwrap();
        assert_eq!((kind(&data), &data.value), (Some(&SchemaKind::String), &json!("42")));

        let json = HeaderConverter::from_settings(&pairs(&[
            ("header.converter", JSON_CONVERTER),
            ("header.converter.schemas.enable", "false"),
        ]))
        .unwrap();
        assert_eq!(json.read("h", Some(br#"{"a":[1,2]}"#)).unwrap(), Data::schemaless(json!({"a": [1, 2]})));
        assert_eq!(json.write("h", &Data::schemaless(json!(7))).unwrap().unwrap(), b"7");
        // With schemas.enable (JsonConverter's default) a bare value is refused.
        let enveloped = HeaderConverter::from_settings(&pairs(&[("header.converter", JSON_CONVERTER)])).unwrap();
        assert!(enveloped.read("trace", Some(b"7")).unwrap_err().to_string().contains("header `trace`"));

        let bytes = HeaderConverter::from_settings(&pairs(&[("header.converter", BYTE_ARRAY_CONVERTER)])).unwrap();
        let data = bytes.read("h", Some(&[0, 255])).unwrap();
        assert_eq!(kind(&data), Some(&SchemaKind::Bytes));
        assert_eq!(bytes.write("h", &data).unwrap().unwrap(), vec![0, 255]);
        assert!(bytes.write("n", &Data::new(Some(Schema::new(SchemaKind::Int8)), json!(1))).is_err());

        let error = HeaderConverter::from_settings(&pairs(&[("header.converter", "com.example.Mine")])).unwrap_err();
        assert!(error.to_string().contains("`header.converter` = `com.example.Mine`"), "{error}");
    }
}
