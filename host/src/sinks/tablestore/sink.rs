//! The data-table sink: rows of a batch are encoded, planned into requests (see `request`),
//! and written with `BatchWriteRow` (or `BulkImport`) up to `max.concurrency` requests at
//! a time. Rows that fail with a retryable code are resent alone after a backoff; rows that
//! fail permanently are reported to the pipeline's error path, naming the row.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use super::client::{Client, OtsError};
use super::config::{KeyColumn, TablestoreConfig, WriteApi};
use super::protocol;
use super::request::{self, EncodedRow};
use super::retry::{self, Backoff, Class};
use super::table::{self, TableError};
use crate::config::{ConnectorConfig, TopicSelection};
use crate::plugin::Output;
use crate::sinks::{Sink, SinkError, SinkItem, WriteReport};

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
    keys: Mutex<HashMap<u64, usize>>,
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

impl TablestoreSink {
    /// Connects, and checks (or creates) the tables of the configured topics.
    pub async fn open(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let config = TablestoreConfig::from_connector(connector)?;
        let client = Client::new(config.client.clone())?;
        let sink = Self {
            shared: Arc::new(Shared {
                client,
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                config,
                tables: Mutex::new(HashMap::new()),
                in_flight: InFlight::default(),
            }),
        };
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

    /// The client (shared with the error table).
    pub fn client(&self) -> &Client {
        &self.shared.client
    }

    /// The primary key of `table`, checking or creating the table on first use.
    async fn schema(&self, table: &str) -> Result<Arc<Vec<KeyColumn>>, SinkError> {
        if let Some(known) = self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).get(table) {
            return Ok(known.clone());
        }
        let config = &self.shared.config;
        let wanted = config.primary_key(table).map_err(|e| SinkError::Fatal(format!("{e:#}")))?;
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
        let key = table::ensure(&self.shared.client, table, wanted.as_deref(), config.auto_create, &hint)
            .await
            .map_err(|e| match e {
                TableError::Fatal(m) => SinkError::Fatal(m),
                TableError::Retryable(m) => SinkError::Retryable(m),
            })?;
        let key = Arc::new(key);
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_string(), key.clone());
        Ok(key)
    }

    fn forget(&self, table: &str) {
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).remove(table);
    }

    /// Sends the requests of one wave (in parallel), then resends rows that failed
    /// retryably (alone, after a backoff) until they succeed or the retry budget is spent.
    async fn run_wave(
        &self,
        rows: &[EncodedRow],
        requests: Vec<Vec<usize>>,
        rejected: &mut BTreeMap<usize, String>,
    ) -> Result<(), SinkError> {
        let config = &self.shared.config;
        let api = config.write_api;
        let _keys = match config.insert_order {
            true => {
                Some(self.shared.in_flight.acquire(requests.iter().flatten().map(|&i| rows[i].key).collect()).await)
            }
            false => None,
        };
        let mut backoff = Backoff::new(config.client.retry_budget);
        let mut pending = requests;
        loop {
            let mut tasks = JoinSet::new();
            for indices in pending.drain(..) {
                let client = self.shared.client.clone();
                let permits = self.shared.permits.clone();
                let (call, order) = match api {
                    WriteApi::BatchWriteRow => {
                        let (request, order) = request::batch_write_row(rows, &indices);
                        (Call::Batch(request), order)
                    }
                    WriteApi::BulkImport => (Call::Bulk(request::bulk_import(rows, &indices)), indices),
                };
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    (order, call.send(&client).await)
                });
            }
            let mut retry_rows: Vec<usize> = Vec::new();
            let mut isolate: Vec<usize> = Vec::new();
            let mut worst = Class::Transient;
            let mut last_reason = String::new();
            while let Some(joined) = tasks.join_next().await {
                let (order, outcome) =
                    joined.map_err(|e| SinkError::Retryable(format!("a Tablestore request task failed: {e}")))?;
                match outcome {
                    Ok(outcomes) if outcomes.len() == order.len() => {
                        for (index, outcome) in order.into_iter().zip(outcomes) {
                            let Err(error) = outcome else { continue };
                            if error.code == "OTSObjectNotExist" {
                                // The table went away since it was checked: recreate or stop.
                                let gone = OtsError::Service {
                                    action: api.action().to_string(),
                                    status: 200,
                                    code: error.code,
                                    message: format!(
                                        "row {}: {}",
                                        rows[index].label,
                                        error.message.unwrap_or_default()
                                    ),
                                    request_id: String::new(),
                                };
                                return self
                                    .permanent_request_error(rows, &[index], gone, rejected, &mut Vec::new())
                                    .and(Err(SinkError::Retryable(format!(
                                        "table `{}` is missing",
                                        rows[index].table
                                    ))));
                            }
                            let message = error.message.unwrap_or_default();
                            let class = retry::classify(&error.code, &message, 200, true);
                            let reason =
                                format!("row {}: {} {}: {message}", rows[index].label, api.action(), error.code);
                            if class.retryable() {
                                worst = worst.worse(class);
                                last_reason = reason;
                                retry_rows.push(index);
                            } else {
                                rejected.entry(rows[index].item).or_insert(reason);
                            }
                        }
                    }
                    Ok(outcomes) => {
                        return Err(SinkError::Retryable(format!(
                            "{} answered {} row results for {} rows",
                            api.action(),
                            outcomes.len(),
                            order.len()
                        )))
                    }
                    Err(error) => {
                        let class = error.class(true);
                        if class.retryable() {
                            return Err(SinkError::Retryable(format!(
                                "{error} (still failing after {:?} of retries)",
                                config.client.retry_budget
                            )));
                        }
                        self.permanent_request_error(rows, &order, error, rejected, &mut isolate)?;
                    }
                }
            }
            if retry_rows.is_empty() && isolate.is_empty() {
                return Ok(());
            }
            if !retry_rows.is_empty() {
                let Some(delay) = backoff.next(worst) else {
                    return Err(SinkError::Retryable(format!(
                        "{} rows still fail after {:?} of retries; last: {last_reason}",
                        retry_rows.len(),
                        config.client.retry_budget
                    )));
                };
                tracing::debug!(rows = retry_rows.len(), ?delay, "Retrying Tablestore rows: {last_reason}");
                tokio::time::sleep(delay).await;
                retry_rows.sort_unstable();
                for wave in request::plan(rows, retry_rows, api, false) {
                    pending.extend(wave.into_iter().map(|r| r.rows));
                }
            }
            pending.extend(isolate.into_iter().map(|i| vec![i]));
        }
    }

    /// A whole request failed for good: credentials and missing tables stop the connector;
    /// otherwise the rows are retried one by one to find the bad ones.
    fn permanent_request_error(
        &self,
        rows: &[EncodedRow],
        order: &[usize],
        error: OtsError,
        rejected: &mut BTreeMap<usize, String>,
        isolate: &mut Vec<usize>,
    ) -> Result<(), SinkError> {
        let code = error.code().unwrap_or_default();
        if matches!(code, "OTSAuthFailed" | "OTSNoPermissionAccess" | "OTSAccessDenied")
            || matches!(error, OtsError::Http { status: 401 | 403 | 404, .. })
        {
            return Err(SinkError::Fatal(format!(
                "{error}; check `tablestore.endpoint`, `tablestore.instance.name` and the access key"
            )));
        }
        if code == "OTSObjectNotExist" {
            for &i in order {
                self.forget(&rows[i].table);
            }
            return Err(if self.shared.config.auto_create {
                SinkError::Retryable(format!("{error}; the table will be created again"))
            } else {
                SinkError::Fatal(format!("{error}; create the table or set `auto.create=true`"))
            });
        }
        if order.len() == 1 {
            rejected.entry(rows[order[0]].item).or_insert_with(|| format!("row {}: {error}", rows[order[0]].label));
        } else {
            tracing::warn!(rows = order.len(), "{error}; writing the rows one by one to find the bad ones.");
            isolate.extend_from_slice(order);
        }
        Ok(())
    }
}

