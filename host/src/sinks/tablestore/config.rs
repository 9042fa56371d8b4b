//! The Tablestore sink's keys, read into a typed config. Key names and defaults are those of
//! aliyun/kafka-connect-tablestore; sluice's own additions are marked in the reference.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::client::{ClientConfig, Credentials};
use super::protocol::PrimaryKeyType;
use crate::config::{ConfigMap, ConnectorConfig, KeySet};
use crate::sinks::retry::RetryPolicy;

/// Keys of the Tablestore sink (per-table `tablestore.<table>.*` keys are checked by
/// [`check_table_keys`]).
pub const TABLESTORE_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "tablestore.endpoint",
        "tablestore.mode",
        "tablestore.auth.mode",
        "tablestore.access.key.id",
        "tablestore.access.key.secret",
        "tablestore.security.token",
        "tablestore.instance.name",
        "tablestore.region",
        "tablestore.write.api",
        "tablestore.request.timeout.ms",
        "tablestore.retry.timeout.ms",
        "tablestore.verify.response",
        "event.parse.class",
        "table.name.format",
        "topics.assign.tables",
        "insert.mode",
        "insert.order.enable",
        "auto.create",
        "delete.mode",
        "buffer.size",
        "max.thread.count",
        "max.concurrency",
        "bucket.count",
        "flush.Interval",
        "region",
        "account.id",
        "role.name",
        "sts.endpoint",
        "client.time.out.ms",
    ],
    prefixes: &["tablestore."],
};

/// Suffixes of per-table keys (`tablestore.<table>.<suffix>`).
const TABLE_SUFFIXES: &[&str] = &[
    "primarykey.name",
    "primarykey.type",
    "columns.whitelist.name",
    "columns.whitelist.type",
    "search.timestamp.type",
];

/// Connector-wide time-series keys (`tablestore.timeseries.<key>`).
const TIMESERIES_KEYS: &[&str] = &["mapAll", "toLowerCase", "rowsPerBatch", "integers"];

/// Suffixes of per-table time-series keys (`tablestore.timeseries.<table>.<suffix>`).
const TIMESERIES_TABLE_SUFFIXES: &[&str] =
    &["measurement", "dataSource", "tags", "time", "time.unit", "field.name", "field.type"];

/// `primarykey.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryKeyMode {
    /// `topic_partition`, `offset`.
    Kafka,
    /// Fields of the record key.
    RecordKey,
    /// Fields of the record value.
    RecordValue,
    /// `md5`, `topic`, `partition`, `offset`.
    Search,
}

/// Which batch API writes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteApi {
    /// `BatchWriteRow` (default): several tables per request.
    BatchWriteRow,
    /// `BulkImport`: one table per request (what the Java connector uses).
    BulkImport,
}

impl WriteApi {
    /// The action name.
    pub fn action(self) -> &'static str {
        match self {
            WriteApi::BatchWriteRow => "BatchWriteRow",
            WriteApi::BulkImport => "BulkImport",
        }
    }
}

/// One primary key column as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyColumn {
    /// Column name.
    pub name: String,
    /// Column type.
    pub kind: PrimaryKeyType,
    /// `auto_increment`.
    pub auto_increment: bool,
}

/// Most rows one `PutTimeseriesData` may carry.
pub const MAX_TIMESERIES_ROWS: usize = 200;

/// `tablestore.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Data tables (Wide Column model).
    Normal,
    /// Time-series tables (TimeSeries model).
    Timeseries,
}

/// The validated Tablestore sink config.
#[derive(Debug, Clone)]
pub struct TablestoreConfig {
    /// `tablestore.mode`.
    pub mode: Mode,
    /// `tablestore.timeseries.rowsPerBatch`: rows per `PutTimeseriesData`.
    pub rows_per_batch: usize,
    /// How to reach the instance.
    pub client: ClientConfig,
    /// `table.name.format`.
    pub table_format: String,
    /// `topics.assign.tables`.
    pub topic_tables: HashMap<String, String>,
    /// `primarykey.mode`.
    pub primary_key_mode: PrimaryKeyMode,
    /// `insert.order.enable`.
    pub insert_order: bool,
    /// `auto.create`.
    pub auto_create: bool,
    /// `max.concurrency`: requests in flight per connector.
    pub max_concurrency: usize,
    /// `tablestore.write.api`.
    pub write_api: WriteApi,
    /// `runtime.error.table.name` when `runtime.error.mode=tablestore`.
    pub error_table: Option<String>,
    /// `tablestore.retry.timeout.ms` when set: replaces `errors.retry.timeout` for writes.
    pub write_retry_timeout: Option<Duration>,
    raw: ConfigMap,
}

