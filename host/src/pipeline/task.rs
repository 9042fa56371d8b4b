//! A task: parser worker threads (each owning a sandboxed plugin instance) feeding one async
//! sink lane. Partitions are pinned to tasks; within a task, batches are numbered as they are
//! read, spread over the task's parser threads, and written by the lane in that order, so
//! each partition's records reach the sink in order while parsing runs in parallel.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::watch;

use super::dead_letter::budget::{RetryBudget, Verdict};
use super::dead_letter::{DeadLetterTarget, Failure};
use super::flow::Inflight;
use super::shadow::ShadowSlot;
use super::status::{ConnectorStatus, Counters};
use super::swap::ParserGeneration;
use crate::config::ErrorLog;
use crate::model::{KafkaRecord, Output};
use crate::plugin::{parse_isolating, InstanceError, PluginInstance, RecordFailure};
use crate::sinks::driver::Driver;
use crate::sinks::{retry, AnySink, Sink, SinkError, SinkItem};
use crate::source::consumer::lock;
use crate::source::offsets::{Epoch, OffsetTracker, PartitionKey};
use crate::transforms::{RecordTransforms, Transformed};

/// Records of one or more partitions, in offset order per partition.
pub struct Batch {
    /// Position of the batch in its task's sequence (the lane writes batches in this order).
    pub sequence: u64,
    /// The parser generation current when the batch was read; it parses the whole batch, so
    /// generations never go backwards in the order the sink sees.
    pub generation: Arc<ParserGeneration>,
    /// The records.
    pub records: Vec<KafkaRecord>,
    /// The epoch each partition of the batch was dispatched in (fencing, see
    /// [`OffsetTracker`]).
    pub epochs: Vec<(PartitionKey, Epoch)>,
    /// Their key, value and header bytes (counted in the connector's [`Inflight`]).
    pub bytes: usize,
}

/// Parse outcomes of a written batch, sent back to the parser thread that allocated them:
/// freeing memory on the thread that allocated it is far cheaper than on another one.
pub type Spent = Vec<Result<Vec<Output>, RecordFailure>>;

/// A batch and one parse outcome per record.
pub struct ParsedBatch {
    /// The batch's position in its task's sequence.
    pub sequence: u64,
    /// The records, as consumed.
    pub records: Vec<KafkaRecord>,
    /// Outputs or failure, one per record.
    pub outcomes: Vec<Result<Vec<Output>, RecordFailure>>,
    /// The topic a router transform gave each record, where it differs from the record's
    /// (empty when no record of the batch was routed).
    pub routed: Vec<Option<Arc<str>>>,
    /// The parser generation that parsed it.
    pub generation: Arc<ParserGeneration>,
    /// The epoch each partition of the batch was dispatched in.
    pub epochs: Vec<(PartitionKey, Epoch)>,
    /// The records' bytes, released from [`Inflight`] once the batch is finished.
    pub bytes: usize,
    /// Where the lane sends the outcomes once written (the parser thread frees them).
    pub spent: std::sync::mpsc::Sender<Spent>,
}

/// What a parser worker needs.
pub struct ParserWorker {
    /// Task number.
    pub task: usize,
    /// This worker's slot among all of the connector's parser threads (the instance each
    /// generation prepared for it).
    pub slot: usize,
    /// Connector status (failed when no instance can be made).
    pub status: Arc<ConnectorStatus>,
    /// Set to stop after the current batch.
    pub abandon: Arc<AtomicBool>,
    /// The connector's single message transforms, applied before parsing.
    pub transforms: Option<Arc<RecordTransforms>>,
    /// The connector's shadow run, offered a copy of every parsed batch while one runs.
    pub shadow: Arc<ShadowSlot>,
}

