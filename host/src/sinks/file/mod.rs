//! The debugging sink: Kafka Connect's `FileStreamSink` class name and `file` key, writing
//! one JSON line per parser output with the record's topic, partition and offset. Lines
//! are fsynced before their records are acknowledged (`sluice.file.fsync`), and a line torn
//! by a crash is cut off when the file is opened again.

mod sink;

pub use sink::FileSink;

use crate::config::KeySet;

/// Turns the fsync before acknowledging off (for speed, at the risk of losing the last
/// acknowledged lines in a power failure).
pub const FSYNC_KEY: &str = "sluice.file.fsync";

/// Keys of the file sink.
pub const FILE_KEYS: KeySet<'static> = KeySet { keys: &["file", FSYNC_KEY], prefixes: &[] };
