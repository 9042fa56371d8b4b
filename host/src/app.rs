//! Standalone mode: load the worker file and connector files, start every connector through
//! the worker (the connector supervisor), swap parsers when files change, and stop them
//! together.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::{read_connector_file, read_worker_file, ConfigMap, ConnectorConfig, WorkerConfig};
use crate::pipeline::status::ConnectorStatus;
use crate::pipeline::swap::{ParserSpec, Swapper};
use crate::plugin::{ComponentCache, PluginRuntime, PluginSource};
use crate::worker::Worker;
use anyhow::bail;

/// How much longer than `task.shutdown.graceful.timeout.ms` stopping may take (the last
/// commit and leaving the consumer groups) before [`Standalone::wait`] gives up on it.
pub const SHUTDOWN_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

fn parser_spec(config: &ConnectorConfig) -> ParserSpec {
    ParserSpec { source: config.parser.clone(), settings: config.parser_settings.clone(), limits: config.limits }
}

/// Worker and connector configuration as read from files.
pub struct StandaloneConfig {
    /// The worker.
    pub worker: WorkerConfig,
    /// The connectors, in command-line order.
    pub connectors: Vec<ConnectorConfig>,
}

/// Reads and validates the files. `bootstrap_override` replaces the worker's (and the
/// dead-letter) `bootstrap.servers`, as `--embedded-kafka` does.
pub fn load(
    worker: &Path,
    connectors: &[PathBuf],
    bootstrap_override: Option<&str>,
) -> anyhow::Result<StandaloneConfig> {
    let worker_map = read_worker_file(worker)?;
    let connector_maps = connectors.iter().map(|path| read_connector_file(path)).collect::<anyhow::Result<Vec<_>>>()?;
    from_maps(worker_map, connector_maps, bootstrap_override)
}

/// Like [`load`] for maps already read.
pub fn from_maps(
    mut worker_map: ConfigMap,
    connector_maps: Vec<ConfigMap>,
    bootstrap_override: Option<&str>,
) -> anyhow::Result<StandaloneConfig> {
    if let Some(bootstrap) = bootstrap_override {
        worker_map.set("bootstrap.servers", bootstrap);
    }
    let worker = WorkerConfig::from_map(&worker_map)?;
    for key in &worker.ignored_keys {
        tracing::info!(key = %key, file = %worker.origin, "Worker key is not used by sluice; ignored.");
    }
    let mut connectors: Vec<ConnectorConfig> = Vec::with_capacity(connector_maps.len());
    for mut map in connector_maps {
        if let (Some(bootstrap), Some(_)) = (bootstrap_override, map.get("runtime.error.bootstrap.servers")) {
            tracing::info!(
                connector_file = map.origin(),
                "Using the embedded broker for runtime.error.bootstrap.servers."
            );
            map.set("runtime.error.bootstrap.servers", bootstrap);
        }
        let connector = ConnectorConfig::from_map(&map, &worker)?;
        if connectors.iter().any(|c| c.name == connector.name) {
            bail!("two connector files use the name `{}`; connector names must be unique", connector.name);
        }
        connectors.push(connector);
    }
    Ok(StandaloneConfig { worker, connectors })
}

/// Running connectors: the worker (the connector supervisor) and the connector files
/// watched for parser changes.
pub struct Standalone {
    worker: Arc<Worker>,
    reloadable: Vec<Reloadable>,
    bootstrap_override: Option<String>,
}

/// A connector whose file is watched for parser changes.
struct Reloadable {
    name: String,
    path: PathBuf,
    applied: std::sync::Mutex<Fingerprint>,
}

/// What a parser swap depends on: the component (and its file's identity) and its settings.
#[derive(Debug, Clone, PartialEq)]
struct Fingerprint {
    source: PluginSource,
    file: Option<(std::time::SystemTime, u64)>,
    settings: Vec<(String, String)>,
    limits: crate::plugin::PluginLimits,
}

impl Fingerprint {
    fn of(spec: &ParserSpec) -> Self {
        let file = match &spec.source {
            PluginSource::File(path) => std::fs::metadata(path).ok().and_then(|m| Some((m.modified().ok()?, m.len()))),
            PluginSource::Builtin(_) => None,
        };
        Self { source: spec.source.clone(), file, settings: spec.settings.clone(), limits: spec.limits }
    }
}

/// The outcome of reloading one connector.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// Nothing the parser depends on changed.
    Unchanged,
    /// The parser was swapped; the new generation number.
    Swapped(u64),
    /// The new file, plugin or settings were refused; the old parser keeps running.
    Refused(String),
}

impl Standalone {
    /// Starts every connector; fails (stopping those already started) if one cannot start.
    pub async fn start(config: StandaloneConfig) -> anyhow::Result<Self> {
        Self::start_with_override(config, None).await
    }

