//! TDengine sink throughput.
//!
//! 1. Encoding, in process: 200,000 generated meter points (2 tags, 4 typed fields) encoded to
//!    line protocol by the sink's encoder, against the baseline of normalising the same lines
//!    when they arrive pre-encoded (`raw` passthrough: split, strip, copy), plus joining and
//!    gzipping request bodies of 3,000 lines.
//! 2. End to end: 50,000 line-protocol records on an embedded Kafka topic (4 partitions,
//!    `tasks.max=2`) through the built-in `tdengine` parser in wasmtime into the taosAdapter
//!    stand-in (`tests/standins/tdengine`, Python), timed until every record is acknowledged;
//!    the baseline is the same pipeline writing to a local file (`FileStreamSink`), which shows
//!    what the TDengine sink and the stand-in add. The stand-in parses every line in Python,
//!    so the end-to-end figure is a floor, not taosAdapter's speed.
//!
//! Each in-process figure is the median of 7 passes after a warm-up. Run with:
//!
//! ```text
//! cargo bench -p sluice --bench tdengine
//! ```

use std::time::{Duration, Instant};

use sluice::app::{self, Standalone};
use sluice::config::parse_text;
use sluice::model::{Column, Point, Value};
use sluice::sinks::tdengine::{body, gzip, point_line, raw_piece, ColumnTypes, Precision, Protocol};
use sluice::source::embedded::EmbeddedKafka;
use sluice::source::produce::{produce_lines, LineFormat};
use sluice_standins::{Service, Standin, Stderr};

const POINTS: usize = 200_000;
const PASSES: usize = 7;
const E2E_RECORDS: usize = 50_000;
const REQUEST_LINES: usize = 3_000;

fn points() -> Vec<Point> {
    (0..POINTS)
        .map(|i| Point {
            table: None,
            measurement: "meters".into(),
            data_source: Default::default(),
            tags: vec![
                ("location".into(), format!("California.City {}", i % 50).into()),
                ("groupid".into(), (i % 10).to_string().into()),
            ],
            time_us: 1_648_432_611_249_000 + i as i64,
            fields: vec![
                Column { name: "current".into(), value: Value::Float32(10.0 + (i % 100) as f32 / 10.0) },
                Column { name: "voltage".into(), value: Value::Int32(200 + (i % 40) as i32) },
                Column { name: "phase".into(), value: Value::Float64((i % 1000) as f64 / 1000.0) },
                Column { name: "note".into(), value: Value::Binary(format!("ok \"{}\"", i % 7).into_bytes().into()) },
            ],
        })
        .collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<T>(mut run: impl FnMut() -> T) -> Duration {
    run();
    median(
        (0..PASSES)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(run());
                started.elapsed()
            })
            .collect(),
    )
}

fn per_second(count: usize, took: Duration) -> f64 {
    count as f64 / took.as_secs_f64()
}

fn encoding() {
    let points = points();
    let types = ColumnTypes::default();
    let encoded: Vec<Vec<u8>> = points
        .iter()
        .map(|p| point_line(p, "power", Precision::Ns, None, &types).expect("valid point").payload)
        .collect();
    let bytes: usize = encoded.iter().map(|l| l.len() + 1).sum();
    let encode = time(|| {
        let mut total = 0;
        for point in &points {
            total += point_line(point, "power", Precision::Ns, None, &types).map(|p| p.payload.len()).unwrap_or(0);
        }
        total
    });
    let passthrough = time(|| {
        let mut total = 0;
        for line in &encoded {
            total += raw_piece(Protocol::Line, line).ok().flatten().map(|p| p.payload.len()).unwrap_or(0);
        }
        total
    });
    let pieces: Vec<_> = encoded.iter().filter_map(|l| raw_piece(Protocol::Line, l).ok().flatten()).collect();
    let request = body(Protocol::Line, pieces[..REQUEST_LINES].iter());
    let join =
        time(|| pieces.chunks(REQUEST_LINES).map(|chunk| body(Protocol::Line, chunk.iter()).len()).sum::<usize>());
    let gzip_one = time(|| gzip(&request).map(|g| g.len()).unwrap_or(0));
    println!("line protocol: {POINTS} points, {:.1} bytes per line", bytes as f64 / POINTS as f64);
    println!(
        "  encode points   {:>10.0} points/s  {:>7.1} MB/s",
        per_second(POINTS, encode),
        bytes as f64 / encode.as_secs_f64() / 1e6
    );
    println!(
        "  raw passthrough {:>10.0} lines/s   {:>7.1} MB/s  (baseline; encoding costs {:.2}x)",
        per_second(POINTS, passthrough),
        bytes as f64 / passthrough.as_secs_f64() / 1e6,
        encode.as_secs_f64() / passthrough.as_secs_f64()
    );
    println!("  join bodies     {:>10.0} lines/s", per_second(POINTS, join));
    println!(
        "  gzip a {REQUEST_LINES}-line body ({} KiB -> {} KiB): {:.2?} ({:.0} lines/s)",
        request.len() / 1024,
        gzip(&request).map(|g| g.len()).unwrap_or(0) / 1024,
        gzip_one,
        per_second(REQUEST_LINES, gzip_one)
    );
}

