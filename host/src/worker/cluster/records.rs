//! The config topic's records, in Kafka Connect's format (`KafkaConfigBackingStore`, values
//! as its `JsonConverter` with `schemas.enable=false` writes them), so a sluice cluster can
//! read a Kafka Connect cluster's config topic:
//!
//! | key | value |
//! |---|---|
//! | `connector-<name>` | `{"properties": {…}}`; a tombstone deletes the connector |
//! | `target-state-<name>` | `{"state": "STARTED"\|"PAUSED", "state.v2": "STARTED"\|"PAUSED"\|"STOPPED"}` |
//! | `restart-connector-<name>` | `{"include-tasks": bool, "only-failed": bool}` |
//!
//! Kafka Connect's other records (`task-<name>-<n>`, `commit-<name>`, `session-key`) are read
//! and skipped: sluice derives its tasks from the connector config.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::worker::TargetState;

const CONNECTOR_PREFIX: &str = "connector-";
const TARGET_STATE_PREFIX: &str = "target-state-";
const RESTART_PREFIX: &str = "restart-connector-";

/// One record of the config topic, as sluice reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRecord {
    /// A connector's configuration; `None` (a tombstone) deletes it.
    Connector {
        /// The connector.
        name: String,
        /// Its configuration.
        config: Option<BTreeMap<String, String>>,
    },
    /// A connector's target state; `None` (a tombstone) forgets it.
    TargetState {
        /// The connector.
        name: String,
        /// Its target state.
        target: Option<TargetState>,
    },
    /// A request to restart a connector (on every worker running it).
    Restart {
        /// The connector.
        name: String,
        /// Only where it has FAILED.
        only_failed: bool,
    },
    /// A record sluice does not use (task configs, commits, session keys).
    Skipped,
}

/// The key of a connector's configuration record.
pub fn connector_key(name: &str) -> String {
    format!("{CONNECTOR_PREFIX}{name}")
}

/// The key of a connector's target-state record.
pub fn target_state_key(name: &str) -> String {
    format!("{TARGET_STATE_PREFIX}{name}")
}

/// The value of a connector's configuration record.
pub fn connector_value(config: &BTreeMap<String, String>) -> Vec<u8> {
    json!({ "properties": config }).to_string().into_bytes()
}

/// The value of a target-state record. As Kafka Connect 3.5+ writes it: `state` holds what
/// older workers understand (STOPPED reads as PAUSED there), `state.v2` the real state.
pub fn target_state_value(target: TargetState) -> Vec<u8> {
    let v2 = kafka_connect_name(target);
    let v1 = if target == TargetState::Stopped { "PAUSED" } else { v2 };
    json!({ "state": v1, "state.v2": v2 }).to_string().into_bytes()
}

/// The key of a restart request.
pub fn restart_key(name: &str) -> String {
    format!("{RESTART_PREFIX}{name}")
}

/// The value of a restart request (sluice's tasks share their connector's pipeline, so the
/// whole connector restarts either way; `include-tasks` says so to Kafka Connect readers).
pub fn restart_value(only_failed: bool) -> Vec<u8> {
    json!({ "include-tasks": true, "only-failed": only_failed }).to_string().into_bytes()
}

/// Kafka Connect's name of a target state (`STARTED` for running).
fn kafka_connect_name(target: TargetState) -> &'static str {
    match target {
        TargetState::Running => "STARTED",
        TargetState::Paused => "PAUSED",
        TargetState::Stopped => "STOPPED",
    }
}

/// Reads one record; an error says what is wrong with it (the caller logs and skips it, as
/// Kafka Connect does).
pub fn decode(key: &str, value: Option<&[u8]>) -> Result<ConfigRecord, String> {
    if let Some(name) = key.strip_prefix(TARGET_STATE_PREFIX) {
        let Some(value) = value else {
            return Ok(ConfigRecord::TargetState { name: name.to_string(), target: None });
        };
        let value = payload(value)?;
        let state = value
            .get("state.v2")
            .and_then(Value::as_str)
            .or_else(|| value.get("state").and_then(Value::as_str))
            .ok_or_else(|| format!("`{key}` has no `state` field: {value}"))?;
        let target = match state {
            "STARTED" | "RUNNING" => TargetState::Running,
            "PAUSED" => TargetState::Paused,
            "STOPPED" => TargetState::Stopped,
            other => return Err(format!("`{key}` names an unknown target state `{other}`")),
        };
        return Ok(ConfigRecord::TargetState { name: name.to_string(), target: Some(target) });
    }
    if let Some(name) = key.strip_prefix(RESTART_PREFIX) {
        let Some(value) = value else { return Ok(ConfigRecord::Skipped) };
        let value = payload(value)?;
        let only_failed = value.get("only-failed").and_then(Value::as_bool).unwrap_or(false);
        return Ok(ConfigRecord::Restart { name: name.to_string(), only_failed });
    }
    if let Some(name) = key.strip_prefix(CONNECTOR_PREFIX) {
        let Some(value) = value else {
            return Ok(ConfigRecord::Connector { name: name.to_string(), config: None });
        };
        let value = payload(value)?;
        let Some(Value::Object(properties)) = value.get("properties") else {
            return Err(format!("`{key}` has no `properties` object: {value}"));
        };
        let config = properties
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.clone(), s.clone())),
                Value::Null => None,
                other => Some((k.clone(), other.to_string())),
            })
            .collect();
        return Ok(ConfigRecord::Connector { name: name.to_string(), config: Some(config) });
    }
    Ok(ConfigRecord::Skipped)
}

