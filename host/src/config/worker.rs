//! The worker file (`connect-standalone.properties`, or `connect-distributed.properties` with
//! the distributed keys read by [`DistributedConfig`]).

use std::path::PathBuf;
use std::time::Duration;

use super::keys::{self, KeySet};
use super::ConfigMap;

/// Worker keys sluice uses or knowingly accepts. Kafka Connect keys that only matter to the
/// JVM worker (REST, plugin path, internal topics) are accepted and ignored.
pub const WORKER_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "bootstrap.servers",
        "client.id",
        "offset.flush.interval.ms",
        "offset.flush.timeout.ms",
        "task.shutdown.graceful.timeout.ms",
        "key.converter",
        "value.converter",
        "header.converter",
        "sluice.plugin.cache.dir",
        "sluice.state.dir",
        "sluice.max.inflight.records",
        "sluice.max.inflight.bytes",
        "sluice.status.sample.interval.ms",
        "listeners",
        "rest.port",
        "rest.host.name",
        "rest.advertised.host.name",
        "rest.advertised.port",
        // Accepted, unused by a sink-only host.
        "offset.storage.file.filename",
        "plugin.path",
        "plugin.discovery",
        "rebalance.timeout.ms",
        "scheduled.rebalance.max.delay.ms",
        "connect.protocol",
        "worker.unsync.backoff.ms",
        "config.storage.partitions",
        "connector.client.config.override.policy",
        "metrics.recording.level",
        "metric.reporters",
        "security.protocol",
    ],
    prefixes: &[
        "key.converter.",
        "value.converter.",
        "header.converter.",
        "consumer.",
        "producer.",
        "admin.",
        "internal.",
        "sasl.",
        "ssl.",
        "listeners.",
        "rest.",
        "metrics.",
        "config.providers",
    ],
};

/// Keys that configure every Kafka client the worker makes (as in Kafka Connect, where
/// top-level security settings apply to consumers, producers and admin clients).
const SHARED_CLIENT_PREFIXES: &[&str] = &["security.protocol", "sasl.", "ssl.", "client.dns.lookup"];

/// The validated worker configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The file it came from.
    pub origin: String,
    /// `bootstrap.servers` (default `localhost:9092`).
    pub bootstrap_servers: String,
    /// `offset.flush.interval.ms` (default 60000, as in Kafka Connect).
    pub offset_flush_interval: Duration,
    /// `offset.flush.timeout.ms` (default 5000).
    pub offset_flush_timeout: Duration,
    /// `task.shutdown.graceful.timeout.ms` (default 5000): how long shutdown waits for
    /// in-flight records before abandoning them (uncommitted).
    pub shutdown_timeout: Duration,
    /// Security and DNS settings shared by all clients.
    pub client_common: Vec<(String, String)>,
    /// `consumer.*` settings, prefix removed.
    pub consumer: Vec<(String, String)>,
    /// `producer.*` settings, prefix removed.
    pub producer: Vec<(String, String)>,
    /// `admin.*` settings, prefix removed.
    pub admin: Vec<(String, String)>,
    /// Converter settings (`key.converter*`, `value.converter*`, `header.converter*`).
    pub converters: Vec<(String, String)>,
    /// `sluice.status.sample.interval.ms` (default 5000): how often the REST server samples
    /// each connector's counters for the status page and `sluice top`.
    pub status_sample_interval: Duration,
    /// `sluice.plugin.cache.dir`: where compiled plugins are cached.
    pub plugin_cache_dir: Option<PathBuf>,
    /// Where connectors created through the REST API are kept across restarts:
    /// `sluice.state.dir`, else the folder of `offset.storage.file.filename`, else the worker
    /// file's folder; `None` for a worker not read from a file.
    pub state_dir: Option<PathBuf>,
    /// `sluice.max.inflight.records` (default 5000): default cap on records read but not yet
    /// written or dead-lettered, per connector.
    pub max_inflight_records: usize,
    /// `sluice.max.inflight.bytes` (default 32 MiB): default cap on the key, value and header
    /// bytes of those records, per connector.
    pub max_inflight_bytes: usize,
    /// `config.providers`: resolve `${provider:…}` placeholders in connector configs.
    pub providers: super::ConfigProviders,
    /// Where the REST API listens (`listeners`, or the old `rest.host.name`/`rest.port`).
    pub rest: RestListener,
    /// Keys accepted but not used.
    pub ignored_keys: Vec<String>,
}

