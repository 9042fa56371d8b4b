//! `sluice produce`: send one record per line of a file to a topic, so users and tests can
//! feed connectors without other tools.

use std::io::BufRead;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::client;

/// How lines become records.
#[derive(Debug, Clone, Copy)]
pub struct LineFormat {
    /// Split each line at its first TAB into key and value.
    pub split_key: bool,
}

/// Produces every non-empty line of `input` to `topic`; returns the number of records sent.
/// Each record is acknowledged by the broker (`acks=all`) before this returns.
pub async fn produce_lines(
    bootstrap_servers: &str,
    topic: &str,
    partition: Option<i32>,
    input: impl BufRead,
    format: LineFormat,
) -> anyhow::Result<usize> {
    let mut config = client::client_config(bootstrap_servers, &[]);
    config.set("acks", "all").set("linger.ms", "5").set("message.timeout.ms", "30000");
    let producer: FutureProducer = client::create(config).context("creating the producer")?;
    let mut pending = Vec::new();
    let mut sent = 0;
    for (index, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", index + 1))?;
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if line.is_empty() {
            continue;
        }
        let (key, value) = match line.split_once('\t') {
            Some((key, value)) if format.split_key => (Some(key.to_string()), value.to_string()),
            _ => (None, line.to_string()),
        };
        let mut record = FutureRecord::<String, String>::to(topic).payload(&value);
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        let delivery = producer
            .send_result(record)
            .map_err(|(error, _)| anyhow::anyhow!("queueing line {}: {error}", index + 1))?;
        pending.push((index, delivery));
        sent += 1;
        if pending.len() >= 10_000 {
            await_all(&mut pending).await?;
        }
    }
    await_all(&mut pending).await?;
    producer_flush(&producer);
    Ok(sent)
}

async fn await_all(pending: &mut Vec<(usize, rdkafka::producer::DeliveryFuture)>) -> anyhow::Result<()> {
    for (index, delivery) in pending.drain(..) {
        match delivery.await {
            Ok(Ok(_)) => {}
            Ok(Err((error, _))) => anyhow::bail!("line {} was not accepted by the broker: {error}", index + 1),
            Err(_) => anyhow::bail!("line {} was dropped before delivery", index + 1),
        }
    }
    Ok(())
}

fn producer_flush(producer: &FutureProducer) {
    use rdkafka::producer::Producer as _;
    let _ = producer.flush(Duration::from_secs(10));
}
