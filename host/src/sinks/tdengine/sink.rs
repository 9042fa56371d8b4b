//! The TDengine sink: each record's outputs become schemaless pieces for a (database,
//! protocol); the driver sends them in capped requests (creating databases on first use)
//! and splits requests rejected for their data so good records are written and only bad
//! ones are reported.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use bytes::Bytes;

use super::client::AdapterClient;
use super::config::{Protocol, TdengineConfig, TopicDatabases};
use super::encode::{self, ColumnTypes, Piece};
use super::retry::Class;
use crate::model::Output;
use crate::sinks::driver::{Driver, Rejected, Response, Service};
use crate::sinks::retry::{Outcome, RetryPolicy};
use crate::sinks::{Preview, Sink, SinkError, SinkItem, WriteReport};

/// Writes schemaless data through taosAdapter. Clones share the client and caches.
#[derive(Clone)]
pub struct TdengineSink {
    config: Arc<TdengineConfig>,
    client: AdapterClient,
    created: Arc<Mutex<HashSet<String>>>,
    schemaless_option: bool,
    types: ColumnTypes,
}

/// One record's piece, with where it goes.
pub struct Entry {
    item: usize,
    db: Arc<str>,
    protocol: Protocol,
    piece: Piece,
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
                (Class::Written, body) => break server_version(&body),
                (Class::Fatal(reason), _) => bail!("taosAdapter at {} refused sluice: {reason}", client.base()),
                (Class::Data(reason) | Class::MissingDatabase(reason) | Class::Retry { reason, .. }, _) => {
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
            match sink.ensure_database(&db).await {
                Class::Written => {}
                Class::Fatal(reason) | Class::Data(reason) => bail!("creating database `{db}` failed: {reason}"),
                Class::MissingDatabase(reason) | Class::Retry { reason, .. } => tracing::warn!(database = %db,
                    "Creating the database failed for now ({reason}); the first write tries again."),
            }
        }
        Ok(sink)
    }

    /// The pieces of one item, or why the item cannot be written.
    /// A sink for previews ([`TdengineSink::preview`]): it does not connect, so it neither
    /// asks the server's version nor creates databases.
    pub fn offline(config: TdengineConfig) -> anyhow::Result<Self> {
        let client = AdapterClient::new(&config)?;
        Ok(Self {
            config: Arc::new(config),
            client,
            created: Arc::default(),
            schemaless_option: true,
            types: ColumnTypes::default(),
        })
    }

    /// The schemaless request body `item` would add to, one entry per output, without sending
    /// it: the database, the URL and the lines (line/telnet) or JSON (json) exactly as sent.
    pub fn preview(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        if item.record.value.is_none() {
            return Ok(Vec::new());
        }
        Ok(self
            .pieces(item)?
            .into_iter()
            .map(|(db, protocol, piece)| Preview {
                target: format!("database {db}"),
                request: format!("POST {} ({} protocol)", self.client.write_url(&db, protocol), protocol.name()),
                rows: String::from_utf8_lossy(&piece.payload).lines().map(str::to_string).collect(),
            })
            .collect())
    }

    fn pieces(&self, item: &SinkItem<'_>) -> Result<Vec<(String, Protocol, Piece)>, String> {
        let db = self.config.database_for(item.topic)?;
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
    async fn ensure_database(&self, db: &str) -> Class {
        if self.created.lock().unwrap_or_else(|e| e.into_inner()).contains(db) {
            return Class::Written;
        }
        let sql = format!(
            "CREATE DATABASE IF NOT EXISTS `{db}` PRECISION '{}'{}",
            self.config.precision.name(),
            if self.schemaless_option { " SCHEMALESS 1" } else { "" }
        );
        match self.client.sql(&sql).await.0 {
            Class::Written => {
                tracing::info!(database = db, "Database ready.");
                self.created.lock().unwrap_or_else(|e| e.into_inner()).insert(db.to_string());
                Class::Written
            }
            Class::Data(reason) => Class::Fatal(format!("creating database `{db}` failed: {reason}")),
            other => other,
        }
    }
}

impl Service for TdengineSink {
    type Row = Entry;

