//! Kafka Connect converters: record bytes to columns.

use serde_json::Value as Json;
use sluice_plugin_sdk::{Column, PluginError, Settings, Value};

use crate::stream::{self, Document};
use crate::{envelope, plain};

const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

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
            Some(other) => Err(PluginError::new(
                "bad-setting",
                format!(
                    "{prefix} {other:?} is not supported; use {JSON_CONVERTER}, \
                     {STRING_CONVERTER} or {BYTE_ARRAY_CONVERTER}"
                ),
            )
            .with_field(prefix)),
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
