//! The Tablestore data-table sink against the local stand-in (tests/standins/tablestore),
//! which decodes every request with the official PyPI `tablestore` SDK and checks its
//! signature; assertions read back what the stand-in stored.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::pipeline::status::{ConnectorState, Counters};

use crate::util::*;

const INSTANCE: &str = "sluice-test";
const KEY_ID: &str = "test-key-id";
const KEY_SECRET: &str = "test-key-secret";

/// The stand-in as a child process on an ephemeral loopback port; killed on drop.
pub struct Standin {
    child: Child,
    pub endpoint: String,
}

impl Standin {
    pub fn start() -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/standins/tablestore/server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--instance", INSTANCE, "--access-key-id", KEY_ID, "--access-key-secret", KEY_SECRET])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the Tablestore stand-in (python3 with `tablestore` from tests/standins/requirements.txt)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port: u16 = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("stand-in did not print its port: {line:?}"));
        Self { child, endpoint: format!("http://127.0.0.1:{port}") }
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

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const STRUCT_MESSAGE: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"product"},{"type":"int64","optional":false,"field":"quantity"},{"type":"double","optional":false,"field":"price"}],"optional":false,"name":"record"},"payload":{"id":1,"product":"foo","quantity":100,"price":50}}"#;
const MAP_MESSAGE: &str = r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"id":1}}"#;

/// The seed's worker file with the harness's broker and cache.
fn seed_worker(h: &Harness) -> sluice::config::ConfigMap {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tablestore/connect-standalone.properties")).unwrap();
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
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tablestore/connect-tablestore-sink-quickstart.properties"),
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
