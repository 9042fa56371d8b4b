//! The time-series sink (`tablestore.mode=timeseries`): points of a batch are checked and
//! encoded (see `timeseries`), grouped per table into `PutTimeseriesData` requests of at
//! most `tablestore.timeseries.rowsPerBatch` rows and 4 MB, and sent up to
//! `max.concurrency` at a time by the driver. `failed_rows` are mapped back to their
//! records: retryable ones are resent by the driver, permanent ones go to the pipeline's
//! error path.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use tokio::sync::Semaphore;

use super::client::{Client, OtsError};
use super::config::TablestoreConfig;
use super::protocol;
use super::retry;
use super::table::TableError;
use super::timeseries::{self, EncodedPoint};
use crate::config::{ConnectorConfig, TopicSelection};
use crate::model::Output;
use crate::sinks::driver::{Driver, Rejected, Response, Service};
use crate::sinks::retry::{Outcome, RetryPolicy};
use crate::sinks::{Preview, Sink, SinkError, SinkItem, WriteReport};

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

fn table_outcome(error: TableError) -> Outcome {
    match error {
        TableError::Fatal(m) => Outcome::Fatal(m),
        TableError::Retryable(m) => Outcome::retry(m),
    }
}

impl TimeseriesSink {
    /// Connects, and checks (or creates) the time-series tables of the configured topics.
    pub async fn open(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let sink = Self::offline(connector)?;
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

    /// A sink for previews ([`TimeseriesSink::preview`]): no table is checked or created.
    pub fn offline(connector: &ConnectorConfig) -> anyhow::Result<Self> {
        let config = TablestoreConfig::from_connector(connector)?;
        let client = Client::new(config.client.clone())?;
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                permits: Arc::new(Semaphore::new(config.max_concurrency)),
                config,
                tables: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// The time-series rows `item` would send with `PutTimeseriesData`, read back from the
    /// FlatBuffer bytes, without sending them.
    pub fn preview(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        let mut previews = Vec::with_capacity(item.outputs.len());
        for output in item.outputs {
            let Output::Point(point) = output else {
                return Err("the Tablestore sink in `tablestore.mode=timeseries` writes time-series points, but the \
                            parser produced a row or raw payload; use a parser that emits points"
                    .into());
            };
            let table = match &point.table {
                Some(named) => named.to_string(),
                None => self.shared.config.table_for(item.topic),
            };
            let encoded = timeseries::encode(0, &table, point)?;
            // The row as read back from the FlatBuffer bytes the request would carry.
            let bytes = super::flatbuf::encode(std::iter::once(&encoded.row));
            let rows = super::flatbuf::decode(&bytes)
                .map_err(|e| format!("point {}: the encoded row does not read back: {e}", encoded.label))?;
            previews.push(Preview {
                target: format!("time-series table {table}"),
                request: format!("PutTimeseriesData ({} bytes of FlatBuffer rows)", bytes.len()),
                rows: rows.iter().map(ToString::to_string).collect(),
            });
        }
        Ok(previews)
    }

    async fn ensure(&self, table: &str) -> Result<(), TableError> {
        if self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).contains(table) {
            return Ok(());
        }
        timeseries::ensure(&self.shared.client, table, self.shared.config.auto_create).await?;
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).insert(table.to_string());
        Ok(())
    }

    fn forget(&self, table: &str) {
        self.shared.tables.lock().unwrap_or_else(|e| e.into_inner()).remove(table);
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
}

impl Service for TimeseriesSink {
    type Row = EncodedPoint;

    fn name(&self) -> &'static str {
        "Tablestore"
    }

    fn item(&self, point: &EncodedPoint) -> usize {
        point.item
    }

    fn limits(&self, policy: RetryPolicy) -> RetryPolicy {
        self.shared.config.retry_limits(policy)
    }

    fn plan(&self, points: &[EncodedPoint], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
        TimeseriesSink::plan(self, points, &indices)
    }

    async fn send(&self, points: &[EncodedPoint], indices: &[usize]) -> Response {
        let shared = &self.shared;
        let auto_create = shared.config.auto_create;
        // A table found missing by an earlier try is checked (or created) again first.
        for &i in indices {
            if let Err(error) = self.ensure(&points[i].table).await {
                return Response::Whole(table_outcome(error));
            }
        }
        let request = timeseries::put_request(points, indices);
        let answer: Result<protocol::PutTimeseriesDataResponse, OtsError> = {
            let _permit = shared.permits.acquire().await;
            shared.client.call_once("PutTimeseriesData", &request).await
        };
        match answer {
            Ok(response) => {
                let mut outcomes = vec![Outcome::Written; indices.len()];
                for failed in response.failed_rows {
                    let row = failed.row_index.max(0) as usize;
                    let Some(&index) = indices.get(row) else {
                        return Response::Whole(Outcome::retry(format!(
                            "PutTimeseriesData reported failed row {row} of a request with {} rows",
                            indices.len()
                        )));
                    };
                    let code = failed.error_code.unwrap_or_default();
                    let message = failed.error_message.unwrap_or_default();
                    let reason = format!("point {}: PutTimeseriesData {code}: {message}", points[index].label);
                    if code == "OTSObjectNotExist" {
                        self.forget(&points[index].table);
                    }
                    outcomes[row] = retry::row_outcome(&code, &message, reason, auto_create);
                }
                Response::Rows(outcomes)
            }
            Err(error) => {
                if error.code() == Some("OTSObjectNotExist") {
                    for &i in indices {
                        self.forget(&points[i].table);
                    }
                }
                match (retry::request_outcome(&error, auto_create), indices) {
                    (Outcome::Reject(reason), [only]) => {
                        Response::Whole(Outcome::Reject(format!("point {}: {reason}", points[*only].label)))
                    }
                    (outcome, _) => Response::Whole(outcome),
                }
            }
        }
    }
}

impl Sink for TimeseriesSink {
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut Driver) -> Result<WriteReport, SinkError> {
        let mut rejected = Rejected::new();
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
                let table = match &point.table {
                    Some(named) => named.to_string(),
                    None => self.shared.config.table_for(item.topic),
                };
                if !ensured.contains(&table) {
                    self.ensure(&table).await.map_err(|e| {
                        SinkError::Fatal(format!("Tablestore time-series table `{table}` cannot be written: {e}"))
                    })?;
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
        driver.run(&*self, &points, &mut rejected).await?;
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}