impl TablestoreConfig {
    /// The driver's retry policy with `tablestore.retry.timeout.ms`, when set, as the budget.
    pub fn retry_limits(&self, policy: RetryPolicy) -> RetryPolicy {
        match self.write_retry_timeout {
            Some(timeout) => RetryPolicy { timeout: Some(timeout), ..policy },
            None => policy,
        }
    }
}

impl TablestoreConfig {
    /// Reads and validates the sink's keys.
    pub fn from_connector(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let map = &connector.raw;
        check_table_keys(map)?;
        let origin = map.origin();
        if let Some(class) = map.get("event.parse.class").map(str::trim).filter(|c| !c.is_empty()) {
            if class.rsplit('.').next() != Some("DefaultEventParser") {
                bail!(
                    "`event.parse.class={class}` in {origin} names a custom Java event parser, which cannot run in \
                     sluice; port its mapping to a parser plugin (`parser.plugin=<component.wasm>`, see \
                     docs/plugins.md) and remove the key, or set it to `DefaultEventParser`"
                );
            }
        }
        let mode = match map.choice_or("tablestore.mode", "normal", &["normal", "timeseries"])? {
            "timeseries" => Mode::Timeseries,
            _ => Mode::Normal,
        };
        let rows_per_batch: usize =
            map.parse_or("tablestore.timeseries.rowsPerBatch", MAX_TIMESERIES_ROWS, "a whole number from 1 to 200")?;
        if !(1..=MAX_TIMESERIES_ROWS).contains(&rows_per_batch) {
            bail!("`tablestore.timeseries.rowsPerBatch` in {origin} must be from 1 to {MAX_TIMESERIES_ROWS} (the service's limit per PutTimeseriesData), got {rows_per_batch}");
        }
        let endpoint_text = map.require("tablestore.endpoint")?;
        let endpoint = url::Url::parse(endpoint_text).with_context(|| {
            format!("`tablestore.endpoint` in {origin} must be a URL like https://<instance>.<region>.ots.aliyuncs.com, got `{endpoint_text}`")
        })?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            bail!("`tablestore.endpoint` in {origin} must start with http:// or https://, got `{endpoint_text}`");
        }
        let instance = map.require("tablestore.instance.name")?.to_string();
        let credentials = credentials(map)?;
        let region = map.get("tablestore.region").map(String::from);
        let client = ClientConfig {
            endpoint,
            instance,
            credentials,
            region,
            verify_responses: map.bool_or("tablestore.verify.response", true)?,
            request_timeout: map.millis_or("tablestore.request.timeout.ms", 30_000)?,
            retry_budget: map.millis_or("tablestore.retry.timeout.ms", 60_000)?,
        };

