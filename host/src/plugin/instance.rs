//! One sandboxed plugin instance: a `Store` with limits, configured with the connector's
//! settings. After any trap the instance is unusable and must be dropped.

use std::sync::Arc;

use wasmtime::component::Func;
use wasmtime::{Store, Trap};

use super::bindings::{self, RecordResult, RecordView, WitConfigureResult, WitRecordResults};
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
    /// `configure`.
    configure: Func,
    /// `parse`, typed per call for borrowed views of the host's records.
    parse: Func,
    /// `parse-compact`, when the plugin exports `compact-parsing` (contract 0.2.0).
    parse_compact: Option<Func>,
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
        let (configure, parse, parse_compact) = match instantiate(&plugin, &mut store) {
            Ok(found) => found,
            Err(error) => {
                let stderr = store.data().drain_stdio();
                return Err(InstanceError::Instantiate(classify(&store, error, &limits, stderr)));
            }
        };
        let mut instance = Self { plugin, store, configure, parse, parse_compact, limits };
        instance.configure(settings)?;
        Ok(instance)
    }

    /// The plugin this instance runs.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }

    fn configure(&mut self, settings: &[(String, String)]) -> Result<(), InstanceError> {
        self.store.set_epoch_deadline(self.limits.deadline_ticks());
        let result = self
            .configure
            .typed::<(&[(String, String)],), (WitConfigureResult,)>(&self.store)
            .and_then(|configure| Ok(configure.call(&mut self.store, (settings,))?.0));
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
        let result = match self.parse_compact {
            Some(parse) => parse
                .typed::<(&[RecordView<'_>],), (Vec<u8>,)>(&self.store)
                .and_then(|parse| Ok(Parsed::Compact(parse.call(&mut self.store, (&views,))?.0))),
            None => self
                .parse
                .typed::<(&[RecordView<'_>],), (WitRecordResults,)>(&self.store)
                .and_then(|parse| Ok(Parsed::Lifted(parse.call(&mut self.store, (&views,))?.0))),
        };
        let stderr = self.store.data().drain_stdio();
        let violation = |message: String| SandboxFailure {
            kind: SandboxFailureKind::Trap,
            message: format!("contract violation: {message}"),
        };
        match result.map_err(|error| classify(&self.store, error, &self.limits, stderr))? {
            Parsed::Compact(buffer) => {
                super::compact::decode(buffer.into(), batch.len()).map_err(|error| violation(error.to_string()))
            }
            Parsed::Lifted(results) if results.len() != batch.len() => {
                Err(violation(format!("the plugin returned {} results for {} records", results.len(), batch.len())))
            }
            Parsed::Lifted(results) => Ok(results.into_iter().map(bindings::record_result).collect()),
        }
    }
}

/// What a `parse` call returned, before it is read into the host's model.
enum Parsed {
    /// From `parse-compact`.
    Compact(Vec<u8>),
    /// From `parse`.
    Lifted(WitRecordResults),
}

/// Instantiates the component and finds `configure` and `parse` in its `parsing` export,
/// and `parse-compact` when it exports `compact-parsing`.
fn instantiate(plugin: &LoadedPlugin, store: &mut Store<HostState>) -> wasmtime::Result<(Func, Func, Option<Func>)> {
    let instance = plugin.pre.instantiate(&mut *store)?;
    let version = &plugin.report.contract_version;
    let mut function = |interface: &str, name: &str| -> Option<Func> {
        let interface = instance.get_export_index(&mut *store, None, interface)?;
        let index = instance.get_export_index(&mut *store, Some(&interface), name)?;
        instance.get_func(&mut *store, index)
    };
    let parsing = bindings::parsing_export(version);
    let missing = |name: &str| wasmtime::format_err!("the export `{parsing}` has no function `{name}`");
    let configure = function(&parsing, "configure").ok_or_else(|| missing("configure"))?;
    let parse = function(&parsing, "parse").ok_or_else(|| missing("parse"))?;
    let parse_compact = function(&bindings::compact_export(version), "parse-compact");
    // Check the signatures once here, so a plugin whose functions do not match the contract
    // fails to start instead of failing every batch.
    configure.typed::<(&[(String, String)],), (WitConfigureResult,)>(&*store)?;
    parse.typed::<(&[RecordView<'static>],), (WitRecordResults,)>(&*store)?;
    if let Some(compact) = parse_compact {
        compact.typed::<(&[RecordView<'static>],), (Vec<u8>,)>(&*store)?;
    }
    Ok((configure, parse, parse_compact))
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
