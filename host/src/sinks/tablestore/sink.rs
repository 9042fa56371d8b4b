//! The data-table sink: rows of a batch are encoded and planned into requests (see
//! `request`); the driver sends them with `BatchWriteRow` (or `BulkImport`), up to
//! `max.concurrency` requests at a time across lanes, retries rows that failed with a
//! retryable code, splits requests refused as a whole, and reports rows that fail
//! permanently to the pipeline's error path, naming the row.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::{Notify, Semaphore};

use super::client::{Client, OtsError};
use super::config::{KeyColumn, TablestoreConfig, WriteApi};
use super::protocol;
use super::request::{self, EncodedRow};
use super::retry;
use super::table::{self, TableError};
use crate::config::{ConnectorConfig, TopicSelection};
use crate::model::Output;
use crate::sinks::driver::{Driver, Rejected, Response, Service};
use crate::sinks::retry::{Outcome, RetryPolicy};
use crate::sinks::{Preview, Sink, SinkError, SinkItem, WriteReport};

/// Writes rows into Tablestore data tables. Clones share the client, the table cache and
/// the request permits.
#[derive(Clone)]
pub struct TablestoreSink {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    config: TablestoreConfig,
    /// Primary keys of tables known to exist.
    tables: Mutex<HashMap<String, Arc<Vec<KeyColumn>>>>,
    /// `max.concurrency` requests in flight across all lanes.
    permits: Arc<Semaphore>,
    /// Primary keys being written by some lane (`insert.order.enable`).
    in_flight: InFlight,
}

/// Primary keys with a write in flight, shared by the lanes, so that with
/// `insert.order.enable` a key is never written by two lanes at once (rows of one key can
/// come from different partitions, which different lanes write).
#[derive(Default)]
struct InFlight {
    keys: Mutex<request::KeyMap<usize>>,
    released: Notify,
}

/// Keys held by one wave; released on drop.
struct KeyGuard<'a> {
    in_flight: &'a InFlight,
    keys: Vec<u64>,
}

impl InFlight {
    /// Waits until none of `keys` is in flight elsewhere, then holds them.
    async fn acquire(&self, keys: Vec<u64>) -> KeyGuard<'_> {
        loop {
            let released = self.released.notified();
            {
                let mut held = self.keys.lock().unwrap_or_else(|e| e.into_inner());
                if !keys.iter().any(|k| held.contains_key(k)) {
                    for k in &keys {
                        *held.entry(*k).or_default() += 1;
                    }
                    return KeyGuard { in_flight: self, keys };
                }
            }
            released.await;
        }
    }
}

impl Drop for KeyGuard<'_> {
    fn drop(&mut self) {
        let mut held = self.in_flight.keys.lock().unwrap_or_else(|e| e.into_inner());
        for k in &self.keys {
            if let Some(count) = held.get_mut(k) {
                *count -= 1;
                if *count == 0 {
                    held.remove(k);
                }
            }
        }
        drop(held);
        self.in_flight.released.notify_waiters();
    }
}

/// The outcome of one row of a batch request.
type RowOutcome = Result<(), protocol::Error>;

fn table_outcome(error: TableError) -> Outcome {
    match error {
        TableError::Fatal(m) => Outcome::Fatal(m),
        TableError::Retryable(m) => Outcome::retry(m),
    }
}

impl TablestoreSink {
    /// Connects, and checks (or creates) the tables of the configured topics.
    pub async fn open(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let sink = Self::offline(connector)?;
        if let TopicSelection::List(topics) = &connector.topics {
            for topic in topics {
                let table = sink.shared.config.table_for(topic);
                sink.schema(&table).await.map_err(|e| anyhow::anyhow!("{e}")).with_context(|| {
                    format!("checking Tablestore table `{table}` for topic `{topic}` of connector `{}`", connector.name)
                })?;
            }
        }
        Ok(sink)
    }

