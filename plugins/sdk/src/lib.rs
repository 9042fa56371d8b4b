//! Guest SDK for sluice record parser plugins.
//!
//! A plugin is a WebAssembly component implementing the `sluice:plugin/compact-parser` world
//! (`wit/types.wit`): the `parsing` interface, and `compact-parsing`, which returns the same
//! results in one buffer ([`compact`]) and is what the host calls. This crate hides the
//! generated bindings: implement [`Parser`] on a type and call [`export_parser!`] once in the
//! plugin crate.
//!
//! ```
//! use sluice_plugin_sdk::{export_parser, row, KafkaRecord, Output, Parser, PluginError, Settings};
//!
//! struct Echo;
//!
//! impl Parser for Echo {
//!     fn configure(_settings: Settings) -> Result<Self, PluginError> {
//!         Ok(Echo)
//!     }
//!
//!     fn parse_one(&mut self, record: &KafkaRecord) -> Result<Vec<Output>, PluginError> {
//!         let offset = record.offset;
//!         Ok(vec![row().key("offset", offset).build().into()])
//!     }
//! }
//!
//! export_parser!(Echo);
//! ```
//!
//! Crates using the SDK also compile for the native target, so their parsing logic can be
//! unit-tested and benchmarked without a WebAssembly runtime: there [`export_parser!`]
//! expands to nothing and [`log()`] writes to standard error.
#![warn(missing_docs)]

pub mod alloc;
#[doc(hidden)]
pub mod bindings;
mod builders;
pub mod compact;
mod error;
pub mod log;
mod parser;
mod settings;
mod value;

pub use bindings::sluice::plugin::types::{
    Column, Header, KafkaRecord, Level, Output, PluginError, Point, Raw, RecordResult, Row, Value, WriteKind,
};
pub use builders::{point, raw, row, PointBuilder, RowBuilder};
pub use log::log;
pub use parser::Parser;
pub use settings::Settings;

/// Version of this SDK crate.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Version of the WIT contract (`sluice:plugin@0.2.0`) this SDK implements.
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Implementation details used by [`export_parser!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::parser::Export;
}

/// Export a [`Parser`] implementation as the component's `parsing` interface.
///
/// Call it exactly once, at the top level of the plugin crate: `export_parser!(MyParser);`.
/// On non-wasm targets it expands to nothing, so the crate still builds natively.
#[macro_export]
macro_rules! export_parser {
    ($parser:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            type __SluiceParserExport = $crate::__private::Export<$parser>;
            $crate::bindings::export! { __SluiceParserExport with_types_in $crate::bindings }
        };
    };
}
