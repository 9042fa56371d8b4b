//! The connector supervisor: the connectors of one worker, each with its configuration, its
//! target state (RUNNING, PAUSED, STOPPED) and its current run. Connectors are created,
//! reconfigured, paused, resumed, stopped, restarted and deleted at runtime, one at a time,
//! without disturbing the others. The REST API and the file watcher act only through this
//! module; a change asked for through the API goes through the worker's
//! [`store::ConnectorStore`] (the state file, or the config topic of a distributed cluster),
//! which hands it back to [`Worker::apply`].

pub mod cluster;
mod shadow;
pub mod state;
pub mod store;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::watch;

use crate::config::{ConfigMap, ConnectorConfig, KeySet, TopicSelection, WorkerConfig, CONNECTOR_KEYS};
use crate::pipeline::status::{ConnectorState, ConnectorStatus};
use crate::pipeline::swap::{ParserSpec, Swapper};
use crate::pipeline::{start_connector, ConnectorHandle};
use crate::plugin::{PluginRuntime, PluginSource};
use crate::source::group::{GroupClient, GroupOffset};

/// The state a connector is asked to be in (Kafka Connect's target state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Consuming and writing.
    Running,
    /// Started, partitions paused.
    Paused,
    /// Not running at all (its configuration is kept; offsets can be changed).
    Stopped,
}

impl TargetState {
    /// Reads `RUNNING`, `PAUSED` or `STOPPED` (any case), as in `initial_state`.
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_uppercase().as_str() {
            "RUNNING" => Some(Self::Running),
            "PAUSED" => Some(Self::Paused),
            "STOPPED" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// Why the worker refused a request; the REST API maps each kind to its status code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such connector (or task).
    NotFound(String),
    /// A connector of that name exists.
    Conflict(String),
    /// The request or the configuration is invalid.
    BadRequest(String),
    /// Something failed while carrying the request out.
    Failed(String),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotFound(m) | Refusal::Conflict(m) | Refusal::BadRequest(m) | Refusal::Failed(m) => f.write_str(m),
        }
    }
}

fn unknown(name: &str) -> Refusal {
    Refusal::NotFound(format!("Connector {name} not found"))
}

/// What the API shows of one connector.
#[derive(Debug, Clone)]
pub struct ConnectorView {
    /// Its name.
    pub name: String,
    /// Its configuration as given (placeholders unresolved).
    pub config: BTreeMap<String, String>,
    /// The Kafka Connect class it was configured with.
    pub class: String,
    /// `tasks.max` (sluice runs that many parser workers and sink lanes).
    pub tasks: usize,
    /// The target state.
    pub target: TargetState,
    /// The live state and counters of its current (or last) run.
    pub status: Arc<ConnectorStatus>,
    /// Values of its credential keys, resolved: hidden wherever a failure trace is shown.
    pub secrets: Vec<String>,
}

impl ConnectorView {
    /// `text` with every credential value of the connector replaced by `[hidden]`.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_string(), |text, secret| text.replace(secret.as_str(), crate::logging::HIDDEN_MARK))
    }
}

/// A connector's run: its pipeline and the switch that stops it.
struct Run {
    stop: watch::Sender<bool>,
    handle: ConnectorHandle,
}

struct Slot {
    map: ConfigMap,
    config: ConnectorConfig,
    target: TargetState,
    status: Arc<ConnectorStatus>,
    run: Option<Run>,
    /// Creation order, so listings follow the command line.
    order: u64,
    /// Created through the REST API (kept in the state file) rather than from a file.
    from_api: bool,
}

