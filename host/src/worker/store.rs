//! Where connector configurations and target states live, behind one trait so the REST API
//! and the worker's lifecycle methods do not know which mode runs: standalone keeps the
//! connectors created through the API in its state file ([`FileStore`]); distributed writes
//! every change to the config topic and applies it when it reads it back
//! ([`crate::worker::cluster`]).

use std::collections::BTreeMap;

use futures_util::future::BoxFuture;

use super::state::{KeptConnector, StateFile};
use super::{Refusal, TargetState, Worker};
use crate::config::ConfigMap;

/// A change asked for through the API (or read from the config topic).
#[derive(Debug, Clone)]
pub enum Change {
    /// Creates the connector (in `target`, else its `initial_state`, else RUNNING) or
    /// replaces its configuration (its target state stays).
    Config {
        /// The configuration as given, `name` included.
        map: ConfigMap,
        /// The target state of a new connector.
        target: Option<TargetState>,
    },
    /// Pauses, resumes or stops a connector.
    Target {
        /// The connector.
        name: String,
        /// Its new target state.
        target: TargetState,
    },
    /// Restarts a connector (where it FAILED only, with `only_failed`).
    Restart {
        /// The connector.
        name: String,
        /// Only where it has FAILED.
        only_failed: bool,
    },
    /// Stops and forgets a connector.
    Delete {
        /// The connector.
        name: String,
    },
}

/// One worker's view of a connector it runs, as another worker reads it from the status topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberState {
    /// The worker (`host:port`).
    pub worker_id: String,
    /// `RUNNING`, `PAUSED`, `FAILED`, `UNASSIGNED` or `STOPPED`.
    pub state: String,
    /// The failure, when FAILED.
    pub trace: Option<String>,
    /// The partitions the worker's consumer holds (`topic-partition`).
    pub partitions: Vec<String>,
}

/// A member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The worker (`host:port`).
    pub worker_id: String,
    /// How many connectors it runs.
    pub connectors: usize,
}

/// Where connector configurations and target states are kept.
pub trait ConnectorStore: Send + Sync {
    /// Carries out a change asked for through the API: applied to `worker` and kept
    /// (standalone), or written for every worker and returned once this worker has applied it
    /// (distributed).
    fn submit<'a>(&'a self, worker: &'a Worker, change: Change) -> BoxFuture<'a, Result<(), Refusal>>;

    /// Creates the connectors kept from before a restart.
    fn restore<'a>(&'a self, _worker: &'a Worker) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    /// What every live worker reports of `connector`; `None` when this worker is alone.
    fn cluster_status(&self, _connector: &str) -> Option<Vec<MemberState>> {
        None
    }

    /// The live workers of the cluster; `None` when this worker is alone.
    fn members(&self) -> Option<Vec<Member>> {
        None
    }
}

/// Standalone: changes are applied here; connectors created through the API are kept in the
/// state file (when the worker has a state folder).
pub struct FileStore {
    file: Option<StateFile>,
}

impl FileStore {
    /// A store keeping connectors in `file` (none: not kept).
    pub fn new(file: Option<StateFile>) -> Self {
        Self { file }
    }

    fn keep(&self, worker: &Worker) {
        let Some(file) = &self.file else { return };
        if let Err(error) = file.write(worker.kept()) {
            tracing::error!(state_file = %file.path().display(), error = %format!("{error:#}"),
                "Keeping the connectors created through the REST API failed; they will not survive a restart.");
        }
    }
}

impl ConnectorStore for FileStore {
    fn submit<'a>(&'a self, worker: &'a Worker, change: Change) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            // A restart changes nothing the state file keeps.
            let kept = !matches!(change, Change::Restart { .. });
            let outcome = worker.apply(change).await;
            if kept {
                self.keep(worker);
            }
            outcome
        })
    }

    /// Creates the connectors kept in the state file in their kept target state. A name also
    /// given as a file is skipped (the file wins); a kept configuration that is no longer valid
    /// is logged and dropped.
    fn restore<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(file) = &self.file else { return Ok(()) };
            let kept: BTreeMap<String, KeptConnector> = file.read()?;
            for (name, kept) in kept {
                if worker.view(&name).is_ok() {
                    tracing::warn!(connector = %name, state_file = %file.path().display(),
                        "A connector file uses the name of a connector created through the REST API; the file wins.");
                    continue;
                }
                let target = TargetState::parse(&kept.state).unwrap_or(TargetState::Running);
                let map = ConfigMap::new(file.path().display().to_string(), kept.config);
                match worker.apply(Change::Config { map, target: Some(target) }).await {
                    Ok(()) => tracing::info!(connector = %name, state = %kept.state,
                        "Connector created through the REST API restored."),
                    Err(refusal) => tracing::error!(connector = %name, state_file = %file.path().display(),
                        "A connector created through the REST API cannot be restored and is dropped: {refusal}"),
                }
            }
            self.keep(worker);
            Ok(())
        })
    }
}
