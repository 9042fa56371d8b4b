//! Sinks: where parsed outputs are written. Every sink implements [`Sink`]; the pipeline
//! hands it batches of successfully parsed records and acknowledges a record's offset only
//! after `write` returned with that record not listed as failed.

pub mod file;
pub mod tablestore;

use std::future::Future;

use crate::config::{ConnectorConfig, KeySet};
use crate::plugin::{KafkaRecord, Output};

/// One parsed record on its way into a sink.
#[derive(Debug, Clone, Copy)]
pub struct SinkItem<'a> {
    /// The source record (its coordinates name the record in errors).
    pub record: &'a KafkaRecord,
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

/// A failure of the whole write.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying (throttling, timeouts, 5xx); nothing in the batch counts as written.
    #[error("retryable: {0}")]
    Retryable(String),
    /// Not worth retrying (bad credentials, missing permissions): the connector fails.
    #[error("{0}")]
    Fatal(String),
}

/// A destination. `write` returns only once every item not listed in the report is durably
/// handed to the destination.
pub trait Sink: Send + 'static {
    /// Writes a batch (in partition order).
    fn write(&mut self, items: &[SinkItem<'_>]) -> impl Future<Output = Result<WriteReport, SinkError>> + Send;
}

/// The sinks this build has, chosen by `connector.class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkKind {
    /// Kafka Connect's `FileStreamSink`: JSON Lines of outputs into `file` (stdout when
    /// `file` is not set, as in Kafka Connect).
    File,
    /// JSON Lines of outputs on standard output.
    Stdout,
    /// Alibaba Cloud Tablestore data tables (`TableStoreSinkConnector`).
    Tablestore,
}

/// Connector classes that come with later sinks; named so the error is helpful.
const PLANNED_CLASSES: &[&str] = &[
    "com.taosdata.kafka.connect.sink.TDengineSinkConnector",
    "TDengineSinkConnector",
    "com.aliyun.odps.kafka.connect.MaxComputeSinkConnector",
    "MaxComputeSinkConnector",
];

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
            other if PLANNED_CLASSES.contains(&other) => anyhow::bail!(
                "`{other}` is not available in this build of sluice yet; available: FileStreamSink, stdout, TableStoreSinkConnector"
            ),
            other => anyhow::bail!(
                "unknown connector class `{other}`; available: \
                 org.apache.kafka.connect.file.FileStreamSinkConnector (FileStreamSink), stdout, \
                 com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector (TableStoreSinkConnector)"
            ),
        }
    }

    /// Keys specific to this sink.
    pub fn keys(self) -> KeySet<'static> {
        match self {
            SinkKind::File => file::FILE_KEYS,
            SinkKind::Stdout => KeySet { keys: &[], prefixes: &[] },
            SinkKind::Tablestore => tablestore::TABLESTORE_KEYS,
        }
    }

    /// Checks the sink's own keys when the connector file is loaded (before anything runs).
    pub fn validate(self, config: &ConnectorConfig) -> anyhow::Result<()> {
        match self {
            SinkKind::Tablestore => tablestore::config::TablestoreConfig::from_connector(config).map(drop),
            SinkKind::File | SinkKind::Stdout => Ok(()),
        }
    }

    /// The built-in parser used when the connector names none.
    pub fn default_parser(self) -> &'static str {
        "json"
    }

    /// Opens the sink's shared resources (clients, destination checks); each task lane then
    /// gets its own clone.
    pub async fn open(self, config: &ConnectorConfig) -> anyhow::Result<AnySink> {
        Ok(match self {
            SinkKind::File => match config.raw.get("file") {
                Some(path) => AnySink::File(file::FileSink::open(path.as_ref())?),
                None => AnySink::File(file::FileSink::stdout()),
            },
            SinkKind::Stdout => AnySink::File(file::FileSink::stdout()),
            SinkKind::Tablestore => AnySink::Tablestore(tablestore::TablestoreSink::open(config).await?),
        })
    }
}

/// Any sink of this build, dispatched statically.
#[derive(Clone)]
pub enum AnySink {
    /// File or stdout JSON Lines.
    File(file::FileSink),
    /// Tablestore data tables.
    Tablestore(tablestore::TablestoreSink),
}

impl Sink for AnySink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        match self {
            AnySink::File(sink) => sink.write(items).await,
            AnySink::Tablestore(sink) => sink.write(items).await,
        }
    }
}