    /// A sink for previews and schema checks ([`TablestoreSink::preview`]): no table is
    /// checked or created when it opens.
    pub fn offline(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let config = TablestoreConfig::from_connector(connector)?;
        let client = Client::new(config.client.clone())?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                config,
                tables: Mutex::new(HashMap::new()),
                in_flight: InFlight::default(),
            }),
        })
    }

    /// The primary key of `table` as known (or read with `DescribeTable`, creating nothing);
    /// for a missing table, the configured one (which `auto.create` would create it with),
    /// if any, and a note saying the table is missing.
    async fn known_schema(&self, table: &str) -> Result<(Option<Arc<Vec<KeyColumn>>>, Option<String>), String> {
        if let Some(known) = self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).get(table) {
            return Ok((Some(known.clone()), None));
        }
        match table::describe(&self.shared.client, table).await.map_err(|e| e.to_string())? {
            Some(key) => {
                let key = Arc::new(key);
                self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_string(), key.clone());
                Ok((Some(key), None))
            }
            None => {
                let wanted = self.shared.config.primary_key(table).map_err(|e| format!("{e:#}"))?;
                let note = match (&wanted, self.shared.config.auto_create) {
                    (Some(key), true) => format!(
                        "table `{table}` does not exist; `auto.create=true` would create it with the primary key ({})",
                        table::describe_key_columns(key)
                    ),
                    _ => format!("table `{table}` does not exist; create it or set `auto.create=true`"),
                };
                Ok((wanted.map(Arc::new), Some(note)))
            }
        }
    }

    /// The row changes `item` would send, decoded back from their PlainBuffer bytes, without
    /// sending them (a missing table is not created). `Err` is the reason the sink would
    /// reject the record, naming the row and field.
    pub async fn preview(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        let mut previews = Vec::with_capacity(item.outputs.len());
        for output in item.outputs {
            let Output::Row(row) = output else {
                return Err("the Tablestore data-table sink writes rows, but the parser produced a time-series point \
                            or raw payload; use a parser that emits rows"
                    .into());
            };
            let table: Arc<str> = match &row.table {
                Some(named) => Arc::from(&**named),
                None => Arc::from(self.shared.config.table_for(item.topic)),
            };
            let (schema, missing) = self.known_schema(&table).await?;
            let encoded = request::encode(0, &table, row, schema.as_deref().map(|s| s.as_slice()))?;
            let decoded = super::plainbuffer::decode(&encoded.bytes)
                .map_err(|e| format!("row {}: the encoded row does not read back: {e}", encoded.label))?;
            let op = format!("{:?}", encoded.op).to_uppercase();
            let mut request = format!(
                "{} {op} ({} bytes of PlainBuffer)",
                self.shared.config.write_api.action(),
                encoded.bytes.len()
            );
            if let Some(note) = missing {
                request.push_str(&format!("; {note}"));
            }
            previews.push(Preview { target: format!("table {table}"), request, rows: vec![format!("{op} {decoded}")] });
        }
        Ok(previews)
    }

    /// Checks `item`'s rows against their tables' primary keys as `DescribeTable` reports
    /// them (the schema check at load); a missing table is not checked. `Err` names the
    /// table and the column.
    pub async fn check_schema(&self, item: &SinkItem<'_>) -> Result<(), String> {
        for output in item.outputs {
            let Output::Row(row) = output else {
                return Err("the Tablestore data-table sink writes rows, but the parser produced a time-series point \
                            or raw payload"
                    .into());
            };
            let table = match &row.table {
                Some(named) => named.to_string(),
                None => self.shared.config.table_for(item.topic),
            };
            if let (Some(schema), None) = self.known_schema(&table).await? {
                request::check_key(&table, row, &schema)?;
            }
        }
        Ok(())
    }

    /// The client (shared with the error table).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The primary key of `table`, checking or creating the table on first use.
    async fn schema(&self, table: &str) -> Result<Arc<Vec<KeyColumn>>, TableError> {
        if let Some(known) = self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).get(table) {
            return Ok(known.clone());
        }
        let config = &self.shared.config;
        let wanted = config.primary_key(table).map_err(|e| TableError::Fatal(format!("{e:#}")))?;
        let hint = match wanted {
            Some(_)
                if matches!(
                    config.primary_key_mode,
                    super::config::PrimaryKeyMode::Kafka | super::config::PrimaryKeyMode::Search
                ) =>
            {
                "`primarykey.mode`".to_string()
            }
            _ => format!("`tablestore.{table}.primarykey.name/type`"),
        };
        let key = table::ensure(&self.shared.client, table, wanted.as_deref(), config.auto_create, &hint).await?;
        let key = Arc::new(key);
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_string(), key.clone());
        Ok(key)
    }

    fn forget(&self, table: &str) {
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).remove(table);
    }
}

/// One batch request ready to send.
enum Call {
    Batch(protocol::BatchWriteRowRequest),
    Bulk(protocol::BulkImportRequest),
}

impl Call {
    /// Sends it once and returns one outcome per row, in request order.
    async fn send(self, client: &Client) -> Result<Vec<RowOutcome>, OtsError> {
        let outcome = |row: protocol::RowResult| -> RowOutcome {
            if row.is_ok {
                Ok(())
            } else {
                Err(row
                    .error
                    .unwrap_or(protocol::Error { code: "OTSUnknown".into(), message: Some("no error given".into()) }))
            }
        };
        match self {
            Call::Batch(request) => {
                let response: protocol::BatchWriteRowResponse = client.call_once("BatchWriteRow", &request).await?;
                Ok(response.tables.into_iter().flat_map(|t| t.rows).map(outcome).collect())
            }
            Call::Bulk(request) => {
                let response: protocol::BulkImportResponse = client.call_once("BulkImport", &request).await?;
                Ok(response.rows.into_iter().map(outcome).collect())
            }
        }
    }
}

impl Service for TablestoreSink {
    type Row = EncodedRow;

