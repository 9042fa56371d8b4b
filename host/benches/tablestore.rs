//! Tablestore sink figures:
//!
//! - `encode`: PlainBuffer encoding of 10,000 order rows (kafka primary key, six typed
//!   columns), against serde_json rendering the same rows as a baseline for "one pass over
//!   the row producing bytes";
//! - `end-to-end`: rows/s written through the sink (`TablestoreSink::write`, batches of 500,
//!   `BatchWriteRow` of up to 200 rows, v2-signed, MD5 and signature checked on the answer)
//!   into the local stand-in, against one row per request as the baseline. The stand-in
//!   decodes every row with the official Python SDK, so it — not sluice — bounds this figure.
//! - `timeseries encode`: FlatBuffer encoding (with the CRC-32C) of 10,000 points (three tags,
//!   four fields) in requests of 200;
//! - `timeseries end-to-end`: points/s through `TimeseriesSink::write` (`PutTimeseriesData`,
//!   200 points per request) into the stand-in, which reads them with the SDK's FlatBuffer
//!   reader; one point per request as the baseline.
//!
//! ```text
//! cargo bench -p sluice --bench tablestore
//! ```

use std::time::{Duration, Instant};

use sluice::config::{parse_text, ConnectorConfig, WorkerConfig};
use sluice::model::{Column, KafkaRecord, Output, Point, Row, Value, WriteKind};
use sluice::sinks::driver::Driver;
use sluice::sinks::retry::RetryPolicy;
use sluice::sinks::tablestore::plainbuffer::{self, Value as Pb};
use sluice::sinks::tablestore::{timeseries, TablestoreSink, TimeseriesSink};
use sluice::sinks::{Sink, SinkItem};
use sluice_standins::{Service, Standin, Stderr};

const ROWS: usize = 10_000;

