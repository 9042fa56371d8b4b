//! Shadow runs: a candidate parser (another plugin, or the same one with other settings)
//! parses copies of the batches the live parser parsed, on its own thread, and its outcomes
//! are compared record by record with the live ones. Nothing the candidate makes is written,
//! and nothing about delivery changes: the live batch goes to its sink lane exactly as
//! without a shadow, and offsets commit after the live write.
//!
//! The live path only pays for a shadow while one runs: copying the batch and its outcomes
//! into a bounded queue. When the candidate falls behind, batches it has no room for are
//! skipped (and counted), so a slow candidate never slows the connector; a candidate that
//! traps only produces differences ("error only in the candidate"), and one that can no
//! longer be instantiated stops the shadow run, not the connector.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::swap::ParserGeneration;
use super::task::{transform_and_parse, PrepareError};
use crate::model::{Column, KafkaRecord, Output, Value};
use crate::plugin::{parse_isolating, PluginInstance, RecordFailure};
use crate::transforms::RecordTransforms;

/// How many differences a report keeps in full (the counts go on past it).
pub const KEPT_DIFFERENCES: usize = 100;

/// How many batches may wait for the candidate before new ones are skipped.
const QUEUE_BATCHES: usize = 64;

/// One record's outcome: its outputs, or why it has none.
pub type Outcome = Result<Vec<Output>, RecordFailure>;

/// A connector's shadow slot: empty, or the shadow run in progress.
#[derive(Default)]
pub struct ShadowSlot {
    /// Set while a run is in the slot (the parser workers' only cost without one is
    /// reading this flag).
    active: AtomicBool,
    run: Mutex<Option<Arc<ShadowRun>>>,
    /// The connector's transforms, applied before the candidate parses, as before the live one.
    transforms: Option<Arc<RecordTransforms>>,
}

/// A candidate parser running beside the live one.
pub struct ShadowRun {
    /// What the candidate is (plugin and, for the API, the configuration it came from).
    pub candidate: Candidate,
    queue: SyncSender<Job>,
    report: Arc<Mutex<ShadowReport>>,
}

/// What a shadow run was started with, kept so it can be promoted.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The plugin, as the live parser's is named (`builtin:json`, a file path).
    pub plugin: String,
    /// The connector configuration the candidate's parser keys came from.
    pub config: crate::config::ConfigMap,
}

/// A copy of a live batch and its outcomes.
struct Job {
    records: Vec<KafkaRecord>,
    live: Vec<Outcome>,
    live_elapsed: Duration,
}

/// What a shadow run found so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShadowReport {
    /// Records both parsers parsed.
    pub records_compared: u64,
    /// Records whose outcomes were the same (the same outputs, or both refused).
    pub records_agreeing: u64,
    /// Records with at least one difference.
    pub records_differing: u64,
    /// Live batches the candidate parsed.
    pub batches_compared: u64,
    /// Live batches skipped because the candidate was behind (its queue was full).
    pub batches_skipped: u64,
    /// Differences by kind (a record may count several: one per output).
    pub counts: DifferenceCounts,
    /// The first [`KEPT_DIFFERENCES`] differences, in the order found.
    pub differences: Vec<Difference>,
    /// Mean parse time per record of the live parser on the compared batches, in microseconds.
    pub live_us_per_record: f64,
    /// Mean parse time per record of the candidate, in microseconds.
    pub candidate_us_per_record: f64,
    /// Why the run stopped comparing (the candidate could not be restarted), if it did.
    pub stopped: Option<String>,
    #[serde(skip)]
    live_ns: u128,
    #[serde(skip)]
    candidate_ns: u128,
}

/// Differences by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DifferenceCounts {
    /// Outputs the live parser made that the candidate did not.
    pub missing: u64,
    /// Outputs the candidate made that the live parser did not.
    pub extra: u64,
    /// Outputs both made at the same position, with different contents.
    pub value_differs: u64,
    /// Records the live parser refused (or trapped on) and the candidate parsed.
    pub error_only_live: u64,
    /// Records the candidate refused (or trapped on) and the live parser parsed.
    pub error_only_candidate: u64,
}

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// See [`DifferenceCounts::missing`].
    Missing,
    /// See [`DifferenceCounts::extra`].
    Extra,
    /// See [`DifferenceCounts::value_differs`].
    ValueDiffers,
    /// See [`DifferenceCounts::error_only_live`].
    ErrorOnlyLive,
    /// See [`DifferenceCounts::error_only_candidate`].
    ErrorOnlyCandidate,
}

