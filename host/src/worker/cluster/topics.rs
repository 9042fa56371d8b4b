//! Creating the cluster's internal topics when they are missing (compacted, as Kafka Connect
//! creates them) and checking the config topic has the one partition its order depends on.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::{DistributedConfig, WorkerConfig};
use crate::source::client;

/// Creates the config and status topics when they do not exist (the offset topic is not
/// used: a sink's offsets are its consumer group's).
pub async fn ensure(worker: &WorkerConfig, cluster: &DistributedConfig) -> anyhow::Result<()> {
    let settings: Vec<(String, String)> = worker.client_common.iter().chain(&worker.admin).cloned().collect();
    let mut config = client::client_config(&worker.bootstrap_servers, &settings);
    config.set("client.id", format!("{}-admin", cluster.group_id));
    let admin: AdminClient<DefaultClientContext> =
        client::create(config).context("creating the admin client for the cluster's internal topics")?;
    let wanted = [
        (&cluster.config_topic, 1, cluster.config_replication, "config.storage"),
        (&cluster.status_topic, cluster.status_partitions, cluster.status_replication, "status.storage"),
    ];
    let exists = |topic: &str| {
        tokio::task::block_in_place(|| admin.inner().fetch_metadata(Some(topic), Duration::from_secs(10))).is_ok_and(
            |m| m.topics().iter().any(|t| t.name() == topic && t.error().is_none() && !t.partitions().is_empty()),
        )
    };
    let missing: Vec<_> = wanted.iter().filter(|(name, ..)| !exists(name)).collect();
    if !missing.is_empty() {
        let topics: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|(name, partitions, replication, _)| {
                NewTopic::new(name, *partitions, TopicReplication::Fixed(*replication)).set("cleanup.policy", "compact")
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = admin.create_topics(&topics, &options).await.context("creating the cluster's internal topics")?;
        for (result, (name, _, replication, key)) in results.into_iter().zip(missing) {
            match result {
                Ok(_) => tracing::info!(topic = %name, "Created internal topic."),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, RDKafkaErrorCode::InvalidReplicationFactor)) => anyhow::bail!(
                    "cannot create `{name}` (`{key}.topic`) with replication factor {replication}: the cluster has \
                     fewer brokers; set `{key}.replication.factor` in {} to at most the broker count",
                    worker.origin
                ),
                Err((_, code)) => anyhow::bail!(
                    "cannot create `{name}` (`{key}.topic`): {code}; create it (compacted) or let the worker create it"
                ),
            }
        }
    }
    let metadata = tokio::task::block_in_place(|| {
        admin.inner().fetch_metadata(Some(&cluster.config_topic), Duration::from_secs(10))
    })
    .with_context(|| format!("reading the metadata of config topic `{}`", cluster.config_topic))?;
    let partitions = metadata.topics().first().map_or(0, |t| t.partitions().len());
    if partitions != 1 {
        anyhow::bail!(
            "config topic `{}` (`config.storage.topic`) has {partitions} partitions; it must have exactly one so every \
             worker reads the changes in the same order (as Kafka Connect requires): name a new topic",
            cluster.config_topic
        );
    }
    Ok(())
}
