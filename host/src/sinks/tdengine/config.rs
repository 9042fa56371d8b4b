//! Typed configuration of the TDengine sink, read from the Java connector's keys
//! (`connection.*`, `batch.size`, `max.retries`, `retry.backoff.ms`, `db.schemaless`,
//! `data.precision`) plus sluice's `tdengine.*` extensions.

use std::time::Duration;

use anyhow::{bail, Context as _};
use url::Url;

use crate::config::ConnectorConfig;

/// taosAdapter's default REST port.
pub const ADAPTER_PORT: u16 = 6041;

/// The schemaless protocol records are written with (`db.schemaless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// InfluxDB line protocol (`/influxdb/v1/write`).
    Line,
    /// OpenTSDB telnet (`/opentsdb/v1/put/telnet/{db}`).
    Telnet,
    /// OpenTSDB JSON (`/opentsdb/v1/put/json/{db}`).
    Json,
}

impl Protocol {
    /// The name used in `db.schemaless` and in `raw` outputs' `format`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Line => "line",
            Protocol::Telnet => "telnet",
            Protocol::Json => "json",
        }
    }

    /// The protocol of a `raw` output's `format`.
    pub fn from_format(format: &str) -> Option<Self> {
        match format.to_ascii_lowercase().as_str() {
            "line" | "influxdb" | "influx" => Some(Protocol::Line),
            "telnet" | "opentsdb" => Some(Protocol::Telnet),
            "json" | "opentsdb_json" => Some(Protocol::Json),
            _ => None,
        }
    }
}

/// Timestamp precision of line-protocol data and of created databases (`data.precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds (the Java connector's default).
    Ns,
}

impl Precision {
    /// The name in `data.precision` and in `CREATE DATABASE ... PRECISION`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::Ms => "ms",
            Precision::Us => "us",
            Precision::Ns => "ns",
        }
    }

    /// The `precision` query parameter of `/influxdb/v1/write`: taosAdapter (like InfluxDB
    /// 1.x) reads `us` as "not configured" (= nanoseconds), microseconds are `u`.
    pub fn wire(self) -> &'static str {
        match self {
            Precision::Ms => "ms",
            Precision::Us => "u",
            Precision::Ns => "ns",
        }
    }

    /// Converts microseconds since the epoch into this precision.
    pub fn from_micros(self, micros: i64) -> Option<i64> {
        match self {
            Precision::Ms => Some(micros.div_euclid(1000)),
            Precision::Us => Some(micros),
            Precision::Ns => micros.checked_mul(1000),
        }
    }
}

/// How a record's topic becomes a database name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseNaming {
    /// `connection.database`: every topic goes to this database.
    Fixed(String),
    /// `connection.database.prefix` without a placeholder: prefix + topic (the Java rule).
    Prefix(String),
    /// `connection.database.prefix` with `${topic}`: the placeholder is replaced.
    Template(String),
}

/// The topics whose databases can be created when the connector starts.
#[derive(Debug, Clone, Copy)]
pub enum TopicDatabases<'a> {
    /// `topics=...`: known up front.
    Listed(&'a [String]),
    /// `topics.regex=...`: learnt as records arrive.
    Pattern,
}

