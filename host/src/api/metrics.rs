//! `GET /metrics`: Prometheus (OpenMetrics) text with Kafka Connect's metric names as the
//! Confluent JMX exporter rules name them, read from the connectors' live counters at each
//! scrape. Status gauges are always exported, FAILED included (Kafka Connect drops a failed
//! task's metrics, which breaks alerts).
//!
//! Task metrics carry each task's number (a task is a sink lane with its parser threads and
//! its share of the partitions); what only the connector as a whole has (offset commits by
//! its one consumer, swaps, the in-flight cap) carries `task="all"`.

use std::sync::atomic::AtomicU64;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;

use super::Api;
use crate::pipeline;
use crate::pipeline::status::{ConnectorState, Counters, Histogram, TaskCounters, PER_RECORD_BOUNDS};
use crate::worker::{ConnectorView, TargetState};

type Labels = Vec<(&'static str, String)>;

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Registers metric families by name and fills them from the connectors.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn gauge(&mut self, name: &str, help: &str) -> Family<Labels, Gauge> {
        let family = Family::<Labels, Gauge>::default();
        self.registry.register(name, help.trim_end_matches('.'), family.clone());
        family
    }

    fn real_gauge(&mut self, name: &str, help: &str) -> Family<Labels, Gauge<f64, AtomicU64>> {
        let family = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        self.registry.register(name, help.trim_end_matches('.'), family.clone());
        family
    }

    fn histogram(&mut self, name: &str, help: &str) -> Family<Labels, HistogramReading> {
        let family = Family::<Labels, HistogramReading>::default();
        self.registry.register(name, help.trim_end_matches('.'), family.clone());
        family
    }

    fn real_counter(&mut self, name: &str, help: &str) -> Family<Labels, Counter<f64, AtomicU64>> {
        let family = Family::<Labels, Counter<f64, AtomicU64>>::default();
        self.registry.register(name, help.trim_end_matches('.'), family.clone());
        family
    }
}

/// A [`Histogram`] as read at the scrape (seconds), encoded as an OpenMetrics histogram.
#[derive(Debug, Default)]
struct HistogramReading(std::sync::Mutex<Reading>);

