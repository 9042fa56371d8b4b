//! `primarykey.mode`: how a row's primary key is built.
//!
//! Adding a mode means a new [`Mode`] variant, its name in [`MODES`], and a branch in
//! [`PrimaryKey::columns`].

use md5::{Digest, Md5};
use sluice_plugin_sdk::{Column, KafkaRecord, PluginError, Settings, Value};

use crate::converter::Converter;
use crate::tablestore::{convert, Kind, TableSettings};

/// The setting choosing the mode.
const SETTING: &str = "primarykey.mode";

/// Accepted values of [`SETTING`], the default first.
const MODES: [&str; 5] = ["kafka", "record_key", "none", "record_value", "search"];

/// A primary key mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `topic_partition` (`"<topic>_<partition>"`) and `offset`, as the Tablestore connector.
    Kafka,
    /// The record key's fields (an object) or one column `key` (a scalar); with
    /// `tablestore.<table>.primarykey.name/type`, the named fields, typed.
    RecordKey,
    /// The named fields of the record value (`tablestore.<table>.primarykey.name/type`).
    RecordValue,
    /// `md5` (5 hex digits of md5 of `<topic>_<partition>_<offset>`), `topic`, `partition`,
    /// `offset`, plus a `timestamp` column (the record timestamp in milliseconds).
    Search,
    /// No primary key columns.
    None,
}

/// Builds primary keys according to the configured mode.
#[derive(Debug)]
pub(crate) struct PrimaryKey {
    pub(crate) mode: Mode,
    key_converter: Converter,
}

/// A record's primary key, and what is left of the record key (its non-key fields).
pub(crate) struct Key {
    /// Primary key columns in order.
    pub(crate) columns: Vec<Column>,
    /// Record key fields not used in the primary key (`record_key` mode).
    pub(crate) rest: Vec<Column>,
}

impl PrimaryKey {
    /// Read `primarykey.mode`; `key_converter` decodes record keys in `record_key` mode.
    pub(crate) fn from_settings(settings: &Settings, key_converter: Converter) -> Result<Self, PluginError> {
        let mode = match settings.get_choice(SETTING, MODES[0], &MODES)? {
            "record_key" => Mode::RecordKey,
            "record_value" => Mode::RecordValue,
            "search" => Mode::Search,
            "none" => Mode::None,
            _ => Mode::Kafka,
        };
        if let Some((key, value)) = settings
            .keys_with_prefix("tablestore.")
            .find(|(k, v)| k.ends_with(".search.timestamp.type") && !v.trim().eq_ignore_ascii_case("kafka"))
        {
            return Err(PluginError::new(
                "bad-setting",
                format!("{key}={value} is not supported: parsers have no clock, so the `timestamp` column is the record's (kafka)"),
            )
            .with_field(key));
        }
        Ok(PrimaryKey { mode, key_converter })
    }

    /// The primary key of `record`. `topic_partition` is `"<topic>_<partition>"`. `value`
    /// holds the value's columns (`None` for a null value); `record_value` mode moves the key
    /// fields out of it. `table` names the destination and `spec` its configured key, for
    /// messages and typing.
    pub(crate) fn columns(
        &self,
        record: &KafkaRecord,
        topic_partition: &str,
        value: Option<&mut Vec<Column>>,
        table: &str,
        spec: Option<&TableSettings>,
    ) -> Result<Key, PluginError> {
        let spec = spec.and_then(|s| s.primary_key.as_deref());
        let columns = match self.mode {
            Mode::Kafka => vec![Column::new("topic_partition", topic_partition), Column::new("offset", record.offset)],
            Mode::Search => {
                let digest = Md5::digest(format!("{}_{}_{}", record.topic, record.partition, record.offset).as_bytes());
                let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
                vec![
                    Column::new("md5", hex[..5].to_string()),
                    Column::new("topic", record.topic.clone()),
                    Column::new("partition", i64::from(record.partition)),
                    Column::new("offset", record.offset),
                ]
            }
            Mode::RecordKey => {
                let mut key = self.record_key_columns(record)?;
                return match spec {
                    None => Ok(Key { columns: key, rest: Vec::new() }),
                    Some(spec) => {
                        let columns = take(&mut key, spec, "key")?;
                        Ok(Key { columns, rest: key })
                    }
                };
            }
            Mode::RecordValue => {
                let spec = spec.ok_or_else(|| {
                    PluginError::new(
                        "bad-setting",
                        format!("primarykey.mode=record_value needs tablestore.{table}.primarykey.name and .type"),
                    )
                    .with_field(format!("tablestore.{table}.primarykey.name"))
                })?;
                let value = value.ok_or_else(|| {
                    PluginError::new(
                        "missing-value",
                        "primarykey.mode=record_value needs a record value, but the value is null",
                    )
                    .with_field("value")
                })?;
                take(value, spec, "value")?
            }
            Mode::None => Vec::new(),
        };
        Ok(Key { columns, rest: Vec::new() })
    }

    fn record_key_columns(&self, record: &KafkaRecord) -> Result<Vec<Column>, PluginError> {
        let missing = || {
            PluginError::new("missing-key", format!("{SETTING}=record_key needs a record key, but the key is null"))
                .with_field("key")
        };
        let bytes = record.key.as_deref().ok_or_else(missing)?;
        match self.key_converter.decode(bytes, "key") {
            Ok(Some(columns)) => Ok(columns),
            Ok(None) => Err(missing()),
            Err(mut err) => {
                err.message = format!("record key: {}", err.message);
                err.field.get_or_insert_with(|| "key".to_owned());
                Err(err)
            }
        }
    }
}

/// Moves the configured key fields out of `columns`, typed. A side that decoded to one
/// scalar (named `side`) gives the value of a single-column key.
fn take(columns: &mut Vec<Column>, spec: &[(String, Kind)], side: &str) -> Result<Vec<Column>, PluginError> {
    let scalar = columns.len() == 1 && columns[0].name == side && spec.len() == 1 && spec[0].0 != side;
    let mut out = Vec::with_capacity(spec.len());
    for (name, kind) in spec {
        let found = if scalar {
            Some(columns.remove(0).value)
        } else {
            columns.iter().position(|c| &c.name == name).map(|i| columns.remove(i).value)
        };
        let value = match (found, kind) {
            (_, Kind::AutoIncrement) => Value::Null,
            (Some(value), kind) if !value.is_null() => convert(value, *kind, name)?,
            (found, _) => {
                let what = if found.is_some() { "is null" } else { "is missing" };
                return Err(PluginError::new(
                    "missing-field",
                    format!("primary key field {name} {what} in the record {side}"),
                )
                .with_field(name.clone()));
            }
        };
        out.push(Column { name: name.clone(), value });
    }
    Ok(out)
}