/// One difference, with the coordinates of the record it is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// The record's topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The position of the output among the record's outputs (none for a record-level error).
    pub output: Option<usize>,
    /// The kind.
    pub kind: DifferenceKind,
    /// What differed, readably (`column `x`: live 1 (int64), candidate "1" (text)`).
    pub detail: String,
}

impl ShadowSlot {
    /// An empty slot for a connector whose records go through `transforms`.
    pub fn new(transforms: Option<Arc<RecordTransforms>>) -> Self {
        Self { transforms, ..Self::default() }
    }

    /// Starts comparing `generation` (prepared with one instance) with the live parser,
    /// replacing any run in progress.
    pub fn start(&self, generation: ParserGeneration, candidate: Candidate, connector: &str) -> std::io::Result<()> {
        let (queue, jobs) = sync_channel(QUEUE_BATCHES);
        let report = Arc::new(Mutex::new(ShadowReport::default()));
        let comparer = Comparer {
            generation: Arc::new(generation),
            instance: None,
            transforms: self.transforms.clone(),
            report: report.clone(),
        };
        std::thread::Builder::new().name(format!("sluice-shadow-{connector}")).spawn(move || comparer.run(jobs))?;
        let run = Arc::new(ShadowRun { candidate, queue, report });
        *lock(&self.run) = Some(run);
        self.active.store(true, Ordering::Release);
        Ok(())
    }

    /// The run in progress.
    pub fn current(&self) -> Option<Arc<ShadowRun>> {
        lock(&self.run).clone()
    }

    /// Ends the run in progress (its thread finishes the batch it is on and exits); returns it.
    pub fn stop(&self) -> Option<Arc<ShadowRun>> {
        self.active.store(false, Ordering::Release);
        lock(&self.run).take()
    }