async fn end_to_end(kafka: &EmbeddedKafka, topic: &str, connector: &str) -> anyhow::Result<Duration> {
    let bootstrap = kafka.bootstrap_servers();
    let cache = std::env::temp_dir().join("sluice-bench-cache");
    let worker = parse_text(
        "worker",
        &format!(
            "bootstrap.servers={bootstrap}\noffset.flush.interval.ms=1000\nsluice.plugin.cache.dir={}\n",
            cache.display()
        ),
    )?;
    let started = Instant::now();
    let running = Standalone::start(app::from_maps(worker, vec![parse_text("connector", connector)?], None)?).await?;
    let status = running.statuses()[0].clone();
    while sluice::pipeline::status::Counters::get(&status.counters.all_tasks.records_written) < E2E_RECORDS as u64 {
        if status.is_failed() || started.elapsed() > Duration::from_secs(600) {
            anyhow::bail!("{topic}: connector state {:?}", status.state());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    running.shutdown();
    running.wait().await;
    Ok(took)
}

async fn end_to_end_figures() -> anyhow::Result<()> {
    let kafka = EmbeddedKafka::start()?;
    let lines: String = (0..E2E_RECORDS)
        .map(|i| {
            format!(
                "meters,location=California.City\\ {},groupid={} current={}f32,voltage={}i32,phase={} {}\n",
                i % 50,
                i % 10,
                10.0 + (i % 100) as f32 / 10.0,
                200 + i % 40,
                (i % 1000) as f64 / 1000.0,
                1_648_432_611_249_000_000u64 + i as u64
            )
        })
        .collect();
    for topic in ["meters-file", "meters-td"] {
        kafka.create_topic(topic, 4)?;
        produce_lines(&kafka.bootstrap_servers(), topic, None, lines.as_bytes(), LineFormat { split_key: false })
            .await?;
    }
    let out = tempfile::tempdir()?;
    let file = end_to_end(
        &kafka,
        "meters-file",
        &format!(
            "name=bench-file\nconnector.class=FileStreamSink\ntopics=meters-file\ntasks.max=2\nparser=tdengine\n\
             db.schemaless=line\nfile={}\n",
            out.path().join("out.jsonl").display()
        ),
    )
    .await?;
    let adapter = Standin::start(Service::Tdengine, &[], Stderr::Quiet);
    let td = end_to_end(
        &kafka,
        "meters-td",
        &format!(
            "name=bench-td\nconnector.class=TDengineSinkConnector\ntopics=meters-td\ntasks.max=2\n\
             connection.url=http://127.0.0.1:{}\nconnection.database=power\ndb.schemaless=line\n",
            adapter.port()
        ),
    )
    .await?;
    println!("end to end: {E2E_RECORDS} line-protocol records, 4 partitions, tasks.max=2, batches of 500");
    println!("  FileStreamSink (baseline)  {:>8.0} records/s ({:.2?})", per_second(E2E_RECORDS, file), file);
    println!(
        "  TDengine sink -> stand-in  {:>8.0} records/s ({:.2?}; {:.2}x the baseline's time)",
        per_second(E2E_RECORDS, td),
        td,
        td.as_secs_f64() / file.as_secs_f64()
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    encoding();
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(end_to_end_figures())
}
