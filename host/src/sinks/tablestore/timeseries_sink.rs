//! The time-series sink (`tablestore.mode=timeseries`): points of a batch are checked and
//! encoded (see `timeseries`), grouped per table into `PutTimeseriesData` requests of at
//! most `tablestore.timeseries.rowsPerBatch` rows and 4 MB, and sent up to
//! `max.concurrency` at a time. `failed_rows` are mapped back to their records: retryable
//! ones are resent after a backoff, permanent ones go to the pipeline's error path.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::client::{Client, OtsError};
use super::config::TablestoreConfig;
use super::protocol;
use super::retry::{self, Backoff, Class};
use super::table::TableError;
use super::timeseries::{self, EncodedPoint};
use crate::config::{ConnectorConfig, TopicSelection};
use crate::plugin::Output;
use crate::sinks::{Sink, SinkError, SinkItem, WriteReport};

/// Writes points into Tablestore time-series tables. Clones share the client, the table
/// cache and the request permits.
#[derive(Clone)]
pub struct TimeseriesSink {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    config: TablestoreConfig,
    /// Tables known to exist.
    tables: Mutex<HashSet<String>>,
    /// `max.concurrency` requests in flight across all lanes.
    permits: Arc<Semaphore>,
}

/// The outcome of one request: the failed rows (request index, code, message).
type Failures = Vec<(usize, String, String)>;

fn table_error(error: TableError) -> SinkError {
    match error {
        TableError::Fatal(m) => SinkError::Fatal(m),
        TableError::Retryable(m) => SinkError::Retryable(m),
    }
}

impl TimeseriesSink {
    /// Connects, and checks (or creates) the time-series tables of the configured topics.
    pub async fn open(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let config = TablestoreConfig::from_connector(connector)?;
        let client = Client::new(config.client.clone())?;
        let sink = Self {
            shared: Arc::new(Shared {
                client,
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                config,
                tables: Mutex::new(HashSet::new()),
            }),
        };
        if let TopicSelection::List(topics) = &connector.topics {
            for topic in topics {
                let table = sink.shared.config.table_for(topic);
                sink.ensure(&table).await.map_err(|e| anyhow::anyhow!("{e}")).with_context(|| {
                    format!(
                        "checking Tablestore time-series table `{table}` for topic `{topic}` of connector `{}`",
                        connector.name
                    )
                })?;
            }
        }
        Ok(sink)
    }

