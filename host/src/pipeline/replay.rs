//! Dead-letter replay: re-reads the records a connector dead-lettered, runs them through its
//! current transforms and parser, writes what now parses through its sink and dead-letters
//! the rest again with their new reason.
//!
//! A dead letter is the original record (key, value, its own headers) plus Kafka Connect's
//! context headers; the record is rebuilt from them with its original topic, partition and
//! offset (`__connect.errors.topic/partition/offset`), so table names, dead-letter headers
//! and messages name the original coordinates. Reading stops at the end offsets seen when
//! the replay began, so records dead-lettered again during it are not read twice. Unless
//! `--since` is given, the replay starts where the last one stopped: its position in the
//! dead-letter topic is committed in the group `sluice-dlq-replay-<connector>` once the
//! records up to it are written or dead-lettered again, so a record is replayed once.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;

use super::dead_letter::{DeadLetterQueue, DeadLetterTarget, Failure};
use super::swap::ParserGeneration;
use crate::config::{ConnectorConfig, ErrorPolicy, WorkerConfig};
use crate::model::KafkaRecord;
use crate::plugin::{PluginInstance, PluginRuntime};
use crate::sinks::driver::Driver;
use crate::sinks::{AnySink, Sink, SinkItem};
use crate::source::fetch::{RangeReader, Start};

/// Header prefix of Kafka Connect's dead-letter context headers.
const CONTEXT_PREFIX: &str = "__connect.errors.";
/// The `ErrorInfo` header sluice (and the Tablestore connector) adds.
const ERROR_INFO: &str = "ErrorInfo";

/// What to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// The dead-letter topic to read.
    pub from_topic: String,
    /// Only dead letters written at or after this time (milliseconds since the epoch); the
    /// replay's committed position is then ignored.
    pub since_ms: Option<i64>,
    /// Parse and encode, but write, dead-letter and commit nothing.
    pub dry_run: bool,
}

/// How many records failed for one reason, with one full message as an example.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReasonCount {
    /// Records that failed this way.
    pub count: usize,
    /// The first of their messages (naming its record).
    pub example: String,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// The connector.
    pub connector: String,
    /// The dead-letter topic read.
    pub topic: String,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// Dead letters read.
    pub read: usize,
    /// Records that now parse and were written (or, in a dry run, would be).
    pub fixed: usize,
    /// Records that still fail, by stage and code (`VALUE_CONVERTER builtin:json
    /// invalid-json`); they were dead-lettered again with their new reason.
    pub still_failing: BTreeMap<String, ReasonCount>,
    /// Dead letters not replayed, by reason (another connector's, no context headers, a
    /// second copy of a record already replayed, dropped by a transform or no outputs).
    pub skipped: BTreeMap<String, usize>,
}

impl ReplaySummary {
    /// The summary as text, for the command line.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let mode = if self.dry_run { " (dry run: nothing written)" } else { "" };
        let _ = writeln!(
            out,
            "replayed {} dead letter(s) from `{}` for connector `{}`{mode}",
            self.read, self.topic, self.connector
        );
        let verb = if self.dry_run { "would be written" } else { "written" };
        let _ = writeln!(out, "  fixed ({verb}): {}", self.fixed);
        let failing: usize = self.still_failing.values().map(|r| r.count).sum();
        let again = if self.dry_run { "" } else { ", dead-lettered again" };
        let _ = writeln!(out, "  still failing{again}: {failing}");
        for (reason, count) in &self.still_failing {
            let _ = writeln!(out, "    {reason}: {} (e.g. {})", count.count, count.example);
        }
        for (reason, count) in &self.skipped {
            let _ = writeln!(out, "  skipped, {reason}: {count}");
        }
        out
    }

    fn fail(&mut self, failure: &Failure, record: &KafkaRecord) {
        let reason = format!("{} {} {}", failure.stage.connect_name(), failure.component, failure.code);
        let entry = self.still_failing.entry(reason).or_default();
        if entry.count == 0 {
            entry.example = failure.describe(record);
        }
        entry.count += 1;
    }

    fn skip(&mut self, reason: &str) {
        *self.skipped.entry(reason.to_string()).or_default() += 1;
    }
}

