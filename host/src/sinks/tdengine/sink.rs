//! The TDengine sink driver: groups a batch per (database, protocol), creates databases
//! once, sends capped requests with the retry budget, and bisects requests rejected for
//! their data so good records are written and only bad ones are reported.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use bytes::Bytes;

use super::client::AdapterClient;
use super::config::{Protocol, TdengineConfig, TopicDatabases};
use super::encode::{self, ColumnTypes, Piece};
use super::retry::{Outcome, RetryBudget};
use crate::plugin::Output;
use crate::sinks::{Sink, SinkError, SinkItem, WriteReport};

/// Longest `Retry-After` honoured, so a misconfigured proxy cannot stall the sink for hours.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Writes schemaless data through taosAdapter. Clones share the client and caches.
#[derive(Clone)]
pub struct TdengineSink {
    config: Arc<TdengineConfig>,
    client: AdapterClient,
    created: Arc<Mutex<HashSet<String>>>,
    schemaless_option: bool,
    types: ColumnTypes,
}

/// One request group: a database, a protocol and the pieces of the records going there.
struct Group {
    db: String,
    protocol: Protocol,
    entries: Vec<(usize, Piece)>,
}

impl TdengineSink {
    /// Reaches taosAdapter (`connection.attempts` tries, `connection.backoff.ms` apart),
    /// learns the server version, and creates the databases known up front.
    pub async fn open(config: TdengineConfig, topics: TopicDatabases<'_>) -> anyhow::Result<Self> {
        if let Some(url) = &config.mapped_native_url {
            tracing::info!(
                "connection.url `{url}` names taosd's native port; sluice writes through taosAdapter's REST API \
                 at {} instead",
                config.endpoint
            );
        }
        let client = AdapterClient::new(&config)?;
        let mut attempt = 0;
        let version = loop {
            attempt += 1;
            match client.sql("SELECT SERVER_VERSION()").await {
                (Outcome::Written, body) => break server_version(&body),
                (Outcome::Fatal(reason), _) => bail!("taosAdapter at {} refused sluice: {reason}", client.base()),
                (Outcome::Data(reason) | Outcome::MissingDatabase(reason) | Outcome::Retry { reason, .. }, _) => {
                    if attempt >= config.connection_attempts {
                        bail!(
                            "cannot reach taosAdapter at {} after {attempt} attempt(s) (`connection.attempts`): {reason}",
                            client.base()
                        );
                    }
                    tracing::warn!(attempt, "taosAdapter at {} is not answering yet: {reason}", client.base());
                    tokio::time::sleep(config.connection_backoff).await;
                }
            }
        };
        let schemaless_option = !version.starts_with("2.");
        tracing::info!(url = %client.base(), version, "Connected to taosAdapter.");
        let sink = Self {
            config: Arc::new(config),
            client,
            created: Arc::default(),
            schemaless_option,
            types: ColumnTypes::default(),
        };
        let databases: Vec<String> = match topics {
            TopicDatabases::Listed(topics) => topics
                .iter()
                .map(|t| sink.config.database_for(t).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<_>>()?,
            TopicDatabases::Pattern => Vec::new(),
        };
        for db in databases {
            let mut budget = RetryBudget::new(sink.config.max_retries, sink.config.retry_backoff);
            sink.ensure_database(&db, &mut budget)
                .await
                .map_err(|e| anyhow::anyhow!("creating database `{db}`: {e}"))?;
        }
        Ok(sink)
    }

    /// The pieces of one item, or why the item cannot be written.
    fn pieces(&self, item: &SinkItem<'_>) -> Result<Vec<(String, Protocol, Piece)>, String> {
        let db = self.config.database_for(&item.record.topic)?;
        let mut pieces = Vec::with_capacity(item.outputs.len());
        for output in item.outputs {
            match output {
                Output::Raw(raw) => {
                    let protocol = Protocol::from_format(&raw.format).ok_or_else(|| {
                        format!(
                            "raw output format `{}` is not a TDengine schemaless format (line, telnet, json)",
                            raw.format
                        )
                    })?;
                    if let Some(piece) = encode::raw_piece(protocol, &raw.data)? {
                        pieces.push((db.clone(), protocol, piece));
                    }
                }
                Output::Point(point) => {
                    let piece = encode::point_line(
                        point,
                        &db,
                        self.config.precision,
                        self.config.table_name_key.as_deref(),
                        &self.types,
                    )?;
                    pieces.push((db.clone(), Protocol::Line, piece));
                }
                Output::Row(_) => {
                    return Err("the TDengine sink writes `raw` (line/telnet/json) and `point` outputs, not rows; \
                         use the built-in `tdengine` parser or a plugin that emits points"
                        .into())
                }
            }
        }
        Ok(pieces)
    }

    /// Creates `db` once (`CREATE DATABASE IF NOT EXISTS` with the configured precision).
    async fn ensure_database(&self, db: &str, budget: &mut RetryBudget) -> Result<(), SinkError> {
        if self.created.lock().unwrap_or_else(|e| e.into_inner()).contains(db) {
            return Ok(());
        }
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` PRECISION '{}'{}",
            self.config.precision.name(),
            if self.schemaless_option { " SCHEMALESS 1" } else { "" }
        );
        loop {
            match self.client.sql(&sql).await.0 {
                Outcome::Written => {
                    budget.reset();
                    tracing::info!(database = db, "Database ready.");
                    self.created.lock().unwrap_or_else(|e| e.into_inner()).insert(db.to_string());
                    return Ok(());
                }
                Outcome::Fatal(reason) | Outcome::Data(reason) => {
                    return Err(SinkError::Fatal(format!("creating database `{db}` failed: {reason}")))
                }
                Outcome::MissingDatabase(reason) | Outcome::Retry { reason, after: None } => {
                    self.pause(budget, None, &format!("creating database `{db}`: {reason}")).await?
                }
                Outcome::Retry { reason, after } => {
                    self.pause(budget, after, &format!("creating database `{db}`: {reason}")).await?
                }
            }
        }
    }

    /// Sleeps before a retry, or fails the write when the budget is spent.
    async fn pause(&self, budget: &mut RetryBudget, after: Option<Duration>, reason: &str) -> Result<(), SinkError> {
        match budget.next_delay(after.map(|a| a.min(MAX_RETRY_AFTER))) {
            Some(delay) => {
                tracing::warn!(retry = budget.used(), ?delay, "TDengine write failed, retrying: {reason}");
                tokio::time::sleep(delay).await;
                Ok(())
            }
            None => Err(SinkError::Retryable(format!(
                "{reason} (gave up after `max.retries`={} retries; the batch will be retried)",
                self.config.max_retries
            ))),
        }
    }

    /// Sends one request, retrying transient failures; returns `Written` or `Data`.
    async fn send(
        &self,
        db: &str,
        protocol: Protocol,
        entries: &[(usize, Piece)],
        budget: &mut RetryBudget,
    ) -> Result<Outcome, SinkError> {
        let body = Bytes::from(encode::body(protocol, entries.iter().map(|(_, p)| p)));
        let mut recreated = false;
        loop {
            match self.client.write(db, protocol, body.clone()).await {
                Outcome::Written => {
                    budget.reset();
                    return Ok(Outcome::Written);
                }
                Outcome::Data(reason) => {
                    budget.reset();
                    return Ok(Outcome::Data(reason));
                }
                Outcome::Fatal(reason) => return Err(SinkError::Fatal(reason)),
                Outcome::MissingDatabase(reason) if !recreated => {
                    tracing::warn!(database = db, "The database is missing ({reason}); creating it again.");
                    recreated = true;
                    self.created.lock().unwrap_or_else(|e| e.into_inner()).remove(db);
                    self.ensure_database(db, budget).await?;
                }
                Outcome::MissingDatabase(reason) => {
                    self.pause(budget, None, &format!("writing to `{db}`: {reason}")).await?
                }
                Outcome::Retry { reason, after } => {
                    self.pause(budget, after, &format!("writing to `{db}`: {reason}")).await?
                }
            }
        }
    }

    /// Sends `entries`, halving requests rejected for their data until each bad record is
    /// alone; returns the rejected item indices with TDengine's message.
    async fn send_isolating(
        &self,
        group: &Group,
        entries: &[(usize, Piece)],
        budget: &mut RetryBudget,
    ) -> Result<Vec<(usize, String)>, SinkError> {
        let mut rejected = Vec::new();
        let mut ranges = vec![(0, entries.len())];
        while let Some((lo, hi)) = ranges.pop() {
            match self.send(&group.db, group.protocol, &entries[lo..hi], budget).await? {
                Outcome::Data(reason) if hi - lo == 1 => rejected.push((entries[lo].0, reason)),
                Outcome::Data(_) => {
                    let mid = lo + (hi - lo) / 2;
                    ranges.push((mid, hi));
                    ranges.push((lo, mid));
                }
                _ => {}
            }
        }
        Ok(rejected)
    }
}

/// Splits a group's entries into requests of at most `batch_size` entries (0 = no limit)
/// and `max_bytes` payload bytes (a single larger entry goes alone).
fn chunks(entries: &[(usize, Piece)], batch_size: usize, max_bytes: usize) -> Vec<&[(usize, Piece)]> {
    let max_records = if batch_size == 0 { usize::MAX } else { batch_size };
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, (_, piece)) in entries.iter().enumerate() {
        let size = piece.payload.len() + 1;
        if i > start && (i - start >= max_records || bytes + size > max_bytes) {
            chunks.push(&entries[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < entries.len() {
        chunks.push(&entries[start..]);
    }
    chunks
}

impl Sink for TdengineSink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        let mut rejected: Vec<(usize, String)> = Vec::new();
        let mut groups: Vec<Group> = Vec::new();
        let mut group_of: HashMap<(String, Protocol), usize> = HashMap::new();
        for (index, item) in items.iter().enumerate() {
            if item.record.value.is_none() {
                // A null value (tombstone) is never written as the text "null"; the built-in
                // parser already emits nothing for it (counted as a record without output).
                tracing::debug!(topic = %item.record.topic, partition = item.record.partition,
                    offset = item.record.offset, "Skipping a null value (tombstone).");
                continue;
            }
            match self.pieces(item) {
                Err(reason) => rejected.push((index, reason)),
                Ok(pieces) => {
                    for (db, protocol, piece) in pieces {
                        let slot = *group_of.entry((db.clone(), protocol)).or_insert_with(|| {
                            groups.push(Group { db, protocol, entries: Vec::new() });
                            groups.len() - 1
                        });
                        groups[slot].entries.push((index, piece));
                    }
                }
            }
        }
        let mut budget = RetryBudget::new(self.config.max_retries, self.config.retry_backoff);
        for group in &groups {
            self.ensure_database(&group.db, &mut budget).await?;
            for chunk in chunks(&group.entries, self.config.batch_size, self.config.batch_max_bytes) {
                rejected.extend(self.send_isolating(group, chunk, &mut budget).await?);
            }
        }
        rejected.sort_by_key(|(index, _)| *index);
        rejected.dedup_by_key(|(index, _)| *index);
        Ok(WriteReport { rejected })
    }
}

/// The version string of a `SELECT SERVER_VERSION()` body (3.x `data`, or 2.x `data`).
fn server_version(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/data/0/0").and_then(|s| s.as_str()).map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_sql_bodies() {
        assert_eq!(
            server_version(
                r#"{"code":0,"column_meta":[["server_version()","VARCHAR",7]],"data":[["3.3.6.0"]],"rows":1}"#
            ),
            "3.3.6.0"
        );
        assert_eq!(server_version("oops"), "");
    }

    #[test]
    fn requests_are_capped_by_records_and_bytes() {
        let entries: Vec<(usize, Piece)> = (0..10).map(|i| (i, Piece { payload: vec![b'x'; 99] })).collect();
        let sizes = |c: Vec<&[(usize, Piece)]>| c.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunks(&entries, 4, 1 << 20)), vec![4, 4, 2]);
        assert_eq!(sizes(chunks(&entries, 0, 300)), vec![3, 3, 3, 1]);
        assert_eq!(sizes(chunks(&entries, 0, 50)), vec![1; 10], "an entry larger than the cap goes alone");
        assert_eq!(sizes(chunks(&entries, 0, 1 << 20)), vec![10]);
    }
}
