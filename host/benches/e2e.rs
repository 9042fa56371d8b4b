//! End-to-end throughput, footprint and start-up of the production path, against raw
//! librdkafka reading the same records from the same broker in the same run.
//!
//! The bench starts librdkafka's mock cluster in process and fills it with JSON records of
//! ~150 bytes. The baseline is a plain librdkafka consumer (`BaseConsumer`, its own group)
//! reading every record and touching its payload, on the 12-partition topic and (for the
//! one-partition line) on the one-partition topic; each line's ratio is to the baseline on its
//! own topic. Each sluice figure runs the real binary
//! (`sluice standalone`, release build) as a child process against that broker with default
//! settings except the ones named in the line (see `cases` for the connector files):
//!
//! - `file`, `file-tasks2`, `file-1p`: the built-in JSON parser in wasmtime and
//!   `FileStreamSink` writing to a temporary file; a run ends when the file holds one line
//!   per record;
//! - `tablestore`: `TableStoreSinkConnector` (JSON parser, `primarykey.mode=kafka`,
//!   `auto.create`) writing `BatchWriteRow`s;
//! - `timeseries`: the same connector with `tablestore.mode=timeseries`, `PutTimeseriesData`;
//! - `tdengine`: `TDengineSinkConnector` with the `tdengine` parser's JSON mapping
//!   (`tdengine.mapping.*`), line protocol to taosAdapter's `/influxdb/v1/write`, gzipped;
//! - `maxcompute`: `MaxComputeSinkConnector` (`mode=DEFAULT`, `format=TEXT`): upload
//!   sessions, deflated blocks, commits, in writes of `record_batch_size` (8,000) records.
//!   The line sets `sluice.batch.linger.ms=20`: by default a partial write waits for the
//!   worker's `offset.flush.interval.ms` (the connector flushes on the commit interval),
//!   which in a finite run only holds back the last 4,000 records for up to a second.
//!
//! The four sink cases write to fast endpoints in this process (`e2e/endpoints.rs`) that
//! answer like the services and only skim bodies to count rows; a run ends when the
//! endpoint has stored one row (point) per record — for MaxCompute, when the sessions
//! holding them are committed.
//!
//! Per run the bench prints records/s, the ratio to the baseline, the child's CPU seconds per
//! million records, its peak RSS (`VmHWM`) and the time from process start to the first row
//! written (or stored by the endpoint), minus the baseline consumer's time to its first record
//! (the broker's group join and first fetch); sink cases add the endpoint's own CPU seconds
//! per million records (its threads in this process). Each figure is the median of the
//! passes. Before its passes, each sink is warmed up once (1,000 records): the parser is
//! compiled into the plugin cache and tables or databases are created.
//!
//! ```text
//! cargo bench -p sluice --bench e2e            # every case, 300,000 records, 3 passes
//! SLUICE_BENCH_RECORDS=360000 SLUICE_BENCH_PASSES=5 cargo bench -p sluice --bench e2e
//! SLUICE_BENCH_CASES=tablestore,tdengine SLUICE_BENCH_PASSES=1 cargo bench -p sluice --bench e2e
//! SLUICE_BENCH_SETTINGS="max.poll.records=2000;sluice.batch.linger.ms=5" cargo bench -p sluice --bench e2e
//! ```
//!
//! `SLUICE_BENCH_CASES` runs only the named cases (`file`, `file-tasks2`, `file-1p`,
//! `tablestore`, `timeseries`, `tdengine`, `maxcompute`). `SLUICE_BENCH_SETTINGS` adds the
//! given connector settings to the selected cases; without `SLUICE_BENCH_CASES` it runs only
//! the `file` case. `SLUICE_BENCH_WRAP="perf record -g -o /tmp/sluice.perf --"` runs each
//! sluice child under the given command (a profiler); the CPU and RSS figures are then the
//! wrapper's.
//!
//! Linux only (it reads `/proc/<pid>/{status,stat}` of the child and `/proc/self/task`).

