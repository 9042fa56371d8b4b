//! A connector's transform chain applied to the host's records, before they are parsed: the
//! key and value are read with the connector's converters (`key.converter`,
//! `value.converter`, as Kafka Connect does before its transforms), transformed, and written
//! back in the same converter's form, so the parser sees records as if they had been produced
//! that way. The original record stays what offsets, dead letters and error headers refer to.
//!
//! A Schema Registry converter (`AvroConverter`, `JsonSchemaConverter`) is read here too, with
//! or without transforms: its data is written back as a JsonConverter envelope, and the
//! parser is told the part is `JsonConverter` with `schemas.enable=true`
//! ([`parser_converter_settings`]), so every parser gets typed values, logical types included.
//!
//! Why here and not in the parsers: transforms then apply to every parser (built-in or a
//! plugin in any language) and every sink the same way, and a router's new topic names the
//! target table exactly as a topic does.

use std::sync::Arc;

use anyhow::bail;
use base64::Engine as _;
use serde_json::Value as Json;

use super::header_converter::HeaderConverter;
use super::{Chain, ConnectRecord, Data, Header, Part, Schema, SchemaKind, TransformError};
use crate::converters::{RegistryConverter, RegistryUnavailable};
use crate::model::{self, KafkaRecord};

const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
const STRING_CONVERTER: &str = "org.apache.kafka.connect.storage.StringConverter";
const BYTE_ARRAY_CONVERTER: &str = "org.apache.kafka.connect.converters.ByteArrayConverter";

/// How a record's key or value bytes become Kafka Connect data and back.
#[derive(Debug, Clone)]
enum Converter {
    /// `JsonConverter`; `None` when `schemas.enable` is not set and each record says whether
    /// it is an envelope (the built-in parser's default).
    Json { schemas: Option<bool> },
    /// `StringConverter`: a string.
    String,
    /// `ByteArrayConverter`: bytes.
    ByteArray,
    /// Another converter (a number converter, a plugin's own format): the transforms can route,
    /// filter and edit headers of such records but not read their key or value.
    Opaque,
    /// A Schema Registry converter; written back as a JsonConverter envelope.
    Registry(Arc<RegistryConverter>),
}

impl Converter {
    fn from_settings(settings: &[(String, String)], prefix: &str) -> anyhow::Result<Self> {
        if let Some(registry) = RegistryConverter::from_settings(settings, prefix)? {
            return Ok(Converter::Registry(Arc::new(registry)));
        }
        let get = |key: &str| settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.trim());
        let schemas_key = format!("{prefix}.schemas.enable");
        let schemas = match get(&schemas_key) {
            None => None,
            Some(text) if text.eq_ignore_ascii_case("true") => Some(true),
            Some(text) if text.eq_ignore_ascii_case("false") => Some(false),
            Some(text) => bail!("`{schemas_key}` must be true or false, got `{text}`"),
        };
        Ok(match get(prefix) {
            None => Converter::Json { schemas },
            Some(JSON_CONVERTER) => Converter::Json { schemas: Some(schemas.unwrap_or(true)) },
            Some(STRING_CONVERTER) => Converter::String,
            Some(BYTE_ARRAY_CONVERTER) => Converter::ByteArray,
            Some(_) => Converter::Opaque,
        })
    }

    fn structured(&self) -> bool {
        matches!(self, Converter::Json { .. } | Converter::Registry(_))
    }

    fn is_registry(&self) -> bool {
        matches!(self, Converter::Registry(_))
    }

    /// The data the bytes hold, and the envelope choice to write it back with.
    fn read(&self, topic: &str, bytes: Option<&[u8]>) -> anyhow::Result<(Data, bool)> {
        match self {
            Converter::Registry(registry) => Ok((registry.to_connect_in_topic(topic, bytes)?, true)),
            &Converter::Json { schemas } => {
                let envelope = match (schemas, bytes) {
                    (Some(schemas), _) => schemas,
                    (None, Some(bytes)) => is_envelope(bytes),
                    (None, None) => false,
                };
                Ok((Data::from_json_converter(bytes, envelope)?, envelope))
            }
            Converter::String => {
                let data = match bytes {
                    None => Data::new(Some(Schema::new(SchemaKind::String).optional()), Json::Null),
                    Some(bytes) => Data::new(
                        Some(Schema::new(SchemaKind::String).optional()),
                        Json::String(String::from_utf8_lossy(bytes).into_owned()),
                    ),
                };
                Ok((data, false))
            }
            Converter::ByteArray => {
                let value =
                    bytes.map_or(Json::Null, |b| Json::String(base64::engine::general_purpose::STANDARD.encode(b)));
                Ok((Data::new(Some(Schema::new(SchemaKind::Bytes).optional()), value), false))
            }
            Converter::Opaque => Ok((unread(&bytes.map(<[u8]>::to_vec)), false)),
        }
    }

    fn write(&self, data: &Data, envelope: bool) -> anyhow::Result<Option<Vec<u8>>> {
        match self {
            Converter::Json { .. } | Converter::Registry(_) => data.to_json_converter(envelope),
            Converter::Opaque => bail!("a converter other than JSON, String or ByteArray cannot write data back"),
            Converter::String | Converter::ByteArray => Ok(match &data.value {
                Json::Null => None,
                Json::String(text) if matches!(self, Converter::ByteArray) => {
                    Some(base64::engine::general_purpose::STANDARD.decode(text)?)
                }
                Json::String(text) => Some(text.as_bytes().to_vec()),
                other => Some(other.to_string().into_bytes()),
            }),
        }
    }
}