/// One batch request ready to send.
enum Call {
    Batch(protocol::BatchWriteRowRequest),
    Bulk(protocol::BulkImportRequest),
}

impl Call {
    /// Sends it (retrying whole-request failures) and returns one outcome per row, in
    /// request order.
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
                let response: protocol::BatchWriteRowResponse = client.call("BatchWriteRow", &request, true).await?;
                Ok(response.tables.into_iter().flat_map(|t| t.rows).map(outcome).collect())
            }
            Call::Bulk(request) => {
                let response: protocol::BulkImportResponse = client.call("BulkImport", &request, true).await?;
                Ok(response.rows.into_iter().map(outcome).collect())
            }
        }
    }
}

impl Sink for TablestoreSink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        let mut rejected: BTreeMap<usize, String> = BTreeMap::new();
        let mut rows: Vec<EncodedRow> = Vec::with_capacity(items.len());
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
                let table = row.table.clone().unwrap_or_else(|| self.shared.config.table_for(&item.record.topic));
                let schema = self.schema(&table).await?;
                match request::encode(index, &table, row, Some(&schema)) {
                    Ok(encoded) => rows.push(encoded),
                    Err(reason) => {
                        rejected.entry(index).or_insert(reason);
                    }
                }
            }
        }
        rows.retain(|r| !rejected.contains_key(&r.item));
        let config = &self.shared.config;
        for wave in request::plan(&rows, 0..rows.len(), config.write_api, config.insert_order) {
            let requests = wave.into_iter().map(|r| r.rows).collect();
            self.run_wave(&rows, requests, &mut rejected).await?;
        }
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}