/// Sum (s), count and per-bucket counts by upper bound.
#[derive(Debug, Default)]
struct Reading {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl HistogramReading {
    fn read(&self, histogram: &Histogram) {
        let load = |a: &AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        let bounds = PER_RECORD_BOUNDS.iter().copied().chain([f64::INFINITY]);
        let buckets = bounds.zip(histogram.buckets.iter().map(load)).collect();
        let count = histogram.buckets.iter().map(load).sum();
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Reading { sum: load(&histogram.sum_ns) as f64 / 1e9, count, buckets };
    }
}

impl TypedMetric for HistogramReading {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for HistogramReading {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let reading = self.0.lock().unwrap_or_else(|e| e.into_inner());
        encoder.encode_histogram::<NoLabelSet>(reading.sum, reading.count, &reading.buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}

/// How a value is exported.
#[derive(Clone, Copy)]
enum Kind {
    /// A Prometheus counter (the encoder appends `_total`).
    Counter,
    /// A gauge, also for Kafka Connect totals whose names do not end in `-total` (exported
    /// with their exact names, as the JMX exporter does).
    Gauge,
}

/// One exported value: name, help, kind and how to read it.
type Exported<C> = (&'static str, &'static str, Kind, fn(&C) -> f64);

fn get(counter: &AtomicU64) -> f64 {
    Counters::get(counter) as f64
}

fn micros_as_seconds(micros: &AtomicU64) -> f64 {
    Counters::get(micros) as f64 / 1e6
}

/// What each task counts, exported with labels `connector` and `task`.
const PER_TASK: &[Exported<TaskCounters>] = &[
    ("kafka_connect_sink_task_metrics_sink_record_read", "Records read from Kafka.", Kind::Counter, |c| {
        get(&c.records_read)
    }),
    (
        "kafka_connect_sink_task_metrics_sink_record_send",
        "Records handled by the sink (written, or acknowledged with no output).",
        Kind::Counter,
        |c| get(&c.records_written),
    ),
    ("sluice_connector_outputs_written", "Outputs (rows, points, lines) written to the sink.", Kind::Counter, |c| {
        get(&c.outputs_written)
    }),
    (
        "sluice_connector_records_without_output",
        "Records that produced no output (tombstones, skipped by the parser).",
        Kind::Counter,
        |c| get(&c.records_without_output),
    ),
    (
        "kafka_connect_task_error_metrics_total_record_failures",
        "Records that failed in the parser or the sink.",
        Kind::Gauge,
        |c| get(&c.records_failed),
    ),
    (
        "kafka_connect_task_error_metrics_total_record_errors",
        "Records that failed in the parser or the sink.",
        Kind::Gauge,
        |c| get(&c.records_failed),
    ),
    (
        "kafka_connect_task_error_metrics_total_records_skipped",
        "Failed records skipped (tolerance all, no dead-letter target).",
        Kind::Gauge,
        |c| get(&c.records_skipped),
    ),
    ("kafka_connect_task_error_metrics_total_retries", "Sink writes retried.", Kind::Gauge, |c| get(&c.retries)),
    (
        "kafka_connect_task_error_metrics_deadletterqueue_produce_requests",
        "Failed records sent to the dead-letter target.",
        Kind::Gauge,
        |c| get(&c.records_dead_lettered),
    ),
    (
        "kafka_connect_sink_task_metrics_put_batch_avg_time_ms",
        "Average time the sink took to write a batch (ms).",
        Kind::Gauge,
        |c| c.put_batch_time.average() / 1000.0,
    ),
    (
        "kafka_connect_sink_task_metrics_put_batch_max_time_ms",
        "Longest time the sink took to write a batch (ms).",
        Kind::Gauge,
        |c| c.put_batch_time.maximum() as f64 / 1000.0,
    ),
    ("kafka_connect_connector_task_metrics_batch_size_avg", "Average records per batch.", Kind::Gauge, |c| {
        c.batch_size.average()
    }),
    ("kafka_connect_connector_task_metrics_batch_size_max", "Most records in one batch.", Kind::Gauge, |c| {
        c.batch_size.maximum() as f64
    }),
    ("sluice_parser_batch_max_seconds", "Longest time the parser took for one batch (s).", Kind::Gauge, |c| {
        micros_as_seconds(&c.parse_time.max)
    }),
    (
        "sluice_parser_time_seconds",
        "Time spent parsing (s); divide its rate by the read rate for time per record.",
        Kind::Counter,
        |c| micros_as_seconds(&c.parse_time.sum),
    ),
    ("sluice_parser_batches", "Batches parsed.", Kind::Counter, |c| get(&c.parse_time.count)),
    ("sluice_sink_request_max_seconds", "Longest sink request (s).", Kind::Gauge, |c| {
        micros_as_seconds(&c.sink_request_time.max)
    }),
    ("sluice_sink_request_time_seconds", "Time spent in sink requests (s).", Kind::Counter, |c| {
        micros_as_seconds(&c.sink_request_time.sum)
    }),
    ("sluice_sink_requests", "Sink requests sent (retries included).", Kind::Counter, |c| {
        get(&c.sink_request_time.count)
    }),
];

/// What only the connector as a whole counts (one consumer commits for all its tasks; swaps
/// and the in-flight cap are shared), exported with `task="all"`.
const PER_CONNECTOR: &[Exported<Counters>] = &[
    (
        "kafka_connect_sink_task_metrics_offset_commit_completion",
        "Offset commits that succeeded.",
        Kind::Counter,
        |c| get(&c.commits),
    ),
    ("sluice_offset_commit_failures", "Offset commits that failed.", Kind::Counter, |c| get(&c.commit_failures)),
    (
        "kafka_connect_connector_task_metrics_offset_commit_avg_time_ms",
        "Average time of an offset commit (ms).",
        Kind::Gauge,
        |c| c.commit_time.average() / 1000.0,
    ),
    (
        "kafka_connect_connector_task_metrics_offset_commit_max_time_ms",
        "Longest offset commit (ms).",
        Kind::Gauge,
        |c| c.commit_time.maximum() as f64 / 1000.0,
    ),
    (
        "kafka_connect_connector_task_metrics_offset_commit_failure_percentage",
        "Fraction (0 to 1) of offset commit attempts that failed.",
        Kind::Gauge,
        |c| commit_fraction(c, true),
    ),
    (
        "kafka_connect_connector_task_metrics_offset_commit_success_percentage",
        "Fraction (0 to 1) of offset commit attempts that succeeded.",
        Kind::Gauge,
        |c| commit_fraction(c, false),
    ),
    ("sluice_parser_swaps", "Parser swaps published.", Kind::Counter, |c| get(&c.swaps)),
    (
        "sluice_parser_swaps_refused",
        "Parser replacements refused (compile, instantiate or configure failed).",
        Kind::Counter,
        |c| get(&c.swaps_refused),
    ),
    ("sluice_connector_inflight_records", "Records read but not yet written or dead-lettered.", Kind::Gauge, |c| {
        get(&c.inflight_records)
    }),
    ("sluice_connector_inflight_bytes", "Key, value and header bytes of the records in flight.", Kind::Gauge, |c| {
        get(&c.inflight_bytes)
    }),
];

/// A registered family of [`Exported`] values.
enum ExportedFamily {
    Counter(Family<Labels, Counter<f64, AtomicU64>>),
    Gauge(Family<Labels, Gauge<f64, AtomicU64>>),
}

impl ExportedFamily {
    fn register(scrape: &mut Scrape, name: &str, help: &str, kind: Kind) -> Self {
        match kind {
            Kind::Counter => Self::Counter(scrape.real_counter(name, help)),
            Kind::Gauge => Self::Gauge(scrape.real_gauge(name, help)),
        }
    }

