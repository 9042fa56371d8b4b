//! The connector's Kafka consumer: Kafka Connect's group and defaults, manual commits of
//! tracked positions, and a rebalance hook that drains and commits revoked partitions.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::client;
use super::offsets::{OffsetTracker, PartitionKey};
use crate::config::{ConnectorConfig, TopicSelection};
use crate::model::{Header, KafkaRecord};

/// Default `queued.max.messages.kbytes` (librdkafka's prefetch queue) unless a
/// `consumer.*` / `consumer.override.*` key sets it.
pub const DEFAULT_PREFETCH_KIB: &str = "4096";

/// Default `fetch.queue.backoff.ms` unless a `consumer.*` key sets it. When the prefetch
/// queue is full (the pipeline is at its in-flight cap), librdkafka postpones the next fetch
/// by this long; its default (1000 ms) left the pipeline idle for most of a second each time
/// it caught up. A short backoff costs one cheap queue check per partition per interval.
pub const DEFAULT_FETCH_QUEUE_BACKOFF_MS: &str = "10";

/// The consumer type used by connectors.
pub type SourceConsumer = StreamConsumer<SourceContext>;

/// State shared between the consume loop and librdkafka's rebalance callbacks.
#[derive(Clone)]
pub struct SourceContext {
    /// The connector's offsets.
    pub tracker: Arc<Mutex<OffsetTracker>>,
    /// Partitions revoked since the consume loop last looked; it drops their buffered records.
    pub revoked: Arc<Mutex<Vec<PartitionKey>>>,
    /// Set with each revocation: the consume loop checks it before taking the next record,
    /// so records of a revoked partition still waiting for their batch are dropped before a
    /// record read after the rebalance (which may be the same partition again, from its
    /// committed offset) joins them.
    pub revocation_pending: Arc<AtomicBool>,
    /// How long a revocation waits for in-flight records before committing what is done.
    pub drain_timeout: Duration,
    /// Connector name for logs.
    pub connector: Arc<str>,
    /// Partitions currently assigned to this consumer (a gauge for status and tests).
    pub assigned: Arc<AtomicU64>,
    /// Which partitions those are (`topic-partition`), for the cluster status.
    pub assignment: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for SourceContext {}

impl ConsumerContext for SourceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(partitions) = rebalance else { return };
        let keys: Vec<PartitionKey> =
            partitions.elements().iter().map(|e| (Arc::from(e.topic()), e.partition())).collect();
        if keys.is_empty() {
            return;
        }
        let deadline = Instant::now() + self.drain_timeout;
        loop {
            let inflight = lock(&self.tracker).inflight_in(&keys);
            if inflight == 0 {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(connector = %self.connector, inflight,
                    "Partitions revoked before their records were written; they will be re-read by the new owner.");
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let positions = lock(&self.tracker).to_commit_in(&keys);
        if !positions.is_empty() {
            match commit_positions(consumer, &positions, CommitMode::Sync) {
                Ok(()) => tracing::info!(connector = %self.connector, partitions = positions.len(),
                    "Committed offsets of revoked partitions."),
                Err(error) => tracing::warn!(connector = %self.connector, %error,
                    "Committing offsets of revoked partitions failed; their records may be re-read."),
            }
        }
        lock(&self.tracker).forget(&keys);
        lock(&self.revoked).extend(keys);
        self.revocation_pending.store(true, Ordering::Release);
    }

    /// Keeps the assignment from the rebalance events themselves (an eager rebalance revokes
    /// everything and assigns the whole new set; a cooperative one revokes and assigns the
    /// difference). Asking librdkafka (`assignment()`) here would wait forever when the
    /// event comes from closing the consumer: its group handler no longer answers then.
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let name =
            |e: &rdkafka::topic_partition_list::TopicPartitionListElem<'_>| format!("{}-{}", e.topic(), e.partition());
        let mut assignment = lock(&self.assignment);
        match rebalance {
            Rebalance::Assign(partitions) => {
                tracing::info!(connector = %self.connector, partitions = partitions.count(), "Partitions assigned.");
                for element in partitions.elements() {
                    let partition = name(&element);
                    if !assignment.contains(&partition) {
                        assignment.push(partition);
                    }
                }
            }
            Rebalance::Revoke(partitions) => {
                let revoked: Vec<String> = partitions.elements().iter().map(name).collect();
                assignment.retain(|p| !revoked.contains(p));
            }
            Rebalance::Error(_) => {}
        }
        self.assigned.store(assignment.len() as u64, Ordering::Relaxed);
    }
}

