//! The connector pipeline: Kafka records are batched per task, parsed in the sandbox, written
//! by the sink, and acknowledged back to the offset tracker; positions are committed on an
//! interval, on revocation and on shutdown.

pub mod dead_letter;
pub mod flow;
pub mod replay;
pub mod schema_check;
pub mod shadow;
pub mod status;
pub mod swap;
pub mod task;

use std::future::Future as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{CommitMode, Consumer};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::{ConnectorConfig, ErrorPolicy, WorkerConfig};
use crate::model::KafkaRecord;
use crate::plugin::PluginRuntime;
use crate::sinks::driver::Driver;
use crate::source::consumer::{self, lock, SourceConsumer, SourceContext};
use crate::source::offsets::{Epoch, OffsetTracker, PartitionKey};
use dead_letter::DeadLetterQueue;
use flow::Inflight;
use status::{ConnectorState, ConnectorStatus, Counters};
use swap::{ParserSpec, Swapper};
use task::{Batch, ErrorPath, ParserWorker, SinkLane};

/// A running connector.
pub struct ConnectorHandle {
    /// Live state and counters.
    pub status: Arc<ConnectorStatus>,
    /// Swaps the parser or its settings while the connector runs.
    pub swapper: Arc<Swapper>,
    /// Runs a candidate parser beside the live one, comparing their outcomes.
    pub shadow: Arc<shadow::ShadowSlot>,
    join: tokio::task::JoinHandle<()>,
}

impl ConnectorHandle {
    /// Waits until the connector has stopped (after shutdown or failure).
    pub async fn wait(self) {
        let _ = self.join.await;
    }
}

