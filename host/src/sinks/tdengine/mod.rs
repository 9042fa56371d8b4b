//! The TDengine sink: a drop-in for `com.taosdata.kafka.connect.sink.TDengineSinkConnector`
//! writing schemaless line/telnet/JSON data (and encoded `point`s) through taosAdapter's
//! REST API.

mod client;
mod config;
mod encode;
mod retry;
mod sink;

pub use config::{adapter_endpoint, Precision, Protocol, TdengineConfig, TopicDatabases};
pub use encode::{body, gzip, point_line, raw_piece, ColumnTypes, Piece};
pub use sink::TdengineSink;

use crate::config::KeySet;

/// Keys of the TDengine sink: the Java connector's, plus sluice's `tdengine.*` extensions.
pub const TDENGINE_KEYS: KeySet<'static> = KeySet {
    keys: &[
        "connection.url",
        "connection.user",
        "connection.password",
        "connection.database",
        "connection.database.prefix",
        "connection.attempts",
        "connection.backoff.ms",
        "connection.timezone",
        "batch.size",
        "max.retries",
        "retry.backoff.ms",
        "db.schemaless",
        "data.precision",
        "db.charset",
        "tdengine.batch.max.bytes",
        "tdengine.ttl",
        "tdengine.table.name.key",
        "tdengine.request.timeout.ms",
        "tdengine.gzip",
    ],
    prefixes: &[],
};
