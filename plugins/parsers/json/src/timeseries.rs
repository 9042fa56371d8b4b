//! The Tablestore connector's time-series mapping (`TimeseriesTransformer`), active with
//! `tablestore.mode=timeseries`: each record value (a JSON object) becomes one `point`.
//!
//! Per table (`tablestore.timeseries.<table>.*`): `measurement` (a field, or `<topic>`),
//! `dataSource` (a field), `tags` (fields), `time` (a field; the Kafka timestamp when
//! unset) with `time.unit`, `field.name`/`field.type` (typed fields). Connector-wide:
//! `mapAll` (also write unconfigured fields, typed by their JSON type), `toLowerCase`
//! (lower-case field names) and sluice's `integers` (`double`, the Java connector's typing
//! of unconfigured integer fields, or `integer`).
//!
//! Unlike the Java connector, `mapAll` works without configured field types, time values
//! may be integers of any width or numeric strings, and bad records (no fields, no time, a
//! measurement with `#` or over 128 bytes, tags with `"` or `=`) are per-record errors
//! naming the field.

use std::collections::HashMap;

use sluice_plugin_sdk::{Column, KafkaRecord, Output, PluginError, Point, Settings, Value};

use crate::tablestore::{self, Kind};

/// Longest measurement name in bytes.
const MAX_MEASUREMENT: usize = 128;

fn bad(key: &str, message: String) -> PluginError {
    PluginError::new("bad-setting", message).with_field(key)
}

fn dirty(field: &str, message: String) -> PluginError {
    PluginError::new("dirty-data", message).with_field(field)
}

/// Where the measurement comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Measurement {
    /// The topic name (`<topic>`).
    Topic,
    /// A field of the value.
    Field(String),
}

/// `tablestore.timeseries.<table>.*`.
#[derive(Debug)]
struct TableMapping {
    measurement: Measurement,
    data_source: Option<String>,
    tags: Vec<String>,
    time: Option<String>,
    /// Microseconds per unit (`time.unit`), or the divisor for nanoseconds.
    unit: Unit,
    /// Configured field types, by lower-cased name.
    fields: HashMap<String, Kind>,
}

/// `time.unit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// Multiply by this many microseconds.
    Times(i64),
    /// Nanoseconds: divide by 1000.
    Nanos,
}

impl Unit {
    fn parse(text: &str, key: &str) -> Result<Unit, PluginError> {
        Ok(match text.trim().to_ascii_uppercase().as_str() {
            "NANOSECONDS" => Unit::Nanos,
            "MICROSECONDS" => Unit::Times(1),
            "MILLISECONDS" => Unit::Times(1_000),
            "SECONDS" => Unit::Times(1_000_000),
            "MINUTES" => Unit::Times(60_000_000),
            "HOURS" => Unit::Times(3_600_000_000),
            "DAYS" => Unit::Times(86_400_000_000),
            other => {
                return Err(bad(
                    key,
                    format!("{key}: `{other}` is not a time unit (SECONDS, MILLISECONDS, MICROSECONDS, NANOSECONDS)"),
                ))
            }
        })
    }

    fn to_micros(self, value: i64) -> Option<i64> {
        match self {
            Unit::Nanos => Some(value.div_euclid(1000)),
            Unit::Times(factor) => value.checked_mul(factor),
        }
    }
}

/// The time-series mapping settings.
#[derive(Debug)]
pub(crate) struct TimeseriesMapping {
    tables: HashMap<String, TableMapping>,
    map_all: bool,
    lower_case: bool,
    keep_integers: bool,
}