/// The connectors of one worker.
pub struct Worker {
    config: WorkerConfig,
    runtime: PluginRuntime,
    bootstrap_override: Option<String>,
    worker_id: Mutex<String>,
    slots: Mutex<BTreeMap<String, Slot>>,
    /// Serialises lifecycle changes (one connector starts or stops at a time).
    lifecycle: tokio::sync::Mutex<u64>,
    /// Connectors that could not start: when to try again and the backoff after that.
    retries: Mutex<BTreeMap<String, (Instant, Duration)>>,
    /// Set once the worker shuts down: nothing is restarted any more.
    closing: AtomicBool,
    /// Where changes asked for through the API are kept and carried out.
    store: Arc<dyn store::ConnectorStore>,
}

/// The first automatic restart of a connector that could not start comes after this long;
/// each further one waits twice as long, up to `sluice.restart.backoff.max.ms`.
const FIRST_RESTART_BACKOFF: Duration = Duration::from_secs(1);

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Worker {
    /// A worker with no connectors yet. `bootstrap_override` replaces the brokers of
    /// connectors' error topics too (the embedded broker).
    pub fn new(config: WorkerConfig, runtime: PluginRuntime, bootstrap_override: Option<String>) -> Self {
        let file = config.state_dir.as_deref().map(state::StateFile::in_dir);
        Self::with_store(config, runtime, bootstrap_override, Arc::new(store::FileStore::new(file)))
    }

    /// A worker with no connectors yet whose API changes go through `store`.
    pub fn with_store(
        config: WorkerConfig,
        runtime: PluginRuntime,
        bootstrap_override: Option<String>,
        store: Arc<dyn store::ConnectorStore>,
    ) -> Self {
        let rest = &config.rest;
        let host = rest.advertised_host.clone().unwrap_or_else(|| match rest.host.as_str() {
            "" | "0.0.0.0" | "::" => "localhost".to_string(),
            host => host.to_string(),
        });
        let worker_id = format!("{host}:{}", rest.advertised_port.unwrap_or(rest.port));
        Self {
            config,
            runtime,
            bootstrap_override,
            worker_id: Mutex::new(worker_id),
            slots: Mutex::default(),
            lifecycle: tokio::sync::Mutex::new(0),
            retries: Mutex::default(),
            closing: AtomicBool::new(false),
            store,
        }
    }

    /// The worker's configuration.
    pub fn config(&self) -> &WorkerConfig {
        &self.config
    }

    /// `advertised host:port`, shown as `worker_id` in statuses.
    pub fn worker_id(&self) -> String {
        lock(&self.worker_id).clone()
    }

    /// Sets the advertised port once the REST listener is bound (when `rest.advertised.port`
    /// is not set, the bound port is advertised).
    pub fn set_bound_port(&self, port: u16) {
        if self.config.rest.advertised_port.is_none() {
            let mut id = lock(&self.worker_id);
            if let Some((host, _)) = id.rsplit_once(':') {
                *id = format!("{host}:{port}");
            }
        }
    }

    /// Validates a connector configuration against the worker, as a file or a REST body.
    pub fn validate(&self, map: &ConfigMap) -> anyhow::Result<ConnectorConfig> {
        let mut map = map.clone();
        if let (Some(bootstrap), Some(_)) = (&self.bootstrap_override, map.get("runtime.error.bootstrap.servers")) {
            map.set("runtime.error.bootstrap.servers", bootstrap.as_str());
        }
        let config = ConnectorConfig::from_map(&map, &self.config)?;
        restart_backoff_max(&config)?;
        Ok(config)
    }

    /// Adds a connector from a file given at startup; an error (invalid file, a sink or
    /// plugin that cannot start) is returned, as `connect-standalone` refuses to start.
    pub async fn add_from_file(&self, config: ConnectorConfig) -> anyhow::Result<()> {
        let mut order = self.lifecycle.lock().await;
        let name = config.name.clone();
        if lock(&self.slots).contains_key(&name) {
            anyhow::bail!("two connector files use the name `{name}`; connector names must be unique");
        }
        let target = initial_state(&config.raw).map_err(anyhow::Error::msg)?;
        restart_backoff_max(&config)?;
        let (status, run) = self.launch(&config, target).await?;
        *order += 1;
        let slot = Slot { map: config.given.clone(), config, target, status, run, order: *order, from_api: false };
        lock(&self.slots).insert(name, slot);
        Ok(())
    }

    /// Creates a connector (REST `POST /connectors`, or `PUT .../config` of a new name).
    pub async fn create(&self, map: ConfigMap, target: Option<TargetState>) -> Result<ConnectorView, Refusal> {
        let config = self.validate(&map).map_err(invalid)?;
        if self.contains(&config.name) {
            return Err(Refusal::Conflict(format!("Connector {} already exists", config.name)));
        }
        let target = match target {
            Some(target) => target,
            None => initial_state(&map).map_err(Refusal::BadRequest)?,
        };
        self.store.submit(self, store::Change::Config { map, target: Some(target) }).await?;
        self.view(&config.name)
    }

    /// Replaces a connector's configuration (REST `PUT`/`PATCH .../config`). When only parser
    /// keys changed, the parser is swapped live; otherwise only this connector restarts with
    /// the new configuration (what it wrote is committed first).
    pub async fn reconfigure(&self, map: ConfigMap) -> Result<ConnectorView, Refusal> {
        let config = self.validate(&map).map_err(invalid)?;
        self.view(&config.name)?;
        self.store.submit(self, store::Change::Config { map, target: None }).await?;
        self.view(&config.name)
    }

    /// Stops and forgets a connector.
    pub async fn delete(&self, name: &str) -> Result<(), Refusal> {
        self.view(name)?;
        self.store.submit(self, store::Change::Delete { name: name.to_string() }).await
    }

    /// Pauses a connector: its partitions are paused and nothing new is dispatched.
    pub async fn pause(&self, name: &str) -> Result<(), Refusal> {
        self.set_target(name, TargetState::Paused).await
    }

    /// Resumes a paused connector, or starts a stopped one.
    pub async fn resume(&self, name: &str) -> Result<(), Refusal> {
        self.set_target(name, TargetState::Running).await
    }

    /// Stops a connector, keeping its configuration (KIP-875): in-flight records finish,
    /// positions are committed, then the consumer leaves its group.
    pub async fn stop(&self, name: &str) -> Result<(), Refusal> {
        self.set_target(name, TargetState::Stopped).await
    }

    /// Restarts a connector (REST `POST .../restart`): on every worker of a cluster, here
    /// when alone. With `only_failed`, only where it has FAILED.
    pub async fn request_restart(&self, name: &str, only_failed: bool) -> Result<(), Refusal> {
        self.view(name)?;
        self.store.submit(self, store::Change::Restart { name: name.to_string(), only_failed }).await
    }

    async fn set_target(&self, name: &str, target: TargetState) -> Result<(), Refusal> {
        self.view(name)?;
        self.store.submit(self, store::Change::Target { name: name.to_string(), target }).await
    }

    /// Carries out a change on this worker: called by the store, at once in standalone mode,
    /// when the change is read back from the config topic in distributed mode.
    pub async fn apply(&self, change: store::Change) -> Result<(), Refusal> {
        match change {
            store::Change::Config { map, target } => {
                let name = self.validate(&map).map_err(invalid)?.name;
                if self.contains(&name) {
                    self.reconfigure_here(map).await
                } else {
                    let target = match target {
                        Some(target) => target,
                        None => initial_state(&map).map_err(Refusal::BadRequest)?,
                    };
                    self.create_here(map, target).await
                }
            }
            store::Change::Target { name, target: TargetState::Paused } => self.pause_here(&name).await,
            store::Change::Target { name, target: TargetState::Running } => self.resume_here(&name).await,
            store::Change::Target { name, target: TargetState::Stopped } => self.stop_here(&name).await,
            store::Change::Delete { name } => self.delete_here(&name).await,
            store::Change::Restart { name, only_failed } => self.restart(&name, only_failed).await.map(|_| ()),
        }
    }

    /// Whether a connector of that name exists here.
    pub fn contains(&self, name: &str) -> bool {
        lock(&self.slots).contains_key(name)
    }

    async fn create_here(&self, map: ConfigMap, target: TargetState) -> Result<(), Refusal> {
        let mut order = self.lifecycle.lock().await;
        let config = self.validate(&map).map_err(invalid)?;
        if lock(&self.slots).contains_key(&config.name) {
            return Err(Refusal::Conflict(format!("Connector {} already exists", config.name)));
        }
        let (status, run) = self.launch_or_fail(&config, target).await;
        *order += 1;
        let name = config.name.clone();
        lock(&self.slots).insert(name, Slot { map, config, target, status, run, order: *order, from_api: true });
        Ok(())
    }

    /// Creates the connectors kept from before a restart (standalone: those created through
    /// the API, from the state file).
    pub async fn restore(&self) -> anyhow::Result<()> {
        self.store.restore(self).await
    }

    /// What every live worker of the cluster reports of a connector; `None` for a worker
    /// that is alone (standalone).
    pub fn cluster_status(&self, name: &str) -> Option<Vec<store::MemberState>> {
        self.store.cluster_status(name)
    }

    /// The live workers of the cluster; `None` for a worker that is alone (standalone).
    pub fn members(&self) -> Option<Vec<store::Member>> {
        self.store.members()
    }

    /// The connectors created through the API, as the state file keeps them.
    pub fn kept(&self) -> BTreeMap<String, state::KeptConnector> {
        lock(&self.slots)
            .iter()
            .filter(|(_, slot)| slot.from_api)
            .map(|(name, slot)| {
                let kept = state::KeptConnector {
                    config: slot.map.entries().clone(),
                    state: state::state_name(slot.target).to_string(),
                };
                (name.clone(), kept)
            })
            .collect()
    }

    async fn reconfigure_here(&self, map: ConfigMap) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let config = self.validate(&map).map_err(invalid)?;
        let name = config.name.clone();
        // Only parser keys changed on a running connector: swap the parser at a batch
        // boundary, without a restart (a refused parser leaves the old one running).
        let swap = {
            let slots = lock(&self.slots);
            let slot = slots.get(&name).ok_or_else(|| unknown(&name))?;
            match &slot.run {
                Some(run) if parser_only_change(&slot.config, &config) => Some(run.handle.swapper.clone()),
                _ => None,
            }
        };
        if let Some(swapper) = swap {
            let spec = ParserSpec {
                source: config.parser.clone(),
                settings: config.parser_settings.clone(),
                limits: config.limits,
            };
            let generation = swapper.swap(spec).await.map_err(|error| {
                Refusal::BadRequest(format!("the new parser was refused; the running one stays: {error:#}"))
            })?;
            tracing::info!(connector = %name, generation, "Parser swapped through the REST API.");
            if let Some(slot) = lock(&self.slots).get_mut(&name) {
                slot.map = map;
                slot.config = config;
            }
            return Ok(());
        }
        let (target, run) = {
            let mut slots = lock(&self.slots);
            let slot = slots.get_mut(&name).ok_or_else(|| unknown(&name))?;
            (slot.target, slot.run.take())
        };
        stop_run(run).await;
        let (status, run) = self.launch_or_fail(&config, target).await;
        if let Some(slot) = lock(&self.slots).get_mut(&name) {
            *slot = Slot { map, config, target, status, run, order: slot.order, from_api: slot.from_api };
        }
        Ok(())
    }

    async fn delete_here(&self, name: &str) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let slot = lock(&self.slots).remove(name).ok_or_else(|| unknown(name))?;
        stop_run(slot.run).await;
        tracing::info!(connector = %name, "Connector deleted.");
        Ok(())
    }

    /// Restarts a connector (all of it: sluice's tasks share the connector's pipeline).
    /// With `only_failed`, a connector that has not failed is left alone. Returns whether it
    /// was restarted.
    pub async fn restart(&self, name: &str, only_failed: bool) -> Result<bool, Refusal> {
        let _order = self.lifecycle.lock().await;
        let (config, target, run) = {
            let mut slots = lock(&self.slots);
            let slot = slots.get_mut(name).ok_or_else(|| unknown(name))?;
            if only_failed && !slot.status.is_failed() {
                return Ok(false);
            }
            if slot.target == TargetState::Stopped {
                return Ok(false);
            }
            (slot.config.clone(), slot.target, slot.run.take())
        };
        stop_run(run).await;
        tracing::info!(connector = %name, "Restarting connector.");
        let (status, run) = self.launch_or_fail(&config, target).await;
        if let Some(slot) = lock(&self.slots).get_mut(name) {
            slot.status = status;
            slot.run = run;
        }
        Ok(true)
    }

    async fn pause_here(&self, name: &str) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let mut slots = lock(&self.slots);
        let slot = slots.get_mut(name).ok_or_else(|| unknown(name))?;
        if slot.target == TargetState::Stopped {
            // Kafka Connect pauses a stopped connector without starting it.
            slot.target = TargetState::Paused;
            return Ok(());
        }
        slot.target = TargetState::Paused;
        if matches!(slot.status.state(), ConnectorState::Running) {
            slot.status.set(ConnectorState::Paused);
        }
        drop(slots);
        tracing::info!(connector = %name, "Connector paused.");
        Ok(())
    }

    async fn resume_here(&self, name: &str) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let config = {
            let mut slots = lock(&self.slots);
            let slot = slots.get_mut(name).ok_or_else(|| unknown(name))?;
            slot.target = TargetState::Running;
            if slot.run.is_some() {
                if slot.status.is_paused() {
                    slot.status.set(ConnectorState::Running);
                    tracing::info!(connector = %name, "Connector resumed.");
                }
                return Ok(());
            }
            slot.config.clone()
        };
        let (status, run) = self.launch_or_fail(&config, TargetState::Running).await;
        if let Some(slot) = lock(&self.slots).get_mut(name) {
            slot.status = status;
            slot.run = run;
        }
        Ok(())
    }

    async fn stop_here(&self, name: &str) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let run = {
            let mut slots = lock(&self.slots);
            let slot = slots.get_mut(name).ok_or_else(|| unknown(name))?;
            slot.target = TargetState::Stopped;
            slot.run.take()
        };
        stop_run(run).await;
        if let Some(slot) = lock(&self.slots).get_mut(name) {
            if slot.status.is_failed() {
                // A stopped connector shows STOPPED, whatever its last run ended with.
                let status = Arc::new(ConnectorStatus::new(name));
                status.set(ConnectorState::Stopped);
                slot.status = status;
            }
        }
        tracing::info!(connector = %name, "Connector stopped.");
        Ok(())
    }

    /// One connector.
    pub fn view(&self, name: &str) -> Result<ConnectorView, Refusal> {
        lock(&self.slots).get(name).map(|slot| view(name, slot)).ok_or_else(|| unknown(name))
    }

    /// Every connector, in creation order.
    pub fn views(&self) -> Vec<ConnectorView> {
        let slots = lock(&self.slots);
        let mut views: Vec<(u64, ConnectorView)> =
            slots.iter().map(|(name, slot)| (slot.order, view(name, slot))).collect();
        views.sort_by_key(|(order, _)| *order);
        views.into_iter().map(|(_, v)| v).collect()
    }

    /// A connector's validated configuration (for `explain` and dead-letter replay).
    pub fn connector_config(&self, name: &str) -> Result<ConnectorConfig, Refusal> {
        lock(&self.slots).get(name).map(|slot| slot.config.clone()).ok_or_else(|| unknown(name))
    }

    /// The plugin runtime the connectors' parsers run in.
    pub fn plugin_runtime(&self) -> &PluginRuntime {
        &self.runtime
    }

    /// The parser swapper of a running connector.
    pub fn swapper(&self, name: &str) -> Option<Arc<Swapper>> {
        lock(&self.slots).get(name).and_then(|slot| slot.run.as_ref().map(|run| run.handle.swapper.clone()))
    }

    /// The connector's consumer group client (for offsets and topics).
    fn group(&self, name: &str) -> Result<(GroupClient, ConnectorConfig, TargetState), Refusal> {
        let (config, target) = {
            let slots = lock(&self.slots);
            let slot = slots.get(name).ok_or_else(|| unknown(name))?;
            (slot.config.clone(), slot.target)
        };
        let client = GroupClient::new(&self.config.bootstrap_servers, &config.consumer_settings, &config.group_id())
            .map_err(|e| Refusal::Failed(format!("{e:#}")))?;
        Ok((client, config, target))
    }

    /// The committed offsets of the connector's consumer group.
    pub async fn offsets(&self, name: &str) -> Result<Vec<GroupOffset>, Refusal> {
        let (client, config, _) = self.group(name)?;
        tokio::task::block_in_place(|| {
            let partitions = client.partitions(|topic| reads(&config.topics, topic))?;
            client.committed(&partitions)
        })
        .map_err(|e| Refusal::Failed(format!("{e:#}")))
    }

    /// The topics the connector reads that it has committed positions in (its `topics`
    /// list when it names one).
    pub async fn topics(&self, name: &str) -> Result<Vec<String>, Refusal> {
        let (_, connector, _) = self.group(name)?;
        match &connector.topics {
            TopicSelection::List(topics) => Ok(topics.clone()),
            TopicSelection::Regex(_) => {
                let mut topics: Vec<String> = self.offsets(name).await?.into_iter().map(|o| o.topic).collect();
                topics.dedup();
                Ok(topics)
            }
        }
    }

    /// Moves the group's committed offsets (`Some`) or resets them to where
    /// `auto.offset.reset` starts (`None`); only on a STOPPED connector.
    pub async fn alter_offsets(&self, name: &str, changes: Vec<(String, i32, Option<i64>)>) -> Result<(), Refusal> {
        let _order = self.lifecycle.lock().await;
        let (client, config, target) = self.group(name)?;
        if target != TargetState::Stopped {
            return Err(Refusal::BadRequest(
                "Connectors must be in the STOPPED state before their offsets can be modified. \
                 This can be done for the specified connector by issuing a 'PUT' request to the \
                 '/connectors/{name}/stop' endpoint"
                    .replace("{name}", name),
            ));
        }
        let latest = config
            .consumer_settings
            .iter()
            .rev()
            .find(|(k, _)| k == "auto.offset.reset")
            .is_some_and(|(_, v)| v.eq_ignore_ascii_case("latest"));
        tokio::task::block_in_place(|| {
            let mut offsets = Vec::with_capacity(changes.len());
            for (topic, partition, offset) in changes {
                let offset = match offset {
                    Some(offset) => offset,
                    None => client.reset_position(&topic, partition, latest)?,
                };
                offsets.push(GroupOffset { topic, partition, offset });
            }
            client.commit(&offsets)
        })
        .map_err(|e| Refusal::Failed(format!("{e:#}")))?;
        tracing::info!(connector = %name, "Connector offsets changed.");
        Ok(())
    }

    /// Resets every committed offset of the connector (where `auto.offset.reset` starts).
    pub async fn reset_offsets(&self, name: &str) -> Result<(), Refusal> {
        let committed = self.offsets(name).await?;
        let changes = committed.into_iter().map(|o| (o.topic, o.partition, None)).collect();
        self.alter_offsets(name, changes).await
    }

    /// Restarts connectors that could not start (a sink, broker or plugin not there yet),
    /// with exponential backoff up to their `sluice.restart.backoff.max.ms` (0: never). A
    /// connector that failed while running (a data error under `errors.tolerance=none`)
    /// stays FAILED until restarted through the API. Runs until the worker shuts down.
    pub async fn supervise(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        while !self.closing.load(Ordering::Relaxed) {
            tick.tick().await;
            let now = Instant::now();
            let due: Vec<String> = {
                let slots = lock(&self.slots);
                let mut retries = lock(&self.retries);
                retries.retain(|name, _| {
                    slots
                        .get(name)
                        .is_some_and(|s| (s.run.is_none() && s.status.is_failed()) || s.status.failed_transiently())
                });
                slots
                    .iter()
                    .filter(|(_, slot)| slot.target != TargetState::Stopped)
                    // Could not start, or failed while running by a cause that can pass.
                    .filter(|(_, slot)| {
                        (slot.run.is_none() && slot.status.is_failed()) || slot.status.failed_transiently()
                    })
                    .filter_map(|(name, slot)| {
                        let max = restart_backoff_max(&slot.config).unwrap_or(Duration::from_secs(300));
                        if max.is_zero() {
                            return None;
                        }
                        let first = FIRST_RESTART_BACKOFF.min(max);
                        let (next, backoff) = retries.entry(name.clone()).or_insert((now + first, first));
                        if *next > now {
                            return None;
                        }
                        *backoff = (*backoff * 2).min(max);
                        *next = now + *backoff;
                        Some(name.clone())
                    })
                    .collect()
            };
            for name in due {
                if self.closing.load(Ordering::Relaxed) {
                    break;
                }
                tracing::info!(connector = %name, "Connector failed by a cause that can pass; restarting it.");
                let _ = self.restart(&name, true).await;
            }
        }
    }

    /// Asks every running connector to stop, without waiting.
    pub fn signal_shutdown(&self) {
        self.closing.store(true, Ordering::Relaxed);
        for slot in lock(&self.slots).values() {
            if let Some(run) = &slot.run {
                run.stop.send_replace(true);
            }
        }
    }

    /// Stops every connector and waits for them (graceful: in-flight work finishes or is
    /// left uncommitted, positions are committed).
    pub async fn shutdown(&self) {
        self.closing.store(true, Ordering::Relaxed);
        let _order = self.lifecycle.lock().await;
        let runs: Vec<Run> = lock(&self.slots).values_mut().filter_map(|slot| slot.run.take()).collect();
        for run in &runs {
            run.stop.send_replace(true);
        }
        for run in runs {
            run.handle.wait().await;
        }
    }

    /// Starts a connector in `target`; a connector asked to be STOPPED gets no run.
    async fn launch(
        &self,
        config: &ConnectorConfig,
        target: TargetState,
    ) -> anyhow::Result<(Arc<ConnectorStatus>, Option<Run>)> {
        if target == TargetState::Stopped {
            let status = Arc::new(ConnectorStatus::new(&config.name));
            status.set(ConnectorState::Stopped);
            return Ok((status, None));
        }
        let (stop, stopped) = watch::channel(false);
        let handle = start_connector(config.clone(), &self.config, &self.runtime, stopped).await?;
        let status = handle.status.clone();
        if target == TargetState::Paused {
            status.set(ConnectorState::Paused);
        }
        Ok((status, Some(Run { stop, handle })))
    }

    /// Like `launch`; a connector that cannot start is FAILED with the reason as its trace.
    async fn launch_or_fail(
        &self,
        config: &ConnectorConfig,
        target: TargetState,
    ) -> (Arc<ConnectorStatus>, Option<Run>) {
        match self.launch(config, target).await {
            Ok(started) => started,
            Err(error) => {
                let status = Arc::new(ConnectorStatus::new(&config.name));
                status.fail(format!("the connector could not start: {error:#}"));
                (status, None)
            }
        }
    }
}

