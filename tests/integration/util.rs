//! Test harness: an embedded broker per test, config builders, and helpers that read back
//! what really happened (output files, dead-letter records, committed offsets).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;
use sluice::app::{self, Standalone};
use sluice::config::{parse_text, ConfigMap};
use sluice::source::client;
use sluice::source::embedded::EmbeddedKafka;
use sluice::source::produce::{produce_lines, LineFormat};
use tempfile::TempDir;

/// Aborts the whole test run when the test that started it is still running after its
/// limit: a hung test then fails the run with its name instead of stalling it. Dropping the
/// watchdog (with the test's harness) disarms it.
struct Watchdog {
    _disarm: std::sync::mpsc::Sender<()>,
}

impl Watchdog {
    fn start(limit: Duration) -> Self {
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let (disarm, disarmed) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            if disarmed.recv_timeout(limit) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                eprintln!("{test} is still running after {limit:?}: aborting the test run (a hang)");
                std::process::abort();
            }
        });
        Self { _disarm: disarm }
    }
}

/// Waits for a child process to exit, at most `within`; a child still running then is
/// killed and the test fails saying what it was waiting for.
pub fn wait_exit(child: &mut std::process::Child, within: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: the process did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Path of a guest component built by `host/build.rs`.
pub fn guest(name: &str) -> PathBuf {
    Path::new(env!("SLUICE_GUEST_DIR")).join(format!("{name}.wasm"))
}

/// Compiled-component cache shared by all tests of this run.
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache")
}

/// The longest a test may hold its [`Harness`] (the slowest take about two minutes on two
/// busy cores).
const TEST_LIMIT: Duration = Duration::from_secs(600);

/// One embedded broker and a scratch directory.
pub struct Harness {
    pub kafka: EmbeddedKafka,
    pub bootstrap: String,
    pub dir: TempDir,
    _watchdog: Watchdog,
}

impl Harness {
    pub fn new() -> Self {
        let kafka = EmbeddedKafka::start().expect("embedded kafka");
        let bootstrap = kafka.bootstrap_servers();
        Self { kafka, bootstrap, dir: tempfile::tempdir().unwrap(), _watchdog: Watchdog::start(TEST_LIMIT) }
    }

    pub fn topic(&self, name: &str, partitions: i32) {
        self.kafka.create_topic(name, partitions).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Produces lines (`key<TAB>value` or value) and waits for the broker's acks.
    pub async fn produce(&self, topic: &str, partition: Option<i32>, lines: &[String]) {
        let text = lines.join("\n");
        produce_lines(&self.bootstrap, topic, partition, text.as_bytes(), LineFormat { split_key: true })
            .await
            .unwrap();
    }

    /// Produces records with their keys, values and headers as given (topic and partition
    /// from the records), waiting for the broker's acks.
    pub async fn produce_records(&self, records: &[sluice::model::KafkaRecord]) {
        use rdkafka::message::{Header, OwnedHeaders};
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let mut config = client::client_config(&self.bootstrap, &[]);
        config.set("acks", "all").set("message.max.bytes", "16000000");
        let producer: FutureProducer = client::create(config).unwrap();
        for record in records {
            let mut headers = OwnedHeaders::new();
            for h in &record.headers {
                headers = headers.insert(Header { key: &h.key, value: h.value.as_deref() });
            }
            let mut message =
                FutureRecord::<[u8], [u8]>::to(&record.topic).partition(record.partition).headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                message = message.payload(value.as_slice());
            }
            producer.send(message, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
        }
    }

    /// A worker file with a fast commit interval.
    pub fn worker(&self, extra: &str) -> ConfigMap {
        let text = format!(
            "bootstrap.servers={}\noffset.flush.interval.ms=200\nvalue.converter.schemas.enable=false\n\
             consumer.fetch.wait.max.ms=20\nconsumer.session.timeout.ms=6000\nconsumer.heartbeat.interval.ms=500\n\
             sluice.plugin.cache.dir={}\ntask.shutdown.graceful.timeout.ms=3000\n{extra}",
            self.bootstrap,
            cache_dir().display()
        );
        parse_text("worker.properties", &text).unwrap()
    }

    pub fn connector(&self, text: &str) -> ConfigMap {
        parse_text("connector.properties", text).unwrap()
    }

    pub async fn start(&self, worker: ConfigMap, connectors: Vec<ConfigMap>) -> anyhow::Result<Standalone> {
        Standalone::start(app::from_maps(worker, connectors, None)?).await
    }

    /// Committed positions of `group` for partitions `0..partitions` (-1 when none).
    pub fn committed(&self, group: &str, topic: &str, partitions: i32) -> Vec<i64> {
        let mut config = client::client_config(&self.bootstrap, &[]);
        config.set("group.id", group);
        let consumer: BaseConsumer = client::create(config).unwrap();
        let mut list = TopicPartitionList::new();
        for p in 0..partitions {
            list.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(list, Duration::from_secs(10)).unwrap();
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => -1,
            })
            .collect()
    }

