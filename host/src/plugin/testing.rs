//! Running a plugin on sample records offline, as `sluice plugin test` does: the same
//! sandbox, limits and trap isolation as production, results as JSON lines, and comparison
//! with expected results.
//!
//! Input lines are JSON objects with optional fields `topic` (default `test`), `partition`
//! (0), `offset` (the line's index), `timestamp` (ms), `key` / `value` (text; a JSON
//! object or array is taken as its compact JSON text; `null` is a null key or a tombstone),
//! `key_base64` / `value_base64` (bytes), and `headers` (`{"name": "text"}` or
//! `[["name", "text"]]`).

use std::sync::Arc;

use anyhow::{bail, Context as _};
use base64::Engine as _;
use serde_json::{json, Value as Json};

use super::{parse_isolating, render, LoadedPlugin, PluginInstance, PluginLimits, RecordFailure};
use crate::model::{Header, KafkaRecord};

/// Reads sample records from JSON lines; errors name the line.
pub fn parse_records(text: &str) -> anyhow::Result<Vec<KafkaRecord>> {
    let mut records = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = parse_record(line, records.len() as i64).with_context(|| format!("input line {}", index + 1))?;
        records.push(record);
    }
    Ok(records)
}

fn parse_record(line: &str, default_offset: i64) -> anyhow::Result<KafkaRecord> {
    let json: Json = serde_json::from_str(line).context("not valid JSON")?;
    let Json::Object(object) = &json else { bail!("expected a JSON object") };
    for key in object.keys() {
        if !matches!(
            key.as_str(),
            "topic"
                | "partition"
                | "offset"
                | "timestamp"
                | "key"
                | "value"
                | "key_base64"
                | "value_base64"
                | "headers"
        ) {
            bail!("unknown field `{key}` (expected topic, partition, offset, timestamp, key, value, key_base64, value_base64, headers)");
        }
    }
    let int = |name: &str| -> anyhow::Result<Option<i64>> {
        match object.get(name) {
            None | Some(Json::Null) => Ok(None),
            Some(v) => v.as_i64().map(Some).with_context(|| format!("`{name}` must be an integer")),
        }
    };
    Ok(KafkaRecord {
        topic: object.get("topic").and_then(Json::as_str).unwrap_or("test").into(),
        partition: int("partition")?.unwrap_or(0) as i32,
        offset: int("offset")?.unwrap_or(default_offset),
        timestamp_ms: int("timestamp")?,
        key: bytes(object, "key")?,
        value: bytes(object, "value")?,
        headers: headers(object.get("headers"))?,
    })
}

fn bytes(object: &serde_json::Map<String, Json>, name: &str) -> anyhow::Result<Option<Vec<u8>>> {
    if let Some(encoded) = object.get(&format!("{name}_base64")) {
        let text = encoded.as_str().with_context(|| format!("`{name}_base64` must be a string"))?;
        return Ok(Some(
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .with_context(|| format!("`{name}_base64` is not base64"))?,
        ));
    }
    Ok(match object.get(name) {
        None | Some(Json::Null) => None,
        Some(Json::String(text)) => Some(text.as_bytes().to_vec()),
        Some(other) => Some(other.to_string().into_bytes()),
    })
}

fn headers(value: Option<&Json>) -> anyhow::Result<Vec<Header>> {
    let header = |key: &str, value: &Json| -> anyhow::Result<Header> {
        Ok(Header {
            key: key.to_string(),
            value: match value {
                Json::Null => None,
                Json::String(s) => Some(s.as_bytes().to_vec()),
                other => bail!("header `{key}` must be a string or null, not {other}"),
            },
        })
    };
    match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Object(map)) => map.iter().map(|(k, v)| header(k, v)).collect(),
        Some(Json::Array(pairs)) => pairs
            .iter()
            .map(|pair| match pair.as_array().map(Vec::as_slice) {
                Some([Json::String(k), v]) => header(k, v),
                _ => bail!("`headers` entries must be [\"name\", \"value\"] pairs"),
            })
            .collect(),
        Some(_) => bail!("`headers` must be an object or a list of pairs"),
    }
}

/// Parses `records` in batches of `batch_size` under `limits`, isolating records that make
/// the plugin fail, and renders one JSON line per record: `{"offset", "outputs"}` or
/// `{"offset", "error": {"code", "message", "field"}}`.
pub fn run(
    plugin: Arc<LoadedPlugin>,
    settings: &[(String, String)],
    limits: PluginLimits,
    records: &[KafkaRecord],
    batch_size: usize,
) -> anyhow::Result<Vec<Json>> {
    let label: Arc<str> = Arc::from(plugin.name.as_str());
    let mut make = || PluginInstance::new(plugin.clone(), settings, limits, label.clone());
    let mut slot = Some(make().context("starting the plugin")?);
    let mut lines = Vec::with_capacity(records.len());
    for batch in records.chunks(batch_size.max(1)) {
        let outcomes = parse_isolating(&mut slot, &mut make, batch).context("restarting the plugin")?;
        for (record, outcome) in batch.iter().zip(outcomes) {
            lines.push(match outcome {
                Ok(outputs) => json!({
                    "offset": record.offset,
                    "outputs": outputs.iter().map(render::output).collect::<Vec<_>>(),
                }),
                Err(RecordFailure::Plugin(error)) => json!({"offset": record.offset, "error": render::error(&error)}),
                Err(RecordFailure::Sandbox(failure)) => json!({
                    "offset": record.offset,
                    "error": {"code": failure.kind.code(), "message": failure.message, "field": null},
                }),
                Err(RecordFailure::Transform(failure)) => json!({
                    "offset": record.offset,
                    "error": {"code": "transform", "message": failure.message, "field": failure.field},
                }),
            });
        }
    }
    Ok(lines)
}

