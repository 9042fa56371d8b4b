//! sluice's default parser: Kafka Connect's `JsonConverter` (plus `StringConverter`,
//! `ByteArrayConverter` and the number and boolean converters) combined with the Tablestore
//! connector's `DefaultEventParser`.
//!
//! Each record becomes one `put` row for the connector's default table. The primary key
//! follows `primarykey.mode`; the columns follow the value converter:
//!
//! - plain JSON: an object's fields become columns in document order, a top-level scalar or
//!   array becomes one column `value`;
//! - a Kafka Connect envelope (`{"schema": ..., "payload": ...}`): the schema types the
//!   columns, including the `Decimal`, `Timestamp`, `Date` and `Time` logical types;
//! - `StringConverter` / `ByteArrayConverter`: one `value` column of text / binary;
//! - `ShortConverter`, `IntegerConverter`, `LongConverter`, `FloatConverter`,
//!   `DoubleConverter`, `BooleanConverter`: one `value` column of that type.
//!
//! Null values (tombstones) produce no output, except for the Tablestore sink, where the
//! connector's delete rules apply (see the `tablestore` module). See [`JsonParser`] for the
//! settings.
#![warn(missing_docs)]

mod config;
mod converter;
mod decimal;
mod direct;
mod envelope;
mod plain;
mod primary_key;
mod stream;
mod tablestore;
mod timeseries;

use sluice_plugin_sdk::{
    export_parser, Column, KafkaRecord, Output, Parser, PluginError, Row, Settings, Value, WriteKind,
};

use config::Config;

/// The JSON parser. Settings (all optional):
///
/// - `value.converter` / `key.converter`: a Kafka Connect converter class
///   (`org.apache.kafka.connect.json.JsonConverter`, the default,
///   `org.apache.kafka.connect.storage.StringConverter`,
///   `org.apache.kafka.connect.converters.ByteArrayConverter` or one of the
///   `org.apache.kafka.connect.converters.{Short,Integer,Long,Float,Double,Boolean}Converter`);
/// - `value.converter.schemas.enable` / `key.converter.schemas.enable`: `true` requires the
///   `{"schema","payload"}` envelope, `false` reads plain JSON. When neither the converter
///   nor this key is set, an object with exactly the keys `schema` and `payload` is read as
///   an envelope; when only the converter is set, Kafka Connect's default (`true`) applies;
/// - `primarykey.mode`: `kafka` (default: `topic_partition` and `offset`), `record_key`
///   (the record key's fields), `record_value` (named fields of the value), `search`
///   (`md5`, `topic`, `partition`, `offset`) or `none`;
/// - `tablestore.<table>.primarykey.name/type`: the key fields and their types (`string`,
///   `integer`, `binary`, `auto_increment`) for `record_key` / `record_value`;
/// - `tablestore.<table>.columns.whitelist.name/type`: the only columns written, typed
///   (`string`, `integer`, `double`, `boolean`, `binary`);
/// - `insert.mode` (`put`/`update`), `delete.mode` (`none`, `row`, `column`,
///   `row_and_column`), `table.name.format`, `topics.assign.tables`: with the Tablestore
///   sink, as its Java connector;
/// - `json.integers`: `int64` (default) or `text`, the type of schemaless JSON integers;
/// - `tablestore.mode=timeseries` with `tablestore.timeseries.*`: one time-series `point`
///   per record instead of a row (see the `timeseries` module).
#[derive(Debug)]
pub struct JsonParser {
    config: Config,
    /// Names derived from the topic partitions seen recently, so they are not rebuilt for
    /// every record.
    names: Vec<Names>,
}

/// The destination table and the `topic_partition` key value of one topic partition.
#[derive(Debug)]
struct Names {
    topic: String,
    partition: i32,
    table: String,
    topic_partition: String,
    /// Whether this table's rows may take the fast path (no column whitelist, a key within
    /// Tablestore's size limit).
    direct: bool,
}

/// Topic partitions whose names are kept (a connector usually reads fewer).
const NAMES_KEPT: usize = 64;

impl Names {
    fn of<'a>(cache: &'a mut Vec<Names>, config: &Config, record: &KafkaRecord) -> &'a Names {
        let found = cache.iter().position(|n| n.partition == record.partition && n.topic == record.topic);
        let at = match found {
            Some(at) => at,
            None => {
                if cache.len() == NAMES_KEPT {
                    cache.clear();
                }
                let table = config.mapping.table_for(&record.topic);
                let topic_partition = format!("{}_{}", record.topic, record.partition);
                let whitelist = config.mapping.table(&table).is_some_and(|spec| spec.whitelist.is_some());
                let direct = !whitelist && topic_partition.len() <= tablestore::MAX_KEY_VALUE;
                cache.push(Names {
                    topic: record.topic.clone(),
                    partition: record.partition,
                    table,
                    topic_partition,
                    direct,
                });
                cache.len() - 1
            }
        };
        &cache[at]
    }
}

