//! Kafka Connect converters: record bytes to columns.

use serde_json::Value as Json;
use sluice_plugin_sdk::{Column, PluginError, Settings, Value};

use crate::stream::{self, Document};
use crate::{envelope, plain};

const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";
/// Kafka Connect's converters for single numbers and booleans (`org.apache.kafka.connect.converters.*`),
/// reading what Kafka's `ShortSerializer`, `IntegerSerializer`, `LongSerializer`,
/// `FloatSerializer`, `DoubleSerializer` and `BooleanSerializer` write: big-endian, fixed size.
const PRIMITIVE_CONVERTERS: &[(&str, Primitive)] = &[
    ("org.apache.kafka.connect.converters.ShortConverter", Primitive::Short),
    ("org.apache.kafka.connect.converters.IntegerConverter", Primitive::Integer),
    ("org.apache.kafka.connect.converters.LongConverter", Primitive::Long),
    ("org.apache.kafka.connect.converters.FloatConverter", Primitive::Float),
    ("org.apache.kafka.connect.converters.DoubleConverter", Primitive::Double),
    ("org.apache.kafka.connect.converters.BooleanConverter", Primitive::Boolean),
];

/// The value type of a primitive converter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Primitive {
    /// `int16`, 2 bytes.
    Short,
    /// `int32`, 4 bytes.
    Integer,
    /// `int64`, 8 bytes.
    Long,
    /// `float32`, 4 bytes.
    Float,
    /// `float64`, 8 bytes.
    Double,
    /// `boolean`, 1 byte (0 or 1).
    Boolean,
}

impl Primitive {
    fn size(self) -> usize {
        match self {
            Primitive::Boolean => 1,
            Primitive::Short => 2,
            Primitive::Integer | Primitive::Float => 4,
            Primitive::Long | Primitive::Double => 8,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Primitive::Short => "Short",
            Primitive::Integer => "Integer",
            Primitive::Long => "Long",
            Primitive::Float => "Float",
            Primitive::Double => "Double",
            Primitive::Boolean => "Boolean",
        }
    }

    /// The value Kafka's deserializer reads from `bytes`, or its error.
    fn read(self, bytes: &[u8]) -> Result<Value, PluginError> {
        if bytes.len() != self.size() {
            return Err(PluginError::new(
                "invalid-size",
                format!(
                    "Size of data received by {}Deserializer is not {} (got {} bytes); {}Converter reads what Kafka's \
                     {}Serializer writes",
                    self.name(),
                    self.size(),
                    bytes.len(),
                    self.name(),
                    self.name()
                ),
            ));
        }
        let array = |bytes: &[u8]| -> [u8; 8] {
            let mut out = [0u8; 8];
            out[..bytes.len()].copy_from_slice(bytes);
            out
        };
        let b = array(bytes);
        Ok(match self {
            Primitive::Short => Value::Int16(i16::from_be_bytes([b[0], b[1]])),
            Primitive::Integer => Value::Int32(i32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            Primitive::Long => Value::Int64(i64::from_be_bytes(b)),
            Primitive::Float => Value::Float32(f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            Primitive::Double => Value::Float64(f64::from_be_bytes(b)),
            Primitive::Boolean => match b[0] {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                other => {
                    return Err(PluginError::new(
                        "invalid-boolean",
                        format!("BooleanDeserializer reads 0 or 1, got {other}"),
                    ))
                }
            },
        })
    }
}

/// Kafka Connect's message when `schemas.enable=true` meets data without an envelope.
const MISSING_ENVELOPE: &str = "JsonConverter with schemas.enable requires \"schema\" and \
\"payload\" fields and may not contain additional fields. If you are trying to deserialize \
plain JSON data, set schemas.enable=false in your converter configuration.";

/// How schemaless JSON integers are typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Integers {
    /// `int64`, or `uint64` above `i64::MAX`.
    Int64,
    /// `text` holding the digits (the Java connector's all-strings behaviour).
    Text,
}

/// Whether JSON data carries a `{"schema","payload"}` envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// Always (`schemas.enable=true`).
    Required,
    /// Never (`schemas.enable=false`).
    Absent,
    /// When the object has exactly the keys `schema` and `payload`.
    Auto,
}

/// A configured converter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Converter {
    /// `JsonConverter`.
    Json { envelope: Envelope, integers: Integers },
    /// `StringConverter`: one text column.
    String,
    /// `ByteArrayConverter`: one binary column.
    ByteArray,
    /// `ShortConverter`, `IntegerConverter`, ...: one typed column.
    Primitive(Primitive),
}

