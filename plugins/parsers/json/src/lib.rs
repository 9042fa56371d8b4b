//! sluice's default parser: Kafka Connect's `JsonConverter` (plus `StringConverter` and
//! `ByteArrayConverter`) combined with the Tablestore connector's `DefaultEventParser`.
//!
//! Each record becomes one `put` row for the connector's default table. The primary key
//! follows `primarykey.mode`; the columns follow the value converter:
//!
//! - plain JSON: an object's fields become columns in document order, a top-level scalar or
//!   array becomes one column `value`;
//! - a Kafka Connect envelope (`{"schema": ..., "payload": ...}`): the schema types the
//!   columns, including the `Decimal`, `Timestamp`, `Date` and `Time` logical types;
//! - `StringConverter` / `ByteArrayConverter`: one `value` column of text / binary.
//!
//! Null values (tombstones) produce no output. See [`JsonParser`] for the settings.
#![warn(missing_docs)]

mod config;
mod converter;
mod decimal;
mod envelope;
mod plain;
mod primary_key;

use sluice_plugin_sdk::{
    export_parser, KafkaRecord, Output, Parser, PluginError, Row, Settings, WriteKind,
};

use config::Config;

/// The JSON parser. Settings (all optional):
///
/// - `value.converter` / `key.converter`: a Kafka Connect converter class
///   (`org.apache.kafka.connect.json.JsonConverter`, the default,
///   `org.apache.kafka.connect.storage.StringConverter` or
///   `org.apache.kafka.connect.converters.ByteArrayConverter`);
/// - `value.converter.schemas.enable` / `key.converter.schemas.enable`: `true` requires the
///   `{"schema","payload"}` envelope, `false` reads plain JSON. When neither the converter
///   nor this key is set, an object with exactly the keys `schema` and `payload` is read as
///   an envelope; when only the converter is set, Kafka Connect's default (`true`) applies;
/// - `primarykey.mode`: `kafka` (default: `topic_partition` and `offset`), `record_key`
///   (the record key's fields) or `none`;
/// - `json.integers`: `int64` (default) or `text`, the type of schemaless JSON integers.
#[derive(Debug)]
pub struct JsonParser {
    config: Config,
}

impl Parser for JsonParser {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        Ok(JsonParser {
            config: Config::from_settings(&settings)?,
        })
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let Some(bytes) = record.value.as_deref() else {
            return Ok(Vec::new());
        };
        let Some(mut columns) = self.config.value.decode(bytes, "value")? else {
            return Ok(Vec::new());
        };
        let primary_key = self.config.primary_key.columns(record, &mut columns)?;
        Ok(vec![Output::Row(Row {
            table: None,
            kind: WriteKind::Put,
            primary_key,
            columns,
            deleted_columns: Vec::new(),
        })])
    }
}

export_parser!(JsonParser);
