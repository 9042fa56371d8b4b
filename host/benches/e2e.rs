//! End-to-end throughput, footprint and start-up of the production path, against raw
//! librdkafka reading the same records from the same broker in the same run.
//!
//! The bench starts librdkafka's mock cluster in process and fills it with JSON records of
//! ~150 bytes. The baseline is a plain librdkafka consumer (`BaseConsumer`, its own group)
//! reading every record and touching its payload. Each sluice figure runs the real binary
//! (`sluice standalone`, release build) as a child process against that broker with default
//! settings except the ones named in the line: the built-in JSON parser in wasmtime and
//! `FileStreamSink` writing to a temporary file. A run ends when the file holds one line per
//! record. Per run the bench prints records/s, the ratio to the baseline, the child's CPU
//! seconds per million records, its peak RSS (`VmHWM`) and the time from process start to the
//! first row written, minus the baseline consumer's time to its first record (the broker's
//! group join and first fetch). Each figure is the median of the passes.
//!
//! ```text
//! cargo bench -p sluice --bench e2e            # 300,000 records, 3 passes
//! SLUICE_BENCH_RECORDS=1000000 SLUICE_BENCH_PASSES=5 cargo bench -p sluice --bench e2e
//! SLUICE_BENCH_SETTINGS="max.poll.records=2000;sluice.batch.linger.ms=5" cargo bench -p sluice --bench e2e
//! ```
//!
//! The last form runs only one case, with the given connector settings added.
//! `SLUICE_BENCH_WRAP="perf record -g -o /tmp/sluice.perf --"` runs each sluice child under
//! the given command (a profiler); the CPU and RSS figures are then the wrapper's.
//!
//! Linux only (it reads `/proc/<pid>/{status,stat}` of the child).

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use sluice::source::embedded::EmbeddedKafka;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

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
    Ok(bytes / records)
}

/// What one run measured.
struct Run {
    took: Duration,
    first: Duration,
    cpu: Duration,
    peak_rss_kib: u64,
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
    Ok(Run { took, first: first.unwrap_or(took), cpu: own_cpu() - cpu_before, peak_rss_kib: 0 })
}

/// Runs `sluice standalone` on `connector` lines until the output file has `records` lines.
fn sluice(
    kafka: &EmbeddedKafka,
    dir: &Path,
    run_name: &str,
    topic: &str,
    extra: &str,
    records: usize,
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
    let connector = dir.join(format!("{run_name}.properties"));
    std::fs::write(
        &connector,
        format!(
            "name={run_name}\nconnector.class=FileStreamSink\ntopics={topic}\nparser=json\nfile={}\n{extra}",
            out.display()
        ),
    )?;
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
    let result = watch(&mut child, &out, records, started);
    let cpu = child_cpu(child.id());
    let peak = peak_rss_kib(child.id());
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    let (took, first) = result?;
    Ok(Run { took, first, cpu: cpu?, peak_rss_kib: peak? })
}

/// Counts the output file's lines as they arrive.
fn watch(child: &mut Child, out: &Path, records: usize, started: Instant) -> anyhow::Result<(Duration, Duration)> {
    let mut lines = 0usize;
    let mut first = None;
    let mut file = None;
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("sluice exited early ({status}) after {lines} of {records} rows");
        }
        if started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("sluice wrote only {lines} of {records} rows in {:.0?}", started.elapsed());
        }
        if file.is_none() {
            file = std::fs::File::open(out).ok();
        }
        let mut progressed = false;
        if let Some(file) = file.as_mut() {
            loop {
                let read = file.read(&mut buffer)?;
                if read == 0 {
                    break;
                }
                progressed = true;
                lines += buffer[..read].iter().filter(|&&b| b == b'\n').count();
            }
        }
        if lines > 0 {
            first.get_or_insert_with(|| started.elapsed());
        }
        if lines >= records {
            return Ok((started.elapsed(), first.unwrap_or_default()));
        }
        if !progressed {
            std::thread::sleep(Duration::from_millis(2));
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
    let stat = proc_file(pid, "stat")?;
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
    let kafka = EmbeddedKafka::start()?;
    let dir = tempfile::tempdir()?;
    let size = fill(&kafka, "events-12", 12, records)?;
    // librdkafka's mock cluster keeps a bounded log per partition, so the one-partition topic
    // holds a twelfth of the records (its figures are rates, comparable all the same).
    let single = records / 12;
    fill(&kafka, "events-1", 1, single)?;
    println!(
        "end to end: {records} JSON records of ~{size} bytes, librdkafka mock cluster in process, \
         {} cores, median of {passes} passes",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let raw_runs: Vec<Run> = (0..passes).map(|p| raw(&kafka, "events-12", records, p)).collect::<Result<_, _>>()?;
    let raw_took = median_by(&raw_runs, |r| r.took);
    let raw_first = median_by(&raw_runs, |r| r.first);
    let raw_cpu = median_by(&raw_runs, |r| r.cpu);
    let raw_rate = per_second(records, raw_took);
    println!(
        "  {:<44} {:>10.0} records/s  1.00x  {:>5.2} CPU s/M  (first record after {:.0?}: the group join)",
        "raw librdkafka BaseConsumer, 12 partitions",
        per_second(records, raw_took),
        raw_cpu.as_secs_f64() * 1e6 / records as f64,
        raw_first
    );

    // A first run compiles the built-in parser into the plugin cache; later runs load it.
    sluice(&kafka, dir.path(), "warm-up", "events-1", "", single.min(1000))?;

    let cases: [(&str, &str, &str, usize); 3] = [
        ("FileStreamSink, defaults (tasks.max=1), 12 p", "events-12", "", records),
        ("FileStreamSink, tasks.max=2, 12 partitions", "events-12", "tasks.max=2\n", records),
        ("FileStreamSink, defaults, 1 partition", "events-1", "", single),
    ];
    // SLUICE_BENCH_SETTINGS="key=value;key=value" runs one extra case with those connector settings.
    let custom = std::env::var("SLUICE_BENCH_SETTINGS").ok().map(|s| s.replace(';', "\n") + "\n");
    let custom_case =
        custom.as_deref().map(|extra| ("FileStreamSink, SLUICE_BENCH_SETTINGS, 12 p", "events-12", extra, records));
    let cases: Vec<(&str, &str, &str, usize)> = match custom_case {
        Some(case) => vec![case],
        None => cases.to_vec(),
    };
    for (index, &(label, topic, extra, records)) in cases.iter().enumerate() {
        let runs: Vec<Run> = (0..passes)
            .map(|p| sluice(&kafka, dir.path(), &format!("run-{index}-{p}"), topic, extra, records))
            .collect::<Result<_, _>>()?;
        let took = median_by(&runs, |r| r.took);
        let first = median_by(&runs, |r| r.first);
        let cpu = median_by(&runs, |r| r.cpu);
        let rss = median_by(&runs, |r| r.peak_rss_kib);
        println!(
            "  {:<44} {:>10.0} records/s  {:.2}x  {:>5.2} CPU s/M  peak RSS {:>5.1} MB  first row {:.0?} after the join",
            label,
            per_second(records, took),
            per_second(records, took) / raw_rate,
            cpu.as_secs_f64() * 1e6 / records as f64,
            rss as f64 / 1024.0,
            first.saturating_sub(raw_first),
        );
    }
    Ok(())
}
