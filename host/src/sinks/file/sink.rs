//! Writing JSON Lines to a file or stdout. All task lanes of a connector share one writer,
//! so lines of one batch stay together and the file is never interleaved mid-line.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::Serialize;

use crate::plugin::render;
use crate::sinks::{Sink, SinkError, SinkItem, WriteReport};

/// One line of the file: the record's coordinates and one output.
#[derive(Serialize)]
struct Line<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    output: render::OutputJson<'a>,
}

/// A JSON Lines writer shared by a connector's lanes.
#[derive(Clone)]
pub struct FileSink {
    target: Arc<Mutex<Box<dyn Write + Send>>>,
}

impl FileSink {
    /// Appends to `path` (created if missing).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .with_context(|| format!("opening `file` {} for appending", path.display()))?;
        end_with_newline(&mut file).with_context(|| format!("checking the end of {}", path.display()))?;
        Ok(Self { target: Arc::new(Mutex::new(Box::new(file))) })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self { target: Arc::new(Mutex::new(Box::new(std::io::stdout()))) }
    }

    fn write_lines(&self, items: &[SinkItem<'_>]) -> std::io::Result<()> {
        let mut text = Vec::with_capacity(items.len() * 256);
        for item in items {
            for output in item.outputs {
                let line = Line {
                    topic: &item.record.topic,
                    partition: item.record.partition,
                    offset: item.record.offset,
                    output: render::OutputJson(output),
                };
                serde_json::to_writer(&mut text, &line)?;
                text.push(b'\n');
            }
        }
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        target.write_all(&text)?;
        target.flush()
    }
}

/// A process killed mid-write can leave a torn last line; its records were not committed
/// and will be written again, so end it here to keep the next lines intact.
fn end_with_newline(file: &mut std::fs::File) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let length = file.metadata()?.len();
    if length == 0 {
        return Ok(());
    }
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(length - 1))?;
    file.read_exact(&mut last)?;
    if last[0] != b'\n' {
        tracing::warn!(
            "The output file ends with a torn line (a previous run was killed mid-write); starting on a new line."
        );
        file.write_all(b"\n")?;
    }
    Ok(())
}

impl Sink for FileSink {
    async fn write(&mut self, items: &[SinkItem<'_>]) -> Result<WriteReport, SinkError> {
        let sink = self.clone();
        // Items borrow the batch, so render here and write under the lock; file writes are
        // short enough to do inline.
        tokio::task::block_in_place(|| sink.write_lines(items))
            .map_err(|e| SinkError::Retryable(format!("writing the output file failed: {e}")))?;
        Ok(WriteReport::default())
    }
}