impl TimeseriesMapping {
    /// The mapping when the connector writes time-series tables, otherwise `None`.
    pub(crate) fn from_settings(settings: &Settings) -> Result<Option<Self>, PluginError> {
        let timeseries = settings.get("tablestore.mode").is_some_and(|m| m.trim().eq_ignore_ascii_case("timeseries"));
        if !tablestore::is_tablestore(settings) || !timeseries {
            return Ok(None);
        }
        let mut names: Vec<String> = Vec::new();
        for (key, _) in settings.keys_with_prefix("tablestore.timeseries.") {
            for suffix in [".measurement", ".time", ".field.name", ".tags", ".dataSource"] {
                if let Some(table) = key.strip_prefix("tablestore.timeseries.").and_then(|k| k.strip_suffix(suffix)) {
                    if !table.is_empty() && !names.iter().any(|n| n == table) {
                        names.push(table.to_string());
                    }
                }
            }
        }
        let list = |key: &str| -> Vec<String> {
            settings
                .get(key)
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect())
                .unwrap_or_default()
        };
        let mut tables = HashMap::new();
        for table in names {
            let prefix = format!("tablestore.timeseries.{table}");
            let measurement_key = format!("{prefix}.measurement");
            let measurement = match settings.get(&measurement_key).map(str::trim) {
                None | Some("") => {
                    return Err(bad(
                        &measurement_key,
                        format!("{measurement_key} is required: a field name, or <topic>"),
                    ))
                }
                Some(m) if m.eq_ignore_ascii_case("<topic>") => Measurement::Topic,
                Some(m) => Measurement::Field(m.to_string()),
            };
            let unit_key = format!("{prefix}.time.unit");
            let unit = Unit::parse(settings.get(&unit_key).unwrap_or("MILLISECONDS"), &unit_key)?;
            let names = list(&format!("{prefix}.field.name"));
            let type_key = format!("{prefix}.field.type");
            let types = list(&type_key);
            if names.len() != types.len() {
                return Err(bad(
                    &type_key,
                    format!(
                        "{prefix}.field.name lists {} fields but {type_key} lists {} types",
                        names.len(),
                        types.len()
                    ),
                ));
            }
            let mut fields = HashMap::new();
            for (name, kind) in names.iter().zip(&types) {
                let kind = match kind.to_ascii_lowercase().as_str() {
                    "double" => Kind::Double,
                    "integer" => Kind::Integer,
                    "string" => Kind::String,
                    "binary" => Kind::Binary,
                    "boolean" => Kind::Boolean,
                    other => {
                        return Err(bad(
                            &type_key,
                            format!("{type_key}: `{other}` is not one of double, integer, string, binary, boolean"),
                        ))
                    }
                };
                fields.insert(name.to_lowercase(), kind);
            }
            let data_source = settings
                .get(&format!("{prefix}.dataSource"))
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from);
            let time =
                settings.get(&format!("{prefix}.time")).map(str::trim).filter(|s| !s.is_empty()).map(String::from);
            tables.insert(
                table,
                TableMapping { measurement, data_source, tags: list(&format!("{prefix}.tags")), time, unit, fields },
            );
        }
        let keep_integers =
            settings.get_choice("tablestore.timeseries.integers", "double", &["double", "integer"])? == "integer";
        let map_all = settings.get_bool("tablestore.timeseries.mapAll", true)?;
        if !map_all {
            if let Some((table, _)) = tables.iter().find(|(_, t)| t.fields.is_empty()) {
                let key = format!("tablestore.timeseries.{table}.field.name");
                return Err(bad(&key, format!("tablestore.timeseries.mapAll=false writes only configured fields, so {key} and .field.type are required")));
            }
        }
        Ok(Some(TimeseriesMapping {
            tables,
            map_all,
            lower_case: settings.get_bool("tablestore.timeseries.toLowerCase", true)?,
            keep_integers,
        }))
    }

    /// The point of one record (its decoded value's columns) for `table`.
    pub(crate) fn point(
        &self,
        record: &KafkaRecord,
        table: &str,
        value: Option<Vec<Column>>,
    ) -> Result<Vec<Output>, PluginError> {
        let mapping = self.tables.get(table).ok_or_else(|| {
            PluginError::new(
                "no-mapping",
                format!(
                    "no time-series mapping for table {table}: set tablestore.timeseries.{table}.measurement (and .time, .tags, ...)"
                ),
            )
        })?;
        let Some(mut columns) = value else {
            return Err(PluginError::new(
                "dirty-data",
                "the record value is null; a time-series point needs a JSON object",
            ));
        };
        let mut take = |name: &str| -> Option<Value> {
            let i = columns.iter().position(|c| c.name == name)?;
            Some(columns.remove(i).value)
        };
        let measurement = match &mapping.measurement {
            Measurement::Topic => record.topic.clone(),
            Measurement::Field(field) => match take(field) {
                None | Some(Value::Null) => {
                    return Err(dirty(field, format!("field {field} (the measurement) is missing or null")))
                }
                Some(v) => text(v),
            },
        };
        let measurement_field = match &mapping.measurement {
            Measurement::Topic => "<topic>",
            Measurement::Field(f) => f.as_str(),
        };
        if measurement.is_empty() || measurement.contains('#') || measurement.len() > MAX_MEASUREMENT {
            return Err(dirty(
                measurement_field,
                format!(
                    "field {measurement_field}: the measurement {measurement:?} must be 1 to {MAX_MEASUREMENT} bytes without `#` (it has {} bytes)",
                    measurement.len()
                ),
            ));
        }
        let data_source = match &mapping.data_source {
            None => String::new(),
            Some(field) => match take(field) {
                None => return Err(dirty(field, format!("field {field} (the data source) is missing"))),
                Some(Value::Null) => String::new(),
                Some(v) => text(v),
            },
        };
        let mut tags = Vec::with_capacity(mapping.tags.len());
        for field in &mapping.tags {
            match take(field) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let v = text(v);
                    if v.is_empty()
                        || v.contains(['"', '='])
                        || !field.bytes().all(|b| (b'!'..=b'~').contains(&b) && b != b'"' && b != b'=')
                    {
                        return Err(dirty(field, format!("field {field}: tag {field}={v:?} is not allowed (names printable ASCII, values non-empty; neither may contain `\"` or `=`)")));
                    }
                    tags.push((field.clone(), v));
                }
            }
        }
        let time_us = match &mapping.time {
            None => record.timestamp_ms.and_then(|ms| ms.checked_mul(1000)).ok_or_else(|| {
                PluginError::new(
                    "dirty-data",
                    format!("the record has no timestamp and tablestore.timeseries.{table}.time is not set"),
                )
            })?,
            Some(field) => {
                let raw = take(field).unwrap_or(Value::Null);
                let whole = integer(&raw).ok_or_else(|| match raw {
                    Value::Null => dirty(field, format!("field {field} (the time) is missing or null")),
                    other => dirty(
                        field,
                        format!(
                            "field {field} (the time) must be an integer or a numeric string, not {}",
                            match &other {
                                Value::Text(text) =>
                                    format!("the text {:?}", text.chars().take(64).collect::<String>()),
                                value => tablestore::describe(value).to_string(),
                            }
                        ),
                    ),
                })?;
                mapping
                    .unit
                    .to_micros(whole)
                    .ok_or_else(|| dirty(field, format!("field {field}: the time {whole} is out of range")))?
            }
        };
        let mut fields: Vec<Column> = Vec::with_capacity(columns.len());
        for column in columns {
            let name = if self.lower_case { column.name.to_lowercase() } else { column.name };
            let value = match mapping.fields.get(&name.to_lowercase()) {
                Some(kind) => tablestore::convert(column.value, *kind, &name)?,
                None if self.map_all => self.infer(column.value),
                None => continue,
            };
            if value.is_null() {
                continue;
            }
            if fields.iter().any(|c| c.name == name) {
                return Err(dirty(&name, format!("field {name} appears twice (after toLowerCase)")));
            }
            fields.push(Column { name, value });
        }
        if fields.is_empty() {
            return Err(PluginError::new(
                "dirty-data",
                "the record has no fields to write (a time-series row needs at least one)",
            ));
        }
        Ok(vec![Output::Point(Point {
            table: Some(table.to_string()),
            measurement,
            data_source,
            tags,
            time_us,
            fields,
        })])
    }

    /// `mapAll` typing: numbers become doubles (or integers stay integers with
    /// `tablestore.timeseries.integers=integer`), booleans, binary and text keep their type.
    fn infer(&self, value: Value) -> Value {
        match value {
            Value::Float32(f) => Value::Float64(f.into()),
            Value::Boolean(_) | Value::Binary(_) | Value::Text(_) | Value::Float64(_) | Value::Null => value,
            Value::Uint64(u) if self.keep_integers && u > i64::MAX as u64 => Value::Float64(u as f64),
            other => match (integer(&other), self.keep_integers) {
                (Some(i), true) => Value::Int64(i),
                (Some(i), false) => Value::Float64(i as f64),
                (None, _) => other,
            },
        }
    }
}

