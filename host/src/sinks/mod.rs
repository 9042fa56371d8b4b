//! Sinks: where parsed outputs are written. Every sink implements [`Sink`]; the pipeline
//! hands it batches of successfully parsed records and acknowledges a record's offset only
//! after `write` returned with that record not listed as failed. Every sink encodes its
//! batch and hands the requests to the one [`driver::Driver`], which sends, retries
//! (`retry`) and isolates bad rows; a sink folder only holds config, encoding, client,
//! retry classification and the sink itself.

pub mod driver;
pub mod file;
pub mod maxcompute;
pub mod retry;
pub mod tablestore;
pub mod tdengine;

use std::future::Future;
use std::time::Duration;

use crate::config::{ConfigMap, ConnectorConfig, ErrorPolicy, KeySet, TopicSelection, WorkerConfig};
use crate::model::{KafkaRecord, Output};

/// The parser setting naming the sink's data model for parsers that follow a connector's
/// mapping rules (`tablestore`: the built-in json parser applies the Tablestore
/// connector's `DefaultEventParser` semantics).
pub const SINK_MODE_SETTING: &str = "sluice.sink.mode";

/// One parsed record on its way into a sink.
#[derive(Debug, Clone, Copy)]
pub struct SinkItem<'a> {
    /// The source record (its coordinates name the record in errors).
    pub record: &'a KafkaRecord,
    /// The topic that names the target table, measurement or database: the record's, or the
    /// one a router transform (`RegexRouter`, `TimestampRouter`) gave it.
    pub topic: &'a str,
    /// What the parser made of it (never empty).
    pub outputs: &'a [Output],
}

/// What happened to a batch that was (at least partly) written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Items rejected for their data (permanently): index into the batch and the reason.
    /// Everything not listed here was written.
    pub rejected: Vec<(usize, String)>,
}

/// A failure of the whole write; nothing in the batch counts as written.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Not worth retrying: bad credentials, missing permissions, a refusal retrying cannot
    /// change. The connector fails and stays FAILED until restarted.
    #[error("{0}")]
    Fatal(String),
    /// Transient failures (throttling, 5xx, timeouts, connection errors) outlasted the retry
    /// budget. The connector fails, and restarts itself with backoff since the cause can pass.
    #[error("{0}")]
    Unavailable(String),
    /// Shutdown began while the write waited to retry; the batch stays uncommitted.
    #[error("interrupted by shutdown")]
    Interrupted,
}

/// A destination. `write` returns only once every item not listed in the report is durably
/// handed to the destination; it sends through `driver`, which owns retries and shutdown.
pub trait Sink: Send + 'static {
    /// Writes a batch (in partition order).
    fn write(
        &mut self,
        items: &[SinkItem<'_>],
        driver: &mut driver::Driver,
    ) -> impl Future<Output = Result<WriteReport, SinkError>> + Send;
}

/// What a sink would send for one output, shown readably (`sluice explain`, dead-letter
/// replay dry runs): the target it names and the request contents, decoded back from the
/// bytes the sink encoded where the wire format is binary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Preview {
    /// The target: `table orders`, `database power`, `time-series table metrics`, `file out.jsonl`.
    pub target: String,
    /// The request it goes into (`BatchWriteRow`, `POST /influxdb/v1/write?db=power`, …).
    pub request: String,
    /// The encoded row, line or point, readably (one entry per row the output became).
    pub rows: Vec<String>,
}

/// The sinks this build has, chosen by `connector.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// Kafka Connect's `FileStreamSink`: JSON Lines of outputs into `file` (stdout when
    /// `file` is not set, as in Kafka Connect).
    File,
    /// JSON Lines of outputs on standard output.
    Stdout,
    /// TDengine through taosAdapter (`com.taosdata.kafka.connect.sink.TDengineSinkConnector`).
    Tdengine,
    /// MaxCompute (ODPS) tables through the Tunnel service.
    MaxCompute,
    /// Alibaba Cloud Tablestore data and time-series tables (`TableStoreSinkConnector`).
    Tablestore,
}

