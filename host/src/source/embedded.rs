//! An in-process Kafka-protocol broker (librdkafka's mock cluster) for trying sluice and for
//! tests. Any Kafka client can connect to its bootstrap address while it lives.
//!
//! The cluster is owned by a private producer handle (`test.mock.num.brokers`), which gives
//! access to the mock's settings; the group's initial rebalance delay is set to zero so
//! consumers join at once instead of after Kafka's default three seconds.

use std::ffi::{CStr, CString};

use anyhow::{bail, Context as _};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka_sys as rdsys;

/// A running embedded broker.
pub struct EmbeddedKafka {
    // Owns the mock cluster; dropping it shuts the broker down.
    owner: BaseProducer,
}

// SAFETY: the librdkafka handle is thread-safe; the mock-cluster calls below are documented
// as callable from any thread.
unsafe impl Sync for EmbeddedKafka {}

impl EmbeddedKafka {
    /// Starts a single-broker cluster on a loopback port.
    pub fn start() -> anyhow::Result<Self> {
        let owner: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", "1")
            .set("log_level", "3")
            .create()
            .context("starting the embedded Kafka broker")?;
        let kafka = Self { owner };
        // SAFETY: the cluster pointer is valid while `owner` lives.
        unsafe { rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(kafka.cluster()?, 0) };
        Ok(kafka)
    }

    fn cluster(&self) -> anyhow::Result<*mut rdsys::rd_kafka_mock_cluster_t> {
        // SAFETY: `native_ptr` is the live handle owned by `self.owner`.
        let cluster = unsafe { rdsys::rd_kafka_handle_mock_cluster(self.owner.client().native_ptr()) };
        if cluster.is_null() {
            bail!("the embedded Kafka broker is not running");
        }
        Ok(cluster)
    }

    /// The address to use as `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        match self.cluster() {
            // SAFETY: librdkafka returns a NUL-terminated string owned by the cluster.
            Ok(cluster) => unsafe { CStr::from_ptr(rdsys::rd_kafka_mock_cluster_bootstraps(cluster)) }
                .to_string_lossy()
                .into_owned(),
            Err(_) => String::new(),
        }
    }

    /// Takes the broker down (its connections are closed and new ones refused) or brings it
    /// back, as a broker restart looks to its clients; for tests of broker outages.
    pub fn set_broker_up(&self, up: bool) -> anyhow::Result<()> {
        let cluster = self.cluster()?;
        // SAFETY: valid cluster pointer; broker 1 is the cluster's only broker.
        let code = unsafe {
            if up {
                rdsys::rd_kafka_mock_broker_set_up(cluster, 1)
            } else {
                rdsys::rd_kafka_mock_broker_set_down(cluster, 1)
            }
        };
        if code != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            bail!("changing the embedded broker's state failed: {}", rdkafka::error::RDKafkaErrorCode::from(code));
        }
        Ok(())
    }

    /// Creates a topic (replication factor 1).
    pub fn create_topic(&self, topic: &str, partitions: i32) -> anyhow::Result<()> {
        let name = CString::new(topic).context("topic names cannot contain NUL")?;
        // SAFETY: valid cluster pointer and NUL-terminated name.
        let code = unsafe { rdsys::rd_kafka_mock_topic_create(self.cluster()?, name.as_ptr(), partitions, 1) };
        if code != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            bail!(
                "creating topic `{topic}` on the embedded broker failed: {}",
                rdkafka::error::RDKafkaErrorCode::from(code)
            );
        }
        Ok(())
    }
}