    /// Offers a live batch and its outcomes to the run in progress, if any. Never blocks: a
    /// candidate that is behind misses the batch (counted in
    /// [`ShadowReport::batches_skipped`]).
    pub fn offer(&self, records: &[KafkaRecord], live: &[Outcome], live_elapsed: Duration) {
        if !self.active.load(Ordering::Relaxed) {
            return;
        }
        let Some(run) = self.current() else { return };
        let job = Job { records: records.to_vec(), live: live.to_vec(), live_elapsed };
        match run.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => lock(&run.report).batches_skipped += 1,
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

impl ShadowRun {
    /// A copy of the report so far.
    pub fn report(&self) -> ShadowReport {
        lock(&self.report).clone()
    }
}

/// The shadow thread's side: parses each job with the candidate and records the differences.
struct Comparer {
    generation: Arc<ParserGeneration>,
    instance: Option<PluginInstance>,
    transforms: Option<Arc<RecordTransforms>>,
    report: Arc<Mutex<ShadowReport>>,
}

impl Comparer {
    fn run(mut self, jobs: Receiver<Job>) {
        self.instance = self.generation.take_ready(0);
        while let Ok(job) = jobs.recv() {
            let generation = self.generation.clone();
            let mut make = || generation.instantiate();
            let started = std::time::Instant::now();
            let parsed = match &self.transforms {
                None => parse_isolating(&mut self.instance, &mut make, &job.records).map_err(PrepareError::from),
                Some(transforms) => {
                    transform_and_parse(transforms, &mut self.instance, &mut make, &job.records).map(|(o, _)| o)
                }
            };
            let elapsed = started.elapsed();
            match parsed {
                Ok(candidate) => lock(&self.report).add(&job, &candidate, elapsed),
                Err(error) => {
                    lock(&self.report).stopped =
                        Some(format!("the candidate parser `{}` cannot run: {error}", generation.plugin.name));
                    return;
                }
            }
        }
    }
}

impl ShadowReport {
    /// Adds one compared batch.
    fn add(&mut self, job: &Job, candidate: &[Outcome], candidate_elapsed: Duration) {
        self.batches_compared += 1;
        self.live_ns += job.live_elapsed.as_nanos();
        self.candidate_ns += candidate_elapsed.as_nanos();
        for ((record, live), candidate) in job.records.iter().zip(&job.live).zip(candidate) {
            self.records_compared += 1;
            let found = compare(live, candidate);
            if found.is_empty() {
                self.records_agreeing += 1;
                continue;
            }
            self.records_differing += 1;
            for (output, kind, detail) in found {
                let count = match kind {
                    DifferenceKind::Missing => &mut self.counts.missing,
                    DifferenceKind::Extra => &mut self.counts.extra,
                    DifferenceKind::ValueDiffers => &mut self.counts.value_differs,
                    DifferenceKind::ErrorOnlyLive => &mut self.counts.error_only_live,
                    DifferenceKind::ErrorOnlyCandidate => &mut self.counts.error_only_candidate,
                };
                *count += 1;
                if self.differences.len() < KEPT_DIFFERENCES {
                    self.differences.push(Difference {
                        topic: record.topic.to_string(),
                        partition: record.partition,
                        offset: record.offset,
                        output,
                        kind,
                        detail,
                    });
                }
            }
        }
        let records = self.records_compared.max(1) as f64;
        self.live_us_per_record = self.live_ns as f64 / 1000.0 / records;
        self.candidate_us_per_record = self.candidate_ns as f64 / 1000.0 / records;
    }
}

/// The differences between one record's live and candidate outcomes: outputs are compared
/// by position; two refusals agree whatever their reasons.
pub fn compare(live: &Outcome, candidate: &Outcome) -> Vec<(Option<usize>, DifferenceKind, String)> {
    match (live, candidate) {
        (Err(_), Err(_)) => Vec::new(),
        (Ok(_), Err(failure)) => vec![(None, DifferenceKind::ErrorOnlyCandidate, format!("candidate: {failure}"))],
        (Err(failure), Ok(outputs)) => vec![(
            None,
            DifferenceKind::ErrorOnlyLive,
            format!("live: {failure}; the candidate made {} output(s)", outputs.len()),
        )],
        (Ok(live), Ok(candidate)) => {
            let mut found = Vec::new();
            for index in 0..live.len().max(candidate.len()) {
                match (live.get(index), candidate.get(index)) {
                    (Some(l), None) => {
                        found.push((Some(index), DifferenceKind::Missing, format!("live only: {}", summary(l))))
                    }
                    (None, Some(c)) => {
                        found.push((Some(index), DifferenceKind::Extra, format!("candidate only: {}", summary(c))))
                    }
                    (Some(l), Some(c)) if l != c => {
                        found.push((Some(index), DifferenceKind::ValueDiffers, output_difference(l, c)))
                    }
                    _ => {}
                }
            }
            found
        }
    }
}

/// A short description of an output.
fn summary(output: &Output) -> String {
    match output {
        Output::Row(row) => format!(
            "row of table {} with key {}",
            row.table.as_deref().map_or("(connector's rule)".to_string(), |t| format!("`{t}`")),
            columns(&row.primary_key)
        ),
        Output::Point(point) => format!("point `{}` at {} us", &*point.measurement, point.time_us),
        Output::Raw(raw) => format!("raw {} {}", &*raw.format, text(&raw.data)),
    }
}

fn columns(columns: &[Column]) -> String {
    let shown: Vec<String> = columns.iter().map(|c| format!("{}={}", &*c.name, value(&c.value))).collect();
    format!("[{}]", shown.join(", "))
}

/// What differs between two outputs at the same position (at most a few items, joined).
fn output_difference(live: &Output, candidate: &Output) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut field = |name: &str, l: String, c: String| {
        if l != c {
            items.push(format!("{name}: live {l}, candidate {c}"));
        }
    };
    match (live, candidate) {
        (Output::Row(l), Output::Row(c)) => {
            field("table", format!("{:?}", l.table.as_deref()), format!("{:?}", c.table.as_deref()));
            field("write kind", format!("{:?}", l.kind), format!("{:?}", c.kind));
            column_differences("key column", &l.primary_key, &c.primary_key, &mut items);
            column_differences("column", &l.columns, &c.columns, &mut items);
            let (ld, cd): (Vec<&str>, Vec<&str>) =
                (l.deleted_columns.iter().map(|d| &**d).collect(), c.deleted_columns.iter().map(|d| &**d).collect());
            if ld != cd {
                items.push(format!("deleted columns: live {ld:?}, candidate {cd:?}"));
            }
        }
        (Output::Point(l), Output::Point(c)) => {
            field("table", format!("{:?}", l.table.as_deref()), format!("{:?}", c.table.as_deref()));
            field("measurement", format!("`{}`", &*l.measurement), format!("`{}`", &*c.measurement));
            field("data source", format!("`{}`", &*l.data_source), format!("`{}`", &*c.data_source));
            let tags = |p: &crate::model::Point| -> String {
                p.tags.iter().map(|(k, v)| format!("{}={}", &**k, &**v)).collect::<Vec<_>>().join(",")
            };
            field("tags", format!("[{}]", tags(l)), format!("[{}]", tags(c)));
            field("time", format!("{} us", l.time_us), format!("{} us", c.time_us));
            column_differences("field", &l.fields, &c.fields, &mut items);
        }
        (Output::Raw(l), Output::Raw(c)) => {
            field("format", format!("`{}`", &*l.format), format!("`{}`", &*c.format));
            field("data", text(&l.data), text(&c.data));
        }
        (l, c) => items.push(format!("live made a {}, the candidate a {}", kind(l), kind(c))),
    }
    if items.is_empty() {
        items.push("outputs differ".to_string());
    }
    items.join("; ")
}

/// Differences between two column lists, by name (then order).
fn column_differences(what: &str, live: &[Column], candidate: &[Column], items: &mut Vec<String>) {
    for l in live {
        match candidate.iter().find(|c| c.name == l.name) {
            None => items.push(format!("{what} `{}`: live {}, candidate has none", &*l.name, value(&l.value))),
            Some(c) if c.value != l.value => {
                items.push(format!("{what} `{}`: live {}, candidate {}", &*l.name, value(&l.value), value(&c.value)))
            }
            Some(_) => {}
        }
    }
    for c in candidate.iter().filter(|c| !live.iter().any(|l| l.name == c.name)) {
        items.push(format!("{what} `{}`: live has none, candidate {}", &*c.name, value(&c.value)));
    }
    let names = |list: &[Column]| list.iter().map(|c| c.name.to_string()).collect::<Vec<_>>();
    if items.is_empty() && names(live) != names(candidate) {
        items.push(format!("{what} order: live {:?}, candidate {:?}", names(live), names(candidate)));
    }
}

fn kind(output: &Output) -> &'static str {
    match output {
        Output::Row(_) => "row",
        Output::Point(_) => "point",
        Output::Raw(_) => "raw output",
    }
}

