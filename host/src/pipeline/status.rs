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

/// Live counters of one connector: its tasks' counters summed, and what only the connector
/// as a whole has (one consumer commits for every task; swaps and the in-flight cap are
/// shared).
#[derive(Debug, Default)]
pub struct Counters {
    /// The counters of every task, summed.
    pub all_tasks: TaskCounters,
    /// Offset commits that succeeded.
    pub commits: AtomicU64,
    /// Parser swaps published.
    pub swaps: AtomicU64,
    /// Parser replacements refused (compile, instantiate or configure failed).
    pub swaps_refused: AtomicU64,
    /// Batches parsed by a parser generation newer than the one before them.
    pub swaps_applied: AtomicU64,
    /// Offset commits that failed.
    pub commit_failures: AtomicU64,
    /// Offset commits (successful or not), timed.
    pub commit_time: Spread,
    /// Records read but not yet written or dead-lettered (a gauge).
    pub inflight_records: AtomicU64,
    /// Their key, value and header bytes (a gauge).
    pub inflight_bytes: AtomicU64,
}

/// Counters of one task (a sink lane and its parser threads, holding its share of the
/// partitions); exported per task, like Kafka Connect's task metrics.
#[derive(Debug, Default)]
pub struct TaskCounters {
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
    /// Records per sink write (one batch, or several ready together; see
    /// [`crate::sinks::SinkKind::batches_per_write`]).
    pub batch_size: Spread,
    /// Time the sink took per write (Kafka Connect's put-batch time), in microseconds.
    pub put_batch_time: Spread,
    /// Time the parser took per batch, in microseconds (its `count` is batches).
    pub parse_time: Spread,
    /// The parser's time per record (each record of a batch counts the batch's mean).
    pub parse_time_per_record: Histogram,
    /// Time per sink request (one HTTP request, one file write), in microseconds.
    pub sink_request_time: Spread,
}

/// Upper bounds (seconds) of [`Histogram`]'s buckets; the last bucket is unbounded.
pub const PER_RECORD_BOUNDS: [f64; 12] = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 5e-4, 1e-3, 1e-2, 1e-1, 1.0];

/// A histogram with fixed buckets ([`PER_RECORD_BOUNDS`] and one unbounded), kept in atomics.
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); their sum is the number of observations.
    pub buckets: [AtomicU64; PER_RECORD_BOUNDS.len() + 1],
    /// Sum of the observations in nanoseconds.
    pub sum_ns: AtomicU64,
}

impl Histogram {
    /// Records `records` observations of `elapsed / records` (a batch's mean per record).
    pub fn record_per_record(&self, elapsed: std::time::Duration, records: usize) {
        if records == 0 {
            return;
        }
        let mean = elapsed.as_secs_f64() / records as f64;
        let bucket = PER_RECORD_BOUNDS.iter().position(|bound| mean <= *bound).unwrap_or(PER_RECORD_BOUNDS.len());
        self.buckets[bucket].fetch_add(records as u64, Ordering::Relaxed);
        self.sum_ns.fetch_add(elapsed.as_nanos().min(u128::from(u64::MAX)) as u64, Ordering::Relaxed);
    }
}

/// Count, sum and maximum of a quantity (a time in microseconds, a size), from which the
/// metrics give Kafka Connect's `*-avg` and `*-max` attributes and Prometheus-style totals.
#[derive(Debug, Default)]
pub struct Spread {
    /// How many values were recorded.
    pub count: AtomicU64,
    /// Their sum.
    pub sum: AtomicU64,
    /// The largest.
    pub max: AtomicU64,
}

impl Spread {
    /// Records one value.
    pub fn record(&self, value: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
        self.max.fetch_max(value, Ordering::Relaxed);
    }

    /// Records a duration in microseconds.
    pub fn record_time(&self, elapsed: std::time::Duration) {
        self.record(elapsed.as_micros().min(u128::from(u64::MAX)) as u64);
    }

    /// The mean, or 0 before any value.
    pub fn average(&self) -> f64 {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            0.0
        } else {
            self.sum.load(Ordering::Relaxed) as f64 / count as f64
        }
    }

    /// The largest value so far.
    pub fn maximum(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }
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

/// How many failed records a connector's status remembers.
pub const RECENT_FAILURES: usize = 20;

