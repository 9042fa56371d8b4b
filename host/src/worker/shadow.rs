//! Shadow runs through the supervisor: starting a candidate parser beside a running
//! connector's live one, reading what it found, stopping it, and promoting it with the same
//! live swap a parser-only configuration change makes.

use super::{invalid, lock, parser_key, parser_only_change, unknown, ConnectorView, Refusal, Worker};
use crate::config::{ConfigMap, ConnectorConfig};
use crate::pipeline::shadow::{Candidate, ShadowReport, ShadowSlot};
use crate::pipeline::swap::ParserSpec;

impl Worker {
    /// Starts a shadow run on the running connector `map` names: `map` is the connector's
    /// whole configuration (as `PUT /connectors/{name}/config` takes it) with the candidate's
    /// parser keys. Only parser keys may differ from the live configuration. Replaces a run
    /// in progress. Returns the candidate's plugin.
    pub async fn shadow_start(&self, map: ConfigMap) -> Result<String, Refusal> {
        let _order = self.lifecycle.lock().await;
        let config = self.validate(&map).map_err(invalid)?;
        let name = config.name.clone();
        let (live, swapper, slot) = {
            let slots = lock(&self.slots);
            let slot = slots.get(&name).ok_or_else(|| unknown(&name))?;
            let Some(run) = &slot.run else {
                return Err(Refusal::Conflict(format!(
                    "connector {name} is not running; a shadow run compares a candidate with the live parser, so \
                     resume the connector first"
                )));
            };
            (slot.config.clone(), run.handle.swapper.clone(), run.handle.shadow.clone())
        };
        if !parser_only_change(&live, &config) {
            return Err(Refusal::BadRequest(format!(
                "a shadow run only compares parsers, but these keys differ from connector {name}'s configuration \
                 and are not parser keys: {}; send the connector's configuration with only the parser keys changed",
                other_keys(&live, &config).join(", ")
            )));
        }
        let spec = ParserSpec {
            source: config.parser.clone(),
            settings: config.parser_settings.clone(),
            limits: config.limits,
        };
        let plugin = config.parser.to_string();
        let generation = swapper
            .prepare_candidate(spec)
            .await
            .map_err(|error| Refusal::BadRequest(format!("the candidate parser `{plugin}` cannot run: {error:#}")))?;
        slot.start(generation, Candidate { plugin: plugin.clone(), config: map }, &name)
            .map_err(|error| Refusal::Failed(format!("starting the shadow thread of connector {name}: {error}")))?;
        tracing::info!(connector = %name, candidate = %plugin, "Shadow run started.");
        Ok(plugin)
    }

    /// The shadow run of a connector: its candidate and what it found so far (none when no
    /// run is in progress).
    pub fn shadow(&self, name: &str) -> Result<Option<(Candidate, ShadowReport)>, Refusal> {
        Ok(self.shadow_slot(name)?.and_then(|slot| slot.current()).map(|run| (run.candidate.clone(), run.report())))
    }

    /// Ends a connector's shadow run; returns whether one was in progress.
    pub fn shadow_stop(&self, name: &str) -> Result<bool, Refusal> {
        let stopped = self.shadow_slot(name)?.and_then(|slot| slot.stop()).is_some();
        if stopped {
            tracing::info!(connector = %name, "Shadow run stopped.");
        }
        Ok(stopped)
    }

    /// Swaps the shadow run's candidate in as the live parser (exactly as a parser-only
    /// configuration change does: at a batch boundary, without a restart), then ends the
    /// run. Refused when no run is in progress or the connector's configuration changed
    /// since it started in keys other than the parser's.
    pub async fn shadow_promote(&self, name: &str) -> Result<ConnectorView, Refusal> {
        let run = self
            .shadow_slot(name)?
            .and_then(|slot| slot.current())
            .ok_or_else(|| Refusal::NotFound(format!("connector {name} has no shadow run to promote")))?;
        let candidate = self.validate(&run.candidate.config).map_err(invalid)?;
        let live = lock(&self.slots).get(name).map(|slot| slot.config.clone()).ok_or_else(|| unknown(name))?;
        if !parser_only_change(&live, &candidate) {
            return Err(Refusal::Conflict(format!(
                "connector {name}'s configuration changed since the shadow run started (keys {}); start a new \
                 shadow run with its current configuration",
                other_keys(&live, &candidate).join(", ")
            )));
        }
        let view = self.reconfigure(run.candidate.config.clone()).await?;
        if let Some(slot) = self.shadow_slot(name)? {
            slot.stop();
        }
        tracing::info!(connector = %name, parser = %run.candidate.plugin, "Shadow candidate promoted to live parser.");
        Ok(view)
    }

    /// The shadow slot of a running connector (none when it is not running).
    fn shadow_slot(&self, name: &str) -> Result<Option<std::sync::Arc<ShadowSlot>>, Refusal> {
        let slots = lock(&self.slots);
        let slot = slots.get(name).ok_or_else(|| unknown(name))?;
        Ok(slot.run.as_ref().map(|run| run.handle.shadow.clone()))
    }
}

/// Keys whose values differ between two configurations and are not parser keys.
fn other_keys(old: &ConnectorConfig, new: &ConnectorConfig) -> Vec<String> {
    let (a, b) = (old.raw.entries(), new.raw.entries());
    let mut keys: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k) && !(parser_key(old, k) && parser_key(new, k)))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}