/// A value with its type, for example `1 (int64)` or `"a" (text)`.
fn value(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Boolean(v) => format!("{v} (bool)"),
        Value::Int8(v) => format!("{v} (int8)"),
        Value::Int16(v) => format!("{v} (int16)"),
        Value::Int32(v) => format!("{v} (int32)"),
        Value::Int64(v) => format!("{v} (int64)"),
        Value::Uint8(v) => format!("{v} (uint8)"),
        Value::Uint16(v) => format!("{v} (uint16)"),
        Value::Uint32(v) => format!("{v} (uint32)"),
        Value::Uint64(v) => format!("{v} (uint64)"),
        Value::Float32(v) => format!("{v} (float32)"),
        Value::Float64(v) => format!("{v} (float64)"),
        Value::Text(v) => format!("{} (text)", text(v.as_bytes())),
        Value::Binary(v) => format!("{} bytes (binary)", v.len()),
        Value::TimestampUs(v) => format!("{v} us (timestamp)"),
    }
}

/// Bytes shown as quoted text (lossy), cut at 200 characters.
fn text(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    match text.char_indices().nth(200) {
        Some((cut, _)) => format!("{:?}...", &text[..cut]),
        None => format!("{text:?}"),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PluginError, Point, Raw, Row, WriteKind};

    fn row(key: i64, columns: Vec<(&str, Value)>) -> Output {
        Output::Row(Row {
            table: Some("t".into()),
            kind: WriteKind::Put,
            primary_key: vec![Column { name: "id".into(), value: Value::Int64(key) }],
            columns: columns.into_iter().map(|(n, v)| Column { name: n.into(), value: v }).collect(),
            deleted_columns: Vec::new(),
        })
    }

    fn refused() -> Outcome {
        Err(RecordFailure::Plugin(PluginError { code: "bad".into(), message: "no".into(), field: Some("x".into()) }))
    }

    #[test]
    fn equal_outcomes_and_two_refusals_agree() {
        let a = Ok(vec![row(1, vec![("v", Value::Int32(3))])]);
        assert!(compare(&a, &a.clone()).is_empty());
        assert!(compare(&refused(), &refused()).is_empty());
    }

    #[test]
    fn each_kind_is_found_with_what_differed() {
        let live = Ok(vec![row(1, vec![("v", Value::Int32(3)), ("w", Value::Null)]), row(2, vec![])]);
        let candidate = Ok(vec![row(1, vec![("v", Value::Text("3".into()))])]);
        let found = compare(&live, &candidate);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, Some(0));
        assert_eq!(found[0].1, DifferenceKind::ValueDiffers);
        assert!(found[0].2.contains("column `v`: live 3 (int32), candidate \"3\" (text)"), "{}", found[0].2);
        assert!(found[0].2.contains("column `w`: live null, candidate has none"), "{}", found[0].2);
        assert_eq!((found[1].0, found[1].1), (Some(1), DifferenceKind::Missing));
        assert!(found[1].2.contains("[id=2 (int64)]"), "{}", found[1].2);

        let extra = compare(&candidate, &live);
        assert_eq!(extra[1].1, DifferenceKind::Extra);
        assert_eq!(compare(&live, &refused())[0].1, DifferenceKind::ErrorOnlyCandidate);
        let only_live = compare(&refused(), &live);
        assert_eq!(only_live[0].1, DifferenceKind::ErrorOnlyLive);
        assert!(only_live[0].2.contains("bad: no (field `x`)"), "{}", only_live[0].2);
    }

    #[test]
    fn points_and_raw_outputs_name_the_differing_part() {
        let point = |time_us, field: f64| {
            Output::Point(Point {
                table: None,
                measurement: "cpu".into(),
                data_source: "h1".into(),
                tags: vec![("dc".into(), "x".into())],
                time_us,
                fields: vec![Column { name: "load".into(), value: Value::Float64(field) }],
            })
        };
        let found = compare(&Ok(vec![point(1, 0.5)]), &Ok(vec![point(2, 0.5)]));
        assert_eq!(found[0].2, "time: live 1 us, candidate 2 us");
        let raw = |data: &'static [u8]| Output::Raw(Raw { format: "line".into(), data: data.into() });
        let found = compare(&Ok(vec![raw(b"a")]), &Ok(vec![raw(b"b")]));
        assert_eq!(found[0].2, "data: live \"a\", candidate \"b\"");
        let found = compare(&Ok(vec![raw(b"a")]), &Ok(vec![point(1, 0.5)]));
        assert_eq!(found[0].2, "live made a raw output, the candidate a point");
    }

    #[test]
    fn the_report_counts_and_keeps_coordinates() {
        let record = |offset| KafkaRecord {
            topic: Arc::from("t"),
            partition: 2,
            offset,
            timestamp_ms: None,
            key: None,
            value: None,
            headers: Vec::new(),
        };
        let job = Job {
            records: vec![record(7), record(8)],
            live: vec![Ok(vec![row(1, vec![])]), Ok(vec![row(2, vec![])])],
            live_elapsed: Duration::from_micros(20),
        };
        let mut report = ShadowReport::default();
        report.add(&job, &[Ok(vec![row(1, vec![])]), refused()], Duration::from_micros(40));
        assert_eq!((report.records_compared, report.records_agreeing, report.records_differing), (2, 1, 1));
        assert_eq!(report.counts, DifferenceCounts { error_only_candidate: 1, ..Default::default() });
        let d = &report.differences[0];
        assert_eq!((d.topic.as_str(), d.partition, d.offset, d.output), ("t", 2, 8, None));
        assert!((report.live_us_per_record - 10.0).abs() < 1e-9);
        assert!((report.candidate_us_per_record - 20.0).abs() < 1e-9);
    }
}
