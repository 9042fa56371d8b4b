//! The MaxCompute sink: a drop-in for the ApsaraMQ / open-source MaxCompute sink connector
//! (`com.aliyun.odps.kafka.connect.MaxComputeSinkConnector`), writing rows through the
//! Tunnel service's batch upload sessions: one session per partition value per write,
//! blocks in the protobuf record stream format, committed before offsets are acknowledged.

mod client;
mod config;
mod partition;
mod record;
mod request;
mod retry;
mod schema;
mod sink;

pub use config::{batching, error_policy, MaxComputeConfig, PartitionTime, MAXCOMPUTE_KEYS};
pub use partition::{PartitionFormat, Window, Zone};
pub use record::{Cell, RecordWriter};
pub use sink::MaxComputeSink;
