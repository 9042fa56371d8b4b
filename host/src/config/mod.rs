//! Configuration: the worker file and connector files that Kafka Connect users already
//! have, read into typed, validated structs. Errors name the key and the file.

mod connector;
mod files;
pub(crate) mod keys;
pub mod properties;
mod providers;
pub mod reference;
pub mod validate;
mod worker;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context as _};

pub use connector::{
    converter_settings, ConnectorConfig, DeadLetterConfig, ErrorLog, ErrorPolicy, Tolerance, TopicSelection,
    CONNECTOR_KEYS,
};
pub use files::{parse_text, read_connector_file, read_worker_file};
pub use keys::{check as check_keys, problems as key_problems, KeyCheck, KeyProblem, KeySet};
pub use providers::ConfigProviders;
pub use worker::{DistributedConfig, RestListener, WorkerConfig, DISTRIBUTED_KEYS, WORKER_KEYS};

/// A flat key/value configuration and the file it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMap {
    origin: String,
    entries: BTreeMap<String, String>,
}

impl ConfigMap {
    /// Wraps entries read from `origin` (a file path or a description).
    pub fn new(origin: impl Into<String>, entries: BTreeMap<String, String>) -> Self {
        Self { origin: origin.into(), entries }
    }

    /// Where the entries came from, for error messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// All entries.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.entries
    }

    /// All keys.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// The value of `key`, trimmed; empty values count as absent.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// Sets `key` (used for embedded defaults and overrides).
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.entries.insert(key.to_string(), value.into());
    }

    /// Removes `key` (the validator takes a refused value away to look for further errors).
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// The value of a required key, or an error naming it.
    pub fn require(&self, key: &str) -> anyhow::Result<&str> {
        self.get(key).ok_or_else(|| anyhow!("missing required key `{key}` in {}", self.origin))
    }

    /// Parses `key` as `T`, or returns `default` when absent. `what` describes the expected
    /// form for the error message.
    pub fn parse_or<T: FromStr>(&self, key: &str, default: T, what: &str) -> anyhow::Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|_| anyhow!("`{key}` in {} must be {what}, got `{raw}`", self.origin)),
        }
    }

    /// Parses `key` as milliseconds.
    pub fn millis_or(&self, key: &str, default_ms: u64) -> anyhow::Result<Duration> {
        self.parse_or(key, default_ms, "a whole number of milliseconds").map(Duration::from_millis)
    }

    /// Parses `key` as a boolean (`true`/`false`, any case).
    pub fn bool_or(&self, key: &str, default: bool) -> anyhow::Result<bool> {
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(anyhow!("`{key}` in {} must be true or false, got `{other}`", self.origin)),
        }
    }

    /// Reads `key` as one of `choices` (case-insensitive), returning the matching choice.
    pub fn choice_or(
        &self,
        key: &str,
        default: &'static str,
        choices: &[&'static str],
    ) -> anyhow::Result<&'static str> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => choices.iter().find(|c| c.eq_ignore_ascii_case(raw)).copied().with_context(|| {
                format!("`{key}` in {} must be one of {}, got `{raw}`", self.origin, choices.join(", "))
            }),
        }
    }

    /// Entries under `prefix`, with the prefix removed.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        self.entries
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix).map(|rest| (rest.to_string(), v.clone())))
            .collect()
    }
}