    fn name(&self) -> &'static str {
        "TDengine"
    }

    fn item(&self, entry: &Entry) -> usize {
        entry.item
    }

    fn limits(&self, policy: RetryPolicy) -> RetryPolicy {
        RetryPolicy { max_retries: Some(self.config.max_retries), first_delay: self.config.retry_backoff, ..policy }
    }

    /// Per (database, protocol) in first-seen order, requests of at most `batch.size`
    /// records and `tdengine.batch.max.bytes`, one after another.
    fn plan(&self, entries: &[Entry], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
        let mut groups: Vec<((&str, Protocol), Vec<usize>)> = Vec::new();
        for i in indices {
            let key = (&*entries[i].db, entries[i].protocol);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, list)) => list.push(i),
                None => groups.push((key, vec![i])),
            }
        }
        groups
            .into_iter()
            .flat_map(|(_, list)| chunks(entries, &list, self.config.batch_size, self.config.batch_max_bytes))
            .map(|request| vec![request])
            .collect()
    }

    /// Creates the database when needed, then writes; a database that went missing is
    /// created again and the write sent once more.
    async fn send(&self, entries: &[Entry], request: &[usize]) -> Response {
        let Some(&first) = request.first() else { return Response::Whole(Outcome::Written) };
        let (db, protocol) = (&*entries[first].db, entries[first].protocol);
        let body = Bytes::from(encode::body(protocol, request.iter().map(|&i| &entries[i].piece)));
        let mut outcome = match self.ensure_database(db).await {
            Class::Written => self.client.write(db, protocol, body.clone()).await,
            failed => failed,
        };
        if let Class::MissingDatabase(reason) = &outcome {
            tracing::warn!(database = db, "The database is missing ({reason}); creating it again.");
            self.created.lock().unwrap_or_else(|e| e.into_inner()).remove(db);
            outcome = match self.ensure_database(db).await {
                Class::Written => self.client.write(db, protocol, body).await,
                failed => failed,
            };
        }
        Response::Whole(outcome.into_outcome().doing(&format!("writing to `{db}`")))
    }
}

/// Splits a group's entries into requests of at most `batch_size` entries (0 = no limit)
/// and `max_bytes` payload bytes (a single larger entry goes alone).
fn chunks(entries: &[Entry], list: &[usize], batch_size: usize, max_bytes: usize) -> Vec<Vec<usize>> {
    let max_records = if batch_size == 0 { usize::MAX } else { batch_size };
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut bytes = 0;
    for &i in list {
        let size = entries[i].piece.payload.len() + 1;
        if !current.is_empty() && (current.len() >= max_records || bytes + size > max_bytes) {
            chunks.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(i);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

impl Sink for TdengineSink {
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut Driver) -> Result<WriteReport, SinkError> {
        let mut rejected = Rejected::new();
        let mut entries: Vec<Entry> = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            if item.record.value.is_none() {
                // A null value (tombstone) is never written as the text "null"; the built-in
                // parser already emits nothing for it (counted as a record without output).
                tracing::debug!(topic = %item.record.topic, partition = item.record.partition,
                    offset = item.record.offset, "Skipping a null value (tombstone).");
                continue;
            }
            match self.pieces(item) {
                Err(reason) => {
                    rejected.insert(index, reason);
                }
                Ok(pieces) => entries.extend(pieces.into_iter().map(|(db, protocol, piece)| Entry {
                    item: index,
                    db: Arc::from(db),
                    protocol,
                    piece,
                })),
            }
        }
        driver.run(&*self, &entries, &mut rejected).await?;
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
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
        let entries: Vec<Entry> = (0..10)
            .map(|i| Entry {
                item: i,
                db: Arc::from("db"),
                protocol: Protocol::Line,
                piece: Piece { payload: vec![b'x'; 99] },
            })
            .collect();
        let all: Vec<usize> = (0..10).collect();
        let sizes = |c: Vec<Vec<usize>>| c.iter().map(|c| c.len()).collect::<Vec<_>>();
        assert_eq!(sizes(chunks(&entries, &all, 4, 1 << 20)), vec![4, 4, 2]);
        assert_eq!(sizes(chunks(&entries, &all, 0, 300)), vec![3, 3, 3, 1]);
        assert_eq!(sizes(chunks(&entries, &all, 0, 50)), vec![1; 10], "an entry larger than the cap goes alone");
        assert_eq!(sizes(chunks(&entries, &all, 0, 1 << 20)), vec![10]);
    }
}