    /// Like [`Standalone::start`], remembering the embedded broker's address so reloaded
    /// connector files get the same override.
    pub async fn start_with_override(
        config: StandaloneConfig,
        bootstrap_override: Option<String>,
    ) -> anyhow::Result<Self> {
        let cache_dir = config.worker.plugin_cache_dir.clone().or_else(ComponentCache::default_dir);
        let runtime = PluginRuntime::new(ComponentCache::new(cache_dir))?;
        let worker = Arc::new(Worker::new(config.worker, runtime, bootstrap_override.clone()));
        let mut reloadable = Vec::new();
        for connector in config.connectors {
            let name = connector.name.clone();
            let path = PathBuf::from(connector.raw.origin());
            let spec = parser_spec(&connector);
            if let Err(error) = worker.add_from_file(connector).await {
                worker.shutdown().await;
                return Err(error.context(format!("connector `{name}` could not start")));
            }
            if path.is_file() {
                reloadable.push(Reloadable { name, path, applied: std::sync::Mutex::new(Fingerprint::of(&spec)) });
            }
        }
        if let Err(error) = worker.restore().await {
            worker.shutdown().await;
            return Err(error.context("restoring the connectors created through the REST API"));
        }
        tokio::spawn(worker.clone().supervise());
        Ok(Self { worker, reloadable, bootstrap_override })
    }

    /// The connector supervisor (for the REST API).
    pub fn worker(&self) -> Arc<Worker> {
        self.worker.clone()
    }

    /// Re-reads every connector file and swaps the parser of those whose parser, plugin file
    /// or settings changed (called on SIGHUP and by the file watcher). Changes to other keys
    /// need a restart and are not applied.
    pub async fn reload(&self) -> Vec<(String, ReloadOutcome)> {
        let mut outcomes = Vec::with_capacity(self.reloadable.len());
        for connector in &self.reloadable {
            let outcome = match self.read_spec(connector) {
                Err(error) => {
                    tracing::error!(connector = %connector.name, error = %format!("{error:#}"),
                        "Connector file cannot be used; the running parser stays.");
                    ReloadOutcome::Refused(format!("{error:#}"))
                }
                Ok(spec) => {
                    let fingerprint = Fingerprint::of(&spec);
                    let unchanged = *connector.applied.lock().unwrap_or_else(|e| e.into_inner()) == fingerprint;
                    if unchanged {
                        ReloadOutcome::Unchanged
                    } else {
                        // Remember the attempt either way: a refused file is retried only
                        // once it changes again.
                        *connector.applied.lock().unwrap_or_else(|e| e.into_inner()) = fingerprint;
                        match self.worker.swapper(&connector.name) {
                            None => ReloadOutcome::Refused(format!(
                                "connector `{}` is not running; the new parser applies when it starts again",
                                connector.name
                            )),
                            Some(swapper) => match swapper.swap(spec).await {
                                Ok(generation) => ReloadOutcome::Swapped(generation),
                                Err(error) => ReloadOutcome::Refused(format!("{error:#}")),
                            },
                        }
                    }
                }
            };
            outcomes.push((connector.name.clone(), outcome));
        }
        outcomes
    }

    fn read_spec(&self, connector: &Reloadable) -> anyhow::Result<ParserSpec> {
        let mut map = read_connector_file(&connector.path)?;
        if let (Some(bootstrap), Some(_)) = (&self.bootstrap_override, map.get("runtime.error.bootstrap.servers")) {
            map.set("runtime.error.bootstrap.servers", bootstrap.as_str());
        }
        let config = ConnectorConfig::from_map(&map, self.worker.config())?;
        if config.name != connector.name {
            bail!(
                "the connector's `name` changed from `{}` to `{}`; renaming needs a restart",
                connector.name,
                config.name
            );
        }
        Ok(parser_spec(&config))
    }

    /// Status of every connector (of its current run), in command-line order.
    pub fn statuses(&self) -> Vec<Arc<ConnectorStatus>> {
        self.worker.views().into_iter().map(|v| v.status).collect()
    }

    /// The parser swapper of every running connector (for benchmarks and tests).
    pub fn swappers(&self) -> Vec<Arc<Swapper>> {
        self.worker.views().iter().filter_map(|v| self.worker.swapper(&v.name)).collect()
    }

    /// Asks every connector to stop (gracefully: in-flight work finishes or is abandoned
    /// uncommitted, then positions are committed).
    pub fn shutdown(&self) {
        self.worker.signal_shutdown();
    }

    /// Stops every connector and waits until they have stopped, at most
    /// `task.shutdown.graceful.timeout.ms` plus [`SHUTDOWN_MARGIN`] (the last commit and
    /// leaving the consumer groups). Returns false, after logging it, when some had not
    /// stopped by then: what they had not committed is read again on the next start.
    pub async fn wait(self) -> bool {
        self.worker.signal_shutdown();
        let limit = self.worker.config().shutdown_timeout + SHUTDOWN_MARGIN;
        if tokio::time::timeout(limit, self.worker.shutdown()).await.is_ok() {
            return true;
        }
        tracing::error!(
            "Connectors did not stop within task.shutdown.graceful.timeout.ms plus {} s; leaving them \
             (records not committed are read again on the next start).",
            SHUTDOWN_MARGIN.as_secs()
        );
        false
    }
}