fn view(name: &str, slot: &Slot) -> ConnectorView {
    ConnectorView {
        name: name.to_string(),
        config: slot.map.entries().clone(),
        class: slot.map.get("connector.class").unwrap_or_default().to_string(),
        tasks: slot.config.tasks_max,
        target: slot.target,
        status: slot.status.clone(),
        secrets: slot.config.secret_values(),
    }
}

fn invalid(error: anyhow::Error) -> Refusal {
    Refusal::BadRequest(format!(
        "Connector configuration is invalid and contains the following 1 error(s):\n{error:#}\n\
         You can also find the above list of errors at the endpoint `/connector-plugins/{{connectorType}}/config/validate`"
    ))
}

/// `sluice.restart.backoff.max.ms` (default 5 minutes; 0: no automatic restarts).
fn restart_backoff_max(config: &ConnectorConfig) -> anyhow::Result<Duration> {
    config.raw.millis_or("sluice.restart.backoff.max.ms", 300_000)
}

/// `initial_state` of a connector file or body (default RUNNING).
fn initial_state(map: &ConfigMap) -> Result<TargetState, String> {
    match map.get("initial_state") {
        None => Ok(TargetState::Running),
        Some(text) => TargetState::parse(text).ok_or_else(|| {
            format!("`initial_state` in {} must be RUNNING, PAUSED or STOPPED, got `{text}`", map.origin())
        }),
    }
}

