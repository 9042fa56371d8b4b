//! The error path: what went wrong with a record, and the Kafka dead-letter topic that
//! receives the original record with Kafka Connect's error headers plus `ErrorInfo`.

pub mod budget;

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header as KafkaHeader, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;

use crate::config::{ConnectorConfig, DeadLetterConfig};
use crate::model::KafkaRecord;
use crate::plugin::RecordFailure;
use crate::source::client;

/// Where in the pipeline a record failed (Kafka Connect's stage names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The key converter could not read the record (for its transforms).
    KeyConverter,
    /// The header converter could not read or write one of the record's headers.
    HeaderConverter,
    /// A single message transform failed on the record.
    Transformation,
    /// The parser rejected the record or the sandbox failed on it.
    Parse,
    /// The sink rejected the record's outputs.
    Write,
}

impl Stage {
    /// The `__connect.errors.stage` value.
    pub fn connect_name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
            Stage::Parse => "VALUE_CONVERTER",
            Stage::Write => "TASK_PUT",
        }
    }
}

/// Why one record could not be delivered.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// Pipeline stage.
    pub stage: Stage,
    /// The parser or sink that failed (`builtin:json`, `file`, ...).
    pub component: String,
    /// Machine-readable code (`invalid-json`, `trap`, `timeout`, `memory`, ...).
    pub code: String,
    /// Explanation.
    pub message: String,
    /// The field concerned, if known.
    pub field: Option<String>,
}

impl Failure {
    /// A failure reported by the parser or its sandbox.
    pub fn from_parser(component: &str, failure: &RecordFailure) -> Self {
        match failure {
            RecordFailure::Plugin(error) => Self {
                stage: Stage::Parse,
                component: component.to_string(),
                code: error.code.clone(),
                message: error.message.clone(),
                field: error.field.clone(),
            },
            RecordFailure::Sandbox(failure) => Self {
                stage: Stage::Parse,
                component: component.to_string(),
                code: failure.kind.code().to_string(),
                message: failure.message.clone(),
                field: None,
            },
            RecordFailure::Transform(failure) => Self {
                stage: match failure.stage {
                    "KEY_CONVERTER" => Stage::KeyConverter,
                    "HEADER_CONVERTER" => Stage::HeaderConverter,
                    "TRANSFORMATION" => Stage::Transformation,
                    _ => Stage::Parse,
                },
                component: failure.component.clone(),
                code: if failure.stage == "TRANSFORMATION" { "transform" } else { "converter" }.to_string(),
                message: failure.message.clone(),
                field: failure.field.clone(),
            },
        }
    }

    /// A failure reported by the sink for this record's data.
    pub fn from_sink(component: &str, message: String) -> Self {
        Self { stage: Stage::Write, component: component.to_string(), code: "rejected".into(), message, field: None }
    }

    /// One line naming the record and the reason, for logs and the `ErrorInfo` header.
    pub fn describe(&self, record: &KafkaRecord) -> String {
        let field = self.field.as_ref().map(|f| format!(" (field `{f}`)")).unwrap_or_default();
        format!(
            "{}-{}@{}: {} failed with {}: {}{field}",
            record.topic, record.partition, record.offset, self.component, self.code, self.message
        )
    }
}

/// A boxed future, for trait objects.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Kafka Connect's default `delivery.timeout.ms`: how long a failing dead-letter write is
/// retried before the connector fails.
pub const DEFAULT_RETRY_BUDGET: Duration = Duration::from_secs(120);

/// Room for the key and the error headers on top of the largest consumable value.
const HEADER_ROOM_BYTES: u64 = 1 << 20;
/// librdkafka's default `receive.message.max.bytes`: the largest fetch response a consumer
/// accepts, hence the largest record it can hand to the dead-letter path.
const CONSUMER_RECEIVE_MAX_BYTES: u64 = 100_000_000;
/// librdkafka's upper bound for `message.max.bytes`.
const PRODUCER_MESSAGE_MAX_BYTES: u64 = 1_000_000_000;

/// Why a dead-letter write failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterError {
    /// What went wrong, naming the target.
    pub reason: String,
    /// True when retrying cannot succeed without a change (authorization, a size refused).
    pub permanent: bool,
}

impl DeadLetterError {
    /// A failure that may pass (broker unavailable, timeout).
    pub fn retryable(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: false }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: true }
    }
}

impl std::fmt::Display for DeadLetterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Somewhere failed records are written durably (a Kafka topic, a Tablestore error table).
/// A record is acknowledged only after `send` returned `Ok`.
pub trait DeadLetterTarget: Send + Sync {
    /// Where records go, for logs (`topic orders-dlq`, `table errors`).
    fn describe(&self) -> String;