/// The record's key and value as the connector's converters read them (`converters`: the
/// converter settings in effect, as for [`RecordTransforms::from_config`]), for `sluice
/// explain`: `Ok(None)` for a part whose converter the host does not read (a plugin's own
/// format), `Err` with the converter's reason when it cannot read the bytes.
#[allow(clippy::type_complexity)]
pub fn decode_parts(
    converters: &[(String, String)],
    record: &KafkaRecord,
) -> anyhow::Result<[(&'static str, anyhow::Result<Option<Data>>); 2]> {
    let key = Converter::from_settings(converters, "key.converter")?;
    let value = Converter::from_settings(converters, "value.converter")?;
    let read = |converter: &Converter, bytes: Option<&[u8]>| match converter {
        Converter::Opaque => Ok(None),
        converter => converter.read(&record.topic, bytes).map(|(data, _)| Some(data)),
    };
    Ok([
        ("key.converter", read(&key, record.key.as_deref())),
        ("value.converter", read(&value, record.value.as_deref())),
    ])
}

/// Whether JSON bytes are a `{"schema":…,"payload":…}` envelope (and nothing else).
fn is_envelope(bytes: &[u8]) -> bool {
    match serde_json::from_slice::<serde_json::Map<String, Json>>(bytes) {
        Ok(object) => object.len() == 2 && object.contains_key("schema") && object.contains_key("payload"),
        Err(_) => false,
    }
}

/// Tells the parser how the records it gets are encoded: a part read by a Schema Registry
/// converter (per `converters`) reaches it as a JsonConverter envelope, so its `*.converter`
/// setting in `parser_settings` becomes `JsonConverter` with `schemas.enable=true`, and the
/// registry's own `*.converter.*` settings are not passed on.
pub fn parser_converter_settings(converters: &[(String, String)], parser_settings: &mut Vec<(String, String)>) {
    for prefix in ["key.converter", "value.converter"] {
        let class = converters.iter().rev().find(|(k, _)| k == prefix).map(|(_, v)| v.trim());
        let registry = [
            crate::converters::AVRO_CONVERTER,
            crate::converters::JSON_SCHEMA_CONVERTER,
            crate::converters::PROTOBUF_CONVERTER,
        ];
        if !class.is_some_and(|c| registry.contains(&c)) {
            continue;
        }
        // The registry's settings (its URL may hold credentials) are the host's business.
        let schemas = format!("{prefix}.schemas.enable");
        let nested = format!("{prefix}.");
        parser_settings.retain(|(k, _)| k != prefix && !k.starts_with(&nested));
        parser_settings.push((prefix.to_string(), JSON_CONVERTER.to_string()));
        parser_settings.push((schemas, "true".to_string()));
    }
}

/// What the transforms made of one record.
#[derive(Debug)]
pub enum Transformed {
    /// The record to parse instead of the original.
    Record(KafkaRecord),
    /// A transform (`Filter`) dropped it: nothing is written, the offset is done.
    Dropped,
    /// A converter could not read it or a transform failed on it.
    Failed(TransformFailure),
    /// The Schema Registry could not be reached: nothing is wrong with the record, so it is
    /// neither dead-lettered nor committed; the connector fails transiently and restarts.
    Unavailable(String),
}

/// Why transforming one record failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformFailure {
    /// Kafka Connect's stage: `KEY_CONVERTER`, `VALUE_CONVERTER`, `HEADER_CONVERTER` or `TRANSFORMATION`.
    pub stage: &'static str,
    /// What failed: `value.converter`, or `transforms.<alias> (<Class>)`.
    pub component: String,
    /// The field concerned, if known.
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl From<TransformError> for TransformFailure {
    fn from(error: TransformError) -> Self {
        TransformFailure {
            stage: "TRANSFORMATION",
            component: format!("transforms.{} ({})", error.alias, error.class),
            field: error.field,
            message: error.message,
        }
    }
}

/// A connector's transforms with the converters they read and write records with.
#[derive(Debug)]
pub struct RecordTransforms {
    chain: Chain,
    key: Converter,
    value: Converter,
    /// `header.converter`: reads the headers for the chain and writes the ones it adds or changes.
    header: HeaderConverter,
    /// Whether any transform reads or writes the key / the value as data; an untouched part
    /// is not converted and keeps its bytes.
    reads_key: bool,
    reads_value: bool,
}

impl RecordTransforms {
    /// The connector's chain (`transforms`, `predicates` and their keys in `entries`), or
    /// `None` when it has none. `converters` holds the converter settings in effect (the
    /// worker's, then the connector's). A chain that reads the key or value as structured
    /// data while its converter gives a string or bytes is refused, naming the transforms.
    pub fn from_config(
        entries: &[(String, String)],
        converters: &[(String, String)],
        origin: &str,
    ) -> anyhow::Result<Option<Arc<Self>>> {
        let chain = Chain::from_config(entries).map_err(|e| anyhow::anyhow!("{e:#} (in {origin})"))?;
        let header = HeaderConverter::from_settings(converters).map_err(|e| anyhow::anyhow!("{e:#} (in {origin})"))?;
        let key = Converter::from_settings(converters, "key.converter")?;
        let value = Converter::from_settings(converters, "value.converter")?;
        if chain.is_empty() && !key.is_registry() && !value.is_registry() {
            return Ok(None);
        }
        for (part, converter, needed) in
            [(Part::Key, &key, chain.needs_key()), (Part::Value, &value, chain.needs_value())]
        {
            if needed && !converter.structured() {
                bail!(
                    "{} in {origin} work on the record {} as structured data, but `{}.converter` reads it as {}; \
                     use {JSON_CONVERTER} for it",
                    chain.users(part).join(", "),
                    part.name(),
                    part.name(),
                    match converter {
                        Converter::String => "a string",
                        Converter::ByteArray => "bytes",
                        _ => "something other than JSON",
                    },
                );
            }
        }
        let reads_key = chain.needs_key() || key.is_registry();
        let reads_value = chain.needs_value() || value.is_registry();
        Ok(Some(Arc::new(RecordTransforms { chain, key, value, header, reads_key, reads_value })))
    }

    /// Applies the chain to `record`.
    pub fn apply(&self, record: &KafkaRecord) -> Transformed {
        match self.try_apply(record) {
            Ok(Some(record)) => Transformed::Record(record),
            Ok(None) => Transformed::Dropped,
            Err(Err(reason)) => Transformed::Unavailable(reason),
            Err(Ok(failure)) => Transformed::Failed(failure),
        }
    }

    /// The transformed record, `None` when dropped; `Err(Ok(_))` for a failure of the record,
    /// `Err(Err(_))` when the Schema Registry is unavailable.
    #[allow(clippy::type_complexity)]
    fn try_apply(&self, record: &KafkaRecord) -> Result<Option<KafkaRecord>, Result<TransformFailure, String>> {
        fn convert(
            stage: &'static str,
            component: &'static str,
        ) -> impl Fn(anyhow::Error) -> Result<TransformFailure, String> {
            move |error| match error.downcast_ref::<RegistryUnavailable>() {
                Some(_) => Err(format!("{component}: {error:#}")),
                None => Ok(TransformFailure {
                    stage,
                    component: component.to_string(),
                    field: None,
                    message: format!("{error:#}"),
                }),
            }
        }
        let (key, key_envelope) = match self.reads_key {
            true => self
                .key
                .read(&record.topic, record.key.as_deref())
                .map_err(convert("KEY_CONVERTER", "key.converter"))?,
            false => (unread(&record.key), false),
        };
        let (value, value_envelope) = match self.reads_value {
            true => self
                .value
                .read(&record.topic, record.value.as_deref())
                .map_err(convert("VALUE_CONVERTER", "value.converter"))?,
            false => (unread(&record.value), false),
        };
        let connect = ConnectRecord {
            topic: record.topic.to_string(),
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key,
            value,
            headers: self.headers_in(record).map_err(convert("HEADER_CONVERTER", "header.converter"))?,
        };
        let headers_before = connect.headers.clone();
        let Some(done) = self.chain.apply(connect).map_err(|e| Ok(e.into()))? else { return Ok(None) };
        let key = match self.reads_key {
            true => self.key.write(&done.key, key_envelope).map_err(convert("KEY_CONVERTER", "key.converter"))?,
            false => record.key.clone(),
        };
        let value = match self.reads_value {
            true => {
                self.value.write(&done.value, value_envelope).map_err(convert("VALUE_CONVERTER", "value.converter"))?
            }
            false => record.value.clone(),
        };
        let topic = if *done.topic == *record.topic { Arc::clone(&record.topic) } else { Arc::from(done.topic) };
        Ok(Some(KafkaRecord {
            topic,
            partition: done.partition,
            offset: done.offset,
            timestamp_ms: done.timestamp_ms,
            key,
            value,
            headers: self
                .headers_out(record, &headers_before, &done.headers)
                .map_err(convert("HEADER_CONVERTER", "header.converter"))?,
        }))
    }

    /// The record's headers as Kafka Connect data, through `header.converter`.
    fn headers_in(&self, record: &KafkaRecord) -> anyhow::Result<Vec<Header>> {
        record
            .headers
            .iter()
            .map(|h| Ok(Header::new(h.key.clone(), self.header.read(&h.key, h.value.as_deref())?)))
            .collect()
    }

    /// The headers after the chain as bytes: a header the chain left as it read it keeps its
    /// original bytes (Kafka Connect hands sinks the headers it read, not re-serialized ones);
    /// one it added or changed is written with `header.converter`.
    fn headers_out(
        &self,
        record: &KafkaRecord,
        before: &[Header],
        after: &[Header],
    ) -> anyhow::Result<Vec<model::Header>> {
        let mut used = vec![false; before.len()];
        after
            .iter()
            .map(|header| {
                let original = before.iter().enumerate().position(|(i, b)| !used[i] && b == header);
                let value = match original {
                    Some(i) => {
                        used[i] = true;
                        record.headers[i].value.clone()
                    }
                    None => self.header.write(&header.key, &header.value)?,
                };
                Ok(model::Header { key: header.key.clone(), value })
            })
            .collect()
    }
}

/// A part no transform reads: only whether it is null is visible (`RecordIsTombstone`).
fn unread(bytes: &Option<Vec<u8>>) -> Data {
    Data::schemaless(if bytes.is_some() { Json::Bool(true) } else { Json::Null })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn record(value: &str) -> KafkaRecord {
        KafkaRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 9,
            timestamp_ms: Some(1_700_000_000_000),
            key: Some(b"k1".to_vec()),
            value: Some(value.as_bytes().to_vec()),
            headers: vec![model::Header { key: "trace".into(), value: Some(b"t-1".to_vec()) }],
        }
    }

    const CHAIN: &[(&str, &str)] = &[
        ("transforms", "route,insert,drop,mask"),
        ("transforms.route.type", "org.apache.kafka.connect.transforms.RegexRouter"),
        ("transforms.route.regex", "orders"),
        ("transforms.route.replacement", "orders_v2"),
        ("transforms.insert.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
        ("transforms.insert.offset.field", "kafka_offset"),
        ("transforms.drop.type", "org.apache.kafka.connect.transforms.Filter"),
        ("transforms.drop.predicate", "test"),
        ("transforms.mask.type", "org.apache.kafka.connect.transforms.MaskField$Value"),
        ("transforms.mask.fields", "card"),
        ("predicates", "test"),
        ("predicates.test.type", "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"),
        ("predicates.test.name", "test"),
    ];

    #[test]
    fn a_chain_routes_edits_and_filters_schemaless_json() {
        let converters = pairs(&[("value.converter", JSON_CONVERTER), ("value.converter.schemas.enable", "false")]);
        let transforms = RecordTransforms::from_config(&pairs(CHAIN), &converters, "c.properties").unwrap().unwrap();
        let out = match transforms.apply(&record(r#"{"id":1,"card":"4111"}"#)) {
            Transformed::Record(out) => out,
            other => panic!("{other:?}"),
        };
        assert_eq!(&*out.topic, "orders_v2");
        let value: Json = serde_json::from_slice(out.value.as_deref().unwrap()).unwrap();
        assert_eq!(value, serde_json::json!({"id": 1, "card": "", "kafka_offset": 9}));
        assert_eq!((out.partition, out.offset, out.key.as_deref()), (2, 9, Some(&b"k1"[..])));
        assert_eq!(out.headers, record("").headers);

        let mut test = record(r#"{"id":2}"#);
        test.headers.push(model::Header { key: "test".into(), value: None });
        assert!(matches!(transforms.apply(&test), Transformed::Dropped));

        let Transformed::Failed(failure) = transforms.apply(&record("not json")) else { panic!("not refused") };
        assert_eq!((failure.stage, failure.component.as_str()), ("VALUE_CONVERTER", "value.converter"));
    }

    // HeaderFrom copies a struct field into a header: SimpleHeaderConverter (the default) writes
    // it as `Values.convertToString` does; a header the chain did not change keeps its bytes
    // (here "007", which SimpleHeaderConverter would read as the INT8 7).
    #[test]
    fn headers_go_through_the_header_converter() {
        let converters = pairs(&[("value.converter", JSON_CONVERTER)]);
        let chain = pairs(&[
            ("transforms", "copy"),
            ("transforms.copy.type", "org.apache.kafka.connect.transforms.HeaderFrom$Value"),
            ("transforms.copy.fields", "id,tags"),
            ("transforms.copy.headers", "id,tags"),
            ("transforms.copy.operation", "copy"),
        ]);
        let transforms = RecordTransforms::from_config(&chain, &converters, "c").unwrap().unwrap();
        let input = r#"{"schema":{"type":"struct","fields":[{"field":"id","type":"int64","optional":false},{"field":"tags","type":"array","items":{"type":"string"},"optional":false}],"optional":false},"payload":{"id":42,"tags":["a","b"]}}"#;
        let mut original = record(input);
        original.headers = vec![model::Header { key: "zero".into(), value: Some(b"007".to_vec()) }];
        let Transformed::Record(out) = transforms.apply(&original) else { panic!("not transformed") };
        let headers: Vec<(&str, &[u8])> =
            out.headers.iter().map(|h| (h.key.as_str(), h.value.as_deref().unwrap())).collect();
        assert_eq!(headers, vec![("zero", &b"007"[..]), ("id", b"42"), ("tags", br#"["a","b"]"#)]);

        let json_headers = pairs(&[
            ("value.converter", JSON_CONVERTER),
            ("header.converter", "org.apache.kafka.connect.json.JsonConverter"),
            ("header.converter.schemas.enable", "false"),
        ]);
        let transforms = RecordTransforms::from_config(&chain, &json_headers, "c").unwrap().unwrap();
        let Transformed::Failed(failure) = transforms.apply(&original) else { panic!("007 is not JSON") };
        assert_eq!((failure.stage, failure.component.as_str()), ("HEADER_CONVERTER", "header.converter"));
        assert!(failure.message.contains("header `zero`"), "{}", failure.message);

        let unknown = pairs(&[("header.converter", "com.example.Headers")]);
        let error = RecordTransforms::from_config(&[], &unknown, "c.properties").unwrap_err().to_string();
        assert!(
            error.contains("`header.converter` = `com.example.Headers`") && error.contains("c.properties"),
            "{error}"
        );
    }

    #[test]
    fn envelopes_keep_their_schema_through_the_chain() {
        let converters = pairs(&[("value.converter", JSON_CONVERTER)]);
        let chain = pairs(&[
            ("transforms", "cast"),
            ("transforms.cast.type", "org.apache.kafka.connect.transforms.Cast$Value"),
            ("transforms.cast.spec", "n:string"),
        ]);
        let transforms = RecordTransforms::from_config(&chain, &converters, "c").unwrap().unwrap();
        let input = r#"{"schema":{"type":"struct","fields":[{"field":"n","type":"int32","optional":false}],"optional":false},"payload":{"n":7}}"#;
        let out = match transforms.apply(&record(input)) {
            Transformed::Record(out) => out,
            other => panic!("{other:?}"),
        };
        let value: Json = serde_json::from_slice(out.value.as_deref().unwrap()).unwrap();
        assert_eq!(value["payload"], serde_json::json!({"n": "7"}));
        assert_eq!(value["schema"]["fields"][0]["type"], "string");
    }

    #[test]
    fn field_transforms_need_a_structured_converter_and_no_chain_is_none() {
        let converters = pairs(&[("value.converter", STRING_CONVERTER)]);
        let error = RecordTransforms::from_config(&pairs(CHAIN), &converters, "c.properties").unwrap_err().to_string();
        assert!(error.contains("transforms.insert") && error.contains("value.converter"), "{error}");
        let routing_only = pairs(&[
            ("transforms", "route"),
            ("transforms.route.type", "org.apache.kafka.connect.transforms.RegexRouter"),
            ("transforms.route.regex", "(.*)"),
            ("transforms.route.replacement", "$1_copy"),
        ]);
        let transforms = RecordTransforms::from_config(&routing_only, &converters, "c").unwrap().unwrap();
        let out = match transforms.apply(&record("plain text")) {
            Transformed::Record(out) => out,
            other => panic!("{other:?}"),
        };
        assert_eq!((&*out.topic, out.value.as_deref()), ("orders_copy", Some(&b"plain text"[..])));
        assert!(RecordTransforms::from_config(&pairs(&[("transforms", "")]), &converters, "c").unwrap().is_none());
    }

    #[test]
    fn parsers_are_told_registry_parts_are_envelopes_and_never_see_the_registry_settings() {
        let converters = pairs(&[
            ("value.converter", crate::converters::AVRO_CONVERTER),
            ("value.converter.schema.registry.url", "https://user:pw@registry:8081"),
            ("key.converter", STRING_CONVERTER),
        ]);
        let mut parser = converters.clone();
        parser.push(("value.converter.schemas.enable".into(), "false".into()));
        parser_converter_settings(&converters, &mut parser);
        parser.sort();
        assert_eq!(
            parser,
            pairs(&[
                ("key.converter", STRING_CONVERTER),
                ("value.converter", JSON_CONVERTER),
                ("value.converter.schemas.enable", "true"),
            ])
        );
    }
}
