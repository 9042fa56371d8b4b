//! Kafka: the consumer that feeds connectors, offset tracking and commits, the embedded
//! broker, and the `produce` helper.

pub mod client;
pub mod consumer;
pub mod embedded;
pub mod fetch;
pub mod group;
pub mod offsets;
pub mod produce;
