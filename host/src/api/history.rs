//! Recent history of every connector: its counters sampled every
//! `sluice.status.sample.interval.ms` into a small ring per connector, and the JSON the
//! status page (`GET /ui`) and `sluice top` read (`GET /ui/data`): per connector its state,
//! totals, rates over the last interval, rates and lag per sample, and the last failed
//! records.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::Api;
use crate::pipeline::status::{ConnectorState, ConnectorStatus, Counters};
use crate::worker::Worker;

/// Samples kept per connector (10 minutes at the default 5 s interval).
pub const KEPT_SAMPLES: usize = 120;

/// The cumulative counters of one connector at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    at_ms: i64,
    records_in: u64,
    records_out: u64,
    records_failed: u64,
    dead_lettered: u64,
    retries: u64,
    parsed: u64,
    parse_ns: u64,
    lag: i64,
}

impl Sample {
    fn of(status: &ConnectorStatus, at_ms: i64) -> Self {
        let c = &status.counters.all_tasks;
        Self {
            at_ms,
            records_in: Counters::get(&c.records_read),
            records_out: Counters::get(&c.records_written),
            records_failed: Counters::get(&c.records_failed),
            dead_lettered: Counters::get(&c.records_dead_lettered),
            retries: Counters::get(&c.retries),
            parsed: c.parse_time_per_record.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum(),
            parse_ns: c.parse_time_per_record.sum_ns.load(Ordering::Relaxed),
            lag: status.lag().iter().map(|(_, _, lag)| (*lag).max(0)).sum(),
        }
    }

    /// Rates from `earlier` to this sample; a counter that went down (the connector
    /// restarted with fresh counters) counts from zero.
    fn rates_since(&self, earlier: &Sample) -> Value {
        let seconds = ((self.at_ms - earlier.at_ms) as f64 / 1000.0).max(1e-3);
        let delta = |now: u64, then: u64| if now >= then { now - then } else { now };
        let parsed = delta(self.parsed, earlier.parsed);
        let plugin_us =
            if parsed == 0 { 0.0 } else { delta(self.parse_ns, earlier.parse_ns) as f64 / 1000.0 / parsed as f64 };
        json!({
            "at_ms": self.at_ms,
            "in_per_s": round(delta(self.records_in, earlier.records_in) as f64 / seconds),
            "out_per_s": round(delta(self.records_out, earlier.records_out) as f64 / seconds),
            "failed_per_s": round(delta(self.records_failed, earlier.records_failed) as f64 / seconds),
            "plugin_us_per_record": round(plugin_us),
            "lag": self.lag,
        })
    }
}

fn round(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The sampled history of every connector of a worker.
pub struct History {
    interval: Duration,
    connectors: Mutex<BTreeMap<String, VecDeque<Sample>>>,
}

impl History {
    /// Starts sampling `worker`'s connectors every `sluice.status.sample.interval.ms` (the
    /// first sample at once) until the returned history is dropped.
    pub fn start(worker: Arc<Worker>) -> Arc<Self> {
        let interval = worker.config().status_sample_interval;
        let history = Arc::new(Self { interval, connectors: Mutex::default() });
        let weak = Arc::downgrade(&history);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(history) = weak.upgrade() else { return };
                history.sample(&worker);
            }
        });
        history
    }

    /// Takes one sample of every connector; forgets connectors that no longer exist.
    fn sample(&self, worker: &Worker) {
        let at_ms = now_ms();
        let views = worker.views();
        let mut connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        connectors.retain(|name, _| views.iter().any(|v| &v.name == name));
        for view in &views {
            let ring = connectors.entry(view.name.clone()).or_default();
            if ring.len() == KEPT_SAMPLES {
                ring.pop_front();
            }
            ring.push_back(Sample::of(&view.status, at_ms));
        }
    }

    /// The JSON of `GET /ui/data`.
    pub(super) fn snapshot(&self, worker: &Worker) -> Value {
        let at_ms = now_ms();
        let connectors = self.connectors.lock().unwrap_or_else(|e| e.into_inner());
        let list: Vec<Value> = worker
            .views()
            .iter()
            .map(|view| {
                let status = &view.status;
                let now = Sample::of(status, at_ms);
                let ring = connectors.get(&view.name);
                let samples: Vec<Value> = ring
                    .map(|r| r.iter().zip(r.iter().skip(1)).map(|(a, b)| b.rates_since(a)).collect())
                    .unwrap_or_default();
                let rates = samples.last().cloned().unwrap_or_else(|| now.rates_since(&now));
                let state = status.state();
                let reason = match &state {
                    ConnectorState::Failed(reason) => Some(view.redact(reason)),
                    _ => None,
                };
                let failures: Vec<Value> = status
                    .recent_failures()
                    .into_iter()
                    .rev()
                    .map(|f| json!({"at_ms": f.at_ms, "handling": f.handling, "reason": view.redact(&f.reason)}))
                    .collect();
                let c = &status.counters;
                json!({
                    "name": view.name,
                    "state": state.name(),
                    "failure": reason,
                    "tasks": view.tasks,
                    "totals": {
                        "records_in": now.records_in,
                        "records_out": now.records_out,
                        "records_failed": now.records_failed,
                        "dead_lettered": now.dead_lettered,
                        "skipped": Counters::get(&c.all_tasks.records_skipped),
                        "retries": now.retries,
                        "lag": now.lag,
                        "inflight_records": Counters::get(&c.inflight_records),
                        "swaps": Counters::get(&c.swaps),
                        "plugin_us_per_record": if now.parsed == 0 { 0.0 } else {
                            round(now.parse_ns as f64 / 1000.0 / now.parsed as f64)
                        },
                    },
                    "rates": rates,
                    "samples": samples,
                    "recent_failures": failures,
                })
            })
            .collect();
        json!({"at_ms": at_ms, "interval_ms": self.interval.as_millis() as u64, "connectors": list})
    }
}

/// `GET /ui/data`: every connector's state, totals, recent rates and failures.
pub(super) async fn data(State(api): State<Api>) -> Json<Value> {
    Json(api.history.snapshot(&api.worker))
}

#[cfg(test)]
mod tests {
    use super::Sample;

    fn sample(at_ms: i64, records_in: u64, records_out: u64, parsed: u64, parse_ns: u64) -> Sample {
        Sample {
            at_ms,
            records_in,
            records_out,
            records_failed: 0,
            dead_lettered: 0,
            retries: 0,
            parsed,
            parse_ns,
            lag: 4,
        }
    }

    #[test]
    fn rates_are_per_second_and_a_restart_counts_from_zero() {
        let rates = sample(7_000, 150, 120, 50, 100_000).rates_since(&sample(5_000, 50, 40, 0, 0));
        assert_eq!(rates["in_per_s"], 50.0);
        assert_eq!(rates["out_per_s"], 40.0);
        assert_eq!(rates["plugin_us_per_record"], 2.0);
        assert_eq!(rates["lag"], 4);
        // Fresh counters (a restarted connector) are below the last sample's.
        let rates = sample(6_000, 30, 10, 0, 0).rates_since(&sample(5_000, 500, 400, 0, 0));
        assert_eq!((rates["in_per_s"].as_f64(), rates["out_per_s"].as_f64()), (Some(30.0), Some(10.0)));
    }
}