/// Replays the dead letters of `options.from_topic` through `config`'s parser, or for a
/// running connector the parser generation it runs now (`current`).
pub async fn replay(
    config: ConnectorConfig,
    worker: &WorkerConfig,
    runtime: &PluginRuntime,
    current: Option<Arc<ParserGeneration>>,
    options: ReplayOptions,
) -> anyhow::Result<ReplaySummary> {
    let mut summary = ReplaySummary {
        connector: config.name.clone(),
        topic: options.from_topic.clone(),
        dry_run: options.dry_run,
        ..ReplaySummary::default()
    };
    // Where records that still fail go: the connector's own error path.
    let dead_letters: Option<Arc<dyn DeadLetterTarget>> = match (&config.errors, options.dry_run) {
        (_, true) => None,
        (ErrorPolicy::DeadLetter(target) | ErrorPolicy::DeadLetterThenFail(target), false) => {
            Some(Arc::new(DeadLetterQueue::connect(target, &config).await?))
        }
        (ErrorPolicy::SinkTable(table), false) => {
            let sink = config.sink.open_preview(&config).await?;
            Some(sink.error_table(&config, table).await?)
        }
        (ErrorPolicy::Fail | ErrorPolicy::Ignore, false) => anyhow::bail!(
            "connector `{}` has no dead-letter topic (`errors.deadletterqueue.topic.name` with \
             `errors.tolerance=all`), so records that still fail would have nowhere to go; set one, or use --dry-run",
            config.name
        ),
    };
    let mut sink = match options.dry_run {
        true => config.sink.open_preview(&config).await?,
        false => config.sink.open(&config).await?,
    };
    let (_stop, shutdown) = tokio::sync::watch::channel(false);
    let mut driver = Driver::new(config.retry, shutdown);

    let (plugin, settings) = match current {
        Some(generation) => (generation.plugin.clone(), generation.settings.to_vec()),
        None => {
            let mut settings = config.parser_settings.clone();
            settings.extend(sink.parser_settings());
            let runtime = runtime.clone();
            let source = config.parser.clone();
            (tokio::task::spawn_blocking(move || runtime.load(&source)).await??, settings)
        }
    };
    let label: Arc<str> = Arc::from(format!("{}/{} (replay)", config.name, plugin.name));
    let mut instance: Option<PluginInstance> = None;

    // The dead-letter topic's cluster: the connector's own when it is its dead-letter topic.
    let bootstrap = match &config.errors {
        ErrorPolicy::DeadLetter(t) | ErrorPolicy::DeadLetterThenFail(t) if t.topic == options.from_topic => {
            t.bootstrap_servers.clone()
        }
        _ => worker.bootstrap_servers.clone(),
    };
    let group = format!("sluice-dlq-replay-{}", config.name);
    let reader = {
        let settings = config.consumer_settings.clone();
        let group = group.clone();
        tokio::task::spawn_blocking(move || RangeReader::new(&bootstrap, &settings, &group)).await??
    };
    let reader = Arc::new(reader);
    let topic = options.from_topic.clone();
    let partitions = {
        let reader = reader.clone();
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || reader.partitions(&topic)).await??
    };
    let start = match options.since_ms {
        Some(ms) => Start::Time(ms),
        None => Start::Committed,
    };
    let batch = config.batch_max_records.max(1);
    let mut seen: HashSet<(String, i32, i64)> = HashSet::new();
    for partition in partitions {
        let (from, until) = {
            let reader = reader.clone();
            let topic = topic.clone();
            tokio::task::spawn_blocking(move || -> anyhow::Result<(i64, i64)> {
                Ok((reader.resolve(&topic, partition, start)?, reader.watermarks(&topic, partition)?.1))
            })
            .await??
        };
        let mut next = from;
        while next < until {
            let (records, stopped) = {
                let reader = reader.clone();
                let topic = topic.clone();
                tokio::task::spawn_blocking(move || reader.read_until(&topic, partition, next, until, batch)).await??
            };
            next = stopped;
            summary.read += records.len();
            let mut originals = Vec::with_capacity(records.len());
            for letter in records {
                match original(&letter, &config.name) {
                    Err(reason) => summary.skip(reason),
                    Ok(record) => {
                        let coordinates = (record.topic.to_string(), record.partition, record.offset);
                        if seen.insert(coordinates) {
                            originals.push(record);
                        } else {
                            summary.skip("another copy of a record replayed in this run");
                        }
                    }
                }
            }
            let mut failed: Vec<(KafkaRecord, Failure)> = Vec::new();
            if !originals.is_empty() {
                let (outcomes, routed) = {
                    let plugin = plugin.clone();
                    let settings = settings.clone();
                    let label = label.clone();
                    let limits = config.limits;
                    let mut make = move || PluginInstance::new(plugin.clone(), &settings, limits, label.clone());
                    tokio::task::block_in_place(|| {
                        super::task::parse_batch(config.transforms.as_deref(), &mut instance, &mut make, &originals)
                    })
                    .with_context(|| format!("replaying dead letters of connector `{}`", config.name))?
                };
                let sink_name = format!("{:?}", config.sink).to_lowercase();
                let mut items: Vec<SinkItem<'_>> = Vec::new();
                for (index, (record, outcome)) in originals.iter().zip(&outcomes).enumerate() {
                    match outcome {
                        Err(failure) => failed.push((record.clone(), Failure::from_parser(&plugin.name, failure))),
                        Ok(outputs) if outputs.is_empty() => summary.skip("no outputs (filtered or nothing to write)"),
                        Ok(outputs) => {
                            let topic = routed.get(index).and_then(Option::as_deref).unwrap_or(&record.topic);
                            items.push(SinkItem { record, topic, outputs: outputs.as_slice() });
                        }
                    }
                }
                let rejected = write(&mut sink, &items, &mut driver, options.dry_run).await?;
                let rejected: BTreeMap<usize, String> = rejected.into_iter().collect();
                for (at, item) in items.iter().enumerate() {
                    match rejected.get(&at) {
                        Some(reason) => {
                            failed.push((item.record.clone(), Failure::from_sink(&sink_name, reason.clone())))
                        }
                        None => summary.fixed += 1,
                    }
                }
            }
            for (record, failure) in &failed {
                summary.fail(failure, record);
            }
            if let Some(target) = &dead_letters {
                if !failed.is_empty() {
                    let pairs: Vec<(&KafkaRecord, &Failure)> = failed.iter().map(|(r, f)| (r, f)).collect();
                    target.send(0, &pairs).await.map_err(|e| {
                        anyhow::anyhow!(
                            "dead-lettering again the records that still fail: {e}; the replay position is not \
                             moved past them, so running the replay again retries them"
                        )
                    })?;
                }
                let reader = reader.clone();
                let position = vec![(topic.clone(), partition, next)];
                tokio::task::spawn_blocking(move || reader.commit(&position)).await??;
            }
        }
    }
    Ok(summary)
}