#[path = "e2e/endpoints.rs"]
mod endpoints;

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use endpoints::{Endpoint, Service};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use sluice::source::embedded::EmbeddedKafka;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
/// Name of the endpoints' runtime threads (their CPU time is measured per run).
const ENDPOINT_THREADS: &str = "bench-endpoint";

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One JSON event of about 150 bytes; values vary so the parser cannot shortcut.
fn event(i: usize) -> String {
    format!(
        r#"{{"order_id":{},"product":"{}","quantity":{},"price":{:.2},"paid":{},"customer":{{"id":"c-{}","tier":"{}"}},"ts":{}}}"#,
        100_000 + i,
        ["croissant", "bagel", "baguette", "brioche"][i % 4],
        1 + i % 9,
        1.0 + (i % 500) as f64 / 100.0,
        i.is_multiple_of(3),
        i % 97,
        ["gold", "silver", "bronze"][i % 3],
        1_700_000_000_000u64 + i as u64 * 60_000
    )
}

fn fill(kafka: &EmbeddedKafka, topic: &str, partitions: i32, records: usize) -> anyhow::Result<usize> {
    kafka.create_topic(topic, partitions)?;
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .set("log_level", "3")
        .create()?;
    let mut bytes = 0;
    for i in 0..records {
        let value = event(i);
        bytes += value.len();
        let key = format!("order-{i}");
        let mut record = BaseRecord::to(topic).key(&key).payload(&value).partition((i % partitions as usize) as i32);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(120))?;
    // The mock cluster keeps a bounded log per partition (about 31,000 of these records):
    // beyond it the oldest records are gone and no consumer could read them all.
    let per_partition = records.div_ceil(partitions as usize);
    for partition in 0..partitions {
        let (low, _) = producer.client().fetch_watermarks(topic, partition, Duration::from_secs(10))?;
        if low > 0 {
            anyhow::bail!(
                "the mock cluster dropped the first {low} records of {topic}-{partition} ({per_partition} per \
                 partition were written; it keeps about 31,000 of these per partition): set \
                 SLUICE_BENCH_RECORDS lower (at most about 370,000 for the 12-partition topic)"
            );
        }
    }
    Ok(bytes / records)
}

/// What one run measured.
struct Run {
    took: Duration,
    first: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
    /// CPU time of the endpoint's threads (sink cases).
    endpoint_cpu: Duration,
    /// Write requests the endpoint refused (sink cases).
    refused: u64,
    /// Rows landed once the child was stopped (one per record unless some were written twice).
    rows: usize,
}

fn median_by<T: Copy + PartialOrd>(runs: &[Run], key: impl Fn(&Run) -> T) -> T {
    let mut values: Vec<T> = runs.iter().map(key).collect();
    values.sort_by(|a, b| a.partial_cmp(b).expect("comparable"));
    values[values.len() / 2]
}

/// Raw librdkafka: a fresh group reads every record of `topic`.
fn raw(kafka: &EmbeddedKafka, topic: &str, records: usize, pass: usize) -> anyhow::Result<Run> {
    let cpu_before = own_cpu();
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", format!("raw-{topic}-{pass}"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Without this the baseline sometimes stalls for librdkafka's default second when its
        // prefetch queue fills (then it reads ~250k records/s instead of ~1M): keep it at its
        // best, with the same short backoff sluice uses.
        .set("fetch.queue.backoff.ms", "10")
        .set("log_level", "3")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut seen = 0;
    let mut bytes = 0usize;
    let mut first = None;
    while seen < records {
        if started.elapsed() > Duration::from_secs(300) {
            anyhow::bail!("raw consumer read only {seen} of {records} records");
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            bytes += message.payload().map_or(0, <[u8]>::len);
            seen += 1;
            first.get_or_insert_with(|| started.elapsed());
        }
    }
    std::hint::black_box(bytes);
    let took = started.elapsed();
    Ok(Run {
        took,
        first: first.unwrap_or(took),
        cpu: own_cpu() - cpu_before,
        peak_rss_kib: 0,
        endpoint_cpu: Duration::ZERO,
        refused: 0,
        rows: seen,
    })
}

/// Where a case's records go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sink {
    /// `FileStreamSink` into a temporary file.
    File,
    /// Tablestore data table (`BatchWriteRow`).
    Tablestore,
    /// Tablestore time-series table (`PutTimeseriesData`).
    Timeseries,
    /// TDengine through taosAdapter.
    Tdengine,
    /// MaxCompute through the batch tunnel.
    MaxCompute,
}

