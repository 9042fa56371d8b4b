//! Sandbox limits for plugin instances: wall-clock deadline per call and a memory cap.

use std::time::Duration;

/// How often the engine's epoch advances; deadlines are rounded up to this granularity.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Limits applied to every plugin instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PluginLimits {
    /// Longest a single `configure` or `parse` call may run before it is interrupted.
    pub call_timeout: Duration,
    /// Largest linear memory (per memory) an instance may grow to, in bytes.
    pub max_memory_bytes: usize,
    /// How much of the guest's stdout and stderr (each, per call) is kept for the log.
    pub max_stdio_bytes: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self { call_timeout: Duration::from_secs(5), max_memory_bytes: 256 << 20, max_stdio_bytes: 64 << 10 }
    }
}

impl PluginLimits {
    /// The call timeout expressed in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        let ticks = self.call_timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Tracks memory growth of one store and refuses growth past the cap.
///
/// Refusing with an error (rather than returning `false`) turns the growth into a trap, and
/// `exceeded` lets the caller report the failure as `memory` rather than a generic trap.
#[derive(Debug)]
pub struct MemoryLimiter {
    max_memory_bytes: usize,
    /// Set once a growth request went past the cap.
    pub exceeded: bool,
}

impl MemoryLimiter {
    /// A limiter enforcing `max_memory_bytes`.
    pub fn new(max_memory_bytes: usize) -> Self {
        Self { max_memory_bytes, exceeded: false }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.max_memory_bytes {
            self.exceeded = true;
            wasmtime::bail!(
                "plugin memory limit of {} bytes exceeded (it asked for {desired} bytes)",
                self.max_memory_bytes
            );
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
