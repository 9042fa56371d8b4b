//! Connector files: the keys every connector shares (name, class, topics, tasks, parser,
//! error policy, batching). Sink-specific keys are read by each sink from `raw`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::keys::{self, KeySet};
use super::{ConfigMap, WorkerConfig};
use crate::plugin::{PluginLimits, PluginSource};
use crate::sinks::retry::{self, RetryPolicy};
use crate::sinks::SinkKind;

/// Keys every connector understands, whatever its sink.
pub const CONNECTOR_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "name",
        "connector.class",
        "tasks.max",
        "initial_state",
        "topics",
        "topics.regex",
        "key.converter",
        "value.converter",
        "header.converter",
        "parser",
        "parser.plugin",
        "parser.timeout.ms",
        "parser.memory.max.bytes",
        "parser.stdio.max.bytes",
        "sluice.batch.linger.ms",
        "sluice.schema.check",
        "sluice.parser.threads",
        "sluice.max.inflight.records",
        "sluice.max.inflight.bytes",
        "sluice.restart.backoff.max.ms",
        "errors.tolerance",
        "errors.retry.timeout",
        "errors.retry.delay.max.ms",
        "errors.log.enable",
        "errors.log.include.messages",
        "errors.deadletterqueue.topic.name",
        "errors.deadletterqueue.topic.replication.factor",
        "errors.deadletterqueue.context.headers.enable",
        "runtime.error.tolerance",
        "runtime.error.mode",
        "runtime.error.topic.name",
        "runtime.error.bootstrap.servers",
        "runtime.error.table.name",
        "config.action.reload",
        "transforms",
        "predicates",
    ],
    prefixes: &[
        "key.converter.",
        "value.converter.",
        "header.converter.",
        "consumer.override.",
        "producer.override.",
        "admin.override.",
        "transforms.",
        "predicates.",
    ],
};

/// Settings never passed to a plugin's `configure` (credentials).
const SECRET_MARKERS: &[&str] =
    &["password", "secret", "access.key", "access_key", "access_id", "token", "jaas", "user.info"];

/// Which topics a connector reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicSelection {
    /// `topics=a,b,c`.
    List(Vec<String>),
    /// `topics.regex=...` (subscribed as a librdkafka `^` pattern).
    Regex(String),
}

/// `errors.tolerance` / `runtime.error.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tolerance {
    /// Fail the connector on the first bad record; commit nothing past it.
    None,
    /// Route bad records to the error path and continue.
    All,
}

/// Where bad records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// `tolerance=none`: the connector fails.
    Fail,
    /// `errors.tolerance=none` with `errors.deadletterqueue.topic.name`: as in Kafka Connect,
    /// the bad record is reported to the dead-letter topic, then the connector fails.
    DeadLetterThenFail(DeadLetterConfig),
    /// `tolerance=all` without a dead-letter target (`runtime.error.mode=ignore`, or Kafka
    /// Connect's `errors.tolerance=all` without a DLQ topic): logged, counted and skipped.
    Ignore,
    /// Produce the original record with error headers to a Kafka topic.
    DeadLetter(DeadLetterConfig),
    /// Write the record and the error to an error table the sink provides (the Tablestore
    /// sink's `runtime.error.mode=tablestore`, `runtime.error.table.name`).
    SinkTable(String),
}

/// A dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterConfig {
    /// Topic name.
    pub topic: String,
    /// Cluster to write to (defaults to the worker's `bootstrap.servers`).
    pub bootstrap_servers: String,
    /// Replication factor used if the topic has to be created.
    pub replication_factor: i32,
    /// The key that named the topic, for messages.
    pub key: &'static str,
    /// Whether the `__connect.errors.*` context headers are added
    /// (`errors.deadletterqueue.context.headers.enable`, off by default as in Kafka Connect).
    pub context_headers: bool,
    /// Whether the `ErrorInfo` header with the reason is added (always for the sinks' own
    /// `runtime.error.*` keys, whose connectors add it; with the context headers otherwise).
    pub error_info: bool,
}

/// `errors.log.enable` / `errors.log.include.messages`: whether each failed record is
/// logged at ERROR level, and with its key, value and headers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorLog {
    /// `errors.log.enable` (default false).
    pub enabled: bool,
    /// `errors.log.include.messages` (default false).
    pub include_messages: bool,
}

