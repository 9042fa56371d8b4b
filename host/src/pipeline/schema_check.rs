//! The schema check at load: when a connector starts or its parser is swapped, the newest
//! records of its topics are parsed by the new parser and its outputs checked against the
//! target's schema where the sink knows it (a Tablestore table's primary key, a MaxCompute
//! table's columns and types; see [`AnySink::check_schema`]). A parser none of whose sample
//! outputs fit is refused, naming the table and column, instead of failing every record
//! later; a sample that fits while another does not is a per-record problem and passes.
//!
//! Samples are the newest records of the topics ([`SAMPLES`], spread over the partitions
//! that have records); an empty topic, or a topic that cannot be read quickly, leaves
//! nothing to check (the check passes, logged).
//! `sluice.schema.check=false` turns the check off.

use std::sync::Arc;
use std::time::Duration;

use super::swap::ParserGeneration;
use crate::config::{ConnectorConfig, TopicSelection, WorkerConfig};
use crate::model::KafkaRecord;
use crate::sinks::{AnySink, SinkItem};
use crate::source::fetch::RangeReader;
use crate::transforms::RecordTransforms;

/// The most sample records parsed.
pub const SAMPLES: usize = 8;
/// The connector key that turns the check off.
pub const CHECK_KEY: &str = "sluice.schema.check";
/// How long reading one sample may take.
const SAMPLE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connector's schema check.
pub struct SchemaCheck {
    connector: String,
    sink: AnySink,
    transforms: Option<Arc<RecordTransforms>>,
    bootstrap: String,
    consumer_settings: Vec<(String, String)>,
    topics: Vec<String>,
}

impl SchemaCheck {
    /// The check for `config` with its opened `sink`; `None` when the sink knows no schema,
    /// the connector subscribes by pattern, or `sluice.schema.check=false`.
    pub fn new(config: &ConnectorConfig, worker: &WorkerConfig, sink: &AnySink) -> anyhow::Result<Option<Self>> {
        if !config.raw.bool_or(CHECK_KEY, true)? || !sink.knows_schema() {
            return Ok(None);
        }
        let TopicSelection::List(topics) = &config.topics else { return Ok(None) };
        Ok(Some(Self {
            connector: config.name.clone(),
            sink: sink.clone(),
            transforms: config.transforms.clone(),
            bootstrap: worker.bootstrap_servers.clone(),
            consumer_settings: config.consumer_settings.clone(),
            topics: topics.clone(),
        }))
    }

    /// Checks `generation`'s outputs for the sample records; `Err` when none fits, naming
    /// the table and column.
    pub async fn check(&self, generation: &Arc<ParserGeneration>) -> anyhow::Result<()> {
        let samples = {
            let (bootstrap, settings, topics) =
                (self.bootstrap.clone(), self.consumer_settings.clone(), self.topics.clone());
            let group = format!("sluice-schema-check-{}", self.connector);
            tokio::task::spawn_blocking(move || samples(&bootstrap, &settings, &group, &topics)).await?
        };
        let samples = match samples {
            Ok(samples) if !samples.is_empty() => samples,
            Ok(_) => {
                tracing::debug!(connector = %self.connector, "Schema check: no records to sample yet.");
                return Ok(());
            }
            Err(error) => {
                tracing::warn!(connector = %self.connector, error = %format!("{error:#}"),
                    "Schema check skipped: the topics could not be sampled.");
                return Ok(());
            }
        };
        let (samples, outcomes, routed) = {
            let (generation, transforms) = (generation.clone(), self.transforms.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut instance = None;
                let mut make = || generation.instantiate();
                let (outcomes, routed) =
                    super::task::parse_batch(transforms.as_deref(), &mut instance, &mut make, &samples)?;
                Ok((samples, outcomes, routed))
            })
            .await??
        };
        let (mut checked, mut first_problem) = (0, None);
        for (index, (record, outcome)) in samples.iter().zip(&outcomes).enumerate() {
            let Ok(outputs) = outcome else { continue };
            if outputs.is_empty() {
                continue;
            }
            let topic = routed.get(index).and_then(Option::as_deref).unwrap_or(&record.topic);
            let item = SinkItem { record, topic, outputs };
            checked += 1;
            match self.sink.check_schema(&item).await {
                Ok(()) => {
                    tracing::debug!(connector = %self.connector, checked, "Schema check passed.");
                    return Ok(());
                }
                Err(problem) => {
                    first_problem.get_or_insert_with(|| {
                        format!("{problem} (record {}-{}@{})", record.topic, record.partition, record.offset)
                    });
                }
            }
        }
        match first_problem {
            None => Ok(()),
            Some(problem) => anyhow::bail!(
                "parser `{}` does not fit the target: {problem}; none of the {checked} newest record(s) of its topics \
                 parses into something the target can take. Fix the parser or its settings (or the table); \
                 `{CHECK_KEY}=false` skips this check",
                generation.plugin.name
            ),
        }
    }
}

/// The newest records of `topics`: [`SAMPLES`] in all, spread over the partitions (at least
/// the last record of each of the first [`SAMPLES`] partitions).
fn samples(
    bootstrap: &str,
    settings: &[(String, String)],
    group: &str,
    topics: &[String],
) -> anyhow::Result<Vec<KafkaRecord>> {
    let reader = RangeReader::new(bootstrap, settings, group)?.with_read_timeout(SAMPLE_TIMEOUT);
    let mut filled = Vec::new();
    for topic in topics {
        let Ok(partitions) = reader.partitions(topic) else { continue };
        for partition in partitions {
            let (low, high) = reader.watermarks(topic, partition)?;
            if high > low && filled.len() < SAMPLES {
                filled.push((topic, partition, low, high));
            }
        }
    }
    let per_partition = (SAMPLES / filled.len().max(1)).max(1) as i64;
    let ranges: Vec<(&str, i32, i64, i64)> = filled
        .into_iter()
        .map(|(topic, partition, low, high)| (topic.as_str(), partition, (high - per_partition).max(low), high))
        .collect();
    reader.read_ranges(&ranges)
}