/// A whole number from any integer value, a whole float or a numeric string.
fn integer(value: &Value) -> Option<i64> {
    Some(match value {
        Value::Int8(i) => (*i).into(),
        Value::Int16(i) => (*i).into(),
        Value::Int32(i) => (*i).into(),
        Value::Int64(i) | Value::TimestampUs(i) => *i,
        Value::Uint8(i) => (*i).into(),
        Value::Uint16(i) => (*i).into(),
        Value::Uint32(i) => (*i).into(),
        Value::Uint64(i) => i64::try_from(*i).ok()?,
        Value::Float64(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
        Value::Text(s) => {
            let s = s.trim();
            s.parse::<i64>()
                .ok()
                .or_else(|| s.parse::<f64>().ok().filter(|f| f.fract() == 0.0 && f.abs() < 9.2e18).map(|f| f as i64))?
        }
        _ => return None,
    })
}

/// A tag, measurement or data source value as text (`toString()` in the Java connector).
fn text(value: Value) -> String {
    match value {
        Value::Text(s) => s,
        Value::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
        Value::Boolean(b) => b.to_string(),
        Value::Float32(f) => f.to_string(),
        Value::Float64(f) => f.to_string(),
        other => integer(&other).map(|i| i.to_string()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(extra: &[(&str, &str)]) -> Result<TimeseriesMapping, PluginError> {
        let mut pairs: Vec<(String, String)> = vec![
            ("sluice.sink.mode".into(), "tablestore".into()),
            ("tablestore.mode".into(), "timeseries".into()),
            ("tablestore.timeseries.test.measurement".into(), "m".into()),
            ("tablestore.timeseries.test.dataSource".into(), "d".into()),
            ("tablestore.timeseries.test.tags".into(), "region,level".into()),
            ("tablestore.timeseries.test.time".into(), "timestamp".into()),
            ("tablestore.timeseries.test.time.unit".into(), "MILLISECONDS".into()),
        ];
        for (k, v) in extra {
            pairs.retain(|(key, _)| key != k);
            pairs.push((k.to_string(), v.to_string()));
        }
        Ok(TimeseriesMapping::from_settings(&Settings::new(pairs))?.expect("time-series mode"))
    }

    fn record() -> KafkaRecord {
        KafkaRecord {
            topic: "test".into(),
            partition: 0,
            offset: 7,
            timestamp_ms: Some(5),
            key: None,
            value: None,
            headers: Vec::new(),
        }
    }

    fn columns(json: &str) -> Option<Vec<Column>> {
        crate::plain::columns(serde_json::from_str(json).unwrap(), "value", crate::converter::Integers::Int64)
    }

    fn point(m: &TimeseriesMapping, json: &str) -> Result<Point, PluginError> {
        match m.point(&record(), "test", columns(json))?.remove(0) {
            Output::Point(p) => Ok(p),
            other => panic!("{other:?}"),
        }
    }

    const SEED: &str =
        r#"{"m":"cpu_usage","d":"host-1","region":"hz","level":"1","timestamp":1700000000123,"cpu":0.42,"io":7}"#;

    #[test]
    fn seed_record_with_map_all_and_no_field_types() {
        let p = point(&mapping(&[]).unwrap(), SEED).unwrap();
        assert_eq!(
            (p.measurement.as_str(), p.data_source.as_str(), p.time_us),
            ("cpu_usage", "host-1", 1_700_000_000_123_000)
        );
        assert_eq!(p.tags, vec![("region".to_string(), "hz".to_string()), ("level".to_string(), "1".to_string())]);
        assert_eq!(p.fields, vec![Column::new("cpu", 0.42f64), Column::new("io", 7.0f64)]);
        let kept = point(&mapping(&[("tablestore.timeseries.integers", "integer")]).unwrap(), SEED).unwrap();
        assert_eq!(kept.fields[1], Column::new("io", 7i64));
    }

    #[test]
    fn configured_types_map_all_off_and_lower_case() {
        let m = mapping(&[
            ("tablestore.timeseries.mapAll", "false"),
            ("tablestore.timeseries.test.field.name", "cpu,Note"),
            ("tablestore.timeseries.test.field.type", "string,string"),
        ])
        .unwrap();
        let p = point(&m, r#"{"m":"x","d":null,"timestamp":"1","cpu":1.5,"NOTE":"n","io":1}"#).unwrap();
        assert_eq!(p.fields, vec![Column::new("cpu", "1.5"), Column::new("note", "n")]);
        assert_eq!((p.data_source.as_str(), p.time_us), ("", 1000));
        let upper = mapping(&[("tablestore.timeseries.toLowerCase", "false")]).unwrap();
        assert_eq!(point(&upper, r#"{"m":"x","d":"y","timestamp":1,"CPU":1}"#).unwrap().fields[0].name, "CPU");
        assert!(mapping(&[("tablestore.timeseries.mapAll", "false")]).is_err());
    }

    #[test]
    fn time_units_and_forms() {
        for (unit, json_time, us) in [
            ("SECONDS", "2", 2_000_000),
            ("MICROSECONDS", "\"3\"", 3),
            ("NANOSECONDS", "4000", 4),
            ("MILLISECONDS", "18446744073709551615", -1),
        ] {
            let m = mapping(&[("tablestore.timeseries.test.time.unit", unit)]).unwrap();
            let result = point(&m, &format!(r#"{{"m":"x","d":"y","timestamp":{json_time},"v":1}}"#));
            match us {
                -1 => assert_eq!(result.unwrap_err().field.as_deref(), Some("timestamp")),
                us => assert_eq!(result.unwrap().time_us, us),
            }
        }
        let topic = mapping(&[("tablestore.timeseries.test.measurement", "<topic>")]).unwrap();
        assert_eq!(point(&topic, r#"{"d":"y","timestamp":1,"m":1}"#).unwrap().measurement, "test");
    }

    #[test]
    fn bad_records_name_the_field() {
        let m = mapping(&[]).unwrap();
        for (json, field) in [
            (r#"{"m":"a#b","d":"y","timestamp":1,"v":1}"#, Some("m")),
            (r#"{"d":"y","timestamp":1,"v":1}"#, Some("m")),
            (r#"{"m":"x","d":"y","v":1}"#, Some("timestamp")),
            (r#"{"m":"x","d":"y","timestamp":1,"region":"a=b","v":1}"#, Some("region")),
            (r#"{"m":"x","d":"y","timestamp":1,"level":"\"","v":1}"#, Some("level")),
            (r#"{"m":"x","timestamp":1,"v":1}"#, Some("d")),
            (r#"{"m":"x","d":"y","timestamp":1}"#, None),
        ] {
            let error = point(&m, json).unwrap_err();
            assert_eq!(error.field.as_deref(), field, "{json}: {error:?}");
        }
        let long = format!(r#"{{"m":"{}","d":"y","timestamp":1,"v":1}}"#, "m".repeat(129));
        assert!(point(&m, &long).unwrap_err().message.contains("128"));
    }
}