/// A validated connector.
#[derive(Debug, Clone)]
pub struct ConnectorConfig {
    /// `name`.
    pub name: String,
    /// The sink chosen by `connector.class`.
    pub sink: SinkKind,
    /// `tasks.max`: parser workers (and sink lanes) run in parallel.
    pub tasks_max: usize,
    /// `sluice.parser.threads`: parser threads per task; their batches reach the task's sink
    /// lane in the order they were read.
    pub parser_threads: usize,
    /// `topics` or `topics.regex`.
    pub topics: TopicSelection,
    /// `parser` / `parser.plugin`.
    pub parser: PluginSource,
    /// `parser.timeout.ms`, `parser.memory.max.bytes`, `parser.stdio.max.bytes`.
    pub limits: PluginLimits,
    /// Settings handed to the plugin's `configure`.
    pub parser_settings: Vec<(String, String)>,
    /// The single message transforms (`transforms`, `predicates`), applied to each record
    /// before it is parsed; `None` without any.
    pub transforms: Option<std::sync::Arc<crate::transforms::RecordTransforms>>,
    /// The error policy.
    pub errors: ErrorPolicy,
    /// How failed records are logged.
    pub error_log: ErrorLog,
    /// Records per parse call and sink write (`max.poll.records`, default 500).
    pub batch_max_records: usize,
    /// How long a partial batch waits for more records (`sluice.batch.linger.ms`, default 20).
    pub batch_linger: Duration,
    /// Cap on records read but not yet written or dead-lettered.
    pub max_inflight_records: usize,
    /// Cap on the key, value and header bytes of those records.
    pub max_inflight_bytes: usize,
    /// How transient sink failures are retried (`errors.retry.timeout`,
    /// `errors.retry.delay.max.ms`).
    pub retry: RetryPolicy,
    /// Consumer settings: worker `consumer.*` then `consumer.override.*`.
    pub consumer_settings: Vec<(String, String)>,
    /// Producer settings for the dead-letter producer.
    pub producer_settings: Vec<(String, String)>,
    /// Admin settings for creating the dead-letter topic.
    pub admin_settings: Vec<(String, String)>,
    /// The connector file as read with placeholders resolved, for the sink's own keys.
    pub raw: ConfigMap,
    /// The configuration as written, placeholders unresolved (what the REST API returns).
    pub given: ConfigMap,
    /// Keys accepted but not used by sluice.
    pub ignored_keys: Vec<String>,
}

