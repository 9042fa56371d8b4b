//! Standalone mode: load the worker file and connector files, start every connector, and
//! stop them together.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::bail;
use tokio::sync::watch;

use crate::config::{read_connector_file, read_worker_file, ConfigMap, ConnectorConfig, WorkerConfig};
use crate::pipeline::status::ConnectorStatus;
use crate::pipeline::{start_connector, ConnectorHandle};
use crate::plugin::{ComponentCache, PluginRuntime};

/// Worker and connector configuration as read from files.
pub struct StandaloneConfig {
    /// The worker.
    pub worker: WorkerConfig,
    /// The connectors, in command-line order.
    pub connectors: Vec<ConnectorConfig>,
}

/// Reads and validates the files. `bootstrap_override` replaces the worker's (and the
/// dead-letter) `bootstrap.servers`, as `--embedded-kafka` does.
pub fn load(worker: &Path, connectors: &[PathBuf], bootstrap_override: Option<&str>) -> anyhow::Result<StandaloneConfig> {
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
            tracing::info!(connector_file = map.origin(), "Using the embedded broker for runtime.error.bootstrap.servers.");
            map.set("runtime.error.bootstrap.servers", bootstrap);
        }
        let connector = ConnectorConfig::from_map(&map, &worker)?;
        if connectors.iter().any(|c| c.name == connector.name) {
            bail!("two connector files use the name `{}`; connector names must be unique", connector.name);
        }
        connectors.push(connector);
    }
    if connectors.is_empty() {
        bail!("no connector files given; pass at least one connector .properties or .json file");
    }
    Ok(StandaloneConfig { worker, connectors })
}

/// Running connectors.
pub struct Standalone {
    shutdown: watch::Sender<bool>,
    handles: Vec<ConnectorHandle>,
}

impl Standalone {
    /// Starts every connector; fails (stopping those already started) if one cannot start.
    pub async fn start(config: StandaloneConfig) -> anyhow::Result<Self> {
        let cache_dir = config.worker.plugin_cache_dir.clone().or_else(ComponentCache::default_dir);
        let runtime = PluginRuntime::new(ComponentCache::new(cache_dir))?;
        let (shutdown, receiver) = watch::channel(false);
        let mut handles = Vec::with_capacity(config.connectors.len());
        for connector in config.connectors {
            let name = connector.name.clone();
            match start_connector(connector, &config.worker, &runtime, receiver.clone()).await {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    shutdown.send_replace(true);
                    for handle in handles {
                        handle.wait().await;
                    }
                    return Err(error.context(format!("connector `{name}` could not start")));
                }
            }
        }
        Ok(Self { shutdown, handles })
    }

    /// Status of every connector.
    pub fn statuses(&self) -> Vec<Arc<ConnectorStatus>> {
        self.handles.iter().map(|h| h.status.clone()).collect()
    }

    /// Asks every connector to stop (gracefully: in-flight work finishes or is abandoned
    /// uncommitted, then positions are committed).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Waits until every connector has stopped.
    pub async fn wait(self) {
        for handle in self.handles {
            handle.wait().await;
        }
    }
}