impl SinkKind {
    /// Resolves a `connector.class` value (full Java class name or short alias).
    pub fn from_class(class: &str) -> anyhow::Result<Self> {
        match class {
            "org.apache.kafka.connect.file.FileStreamSinkConnector"
            | "FileStreamSinkConnector"
            | "FileStreamSink"
            | "file" => Ok(SinkKind::File),
            "stdout" | "StdoutSink" | "sluice.StdoutSink" => Ok(SinkKind::Stdout),
            class if tablestore::CLASSES.contains(&class) => Ok(SinkKind::Tablestore),
            "com.taosdata.kafka.connect.sink.TDengineSinkConnector" | "TDengineSinkConnector" | "tdengine" => {
                Ok(SinkKind::Tdengine)
            }
            "com.aliyun.odps.kafka.connect.MaxComputeSinkConnector" | "MaxComputeSinkConnector" | "maxcompute" => {
                Ok(SinkKind::MaxCompute)
            }
            other => anyhow::bail!(
                "unknown connector class `{other}`; available: \
                 org.apache.kafka.connect.file.FileStreamSinkConnector (FileStreamSink), stdout, \
                 com.taosdata.kafka.connect.sink.TDengineSinkConnector (TDengineSinkConnector), \
                 com.aliyun.odps.kafka.connect.MaxComputeSinkConnector (MaxComputeSinkConnector), \
                 com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector (TableStoreSinkConnector)"
            ),
        }
    }

