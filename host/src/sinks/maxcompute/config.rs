//! The MaxCompute sink's settings, read from the connector file with the open-source
//! connector's keys and defaults, plus its error-topic keys and the pipeline batching
//! derived from its flush settings.

use std::time::Duration;

use anyhow::{bail, Context as _};

use super::partition::{PartitionFormat, Window, Zone};
use super::request::Credentials;
use crate::config::{ConfigMap, DeadLetterConfig, ErrorPolicy, KeySet, WorkerConfig};

/// Keys of the MaxCompute sink (the connector's, old and new, plus sluice's own).
pub const MAXCOMPUTE_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "endpoint",
        "tunnel_endpoint",
        "project",
        "table",
        "access_id",
        "access_key",
        "account_type",
        "sts_token",
        "account_id",
        "region_id",
        "role_name",
        "sts.endpoint",
        "client_timeout_ms",
        "mode",
        "format",
        "csv_delimiter",
        "partition_window_type",
        "time_zone",
        "use_new_partition_format",
        "buffer_size_kb",
        "record_batch_size",
        "retry_times",
        "use_streaming",
        "sink_pool_size",
        "skip_error",
        "runtime.error.topic.bootstrap.servers",
        "sluice.maxcompute.partition.time",
        "sluice.maxcompute.request.timeout.ms",
    ],
    prefixes: &[],
};

/// Where the partition time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionTime {
    /// The sink's clock when the batch is written (the connector's behaviour).
    Sink,
    /// The Kafka record timestamp (records without one use the sink's clock).
    Record,
}

/// The typed configuration of one MaxCompute connector.
#[derive(Debug, Clone)]
pub struct MaxComputeConfig {
    /// Service endpoint, e.g. `http://service.cn-hangzhou.maxcompute.aliyun.com/api`.
    pub endpoint: String,
    /// Tunnel endpoint; discovered from the service when not configured.
    pub tunnel_endpoint: Option<String>,
    /// `project`.
    pub project: String,
    /// `table`.
    pub table: String,
    /// `access_id`, `access_key` and, for STS, `sts_token`.
    pub credentials: Credentials,
    /// `partition_window_type`, `time_zone`, `use_new_partition_format`.
    pub partition: PartitionFormat,
    /// `sluice.maxcompute.partition.time`.
    pub partition_time: PartitionTime,
    /// `buffer_size_kb`: uncompressed bytes per uploaded block.
    pub block_bytes: u64,
    /// `retry_times`: attempts of a block upload or commit within one write.
    pub retry_times: u32,
    /// `sluice.maxcompute.request.timeout.ms`.
    pub request_timeout: Duration,
}

impl MaxComputeConfig {
    /// Reads and checks the sink's keys.
    pub fn from_map(map: &ConfigMap) -> anyhow::Result<Self> {
        let origin = map.origin();
        let endpoint = map.require("endpoint")?.trim_end_matches('/').to_string();
        check_url(&endpoint, "endpoint", origin)?;
        let tunnel_endpoint = map.get("tunnel_endpoint").map(|t| t.trim_end_matches('/').to_string());
        if let Some(tunnel) = &tunnel_endpoint {
            check_url(tunnel, "tunnel_endpoint", origin)?;
        }
        let sts_token = match map.choice_or("account_type", "ALIYUN", &["ALIYUN", "STS"])? {
            "STS" => Some(
                map.get("sts_token")
                    .with_context(|| {
                        format!(
                            "`account_type=STS` in {origin} needs `sts_token` (the temporary credentials' \
                             security token, with `access_id`/`access_key` set to the temporary key pair); \
                             sluice does not call AssumeRole itself"
                        )
                    })?
                    .to_string(),
            ),
            _ => None,
        };
        let mode = map.choice_or("mode", "DEFAULT", &["DEFAULT", "KEY", "VALUE"])?;
        let format = map.choice_or("format", "TEXT", &["TEXT", "BINARY", "CSV"])?;
        if mode == "DEFAULT" && format == "CSV" {
            bail!(
                "`format=CSV` in {origin} needs `mode=KEY` or `mode=VALUE`: in DEFAULT mode both key and \
                 value are written, and only one of them can be parsed as CSV (the connector's \
                 \"Unsupported combination\")"
            );
        }
        if map.bool_or("use_streaming", false)? {
            bail!("`use_streaming=true` in {origin}: sluice writes through the batch tunnel only; remove the key");
        }
        let window = match map.choice_or("partition_window_type", "HOUR", &["DAY", "HOUR", "MINUTE"])? {
            "DAY" => Window::Day,
            "MINUTE" => Window::Minute,
            _ => Window::Hour,
        };
        let zone = Zone::parse(map.get("time_zone").unwrap_or("GMT+08:00"))
            .map_err(|e| anyhow::anyhow!("`time_zone` in {origin}: {e}"))?;
        let partition_time = match map.choice_or("sluice.maxcompute.partition.time", "sink", &["sink", "record"])? {
            "record" => PartitionTime::Record,
            _ => PartitionTime::Sink,
        };
        let buffer_kb: u64 = map.parse_or("buffer_size_kb", 65_536, "a positive number of KiB")?;
        if buffer_kb == 0 {
            bail!("`buffer_size_kb` in {origin} must be at least 1");
        }
        let retry_times: u32 = map.parse_or("retry_times", 3, "a whole number")?;
        Ok(Self {
            endpoint,
            tunnel_endpoint,
            project: map.require("project")?.to_string(),
            table: map.require("table")?.to_string(),
            credentials: Credentials {
                access_id: map.require("access_id")?.to_string(),
                access_key: map.require("access_key")?.to_string(),
                sts_token,
            },
            partition: PartitionFormat { window, zone, new_format: map.bool_or("use_new_partition_format", false)? },
            partition_time,
            block_bytes: buffer_kb * 1024,
            retry_times,
            request_timeout: map.millis_or("sluice.maxcompute.request.timeout.ms", 60_000)?,
        })
    }
}

