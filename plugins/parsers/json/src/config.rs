//! Settings, read once in `configure`.

use sluice_plugin_sdk::{PluginError, Settings};

use crate::converter::{Converter, Envelope, Integers};
use crate::direct::Plan;
use crate::primary_key::{Mode, PrimaryKey};
use crate::tablestore::{self, Mapping};
use crate::timeseries::TimeseriesMapping;

/// Setting choosing how schemaless JSON integers are typed.
const INTEGERS: &str = "json.integers";

/// Everything the parser needs per record, decided once from the settings.
#[derive(Debug)]
pub(crate) struct Config {
    /// How record values are decoded.
    pub(crate) value: Converter,
    /// How the primary key is built.
    pub(crate) primary_key: PrimaryKey,
    /// Tables, typed keys, whitelists, insert and delete modes.
    pub(crate) mapping: Mapping,
    /// Whether the connector writes to Tablestore (its tombstone, null and table rules apply).
    pub(crate) tablestore: bool,
    /// The time-series mapping (`tablestore.mode=timeseries`).
    pub(crate) timeseries: Option<TimeseriesMapping>,
    /// The fast path's plan, when the settings allow it for every record (see `direct`).
    pub(crate) direct: Option<Plan>,
}

impl Config {
    /// Read and validate the settings; errors name the offending key.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Self, PluginError> {
        let integers = match settings.get_choice(INTEGERS, "int64", &["int64", "text"])? {
            "text" => Integers::Text,
            _ => Integers::Int64,
        };
        let value = Converter::from_settings(settings, "value.converter", integers)?;
        let key = Converter::from_settings(settings, "key.converter", integers)?;
        let primary_key = PrimaryKey::from_settings(settings, key)?;
        let mapping = Mapping::from_settings(settings)?;
        let tablestore = tablestore::is_tablestore(settings);
        let timeseries = TimeseriesMapping::from_settings(settings)?;
        // The fast path writes `put` rows of schemaless objects keyed without the value.
        let direct = match value {
            Converter::Json { envelope, integers }
                if envelope != Envelope::Required
                    && matches!(primary_key.mode, Mode::Kafka | Mode::None)
                    && timeseries.is_none()
                    && !(tablestore && mapping.update) =>
            {
                Some(Plan { integers, detect_envelope: envelope == Envelope::Auto, drop_nulls: tablestore })
            }
            _ => None,
        };
        Ok(Config { value, primary_key, mapping, tablestore, timeseries, direct })
    }
}
