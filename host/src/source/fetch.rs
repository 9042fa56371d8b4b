//! Reading a bounded range of records outside any connector's consumer group, for `sluice
//! explain --from` and dead-letter replay: partitions are assigned (never subscribed), so no
//! group rebalances, and reading stops at the end offsets seen when it began. A replay keeps
//! its own position in a group of its own ([`commit`]); nothing here commits for a connector.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::client;
use super::consumer::{to_record, TopicNames};
use crate::model::KafkaRecord;

/// How long metadata, watermark and offset lookups may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading waits for records the watermarks say exist.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Where reading a partition starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The earliest offset still in the log.
    Beginning,
    /// This offset.
    Offset(i64),
    /// The first record with a timestamp at or after this many milliseconds since the epoch.
    Time(i64),
    /// The position committed by the reader's group, or the beginning when there is none.
    Committed,
}

/// A consumer that reads assigned partitions up to fixed end offsets.
pub struct RangeReader {
    consumer: BaseConsumer,
    read_timeout: Duration,
}

impl RangeReader {
    /// A reader on `bootstrap` with the connector's consumer `settings`, in consumer group
    /// `group` (used only for [`Start::Committed`] and [`RangeReader::commit`]).
    pub fn new(bootstrap: &str, settings: &[(String, String)], group: &str) -> anyhow::Result<Self> {
        let mut config = client::client_config(bootstrap, settings);
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest");
        let consumer: BaseConsumer = client::create(config).context("creating a Kafka consumer")?;
        Ok(Self { consumer, read_timeout: READ_TIMEOUT })
    }