    /// Writes every failed record; `Err` means none may be considered written.
    fn send<'a>(
        &'a self,
        task: usize,
        failed: &'a [(&'a KafkaRecord, &'a Failure)],
    ) -> BoxFuture<'a, Result<(), DeadLetterError>>;

    /// How long a failing write is retried before the connector fails.
    fn retry_budget(&self) -> Duration {
        DEFAULT_RETRY_BUDGET
    }
}

impl DeadLetterTarget for DeadLetterQueue {
    fn describe(&self) -> String {
        format!("topic {}", self.topic)
    }

    fn send<'a>(
        &'a self,
        task: usize,
        failed: &'a [(&'a KafkaRecord, &'a Failure)],
    ) -> BoxFuture<'a, Result<(), DeadLetterError>> {
        Box::pin(self.produce(task, failed))
    }

    fn retry_budget(&self) -> Duration {
        self.retry_budget
    }
}

/// A Kafka dead-letter topic and its producer.
pub struct DeadLetterQueue {
    producer: FutureProducer,
    topic: String,
    connector: String,
    retry_budget: Duration,
    /// Add the `__connect.errors.*` context headers.
    context_headers: bool,
    /// Add the `ErrorInfo` header.
    error_info: bool,
}

impl DeadLetterQueue {
    /// Connects to the dead-letter cluster, creating the topic (one partition, the configured
    /// replication factor) when it does not exist, as Kafka Connect does. The producer is sized
    /// for the largest record the connector's consumer can fetch (see [`producer_config`]).
    pub async fn connect(target: &DeadLetterConfig, connector: &ConnectorConfig) -> anyhow::Result<Self> {
        ensure_topic(target, connector).await?;
        let (config, retry_budget) = producer_config(target, connector);
        let producer: FutureProducer = client::create(config)
            .with_context(|| format!("creating the dead-letter producer for `{}`", target.topic))?;
        Ok(Self {
            producer,
            topic: target.topic.clone(),
            connector: connector.name.clone(),
            retry_budget,
            context_headers: target.context_headers,
            error_info: target.error_info,
        })
    }

    /// Produces every failed record and waits until the broker acknowledged all of them.
    pub async fn produce(&self, task: usize, failed: &[(&KafkaRecord, &Failure)]) -> Result<(), DeadLetterError> {
        let mut deliveries = Vec::with_capacity(failed.len());
        for (record, failure) in failed {
            let headers = self.headers(task, record, failure);
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                message = message.payload(value.as_slice());
            }
            if let Some(timestamp) = record.timestamp_ms {
                message = message.timestamp(timestamp);
            }
            let delivery = self.producer.send_result(message).map_err(|(error, _)| self.error(record, &error))?;
            deliveries.push((record, delivery));
        }
        for (record, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(self.error(record, &error)),
                Err(_) => {
                    return Err(DeadLetterError::retryable(format!(
                        "the dead-letter record for {} was cancelled before topic `{}` acknowledged it",
                        coordinates(record),
                        self.topic
                    )))
                }
            }
        }
        Ok(())
    }

    /// Names the record, the topic and the error, and says whether retrying can help.
    fn error(&self, record: &KafkaRecord, error: &KafkaError) -> DeadLetterError {
        let size = record.key.as_ref().map_or(0, Vec::len) + record.value.as_ref().map_or(0, Vec::len);
        let reason = format!(
            "writing {} ({size} bytes of key and value) to dead-letter topic `{}`: {error}",
            coordinates(record),
            self.topic
        );
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::MessageSizeTooLarge) => DeadLetterError::permanent(format!(
                "{reason}; raise the dead-letter producer's limit (`producer.override.max.request.size`) and the \
                 topic's `max.message.bytes`"
            )),
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed
                | RDKafkaErrorCode::SaslAuthenticationFailed
                | RDKafkaErrorCode::Authentication,
            ) => DeadLetterError::permanent(format!(
                "{reason}; grant the connector's principal WRITE on topic `{}`",
                self.topic
            )),
            Some(RDKafkaErrorCode::InvalidTopic | RDKafkaErrorCode::PolicyViolation) => {
                DeadLetterError::permanent(reason)
            }
            _ => DeadLetterError::retryable(reason),
        }
    }

    /// The record's own headers, then (when enabled) `ErrorInfo` and Kafka Connect's
    /// `__connect.errors.*` context headers.
    fn headers(&self, task: usize, record: &KafkaRecord, failure: &Failure) -> OwnedHeaders {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len() + 11);
        for header in &record.headers {
            headers = headers.insert(KafkaHeader { key: &header.key, value: header.value.as_deref() });
        }
        let text = |headers: OwnedHeaders, key: &str, value: &str| {
            headers.insert(KafkaHeader { key, value: Some(value.as_bytes()) })
        };
        if self.error_info {
            headers = text(headers, "ErrorInfo", &failure.describe(record));
        }
        if !self.context_headers {
            return headers;
        }
        let stacktrace = serde_json::json!({
            "code": failure.code, "message": failure.message, "field": failure.field,
            "component": failure.component, "stage": failure.stage.connect_name(),
        })
        .to_string();
        headers = text(headers, "__connect.errors.topic", &record.topic);
        headers = text(headers, "__connect.errors.partition", &record.partition.to_string());
        headers = text(headers, "__connect.errors.offset", &record.offset.to_string());
        headers = text(headers, "__connect.errors.connector.name", &self.connector);
        headers = text(headers, "__connect.errors.task.id", &task.to_string());
        headers = text(headers, "__connect.errors.stage", failure.stage.connect_name());
        headers = text(headers, "__connect.errors.class.name", &failure.component);
        headers = text(headers, "__connect.errors.exception.class.name", &format!("sluice.{}", failure.code));
        headers = text(headers, "__connect.errors.exception.message", &failure.message);
        text(headers, "__connect.errors.exception.stacktrace", &stacktrace)
    }
}