    /// High watermarks of partitions `0..partitions`.
    pub fn end_offsets(&self, topic: &str, partitions: i32) -> Vec<i64> {
        let mut config = client::client_config(&self.bootstrap, &[]);
        config.set("group.id", "sluice-test-watermarks");
        let consumer: BaseConsumer = client::create(config).unwrap();
        (0..partitions).map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)).unwrap().1).collect()
    }

    /// Reads up to `count` records of one partition from the beginning.
    pub fn read(&self, topic: &str, partition: i32, count: usize) -> Vec<OwnedMessage> {
        let mut config = client::client_config(&self.bootstrap, &[]);
        config.set("group.id", "sluice-test-reader").set("enable.auto.commit", "false");
        let consumer: BaseConsumer = client::create(config).unwrap();
        let mut list = TopicPartitionList::new();
        list.add_partition_offset(topic, partition, Offset::Beginning).unwrap();
        consumer.assign(&list).unwrap();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while out.len() < count && Instant::now() < deadline {
            if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
                out.push(message.detach());
            }
        }
        out
    }
}

/// The JSON lines of an output file (empty when the file does not exist yet).
pub fn output_lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad output line {l:?}: {e}")))
        .collect()
}

/// The JSON lines of an output file, skipping lines torn by a killed writer; returns them
/// and the number of torn lines.
pub fn output_lines_lenient(path: &Path) -> (Vec<Json>, usize) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut torn = 0;
    let lines = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| serde_json::from_str(l).map_err(|_| torn += 1).ok())
        .collect();
    (lines, torn)
}

/// Number of lines in a file, without parsing them.
pub fn line_count(path: &Path) -> usize {
    std::fs::read(path).map(|b| b.iter().filter(|&&c| c == b'\n').count()).unwrap_or(0)
}

/// A record's header as text.
pub fn header(message: &OwnedMessage, key: &str) -> Option<String> {
    let headers = message.headers()?;
    headers.iter().find(|h| h.key == key).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes.
/// Sends a REST request with an optional JSON body; returns the status and the answer (JSON,
/// or the text as a JSON string when it is not JSON).
pub async fn http_json(client: &reqwest::Client, method: &str, url: String, body: Option<&Json>) -> (u16, Json) {
    let mut request = client.request(method.parse().unwrap(), url);
    if let Some(body) = body {
        request = request.header("content-type", "application/json").body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Json::String(text)))
}

pub async fn wait_until(timeout: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `(partition, offset)` of every output line, grouped per partition in file order.
pub fn offsets_by_partition(lines: &[Json]) -> BTreeMap<i64, Vec<i64>> {
    let mut map: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for line in lines {
        map.entry(line["partition"].as_i64().unwrap()).or_default().push(line["offset"].as_i64().unwrap());
    }
    map
}

/// `n` JSON order events, keyed `k<i % keys>`.
pub fn orders(n: usize, keys: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "k{}\t{{\"id\":{i},\"product\":\"p{}\",\"qty\":{},\"price\":{}.5}}",
                i % keys,
                i % 13,
                i % 5,
                i % 20
            )
        })
        .collect()
}

/// Partitions of the topic [`kill_loop`] reads.
pub const KILL_PARTITIONS: i32 = 2;