impl ParserWorker {
    /// Runs the worker on its own thread until the input closes. A batch stamped with a newer
    /// parser generation than the worker's switches it to that generation first (a batch
    /// boundary).
    pub fn spawn(
        self,
        mut input: UnboundedReceiver<Batch>,
        output: UnboundedSender<ParsedBatch>,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new().name(format!("sluice-parse-{}-{}", self.status.name, self.slot)).spawn(move || {
            let mut current: Option<Arc<ParserGeneration>> = None;
            let mut instance = None;
            let (spent, written) = std::sync::mpsc::channel::<Spent>();
            while let Some(batch) = input.blocking_recv() {
                if self.abandon.load(Ordering::Relaxed) || self.status.is_failed() {
                    break;
                }
                // Free the outputs of batches written since the last one here, where they
                // were allocated.
                written.try_iter().for_each(drop);
                let generation = batch.generation.clone();
                if current.as_ref().is_none_or(|c| c.number != generation.number) {
                    instance = generation.take_ready(self.slot);
                    if current.is_some() {
                        Counters::add(&self.status.counters.swaps_applied, 1);
                        tracing::debug!(connector = %self.status.name, task = self.task, generation = generation.number,
                            pause_us = generation.requested_at.elapsed().as_micros() as u64,
                            "Worker switched parser generation.");
                    }
                    current = Some(generation.clone());
                }
                let mut make = || generation.instantiate();
                let started = std::time::Instant::now();
                let parsed = match &self.transforms {
                    None => parse_isolating(&mut instance, &mut make, &batch.records)
                        .map(|o| (o, Vec::new()))
                        .map_err(PrepareError::from),
                    Some(transforms) => transform_and_parse(transforms, &mut instance, &mut make, &batch.records),
                };
                let elapsed = started.elapsed();
                self.status.count(self.task, |c| c.parse_time.record_time(elapsed));
                self.status
                    .count(self.task, |c| c.parse_time_per_record.record_per_record(elapsed, batch.records.len()));
                match parsed {
                    Ok((outcomes, routed)) => {
                        self.shadow.offer(&batch.records, &outcomes, elapsed);
                        let parsed = ParsedBatch {
                            sequence: batch.sequence,
                            records: batch.records,
                            outcomes,
                            routed,
                            generation,
                            epochs: batch.epochs,
                            bytes: batch.bytes,
                            spent: spent.clone(),
                        };
                        if output.send(parsed).is_err() {
                            break;
                        }
                    }
                    Err(PrepareError::Instance(error)) => {
                        self.status
                            .fail(format!("the parser `{}` cannot be restarted: {error}", generation.plugin.name));
                        break;
                    }
                    Err(PrepareError::Unavailable(reason)) => {
                        self.status.fail_transiently(format!(
                            "the records cannot be converted for now ({reason}); nothing past them is committed and \
                             the connector restarts with backoff"
                        ));
                        break;
                    }
                }
            }
        })
    }
}

/// One outcome per record of `records` (and the topics routers gave them, empty when none
/// was routed), as a parser worker makes them: the connector's transforms (when it has any),
/// then the parser in `instance` (made with `make` when empty or after a trap). For work
/// outside the running pipeline (dead-letter replay). `Err` when no parser instance can be
/// made or the Schema Registry the converters need is unavailable.
#[allow(clippy::type_complexity)]
pub fn parse_batch(
    transforms: Option<&RecordTransforms>,
    instance: &mut Option<PluginInstance>,
    make: &mut dyn FnMut() -> Result<PluginInstance, InstanceError>,
    records: &[KafkaRecord],
) -> anyhow::Result<(Vec<Result<Vec<Output>, RecordFailure>>, Vec<Option<Arc<str>>>)> {
    let parsed = match transforms {
        None => parse_isolating(instance, make, records).map(|o| (o, Vec::new())).map_err(PrepareError::from),
        Some(transforms) => transform_and_parse(transforms, instance, make, records),
    };
    parsed.map_err(|error| anyhow::anyhow!("{error}"))
}

