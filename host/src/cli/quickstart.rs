//! `sluice quickstart`: the whole pipeline on embedded defaults, ending with a summary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};

use crate::app::{self, Standalone};
use crate::config::parse_text;
use crate::pipeline::status::Counters;
use crate::source::client;
use crate::source::embedded::EmbeddedKafka;
use crate::source::produce::{produce_lines, LineFormat};

const WORKER: &str = include_str!("../../../examples/quickstart/worker.properties");
const CONNECTOR: &str = include_str!("../../../examples/quickstart/connector.properties");
const RECORDS: &str = include_str!("../../../examples/quickstart/records.txt");
const TOPIC: &str = "orders";
const DLQ_TOPIC: &str = "orders-dlq";

/// Options of `sluice quickstart`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where the file sink writes its JSON lines.
    #[arg(long, default_value = "quickstart-output.jsonl")]
    output: PathBuf,
    /// How long to wait for the records to be delivered.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// Runs the quickstart.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let kafka = EmbeddedKafka::start()?;
    let bootstrap = kafka.bootstrap_servers();
    kafka.create_topic(TOPIC, 3)?;
    kafka.create_topic(DLQ_TOPIC, 1)?;
    println!("1. embedded Kafka on {bootstrap}; topic `{TOPIC}` with 3 partitions");

    let produced =
        produce_lines(&bootstrap, TOPIC, None, RECORDS.as_bytes(), LineFormat { split_key: true }).await? as u64;
    println!("2. produced {produced} records from examples/quickstart/records.txt (2 of them malformed)");

    std::fs::write(&args.output, "").with_context(|| format!("truncating {}", args.output.display()))?;
    let worker = parse_text("examples/quickstart/worker.properties", WORKER)?;
    let mut connector = parse_text("examples/quickstart/connector.properties", CONNECTOR)?;
    connector.set("file", args.output.display().to_string());
    let config = app::from_maps(worker, vec![connector], Some(&bootstrap))?;
    let started = Instant::now();
    let running = Standalone::start(config).await?;
    let status = running.statuses().remove(0);
    println!("3. connector `quickstart` running: built-in JSON parser (WebAssembly) → file sink");

    let deadline = started + Duration::from_secs(args.timeout_secs);
    loop {
        let counters = &status.counters;
        let done = Counters::get(&counters.all_tasks.records_written)
            + Counters::get(&counters.all_tasks.records_dead_lettered);
        if done >= produced && Counters::get(&counters.commits) > 0 {
            break;
        }
        if status.is_failed() {
            bail!("the connector failed: {:?}", status.state());
        }
        if Instant::now() > deadline {
            bail!("only {done} of {produced} records were delivered within {} s", args.timeout_secs);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown();
    running.wait().await;
    let elapsed = started.elapsed();

    let lines = std::fs::read_to_string(&args.output)?.lines().count();
    let committed = committed_total(&bootstrap, "connect-quickstart")?;
    println!(
        "4. done in {:.2} s: {} rows written to {}, {} records dead-lettered to `{DLQ_TOPIC}`, \
         committed offsets of group connect-quickstart add up to {committed}",
        elapsed.as_secs_f64(),
        lines,
        args.output.display(),
        Counters::get(&status.counters.all_tasks.records_dead_lettered),
    );
    for (offset, info) in dead_letters(&bootstrap)? {
        println!("   dead letter #{offset}: {info}");
    }
    if let Some(first) = std::fs::read_to_string(&args.output)?.lines().next() {
        println!("   first row: {first}");
    }
    if committed != produced {
        bail!("committed offsets ({committed}) do not cover the {produced} produced records");
    }
    Ok(ExitCode::SUCCESS)
}

fn committed_total(bootstrap: &str, group: &str) -> anyhow::Result<u64> {
    let mut config = client::client_config(bootstrap, &[]);
    config.set("group.id", group);
    let consumer: BaseConsumer = client::create(config)?;
    let mut list = TopicPartitionList::new();
    for partition in 0..3 {
        list.add_partition(TOPIC, partition);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(o) => Some(o as u64),
            _ => None,
        })
        .sum())
}

fn dead_letters(bootstrap: &str) -> anyhow::Result<Vec<(i64, String)>> {
    let mut config = client::client_config(bootstrap, &[]);
    config.set("group.id", "sluice-quickstart-reader").set("enable.auto.commit", "false");
    let consumer: BaseConsumer = client::create(config)?;
    let mut list = TopicPartitionList::new();
    list.add_partition_offset(DLQ_TOPIC, 0, Offset::Beginning)?;
    consumer.assign(&list)?;
    let mut found = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while found.len() < 2 && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            let info = message
                .headers()
                .and_then(|h| h.iter().find(|h| h.key == "ErrorInfo").and_then(|h| h.value))
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            found.push((message.offset(), info));
        }
    }
    Ok(found)
}