/// See [`WorkerConfig::state_dir`].
fn state_dir(map: &ConfigMap) -> Option<PathBuf> {
    let parent = |path: &str| {
        std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()).map(std::path::Path::to_path_buf)
    };
    if let Some(dir) = map.get("sluice.state.dir").filter(|d| !d.trim().is_empty()) {
        return Some(PathBuf::from(dir.trim()));
    }
    if let Some(dir) = map.get("offset.storage.file.filename").and_then(parent) {
        return Some(dir);
    }
    let origin = std::path::Path::new(map.origin());
    if origin.is_file() {
        return parent(map.origin()).or_else(|| Some(PathBuf::from(".")));
    }
    None
}

/// Default of `sluice.max.inflight.bytes`.
pub const DEFAULT_MAX_INFLIGHT_BYTES: usize = 32 << 20;
/// The REST listener and the address the worker advertises (its `worker_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestListener {
    /// Host to bind (empty: every interface, as Kafka Connect's `http://:8083`).
    pub host: String,
    /// Port to bind (0 picks a free one).
    pub port: u16,
    /// `rest.advertised.host.name` (default: the bound host, or this machine's name).
    pub advertised_host: Option<String>,
    /// `rest.advertised.port` (default: the bound port).
    pub advertised_port: Option<u16>,
}

impl RestListener {
    /// Reads `listeners` (default `http://:8083`) or, when it is absent, the deprecated
    /// `rest.host.name` and `rest.port`, as Kafka Connect does.
    fn from_map(map: &ConfigMap) -> anyhow::Result<Self> {
        let (host, port) = match map.get("listeners") {
            Some(listeners) => {
                let first = listeners.split(',').map(str::trim).find(|l| !l.is_empty()).unwrap_or("http://:8083");
                if listeners.split(',').filter(|l| !l.trim().is_empty()).count() > 1 {
                    anyhow::bail!(
                        "`listeners` in {} names several listeners (`{listeners}`); sluice serves one, \
                         give a single `http://host:port`",
                        map.origin()
                    );
                }
                let Some(address) = first.strip_prefix("http://") else {
                    anyhow::bail!(
                        "`listeners` in {} must be `http://host:port`, got `{first}`; sluice serves the REST API \
                         over plain HTTP only (put a TLS proxy in front for https)",
                        map.origin()
                    );
                };
                let (host, port) = address.rsplit_once(':').ok_or_else(|| {
                    anyhow::anyhow!("`listeners` in {} must name a port (`http://:8083`), got `{first}`", map.origin())
                })?;
                let port = port
                    .trim_end_matches('/')
                    .parse::<u16>()
                    .map_err(|_| anyhow::anyhow!("`listeners` in {} has no valid port in `{first}`", map.origin()))?;
                (host.trim_start_matches('[').trim_end_matches(']').to_string(), port)
            }
            None => (
                map.get("rest.host.name").unwrap_or("").to_string(),
                map.parse_or("rest.port", 8083u16, "a port number")?,
            ),
        };
        Ok(Self {
            host,
            port,
            advertised_host: map.get("rest.advertised.host.name").map(String::from),
            advertised_port: match map.get("rest.advertised.port") {
                Some(_) => Some(map.parse_or("rest.advertised.port", 0u16, "a port number")?),
                None => None,
            },
        })
    }
}

