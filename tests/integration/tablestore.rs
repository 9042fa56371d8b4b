//! The Tablestore data-table sink against the local stand-in (tests/standins/tablestore),
//! which decodes every request with the official PyPI `tablestore` SDK and checks its
//! signature; assertions read back what the stand-in stored.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::pipeline::status::{ConnectorState, Counters};
use sluice_standins::{Service, Stderr};

use crate::util::*;

const INSTANCE: &str = "sluice-test";
const KEY_ID: &str = "test-key-id";
const KEY_SECRET: &str = "test-key-secret";

/// The stand-in on an ephemeral loopback port; killed on drop.
pub struct Standin {
    _process: sluice_standins::Standin,
    pub endpoint: String,
}

impl Standin {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the stand-in with extra arguments (`--security-token T`).
    pub fn start_with(extra: &[&str]) -> Self {
        let mut args = vec!["--instance", INSTANCE, "--access-key-id", KEY_ID, "--access-key-secret", KEY_SECRET];
        args.extend_from_slice(extra);
        let process = sluice_standins::Standin::start(Service::Tablestore, &args, Stderr::Inherit);
        Self { endpoint: process.base_url(), _process: process }
    }

    /// `tablestore.*` connection keys for a connector file.
    pub fn keys(&self) -> String {
        format!(
            "tablestore.endpoint={}\ntablestore.instance.name={INSTANCE}\ntablestore.auth.mode=aksk\n\
             tablestore.access.key.id={KEY_ID}\ntablestore.access.key.secret={KEY_SECRET}\n",
            self.endpoint
        )
    }

    async fn get(&self, path: &str) -> Option<Json> {
        let response = reqwest::get(format!("{}{path}", self.endpoint)).await.unwrap();
        if response.status() == 404 {
            return None;
        }
        Some(serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    /// The stored table (`rows`, `primary_key`, `ttl`, `max_versions`), or `None`.
    pub async fn table(&self, name: &str) -> Option<Json> {
        self.get(&format!("/_standin/tables/{name}")).await
    }

    /// The stored rows of a table (empty when the table does not exist).
    pub async fn rows(&self, name: &str) -> Vec<Json> {
        self.table(name).await.map(|t| t["rows"].as_array().unwrap().clone()).unwrap_or_default()
    }

    /// Write requests seen so far.
    pub async fn requests(&self) -> Vec<Json> {
        self.get("/_standin/requests").await.unwrap().as_array().unwrap().clone()
    }

    /// Rows sent to `table` by all `action` requests seen so far (re-sent rows included).
    pub async fn rows_sent(&self, action: &str, table: &str) -> usize {
        let requests = self.requests().await;
        let tables = requests
            .iter()
            .filter(|r| r["action"] == action)
            .flat_map(|r| r["tables"].as_array().cloned().unwrap_or_default());
        tables.filter(|t| t["table"] == table).map(|t| t["rows"].as_u64().unwrap() as usize).sum()
    }

    /// Queues faults (see the stand-in's `Faults`).
    pub async fn fault(&self, faults: Json) {
        let response = reqwest::Client::new()
            .post(format!("{}/_standin/faults", self.endpoint))
            .body(faults.to_string())
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }

    /// Waits until `table` holds `count` rows.
    pub async fn wait_rows(&self, table: &str, count: usize) -> Vec<Json> {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let rows = self.rows(table).await;
            if rows.len() >= count || std::time::Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

const STRUCT_MESSAGE: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"product"},{"type":"int64","optional":false,"field":"quantity"},{"type":"double","optional":false,"field":"price"}],"optional":false,"name":"record"},"payload":{"id":1,"product":"foo","quantity":100,"price":50}}"#;
const MAP_MESSAGE: &str = r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"id":1}}"#;

/// The seed's worker file with the harness's broker and cache.
fn seed_worker(h: &Harness) -> sluice::config::ConfigMap {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tablestore/connect-standalone.properties"),
    )
    .unwrap();
    let text = text.replace("bootstrap.servers=localhost:9092", &format!("bootstrap.servers={}", h.bootstrap))
        + &format!("offset.flush.interval.ms=200\nsluice.plugin.cache.dir={}\n", cache_dir().display());
    sluice::config::parse_text("connect-standalone.properties", &text).unwrap()
}