impl Sink {
    /// The endpoint it writes to (none for the file).
    fn service(self) -> Option<Service> {
        match self {
            Sink::File => None,
            Sink::Tablestore | Sink::Timeseries => Some(Service::Tablestore),
            Sink::Tdengine => Some(Service::Tdengine),
            Sink::MaxCompute => Some(Service::MaxCompute),
        }
    }

    /// The connector file's lines a user writes for this sink against `address` (without
    /// `name`, `topics` and the case's extra settings).
    fn connector(self, address: Option<std::net::SocketAddr>, out: &Path) -> String {
        use endpoints::*;
        let address = address.map(|a| a.to_string()).unwrap_or_default();
        let tablestore = format!(
            "connector.class=TableStoreSinkConnector\ntablestore.endpoint=http://{address}\n\
             tablestore.instance.name={OTS_INSTANCE}\ntablestore.auth.mode=aksk\n\
             tablestore.access.key.id={OTS_KEY_ID}\ntablestore.access.key.secret={OTS_KEY_SECRET}\nauto.create=true\n"
        );
        match self {
            Sink::File => format!("connector.class=FileStreamSink\nparser=json\nfile={}\n", out.display()),
            Sink::Tablestore => format!("{tablestore}table.name.format=orders\n"),
            Sink::Timeseries => format!(
                "{tablestore}table.name.format=orders_ts\ntablestore.mode=timeseries\n\
                 tablestore.timeseries.orders_ts.measurement=product\ntablestore.timeseries.orders_ts.tags=paid\n\
                 tablestore.timeseries.orders_ts.time=ts\ntablestore.timeseries.orders_ts.time.unit=MILLISECONDS\n"
            ),
            Sink::Tdengine => format!(
                "connector.class=TDengineSinkConnector\nconnection.url=jdbc:TAOS-RS://{address}\n\
                 connection.user={TAOS_USER}\nconnection.password={TAOS_PASSWORD}\nconnection.database=shop\n\
                 db.schemaless=line\ndata.precision=ms\ntdengine.mapping.measurement=orders\n\
                 tdengine.mapping.tags=product,customer.tier\n\
                 tdengine.mapping.fields=order_id:i64,quantity:i32,price:f64,paid:bool\n\
                 tdengine.mapping.timestamp.field=ts\ntdengine.mapping.timestamp.unit=ms\n"
            ),
            Sink::MaxCompute => format!(
                "connector.class=MaxComputeSinkConnector\nendpoint=http://{address}/api\nproject={ODPS_PROJECT}\n\
                 table={ODPS_TABLE}\naccount_type=ALIYUN\naccess_id={ODPS_ACCESS_ID}\naccess_key={ODPS_ACCESS_KEY}\n\
                 mode=DEFAULT\nformat=TEXT\npartition_window_type=HOUR\ntime_zone=GMT+08:00\n"
            ),
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone)]
struct Case {
    /// Its name in `SLUICE_BENCH_CASES`.
    name: &'static str,
    /// What the line says.
    label: String,
    topic: &'static str,
    records: usize,
    sink: Sink,
    /// Connector settings added to the sink's file.
    extra: String,
}

/// The MaxCompute line's setting: a partial write waits 20 ms (see the header).
const LINGER_20_MS: &str = "sluice.batch.linger.ms=20\n";

/// Every case, in report order: the one-partition topic holds `single` records.
fn cases(records: usize, single: usize) -> Vec<Case> {
    let table: [(&str, &str, &str, Sink, &str); 7] = [
        ("file", "FileStreamSink, defaults (tasks.max=1), 12 p", "events-12", Sink::File, ""),
        ("file-tasks2", "FileStreamSink, tasks.max=2, 12 partitions", "events-12", Sink::File, "tasks.max=2\n"),
        ("file-1p", "FileStreamSink, defaults, 1 partition", "events-1", Sink::File, ""),
        ("tablestore", "Tablestore BatchWriteRow, 12 p", "events-12", Sink::Tablestore, ""),
        ("timeseries", "Tablestore PutTimeseriesData, 12 p", "events-12", Sink::Timeseries, ""),
        ("tdengine", "TDengine line via taosAdapter, 12 p", "events-12", Sink::Tdengine, ""),
        ("maxcompute", "MaxCompute tunnel, linger.ms=20, 12 p", "events-12", Sink::MaxCompute, LINGER_20_MS),
    ];
    table
        .into_iter()
        .map(|(name, label, topic, sink, extra)| Case {
            name,
            label: label.to_string(),
            topic,
            records: if topic == "events-1" { single } else { records },
            sink,
            extra: extra.to_string(),
        })
        .collect()
}

/// The endpoints, started once on their own runtime.
struct Endpoints {
    tablestore: Endpoint,
    tdengine: Endpoint,
    maxcompute: Endpoint,
    _runtime: tokio::runtime::Runtime,
}

impl Endpoints {
    /// Starts one endpoint per service on a one-thread runtime.
    fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(ENDPOINT_THREADS)
            .enable_all()
            .build()?;
        Ok(Self {
            tablestore: Endpoint::start(&runtime, Service::Tablestore)?,
            tdengine: Endpoint::start(&runtime, Service::Tdengine)?,
            maxcompute: Endpoint::start(&runtime, Service::MaxCompute)?,
            _runtime: runtime,
        })
    }

