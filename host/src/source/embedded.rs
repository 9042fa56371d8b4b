//! An in-process Kafka-protocol broker (librdkafka's mock cluster) for trying sluice and for
//! tests. Any Kafka client can connect to its bootstrap address while it lives.

use anyhow::Context as _;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

/// A running embedded broker.
pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    /// Starts a single-broker cluster on a loopback port.
    pub fn start() -> anyhow::Result<Self> {
        let cluster = MockCluster::new(1).context("starting the embedded Kafka broker")?;
        Ok(Self { cluster })
    }

    /// The address to use as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    /// Creates a topic (replication factor 1).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        self.cluster
            .create_topic(topic, partitions, 1)
            .with_context(|| format!("creating topic `{topic}` on the embedded broker"))
    }
}
