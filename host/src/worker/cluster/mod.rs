//! Distributed mode on Kafka itself: connector configurations and target states live in the
//! config topic, every worker applies them to its own [`Worker`], and each connector's
//! consumer group (`connect-<name>`) spreads its partitions over the workers. There is no
//! leader and no consensus of sluice's own. See docs/distributed.md.
//!
//! - [`records`]: the config topic's record format (Kafka Connect's).
//! - [`config_topic`]: the store that writes changes there, and the applier that reads them.
//! - [`status`] and [`publish`]: the status topic, read into a board and written by each worker.
//! - [`tail`]: reading an internal topic from its beginning; [`topics`]: creating them.

pub mod config_topic;
pub mod publish;
pub mod records;
pub mod status;
pub mod tail;
pub mod topics;

use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use rdkafka::producer::FutureProducer;
use tokio::sync::watch;

use crate::config::{DistributedConfig, WorkerConfig};
use crate::plugin::PluginRuntime;
use crate::source::client;
use crate::worker::Worker;

/// How long a starting worker may take to read the config topic.
const STARTUP_READ_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// This machine's name (`localhost` when it has none).
fn machine_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A running distributed worker.
pub struct Cluster {
    worker: Arc<Worker>,
    config: DistributedConfig,
    producer: FutureProducer,
    stop: watch::Sender<bool>,
    publisher: Mutex<Option<tokio::task::JoinHandle<()>>>,
    _tails: Vec<tail::Tail>,
}

impl Cluster {
    /// Creates the internal topics when missing, reads the status topic and the config
    /// topic, and starts every connector the config topic holds (in its target state).
    /// Returns once this worker has caught up with the config topic.
    pub async fn start(
        mut worker: WorkerConfig,
        config: DistributedConfig,
        runtime: PluginRuntime,
    ) -> anyhow::Result<Self> {
        // The worker id keys this worker's status records: it must differ between machines,
        // so a worker listening on every interface advertises this machine's name (as Kafka
        // Connect does), not `localhost`.
        let rest = &worker.rest;
        if rest.advertised_host.is_none() && matches!(rest.host.as_str(), "" | "0.0.0.0" | "::") {
            worker.rest.advertised_host = Some(machine_name());
        }
        // Workers join and leave the connectors' groups: with cooperative-sticky assignment a
        // rebalance moves only the partitions that change owner, instead of stopping every
        // consumer of the group (the eager default). A worker file that names a strategy wins.
        if !worker.consumer.iter().any(|(key, _)| key == "partition.assignment.strategy") {
            worker.consumer.push(("partition.assignment.strategy".to_string(), "cooperative-sticky".to_string()));
        }
        topics::ensure(&worker, &config).await?;
        let settings: Vec<(String, String)> = worker.client_common.clone();
        let mut producer_config = client::client_config(&worker.bootstrap_servers, &settings);
        producer_config
            .set("acks", "all")
            .set("linger.ms", "0")
            .set("client.id", format!("{}-writer", config.group_id));
        let producer: FutureProducer =
            client::create(producer_config).context("creating the producer of the cluster's internal topics")?;
        let reader_id = format!("{}-{}", config.group_id, std::process::id());

        let board = Arc::new(status::StatusBoard::new(config.session_timeout));
        let (status_tail, mut status_events) = tokio::task::block_in_place(|| {
            tail::start(&worker.bootstrap_servers, &settings, &config.status_topic, &format!("{reader_id}-status"))
        })?;
        let reading = board.clone();
        tokio::spawn(async move {
            while let Some(event) = status_events.recv().await {
                if let tail::TailEvent::Record(record) = event {
                    reading.take(&record.key, record.value.as_deref(), record.timestamp_ms);
                }
            }
        });

        let (config_tail, config_events) = tokio::task::block_in_place(|| {
            tail::start(&worker.bootstrap_servers, &settings, &config.config_topic, &format!("{reader_id}-config"))
        })?;
        let (applied_sender, applied) = watch::channel(-1i64);
        let refusals = config_topic::Refusals::default();
        let store = Arc::new(config_topic::TopicStore {
            producer: producer.clone(),
            topic: config.config_topic.clone(),
            applied: applied.clone(),
            refusals: refusals.clone(),
            sync_timeout: config.sync_timeout,
            board,
        });
        let worker = Arc::new(Worker::with_store(worker, runtime, None, store));
        tokio::spawn(config_topic::apply_records(
            worker.clone(),
            config.config_topic.clone(),
            config_events,
            applied_sender,
            refusals,
        ));
        let mut caught_up = applied.clone();
        tokio::time::timeout(STARTUP_READ_LIMIT, caught_up.wait_for(|next| *next >= 0))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "could not read the config topic `{}` within {} s; check `bootstrap.servers` and that the \
                     topic can be read",
                    config.config_topic,
                    STARTUP_READ_LIMIT.as_secs()
                )
            })?
            .context("the config topic reader stopped")?;
        tokio::spawn(worker.clone().supervise());
        let (stop, _) = watch::channel(false);
        Ok(Self { worker, config, producer, stop, publisher: Mutex::new(None), _tails: vec![status_tail, config_tail] })
    }

    /// The worker (for the REST API).
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Starts writing this worker's states to the status topic; call once its REST address
    /// (its `worker_id`) is known.
    pub fn publish_status(&self) {
        let task = tokio::spawn(publish::publish(
            self.worker.clone(),
            self.producer.clone(),
            self.config.status_topic.clone(),
            self.config.heartbeat_interval,
            self.stop.subscribe(),
        ));
        *self.publisher.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Stops the connectors (committing what was written) and removes this worker's status
    /// records, so the others stop showing it at once.
    pub async fn shutdown(&self) {
        self.worker.signal_shutdown();
        self.worker.shutdown().await;
        self.stop.send_replace(true);
        let publisher = self.publisher.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(publisher) = publisher {
            let _ = publisher.await;
        }
    }
}