    fn get(&self, service: Service) -> &Endpoint {
        match service {
            Service::Tablestore => &self.tablestore,
            Service::Tdengine => &self.tdengine,
            Service::MaxCompute => &self.maxcompute,
        }
    }
}

/// Runs `sluice standalone` on the case's connector until `records` rows have landed.
fn sluice(
    kafka: &EmbeddedKafka,
    dir: &Path,
    run_name: &str,
    case: &Case,
    records: usize,
    endpoints: &Endpoints,
) -> anyhow::Result<Run> {
    let out = dir.join(format!("{run_name}.jsonl"));
    let worker = dir.join("worker.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={}\noffset.flush.interval.ms=1000\nsluice.plugin.cache.dir={}\nlisteners=http://127.0.0.1:0\n",
            kafka.bootstrap_servers(),
            dir.join("plugin-cache").display()
        ),
    )?;
    let endpoint = case.sink.service().map(|service| endpoints.get(service));
    let connector = dir.join(format!("{run_name}.properties"));
    std::fs::write(
        &connector,
        format!(
            "name={run_name}\ntopics={}\n{}{}",
            case.topic,
            case.sink.connector(endpoint.map(|e| e.address), &out),
            case.extra
        ),
    )?;
    let mut landed = match endpoint {
        Some(endpoint) => {
            endpoint.reset();
            Landed::Endpoint(endpoint)
        }
        None => Landed::File { path: out, file: None, lines: 0, buffer: vec![0u8; 1 << 20] },
    };
    let endpoint_cpu_before = threads_cpu(ENDPOINT_THREADS);
    let started = Instant::now();
    // SLUICE_BENCH_WRAP="perf record -g -o perf.data --" runs the child under a profiler
    // (its CPU and RSS figures are then the wrapper's).
    let wrap = std::env::var("SLUICE_BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(SLUICE);
            command
        }
        None => Command::new(SLUICE),
    };
    let mut child = command
        .arg("standalone")
        .arg(&worker)
        .arg(&connector)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    let result = watch(&mut child, &mut landed, records, started);
    let cpu = child_cpu(child.id());
    let peak = peak_rss_kib(child.id());
    let endpoint_cpu = threads_cpu(ENDPOINT_THREADS).saturating_sub(endpoint_cpu_before);
    let refused = endpoint.map_or(0, |e| e.refused());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let (took, first) = result?;
    let rows = landed.count()?;
    Ok(Run { took, first, cpu: cpu?, peak_rss_kib: peak?, endpoint_cpu, refused, rows })
}

/// How a run sees rows land.
enum Landed<'a> {
    /// Lines of the output file, read as they arrive.
    File { path: PathBuf, file: Option<std::fs::File>, lines: usize, buffer: Vec<u8> },
    /// Rows the endpoint stored.
    Endpoint(&'a Endpoint),
}

