//! The TDengine sink against the taosAdapter stand-in (`tests/standins/tdengine`): the
//! seed's example end to end, every schemaless format, precision, database naming and
//! creation, retries, bad-data isolation and an adapter outage.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::pipeline::status::{ConnectorState, Counters};
use sluice_standins::{Service, Standin, Stderr};

use crate::util::*;

/// The stand-in, killed on drop.
struct Adapter {
    _process: Standin,
    port: u16,
}

impl Adapter {
    fn start(args: &[&str]) -> Self {
        let process = Standin::start(Service::Tdengine, args, Stderr::Inherit);
        Self { port: process.port(), _process: process }
    }

    fn url(&self) -> String {
        format!("jdbc:TAOS-RS://127.0.0.1:{}", self.port)
    }

    /// One HTTP/1.0 request; returns (status, body).
    fn request(&self, method: &str, path: &str, auth: bool, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let auth = if auth { "Authorization: Basic cm9vdDp0YW9zZGF0YQ==\r\n" } else { "" };
        write!(stream, "{method} {path} HTTP/1.0\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}", body.len())
            .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response[9..12].parse().unwrap();
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        (status, body)
    }

    fn sql(&self, sql: &str) -> Json {
        serde_json::from_str(&self.request("POST", "/rest/sql", true, sql).1).unwrap()
    }

    fn dump(&self) -> Json {
        serde_json::from_str(&self.request("GET", "/_standin/dump", false, "").1).unwrap()
    }

    fn stats(&self) -> Json {
        serde_json::from_str(&self.request("GET", "/_standin/stats", false, "").1).unwrap()
    }

    fn faults(&self, faults: Json) {
        assert_eq!(self.request("POST", "/_standin/faults", false, &faults.to_string()).0, 200);
    }

    /// Rows of `db`.`stable` (empty when it does not exist yet).
    fn rows(&self, db: &str, stable: &str) -> Vec<Json> {
        self.dump()[db]["stables"][stable]["rows"].as_array().cloned().unwrap_or_default()
    }

    fn row_count(&self, db: &str, stable: &str) -> usize {
        self.rows(db, stable).len()
    }
}

/// Produces each value as one record (values may contain line breaks) to partition 0.
async fn produce_raw(bootstrap: &str, topic: &str, values: &[String]) {
    produce_values(bootstrap, topic, &values.iter().map(|v| Some(v.as_str())).collect::<Vec<_>>()).await;
}

/// Like [`produce_raw`]; `None` produces a tombstone (null value).
async fn produce_values(bootstrap: &str, topic: &str, values: &[Option<&str>]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let mut config = sluice::source::client::client_config(bootstrap, &[]);
    config.set("acks", "all");
    let producer: FutureProducer = sluice::source::client::create(config).unwrap();
    for value in values {
        let mut record = FutureRecord::<str, str>::to(topic).partition(0).key("k");
        if let Some(value) = value {
            record = record.payload(value);
        }
        producer.send(record, Duration::from_secs(10)).await.unwrap();
    }
}

const SEED_LINES: [&str; 4] = [
    "meters,location=Beijing.Haidian,groupid=2 current=11.8,voltage=221,phase=0.28 1648432611249000000",
    "meters,location=Beijing.Haidian,groupid=2 current=13.4,voltage=223,phase=0.29 1648432611250000000",
    "meters,location=Beijing.Haidian,groupid=3 current=10.8,voltage=223,phase=0.29 1648432611249000000",
    "meters,location=Beijing.Haidian,groupid=3 current=11.3,voltage=221,phase=0.35 1648432611250000000",
];

