//! Host bindings for the `sluice:plugin` contract versions this host supports (0.1.0 and
//! 0.2.0, generated from `wit/0.1.0/` and `wit/`), and the conversions between the
//! contract's types and the host's model ([`crate::model`]).
//!
//! The generated types stay private to the plugin module: records are lowered into the
//! sandbox from borrowed views of the host's records (no copy on the host side), and what a
//! plugin returns is lifted into the generated types and moved into the host's, or read from
//! the compact encoding ([`super::compact`]). The shapes of `kafka-record`, `parse` and
//! `configure` are the same in both versions, so one set of calls serves both.

use wasmtime::component::{ComponentType, Lower};

use crate::model;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "compact-parser",
    });
}

mod generated_v0_1 {
    wasmtime::component::bindgen!({
        path: "../wit/0.1.0",
        world: "parser",
    });
}

use generated::sluice::plugin::types as wit;

/// The contract version this host implements (the newest; older supported ones are in
/// [`SUPPORTED_VERSIONS`]).
pub const CONTRACT_VERSION: &str = "0.2.0";
/// Every contract version the host loads plugins of.
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];
/// The package name of the contract.
pub const CONTRACT_PACKAGE: &str = "sluice:plugin";

/// The name of the `parsing` export of contract `version`.
pub fn parsing_export(version: &str) -> String {
    format!("{CONTRACT_PACKAGE}/parsing@{version}")
}

/// The name of the optional `compact-parsing` export of contract `version`.
pub fn compact_export(version: &str) -> String {
    format!("{CONTRACT_PACKAGE}/compact-parsing@{version}")
}

/// Links the `log` import of every supported version to the host's log.
pub fn add_log_to_linker(linker: &mut wasmtime::component::Linker<super::HostState>) -> wasmtime::Result<()> {
    use wasmtime::component::HasSelf;
    generated::sluice::plugin::log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    generated_v0_1::sluice::plugin::log::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    Ok(())
}

impl generated::sluice::plugin::log::Host for super::HostState {
    fn log(&mut self, level: wit::Level, message: String) {
        let level = match level {
            wit::Level::Trace => tracing::Level::TRACE,
            wit::Level::Debug => tracing::Level::DEBUG,
            wit::Level::Info => tracing::Level::INFO,
            wit::Level::Warn => tracing::Level::WARN,
            wit::Level::Error => tracing::Level::ERROR,
        };
        self.write_log(level, &message);
    }
}

impl generated_v0_1::sluice::plugin::log::Host for super::HostState {
    fn log(&mut self, level: generated_v0_1::sluice::plugin::types::Level, message: String) {
        use generated_v0_1::sluice::plugin::types::Level;
        let level = match level {
            Level::Trace => tracing::Level::TRACE,
            Level::Debug => tracing::Level::DEBUG,
            Level::Info => tracing::Level::INFO,
            Level::Warn => tracing::Level::WARN,
            Level::Error => tracing::Level::ERROR,
        };
        self.write_log(level, &message);
    }
}

impl generated::sluice::plugin::types::Host for super::HostState {}
impl generated_v0_1::sluice::plugin::types::Host for super::HostState {}

/// What `configure` returns, as the contract lifts it.
pub type WitConfigureResult = Result<(), wit::PluginError>;

/// The outcome of parsing one record: its outputs or the plugin's reason for rejecting it.
pub type RecordResult = Result<Vec<model::Output>, model::PluginError>;

/// What `parse` returns, as the contract lifts it.
pub type WitRecordResults = Vec<Result<Vec<wit::Output>, wit::PluginError>>;

/// A host record as the contract's `kafka-record`, borrowing its bytes.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct RecordView<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    #[component(name = "timestamp-ms")]
    timestamp_ms: Option<i64>,
    key: Option<&'a [u8]>,
    value: Option<&'a [u8]>,
    headers: Vec<HeaderView<'a>>,
}

/// A host header as the contract's `header`.
#[derive(ComponentType, Lower)]
#[component(record)]
pub struct HeaderView<'a> {
    key: &'a str,
    value: Option<&'a [u8]>,
}

impl<'a> From<&'a model::KafkaRecord> for RecordView<'a> {
    fn from(record: &'a model::KafkaRecord) -> Self {
        Self {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp_ms,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: record.headers.iter().map(|h| HeaderView { key: &h.key, value: h.value.as_deref() }).collect(),
        }
    }
}

/// Moves what a plugin returned for one record into the host's model.
pub fn record_result(result: Result<Vec<wit::Output>, wit::PluginError>) -> RecordResult {
    match result {
        Ok(outputs) => Ok(outputs.into_iter().map(output).collect()),
        Err(error) => Err(plugin_error(error)),
    }
}

/// The host's form of a plugin's refusal.
pub fn plugin_error(error: wit::PluginError) -> model::PluginError {
    model::PluginError { code: error.code, message: error.message, field: error.field }
}

fn output(output: wit::Output) -> model::Output {
    match output {
        wit::Output::Row(row) => model::Output::Row(model::Row {
            table: row.table.map(Into::into),
            kind: match row.kind {
                wit::WriteKind::Put => model::WriteKind::Put,
                wit::WriteKind::Update => model::WriteKind::Update,
                wit::WriteKind::Delete => model::WriteKind::Delete,
            },
            primary_key: columns(row.primary_key),
            columns: columns(row.columns),
            deleted_columns: row.deleted_columns.into_iter().map(Into::into).collect(),
        }),
        wit::Output::Point(point) => model::Output::Point(model::Point {
            table: point.table.map(Into::into),
            measurement: point.measurement.into(),
            data_source: point.data_source.into(),
            tags: point.tags.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
            time_us: point.time_us,
            fields: columns(point.fields),
        }),
        wit::Output::Raw(raw) => model::Output::Raw(model::Raw { format: raw.format.into(), data: raw.data.into() }),
    }
}

fn columns(columns: Vec<wit::Column>) -> Vec<model::Column> {
    columns.into_iter().map(|c| model::Column { name: c.name.into(), value: value(c.value) }).collect()
}

fn value(value: wit::Value) -> model::Value {
    use model::Value as V;
    match value {
        wit::Value::Null => V::Null,
        wit::Value::Boolean(v) => V::Boolean(v),
        wit::Value::Int8(v) => V::Int8(v),
        wit::Value::Int16(v) => V::Int16(v),
        wit::Value::Int32(v) => V::Int32(v),
        wit::Value::Int64(v) => V::Int64(v),
        wit::Value::Uint8(v) => V::Uint8(v),
        wit::Value::Uint16(v) => V::Uint16(v),
        wit::Value::Uint32(v) => V::Uint32(v),
        wit::Value::Uint64(v) => V::Uint64(v),
        wit::Value::Float32(v) => V::Float32(v),
        wit::Value::Float64(v) => V::Float64(v),
        wit::Value::Text(v) => V::Text(v.into()),
        wit::Value::Binary(v) => V::Binary(v.into()),
        wit::Value::TimestampUs(v) => V::TimestampUs(v),
    }
}