impl Landed<'_> {
    /// Rows landed so far.
    fn count(&mut self) -> anyhow::Result<usize> {
        match self {
            Landed::Endpoint(endpoint) => Ok(endpoint.landed() as usize),
            Landed::File { path, file, lines, buffer } => {
                if file.is_none() {
                    *file = std::fs::File::open(path).ok();
                }
                if let Some(file) = file.as_mut() {
                    loop {
                        let read = file.read(buffer)?;
                        if read == 0 {
                            break;
                        }
                        *lines += buffer[..read].iter().filter(|&&b| b == b'\n').count();
                    }
                }
                Ok(*lines)
            }
        }
    }
}

/// Waits until `records` rows have landed; returns the time taken and the time to the first.
fn watch(
    child: &mut Child,
    landed: &mut Landed<'_>,
    records: usize,
    started: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let mut rows = 0usize;
    let mut first = None;
    let mut progressed_at = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("sluice exited early ({status}) after {rows} of {records} rows");
        }
        if started.elapsed() > Duration::from_secs(600) || progressed_at.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("sluice wrote only {rows} of {records} rows in {:.0?}", started.elapsed());
        }
        let now = landed.count()?;
        if now > 0 {
            first.get_or_insert_with(|| started.elapsed());
        }
        if now >= records {
            return Ok((started.elapsed(), first.unwrap_or_default()));
        }
        if now == rows {
            std::thread::sleep(Duration::from_millis(2));
        } else {
            rows = now;
            progressed_at = Instant::now();
        }
    }
}

fn proc_file(pid: u32, name: &str) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/{name}")))?)
}

fn peak_rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = proc_file(pid, "status")?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).ok_or_else(|| anyhow::anyhow!("no VmHWM"))?;
    Ok(line.split_whitespace().nth(1).unwrap_or("0").parse()?)
}

/// utime + stime of a process from `/proc/<pid>/stat`.
fn child_cpu(pid: u32) -> anyhow::Result<Duration> {
    stat_cpu(&proc_file(pid, "stat")?)
}

/// CPU time of this process's threads named `name`.
fn threads_cpu(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    tasks
        .filter_map(Result::ok)
        .filter(|task| std::fs::read_to_string(task.path().join("comm")).is_ok_and(|comm| comm.trim_end() == name))
        .filter_map(|task| stat_cpu(&std::fs::read_to_string(task.path().join("stat")).ok()?).ok())
        .sum()
}

/// utime + stime from the text of a `stat` file.
fn stat_cpu(stat: &str) -> anyhow::Result<Duration> {
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')').ok_or_else(|| anyhow::anyhow!("bad stat"))? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(Duration::from_secs_f64(ticks as f64 / clock_ticks_per_second()))
}

fn own_cpu() -> Duration {
    child_cpu(std::process::id()).unwrap_or_default()
}

fn clock_ticks_per_second() -> f64 {
    // USER_HZ is 100 on every Linux architecture sluice targets.
    100.0
}

fn per_second(records: usize, took: Duration) -> f64 {
    records as f64 / took.as_secs_f64()
}

