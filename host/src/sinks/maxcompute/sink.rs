//! The MaxCompute sink driver: each write groups its rows by partition value, and for each
//! partition opens an upload session (creating the partition), uploads the rows as
//! deflated blocks, checks the block list and commits. `write` returns only after every
//! session it opened is committed, so offsets are acknowledged only for committed rows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::client::{CallError, Client, Session};
use super::config::{MaxComputeConfig, PartitionTime};
use super::partition::tunnel_spec;
use super::record::{Cell, RecordWriter};
use super::retry::{self, backoff, Class};
use super::schema::{self, TableSchema};
use crate::plugin::{Output, WriteKind};
use crate::sinks::{Sink, SinkError, SinkItem, WriteReport};

/// Block ids of one session must stay within 0..20000.
const MAX_BLOCKS: u64 = 20_000;

/// A MaxCompute table behind the batch tunnel. Clones share the client.
#[derive(Clone)]
pub struct MaxComputeSink {
    client: Client,
    config: Arc<MaxComputeConfig>,
    partition_key: Option<String>,
    table_schema: Arc<TableSchema>,
}

impl MaxComputeSink {
    /// Connects (discovering the tunnel unless configured) and reads the table's schema.
    pub async fn open(config: MaxComputeConfig) -> anyhow::Result<Self> {
        let config = Arc::new(config);
        let client = Client::connect(config.clone()).await.map_err(|e| {
            anyhow::anyhow!("MaxCompute tunnel discovery at `endpoint` {} failed: {e}", config.endpoint)
        })?;
        let table_schema = client.table_schema().await.map_err(|e| {
            anyhow::anyhow!(
                "reading table `{}.{}` at `endpoint` {} failed: {e}",
                config.project,
                config.table,
                config.endpoint
            )
        })?;
        let partition_key = match table_schema.partition_keys.as_slice() {
            [] => None,
            [key] => Some(key.clone()),
            keys => anyhow::bail!(
                "table `{}.{}` has {} partition keys ({}); the MaxCompute sink fills exactly one (`pt`) with the time window",
                config.project,
                config.table,
                keys.len(),
                keys.join(", ")
            ),
        };
        tracing::info!(project = %config.project, table = %config.table, tunnel = %client.tunnel(),
            columns = %table_schema.to_setting(), "MaxCompute table ready.");
        Ok(Self { client, config, partition_key, table_schema: Arc::new(table_schema) })
    }

    /// Settings handed to the parser: the table's columns as `name:type,...`
    /// (`maxcompute.table.columns`), which the built-in parser maps CSV fields onto.
    pub fn parser_settings(&self) -> Vec<(String, String)> {
        vec![("maxcompute.table.columns".to_string(), self.table_schema.to_setting())]
    }