/// The sink's settings.
#[derive(Debug, Clone)]
pub struct TdengineConfig {
    /// Base URL of taosAdapter (`http(s)://host:port`).
    pub endpoint: Url,
    /// The native `jdbc:TAOS://` URL that was mapped to the adapter, if any (logged at open).
    pub mapped_native_url: Option<String>,
    /// `connection.user`.
    pub user: String,
    /// `connection.password`.
    pub password: String,
    /// Database naming rule.
    pub database: DatabaseNaming,
    /// `connection.attempts`: tries to reach taosAdapter when the connector starts.
    pub connection_attempts: u32,
    /// `connection.backoff.ms`: pause between those tries.
    pub connection_backoff: Duration,
    /// `batch.size`: records per request (0 = no limit).
    pub batch_size: usize,
    /// `tdengine.batch.max.bytes`: uncompressed bytes per request.
    pub batch_max_bytes: usize,
    /// `max.retries`: retries of one request before the batch goes back to the pipeline.
    pub max_retries: u32,
    /// `retry.backoff.ms`: first retry delay (doubles per retry, with jitter).
    pub retry_backoff: Duration,
    /// `db.schemaless`.
    pub protocol: Protocol,
    /// `data.precision` (line protocol and created databases).
    pub precision: Precision,
    /// `tdengine.ttl`: child-table TTL in days (request parameter `ttl`).
    pub ttl: Option<u32>,
    /// `tdengine.table.name.key`: tag whose value names the child table (`table_name_key`).
    pub table_name_key: Option<String>,
    /// `tdengine.request.timeout.ms`.
    pub request_timeout: Duration,
    /// `tdengine.gzip`: compress request bodies of 1 KiB and more.
    pub gzip: bool,
}

impl TdengineConfig {
    /// Reads and validates the keys; errors name the key and say how to fix it.
    pub fn from_connector(config: &ConnectorConfig) -> anyhow::Result<Self> {
        let raw = &config.raw;
        let origin = raw.origin();
        let url = raw.require("connection.url")?;
        let endpoint = adapter_endpoint(url).with_context(|| format!("`connection.url` in {origin}"))?;
        let mapped_native_url = url.to_ascii_lowercase().starts_with("jdbc:taos://").then(|| url.to_string());
        let database = match (raw.get("connection.database"), raw.get("connection.database.prefix")) {
            (Some(db), _) => {
                check_database_name(db).with_context(|| format!("`connection.database` in {origin}"))?;
                DatabaseNaming::Fixed(db.to_ascii_lowercase())
            }
            (None, Some(prefix)) if prefix.contains("${topic}") => DatabaseNaming::Template(prefix.to_string()),
            (None, prefix) => DatabaseNaming::Prefix(prefix.unwrap_or("").to_string()),
        };
        let protocol = match raw.get("db.schemaless") {
            None => bail!(
                "missing required key `db.schemaless` in {origin}: set it to line, telnet or json \
                 (the schemaless format of the record values)"
            ),
            Some(_) => match raw.choice_or("db.schemaless", "line", &["line", "telnet", "json"])? {
                "telnet" => Protocol::Telnet,
                "json" => Protocol::Json,
                _ => Protocol::Line,
            },
        };
        let precision = match raw.choice_or("data.precision", "ns", &["ms", "us", "ns"])? {
            "ms" => Precision::Ms,
            "us" => Precision::Us,
            _ => Precision::Ns,
        };
        let connection_attempts: u32 = raw.parse_or("connection.attempts", 3, "a whole number of at least 1")?;
        if connection_attempts == 0 {
            bail!("`connection.attempts` in {origin} must be at least 1");
        }
        let batch_max_bytes: usize = raw.parse_or("tdengine.batch.max.bytes", 4 << 20, "a number of bytes")?;
        if batch_max_bytes < 1024 {
            bail!("`tdengine.batch.max.bytes` in {origin} must be at least 1024");
        }
        let table_name_key = raw.get("tdengine.table.name.key").map(str::to_string);
        if let Some(key) = &table_name_key {
            if key.is_empty() || key.bytes().any(|b| b.is_ascii_whitespace() || b == b',' || b == b'=') {
                bail!("`tdengine.table.name.key` in {origin} must be a tag name (no spaces, commas or `=`)");
            }
        }
        Ok(Self {
            user: raw.get("connection.user").unwrap_or("root").to_string(),
            password: raw.get("connection.password").unwrap_or("taosdata").to_string(),
            endpoint,
            mapped_native_url,
            database,
            connection_attempts,
            connection_backoff: raw.millis_or("connection.backoff.ms", 5000)?,
            batch_size: raw.parse_or("batch.size", 3000, "a whole number (0 = no limit)")?,
            batch_max_bytes,
            max_retries: raw.parse_or("max.retries", 3, "a whole number")?,
            retry_backoff: raw.millis_or("retry.backoff.ms", 3000)?,
            protocol,
            precision,
            ttl: raw.get("tdengine.ttl").map(|_| raw.parse_or("tdengine.ttl", 0u32, "a number of days")).transpose()?,
            table_name_key,
            request_timeout: raw.millis_or("tdengine.request.timeout.ms", 30_000)?,
            gzip: raw.bool_or("tdengine.gzip", true)?,
        })
    }

