//! Confluent Schema Registry converters: `io.confluent.connect.avro.AvroConverter`,
//! `io.confluent.connect.json.JsonSchemaConverter` and
//! `io.confluent.connect.protobuf.ProtobufConverter`, turning a record's key or value bytes in
//! Confluent's wire format (magic byte 0, 4-byte big-endian schema id, then the Avro binary,
//! the JSON text, or Protobuf's message indexes and message) into Kafka Connect [`Data`], with the schema and value Confluent's converters
//! produce (so `Data::to_json_converter(true)` gives the envelope Kafka Connect's JsonConverter
//! would write for them).
//!
//! [`RegistryConverter::from_settings`] reads a connector's `key.converter.*` /
//! `value.converter.*` settings; [`RegistryConverter::to_connect`] converts one key or value.
//! It is `Send + Sync` and blocking (HTTP to the registry on a schema id's first use): call it
//! from the parser threads, not from async tasks.
//!
//! Files: `registry` (the HTTP client and its caches), `avro` (AvroData's mapping),
//! `json_schema` (JsonSchemaData's mapping), `protobuf` (ProtobufData's mapping), `payload`
//! (payload-form helpers).

mod avro;
mod json_schema;
mod payload;
mod protobuf;
mod registry;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::transforms::Data;
pub use registry::{RegisteredSchema, RegistryClient, RegistrySettings, RegistryUnavailable, SchemaType};

/// Confluent's Avro converter class.
pub const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";
/// Confluent's JSON Schema converter class.
pub const JSON_SCHEMA_CONVERTER: &str = "io.confluent.connect.json.JsonSchemaConverter";
/// Confluent's Protobuf converter class.
pub const PROTOBUF_CONVERTER: &str = "io.confluent.connect.protobuf.ProtobufConverter";

const TOPIC_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicNameStrategy";
const RECORD_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.RecordNameStrategy";
const TOPIC_RECORD_NAME_STRATEGY: &str = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy";

/// Which record format a converter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Avro (`AvroConverter`).
    Avro,
    /// JSON Schema (`JsonSchemaConverter`).
    JsonSchema,
    /// Protobuf (`ProtobufConverter`).
    Protobuf,
}

impl Format {
    fn schema_type(self) -> SchemaType {
        match self {
            Format::Avro => SchemaType::Avro,
            Format::JsonSchema => SchemaType::Json,
            Format::Protobuf => SchemaType::Protobuf,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Format::Avro => AVRO_CONVERTER,
            Format::JsonSchema => JSON_SCHEMA_CONVERTER,
            Format::Protobuf => PROTOBUF_CONVERTER,
        }
    }
}

/// How the subject of a record's schema is named (`key.subject.name.strategy` /
/// `value.subject.name.strategy`), used to look up the schema's version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubjectStrategy {
    /// `<topic>-key` / `<topic>-value` (`TopicNameStrategy`, Confluent's default).
    Topic,
    /// The record's full name (`RecordNameStrategy`).
    Record,
    /// `<topic>-<record full name>` (`TopicRecordNameStrategy`).
    TopicRecord,
}

/// A schema ready to convert records.
#[derive(Debug)]
enum Compiled {
    Avro(avro::AvroSchema),
    Json(json_schema::JsonSchema),
    Protobuf(protobuf::ProtobufSchema),
}

impl Compiled {
    /// The record's Connect schema and payload-form value.
    fn decode(&self, body: &[u8]) -> anyhow::Result<(crate::transforms::Schema, Value)> {
        match self {
            Compiled::Avro(schema) => Ok((schema.connect_schema().clone(), schema.decode(body)?)),
            Compiled::Json(schema) => Ok((schema.connect_schema().clone(), schema.decode(body)?)),
            Compiled::Protobuf(schema) => schema.decode(body),
        }
    }
}

/// Compiled schemas by (schema id, registry version on the Connect schema).
type CompiledCache = HashMap<(u32, Option<i32>), Arc<Compiled>>;

/// A Schema Registry converter for one part (key or value) of a connector's records.
#[derive(Debug)]
pub struct RegistryConverter {
    format: Format,
    /// `key` or `value`.
    part: &'static str,
    /// `key.converter` or `value.converter`.
    prefix: String,
    client: RegistryClient,
    strategy: SubjectStrategy,
    /// Compiled schemas by (schema id, registry version put on the Connect schema).
    compiled: RwLock<CompiledCache>,
}