fn coordinates(record: &KafkaRecord) -> String {
    format!("record {}-{}@{}", record.topic, record.partition, record.offset)
}

/// The dead-letter producer's settings and retry budget. Unless the producer settings set a
/// size (`max.request.size` or `message.max.bytes`), the producer accepts the largest record
/// the consumer can fetch (its `receive.message.max.bytes` / `fetch.max.bytes`, librdkafka's
/// 100 MB by default) plus room for the error headers, so a consumed record can always be
/// dead-lettered whole; the broker's `max.message.bytes` for the topic still applies. The
/// budget is the producer's `delivery.timeout.ms` (Kafka Connect's default, 120 s), which
/// also bounds each attempt.
pub fn producer_config(target: &DeadLetterConfig, connector: &ConnectorConfig) -> (ClientConfig, Duration) {
    let mut config = client::client_config(&target.bootstrap_servers, &connector.producer_settings);
    config.set("client.id", format!("connector-dlq-producer-{}-0", connector.name)).set("acks", "all");
    if config.get("message.max.bytes").is_none() {
        let consumer = client::client_config(&target.bootstrap_servers, &connector.consumer_settings);
        let setting = |key: &str| consumer.get(key).and_then(|v| v.parse::<u64>().ok());
        let largest = setting("receive.message.max.bytes")
            .unwrap_or(CONSUMER_RECEIVE_MAX_BYTES)
            .max(setting("fetch.max.bytes").unwrap_or(0));
        let limit = (largest + HEADER_ROOM_BYTES).min(PRODUCER_MESSAGE_MAX_BYTES);
        config.set("message.max.bytes", limit.to_string());
    }
    let budget = ["delivery.timeout.ms", "message.timeout.ms"]
        .iter()
        .find_map(|key| config.get(key).and_then(|v| v.parse::<u64>().ok()))
        .map_or(DEFAULT_RETRY_BUDGET, Duration::from_millis);
    config.set("message.timeout.ms", budget.as_millis().to_string());
    config.remove("delivery.timeout.ms");
    (config, budget)
}

async fn ensure_topic(target: &DeadLetterConfig, connector: &ConnectorConfig) -> anyhow::Result<()> {
    let mut config = client::client_config(&target.bootstrap_servers, &connector.admin_settings);
    config.set("client.id", format!("connector-dlq-admin-{}", connector.name));
    let admin: AdminClient<DefaultClientContext> =
        client::create(config).context("creating the admin client for the dead-letter topic")?;
    let existing =
        tokio::task::block_in_place(|| admin.inner().fetch_metadata(Some(&target.topic), Duration::from_secs(10)));
    if let Ok(metadata) = existing {
        let found = metadata
            .topics()
            .iter()
            .any(|t| t.name() == target.topic && t.error().is_none() && !t.partitions().is_empty());
        if found {
            return Ok(());
        }
    }
    let topic = NewTopic::new(&target.topic, 1, TopicReplication::Fixed(target.replication_factor));
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .with_context(|| format!("creating dead-letter topic `{}` (set by `{}`)", target.topic, target.key))?;
    for result in results {
        match result {
            Ok(_) => tracing::info!(topic = %target.topic, "Created dead-letter topic."),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, RDKafkaErrorCode::InvalidReplicationFactor)) => anyhow::bail!(
                "cannot create dead-letter topic `{}` with replication factor {}: the cluster has fewer \
                 brokers; set `errors.deadletterqueue.topic.replication.factor` to at most the broker count",
                target.topic,
                target.replication_factor
            ),
            Err((_, code)) => tracing::warn!(topic = %target.topic, error = %code,
                "Could not create the dead-letter topic; relying on the broker to create it."),
        }
    }
    Ok(())
}
