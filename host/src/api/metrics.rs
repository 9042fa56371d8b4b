//! `GET /metrics`: Prometheus (OpenMetrics) text with Kafka Connect's metric names as the
//! Confluent JMX exporter rules name them, read from the connectors' live counters at each
//! scrape. Status gauges are always exported, FAILED included (Kafka Connect drops a failed
//! task's metrics, which breaks alerts).
//!
//! sluice counts per connector, not per task (its tasks share one pipeline), so counters
//! carry `task="all"`; status gauges carry each task's number.

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
use crate::pipeline::status::{ConnectorState, Counters, Histogram, PER_RECORD_BOUNDS};
use crate::worker::{ConnectorView, TargetState};

type Labels = Vec<(&'static str, String)>;

/// The content type of the OpenMetrics text format, which Prometheus scrapes.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Registers metric families by name and fills them from the connectors.
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn counter(&mut self, name: &str, help: &str) -> Family<Labels, Counter> {
        let family = Family::<Labels, Counter>::default();
        // The encoder ends every help text with a period itself.
        self.registry.register(name, help.trim_end_matches('.'), family.clone());
        family
    }

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

/// Kafka Connect's averages and maxima (gauges, in its units) and sluice's timing totals.
fn timings(scrape: &mut Scrape, views: &[ConnectorView]) {
    type Read = fn(&Counters) -> f64;
    let gauges: [(&str, &str, Read); 8] = [
        (
            "kafka_connect_sink_task_metrics_put_batch_avg_time_ms",
            "Average time the sink took to write a batch (ms).",
            |c| c.put_batch_time.average() / 1000.0,
        ),
        (
            "kafka_connect_sink_task_metrics_put_batch_max_time_ms",
            "Longest time the sink took to write a batch (ms).",
            |c| c.put_batch_time.maximum() as f64 / 1000.0,
        ),
        ("kafka_connect_connector_task_metrics_batch_size_avg", "Average records per batch.", |c| {
            c.batch_size.average()
        }),
        ("kafka_connect_connector_task_metrics_batch_size_max", "Most records in one batch.", |c| {
            c.batch_size.maximum() as f64
        }),
        (
            "kafka_connect_connector_task_metrics_offset_commit_avg_time_ms",
            "Average time of an offset commit (ms).",
            |c| c.commit_time.average() / 1000.0,
        ),
        ("kafka_connect_connector_task_metrics_offset_commit_max_time_ms", "Longest offset commit (ms).", |c| {
            c.commit_time.maximum() as f64 / 1000.0
        }),
        (
            "kafka_connect_connector_task_metrics_offset_commit_failure_percentage",
            "Fraction (0 to 1) of offset commit attempts that failed.",
            |c| commit_fraction(c, true),
        ),
        (
            "kafka_connect_connector_task_metrics_offset_commit_success_percentage",
            "Fraction (0 to 1) of offset commit attempts that succeeded.",
            |c| commit_fraction(c, false),
        ),
    ];
    let sluice_gauges: [(&str, &str, Read); 4] = [
        ("sluice_parser_batch_max_seconds", "Longest time the parser took for one batch (s).", |c| {
            c.parse_time.maximum() as f64 / 1e6
        }),
        ("sluice_sink_request_max_seconds", "Longest sink request (s).", |c| {
            c.sink_request_time.maximum() as f64 / 1e6
        }),
        ("sluice_connector_inflight_records", "Records read but not yet written or dead-lettered.", |c| {
            Counters::get(&c.inflight_records) as f64
        }),
        ("sluice_connector_inflight_bytes", "Key, value and header bytes of the records in flight.", |c| {
            Counters::get(&c.inflight_bytes) as f64
        }),
    ];
    let totals: [(&str, &str, Read); 5] = [
        (
            "sluice_parser_time_seconds",
            "Time spent parsing (s); divide its rate by the read rate for time per record.",
            |c| c.parse_time.sum.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6,
        ),
        ("sluice_parser_batches", "Batches parsed.", |c| Counters::get(&c.parse_time.count) as f64),
        ("sluice_sink_request_time_seconds", "Time spent in sink requests (s).", |c| {
            c.sink_request_time.sum.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e6
        }),
        ("sluice_sink_requests", "Sink requests sent (retries included).", |c| {
            Counters::get(&c.sink_request_time.count) as f64
        }),
        ("sluice_offset_commit_failures", "Offset commits that failed.", |c| Counters::get(&c.commit_failures) as f64),
    ];
    let gauge_families: Vec<_> =
        gauges.iter().chain(&sluice_gauges).map(|(name, help, read)| (scrape.real_gauge(name, help), *read)).collect();
    let total_families: Vec<_> =
        totals.iter().map(|(name, help, read)| (scrape.real_counter(name, help), *read)).collect();
    let lag_max = scrape.gauge(
        "kafka_connect_sink_task_metrics_sink_record_lag_max",
        "Most records not yet written in any assigned partition (high watermark minus position).",
    );
    let lag = scrape.gauge(
        "sluice_consumer_lag",
        "Records not yet written per assigned partition (high watermark as of the partition's last fetch).",
    );
    for view in views {
        let labels = vec![("connector", view.name.clone()), ("task", "all".to_string())];
        let counters = &view.status.counters;
        for (family, read) in &gauge_families {
            family.get_or_create(&labels).set(read(counters));
        }
        for (family, read) in &total_families {
            family.get_or_create(&labels).inc_by(read(counters));
        }
        let partitions = view.status.lag();
        lag_max.get_or_create(&labels).set(partitions.iter().map(|(_, _, records)| *records).max().unwrap_or(0));
        for (topic, partition, records) in partitions {
            let labels = vec![("connector", view.name.clone()), ("topic", topic), ("partition", partition.to_string())];
            lag.get_or_create(&labels).set(records);
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

/// Counters of one connector exported as Prometheus counters (the encoder appends `_total`,
/// which gives Kafka Connect's `*-total` attribute names).
fn counters(view: &ConnectorView) -> [(&'static str, &'static str, &AtomicU64); 7] {
    let c = &view.status.counters;
    [
        ("kafka_connect_sink_task_metrics_sink_record_read", "Records read from Kafka.", &c.records_read),
        (
            "kafka_connect_sink_task_metrics_sink_record_send",
            "Records handled by the sink (written, or acknowledged with no output).",
            &c.records_written,
        ),
        ("kafka_connect_sink_task_metrics_offset_commit_completion", "Offset commits that succeeded.", &c.commits),
        ("sluice_connector_outputs_written", "Outputs (rows, points, lines) written to the sink.", &c.outputs_written),
        (
            "sluice_connector_records_without_output",
            "Records that produced no output (tombstones, skipped by the parser).",
            &c.records_without_output,
        ),
        ("sluice_parser_swaps", "Parser swaps published.", &c.swaps),
        (
            "sluice_parser_swaps_refused",
            "Parser replacements refused (compile, instantiate or configure failed).",
            &c.swaps_refused,
        ),
    ]
}

/// Totals whose Kafka Connect attribute names do not end in `-total`: exported with those
/// exact names (as the JMX exporter does), typed as gauges.
fn totals(view: &ConnectorView) -> [(&'static str, &'static str, &AtomicU64); 5] {
    let c = &view.status.counters;
    [
        (
            "kafka_connect_task_error_metrics_total_record_failures",
            "Records that failed in the parser or the sink.",
            &c.records_failed,
        ),
        (
            "kafka_connect_task_error_metrics_total_record_errors",
            "Records that failed in the parser or the sink.",
            &c.records_failed,
        ),
        (
            "kafka_connect_task_error_metrics_total_records_skipped",
            "Failed records skipped (tolerance all, no dead-letter target).",
            &c.records_skipped,
        ),
        ("kafka_connect_task_error_metrics_total_retries", "Sink writes retried.", &c.retries),
        (
            "kafka_connect_task_error_metrics_deadletterqueue_produce_requests",
            "Failed records sent to the dead-letter target.",
            &c.records_dead_lettered,
        ),
    ]
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
    let partition_count = scrape
        .gauge("kafka_connect_sink_task_metrics_partition_count", "Partitions assigned to the connector's consumer.");
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
    let mut counter_families = Vec::new();
    let mut total_families = Vec::new();
    if let Some(first) = views.first() {
        for (name, help, _) in counters(first) {
            counter_families.push(scrape.counter(name, help));
        }
        for (name, help, _) in totals(first) {
            total_families.push(scrape.gauge(name, help));
        }
    }

    connector_count.get_or_create(&vec![("connector", "aggregate".to_string())]).set(views.len() as i64);
    let running_tasks = views.iter().filter(|v| v.target != TargetState::Stopped).map(|v| v.tasks as i64).sum();
    task_count.get_or_create(&vec![("connector", "aggregate".to_string())]).set(running_tasks);
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
        let tasks = if view.target == TargetState::Stopped { 0 } else { view.tasks };
        for task in 0..tasks {
            let labels =
                vec![("connector", view.name.clone()), ("task", task.to_string()), ("status", status_label(&state))];
            task_status.get_or_create(&labels).set(1);
        }
        for (which, family) in &per_state {
            let count = match *which {
                "total" => tasks,
                _ if status_label(&state) == *which => tasks,
                _ => 0,
            };
            family.get_or_create(&connector).set(count as i64);
        }
        let task_labels = vec![("connector", view.name.clone()), ("task", "all".to_string())];
        partition_count.get_or_create(&task_labels).set(view.status.assigned() as i64);
        for (family, (_, _, counter)) in counter_families.iter().zip(counters(view)) {
            family.get_or_create(&task_labels).inc_by(Counters::get(counter));
        }
        for (family, (_, _, total)) in total_families.iter().zip(totals(view)) {
            family.get_or_create(&task_labels).set(Counters::get(total) as i64);
        }
    }
    timings(&mut scrape, &views);
    let per_record = scrape.histogram(
        "sluice_parser_record_seconds",
        "The parser's time per record (s; each record of a batch counts the batch's mean).",
    );
    for view in &views {
        let labels = vec![("connector", view.name.clone()), ("task", "all".to_string())];
        per_record.get_or_create(&labels).read(&view.status.counters.parse_time_per_record);
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
