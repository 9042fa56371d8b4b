//! The MaxCompute sink: each write groups its records by partition value (decided once, so
//! a retry never moves a record to another partition); each group is one request to the
//! driver: open an upload session (creating the partition), upload the rows as deflated
//! blocks, check the block list and commit. A group is sent again only if its session was
//! not committed, so a group committed before a later one failed is never written twice. A
//! block the tunnel refuses for its data fails the group, which the driver splits until
//! the bad records are alone. `write` returns only after every group is committed, so
//! offsets are acknowledged only for committed rows.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::write::ZlibEncoder;
use flate2::Compression;

use super::client::{Client, Session};
use super::config::{MaxComputeConfig, PartitionTime};
use super::partition::tunnel_spec;
use super::record::{decode, Cell, FieldKind, RecordWriter};
use super::retry::{self, Class};
use super::schema::{self, TableSchema};
use crate::model::{Output, WriteKind};
use crate::sinks::driver::{Driver, Rejected, Response, Service};
use crate::sinks::retry::Outcome;
use crate::sinks::{Preview, Sink, SinkError, SinkItem, WriteReport};

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

    /// Creates the session with `create_partition=true`; if the tunnel still reports the
    /// partition missing, adds it with an SQL instance and asks once more.
    /// The tunnel records `item` would upload, without opening an upload session: the table
    /// and partition, and each record read back from the record-stream bytes the upload would
    /// hold (checksums checked) as `column=value` in the table's column order (columns left
    /// out are NULL).
    pub fn preview(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        let mut cells: Vec<Option<Cell<'_>>> = Vec::new();
        item_rows(&self.table_schema, item, &self.config, &mut cells)?;
        let width = self.table_schema.columns.len().max(1);
        let mut target = format!("table {}.{}", self.config.project, self.config.table);
        if let Some(key) = &self.partition_key {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
            let at = match self.config.partition_time {
                PartitionTime::Sink => now,
                PartitionTime::Record => item.record.timestamp_ms.unwrap_or(now),
            };
            target
                .push_str(&format!(" partition {}", tunnel_spec(&[(key.clone(), self.config.partition.value_at(at))])));
        }
        // Encode the rows as the upload would (uncompressed) and read them back.
        let names: Vec<&str> = self.table_schema.columns.iter().map(|(n, _)| n.as_str()).collect();
        let kinds: Vec<FieldKind> =
            self.table_schema.columns.iter().map(|(_, t)| t.field_kind().unwrap_or(FieldKind::Bytes)).collect();
        let mut writer = RecordWriter::new(Vec::new());
        for row in cells.chunks(width) {
            for (column, cell) in row.iter().enumerate() {
                if let Some(cell) = cell {
                    writer.field(column, cell);
                }
            }
            writer.end_record().map_err(|e| e.to_string())?;
        }
        let stream = writer.finish().map_err(|e| e.to_string())?;
        let records =
            decode(&stream, &kinds).map_err(|e| format!("the encoded tunnel records do not read back: {e}"))?;
        let request = format!(
            "batch tunnel upload ({} record(s), {} bytes of record stream before compression)",
            records.len(),
            stream.len()
        );
        let rows = records
            .into_iter()
            .map(|record| {
                let shown: Vec<String> =
                    record.into_iter().map(|(index, text)| format!("{}={text}", names[index])).collect();
                Preview { target: target.clone(), request: request.clone(), rows: vec![shown.join(", ")] }
            })
            .collect();
        Ok(rows)
    }

    /// Checks `item`'s rows against the table's columns (the schema check at load): `Err`
    /// names the column when an output names one the table lacks or has a type the column
    /// never takes (whether a value fits its column is checked per record).
    pub fn check_schema(&self, item: &SinkItem<'_>) -> Result<(), String> {
        let table = format!("{}.{}", self.config.project, self.config.table);
        for output in item.outputs {
            let Output::Row(row) = output else {
                return Err(format!(
                    "table `{table}`: the MaxCompute sink writes rows, but the parser emitted a point or raw bytes"
                ));
            };
            for column in row.primary_key.iter().chain(&row.columns) {
                let Some(index) = self.table_schema.index_of(&column.name) else {
                    let names: Vec<&str> = self.table_schema.columns.iter().map(|(n, _)| n.as_str()).collect();
                    return Err(format!(
                        "table `{table}` has no column `{}` (columns: {})",
                        column.name,
                        names.join(", ")
                    ));
                };
                let (name, kind) = &self.table_schema.columns[index];
                if !schema::accepts(kind, &column.value) {
                    return Err(format!(
                        "column `{name}` of table `{table}` is {} and never takes {}",
                        kind.name().to_ascii_uppercase(),
                        schema::value_kind(&column.value)
                    ));
                }
            }
        }
        Ok(())
    }

    async fn create_session(&self, spec: Option<&str>, value: &Option<String>) -> Result<Session, Outcome> {
        let what = format!("creating an upload session for {}", spec.unwrap_or("the table"));
        match self.client.create_session(spec, true).await {
            Ok(session) => return Ok(session),
            Err(e) if retry::classify(&e) == Class::NoPartition => {
                let (Some(key), Some(value)) = (&self.partition_key, value) else {
                    return Err(retry::outcome(&what, e));
                };
                tracing::info!(partition = %value, "The tunnel did not create the partition; adding it with SQL.");
                if let Err(e) = self.client.add_partition(&[(key.clone(), value.clone())]).await {
                    return Err(retry::outcome(&format!("adding partition {key}='{value}'"), e));
                }
            }
            Err(e) => return Err(retry::outcome(&what, e)),
        }
        self.client.create_session(spec, true).await.map_err(|e| retry::outcome(&what, e))
    }

    /// Checks the server's block list, then commits; a commit whose answer was lost is
    /// confirmed by reloading the session.
    async fn commit(&self, spec: Option<&str>, id: &str, blocks: &[u64]) -> Outcome {
        let what = format!("committing upload session {id}");
        let session = match self.client.reload_session(spec, id).await {
            Ok(session) => session,
            Err(e) => return retry::outcome(&what, e),
        };
        let mut listed = session.blocks.clone();
        listed.sort_unstable();
        if listed != blocks {
            return Outcome::retry(format!(
                "MaxCompute: upload session {id} lists blocks {listed:?} but {blocks:?} were uploaded; the rows \
                 are sent again in a new session"
            ));
        }
        match self.client.commit(spec, id).await {
            Ok(_) => Outcome::Written,
            // A lost answer: the session may be committed already.
            Err(_) if self.committed(spec, id).await => Outcome::Written,
            Err(e) => retry::outcome(&what, e),
        }
    }

    /// Whether an earlier commit attempt landed although its answer was lost.
    async fn committed(&self, spec: Option<&str>, id: &str) -> bool {
        matches!(self.client.reload_session(spec, id).await, Ok(s) if s.status == "closed")
    }

    /// Finishes `block` (footer) and PUTs it under `id`.
    async fn upload(
        &self,
        spec: Option<&str>,
        session: &str,
        id: u64,
        block: RecordWriter<ZlibEncoder<Vec<u8>>>,
    ) -> Result<(), Outcome> {
        if id >= MAX_BLOCKS {
            return Err(Outcome::Fatal(format!(
                "MaxCompute: one write needs more than {MAX_BLOCKS} blocks; raise `buffer_size_kb` or lower \
                 `record_batch_size`"
            )));
        }
        let body = Bytes::from(block.finish().and_then(ZlibEncoder::finish).map_err(io_error)?);
        self.client
            .upload_block(spec, session, id, body)
            .await
            .map_err(|e| retry::outcome(&format!("uploading block {id} of session {session}"), e))
    }
}