/// Outcomes of a batch whose records go through the connector's transforms first: the
/// records they keep (possibly changed: another topic, other bytes) are parsed together, a
/// dropped record has no outputs, and a record they fail on fails with the transform's reason.
/// One outcome per original record, in order, and the topics routers gave them (empty when
/// none was routed).
#[allow(clippy::type_complexity)]
pub(super) fn transform_and_parse(
    transforms: &RecordTransforms,
    instance: &mut Option<PluginInstance>,
    make: &mut dyn FnMut() -> Result<PluginInstance, InstanceError>,
    records: &[KafkaRecord],
) -> Result<(Vec<Result<Vec<Output>, RecordFailure>>, Vec<Option<Arc<str>>>), PrepareError> {
    let mut kept = Vec::with_capacity(records.len());
    let mut routed = Vec::new();
    let mut unavailable = None;
    // For each record: `None` when it is parsed (its outcome comes from the parser, in order),
    // else its outcome already.
    let settled: Vec<Option<Result<Vec<Output>, RecordFailure>>> = records
        .iter()
        .enumerate()
        .map(|(index, original)| match transforms.apply(original) {
            Transformed::Record(record) => {
                if record.topic != original.topic {
                    routed.resize(records.len(), None);
                    routed[index] = Some(Arc::clone(&record.topic));
                }
                kept.push(record);
                None
            }
            Transformed::Dropped => Some(Ok(Vec::new())),
            Transformed::Failed(failure) => Some(Err(RecordFailure::Transform(failure))),
            Transformed::Unavailable(reason) => {
                unavailable.get_or_insert(reason);
                None
            }
        })
        .collect();
    if let Some(reason) = unavailable {
        return Err(PrepareError::Unavailable(reason));
    }
    let mut parsed = parse_isolating(instance, make, &kept)?.into_iter();
    let outcomes = settled
        .into_iter()
        .map(|outcome| outcome.unwrap_or_else(|| parsed.next().expect("one outcome per parsed record")))
        .collect();
    Ok((outcomes, routed))
}

/// Why a batch could not be made ready for its sink.
#[derive(Debug, thiserror::Error)]
pub(super) enum PrepareError {
    /// No parser instance could be made.
    #[error(transparent)]
    Instance(#[from] InstanceError),
    /// A service the converters need (the Schema Registry) is unavailable.
    #[error("{0}")]
    Unavailable(String),
}

/// How failed records are handled.
#[derive(Clone)]
pub enum ErrorPath {
    /// The connector fails; nothing past the record is committed.
    Fail,
    /// Logged, counted and acknowledged.
    Ignore,
    /// Written to a dead-letter target, acknowledged once it confirmed.
    DeadLetter(Arc<dyn DeadLetterTarget>),
    /// Written to a dead-letter target, then the connector fails (`errors.tolerance=none`
    /// with a dead-letter topic, as Kafka Connect reports before it fails).
    DeadLetterThenFail(Arc<dyn DeadLetterTarget>),
}

/// What a sink lane needs.
pub struct SinkLane {
    /// Task number.
    pub task: usize,
    /// This lane's sink handle.
    pub sink: AnySink,
    /// Sink name for error messages.
    pub sink_name: String,
    /// The error policy.
    pub errors: ErrorPath,
    /// How failed records are logged (`errors.log.*`).
    pub error_log: ErrorLog,
    /// Offsets to acknowledge.
    pub tracker: Arc<Mutex<OffsetTracker>>,
    /// Connector status.
    pub status: Arc<ConnectorStatus>,
    /// Becomes true on shutdown: stop retrying and leave records unacknowledged.
    pub shutdown: watch::Receiver<bool>,
    /// Bytes in flight; a finished batch releases its own.
    pub inflight: Arc<Inflight>,
    /// Sends the sink's requests with bounded retries (`errors.retry.timeout`).
    pub driver: Driver,
    /// The most records one sink write takes when several batches are ready at once
    /// (`max.poll.records` times [`crate::sinks::SinkKind::batches_per_write`]); a single
    /// batch is never split.
    pub write_max_records: usize,
}

/// One batch's share of a sink write: its records left after fencing, their parse
/// outcomes, and what acknowledging them needs.
struct Part {
    records: Vec<KafkaRecord>,
    outcomes: Vec<Result<Vec<Output>, RecordFailure>>,
    routed: Vec<Option<Arc<str>>>,
    generation: Arc<ParserGeneration>,
    epochs: Vec<(PartitionKey, Epoch)>,
}

impl SinkLane {
    /// Writes parsed batches in sequence order until the input closes, the connector fails
    /// or shutdown. Batches parsed ahead of their turn wait in a reorder buffer; consecutive
    /// batches that are ready together go to the sink in one write, up to
    /// [`SinkLane::write_max_records`].
    pub async fn run(mut self, mut input: UnboundedReceiver<ParsedBatch>) {
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, ParsedBatch> = BTreeMap::new();
        while let Some(batch) = input.recv().await {
            waiting.insert(batch.sequence, batch);
            while let Ok(batch) = input.try_recv() {
                waiting.insert(batch.sequence, batch);
            }
            loop {
                let mut run: Vec<ParsedBatch> = Vec::new();
                let mut records = 0;
                while let Some(entry) = waiting.first_entry().filter(|e| *e.key() == next) {
                    let size = entry.get().records.len();
                    if !run.is_empty() && records + size > self.write_max_records {
                        break;
                    }
                    records += size;
                    run.push(entry.remove());
                    next += 1;
                }
                if run.is_empty() {
                    break;
                }
                let bytes: usize = run.iter().map(|b| b.bytes).sum();
                let started = std::time::Instant::now();
                self.status.count(self.task, |c| c.batch_size.record(records as u64));
                let go_on = !self.status.is_failed() && self.deliver(run).await;
                let elapsed = started.elapsed();
                self.status.count(self.task, |c| c.put_batch_time.record_time(elapsed));
                self.inflight.release(bytes);
                if !go_on {
                    return;
                }
            }
        }
    }

