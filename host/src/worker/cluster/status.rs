//! The status topic: each worker writes the state of every connector it runs, as Kafka
//! Connect's `KafkaStatusBackingStore` shapes it (`{"state", "trace", "worker_id",
//! "generation"}`), plus its membership; every worker reads the whole topic into a
//! [`StatusBoard`] so any worker answers status for the cluster.
//!
//! | key | written by | value |
//! |---|---|---|
//! | `status-connector-<name>` | every worker running it (the last one wins, as a Kafka Connect reader expects one) | state |
//! | `status-task-<name>-<worker_id>` | each worker running it | state and `partitions` it holds |
//! | `sluice-worker-<worker_id>` | each worker | `{"worker_id", "connectors"}` |
//!
//! Kafka Connect numbers tasks; in sluice every worker runs the whole connector in the
//! connector's consumer group, so a "task" is one worker's share and is keyed by worker.
//! Each worker writes its records again every `heartbeat.interval.ms`; one silent for
//! `session.timeout.ms` (judged by the records' timestamps) is no longer shown, and one that
//! stops cleanly writes tombstones for its keys.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};

use crate::worker::store::{Member, MemberState};

const CONNECTOR_PREFIX: &str = "status-connector-";
const TASK_PREFIX: &str = "status-task-";
const WORKER_PREFIX: &str = "sluice-worker-";

/// The key of a connector's status record.
pub fn connector_key(name: &str) -> String {
    format!("{CONNECTOR_PREFIX}{name}")
}

/// The key of one worker's share of a connector.
pub fn task_key(name: &str, worker_id: &str) -> String {
    format!("{TASK_PREFIX}{name}-{worker_id}")
}

/// The key of a worker's membership record.
pub fn worker_key(worker_id: &str) -> String {
    format!("{WORKER_PREFIX}{worker_id}")
}

/// A status value: `partitions` only in task records.
pub fn state_value(
    state: &str,
    trace: Option<&str>,
    worker_id: &str,
    generation: u64,
    partitions: Option<&[String]>,
) -> Vec<u8> {
    let mut value = json!({"state": state, "trace": trace, "worker_id": worker_id, "generation": generation});
    if let Some(partitions) = partitions {
        value["partitions"] = json!(partitions);
    }
    value.to_string().into_bytes()
}

/// A membership value.
pub fn worker_value(worker_id: &str, connectors: usize) -> Vec<u8> {
    json!({"worker_id": worker_id, "connectors": connectors}).to_string().into_bytes()
}

#[derive(Debug, Clone)]
struct Entry {
    value: Value,
    /// The record's timestamp (ms since the epoch).
    at_ms: i64,
}

/// Everything the status topic says, latest per key.
#[derive(Debug)]
pub struct StatusBoard {
    entries: Mutex<BTreeMap<String, Entry>>,
    session_timeout: Duration,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl StatusBoard {
    /// An empty board; workers silent for `session_timeout` are not shown.
    pub fn new(session_timeout: Duration) -> Self {
        Self { entries: Mutex::default(), session_timeout }
    }

    /// Takes one record of the status topic (a tombstone removes its key; a value that is not
    /// JSON is logged and skipped).
    pub fn take(&self, key: &str, value: Option<&[u8]>, at_ms: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match value {
            None => {
                entries.remove(key);
            }
            Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => {
                    entries.insert(key.to_string(), Entry { value, at_ms });
                }
                Err(error) => tracing::warn!(key, %error, "Skipping a status record that is not JSON."),
            },
        }
    }

    fn live(&self, entry: &Entry, now: i64) -> bool {
        now - entry.at_ms <= self.session_timeout.as_millis() as i64
    }

    /// Live workers, by id.
    pub fn members(&self) -> Vec<Member> {
        let now = now_ms();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .iter()
            .filter(|(key, entry)| key.starts_with(WORKER_PREFIX) && self.live(entry, now))
            .filter_map(|(_, entry)| {
                Some(Member {
                    worker_id: entry.value.get("worker_id")?.as_str()?.to_string(),
                    connectors: entry.value.get("connectors").and_then(Value::as_u64).unwrap_or(0) as usize,
                })
            })
            .collect()
    }

    /// Each live worker's share of `connector`, by worker id.
    pub fn tasks(&self, connector: &str) -> Vec<MemberState> {
        let now = now_ms();
        let prefix = format!("{TASK_PREFIX}{connector}-");
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut tasks: Vec<MemberState> = entries
            .range(prefix.clone()..)
            .take_while(|(key, _)| key.starts_with(&prefix))
            .filter(|(_, entry)| self.live(entry, now))
            .filter_map(|(key, entry)| {
                let worker_id = entry.value.get("worker_id")?.as_str()?;
                // `a-b` and `a` share the prefix `status-task-a-`: the rest must be the worker.
                if key[prefix.len()..] != *worker_id {
                    return None;
                }
                Some(MemberState {
                    worker_id: worker_id.to_string(),
                    state: entry.value.get("state")?.as_str()?.to_string(),
                    trace: entry.value.get("trace").and_then(Value::as_str).map(String::from),
                    partitions: entry
                        .value
                        .get("partitions")
                        .and_then(Value::as_array)
                        .map(|p| p.iter().filter_map(Value::as_str).map(String::from).collect())
                        .unwrap_or_default(),
                })
            })
            .collect();
        tasks.sort_by(|a, b| a.worker_id.cmp(&b.worker_id));
        tasks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_board_shows_live_workers_and_their_shares() {
        let board = StatusBoard::new(Duration::from_secs(10));
        let now = now_ms();
        let parts = ["t-0".to_string()];
        board.take(&task_key("c", "w1:1"), Some(&state_value("RUNNING", None, "w1:1", 1, Some(&parts))), now);
        board.take(&task_key("c", "w2:1"), Some(&state_value("FAILED", Some("boom"), "w2:1", 1, Some(&[]))), now);
        board.take(&task_key("c-d", "w1:1"), Some(&state_value("RUNNING", None, "w1:1", 1, None)), now);
        board.take(&task_key("c", "w3:1"), Some(&state_value("RUNNING", None, "w3:1", 1, None)), now - 60_000);
        board.take(&worker_key("w1:1"), Some(&worker_value("w1:1", 2)), now);
        board.take(&worker_key("w3:1"), Some(&worker_value("w3:1", 1)), now - 60_000);
        let tasks = board.tasks("c");
        assert_eq!(tasks.len(), 2, "{tasks:?}");
        assert_eq!((tasks[0].worker_id.as_str(), tasks[0].partitions.clone()), ("w1:1", vec!["t-0".to_string()]));
        assert_eq!((tasks[1].state.as_str(), tasks[1].trace.as_deref()), ("FAILED", Some("boom")));
        assert_eq!(board.members(), vec![Member { worker_id: "w1:1".into(), connectors: 2 }]);
        board.take(&task_key("c", "w1:1"), None, now);
        assert_eq!(board.tasks("c").len(), 1);
        let value: Value = serde_json::from_slice(&state_value("PAUSED", None, "w", 7, None)).unwrap();
        assert_eq!(value, json!({"state": "PAUSED", "trace": null, "worker_id": "w", "generation": 7}));
    }
}
