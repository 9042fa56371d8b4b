//! The host's record and output model: what the source reads from Kafka and what a parser
//! turns each record into. The source, pipeline, error paths and sinks see only these types;
//! [`crate::plugin`] converts them to and from a plugin contract's own types at the sandbox
//! boundary, so a new contract version changes the plugin module and nothing else.
//!
//! Names, text and bytes in outputs are [`ByteString`] / [`Bytes`]: slices of the buffer a
//! batch's outputs were read from (see `plugin::compact`), shared rather than copied, so a
//! batch costs one allocation for all its names and values instead of one per column.

use std::sync::Arc;

pub use bytes::Bytes;
pub use bytestring::ByteString;

/// One Kafka record header. Kafka allows a header without a value, hence the option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header key, as produced.
    pub key: String,
    /// Raw header value bytes, or none for a null header value.
    pub value: Option<Vec<u8>>,
}

/// One Kafka record as the host consumed it, bytes untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// Topic the record was read from (shared by the records of one topic).
    pub topic: Arc<str>,
    /// Partition within the topic.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
    /// Record timestamp in milliseconds since the Unix epoch, when the broker has one.
    pub timestamp_ms: Option<i64>,
    /// Record key bytes; none for a null key.
    pub key: Option<Vec<u8>>,
    /// Record value bytes; none for a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// Record headers in the order they were produced.
    pub headers: Vec<Header>,
}

impl KafkaRecord {
    /// The key, value and header bytes of the record: what it weighs against
    /// `sluice.max.inflight.bytes`.
    pub fn payload_bytes(&self) -> usize {
        self.key.as_ref().map_or(0, Vec::len)
            + self.value.as_ref().map_or(0, Vec::len)
            + self.headers.iter().map(|h| h.key.len() + h.value.as_ref().map_or(0, Vec::len)).sum::<usize>()
    }
}

/// A typed value. Each sink down-converts it to its column type and reports a per-record
/// error naming the column when it does not fit.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL / absent.
    Null,
    /// A boolean.
    Boolean(bool),
    /// Signed 8-bit integer.
    Int8(i8),
    /// Signed 16-bit integer.
    Int16(i16),
    /// Signed 32-bit integer.
    Int32(i32),
    /// Signed 64-bit integer.
    Int64(i64),
    /// Unsigned 8-bit integer.
    Uint8(u8),
    /// Unsigned 16-bit integer.
    Uint16(u16),
    /// Unsigned 32-bit integer.
    Uint32(u32),
    /// Unsigned 64-bit integer.
    Uint64(u64),
    /// 32-bit IEEE float.
    Float32(f32),
    /// 64-bit IEEE float.
    Float64(f64),
    /// UTF-8 text.
    Text(ByteString),
    /// Opaque bytes.
    Binary(Bytes),
    /// A point in time, in microseconds since the Unix epoch (UTC).
    TimestampUs(i64),
}

/// A named value: one column of a row or one field of a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column or field name.
    pub name: ByteString,
    /// The typed value.
    pub value: Value,
}

/// How a row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// Replace the whole row.
    Put,
    /// Change only the given columns; `deleted_columns` are removed.
    Update,
    /// Delete the row identified by the primary key.
    Delete,
}

/// A row for a table-shaped destination (Tablestore data tables, MaxCompute tables).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Destination table; when none, the connector's naming rule decides.
    pub table: Option<ByteString>,
    /// Put, update or delete.
    pub kind: WriteKind,
    /// Primary key columns, in key order.
    pub primary_key: Vec<Column>,
    /// Data (attribute) columns.
    pub columns: Vec<Column>,
    /// In update mode: attribute columns to delete.
    pub deleted_columns: Vec<ByteString>,
}

/// A time-series point (Tablestore time-series tables, TDengine super tables).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Destination table; when none, the connector's naming rule decides.
    pub table: Option<ByteString>,
    /// Measurement (metric) name.
    pub measurement: ByteString,
    /// Data source (for example a host name); may be empty.
    pub data_source: ByteString,
    /// Tags identifying the timeline, in the order given.
    pub tags: Vec<(ByteString, ByteString)>,
    /// Time of the point in microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// Field values of the point.
    pub fields: Vec<Column>,
}

/// Bytes already in the destination's native text form, passed through as-is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raw {
    /// The form of `data`, for example `line`, `telnet` or `json` for TDengine.
    pub format: ByteString,
    /// The payload, usually UTF-8 text.
    pub data: Bytes,
}

/// One thing a record turns into. A record may produce zero, one or many outputs.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A table row.
    Row(Row),
    /// A time-series point.
    Point(Point),
    /// A pre-encoded payload.
    Raw(Raw),
}

/// A parser's reason for rejecting a record (or a configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginError {
    /// Short machine-readable code, for example `invalid-json`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// The field (or setting key) the error is about, if any.
    pub field: Option<String>,
}
