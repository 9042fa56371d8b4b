//! The debugging sink: Kafka Connect's `FileStreamSink` class name and `file` key, writing
//! one JSON line per parser output with the record's topic, partition and offset.

mod sink;

pub use sink::FileSink;

use crate::config::KeySet;

/// Keys of the file sink.
pub const FILE_KEYS: KeySet<'static> = KeySet { keys: &["file"], prefixes: &[] };