fn connector(name: &str, topics: &str, adapter: &Adapter, extra: &str) -> String {
    format!(
        "name={name}\nconnector.class=TDengineSinkConnector\ntopics={topics}\nconnection.url={}\n\
         retry.backoff.ms=50\n{extra}",
        adapter.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_example_lands_in_power_with_the_seeds_values() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("meters", 1);
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tdengine/sink-demo.properties"),
    )
    .unwrap();
    assert!(example.contains("connection.url=jdbc:TAOS://127.0.0.1:6030"), "the example is the seed's file");
    let example =
        example.replace("connection.url=jdbc:TAOS://127.0.0.1:6030", &format!("connection.url={}", adapter.url()));
    let running = h.start(h.worker(""), vec![h.connector(&example)]).await.unwrap();
    h.produce("meters", Some(0), &SEED_LINES.iter().map(|l| l.to_string()).collect::<Vec<_>>()).await;
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-tdengine-sink-demo", "meters", 1) == vec![4]).await
    );

    let result = adapter.sql("select * from power.meters");
    assert_eq!(result["code"], 0, "{result}");
    let names: Vec<&str> = result["column_meta"].as_array().unwrap().iter().map(|c| c[0].as_str().unwrap()).collect();
    assert_eq!(names, ["_ts", "current", "voltage", "phase", "location", "groupid"]);
    let mut rows: Vec<Json> = result["data"].as_array().unwrap().clone();
    rows.sort_by_key(|r| (r[5].as_str().unwrap().to_string(), r[0].as_str().unwrap().to_string()));
    // The seed's `select * from meters` (shown there in UTC+8).
    assert_eq!(
        Json::Array(rows),
        json!([
            ["2022-03-28T01:56:51.249000000Z", 11.8, 221.0, 0.28, "Beijing.Haidian", "2"],
            ["2022-03-28T01:56:51.250000000Z", 13.4, 223.0, 0.29, "Beijing.Haidian", "2"],
            ["2022-03-28T01:56:51.249000000Z", 10.8, 223.0, 0.29, "Beijing.Haidian", "3"],
            ["2022-03-28T01:56:51.250000000Z", 11.3, 221.0, 0.35, "Beijing.Haidian", "3"],
        ])
    );
    assert_eq!(adapter.dump()["power"]["precision"], "ns");
    let sql = adapter.stats()["sql"].to_string();
    assert_eq!(sql.matches("CREATE DATABASE IF NOT EXISTS `power` PRECISION 'ns' SCHEMALESS 1").count(), 1, "{sql}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_schemaless_format_is_written_in_full() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    for topic in ["lines", "telnet", "json"] {
        h.topic(topic, 1);
    }
    // Multi-line records with CRLF and blank lines; telnet with `put`; JSON as single
    // objects, arrays and pretty-printed documents: every point must arrive.
    let lines: Vec<String> = (0..20)
        .map(|i| {
            format!(
                "cpu,host=h{} usage={i}.5,idle={i}i64 {}\r\n\r\ncpu,host=x{i} usage=1 {}\n",
                i % 3,
                1_700_000_000_000u64 + i,
                1_700_000_000_000u64 + i
            )
        })
        .collect();
    produce_raw(&h.bootstrap, "lines", &lines).await;
    let telnet: Vec<String> =
        (0..20).map(|i| format!("put sys.mem {} {i} host=h{}", 1_700_000_000 + i, i % 2)).collect();
    h.produce("telnet", Some(0), &telnet).await;
    let mut json_records: Vec<String> = (0..10)
        .map(|i| {
            format!(
                r#"{{"metric":"temp","timestamp":{},"value":{i},"tags":{{"room":"r{i}"}}}}"#,
                1_700_000_000_000u64 + i
            )
        })
        .collect();
    json_records.push(r#"[{"metric":"temp","timestamp":1700000000100,"value":100,"tags":{"room":"a"}},{"metric":"temp","timestamp":1700000000101,"value":101,"tags":{"room":"b"}}]"#.into());
    json_records.push("{\n  \"metric\": \"temp\",\n  \"timestamp\": 1700000000200,\n  \"value\": 200,\n  \"tags\": {\"room\": \"c\"}\n}\n".into());
    produce_raw(&h.bootstrap, "json", &json_records).await;

    let connectors = vec![
        h.connector(&connector(
            "c-line",
            "lines",
            &adapter,
            "db.schemaless=line\nconnection.database=metrics\ndata.precision=ms\n",
        )),
        h.connector(&connector("c-telnet", "telnet", &adapter, "db.schemaless=telnet\nconnection.database=metrics\n")),
        h.connector(&connector("c-json", "json", &adapter, "db.schemaless=json\nconnection.database=metrics\n")),
    ];
    let running = h.start(h.worker(""), connectors).await.unwrap();
    let lines_end = vec![20];
    assert!(
        wait_until(Duration::from_secs(40), || {
            h.committed("connect-c-line", "lines", 1) == lines_end
                && h.committed("connect-c-telnet", "telnet", 1) == vec![20]
                && h.committed("connect-c-json", "json", 1) == vec![12]
        })
        .await
    );
    assert_eq!(adapter.row_count("metrics", "sys_mem"), 20, "telnet");
    assert_eq!(adapter.row_count("metrics", "temp"), 13, "every JSON point, not only the first of a batch");
    let cpu = adapter.rows("metrics", "cpu");
    assert_eq!(cpu.len() as i64, lines_end[0] * 2, "both lines of every multi-line record");
    let schema = &adapter.dump()["metrics"]["stables"]["cpu"]["columns"];
    assert_eq!(schema["idle"], "BIGINT");
    assert_eq!(schema["usage"], "DOUBLE");
    let stats = adapter.stats();
    assert!(stats["requests"]["opentsdb_json"].as_u64().unwrap() < 12, "JSON records merged into arrays: {stats}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn microsecond_precision_is_sent_as_u_and_databases_are_created_with_it() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("us", 1);
    // A tombstone between the two lines is skipped (and counted), never written as "null".
    produce_values(&h.bootstrap, "us", &[Some("m,t=a v=1 1648432611249123"), None, Some("m,t=a v=2 1648432611249124")])
        .await;
    let c = connector("c-us", "us", &adapter, "db.schemaless=line\ndata.precision=us\nconnection.database=micro\n");
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-us", "us", 1) == vec![3]).await);
    assert_eq!(Counters::get(&status.counters.all_tasks.records_without_output), 1, "the tombstone");
    let db = &adapter.dump()["micro"];
    assert_eq!(db["precision"], "us");
    let ts: Vec<i64> =
        db["stables"]["m"]["rows"].as_array().unwrap().iter().map(|r| r["ts"].as_i64().unwrap()).collect();
    assert_eq!(ts, vec![1_648_432_611_249_123, 1_648_432_611_249_124], "microseconds, not nanoseconds");
    let stats = adapter.stats();
    assert!(stats["write_params"].as_array().unwrap().iter().all(|p| p["precision"] == "u"), "{stats}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn databases_are_named_from_topics_created_once_and_recreated_when_dropped() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("orders-eu.v1", 1);
    h.topic("orders", 1);
    h.produce("orders-eu.v1", Some(0), &["o,r=eu n=1i 1".into()]).await;
    h.produce("orders", Some(0), &["o,r=x n=1i 1".into()]).await;
    let plain = connector("c-prefix", "orders-eu.v1", &adapter, "db.schemaless=line\nconnection.database.prefix=k_\n");
    let template = connector(
        "c-template",
        "orders",
        &adapter,
        "db.schemaless=line\nconnection.database.prefix=kafka_${topic}_db\n",
    );
    let running = h.start(h.worker(""), vec![h.connector(&plain), h.connector(&template)]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || {
            h.committed("connect-c-prefix", "orders-eu.v1", 1) == vec![1]
                && h.committed("connect-c-template", "orders", 1) == vec![1]
        })
        .await
    );
    assert_eq!(adapter.row_count("k_orders_eu_v1", "o"), 1, "`-` and `.` become `_`: {}", adapter.dump());
    assert_eq!(adapter.row_count("kafka_orders_db", "o"), 1);
    let creates = |db: &str| {
        adapter.stats()["sql"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s.as_str().unwrap().contains(&format!("`{db}`")))
            .count()
    };
    assert_eq!(creates("k_orders_eu_v1"), 1, "created once");

    // Someone drops the database: the missing-database error makes the sink create it again.
    assert_eq!(adapter.sql("DROP DATABASE k_orders_eu_v1")["code"], 0);
    h.produce("orders-eu.v1", Some(0), &["o,r=eu n=2i 2".into()]).await;
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-c-prefix", "orders-eu.v1", 1) == vec![2]).await
    );
    assert_eq!(adapter.row_count("k_orders_eu_v1", "o"), 1);
    assert_eq!(creates("k_orders_eu_v1"), 2);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transient_failures_are_retried_and_nothing_is_lost() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("flaky", 2);
    let c = connector(
        "c-flaky",
        "flaky",
        &adapter,
        "db.schemaless=line\nconnection.database=flaky\nmax.retries=10\nbatch.size=7\ntdengine.request.timeout.ms=1000\n",
    );
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    let status = running.statuses()[0].clone();
    // 503 with Retry-After, 502, dropped connections, and two answers slower than the
    // request timeout.
    adapter.faults(
        json!({"unavailable": 3, "retry_after": 1, "bad_gateway": 2, "drop": 2, "slow_ms": 1500, "slow_requests": 2}),
    );
    let records: Vec<String> = (0..60).map(|i| format!("k{i}\tf,dev=d{} v={i}i64 {}", i % 4, 1_000 + i)).collect();
    h.produce("flaky", None, &records).await;
    let end = h.end_offsets("flaky", 2);
    assert!(wait_until(Duration::from_secs(60), || h.committed("connect-c-flaky", "flaky", 2) == end).await);
    let rows = adapter.rows("flaky", "f");
    let mut values: Vec<i64> = rows.iter().map(|r| r["values"]["v"].as_i64().unwrap()).collect();
    values.sort();
    assert_eq!(values, (0..60).collect::<Vec<_>>(), "every record stored, none twice");
    assert_eq!(status.state(), ConnectorState::Running);
    let stats = adapter.stats();
    // At least ceil(60/7) requests, plus the 3 answered 503 and the 2 answered 502 (dropped
    // connections are not counted by the stand-in).
    assert!(stats["requests"]["influxdb"].as_u64().unwrap() >= 9 + 5, "retried requests: {stats}");
    for fault in ["unavailable", "bad_gateway", "drop", "slow_requests"] {
        assert_eq!(stats["faults"][fault], 0, "fault `{fault}` was hit: {stats}");
    }
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_lines_are_isolated_and_dead_lettered_with_the_servers_message() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("mixed", 1);
    h.topic("mixed-dlq", 1);
    adapter.faults(json!({"reject_marker": "POISON"}));
    let mut records: Vec<String> = (0..30).map(|i| format!("k{i}\tm,s=a v={i} {}", 1_000 + i)).collect();
    records[7] = "k7\tm,s=POISON v=7 1007".into();
    records[19] = "k19\tm,s=a v=19i64 1019".into(); // type conflict with the DOUBLE column `v`
    records[23] = "k23\tm,s=a v=oops 1023".into(); // the parser rejects it before any request
    let c = connector(
        "c-mixed",
        "mixed",
        &adapter,
        "db.schemaless=line\nconnection.database=mixed\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=mixed-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
    );
    // Write the first good row first so `v` is DOUBLE when the batch arrives.
    h.produce("mixed", Some(0), &records[..1]).await;
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-mixed", "mixed", 1) == vec![1]).await);
    h.produce("mixed", Some(0), &records[1..]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-mixed", "mixed", 1) == vec![30]).await);

    let mut stored: Vec<i64> =
        adapter.rows("mixed", "m").iter().map(|r| r["values"]["v"].as_f64().unwrap() as i64).collect();
    stored.sort();
    let expected: Vec<i64> = (0..30).filter(|i| ![7, 19, 23].contains(i)).collect();
    assert_eq!(stored, expected, "every good record written");
    let dead = h.read("mixed-dlq", 0, 3);
    assert_eq!(dead.len(), 3);
    let info: Vec<String> = dead.iter().map(|m| header(m, "ErrorInfo").unwrap()).collect();
    let offsets: Vec<String> = dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap()).collect();
    assert_eq!(offsets, ["7", "19", "23"]);
    assert!(info[0].contains("[0x3002]") && info[0].contains("injected rejection"), "{}", info[0]);
    assert!(info[1].contains("[0x3002]") && info[1].contains("mismatch"), "{}", info[1]);
    assert!(info[2].contains("invalid-line") && info[2].contains("`v`"), "{}", info[2]);
    running.shutdown();
    running.wait().await;
}