impl ConnectorConfig {
    /// Validates a connector file against the worker settings, resolving config-provider
    /// placeholders (`${env:…}`, `${file:…}`) first; `raw` holds the resolved values.
    pub fn from_map(map: &ConfigMap, worker: &WorkerConfig) -> anyhow::Result<Self> {
        let given = map.clone();
        let resolved = worker.providers.resolve(map)?;
        let map = &resolved;
        // Before anything can fail with a value in its message: the log hides credentials.
        crate::logging::hide(secret_values(map));
        let name = map.require("name")?.to_string();
        let class = map.require("connector.class")?;
        let sink = SinkKind::from_class(class).with_context(|| format!("`connector.class` in {}", map.origin()))?;
        let parser_keys = match (map.get("parser.plugin"), map.get("parser").unwrap_or(sink.default_parser())) {
            (None, builtin) => crate::plugin::builtin_keys(builtin),
            (Some(_), _) => KeySet { keys: &[], prefixes: &[] },
        };
        let checked = keys::check(map, &[CONNECTOR_KEYS, sink.keys(), parser_keys])?;

        let tasks_max = map.parse_or("tasks.max", 1usize, "a positive whole number")?;
        if tasks_max == 0 {
            bail!("`tasks.max` in {} must be at least 1", map.origin());
        }
        let parser_threads =
            map.parse_or("sluice.parser.threads", default_parser_threads(tasks_max), "a positive whole number")?;
        if parser_threads == 0 {
            bail!("`sluice.parser.threads` in {} must be at least 1", map.origin());
        }
        let topics = match (map.get("topics"), map.get("topics.regex")) {
            (Some(_), Some(_)) => bail!(
                "{} sets both `topics` and `topics.regex`; a sink connector takes exactly one of them",
                map.origin()
            ),
            (None, None) => bail!("missing required key `topics` (or `topics.regex`) in {}", map.origin()),
            (Some(list), None) => {
                let topics: Vec<String> =
                    list.split(',').map(str::trim).filter(|t| !t.is_empty()).map(String::from).collect();
                if topics.is_empty() {
                    bail!("`topics` in {} names no topic", map.origin());
                }
                TopicSelection::List(topics)
            }
            (None, Some(regex)) => TopicSelection::Regex(regex.to_string()),
        };

        let parser = match map.get("parser.plugin") {
            Some(path) => PluginSource::File(resolve_path(map.origin(), path)),
            None => PluginSource::Builtin(map.get("parser").unwrap_or(sink.default_parser()).to_string()),
        };
        let defaults = PluginLimits::default();
        let limits = PluginLimits {
            call_timeout: map.millis_or("parser.timeout.ms", defaults.call_timeout.as_millis() as u64)?,
            max_memory_bytes: map.parse_or(
                "parser.memory.max.bytes",
                defaults.max_memory_bytes,
                "a number of bytes",
            )?,
            max_stdio_bytes: map.parse_or("parser.stdio.max.bytes", defaults.max_stdio_bytes, "a number of bytes")?,
        };

        let consumer_settings: Vec<(String, String)> = worker
            .client_common
            .iter()
            .cloned()
            .chain(worker.consumer.iter().cloned())
            .chain(map.with_prefix("consumer.override."))
            .collect();
        let batch_max_records = consumer_settings
            .iter()
            .rev()
            .find(|(k, _)| k == "max.poll.records")
            .map(|(_, v)| v.parse::<usize>())
            .transpose()
            .with_context(|| format!("`max.poll.records` for connector `{name}` must be a positive whole number"))?
            .unwrap_or(500)
            .max(1);

        let producer_settings = worker
            .client_common
            .iter()
            .cloned()
            .chain(worker.producer.iter().cloned())
            .chain(map.with_prefix("producer.override."))
            .collect();
        let admin_settings = worker
            .client_common
            .iter()
            .cloned()
            .chain(worker.admin.iter().cloned())
            .chain(map.with_prefix("admin.override."))
            .collect();

        for settings in [&consumer_settings, &producer_settings, &admin_settings] {
            crate::source::client::check_settings(settings, map.origin())?;
        }

        let max_inflight_records =
            map.parse_or("sluice.max.inflight.records", worker.max_inflight_records, "a positive whole number")?;
        if max_inflight_records == 0 {
            bail!("`sluice.max.inflight.records` in {} must be at least 1", map.origin());
        }

        let max_inflight_bytes =
            map.parse_or("sluice.max.inflight.bytes", worker.max_inflight_bytes, "a number of bytes")?;
        if max_inflight_bytes == 0 {
            bail!("`sluice.max.inflight.bytes` in {} must be at least 1", map.origin());
        }

        let (batch_max_records, batch_linger) = match sink.batching(map, worker)? {
            Some(tuned) => tuned,
            None => (batch_max_records, map.millis_or("sluice.batch.linger.ms", 20)?),
        };

        let entries: Vec<(String, String)> = map.entries().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        // The worker's converter settings, then the connector's, credentials included (a
        // Schema Registry's basic auth), unlike what parsers get.
        let converters = converter_settings(map, worker);
        let transforms = crate::transforms::RecordTransforms::from_config(&entries, &converters, map.origin())?;
        let mut parser_settings = parser_settings(map, worker);
        crate::transforms::parser_converter_settings(&converters, &mut parser_settings);
        let config = Self {
            transforms,
            retry: retry_policy(map)?,
            errors: error_policy(map, worker, sink)?,
            error_log: ErrorLog {
                enabled: map.bool_or("errors.log.enable", false)?,
                include_messages: map.bool_or("errors.log.include.messages", false)?,
            },
            parser_settings,
            name,
            sink,
            tasks_max,
            parser_threads,
            topics,
            parser,
            limits,
            batch_max_records,
            batch_linger,
            max_inflight_records,
            max_inflight_bytes,
            consumer_settings,
            producer_settings,
            admin_settings,
            raw: map.clone(),
            given,
            ignored_keys: checked.ignored,
        };
        sink.check(&config)?;
        Ok(config)
    }

    /// The values of keys that hold credentials (passwords, secrets, access keys, tokens),
    /// resolved, so what is shown of the connector can hide them.
    pub fn secret_values(&self) -> Vec<String> {
        secret_values(&self.raw)
    }

    /// Kafka Connect's consumer group for this connector.
    pub fn group_id(&self) -> String {
        self.consumer_settings
            .iter()
            .rev()
            .find(|(k, _)| k == "group.id")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| format!("connect-{}", self.name))
    }
}