    /// Keys specific to this sink.
    pub fn keys(self) -> KeySet<'static> {
        match self {
            SinkKind::File => file::FILE_KEYS,
            SinkKind::Stdout => KeySet { keys: &[], prefixes: &[] },
            SinkKind::Tdengine => tdengine::TDENGINE_KEYS,
            SinkKind::MaxCompute => maxcompute::MAXCOMPUTE_KEYS,
            SinkKind::Tablestore => tablestore::TABLESTORE_KEYS,
        }
    }

    /// The built-in parser used when the connector names none.
    pub fn default_parser(self) -> &'static str {
        match self {
            SinkKind::Tdengine => "tdengine",
            SinkKind::MaxCompute => "maxcompute",
            SinkKind::File | SinkKind::Stdout | SinkKind::Tablestore => "json",
        }
    }

    /// How many consecutive batches (of `max.poll.records`) one write may take when they are
    /// parsed and waiting together. The file sink syncs once per write, so under load it
    /// syncs once for several batches; service sinks keep one batch per write, as Kafka
    /// Connect's `put` does (partial batches ready together still merge up to it).
    pub fn batches_per_write(self) -> usize {
        match self {
            SinkKind::File | SinkKind::Stdout => 16,
            SinkKind::Tdengine | SinkKind::MaxCompute | SinkKind::Tablestore => 1,
        }
    }

    /// Settings this kind of sink always adds to the parser's `configure` (the sink mode).
    pub fn parser_settings(self) -> Vec<(String, String)> {
        match self {
            SinkKind::Tablestore => vec![(SINK_MODE_SETTING.to_string(), "tablestore".to_string())],
            SinkKind::File | SinkKind::Stdout | SinkKind::Tdengine | SinkKind::MaxCompute => Vec::new(),
        }
    }

    /// Checks the sink's own keys when the connector file is read, so mistakes surface
    /// before anything connects.
    pub fn check(self, config: &ConnectorConfig) -> anyhow::Result<()> {
        match self {
            SinkKind::Tdengine => tdengine::TdengineConfig::from_connector(config).map(drop),
            SinkKind::MaxCompute => maxcompute::MaxComputeConfig::from_map(&config.raw).map(drop),
            SinkKind::Tablestore => tablestore::config::TablestoreConfig::from_connector(config).map(drop),
            SinkKind::File | SinkKind::Stdout => Ok(()),
        }
    }

    /// Records per batch and linger when the sink derives them from its own keys (checking
    /// those keys); `None` keeps the connector's `max.poll.records` / `sluice.batch.linger.ms`.
    pub fn batching(self, map: &ConfigMap, worker: &WorkerConfig) -> anyhow::Result<Option<(usize, Duration)>> {
        match self {
            SinkKind::MaxCompute => maxcompute::batching(map, worker).map(Some),
            SinkKind::File | SinkKind::Stdout | SinkKind::Tdengine | SinkKind::Tablestore => Ok(None),
        }
    }

    /// The error policy from the sink's own keys, used when the connector sets neither
    /// `errors.tolerance` nor `runtime.error.tolerance`; `None` for the default (fail).
    pub fn error_policy(self, map: &ConfigMap, worker: &WorkerConfig) -> anyhow::Result<Option<ErrorPolicy>> {
        match self {
            SinkKind::MaxCompute => maxcompute::error_policy(map, worker).map(Some),
            SinkKind::File | SinkKind::Stdout | SinkKind::Tdengine | SinkKind::Tablestore => Ok(None),
        }
    }

    /// Opens the sink's shared resources (clients, destination checks); each task lane then
    /// gets its own clone.
    pub async fn open(self, config: &ConnectorConfig) -> anyhow::Result<AnySink> {
        Ok(match self {
            SinkKind::File => match config.raw.get("file") {
                Some(path) => {
                    AnySink::File(file::FileSink::open(path.as_ref(), config.raw.bool_or(file::FSYNC_KEY, true)?)?)
                }
                None => AnySink::File(file::FileSink::stdout()),
            },
            SinkKind::Stdout => AnySink::File(file::FileSink::stdout()),
            SinkKind::Tdengine => {
                let topics = match &config.topics {
                    TopicSelection::List(topics) => tdengine::TopicDatabases::Listed(topics),
                    TopicSelection::Regex(_) => tdengine::TopicDatabases::Pattern,
                };
                AnySink::Tdengine(
                    tdengine::TdengineSink::open(tdengine::TdengineConfig::from_connector(config)?, topics).await?,
                )
            }
            SinkKind::MaxCompute => {
                let sink_config = maxcompute::MaxComputeConfig::from_map(&config.raw)?;
                AnySink::MaxCompute(maxcompute::MaxComputeSink::open(sink_config).await?)
            }
            SinkKind::Tablestore => match tablestore::config::TablestoreConfig::from_connector(config)?.mode {
                tablestore::config::Mode::Normal => {
                    AnySink::Tablestore(tablestore::TablestoreSink::open(config).await?)
                }
                tablestore::config::Mode::Timeseries => {
                    AnySink::TablestoreTimeseries(tablestore::TimeseriesSink::open(config).await?)
                }
            },
        })
    }
}

impl SinkKind {
    /// Opens the sink for previews only ([`AnySink::preview`]): it reads what encoding needs
    /// (a Tablestore table's primary key, a MaxCompute table's columns) and creates, writes and
    /// opens for writing nothing (no table, database, file or upload session).
    pub async fn open_preview(self, config: &ConnectorConfig) -> anyhow::Result<AnySink> {
        Ok(match self {
            SinkKind::File | SinkKind::Stdout => AnySink::File(file::FileSink::preview(config.raw.get("file"))),
            SinkKind::Tdengine => {
                AnySink::Tdengine(tdengine::TdengineSink::offline(tdengine::TdengineConfig::from_connector(config)?)?)
            }
            SinkKind::MaxCompute => {
                let sink_config = maxcompute::MaxComputeConfig::from_map(&config.raw)?;
                AnySink::MaxCompute(maxcompute::MaxComputeSink::open(sink_config).await?)
            }
            SinkKind::Tablestore => match tablestore::config::TablestoreConfig::from_connector(config)?.mode {
                tablestore::config::Mode::Normal => AnySink::Tablestore(tablestore::TablestoreSink::offline(config)?),
                tablestore::config::Mode::Timeseries => {
                    AnySink::TablestoreTimeseries(tablestore::TimeseriesSink::offline(config)?)
                }
            },
        })
    }
}

