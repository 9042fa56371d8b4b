//! A connector's consumer group seen from outside the connector: its committed offsets, and
//! moving or resetting them while the connector is stopped (the REST offsets endpoints).

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};

use super::client;

const TIMEOUT: Duration = Duration::from_secs(10);

/// One partition's committed position (the offset of the next record to read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffset {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Committed position.
    pub offset: i64,
}

/// A client of the group `group` that never joins it (it only reads and commits offsets).
pub struct GroupClient {
    consumer: BaseConsumer,
    config: rdkafka::ClientConfig,
    group: String,
}

impl GroupClient {
    /// Connects with the connector's consumer settings.
    pub fn new(bootstrap: &str, settings: &[(String, String)], group: &str) -> anyhow::Result<Self> {
        let mut config = client::client_config(bootstrap, settings);
        config.set("group.id", group).set("enable.auto.commit", "false");
        let consumer =
            client::create(config.clone()).with_context(|| format!("connecting to Kafka for group `{group}`"))?;
        Ok(Self { consumer, config, group: group.to_string() })
    }

    /// The cluster id the brokers report.
    pub fn cluster_id(&self) -> Option<String> {
        self.consumer.client().fetch_cluster_id(TIMEOUT)
    }

    /// Every partition of the topics accepted by `wanted`, from the cluster's metadata.
    pub fn partitions(&self, wanted: impl Fn(&str) -> bool) -> anyhow::Result<Vec<(String, i32)>> {
        let metadata = self.consumer.fetch_metadata(None, TIMEOUT).context("reading the cluster's topics")?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| !t.name().starts_with("__") && wanted(t.name()))
            .flat_map(|t| t.partitions().iter().map(|p| (t.name().to_string(), p.id())))
            .collect())
    }

    /// The group's committed positions among `partitions` (partitions without one are left
    /// out, as Kafka Connect does).
    pub fn committed(&self, partitions: &[(String, i32)]) -> anyhow::Result<Vec<GroupOffset>> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let mut list = TopicPartitionList::new();
        for (topic, partition) in partitions {
            list.add_partition(topic, *partition);
        }
        let committed = self.consumer.committed_offsets(list, TIMEOUT).context("reading committed offsets")?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => {
                    Some(GroupOffset { topic: e.topic().to_string(), partition: e.partition(), offset })
                }
                _ => None,
            })
            .collect())
    }

    /// Where the group starts reading a partition without a committed position, by
    /// `auto.offset.reset` (`earliest`, Kafka Connect's default, or `latest`).
    pub fn reset_position(&self, topic: &str, partition: i32, latest: bool) -> anyhow::Result<i64> {
        let (low, high) = self
            .consumer
            .fetch_watermarks(topic, partition, TIMEOUT)
            .with_context(|| format!("reading the offsets of {topic}-{partition}"))?;
        Ok(if latest { high } else { low })
    }

    /// Commits `offsets` for the group (empty: its connector is stopped), synchronously.
    /// Like Kafka Connect's admin client, it first commits from outside the group, which
    /// Kafka brokers accept for an empty group at once. A broker that refuses commits from
    /// outside a group it knows (librdkafka's mock cluster) gets them from a member instead:
    /// a consumer joins the group, is assigned the partitions, commits and leaves (the mock
    /// completes that join only once the group's last rebalance has timed out, up to a
    /// session after the connector stopped).
    pub fn commit(&self, offsets: &[GroupOffset]) -> anyhow::Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let mut list = TopicPartitionList::new();
        for o in offsets {
            list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.offset))
                .with_context(|| format!("offset {} of {}-{}", o.offset, o.topic, o.partition))?;
        }
        match self.consumer.commit(&list, CommitMode::Sync) {
            Ok(()) => return Ok(()),
            Err(KafkaError::ConsumerCommit(
                RDKafkaErrorCode::UnknownMemberId | RDKafkaErrorCode::IllegalGeneration,
            )) => {}
            Err(error) => return Err(error).context("committing offsets"),
        }
        let mut topics: Vec<&str> = offsets.iter().map(|o| o.topic.as_str()).collect();
        topics.sort_unstable();
        topics.dedup();
        let member: BaseConsumer = client::create(self.config.clone())
            .with_context(|| format!("connecting to Kafka for group `{}`", self.group))?;
        member.subscribe(&topics).context("joining the connector's consumer group")?;
        let deadline = std::time::Instant::now() + JOIN_TIMEOUT;
        let wanted = offsets.len();
        loop {
            let _ = member.poll(Duration::from_millis(100));
            let assigned = member.assignment().map(|a| a.count()).unwrap_or(0);
            if assigned >= wanted {
                break;
            }
            if std::time::Instant::now() > deadline {
                anyhow::bail!(
                    "the consumer group `{}` did not hand over its partitions within {}s; is another \
                     consumer (a running copy of this connector) still in the group?",
                    self.group,
                    JOIN_TIMEOUT.as_secs()
                );
            }
        }
        let result = member.commit(&list, CommitMode::Sync).context("committing offsets");
        member.unsubscribe();
        result
    }
}

/// How long joining the group to commit may take.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);
