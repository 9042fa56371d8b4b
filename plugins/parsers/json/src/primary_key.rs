//! `primarykey.mode`: how a row's primary key is built.
//!
//! Adding a mode (e.g. `record_value`, which moves fields from the value into the key) means
//! a new [`Mode`] variant, its name in [`MODES`], and a branch in [`PrimaryKey::columns`].

use sluice_plugin_sdk::{Column, KafkaRecord, PluginError, Settings, Value};

use crate::converter::Converter;

/// The setting choosing the mode.
const SETTING: &str = "primarykey.mode";

/// Accepted values of [`SETTING`], the default first.
const MODES: [&str; 3] = ["kafka", "record_key", "none"];

/// A primary key mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `topic_partition` (`"<topic>_<partition>"`) and `offset`, as the Tablestore connector.
    Kafka,
    /// The record key's fields (an object) or one column `key` (a scalar).
    RecordKey,
    /// No primary key columns.
    None,
}

/// Builds primary keys according to the configured mode.
#[derive(Debug)]
pub(crate) struct PrimaryKey {
    mode: Mode,
    key_converter: Converter,
}

impl PrimaryKey {
    /// Read `primarykey.mode`; `key_converter` decodes record keys in `record_key` mode.
    pub(crate) fn from_settings(
        settings: &Settings,
        key_converter: Converter,
    ) -> Result<Self, PluginError> {
        let mode = match settings.get_choice(SETTING, MODES[0], &MODES)? {
            "record_key" => Mode::RecordKey,
            "none" => Mode::None,
            _ => Mode::Kafka,
        };
        Ok(PrimaryKey {
            mode,
            key_converter,
        })
    }

    /// The primary key columns of `record`. `columns` are the value's columns, passed so
    /// that a mode may take key columns from the value.
    pub(crate) fn columns(
        &self,
        record: &KafkaRecord,
        _columns: &mut Vec<Column>,
    ) -> Result<Vec<Column>, PluginError> {
        match self.mode {
            Mode::Kafka => Ok(vec![
                Column {
                    name: "topic_partition".to_owned(),
                    value: Value::Text(format!("{}_{}", record.topic, record.partition)),
                },
                Column {
                    name: "offset".to_owned(),
                    value: Value::Int64(record.offset),
                },
            ]),
            Mode::RecordKey => self.record_key_columns(record),
            Mode::None => Ok(Vec::new()),
        }
    }

    fn record_key_columns(&self, record: &KafkaRecord) -> Result<Vec<Column>, PluginError> {
        let missing = || {
            PluginError::new(
                "missing-key",
                format!("{SETTING}=record_key needs a record key, but the key is null"),
            )
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
