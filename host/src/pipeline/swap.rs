//! Swapping a connector's parser or its settings while it runs.
//!
//! A swap compiles the new component and configures one instance per task off the hot path;
//! only when every instance is ready is the new generation published. Each parser worker
//! picks it up between two batches, so a batch is parsed entirely by one plugin, no record is
//! parsed twice because of a swap, and every batch a worker starts after the publication is
//! parsed by the new plugin. A replacement that fails to compile, instantiate or configure, or
//! whose outputs do not fit the target's schema (`schema_check`), is refused with the reason
//! and the running parser stays.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context as _;
use tokio::sync::watch;

use super::status::{ConnectorStatus, Counters};
use crate::plugin::{LoadedPlugin, PluginInstance, PluginLimits, PluginRuntime, PluginSource};

/// One version of a connector's parser: the plugin, its settings, and instances configured
/// in advance for each task.
pub struct ParserGeneration {
    /// Increases by one with every successful swap (the first parser is generation 1).
    pub number: u64,
    /// The compiled plugin.
    pub plugin: Arc<LoadedPlugin>,
    /// The settings every instance is configured with.
    pub settings: Arc<Vec<(String, String)>>,
    /// Sandbox limits.
    pub limits: PluginLimits,
    /// Log label of the instances.
    pub label: Arc<str>,
    /// When the swap to this generation was requested.
    pub requested_at: Instant,
    ready: Mutex<Vec<Option<PluginInstance>>>,
}

impl ParserGeneration {
    /// Takes the instance prepared for `task`, if it is still there.
    pub fn take_ready(&self, task: usize) -> Option<PluginInstance> {
        self.ready.lock().unwrap_or_else(|e| e.into_inner()).get_mut(task).and_then(Option::take)
    }

    /// Makes a fresh instance (after a trap, or when no prepared one is left).
    pub fn instantiate(&self) -> Result<PluginInstance, crate::plugin::InstanceError> {
        PluginInstance::new(self.plugin.clone(), &self.settings, self.limits, self.label.clone())
    }
}

/// What a swap installs.
#[derive(Debug, Clone)]
pub struct ParserSpec {
    /// The component.
    pub source: PluginSource,
    /// Settings for `configure`.
    pub settings: Vec<(String, String)>,
    /// Sandbox limits.
    pub limits: PluginLimits,
}

/// Prepares generations and publishes them to a connector's parser workers.
pub struct Swapper {
    runtime: PluginRuntime,
    tasks: usize,
    connector: String,
    status: Arc<ConnectorStatus>,
    /// Settings the sink adds to every generation (learnt when it opened).
    sink_settings: Vec<(String, String)>,
    current: watch::Sender<Arc<ParserGeneration>>,
    /// Checks a new generation's outputs against the target's schema before it is published.
    check: std::sync::OnceLock<Arc<super::schema_check::SchemaCheck>>,
    // Serialises swaps so generation numbers and "current" stay consistent.
    lock: tokio::sync::Mutex<()>,
}

impl Swapper {
    /// Prepares the first generation (errors mean the connector cannot start).
    pub async fn start(
        runtime: PluginRuntime,
        tasks: usize,
        connector: String,
        status: Arc<ConnectorStatus>,
        sink_settings: Vec<(String, String)>,
        mut spec: ParserSpec,
    ) -> anyhow::Result<(Self, watch::Receiver<Arc<ParserGeneration>>)> {
        spec.settings.extend(sink_settings.iter().cloned());
        let first = prepare(&runtime, tasks, &connector, spec, 1, Instant::now()).await?;
        let (current, receiver) = watch::channel(Arc::new(first));
        let swapper = Self {
            runtime,
            tasks,
            connector,
            status,
            sink_settings,
            current,
            check: std::sync::OnceLock::new(),
            lock: tokio::sync::Mutex::new(()),
        };
        Ok((swapper, receiver))
    }

    /// Makes every later swap pass `check` first (the schema check at load); a generation
    /// it refuses is not published.
    pub fn check_swaps_with(&self, check: Arc<super::schema_check::SchemaCheck>) {
        let _ = self.check.set(check);
    }

    /// The generation workers are using (or about to use).
    pub fn current(&self) -> Arc<ParserGeneration> {
        self.current.borrow().clone()
    }

    /// Compiles and configures `spec` off the hot path, then publishes it. Returns the new
    /// generation number, or the reason the replacement was refused (the old parser stays).
    pub async fn swap(&self, mut spec: ParserSpec) -> anyhow::Result<u64> {
        spec.settings.extend(self.sink_settings.iter().cloned());
        let _guard = self.lock.lock().await;
        let requested_at = Instant::now();
        let number = self.current().number + 1;
        let description = spec.source.to_string();
        let prepared = match prepare(&self.runtime, self.tasks, &self.connector, spec, number, requested_at).await {
            Ok(generation) => {
                let generation = Arc::new(generation);
                match self.check.get() {
                    Some(check) => check.check(&generation).await.map(|()| generation),
                    None => Ok(generation),
                }
            }
            Err(error) => Err(error),
        };
        match prepared {
            Ok(generation) => {
                self.current.send_replace(generation);
                Counters::add(&self.status.counters.swaps, 1);
                tracing::info!(connector = %self.connector, parser = %description, generation = number,
                    prepare_ms = requested_at.elapsed().as_millis() as u64,
                    "Parser swapped; workers switch at their next batch.");
                Ok(number)
            }
            Err(error) => {
                Counters::add(&self.status.counters.swaps_refused, 1);
                tracing::error!(connector = %self.connector, parser = %description, error = %format!("{error:#}"),
                    "Parser replacement refused; the running parser stays.");
                Err(error)
            }
        }
    }

    /// Compiles and configures `spec` (with the sink's settings, as a swap would) into a
    /// generation with one prepared instance, without publishing it: a shadow run's
    /// candidate. Returns the reason it cannot run.
    pub async fn prepare_candidate(&self, mut spec: ParserSpec) -> anyhow::Result<ParserGeneration> {
        spec.settings.extend(self.sink_settings.iter().cloned());
        prepare(&self.runtime, 1, &format!("{}/shadow", self.connector), spec, 0, Instant::now()).await
    }
}

async fn prepare(
    runtime: &PluginRuntime,
    tasks: usize,
    connector: &str,
    spec: ParserSpec,
    number: u64,
    requested_at: Instant,
) -> anyhow::Result<ParserGeneration> {
    let runtime = runtime.clone();
    let label: Arc<str> = Arc::from(format!("{connector}/{}", spec.source));
    tokio::task::spawn_blocking(move || -> anyhow::Result<ParserGeneration> {
        let plugin = runtime.load(&spec.source)?;
        let settings = Arc::new(spec.settings);
        let instances = (0..tasks)
            .map(|_| PluginInstance::new(plugin.clone(), &settings, spec.limits, label.clone()).map(Some))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("starting parser `{}`", spec.source))?;
        Ok(ParserGeneration {
            number,
            plugin,
            settings,
            limits: spec.limits,
            label,
            requested_at,
            ready: Mutex::new(instances),
        })
    })
    .await?
}