    async fn write_partition(
        &self,
        value: Option<String>,
        indexes: &[usize],
        items: &[SinkItem<'_>],
        rejected: &mut Vec<(usize, String)>,
    ) -> Result<(), SinkError> {
        let spec = match (&self.partition_key, &value) {
            (Some(key), Some(value)) => Some(tunnel_spec(&[(key.clone(), value.clone())])),
            _ => None,
        };
        let spec = spec.as_deref();
        let session = self.create_session(spec, &value).await?;
        let mut upload = Upload { sink: self, spec, session: &session.id, next_block: 0, blocks: Vec::new() };
        let mut block = new_block();
        // The cells of one item's rows, row after row (reused: no allocation per row).
        let width = session.schema.columns.len();
        let mut cells: Vec<Option<Cell<'_>>> = Vec::with_capacity(width);
        for &index in indexes {
            match item_rows(&session.schema, &items[index], &self.config, &mut cells) {
                Err(reason) => rejected.push((index, reason)),
                Ok(()) => {
                    for row in cells.chunks(width) {
                        for (column, cell) in row.iter().enumerate() {
                            if let Some(cell) = cell {
                                block.field(column, cell);
                            }
                        }
                        block.end_record().map_err(io_error)?;
                        if block.raw_bytes() >= self.config.block_bytes {
                            upload.send(std::mem::replace(&mut block, new_block())).await?;
                        }
                    }
                }
            }
        }
        if block.count() > 0 {
            upload.send(block).await?;
        }
        if upload.blocks.is_empty() {
            return Ok(());
        }
        let blocks = upload.blocks;
        self.commit(spec, &session.id, &blocks).await
    }

    /// Creates the session with `create_partition=true`; if the tunnel still reports the
    /// partition missing, adds it with an SQL instance and tries once more.
    async fn create_session(&self, spec: Option<&str>, value: &Option<String>) -> Result<Session, SinkError> {
        let what = || format!("creating an upload session for {}", spec.unwrap_or("the table"));
        let mut attempt = 0;
        let mut added_partition = false;
        loop {
            attempt += 1;
            match self.client.create_session(spec, true).await {
                Ok(session) => return Ok(session),
                Err(e) => match retry::classify(&e) {
                    Class::NoPartition if !added_partition => {
                        let (Some(key), Some(value)) = (&self.partition_key, value) else {
                            return Err(retry::sink_error(&what(), e));
                        };
                        tracing::info!(partition = %value, "The tunnel did not create the partition; adding it with SQL.");
                        self.client
                            .add_partition(&[(key.clone(), value.clone())])
                            .await
                            .map_err(|e| retry::sink_error(&format!("adding partition {key}='{value}'"), e))?;
                        added_partition = true;
                    }
                    Class::Retry if attempt <= self.config.retry_times => tokio::time::sleep(backoff(attempt)).await,
                    _ => return Err(retry::sink_error(&what(), e)),
                },
            }
        }
    }

    /// Checks the server's block list, then commits; a commit failing with a retryable
    /// error is retried, and a commit that may have landed is confirmed by reloading.
    async fn commit(&self, spec: Option<&str>, id: &str, blocks: &[u64]) -> Result<(), SinkError> {
        let what = format!("committing upload session {id}");
        let session = self.client.reload_session(spec, id).await.map_err(|e| retry::sink_error(&what, e))?;
        let mut listed = session.blocks.clone();
        listed.sort_unstable();
        if listed != blocks {
            return Err(SinkError::Retryable(format!(
                "MaxCompute: upload session {id} lists blocks {listed:?} but {blocks:?} were uploaded; the batch is retried"
            )));
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let error = match self.client.commit(spec, id).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            // A lost answer or a retry after one: the session may be committed already.
            if self.committed(spec, id).await {
                return Ok(());
            }
            if retry::classify(&error) != Class::Retry || attempt > self.config.retry_times {
                return Err(retry::sink_error(&what, error));
            }
            tracing::warn!(session = %id, attempt, error = %error, "MaxCompute commit failed; retrying.");
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Whether an earlier commit attempt landed although its answer was lost.
    async fn committed(&self, spec: Option<&str>, id: &str) -> bool {
        matches!(self.client.reload_session(spec, id).await, Ok(s) if s.status == "closed")
    }
}

/// Uploads the blocks of one session with consecutive ids.
struct Upload<'s> {
    sink: &'s MaxComputeSink,
    spec: Option<&'s str>,
    session: &'s str,
    next_block: u64,
    blocks: Vec<u64>,
}

impl Upload<'_> {
    /// Finishes `block` (footer) and PUTs it; a failed PUT is re-sent under the same id.
    async fn send(&mut self, block: RecordWriter<ZlibEncoder<Vec<u8>>>) -> Result<(), SinkError> {
        let id = self.next_block;
        if id >= MAX_BLOCKS {
            return Err(SinkError::Fatal(format!(
                "MaxCompute: one write needs more than {MAX_BLOCKS} blocks; raise `buffer_size_kb` or lower `record_batch_size`"
            )));
        }
        let body = Bytes::from(block.finish().and_then(ZlibEncoder::finish).map_err(io_error)?);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.sink.client.upload_block(self.spec, self.session, id, body.clone()).await {
                Ok(()) => break,
                Err(e)
                    if retry::classify(&e) == Class::Retry
                        && attempt <= self.sink.config.retry_times
                        && !is_session_gone(&e) =>
                {
                    tracing::warn!(session = %self.session, block = id, attempt, error = %e, "Block upload failed; re-sending it.");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => {
                    return Err(retry::sink_error(&format!("uploading block {id} of session {}", self.session), e))
                }
            }
        }
        self.blocks.push(id);
        self.next_block += 1;
        Ok(())
    }
}

/// An expired or closed session cannot take blocks: the write starts over.
fn is_session_gone(error: &CallError) -> bool {
    matches!(error, CallError::Service(e) if e.code == "StatusConflict" || e.code == "NoSuchUpload")
}

fn new_block() -> RecordWriter<ZlibEncoder<Vec<u8>>> {
    RecordWriter::new(ZlibEncoder::new(Vec::with_capacity(64 * 1024), Compression::fast()))
}

fn io_error(e: std::io::Error) -> SinkError {
    SinkError::Fatal(format!("MaxCompute: compressing a block failed: {e}"))
}

/// Converts every row output of an item onto the session schema (all or nothing) into
/// `cells`: one schema-wide run of cells per row.
fn item_rows<'a>(
    schema: &TableSchema,
    item: &SinkItem<'a>,
    config: &MaxComputeConfig,
    cells: &mut Vec<Option<Cell<'a>>>,
) -> Result<(), String> {
    cells.clear();
    for output in item.outputs {
        let row = match output {
            Output::Row(row) => row,
            Output::Point(_) => return Err("the MaxCompute sink writes rows, but the parser emitted a point".into()),
            Output::Raw(_) => return Err("the MaxCompute sink writes rows, but the parser emitted raw bytes".into()),
        };
        if row.kind != WriteKind::Put {
            return Err(format!("the MaxCompute batch tunnel only inserts rows; the parser emitted a {:?}", row.kind));
        }
        let start = cells.len();
        cells.resize(start + schema.columns.len(), None);
        for column in row.primary_key.iter().chain(&row.columns) {
            let index = schema.index_of(&column.name).ok_or_else(|| {
                let names: Vec<&str> = schema.columns.iter().map(|(n, _)| n.as_str()).collect();
                format!("table `{}` has no column `{}` (columns: {})", config.table, column.name, names.join(", "))
            })?;
            let (name, kind) = &schema.columns[index];
            cells[start + index] = schema::convert(name, kind, &column.value, &config.partition.zone)?;
        }
    }
    Ok(())
}