/// Mapping settings sluice implements only at Confluent's default: another value is refused
/// rather than silently giving different data. (key, default, formats it applies to).
const DEFAULT_ONLY: &[(&str, &str, &[Format])] = &[
    ("connect.meta.data", "true", &[Format::Avro]),
    ("enhanced.avro.schema.support", "false", &[Format::Avro]),
    ("scrub.invalid.names", "false", &[Format::Avro, Format::Protobuf]),
    ("discard.type.doc.default", "false", &[Format::Avro]),
    ("ignore.default.for.nullables", "false", &[Format::Avro]),
    ("generalized.sum.type.support", "false", &[Format::Avro, Format::JsonSchema]),
    ("flatten.singleton.unions", "true", &[Format::Avro, Format::JsonSchema]),
    ("preserve.additional.properties", "false", &[Format::JsonSchema]),
    ("use.latest.version", "false", &[Format::Avro, Format::JsonSchema, Format::Protobuf]),
    ("enhanced.protobuf.schema.support", "false", &[Format::Protobuf]),
    ("int.for.enums", "false", &[Format::Protobuf]),
    ("optional.for.nullables", "false", &[Format::Protobuf]),
    ("wrapper.for.nullables", "false", &[Format::Protobuf]),
    ("generate.struct.for.nulls", "false", &[Format::Protobuf]),
    ("generate.index.for.unions", "true", &[Format::Protobuf]),
    ("flatten.unions", "false", &[Format::Protobuf]),
];

impl RegistryConverter {
    /// Builds the converter configured under `prefix` (`key.converter` or `value.converter`):
    /// `None` when `{prefix}` names another class. Reads `{prefix}.schema.registry.url`
    /// (required; comma-separated URLs are tried in order), `{prefix}.basic.auth.credentials.source`
    /// (`URL`, the default, or `USER_INFO`), `{prefix}.basic.auth.user.info` (or the older
    /// `{prefix}.schema.registry.basic.auth.user.info`), `{prefix}.http.connect.timeout.ms` and
    /// `{prefix}.http.read.timeout.ms` (default 60000 each), and
    /// `{prefix}.key.subject.name.strategy` / `{prefix}.value.subject.name.strategy`. Fails,
    /// naming the key, on a missing URL, Protobuf, an unsupported auth source, or a mapping
    /// setting sluice implements only at its default (e.g. `enhanced.avro.schema.support=true`).
    /// No connection is made here.
    pub fn from_settings(settings: &[(String, String)], prefix: &str) -> anyhow::Result<Option<RegistryConverter>> {
        let get = |name: &str| -> Option<String> {
            let key = if name.is_empty() { prefix.to_string() } else { format!("{prefix}.{name}") };
            settings.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| v.trim().to_string())
        };
        let key = |name: &str| format!("{prefix}.{name}");
        let format = match get("").as_deref() {
            Some(AVRO_CONVERTER) => Format::Avro,
            Some(JSON_SCHEMA_CONVERTER) => Format::JsonSchema,
            Some(PROTOBUF_CONVERTER) => Format::Protobuf,
            _ => return Ok(None),
        };
        let part = if prefix.starts_with("key") { "key" } else { "value" };
        let urls = get("schema.registry.url").filter(|u| !u.is_empty()).ok_or_else(|| {
            anyhow!(
                "missing required key `{}`: {} needs the Schema Registry's URL, e.g. {}=http://localhost:8081",
                key("schema.registry.url"),
                format.class(),
                key("schema.registry.url")
            )
        })?;
        let urls: Vec<String> = urls.split(',').map(|u| u.trim().to_string()).filter(|u| !u.is_empty()).collect();