/// One record of a write, with the partition value it goes to.
pub struct Entry {
    item: usize,
    partition: Option<String>,
}

/// One write's requests: the sink, the batch the entries point into, and the sessions of
/// groups whose last try failed part-way.
struct Write<'w> {
    sink: &'w MaxComputeSink,
    items: &'w [SinkItem<'w>],
    resume: std::sync::Mutex<std::collections::HashMap<Vec<usize>, Progress>>,
}

/// How far a group's session got: the next try of the group re-sends only the blocks not
/// yet uploaded (under the same ids) and commits, until `retry_times` tries of one session
/// failed or the session is gone; then a new session starts.
struct Progress {
    session: Session,
    uploaded: Vec<u64>,
    failures: u32,
}

impl Write<'_> {
    /// One partition group: a session, its blocks, the commit. Records that do not fit the
    /// table are rejected by themselves; the others are written only if the commit lands.
    async fn send_group(&self, entries: &[Entry], request: &[usize]) -> Result<Vec<Outcome>, Outcome> {
        let sink = self.sink;
        let value = &entries[request[0]].partition;
        let spec = match (&sink.partition_key, value) {
            (Some(key), Some(value)) => Some(tunnel_spec(&[(key.clone(), value.clone())])),
            _ => None,
        };
        let spec = spec.as_deref();
        let resumed = self.resume.lock().unwrap_or_else(|e| e.into_inner()).remove(request);
        let mut progress = match resumed {
            Some(progress) if progress.failures < sink.config.retry_times => progress,
            _ => Progress { session: sink.create_session(spec, value).await?, uploaded: Vec::new(), failures: 0 },
        };
        let result = self.upload_group(spec, entries, request, &mut progress).await;
        if let Err(Outcome::RetryAfter { reason, .. }) = &result {
            let gone = reason.contains("StatusConflict") || reason.contains("NoSuchUpload");
            if !gone {
                progress.failures += 1;
                self.resume.lock().unwrap_or_else(|e| e.into_inner()).insert(request.to_vec(), progress);
            }
        }
        result
    }

    /// Encodes the group's blocks, uploads those not uploaded yet and commits.
    async fn upload_group(
        &self,
        spec: Option<&str>,
        entries: &[Entry],
        request: &[usize],
        progress: &mut Progress,
    ) -> Result<Vec<Outcome>, Outcome> {
        let sink = self.sink;
        let session = progress.session.clone();
        let mut outcomes = vec![Outcome::Written; request.len()];
        let mut blocks: Vec<u64> = Vec::new();
        let mut block = new_block();
        // The cells of one item's rows, row after row (reused: no allocation per row).
        let width = session.schema.columns.len();
        let mut cells: Vec<Option<Cell<'_>>> = Vec::with_capacity(width);
        for (position, &index) in request.iter().enumerate() {
            let item = &self.items[entries[index].item];
            if let Err(reason) = item_rows(&session.schema, item, &sink.config, &mut cells) {
                outcomes[position] = Outcome::Reject(reason);
                continue;
            }
            for row in cells.chunks(width) {
                for (column, cell) in row.iter().enumerate() {
                    if let Some(cell) = cell {
                        block.field(column, cell);
                    }
                }
                block.end_record().map_err(io_error)?;
                if block.raw_bytes() >= sink.config.block_bytes {
                    let id = blocks.len() as u64;
                    let full = std::mem::replace(&mut block, new_block());
                    if !progress.uploaded.contains(&id) {
                        sink.upload(spec, &session.id, id, full).await?;
                        progress.uploaded.push(id);
                    }
                    blocks.push(id);
                }
            }
        }
        if block.count() > 0 {
            let id = blocks.len() as u64;
            if !progress.uploaded.contains(&id) {
                sink.upload(spec, &session.id, id, block).await?;
                progress.uploaded.push(id);
            }
            blocks.push(id);
        }
        if !blocks.is_empty() {
            match sink.commit(spec, &session.id, &blocks).await {
                Outcome::Written => {}
                failed => return Err(failed),
            }
        }
        Ok(outcomes)
    }
}