/// Whether only keys read by the parser alone differ between two configurations: `parser`,
/// `parser.*`, the built-in parser's own keys that the sink does not read, and keys sluice
/// does not know (passed only to the parser).
fn parser_only_change(old: &ConnectorConfig, new: &ConnectorConfig) -> bool {
    let (a, b) = (old.raw.entries(), new.raw.entries());
    let mut changed = a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k));
    changed.all(|key| parser_key(old, key) && parser_key(new, key))
}

fn parser_key(config: &ConnectorConfig, key: &str) -> bool {
    let in_set = |set: KeySet<'_>| set.keys.contains(&key) || set.prefixes.iter().any(|p| key.starts_with(p));
    let builtin = match &config.parser {
        PluginSource::Builtin(name) => in_set(crate::plugin::builtin_keys(name)),
        PluginSource::File(_) => false,
    };
    key == "parser"
        || key.starts_with("parser.")
        || (builtin && !in_set(config.sink.keys()) && !in_set(CONNECTOR_KEYS))
        || config.ignored_keys.iter().any(|k| k == key)
}

/// Whether a connector reading `topics` reads `topic`.
fn reads(topics: &TopicSelection, topic: &str) -> bool {
    match topics {
        TopicSelection::List(list) => list.iter().any(|t| t == topic),
        // The regex is librdkafka's; a topic with committed offsets of the group is one it read.
        TopicSelection::Regex(_) => true,
    }
}

async fn stop_run(run: Option<Run>) {
    if let Some(run) = run {
        run.stop.send_replace(true);
        run.handle.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    #[test]
    fn credential_values_are_hidden_in_traces() {
        let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
        let map = parse_text(
            "c",
            "name=x\nconnector.class=FileStreamSink\ntopics=t\nfile=/tmp/x\nsasl.password=hunter22\n\
             consumer.override.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule \
             required username=\"u\" password=\"jaas-s3cret\";\n",
        )
        .unwrap();
        let config = ConnectorConfig::from_map(&map, &worker).unwrap();
        let view = ConnectorView {
            name: "x".into(),
            config: map.entries().clone(),
            class: "FileStreamSink".into(),
            tasks: 1,
            target: TargetState::Running,
            status: Arc::new(ConnectorStatus::new("x")),
            secrets: config.secret_values(),
        };
        assert_eq!(view.redact("login hunter22 failed (jaas-s3cret)"), "login [hidden] failed ([hidden])");
        assert_eq!(view.redact("/tmp/x is fine"), "/tmp/x is fine");
    }
}