    /// Gives up reading after `timeout` without the records the watermarks promised (30 s
    /// unless set).
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The partitions of `topic`.
    pub fn partitions(&self, topic: &str) -> anyhow::Result<Vec<i32>> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(topic), LOOKUP_TIMEOUT)
            .with_context(|| format!("reading the metadata of topic `{topic}`"))?;
        let found = metadata.topics().iter().find(|t| t.name() == topic && t.error().is_none());
        match found {
            Some(t) if !t.partitions().is_empty() => Ok(t.partitions().iter().map(|p| p.id()).collect()),
            _ => anyhow::bail!("topic `{topic}` does not exist (or has no partitions); check the topic name"),
        }
    }

    /// The low and high watermarks of `topic`/`partition`: the first offset in the log and
    /// the offset the next record will get.
    pub fn watermarks(&self, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
        self.consumer
            .fetch_watermarks(topic, partition, LOOKUP_TIMEOUT)
            .with_context(|| format!("reading the offsets of {topic}-{partition}"))
    }

    /// The offset `start` names in `topic`/`partition` (the high watermark when a time is
    /// past the last record).
    pub fn resolve(&self, topic: &str, partition: i32, start: Start) -> anyhow::Result<i64> {
        let (low, high) = self.watermarks(topic, partition)?;
        Ok(match start {
            Start::Beginning => low,
            Start::Offset(offset) => offset.max(low),
            Start::Time(ms) => {
                let mut wanted = TopicPartitionList::new();
                wanted.add_partition_offset(topic, partition, Offset::Offset(ms))?;
                let found = self
                    .consumer
                    .offsets_for_times(wanted, LOOKUP_TIMEOUT)
                    .with_context(|| format!("finding the first record of {topic}-{partition} at or after {ms} ms"))?;
                match found.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset.max(low),
                    _ => high,
                }
            }
            Start::Committed => {
                let mut wanted = TopicPartitionList::new();
                wanted.add_partition(topic, partition);
                let committed = self
                    .consumer
                    .committed_offsets(wanted, LOOKUP_TIMEOUT)
                    .with_context(|| format!("reading the committed position of {topic}-{partition}"))?;
                match committed.find_partition(topic, partition).map(|e| e.offset()) {
                    Some(Offset::Offset(offset)) => offset.max(low),
                    _ => low,
                }
            }
        })
    }

    /// Reads `topic`/`partition` from `start` up to the end offset seen now, at most `limit`
    /// records. Returns the records and the offset reading stopped before.
    pub fn read(
        &self,
        topic: &str,
        partition: i32,
        start: Start,
        limit: usize,
    ) -> anyhow::Result<(Vec<KafkaRecord>, i64)> {
        let from = self.resolve(topic, partition, start)?;
        let (_, high) = self.watermarks(topic, partition)?;
        self.read_until(topic, partition, from, high, limit)
    }

    /// Reads `topic`/`partition` from offset `from` up to (not including) `until`, at most
    /// `limit` records. Returns the records and the offset reading stopped before.
    pub fn read_until(
        &self,
        topic: &str,
        partition: i32,
        from: i64,
        until: i64,
        limit: usize,
    ) -> anyhow::Result<(Vec<KafkaRecord>, i64)> {
        let end = until.min(from.saturating_add(limit as i64));
        if from >= end {
            return Ok((Vec::new(), from));
        }
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
        self.consumer.assign(&assignment).context("assigning the partition")?;
        let mut records = Vec::with_capacity((end - from) as usize);
        let mut topics = TopicNames::default();
        let deadline = Instant::now() + self.read_timeout;
        let mut next = from;
        while next < end {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                anyhow::bail!(
                    "reading {topic}-{partition} stopped at offset {next} of {end}: no record arrived within {} ms",
                    self.read_timeout.as_millis()
                );
            }
            match self.consumer.poll(left.min(Duration::from_millis(500))) {
                None => {}
                Some(Err(error)) => anyhow::bail!("reading {topic}-{partition}: {error}"),
                Some(Ok(message)) => {
                    next = message.offset() + 1;
                    if message.offset() < end {
                        records.push(to_record(&message, &mut topics));
                    }
                }
            }
        }
        self.consumer.unassign().context("unassigning the partition")?;
        Ok((records, end))
    }

    /// Reads several ranges at once, one assignment for all: each `(topic, partition, from,
    /// until)` from offset `from` up to (not including) `until`. Returns the records, range by
    /// range. Assigning partitions one after another would wait for a fetch round each.
    pub fn read_ranges(&self, ranges: &[(&str, i32, i64, i64)]) -> anyhow::Result<Vec<KafkaRecord>> {
        let mut assignment = TopicPartitionList::new();
        let mut wanted: Vec<(&str, i32, i64, i64, Vec<KafkaRecord>)> = Vec::new();
        for &(topic, partition, from, until) in ranges.iter().filter(|r| r.2 < r.3) {
            assignment.add_partition_offset(topic, partition, Offset::Offset(from))?;
            wanted.push((topic, partition, from, until, Vec::new()));
        }
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        self.consumer.assign(&assignment).context("assigning the partitions")?;
        let mut topics = TopicNames::default();
        let deadline = Instant::now() + self.read_timeout;
        while wanted.iter().any(|(_, _, next, until, _)| next < until) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let (topic, partition, next, until, _) =
                    wanted.iter().find(|(_, _, next, until, _)| next < until).expect("one is not done");
                anyhow::bail!(
                    "reading {topic}-{partition} stopped at offset {next} of {until}: no record arrived within {} ms",
                    self.read_timeout.as_millis()
                );
            }
            match self.consumer.poll(left.min(Duration::from_millis(500))) {
                None => {}
                Some(Err(error)) => anyhow::bail!("reading the sample partitions: {error}"),
                Some(Ok(message)) => {
                    let range = wanted
                        .iter_mut()
                        .find(|(topic, partition, ..)| *topic == message.topic() && *partition == message.partition());
                    if let Some((_, _, next, until, records)) = range {
                        *next = message.offset() + 1;
                        if message.offset() < *until {
                            records.push(to_record(&message, &mut topics));
                        }
                    }
                }
            }
        }
        self.consumer.unassign().context("unassigning the partitions")?;
        Ok(wanted.into_iter().flat_map(|(.., records)| records).collect())
    }

    /// Commits `positions` (topic, partition, next offset) for the reader's group.
    pub fn commit(&self, positions: &[(String, i32, i64)]) -> anyhow::Result<()> {
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in positions {
            list.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
        }
        self.consumer.commit(&list, CommitMode::Sync).context("committing the replay position")
    }
}

/// Parses `TOPIC:PARTITION:OFFSET` (the topic may itself contain `:`).
pub fn parse_coordinates(text: &str) -> anyhow::Result<(String, i32, i64)> {
    let usage = || format!("`{text}` is not TOPIC:PARTITION:OFFSET (for example orders:0:42)");
    let (rest, offset) = text.rsplit_once(':').with_context(usage)?;
    let (topic, partition) = rest.rsplit_once(':').with_context(usage)?;
    if topic.is_empty() {
        anyhow::bail!(usage());
    }
    Ok((
        topic.to_string(),
        partition.parse::<i32>().ok().with_context(usage)?,
        offset.parse::<i64>().ok().with_context(usage)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_parse_and_name_the_format() {
        assert_eq!(parse_coordinates("a:b:1:42").unwrap(), ("a:b".to_string(), 1, 42));
        assert!(parse_coordinates("orders:x:1").unwrap_err().to_string().contains("TOPIC:PARTITION:OFFSET"));
        assert!(parse_coordinates(":0:1").is_err());
    }
}