impl Sink for MaxComputeSink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
        let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
        for (index, item) in items.iter().enumerate() {
            let value = self.partition_key.as_ref().map(|_| {
                let at = match self.config.partition_time {
                    PartitionTime::Sink => now,
                    PartitionTime::Record => item.record.timestamp_ms.unwrap_or(now),
                };
                self.config.partition.value_at(at)
            });
            groups.entry(value).or_default().push(index);
        }
        let mut rejected = Vec::new();
        for (value, indexes) in groups {
            self.write_partition(value, &indexes, items, &mut rejected).await?;
        }
        rejected.sort_by_key(|(index, _)| *index);
        Ok(WriteReport { rejected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::{Column, KafkaRecord, Row, Value};
    use crate::sinks::maxcompute::schema::ColumnType;

    fn config() -> MaxComputeConfig {
        let text = "endpoint=http://127.0.0.1:1/api\nproject=p\ntable=t\naccess_id=a\naccess_key=k\n";
        MaxComputeConfig::from_map(&crate::config::parse_text("c", text).unwrap()).unwrap()
    }

    fn schema() -> TableSchema {
        TableSchema {
            columns: vec![("topic".into(), ColumnType::String), ("offset".into(), ColumnType::BigInt)],
            partition_keys: vec!["pt".into()],
        }
    }

    fn item_with(columns: Vec<Column>) -> (KafkaRecord, Vec<Output>) {
        let record = KafkaRecord {
            topic: "t".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: None,
            key: None,
            value: None,
            headers: vec![],
        };
        let row = Row { table: None, kind: WriteKind::Put, primary_key: vec![], columns, deleted_columns: vec![] };
        (record, vec![Output::Row(row)])
    }

    #[test]
    fn rows_map_by_name_onto_the_session_schema() {
        let (record, outputs) = item_with(vec![
            Column { name: "OFFSET".into(), value: Value::Int64(7) },
            Column { name: "topic".into(), value: Value::Null },
        ]);
        let item = SinkItem { record: &record, outputs: &outputs };
        let mut cells = Vec::new();
        item_rows(&schema(), &item, &config(), &mut cells).unwrap();
        assert_eq!(cells, vec![None, Some(Cell::Int(7))]);
    }

    #[test]
    fn misfits_and_unknown_columns_are_rejections_naming_the_column() {
        let (record, outputs) = item_with(vec![Column { name: "offset".into(), value: Value::Text("x".into()) }]);
        let item = SinkItem { record: &record, outputs: &outputs };
        let mut cells = Vec::new();
        let error = item_rows(&schema(), &item, &config(), &mut cells).unwrap_err();
        assert!(error.contains("`offset`"), "{error}");
        let (record, outputs) = item_with(vec![Column { name: "nope".into(), value: Value::Int64(1) }]);
        let item = SinkItem { record: &record, outputs: &outputs };
        let error = item_rows(&schema(), &item, &config(), &mut cells).unwrap_err();
        assert!(error.contains("no column `nope`"), "{error}");
    }
}