    fn set(&self, labels: &Labels, value: f64) {
        match self {
            Self::Counter(family) => {
                family.get_or_create(labels).inc_by(value);
            }
            Self::Gauge(family) => {
                family.get_or_create(labels).set(value);
            }
        }
    }
}

/// The fraction of commit attempts that failed (or succeeded); 0 before any attempt.
fn commit_fraction(counters: &Counters, failed: bool) -> f64 {
    let attempts = Counters::get(&counters.commit_time.count);
    if attempts == 0 {
        return 0.0;
    }
    let failures = Counters::get(&counters.commit_failures).min(attempts);
    let part = if failed { failures } else { attempts - failures };
    part as f64 / attempts as f64
}

fn status_label(state: &ConnectorState) -> String {
    state.name().to_ascii_lowercase()
}

/// A connector's tasks with their counters: those of its running pipeline, or (a stopped
/// connector, one that failed before starting) its task numbers with `idle` zero counters,
/// so series do not vanish with a state change.
fn tasks<'a>(view: &'a ConnectorView, idle: &'a TaskCounters) -> Vec<(usize, &'a TaskCounters)> {
    if view.status.tasks.is_empty() {
        (0..view.tasks.max(1)).map(|task| (task, idle)).collect()
    } else {
        view.status.tasks.iter().enumerate().collect()
    }
}

fn render(api: &Api) -> Result<String, std::fmt::Error> {
    let views = api.worker.views();
    let mut scrape = Scrape { registry: Registry::default() };

    let connector_status = scrape.gauge(
        "kafka_connect_connector_metrics",
        "1 for the connector's current status (label `status`), with its type, class and version.",
    );
    let task_status = scrape
        .gauge("kafka_connect_connector_task_metrics_status", "1 for each task's current status (label `status`).");
    let connector_count =
        scrape.gauge("kafka_connect_connect_worker_metrics_connector_count", "Connectors of this worker.");
    let task_count = scrape.gauge("kafka_connect_connect_worker_metrics_task_count", "Tasks of this worker.");
    let per_state: Vec<(&str, Family<Labels, Gauge>)> = ["total", "running", "paused", "failed", "unassigned"]
        .into_iter()
        .map(|state| {
            let name = format!("kafka_connect_connect_worker_metrics_connector_{state}_task_count");
            (state, scrape.gauge(&name, &format!("Tasks of the connector that are {state}.")))
        })
        .collect();
    let per_task: Vec<_> = PER_TASK
        .iter()
        .map(|(name, help, kind, read)| (ExportedFamily::register(&mut scrape, name, help, *kind), *read))
        .collect();
    let per_connector: Vec<_> = PER_CONNECTOR
        .iter()
        .map(|(name, help, kind, read)| (ExportedFamily::register(&mut scrape, name, help, *kind), *read))
        .collect();
    let partition_count = scrape.gauge("kafka_connect_sink_task_metrics_partition_count", "Partitions of the task.");
    let lag_max = scrape.gauge(
        "kafka_connect_sink_task_metrics_sink_record_lag_max",
        "Most records not yet written in any partition of the task (high watermark minus position).",
    );
    let lag = scrape.gauge(
        "sluice_consumer_lag",
        "Records not yet written per assigned partition (high watermark as of the partition's last fetch).",
    );
    let per_record = scrape.histogram(
        "sluice_parser_record_seconds",
        "The parser's time per record (s; each record of a batch counts the batch's mean).",
    );

    connector_count.get_or_create(&vec![("connector", "aggregate".to_string())]).set(views.len() as i64);
    let running_tasks = views.iter().filter(|v| v.target != TargetState::Stopped).map(|v| v.tasks as i64).sum();
    task_count.get_or_create(&vec![("connector", "aggregate".to_string())]).set(running_tasks);
    let idle = TaskCounters::default();
    for view in &views {
        let state = view.status.state();
        let connector = vec![("connector", view.name.clone())];
        let mut labels = connector.clone();
        labels.extend([
            ("status", status_label(&state)),
            ("connector_type", "sink".to_string()),
            ("connector_class", view.class.clone()),
            ("connector_version", env!("CARGO_PKG_VERSION").to_string()),
        ]);
        connector_status.get_or_create(&labels).set(1);
        let running = if view.target == TargetState::Stopped { 0 } else { view.tasks };
        for task in 0..running {
            let labels =
                vec![("connector", view.name.clone()), ("task", task.to_string()), ("status", status_label(&state))];
            task_status.get_or_create(&labels).set(1);
        }
        for (which, family) in &per_state {
            let count = match *which {
                "total" => running,
                _ if status_label(&state) == *which => running,
                _ => 0,
            };
            family.get_or_create(&connector).set(count as i64);
        }

        let all = vec![("connector", view.name.clone()), ("task", "all".to_string())];
        for (family, read) in &per_connector {
            family.set(&all, read(&view.status.counters));
        }
        let partitions = view.status.lag();
        let tasks = tasks(view, &idle);
        for &(task, counters) in &tasks {
            let labels = vec![("connector", view.name.clone()), ("task", task.to_string())];
            for (family, read) in &per_task {
                family.set(&labels, read(counters));
            }
            per_record.get_or_create(&labels).read(&counters.parse_time_per_record);
            let mine: Vec<i64> = partitions
                .iter()
                .filter(|(topic, partition, _)| pipeline::task_of(topic, *partition, tasks.len()) == task)
                .map(|(_, _, records)| *records)
                .collect();
            let assigned = if tasks.len() == 1 { view.status.assigned() as i64 } else { mine.len() as i64 };
            partition_count.get_or_create(&labels).set(assigned);
            lag_max.get_or_create(&labels).set(mine.into_iter().max().unwrap_or(0));
        }
        for (topic, partition, records) in partitions {
            let labels = vec![("connector", view.name.clone()), ("topic", topic), ("partition", partition.to_string())];
            lag.get_or_create(&labels).set(records);
        }
    }
    let mut out = String::new();
    encode(&mut out, &scrape.registry)?;
    Ok(out)
}

/// `GET /metrics`.
pub(super) async fn scrape(State(api): State<Api>) -> Response {
    match render(&api) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "encoding the metrics failed").into_response(),
    }
}
