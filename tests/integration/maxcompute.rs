//! MaxCompute sink against the local stand-in (tests/standins/maxcompute), which checks
//! every signature with pyodps's signer and decodes every block with pyodps's
//! `TunnelRecordReader`: the seed's example, modes × formats, windows and zones, rollover,
//! commit and upload faults, partition creation by SQL, STS, and dead-lettered rows.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{json, Value as Json};
use sluice::config::{read_connector_file, ConfigMap};
use sluice::pipeline::status::ConnectorState;
use sluice::sinks::maxcompute::{PartitionFormat, Window, Zone};
use sluice::source::client;
use sluice_standins::{Service, Standin, Stderr};

use crate::util::*;

/// The stand-in (killed on drop).
struct StandIn {
    _process: Standin,
    service: u16,
    tunnel: u16,
    http: reqwest::Client,
}

const KAFKA_COLUMNS: &[(&str, &str)] =
    &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("value", "string")];

impl StandIn {
    /// Starts the stand-in with `tables` (`name -> [(column, type)]`, all partitioned by `pt`).
    fn start(tables: &[(&str, &[(&str, &str)])], sts_token: Option<&str>) -> Self {
        let tables: serde_json::Map<String, Json> = tables
            .iter()
            .map(|(name, columns)| {
                let columns: Vec<Json> = columns.iter().map(|(n, t)| json!([n, t])).collect();
                (name.to_string(), json!({"columns": columns, "partitions": ["pt"]}))
            })
            .collect();
        let config = json!({"project": "connector_test", "access_id": "LTAI-test", "access_key": "secret-test",
            "sts_token": sts_token, "tables": tables});
        let process = Standin::start(Service::MaxCompute, &[&config.to_string()], Stderr::Inherit);
        Self {
            service: process.named_port("service"),
            tunnel: process.named_port("tunnel"),
            _process: process,
            http: reqwest::Client::new(),
        }
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/api", self.service)
    }

    async fn control(&self, path: &str) -> Json {
        let url = format!("http://127.0.0.1:{}/_control/{path}", self.service);
        serde_json::from_slice(&self.http.get(url).send().await.unwrap().bytes().await.unwrap()).unwrap()
    }

    /// Committed rows of `table`: `{"pt=...": [[values], ...]}`.
    async fn rows(&self, table: &str) -> Json {
        self.control(&format!("rows?table={table}")).await
    }

    /// Every request the stand-in saw.
    async fn log(&self) -> Vec<Json> {
        self.control("log").await.as_array().cloned().unwrap_or_default()
    }

    async fn faults(&self, faults: Json) {
        let url = format!("http://127.0.0.1:{}/_control/faults", self.service);
        self.http.post(url).body(faults.to_string()).send().await.unwrap();
    }

    /// Number of committed rows of `table` in all partitions.
    async fn count(&self, table: &str) -> usize {
        self.rows(table)
            .await
            .as_object()
            .map(|o| o.values().map(|v| v.as_array().map_or(0, Vec::len)).sum())
            .unwrap_or(0)
    }
}

/// A MaxCompute connector file for the stand-in.
fn connector(h: &Harness, s: &StandIn, name: &str, topic: &str, table: &str, extra: &str) -> ConfigMap {
    h.connector(&format!(
        "name={name}\nconnector.class=MaxComputeSinkConnector\ntopics={topic}\nendpoint={}\nproject=connector_test\n\
         table={table}\naccess_id=LTAI-test\naccess_key=secret-test\n{extra}",
        s.endpoint()
    ))
}

/// A record to produce: key, value, timestamp (ms).
type RawRecord<'a> = (Option<&'a [u8]>, Option<&'a [u8]>, Option<i64>);