/// Starts a connector. Everything that can be checked before consuming (plugin, settings,
/// sink, the parser's outputs against the target's schema, dead-letter topic, consumer) is
/// checked here and returned as an error.
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
    let status = Arc::new(ConnectorStatus::with_tasks(&name, config.tasks_max));
    let sink = config.sink.open(&config).await?;
    let spec =
        ParserSpec { source: config.parser.clone(), settings: config.parser_settings.clone(), limits: config.limits };
    let parser_threads = config.tasks_max * config.parser_threads;
    let (swapper, generations) =
        Swapper::start(runtime.clone(), parser_threads, name.clone(), status.clone(), sink.parser_settings(), spec)
            .await?;
    if let Some(check) = schema_check::SchemaCheck::new(&config, worker, &sink)? {
        let check = Arc::new(check);
        check.check(&swapper.current()).await.with_context(|| format!("connector `{name}` cannot start"))?;
        swapper.check_swaps_with(check);
    }
    let errors = match &config.errors {
        ErrorPolicy::Fail => ErrorPath::Fail,
        ErrorPolicy::Ignore => ErrorPath::Ignore,
        ErrorPolicy::DeadLetter(target) => {
            ErrorPath::DeadLetter(Arc::new(DeadLetterQueue::connect(target, &config).await?))
        }
        ErrorPolicy::DeadLetterThenFail(target) => {
            ErrorPath::DeadLetterThenFail(Arc::new(DeadLetterQueue::connect(target, &config).await?))
        }
        ErrorPolicy::SinkTable(table) => ErrorPath::DeadLetter(sink.error_table(&config, table).await?),
    };

    let tracker = Arc::new(Mutex::new(OffsetTracker::default()));
    let context = SourceContext {
        tracker: tracker.clone(),
        revoked: Arc::default(),
        revocation_pending: Arc::default(),
        drain_timeout: worker.shutdown_timeout,
        connector: Arc::from(name.as_str()),
        assigned: status.assigned_partitions.clone(),
        assignment: status.assignment.clone(),
    };
    let consumer = consumer::subscribe(&worker.bootstrap_servers, &config, context.clone())?;

    let abandon = Arc::new(AtomicBool::new(false));
    let shadow = Arc::new(shadow::ShadowSlot::new(config.transforms.clone()));
    let inflight = Arc::new(Inflight::default());
    let mut batch_senders = Vec::with_capacity(config.tasks_max);
    let mut lanes = Vec::with_capacity(config.tasks_max);
    for task in 0..config.tasks_max {
        let (parsed_tx, parsed_rx) = mpsc::unbounded_channel();
        let mut task_senders = Vec::with_capacity(config.parser_threads);
        for thread in 0..config.parser_threads {
            let (batch_tx, batch_rx) = mpsc::unbounded_channel();
            let slot = task * config.parser_threads + thread;
            ParserWorker {
                task,
                slot,
                status: status.clone(),
                abandon: abandon.clone(),
                transforms: config.transforms.clone(),
                shadow: shadow.clone(),
            }
            .spawn(batch_rx, parsed_tx.clone())
            .context("starting a parser thread")?;
            task_senders.push(batch_tx);
        }
        drop(parsed_tx);
        let lane = SinkLane {
            task,
            sink: sink.clone(),
            sink_name: format!("{:?}", config.sink).to_lowercase(),
            errors: errors.clone(),
            error_log: config.error_log,
            tracker: tracker.clone(),
            status: status.clone(),
            shutdown: shutdown.clone(),
            inflight: inflight.clone(),
            driver: {
                let status = status.clone();
                let timing = status.clone();
                Driver::new(config.retry, shutdown.clone())
                    .counting(move || status.count(task, |c| Counters::add(&c.retries, 1)))
                    .timing(move |elapsed| timing.count(task, |c| c.sink_request_time.record_time(elapsed)))
            },
            write_max_records: config.batch_max_records.saturating_mul(config.sink.batches_per_write()),
        };
        lanes.push(tokio::spawn(lane.run(parsed_rx)));
        batch_senders.push(task_senders);
    }

    status.set(ConnectorState::Running);
    tracing::info!(connector = %name, group = %config.group_id(), parser = %config.parser,
        tasks = config.tasks_max, "Connector running.");
    let consume = ConsumeLoop {
        consumer,
        topics: consumer::TopicNames::default(),
        context,
        status: status.clone(),
        dispatcher: Dispatcher::new(
            batch_senders,
            generations,
            config.batch_max_records,
            config.batch_linger,
            inflight.clone(),
        ),
        inflight,
        max_inflight_records: config.max_inflight_records,
        max_inflight_bytes: config.max_inflight_bytes,
        flush_interval: worker.offset_flush_interval,
        shutdown_timeout: worker.shutdown_timeout,
        full_since: None,
        paused: false,
        held: false,
    };
    let join = tokio::spawn(consume.run(shutdown, lanes, abandon));
    Ok(ConnectorHandle { status, swapper: Arc::new(swapper), shadow, join })
}

/// The task (of `tasks`) that a partition's records go to: always the same one, so order
/// per partition is kept.
pub fn task_of(topic: &str, partition: i32, tasks: usize) -> usize {
    if tasks <= 1 {
        return 0;
    }
    let mut hasher = DefaultHasher::new();
    (topic, partition).hash(&mut hasher);
    (hasher.finish() % tasks as u64) as usize
}

/// Splits records into per-task batches: a partition always goes to the same task. A task's
/// batches are numbered and dealt out to its parser threads in turn.
struct Dispatcher {
    /// Per task, one sender per parser thread.
    senders: Vec<Vec<mpsc::UnboundedSender<Batch>>>,
    /// Per task, the number of the next batch.
    sequences: Vec<u64>,
    /// The parser generation each new batch is stamped with.
    generations: watch::Receiver<Arc<swap::ParserGeneration>>,
    buffers: Vec<Vec<KafkaRecord>>,
    deadlines: Vec<Option<Instant>>,
    batch_max: usize,
    linger: Duration,
    buffered: usize,
    inflight: Arc<Inflight>,
}