/// Any sink of this build, dispatched statically.
#[derive(Clone)]
pub enum AnySink {
    /// File or stdout JSON Lines.
    File(file::FileSink),
    /// TDengine through taosAdapter.
    Tdengine(tdengine::TdengineSink),
    /// MaxCompute batch tunnel.
    MaxCompute(maxcompute::MaxComputeSink),
    /// Tablestore data tables.
    Tablestore(tablestore::TablestoreSink),
    /// Tablestore time-series tables (`tablestore.mode=timeseries`).
    TablestoreTimeseries(tablestore::TimeseriesSink),
}

impl AnySink {
    /// Settings the sink adds to the parser's `configure`: the sink mode (see
    /// [`SinkKind::parser_settings`]) and what it learnt when it opened (for example the
    /// destination table's columns).
    pub fn parser_settings(&self) -> Vec<(String, String)> {
        match self {
            AnySink::File(_) | AnySink::Tdengine(_) => Vec::new(),
            AnySink::Tablestore(_) | AnySink::TablestoreTimeseries(_) => SinkKind::Tablestore.parser_settings(),
            AnySink::MaxCompute(sink) => sink.parser_settings(),
        }
    }
}

impl AnySink {
    /// The error table of `runtime.error.mode=tablestore`, which only the Tablestore sink
    /// provides.
    pub async fn error_table(
        &self,
        config: &ConnectorConfig,
        table: &str,
    ) -> anyhow::Result<std::sync::Arc<dyn crate::pipeline::dead_letter::DeadLetterTarget>> {
        match self {
            AnySink::Tablestore(_) | AnySink::TablestoreTimeseries(_) => {
                Ok(std::sync::Arc::new(tablestore::ErrorTable::open(config, table).await?))
            }
            _ => anyhow::bail!(
                "`runtime.error.mode=tablestore` in connector `{}` writes bad records to a Tablestore error table, \
                 which only the Tablestore sink has; use `errors.deadletterqueue.topic.name` instead",
                config.name
            ),
        }
    }
}

impl AnySink {
    /// What the sink would send for `item`, one [`Preview`] per output, without sending
    /// anything; `Err` is the reason the sink would reject the record (naming the field).
    pub async fn preview(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        match self {
            AnySink::File(sink) => sink.preview_item(item),
            AnySink::Tdengine(sink) => sink.preview(item),
            AnySink::MaxCompute(sink) => sink.preview(item),
            AnySink::Tablestore(sink) => sink.preview(item).await,
            AnySink::TablestoreTimeseries(sink) => sink.preview(item),
        }
    }
}

impl AnySink {
    /// Whether [`AnySink::check_schema`] checks anything: the sinks that know their target's
    /// schema (Tablestore data tables, MaxCompute).
    pub fn knows_schema(&self) -> bool {
        matches!(self, AnySink::Tablestore(_) | AnySink::MaxCompute(_))
    }

    /// Checks `item`'s outputs against the target's schema where the sink knows it (a
    /// Tablestore table's primary key names and types, a MaxCompute table's columns and
    /// types); `Err` names the table and column of an output that can never be written.
    /// Problems of one value (a size, a range) are left to the per-record checks.
    pub async fn check_schema(&self, item: &SinkItem<'_>) -> Result<(), String> {
        match self {
            AnySink::Tablestore(sink) => sink.check_schema(item).await,
            AnySink::MaxCompute(sink) => sink.check_schema(item),
            AnySink::File(_) | AnySink::Tdengine(_) | AnySink::TablestoreTimeseries(_) => Ok(()),
        }
    }
}

impl Sink for AnySink {
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut driver::Driver) -> Result<WriteReport, SinkError> {
        match self {
            AnySink::File(sink) => sink.write(items, driver).await,
            AnySink::Tdengine(sink) => sink.write(items, driver).await,
            AnySink::MaxCompute(sink) => sink.write(items, driver).await,
            AnySink::Tablestore(sink) => sink.write(items, driver).await,
            AnySink::TablestoreTimeseries(sink) => sink.write(items, driver).await,
        }
    }
}