async fn produce_raw(h: &Harness, topic: &str, records: &[RawRecord<'_>]) {
    let producer: FutureProducer = client::create(client::client_config(&h.bootstrap, &[])).unwrap();
    for (key, value, timestamp) in records {
        let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).partition(0);
        if let Some(key) = key {
            record = record.key(*key);
        }
        if let Some(value) = value {
            record = record.payload(*value);
        }
        if let Some(ts) = timestamp {
            record = record.timestamp(*ts);
        }
        producer.send(record, Duration::from_secs(10)).await.map_err(|(e, _)| e).unwrap();
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn partition_value(window: Window, zone: &str, new_format: bool, at_ms: i64) -> String {
    PartitionFormat { window, zone: Zone::parse(zone).unwrap(), new_format }.value_at(at_ms)
}

/// The single partition of `rows`, checked to be the value at `before` or `after`.
fn only_partition(rows: &Json, expected: &[String]) -> String {
    let specs: Vec<&String> = rows.as_object().unwrap().keys().collect();
    assert_eq!(specs.len(), 1, "one partition expected: {rows}");
    let spec = specs[0].clone();
    assert!(expected.iter().any(|v| spec == format!("pt={v}")), "partition {spec} is none of {expected:?}");
    spec
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_example_writes_the_test_message_as_the_console_shows() {
    let s = StandIn::start(&[("test_kafka", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("maxcompute-test-input", 1);
    h.topic("connect-error-kafka-maxcompute-sink", 1);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/maxcompute/maxcompute-sink.properties");
    let mut map = read_connector_file(&example).unwrap();
    map.set("endpoint", s.endpoint());
    map.set("access_id", "LTAI-test");
    map.set("access_key", "secret-test");
    let before = now_ms();
    h.produce("maxcompute-test-input", Some(0), &["1\t1".to_string()]).await;
    let running = h.start(h.worker(""), vec![map]).await.unwrap();
    let done = wait_until(Duration::from_secs(30), || {
        h.committed("connect-kafka-maxcompute-sink", "maxcompute-test-input", 1) == vec![1]
    })
    .await;
    assert!(done, "offset 0 committed");
    let after = now_ms();
    let rows = s.rows("test_kafka").await;
    let hours = [
        partition_value(Window::Hour, "GMT+08:00", false, before),
        partition_value(Window::Hour, "GMT+08:00", false, after),
    ];
    let spec = only_partition(&rows, &hours);
    assert_eq!(rows[&spec], json!([["maxcompute-test-input", 0, 0, "1", "1"]]), "topic, partition, offset, key, value");

    let log = s.log().await;
    assert!(
        log.iter().all(|e| e["status"].as_u64().is_some_and(|c| c < 300)),
        "every request signed correctly: {log:?}"
    );
    assert!(
        log.iter().any(|e| e["path"] == "/api/projects/connector_test/tunnel" && e["query"].get("service").is_some()),
        "tunnel discovered"
    );
    let put = log.iter().find(|e| e["method"] == "PUT").unwrap();
    assert_eq!(put["content_encoding"], "deflate");
    assert_eq!(put["query"]["blockid"], "0");
    assert_eq!(put["query"]["partition"], spec.as_str(), "space kept, no quotes");
    assert_eq!(put["rows"], 1);
    let create = log.iter().find(|e| e["method"] == "POST" && e["query"].get("uploads").is_some()).unwrap();
    assert_eq!(create["query"]["create_partition"], "true");
    assert!(
        log.iter().any(|e| e["method"] == "GET" && e["query"].get("uploadid").is_some()),
        "block list checked before commit"
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mode_and_format_maps_key_and_value_like_the_connector() {
    let csv_columns: &[(&str, &str)] = &[
        ("topic", "string"),
        ("partition", "bigint"),
        ("offset", "bigint"),
        ("name", "string"),
        ("n", "bigint"),
        ("x", "double"),
        ("ok", "boolean"),
        ("d", "decimal(10,2)"),
        ("at", "datetime"),
    ];
    let tables: Vec<(String, &[(&str, &str)])> =
        ["default_text", "default_binary", "key_text", "key_binary", "value_text", "value_binary"]
            .iter()
            .map(|t| (t.to_string(), KAFKA_COLUMNS))
            .chain([("key_csv".to_string(), csv_columns), ("value_csv".to_string(), csv_columns)])
            .collect();
    let table_refs: Vec<(&str, &[(&str, &str)])> = tables.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    let s = StandIn::start(&table_refs, None);
    let h = Harness::new();
    let mut connectors = Vec::new();
    for (table, _) in &tables {
        let (mode, format) = table.split_once('_').unwrap();
        h.topic(table, 1);
        let keys = format!("mode={}\nformat={}\nskip_error=true\n", mode.to_uppercase(), format.to_uppercase());
        connectors.push(connector(&h, &s, table, table, table, &keys));
    }
    for table in ["default_text", "default_binary", "key_text", "key_binary", "value_text", "value_binary"] {
        produce_raw(
            &h,
            table,
            &[(Some(b"k1"), Some(b"v1"), None), (None, Some(b"\xff\x00A"), None), (Some(b"k3"), None, None)],
        )
        .await;
    }
    let line: &[u8] = b"\"a,b\",42,-inf,TRUE,1.50,2020-11-17 15:04:05";
    produce_raw(&h, "key_csv", &[(Some(line), Some(b"ignored"), None), (Some(b"\\N,\\N,\\N,\\N,\\N,\\N"), None, None)])
        .await;
    produce_raw(&h, "value_csv", &[(Some(b"ignored"), Some(line), None)]).await;
    let running = h.start(h.worker(""), connectors).await.unwrap();
    for (table, _) in &tables {
        let expected = if table.ends_with("csv") {
            if table.starts_with("key") {
                2
            } else {
                1
            }
        } else {
            3
        };
        let ok = wait_until(Duration::from_secs(30), || {
            h.committed(&format!("connect-{table}"), table, 1) == vec![expected]
        })
        .await;
        assert!(ok, "{table}: committed {:?}", h.committed(&format!("connect-{table}"), table, 1));
    }
    let rows = |json: Json| json.as_object().unwrap().values().next().unwrap().clone();
    let default_text = rows(s.rows("default_text").await);
    assert_eq!(default_text[0], json!(["default_text", 0, 0, "k1", "v1"]));
    assert_eq!(s.count("default_text").await, 2, "the record whose value is not UTF-8 is not written as TEXT");
    assert_eq!(default_text[1], json!(["default_text", 0, 2, "k3", null]), "a null value is NULL");
    assert_eq!(
        rows(s.rows("default_binary").await),
        json!([
        ["default_binary", 0, 0, "k1", "v1"], ["default_binary", 0, 1, null, {"hex": "ff0041"}], ["default_binary", 0, 2, "k3", null]])
    );
    assert_eq!(
        rows(s.rows("key_text").await),
        json!([["key_text", 0, 0, "k1", null], ["key_text", 0, 1, null, null], ["key_text", 0, 2, "k3", null]])
    );
    assert_eq!(
        rows(s.rows("key_binary").await),
        json!([["key_binary", 0, 0, "k1", null], ["key_binary", 0, 1, null, null], ["key_binary", 0, 2, "k3", null]])
    );
    assert_eq!(
        rows(s.rows("value_text").await),
        json!([["value_text", 0, 0, null, "v1"], ["value_text", 0, 2, null, null]])
    );
    assert_eq!(
        rows(s.rows("value_binary").await),
        json!([
        ["value_binary", 0, 0, null, "v1"], ["value_binary", 0, 1, null, {"hex": "ff0041"}], ["value_binary", 0, 2, null, null]])
    );
    // 2020-11-17 15:04:05 in GMT+08:00 (the default time_zone) is 07:04:05 UTC.
    let csv_row = json!(["key_csv", 0, 0, "a,b", 42, "-inf", true, "1.50", 1_605_596_645_000i64]);
    assert_eq!(rows(s.rows("key_csv").await), json!([csv_row, ["key_csv", 0, 1, null, null, null, null, null, null]]));
    let mut value_row = csv_row.clone();
    value_row[0] = json!("value_csv");
    assert_eq!(rows(s.rows("value_csv").await), json!([value_row]));
    running.shutdown();
    running.wait().await;

    // DEFAULT + CSV is refused when the file is loaded.
    let error =
        match h.start(h.worker(""), vec![connector(&h, &s, "bad", "t", "key_csv", "mode=DEFAULT\nformat=CSV\n")]).await
        {
            Ok(_) => panic!("DEFAULT+CSV accepted"),
            Err(e) => format!("{e:#}"),
        };
    assert!(error.contains("`format=CSV`") && error.contains("mode=KEY"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partition_values_follow_window_type_time_zone_and_format() {
    let cases: &[(&str, Window, &str, bool)] = &[
        ("day_shanghai", Window::Day, "Asia/Shanghai", false),
        ("hour_default", Window::Hour, "GMT+08:00", false),
        ("minute_new_york", Window::Minute, "America/New_York", false),
        ("hour_minus_0330", Window::Hour, "GMT-03:30", true),
        ("day_utc_new", Window::Day, "UTC", true),
    ];
    let tables: Vec<(&str, &[(&str, &str)])> = cases.iter().map(|c| (c.0, KAFKA_COLUMNS)).collect();
    let s = StandIn::start(&tables, None);
    let h = Harness::new();
    let mut connectors = Vec::new();
    for (name, window, zone, new_format) in cases {
        h.topic(name, 1);
        let window = match window {
            Window::Day => "DAY",
            Window::Hour => "HOUR",
            Window::Minute => "MINUTE",
        };
        let zone_key = if *name == "hour_default" { String::new() } else { format!("time_zone={zone}\n") };
        connectors.push(connector(
            &h,
            &s,
            name,
            name,
            name,
            &format!("partition_window_type={window}\n{zone_key}use_new_partition_format={new_format}\n"),
        ));
        h.produce(name, Some(0), &["k\tv".to_string()]).await;
    }
    let before = now_ms();
    let running = h.start(h.worker(""), connectors).await.unwrap();
    for (name, ..) in cases {
        assert!(
            wait_until(Duration::from_secs(30), || h.committed(&format!("connect-{name}"), name, 1) == vec![1]).await,
            "{name}"
        );
    }
    let after = now_ms();
    for (name, window, zone, new_format) in cases {
        let expected =
            [partition_value(*window, zone, *new_format, before), partition_value(*window, zone, *new_format, after)];
        let spec = only_partition(&s.rows(name).await, &expected);
        let value = spec.strip_prefix("pt=").unwrap();
        let width = match window {
            Window::Day => 10,
            Window::Hour => 13,
            Window::Minute => 16,
        };
        assert_eq!(value.len(), width, "{name}: {value}");
        assert_eq!(value.chars().nth(4) == Some('-'), *new_format, "{name}: {value} (yyyy-MM-dd only when new)");
    }
    running.shutdown();
    running.wait().await;

    let error = match h.start(h.worker(""), vec![connector(&h, &s, "bad", "t", "t", "time_zone=Mars/Olympus\n")]).await
    {
        Ok(_) => panic!("unknown time zone accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("`time_zone`") && error.contains("Mars/Olympus"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn record_time_partitions_roll_over_mid_stream() {
    let s = StandIn::start(&[("events", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("events", 1);
    // 2020-11-17 14:59:59.000 and 15:00:00.000 in GMT+08:00, then back in the 14 o'clock window.
    let t = 1_605_596_400_000i64;
    produce_raw(
        &h,
        "events",
        &[
            (Some(b"a"), Some(b"1"), Some(t - 1000)),
            (Some(b"b"), Some(b"2"), Some(t)),
            (Some(b"c"), Some(b"3"), Some(t + 1)),
            (Some(b"d"), Some(b"4"), Some(t - 1)),
        ],
    )
    .await;
    let c = connector(&h, &s, "events", "events", "events", "sluice.maxcompute.partition.time=record\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-events", "events", 1) == vec![4]).await);
    let rows = s.rows("events").await;
    assert_eq!(rows["pt=11-17-2020 14"], json!([["events", 0, 0, "a", "1"], ["events", 0, 3, "d", "4"]]));
    assert_eq!(rows["pt=11-17-2020 15"], json!([["events", 0, 1, "b", "2"], ["events", 0, 2, "c", "3"]]));
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sink_clock_partitions_roll_over_at_the_minute() {
    let s = StandIn::start(&[("clock", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("clock", 1);
    let c = connector(&h, &s, "clock", "clock", "clock", "partition_window_type=MINUTE\ntime_zone=UTC\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    let until_next_minute = |ms: i64| Duration::from_millis((60_000 - ms.rem_euclid(60_000)) as u64 + 200);
    if until_next_minute(now_ms()) < Duration::from_secs(5) {
        tokio::time::sleep(until_next_minute(now_ms())).await;
    }
    let first = now_ms();
    h.produce("clock", Some(0), &["a\t1".to_string()]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-clock", "clock", 1) == vec![1]).await);
    let first_done = now_ms();
    tokio::time::sleep(until_next_minute(first_done)).await;
    let second = now_ms();
    h.produce("clock", Some(0), &["b\t2".to_string()]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-clock", "clock", 1) == vec![2]).await);
    let rows = s.rows("clock").await;
    let specs: Vec<&String> = rows.as_object().unwrap().keys().collect();
    assert_eq!(specs.len(), 2, "a new session and partition after the window rolled over: {rows}");
    let value = |ms: i64| format!("pt={}", partition_value(Window::Minute, "UTC", false, ms));
    assert!(
        [value(first), value(first_done)].contains(&specs.iter().find(|s| rows[**s][0][3] == "a").unwrap().to_string())
    );
    assert!(
        rows.get(value(second)).is_some_and(|r| r[0][3] == "b")
            || rows.get(value(now_ms())).is_some_and(|r| r[0][3] == "b"),
        "{rows}"
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_commits_and_uploads_are_retried_without_loss_or_duplicates() {
    let s = StandIn::start(&[("orders", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("orders", 1);
    // More commit failures than one write retries (3), a commit whose answer is lost, an
    // expired session and a failed block: every record still lands exactly once.
    s.faults(json!({"commit_5xx": 5, "commit_lost": 1, "expire_sessions": 1, "upload_5xx": 1})).await;
    let lines: Vec<String> = (0..200).map(|i| format!("k{i}\tv{i}")).collect();
    h.produce("orders", Some(0), &lines).await;
    let c = connector(&h, &s, "orders", "orders", "orders", "record_batch_size=50\nretry_times=3\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-orders", "orders", 1) == vec![200]).await,
        "committed {:?}",
        h.committed("connect-orders", "orders", 1)
    );
    let rows = s.rows("orders").await;
    let offsets: Vec<i64> = rows
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r.as_array().unwrap().iter().map(|r| r[2].as_i64().unwrap()))
        .collect();
    let mut sorted = offsets.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<i64>>(), "each offset exactly once");
    let log = s.log().await;
    let commits_failed = log
        .iter()
        .filter(|e| e["method"] == "POST" && e["query"].get("uploadid").is_some() && e["status"] == 500)
        .count();
    assert_eq!(commits_failed, 5);
    assert!(log.iter().any(|e| e["status"] == 409), "the expired session was seen");
    let puts: Vec<&Json> = log.iter().filter(|e| e["method"] == "PUT").collect();
    let failed = puts.iter().find(|e| e["status"] == 500).expect("a failed block");
    assert!(
        puts.iter().any(|e| e["status"] == 200
            && e["query"]["uploadid"] == failed["query"]["uploadid"]
            && e["query"]["blockid"] == failed["query"]["blockid"]),
        "the failed block was re-sent under the same id"
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_uploads_time_out_and_are_resent_under_the_same_block_id() {
    let s = StandIn::start(&[("slow", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("slow", 1);
    s.faults(json!({"slow_upload_ms": 1500})).await;
    h.produce("slow", Some(0), &["a\t1".to_string(), "b\t2".to_string()]).await;
    let c = connector(&h, &s, "slow", "slow", "slow", "sluice.maxcompute.request.timeout.ms=500\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    // The stand-in logs a request when it arrives: a second upload means the first timed out.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.log().await.iter().filter(|e| e["method"] == "PUT").count() < 2 {
        assert!(std::time::Instant::now() < deadline, "the timed-out block was never re-sent");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(h.committed("connect-slow", "slow", 1), vec![-1], "nothing acknowledged while blocks time out");
    s.faults(json!({"slow_upload_ms": 0})).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-slow", "slow", 1) == vec![2]).await);
    assert_eq!(s.count("slow").await, 2);
    let puts: Vec<(String, String)> = s
        .log()
        .await
        .iter()
        .filter(|e| e["method"] == "PUT")
        .map(|e| (e["query"]["uploadid"].to_string(), e["query"]["blockid"].to_string()))
        .collect();
    assert!(
        puts.iter().any(|p| puts.iter().filter(|q| *q == p).count() >= 2),
        "a block re-sent under its id: {puts:?}"
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn partitions_are_added_with_sql_when_the_tunnel_does_not_create_them() {
    let s = StandIn::start(&[("legacy", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("legacy", 1);
    s.faults(json!({"ignore_create_partition": true})).await;
    h.produce("legacy", Some(0), &["a\t1".to_string()]).await;
    let c =
        connector(&h, &s, "legacy", "legacy", "legacy", &format!("tunnel_endpoint=http://127.0.0.1:{}\n", s.tunnel));
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-legacy", "legacy", 1) == vec![1]).await);
    assert_eq!(s.count("legacy").await, 1);
    let log = s.log().await;
    assert!(log
        .iter()
        .any(|e| e["method"] == "POST" && e["path"] == "/api/projects/connector_test/instances" && e["status"] == 201));
    assert!(log.iter().any(|e| e["status"] == 404), "the tunnel first reported the partition missing");
    assert!(!log.iter().any(|e| e["query"].get("service").is_some()), "a configured tunnel_endpoint skips discovery");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sts_tokens_are_sent_and_wrong_secrets_fail_at_start() {
    let s = StandIn::start(&[("sts", KAFKA_COLUMNS)], Some("token-123"));
    let h = Harness::new();
    h.topic("sts", 1);
    h.produce("sts", Some(0), &["a\t1".to_string()]).await;
    let c = connector(&h, &s, "sts", "sts", "sts", "account_type=STS\nsts_token=token-123\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-sts", "sts", 1) == vec![1]).await);
    assert_eq!(s.count("sts").await, 1);
    running.shutdown();
    running.wait().await;

    let mut bad = connector(&h, &s, "sts-bad", "sts", "sts", "account_type=STS\nsts_token=token-123\n");
    bad.set("access_key", "not-the-secret");
    let error = match h.start(h.worker(""), vec![bad]).await {
        Ok(_) => panic!("a wrong secret was accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("SignatureNotMatch"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_that_do_not_fit_the_table_are_dead_lettered_with_the_reason() {
    let csv_columns: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("name", "string"), ("n", "bigint")];
    let typed: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "tinyint"), ("key", "string"), ("value", "string")];
    let s = StandIn::start(&[("csv", csv_columns), ("typed", typed)], None);
    let h = Harness::new();
    for topic in ["csv", "typed", "csv-errors", "typed-errors"] {
        h.topic(topic, 1);
    }
    h.produce(
        "csv",
        Some(0),
        &["k\ta,1".to_string(), "k\tb,x".to_string(), "k\tc,2,3".to_string(), "k\td,4".to_string()],
    )
    .await;
    let lines: Vec<String> = (0..130).map(|i| format!("k{i}\tv{i}")).collect();
    h.produce("typed", Some(0), &lines).await;
    let c1 = connector(&h, &s, "csv", "csv", "csv", "mode=VALUE\nformat=CSV\nruntime.error.topic.name=csv-errors\n");
    let c2 = connector(&h, &s, "typed", "typed", "typed", "runtime.error.topic.name=typed-errors\n");
    let running = h.start(h.worker(""), vec![c1, c2]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-csv", "csv", 1) == vec![4]).await);
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-typed", "typed", 1) == vec![130]).await);
    let rows = s.rows("csv").await;
    let rows = rows.as_object().unwrap().values().next().unwrap();
    assert_eq!(rows, &json!([["csv", 0, 0, "a", 1], ["csv", 0, 3, "d", 4]]));
    let dead = h.read("csv-errors", 0, 2);
    assert_eq!(dead.len(), 2);
    let info: Vec<String> = dead.iter().map(|m| header(m, "ErrorInfo").unwrap_or_default()).collect();
    assert!(info[0].contains("csv-type") && info[0].contains("`n`"), "{}", info[0]);
    assert!(info[1].contains("csv-field-count"), "{}", info[1]);
    assert_eq!(header(&dead[0], "__connect.errors.offset").as_deref(), Some("1"));

    assert_eq!(s.count("typed").await, 128, "offsets 0..=127 fit the TINYINT column");
    let dead = h.read("typed-errors", 0, 2);
    assert_eq!(dead.len(), 2);
    assert_eq!(header(&dead[0], "__connect.errors.offset").as_deref(), Some("128"));
    let info = header(&dead[0], "ErrorInfo").unwrap_or_default();
    assert!(info.contains("`offset`") && info.contains("TINYINT"), "the sink names the column: {info}");
    running.shutdown();
    running.wait().await;
}

#[test]
fn the_stand_in_serves_pyodps_own_client() {
    // Discovery, table metadata, partition listing, a chunked deflated block, reload and
    // commit through pyodps's TableTunnel; a wrong secret is refused.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/standins/maxcompute/selfcheck.py");
    let output = Command::new("python3").arg(script).output().expect("python3 runs selfcheck.py");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_block_is_split_until_the_bad_rows_are_found() {
    let columns: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("value", "string")];
    let s = StandIn::start(&[("split", columns)], None);
    let h = Harness::new();
    h.topic("split", 1);
    h.topic("split-errors", 1);
    s.faults(json!({"reject_marker": "POISON"})).await;
    let lines: Vec<String> =
        (0..40).map(|i| if i == 5 || i == 31 { format!("k{i}\tPOISON{i}") } else { format!("k{i}\tv{i}") }).collect();
    h.produce("split", Some(0), &lines).await;
    let c = connector(&h, &s, "split", "split", "split", "runtime.error.topic.name=split-errors\n");
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-split", "split", 1) == vec![40]).await);
    let rows = s.rows("split").await;
    let mut offsets: Vec<i64> = rows
        .as_object()
        .unwrap()
        .values()
        .flat_map(|r| r.as_array().unwrap().clone())
        .map(|r| r[2].as_i64().unwrap())
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, (0..40).filter(|i| *i != 5 && *i != 31).collect::<Vec<i64>>(), "every good row, once");
    let dead = h.read("split-errors", 0, 2);
    let dead_offsets: Vec<String> =
        dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap_or_default()).collect();
    assert_eq!(dead_offsets, ["5", "31"]);
    let info = header(&dead[0], "ErrorInfo").unwrap_or_default();
    assert!(info.contains("MalformedDataStream"), "the tunnel's reason reaches the dead letter: {info}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_longer_than_the_retry_budget_fails_the_connector_and_commits_nothing_past_the_batch() {
    let columns: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("value", "string")];
    let s = StandIn::start(&[("down", columns)], None);
    let h = Harness::new();
    h.topic("down", 1);
    let extra = "retry_times=100\nerrors.retry.timeout=2000\nerrors.retry.delay.max.ms=300\n";
    let running = h.start(h.worker(""), vec![connector(&h, &s, "down", "down", "down", extra)]).await.unwrap();
    let status = running.statuses()[0].clone();
    let lines: Vec<String> = (0..8).map(|i| format!("k{i}\tv{i}")).collect();
    h.produce("down", Some(0), &lines[..3]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-down", "down", 1) == vec![3]).await);
    s.faults(json!({"upload_down": true})).await;
    h.produce("down", Some(0), &lines[3..]).await;
    assert!(wait_until(Duration::from_secs(60), || status.is_failed()).await, "the connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { panic!() };
    assert!(reason.contains("errors.retry.timeout=2000") && reason.contains("ServiceUnavailable"), "{reason}");
    running.shutdown();
    running.wait().await;
    assert_eq!(h.committed("connect-down", "down", 1), vec![3], "nothing committed past the failed batch");
    assert_eq!(s.count("down").await, 3);
}

/// SIGKILLs `sluice` eight times at seeded random moments while it streams into the
/// MaxCompute stand-in (see [`kill_loop`] for what is checked). Rows become visible when
/// their upload session commits; a row committed to the table but not yet to Kafka is
/// written again after the restart, so the stand-in's rows are counted per record
/// (partition and offset) and in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_eight_times_at_random_moments_each_restart_resumes_at_the_last_commit() {
    let s = StandIn::start(&[("mckills", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    let connector_text = format!(
        "name=mckills\nconnector.class=MaxComputeSinkConnector\ntopics=mckills\nendpoint={}\n\
         project=connector_test\ntable=mckills\naccess_id=LTAI-test\naccess_key=secret-test\nrecord_batch_size=100\n",
        s.endpoint()
    );
    // Every block upload waits 30 ms, so a run is still streaming when it is killed.
    s.faults(json!({"slow_upload_ms": 30})).await;
    let records =
        |first: usize, count: usize| -> Vec<String> { (first..first + count).map(|i| format!("k{i}\tv{i}")).collect() };
    let (produced, _) = kill_loop(&h, "mckills", &connector_text, 2000, records, &s).await;
    let mut values: Vec<usize> = s.records().await.into_iter().map(|(_, _, value)| value).collect();
    values.sort_unstable();
    values.dedup();
    assert_eq!(values, (0..produced).collect::<Vec<_>>(), "every record stored");
}

impl StandIn {
    /// Every committed row of the kill test's table as (Kafka partition, offset, the
    /// number in its value), duplicates included.
    async fn records(&self) -> Vec<(i64, i64, usize)> {
        let rows = self.rows("mckills").await;
        rows.as_object()
            .map(|o| {
                o.values()
                    .flat_map(|r| r.as_array().cloned().unwrap_or_default())
                    .map(|r| {
                        let value = r[4].as_str().and_then(|v| v.strip_prefix('v')).and_then(|v| v.parse().ok());
                        (r[1].as_i64().unwrap(), r[2].as_i64().unwrap(), value.expect("a value v<number>"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Landed for StandIn {
    async fn stored(&self) -> usize {
        let mut records: Vec<(i64, i64)> = self.records().await.into_iter().map(|(p, o, _)| (p, o)).collect();
        records.sort_unstable();
        records.dedup();
        records.len()
    }

    async fn accepted(&self) -> usize {
        self.records().await.len()
    }
}

/// A poison matrix into a MaxCompute table of `topic, partition, offset, key, value` (TEXT):
/// a value that is not UTF-8, a row the tunnel refuses (its block is split until the row is
/// found) and a key that is not UTF-8 are dead-lettered with their reasons and original bytes;
/// a tombstone lands as a NULL value, a 2 MB value, JSON nested 10,000 deep and text with
/// delimiters, quotes, newlines and NUL land verbatim; none is lost and the connector never
/// fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_matrix_is_dead_lettered_record_by_record_and_every_good_record_is_written() {
    let columns: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("value", "string")];
    let s = StandIn::start(&[("mcpoison", columns)], None);
    let h = Harness::new();
    h.topic("mcpoison", 1);
    h.topic("mcpoison-dlq", 1);
    s.faults(json!({"reject_marker": "POISON"})).await;
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let big = "x".repeat(2 << 20);
    let tricky = "a,b\t\"c\"\r\nd\0e";
    let values: Vec<Poison<'_>> = vec![
        (Some(b"v0".to_vec()), "good"),
        (Some(b"caf\xe9".to_vec()), "a value that is not UTF-8"),
        (None, "tombstone"),
        (Some(big.clone().into_bytes()), "2 MB"),
        (Some(deep.clone().into_bytes()), "nested 10,000 deep"),
        (Some(b"POISON".to_vec()), "refused by the tunnel"),
        (Some(tricky.as_bytes().to_vec()), "delimiters, quotes, newlines, NUL"),
        (Some(b"v7".to_vec()), "a key that is not UTF-8"),
    ];
    let mut records = poison_records("mcpoison", &values);
    records[7].key = Some(b"\xff\xfe".to_vec());
    h.produce_records(&records).await;
    let c = connector(
        &h,
        &s,
        "mcpoison",
        "mcpoison",
        "mcpoison",
        "errors.tolerance=all\nerrors.deadletterqueue.topic.name=mcpoison-dlq\nerrors.deadletterqueue.context.headers.enable=true\n\
         errors.deadletterqueue.topic.replication.factor=1\n",
    );
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-mcpoison", "mcpoison", 1) == vec![8]).await,
        "{:?}, committed {:?}",
        status.state(),
        h.committed("connect-mcpoison", "mcpoison", 1)
    );
    let rows = s.rows("mcpoison").await;
    let mut rows: Vec<Json> = rows.as_object().unwrap().values().flat_map(|r| r.as_array().unwrap().clone()).collect();
    rows.sort_by_key(|r| r[2].as_i64().unwrap());
    let expected = json!([
        ["mcpoison", 0, 0, "k0", "v0"],
        ["mcpoison", 0, 2, "k2", null],
        ["mcpoison", 0, 3, "k3", big],
        ["mcpoison", 0, 4, "k4", deep],
        ["mcpoison", 0, 6, "k6", tricky],
    ]);
    assert!(Json::Array(rows.clone()) == expected, "every good record written once, verbatim");
    let dead = h.read("mcpoison-dlq", 0, 3);
    let offsets: Vec<String> = dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap()).collect();
    assert_eq!(offsets, ["1", "5", "7"], "each bad record dead-lettered once");
    let reasons: [&[&str]; 3] = [
        &["builtin:maxcompute", "invalid-utf8", "value is not UTF-8", "format=BINARY"],
        &["maxcompute failed with rejected", "MalformedDataStream", "'POISON'"],
        &["invalid-utf8", "key is not UTF-8", "(field `key`)"],
    ];
    assert_dead_letters(&dead, &values, &reasons);
    assert!(!status.is_failed());
    running.shutdown();
    running.wait().await;
}

/// A migrated chain into MaxCompute: a router renames the topic the `topic` column records
/// (the routed one, as a Kafka Connect sink sees it) and a filter with the `RecordIsTombstone`
/// predicate drops tombstones, whose offsets are still committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_and_a_tombstone_filter_shape_the_rows_like_kafka_connect() {
    let s = StandIn::start(&[("clicks_table", KAFKA_COLUMNS)], None);
    let h = Harness::new();
    h.topic("clicks", 1);
    produce_raw(
        &h,
        "clicks",
        &[(Some(b"k1"), Some(b"v1"), None), (Some(b"k2"), None, None), (Some(b"k3"), Some(b"v3"), None)],
    )
    .await;
    let chain = "transforms=route,tombstones\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
        transforms.route.regex=clicks\ntransforms.route.replacement=clicks_v2\n\
        transforms.tombstones.type=org.apache.kafka.connect.transforms.Filter\ntransforms.tombstones.predicate=deleted\n\
        predicates=deleted\npredicates.deleted.type=org.apache.kafka.connect.transforms.predicates.RecordIsTombstone\n";
    let running =
        h.start(h.worker(""), vec![connector(&h, &s, "routed", "clicks", "clicks_table", chain)]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-routed", "clicks", 1) == vec![3]).await,
        "committed {:?}",
        h.committed("connect-routed", "clicks", 1)
    );
    running.shutdown();
    running.wait().await;
    let rows = s.rows("clicks_table").await;
    let rows = rows.as_object().unwrap().values().next().unwrap().clone();
    assert_eq!(rows, json!([["clicks_v2", 0, 0, "k1", "v1"], ["clicks_v2", 0, 2, "k3", "v3"]]));
}