impl Dispatcher {
    fn new(
        senders: Vec<Vec<mpsc::UnboundedSender<Batch>>>,
        generations: watch::Receiver<Arc<swap::ParserGeneration>>,
        batch_max: usize,
        linger: Duration,
        inflight: Arc<Inflight>,
    ) -> Self {
        let tasks = senders.len();
        Self {
            senders,
            sequences: vec![0; tasks],
            generations,
            buffers: (0..tasks).map(|_| Vec::new()).collect(),
            deadlines: vec![None; tasks],
            batch_max,
            linger,
            buffered: 0,
            inflight,
        }
    }

    fn task_of(&self, record: &KafkaRecord) -> usize {
        task_of(&record.topic, record.partition, self.senders.len())
    }

    /// Adds a record to its task's batch; returns the task.
    fn push(&mut self, record: KafkaRecord, tracker: &Mutex<OffsetTracker>) -> usize {
        let task = self.task_of(&record);
        if self.buffers[task].is_empty() {
            self.deadlines[task] = Some(Instant::now() + self.linger);
        }
        self.inflight.add(record.payload_bytes());
        self.buffers[task].push(record);
        self.buffered += 1;
        if self.buffers[task].len() >= self.batch_max {
            self.flush(task, tracker);
        }
        task
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Hands every partial batch to its task at once.
    fn flush_all(&mut self, tracker: &Mutex<OffsetTracker>) {
        for task in 0..self.buffers.len() {
            self.flush(task, tracker);
        }
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
        let mut epochs: Vec<(PartitionKey, Epoch)> = Vec::new();
        {
            let mut tracker = lock(tracker);
            let mut start = 0;
            while start < records.len() {
                let (topic, partition) = (&records[start].topic, records[start].partition);
                let end = start
                    + records[start..].iter().take_while(|r| r.partition == partition && &r.topic == topic).count();
                let key = (Arc::clone(topic), partition);
                let epoch = tracker.dispatch(&key, records[start..end].iter().map(|r| r.offset));
                if !epochs.iter().any(|(k, _)| *k == key) {
                    epochs.push((key, epoch));
                }
                start = end;
            }
        }
        let bytes = records.iter().map(KafkaRecord::payload_bytes).sum();
        let sequence = self.sequences[task];
        self.sequences[task] += 1;
        let threads = &self.senders[task];
        let generation = self.generations.borrow().clone();
        // A closed task (failed connector) just drops the batch: its offsets stay pending.
        let _ = threads[sequence as usize % threads.len()].send(Batch { sequence, generation, records, epochs, bytes });
    }

    /// Drops buffered records of revoked partitions (they were never dispatched).
    fn drop_revoked(&mut self, revoked: &[(Arc<str>, i32)]) {
        for (task, buffer) in self.buffers.iter_mut().enumerate() {
            let before = buffer.len();
            let mut dropped_bytes = 0;
            buffer.retain(|r| {
                let keep = !revoked.iter().any(|(t, p)| **t == *r.topic && *p == r.partition);
                if !keep {
                    dropped_bytes += r.payload_bytes();
                }
                keep
            });
            self.inflight.release(dropped_bytes);
            self.buffered -= before - buffer.len();
            if buffer.is_empty() {
                self.deadlines[task] = None;
            }
        }
    }
}

struct ConsumeLoop {
    consumer: SourceConsumer,
    /// Topic names shared by the records read.
    topics: consumer::TopicNames,
    context: SourceContext,
    status: Arc<ConnectorStatus>,
    dispatcher: Dispatcher,
    inflight: Arc<Inflight>,
    max_inflight_records: usize,
    max_inflight_bytes: usize,
    flush_interval: Duration,
    shutdown_timeout: Duration,
    /// Since when the in-flight cap has been reached without a break.
    full_since: Option<Instant>,
    /// Whether the assignment is paused (the cap stayed reached for [`PAUSE_AFTER`]).
    paused: bool,
    /// Paused through the REST API (the status says `PAUSED`): stays paused whatever the
    /// in-flight count.
    held: bool,
}

/// How often the per-partition lag is measured (from librdkafka's cached watermarks).
const LAG_INTERVAL: Duration = Duration::from_secs(1);

/// How long reading may wait at the in-flight cap before the partitions are paused. Short
/// waits keep librdkafka's prefetched records (a pause discards them); a long one means the
/// sink is stuck, and a paused consumer keeps serving its group while it waits.
const PAUSE_AFTER: Duration = Duration::from_secs(1);

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
        let mut lag_tick = tokio::time::interval(LAG_INTERVAL);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let far_future = Instant::now() + Duration::from_secs(86_400 * 365);
        loop {
            if *shutdown.borrow() || self.status.is_failed() {
                break;
            }
            let full = self.flow_control();
            if full && self.dispatcher.buffered > 0 {
                // Reading waits for room, so lingering cannot fill the partial batches (a
                // sink's batch may be larger than the in-flight cap): send them now.
                self.dispatcher.flush_all(&self.context.tracker);
            }
            let linger_until = self.dispatcher.next_deadline().unwrap_or(far_future);
            // At the cap reading waits for a lane to finish a batch; a paused consumer is
            // still polled so it serves rebalances (its paused partitions deliver nothing).
            let reading = !full || self.paused;
            let pause_at = self.full_since.map_or(far_future, |since| since + PAUSE_AFTER);
            tokio::select! {
                biased;
                _ = shutdown.changed() => {}
                _ = state.changed() => self.held = matches!(*state.borrow_and_update(), ConnectorState::Paused),
                _ = commit_tick.tick() => self.commit(),
                _ = lag_tick.tick() => self.measure_lag(),
                _ = tokio::time::sleep_until(linger_until) => self.dispatcher.flush_due(&self.context.tracker),
                _ = self.inflight.released(), if full => {}
                _ = tokio::time::sleep_until(pause_at), if full && !self.paused => {}
                message = self.consumer.recv(), if reading => {
                    match message {
                        Ok(message) => {
                            let record = consumer::to_record(&message, &mut self.topics);
                            drop(message);
                            self.take(record);
                            self.drain_ready();
                        }
                        Err(error) => {
                            tracing::warn!(connector = %self.status.name, %error, "Kafka consumer error.");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
            }
            self.forget_revoked();
        }

        // Stop fetching; records not yet handed to a task are simply not committed.
        let failed = self.status.is_failed();
        // Closing the batch channels lets the parser threads and then the lanes finish.
        for threads in &mut self.dispatcher.senders {
            threads.clear();
        }
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

    /// Hands one consumed record to the dispatcher.
    fn take(&mut self, record: KafkaRecord) {
        // A revocation may have run inside the read that returned this record: records of
        // the revoked partitions still buffered must not be dispatched after it.
        self.forget_revoked();
        if self.paused {
            // A partition assigned since we paused; pause it too.
            self.pause();
        }
        let task = self.dispatcher.push(record, &self.context.tracker);
        self.status.count(task, |c| Counters::add(&c.records_read, 1));
    }

    /// Takes the records librdkafka already holds, up to a batch or the in-flight cap,
    /// without going back through the event loop for each one (a record costs far less
    /// than a turn of the loop's `select!`).
    fn drain_ready(&mut self) {
        let waker = std::task::Waker::noop();
        let mut context = std::task::Context::from_waker(waker);
        for _ in 1..self.dispatcher.batch_max {
            if self.paused || self.at_cap() {
                return;
            }
            let record = {
                let next = std::pin::pin!(self.consumer.recv());
                match next.poll(&mut context) {
                    std::task::Poll::Ready(Ok(message)) => consumer::to_record(&message, &mut self.topics),
                    std::task::Poll::Ready(Err(error)) => {
                        tracing::warn!(connector = %self.status.name, %error, "Kafka consumer error.");
                        return;
                    }
                    std::task::Poll::Pending => return,
                }
            };
            self.take(record);
        }
    }

    /// Whether either in-flight cap is reached.
    fn at_cap(&self) -> bool {
        let records = lock(&self.context.tracker).inflight() + self.dispatcher.buffered;
        records >= self.max_inflight_records || self.inflight.bytes() >= self.max_inflight_bytes
    }

    /// Drops buffered records of partitions revoked since the last call (cheap when none
    /// were: one atomic load).
    fn forget_revoked(&mut self) {
        use std::sync::atomic::Ordering;
        if !self.context.revocation_pending.load(Ordering::Relaxed)
            || !self.context.revocation_pending.swap(false, Ordering::Acquire)
        {
            return;
        }
        let revoked = std::mem::take(&mut *lock(&self.context.revoked));
        if !revoked.is_empty() {
            self.dispatcher.drop_revoked(&revoked);
        }
    }

    /// Whether the in-flight caps are reached. Pauses all partitions at once while the
    /// connector is held (PAUSED through the REST API) and once the caps stayed reached for
    /// [`PAUSE_AFTER`]; resumes them when it is no longer held and half the caps drained.
    fn flow_control(&mut self) -> bool {
        let records = lock(&self.context.tracker).inflight() + self.dispatcher.buffered;
        let bytes = self.inflight.bytes();
        self.status.counters.inflight_records.store(records as u64, std::sync::atomic::Ordering::Relaxed);
        self.status.counters.inflight_bytes.store(bytes as u64, std::sync::atomic::Ordering::Relaxed);
        let full = self.at_cap();
        let now = Instant::now();
        let since = if full { *self.full_since.get_or_insert(now) } else { now };
        if !full {
            self.full_since = None;
        }
        if !self.paused && (self.held || (full && now >= since + PAUSE_AFTER)) {
            self.pause();
            self.paused = true;
            tracing::debug!(connector = %self.status.name, records, bytes, held = self.held, "Partitions paused.");
        } else if self.paused
            && !self.held
            && records <= self.max_inflight_records / 2
            && bytes <= self.max_inflight_bytes / 2
        {
            if let Ok(assignment) = self.consumer.assignment() {
                if let Err(error) = self.consumer.resume(&assignment) {
                    tracing::warn!(connector = %self.status.name, %error, "Resuming partitions failed.");
                }
            }
            self.paused = false;
            tracing::debug!(connector = %self.status.name, records, bytes, "Pipeline drained; partitions resumed.");
        }
        full
    }

    fn pause(&self) {
        if let Ok(assignment) = self.consumer.assignment() {
            if let Err(error) = self.consumer.pause(&assignment) {
                tracing::warn!(connector = %self.status.name, %error, "Pausing partitions failed.");
            }
        }
    }

    /// Refreshes the connector's per-partition lag.
    fn measure_lag(&self) {
        let positions = lock(&self.context.tracker).positions();
        let lag = consumer::lag(&self.consumer, &positions)
            .into_iter()
            .map(|((topic, partition), records)| (topic.to_string(), partition, records))
            .collect();
        self.status.set_lag(lag);
    }

    /// Commits every position that moved, synchronously.
    fn commit(&self) {
        let positions = lock(&self.context.tracker).to_commit();
        if positions.is_empty() {
            return;
        }
        let started = std::time::Instant::now();
        let result =
            tokio::task::block_in_place(|| consumer::commit_positions(&self.consumer, &positions, CommitMode::Sync));
        self.status.counters.commit_time.record_time(started.elapsed());
        match result {
            Ok(()) => {
                lock(&self.context.tracker).committed(&positions);
                Counters::add(&self.status.counters.commits, 1);
                tracing::debug!(connector = %self.status.name, partitions = positions.len(), "Offsets committed.");
            }
            Err(error) => {
                Counters::add(&self.status.counters.commit_failures, 1);
                tracing::warn!(connector = %self.status.name, %error,
                    "Offset commit failed; it will be retried at the next interval.")
            }
        }
    }
}