        let user_info = get("basic.auth.user.info").or_else(|| get("schema.registry.basic.auth.user.info"));
        let source = get("basic.auth.credentials.source").unwrap_or_else(|| "URL".into());
        let user_info = match source.to_ascii_uppercase().as_str() {
            "USER_INFO" => {
                let info = user_info.ok_or_else(|| {
                    anyhow!(
                        "`{}=USER_INFO` needs `{}=<user>:<password>`",
                        key("basic.auth.credentials.source"),
                        key("basic.auth.user.info")
                    )
                })?;
                Some(split_user_info(&info, &key("basic.auth.user.info"))?)
            }
            // Confluent ignores `basic.auth.user.info` unless the source is USER_INFO; using
            // it when it is set only spares a 401.
            "URL" => user_info.map(|info| split_user_info(&info, &key("basic.auth.user.info"))).transpose()?,
            other => bail!(
                "`{}={other}`: sluice supports the basic auth credential sources URL (user info in \
                 `{}`) and USER_INFO (`{}`)",
                key("basic.auth.credentials.source"),
                key("schema.registry.url"),
                key("basic.auth.user.info")
            ),
        };
        if get("bearer.auth.credentials.source").is_some() {
            bail!(
                "`{}`: sluice does not support bearer (OAuth) authentication to the Schema Registry yet; use basic \
                 auth",
                key("bearer.auth.credentials.source")
            );
        }
        let millis = |name: &str| -> anyhow::Result<Duration> {
            match get(name) {
                None => Ok(Duration::from_millis(60_000)),
                Some(text) => text
                    .parse::<u64>()
                    .map(Duration::from_millis)
                    .map_err(|_| anyhow!("`{}`: expected milliseconds, found {text:?}", key(name))),
            }
        };
        let strategy_key = format!("{part}.subject.name.strategy");
        let strategy = match get(&strategy_key).as_deref() {
            None | Some(TOPIC_NAME_STRATEGY) => SubjectStrategy::Topic,
            Some(RECORD_NAME_STRATEGY) => SubjectStrategy::Record,
            Some(TOPIC_RECORD_NAME_STRATEGY) => SubjectStrategy::TopicRecord,
            Some(other) => bail!(
                "`{}`: unknown subject name strategy {other:?}; expected {TOPIC_NAME_STRATEGY}, \
                 {RECORD_NAME_STRATEGY} or {TOPIC_RECORD_NAME_STRATEGY}",
                key(&strategy_key)
            ),
        };
        for (name, default, formats) in DEFAULT_ONLY {
            if !formats.contains(&format) {
                continue;
            }
            if let Some(value) = get(name) {
                if !value.eq_ignore_ascii_case(default) {
                    bail!(
                        "`{}={value}`: sluice's {} implements only Confluent's default ({name}={default}); remove \
                         the setting or convert with Confluent's converter",
                        key(name),
                        format.class()
                    );
                }
            }
        }
        let client = RegistryClient::new(RegistrySettings {
            urls,
            user_info,
            connect_timeout: millis("http.connect.timeout.ms")?,
            read_timeout: millis("http.read.timeout.ms")?,
            prefix: prefix.to_string(),
        })?;
        Ok(Some(RegistryConverter {
            format,
            part,
            prefix: prefix.to_string(),
            client,
            strategy,
            compiled: RwLock::new(HashMap::new()),
        }))
    }

    /// The record format this converter reads.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Converts a key or value (`None`: null, a tombstone value) into Connect data. The Connect
    /// schema carries no registry version; use [`RegistryConverter::to_connect_in_topic`] for
    /// Confluent's exact schema.
    pub fn to_connect(&self, bytes: Option<&[u8]>) -> anyhow::Result<Data> {
        self.convert(None, bytes)
    }

    /// Converts a key or value of a record of `topic` as Confluent's converter does, including
    /// the schema's version under the record's subject (`<topic>-value` by default) on the
    /// top-level Connect schema (one registry lookup per subject and schema id, then cached).
    pub fn to_connect_in_topic(&self, topic: &str, bytes: Option<&[u8]>) -> anyhow::Result<Data> {
        self.convert(Some(topic), bytes)
    }

    fn convert(&self, topic: Option<&str>, bytes: Option<&[u8]>) -> anyhow::Result<Data> {
        let Some(bytes) = bytes else {
            return Ok(Data::null());
        };
        let part = self.part;
        let (id, body) = self.split_header(bytes)?;
        let registered = self.client.schema(id).with_context(|| format!("converting the record's {part}"))?;
        if registered.schema_type != self.format.schema_type() {
            let wanted = match registered.schema_type {
                SchemaType::Avro => AVRO_CONVERTER,
                SchemaType::Json => JSON_SCHEMA_CONVERTER,
                SchemaType::Protobuf => PROTOBUF_CONVERTER,
            };
            bail!(
                "the record's {part} was written with schema id {id}, a {} schema, but `{}` is {}: set `{}={wanted}`",
                registered.schema_type.name(),
                self.prefix,
                self.format.class(),
                self.prefix,
            );
        }
        let version = match topic {
            Some(topic) => {
                let subject = self.subject(topic, &registered)?;
                Some(
                    self.client
                        .version(&subject, &registered)
                        .with_context(|| format!("converting the record's {part} (schema id {id})"))?,
                )
            }
            None => None,
        };
        let compiled = self.compiled(&registered, version)?;
        let (schema, value) = compiled
            .decode(body)
            .with_context(|| format!("the record's {part} does not match its schema (id {id})"))?;
        if value.is_null() {
            return Ok(Data::null());
        }
        Ok(Data::new(Some(schema), value))
    }

    /// The schema id and the body after Confluent's 5-byte header.
    fn split_header<'b>(&self, bytes: &'b [u8]) -> anyhow::Result<(u32, &'b [u8])> {
        let part = self.part;
        match bytes.first() {
            Some(0) if bytes.len() >= 5 => {
                Ok((u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]), &bytes[5..]))
            }
            Some(0) => bail!(
                "the record's {part} has {} bytes, too few for the Confluent wire format (magic byte 0 and a 4-byte \
                 schema id): it was not written by a Schema Registry serializer",
                bytes.len()
            ),
            Some(other) => bail!(
                "Unknown magic byte! The record's {part} starts with 0x{other:02x}, not the Confluent wire format's \
                 magic byte 0x00: it was not written by a Schema Registry serializer. Set `{}` to the converter the \
                 producer's format needs (e.g. org.apache.kafka.connect.json.JsonConverter for plain JSON, \
                 org.apache.kafka.connect.storage.StringConverter for text)",
                self.prefix
            ),
            None => bail!(
                "Unknown magic byte! The record's {part} is empty (0 bytes), not the Confluent wire format: set `{}` \
                 to the converter the producer's format needs",
                self.prefix
            ),
        }
    }

    /// The subject the schema is registered under for `topic`, by the configured strategy.
    fn subject(&self, topic: &str, schema: &RegisteredSchema) -> anyhow::Result<String> {
        let record_name = || -> anyhow::Result<String> {
            if self.format == Format::Protobuf {
                bail!(
                    "`{}.{}.subject.name.strategy`: sluice's {PROTOBUF_CONVERTER} supports only {TOPIC_NAME_STRATEGY}",
                    self.prefix,
                    self.part
                );
            }
            let json: Value = serde_json::from_str(&schema.text)
                .map_err(|e| anyhow!("schema id {} is not valid JSON: {e}", schema.id))?;
            let name = match self.format {
                Format::Avro => {
                    let name = json.get("name").and_then(Value::as_str);
                    let namespace = json.get("namespace").and_then(Value::as_str).filter(|n| !n.is_empty());
                    match (name, namespace) {
                        (Some(name), Some(ns)) if !name.contains('.') => Some(format!("{ns}.{name}")),
                        (Some(name), _) => Some(name.to_string()),
                        _ => None,
                    }
                }
                Format::JsonSchema => json.get("title").and_then(Value::as_str).map(str::to_string),
                Format::Protobuf => None,
            };
            name.ok_or_else(|| {
                anyhow!(
                    "`{}.{}.subject.name.strategy` names subjects after the record, but schema id {} has no record \
                     name",
                    self.prefix,
                    self.part,
                    schema.id
                )
            })
        };
        Ok(match self.strategy {
            SubjectStrategy::Topic => format!("{topic}-{}", self.part),
            SubjectStrategy::Record => record_name()?,
            SubjectStrategy::TopicRecord => format!("{topic}-{}", record_name()?),
        })
    }

    fn compiled(&self, registered: &RegisteredSchema, version: Option<i32>) -> anyhow::Result<Arc<Compiled>> {
        let key = (registered.id, version);
        if let Some(found) = self.compiled.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(found.clone());
        }
        let compiled = Arc::new(match self.format {
            Format::Avro => Compiled::Avro(avro::AvroSchema::compile(registered.id, &registered.text, version)?),
            Format::JsonSchema => {
                Compiled::Json(json_schema::JsonSchema::compile(registered.id, &registered.text, version)?)
            }
            Format::Protobuf => Compiled::Protobuf(protobuf::ProtobufSchema::compile(
                registered.id,
                &registered.text,
                &registered.imports,
                version,
            )?),
        });
        self.compiled.write().unwrap_or_else(|e| e.into_inner()).insert(key, compiled.clone());
        Ok(compiled)
    }
}

fn split_user_info(info: &str, key: &str) -> anyhow::Result<(String, String)> {
    info.split_once(':')
        .map(|(user, password)| (user.to_string(), password.to_string()))
        .ok_or_else(|| anyhow!("`{key}` must be `<user>:<password>`"))
}