fn main() -> anyhow::Result<()> {
    let records = env_or("SLUICE_BENCH_RECORDS", 300_000);
    let passes = env_or("SLUICE_BENCH_PASSES", 3).max(1);
    // librdkafka's mock cluster keeps a bounded log per partition, so the one-partition topic
    // holds a twelfth of the records (its figures are rates, comparable all the same).
    let single = records / 12;
    let all = cases(records, single);
    // SLUICE_BENCH_SETTINGS="key=value;key=value" adds connector settings to the selected cases.
    let settings = std::env::var("SLUICE_BENCH_SETTINGS").ok().filter(|s| !s.trim().is_empty());
    let names: Vec<String> = match std::env::var("SLUICE_BENCH_CASES") {
        Ok(list) => list.split(',').map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect(),
        Err(_) if settings.is_some() => vec!["file".to_string()],
        Err(_) => all.iter().map(|c| c.name.to_string()).collect(),
    };
    if let Some(unknown) = names.iter().find(|n| !all.iter().any(|c| c.name == n.as_str())) {
        let known: Vec<&str> = all.iter().map(|c| c.name).collect();
        anyhow::bail!("SLUICE_BENCH_CASES: no case `{unknown}` (cases: {})", known.join(", "));
    }
    let mut selected: Vec<Case> = all.into_iter().filter(|c| names.iter().any(|n| n == c.name)).collect();
    if let Some(settings) = &settings {
        for case in &mut selected {
            case.extra.push_str(&(settings.replace(';', "\n") + "\n"));
            case.label = format!("{} + SLUICE_BENCH_SETTINGS", case.name);
        }
    }

    let kafka = EmbeddedKafka::start()?;
    let dir = tempfile::tempdir()?;
    let endpoints = Endpoints::start()?;
    let size = fill(&kafka, "events-12", 12, records)?;
    fill(&kafka, "events-1", 1, single)?;
    println!(
        "end to end: {records} JSON records of ~{size} bytes, librdkafka mock cluster in process, \
         {} cores, median of {passes} passes",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    if let Some(settings) = &settings {
        println!("  every case below with SLUICE_BENCH_SETTINGS: {settings}");
    }

    // The baselines: every case's topic read by raw librdkafka (the 12-partition one always).
    let mut topics = vec![("events-12", records, "raw librdkafka BaseConsumer, 12 partitions")];
    if selected.iter().any(|c| c.topic == "events-1") {
        topics.push(("events-1", single, "raw librdkafka BaseConsumer, 1 partition"));
    }
    let mut baselines: Vec<(&str, f64, Duration)> = Vec::new();
    for (topic, count, label) in topics {
        let runs: Vec<Run> = (0..passes).map(|p| raw(&kafka, topic, count, p)).collect::<Result<_, _>>()?;
        let took = median_by(&runs, |r| r.took);
        let first = median_by(&runs, |r| r.first);
        let cpu = median_by(&runs, |r| r.cpu);
        println!(
            "  {:<44} {:>10.0} records/s  1.00x  {:>5.2} CPU s/M  (first record after {:.0?}: the group join)",
            label,
            per_second(count, took),
            cpu.as_secs_f64() * 1e6 / count as f64,
            first
        );
        baselines.push((topic, per_second(count, took), first));
    }
    let raw_first = baselines[0].2;

    let mut warm: Vec<Sink> = Vec::new();
    for (index, case) in selected.iter().enumerate() {
        // A sink's first run compiles its parser into the plugin cache (and creates its
        // table or database); the measured runs load and find them.
        if !warm.contains(&case.sink) {
            let warm_up = Case { topic: "events-1", ..case.clone() };
            sluice(&kafka, dir.path(), &format!("warm-up-{index}"), &warm_up, single.min(1000), &endpoints)?;
            warm.push(case.sink);
        }
        let runs: Vec<Run> = (0..passes)
            .map(|p| sluice(&kafka, dir.path(), &format!("run-{index}-{p}"), case, case.records, &endpoints))
            .collect::<Result<_, _>>()?;
        let took = median_by(&runs, |r| r.took);
        let first = median_by(&runs, |r| r.first);
        let cpu = median_by(&runs, |r| r.cpu);
        let rss = median_by(&runs, |r| r.peak_rss_kib);
        let per_million = |cpu: Duration| cpu.as_secs_f64() * 1e6 / case.records as f64;
        // Each line's ratio is to raw librdkafka reading the same topic.
        let raw_rate = baselines.iter().find(|(topic, _, _)| *topic == case.topic).map_or(baselines[0].1, |b| b.1);
        let mut notes = match case.sink {
            Sink::File => String::new(),
            _ => format!("  endpoint {:.2} CPU s/M", per_million(median_by(&runs, |r| r.endpoint_cpu))),
        };
        let refused: u64 = runs.iter().map(|r| r.refused).sum();
        if refused > 0 {
            notes.push_str(&format!("  ({refused} writes refused by the endpoint)"));
        }
        if runs.iter().any(|r| r.rows != case.records) {
            let rows: Vec<String> = runs.iter().map(|r| r.rows.to_string()).collect();
            notes.push_str(&format!("  (rows landed: {} for {} records)", rows.join(", "), case.records));
        }
        println!(
            "  {:<44} {:>10.0} records/s  {:.2}x  {:>5.2} CPU s/M  peak RSS {:>5.1} MB  first row {:.0?} after the join{notes}",
            case.label,
            per_second(case.records, took),
            per_second(case.records, took) / raw_rate,
            per_million(cpu),
            rss as f64 / 1024.0,
            first.saturating_sub(raw_first),
        );
    }
    Ok(())
}