    /// The database of `topic`, validated (`[A-Za-z0-9_]`, not starting with a digit, at most
    /// 64 bytes; lower-cased because taosAdapter's `use <db>` is unescaped).
    pub fn database_for(&self, topic: &str) -> Result<String, String> {
        let name = match &self.database {
            DatabaseNaming::Fixed(db) => return Ok(db.clone()),
            DatabaseNaming::Prefix(prefix) => format!("{prefix}{topic}"),
            DatabaseNaming::Template(template) => template.replace("${topic}", topic),
        };
        let name = sanitize_database_name(&name);
        check_database_name(&name).map_err(|e| {
            format!("topic `{topic}` maps to database `{name}`, which TDengine does not accept: {e}; set `connection.database`")
        })?;
        Ok(name)
    }
}

/// Maps `connection.url` to taosAdapter's REST base URL. `jdbc:TAOS-RS://` and
/// `jdbc:TAOS-WS://` name the adapter directly; a native `jdbc:TAOS://host:6030` names taosd,
/// whose adapter listens on the same host at port 6041.
pub fn adapter_endpoint(url: &str) -> anyhow::Result<Url> {
    let lower = url.to_ascii_lowercase();
    let (rest, native) = if let Some(rest) = strip_prefix_ci(url, &lower, "jdbc:taos-rs://") {
        (rest, false)
    } else if let Some(rest) = strip_prefix_ci(url, &lower, "jdbc:taos-ws://") {
        (rest, false)
    } else if let Some(rest) = strip_prefix_ci(url, &lower, "jdbc:taos://") {
        (rest, true)
    } else if lower.starts_with("http://") || lower.starts_with("https://") {
        let parsed = Url::parse(url).with_context(|| format!("`{url}` is not a valid URL"))?;
        return Ok(base_of(&parsed));
    } else {
        bail!("`{url}` is not a TDengine URL; use http://host:6041, jdbc:TAOS-RS://host:6041 or jdbc:TAOS://host:6030");
    };
    // JDBC URLs may omit the host (`jdbc:TAOS://:/db`): that means localhost.
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (host, port),
        _ => (authority, ""),
    };
    let host = if host.is_empty() { "localhost" } else { host };
    let port: Option<u16> = if port.is_empty() {
        None
    } else {
        Some(port.parse().with_context(|| format!("port `{port}` of `{url}` is not a number"))?)
    };
    let port = if native { ADAPTER_PORT } else { port.unwrap_or(ADAPTER_PORT) };
    let parsed =
        Url::parse(&format!("http://{host}:{port}{tail}")).with_context(|| format!("`{url}` does not name a host"))?;
    Ok(base_of(&parsed))
}

fn strip_prefix_ci<'a>(url: &'a str, lower: &str, prefix: &str) -> Option<&'a str> {
    lower.starts_with(prefix).then(|| &url[prefix.len()..])
}

/// The URL with path, query and credentials removed.
fn base_of(url: &Url) -> Url {
    let mut base = url.clone();
    base.set_path("/");
    base.set_query(None);
    base.set_fragment(None);
    let _ = base.set_username("");
    let _ = base.set_password(None);
    base
}