/// A relative plugin path is taken relative to the connector file's directory.
fn resolve_path(origin: &str, path: &str) -> PathBuf {
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return path;
    }
    match std::path::Path::new(origin).parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !path.exists() => dir.join(path),
        _ => path,
    }
}

/// The converter settings in effect for a connector: the worker's, then the connector's
/// (credentials included, such as a Schema Registry's basic auth, unlike what parsers get).
pub fn converter_settings(map: &ConfigMap, worker: &WorkerConfig) -> Vec<(String, String)> {
    worker
        .converters
        .iter()
        .cloned()
        .chain(map.entries().iter().filter(|(k, _)| k.contains("converter")).map(|(k, v)| (k.clone(), v.clone())))
        .collect()
}

fn parser_settings(map: &ConfigMap, worker: &WorkerConfig) -> Vec<(String, String)> {
    let mut settings: std::collections::BTreeMap<String, String> = worker.converters.iter().cloned().collect();
    for (key, value) in map.entries() {
        settings.insert(key.clone(), value.clone());
    }
    settings.into_iter().filter(|(key, _)| !is_secret_key(key)).collect()
}

/// The credentials in `map`: values of credential keys, and passwords written into URLs
/// (`https://user:password@host`, `jdbc:TAOS://host:6030/?user=root&password=...`).
/// Values shorter than 4 characters are left out (hiding them would mask ordinary words).
pub fn secret_values(map: &ConfigMap) -> Vec<String> {
    let mut values = Vec::new();
    for (key, value) in map.entries() {
        let value = value.trim();
        if is_secret_key(key) {
            values.push(value.to_string());
            // A JAAS line's password is also hidden on its own (messages quote it alone).
            if let Some((_, rest)) = value.split_once("password=\"") {
                values.extend(rest.split('"').next().map(String::from));
            }
        } else if value.contains("://") {
            values.extend(url_credentials(value));
        }
    }
    values.retain(|v| v.len() >= 4);
    values
}

