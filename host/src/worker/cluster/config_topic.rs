//! The config topic as the worker's [`ConnectorStore`]: a change asked for through any
//! worker's API is written there ([`TopicStore`]), and every worker, the writer included,
//! applies it when it reads it back ([`apply_records`]). The writer answers the REST call
//! once its own worker has applied the change, so a client reads its own writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::{mpsc, watch};

use super::records::{self, ConfigRecord};
use super::status::StatusBoard;
use super::tail::{TailEvent, TailRecord};
use crate::config::ConfigMap;
use crate::worker::store::{Change, ConnectorStore, Member, MemberState};
use crate::worker::{Refusal, TargetState, Worker};

/// How many recent refusals are kept for the writers waiting on them.
const KEPT_REFUSALS: usize = 256;

/// Refusals of applied records by offset, so the worker that wrote a change can answer with
/// its own worker's refusal (an invalid parser, say).
pub type Refusals = Arc<Mutex<BTreeMap<i64, Refusal>>>;

/// The distributed store.
pub struct TopicStore {
    /// Writes to the config topic (and, from the status publisher, the status topic).
    pub producer: FutureProducer,
    /// `config.storage.topic`.
    pub topic: String,
    /// The offset after the last config record this worker has applied.
    pub applied: watch::Receiver<i64>,
    /// Refusals of applied records.
    pub refusals: Refusals,
    /// How long a REST call waits for its change to be applied here.
    pub sync_timeout: Duration,
    /// The status topic as read.
    pub board: Arc<StatusBoard>,
}

impl TopicStore {
    async fn send(&self, key: &str, value: Option<&[u8]>) -> Result<i64, Refusal> {
        let mut record = FutureRecord::<str, [u8]>::to(&self.topic).key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        match self.producer.send(record, self.sync_timeout).await {
            Ok(delivery) => Ok(delivery.offset),
            Err((error, _)) => Err(Refusal::Failed(format!(
                "writing `{key}` to the config topic `{}` failed: {error}; nothing was changed",
                self.topic
            ))),
        }
    }
}

/// The records that carry out a change, in Kafka Connect's order (a new connector's target
/// state before its config; a deletion's config tombstone before its target-state one).
fn records_for(change: &Change) -> Vec<(String, Option<Vec<u8>>)> {
    match change {
        Change::Config { map, target } => {
            let name = map.get("name").unwrap_or_default().to_string();
            let mut out = Vec::new();
            if let Some(target) = target {
                out.push((records::target_state_key(&name), Some(records::target_state_value(*target))));
            }
            out.push((records::connector_key(&name), Some(records::connector_value(map.entries()))));
            out
        }
        Change::Target { name, target } => {
            vec![(records::target_state_key(name), Some(records::target_state_value(*target)))]
        }
        Change::Delete { name } => vec![(records::connector_key(name), None), (records::target_state_key(name), None)],
        Change::Restart { name, only_failed } => {
            vec![(records::restart_key(name), Some(records::restart_value(*only_failed)))]
        }
    }
}

impl ConnectorStore for TopicStore {
    fn submit<'a>(&'a self, _worker: &'a Worker, change: Change) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            let mut offsets = Vec::new();
            for (key, value) in records_for(&change) {
                offsets.push(self.send(&key, value.as_deref()).await?);
            }
            let last = offsets.last().copied().unwrap_or(-1);
            let mut applied = self.applied.clone();
            let read_back = tokio::time::timeout(self.sync_timeout, applied.wait_for(|next| *next > last)).await;
            if !matches!(read_back, Ok(Ok(_))) {
                return Err(Refusal::Failed(format!(
                    "the change was written to the config topic `{}` (offset {last}) but this worker had not read it \
                     back within worker.sync.timeout.ms; every worker applies it once it reads it",
                    self.topic
                )));
            }
            let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
            match offsets.iter().find_map(|offset| refusals.remove(offset)) {
                Some(refusal) => Err(refusal),
                None => Ok(()),
            }
        })
    }

    fn cluster_status(&self, connector: &str) -> Option<Vec<MemberState>> {
        Some(self.board.tasks(connector))
    }

    fn members(&self) -> Option<Vec<Member>> {
        Some(self.board.members())
    }
}

/// What the config topic says, folded: configurations and target states by connector.
#[derive(Debug, Default)]
struct Snapshot {
    configs: BTreeMap<String, BTreeMap<String, String>>,
    targets: BTreeMap<String, TargetState>,
}

impl Snapshot {
    fn fold(&mut self, record: ConfigRecord) {
        match record {
            ConfigRecord::Connector { name, config: Some(config) } => {
                self.configs.insert(name, config);
            }
            ConfigRecord::Connector { name, config: None } => {
                self.configs.remove(&name);
            }
            ConfigRecord::TargetState { name, target: Some(target) } => {
                self.targets.insert(name, target);
            }
            ConfigRecord::TargetState { name, target: None } => {
                self.targets.remove(&name);
            }
            // A restart asked for before this worker started is done: it starts afresh.
            ConfigRecord::Restart { .. } | ConfigRecord::Skipped => {}
        }
    }
}

fn config_map(topic: &str, name: &str, mut config: BTreeMap<String, String>) -> ConfigMap {
    config.entry("name".to_string()).or_insert_with(|| name.to_string());
    ConfigMap::new(format!("connector `{name}` in config topic `{topic}`"), config)
}