        let mut topic_tables = HashMap::new();
        if let Some(list) = map.get("topics.assign.tables") {
            for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                match entry.split_once(':') {
                    Some((topic, table)) if !topic.trim().is_empty() && !table.trim().is_empty() => {
                        topic_tables.insert(topic.trim().to_string(), table.trim().to_string());
                    }
                    _ => bail!("`topics.assign.tables` in {origin} must list `topic:table` pairs, got `{entry}`"),
                }
            }
        }
        let primary_key_mode =
            match map.choice_or("primarykey.mode", "kafka", &["kafka", "record_key", "record_value", "search"])? {
                "record_key" => PrimaryKeyMode::RecordKey,
                "record_value" => PrimaryKeyMode::RecordValue,
                "search" => PrimaryKeyMode::Search,
                _ => PrimaryKeyMode::Kafka,
            };
        let delete_mode = map.choice_or("delete.mode", "none", &["none", "row", "column", "row_and_column"])?;
        if delete_mode != "none" && primary_key_mode != PrimaryKeyMode::RecordKey {
            bail!("`delete.mode={delete_mode}` in {origin} needs `primarykey.mode=record_key` (rows can only be deleted by a key taken from the record key)");
        }
        map.choice_or("insert.mode", "put", &["put", "update"])?;
        let buffer_size: u64 = map.parse_or("buffer.size", 1024, "a power of two")?;
        if !buffer_size.is_power_of_two() {
            bail!("`buffer.size` in {origin} must be a power of two, got {buffer_size}");
        }
        let positive = |key: &str, default: usize| -> anyhow::Result<usize> {
            let value: usize = map.parse_or(key, default, "a whole number of at least 1")?;
            if value == 0 {
                bail!("`{key}` in {origin} must be at least 1");
            }
            Ok(value)
        };
        let max_concurrency = positive("max.concurrency", 10)?;
        let bucket_count = positive("bucket.count", 3)?;
        positive("max.thread.count", std::thread::available_parallelism().map_or(1, |n| n.get()) + 1)?;
        positive("flush.Interval", 10_000)?;
        if bucket_count > max_concurrency {
            bail!("`bucket.count` ({bucket_count}) in {origin} must not be greater than `max.concurrency` ({max_concurrency})");
        }
        let write_api =
            match map.choice_or("tablestore.write.api", "batchwriterow", &["batchwriterow", "bulkimport"])? {
                "bulkimport" => WriteApi::BulkImport,
                _ => WriteApi::BatchWriteRow,
            };
        let error_table = match map.get("runtime.error.mode") {
            Some(mode) if mode.eq_ignore_ascii_case("tablestore") => Some(
                map.get("runtime.error.table.name")
                    .with_context(|| {
                        format!("`runtime.error.mode=tablestore` in {origin} needs `runtime.error.table.name`")
                    })?
                    .to_string(),
            ),
            _ => None,
        };
        Ok(Self {
            mode,
            rows_per_batch,
            client,
            table_format: map.get("table.name.format").unwrap_or("<topic>").to_string(),
            topic_tables,
            primary_key_mode,
            insert_order: map.bool_or("insert.order.enable", true)?,
            auto_create: map.bool_or("auto.create", false)?,
            max_concurrency,
            write_api,
            error_table,
            write_retry_timeout: match map.get("tablestore.retry.timeout.ms") {
                Some(_) => Some(map.millis_or("tablestore.retry.timeout.ms", 60_000)?),
                None => None,
            },
            raw: map.clone(),
        })
    }

    /// The table records of `topic` go to.
    pub fn table_for(&self, topic: &str) -> String {
        match self.topic_tables.get(topic) {
            Some(table) => table.clone(),
            None => self.table_format.replace("<topic>", topic),
        }
    }

    /// The primary key `table` must have, or `None` when the mode takes names from the
    /// per-table keys and they are not set.
    pub fn primary_key(&self, table: &str) -> anyhow::Result<Option<Vec<KeyColumn>>> {
        let fixed = |columns: &[(&str, PrimaryKeyType)]| {
            Some(
                columns
                    .iter()
                    .map(|(n, t)| KeyColumn { name: n.to_string(), kind: *t, auto_increment: false })
                    .collect(),
            )
        };
        Ok(match self.primary_key_mode {
            PrimaryKeyMode::Kafka => {
                fixed(&[("topic_partition", PrimaryKeyType::String), ("offset", PrimaryKeyType::Integer)])
            }
            PrimaryKeyMode::Search => fixed(&[
                ("md5", PrimaryKeyType::String),
                ("topic", PrimaryKeyType::String),
                ("partition", PrimaryKeyType::Integer),
                ("offset", PrimaryKeyType::Integer),
            ]),
            PrimaryKeyMode::RecordKey | PrimaryKeyMode::RecordValue => configured_key(&self.raw, table)?,
        })
    }
}

