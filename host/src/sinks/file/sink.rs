//! Writing JSON Lines to a file or stdout. All task lanes of a connector share one writer,
//! so lines of one batch stay together and the file is never interleaved mid-line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use serde::Serialize;

use crate::plugin::render;
use crate::sinks::driver::{Driver, Rejected, Response, Service};
use crate::sinks::retry::Outcome;
use crate::sinks::{Preview, Sink, SinkError, SinkItem, WriteReport};

/// One line of the file: the record's coordinates and one output.
#[derive(Serialize)]
struct Line<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    output: render::OutputJson<'a>,
}

/// A JSON Lines writer shared by a connector's lanes.
pub struct FileSink {
    target: Arc<Mutex<Target>>,
    /// The last write's text buffer, kept for the next one: a write renders a few megabytes
    /// at most, and allocating that afresh each time fragments the heap.
    scratch: Vec<u8>,
}

impl Clone for FileSink {
    fn clone(&self) -> Self {
        Self { target: self.target.clone(), scratch: Vec::new() }
    }
}

enum Target {
    File {
        file: File,
        fsync: bool,
    },
    Stdout,
    /// Opened by [`FileSink::preview`]: the `file` it names (none: stdout); never written.
    Preview(Option<String>),
}

impl FileSink {
    /// Appends to `path` (created if missing), cutting off a torn last line; `fsync` makes
    /// every write durable before it is acknowledged.
    pub fn open(path: &Path, fsync: bool) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .with_context(|| format!("opening `file` {} for appending", path.display()))?;
        repair_torn_line(&mut file).with_context(|| format!("repairing the end of {}", path.display()))?;
        Ok(Self { target: Arc::new(Mutex::new(Target::File { file, fsync })), scratch: Vec::new() })
    }

    /// Writes to standard output.
    pub fn stdout() -> Self {
        Self { target: Arc::new(Mutex::new(Target::Stdout)), scratch: Vec::new() }
    }

    /// A sink that only previews ([`FileSink::preview_item`]): it neither opens nor creates
    /// `file`.
    pub fn preview(file: Option<&str>) -> Self {
        Self { target: Arc::new(Mutex::new(Target::Preview(file.map(str::to_string)))), scratch: Vec::new() }
    }

    /// The lines `item` would append, without writing them.
    pub fn preview_item(&self, item: &SinkItem<'_>) -> Result<Vec<Preview>, String> {
        let target = match &*self.target.lock().unwrap_or_else(|e| e.into_inner()) {
            Target::File { .. } => "the output file".to_string(),
            Target::Stdout | Target::Preview(None) => "stdout".to_string(),
            Target::Preview(Some(path)) => format!("file {path}"),
        };
        item.outputs
            .iter()
            .map(|output| {
                let line = Line {
                    topic: &item.record.topic,
                    partition: item.record.partition,
                    offset: item.record.offset,
                    output: render::OutputJson(output),
                };
                let text = serde_json::to_string(&line).map_err(|e| e.to_string())?;
                Ok(Preview { target: target.clone(), request: "append one JSON line".into(), rows: vec![text] })
            })
            .collect()
    }

    /// Writes (and with fsync, syncs) the lines under the lock.
    fn append(&self, text: &[u8]) -> std::io::Result<()> {
        let mut target = self.target.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *target {
            Target::File { file, fsync } => {
                file.write_all(text)?;
                if *fsync {
                    file.sync_data()?;
                }
                Ok(())
            }
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(text)?;
                out.flush()
            }
            Target::Preview(_) => Err(std::io::Error::other("a sink opened for previews writes nothing")),
        }
    }
}

/// A process killed mid-write can leave a torn last line; its records were not committed
/// and will be written again, so the partial line is cut off.
fn repair_torn_line(file: &mut File) -> std::io::Result<()> {
    let length = file.metadata()?.len();
    let mut end = length;
    let mut chunk = [0u8; 4096];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(newline) = part.iter().rposition(|&b| b == b'\n') {
            end = start + newline as u64 + 1;
            break;
        }
        end = start;
    }
    if end < length {
        tracing::warn!(
            bytes = length - end,
            "The output file ends with a torn line (a previous run stopped mid-write); cutting it off. Its \
             records were not committed and are written again."
        );
        file.set_len(end)?;
        file.sync_data()?;
    }
    Ok(())
}

/// The lines of one item: a range of the batch's rendered text, which all items share.
pub struct Lines {
    item: usize,
    batch: Arc<Vec<u8>>,
    range: std::ops::Range<usize>,
}

impl Service for FileSink {
    type Row = Lines;

    fn name(&self) -> &'static str {
        "the output file"
    }

    fn item(&self, row: &Lines) -> usize {
        row.item
    }

    fn plan(&self, _rows: &[Lines], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
        vec![vec![indices]]
    }

    async fn send(&self, rows: &[Lines], request: &[usize]) -> Response {
        // The whole batch in order (the usual request) is one slice of the rendered text;
        // a part of it (after a split) is gathered.
        let adjacent = request.windows(2).all(|pair| {
            let (a, b) = (&rows[pair[0]], &rows[pair[1]]);
            Arc::ptr_eq(&a.batch, &b.batch) && a.range.end == b.range.start
        });
        let mut gathered = Vec::new();
        let text: &[u8] = match (request.first(), request.last()) {
            (Some(&first), Some(&last)) if adjacent => {
                &rows[first].batch[rows[first].range.start..rows[last].range.end]
            }
            _ => {
                for &i in request {
                    gathered.extend_from_slice(&rows[i].batch[rows[i].range.clone()]);
                }
                &gathered
            }
        };
        // File writes are short; do them inline rather than copying the batch to a thread.
        match tokio::task::block_in_place(|| self.append(text)) {
            Ok(()) => Response::Whole(Outcome::Written),
            Err(e) => Response::Whole(Outcome::retry(format!("writing the output file failed: {e}"))),
        }
    }
}

impl Sink for FileSink {
    async fn write(&mut self, items: &[SinkItem<'_>], driver: &mut Driver) -> Result<WriteReport, SinkError> {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let mut ranges = Vec::with_capacity(items.len());
        for (item, entry) in items.iter().enumerate() {
            let start = text.len();
            for output in entry.outputs {
                let line = Line {
                    topic: &entry.record.topic,
                    partition: entry.record.partition,
                    offset: entry.record.offset,
                    output: render::OutputJson(output),
                };
                serde_json::to_writer(&mut text, &line).map_err(|e| SinkError::Fatal(e.to_string()))?;
                text.push(b'\n');
            }
            ranges.push((item, start..text.len()));
        }
        let batch = Arc::new(text);
        let rows: Vec<Lines> =
            ranges.into_iter().map(|(item, range)| Lines { item, batch: batch.clone(), range }).collect();
        let mut rejected = Rejected::new();
        let result = driver.run(&*self, &rows, &mut rejected).await;
        drop(rows);
        if let Ok(text) = Arc::try_unwrap(batch) {
            self.scratch = text;
        }
        result?;
        Ok(WriteReport { rejected: rejected.into_iter().collect() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_last_line_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"a\":2}\n{\"a\":").unwrap();
        drop(FileSink::open(&path, true).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"a\":1}\n{\"a\":2}\n");
        std::fs::write(&path, b"no newline at all").unwrap();
        drop(FileSink::open(&path, true).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"");
        std::fs::write(&path, b"whole\n").unwrap();
        drop(FileSink::open(&path, false).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), b"whole\n");
    }
}