    /// Writes consecutive batches in one sink write and handles their failures. Returns
    /// false when the lane must stop.
    async fn deliver(&mut self, batches: Vec<ParsedBatch>) -> bool {
        let mut parts = Vec::with_capacity(batches.len());
        let mut returns = Vec::with_capacity(batches.len());
        for batch in batches {
            let ParsedBatch { records, outcomes, routed, generation, epochs, spent, .. } = batch;
            // Records of partitions revoked since they were read belong to their new owner
            // now: neither written nor acknowledged here (the new owner reads them again).
            let (records, outcomes, routed) = self.fence(records, outcomes, routed, &epochs);
            parts.push(Part { records, outcomes, routed, generation, epochs });
            returns.push(spent);
        }
        let delivered = self.write_and_settle(&parts).await;
        // A parser thread that has stopped no longer takes them; then they are freed here.
        for (part, spent) in parts.into_iter().zip(returns) {
            let _ = spent.send(part.outcomes);
        }
        delivered
    }

    /// Writes the parts' outputs and settles their failures; acknowledges what is done.
    async fn write_and_settle(&mut self, parts: &[Part]) -> bool {
        // Failures as (part, record index in the part, why), in batch order.
        let mut failures: Vec<(usize, usize, Failure)> = Vec::new();
        let total: usize = parts.iter().map(|p| p.records.len()).sum();
        let mut items = Vec::with_capacity(total);
        let mut item_records = Vec::with_capacity(total);
        for (part_index, part) in parts.iter().enumerate() {
            let parser_name = &part.generation.plugin.name;
            for (index, outcome) in part.outcomes.iter().enumerate() {
                match outcome {
                    Ok(outputs) if !outputs.is_empty() => {
                        let record = &part.records[index];
                        let topic = part.routed.get(index).and_then(Option::as_deref).unwrap_or(&record.topic);
                        items.push(SinkItem { record, topic, outputs });
                        item_records.push((part_index, index));
                    }
                    Ok(_) => self.status.count(self.task, |c| Counters::add(&c.records_without_output, 1)),
                    Err(failure) => failures.push((part_index, index, Failure::from_parser(parser_name, failure))),
                }
            }
        }

        // Under `errors.tolerance=none` nothing past the first record the parser (or a
        // transform) refused is written, as Kafka Connect stops before `put`.
        if matches!(self.errors, ErrorPath::Fail | ErrorPath::DeadLetterThenFail(_)) {
            if let Some(&(part, index, _)) = failures.first() {
                let keep = item_records.iter().take_while(|(p, i)| (*p, *i) < (part, index)).count();
                items.truncate(keep);
                item_records.truncate(keep);
            }
        }

        if !items.is_empty() {
            let report = match self.write_with_retries(&items).await {
                Some(report) => report,
                None => return false,
            };
            let outputs: usize = items.iter().map(|i| i.outputs.len()).sum();
            self.status.count(self.task, |c| Counters::add(&c.outputs_written, outputs as u64));
            for (item, reason) in report.rejected {
                let (part, index) = item_records[item];
                failures.push((part, index, Failure::from_sink(&self.sink_name, reason)));
            }
        }

        let failed_count = failures.len();
        if failed_count > 0 {
            self.status.count(self.task, |c| Counters::add(&c.records_failed, failed_count as u64));
            failures.sort_by_key(|(part, index, _)| (*part, *index));
            let pairs: Vec<(&KafkaRecord, &Failure)> =
                failures.iter().map(|(p, i, f)| (&parts[*p].records[*i], f)).collect();
            match self.errors.clone() {
                ErrorPath::Fail => {
                    self.log_failures(&pairs, "Stopping at");
                    return self.fail_at(parts, &failures);
                }
                ErrorPath::DeadLetterThenFail(queue) => {
                    self.log_failures(&pairs, "Dead-lettering, then stopping at");
                    if !self.dead_letter(queue.as_ref(), &pairs).await {
                        return false;
                    }
                    self.status.count(self.task, |c| Counters::add(&c.records_dead_lettered, failed_count as u64));
                    return self.fail_at(parts, &failures);
                }
                ErrorPath::Ignore => {
                    self.log_failures(&pairs, "Skipping");
                    self.status.count(self.task, |c| Counters::add(&c.records_skipped, failed_count as u64));
                }
                ErrorPath::DeadLetter(queue) => {
                    self.log_failures(&pairs, "Dead-lettering");
                    if !self.dead_letter(queue.as_ref(), &pairs).await {
                        return false;
                    }
                    self.status.count(self.task, |c| Counters::add(&c.records_dead_lettered, failed_count as u64));
                }
            }
        }
        self.status.count(self.task, |c| Counters::add(&c.records_written, (total - failed_count) as u64));
        for part in parts {
            self.acknowledge(&part.records, &part.epochs, &[]);
        }
        true
    }