/// Writes `items` (or, in a dry run, encodes them only); the rejected items' indices and
/// reasons.
async fn write(
    sink: &mut AnySink,
    items: &[SinkItem<'_>],
    driver: &mut Driver,
    dry_run: bool,
) -> anyhow::Result<Vec<(usize, String)>> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    if dry_run {
        let mut rejected = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Err(reason) = sink.preview(item).await {
                rejected.push((index, reason));
            }
        }
        return Ok(rejected);
    }
    let report = sink.write(items, driver).await.map_err(|e| {
        anyhow::anyhow!(
            "the sink failed while writing replayed records: {e}; records written before it stay written, and \
             the replay position is not moved past this batch, so running the replay again retries it"
        )
    })?;
    Ok(report.rejected)
}

/// The original record of a dead letter: its topic, partition and offset from the context
/// headers, its own headers without the error headers. `Err` names why it is not replayed.
fn original(letter: &KafkaRecord, connector: &str) -> Result<KafkaRecord, &'static str> {
    let header = |name: &str| {
        letter
            .headers
            .iter()
            .rev()
            .find(|h| h.key == name)
            .and_then(|h| h.value.as_deref())
            .and_then(|v| std::str::from_utf8(v).ok())
    };
    if let Some(name) = header("__connect.errors.connector.name") {
        if name != connector {
            return Err("dead-lettered by another connector");
        }
    }
    let (Some(topic), Some(partition), Some(offset)) =
        (header("__connect.errors.topic"), header("__connect.errors.partition"), header("__connect.errors.offset"))
    else {
        return Err(
            "no __connect.errors.topic/partition/offset headers (set errors.deadletterqueue.context.headers.enable=true)",
        );
    };
    let (Ok(partition), Ok(offset)) = (partition.trim().parse::<i32>(), offset.trim().parse::<i64>()) else {
        return Err("unreadable __connect.errors.partition/offset headers");
    };
    Ok(KafkaRecord {
        topic: Arc::from(topic),
        partition,
        offset,
        timestamp_ms: letter.timestamp_ms,
        key: letter.key.clone(),
        value: letter.value.clone(),
        headers: letter
            .headers
            .iter()
            .filter(|h| !h.key.starts_with(CONTEXT_PREFIX) && h.key != ERROR_INFO)
            .cloned()
            .collect(),
    })
}

/// Reads `--since`: milliseconds since the epoch, or an RFC 3339 time
/// (`2026-01-31T12:00:00Z`).
pub fn parse_since(text: &str) -> anyhow::Result<i64> {
    let text = text.trim();
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).map_err(|e| {
        anyhow::anyhow!(
            "`{text}` is neither milliseconds since the epoch nor an RFC 3339 time like 2026-01-31T12:00:00Z: {e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Header;

    fn header(key: &str, value: &str) -> Header {
        Header { key: key.into(), value: Some(value.as_bytes().to_vec()) }
    }

    #[test]
    fn the_original_record_comes_back_from_the_context_headers() {
        let letter = KafkaRecord {
            topic: Arc::from("dlq"),
            partition: 0,
            offset: 9,
            timestamp_ms: Some(5),
            key: Some(b"k".to_vec()),
            value: Some(b"v".to_vec()),
            headers: vec![
                header("own", "1"),
                header("ErrorInfo", "x"),
                header("__connect.errors.topic", "orders"),
                header("__connect.errors.partition", "2"),
                header("__connect.errors.offset", "41"),
                header("__connect.errors.connector.name", "c"),
            ],
        };
        let record = original(&letter, "c").unwrap();
        assert_eq!((&*record.topic, record.partition, record.offset), ("orders", 2, 41));
        assert_eq!(record.headers, vec![header("own", "1")]);
        assert_eq!(original(&letter, "other").unwrap_err(), "dead-lettered by another connector");
        let bare = KafkaRecord { headers: vec![], ..letter };
        assert!(original(&bare, "c").unwrap_err().contains("context.headers.enable"));
    }

    #[test]
    fn since_reads_milliseconds_and_rfc3339() {
        assert_eq!(parse_since("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(parse_since("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert!(parse_since("yesterday").unwrap_err().to_string().contains("RFC 3339"));
    }
}