    async fn ensure(&self, table: &str) -> Result<(), SinkError> {
        if self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).contains(table) {
            return Ok(());
        }
        timeseries::ensure(&self.shared.client, table, self.shared.config.auto_create).await.map_err(table_error)?;
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_string());
        Ok(())
    }

    /// Splits the points into waves of requests; a request whose rows repeat a timeline and
    /// time of an earlier request in the wave starts the next wave, so the later write wins.
    fn plan(&self, points: &[EncodedPoint], indices: &[usize]) -> Vec<Vec<Vec<usize>>> {
        let mut tables: Vec<(&str, Vec<usize>)> = Vec::new();
        for &i in indices {
            match tables.iter_mut().find(|(t, _)| *t == points[i].table) {
                Some((_, list)) => list.push(i),
                None => tables.push((&points[i].table, vec![i])),
            }
        }
        let mut waves: Vec<Vec<Vec<usize>>> = vec![Vec::new()];
        let mut seen: HashSet<u64> = HashSet::new();
        for (_, list) in tables {
            for chunk in timeseries::chunks(points, &list, self.shared.config.rows_per_batch) {
                let mut own: HashSet<u64> = HashSet::new();
                if chunk.iter().any(|&i| seen.contains(&points[i].key)) {
                    waves.push(Vec::new());
                    seen.clear();
                }
                own.extend(chunk.iter().map(|&i| points[i].key));
                seen.extend(own);
                if let Some(wave) = waves.last_mut() {
                    wave.push(chunk);
                }
            }
        }
        waves.retain(|w| !w.is_empty());
        waves
    }

    /// Sends one wave, then resends rows that failed retryably until they succeed or the
    /// retry budget is spent.
    async fn run_wave(
        &self,
        points: &[EncodedPoint],
        requests: Vec<Vec<usize>>,
        rejected: &mut BTreeMap<usize, String>,
    ) -> Result<(), SinkError> {
        let config = &self.shared.config;
        let mut backoff = Backoff::new(config.client.retry_budget);
        let mut pending = requests;
        loop {
            let mut tasks = JoinSet::new();
            for indices in pending.drain(..) {
                let client = self.shared.client.clone();
                let permits = self.shared.permits.clone();
                let request = timeseries::put_request(points, &indices);
                tasks.spawn(async move {
                    let _permit = permits.acquire_owned().await;
                    let outcome: Result<protocol::PutTimeseriesDataResponse, OtsError> =
                        client.call("PutTimeseriesData", &request, true).await;
                    let failures: Result<Failures, OtsError> = outcome.map(|r| {
                        r.failed_rows
                            .into_iter()
                            .map(|f| {
                                (
                                    f.row_index.max(0) as usize,
                                    f.error_code.unwrap_or_default(),
                                    f.error_message.unwrap_or_default(),
                                )
                            })
                            .collect()
                    });
                    (indices, failures)
                });
            }
            let mut retry_rows: Vec<usize> = Vec::new();
            let mut isolate: Vec<usize> = Vec::new();
            let mut worst = Class::Transient;
            let mut last_reason = String::new();
            while let Some(joined) = tasks.join_next().await {
                let (indices, outcome) =
                    joined.map_err(|e| SinkError::Retryable(format!("a Tablestore request task failed: {e}")))?;
                match outcome {
                    Ok(failures) => {
                        for (row, code, message) in failures {
                            let Some(&index) = indices.get(row) else {
                                return Err(SinkError::Retryable(format!(
                                    "PutTimeseriesData reported failed row {row} of a request with {} rows",
                                    indices.len()
                                )));
                            };
                            let class = retry::classify(&code, &message, 200, true);
                            let reason = format!("point {}: PutTimeseriesData {code}: {message}", points[index].label);
                            if class.retryable() {
                                worst = worst.worse(class);
                                last_reason = reason;
                                retry_rows.push(index);
                            } else {
                                rejected.entry(points[index].item).or_insert(reason);
                            }
                        }
                    }
                    Err(error) => {
                        if error.class(true).retryable() {
                            return Err(SinkError::Retryable(format!(
                                "{error} (still failing after {:?} of retries)",
                                config.client.retry_budget
                            )));
                        }
                        self.permanent_request_error(points, &indices, error, rejected, &mut isolate)?;
                    }
                }
            }
            if retry_rows.is_empty() && isolate.is_empty() {
                return Ok(());
            }
            if !retry_rows.is_empty() {
                let Some(delay) = backoff.next(worst) else {
                    return Err(SinkError::Retryable(format!(
                        "{} points still fail after {:?} of retries; last: {last_reason}",
                        retry_rows.len(),
                        config.client.retry_budget
                    )));
                };
                tracing::debug!(
                    points = retry_rows.len(),
                    ?delay,
                    "Retrying Tablestore time-series rows: {last_reason}"
                );
                tokio::time::sleep(delay).await;
                retry_rows.sort_unstable();
                // Retried rows go out together (a row failing twice in one batch is not ordered).
                for wave in self.plan(points, &retry_rows) {
                    pending.extend(wave);
                }
            }
            pending.extend(isolate.into_iter().map(|i| vec![i]));
        }
    }

    /// A whole request failed for good: credentials and missing tables stop (or recreate);
    /// otherwise the rows are sent one by one to find the bad ones.
    fn permanent_request_error(
        &self,
        points: &[EncodedPoint],
        indices: &[usize],
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
            let mut tables = self.shared.tables.lock().unwrap_or_else(|e| e.into_inner());
            for &i in indices {
                tables.remove(&points[i].table);
            }
            return Err(if self.shared.config.auto_create {
                SinkError::Retryable(format!("{error}; the time-series table will be created again"))
            } else {
                SinkError::Fatal(format!("{error}; create the time-series table or set `auto.create=true`"))
            });
        }
        if let [only] = indices {
            rejected.entry(points[*only].item).or_insert_with(|| format!("point {}: {error}", points[*only].label));
        } else {
            tracing::warn!(points = indices.len(), "{error}; writing the points one by one to find the bad ones.");
            isolate.extend_from_slice(indices);
        }
        Ok(())
    }
}

impl Sink for TimeseriesSink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        let mut rejected: BTreeMap<usize, String> = BTreeMap::new();
        let mut points: Vec<EncodedPoint> = Vec::with_capacity(items.len());
        let mut ensured: HashSet<String> = HashSet::new();
        for (index, item) in items.iter().enumerate() {
            for output in item.outputs {
                let Output::Point(point) = output else {
                    rejected.entry(index).or_insert_with(|| {
                        "the Tablestore sink in `tablestore.mode=timeseries` writes time-series points, but the parser \
                         produced a row or raw payload; use a parser that emits points (the built-in json parser does with \
                         `tablestore.timeseries.<table>.*` keys)"
                            .to_string()
                    });
                    continue;
                };
                let table = point.table.clone().unwrap_or_else(|| self.shared.config.table_for(&item.record.topic));
                if !ensured.contains(&table) {
                    self.ensure(&table).await?;
                    ensured.insert(table.clone());
                }
                match timeseries::encode(index, &table, point) {
                    Ok(encoded) => points.push(encoded),
                    Err(reason) => {
                        rejected.entry(index).or_insert(reason);
                    }
                }
            }
        }
        points.retain(|p| !rejected.contains_key(&p.item));
        let all: Vec<usize> = (0..points.len()).collect();
        for wave in self.plan(&points, &all) {
            self.run_wave(&points, wave, &mut rejected).await?;
        }
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}