impl Service for Write<'_> {
    type Row = Entry;

    fn name(&self) -> &'static str {
        "MaxCompute"
    }

    fn item(&self, entry: &Entry) -> usize {
        entry.item
    }

    /// One request (session) per partition value, in value order, one after another.
    fn plan(&self, entries: &[Entry], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
        let mut groups: std::collections::BTreeMap<&Option<String>, Vec<usize>> = Default::default();
        for i in indices {
            groups.entry(&entries[i].partition).or_default().push(i);
        }
        groups.into_values().map(|group| vec![group]).collect()
    }

    async fn send(&self, entries: &[Entry], request: &[usize]) -> Response {
        if request.is_empty() {
            return Response::Whole(Outcome::Written);
        }
        match self.send_group(entries, request).await {
            Ok(outcomes) => Response::Rows(outcomes),
            Err(failed) => Response::Whole(failed),
        }
    }
}

fn new_block() -> RecordWriter<ZlibEncoder<Vec<u8>>> {
    RecordWriter::new(ZlibEncoder::new(Vec::with_capacity(64 * 1024), Compression::fast()))
}

fn io_error(e: std::io::Error) -> Outcome {
    Outcome::Fatal(format!("MaxCompute: compressing a block failed: {e}"))
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
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut Driver) -> Result<WriteReport, SinkError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
        // Partition values change at minute boundaries at the finest (every zone offset is
        // whole minutes), so one formatting per minute of record time is enough.
        let mut last: Option<(i64, String)> = None;
        let entries: Vec<Entry> = items
            .iter()
            .enumerate()
            .map(|(item, entry)| Entry {
                item,
                partition: self.partition_key.as_ref().map(|_| {
                    let at = match self.config.partition_time {
                        PartitionTime::Sink => now,
                        PartitionTime::Record => entry.record.timestamp_ms.unwrap_or(now),
                    };
                    let minute = at.div_euclid(60_000);
                    match &last {
                        Some((m, value)) if *m == minute => value.clone(),
                        _ => {
                            let value = self.config.partition.value_at(at);
                            last = Some((minute, value.clone()));
                            value
                        }
                    }
                }),
            })
            .collect();
        let mut rejected = Rejected::new();
        driver.run(&Write { sink: self, items, resume: Default::default() }, &entries, &mut rejected).await?;
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Column, KafkaRecord, Row, Value};
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
        let item = SinkItem { record: &record, topic: &record.topic, outputs: &outputs };
        let mut cells = Vec::new();
        item_rows(&schema(), &item, &config(), &mut cells).unwrap();
        assert_eq!(cells, vec![None, Some(Cell::Int(7))]);
    }

    #[test]
    fn misfits_and_unknown_columns_are_rejections_naming_the_column() {
        let (record, outputs) = item_with(vec![Column { name: "offset".into(), value: Value::Text("x".into()) }]);
        let item = SinkItem { record: &record, topic: &record.topic, outputs: &outputs };
        let mut cells = Vec::new();
        let error = item_rows(&schema(), &item, &config(), &mut cells).unwrap_err();
        assert!(error.contains("`offset`"), "{error}");
        let (record, outputs) = item_with(vec![Column { name: "nope".into(), value: Value::Int64(1) }]);
        let item = SinkItem { record: &record, topic: &record.topic, outputs: &outputs };
        let error = item_rows(&schema(), &item, &config(), &mut cells).unwrap_err();
        assert!(error.contains("no column `nope`"), "{error}");
    }
}