    /// `errors.tolerance=none`: acknowledges everything before the first failed record, fails
    /// the connector naming it, and tells the lane to stop.
    fn fail_at(&self, parts: &[Part], failures: &[(usize, usize, Failure)]) -> bool {
        let (part, index, failure) = &failures[0];
        let more = if failures.len() > 1 {
            format!(" (and {} more in the same write)", failures.len() - 1)
        } else {
            String::new()
        };
        for (part_index, part) in parts.iter().enumerate() {
            let skip: Vec<usize> = failures.iter().filter(|(p, _, _)| *p == part_index).map(|(_, i, _)| *i).collect();
            self.acknowledge(&part.records, &part.epochs, &skip);
        }
        let routed = match self.errors {
            ErrorPath::DeadLetterThenFail(ref queue) => format!(" after reporting it to {}", queue.describe()),
            _ => String::new(),
        };
        self.status.fail(format!(
            "{}{more}; errors.tolerance=none, so the connector stops here{routed} and nothing past this record is \
             committed (set errors.tolerance=all with a dead-letter topic to route bad records and go on)",
            failure.describe(&parts[*part].records[*index])
        ));
        false
    }

    /// Logs failed records: at ERROR in Kafka Connect's words when `errors.log.enable` is set
    /// (with the record's key, value and headers under `errors.log.include.messages`), else
    /// one short line each.
    fn log_failures(&self, pairs: &[(&KafkaRecord, &Failure)], what: &str) {
        let handling = match what {
            "Skipping" => "skipped",
            "Dead-lettering" => "dead-lettered",
            "Dead-lettering, then stopping at" => "dead-lettered, then stopped the connector",
            _ => "stopped the connector",
        };
        for (record, failure) in pairs {
            self.status.note_failure(handling, failure.describe(record));
            if self.error_log.enabled {
                let message = if self.error_log.include_messages {
                    format!(" {}", describe_message(record))
                } else {
                    String::new()
                };
                tracing::error!(
                    connector = %self.status.name,
                    "Error encountered in task {}-{}. Executing stage '{}' with class '{}', where consumed record is \
                     {{topic='{}', partition={}, offset={}}}.{message} Reason: {}",
                    self.status.name, self.task, failure.stage.connect_name(), failure.component,
                    record.topic, record.partition, record.offset, failure.describe(record)
                );
            } else {
                tracing::warn!(connector = %self.status.name, "{what} record {}", failure.describe(record));
            }
        }
    }