fn row(i: usize) -> Row {
    Row {
        table: Some("bench".into()),
        kind: WriteKind::Put,
        primary_key: vec![
            Column { name: "topic_partition".into(), value: Value::Text(format!("orders_{}", i % 6).into()) },
            Column { name: "offset".into(), value: Value::Int64(i as i64) },
        ],
        columns: vec![
            Column { name: "id".into(), value: Value::Int64(i as i64) },
            Column { name: "product".into(), value: Value::Text(format!("product-{}", i % 97).into()) },
            Column { name: "quantity".into(), value: Value::Int32((i % 50) as i32) },
            Column { name: "price".into(), value: Value::Float64(i as f64 * 0.25) },
            Column { name: "paid".into(), value: Value::Boolean(i.is_multiple_of(2)) },
            Column { name: "note".into(), value: Value::Text("x".repeat(64).into()) },
        ],
        deleted_columns: Vec::new(),
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn encode_bench(rows: &[Row]) {
    let pass_pb = || {
        let start = Instant::now();
        let mut bytes = 0;
        for r in rows {
            let pk: Vec<(&str, Pb<'_>)> = r.primary_key.iter().map(|c| (&*c.name, pb(&c.value))).collect();
            let cols: Vec<(&str, Pb<'_>)> = r.columns.iter().map(|c| (&*c.name, pb(&c.value))).collect();
            bytes += plainbuffer::encode_put(&pk, &cols).len();
        }
        (start.elapsed(), bytes)
    };
    let pass_json = || {
        let start = Instant::now();
        let mut bytes = 0;
        for r in rows {
            let value: serde_json::Map<String, serde_json::Value> = r
                .primary_key
                .iter()
                .chain(&r.columns)
                .map(|c| (c.name.to_string(), sluice::plugin::render::value(&c.value).1))
                .collect();
            bytes += serde_json::to_vec(&value).unwrap().len();
        }
        (start.elapsed(), bytes)
    };
    pass_pb();
    pass_json();
    let (pb_times, pb_bytes): (Vec<_>, Vec<_>) = (0..7).map(|_| pass_pb()).unzip();
    let json_times: Vec<_> = (0..7).map(|_| pass_json().0).collect();
    let (pb_t, json_t) = (median(pb_times), median(json_times));
    let rate = |t: Duration| ROWS as f64 / t.as_secs_f64();
    println!(
        "encode: PlainBuffer {:.0} rows/s ({:.1} MB/s, {} bytes/row); serde_json baseline {:.0} rows/s; ratio {:.2}x",
        rate(pb_t),
        pb_bytes[0] as f64 / pb_t.as_secs_f64() / 1e6,
        pb_bytes[0] / ROWS,
        rate(json_t),
        json_t.as_secs_f64() / pb_t.as_secs_f64()
    );
}

fn pb(value: &Value) -> Pb<'_> {
    match value {
        Value::Int64(i) => Pb::Integer(*i),
        Value::Int32(i) => Pb::Integer((*i).into()),
        Value::Float64(f) => Pb::Double(*f),
        Value::Boolean(b) => Pb::Boolean(*b),
        Value::Text(s) => Pb::String(s),
        _ => Pb::InfMin,
    }
}

async fn end_to_end(rows: &[Row]) {
    let standin = Standin::start(
        Service::Tablestore,
        &["--instance", "bench", "--access-key-id", "id", "--access-key-secret", "secret"],
        Stderr::Quiet,
    );
    let port = standin.port();
    let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
    let text = format!(
        "name=bench\nconnector.class=TableStoreSinkConnector\ntopics=bench\nauto.create=true\n\
         tablestore.endpoint=http://127.0.0.1:{port}\ntablestore.instance.name=bench\ntablestore.auth.mode=aksk\n\
         tablestore.access.key.id=id\ntablestore.access.key.secret=secret\n"
    );
    let connector = ConnectorConfig::from_map(&parse_text("c", &text).unwrap(), &worker).unwrap();
    let mut sink = TablestoreSink::open(&connector).await.unwrap();
    let records: Vec<KafkaRecord> = (0..rows.len())
        .map(|i| KafkaRecord {
            topic: "bench".into(),
            partition: (i % 6) as i32,
            offset: i as i64,
            timestamp_ms: None,
            key: None,
            value: None,
            headers: Vec::new(),
        })
        .collect();
    let outputs: Vec<Vec<Output>> = rows.iter().map(|r| vec![Output::Row(r.clone())]).collect();
    let items: Vec<SinkItem<'_>> = records
        .iter()
        .zip(&outputs)
        .map(|(record, outputs)| SinkItem { record, topic: &record.topic, outputs })
        .collect();

    let start = Instant::now();
    for batch in items.chunks(500) {
        let report = sink.write(batch, &mut Driver::unstoppable(RetryPolicy::default())).await.unwrap();
        assert!(report.rejected.is_empty());
    }
    let batched = start.elapsed();
    let single_rows = 500;
    let start = Instant::now();
    for item in &items[..single_rows] {
        sink.write(std::slice::from_ref(item), &mut Driver::unstoppable(RetryPolicy::default())).await.unwrap();
    }
    let single = start.elapsed();
    let batched_rate = rows.len() as f64 / batched.as_secs_f64();
    let single_rate = single_rows as f64 / single.as_secs_f64();
    println!(
        "end-to-end into the stand-in: {batched_rate:.0} rows/s batched (BatchWriteRow, 200 rows/request, up to 10 in flight); \
         one row per request baseline {single_rate:.0} rows/s; ratio {:.1}x",
        batched_rate / single_rate
    );
    drop(standin);
}

fn point(i: usize) -> Point {
    Point {
        table: Some("bench_ts".into()),
        measurement: "cpu".into(),
        data_source: format!("host-{}", i % 50).into(),
        tags: vec![
            ("region".into(), format!("r{}", i % 4).into()),
            ("level".into(), "1".into()),
            ("dc".into(), "hz".into()),
        ],
        time_us: 1_700_000_000_000_000 + i as i64,
        fields: vec![
            Column { name: "usage".into(), value: Value::Float64(i as f64 * 0.01) },
            Column { name: "io".into(), value: Value::Int64(i as i64) },
            Column { name: "ok".into(), value: Value::Boolean(i.is_multiple_of(2)) },
            Column { name: "note".into(), value: Value::Text("x".repeat(16).into()) },
        ],
    }
}

fn timeseries_encode(points: &[Point]) {
    let pass = || {
        let start = Instant::now();
        let encoded: Vec<_> =
            points.iter().enumerate().map(|(i, p)| timeseries::encode(i, "bench_ts", p).unwrap()).collect();
        let indices: Vec<usize> = (0..encoded.len()).collect();
        let bytes: usize =
            indices.chunks(200).map(|c| timeseries::put_request(&encoded, c).rows_data.rows_data.len()).sum();
        (start.elapsed(), bytes)
    };
    pass();
    let (times, bytes): (Vec<_>, Vec<_>) = (0..7).map(|_| pass()).unzip();
    let t = median(times);
    println!(
        "timeseries encode: {:.0} points/s ({:.1} MB/s of FlatBuffer, {} bytes/point, checks and CRC-32C included)",
        points.len() as f64 / t.as_secs_f64(),
        bytes[0] as f64 / t.as_secs_f64() / 1e6,
        bytes[0] / points.len()
    );
}

async fn timeseries_end_to_end(points: &[Point]) {
    let standin = Standin::start(
        Service::Tablestore,
        &["--instance", "bench", "--access-key-id", "id", "--access-key-secret", "secret"],
        Stderr::Quiet,
    );
    let port = standin.port();
    let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
    let text = format!(
        "name=bench\nconnector.class=TableStoreSinkConnector\ntopics=bench_ts\nauto.create=true\ntablestore.mode=timeseries\n\
         tablestore.endpoint=http://127.0.0.1:{port}\ntablestore.instance.name=bench\ntablestore.auth.mode=aksk\n\
         tablestore.access.key.id=id\ntablestore.access.key.secret=secret\n"
    );
    let connector = ConnectorConfig::from_map(&parse_text("c", &text).unwrap(), &worker).unwrap();
    let mut sink = TimeseriesSink::open(&connector).await.unwrap();
    let records: Vec<KafkaRecord> = (0..points.len())
        .map(|i| KafkaRecord {
            topic: "bench_ts".into(),
            partition: 0,
            offset: i as i64,
            timestamp_ms: None,
            key: None,
            value: None,
            headers: Vec::new(),
        })
        .collect();
    let outputs: Vec<Vec<Output>> = points.iter().map(|p| vec![Output::Point(p.clone())]).collect();
    let items: Vec<SinkItem<'_>> = records
        .iter()
        .zip(&outputs)
        .map(|(record, outputs)| SinkItem { record, topic: &record.topic, outputs })
        .collect();
    let start = Instant::now();
    for batch in items.chunks(1000) {
        let report = sink.write(batch, &mut Driver::unstoppable(RetryPolicy::default())).await.unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected.first());
    }
    let batched = start.elapsed();
    let single_points = 500;
    let start = Instant::now();
    for item in &items[..single_points] {
        sink.write(std::slice::from_ref(item), &mut Driver::unstoppable(RetryPolicy::default())).await.unwrap();
    }
    let single = start.elapsed();
    let batched_rate = points.len() as f64 / batched.as_secs_f64();
    let single_rate = single_points as f64 / single.as_secs_f64();
    println!(
        "timeseries end-to-end into the stand-in: {batched_rate:.0} points/s batched (PutTimeseriesData, 200 points/request, \
         batches of 1000, up to 10 in flight); one point per request baseline {single_rate:.0} points/s; ratio {:.1}x",
        batched_rate / single_rate
    );
    drop(standin);
}

fn main() {
    let rows: Vec<Row> = (0..ROWS).map(row).collect();
    encode_bench(&rows);
    let points: Vec<Point> = (0..ROWS).map(point).collect();
    timeseries_encode(&points);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(end_to_end(&rows));
    runtime.block_on(timeseries_end_to_end(&points));
}