/// The password of a URL's user info and the values of its credential query parameters, as
/// written and decoded. Read by hand rather than by a URL parser, so a URL that is invalid
/// otherwise (and quoted by the error about it) still has its password found.
fn url_credentials(text: &str) -> Vec<String> {
    let Some((_, rest)) = text.split_once("://") else { return Vec::new() };
    let mut found = Vec::new();
    let mut push = |raw: &str| {
        found.push(raw.to_string());
        if let Ok(decoded) = percent_encoding::percent_decode_str(&raw.replace('+', " ")).decode_utf8() {
            found.push(decoded.into_owned());
        }
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    if let Some((user_info, _)) = authority.rsplit_once('@') {
        if let Some((_, password)) = user_info.split_once(':') {
            push(password);
        }
    }
    if let Some((_, query)) = rest.split_once('?') {
        let query = query.split('#').next().unwrap_or("");
        for (name, raw) in query.split('&').filter_map(|pair| pair.split_once('=')) {
            if is_secret_key(name) || name.eq_ignore_ascii_case("pass") || name.eq_ignore_ascii_case("pwd") {
                push(raw);
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Whether a key holds a credential (never passed to plugins, hidden in status traces).
fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_MARKERS.iter().any(|m| lower.contains(m))
}

/// Parser threads per task when `sluice.parser.threads` is not set: the machine's cores
/// shared among the tasks (at least one each), since parsing is the heaviest stage.
fn default_parser_threads(tasks: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores.div_ceil(tasks).max(1)
}

/// `errors.retry.timeout` (ms; `-1` without end, `0` no retry; default 300000) and
/// `errors.retry.delay.max.ms` (default 60000).
fn retry_policy(map: &ConfigMap) -> anyhow::Result<RetryPolicy> {
    let key = "errors.retry.timeout";
    let timeout = match map.get(key) {
        None => Some(retry::DEFAULT_TIMEOUT),
        Some(text) => match text.trim().parse::<i64>() {
            Ok(-1) => None,
            Ok(ms) if ms >= 0 => Some(Duration::from_millis(ms as u64)),
            _ => bail!(
                "`{key}` in {} must be a number of milliseconds, or -1 to retry without end (got `{text}`)",
                map.origin()
            ),
        },
    };
    let max_delay = map.millis_or("errors.retry.delay.max.ms", retry::DEFAULT_MAX_DELAY.as_millis() as u64)?;
    if max_delay.is_zero() {
        bail!("`errors.retry.delay.max.ms` in {} must be at least 1", map.origin());
    }
    Ok(RetryPolicy { timeout, max_delay, ..RetryPolicy::default() })
}

fn tolerance(map: &ConfigMap, key: &str) -> anyhow::Result<Option<Tolerance>> {
    Ok(match map.get(key) {
        None => None,
        Some(_) => Some(match map.choice_or(key, "none", &["none", "all"])? {
            "all" => Tolerance::All,
            _ => Tolerance::None,
        }),
    })
}

fn error_policy(map: &ConfigMap, worker: &WorkerConfig, sink: SinkKind) -> anyhow::Result<ErrorPolicy> {
    let connect = tolerance(map, "errors.tolerance")?;
    let runtime = tolerance(map, "runtime.error.tolerance")?;
    if let (None, None, Some(policy)) = (connect, runtime, sink.error_policy(map, worker)?) {
        return Ok(policy);
    }
    let tolerance = match (connect, runtime) {
        (Some(a), Some(b)) if a != b => bail!(
            "{} sets `errors.tolerance` and `runtime.error.tolerance` to different values; set one of them",
            map.origin()
        ),
        (a, b) => a.or(b).unwrap_or(Tolerance::None),
    };
    let context_headers = map.bool_or("errors.deadletterqueue.context.headers.enable", false)?;
    if let Some(topic) = map.get("errors.deadletterqueue.topic.name").filter(|t| !t.trim().is_empty()) {
        let target = DeadLetterConfig {
            topic: topic.trim().to_string(),
            bootstrap_servers: worker.bootstrap_servers.clone(),
            replication_factor: map.parse_or("errors.deadletterqueue.topic.replication.factor", 3, "a whole number")?,
            key: "errors.deadletterqueue.topic.name",
            context_headers,
            error_info: context_headers,
        };
        return Ok(match tolerance {
            Tolerance::None => ErrorPolicy::DeadLetterThenFail(target),
            Tolerance::All => ErrorPolicy::DeadLetter(target),
        });
    }
    if tolerance == Tolerance::None {
        return Ok(ErrorPolicy::Fail);
    }
    match map.choice_or("runtime.error.mode", "ignore", &["ignore", "kafka", "tablestore"])? {
        "kafka" => Ok(ErrorPolicy::DeadLetter(DeadLetterConfig {
            topic: map
                .get("runtime.error.topic.name")
                .with_context(|| {
                    format!("`runtime.error.mode=kafka` in {} needs `runtime.error.topic.name`", map.origin())
                })?
                .to_string(),
            bootstrap_servers: map
                .get("runtime.error.bootstrap.servers")
                .unwrap_or(&worker.bootstrap_servers)
                .to_string(),
            replication_factor: map.parse_or("errors.deadletterqueue.topic.replication.factor", 3, "a whole number")?,
            key: "runtime.error.topic.name",
            context_headers: true,
            error_info: true,
        })),
        "tablestore" => Ok(ErrorPolicy::SinkTable(
            map.get("runtime.error.table.name")
                .with_context(|| {
                    format!("`runtime.error.mode=tablestore` in {} needs `runtime.error.table.name`", map.origin())
                })?
                .to_string(),
        )),
        _ => Ok(ErrorPolicy::Ignore),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    fn worker() -> WorkerConfig {
        WorkerConfig::from_map(
            &parse_text("w", "bootstrap.servers=b:9092\nvalue.converter.schemas.enable=false\n").unwrap(),
        )
        .unwrap()
    }

    fn connector(text: &str) -> anyhow::Result<ConnectorConfig> {
        ConnectorConfig::from_map(&parse_text("c.properties", text).unwrap(), &worker())
    }

    #[test]
    fn error_keys_follow_kafka_connect() {
        let base = "name=x\nconnector.class=FileStreamSink\ntopics=a\nfile=/tmp/o\n\
                    errors.deadletterqueue.topic.name=dlq\n";
        let all = connector(&format!("{base}errors.tolerance=all\n")).unwrap();
        let ErrorPolicy::DeadLetter(target) = &all.errors else { panic!("{:?}", all.errors) };
        assert!(!target.context_headers && !target.error_info, "context headers are off by default");
        assert_eq!(all.error_log, ErrorLog::default());
        let none = connector(&format!(
            "{base}errors.deadletterqueue.context.headers.enable=true\nerrors.log.enable=true\n\
             errors.log.include.messages=true\n"
        ))
        .unwrap();
        let ErrorPolicy::DeadLetterThenFail(target) = &none.errors else { panic!("{:?}", none.errors) };
        assert!(target.context_headers && target.error_info);
        assert_eq!(none.error_log, ErrorLog { enabled: true, include_messages: true });
        let error = connector(&format!("{base}errors.log.enable=yes\n")).unwrap_err().to_string();
        assert!(error.contains("errors.log.enable"), "{error}");
    }

    #[test]
    fn unknown_transforms_and_java_only_client_settings_are_refused_naming_the_key() {
        let base = "name=x\nconnector.class=FileStreamSink\ntopics=a\nfile=/tmp/o\n";
        let error = connector(&format!("{base}transforms=t\ntransforms.t.type=com.example.MyTransform\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("transforms.t.type") && error.contains("com.example.MyTransform"), "{error}");
        let error = connector(&format!(
            "{base}transforms=route\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("transforms.route.regex"), "{error}");
        assert!(connector(&format!("{base}transforms=\n")).unwrap().transforms.is_none(), "an empty chain is none");
        let error = connector(&format!("{base}consumer.override.ssl.truststore.location=/etc/trust.jks\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ssl.truststore.location") && error.contains("ca.pem"), "{error}");
    }

    #[test]
    fn defaults_follow_kafka_connect() {
        let c = connector("name=x\nconnector.class=FileStreamSink\ntopics=a, b\nfile=/tmp/out\n").unwrap();
        assert_eq!(c.group_id(), "connect-x");
        assert_eq!(c.tasks_max, 1);
        assert_eq!(c.topics, TopicSelection::List(vec!["a".into(), "b".into()]));
        assert_eq!(c.errors, ErrorPolicy::Fail);
        assert_eq!(c.batch_max_records, 500);
        assert_eq!(c.parser, PluginSource::Builtin("json".into()));
        assert!(c.parser_settings.contains(&("value.converter.schemas.enable".into(), "false".into())));
    }

    #[test]
    fn missing_required_keys_are_named() {
        let error = connector("connector.class=FileStreamSink\ntopics=a\n").unwrap_err().to_string();
        assert!(error.contains("`name`"), "{error}");
        let error = connector("name=x\nconnector.class=FileStreamSink\n").unwrap_err().to_string();
        assert!(error.contains("`topics`"), "{error}");
    }

    #[test]
    fn dead_letter_from_either_key_family() {
        let c = connector("name=x\nconnector.class=FileStreamSink\ntopics=a\nerrors.tolerance=all\nerrors.deadletterqueue.topic.name=dlq\n").unwrap();
        assert!(
            matches!(c.errors, ErrorPolicy::DeadLetter(ref d) if d.topic == "dlq" && d.bootstrap_servers == "b:9092")
        );
        let c = connector("name=x\nconnector.class=FileStreamSink\ntopics=a\nruntime.error.tolerance=all\nruntime.error.mode=kafka\nruntime.error.topic.name=err\nruntime.error.bootstrap.servers=o:1\n").unwrap();
        assert!(matches!(c.errors, ErrorPolicy::DeadLetter(ref d) if d.topic == "err" && d.bootstrap_servers == "o:1"));
        let c = connector("name=x\nconnector.class=FileStreamSink\ntopics=a\nerrors.tolerance=all\n").unwrap();
        assert_eq!(c.errors, ErrorPolicy::Ignore);
    }

    #[test]
    fn passwords_in_urls_count_as_secrets() {
        let map = ConfigMap::new(
            "t",
            [
                ("a", "jdbc:TAOS://h:6030/db?user=root&password=p%40ss-word"),
                ("b", "https://u:s3cr%2Ft@h/x"),
                ("c", "http://h:1/?q=1"),
                ("e", "jdbc:TAOS-RS://h:notaport/?pwd=Bad-P0rt"),
                ("d", "abc"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let mut values = secret_values(&map);
        values.sort();
        assert_eq!(values, ["Bad-P0rt", "p%40ss-word", "p@ss-word", "s3cr%2Ft", "s3cr/t"]);
    }

    #[test]
    fn secrets_are_not_passed_to_plugins() {
        let c = connector(
            "name=x\nconnector.class=FileStreamSink\ntopics=a\nconsumer.override.sasl.jaas.config=\
             org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"secret\";\n",
        )
        .unwrap();
        assert!(c.parser_settings.iter().all(|(k, _)| !k.contains("jaas")));
    }

    #[test]
    fn typo_of_sluice_key_fails() {
        let error = connector("name=x\nconnector.class=FileStreamSink\ntopics=a\nparser.timeout.msec=5\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("`parser.timeout.msec`"), "{error}");
    }
}