/// `tablestore.<table>.primarykey.name/type` as key columns (`None` when not set).
pub fn configured_key(map: &ConfigMap, table: &str) -> anyhow::Result<Option<Vec<KeyColumn>>> {
    let (name_key, type_key) =
        (format!("tablestore.{table}.primarykey.name"), format!("tablestore.{table}.primarykey.type"));
    let (Some(names), types) = (map.get(&name_key), map.get(&type_key)) else {
        return Ok(None);
    };
    let types = types.with_context(|| format!("`{name_key}` in {} needs `{type_key}` too", map.origin()))?;
    let names: Vec<&str> = names.split(',').map(str::trim).collect();
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    if names.len() != types.len() {
        bail!(
            "`{name_key}` lists {} columns but `{type_key}` lists {} types in {}",
            names.len(),
            types.len(),
            map.origin()
        );
    }
    if names.is_empty() || names.len() > 4 {
        bail!("`{name_key}` in {} must list 1 to 4 primary key columns", map.origin());
    }
    let mut columns = Vec::with_capacity(names.len());
    for (name, kind) in names.iter().zip(&types) {
        if name.is_empty() || columns.iter().any(|c: &KeyColumn| c.name == *name) {
            bail!("`{name_key}` in {} has an empty or repeated column name", map.origin());
        }
        let (kind, auto_increment) = match kind.to_ascii_lowercase().as_str() {
            "string" => (PrimaryKeyType::String, false),
            "integer" => (PrimaryKeyType::Integer, false),
            "binary" => (PrimaryKeyType::Binary, false),
            "auto_increment" => (PrimaryKeyType::Integer, true),
            other => bail!(
                "`{type_key}` in {}: `{other}` is not a primary key type (string, integer, binary, auto_increment)",
                map.origin()
            ),
        };
        columns.push(KeyColumn { name: name.to_string(), kind, auto_increment });
    }
    Ok(Some(columns))
}

/// Every `tablestore.*` key must be a known key or `tablestore.<table>.<known suffix>`
/// (or a `tablestore.timeseries.*` key), so typos are errors naming the key.
fn check_table_keys(map: &ConfigMap) -> anyhow::Result<()> {
    for key in map.keys() {
        let Some(rest) = key.strip_prefix("tablestore.") else { continue };
        if TABLESTORE_KEYS.keys.contains(&key) {
            continue;
        }
        if let Some(ts) = rest.strip_prefix("timeseries.") {
            let known = TIMESERIES_KEYS.contains(&ts)
                || TIMESERIES_TABLE_SUFFIXES.iter().any(|suffix| {
                    ts.strip_suffix(suffix).and_then(|t| t.strip_suffix('.')).is_some_and(|t| !t.is_empty())
                });
            if !known {
                bail!(
                    "unknown key `{key}` in {}: time-series keys are `tablestore.timeseries.{{{}}}` and `tablestore.timeseries.<table>.{{{}}}`",
                    map.origin(),
                    TIMESERIES_KEYS.join(","),
                    TIMESERIES_TABLE_SUFFIXES.join(",")
                );
            }
            continue;
        }
        let known = TABLE_SUFFIXES
            .iter()
            .any(|suffix| rest.strip_suffix(suffix).and_then(|t| t.strip_suffix('.')).is_some_and(|t| !t.is_empty()));
        if !known {
            bail!(
                "unknown key `{key}` in {}: Tablestore keys are {} or `tablestore.<table>.{{{}}}`",
                map.origin(),
                TABLESTORE_KEYS
                    .keys
                    .iter()
                    .filter(|k| k.starts_with("tablestore."))
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                TABLE_SUFFIXES.join(",")
            );
        }
    }
    Ok(())
}

