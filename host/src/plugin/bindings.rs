//! Host bindings for the `sluice:plugin@0.1.0` contract, generated from `wit/`.
//!
//! The generated code stays private to this module; the rest of the host uses the
//! re-exported types below.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "parser",
    });
}

pub use generated::sluice::plugin::log::add_to_linker as add_log_to_linker;
pub use generated::sluice::plugin::log::Host as LogHost;
pub use generated::sluice::plugin::types::{
    Column, Header, KafkaRecord, Level, Output, PluginError, Point, Raw, Row, Value, WriteKind,
};
pub use generated::{Parser, ParserPre};

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";
/// The package name of the contract.
pub const CONTRACT_PACKAGE: &str = "sluice:plugin";

/// The outcome of parsing one record: its outputs or the plugin's reason for rejecting it.
pub type RecordResult = Result<Vec<Output>, PluginError>;
