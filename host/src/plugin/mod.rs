//! The plugin runtime: one wasmtime engine, compiled components cached on disk, sandboxed
//! instances, and isolation of records that make a plugin trap, time out or run out of
//! memory.

mod bindings;
mod builtin;
mod cache;
mod compact;
mod contract;
mod host_state;
mod instance;
mod isolate;
mod limits;
pub mod render;
pub mod testing;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

pub use bindings::{RecordResult, CONTRACT_PACKAGE, CONTRACT_VERSION, SUPPORTED_VERSIONS};
pub use builtin::{builtin_keys, builtin_wasm, BUILTIN_PARSERS};
pub use cache::ComponentCache;
pub use compact::{decode as decode_compact, DecodeError};
pub use contract::ContractReport;
pub use instance::{InstanceError, PluginInstance, SandboxFailure, SandboxFailureKind};
pub use isolate::{parse_isolating, RecordFailure};
pub use limits::PluginLimits;

use host_state::HostState;
use limits::EPOCH_TICK;

/// Where a parser component comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginSource {
    /// A parser shipped inside the binary, by name (`json`, ...).
    Builtin(String),
    /// A user component on disk (`parser.plugin=<path>`).
    File(PathBuf),
}

impl std::fmt::Display for PluginSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PluginSource::Builtin(name) => write!(f, "builtin:{name}"),
            PluginSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Shared engine, linker and compile cache. Cheap to clone.
#[derive(Clone)]
pub struct PluginRuntime {
    engine: Engine,
    linker: Arc<Linker<HostState>>,
    cache: ComponentCache,
}

impl PluginRuntime {
    /// Creates the runtime (and starts the process-wide epoch ticker) with the given cache.
    pub fn new(cache: ComponentCache) -> anyhow::Result<Self> {
        let engine = shared_engine()?;
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking the deny-all WASI 0.2 imports")?;
        bindings::add_log_to_linker(&mut linker)
            .map_err(anyhow::Error::from)
            .context("linking the contract's log interface")?;
        Ok(Self { engine, linker: Arc::new(linker), cache })
    }

    /// The engine every plugin runs in.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, checks, compiles (or loads from cache) and pre-links a parser component.
    pub fn load(&self, source: &PluginSource) -> anyhow::Result<Arc<LoadedPlugin>> {
        let wasm: std::borrow::Cow<'static, [u8]> = match source {
            PluginSource::Builtin(name) => builtin_wasm(name)
                .with_context(|| {
                    format!("unknown built-in parser `{name}`; built-in parsers are: {}", BUILTIN_PARSERS.join(", "))
                })?
                .into(),
            PluginSource::File(path) => {
                std::fs::read(path).with_context(|| format!("reading plugin component {}", path.display()))?.into()
            }
        };
        self.load_bytes(source.to_string(), &wasm)
    }

    /// Like [`PluginRuntime::load`] for component bytes already in memory.
    pub fn load_bytes(&self, name: String, wasm: &[u8]) -> anyhow::Result<Arc<LoadedPlugin>> {
        let started = Instant::now();
        let (component, cached) = self
            .cache
            .load(&self.engine, wasm)
            .with_context(|| format!("`{name}` is not a valid WebAssembly component"))?;
        let report = contract::check(&self.engine, &component)
            .with_context(|| format!("`{name}` cannot be used as a sluice parser"))?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("linking `{name}`"))?;
        let compile_time = started.elapsed();
        tracing::debug!(plugin = %name, cached, ?compile_time, "Plugin loaded.");
        Ok(Arc::new(LoadedPlugin {
            name,
            digest: cache::content_digest(wasm),
            size_bytes: wasm.len(),
            load_time: compile_time,
            from_cache: cached,
            report,
            engine: self.engine.clone(),
            pre,
        }))
    }
}

/// What `sluice plugin inspect` shows about a component.
#[derive(Debug)]
pub struct Inspection {
    /// Component size in bytes.
    pub size_bytes: usize,
    /// Content hash.
    pub digest: String,
    /// Time to compile it from scratch.
    pub compile_time: Duration,
    /// Import names.
    pub imports: Vec<String>,
    /// Export names.
    pub exports: Vec<String>,
    /// The contract check: the report, or why the host refuses the component.
    pub verdict: Result<ContractReport, String>,
}

impl PluginRuntime {
    /// Compiles `wasm` from scratch (no cache) and describes it; never fails on a component
    /// that compiles, so refused plugins can be inspected too.
    pub fn inspect(&self, wasm: &[u8]) -> anyhow::Result<Inspection> {
        let started = Instant::now();
        let component = wasmtime::component::Component::new(&self.engine, wasm)
            .map_err(anyhow::Error::from)
            .context("not a valid WebAssembly component")?;
        let compile_time = started.elapsed();
        let (imports, exports) = contract::describe(&self.engine, &component);
        let verdict = contract::check(&self.engine, &component)
            .and_then(|report| {
                self.linker.instantiate_pre(&component).map_err(anyhow::Error::from)?;
                Ok(report)
            })
            .map_err(|e| format!("{e:#}"));
        Ok(Inspection {
            size_bytes: wasm.len(),
            digest: cache::content_digest(wasm),
            compile_time,
            imports,
            exports,
            verdict,
        })
    }
}

/// A compiled, checked and pre-linked parser, ready to instantiate. Shared by all workers.
pub struct LoadedPlugin {
    /// Display name (`builtin:json` or the file path).
    pub name: String,
    /// Content hash of the component bytes.
    pub digest: String,
    /// Component size in bytes.
    pub size_bytes: usize,
    /// Time spent compiling or loading from cache.
    pub load_time: Duration,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
    /// What the component imports and exports.
    pub report: ContractReport,
    engine: Engine,
    pre: wasmtime::component::InstancePre<HostState>,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("name", &self.name).field("digest", &self.digest).finish()
    }
}

/// When set, plugin code is announced to `perf` through `/tmp/perf-<pid>.map`, so profiles
/// name the guest's functions (see docs/performance.md).
const PERF_MAP_ENV: &str = "SLUICE_WASM_PERF_MAP";

fn shared_engine() -> anyhow::Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    config.cranelift_opt_level(wasmtime::OptLevel::Speed);
    if std::env::var_os(PERF_MAP_ENV).is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    let engine = Engine::new(&config).map_err(anyhow::Error::from).context("creating the WebAssembly engine")?;
    let engine = ENGINE.get_or_init(|| engine).clone();
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("sluice-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match ticker.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .context("starting the plugin deadline ticker")?;
    Ok(engine)
}
