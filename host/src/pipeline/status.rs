//! Connector state and counters, read by the CLI, tests, the REST API and the metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// Kafka Connect's connector states (the subset a sink host uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorState {
    /// Starting up.
    Unassigned,
    /// Consuming and writing.
    Running,
    /// Asked to pause (REST `PUT .../pause`): partitions are paused and nothing new is
    /// dispatched; in-flight records still finish and are committed.
    Paused,
    /// Stopped after an error it will not recover from without a restart; the reason says why.
    Failed(String),
    /// Shut down cleanly.
    Stopped,
}

impl ConnectorState {
    /// The upper-case name Kafka Connect shows.
    pub fn name(&self) -> &'static str {
        match self {
            ConnectorState::Unassigned => "UNASSIGNED",
            ConnectorState::Running => "RUNNING",
            ConnectorState::Paused => "PAUSED",
            ConnectorState::Failed(_) => "FAILED",
            ConnectorState::Stopped => "STOPPED",
        }
    }
}

/// Live counters of one connector.
#[derive(Debug, Default)]
pub struct Counters {
    /// Records read from Kafka.
    pub records_read: AtomicU64,
    /// Records whose outputs were written (including records with no outputs).
    pub records_written: AtomicU64,
    /// Records that produced no output (null values / tombstones, records a parser skips);
    /// acknowledged without reaching the sink.
    pub records_without_output: AtomicU64,
    /// Outputs written to the sink.
    pub outputs_written: AtomicU64,
    /// Records that failed in the parser or the sink.
    pub records_failed: AtomicU64,
    /// Failed records written to the dead-letter topic.
    pub records_dead_lettered: AtomicU64,
    /// Failed records skipped under `tolerance=all` without a dead-letter target.
    pub records_skipped: AtomicU64,
    /// Sink writes retried.
    pub retries: AtomicU64,
    /// Offset commits that succeeded.
    pub commits: AtomicU64,
    /// Parser swaps published.
    pub swaps: AtomicU64,
    /// Parser replacements refused (compile, instantiate or configure failed).
    pub swaps_refused: AtomicU64,
    /// Batches parsed by a parser generation newer than the one before them.
    pub swaps_applied: AtomicU64,
}

impl Counters {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// State and counters of one connector.
#[derive(Debug)]
pub struct ConnectorStatus {
    /// Connector name.
    pub name: String,
    state: Mutex<ConnectorState>,
    changed: watch::Sender<ConnectorState>,
    /// Counters.
    pub counters: Counters,
    /// Partitions currently assigned to the connector's consumer.
    pub assigned_partitions: Arc<AtomicU64>,
}

impl ConnectorStatus {
    /// A new status in `UNASSIGNED`.
    pub fn new(name: impl Into<String>) -> Self {
        let (changed, _) = watch::channel(ConnectorState::Unassigned);
        Self {
            name: name.into(),
            state: Mutex::new(ConnectorState::Unassigned),
            changed,
            counters: Counters::default(),
            assigned_partitions: Arc::default(),
        }
    }

    /// The current state.
    pub fn state(&self) -> ConnectorState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Subscribes to state changes.
    pub fn watch(&self) -> watch::Receiver<ConnectorState> {
        self.changed.subscribe()
    }

    /// Moves to `state` unless already failed (a failure is final until restart).
    pub fn set(&self, state: ConnectorState) {
        let mut current = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(*current, ConnectorState::Failed(_)) {
            return;
        }
        if let ConnectorState::Failed(reason) = &state {
            tracing::error!(connector = %self.name, "Connector FAILED: {reason}");
        }
        *current = state.clone();
        self.changed.send_replace(state);
    }

    /// Marks the connector failed with `reason`.
    pub fn fail(&self, reason: impl Into<String>) {
        self.set(ConnectorState::Failed(reason.into()));
    }

    /// Partitions currently assigned to the connector's consumer.
    pub fn assigned(&self) -> u64 {
        self.assigned_partitions.load(Ordering::Relaxed)
    }

    /// Whether the connector is paused.
    pub fn is_paused(&self) -> bool {
        matches!(self.state(), ConnectorState::Paused)
    }

    /// Whether the connector has failed.
    pub fn is_failed(&self) -> bool {
        matches!(self.state(), ConnectorState::Failed(_))
    }
}
