//! Three `sluice distributed` processes (the real binary) against one embedded broker: a
//! connector created through one worker runs on all three and they split its partitions; a
//! config change through another reaches all; a worker SIGKILLed mid-stream and restarted
//! loses nothing and duplicates only what it had not committed; pause and stop through any
//! worker stop the writes on all; status from any worker shows the whole cluster.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::util::*;

const PARTITIONS: i32 = 6;
const TOPIC: &str = "events";
const GROUP: &str = "connect-spread";

/// One worker process, its REST address and its output file.
struct Node {
    child: Child,
    url: String,
    out: PathBuf,
}

fn spawn(worker: &Path, index: usize, dir: &Path) -> Node {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env("SLUICE_CACHE_DIR", cache_dir())
        .env("SLUICE_LOG", "warn")
        .env("SLUICE_WORKER", index.to_string())
        .arg("distributed")
        .arg(worker)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("REST API listening on ") {
                let _ = sender.send(url.to_string());
            }
        }
    });
    let url = receiver.recv_timeout(Duration::from_secs(60)).expect("the worker printed its REST address");
    Node { child, url, out: dir.join(format!("out-{index}.jsonl")) }
}

struct Http(reqwest::Client);

impl Http {
    async fn call(&self, method: &str, url: String, body: Option<Json>) -> (u16, Json) {
        crate::util::http_json(&self.0, method, url, body.as_ref()).await
    }

    async fn get(&self, node: &Node, path: &str) -> Json {
        self.call("GET", format!("{}{path}", node.url), None).await.1
    }

    async fn put(&self, node: &Node, path: &str, body: Option<Json>) -> u16 {
        self.call("PUT", format!("{}{path}", node.url), body).await.0
    }

