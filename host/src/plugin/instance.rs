//! One sandboxed plugin instance: a `Store` with limits, configured with the connector's
//! settings. After any trap the instance is unusable and must be dropped.

use std::sync::Arc;

use wasmtime::{Store, Trap};

use super::bindings::{KafkaRecord, Parser, PluginError, RecordResult};
use super::host_state::HostState;
use super::limits::PluginLimits;
use super::LoadedPlugin;

/// Why a call into the sandbox failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxFailureKind {
    /// The guest trapped (panic, unreachable, out-of-bounds access, contract violation).
    Trap,
    /// The call ran past its deadline.
    Timeout,
    /// The guest tried to grow memory past the cap.
    Memory,
}

impl SandboxFailureKind {
    /// The reason code used in dead-letter headers and logs.
    pub fn code(self) -> &'static str {
        match self {
            SandboxFailureKind::Trap => "trap",
            SandboxFailureKind::Timeout => "timeout",
            SandboxFailureKind::Memory => "memory",
        }
    }
}

/// A failed call into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxFailure {
    /// What kind of failure.
    pub kind: SandboxFailureKind,
    /// Details for the operator.
    pub message: String,
}

impl std::fmt::Display for SandboxFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

/// Why a fresh instance could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// Instantiation itself failed (a start function trapped, linking failed, ...).
    #[error("instantiating the plugin failed: {0}")]
    Instantiate(SandboxFailure),
    /// The plugin refused the settings.
    #[error("the plugin refused its settings: {}{}", .0.message, .0.field.as_ref().map(|f| format!(" (setting `{f}`)")).unwrap_or_default())]
    Configure(PluginError),
    /// `configure` trapped or timed out.
    #[error("the plugin failed while configuring: {0}")]
    ConfigureFailed(SandboxFailure),
}

/// A live, configured plugin instance owned by one worker.
pub struct PluginInstance {
    plugin: Arc<LoadedPlugin>,
    store: Store<HostState>,
    bindings: Parser,
    limits: PluginLimits,
}

impl PluginInstance {
    /// Instantiates `plugin` and runs `configure(settings)` under `limits`.
    pub fn new(
        plugin: Arc<LoadedPlugin>,
        settings: &[(String, String)],
        limits: PluginLimits,
        label: Arc<str>,
    ) -> Result<Self, InstanceError> {
        let mut store = Store::new(&plugin.engine, HostState::new(label, &limits));
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits.deadline_ticks());
        let bindings = match plugin.pre.instantiate(&mut store) {
            Ok(bindings) => bindings,
            Err(error) => {
                let stderr = store.data().drain_stdio();
                return Err(InstanceError::Instantiate(classify(&store, error, &limits, stderr)));
            }
        };
        let mut instance = Self { plugin, store, bindings, limits };
        instance.configure(settings)?;
        Ok(instance)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), InstanceError> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks());
        let result = self.bindings.sluice_plugin_parsing().call_configure(&mut self.store, settings);
        let stderr = self.store.data().drain_stdio();
        match result {
            Ok(Ok(())) => Ok(()),
            Ok(Err(refusal)) => Err(InstanceError::Configure(refusal)),
            Err(error) => Err(InstanceError::ConfigureFailed(classify(&self.store, error, &self.limits, stderr))),
        }
    }

    /// Parses a batch. On `Err` the instance has trapped and must be dropped.
    pub fn parse(&mut self, batch: &[KafkaRecord]) -> Result<Vec<RecordResult>, SandboxFailure> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks());
        let result = self.bindings.sluice_plugin_parsing().call_parse(&mut self.store, batch);
        let stderr = self.store.data().drain_stdio();
        let results = result.map_err(|error| classify(&self.store, error, &self.limits, stderr))?;
        if results.len() != batch.len() {
            return Err(SandboxFailure {
                kind: SandboxFailureKind::Trap,
                message: format!(
                    "contract violation: the plugin returned {} results for {} records",
                    results.len(),
                    batch.len()
                ),
            });
        }
        Ok(results)
    }
}

/// Names the failure and keeps the message short: the trap itself (not the whole wasm
/// backtrace) plus the end of what the guest wrote to stderr, where panics are reported.
fn classify(
    store: &Store<HostState>,
    error: wasmtime::Error,
    limits: &PluginLimits,
    stderr: Option<String>,
) -> SandboxFailure {
    let trap = error.downcast_ref::<Trap>().copied();
    let (kind, mut message) = if store.data().limiter.exceeded {
        (
            SandboxFailureKind::Memory,
            format!(
                "the plugin tried to use more than {} bytes of memory (parser.memory.max.bytes)",
                limits.max_memory_bytes
            ),
        )
    } else if trap == Some(Trap::Interrupt) {
        (
            SandboxFailureKind::Timeout,
            format!("the plugin did not return within {} ms (parser.timeout.ms)", limits.call_timeout.as_millis()),
        )
    } else {
        let reason = match trap {
            Some(trap) => trap.to_string(),
            None => error.root_cause().to_string(),
        };
        (SandboxFailureKind::Trap, format!("the plugin trapped: {reason}"))
    };
    if let Some(stderr) = stderr.filter(|s| !s.is_empty()) {
        message.push_str("; its stderr ends with: ");
        message.push_str(&stderr);
    }
    SandboxFailure { kind, message }
}
