//! MaxCompute sink figures: record-stream encoding throughput (against serde_json rendering
//! of the same rows, as a baseline measured in the same run), bytes per row on the wire, and
//! end-to-end rows/s through the real sink into the local stand-in
//! (`tests/standins/maxcompute/server.py`, which verifies signatures and decodes every block
//! with pyodps, so it is the bottleneck being measured there, not the tunnel service).
//!
//! Rows are the console example's shape (`topic, partition, offset, key, value`) with
//! 8–12 byte keys and ~100 byte values. Run with:
//!
//! ```text
//! cargo bench -p sluice --bench maxcompute
//! ```

use std::borrow::Cow;
use std::io::Write as _;
use std::time::{Duration, Instant};

use flate2::write::ZlibEncoder;
use flate2::Compression;
use serde_json::{json, Value as Json};
use sluice::config::parse_text;
use sluice::model::{Column, KafkaRecord, Output, Row, Value, WriteKind};
use sluice::sinks::driver::Driver;
use sluice::sinks::maxcompute::{Cell, MaxComputeConfig, MaxComputeSink, RecordWriter};
use sluice::sinks::retry::RetryPolicy;
use sluice::sinks::{Sink, SinkItem};
use sluice_standins::{Service, Standin, Stderr};

const ROWS: usize = 200_000;
const PASSES: usize = 5;
const E2E_ROWS: usize = 40_000;
const E2E_BATCH: usize = 8_000;

struct Sample {
    key: String,
    value: String,
    offset: i64,
}

fn samples(n: usize) -> Vec<Sample> {
    (0..n)
        .map(|i| Sample {
            key: format!("user-{}", i % 100_003),
            value: format!(
                "{{\"id\":{i},\"event\":\"page_view\",\"path\":\"/products/{}\",\"ms\":{},\"ok\":{}}}",
                i % 977,
                (i * 37) % 5000,
                i % 3 != 0
            ),
            offset: i as i64,
        })
        .collect()
}