    /// Waits until `check` holds for the body of `GET path` on `node`.
    async fn wait_for(&self, node: &Node, path: &str, what: &str, check: impl Fn(&Json) -> bool) -> Json {
        let deadline = std::time::Instant::now() + Duration::from_secs(45);
        loop {
            let body = self.get(node, path).await;
            if check(&body) {
                return body;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: last answer {body}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `(partition, offset)` of every line of the files (lines torn by a kill skipped).
fn written(files: &[&Path]) -> Vec<(i64, i64)> {
    files
        .iter()
        .flat_map(|file| output_lines_lenient(file).0)
        .map(|line| (line["partition"].as_i64().unwrap(), line["offset"].as_i64().unwrap()))
        .collect()
}

fn distinct(written: &[(i64, i64)]) -> BTreeSet<(i64, i64)> {
    written.iter().copied().collect()
}

fn every_record(end: &[i64]) -> BTreeSet<(i64, i64)> {
    (0..end.len()).flat_map(|p| (0..end[p]).map(move |o| (p as i64, o))).collect()
}

/// Status tasks' `worker_id`s (one task per worker in a cluster) with their state.
fn tasks(status: &Json) -> BTreeMap<String, (String, usize)> {
    status["tasks"]
        .as_array()
        .map(|tasks| {
            tasks
                .iter()
                .map(|t| {
                    let partitions = t["partitions"].as_array().map_or(0, Vec::len);
                    (
                        t["worker_id"].as_str().unwrap().to_string(),
                        (t["state"].as_str().unwrap().to_string(), partitions),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn worker_id(url: &str) -> String {
    url.trim_start_matches("http://").to_string()
}

fn file_sink(name: &str, dir: &Path, extra: Json) -> Json {
    let mut config = json!({
        "connector.class": "FileStreamSink",
        "topics": TOPIC,
        "tasks.max": "2",
        "file": format!("{}/{name}-${{env:SLUICE_WORKER}}.jsonl", dir.display()),
        "consumer.override.max.poll.records": "20",
    });
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_workers_share_a_connector_survive_a_kill_and_obey_any_worker() {
    let h = Harness::new();
    let started = std::time::Instant::now();
    let phase = |what: &str| eprintln!("distributed: {what} after {:.1} s", started.elapsed().as_secs_f64());
    h.topic(TOPIC, PARTITIONS);
    // The embedded broker has no CreateTopics: the internal topics are made beforehand, as
    // many operators do (the workers create them on a real cluster).
    h.topic("sluice-configs", 1);
    h.topic("sluice-status", 2);
    h.produce(TOPIC, None, &orders(600, 37)).await;
    let worker = h.path("connect-distributed.properties");
    std::fs::write(
        &worker,
        format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:0\ngroup.id=sluice-test-cluster\n\
             config.storage.topic=sluice-configs\noffset.storage.topic=sluice-offsets\n\
             status.storage.topic=sluice-status\nconfig.storage.replication.factor=1\n\
             offset.storage.replication.factor=1\nstatus.storage.replication.factor=1\n\
             status.storage.partitions=2\nheartbeat.interval.ms=300\nsession.timeout.ms=3000\n\
             offset.flush.interval.ms=100\nvalue.converter.schemas.enable=false\n\
             consumer.fetch.wait.max.ms=20\nconsumer.session.timeout.ms=3000\nconsumer.heartbeat.interval.ms=300\n\
             task.shutdown.graceful.timeout.ms=3000\nconfig.providers=env\n\
             config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider\n",
            h.bootstrap
        ),
    )
    .unwrap();
    let dir = h.dir.path().to_path_buf();
    let mut nodes: Vec<Node> = (1..=3).map(|i| spawn(&worker, i, &dir)).collect();
    let http = Http(reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap());

    // Membership: every worker sees the three.
    for node in &nodes {
        let root = http
            .wait_for(node, "/", "three members", |root| root["workers"].as_array().is_some_and(|w| w.len() == 3))
            .await;
        assert_eq!(root["worker_id"], json!(worker_id(&node.url)));
    }

    phase("three members");
    // Created through worker 1 (paused, so the three join the group before anything is
    // written), resumed through worker 3: all three hold partitions and write rows.
    let body = json!({"name": "spread", "config": file_sink("out", &dir, json!({})), "initial_state": "PAUSED"});
    let (code, created) = http.call("POST", format!("{}/connectors", nodes[0].url), Some(body)).await;
    assert_eq!(code, 201, "{created}");
    let ids: BTreeSet<String> = nodes.iter().map(|n| worker_id(&n.url)).collect();
    let spread_over_all = |status: &Json| {
        let tasks = tasks(status);
        tasks.keys().cloned().collect::<BTreeSet<_>>() == ids && tasks.values().all(|(_, partitions)| *partitions > 0)
    };
    http.wait_for(&nodes[1], "/connectors/spread/status", "paused on all three, partitions split", spread_over_all)
        .await;
    assert_eq!(http.put(&nodes[2], "/connectors/spread/resume", None).await, 202);
    let outs: Vec<PathBuf> = nodes.iter().map(|n| n.out.clone()).collect();
    let files: Vec<&Path> = outs.iter().map(PathBuf::as_path).collect();
    let end = h.end_offsets(TOPIC, PARTITIONS);
    assert!(
        wait_until(Duration::from_secs(45), || distinct(&written(&files)) == every_record(&end)).await,
        "the first 600 records written"
    );
    for node in &nodes {
        assert!(line_count(&node.out) > 0, "{} wrote no rows: the partitions were not split", node.url);
    }

    phase("first records split and written");
    // A config change through worker 2 reaches every worker; rows written after carry it.
    let mut changed = file_sink("out", &dir, json!({}));
    changed["transforms"] = json!("stage");
    changed["transforms.stage.type"] = json!("org.apache.kafka.connect.transforms.InsertField$Value");
    changed["transforms.stage.static.field"] = json!("stage");
    changed["transforms.stage.static.value"] = json!("after-change");
    assert_eq!(http.put(&nodes[1], "/connectors/spread/config", Some(changed.clone())).await, 200);
    for node in &nodes {
        http.wait_for(node, "/connectors/spread/config", "the new config on every worker", |config| {
            config["transforms"] == json!("stage")
        })
        .await;
    }
    let before_change = h.end_offsets(TOPIC, PARTITIONS);
    h.produce(TOPIC, None, &orders(600, 41)).await;
    let end = h.end_offsets(TOPIC, PARTITIONS);
    assert!(
        wait_until(Duration::from_secs(45), || distinct(&written(&files)) == every_record(&end)).await,
        "the records after the change written"
    );
    let after: Vec<String> = files
        .iter()
        .flat_map(|f| output_lines(f))
        .filter(|l| l["offset"].as_i64().unwrap() >= before_change[l["partition"].as_i64().unwrap() as usize])
        .map(|l| l.to_string())
        .collect();
    assert!(after.len() >= 600 && after.iter().all(|l| l.contains("after-change")), "rows after the change carry it");

    phase("config change applied everywhere");
    // Worker 3 is SIGKILLed mid-stream, then restarted.
    http.wait_for(&nodes[0], "/connectors/spread/status", "balanced again after the change", spread_over_all).await;
    let third_before = line_count(&nodes[2].out);
    h.produce(TOPIC, None, &orders(1500, 43)).await;
    assert!(
        wait_until(Duration::from_secs(45), || line_count(&nodes[2].out) >= third_before + 40).await,
        "worker 3 writing before the kill"
    );
    nodes[2].child.kill().unwrap(); // SIGKILL: nothing more is committed or flushed
    nodes[2].child.wait().unwrap();
    let committed_at_kill = h.committed(GROUP, TOPIC, PARTITIONS);
    let at_kill = written(&files);
    // What was written but not committed when the worker died: the only records that may be
    // written twice.
    let uncommitted = distinct(&at_kill).into_iter().filter(|(p, o)| *o >= committed_at_kill[*p as usize]).count();
    nodes[2] = spawn(&worker, 3, &dir);
    h.produce(TOPIC, None, &orders(600, 47)).await;
    let end = h.end_offsets(TOPIC, PARTITIONS);
    assert!(
        wait_until(Duration::from_secs(60), || distinct(&written(&files)) == every_record(&end)
            && h.committed(GROUP, TOPIC, PARTITIONS) == end)
        .await,
        "every record written and committed after the kill (committed {:?}, end {end:?})",
        h.committed(GROUP, TOPIC, PARTITIONS)
    );
    // Records written again after the kill: each must have been in the uncommitted window
    // (at or past the committed offset when the worker died); one below it would mean
    // consumption resumed before the committed offsets.
    let all = written(&files);
    let count = |written: &[(i64, i64)]| {
        let mut counts: BTreeMap<(i64, i64), usize> = BTreeMap::new();
        for record in written {
            *counts.entry(*record).or_default() += 1;
        }
        counts
    };
    let (before, after) = (count(&at_kill), count(&all));
    let rewritten: Vec<(i64, i64)> =
        before.iter().filter(|(record, n)| after[*record] > **n).map(|(record, _)| *record).collect();
    let below = rewritten.iter().filter(|(p, o)| *o < committed_at_kill[*p as usize]).count();
    assert_eq!(below, 0, "records committed before the kill were written again (committed {committed_at_kill:?})");
    assert!(rewritten.len() <= uncommitted, "{} records rewritten, {uncommitted} uncommitted", rewritten.len());
    let duplicates = all.len() - distinct(&all).len();
    phase(&format!(
        "recovered from the kill: {} of {uncommitted} uncommitted records written again; {duplicates} duplicates \
         in all (rebalances included)",
        rewritten.len()
    ));
    let (_, torn) = output_lines_lenient(&nodes[2].out);
    assert!(torn <= 1, "only the line being written at the kill may be torn");

    // Status from any worker shows the whole cluster, the restarted worker included.
    let ids: BTreeSet<String> = nodes.iter().map(|n| worker_id(&n.url)).collect();
    for node in &nodes {
        http.wait_for(node, "/connectors/spread/status", "every live worker in the status", |status| {
            tasks(status).keys().cloned().collect::<BTreeSet<_>>() == ids
                && tasks(status).values().all(|(state, _)| state == "RUNNING")
        })
        .await;
    }

    phase("status shows the restarted worker");

    // A restart through one worker restarts the connector on all: a connector that could not
    // start anywhere (its output folder is a file), with automatic restarts off, runs on every
    // worker after one restart call once the cause is gone.
    h.topic("late", 3);
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "not a folder").unwrap();
    let late = json!({"name": "late", "config": {
        "connector.class": "FileStreamSink",
        "topics": "late",
        "file": format!("{}/late-${{env:SLUICE_WORKER}}.jsonl", blocker.display()),
        "sluice.restart.backoff.max.ms": "0",
    }});
    assert_eq!(http.call("POST", format!("{}/connectors", nodes[0].url), Some(late)).await.0, 201);
    let all_in = |state: &'static str| {
        move |status: &Json| tasks(status).len() == 3 && tasks(status).values().all(|(s, _)| s == state)
    };
    let failed = http.wait_for(&nodes[1], "/connectors/late/status", "failed on every worker", all_in("FAILED")).await;
    assert!(failed["tasks"][0]["trace"].as_str().is_some_and(|t| t.contains("blocker")), "{failed}");
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(http.call("POST", format!("{}/connectors/late/restart", nodes[1].url), None).await.0, 204);
    http.wait_for(&nodes[2], "/connectors/late/status", "running on every worker after one restart", all_in("RUNNING"))
        .await;
    phase("restarted on every worker through one");
    // Paused through worker 2: no worker writes. The proof is a control connector on the
    // same workers that writes the records produced meanwhile.
    assert_eq!(http.put(&nodes[1], "/connectors/spread/pause", None).await, 202);
    for node in &nodes {
        http.wait_for(node, "/connectors/spread/status", "paused on every worker", |status| {
            tasks(status).len() == 3 && tasks(status).values().all(|(state, _)| state == "PAUSED")
        })
        .await;
    }
    let lines_paused = all.len();
    let committed_paused = h.committed(GROUP, TOPIC, PARTITIONS);
    let control = json!({"name": "control", "config": file_sink("control", &dir, json!({}))});
    assert_eq!(http.call("POST", format!("{}/connectors", nodes[2].url), Some(control)).await.0, 201);
    h.produce(TOPIC, None, &orders(300, 53)).await;
    let end = h.end_offsets(TOPIC, PARTITIONS);
    let control_files: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("control-{i}.jsonl"))).collect();
    let control_refs: Vec<&Path> = control_files.iter().map(PathBuf::as_path).collect();
    assert!(
        wait_until(Duration::from_secs(45), || distinct(&written(&control_refs)) == every_record(&end)).await,
        "the control connector wrote every record"
    );
    assert_eq!(written(&files).len(), lines_paused, "a paused worker wrote rows");
    assert_eq!(h.committed(GROUP, TOPIC, PARTITIONS), committed_paused);

    phase("paused everywhere (control wrote the new records)");
    // Resumed through worker 1, stopped through worker 3: the offsets API answers for the
    // whole group on any worker.
    assert_eq!(http.put(&nodes[0], "/connectors/spread/resume", None).await, 202);
    assert!(
        wait_until(Duration::from_secs(45), || distinct(&written(&files)) == every_record(&end)
            && h.committed(GROUP, TOPIC, PARTITIONS) == end)
        .await,
        "resumed: the records produced while paused written"
    );
    assert_eq!(http.put(&nodes[2], "/connectors/spread/stop", None).await, 204);
    for node in &nodes {
        http.wait_for(node, "/connectors/spread/status", "stopped on every worker", |status| {
            status["connector"]["state"] == json!("STOPPED") && status["tasks"] == json!([])
        })
        .await;
    }
    let offsets = http.get(&nodes[1], "/connectors/spread/offsets").await;
    let mut by_partition: Vec<(i64, i64)> = offsets["offsets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["partition"]["kafka_partition"].as_i64().unwrap(), o["offset"]["kafka_offset"].as_i64().unwrap()))
        .collect();
    by_partition.sort_unstable();
    assert_eq!(by_partition, end.iter().enumerate().map(|(p, o)| (p as i64, *o)).collect::<Vec<_>>());
    let lines_stopped = written(&files).len();
    h.produce(TOPIC, None, &orders(200, 59)).await;
    let end = h.end_offsets(TOPIC, PARTITIONS);
    assert!(
        wait_until(Duration::from_secs(45), || distinct(&written(&control_refs)) == every_record(&end)).await,
        "the control connector wrote the records produced after the stop"
    );
    assert_eq!(written(&files).len(), lines_stopped, "a stopped worker wrote rows");

    phase("stopped everywhere");
    // Deleted through worker 2: gone everywhere.
    let (code, _) = http.call("DELETE", format!("{}/connectors/spread", nodes[1].url), None).await;
    assert_eq!(code, 204);
    for node in &nodes {
        http.wait_for(node, "/connectors", "deleted on every worker", |names| names == &json!(["late", "control"]))
            .await;
    }

    for node in &mut nodes {
        assert!(Command::new("kill").args(["-TERM", &node.child.id().to_string()]).status().unwrap().success());
    }
    for node in &mut nodes {
        let status = wait_exit(&mut node.child, Duration::from_secs(30), "SIGTERM");
        assert!(status.success(), "a worker exited with {status}");
    }
}

#[test]
fn a_distributed_worker_file_without_a_required_key_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let worker = dir.path().join("connect-distributed.properties");
    std::fs::write(
        &worker,
        "bootstrap.servers=localhost:1\ngroup.id=c\nconfig.storage.topic=configs\noffset.storage.topic=offsets\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .env("SLUICE_CACHE_DIR", cache_dir())
        .arg("distributed")
        .arg(&worker)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`status.storage.topic`") && stderr.contains("connect-distributed.properties"), "{stderr}");
}