impl Parser for JsonParser {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        Ok(JsonParser { config: Config::from_settings(&settings)?, names: Vec::new() })
    }

    /// Records are independent: each one's result is encoded as soon as it is made, by the
    /// fast path when it applies (see `direct`).
    fn parse_compact(&mut self, batch: &[KafkaRecord], out: &mut Vec<u8>) {
        for record in batch {
            if !self.write_direct(record, out) {
                sluice_plugin_sdk::compact::write_result(out, &self.parse_one(record));
            }
        }
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let config = &self.config;
        let names = Names::of(&mut self.names, config, record);
        let mut value = match record.value.as_deref() {
            Some(bytes) => config.value.decode(bytes, "value")?,
            None => None,
        };
        if value.is_none() && !config.tablestore {
            return Ok(Vec::new());
        }
        let table = names.table.as_str();
        if let Some(timeseries) = &config.timeseries {
            return timeseries.point(record, table, value);
        }
        let spec = config.mapping.table(table);
        let key = config.primary_key.columns(record, &names.topic_partition, value.as_mut(), table, spec)?;
        let whitelist = spec.and_then(|s| s.whitelist.as_deref());
        let select = |mut columns: Vec<Column>| -> Result<Vec<Column>, PluginError> {
            let Some(whitelist) = whitelist else {
                return Ok(columns);
            };
            let mut out = Vec::with_capacity(whitelist.len());
            for (name, kind) in whitelist {
                if let Some(i) = columns.iter().position(|c| &c.name == name) {
                    let value = tablestore::convert(columns.swap_remove(i).value, *kind, name)?;
                    out.push(Column { name: name.clone(), value });
                }
            }
            Ok(out)
        };
        if !config.tablestore {
            let columns = select(value.unwrap_or_default())?;
            return Ok(vec![Output::Row(Row {
                table: None,
                kind: WriteKind::Put,
                primary_key: key.columns,
                columns,
                deleted_columns: Vec::new(),
            })]);
        }
        let (kind, columns, deleted_columns) = match value {
            None => (config.mapping.tombstone()?, Vec::new(), Vec::new()),
            Some(mut columns) => {
                if config.primary_key.mode == primary_key::Mode::Search {
                    columns.push(Column::new("timestamp", record.timestamp_ms.map_or(Value::Null, Value::Int64)));
                }
                for extra in key.rest {
                    columns.retain(|c| c.name != extra.name);
                    columns.push(extra);
                }
                config.mapping.columns(select(columns)?)?
            }
        };
        tablestore::check_sizes(&key.columns, &columns)?;
        Ok(vec![Output::Row(Row {
            table: Some(table.to_owned()),
            kind,
            primary_key: key.columns,
            columns,
            deleted_columns,
        })])
    }
}

impl JsonParser {
    /// Writes `record`'s result by the fast path (see `direct`) when the settings, its table
    /// and the record allow it; `false` leaves `out` unchanged.
    fn write_direct(&mut self, record: &KafkaRecord, out: &mut Vec<u8>) -> bool {
        let config = &self.config;
        let (Some(plan), Some(json)) = (config.direct, record.value.as_deref()) else {
            return false;
        };
        // No text in the row can then be over Tablestore's attribute size limit (nested JSON
        // is rewritten compactly, at most ~4.5 times longer: `1e15` becomes `1000000000000000.0`).
        if config.tablestore && json.len() > tablestore::MAX_ATTRIBUTE_VALUE / 8 {
            return false;
        }
        let names = Names::of(&mut self.names, config, record);
        if !names.direct {
            return false;
        }
        let target = direct::Target {
            table: config.tablestore.then_some(names.table.as_str()),
            kafka_key: (config.primary_key.mode == primary_key::Mode::Kafka)
                .then_some((names.topic_partition.as_str(), record.offset)),
        };
        direct::write(out, json, plan, target)
    }
}

export_parser!(JsonParser);

// Talc instead of the default dlmalloc, behind a free list per small size: allocation is a
// large share of this parser's time inside wasm (see docs/performance.md).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: sluice_plugin_sdk::alloc::SizeClassCache<talc::wasm::WasmDynamicTalc> =
    sluice_plugin_sdk::alloc::SizeClassCache::new(talc::wasm::new_wasm_dynamic_allocator());