/// Locks a mutex, recovering from poisoning (the data stays consistent: every critical
/// section is a few map operations).
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates and subscribes the connector's consumer: group `connect-<name>`, client id
/// `connector-consumer-<name>-0`, manual commits, `auto.offset.reset=earliest` unless
/// overridden.
pub fn subscribe(
    bootstrap_servers: &str,
    connector: &ConnectorConfig,
    context: SourceContext,
) -> anyhow::Result<SourceConsumer> {
    let mut config = client::client_config(bootstrap_servers, &[]);
    config
        .set("group.id", connector.group_id())
        .set("client.id", format!("connector-consumer-{}-0", connector.name))
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // librdkafka's prefetch queue is the first buffer between the broker and the pipeline;
        // its default (64 MiB) alone would be most of sluice's memory.
        .set("queued.max.messages.kbytes", DEFAULT_PREFETCH_KIB)
        .set("fetch.queue.backoff.ms", DEFAULT_FETCH_QUEUE_BACKOFF_MS);
    for (key, value) in client::client_config(bootstrap_servers, &connector.consumer_settings).config_map() {
        config.set(key, value);
    }
    // Commits are sluice's job: only tracked positions are ever committed.
    config.set("enable.auto.commit", "false").set("enable.auto.offset.store", "false");
    let consumer: SourceConsumer = client::create_with_context(config, context)
        .map_err(|e| anyhow::anyhow!("creating the consumer for connector `{}`: {e}", connector.name))?;
    match &connector.topics {
        TopicSelection::List(topics) => {
            let topics: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&topics)
        }
        TopicSelection::Regex(regex) => {
            let pattern = if regex.starts_with('^') { regex.clone() } else { format!("^{regex}") };
            consumer.subscribe(&[pattern.as_str()])
        }
    }
    .map_err(|e| anyhow::anyhow!("subscribing connector `{}`: {e}", connector.name))?;
    Ok(consumer)
}

/// Commits `(partition, next offset)` positions.
pub fn commit_positions<C: Consumer<X>, X: ConsumerContext>(
    consumer: &C,
    positions: &[(PartitionKey, i64)],
    mode: CommitMode,
) -> KafkaResult<()> {
    let mut list = TopicPartitionList::with_capacity(positions.len());
    for ((topic, partition), offset) in positions {
        list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
    }
    consumer.commit(&list, mode)
}

/// Topic names shared by the records read from them: one allocation per topic, not one
/// per record.
#[derive(Debug, Default)]
pub struct TopicNames {
    names: Vec<Arc<str>>,
}

impl TopicNames {
    /// The shared name for `topic`.
    pub fn get(&mut self, topic: &str) -> Arc<str> {
        if let Some(name) = self.names.iter().find(|name| &***name == topic) {
            return Arc::clone(name);
        }
        let name: Arc<str> = Arc::from(topic);
        self.names.push(Arc::clone(&name));
        name
    }
}

/// Copies a consumed message into an owned record for the parser.
pub fn to_record(message: &BorrowedMessage<'_>, topics: &mut TopicNames) -> KafkaRecord {
    KafkaRecord {
        topic: topics.get(message.topic()),
        partition: message.partition(),
        offset: message.offset(),
        timestamp_ms: message.timestamp().to_millis(),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers: message
            .headers()
            .map(|headers| {
                headers.iter().map(|h| Header { key: h.key.to_string(), value: h.value.map(<[u8]>::to_vec) }).collect()
            })
            .unwrap_or_default(),
    }
}

/// Records not yet written per assigned partition: the high watermark librdkafka last saw
/// (from fetch responses, so no request to the broker; a paused partition keeps the value of
/// its last fetch) minus the position nothing before which is pending (`positions`, from the
/// offset tracker), else the consumer's fetch position, else the low watermark.
pub fn lag(consumer: &SourceConsumer, positions: &[(PartitionKey, i64)]) -> Vec<(PartitionKey, i64)> {
    let Ok(assignment) = consumer.assignment() else { return Vec::new() };
    let fetch_positions = consumer.position().ok();
    let mut lags = Vec::with_capacity(assignment.count());
    for element in assignment.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let Ok(name) = std::ffi::CString::new(topic) else { continue };
        let (mut low, mut high) = (-1i64, -1i64);
        // SAFETY: the handle is live for the consumer's lifetime; librdkafka copies nothing
        // out of `name` beyond the call and writes only the two offsets.
        let error = unsafe {
            rdkafka_sys::rd_kafka_get_watermark_offsets(
                consumer.client().native_ptr(),
                name.as_ptr(),
                partition,
                &mut low,
                &mut high,
            )
        };
        if error != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || high < 0 {
            continue;
        }
        let tracked = positions.iter().find(|((t, p), _)| *p == partition && &**t == topic).map(|(_, o)| *o);
        let fetched = fetch_positions.as_ref().and_then(|list| match list.find_partition(topic, partition)?.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        });
        let Some(position) = tracked.or(fetched).or((low >= 0).then_some(low)) else { continue };
        lags.push(((Arc::from(topic), partition), (high - position).max(0)));
    }
    lags
}