/// A connector file: the stand-in's keys plus `extra`.
fn connector(h: &Harness, s: &Standin, name: &str, topic: &str, extra: &str) -> sluice::config::ConfigMap {
    h.connector(&format!("name={name}\nconnector.class=TableStoreSinkConnector\ntopics={topic}\n{}{extra}", s.keys()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_quickstart_creates_table_test_and_writes_the_two_rows() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("test", 1);
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/tablestore/connect-tablestore-sink-quickstart.properties"),
    )
    .unwrap();
    let text = example
        .replace("https://xxx.xxx.ots.aliyuncs.com", &s.endpoint)
        .replace("tablestore.access.key.id =xxx", &format!("tablestore.access.key.id ={KEY_ID}"))
        .replace("tablestore.access.key.secret=xxx", &format!("tablestore.access.key.secret={KEY_SECRET}"))
        .replace("tablestore.instance.name=xxx", &format!("tablestore.instance.name={INSTANCE}"));
    let running = h.start(seed_worker(&h), vec![h.connector(&text)]).await.unwrap();
    let table = s.table("test").await.expect("auto.create made table `test`");
    assert_eq!(
        table["primary_key"],
        json!([{"name": "topic_partition", "type": "string", "auto_increment": false}, {"name": "offset", "type": "integer", "auto_increment": false}])
    );
    assert_eq!((table["ttl"].as_i64(), table["max_versions"].as_i64()), (Some(-1), Some(1)));

    h.produce("test", Some(0), &[STRUCT_MESSAGE.to_string(), MAP_MESSAGE.to_string()]).await;
    let rows = s.wait_rows("test", 2).await;
    assert_eq!(
        rows,
        vec![
            json!({"pk": {"topic_partition": "test_0", "offset": 0}, "columns": {"id": 1, "product": "foo", "quantity": 100, "price": 50.0}}),
            json!({"pk": {"topic_partition": "test_0", "offset": 1}, "columns": {"id": 1}}),
        ]
    );
    assert!(wait_until(Duration::from_secs(20), || h.committed("connect-tablestore-sink", "test", 1) == vec![2]).await);
    let status = running.statuses()[0].clone();
    running.shutdown();
    running.wait().await;
    assert_eq!(status.state(), ConnectorState::Stopped);
}

/// Schemaless JSON with keys: the worker of most tests.
fn plain_worker(h: &Harness) -> sluice::config::ConfigMap {
    h.worker("key.converter.schemas.enable=false\n")
}

/// Produces a real tombstone (a key and a null value) to partition 0.
async fn tombstone(h: &Harness, topic: &str, key: &str) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer =
        sluice::source::client::create(sluice::source::client::client_config(&h.bootstrap, &[])).unwrap();
    let record = FutureRecord::<str, [u8]>::to(topic).key(key).partition(0);
    producer.send(record, Duration::from_secs(10)).await.unwrap();
}

