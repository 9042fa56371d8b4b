//! Integration tests: the host against an embedded Kafka-protocol broker, with real
//! components in the real sandbox, asserting on what arrived where.

mod cli;
mod dead_letter;
mod delivery;
mod deploy;
mod distributed;
mod docs;
mod examples;
mod explain;
mod maxcompute;
mod plugins;
mod replay;
mod rest;
mod sandbox;
mod schema_check;
mod shadow;
mod status_page;
mod swap;
mod tablestore;
mod tablestore_timeseries;
mod tdengine;
mod util;