    /// Writes through the driver, whose retries are bounded by `errors.retry.timeout`: a
    /// fatal error or a spent budget fails the connector (nothing past the batch is
    /// committed); shutdown leaves the batch unacknowledged.
    async fn write_with_retries(&mut self, items: &[SinkItem<'_>]) -> Option<crate::sinks::WriteReport> {
        match self.sink.write(items, &mut self.driver).await {
            Ok(report) => Some(report),
            Err(SinkError::Fatal(reason)) => {
                self.status.fail(format!("the {} sink failed: {reason}", self.sink_name));
                None
            }
            Err(SinkError::Unavailable(reason)) => {
                self.status.fail_transiently(format!("the {} sink failed: {reason}", self.sink_name));
                None
            }
            Err(SinkError::Interrupted) => None,
        }
    }

    /// Writes failed records to the dead-letter target, retrying within the target's budget.
    /// When the budget is spent (or the error is permanent) the connector fails naming the
    /// record and the reason; nothing of the batch is acknowledged. Returns false when the lane
    /// must stop.
    async fn dead_letter(&mut self, queue: &dyn DeadLetterTarget, pairs: &[(&KafkaRecord, &Failure)]) -> bool {
        let mut budget = RetryBudget::new(queue.retry_budget());
        loop {
            let error = match queue.send(self.task, pairs).await {
                Ok(()) => return true,
                Err(error) => error,
            };
            self.status.count(self.task, |c| Counters::add(&c.retries, 1));
            let delay = match budget.failed(error.permanent) {
                Verdict::RetryAfter(delay) => delay,
                Verdict::GiveUp => {
                    let (record, failure) = pairs[0];
                    let spent = if error.permanent {
                        "retrying cannot help".to_string()
                    } else {
                        format!("gave up after {} attempts in {:?}", budget.attempts(), budget.failing_for())
                    };
                    let reason = format!(
                        "the dead-letter write to {} failed ({spent}): {error}; the record was rejected because {}; \
                         nothing at or past it is committed",
                        queue.describe(),
                        failure.describe(record)
                    );
                    if error.permanent {
                        self.status.fail(reason);
                    } else {
                        self.status.fail_transiently(reason);
                    }
                    return false;
                }
            };
            if budget.warning_due() {
                tracing::warn!(connector = %self.status.name, target = %queue.describe(), attempt = budget.attempts(),
                    failing_for = ?budget.failing_for(), "Dead-letter write keeps failing, retrying: {error}");
            } else {
                tracing::debug!(connector = %self.status.name, target = %queue.describe(), attempt = budget.attempts(),
                    ?delay, "Dead-letter write failed, retrying: {error}");
            }
            if !self.sleep_unless_shutdown(delay).await {
                return false;
            }
        }
    }

    async fn sleep_unless_shutdown(&mut self, delay: Duration) -> bool {
        if *self.shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => !self.status.is_failed(),
            _ = self.shutdown.changed() => false,
        }
    }

