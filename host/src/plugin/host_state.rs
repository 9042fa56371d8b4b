//! Per-store state of a plugin instance: the deny-all WASI context, captured stdio, the
//! memory limiter, and the implementation of the contract's `log` import.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::limits::{MemoryLimiter, PluginLimits};

/// Longest log message a plugin may emit; longer ones are truncated.
const MAX_LOG_MESSAGE: usize = 4096;

/// State owned by one plugin `Store`.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// Enforces the memory cap.
    pub limiter: MemoryLimiter,
    /// What the guest wrote to stdout during the current call (capped).
    pub stdout: CappedPipe,
    /// What the guest wrote to stderr during the current call (capped).
    pub stderr: CappedPipe,
    /// Names the plugin and connector in log lines.
    pub label: Arc<str>,
}

impl HostState {
    /// A fresh state: no files, no environment, no arguments, empty stdin, no network.
    pub fn new(label: Arc<str>, limits: &PluginLimits) -> Self {
        let stdout = CappedPipe::new(limits.max_stdio_bytes);
        let stderr = CappedPipe::new(limits.max_stdio_bytes);
        let mut builder = WasiCtx::builder();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .socket_addr_check(|_, _| Box::pin(async { false }));
        Self {
            wasi: builder.build(),
            table: ResourceTable::new(),
            limiter: MemoryLimiter::new(limits.max_memory_bytes),
            stdout,
            stderr,
            label,
        }
    }

    /// Moves captured guest stdout/stderr into the host log and clears the buffers. Returns
    /// the end of what was written to stderr (a panic message, typically) for error reports.
    pub fn drain_stdio(&self) -> Option<String> {
        let mut stderr_tail = None;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if let Some((text, dropped)) = pipe.take() {
                if stream == "stderr" {
                    stderr_tail = Some(tail(text.trim_end(), 512).to_string());
                }
                let plugin = &*self.label;
                if dropped > 0 {
                    tracing::info!(plugin, stream, dropped_bytes = dropped, "{}", text.trim_end());
                } else {
                    tracing::info!(plugin, stream, "{}", text.trim_end());
                }
            }
        }
        stderr_tail
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl HostState {
    /// The plugin's `log` import (of any contract version): the message, truncated, in the
    /// host's log tagged with the plugin.
    pub fn write_log(&mut self, level: tracing::Level, message: &str) {
        let plugin = &*self.label;
        let message = truncate(message, MAX_LOG_MESSAGE);
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{message}"),
            tracing::Level::INFO => tracing::info!(plugin, "{message}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{message}"),
            _ => tracing::error!(plugin, "{message}"),
        }
    }
}

fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An output stream that keeps the first `capacity` bytes and silently counts the rest.
///
/// Unlike wasmtime's `MemoryOutputPipe` it never fails a write, so a chatty plugin is not
/// turned into a trapping one.
#[derive(Clone)]
pub struct CappedPipe {
    capacity: usize,
    inner: Arc<Mutex<CappedBuffer>>,
}

#[derive(Default)]
struct CappedBuffer {
    kept: Vec<u8>,
    dropped: usize,
}

impl CappedPipe {
    /// A pipe keeping at most `capacity` bytes between drains.
    pub fn new(capacity: usize) -> Self {
        Self { capacity, inner: Arc::default() }
    }

    fn push(&self, bytes: &[u8]) {
        let mut buffer = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.capacity.saturating_sub(buffer.kept.len());
        let keep = room.min(bytes.len());
        buffer.kept.extend_from_slice(&bytes[..keep]);
        buffer.dropped += bytes.len() - keep;
    }

    /// Takes what was written so far (lossy UTF-8) and how many bytes were dropped.
    pub fn take(&self) -> Option<(String, usize)> {
        let mut buffer = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if buffer.kept.is_empty() && buffer.dropped == 0 {
            return None;
        }
        let taken = std::mem::take(&mut *buffer);
        Some((String::from_utf8_lossy(&taken.kept).into_owned(), taken.dropped))
    }
}

impl IsTerminal for CappedPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for CappedPipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CappedPipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CappedPipe {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_pipe_keeps_prefix_and_counts_the_rest() {
        let pipe = CappedPipe::new(4);
        pipe.push(b"abcdef");
        pipe.push(b"gh");
        assert_eq!(pipe.take(), Some(("abcd".to_string(), 4)));
        assert_eq!(pipe.take(), None);
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
