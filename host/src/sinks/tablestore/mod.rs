//! Alibaba Cloud Tablestore data tables (Wide Column model) and time-series tables
//! (TimeSeries model: `flatbuf`, `timeseries`, `timeseries_sink`), a drop-in for
//! aliyun/kafka-connect-tablestore. The client (`client`, `signing`, `protocol`,
//! `plainbuffer`, `retry`) is independent of the data-table driver (`config`, `request`,
//! `table`, `sink`, `error_table`) so other Tablestore sinks can share it.

pub mod client;
pub mod config;
pub mod error_table;
pub mod flatbuf;
pub mod plainbuffer;
pub mod protocol;
pub mod request;
pub mod retry;
pub mod signing;
mod sink;
pub mod table;
pub mod timeseries;
mod timeseries_sink;

pub use config::TABLESTORE_KEYS;
pub use error_table::ErrorTable;
pub use sink::TablestoreSink;
pub use timeseries_sink::TimeseriesSink;

/// Connector classes of the Java connector (full name and alias).
pub const CLASSES: &[&str] =
    &["com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector", "TableStoreSinkConnector"];