    fn name(&self) -> &'static str {
        "Tablestore"
    }

    fn item(&self, row: &EncodedRow) -> usize {
        row.item
    }

    fn limits(&self, policy: RetryPolicy) -> RetryPolicy {
        self.shared.config.retry_limits(policy)
    }

    fn plan(&self, rows: &[EncodedRow], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
        let config = &self.shared.config;
        request::plan(rows, indices, config.write_api, config.insert_order)
            .into_iter()
            .map(|wave| wave.into_iter().map(|r| r.rows).collect())
            .collect()
    }

    async fn send(&self, rows: &[EncodedRow], indices: &[usize]) -> Response {
        let shared = &self.shared;
        let config = &shared.config;
        let _keys = match config.insert_order {
            true => Some(shared.in_flight.acquire(indices.iter().map(|&i| rows[i].key).collect()).await),
            false => None,
        };
        // A table found missing by an earlier try is checked (or created) again first.
        let mut checked: Option<&str> = None;
        for &i in indices {
            let table = &*rows[i].table;
            if checked == Some(table) {
                continue;
            }
            if let Err(error) = self.schema(table).await {
                return Response::Whole(table_outcome(error));
            }
            checked = Some(table);
        }
        let api = config.write_api;
        let (call, order) = match api {
            WriteApi::BatchWriteRow => {
                let (request, order) = request::batch_write_row(rows, indices);
                (Call::Batch(request), order)
            }
            WriteApi::BulkImport => (Call::Bulk(request::bulk_import(rows, indices)), indices.to_vec()),
        };
        let answer = {
            let _permit = shared.permits.acquire().await;
            call.send(&shared.client).await
        };
        match answer {
            Ok(outcomes) if outcomes.len() == order.len() => {
                let mut by_row: HashMap<usize, Outcome> = HashMap::with_capacity(order.len());
                for (index, outcome) in order.into_iter().zip(outcomes) {
                    let outcome = match outcome {
                        Ok(()) => Outcome::Written,
                        Err(error) => {
                            let message = error.message.unwrap_or_default();
                            let reason =
                                format!("row {}: {} {}: {message}", rows[index].label, api.action(), error.code);
                            if error.code == "OTSObjectNotExist" {
                                self.forget(&rows[index].table);
                            }
                            retry::row_outcome(&error.code, &message, reason, config.auto_create)
                        }
                    };
                    by_row.insert(index, outcome);
                }
                Response::Rows(indices.iter().map(|i| by_row.remove(i).unwrap_or(Outcome::Written)).collect())
            }
            Ok(outcomes) => Response::Whole(Outcome::retry(format!(
                "{} answered {} row results for {} rows",
                api.action(),
                outcomes.len(),
                order.len()
            ))),
            Err(error) => {
                if error.code() == Some("OTSObjectNotExist") {
                    for &i in indices {
                        self.forget(&rows[i].table);
                    }
                }
                match (retry::request_outcome(&error, config.auto_create), indices) {
                    (Outcome::Reject(reason), [only]) => {
                        Response::Whole(Outcome::Reject(format!("row {}: {reason}", rows[*only].label)))
                    }
                    (outcome, _) => Response::Whole(outcome),
                }
            }
        }
    }
}

/// The table of the previous row in [`TablestoreSink::write`]: the topic its name was derived
/// from (none when the row named it), the name and its primary key.
type LastTable<'a> = (Option<&'a str>, Arc<str>, Arc<Vec<KeyColumn>>);

impl Sink for TablestoreSink {
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut Driver) -> Result<WriteReport, SinkError> {
        let mut rejected = Rejected::new();
        let mut rows: Vec<EncodedRow> = Vec::with_capacity(items.len());
        // Rows of a batch mostly go to one table: its name (and the topic it was derived
        // from, when the row names none) and key, looked up once per run of rows.
        let mut last: Option<LastTable<'_>> = None;
        for (index, item) in items.iter().enumerate() {
            for output in item.outputs {
                let Output::Row(row) = output else {
                    rejected.entry(index).or_insert_with(|| {
                        "the Tablestore data-table sink writes rows, but the parser produced a time-series point or raw \
                         payload; use a parser that emits rows"
                            .to_string()
                    });
                    continue;
                };
                let topic = item.topic;
                let same = last.as_ref().is_some_and(|(from, table, _)| match &row.table {
                    Some(named) => **table == **named,
                    None => *from == Some(topic),
                });
                if !same {
                    let name: Arc<str> = match &row.table {
                        Some(named) => Arc::from(&**named),
                        None => Arc::from(self.shared.config.table_for(topic)),
                    };
                    let schema = self
                        .schema(&name)
                        .await
                        .map_err(|e| SinkError::Fatal(format!("Tablestore table `{name}` cannot be written: {e}")))?;
                    last = Some((row.table.is_none().then_some(topic), name, schema));
                }
                let Some((_, table, schema)) = &last else { unreachable!("set above") };
                match request::encode(index, table, row, Some(schema)) {
                    Ok(encoded) => rows.push(encoded),
                    Err(reason) => {
                        rejected.entry(index).or_insert(reason);
                    }
                }
            }
        }
        rows.retain(|r| !rejected.contains_key(&r.item));
        driver.run(&*self, &rows, &mut rejected).await?;
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}