fn check_url(url: &str, key: &str, origin: &str) -> anyhow::Result<()> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => Ok(()),
        _ => bail!("`{key}` in {origin} must be an http(s) URL such as http://service.cn-hangzhou.maxcompute.aliyun.com/api, got `{url}`"),
    }
}

/// Records per write (`record_batch_size`, default 8000) and how long a partial batch
/// waits (`sluice.batch.linger.ms`, else the worker's `offset.flush.interval.ms`, as the
/// connector flushes on the offset commit interval). Also validates the sink's keys.
pub fn batching(map: &ConfigMap, worker: &WorkerConfig) -> anyhow::Result<(usize, Duration)> {
    MaxComputeConfig::from_map(map)?;
    let records: usize = map.parse_or("record_batch_size", 8000, "a positive whole number")?;
    if records == 0 {
        bail!("`record_batch_size` in {} must be at least 1", map.origin());
    }
    let linger = match map.get("sluice.batch.linger.ms") {
        Some(_) => map.millis_or("sluice.batch.linger.ms", 20)?,
        None => worker.offset_flush_interval,
    };
    Ok((records, linger))
}

/// The connector's error keys, used when no `errors.tolerance` / `runtime.error.tolerance`
/// is set: `runtime.error.topic.name` sends bad records to that topic, else `skip_error`
/// drops them, else the connector fails.
pub fn error_policy(map: &ConfigMap, worker: &WorkerConfig) -> anyhow::Result<ErrorPolicy> {
    if let Some(topic) = map.get("runtime.error.topic.name") {
        return Ok(ErrorPolicy::DeadLetter(DeadLetterConfig {
            topic: topic.to_string(),
            bootstrap_servers: map
                .get("runtime.error.topic.bootstrap.servers")
                .or(map.get("runtime.error.bootstrap.servers"))
                .unwrap_or(&worker.bootstrap_servers)
                .to_string(),
            replication_factor: map.parse_or("errors.deadletterqueue.topic.replication.factor", 3, "a whole number")?,
            key: "runtime.error.topic.name",
            context_headers: true,
            error_info: true,
        }));
    }
    Ok(if map.bool_or("skip_error", false)? { ErrorPolicy::Ignore } else { ErrorPolicy::Fail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    fn config(extra: &str) -> anyhow::Result<MaxComputeConfig> {
        let text = format!(
            "endpoint=http://service.cn-hangzhou.maxcompute.aliyun.com/api/\nproject=connector_test\ntable=test_kafka\n\
             access_id=id\naccess_key=key\n{extra}"
        );
        MaxComputeConfig::from_map(&parse_text("mc.properties", &text).unwrap())
    }

    #[test]
    fn defaults_follow_the_connector() {
        let c = config("").unwrap();
        assert_eq!(c.endpoint, "http://service.cn-hangzhou.maxcompute.aliyun.com/api");
        assert_eq!(c.partition.window, Window::Hour);
        assert_eq!(c.partition.value_at(1_605_596_400_000), "11-17-2020 15", "GMT+08:00 by default");
        assert_eq!(c.block_bytes, 64 << 20);
        assert!(c.credentials.sts_token.is_none());
    }

    #[test]
    fn config_errors_name_the_key() {
        let e = config("mode=DEFAULT\nformat=CSV\n").unwrap_err().to_string();
        assert!(e.contains("`format=CSV`"), "{e}");
        assert!(config("mode=KEY\nformat=csv\n").is_ok());
        let e = config("time_zone=Nowhere/Land\n").unwrap_err().to_string();
        assert!(e.contains("`time_zone`") && e.contains("Nowhere/Land"), "{e}");
        let e = config("account_type=STS\n").unwrap_err().to_string();
        assert!(e.contains("`sts_token`"), "{e}");
        assert_eq!(config("account_type=STS\nsts_token=T\n").unwrap().credentials.sts_token.as_deref(), Some("T"));
        let e = config("endpoint=service.example.com\n").unwrap_err().to_string();
        assert!(e.contains("`endpoint`"), "{e}");
    }
}