    /// Drops the records (and outcomes) of partitions whose epoch is no longer current.
    #[allow(clippy::type_complexity)]
    fn fence(
        &self,
        records: Vec<KafkaRecord>,
        outcomes: Vec<Result<Vec<Output>, RecordFailure>>,
        routed: Vec<Option<Arc<str>>>,
        epochs: &[(PartitionKey, Epoch)],
    ) -> (Vec<KafkaRecord>, Vec<Result<Vec<Output>, RecordFailure>>, Vec<Option<Arc<str>>>) {
        let stale: Vec<&PartitionKey> = {
            let tracker = lock(&self.tracker);
            epochs.iter().filter(|(key, epoch)| !tracker.is_current(key, *epoch)).map(|(key, _)| key).collect()
        };
        if stale.is_empty() {
            return (records, outcomes, routed);
        }
        tracing::debug!(connector = %self.status.name, partitions = stale.len(),
            "Dropping records of partitions revoked since they were read; their new owner writes them.");
        let keep: Vec<bool> = records
            .iter()
            .map(|r| !stale.iter().any(|(topic, partition)| *partition == r.partition && **topic == *r.topic))
            .collect();
        let routed = match routed.is_empty() {
            true => routed,
            false => routed.into_iter().zip(&keep).filter(|(_, k)| **k).map(|(t, _)| t).collect(),
        };
        let (records, outcomes) =
            records.into_iter().zip(outcomes).zip(&keep).filter(|(_, k)| **k).map(|(p, _)| p).unzip();
        (records, outcomes, routed)
    }

    /// Acknowledges every record except the indices in `skip` (sorted), a run of
    /// consecutive records of one partition at a time, in the epoch it was dispatched in.
    fn acknowledge(&self, records: &[KafkaRecord], epochs: &[(PartitionKey, Epoch)], skip: &[usize]) {
        let mut tracker = lock(&self.tracker);
        let mut start = 0;
        while start < records.len() {
            let (topic, partition) = (&records[start].topic, records[start].partition);
            let end =
                start + records[start..].iter().take_while(|r| r.partition == partition && &r.topic == topic).count();
            let found = epochs.iter().find(|((t, p), _)| *p == partition && **t == **topic);
            if let Some((key, epoch)) = found {
                let offsets = (start..end).filter(|i| skip.binary_search(i).is_err()).map(|i| records[i].offset);
                tracker.ack(key, *epoch, offsets);
            }
            start = end;
        }
    }
}

/// Exponential backoff from 100 ms to 30 s with jitter (between half and the full delay),
/// for the dead-letter retries.
pub fn backoff(attempt: u32) -> Duration {
    retry::jittered(attempt + 1, Duration::from_millis(100), Duration::from_secs(30))
}

/// The record's key, value and headers for `errors.log.include.messages` (text shown as
/// text, other bytes as base64, each cut at 1 KiB).
fn describe_message(record: &KafkaRecord) -> String {
    fn bytes(data: Option<&[u8]>) -> String {
        use base64::Engine as _;
        const MAX: usize = 1024;
        let Some(data) = data else { return "null".to_string() };
        let cut = &data[..data.len().min(MAX)];
        let more = if data.len() > MAX { format!("... ({} bytes)", data.len()) } else { String::new() };
        match std::str::from_utf8(cut) {
            Ok(text) => format!("'{text}'{more}"),
            Err(_) => format!("base64:{}{more}", base64::engine::general_purpose::STANDARD.encode(cut)),
        }
    }
    let headers: Vec<String> =
        record.headers.iter().map(|h| format!("{}={}", h.key, bytes(h.value.as_deref()))).collect();
    format!(
        "Record: key={}, value={}, headers=[{}], timestamp={:?}.",
        bytes(record.key.as_deref()),
        bytes(record.value.as_deref()),
        headers.join(", "),
        record.timestamp_ms
    )
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..40 {
            let d = backoff(attempt).as_millis() as u64;
            let base = (100u64 << attempt.min(9)).min(30_000);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d}");
        }
    }
}