/// Applies the config topic to `worker`: first everything up to where the topic ended when
/// the worker started, folded into one snapshot (so a connector paused or stopped long ago
/// never runs), then each record as it arrives. `applied` tells the writers how far it got
/// (it stays at -1 until the snapshot is applied).
pub async fn apply_records(
    worker: Arc<Worker>,
    topic: String,
    mut records: mpsc::UnboundedReceiver<TailEvent>,
    applied: watch::Sender<i64>,
    refusals: Refusals,
) {
    let decode = |record: &TailRecord| match records::decode(&record.key, record.value.as_deref()) {
        Ok(decoded) => Some(decoded),
        Err(reason) => {
            tracing::warn!(topic = %topic, offset = record.offset, "Skipping a config topic record: {reason}");
            None
        }
    };
    let mut snapshot = Snapshot::default();
    let mut next = 0;
    loop {
        match records.recv().await {
            None => return,
            Some(TailEvent::CaughtUp) => break,
            Some(TailEvent::Record(record)) => {
                next = record.offset + 1;
                if let Some(decoded) = decode(&record) {
                    snapshot.fold(decoded);
                }
            }
        }
    }
    for (name, config) in std::mem::take(&mut snapshot.configs) {
        let target = snapshot.targets.get(&name).copied().unwrap_or(TargetState::Running);
        let change = Change::Config { map: config_map(&topic, &name, config), target: Some(target) };
        if let Err(refusal) = worker.apply(change).await {
            tracing::error!(connector = %name, topic = %topic, "A connector in the config topic cannot run here: {refusal}");
        }
    }
    applied.send_replace(next);
    tracing::info!(topic = %topic, connectors = worker.views().len(), "Read the config topic.");
    // Target states of connectors whose config has not arrived yet (a new connector's comes first).
    let mut targets = snapshot.targets;
    while let Some(event) = records.recv().await {
        let TailEvent::Record(record) = event else { continue };
        if let Some(change) = decode(&record).and_then(|decoded| change_for(&worker, &topic, &mut targets, decoded)) {
            if let Err(refusal) = worker.apply(change).await {
                tracing::error!(topic = %topic, offset = record.offset, "A config change cannot be applied here: {refusal}");
                let mut kept = refusals.lock().unwrap_or_else(|e| e.into_inner());
                kept.insert(record.offset, refusal);
                while kept.len() > KEPT_REFUSALS {
                    kept.pop_first();
                }
            }
        }
        applied.send_replace(record.offset + 1);
    }
}

/// The change a record asks of this worker, if any.
fn change_for(
    worker: &Worker,
    topic: &str,
    targets: &mut BTreeMap<String, TargetState>,
    record: ConfigRecord,
) -> Option<Change> {
    match record {
        ConfigRecord::Connector { name, config: Some(config) } => {
            let map = config_map(topic, &name, config);
            if worker.view(&name).is_ok_and(|view| &view.config == map.entries()) {
                return None;
            }
            Some(Change::Config { map, target: targets.get(&name).copied() })
        }
        ConfigRecord::Connector { name, config: None } => worker.contains(&name).then_some(Change::Delete { name }),
        ConfigRecord::TargetState { name, target: Some(target) } => {
            targets.insert(name.clone(), target);
            worker.contains(&name).then_some(Change::Target { name, target })
        }
        ConfigRecord::TargetState { name, target: None } => {
            targets.remove(&name);
            None
        }
        ConfigRecord::Restart { name, only_failed } => {
            worker.contains(&name).then_some(Change::Restart { name, only_failed })
        }
        ConfigRecord::Skipped => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str, tasks: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("name".to_string(), name.to_string()), ("tasks.max".to_string(), tasks.to_string())])
    }

    #[test]
    fn a_new_connectors_target_state_goes_before_its_config_and_a_delete_tombstones_both() {
        let map = ConfigMap::new("rest", config("c1", "1"));
        let create = records_for(&Change::Config { map: map.clone(), target: Some(TargetState::Paused) });
        let keys: Vec<&str> = create.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["target-state-c1", "connector-c1"]);
        assert_eq!(records_for(&Change::Config { map, target: None }).len(), 1, "a reconfigure keeps the target");
        let delete = records_for(&Change::Delete { name: "c1".into() });
        assert_eq!(delete, vec![("connector-c1".to_string(), None), ("target-state-c1".to_string(), None)]);
    }

    #[test]
    fn the_startup_snapshot_keeps_only_the_last_word_per_connector() {
        let mut snapshot = Snapshot::default();
        let records = [
            ConfigRecord::Connector { name: "gone".into(), config: Some(config("gone", "1")) },
            ConfigRecord::TargetState { name: "c1".into(), target: Some(TargetState::Running) },
            ConfigRecord::Connector { name: "c1".into(), config: Some(config("c1", "1")) },
            ConfigRecord::Connector { name: "c1".into(), config: Some(config("c1", "4")) },
            ConfigRecord::TargetState { name: "c1".into(), target: Some(TargetState::Stopped) },
            ConfigRecord::Connector { name: "gone".into(), config: None },
            ConfigRecord::TargetState { name: "gone".into(), target: None },
            ConfigRecord::Skipped,
        ];
        for record in records {
            snapshot.fold(record);
        }
        assert_eq!(snapshot.configs.keys().collect::<Vec<_>>(), ["c1"]);
        assert_eq!(snapshot.configs["c1"]["tasks.max"], "4");
        assert_eq!(snapshot.targets, BTreeMap::from([("c1".to_string(), TargetState::Stopped)]));
        let map = config_map("cfg", "c2", BTreeMap::new());
        assert_eq!((map.get("name"), map.origin()), (Some("c2"), "connector `c2` in config topic `cfg`"));
    }
}