impl WorkerConfig {
    /// Validates a worker file.
    pub fn from_map(map: &ConfigMap) -> anyhow::Result<Self> {
        // Before anything can fail with a value in its message: the log hides credentials.
        crate::logging::hide(super::connector::secret_values(map));
        let checked = keys::check(map, &[WORKER_KEYS, DISTRIBUTED_KEYS])?;
        if let Some(classes) = map.get("rest.extension.classes").map(str::trim).filter(|c| !c.is_empty()) {
            anyhow::bail!(
                "`rest.extension.classes={classes}` in {}: Java REST extensions (often authentication) cannot \
                 run in sluice, and serving the API without them would open it; remove the key and put an \
                 authenticating proxy in front of `listeners`",
                map.origin()
            );
        }
        let converters = map
            .entries()
            .iter()
            .filter(|(k, _)| {
                k.starts_with("key.converter") || k.starts_with("value.converter") || k.starts_with("header.converter")
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let client_common = map
            .entries()
            .iter()
            .filter(|(k, _)| SHARED_CLIENT_PREFIXES.iter().any(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let max_inflight_records =
            map.parse_or("sluice.max.inflight.records", 5_000usize, "a positive whole number")?;
        if max_inflight_records == 0 {
            anyhow::bail!("`sluice.max.inflight.records` in {} must be at least 1", map.origin());
        }
        let max_inflight_bytes =
            map.parse_or("sluice.max.inflight.bytes", DEFAULT_MAX_INFLIGHT_BYTES, "a number of bytes")?;
        if max_inflight_bytes == 0 {
            anyhow::bail!("`sluice.max.inflight.bytes` in {} must be at least 1", map.origin());
        }
        Ok(Self {
            origin: map.origin().to_string(),
            bootstrap_servers: map.get("bootstrap.servers").unwrap_or("localhost:9092").to_string(),
            offset_flush_interval: map.millis_or("offset.flush.interval.ms", 60_000)?,
            offset_flush_timeout: map.millis_or("offset.flush.timeout.ms", 5_000)?,
            shutdown_timeout: map.millis_or("task.shutdown.graceful.timeout.ms", 5_000)?,
            client_common,
            consumer: map.with_prefix("consumer."),
            producer: map.with_prefix("producer."),
            admin: map.with_prefix("admin."),
            converters,
            plugin_cache_dir: map.get("sluice.plugin.cache.dir").map(PathBuf::from),
            status_sample_interval: status_sample_interval(map)?,
            state_dir: state_dir(map),
            max_inflight_records,
            max_inflight_bytes,
            rest: RestListener::from_map(map)?,
            providers: super::ConfigProviders::from_map(map)?,
            ignored_keys: checked.ignored,
        })
    }
}

/// The worker keys [`DistributedConfig`] reads; `sluice standalone` accepts and ignores
/// them. Worker files are checked against [`WORKER_KEYS`] and these together.
pub const DISTRIBUTED_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "group.id",
        "config.storage.topic",
        "offset.storage.topic",
        "status.storage.topic",
        "config.storage.replication.factor",
        "offset.storage.replication.factor",
        "status.storage.replication.factor",
        "offset.storage.partitions",
        "status.storage.partitions",
        "heartbeat.interval.ms",
        "session.timeout.ms",
        "worker.sync.timeout.ms",
    ],
    prefixes: &[],
};

/// The keys of Kafka Connect's distributed worker file that `sluice distributed` reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DistributedConfig {
    /// `group.id`: the cluster's name; workers with the same one share connectors.
    pub group_id: String,
    /// `config.storage.topic`: connector configurations and target states (compacted, one
    /// partition).
    pub config_topic: String,
    /// `offset.storage.topic`: required as in Kafka Connect; a sink's offsets are its consumer
    /// group's, so sluice writes nothing there.
    pub offset_topic: String,
    /// `status.storage.topic`: connector and task states of every worker (compacted).
    pub status_topic: String,
    /// `config.storage.replication.factor` (default 3; -1: the broker's default).
    pub config_replication: i32,
    /// `status.storage.replication.factor` (default 3; -1: the broker's default).
    pub status_replication: i32,
    /// `status.storage.partitions` (default 5).
    pub status_partitions: i32,
    /// `heartbeat.interval.ms` (default 3000): how often a worker writes its status again.
    pub heartbeat_interval: Duration,
    /// `session.timeout.ms` (default 10000): a worker whose last status is older than this
    /// is no longer shown as a member.
    pub session_timeout: Duration,
    /// `worker.sync.timeout.ms` (default 3000, at least 10 s here): how long a REST call waits
    /// for its change to be read back from the config topic.
    pub sync_timeout: Duration,
}

impl DistributedConfig {
    /// Reads the distributed keys; a required key that is missing is named with the fix.
    pub fn from_map(map: &ConfigMap) -> anyhow::Result<Self> {
        let required = |key: &str, example: &str| -> anyhow::Result<String> {
            match map.get(key).map(str::trim).filter(|v| !v.is_empty()) {
                Some(value) => Ok(value.to_string()),
                None => anyhow::bail!(
                    "`{key}` is required in {} for `sluice distributed` (as in Kafka Connect's distributed \
                     worker file); add for example `{key}={example}`",
                    map.origin()
                ),
            }
        };
        let replication = |key: &str| -> anyhow::Result<i32> {
            let factor = map.parse_or(key, 3i32, "a replication factor (a positive number, or -1)")?;
            if factor == 0 || factor < -1 {
                anyhow::bail!(
                    "`{key}` in {} must be a positive number or -1 (the broker's default), got {factor}",
                    map.origin()
                );
            }
            Ok(factor)
        };
        let status_partitions = map.parse_or("status.storage.partitions", 5i32, "a positive number of partitions")?;
        if status_partitions < 1 && status_partitions != -1 {
            anyhow::bail!("`status.storage.partitions` in {} must be at least 1", map.origin());
        }
        let config = Self {
            group_id: required("group.id", "connect-cluster")?,
            config_topic: required("config.storage.topic", "connect-configs")?,
            offset_topic: required("offset.storage.topic", "connect-offsets")?,
            status_topic: required("status.storage.topic", "connect-status")?,
            config_replication: replication("config.storage.replication.factor")?,
            status_replication: replication("status.storage.replication.factor")?,
            status_partitions: if status_partitions == -1 { 5 } else { status_partitions },
            heartbeat_interval: map.millis_or("heartbeat.interval.ms", 3_000)?,
            session_timeout: map.millis_or("session.timeout.ms", 10_000)?,
            sync_timeout: map.millis_or("worker.sync.timeout.ms", 3_000)?.max(Duration::from_secs(10)),
        };
        replication("offset.storage.replication.factor")?;
        if config.heartbeat_interval.is_zero() || config.heartbeat_interval >= config.session_timeout {
            anyhow::bail!("`heartbeat.interval.ms` in {} must be above 0 and below `session.timeout.ms`", map.origin());
        }
        let topics = [&config.config_topic, &config.offset_topic, &config.status_topic];
        if topics.iter().enumerate().any(|(i, a)| topics[i + 1..].contains(a)) {
            anyhow::bail!(
                "`config.storage.topic`, `offset.storage.topic` and `status.storage.topic` in {} must name three \
                 different topics",
                map.origin()
            );
        }
        Ok(config)
    }
}

/// `sluice.status.sample.interval.ms`, at least 1.
fn status_sample_interval(map: &ConfigMap) -> anyhow::Result<Duration> {
    let interval = map.millis_or("sluice.status.sample.interval.ms", 5_000)?;
    if interval.is_zero() {
        anyhow::bail!("`sluice.status.sample.interval.ms` in {} must be at least 1", map.origin());
    }
    Ok(interval)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    const DISTRIBUTED: &str = "bootstrap.servers=localhost:9092\ngroup.id=connect-cluster\n\
        config.storage.topic=connect-configs\noffset.storage.topic=connect-offsets\n\
        status.storage.topic=connect-status\nconfig.storage.replication.factor=1\n\
        offset.storage.replication.factor=1\nstatus.storage.replication.factor=1\n\
        offset.storage.partitions=25\nstatus.storage.partitions=3\nlisteners=http://:8083\n";

    #[test]
    fn distributed_worker_file_is_read_with_kafka_connect_defaults() {
        let map = parse_text("d.properties", DISTRIBUTED).unwrap();
        WorkerConfig::from_map(&map).unwrap();
        let config = DistributedConfig::from_map(&map).unwrap();
        assert_eq!(config.group_id, "connect-cluster");
        assert_eq!((config.config_topic.as_str(), config.status_topic.as_str()), ("connect-configs", "connect-status"));
        assert_eq!((config.config_replication, config.status_partitions), (1, 3));
        assert_eq!(config.heartbeat_interval, Duration::from_secs(3));
        assert_eq!(config.session_timeout, Duration::from_secs(10));
    }

    #[test]
    fn a_missing_distributed_key_is_named() {
        for key in ["group.id", "config.storage.topic", "offset.storage.topic", "status.storage.topic"] {
            let text: String = DISTRIBUTED.lines().filter(|l| !l.starts_with(key)).map(|l| format!("{l}\n")).collect();
            let error =
                DistributedConfig::from_map(&parse_text("d.properties", &text).unwrap()).unwrap_err().to_string();
            assert!(error.contains(&format!("`{key}`")) && error.contains("d.properties"), "{error}");
        }
        let same = DISTRIBUTED.replace("status.storage.topic=connect-status", "status.storage.topic=connect-configs");
        let error = DistributedConfig::from_map(&parse_text("d", &same).unwrap()).unwrap_err().to_string();
        assert!(error.contains("different topics"), "{error}");
        let zero = DISTRIBUTED.replace("config.storage.replication.factor=1", "config.storage.replication.factor=0");
        let error = DistributedConfig::from_map(&parse_text("d", &zero).unwrap()).unwrap_err().to_string();
        assert!(error.contains("`config.storage.replication.factor`"), "{error}");
    }

    #[test]
    fn a_java_rest_extension_is_refused_naming_the_key() {
        let text = "rest.extension.classes=org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension\n";
        let error = WorkerConfig::from_map(&parse_text("w.properties", text).unwrap()).unwrap_err().to_string();
        assert!(error.contains("rest.extension.classes") && error.contains("proxy"), "{error}");
    }

    #[test]
    fn seed_worker_file_is_accepted_with_kafka_connect_defaults() {
        let text = "bootstrap.servers=localhost:9092\nkey.converter=org.apache.kafka.connect.json.JsonConverter\n\
            value.converter=org.apache.kafka.connect.json.JsonConverter\nkey.converter.schemas.enable=true\n\
            value.converter.schemas.enable=true\noffset.storage.file.filename=/tmp/connect.offsets\n\
            offset.flush.interval.ms=10000\n";
        let worker = WorkerConfig::from_map(&parse_text("w", text).unwrap()).unwrap();
        assert_eq!(worker.offset_flush_interval, Duration::from_secs(10));
        assert_eq!(worker.converters.len(), 4);
        assert_eq!(worker.shutdown_timeout, Duration::from_secs(5));
    }

    #[test]
    fn rest_listener_follows_kafka_connect() {
        let listener = |text: &str| WorkerConfig::from_map(&parse_text("w", text).unwrap()).map(|w| w.rest);
        let default = listener("").unwrap();
        assert_eq!((default.host.as_str(), default.port), ("", 8083));
        let explicit = listener("listeners=http://127.0.0.1:9000\nrest.advertised.port=80\n").unwrap();
        assert_eq!((explicit.host.as_str(), explicit.port, explicit.advertised_port), ("127.0.0.1", 9000, Some(80)));
        assert_eq!(listener("rest.port=8084\n").unwrap().port, 8084);
        let error = listener("listeners=https://:8443\n").unwrap_err().to_string();
        assert!(error.contains("`listeners`") && error.contains("https://:8443"), "{error}");
    }

    #[test]
    fn typo_in_worker_key_is_named() {
        let error = WorkerConfig::from_map(&parse_text("w.properties", "offset.flush.intervall.ms=5\n").unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`offset.flush.intervall.ms`") && error.contains("`offset.flush.interval.ms`"),
            "{error}"
        );
    }
}