/// Replaces characters TDengine does not allow in a database name with `_`, prefixes `_`
/// before a leading digit, and lower-cases the result.
pub fn sanitize_database_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c.to_ascii_lowercase() } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// Checks a database name against TDengine's rules.
pub fn check_database_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        bail!("the database name is empty");
    }
    if name.len() > 64 {
        bail!("`{name}` is longer than TDengine's 64-byte limit for database names");
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_')) {
        bail!("`{name}` contains `{c}`; TDengine database names may only contain letters, digits and `_`");
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("`{name}` starts with a digit, which TDengine does not allow");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_the_adapter() {
        assert_eq!(adapter_endpoint("jdbc:TAOS://127.0.0.1:6030").unwrap().as_str(), "http://127.0.0.1:6041/");
        assert_eq!(
            adapter_endpoint("jdbc:TAOS://db.example:6030/power?user=root").unwrap().as_str(),
            "http://db.example:6041/"
        );
        assert_eq!(adapter_endpoint("jdbc:TAOS://:/power").unwrap().as_str(), "http://localhost:6041/");
        assert_eq!(adapter_endpoint("jdbc:TAOS-RS://h:7041/x").unwrap().as_str(), "http://h:7041/");
        assert_eq!(adapter_endpoint("jdbc:taos-rs://h").unwrap().as_str(), "http://h:6041/");
        assert_eq!(adapter_endpoint("https://cloud.example:443/rest").unwrap().as_str(), "https://cloud.example/");
        assert_eq!(adapter_endpoint("http://u:p@127.0.0.1:1234").unwrap().as_str(), "http://127.0.0.1:1234/");
        let error = adapter_endpoint("mysql://h").unwrap_err().to_string();
        assert!(error.contains("jdbc:TAOS-RS"), "{error}");
        assert!(adapter_endpoint("jdbc:TAOS-RS://h:port").is_err());
    }

    #[test]
    fn database_names_are_sanitised_and_checked() {
        assert_eq!(sanitize_database_name("my-topic.v1"), "my_topic_v1");
        assert_eq!(sanitize_database_name("9lives"), "_9lives");
        assert_eq!(sanitize_database_name("Power"), "power");
        assert!(check_database_name("power").is_ok());
        assert!(check_database_name("a-b").is_err());
        assert!(check_database_name("1a").is_err());
        assert!(check_database_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn precision_on_the_wire() {
        assert_eq!(Precision::Us.wire(), "u");
        assert_eq!(Precision::Ms.wire(), "ms");
        assert_eq!(Precision::Ns.wire(), "ns");
        assert_eq!(Precision::Ms.from_micros(1_648_432_611_249_123), Some(1_648_432_611_249));
        assert_eq!(Precision::Ns.from_micros(1), Some(1000));
        assert_eq!(Precision::Ns.from_micros(i64::MAX), None);
    }

    fn naming(database: DatabaseNaming) -> TdengineConfig {
        TdengineConfig {
            endpoint: Url::parse("http://h:6041").unwrap(),
            mapped_native_url: None,
            user: "root".into(),
            password: "taosdata".into(),
            database,
            connection_attempts: 1,
            connection_backoff: Duration::ZERO,
            batch_size: 0,
            batch_max_bytes: 1 << 20,
            max_retries: 0,
            retry_backoff: Duration::ZERO,
            protocol: Protocol::Line,
            precision: Precision::Ns,
            ttl: None,
            table_name_key: None,
            request_timeout: Duration::from_secs(1),
            gzip: false,
        }
    }

    #[test]
    fn topics_map_to_databases() {
        assert_eq!(naming(DatabaseNaming::Fixed("power".into())).database_for("x-y").unwrap(), "power");
        assert_eq!(naming(DatabaseNaming::Prefix("kafka_".into())).database_for("orders").unwrap(), "kafka_orders");
        assert_eq!(naming(DatabaseNaming::Prefix(String::new())).database_for("my-topic.v1").unwrap(), "my_topic_v1");
        assert_eq!(
            naming(DatabaseNaming::Template("k_${topic}_db".into())).database_for("orders").unwrap(),
            "k_orders_db"
        );
        let error = naming(DatabaseNaming::Prefix(String::new())).database_for(&"t".repeat(70)).unwrap_err();
        assert!(error.contains("64-byte"), "{error}");
    }
}
