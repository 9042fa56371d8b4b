//! sluice: a single-binary replacement for Kafka Connect sink connectors, with record parsing
//! in sandboxed WebAssembly components.
//!
//! Data flows one way: [`config`] → [`source`] (Kafka) → [`pipeline`] (batching, ordering,
//! acknowledgements; [`converters`] and [`transforms`] before parsing) → [`plugin`] (wasmtime)
//! → [`sinks`] → acknowledgements back to [`source`] → offset commits. [`model`] is the record
//! and output model they share. [`worker`] supervises the connectors; [`api`] serves Kafka
//! Connect's REST API, metrics and health through it.
//! [`explain`] runs records through those stages and shows what the sink would send, writing
//! nothing.

#![warn(missing_docs)]

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod converters;
pub mod explain;
pub mod fuzzing;
pub mod logging;
pub mod model;
pub mod pipeline;
pub mod plugin;
pub mod sinks;
pub mod source;
pub mod transforms;
pub mod worker;