/// taosAdapter down for 30 s (every connection closed unanswered) while records keep
/// arriving: the sink retries within its budget, reading stops at the in-flight cap (memory
/// bounded by configuration), no commit sampled during the outage (about twice a second) is ahead
/// of the rows the adapter holds, and after it the connector resumes by itself and writes every record once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_30_second_adapter_outage_loses_nothing_commits_nothing_unwritten_and_resumes_by_itself() {
    const CAP: u64 = 300;
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("outage", 1);
    let c = connector(
        "c-outage",
        "outage",
        &adapter,
        &format!(
            "db.schemaless=line\nconnection.database=outage\nmax.retries=1000\nretry.backoff.ms=200\n\
             errors.retry.timeout=120000\nerrors.retry.delay.max.ms=2000\nsluice.max.inflight.records={CAP}\n"
        ),
    );
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    let status = running.statuses()[0].clone();
    h.produce("outage", Some(0), &["o v=0i64 1000".into()]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-outage", "outage", 1) == vec![1]).await);

    // The adapter closes every connection while down, its control endpoints too: what it
    // holds cannot change then, so commits are checked against what it held before.
    let stored = adapter.row_count("outage", "o") as i64;
    adapter.faults(json!({"down_seconds": 30}));
    let line = |i: usize| format!("o v={i}i64 {}", 1000 + i);
    let mut produced = 1;
    let outage = std::time::Instant::now();
    let mut samples = 0;
    while outage.elapsed() < Duration::from_secs(30) {
        // Records keep arriving: 40 a second.
        let batch: Vec<String> = (produced..produced + 20).map(line).collect();
        h.produce("outage", Some(0), &batch).await;
        produced += 20;
        let committed = h.committed("connect-c-outage", "outage", 1)[0];
        assert!(committed <= stored, "{committed} committed but the adapter holds {stored} rows");
        let inflight = Counters::get(&status.counters.inflight_records);
        assert!(inflight <= CAP, "{inflight} records in flight over the cap {CAP}");
        assert_eq!(status.state(), ConnectorState::Running, "the outage is within the retry budget");
        samples += 1;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(Counters::get(&status.counters.all_tasks.retries) > 0, "the pipeline retried");
    assert!(samples >= 20, "commits sampled through the outage ({samples})");
    let end = vec![produced as i64];
    assert!(
        wait_until(Duration::from_secs(90), || h.committed("connect-c-outage", "outage", 1) == end).await,
        "resumed by itself: committed {:?} of {end:?}, {:?}",
        h.committed("connect-c-outage", "outage", 1),
        status.state()
    );
    let mut values: Vec<i64> = adapter.rows("outage", "o").iter().map(|r| r["values"]["v"].as_i64().unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (0..produced as i64).collect::<Vec<_>>(), "every record once");
    assert!(adapter.stats()["gzip_bodies"].as_u64().unwrap() > 0, "large bodies are gzipped");
    assert_eq!(status.state(), ConnectorState::Running);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_longer_than_the_retry_budget_fails_the_connector_and_commits_nothing_past_the_batch() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("long-outage", 1);
    let settings = "db.schemaless=line\nconnection.database=longout\nmax.retries=100\nretry.backoff.ms=100\n\
                    errors.retry.timeout=2000\nerrors.retry.delay.max.ms=300\n";
    let c = connector("c-long", "long-outage", &adapter, settings);
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    let status = running.statuses()[0].clone();
    h.produce("long-outage", Some(0), &["o v=0i64 1000".into()]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-long", "long-outage", 1) == vec![1]).await);

    adapter.faults(json!({"down_seconds": 3600}));
    let records: Vec<String> = (1..50).map(|i| format!("o v={i}i64 {}", 1000 + i)).collect();
    h.produce("long-outage", Some(0), &records).await;
    assert!(wait_until(Duration::from_secs(60), || status.is_failed()).await, "the connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { unreachable!() };
    assert!(reason.contains("errors.retry.timeout=2000") && reason.contains("taosAdapter"), "{reason}");
    assert!(status.failed_transiently(), "a service down past the budget is a cause that can pass");
    assert_eq!(h.committed("connect-c-long", "long-outage", 1), vec![1], "nothing committed past the failed batch");

    // The worker restarts the connector with backoff; once the service is back, a restart
    // writes everything, without the process being restarted.
    adapter.faults(json!({"down_seconds": 0}));
    assert!(wait_until(Duration::from_secs(60), || h.committed("connect-c-long", "long-outage", 1) == vec![50]).await);
    assert_eq!(adapter.row_count("longout", "o"), 50);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn json_records_map_to_typed_points() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("meters-json", 1);
    let records: Vec<String> = (0..5)
        .map(|i| format!(r#"{{"location":"Beijing Haidian","groupid":{},"current":1{i}.5,"voltage":22{i},"phase":0.2{i},"note":"n\"{i}","device":"d{i}","ts":{}}}"#, i % 2, 1_648_432_611_249u64 + i))
        .collect();
    h.produce("meters-json", Some(0), &records).await;
    let c = connector(
        "c-map",
        "meters-json",
        &adapter,
        "db.schemaless=line\nconnection.database=power\ndata.precision=ms\ntdengine.mapping.measurement=meters\n\
         tdengine.mapping.tags=location,groupid\ntdengine.mapping.fields=current:f32,voltage:i32,phase:f64,note:nchar\n\
         tdengine.mapping.timestamp.field=ts\ntdengine.mapping.table.field=device\ntdengine.table.name.key=tbname\ntdengine.ttl=30\n",
    );
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-c-map", "meters-json", 1) == vec![5]).await);
    let stable = &adapter.dump()["power"]["stables"]["meters"];
    assert_eq!(
        stable["columns"],
        json!({"_ts": "TIMESTAMP", "current": "FLOAT", "voltage": "INT", "phase": "DOUBLE", "note": "NCHAR"})
    );
    assert_eq!(stable["tags"], json!({"location": "NCHAR", "groupid": "NCHAR"}));
    let rows = stable["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let first = rows.iter().find(|r| r["table"] == "d0").expect("child table named by table_name_key");
    assert_eq!(first["ts"], 1_648_432_611_249u64);
    assert_eq!(first["values"]["note"], "n\"0");
    assert_eq!(first["tags"]["location"], "Beijing Haidian");
    let params = &adapter.stats()["write_params"][0];
    assert_eq!(
        (params["ttl"].as_str(), params["table_name_key"].as_str(), params["precision"].as_str()),
        (Some("30"), Some("tbname"), Some("ms"))
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_credentials_fail_at_start_with_a_clear_message() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("t", 1);
    let c =
        connector("c-auth", "t", &adapter, "db.schemaless=line\nconnection.password=wrong\nconnection.attempts=1\n");
    let error = match h.start(h.worker(""), vec![h.connector(&c)]).await {
        Ok(_) => panic!("a wrong password must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("connection.password") && error.contains("Authentication failure"), "{error}");
}

/// SIGKILLs `sluice` eight times at seeded random moments while it streams into the
/// taosAdapter stand-in (see [`kill_loop`] for what is checked). The stand-in keeps one row
/// per timestamp, as TDengine does, and counts every line it accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_eight_times_at_random_moments_each_restart_resumes_at_the_last_commit() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    let extra = "db.schemaless=line\nconnection.database=kills\nbatch.size=50\nconsumer.override.max.poll.records=20\n";
    let connector_text = connector("tdkills", "tdkills", &adapter, extra);
    // Every request waits 30 ms, so a run is still streaming when it is killed.
    adapter.faults(json!({"slow_ms": 30}));
    // One row per record: its timestamp is its number, unique across the test.
    let records = |first: usize, count: usize| -> Vec<String> {
        (first..first + count).map(|i| format!("k{i}\tk,src=t v={i}i64 {}", 1_000_000 + i)).collect()
    };
    let (produced, _) = kill_loop(&h, "tdkills", &connector_text, 2000, records, &adapter).await;
    let mut values: Vec<i64> = adapter.rows("kills", "k").iter().map(|r| r["values"]["v"].as_i64().unwrap()).collect();
    values.sort_unstable();
    assert_eq!(values, (0..produced as i64).collect::<Vec<_>>(), "every record stored");
}

impl Landed for Adapter {
    async fn stored(&self) -> usize {
        self.row_count("kills", "k")
    }

    async fn accepted(&self) -> usize {
        self.stats()["lines_accepted"].as_u64().unwrap() as usize
    }
}

/// A poison matrix through the `tdengine` parser's JSON mapping into taosAdapter: invalid
/// JSON, invalid UTF-8, an array instead of an object, JSON nested 10,000 deep, a 2 MB value
/// cut short, a text where the mapping wants an i32, and a value taosAdapter refuses are
/// dead-lettered with their reasons; good records are written and a tombstone produces
/// nothing; none is lost and the connector never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_matrix_is_dead_lettered_record_by_record_and_every_good_record_is_written() {
    let adapter = Adapter::start(&[]);
    adapter.faults(json!({"reject_marker": "POISON"}));
    let h = Harness::new();
    h.topic("tdpoison", 1);
    h.topic("tdpoison-dlq", 1);
    let good = |i: usize| format!(r#"{{"device":"d{i}","voltage":{i},"ts":{}}}"#, 1_648_432_611_249u64 + i as u64);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_cut = format!("{{\"device\":\"{}", "x".repeat(2 << 20));
    let values: Vec<Poison<'_>> = vec![
        (Some(good(0).into_bytes()), "good"),
        (Some(br#"{"device":"#.to_vec()), "invalid JSON"),
        (Some(b"{\"device\":\"\xff\",\"voltage\":1,\"ts\":1}".to_vec()), "invalid UTF-8"),
        (Some(good(3).into_bytes()), "good"),
        (None, "tombstone"),
        (Some(b"[1,2,3]".to_vec()), "array"),
        (Some(deep.into_bytes()), "nested 10,000 deep"),
        (Some(huge_cut.into_bytes()), "2 MB, cut short"),
        (Some(br#"{"device":"d8","voltage":"high","ts":1648432611257}"#.to_vec()), "text for an i32"),
        (Some(br#"{"device":"POISON","voltage":9,"ts":1648432611258}"#.to_vec()), "refused by the service"),
        (Some(good(10).into_bytes()), "good"),
    ];
    let records = poison_records("tdpoison", &values);
    h.produce_records(&records).await;
    let c = connector(
        "c-poison",
        "tdpoison",
        &adapter,
        "db.schemaless=line\nconnection.database=poison\ndata.precision=ms\ntdengine.mapping.measurement=volts\n\
         tdengine.mapping.tags=device\ntdengine.mapping.fields=voltage:i32\ntdengine.mapping.timestamp.field=ts\n\
         errors.tolerance=all\nerrors.deadletterqueue.topic.name=tdpoison-dlq\nerrors.deadletterqueue.context.headers.enable=true\n\
         errors.deadletterqueue.topic.replication.factor=1\n",
    );
    let running = h.start(h.worker(""), vec![h.connector(&c)]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-c-poison", "tdpoison", 1) == vec![11]).await,
        "committed {:?}",
        h.committed("connect-c-poison", "tdpoison", 1)
    );
    let mut stored: Vec<i64> =
        adapter.rows("poison", "volts").iter().map(|r| r["values"]["voltage"].as_i64().unwrap()).collect();
    stored.sort_unstable();
    assert_eq!(stored, vec![0, 3, 10], "every good record written once");
    let dead = h.read("tdpoison-dlq", 0, 7);
    let offsets: Vec<String> = dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap()).collect();
    assert_eq!(offsets, ["1", "2", "5", "6", "7", "8", "9"], "each bad record dead-lettered once");
    // What each reason must name, in offset order.
    let reasons: [&[&str]; 7] = [
        &["builtin:tdengine", "invalid-json"],
        &["invalid-utf8"],
        &["invalid-json", "needs a JSON object"],
        &["invalid-json", "recursion limit"],
        &["invalid-json", "EOF while parsing a string"],
        &["invalid-field", "`voltage`", "\"high\""],
        &["tdengine failed with rejected", "[0x3002]", "injected rejection"],
    ];
    assert_dead_letters(&dead, &values, &reasons);
    assert!(!status.is_failed());
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 7);
    assert_eq!(Counters::get(&status.counters.all_tasks.records_without_output), 1, "the tombstone");
    running.shutdown();
    running.wait().await;
}

/// A migrated chain on line-protocol records, which no transform reads: a router names the
/// database (`connection.database.prefix` + the routed topic, as a Kafka Connect sink sees the
/// routed topic) and a filter with a predicate drops a record whose offset is still committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_names_the_database_and_a_filter_drops_records_by_header() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("metrics-raw", 1);
    let mut records: Vec<sluice::model::KafkaRecord> = ["o,r=a n=1i 1", "o,r=b n=2i 2", "o,r=c n=3i 3"]
        .iter()
        .map(|line| record("metrics-raw", 0, "k", line.as_bytes().to_vec()))
        .collect();
    records[1].headers = vec![sluice::model::Header { key: "skip".into(), value: None }];
    h.produce_records(&records).await;
    let chain = "db.schemaless=line\nconnection.database.prefix=k_\n\
        transforms=route,skip\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
        transforms.route.regex=(.*)-raw\ntransforms.route.replacement=$1\n\
        transforms.skip.type=org.apache.kafka.connect.transforms.Filter\ntransforms.skip.predicate=marked\n\
        predicates=marked\npredicates.marked.type=org.apache.kafka.connect.transforms.predicates.HasHeaderKey\n\
        predicates.marked.name=skip\n";
    let running =
        h.start(h.worker(""), vec![h.connector(&connector("routed", "metrics-raw", &adapter, chain))]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-routed", "metrics-raw", 1) == vec![3]).await,
        "committed {:?}",
        h.committed("connect-routed", "metrics-raw", 1)
    );
    running.shutdown();
    running.wait().await;
    let rows = adapter.rows("k_metrics", "o");
    assert_eq!(rows.len(), 2, "{}", adapter.dump());
    let dump = adapter.dump();
    let unrouted = dump["k_metrics_raw"]["stables"].as_object().map_or(0, |s| s.len());
    assert_eq!(unrouted, 0, "nothing under the original topic's database: {dump}");
}

/// `header.converter` is applied as Kafka Connect applies it, before the transforms: with
/// `JsonConverter` (whose `schemas.enable` defaults to true) a header holding an envelope is
/// read, one that is not is a `HEADER_CONVERTER` failure dead-lettered under that stage naming
/// the header, and the chain's predicate still sees the headers of the records it reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_header_converter_reads_headers_before_the_chain_and_fails_records_it_cannot_read() {
    let adapter = Adapter::start(&[]);
    let h = Harness::new();
    h.topic("hdr", 1);
    h.topic("hdr-dlq", 1);
    let mut records: Vec<sluice::model::KafkaRecord> = ["o,r=a n=1i 1", "o,r=b n=2i 2", "o,r=c n=3i 3", "o,r=d n=4i 4"]
        .iter()
        .map(|line| record("hdr", 0, "k", line.as_bytes().to_vec()))
        .collect();
    let trace = |value: &[u8]| sluice::model::Header { key: "trace".into(), value: Some(value.to_vec()) };
    records[0].headers = vec![trace(br#"{"schema":{"type":"string","optional":false},"payload":"t-1"}"#)];
    records[1].headers = vec![trace(b"t-2")];
    records[2].headers =
        vec![sluice::model::Header { key: "skip".into(), value: Some(br#"{"schema":null,"payload":true}"#.to_vec()) }];
    h.produce_records(&records).await;
    let chain = "db.schemaless=line\nconnection.database=hdr\n\
        header.converter=org.apache.kafka.connect.json.JsonConverter\n\
        transforms=skip\ntransforms.skip.type=org.apache.kafka.connect.transforms.Filter\n\
        transforms.skip.predicate=marked\npredicates=marked\n\
        predicates.marked.type=org.apache.kafka.connect.transforms.predicates.HasHeaderKey\npredicates.marked.name=skip\n\
        errors.tolerance=all\nerrors.deadletterqueue.topic.name=hdr-dlq\nerrors.deadletterqueue.context.headers.enable=true\n\
        errors.deadletterqueue.topic.replication.factor=1\n";
    let running = h.start(h.worker(""), vec![h.connector(&connector("c-hdr", "hdr", &adapter, chain))]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-c-hdr", "hdr", 1) == vec![4]).await,
        "committed {:?}",
        h.committed("connect-c-hdr", "hdr", 1)
    );
    let dead = h.read("hdr-dlq", 0, 1);
    running.shutdown();
    running.wait().await;
    let mut stored: Vec<i64> = adapter.rows("hdr", "o").iter().map(|r| r["values"]["n"].as_i64().unwrap()).collect();
    stored.sort_unstable();
    assert_eq!(stored, vec![1, 4], "the enveloped and header-less records land: {}", adapter.dump());
    assert_eq!(dead.len(), 1, "one dead letter");
    assert_eq!(header(&dead[0], "__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(header(&dead[0], "__connect.errors.stage").as_deref(), Some("HEADER_CONVERTER"));
    let message = header(&dead[0], "__connect.errors.exception.message").unwrap_or_default();
    assert!(message.contains("header `trace`"), "{message}");
}
