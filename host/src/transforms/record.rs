//! The record the transforms work on: a Kafka Connect `SinkRecord` after the converters, with
//! keys, values and headers as JSON values that follow an optional [`Schema`].

use serde_json::Value;

use super::schema::Schema;

/// A key, value or header value after its converter.
///
/// With a schema, `value` is in JsonConverter's payload form for that schema: structs are JSON
/// objects holding every field of the schema in the schema's order, bytes and `Decimal`s are
/// base64 strings (a `Decimal` is its unscaled big-endian two's complement bytes), `Date` is
/// int32 days, `Time` int32 milliseconds since midnight, `Timestamp` int64 milliseconds, maps
/// with non-string keys are arrays of `[key, value]` pairs, FLOAT32 values are the `f64`
/// nearest to their shortest `f32` form. Without a schema (`schema: None`) it is plain JSON, as
/// JsonConverter with `schemas.enable=false` reads it (objects are Kafka Connect `Map`s).
/// `Value::Null` is null; a record whose value is null without a schema is a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    /// The schema; `None` for schemaless data.
    pub schema: Option<Schema>,
    /// The value, in the form described above.
    pub value: Value,
}

impl Data {
    /// Data with an optional schema.
    pub fn new(schema: Option<Schema>, value: Value) -> Self {
        Data { schema, value }
    }

    /// Schemaless data.
    pub fn schemaless(value: Value) -> Self {
        Data { schema: None, value }
    }

    /// Null without a schema (a tombstone value, or a missing key).
    pub fn null() -> Self {
        Data { schema: None, value: Value::Null }
    }

    /// True when the value is null.
    pub fn is_null(&self) -> bool {
        self.value.is_null()
    }
}

/// One record header, after the header converter.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// The header's name (names may repeat).
    pub key: String,
    /// The header's value.
    pub value: Data,
}

impl Header {
    /// A header named `key` holding `value`.
    pub fn new(key: impl Into<String>, value: Data) -> Self {
        Header { key: key.into(), value }
    }
}

/// A sink record as Kafka Connect's transforms see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectRecord {
    /// The topic; routers change it, sinks read it to name tables.
    pub topic: String,
    /// The Kafka partition.
    pub partition: i32,
    /// The Kafka offset.
    pub offset: i64,
    /// The record timestamp in milliseconds since the epoch, when the record has one.
    pub timestamp_ms: Option<i64>,
    /// The key.
    pub key: Data,
    /// The value.
    pub value: Data,
    /// The headers, in order.
    pub headers: Vec<Header>,
}

/// The key or the value of a record: what a transform's `$Key` / `$Value` variant works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl Part {
    /// `key` or `value`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Part::Key => "key",
            Part::Value => "value",
        }
    }
}

impl ConnectRecord {
    /// The key or the value.
    pub fn part(&self, part: Part) -> &Data {
        match part {
            Part::Key => &self.key,
            Part::Value => &self.value,
        }
    }

    /// The key or the value, to change.
    pub fn part_mut(&mut self, part: Part) -> &mut Data {
        match part {
            Part::Key => &mut self.key,
            Part::Value => &mut self.value,
        }
    }
}
