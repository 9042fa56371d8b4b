//! The connector pipeline: Kafka records are batched per task, parsed in the sandbox, written
//! by the sink, and acknowledged back to the offset tracker; positions are committed on an
//! interval, on revocation and on shutdown.

pub mod dead_letter;
pub mod status;
pub mod swap;
pub mod task;

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{CommitMode, Consumer};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::{ConnectorConfig, ErrorPolicy, WorkerConfig};
use crate::plugin::{KafkaRecord, PluginRuntime};
use crate::source::consumer::{self, lock, SourceConsumer, SourceContext};
use crate::source::offsets::OffsetTracker;
use dead_letter::DeadLetterQueue;
use status::{ConnectorState, ConnectorStatus, Counters};
use swap::{ParserSpec, Swapper};
use task::{Batch, ErrorPath, ParserWorker, SinkLane};

/// A running connector.
pub struct ConnectorHandle {
    /// Live state and counters.
    pub status: Arc<ConnectorStatus>,
    /// Swaps the parser or its settings while the connector runs.
    pub swapper: Arc<Swapper>,
    join: tokio::task::JoinHandle<()>,
}

impl ConnectorHandle {
    /// Waits until the connector has stopped (after shutdown or failure).
    pub async fn wait(self) {
        let _ = self.join.await;
    }
}

