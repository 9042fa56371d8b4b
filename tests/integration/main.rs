//! Integration tests: the host against an embedded Kafka-protocol broker, with real
//! components in the real sandbox, asserting on what arrived where.

mod cli;
mod dead_letter;
mod delivery;
mod docs;
mod examples;
mod maxcompute;
mod plugins;
mod rest;
mod sandbox;
mod shadow;
mod status_page;
mod swap;
mod tablestore;
mod tablestore_timeseries;
mod tdengine;
mod util;
