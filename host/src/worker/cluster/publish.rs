//! Writing this worker's connector states and membership to the status topic, every
//! `heartbeat.interval.ms` and once more (as tombstones) when the worker stops.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::watch;

use super::status;
use crate::worker::{TargetState, Worker};

/// Publishes until `stop` turns true, then removes this worker's records.
pub async fn publish(
    worker: Arc<Worker>,
    producer: FutureProducer,
    topic: String,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut published: BTreeSet<String> = BTreeSet::new();
    let mut generation = 0u64;
    let worker_id = worker.worker_id();
    let send = |key: String, value: Option<Vec<u8>>| {
        let producer = producer.clone();
        let topic = topic.clone();
        async move {
            let mut record = FutureRecord::<str, [u8]>::to(&topic).key(&key);
            if let Some(value) = &value {
                record = record.payload(value);
            }
            if let Err((error, _)) = producer.send(record, Duration::from_secs(10)).await {
                tracing::warn!(topic = %topic, key = %key, %error, "Writing to the status topic failed.");
            }
        }
    };
    loop {
        generation += 1;
        let views = worker.views();
        let current: BTreeSet<String> = views.iter().map(|v| v.name.clone()).collect();
        for view in &views {
            let state = match view.status.state() {
                crate::pipeline::status::ConnectorState::Stopped if view.target != TargetState::Stopped => {
                    crate::pipeline::status::ConnectorState::Unassigned
                }
                state => state,
            };
            let trace = match &state {
                crate::pipeline::status::ConnectorState::Failed(reason) => Some(view.redact(reason)),
                _ => None,
            };
            let partitions = if view.target == TargetState::Stopped { Vec::new() } else { view.status.assignment() };
            let task = status::state_value(state.name(), trace.as_deref(), &worker_id, generation, Some(&partitions));
            send(status::task_key(&view.name, &worker_id), Some(task)).await;
            let connector = status::state_value(state.name(), trace.as_deref(), &worker_id, generation, None);
            send(status::connector_key(&view.name), Some(connector)).await;
        }
        for gone in published.difference(&current) {
            send(status::task_key(gone, &worker_id), None).await;
        }
        published = current;
        send(status::worker_key(&worker_id), Some(status::worker_value(&worker_id, views.len()))).await;
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.wait_for(|stop| *stop) => break,
        }
    }
    for name in &published {
        send(status::task_key(name, &worker_id), None).await;
    }
    send(status::worker_key(&worker_id), None).await;
}
