//! `sluice explain` and `POST /connectors/{name}/explain`: one record per sink through the
//! converters, transforms, parser and the sink's encoding, asserting on the request shown
//! (the line-protocol line, the PlainBuffer row decoded back, the tunnel row, the
//! time-series row), and that nothing is written.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::explain::{Explainer, RecordInput};
use sluice::model::KafkaRecord;
use sluice::plugin::{ComponentCache, PluginRuntime};
use sluice_standins::{Service, Stderr};

use crate::tablestore::Standin as Tablestore;
use crate::util::*;

fn sluice() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.env("SLUICE_CACHE_DIR", cache_dir()).env("SLUICE_LOG", "warn");
    command
}

fn examples(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples").join(path)
}

/// Runs `sluice explain` and returns its standard output (the run must succeed).
fn explain(args: &[&str]) -> String {
    let output = sluice().arg("explain").args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "explain failed: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(ComponentCache::new(Some(cache_dir()))).unwrap()
}

fn record(topic: &str, value: &str) -> KafkaRecord {
    RecordInput { value: Some(sluice::explain::Payload::Text(value.into())), ..RecordInput::default() }
        .into_record(Some(topic))
        .unwrap()
}

/// The seed's TDengine connector files unchanged: a line-protocol record passes through to
/// the adapter URL of `connection.database`, and the JSON-mapping connector turns a JSON
/// record into the exact line it would post. No TDengine and no Kafka are needed.
#[test]
fn tdengine_shows_the_line_protocol_request_for_the_seed_connectors() {
    let h = Harness::new();
    let records = h.path("records.txt");
    let line = "meters,location=California.LosAngeles,groupid=2 current=11.8,voltage=221,phase=0.28 1648432611249";
    std::fs::write(&records, format!("{line}\n")).unwrap();
    let worker = examples("tdengine/worker.properties");
    let out = explain(&[
        examples("tdengine/sink-demo.properties").to_str().unwrap(),
        "--worker",
        worker.to_str().unwrap(),
        "--record",
        records.to_str().unwrap(),
        "--no-keys",
    ]);
    assert!(out.contains("parser (builtin:tdengine): ok"), "{out}");
    assert!(out.contains("target: database power"), "{out}");
    // The seed sets no `data.precision`: the connector default, nanoseconds.
    assert!(
        out.contains("POST http://127.0.0.1:6041/influxdb/v1/write?db=power&precision=ns (line protocol)"),
        "{out}"
    );
    assert!(out.contains(&format!("    {line}\n")), "the line as sent: {out}");
    assert!(out.contains("outcome: would be written: 1 row(s)/line(s)"), "{out}");

    let json_record =
        r#"{"location":"Beijing","groupid":3,"current":10.5,"voltage":219,"phase":0.31,"ts":1700000000123}"#;
    std::fs::write(&records, format!("{json_record}\nnot json\n")).unwrap();
    let out = explain(&[
        examples("tdengine/json-mapping.properties").to_str().unwrap(),
        "--record",
        records.to_str().unwrap(),
        "--no-keys",
        "--json",
    ]);
    let explanations: Vec<Json> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(explanations.len(), 2, "{out}");
    let sink = explanations[0]["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "sink").unwrap();
    assert_eq!(sink["result"][0]["target"], "database power", "{sink}");
    let sent = sink["result"][0]["rows"][0].as_str().unwrap();
    assert!(sent.starts_with("meters,location=Beijing,groupid=3 "), "{sent}");
    assert!(sent.contains("voltage=219i32") && sent.ends_with(" 1700000000123"), "{sent}");
    // The bad record stops at the parser, with the dead-letter topic it would go to.
    let parser = explanations[1]["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "parser").unwrap();
    assert_eq!(parser["ok"], false, "{parser}");
    assert!(!explanations[1]["stages"].as_array().unwrap().iter().any(|s| s["stage"] == "sink"));
    assert!(explanations[1]["outcome"].as_str().unwrap().contains("dead-lettered to topic `meters-json-dlq`"));
}

/// The file sink through a transform chain: the decoded value, the transformed record, the
/// parser's row and the JSON line — and the output file is not even created.
#[test]
fn file_sink_shows_every_stage_and_writes_nothing() {
    let h = Harness::new();
    let out_file = h.path("out.jsonl");
    let connector = h.path("c.properties");
    std::fs::write(
        &connector,
        format!(
            "name=orders\nconnector.class=FileStreamSink\ntopics=orders\nfile={}\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter.schemas.enable=false\ntransforms=mask,route\ntransforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value\n\
             transforms.mask.fields=card\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
             transforms.route.regex=orders\ntransforms.route.replacement=orders_v2\n",
            out_file.display()
        ),
    )
    .unwrap();
    let records = h.path("records.txt");
    std::fs::write(&records, "k1\t{\"id\":7,\"card\":\"4111-1111\"}\n").unwrap();
    let out = explain(&[connector.to_str().unwrap(), "--record", records.to_str().unwrap()]);
    assert!(out.contains("value.converter (org.apache.kafka.connect.json.JsonConverter): ok"), "{out}");
    assert!(out.contains(r#""card":"4111-1111""#), "the decoded value: {out}");
    assert!(out.contains("transforms (transforms=mask,route): ok"), "{out}");
    assert!(
        out.contains(r#""topic":"orders_v2""#) && out.contains(r#"\"card\":\"\""#),
        "the transformed record: {out}"
    );
    assert!(out.contains("target: file "), "{out}");
    assert!(out.contains(r#"{"topic":"orders","partition":0,"offset":0,"output":{"row":"#), "the line: {out}");
    assert!(!out_file.exists(), "explain wrote the output file");
}

/// Tablestore: the row change is shown decoded back from the PlainBuffer bytes the sink
/// would send, against the primary key `DescribeTable` reports; the stand-in (decoding with
/// the official SDK) stores the same row when the connector writes it, and explain sends
/// no write request.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tablestore_shows_the_plainbuffer_row_decoded() {
    let s = Tablestore::start();
    let h = Harness::new();
    h.topic("orders", 1);
    let text = format!(
        "name=ts\nconnector.class=TableStoreSinkConnector\ntopics=orders\n{}auto.create=true\nprimarykey.mode=kafka\n",
        s.keys()
    );
    // The connector creates the table and writes one record the ordinary way.
    let running = h.start(h.worker(""), vec![h.connector(&text)]).await.unwrap();
    h.produce("orders", Some(0), &[r#"{"product":"foo","quantity":3}"#.to_string()]).await;
    let stored = s.wait_rows("orders", 1).await;
    running.shutdown();
    running.wait().await;
    let writes_before = s.requests().await.len();

    let worker = sluice::config::WorkerConfig::from_map(&h.worker("")).unwrap();
    let config = sluice::config::ConnectorConfig::from_map(&h.connector(&text), &worker).unwrap();
    let mut explainer = Explainer::open(config, &worker, &runtime(), None).await.unwrap();
    let mut input = record("orders", r#"{"product":"bar","quantity":5}"#);
    input.offset = 1;
    let explanation = explainer.explain(&input).await;
    let text = explanation.to_text();
    assert!(text.contains("target: table orders"), "{text}");
    assert!(text.contains("request: BatchWriteRow PUT ("), "{text}");
    assert!(!text.contains("does not exist"), "DescribeTable found the table: {text}");
    assert!(
        text.contains(r#"PUT primary key (topic_partition="orders_0", offset=1) columns (product="bar", quantity=5)"#),
        "{text}"
    );
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(s.requests().await.len(), writes_before, "explain sent a write request");

    // A record the sink refuses names the field.
    let mut bad = record("orders", r#"{"product":"x"}"#);
    bad.offset = 2;
    let mut config_text = format!(
        "name=ts2\nconnector.class=TableStoreSinkConnector\ntopics=orders\n{}primarykey.mode=record_value\n\
         tablestore.orders.primarykey.name=product\ntablestore.orders.primarykey.type=string\n",
        s.keys()
    );
    config_text.push_str("errors.tolerance=all\n");
    let config = sluice::config::ConnectorConfig::from_map(&h.connector(&config_text), &worker).unwrap();
    let mut explainer = Explainer::open(config, &worker, &runtime(), None).await.unwrap();
    let explanation = serde_json::to_value(explainer.explain(&bad).await).unwrap();
    let last = explanation["stages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ok"], false, "{explanation}");
    assert!(last["error"].as_str().unwrap().contains("primary key"), "{explanation}");
}

/// Tablestore time series: the point as the FlatBuffer row it becomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tablestore_timeseries_shows_the_row() {
    let s = Tablestore::start();
    let h = Harness::new();
    let text = format!(
        "name=tsdb\nconnector.class=TableStoreSinkConnector\ntopics=metrics\n{}tablestore.mode=timeseries\n\
         tablestore.timeseries.metrics.measurement=m\ntablestore.timeseries.metrics.dataSource=d\n\
         tablestore.timeseries.metrics.tags=region,level\ntablestore.timeseries.metrics.time=timestamp\n",
        s.keys()
    );
    let worker = sluice::config::WorkerConfig::from_map(&h.worker("")).unwrap();
    let config = sluice::config::ConnectorConfig::from_map(&h.connector(&text), &worker).unwrap();
    let mut explainer = Explainer::open(config, &worker, &runtime(), None).await.unwrap();
    let value =
        r#"{"m":"cpu_usage","d":"host-1","region":"hz","level":"1","timestamp":1700000000123,"cpu":0.42,"io":7}"#;
    let text = explainer.explain(&record("metrics", value)).await.to_text();
    assert!(text.contains("target: time-series table metrics"), "{text}");
    assert!(text.contains("request: PutTimeseriesData"), "{text}");
    assert!(
        text.contains(r#"measurement=cpu_usage data_source="host-1" tags=[level=1,region=hz] time_us=1700000000123000 fields (cpu=0.42, io=7.0)"#),
        "{text}"
    );
    assert!(s.requests().await.is_empty(), "explain sent a request: {:?}", s.requests().await);
}

/// MaxCompute through the REST endpoint of a running connector: the tunnel row in the
/// table's column order, the partition, and no upload session opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maxcompute_shows_the_tunnel_row_over_rest() {
    let tables = json!({"logs": {"columns": [["topic", "string"], ["partition", "bigint"], ["offset", "bigint"],
        ["key", "string"], ["value", "string"]], "partitions": ["pt"]}});
    let config = json!({"project": "p1", "access_id": "LTAI-test", "access_key": "secret-test", "tables": tables});
    let process = sluice_standins::Standin::start(Service::MaxCompute, &[&config.to_string()], Stderr::Inherit);
    let endpoint = format!("http://127.0.0.1:{}/api", process.named_port("service"));
    let h = Harness::new();
    h.topic("logs", 1);
    let connector = h.connector(&format!(
        "name=mc\nconnector.class=MaxComputeSinkConnector\ntopics=logs\nendpoint={endpoint}\nproject=p1\ntable=logs\n\
         access_id=LTAI-test\naccess_key=secret-test\n"
    ));
    let running = h.start(h.worker("listeners=http://127.0.0.1:0\n"), vec![connector]).await.unwrap();
    let server = sluice::api::RestServer::start(running.worker()).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let post = |connector: &str, body: Json| {
        http.post(format!("{}/connectors/{connector}/explain", server.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let body = json!({"key": "k1", "value": "hello", "partition": 2, "offset": 40});
    let response = post("mc", body.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let explanation: Json = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    let sink = explanation["stages"].as_array().unwrap().iter().find(|s| s["stage"] == "sink").unwrap().clone();
    assert!(sink["result"][0]["target"].as_str().unwrap().starts_with("table p1.logs partition pt="), "{sink}");
    // Read back from the record-stream bytes the upload would hold.
    assert!(sink["result"][0]["request"].as_str().unwrap().starts_with("batch tunnel upload (1 record(s), "), "{sink}");
    assert_eq!(
        sink["result"][0]["rows"][0], r#"topic="logs", partition=2, offset=40, key="k1", value="hello""#,
        "{explanation}"
    );
    // A list in, a list out; an unknown connector is a 404.
    let response = post("mc", json!([body, body])).await.unwrap();
    let list: Json = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(post("nope", body.clone()).await.unwrap().status(), 404);
    let log = http
        .get(format!("http://127.0.0.1:{}/_control/log", process.named_port("service")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!log.contains("uploads"), "explain opened an upload session: {log}");
    server.stop();
    running.shutdown();
    running.wait().await;
}

/// `--from TOPIC:PARTITION:OFFSET` reads the records from Kafka without joining the
/// connector's consumer group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn records_are_read_from_kafka_at_an_offset() {
    let h = Harness::new();
    h.topic("orders", 1);
    h.produce("orders", Some(0), &[r#"{"id":1}"#.into(), r#"{"id":2}"#.into(), r#"{"id":3}"#.into()]).await;
    let worker = h.path("worker.properties");
    std::fs::write(&worker, format!("bootstrap.servers={}\nvalue.converter.schemas.enable=false\n", h.bootstrap))
        .unwrap();
    let connector = h.path("c.properties");
    let out_file = h.path("out.jsonl");
    std::fs::write(
        &connector,
        format!("name=orders\nconnector.class=FileStreamSink\ntopics=orders\nfile={}\n", out_file.display()),
    )
    .unwrap();
    let out = tokio::task::spawn_blocking(move || {
        explain(&[
            connector.to_str().unwrap(),
            "--worker",
            worker.to_str().unwrap(),
            "--from",
            "orders:0:1",
            "--count",
            "5",
        ])
    })
    .await
    .unwrap();
    assert!(out.contains("record orders-0@1") && out.contains("record orders-0@2"), "{out}");
    assert!(!out.contains("record orders-0@0"), "{out}");
    assert!(out.contains(r#""columns":[{"name":"id","int64":2}]"#), "{out}");
    assert_eq!(h.committed("connect-orders", "orders", 1), vec![-1], "the connector's group is untouched");
    assert!(!out_file.exists());
}