fn pk_of(row: &Json, name: &str) -> Json {
    row["pk"][name].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn primary_key_modes_record_key_record_value_and_search() {
    let s = Standin::start();
    let h = Harness::new();
    for topic in ["by_key", "by_value", "by_search"] {
        h.topic(topic, 1);
    }
    let connectors = vec![
        connector(
            &h,
            &s,
            "by-key",
            "by_key",
            "auto.create=true\nprimarykey.mode=record_key\n\
            tablestore.by_key.primarykey.name=user,seq\ntablestore.by_key.primarykey.type=string,integer\n",
        ),
        connector(
            &h,
            &s,
            "by-value",
            "by_value",
            "auto.create=true\nprimarykey.mode=record_value\n\
            tablestore.by_value.primarykey.name=id\ntablestore.by_value.primarykey.type=binary\n",
        ),
        connector(&h, &s, "by-search", "by_search", "auto.create=true\nprimarykey.mode=search\n"),
    ];
    let running = h.start(plain_worker(&h), connectors).await.unwrap();
    h.produce("by_key", Some(0), &[r#"{"user":"u1","seq":"3","extra":true}	{"v":1.5}"#.to_string()]).await;
    h.produce("by_value", Some(0), &[r#"{"id":"abc","n":7}"#.to_string()]).await;
    h.produce("by_search", Some(0), &[r#"{"n":1}"#.to_string()]).await;

    let rows = s.wait_rows("by_key", 1).await;
    assert_eq!(rows, vec![json!({"pk": {"user": "u1", "seq": 3}, "columns": {"v": 1.5, "extra": true}})]);
    let table = s.table("by_key").await.unwrap();
    assert_eq!(table["primary_key"][1], json!({"name": "seq", "type": "integer", "auto_increment": false}));

    let rows = s.wait_rows("by_value", 1).await;
    assert_eq!(rows, vec![json!({"pk": {"id": {"$binary": "YWJj"}}, "columns": {"n": 7}})]);

    let rows = s.wait_rows("by_search", 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (pk_of(&rows[0], "topic"), pk_of(&rows[0], "partition"), pk_of(&rows[0], "offset")),
        (json!("by_search"), json!(0), json!(0))
    );
    assert_eq!(pk_of(&rows[0], "md5").as_str().unwrap().len(), 5);
    assert!(rows[0]["columns"]["timestamp"].is_i64());
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_overwrites_update_merges_and_deletes_follow_the_delete_mode() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("puts", 1);
    h.topic("updates", 1);
    let keyed = |table: &str| {
        format!("auto.create=true\nprimarykey.mode=record_key\ntablestore.{table}.primarykey.name=id\ntablestore.{table}.primarykey.type=integer\n")
    };
    let connectors = vec![
        connector(&h, &s, "puts", "puts", &format!("{}insert.mode=put\ndelete.mode=row\n", keyed("puts"))),
        connector(
            &h,
            &s,
            "updates",
            "updates",
            &format!(
                "{}insert.mode=update\ndelete.mode=row_and_column\n\
                 tablestore.updates.columns.whitelist.name=a,b\ntablestore.updates.columns.whitelist.type=integer,string\n",
                keyed("updates")
            ),
        ),
    ];
    let running = h.start(plain_worker(&h), connectors).await.unwrap();
    let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // put: the second write replaces the row; a tombstone deletes (delete.mode=row).
    h.produce(
        "puts",
        Some(0),
        &lines(&[
            "{\"id\":1}\t{\"a\":1,\"b\":2}",
            "{\"id\":1}\t{\"a\":5}",
            "{\"id\":2}\t{\"a\":1}",
            "{\"id\":3}\t{\"a\":null}",
        ]),
    )
    .await;
    // update: merge, whitelist (c dropped, a typed), null deletes a column, tombstone deletes the row.
    h.produce(
        "updates",
        Some(0),
        &lines(&[
            "{\"id\":1}\t{\"a\":\"1\",\"b\":\"x\",\"c\":9}",
            "{\"id\":1}\t{\"b\":\"y\"}",
            "{\"id\":2}\t{\"a\":2,\"b\":\"z\"}",
            "{\"id\":2}\t{\"a\":null}",
            "{\"id\":3}\t{\"a\":3}",
        ]),
    )
    .await;
    // A tombstone is produced with a key and no value.
    tombstone(&h, "puts", "{\"id\":2}").await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-puts", "puts", 1) == vec![5]).await);
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-updates", "updates", 1) == vec![5]).await);
    let puts = s.rows("puts").await;
    assert_eq!(
        puts,
        vec![json!({"pk": {"id": 1}, "columns": {"a": 5}}), json!({"pk": {"id": 3}, "columns": {}})],
        "row 1 overwritten, row 2 deleted by its tombstone, row 3 put with its null dropped"
    );
    let updates = s.rows("updates").await;
    assert_eq!(
        updates,
        vec![
            json!({"pk": {"id": 1}, "columns": {"a": 1, "b": "y"}}),
            json!({"pk": {"id": 2}, "columns": {"b": "z"}}),
            json!({"pk": {"id": 3}, "columns": {"a": 3}}),
        ]
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_table_without_auto_create_and_primary_key_mismatch_fail_at_start() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("mm", 1);
    let error = h.start(plain_worker(&h), vec![connector(&h, &s, "no-create", "mm", "")]).await.err().unwrap();
    let text = format!("{error:#}");
    assert!(text.contains("table `mm` does not exist") && text.contains("auto.create=true"), "{text}");

    let running =
        h.start(plain_worker(&h), vec![connector(&h, &s, "create", "mm", "auto.create=true\n")]).await.unwrap();
    running.shutdown();
    running.wait().await;
    let mismatch = connector(
        &h,
        &s,
        "mismatch",
        "mm",
        "primarykey.mode=record_key\ntablestore.mm.primarykey.name=id\ntablestore.mm.primarykey.type=integer\n",
    );
    let error = h.start(plain_worker(&h), vec![mismatch]).await.err().unwrap();
    let text = format!("{error:#}");
    assert!(
        text.contains("has the primary key (topic_partition string, offset integer)") && text.contains("(id integer)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicate_keys_in_one_poll_never_share_a_request_and_the_last_write_wins() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("dups", 1);
    let lines: Vec<String> = (0..60).map(|i| format!("{{\"id\":\"k{}\"}}\t{{\"n\":{i}}}", i % 4)).collect();
    h.produce("dups", Some(0), &lines).await;
    let c = connector(
        &h,
        &s,
        "dups",
        "dups",
        "auto.create=true\nprimarykey.mode=record_key\n\
        tablestore.dups.primarykey.name=id\ntablestore.dups.primarykey.type=string\n",
    );
    let running = h.start(plain_worker(&h), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-dups", "dups", 1) == vec![60]).await);
    let rows = s.rows("dups").await;
    let last: Vec<(Json, Json)> = rows.iter().map(|r| (pk_of(r, "id"), r["columns"]["n"].clone())).collect();
    assert_eq!(
        last,
        vec![(json!("k0"), json!(56)), (json!("k1"), json!(57)), (json!("k2"), json!(58)), (json!("k3"), json!(59))]
    );
    // The stand-in refuses a request with a repeated key, so every request it logged had distinct keys.
    let requests = s.requests().await;
    assert!(requests.len() >= 15, "60 writes of 4 keys need at least 15 requests, got {}", requests.len());
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_rows_retry_alone_and_permanent_ones_go_to_the_error_table() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("partial", 1);
    s.fault(json!([
        {"action": "BatchWriteRow", "kind": "row_error", "code": "OTSServerBusy", "match": "'k1'", "count": 2},
        {"action": "BatchWriteRow", "kind": "row_error", "code": "OTSParameterInvalid", "message": "bad row", "match": "'k3'", "count": 100},
    ]))
    .await;
    let lines: Vec<String> = (0..6).map(|i| format!("{{\"id\":\"k{i}\"}}\t{{\"n\":{i}}}")).collect();
    h.produce("partial", Some(0), &lines).await;
    let c = connector(
        &h,
        &s,
        "partial",
        "partial",
        "auto.create=true\nprimarykey.mode=record_key\n\
        tablestore.partial.primarykey.name=id\ntablestore.partial.primarykey.type=string\n\
        runtime.error.tolerance=all\nruntime.error.mode=tablestore\nruntime.error.table.name=errors\n",
    );
    let running = h.start(plain_worker(&h), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-partial", "partial", 1) == vec![6]).await);
    let ids: Vec<Json> = s.rows("partial").await.iter().map(|r| pk_of(r, "id")).collect();
    assert_eq!(ids, vec![json!("k0"), json!("k1"), json!("k2"), json!("k4"), json!("k5")]);
    let errors = s.table("errors").await.expect("error table auto-created");
    assert_eq!(errors["primary_key"][0]["name"], "topic_partition");
    let rows = errors["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["pk"], json!({"topic_partition": "partial_0", "offset": 3}));
    let info = rows[0]["columns"]["error_info"].as_str().unwrap();
    assert!(info.contains("OTSParameterInvalid") && info.contains("k3"), "{info}");
    assert_eq!(rows[0]["columns"]["key"], json!({"$binary": "eyJpZCI6ImszIn0="}));
    // k1 failed twice and was resent alone.
    let requests = s.requests().await;
    let single: usize =
        requests.iter().filter(|r| r["tables"][0]["table"] == "partial" && r["tables"][0]["rows"] == 1).count();
    assert!(single >= 2, "{requests:?}");
    let status = running.statuses()[0].clone();
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 1);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn throttling_and_5xx_for_a_while_lose_nothing() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("busy", 2);
    let c = connector(&h, &s, "busy", "busy", "auto.create=true\n");
    let running = h.start(h.worker("consumer.max.poll.records=100\n"), vec![c]).await.unwrap();
    s.fault(json!([
        {"action": "BatchWriteRow", "kind": "server_busy", "duration_ms": 2500},
        {"action": "BatchWriteRow", "kind": "partition_unavailable", "count": 3},
        {"action": "BatchWriteRow", "kind": "http_502", "count": 2},
        {"action": "BatchWriteRow", "kind": "slow", "delay_ms": 300, "count": 2},
    ]))
    .await;
    h.produce("busy", None, &orders(500, 7)).await;
    let end = h.end_offsets("busy", 2);
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-busy", "busy", 2) == end).await,
        "{:?}, committed {:?} of {end:?}",
        status.state(),
        h.committed("connect-busy", "busy", 2)
    );
    let rows = s.rows("busy").await;
    assert_eq!(rows.len(), 500, "every record written exactly once as a row");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bulk_import_with_v4_signatures() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("bulk", 1);
    let c = connector(
        &h,
        &s,
        "bulk",
        "bulk",
        "auto.create=true\ntablestore.write.api=BulkImport\ntablestore.region=cn-hangzhou\n",
    );
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    h.produce("bulk", Some(0), &orders(250, 5)).await;
    assert_eq!(s.wait_rows("bulk", 250).await.len(), 250);
    let requests = s.requests().await;
    assert!(requests.iter().all(|r| r["action"] == "BulkImport"), "{requests:?}");
    assert!(requests.iter().all(|r| r["tables"][0]["rows"].as_u64().unwrap() <= 200));
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clock_skew_rejection_fails_the_connector_with_the_reason() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("skew", 1);
    let running = h.start(h.worker(""), vec![connector(&h, &s, "skew", "skew", "auto.create=true\n")]).await.unwrap();
    s.fault(json!([{"action": "BatchWriteRow", "kind": "clock_skew", "count": 100}])).await;
    h.produce("skew", Some(0), &orders(3, 1)).await;
    let status = running.statuses()[0].clone();
    assert!(wait_until(Duration::from_secs(30), || status.is_failed()).await);
    let ConnectorState::Failed(reason) = status.state() else { panic!() };
    assert!(reason.contains("OTSAuthFailed") && reason.contains("Mismatch between system time"), "{reason}");
    assert_eq!(h.committed("connect-skew", "skew", 1), vec![-1]);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sts_credentials_send_the_security_token() {
    let s = Standin::start_with(&["--security-token", "sts-token-1"]);
    let h = Harness::new();
    h.topic("sts", 1);
    let keys = s.keys().replace("tablestore.auth.mode=aksk", "tablestore.auth.mode=sts");
    let wrong = h.connector(&format!("name=sts-wrong\nconnector.class=TableStoreSinkConnector\ntopics=sts\n{keys}tablestore.security.token=other\nauto.create=true\n"));
    let error = format!("{:#}", h.start(h.worker(""), vec![wrong]).await.err().unwrap());
    assert!(error.contains("OTSAuthFailed") && error.contains("SecurityToken"), "{error}");
    let right = h.connector(&format!("name=sts\nconnector.class=TableStoreSinkConnector\ntopics=sts\n{keys}tablestore.security.token=sts-token-1\nauto.create=true\n"));
    let running = h.start(h.worker(""), vec![right]).await.unwrap();
    h.produce("sts", Some(0), &orders(3, 1)).await;
    assert_eq!(s.wait_rows("sts", 3).await.len(), 3);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sluice_binary_runs_the_seed_files_over_https() {
    let h = Harness::new();
    let cert = h.path("cert.pem");
    let key = h.path("key.pem");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl makes a test certificate");
    assert!(made.success());
    let s = Standin::start_with(&["--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()]);
    let https = s.endpoint.replace("http://127.0.0.1", "https://localhost");
    // The dump endpoints are read over TLS too, trusting the test certificate.
    let reader = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&cert).unwrap()).unwrap())
        .build()
        .unwrap();
    h.topic("test", 1);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tablestore");
    let worker = std::fs::read_to_string(examples.join("connect-standalone.properties"))
        .unwrap()
        .replace("localhost:9092", &h.bootstrap)
        .replace("offset.flush.interval.ms=10000", "offset.flush.interval.ms=200");
    let connector = std::fs::read_to_string(examples.join("connect-tablestore-sink-quickstart.properties"))
        .unwrap()
        .replace("https://xxx.xxx.ots.aliyuncs.com", &https)
        .replace("tablestore.access.key.id =xxx", &format!("tablestore.access.key.id ={KEY_ID}"))
        .replace("tablestore.access.key.secret=xxx", &format!("tablestore.access.key.secret={KEY_SECRET}"))
        .replace("tablestore.instance.name=xxx", &format!("tablestore.instance.name={INSTANCE}"));
    let (worker_file, connector_file) =
        (h.path("connect-standalone.properties"), h.path("connect-tablestore-sink-quickstart.properties"));
    std::fs::write(&worker_file, worker).unwrap();
    std::fs::write(&connector_file, connector).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("standalone")
        .arg(&worker_file)
        .arg(&connector_file)
        .env("SLUICE_CACHE_DIR", cache_dir())
        .env("SLUICE_LOG", "warn")
        .env("SSL_CERT_FILE", &cert)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    h.produce("test", Some(0), &[STRUCT_MESSAGE.to_string(), MAP_MESSAGE.to_string()]).await;
    let url = format!("{https}/_standin/tables/test");
    let mut rows = Json::Null;
    for _ in 0..300 {
        if let Ok(response) = reader.get(&url).send().await {
            if response.status().is_success() {
                rows = serde_json::from_slice::<Json>(&response.bytes().await.unwrap()).unwrap()["rows"].clone();
                if rows.as_array().is_some_and(|r| r.len() == 2) {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(rows[0]["columns"], json!({"id": 1, "product": "foo", "quantity": 100, "price": 50.0}), "{rows}");
    assert_eq!(rows[1]["columns"], json!({"id": 1}), "{rows}");
}

#[test]
fn the_stand_in_agrees_with_the_official_sdk_client() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/standins/tablestore/check_with_sdk.py");
    let output = Command::new("python3").arg(script).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("stand-in agrees with the official SDK client"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_request_refused_as_a_whole_is_split_to_find_the_bad_rows() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("split", 1);
    let running = h.start(h.worker(""), vec![connector(&h, &s, "split", "split", "auto.create=true\n")]).await.unwrap();
    s.fault(json!([{"action": "BatchWriteRow", "kind": "parameter_invalid", "count": 1}])).await;
    h.produce("split", Some(0), &orders(5, 1)).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-split", "split", 1) == vec![5]).await);
    assert_eq!(s.rows("split").await.len(), 5, "the refusal was not about any row, so all were written");
    let mut sizes: Vec<u64> = s.requests().await.iter().map(|r| r["tables"][0]["rows"].as_u64().unwrap()).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![2, 3], "after the refusal the request was split in halves (bisection)");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_key_from_two_partitions_is_never_written_by_two_tasks_at_once() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("shared", 2);
    // Every record has key k, so both partitions' tasks write the same row. Slow answers
    // widen the window in which two writes of k would overlap if nothing kept them apart
    // (with insert.order.enable=false this test sees dozens of overlaps).
    s.fault(json!([{"action": "BatchWriteRow", "kind": "slow", "delay_ms": 150, "count": 6}])).await;
    let c = connector(
        &h,
        &s,
        "shared",
        "shared",
        "auto.create=true\ntasks.max=2\nprimarykey.mode=record_key\n\
        tablestore.shared.primarykey.name=id\ntablestore.shared.primarykey.type=string\n",
    );
    let running = h.start(plain_worker(&h), vec![c]).await.unwrap();
    for p in 0..2 {
        let lines: Vec<String> = (0..20).map(|i| format!("{{\"id\":\"k\"}}\t{{\"p\":{p},\"i\":{i}}}")).collect();
        h.produce("shared", Some(p), &lines).await;
    }
    assert!(wait_until(Duration::from_secs(60), || h.committed("connect-shared", "shared", 2) == vec![20, 20]).await);
    let requests = s.requests().await;
    let overlapping = requests.iter().filter(|r| r["overlap"].as_bool() == Some(true)).count();
    assert_eq!(overlapping, 0, "{requests:?}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_longer_than_the_retry_budget_fails_the_connector_and_commits_nothing_past_the_batch() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("outage", 1);
    let extra = "auto.create=true\nerrors.retry.timeout=2000\nerrors.retry.delay.max.ms=300\n";
    let running = h.start(h.worker(""), vec![connector(&h, &s, "outage", "outage", extra)]).await.unwrap();
    let status = running.statuses()[0].clone();
    let lines = orders(8, 8);
    h.produce("outage", Some(0), &lines[..3]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-outage", "outage", 1) == vec![3]).await);
    s.fault(json!([{"action": "BatchWriteRow", "kind": "server_busy", "duration_ms": 3_600_000}])).await;
    h.produce("outage", Some(0), &lines[3..]).await;
    assert!(wait_until(Duration::from_secs(60), || status.is_failed()).await, "the connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { panic!() };
    assert!(reason.contains("errors.retry.timeout=2000") && reason.contains("OTSServerBusy"), "{reason}");
    running.shutdown();
    running.wait().await;
    assert_eq!(h.committed("connect-outage", "outage", 1), vec![3], "nothing committed past the failed batch");
    assert_eq!(s.rows("outage").await.len(), 3);
}

/// SIGKILLs `sluice` eight times at seeded random moments while it streams into the
/// Tablestore stand-in (see [`kill_loop`] for what is checked). Rows are keyed by topic
/// partition and offset, so a re-sent record overwrites its row; the stand-in's request log
/// counts every row sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_eight_times_at_random_moments_each_restart_resumes_at_the_last_commit() {
    let s = Standin::start();
    let h = Harness::new();
    let connector_text = format!(
        "name=tskills\nconnector.class=TableStoreSinkConnector\ntopics=tskills\n{}auto.create=true\n\
         consumer.override.max.poll.records=20\n",
        s.keys()
    );
    // Every write waits 30 ms, so a run is still streaming when it is killed.
    s.fault(json!([{"action": "BatchWriteRow", "kind": "slow", "delay_ms": 30, "duration_ms": 600_000}])).await;
    let records = |first: usize, count: usize| -> Vec<String> {
        (first..first + count).map(|i| format!("k{i}\t{{\"n\":{i}}}")).collect()
    };
    let (produced, _) = kill_loop(&h, "tskills", &connector_text, 2000, records, &s).await;
    let mut numbers: Vec<i64> = s.rows("tskills").await.iter().map(|r| r["columns"]["n"].as_i64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (0..produced as i64).collect::<Vec<_>>(), "every record stored once as a row");
}

impl Landed for Standin {
    async fn stored(&self) -> usize {
        self.rows("tskills").await.len()
    }

    async fn accepted(&self) -> usize {
        self.rows_sent("BatchWriteRow", "tskills").await
    }
}

/// A poison matrix through the JSON parser into Tablestore rows (primary key
/// `topic_partition` + `offset`): invalid JSON, invalid UTF-8, JSON nested 10,000 deep, a 2 MB
/// value cut short and a row the service refuses are dead-lettered with their reasons and
/// original bytes; every good record is written once, a top-level array as one `value`
/// column and a tombstone as a row of its primary key alone (as with the file sink); none is
/// lost and the connector never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_matrix_is_dead_lettered_record_by_record_and_every_good_record_is_written() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("otspoison", 1);
    h.topic("otspoison-dlq", 1);
    // The stand-in refuses the row of offset 8 whatever it is sent as.
    s.fault(json!([{"action": "BatchWriteRow", "kind": "row_error", "code": "OTSParameterInvalid",
        "message": "injected rejection", "match": "8", "count": 100}]))
        .await;
    let good = |i: usize| format!(r#"{{"device":"d{i}","voltage":{i}}}"#);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_cut = format!("{{\"device\":\"{}", "x".repeat(2 << 20));
    let values: Vec<Poison<'_>> = vec![
        (Some(good(0).into_bytes()), "good"),
        (Some(br#"{"device":"#.to_vec()), "invalid JSON"),
        (Some(b"{\"device\":\"\xff\",\"voltage\":1}".to_vec()), "invalid UTF-8"),
        (Some(good(3).into_bytes()), "good"),
        (None, "tombstone"),
        (Some(b"[1,2,3]".to_vec()), "array"),
        (Some(deep.into_bytes()), "nested 10,000 deep"),
        (Some(huge_cut.into_bytes()), "2 MB, cut short"),
        (Some(good(8).into_bytes()), "refused by the service"),
        (Some(good(9).into_bytes()), "good"),
    ];
    let records = poison_records("otspoison", &values);
    h.produce_records(&records).await;
    let c = connector(
        &h,
        &s,
        "c-otspoison",
        "otspoison",
        "auto.create=true\nprimarykey.mode=kafka\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=otspoison-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
    );
    let running = h.start(plain_worker(&h), vec![c]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-c-otspoison", "otspoison", 1) == vec![10]).await,
        "{:?}, committed {:?}",
        status.state(),
        h.committed("connect-c-otspoison", "otspoison", 1)
    );
    let rows = s.rows("otspoison").await;
    let offsets: Vec<Json> = rows.iter().map(|r| pk_of(r, "offset")).collect();
    assert_eq!(offsets, [0, 3, 4, 5, 9].map(|o| json!(o)), "every good record written once: {rows:?}");
    assert_eq!(rows[1]["columns"], json!({"device": "d3", "voltage": 3}));
    assert_eq!(rows[2]["columns"], json!({}), "the tombstone: its primary key alone");
    assert_eq!(rows[3]["columns"], json!({"value": "[1,2,3]"}), "the array: one value column");
    let dead = h.read("otspoison-dlq", 0, 5);
    let dead_offsets: Vec<String> = dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap()).collect();
    assert_eq!(dead_offsets, ["1", "2", "6", "7", "8"], "each bad record dead-lettered once");
    // What each reason must name, in offset order.
    let reasons: [&[&str]; 5] = [
        &["builtin:json", "invalid-json"],
        &["invalid-json", "invalid unicode code point"],
        &["invalid-json", "recursion limit"],
        &["invalid-json", "EOF while parsing a string"],
        &["tablestore", "OTSParameterInvalid", "injected rejection"],
    ];
    assert_dead_letters(&dead, &values, &reasons);
    assert!(!status.is_failed());
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 5);
    running.shutdown();
    running.wait().await;
}

/// A migrated configuration with a transform chain: a router renames the topic (so the table
/// and the `topic_partition` key follow it, as a Kafka Connect sink sees the routed topic),
/// field edits change the columns, and a filter with a predicate drops a record whose offset
/// is still committed. The expected rows are what Kafka Connect's documented semantics give.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transform_chain_routes_edits_and_filters_like_kafka_connect() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("orders", 1);
    let chain = "value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\n\
        auto.create=true\ntransforms=route,stamp,mask,rename,skip\n\
        transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
        transforms.route.regex=orders\ntransforms.route.replacement=orders_archive\n\
        transforms.stamp.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
        transforms.stamp.static.field=source\ntransforms.stamp.static.value=kafka\n\
        transforms.mask.type=org.apache.kafka.connect.transforms.MaskField$Value\ntransforms.mask.fields=card\n\
        transforms.rename.type=org.apache.kafka.connect.transforms.ReplaceField$Value\n\
        transforms.rename.renames=qty:quantity\ntransforms.rename.exclude=internal\n\
        transforms.skip.type=org.apache.kafka.connect.transforms.Filter\ntransforms.skip.predicate=is_test\n\
        predicates=is_test\npredicates.is_test.type=org.apache.kafka.connect.transforms.predicates.HasHeaderKey\n\
        predicates.is_test.name=test\n";
    let mut records = vec![
        record("orders", 0, "a", br#"{"id":1,"card":"4111-1111","qty":2,"internal":"x"}"#.to_vec()),
        record("orders", 0, "b", br#"{"id":2,"card":"5500-0000","qty":5}"#.to_vec()),
        record("orders", 0, "c", br#"{"id":3,"card":"3400-0000","qty":1}"#.to_vec()),
    ];
    records[1].headers = vec![sluice::model::Header { key: "test".into(), value: Some(b"1".to_vec()) }];
    h.produce_records(&records).await;
    let running = h.start(plain_worker(&h), vec![connector(&h, &s, "migrated", "orders", chain)]).await.unwrap();
    let rows = s.wait_rows("orders_archive", 2).await;
    assert_eq!(
        rows,
        vec![
            json!({"pk": {"topic_partition": "orders_archive_0", "offset": 0},
                   "columns": {"id": 1, "card": "", "quantity": 2, "source": "kafka"}}),
            json!({"pk": {"topic_partition": "orders_archive_0", "offset": 2},
                   "columns": {"id": 3, "card": "", "quantity": 1, "source": "kafka"}}),
        ]
    );
    assert!(s.rows("orders").await.is_empty(), "nothing is written under the original topic");
    assert!(
        wait_until(Duration::from_secs(20), || h.committed("connect-migrated", "orders", 1) == vec![3]).await,
        "the filtered record's offset is committed too: {:?}",
        h.committed("connect-migrated", "orders", 1)
    );
    running.shutdown();
    running.wait().await;
}

/// Records written by Confluent's official Avro serializer (PyPI `confluent-kafka`, against the
/// Schema Registry stand-in) land with their Avro types: `value.converter=AvroConverter` is read
/// in the host and handed to the built-in parser as a typed envelope, so a decimal, a
/// timestamp and a nullable field arrive as Tablestore would store them from Kafka Connect.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn avro_records_from_the_official_serializer_land_with_their_types() {
    use sluice_standins::{confluent_serialize, Service, Standin as Registry, Stderr as RegistryStderr};
    let registry = Registry::start(Service::SchemaRegistry, &[], RegistryStderr::Inherit);
    let schema = r#"{"type":"record","name":"Payment","fields":[
        {"name":"id","type":"long"},{"name":"customer","type":"string"},
        {"name":"amount","type":{"type":"bytes","logicalType":"decimal","precision":10,"scale":2}},
        {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"}},
        {"name":"note","type":["null","string"],"default":null}]}"#;
    let records = confluent_serialize(&json!({"url": registry.base_url(), "records": [
        {"format": "avro", "topic": "payments", "part": "value", "schema": schema,
         "value": {"id": 1, "customer": "ann", "amount": {"$decimal": "12.50"}, "at": {"$timestamp": "2023-11-14T22:13:20.123+00:00"}, "note": "first"}},
        {"format": "avro", "topic": "payments", "part": "value", "schema": schema,
         "value": {"id": 2, "customer": "bob", "amount": {"$decimal": "-0.07"}, "at": {"$timestamp": "2023-11-14T22:13:21+00:00"}, "note": null}},
    ]}));
    let s = Standin::start();
    let h = Harness::new();
    h.topic("payments", 1);
    let produced: Vec<_> =
        records.into_iter().enumerate().map(|(i, bytes)| record("payments", 0, &format!("k{i}"), bytes)).collect();
    h.produce_records(&produced).await;
    let extra = format!(
        "auto.create=true\nvalue.converter=io.confluent.connect.avro.AvroConverter\n\
         value.converter.schema.registry.url={}\n",
        registry.base_url()
    );
    let running = h.start(plain_worker(&h), vec![connector(&h, &s, "avro", "payments", &extra)]).await.unwrap();
    let rows = s.wait_rows("payments", 2).await;
    running.shutdown();
    running.wait().await;
    let columns: Vec<&Json> = rows.iter().map(|r| &r["columns"]).collect();
    // Kafka Connect's Decimal becomes its decimal text, Timestamp its milliseconds, a null
    // optional field no column (the Tablestore connector's DefaultEventParser rules).
    assert_eq!(columns[0]["id"], json!(1));
    assert_eq!(columns[0]["customer"], json!("ann"));
    assert_eq!(columns[0]["amount"], json!("12.50"));
    assert_eq!(columns[0]["at"], json!(1_700_000_000_123i64));
    assert_eq!(columns[0]["note"], json!("first"));
    assert_eq!(columns[1]["amount"], json!("-0.07"));
    assert!(columns[1].get("note").is_none_or(Json::is_null), "{:?}", columns[1]);
}

/// Records written by Confluent's official Protobuf serializer (PyPI `confluent-kafka`'s
/// `ProtobufSerializer`, against the Schema Registry stand-in) land with their Protobuf types:
/// `value.converter=ProtobufConverter` reads the message indexes and the registered file
/// descriptor, and a Timestamp, an enum, 64-bit and unsigned integers arrive as Tablestore would
/// store them from Kafka Connect. The third record is the file's second message (index 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn protobuf_records_from_the_official_serializer_land_with_their_types() {
    use sluice_standins::{confluent_serialize, Service, Standin as Registry, Stderr as RegistryStderr};
    let registry = Registry::start(Service::SchemaRegistry, &[], RegistryStderr::Inherit);
    let field = |name: &str, number: u32, kind: &str| json!({"name": name, "number": number, "label": "LABEL_OPTIONAL", "type": kind});
    let mut created = field("created", 6, "TYPE_MESSAGE");
    created["typeName"] = json!(".google.protobuf.Timestamp");
    let mut status = field("status", 7, "TYPE_ENUM");
    status["typeName"] = json!(".shop.Status");
    let schema = json!({
        "name": "shop/orders.proto", "package": "shop", "syntax": "proto3",
        "dependency": ["google/protobuf/timestamp.proto"],
        "messageType": [
            {"name": "Order", "field": [field("id", 1, "TYPE_INT64"), field("customer", 2, "TYPE_STRING"),
                field("qty", 3, "TYPE_UINT32"), field("price", 4, "TYPE_DOUBLE"), field("paid", 5, "TYPE_BOOL"),
                created, status]},
            {"name": "Refund", "field": [field("id", 1, "TYPE_INT64"), field("reason", 2, "TYPE_STRING")]}
        ],
        "enumType": [{"name": "Status", "value": [{"name": "NEW", "number": 0}, {"name": "SHIPPED", "number": 1}]}]
    });
    let records = confluent_serialize(&json!({"url": registry.base_url(), "records": [
        {"format": "protobuf", "topic": "orders", "schema": schema, "message": "shop.Order",
         "value": {"id": "9007199254740993", "customer": "ann", "qty": 4000000000u64, "price": 12.5, "paid": true,
                   "created": "2023-11-14T22:13:20.123Z", "status": "SHIPPED"}},
        {"format": "protobuf", "topic": "orders", "schema": schema, "message": "shop.Order",
         "value": {"id": "2", "customer": "bob"}},
        {"format": "protobuf", "topic": "orders", "schema": schema, "message": "shop.Refund",
         "value": {"id": "3", "reason": "late"}},
    ]}));
    assert_eq!(&records[2][5..7], &[2, 2], "the Refund's message indexes: one index, 1 (zig-zag)");
    let s = Standin::start();
    let h = Harness::new();
    h.topic("orders", 1);
    let produced: Vec<_> =
        records.into_iter().enumerate().map(|(i, bytes)| record("orders", 0, &format!("k{i}"), bytes)).collect();
    h.produce_records(&produced).await;
    let extra = format!(
        "auto.create=true\nvalue.converter=io.confluent.connect.protobuf.ProtobufConverter\n\
         value.converter.schema.registry.url={}\n",
        registry.base_url()
    );
    let running = h.start(plain_worker(&h), vec![connector(&h, &s, "protobuf", "orders", &extra)]).await.unwrap();
    let rows = s.wait_rows("orders", 3).await;
    running.shutdown();
    running.wait().await;
    let columns: Vec<&Json> = rows.iter().map(|r| &r["columns"]).collect();
    let by_id =
        |id: i64| *columns.iter().find(|c| c["id"] == json!(id)).unwrap_or_else(|| panic!("no id {id}: {columns:?}"));
    let first = by_id(9_007_199_254_740_993);
    assert_eq!(first["customer"], json!("ann"));
    assert_eq!(first["qty"], json!(4_000_000_000u64), "uint32 is read unsigned into an INT64");
    assert_eq!(first["price"], json!(12.5));
    assert_eq!(first["paid"], json!(true));
    assert_eq!(first["created"], json!(1_700_000_000_123i64), "a Timestamp becomes its milliseconds");
    assert_eq!(first["status"], json!("SHIPPED"), "an enum becomes its symbol");
    // Unset proto3 scalars are their defaults; an unset message field is null (no column).
    let second = by_id(2);
    assert_eq!((&second["qty"], &second["paid"], &second["status"]), (&json!(0), &json!(false), &json!("NEW")));
    assert!(second.get("created").is_none_or(Json::is_null), "{second:?}");
    assert_eq!(by_id(3)["reason"], json!("late"));
}
