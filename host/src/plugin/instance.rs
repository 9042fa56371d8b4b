//! One sandboxed plugin instance: a `Store` with limits, configured with the connector's
//! settings. After any trap the instance is unusable and must be dropped.

use std::sync::Arc;

use wasmtime::component::Func;
use wasmtime::{Store, Trap};

use super::bindings::{self, Parser, RecordResult, RecordView, WitRecordResults};
use super::host_state::HostState;
use super::limits::PluginLimits;
use super::LoadedPlugin;
use crate::model::{KafkaRecord, PluginError};

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
    /// `parse`, typed per call for borrowed views of the host's records.
    parse: Func,
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
        let (bindings, parse) = match instantiate(&plugin, &mut store) {
            Ok(found) => found,
            Err(error) => {
                let stderr = store.data().drain_stdio();
                return Err(InstanceError::Instantiate(classify(&store, error, &limits, stderr)));
            }
        };
        let mut instance = Self { plugin, store, bindings, parse, limits };
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
            Ok(Err(refusal)) => Err(InstanceError::Configure(bindings::plugin_error(refusal))),
            Err(error) => Err(InstanceError::ConfigureFailed(classify(&self.store, error, &self.limits, stderr))),
        }
    }

    /// Parses a batch. On `Err` the instance has trapped and must be dropped.
    pub fn parse(&mut self, batch: &[KafkaRecord]) -> Result<Vec<RecordResult>, SandboxFailure> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks());
        let views: Vec<RecordView<'_>> = batch.iter().map(RecordView::from).collect();
        let result = self.parse.typed::<(&[RecordView<'_>],), (WitRecordResults,)>(&self.store).and_then(|parse| {
            let (results,) = parse.call(&mut self.store, (&views,))?;
            Ok(results)
        });
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
        Ok(results.into_iter().map(bindings::record_result).collect())
    }
}

/// Instantiates the component and finds `configure` (through the generated bindings) and
/// `parse` (typed for the host's record views).
fn instantiate(plugin: &LoadedPlugin, store: &mut Store<HostState>) -> wasmtime::Result<(Parser, Func)> {
    let instance = plugin.pre.instance_pre().instantiate(&mut *store)?;
    let bindings = Parser::new(&mut *store, &instance)?;
    let parsing = instance
        .get_export_index(&mut *store, None, bindings::PARSING_EXPORT)
        .ok_or_else(|| wasmtime::format_err!("no export `{}`", bindings::PARSING_EXPORT))?;
    let parse = instance
        .get_export_index(&mut *store, Some(&parsing), "parse")
        .ok_or_else(|| wasmtime::format_err!("no function `parse` in `{}`", bindings::PARSING_EXPORT))?;
    let parse = instance
        .get_func(&mut *store, parse)
        .ok_or_else(|| wasmtime::format_err!("`parse` in `{}` is not a function", bindings::PARSING_EXPORT))?;
    Ok((bindings, parse))
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