/// A record that failed, as the status page shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentFailure {
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What was done with it: `dead-lettered`, `skipped` or `stopped the connector`.
    pub handling: &'static str,
    /// The record's coordinates, the component that failed and why.
    pub reason: String,
}

/// State and counters of one connector.
#[derive(Debug)]
pub struct ConnectorStatus {
    /// Connector name.
    pub name: String,
    state: Mutex<ConnectorState>,
    changed: watch::Sender<ConnectorState>,
    /// The connector's counters, its tasks' summed.
    pub counters: Counters,
    /// Each task's counters, by task number (none before the pipeline starts).
    pub tasks: Vec<TaskCounters>,
    /// Partitions currently assigned to the connector's consumer.
    pub assigned_partitions: Arc<AtomicU64>,
    /// Which partitions those are (`topic-partition`), as of the last rebalance.
    pub assignment: Arc<Mutex<Vec<String>>>,
    /// Records not yet written per assigned partition (refreshed every second).
    lag: Mutex<Vec<(String, i32, i64)>>,
    /// The last [`RECENT_FAILURES`] records that failed, newest last.
    recent_failures: Mutex<std::collections::VecDeque<RecentFailure>>,
    /// The failure has a cause that can pass (a service down past the retry budget): the
    /// worker restarts the connector with backoff.
    transient: std::sync::atomic::AtomicBool,
}

impl ConnectorStatus {
    /// A new status in `UNASSIGNED`, without tasks.
    pub fn new(name: impl Into<String>) -> Self {
        Self::with_tasks(name, 0)
    }

    /// A new status in `UNASSIGNED` with counters for `tasks` tasks.
    pub fn with_tasks(name: impl Into<String>, tasks: usize) -> Self {
        let (changed, _) = watch::channel(ConnectorState::Unassigned);
        Self {
            name: name.into(),
            state: Mutex::new(ConnectorState::Unassigned),
            changed,
            counters: Counters::default(),
            tasks: (0..tasks).map(|_| TaskCounters::default()).collect(),
            assigned_partitions: Arc::default(),
            assignment: Arc::default(),
            lag: Mutex::default(),
            recent_failures: Mutex::default(),
            transient: Default::default(),
        }
    }

    /// Counts for task `task`: `count` is applied to the task's counters and to the
    /// connector's sum of them.
    pub fn count(&self, task: usize, count: impl Fn(&TaskCounters)) {
        count(&self.counters.all_tasks);
        if let Some(counters) = self.tasks.get(task) {
            count(counters);
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

    /// Marks the connector failed with `reason`; it stays FAILED until restarted.
    pub fn fail(&self, reason: impl Into<String>) {
        self.set(ConnectorState::Failed(reason.into()));
    }

    /// Marks the connector failed with `reason` whose cause can pass; the worker restarts it
    /// with backoff (unless it already failed for good).
    pub fn fail_transiently(&self, reason: impl Into<String>) {
        if !self.is_failed() {
            self.transient.store(true, Ordering::Relaxed);
        }
        self.set(ConnectorState::Failed(reason.into()));
    }

    /// Whether the connector failed by a cause that can pass.
    pub fn failed_transiently(&self) -> bool {
        self.is_failed() && self.transient.load(Ordering::Relaxed)
    }

    /// Records not yet written per assigned partition: `(topic, partition, records)`.
    pub fn lag(&self) -> Vec<(String, i32, i64)> {
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Remembers a record that failed (the status page shows the last few).
    pub fn note_failure(&self, handling: &'static str, reason: String) {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis().min(i64::MAX as u128) as i64);
        let mut recent = self.recent_failures.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT_FAILURES {
            recent.pop_front();
        }
        recent.push_back(RecentFailure { at_ms, handling, reason });
    }

    /// The last records that failed, oldest first.
    pub fn recent_failures(&self) -> Vec<RecentFailure> {
        self.recent_failures.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    /// Replaces the per-partition lag.
    pub fn set_lag(&self, lag: Vec<(String, i32, i64)>) {
        *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lag;
    }

    /// Partitions currently assigned to the connector's consumer.
    pub fn assigned(&self) -> u64 {
        self.assigned_partitions.load(Ordering::Relaxed)
    }

    /// The partitions assigned to the connector's consumer (`topic-partition`).
    pub fn assignment(&self) -> Vec<String> {
        self.assignment.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