fn encode(rows: &[Sample], out: impl std::io::Write) -> (u64, u64) {
    let mut writer = RecordWriter::new(out);
    for row in rows {
        writer.field(0, &Cell::Bytes(Cow::Borrowed(b"maxcompute-test-input")));
        writer.field(1, &Cell::Int(0));
        writer.field(2, &Cell::Int(row.offset));
        writer.field(3, &Cell::Bytes(Cow::Borrowed(row.key.as_bytes())));
        writer.field(4, &Cell::Bytes(Cow::Borrowed(row.value.as_bytes())));
        writer.end_record().unwrap();
    }
    let (count, raw) = (writer.count(), writer.raw_bytes());
    writer.finish().unwrap();
    (count, raw)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn timed(mut f: impl FnMut()) -> Duration {
    f();
    median(
        (0..PASSES)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn main() -> anyhow::Result<()> {
    let rows = samples(ROWS);
    let mut raw_len = 0;
    let encode_time = timed(|| {
        let mut buffer = Vec::with_capacity(ROWS * 160);
        raw_len = encode(&rows, &mut buffer).1;
    });
    let mut wire_len = 0;
    let deflate_time = timed(|| {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::fast());
        encode(&rows, &mut encoder);
        wire_len = encoder.finish().unwrap().len();
    });
    let mut json_len = 0;
    let json_time = timed(|| {
        let mut buffer = Vec::with_capacity(ROWS * 200);
        for row in &rows {
            serde_json::to_writer(&mut buffer, &json!(["maxcompute-test-input", 0, row.offset, row.key, row.value]))
                .unwrap();
            buffer.push(b'\n');
        }
        json_len = buffer.len();
    });
    let rate = |d: Duration| ROWS as f64 / d.as_secs_f64();
    println!("record stream encoding, {ROWS} rows, median of {PASSES}:");
    println!(
        "  encode only:        {:>12.0} rows/s  {:>7.1} MB/s  {:.1} bytes/row",
        rate(encode_time),
        raw_len as f64 / encode_time.as_secs_f64() / 1e6,
        raw_len as f64 / ROWS as f64
    );
    println!(
        "  encode + deflate:   {:>12.0} rows/s  {:.1} bytes/row on the wire ({:.2}x smaller)",
        rate(deflate_time),
        wire_len as f64 / ROWS as f64,
        raw_len as f64 / wire_len as f64
    );
    println!(
        "  baseline serde_json:{:>12.0} rows/s  {:.1} bytes/row   (encode is {:.2}x the baseline's speed)",
        rate(json_time),
        json_len as f64 / ROWS as f64,
        json_time.as_secs_f64() / encode_time.as_secs_f64()
    );

    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(end_to_end())
}

async fn end_to_end() -> anyhow::Result<()> {
    let config = json!({"project": "connector_test", "access_id": "id", "access_key": "key", "tables": {"test_kafka": {
        "columns": [["topic", "string"], ["partition", "bigint"], ["offset", "bigint"], ["key", "string"], ["value", "string"]],
        "partitions": ["pt"]}}});
    let standin = Standin::start(Service::MaxCompute, &[&config.to_string()], Stderr::Quiet);
    let service_port = standin.named_port("service");
    let endpoint = format!("http://127.0.0.1:{service_port}/api");
    let text = format!("endpoint={endpoint}\nproject=connector_test\ntable=test_kafka\naccess_id=id\naccess_key=key\n");
    let result = async {
        let mut sink = MaxComputeSink::open(MaxComputeConfig::from_map(&parse_text("bench", &text)?)?).await?;
        let data = samples(E2E_ROWS);
        let records: Vec<KafkaRecord> = data.iter().map(|s| KafkaRecord {
            topic: "maxcompute-test-input".into(), partition: 0, offset: s.offset, timestamp_ms: None,
            key: Some(s.key.clone().into_bytes()), value: Some(s.value.clone().into_bytes()), headers: vec![],
        }).collect();
        let outputs: Vec<Vec<Output>> = data.iter().map(|s| vec![Output::Row(Row {
            table: None, kind: WriteKind::Put, primary_key: vec![], deleted_columns: vec![],
            columns: vec![
                Column { name: "topic".into(), value: Value::Text("maxcompute-test-input".into()) },
                Column { name: "partition".into(), value: Value::Int64(0) },
                Column { name: "offset".into(), value: Value::Int64(s.offset) },
                Column { name: "key".into(), value: Value::Text(s.key.clone().into()) },
                Column { name: "value".into(), value: Value::Text(s.value.clone().into()) },
            ],
        })]).collect();
        let items: Vec<SinkItem<'_>> = records.iter().zip(&outputs).map(|(record, outputs)| SinkItem { record, topic: &record.topic, outputs }).collect();
        let start = Instant::now();
        for batch in items.chunks(E2E_BATCH) {
            let report = sink.write(batch, &mut Driver::unstoppable(RetryPolicy::default())).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            anyhow::ensure!(report.rejected.is_empty(), "rejected: {:?}", report.rejected);
        }
        let elapsed = start.elapsed();
        let http = reqwest::Client::new();
        let log: Json = serde_json::from_slice(&http.get(format!("http://127.0.0.1:{service_port}/_control/log")).send().await?.bytes().await?)?;
        let puts: Vec<&Json> = log.as_array().into_iter().flatten().filter(|e| e["method"] == "PUT").collect();
        let wire: u64 = puts.iter().filter_map(|e| e["wire_bytes"].as_u64()).sum();
        let stored: u64 = puts.iter().filter_map(|e| e["rows"].as_u64()).sum();
        anyhow::ensure!(stored == E2E_ROWS as u64, "the stand-in decoded {stored} rows");
        println!("end to end into the stand-in, {E2E_ROWS} rows in writes of {E2E_BATCH} (session, block, block list, commit each):");
        println!("  {:.0} rows/s ({:.0?} per write), {:.1} bytes/row on the wire, {} requests",
            E2E_ROWS as f64 / elapsed.as_secs_f64(), elapsed / (E2E_ROWS / E2E_BATCH) as u32,
            wire as f64 / E2E_ROWS as f64, log.as_array().map_or(0, Vec::len));
        anyhow::Ok(())
    }.await;
    drop(standin);
    std::io::stdout().flush()?;
    result
}