impl Converter {
    /// The converter configured under `prefix` (`value.converter` or `key.converter`).
    pub(crate) fn from_settings(settings: &Settings, prefix: &str, integers: Integers) -> Result<Self, PluginError> {
        let schemas_key = format!("{prefix}.schemas.enable");
        let schemas = match settings.get(&schemas_key) {
            Some(_) => Some(settings.get_bool(&schemas_key, true)?),
            None => None,
        };
        let json = |envelope| Converter::Json { envelope, integers };
        let envelope = |schemas| {
            if schemas {
                Envelope::Required
            } else {
                Envelope::Absent
            }
        };
        match settings.get(prefix).map(str::trim) {
            None => Ok(json(schemas.map_or(Envelope::Auto, envelope))),
            Some(JSON_CONVERTER) => Ok(json(envelope(schemas.unwrap_or(true)))),
            Some(STRING_CONVERTER) => Ok(Converter::String),
            Some(BYTE_ARRAY_CONVERTER) => Ok(Converter::ByteArray),
            Some(other) => match PRIMITIVE_CONVERTERS.iter().find(|(class, _)| *class == other) {
                Some((_, primitive)) => Ok(Converter::Primitive(*primitive)),
                None => Err(PluginError::new(
                    "bad-setting",
                    format!(
                        "{prefix} {other:?} is not supported; use {JSON_CONVERTER}, {STRING_CONVERTER}, \
                         {BYTE_ARRAY_CONVERTER} or one of Kafka Connect's number and boolean converters \
                         (org.apache.kafka.connect.converters.IntegerConverter, ...)"
                    ),
                )
                .with_field(prefix)),
            },
        }
    }

    /// Decode `bytes` into columns; a scalar becomes one column named `scalar_name`.
    /// `None` means the data is null (JSON `null`, or an envelope with a null payload).
    pub(crate) fn decode(&self, bytes: &[u8], scalar_name: &str) -> Result<Option<Vec<Column>>, PluginError> {
        match *self {
            Converter::Json { envelope, integers } => decode_json(bytes, scalar_name, envelope, integers),
            Converter::String => match std::str::from_utf8(bytes) {
                Ok(text) => Ok(Some(vec![Column::new(scalar_name, text)])),
                Err(err) => Err(PluginError::new("invalid-utf8", format!("StringConverter needs UTF-8 text: {err}"))
                    .with_field(scalar_name)),
            },
            Converter::ByteArray => Ok(Some(vec![Column::new(scalar_name, Value::binary(bytes))])),
            Converter::Primitive(primitive) => {
                let value = primitive.read(bytes).map_err(|e| e.with_field(scalar_name))?;
                Ok(Some(vec![Column::new(scalar_name, value)]))
            }
        }
    }
}

fn decode_json(
    bytes: &[u8],
    scalar_name: &str,
    envelope: Envelope,
    integers: Integers,
) -> Result<Option<Vec<Column>>, PluginError> {
    let invalid = |err: serde_json::Error| PluginError::new("invalid-json", format!("invalid JSON: {err}"));
    if envelope == Envelope::Required {
        let json: Json = serde_json::from_slice(bytes).map_err(invalid)?;
        let Json::Object(mut map) = json else {
            return Err(PluginError::new("missing-envelope", MISSING_ENVELOPE));
        };
        if !(map.len() == 2 && map.contains_key("schema") && map.contains_key("payload")) {
            return Err(PluginError::new("missing-envelope", MISSING_ENVELOPE));
        }
        let payload = map.swap_remove("payload").unwrap_or_default();
        let schema = map.swap_remove("schema").unwrap_or_default();
        return from_envelope(schema, payload, scalar_name, integers);
    }
    // Schemaless (or maybe-envelope) JSON streams straight into columns.
    match stream::decode(bytes, scalar_name, integers, envelope == Envelope::Auto).map_err(invalid)? {
        Document::Null => Ok(None),
        Document::Columns(columns) => Ok(Some(columns)),
        Document::Envelope { schema, payload } => from_envelope(schema, payload, scalar_name, integers),
    }
}

fn from_envelope(
    schema: Json,
    payload: Json,
    scalar_name: &str,
    integers: Integers,
) -> Result<Option<Vec<Column>>, PluginError> {
    match schema {
        // Kafka Connect writes schemaless data as `{"schema":null,"payload":...}`.
        Json::Null => Ok(plain::columns(payload, scalar_name, integers)),
        schema => envelope::columns(&schema, payload, scalar_name),
    }
}
