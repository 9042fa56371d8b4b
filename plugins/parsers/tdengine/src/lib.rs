//! sluice's parser for the TDengine sink.
//!
//! By default it is the schemaless passthrough of the Java connector: each record value is
//! InfluxDB line protocol, OpenTSDB telnet or OpenTSDB JSON (`db.schemaless`). The parser
//! checks it the way TDengine will, so a malformed record is rejected on its own with a
//! precise message instead of failing a whole request, and normalises it (line breaks,
//! blank lines, pretty-printed JSON) into one `raw` output.
//!
//! With `tdengine.mapping.measurement` (or `.measurement.field`) set, record values are
//! JSON objects mapped to typed `point`s instead; see [`mapping`].
//!
//! Null values (tombstones) produce no output.
#![warn(missing_docs)]

mod json;
mod line;
pub mod mapping;
mod telnet;
mod value;

use sluice_plugin_sdk::{export_parser, raw, KafkaRecord, Output, Parser, PluginError, Settings};

use mapping::Mapping;

/// The schemaless format of record values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// InfluxDB line protocol.
    Line,
    /// OpenTSDB telnet.
    Telnet,
    /// OpenTSDB JSON.
    Json,
}

/// The TDengine parser; see the crate documentation.
#[derive(Debug)]
pub enum TdengineParser {
    /// Schemaless passthrough.
    Passthrough(Format),
    /// JSON objects mapped to points.
    Mapping(Mapping),
}

impl Parser for TdengineParser {
    fn configure(settings: Settings) -> Result<Self, PluginError> {
        if let Some(mapping) = Mapping::from_settings(&settings)? {
            return Ok(TdengineParser::Mapping(mapping));
        }
        let format = match settings.get("db.schemaless").map(|s| s.trim().to_ascii_lowercase()).as_deref() {
            None | Some("line") => Format::Line,
            Some("telnet") => Format::Telnet,
            Some("json") => Format::Json,
            Some(other) => {
                return Err(PluginError::new(
                    "bad-setting",
                    format!("db.schemaless must be line, telnet or json, not {other:?}"),
                )
                .with_field("db.schemaless"))
            }
        };
        Ok(TdengineParser::Passthrough(format))
    }

    fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
        let Some(bytes) = record.value.as_deref() else {
            return Ok(Vec::new());
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            PluginError::new(
                "invalid-utf8",
                format!("the value is not UTF-8 text ({e}); TDengine schemaless data is text"),
            )
        })?;
        match self {
            TdengineParser::Mapping(mapping) => Ok(vec![mapping.point(record, text)?.into()]),
            TdengineParser::Passthrough(format) => {
                let (name, normalised) = match format {
                    Format::Line => ("line", line::normalise(text)?),
                    Format::Telnet => ("telnet", telnet::normalise(text)?),
                    Format::Json => ("json", json::normalise(text)?),
                };
                Ok(vec![raw(name, normalised).into()])
            }
        }
    }
}

/// The non-blank lines of a record without `\r`, numbered from 1.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n').enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r'))).filter(|(_, l)| !l.trim().is_empty())
}

/// The error for a value with nothing to write.
fn empty(format: &str) -> PluginError {
    PluginError::new("empty-record", format!("the value holds no {format} data (only blank lines or comments)"))
}

export_parser!(TdengineParser);

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_plugin_sdk::Raw;

    fn record(value: Option<&str>) -> KafkaRecord {
        KafkaRecord {
            topic: "meters".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: Some(1_648_432_611_249),
            key: None,
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: Vec::new(),
        }
    }

    fn parser(pairs: &[(&str, &str)]) -> TdengineParser {
        TdengineParser::configure(pairs.iter().copied().collect()).unwrap()
    }

    #[test]
    fn passthrough_normalises_and_rejects_precisely() {
        let mut p = parser(&[("db.schemaless", "line")]);
        let out =
            p.parse_one(&record(Some("meters,location=a current=1 1\r\n\r\nmeters,location=b current=2 2\n"))).unwrap();
        assert_eq!(
            out,
            vec![Output::Raw(Raw {
                format: "line".into(),
                data: b"meters,location=a current=1 1\nmeters,location=b current=2 2".to_vec()
            })]
        );
        assert_eq!(p.parse_one(&record(None)).unwrap(), vec![]);
        let error = p.parse_one(&record(Some("meters current=1x 1"))).unwrap_err();
        assert_eq!(error.code, "invalid-line");
        assert!(error.message.contains("`current`") && error.message.contains("1x"), "{}", error.message);
        assert_eq!(p.parse_one(&record(Some(" \n"))).unwrap_err().code, "empty-record");
        let mut t = parser(&[("db.schemaless", "telnet")]);
        assert!(t.parse_one(&record(Some("put sys.cpu 1648432611 3.5 host=a"))).is_ok());
        assert!(t.parse_one(&record(Some("sys.cpu 16484326 3.5 host=a"))).unwrap_err().message.contains("10 digits"));
        let mut j = parser(&[("db.schemaless", "json")]);
        let out = j
            .parse_one(&record(Some(
                "{\n \"metric\": \"m\", \"timestamp\": 1648432611249, \"value\": 1, \"tags\": {\"t\": \"a\"}\n}",
            )))
            .unwrap();
        assert_eq!(
            out,
            vec![Output::Raw(Raw {
                format: "json".into(),
                data: br#"{"metric":"m","timestamp":1648432611249,"value":1,"tags":{"t":"a"}}"#.to_vec()
            })]
        );
        assert!(TdengineParser::configure([("db.schemaless", "csv")].into_iter().collect()).is_err());
    }
}

// A free list per small size in front of the default allocator: the same few sizes are
// allocated and freed for every record (see sluice_plugin_sdk::alloc).
#[cfg(all(not(target_feature = "atomics"), target_family = "wasm"))]
#[global_allocator]
static ALLOCATOR: sluice_plugin_sdk::alloc::SizeClassCache<std::alloc::System> =
    sluice_plugin_sdk::alloc::SizeClassCache::new(std::alloc::System);