fn credentials(map: &ConfigMap) -> anyhow::Result<Credentials> {
    let origin = map.origin();
    let id = map.get("tablestore.access.key.id");
    let secret = map.get("tablestore.access.key.secret");
    let token = map.get("tablestore.security.token");
    let explicit = map.get("tablestore.auth.mode").is_some();
    let mode = map.choice_or("tablestore.auth.mode", "sts", &["aksk", "sts"])?;
    let (Some(id), Some(secret)) = (id, secret) else {
        bail!(
            "{origin} needs `tablestore.access.key.id` and `tablestore.access.key.secret` (with `tablestore.auth.mode=aksk`, \
             or `sts` plus `tablestore.security.token`)"
        );
    };
    let security_token = match (mode, token) {
        ("sts", Some(token)) => Some(token.to_string()),
        ("sts", None) if explicit => bail!(
            "`tablestore.auth.mode=sts` in {origin} needs `tablestore.security.token` (the STS AccessKey and token); \
             the managed-service role flow (`account.id`, `role.name`, `sts.endpoint`) is not supported, \
             use `tablestore.auth.mode=aksk` for a plain AccessKey"
        ),
        (_, _) => None,
    };
    Ok(Credentials { access_key_id: id.to_string(), access_key_secret: secret.to_string(), security_token })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_text, WorkerConfig};

    fn config(extra: &str) -> anyhow::Result<TablestoreConfig> {
        let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
        let text = format!(
            "name=t\nconnector.class=TableStoreSinkConnector\ntopics=test\ntablestore.endpoint=http://127.0.0.1:1\n\
             tablestore.instance.name=i\ntablestore.access.key.id=id\ntablestore.access.key.secret=s\n{extra}"
        );
        TablestoreConfig::from_connector(&ConnectorConfig::from_map(
            &parse_text("c.properties", &text).unwrap(),
            &worker,
        )?)
    }

    #[test]
    fn defaults_follow_the_java_connector() {
        let c = config("").unwrap();
        assert_eq!(c.table_for("test"), "test");
        assert_eq!(c.primary_key_mode, PrimaryKeyMode::Kafka);
        assert!(c.insert_order && !c.auto_create);
        assert_eq!((c.max_concurrency, c.write_api), (10, WriteApi::BatchWriteRow));
        assert_eq!(c.client.credentials.security_token, None);
        assert_eq!(c.client.retry_budget, Duration::from_secs(60));
        assert_eq!((c.mode, c.rows_per_batch), (Mode::Normal, 200));
        let ts = config("tablestore.mode=TimeSeries\ntablestore.timeseries.test.time.unit=SECONDS\ntablestore.timeseries.rowsPerBatch=50\n").unwrap();
        assert_eq!((ts.mode, ts.rows_per_batch), (Mode::Timeseries, 50));
    }

    #[test]
    fn a_custom_java_event_parser_is_refused() {
        assert!(config("event.parse.class=com.aliyun.tablestore.kafka.connect.parsers.DefaultEventParser\n").is_ok());
        let error = config("event.parse.class=com.example.MyEventParser\n").unwrap_err().to_string();
        assert!(error.contains("com.example.MyEventParser") && error.contains("parser.plugin"), "{error}");
    }

    #[test]
    fn table_naming() {
        let c = config("table.name.format=kafka_<topic>\ntopics.assign.tables=test:t1\n").unwrap();
        assert_eq!(c.table_for("test"), "t1");
        assert_eq!(c.table_for("other"), "kafka_other");
    }

    #[test]
    fn per_table_primary_key() {
        let c = config("primarykey.mode=record_key\ntablestore.test.primarykey.name=a, b\ntablestore.test.primarykey.type=string,auto_increment\n").unwrap();
        let key = c.primary_key("test").unwrap().unwrap();
        assert_eq!(key[1], KeyColumn { name: "b".into(), kind: PrimaryKeyType::Integer, auto_increment: true });
        let error = config(
            "primarykey.mode=record_key\ntablestore.test.primarykey.name=a\ntablestore.test.primarykey.type=float\n",
        )
        .unwrap()
        .primary_key("test")
        .unwrap_err()
        .to_string();
        assert!(error.contains("`float`"), "{error}");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (extra, needle) in [
            ("buffer.size=1000\n", "`buffer.size`"),
            ("delete.mode=row\n", "`delete.mode=row`"),
            ("tablestore.test.primarykey.nmae=a\n", "`tablestore.test.primarykey.nmae`"),
            ("tablestore.auth.mode=sts\n", "tablestore.security.token"),
            (
                "tablestore.mode=timeseries\ntablestore.timeseries.rowsPerBatch=201\n",
                "`tablestore.timeseries.rowsPerBatch`",
            ),
            ("tablestore.timeseries.test.mesurement=m\n", "`tablestore.timeseries.test.mesurement`"),
            ("topics.assign.tables=test\n", "`topics.assign.tables`"),
        ] {
            let error = format!("{:#}", config(extra).unwrap_err());
            assert!(error.contains(needle), "{extra}: {error}");
        }
        let sts = config("tablestore.auth.mode=sts\ntablestore.security.token=tok\n").unwrap();
        assert_eq!(sts.client.credentials.security_token.as_deref(), Some("tok"));
    }
}
