//! sluice's MaxCompute mapper: the open-source MaxCompute sink connector's record
//! converters as a parser component. Every record becomes one `put` row whose columns are
//! named after the table's columns (the sink maps them by name onto the upload session's
//! schema):
//!
//! - `topic` (text), `partition` and `offset` (int64) in every mode;
//! - `mode=DEFAULT`: `key` and `value`; `mode=KEY`: only `key`; `mode=VALUE`: only `value`
//!   (a null key or value is NULL);
//! - `format=TEXT`: the bytes as UTF-8 text; `format=BINARY`: the raw bytes;
//! - `format=CSV` (with KEY or VALUE only): the key or value is one CSV line whose fields
//!   fill the table's other columns in table order, converted to each column's type;
//!   `\N` is NULL and a field-count mismatch rejects the record.
#![warn(missing_docs)]

mod csv;
mod settings;

use sluice_plugin_sdk::{export_parser, row, KafkaRecord, Output, Parser, PluginError, Settings, Value};

use settings::{Config, Format, Mode};

/// The MaxCompute mapper. Settings: `mode` (DEFAULT), `format` (TEXT), `csv_delimiter`
/// (`,`), and `maxcompute.table.columns` (`name:type,...`, supplied by the MaxCompute sink
/// from the table's schema; needed for CSV).
#[derive(Debug)]
pub struct MaxComputeParser {
    config: Config,
}

impl Parser for MaxComputeParser {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        Ok(MaxComputeParser { config: Config::from_settings(&settings)? })
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let mut row = row()
            .column("topic", record.topic.as_str())
            .column("partition", i64::from(record.partition))
            .column("offset", record.offset);
        let chosen: &[(&str, Option<&[u8]>)] = match self.config.mode {
            Mode::Default => &[("key", record.key.as_deref()), ("value", record.value.as_deref())],
            Mode::Key => &[("key", record.key.as_deref())],
            Mode::Value => &[("value", record.value.as_deref())],
        };
        for &(name, bytes) in chosen {
            match self.config.format {
                Format::Text => row = row.column(name, text(name, bytes)?),
                Format::Binary => row = row.column(name, bytes.map_or(Value::Null, |b| Value::Binary(b.to_vec()))),
                Format::Csv => {
                    let bytes = bytes.ok_or_else(|| {
                        PluginError::new(
                            "missing-csv",
                            format!("the record's {name} is null; format=CSV needs a CSV line there"),
                        )
                        .with_field(name)
                    })?;
                    let line = std::str::from_utf8(bytes).map_err(|_| not_utf8(name))?;
                    row = row.columns(csv::columns(&self.config, line)?);
                }
            }
        }
        Ok(vec![row.build().into()])
    }
}

fn text(name: &str, bytes: Option<&[u8]>) -> Result<Value, PluginError> {
    match bytes {
        None => Ok(Value::Null),
        Some(b) => std::str::from_utf8(b).map(|s| Value::Text(s.to_string())).map_err(|_| not_utf8(name)),
    }
}

fn not_utf8(name: &str) -> PluginError {
    PluginError::new(
        "invalid-utf8",
        format!("the record's {name} is not UTF-8 text; use format=BINARY to store raw bytes"),
    )
    .with_field(name)
}

export_parser!(MaxComputeParser);

#[cfg(test)]
mod tests {
    use sluice_plugin_sdk::{Column, Row};

    use super::*;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> KafkaRecord {
        KafkaRecord {
            topic: "maxcompute-test-input".into(),
            partition: 0,
            offset: 7,
            timestamp_ms: None,
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
        }
    }

    fn parser(pairs: &[(&str, &str)]) -> Result<MaxComputeParser, PluginError> {
        MaxComputeParser::configure(pairs.iter().copied().collect())
    }

    fn columns(output: &[Output]) -> Vec<Column> {
        match output {
            [Output::Row(Row { columns, .. })] => columns.clone(),
            other => panic!("expected one row, got {other:?}"),
        }
    }

    #[test]
    fn default_text_sets_key_and_value() {
        let out = parser(&[]).unwrap().parse_one(&record(Some(b"1"), Some(b"1"))).unwrap();
        let names: Vec<(String, Value)> = columns(&out).into_iter().map(|c| (c.name, c.value)).collect();
        assert_eq!(
            names,
            vec![
                ("topic".into(), Value::Text("maxcompute-test-input".into())),
                ("partition".into(), Value::Int64(0)),
                ("offset".into(), Value::Int64(7)),
                ("key".into(), Value::Text("1".into())),
                ("value".into(), Value::Text("1".into())),
            ]
        );
    }

    #[test]
    fn key_mode_binary_and_nulls() {
        let out = parser(&[("mode", "KEY"), ("format", "BINARY")])
            .unwrap()
            .parse_one(&record(Some(&[0xff]), Some(b"v")))
            .unwrap();
        let cols = columns(&out);
        assert_eq!(cols.len(), 4);
        assert_eq!(cols[3], Column::new("key", Value::Binary(vec![0xff])));
        let out = parser(&[("mode", "value")]).unwrap().parse_one(&record(Some(b"k"), None)).unwrap();
        assert_eq!(columns(&out)[3], Column::new("value", Value::Null));
        let error = parser(&[]).unwrap().parse_one(&record(Some(&[0xff]), None)).unwrap_err();
        assert_eq!(error.code, "invalid-utf8");
    }

    #[test]
    fn default_with_csv_is_refused() {
        let error = parser(&[("format", "CSV")]).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("format"));
    }
}

// A free list per small size in front of the default allocator: the same few sizes are
// allocated and freed for every record (see sluice_plugin_sdk::alloc).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: sluice_plugin_sdk::alloc::SizeClassCache<std::alloc::System> =
    sluice_plugin_sdk::alloc::SizeClassCache::new(std::alloc::System);