/// One record whose result differs from the expected one.
#[derive(Debug)]
pub struct Mismatch {
    /// 1-based position of the record in the input.
    pub position: usize,
    /// Expected line (or none when the expectation file is shorter).
    pub expected: Option<Json>,
    /// Actual line (or none when there are fewer results than expectations).
    pub actual: Option<Json>,
}

/// Compares results with expected JSON lines. An expected error object matches when every
/// field it gives matches (so expectations may leave out `message`); everything else must be
/// equal.
pub fn compare(actual: &[Json], expected_text: &str) -> anyhow::Result<Vec<Mismatch>> {
    let expected: Vec<Json> = expected_text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).with_context(|| format!("expected line {} is not valid JSON", i + 1)))
        .collect::<anyhow::Result<_>>()?;
    let mut mismatches = Vec::new();
    for position in 0..actual.len().max(expected.len()) {
        let (a, e) = (actual.get(position), expected.get(position));
        let same = match (a, e) {
            (Some(a), Some(e)) => matches(a, e),
            _ => false,
        };
        if !same {
            mismatches.push(Mismatch { position: position + 1, expected: e.cloned(), actual: a.cloned() });
        }
    }
    Ok(mismatches)
}

/// The first place two JSON values differ, as `(path, expected, actual)`.
pub fn first_difference(expected: &Json, actual: &Json) -> Option<(String, String, String)> {
    fn walk(path: String, e: &Json, a: &Json) -> Option<(String, String, String)> {
        match (e, a) {
            (Json::Object(eo), Json::Object(ao)) => {
                for (k, ev) in eo {
                    let child = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    match ao.get(k) {
                        Some(av) => {
                            if let Some(d) = walk(child, ev, av) {
                                return Some(d);
                            }
                        }
                        None => return Some((child, ev.to_string(), "(missing)".into())),
                    }
                }
                ao.iter().find(|(k, _)| !eo.contains_key(*k)).map(|(k, v)| {
                    (if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, "(missing)".into(), v.to_string())
                })
            }
            (Json::Array(ea), Json::Array(aa)) => {
                for (i, (ev, av)) in ea.iter().zip(aa).enumerate() {
                    if let Some(d) = walk(format!("{path}[{i}]"), ev, av) {
                        return Some(d);
                    }
                }
                (ea.len() != aa.len()).then(|| (format!("{path}.length"), ea.len().to_string(), aa.len().to_string()))
            }
            _ => (e != a).then(|| (path, e.to_string(), a.to_string())),
        }
    }
    walk(String::new(), expected, actual)
}

fn matches(actual: &Json, expected: &Json) -> bool {
    match (actual.get("error"), expected.get("error")) {
        (Some(Json::Object(a)), Some(Json::Object(e))) => {
            actual.get("offset") == expected.get("offset") && e.iter().all(|(k, v)| a.get(k) == Some(v))
        }
        _ => actual == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_take_text_json_base64_and_headers() {
        let records = parse_records(
            "{\"value\":\"a\",\"key\":\"k\",\"headers\":{\"h\":\"v\"}}\n\n{\"value\":{\"x\":1},\"offset\":9,\"partition\":2,\"topic\":\"t\"}\n{\"value_base64\":\"AAE=\",\"value\":null,\"headers\":[[\"n\",null]]}\n",
        )
        .unwrap();
        assert_eq!(records.len(), 3);
        assert_eq!((records[0].offset, records[0].key.as_deref()), (0, Some(&b"k"[..])));
        assert_eq!(records[0].headers[0].value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            (records[1].offset, records[1].partition, records[1].value.as_deref()),
            (9, 2, Some(&b"{\"x\":1}"[..]))
        );
        assert_eq!(records[2].value.as_deref(), Some(&[0u8, 1][..]));
        assert_eq!(records[2].headers[0].value, None);
    }

    #[test]
    fn bad_input_names_the_line() {
        let error = parse_records("{}\n{\"vaule\":1}\n").unwrap_err();
        assert!(format!("{error:#}").contains("input line 2") && format!("{error:#}").contains("vaule"));
    }

    #[test]
    fn expected_errors_may_leave_out_the_message() {
        let actual = vec![json!({"offset": 0, "error": {"code": "x", "message": "long", "field": null}})];
        assert!(compare(&actual, "{\"offset\":0,\"error\":{\"code\":\"x\"}}\n").unwrap().is_empty());
        assert_eq!(compare(&actual, "{\"offset\":0,\"error\":{\"code\":\"y\"}}\n").unwrap().len(), 1);
        assert_eq!(compare(&actual, "").unwrap().len(), 1);
    }
}
