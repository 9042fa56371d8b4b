//! Reading a whole topic from its beginning and then following it, without a consumer group
//! (each worker reads every record of the cluster's internal topics), as Kafka Connect's
//! `KafkaBasedLog` does.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::sync::mpsc;

use crate::source::client;

/// One record read.
#[derive(Debug, Clone)]
pub struct TailRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key, as text (records without a key are skipped).
    pub key: String,
    /// Value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Timestamp (ms since the epoch; 0 when the record has none).
    pub timestamp_ms: i64,
}

/// What the reader sends.
#[derive(Debug, Clone)]
pub enum TailEvent {
    /// A record.
    Record(TailRecord),
    /// Every partition has been read up to where it ended when reading started (sent once,
    /// judged by the consumer's position, so transaction markers do not hold it up).
    CaughtUp,
}

/// A running reader; dropping it stops the reading thread.
pub struct Tail {
    stop: Arc<AtomicBool>,
}

impl Drop for Tail {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Starts reading `topic` from the beginning on a thread of its own; records arrive in order
/// per partition on the returned channel, and [`TailEvent::CaughtUp`] once the reader has
/// reached where the topic ended when it started.
pub fn start(
    bootstrap: &str,
    settings: &[(String, String)],
    topic: &str,
    client_id: &str,
) -> anyhow::Result<(Tail, mpsc::UnboundedReceiver<TailEvent>)> {
    let mut config = client::client_config(bootstrap, settings);
    // No group is joined (partitions are assigned); the id only names the client.
    config.set("group.id", client_id).set("client.id", client_id).set("enable.auto.commit", "false");
    config.set("enable.partition.eof", "false").set("fetch.wait.max.ms", "100");
    let consumer: BaseConsumer = client::create(config).with_context(|| format!("creating a reader of `{topic}`"))?;
    let timeout = Duration::from_secs(15);
    let metadata =
        consumer.fetch_metadata(Some(topic), timeout).with_context(|| format!("reading the metadata of `{topic}`"))?;
    let partitions: Vec<i32> =
        metadata.topics().iter().filter(|t| t.name() == topic).flat_map(|t| t.partitions()).map(|p| p.id()).collect();
    if partitions.is_empty() {
        anyhow::bail!("topic `{topic}` has no partitions (does it exist?)");
    }
    let mut end_offsets = BTreeMap::new();
    let mut assignment = TopicPartitionList::new();
    for partition in &partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, *partition, timeout)
            .with_context(|| format!("reading the end of `{topic}` partition {partition}"))?;
        end_offsets.insert(*partition, high);
        assignment.add_partition_offset(topic, *partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment).with_context(|| format!("assigning `{topic}`"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, receiver) = mpsc::unbounded_channel();
    let stopped = stop.clone();
    let name = topic.to_string();
    std::thread::Builder::new().name(format!("tail-{topic}")).spawn(move || {
        let mut caught_up = false;
        while !stopped.load(Ordering::Relaxed) {
            if !caught_up && reached(&consumer, &name, &end_offsets) {
                caught_up = true;
                if sender.send(TailEvent::CaughtUp).is_err() {
                    break;
                }
            }
            match consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(error)) => {
                    tracing::warn!(topic = %name, %error, "Reading an internal topic failed; retrying.");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Some(Ok(message)) => {
                    let Some(key) = message.key().map(|k| String::from_utf8_lossy(k).into_owned()) else { continue };
                    let record = TailRecord {
                        partition: message.partition(),
                        offset: message.offset(),
                        key,
                        value: message.payload().map(<[u8]>::to_vec),
                        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
                    };
                    if sender.send(TailEvent::Record(record)).is_err() {
                        break;
                    }
                }
            }
        }
    })?;
    Ok((Tail { stop }, receiver))
}

/// Whether the consumer's position has reached `end` in every partition.
fn reached(consumer: &BaseConsumer, topic: &str, end: &BTreeMap<i32, i64>) -> bool {
    let Ok(positions) = consumer.position() else { return false };
    end.iter().all(|(partition, end)| {
        *end == 0
            || matches!(positions.find_partition(topic, *partition).map(|p| p.offset()), Some(Offset::Offset(at)) if at >= *end)
    })
}