/// The JSON value, unwrapped from a `{"schema", "payload"}` envelope when a worker wrote it
/// with schemas enabled.
fn payload(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON ({e})"))?;
    match value {
        Value::Object(mut object) if object.contains_key("schema") && object.contains_key("payload") => {
            Ok(object.remove("payload").unwrap_or(Value::Null))
        }
        value => Ok(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_connect_records_are_read() {
        // As Kafka Connect 3.9's KafkaConfigBackingStore writes them (JsonConverter, no schemas).
        let config = br#"{"properties":{"connector.class":"FileStreamSink","name":"c1","topics":"t","tasks.max":"2"}}"#;
        let ConfigRecord::Connector { name, config: Some(config) } = decode("connector-c1", Some(config)).unwrap()
        else {
            panic!("not a connector record")
        };
        assert_eq!((name.as_str(), config["tasks.max"].as_str()), ("c1", "2"));
        let stopped = br#"{"state":"PAUSED","state.v2":"STOPPED"}"#;
        assert_eq!(
            decode("target-state-c1", Some(stopped)).unwrap(),
            ConfigRecord::TargetState { name: "c1".into(), target: Some(TargetState::Stopped) }
        );
        assert_eq!(
            decode("target-state-c1", Some(br#"{"state":"STARTED"}"#)).unwrap(),
            ConfigRecord::TargetState { name: "c1".into(), target: Some(TargetState::Running) }
        );
        assert_eq!(decode("connector-c1", None).unwrap(), ConfigRecord::Connector { name: "c1".into(), config: None });
        assert_eq!(decode("commit-c1", Some(br#"{"tasks":2}"#)).unwrap(), ConfigRecord::Skipped);
        assert_eq!(
            decode("restart-connector-c1", Some(br#"{"include-tasks":false,"only-failed":true}"#)).unwrap(),
            ConfigRecord::Restart { name: "c1".into(), only_failed: true }
        );
        assert_eq!(
            decode(&restart_key("c1"), Some(&restart_value(false))).unwrap(),
            ConfigRecord::Restart { name: "c1".into(), only_failed: false }
        );
        assert_eq!(decode("task-c1-0", Some(br#"{"properties":{}}"#)).unwrap(), ConfigRecord::Skipped);
        let enveloped = br#"{"schema":{"type":"struct"},"payload":{"state":"PAUSED"}}"#;
        assert_eq!(
            decode("target-state-c1", Some(enveloped)).unwrap(),
            ConfigRecord::TargetState { name: "c1".into(), target: Some(TargetState::Paused) }
        );
        let error = decode("target-state-c1", Some(br#"{"state":"SLEEPING"}"#)).unwrap_err();
        assert!(error.contains("SLEEPING") && error.contains("target-state-c1"), "{error}");
    }

    #[test]
    fn written_records_read_back_and_match_kafka_connect_shapes() {
        let config = BTreeMap::from([("name".to_string(), "c1".to_string())]);
        assert_eq!(connector_value(&config), br#"{"properties":{"name":"c1"}}"#.to_vec());
        assert_eq!(
            decode(&connector_key("c1"), Some(&connector_value(&config))).unwrap(),
            ConfigRecord::Connector { name: "c1".into(), config: Some(config) }
        );
        let stopped: Value = serde_json::from_slice(&target_state_value(TargetState::Stopped)).unwrap();
        assert_eq!(stopped, json!({"state": "PAUSED", "state.v2": "STOPPED"}));
        for target in [TargetState::Running, TargetState::Paused, TargetState::Stopped] {
            assert_eq!(
                decode(&target_state_key("c1"), Some(&target_state_value(target))).unwrap(),
                ConfigRecord::TargetState { name: "c1".into(), target: Some(target) }
            );
        }
    }
}