/// What a service stand-in holds, for [`kill_loop`]: rows stored (one per record, a re-sent
/// record overwriting its row) and rows accepted (every row of every write request, re-sent
/// ones included).
pub trait Landed {
    /// Distinct rows stored.
    async fn stored(&self) -> usize;
    /// Rows accepted over all requests.
    async fn accepted(&self) -> usize;
}

/// Creates `topic` with [`KILL_PARTITIONS`] partitions, writes the connector file
/// `connector` (its text) and a [`kill_worker`] file, then SIGKILLs `sluice standalone` on them
/// eight times at seeded random moments while it streams `per_run` new records (`records(first, count)`, keyed lines for
/// [`Harness::produce`]) each run into a stand-in, restarting it each time; a last run goes
/// to the end and exits on SIGTERM. Asserts that at every kill the stand-in holds at least
/// what was committed, that after a restart only rows written but not committed at the kill
/// arrive again (all of them in the last run: consumption resumed exactly at the committed
/// offsets, never from the start), and that the last run commits the end offsets. Returns the
/// records produced and the rows sent again.
pub async fn kill_loop(
    h: &Harness,
    topic: &str,
    connector: &str,
    per_run: usize,
    records: impl Fn(usize, usize) -> Vec<String>,
    landed: &impl Landed,
) -> (usize, usize) {
    use std::process::{Command, Stdio};
    const KILLS: usize = 8;
    let partitions = KILL_PARTITIONS;
    h.topic(topic, partitions);
    let (worker, connector_file) = (h.path("kill-worker.properties"), h.path("kill-connector.properties"));
    std::fs::write(&worker, kill_worker(h)).unwrap();
    std::fs::write(&connector_file, connector).unwrap();
    let name = parse_text("connector", connector).unwrap().get("name").expect("a connector name").to_string();
    let group = format!("connect-{name}");
    let start = || {
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .env("SLUICE_CACHE_DIR", cache_dir())
            .env("SLUICE_LOG", "warn")
            .arg("standalone")
            .arg(&worker)
            .arg(&connector_file)
            .stdout(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut random = seeded_random(0x2545_f491_4f6c_dd1d);
    let (mut produced, mut resent_total, mut uncommitted_at_kill) = (0, 0, 0);
    for run in 0..=KILLS {
        h.produce(topic, None, &records(produced, per_run)).await;
        produced += per_run;
        let (stored_before, accepted_before) = (landed.stored().await, landed.accepted().await);
        let mut child = start();
        if run < KILLS {
            let deadline = Instant::now() + Duration::from_secs(60);
            while landed.stored().await <= stored_before + 20 {
                assert!(Instant::now() < deadline, "run {run} made no progress");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(Duration::from_millis(random(300))).await;
            child.kill().unwrap(); // SIGKILL: nothing more is written or committed
            child.wait().unwrap();
        } else {
            let end = h.end_offsets(topic, partitions);
            let done = wait_until(Duration::from_secs(90), || h.committed(&group, topic, partitions) == end).await;
            assert!(done, "the last run must commit the end offsets {end:?}");
            assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
            assert!(wait_exit(&mut child, Duration::from_secs(30), "SIGTERM after the last run").success());
        }
        let (stored_after, accepted_after) = (landed.stored().await, landed.accepted().await);
        let resent = (accepted_after - accepted_before) - (stored_after - stored_before);
        // A run killed early may not have re-sent all of them yet; the last run runs to the end.
        let expected = if run < KILLS { resent <= uncommitted_at_kill } else { resent == uncommitted_at_kill };
        assert!(
            expected,
            "run {run}: {resent} rows arrived again, but {uncommitted_at_kill} were written and not committed at \
             the last kill (a restart must resume at the committed offsets)"
        );
        resent_total += resent;
        let committed: i64 = h.committed(&group, topic, partitions).iter().map(|c| c.max(&0)).sum();
        assert!(stored_after as i64 >= committed, "run {run}: {committed} records committed but {stored_after} stored");
        uncommitted_at_kill = stored_after - committed as usize;
    }
    println!("{KILLS} kills: {produced} records, {resent_total} rows sent again (written after the last commit)");
    (produced, resent_total)
}

/// A worker file for [`kill_loop`]: offsets committed every 50 ms, short fetch waits and a
/// short session so a restarted process gets its partitions back quickly.
fn kill_worker(h: &Harness) -> String {
    format!(
        "bootstrap.servers={}\nlisteners=http://127.0.0.1:0\noffset.flush.interval.ms=50\n\
         value.converter.schemas.enable=false\nkey.converter.schemas.enable=false\nconsumer.fetch.wait.max.ms=20\n\
         consumer.session.timeout.ms=3000\nconsumer.heartbeat.interval.ms=300\n",
        h.bootstrap
    )
}

/// A record to produce with [`Harness::produce_records`]: `value` as given (`None` for a
/// tombstone), the offset left to the broker.
pub fn record(topic: &str, partition: i32, key: &str, value: impl Into<Option<Vec<u8>>>) -> sluice::model::KafkaRecord {
    sluice::model::KafkaRecord {
        topic: topic.into(),
        partition,
        offset: 0,
        timestamp_ms: None,
        key: Some(key.as_bytes().to_vec()),
        value: value.into(),
        headers: Vec::new(),
    }
}

/// A seeded xorshift generator: `random(n)` is below `n`, the same sequence every run.
pub fn seeded_random(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |below| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    }
}

/// Checks that every offset `0..end[p]` of every partition appears among `offsets` (per
/// partition, in any order) and returns how many appear more than once (records written again
/// after the last commit).
pub fn every_offset_at_least_once(offsets: BTreeMap<i64, Vec<i64>>, end: &[i64]) -> usize {
    let mut duplicates = 0;
    for (partition, mut offsets) in offsets {
        offsets.sort_unstable();
        let before = offsets.len();
        offsets.dedup();
        duplicates += before - offsets.len();
        assert_eq!(offsets, (0..end[partition as usize]).collect::<Vec<_>>(), "partition {partition}: every record");
    }
    duplicates
}

/// A poison-matrix input: a record value (none for a tombstone) and what it stands for.
pub type Poison<'a> = (Option<Vec<u8>>, &'a str);

/// The records of a poison matrix, on partition 0 of `topic`, keyed `k<i>`.
pub fn poison_records(topic: &str, values: &[Poison<'_>]) -> Vec<sluice::model::KafkaRecord> {
    values.iter().enumerate().map(|(i, (value, _))| record(topic, 0, &format!("k{i}"), value.clone())).collect()
}

/// Checks each dead letter of a poison matrix: it carries the original value of the record at
/// its `__connect.errors.offset`, and its `ErrorInfo` names every part of its `reasons` entry
/// (in dead-letter order).
pub fn assert_dead_letters(dead: &[OwnedMessage], values: &[Poison<'_>], reasons: &[&[&str]]) {
    assert_eq!(dead.len(), reasons.len(), "one dead letter per bad record");
    for (message, expected) in dead.iter().zip(reasons) {
        let offset: usize = header(message, "__connect.errors.offset").unwrap().parse().unwrap();
        let what = values[offset].1;
        assert_eq!(message.payload().map(<[u8]>::to_vec), values[offset].0, "{what}: original bytes");
        let info = header(message, "ErrorInfo").unwrap();
        assert!(expected.iter().all(|part| info.contains(part)), "{what}: {info}");
    }
}

/// Checks that no committed offset of `group` (read first) is past the records `written`
/// holds (read after): for each partition committed at `c > 0`, offset `c - 1` was written.
pub fn assert_commits_written(
    h: &Harness,
    group: &str,
    topic: &str,
    partitions: i32,
    written: impl FnOnce() -> BTreeMap<i64, Vec<i64>>,
    label: &str,
) {
    let committed = h.committed(group, topic, partitions);
    let written = written();
    for (partition, committed) in committed.iter().enumerate() {
        if *committed > 0 {
            let held = written.get(&(partition as i64)).is_some_and(|o| o.contains(&(committed - 1)));
            assert!(held, "{label}: partition {partition} committed {committed} before it was written");
        }
    }
}