/// Starts a connector. Everything that can be checked before consuming (plugin, settings,
/// sink, dead-letter topic, consumer) is checked here and returned as an error.
pub async fn start_connector(
    config: ConnectorConfig,
    worker: &WorkerConfig,
    runtime: &PluginRuntime,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<ConnectorHandle> {
    let name = config.name.clone();
    for key in &config.ignored_keys {
        tracing::info!(connector = %name, key = %key, "Key is not used by sluice; it is only passed to the parser.");
    }
    let status = Arc::new(ConnectorStatus::new(&name));
    let sink = config.sink.open(&config).await?;
    let spec =
        ParserSpec { source: config.parser.clone(), settings: config.parser_settings.clone(), limits: config.limits };
    let (swapper, generations) =
        Swapper::start(runtime.clone(), config.tasks_max, name.clone(), status.clone(), sink.parser_settings(), spec)
            .await?;
    let errors = match &config.errors {
        ErrorPolicy::Fail => ErrorPath::Fail,
        ErrorPolicy::Ignore => ErrorPath::Ignore,
        ErrorPolicy::DeadLetter(target) => {
            ErrorPath::DeadLetter(Arc::new(DeadLetterQueue::connect(target, &config).await?))
        }
        ErrorPolicy::TablestoreTable(table) => {
            ErrorPath::DeadLetter(Arc::new(crate::sinks::tablestore::ErrorTable::open(&config, table).await?))
        }
    };

    let tracker = Arc::new(Mutex::new(OffsetTracker::default()));
    let context = SourceContext {
        tracker: tracker.clone(),
        revoked: Arc::default(),
        drain_timeout: worker.shutdown_timeout,
        connector: Arc::from(name.as_str()),
        assigned: status.assigned_partitions.clone(),
    };
    let consumer = consumer::subscribe(&worker.bootstrap_servers, &config, context.clone())?;

    let abandon = Arc::new(AtomicBool::new(false));
    let mut batch_senders = Vec::with_capacity(config.tasks_max);
    let mut lanes = Vec::with_capacity(config.tasks_max);
    for task in 0..config.tasks_max {
        let (batch_tx, batch_rx) = mpsc::unbounded_channel();
        let (parsed_tx, parsed_rx) = mpsc::unbounded_channel();
        ParserWorker { task, generations: generations.clone(), status: status.clone(), abandon: abandon.clone() }
            .spawn(batch_rx, parsed_tx)
            .context("starting a parser thread")?;
        let lane = SinkLane {
            task,
            sink: sink.clone(),
            sink_name: format!("{:?}", config.sink).to_lowercase(),
            errors: errors.clone(),
            tracker: tracker.clone(),
            status: status.clone(),
            shutdown: shutdown.clone(),
        };
        lanes.push(tokio::spawn(lane.run(parsed_rx)));
        batch_senders.push(batch_tx);
    }

    status.set(ConnectorState::Running);
    tracing::info!(connector = %name, group = %config.group_id(), parser = %config.parser,
        tasks = config.tasks_max, "Connector running.");
    let consume = ConsumeLoop {
        consumer,
        context,
        status: status.clone(),
        dispatcher: Dispatcher::new(batch_senders, config.batch_max_records, config.batch_linger),
        max_inflight: config.max_inflight_records,
        flush_interval: worker.offset_flush_interval,
        shutdown_timeout: worker.shutdown_timeout,
        paused: false,
        held: false,
    };
    let join = tokio::spawn(consume.run(shutdown, lanes, abandon));
    Ok(ConnectorHandle { status, swapper: Arc::new(swapper), join })
}

/// Splits records into per-task batches: a partition always goes to the same task.
struct Dispatcher {
    senders: Vec<mpsc::UnboundedSender<Batch>>,
    buffers: Vec<Vec<KafkaRecord>>,
    deadlines: Vec<Option<Instant>>,
    batch_max: usize,
    linger: Duration,
    buffered: usize,
}

impl Dispatcher {
    fn new(senders: Vec<mpsc::UnboundedSender<Batch>>, batch_max: usize, linger: Duration) -> Self {
        let tasks = senders.len();
        Self {
            senders,
            buffers: (0..tasks).map(|_| Vec::new()).collect(),
            deadlines: vec![None; tasks],
            batch_max,
            linger,
            buffered: 0,
        }
    }

    fn task_of(&self, record: &KafkaRecord) -> usize {
        let mut hasher = DefaultHasher::new();
        (&record.topic, record.partition).hash(&mut hasher);
        (hasher.finish() % self.senders.len() as u64) as usize
    }

    fn push(&mut self, record: KafkaRecord, tracker: &Mutex<OffsetTracker>) {
        let task = self.task_of(&record);
        if self.buffers[task].is_empty() {
            self.deadlines[task] = Some(Instant::now() + self.linger);
        }
        self.buffers[task].push(record);
        self.buffered += 1;
        if self.buffers[task].len() >= self.batch_max {
            self.flush(task, tracker);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    fn flush_due(&mut self, tracker: &Mutex<OffsetTracker>) {
        let now = Instant::now();
        for task in 0..self.buffers.len() {
            if self.deadlines[task].is_some_and(|d| d <= now) {
                self.flush(task, tracker);
            }
        }
    }

    /// Registers the buffered offsets as in flight, then hands the batch to the task.
    fn flush(&mut self, task: usize, tracker: &Mutex<OffsetTracker>) {
        let records = std::mem::take(&mut self.buffers[task]);
        self.deadlines[task] = None;
        self.buffered -= records.len();
        if records.is_empty() {
            return;
        }
        {
            let mut tracker = lock(tracker);
            let mut start = 0;
            while start < records.len() {
                let (topic, partition) = (&records[start].topic, records[start].partition);
                let end = start
                    + records[start..].iter().take_while(|r| r.partition == partition && &r.topic == topic).count();
                let key = (Arc::from(topic.as_str()), partition);
                tracker.dispatch(&key, records[start..end].iter().map(|r| r.offset));
                start = end;
            }
        }
        // A closed task (failed connector) just drops the batch: its offsets stay pending.
        let _ = self.senders[task].send(Batch { records });
    }

    /// Drops buffered records of revoked partitions (they were never dispatched).
    fn drop_revoked(&mut self, revoked: &[(Arc<str>, i32)]) {
        for (task, buffer) in self.buffers.iter_mut().enumerate() {
            let before = buffer.len();
            buffer.retain(|r| !revoked.iter().any(|(t, p)| **t == *r.topic && *p == r.partition));
            self.buffered -= before - buffer.len();
            if buffer.is_empty() {
                self.deadlines[task] = None;
            }
        }
    }
}

struct ConsumeLoop {
    consumer: SourceConsumer,
    context: SourceContext,
    status: Arc<ConnectorStatus>,
    dispatcher: Dispatcher,
    max_inflight: usize,
    flush_interval: Duration,
    shutdown_timeout: Duration,
    paused: bool,
    /// Paused through the REST API (the status says `PAUSED`): stays paused whatever the
    /// in-flight count.
    held: bool,
}

impl ConsumeLoop {
    async fn run(
        mut self,
        mut shutdown: watch::Receiver<bool>,
        lanes: Vec<tokio::task::JoinHandle<()>>,
        abandon: Arc<AtomicBool>,
    ) {
        let mut state = self.status.watch();
        self.held = matches!(*state.borrow_and_update(), ConnectorState::Paused);
        let mut commit_tick = tokio::time::interval(self.flush_interval);
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        commit_tick.reset();
        let mut flow_tick = tokio::time::interval(Duration::from_millis(20));
        flow_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            if *shutdown.borrow() || self.status.is_failed() {
                break;
            }
            let linger_until = self.dispatcher.next_deadline().unwrap_or(far_future);
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                _ = state.changed() => self.held = matches!(*state.borrow_and_update(), ConnectorState::Paused),
                _ = commit_tick.tick() => self.commit(),
                _ = tokio::time::sleep_until(linger_until) => self.dispatcher.flush_due(&self.context.tracker),
                _ = flow_tick.tick() => {}
                message = self.consumer.recv() => {
                    match message {
                        Ok(message) => {
                            Counters::add(&self.status.counters.records_read, 1);
                            let record = consumer::to_record(&message);
                            drop(message);
                            if self.paused {
                                // A partition assigned since we paused; pause it too.
                                self.pause();
                            }
                            self.dispatcher.push(record, &self.context.tracker);
                        }
                        Err(error) => {
                            tracing::warn!(connector = %self.status.name, %error, "Kafka consumer error.");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            self.forget_revoked();
            self.flow_control();
        }

        // Stop fetching; records not yet handed to a task are simply not committed.
        let failed = self.status.is_failed();
        let Dispatcher { senders, .. } =
            std::mem::replace(&mut self.dispatcher, Dispatcher::new(Vec::new(), 1, Duration::ZERO));
        drop(senders);
        if !failed {
            let drained = tokio::time::timeout(self.shutdown_timeout, async {
                for lane in lanes {
                    let _ = lane.await;
                }
            })
            .await;
            if drained.is_err() {
                abandon.store(true, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(connector = %self.status.name,
                    "In-flight records did not finish within task.shutdown.graceful.timeout.ms; \
                     they are left uncommitted and will be re-read.");
            }
        } else {
            abandon.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.commit();
        self.consumer.unsubscribe();
        self.status.set(ConnectorState::Stopped);
        tracing::info!(connector = %self.status.name, state = self.status.state().name(), "Connector stopped.");
    }

    fn forget_revoked(&mut self) {
        let revoked = std::mem::take(&mut *lock(&self.context.revoked));
        if !revoked.is_empty() {
            self.dispatcher.drop_revoked(&revoked);
        }
    }

    /// Pauses all partitions while too many records are in flight; resumes below half.
    fn flow_control(&mut self) {
        let inflight = lock(&self.context.tracker).inflight() + self.dispatcher.buffered;
        if !self.paused && (self.held || inflight >= self.max_inflight) {
            self.pause();
            self.paused = true;
            tracing::debug!(connector = %self.status.name, inflight, held = self.held, "Partitions paused.");
        } else if self.paused && !self.held && inflight <= self.max_inflight / 2 {
            if let Ok(assignment) = self.consumer.assignment() {
                if let Err(error) = self.consumer.resume(&assignment) {
                    tracing::warn!(connector = %self.status.name, %error, "Resuming partitions failed.");
                }
            }
            self.paused = false;
            tracing::debug!(connector = %self.status.name, inflight, "Pipeline drained; partitions resumed.");
        }
    }

    fn pause(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(error) = self.consumer.pause(&assignment) {
                tracing::warn!(connector = %self.status.name, %error, "Pausing partitions failed.");
            }
        }
    }

    /// Commits every position that moved, synchronously.
    fn commit(&self) {
        let positions = lock(&self.context.tracker).to_commit();
        if positions.is_empty() {
            return;
        }
        let result =
            tokio::task::block_in_place(|| consumer::commit_positions(&self.consumer, &positions, CommitMode::Sync));
        match result {
            Ok(()) => {
                lock(&self.context.tracker).committed(&positions);
                Counters::add(&self.status.counters.commits, 1);
                tracing::debug!(connector = %self.status.name, partitions = positions.len(), "Offsets committed.");
            }
            Err(error) => tracing::warn!(connector = %self.status.name, %error,
                "Offset commit failed; it will be retried at the next interval."),
        }
    }
}
