//! Kafka Connect's REST API, driven over HTTP against the embedded broker: status codes and
//! bodies, pause/resume, stop and offsets, restarts, validation, metrics and health, and the
//! JSON shapes checked against Kafka's own OpenAPI description (3.9).

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::api::RestServer;
use sluice::app::Standalone;

use crate::util::*;

/// A worker with its REST server on a free port.
struct Rest {
    running: Standalone,
    server: RestServer,
    http: reqwest::Client,
}

impl Rest {
    async fn start(h: &Harness, connectors: Vec<sluice::config::ConfigMap>) -> Self {
        Self::start_with(h, "", connectors).await
    }

    async fn start_with(h: &Harness, worker: &str, connectors: Vec<sluice::config::ConfigMap>) -> Self {
        let worker = h.worker(&format!("listeners=http://127.0.0.1:0\n{worker}"));
        let running = h.start(worker, connectors).await.unwrap();
        let server = RestServer::start(running.worker()).await.unwrap();
        // A request that hangs fails the test instead of blocking the suite.
        let http = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().expect("HTTP client");
        Self { running, server, http }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json, reqwest::header::HeaderMap) {
        let url = format!("{}{path}", self.server.url());
        let mut request = self.http.request(method.parse().unwrap(), url);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() { Json::Null } else { serde_json::from_str(&text).unwrap_or(Json::String(text)) };
        (status, json, headers)
    }

    async fn get(&self, path: &str) -> (u16, Json) {
        let (status, body, _) = self.call("GET", path, None).await;
        (status, body)
    }

    async fn state(&self, name: &str) -> String {
        self.get(&format!("/connectors/{name}/status")).await.1["connector"]["state"].as_str().unwrap_or("").to_string()
    }

    async fn wait_state(&self, name: &str, want: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self.state(name).await != want {
            assert!(std::time::Instant::now() < deadline, "{name} never became {want}: {}", self.state(name).await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The metrics, parsed by a Prometheus text parser: `(name, labels, value)`.
    async fn metrics(&self) -> Vec<prometheus_parse::Sample> {
        let text = self.http.get(format!("{}/metrics", self.server.url())).send().await.unwrap().text().await.unwrap();
        let lines = text.lines().map(|l| Ok(l.to_string()));
        prometheus_parse::Scrape::parse(lines).unwrap().samples
    }

    async fn stop(self) {
        self.server.stop();
        self.running.shutdown();
        self.running.wait().await;
    }
}

fn file_connector(name: &str, topic: &str, out: &Path) -> Json {
    json!({"connector.class": "FileStreamSink", "topics": topic, "file": out.display().to_string(), "name": name})
}

fn metric(samples: &[prometheus_parse::Sample], name: &str, connector: &str) -> f64 {
    let values = task_metrics(samples, name, connector);
    assert_eq!(values.len(), 1, "one {name} sample for {connector}: {values:?}");
    values.into_values().next().unwrap()
}

/// The samples of metric `name` for `connector`, by their `task` label ("" without one).
fn task_metrics(
    samples: &[prometheus_parse::Sample],
    name: &str,
    connector: &str,
) -> std::collections::BTreeMap<String, f64> {
    let values: std::collections::BTreeMap<String, f64> = samples
        .iter()
        .filter(|s| s.metric == name && s.labels.get("connector") == Some(connector))
        .map(|s| {
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            };
            (s.labels.get("task").unwrap_or("").to_string(), value)
        })
        .collect();
    assert!(!values.is_empty(), "no metric {name} for {connector}");
    values
}

/// Property names of a schema of Kafka's OpenAPI file.
fn schema_keys(name: &str) -> Vec<String> {
    // Kafka's file, unmodified (Apache-2.0), from the Kafka website's generated/connect_rest.yaml.
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/connect_rest-3.9.0.yaml");
    let spec: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let properties = &spec["components"]["schemas"][name]["properties"];
    let mut keys: Vec<String> = properties
        .as_mapping()
        .unwrap_or_else(|| panic!("schema {name}"))
        .iter()
        .filter(|(_, v)| v["writeOnly"].as_bool() != Some(true))
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

/// Checks that `value` has exactly the schema's keys (`optional` ones may be absent).
fn conforms(value: &Json, schema: &str, optional: &[&str]) {
    let mut keys: Vec<String> =
        value.as_object().unwrap_or_else(|| panic!("{schema}: {value}")).keys().cloned().collect();
    keys.sort();
    let expected = schema_keys(schema);
    for key in &keys {
        assert!(expected.contains(key), "{schema} has no `{key}` (spec: {expected:?}): {value}");
    }
    for key in &expected {
        assert!(keys.contains(key) || optional.contains(&key.as_str()), "{schema} lacks `{key}`: {value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_endpoint_answers_with_kafka_connects_status_codes_and_shapes() {
    let h = Harness::new();
    h.topic("t", 1);
    h.produce("t", Some(0), &orders(5, 2)).await;
    let from_file =
        h.connector(&format!("name=files\nconnector.class=FileStreamSink\ntopics=t\nfile={}\n", h.path("f").display()));
    let rest = Rest::start(&h, vec![from_file]).await;

    let (code, root) = rest.get("/").await;
    assert_eq!(code, 200);
    conforms(&root, "ServerInfo", &[]);
    let (code, health) = rest.get("/health").await;
    assert_eq!((code, health["status"].as_str()), (200, Some("healthy")));
    assert_eq!(rest.get("/connectors").await, (200, json!(["files"])));
    assert_eq!(rest.get("/connectors/").await, (200, json!(["files"])), "trailing slash accepted");

    let body = json!({"name": "api", "config": file_connector("api", "t", &h.path("api"))});
    let (code, info, headers) = rest.call("POST", "/connectors", Some(body.clone())).await;
    assert_eq!(code, 201, "{info}");
    assert_eq!(headers["location"], "/connectors/api");
    conforms(&info, "ConnectorInfo", &[]);
    assert_eq!(info["tasks"], json!([{"connector": "api", "task": 0}]));
    conforms(&info["tasks"][0], "ConnectorTaskId", &[]);
    let (code, conflict, _) = rest.call("POST", "/connectors", Some(body)).await;
    assert_eq!((code, conflict["error_code"].as_i64()), (409, Some(409)), "{conflict}");
    assert!(conflict["message"].as_str().unwrap().contains("already exists"));

    assert!(wait_until(Duration::from_secs(30), || output_lines(&h.path("api")).len() == 5).await);
    let (code, status) = rest.get("/connectors/api/status").await;
    assert_eq!(code, 200);
    conforms(&status, "ConnectorStateInfo", &[]);
    conforms(&status["connector"], "ConnectorState", &["trace"]);
    conforms(&status["tasks"][0], "TaskState", &["trace"]);
    assert_eq!(status["connector"]["state"], "RUNNING");
    assert_eq!(status["connector"]["worker_id"], rest.server.address.to_string());
    assert_eq!(status["type"], "sink");

    let (code, expanded) = rest.get("/connectors?expand=status&expand=info").await;
    assert_eq!(code, 200);
    assert_eq!(expanded["api"]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(expanded["files"]["info"]["config"]["topics"], "t");
    let (_, only_info) = rest.get("/connectors?expand=info").await;
    assert!(only_info["api"].get("status").is_none() && only_info["api"]["info"].is_object());

    let (code, missing) = rest.get("/connectors/nope").await;
    assert_eq!((code, missing["error_code"].as_i64()), (404, Some(404)));
    assert_eq!(rest.get("/connectors/nope/status").await.0, 404);
    assert_eq!(rest.call("PUT", "/connectors/nope/pause", None).await.0, 404);

    let (code, tasks) = rest.get("/connectors/api/tasks").await;
    assert_eq!(code, 200);
    conforms(&tasks[0], "TaskInfo", &[]);
    assert_eq!(tasks[0]["id"], json!({"connector": "api", "task": 0}));
    let (code, task) = rest.get("/connectors/api/tasks/0/status").await;
    assert_eq!((code, task["state"].as_str(), task["id"].as_i64()), (200, Some("RUNNING"), Some(0)));
    assert_eq!(rest.get("/connectors/api/tasks/7/status").await.0, 404);
    assert_eq!(rest.get("/connectors/api/topics").await, (200, json!({"api": {"topics": ["t"]}})));
    assert_eq!(rest.call("PUT", "/connectors/api/topics/reset", None).await.0, 202);

    // PUT config: 200 for an existing connector (restarted with the new config), 201 for a new one.
    let mut config = file_connector("api", "t", &h.path("api"));
    config["tasks.max"] = json!("2");
    let (code, updated, _) = rest.call("PUT", "/connectors/api/config", Some(config)).await;
    assert_eq!((code, updated["tasks"].as_array().map(Vec::len)), (200, Some(2)), "{updated}");
    let (code, _, headers) =
        rest.call("PUT", "/connectors/second/config", Some(file_connector("second", "t", &h.path("second")))).await;
    assert_eq!(
        (code, &headers["location"]),
        (201, &"/connectors/second".parse::<reqwest::header::HeaderValue>().unwrap())
    );
    let (code, mismatch, _) =
        rest.call("PUT", "/connectors/second/config", Some(file_connector("other", "t", &h.path("x")))).await;
    assert_eq!((code, mismatch["error_code"].as_i64()), (400, Some(400)));
    let (code, invalid, _) =
        rest.call("PUT", "/connectors/third/config", Some(json!({"connector.class": "FileStreamSink"}))).await;
    assert_eq!(code, 400, "{invalid}");
    assert!(invalid["message"].as_str().unwrap().contains("`topics`"), "{invalid}");
    let (code, patched, _) = rest.call("PATCH", "/connectors/api/config", Some(json!({"tasks.max": "1"}))).await;
    assert_eq!((code, patched["config"]["tasks.max"].as_str()), (200, Some("1")), "{patched}");
    assert_eq!(patched["config"]["file"], h.path("api").display().to_string(), "PATCH merges");
    assert_eq!(rest.get("/connectors/api/config").await.1["tasks.max"], "1");

    let (code, plugins) = rest.get("/connector-plugins").await;
    assert_eq!(code, 200);
    conforms(&plugins[0], "PluginInfo", &[]);
    assert!(plugins
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["class"] == "org.apache.kafka.connect.file.FileStreamSinkConnector"));
    let (code, keys) = rest.get("/connector-plugins/FileStreamSink/config").await;
    assert_eq!(code, 200);
    let file_key = keys.as_array().unwrap().iter().find(|k| k["name"] == "file").expect("`file` is listed");
    conforms(file_key, "ConfigKeyInfo", &[]);
    assert_eq!(rest.get("/connector-plugins/NoSuchSink/config").await.0, 404);

    // Restart (plain: 204; with onlyFailed on a healthy connector: 202 and nothing restarted).
    assert_eq!(rest.call("POST", "/connectors/api/restart", None).await.0, 204);
    let (code, restarted, _) =
        rest.call("POST", "/connectors/api/restart?includeTasks=TRUE&onlyFailed=true", None).await;
    assert_eq!(code, 202);
    conforms(&restarted, "ConnectorStateInfo", &[]);
    assert_eq!(rest.call("POST", "/connectors/api/tasks/0/restart", None).await.0, 204);
    assert_eq!(rest.call("GET", "/connectors/api/restart", None).await.0, 405);

    let (code, loggers) = rest.get("/admin/loggers").await;
    assert_eq!(code, 200);
    assert!(loggers["root"]["level"].is_string(), "{loggers}");
    let debug = json!({"level": "DEBUG"});
    let (code, affected, _) = rest.call("PUT", "/admin/loggers/sluice::sinks", Some(debug.clone())).await;
    assert_eq!((code, affected), (200, json!(["sluice::sinks"])));
    let (_, level) = rest.get("/admin/loggers/sluice::sinks").await;
    assert_eq!(level["level"], "DEBUG");
    assert!(level["last_modified"].is_i64(), "{level}");
    assert_eq!(rest.get("/admin/loggers/sluice::sinks::file").await.1["level"], "DEBUG", "inherited");
    assert_eq!(rest.call("PUT", "/admin/loggers/sluice::sinks?scope=cluster", Some(debug)).await.0, 204);
    assert_eq!(rest.call("PUT", "/admin/loggers/x", Some(json!({"level": "LOUD"}))).await.0, 404);
    assert_eq!(rest.call("PUT", "/admin/loggers/x", Some(json!({}))).await.0, 400);

    assert_eq!(rest.call("DELETE", "/connectors/second", None).await.0, 204);
    assert_eq!(rest.get("/connectors/second").await.0, 404);
    assert_eq!(rest.call("DELETE", "/connectors/second", None).await.0, 404);
    assert_eq!(rest.get("/connectors").await.1, json!(["files", "api"]));
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pause_stops_writing_while_records_keep_arriving_and_resume_writes_them_all() {
    let h = Harness::new();
    h.topic("p", 2);
    h.produce("p", None, &orders(40, 7)).await;
    let (paused_out, witness_out) = (h.path("paused"), h.path("witness"));
    let connector = |name: &str, out: &Path, tasks: usize| {
        h.connector(&format!(
            "name={name}\nconnector.class=FileStreamSink\ntopics=p\nfile={}\ntasks.max={tasks}\n",
            out.display()
        ))
    };
    let rest = Rest::start(&h, vec![connector("paused", &paused_out, 1), connector("witness", &witness_out, 2)]).await;
    assert!(wait_until(Duration::from_secs(30), || output_lines(&paused_out).len() == 40).await);

    assert_eq!(rest.call("PUT", "/connectors/paused/pause", None).await.0, 202);
    rest.wait_state("paused", "PAUSED").await;
    assert_eq!(rest.get("/connectors/paused/tasks/0/status").await.1["state"], "PAUSED");
    h.produce("p", None, &orders(60, 7)).await;
    // The witness reads the same topic in its own group: once it has all 100, the records
    // were there to be read, and the paused connector did not write them.
    assert!(wait_until(Duration::from_secs(30), || output_lines(&witness_out).len() == 100).await);
    assert_eq!(output_lines(&paused_out).len(), 40, "nothing written while paused");
    let samples = rest.metrics().await;
    assert_eq!(metric(&samples, "kafka_connect_sink_task_metrics_sink_record_read_total", "paused"), 40.0);
    // The witness runs two tasks: each counts the records of the partitions it holds (a
    // partition always goes to the same task), and every task is exported, idle or not.
    let mut per_task = [0.0; 2];
    for (partition, offsets) in offsets_by_partition(&output_lines(&witness_out)) {
        per_task[sluice::pipeline::task_of("p", partition as i32, 2)] += offsets.len() as f64;
    }
    let by_task = |values: std::collections::BTreeMap<String, f64>| -> [f64; 2] { [values["0"], values["1"]] };
    for name in [
        "kafka_connect_sink_task_metrics_sink_record_read_total",
        "kafka_connect_sink_task_metrics_sink_record_send_total",
    ] {
        assert_eq!(by_task(task_metrics(&samples, name, "witness")), per_task, "{name} per task");
    }
    assert_eq!(
        by_task(task_metrics(&samples, "kafka_connect_task_error_metrics_total_record_failures", "witness")),
        [0.0; 2]
    );
    let per_record: Vec<_> = samples
        .iter()
        .filter_map(|s| match &s.value {
            prometheus_parse::Value::Histogram(b)
                if s.metric == "sluice_parser_record_seconds" && s.labels.get("connector") == Some("witness") =>
            {
                Some((s.labels.get("task").unwrap().to_string(), b.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(per_record.len(), 2, "one parser time histogram per task");
    // Batches, timings and in-flight gauges of each task, consistent with the records it wrote.
    for (task, records) in per_task.iter().enumerate() {
        let value = |name: &str| task_metrics(&samples, name, "witness")[&task.to_string()];
        let batches = value("sluice_parser_batches_total");
        let (size_avg, size_max) = (
            value("kafka_connect_connector_task_metrics_batch_size_avg"),
            value("kafka_connect_connector_task_metrics_batch_size_max"),
        );
        assert!((size_avg * batches - records).abs() < 1e-6, "task {task}: {batches} batches averaging {size_avg}");
        assert!(size_max >= size_avg && size_max <= *records, "task {task}: max batch {size_max}");
        let requests = value("sluice_sink_requests_total");
        assert!(requests <= batches, "task {task}: {requests} file writes for {batches} batches");
        // The per-record parser time histogram counts each record once, in increasing buckets.
        let buckets = &per_record.iter().find(|(t, _)| *t == task.to_string()).unwrap().1;
        assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative buckets");
        let all = buckets.last().unwrap();
        assert!(all.less_than.is_infinite() && all.count == *records, "every record once: {buckets:?}");
        if *records > 0.0 {
            assert!(batches >= 1.0 && requests >= 1.0);
            assert!(value("sluice_sink_request_time_seconds_total") > 0.0);
            assert!(value("sluice_parser_time_seconds_total") > 0.0);
            let put_avg = value("kafka_connect_sink_task_metrics_put_batch_avg_time_ms");
            assert!(put_avg > 0.0 && put_avg <= value("kafka_connect_sink_task_metrics_put_batch_max_time_ms"));
        }
    }
    assert_eq!(
        metric(&samples, "kafka_connect_connector_task_metrics_offset_commit_failure_percentage", "witness"),
        0.0
    );
    assert_eq!(
        metric(&samples, "kafka_connect_connector_task_metrics_offset_commit_success_percentage", "witness"),
        1.0
    );
    assert!(metric(&samples, "kafka_connect_connector_task_metrics_offset_commit_max_time_ms", "witness") > 0.0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let samples = rest.metrics().await;
        if metric(&samples, "sluice_connector_inflight_records", "witness") == 0.0
            && task_metrics(&samples, "kafka_connect_sink_task_metrics_sink_record_lag_max", "witness")
                .values()
                .all(|lag| *lag == 0.0)
            && task_metrics(&samples, "kafka_connect_sink_task_metrics_partition_count", "witness")
                == (0..2)
                    .map(|task| {
                        let held = (0..2).filter(|p| sluice::pipeline::task_of("p", *p, 2) == task).count();
                        (task.to_string(), held as f64)
                    })
                    .collect()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "records stay in flight or behind after all were written, or the tasks' partitions are not counted"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let paused_status = samples
        .iter()
        .find(|s| s.metric == "kafka_connect_connector_metrics" && s.labels.get("connector") == Some("paused"))
        .unwrap();
    assert_eq!(paused_status.labels.get("status"), Some("paused"));
    assert_eq!(metric(&samples, "kafka_connect_connect_worker_metrics_connector_paused_task_count", "paused"), 1.0);

    assert_eq!(rest.call("PUT", "/connectors/paused/resume", None).await.0, 202);
    rest.wait_state("paused", "RUNNING").await;
    assert!(wait_until(Duration::from_secs(30), || output_lines(&paused_out).len() == 100).await);
    let lines = output_lines(&paused_out);
    for (partition, offsets) in offsets_by_partition(&lines) {
        let end = h.end_offsets("p", 2)[partition as usize];
        assert_eq!(offsets, (0..end).collect::<Vec<_>>(), "partition {partition}: every record once, in order");
    }
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_connector_is_restarted_over_rest_and_then_writes() {
    let h = Harness::new();
    h.topic("r", 1);
    h.produce("r", Some(0), &orders(8, 3)).await;
    let rest = Rest::start(&h, vec![]).await;
    assert_eq!(rest.get("/connectors").await.1, json!([]));
    // The parser plugin is not deployed yet: the connector cannot start.
    let out = h.path("out.jsonl");
    let plugin = h.path("plugins/parser.wasm");
    let mut config = file_connector("r", "r", &out);
    config["parser.plugin"] = json!(plugin.display().to_string());
    let (code, _, _) = rest.call("POST", "/connectors", Some(json!({"name": "r", "config": config}))).await;
    assert_eq!(code, 201);
    let (_, status) = rest.get("/connectors/r/status").await;
    assert_eq!(status["connector"]["state"], "FAILED", "{status}");
    assert!(status["connector"]["trace"].as_str().unwrap().contains("parser.wasm"), "{status}");
    assert_eq!(status["tasks"][0]["state"], "FAILED");
    let (code, health) = rest.get("/health").await;
    assert_eq!((code, health["status"].as_str()), (500, Some("unhealthy")), "every connector failed: {health}");
    assert!(health["message"].as_str().unwrap().contains("r:"), "{health}");
    let samples = rest.metrics().await;
    assert_eq!(metric(&samples, "kafka_connect_connect_worker_metrics_connector_failed_task_count", "r"), 1.0);

    std::fs::create_dir_all(h.path("plugins")).unwrap();
    std::fs::copy(guest("sluice_parser_json"), &plugin).unwrap();
    let (code, status, _) = rest.call("POST", "/connectors/r/restart?includeTasks=true&onlyFailed=true", None).await;
    assert_eq!(code, 202);
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 8).await);
    assert_eq!(rest.get("/health").await.0, 200);
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_then_patch_offsets_rewinds_and_delete_resets_so_records_are_written_again() {
    let h = Harness::new();
    h.topic("o", 1);
    h.produce("o", Some(0), &orders(10, 3)).await;
    let out = h.path("o.jsonl");
    let rest = Rest::start(&h, vec![]).await;
    let body = json!({"name": "o", "config": file_connector("o", "o", &out)});
    assert_eq!(rest.call("POST", "/connectors", Some(body)).await.0, 201);
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-o", "o", 1) == vec![10]).await);
    let rewind =
        json!({"offsets": [{"partition": {"kafka_topic": "o", "kafka_partition": 0}, "offset": {"kafka_offset": 5}}]});
    let (code, refused, _) = rest.call("PATCH", "/connectors/o/offsets", Some(rewind.clone())).await;
    assert_eq!(code, 400, "offsets change only when STOPPED");
    assert!(refused["message"].as_str().unwrap().contains("STOPPED"), "{refused}");

    assert_eq!(rest.call("PUT", "/connectors/o/stop", None).await.0, 204);
    let (_, status) = rest.get("/connectors/o/status").await;
    assert_eq!((status["connector"]["state"].as_str(), &status["tasks"]), (Some("STOPPED"), &json!([])));
    assert_eq!(rest.get("/connectors/o").await.1["tasks"], json!([]));
    let (code, offsets) = rest.get("/connectors/o/offsets").await;
    assert_eq!(code, 200);
    assert_eq!(
        offsets,
        json!({"offsets": [{"partition": {"kafka_topic": "o", "kafka_partition": 0}, "offset": {"kafka_offset": 10}}]})
    );
    conforms(&offsets["offsets"][0], "ConnectorOffset", &[]);
    let (code, done, _) = rest.call("PATCH", "/connectors/o/offsets", Some(rewind)).await;
    assert_eq!(code, 200, "{done}");
    assert!(done["message"].as_str().unwrap().contains("altered"));
    assert_eq!(h.committed("connect-o", "o", 1), vec![5]);
    assert_eq!(rest.call("PATCH", "/connectors/o/offsets", Some(json!({}))).await.0, 400);

    assert_eq!(rest.call("PUT", "/connectors/o/resume", None).await.0, 202);
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 15).await);
    let offsets: Vec<i64> = output_lines(&out).iter().map(|l| l["offset"].as_i64().unwrap()).collect();
    assert_eq!(offsets[10..], [5, 6, 7, 8, 9], "offsets 5..9 written again");
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-o", "o", 1) == vec![10]).await);

    assert_eq!(rest.call("PUT", "/connectors/o/stop", None).await.0, 204);
    let (code, reset, _) = rest.call("DELETE", "/connectors/o/offsets", None).await;
    assert_eq!(code, 200, "{reset}");
    assert!(reset["message"].as_str().unwrap().contains("reset"));
    assert_eq!(h.committed("connect-o", "o", 1), vec![0], "back to the start (auto.offset.reset=earliest)");
    assert_eq!(rest.call("PUT", "/connectors/o/resume", None).await.0, 202);
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 25).await);
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn validate_reports_every_error_per_key() {
    let h = Harness::new();
    let rest = Rest::start(&h, vec![]).await;
    let path = "/connector-plugins/FileStreamSinkConnector/config/validate";
    let body = json!({"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "parser.timeout.msx": "5", "sluice.batch.linger": "3", "file": "/tmp/x"});
    let (code, infos, _) = rest.call("PUT", path, Some(body)).await;
    assert_eq!(code, 200, "200 even with errors: {infos}");
    conforms(&infos, "ConfigInfos", &[]);
    let errors = |key: &str| -> Vec<String> {
        let config = infos["configs"].as_array().unwrap().iter().find(|c| c["value"]["name"] == key);
        let config = config.unwrap_or_else(|| panic!("no entry for `{key}`: {infos}"));
        conforms(&config["definition"], "ConfigKeyInfo", &[]);
        conforms(&config["value"], "ConfigValueInfo", &[]);
        config["value"]["errors"].as_array().unwrap().iter().map(|e| e.as_str().unwrap().to_string()).collect()
    };
    assert!(errors("name")[0].contains("Missing required configuration \"name\""));
    assert!(errors("topics")[0].contains("topics.regex"));
    assert!(errors("parser.timeout.msx")[0].contains("did you mean `parser.timeout.ms`"));
    assert!(errors("sluice.batch.linger")[0].contains("`sluice.`"));
    assert!(errors("file").is_empty());
    assert_eq!(infos["error_count"], 4);
    assert_eq!(infos["name"], "org.apache.kafka.connect.file.FileStreamSinkConnector");

    let good = json!({"connector.class": "FileStreamSink", "name": "v", "topics": "t", "file": "/tmp/x"});
    let (_, clean, _) = rest.call("PUT", "/connector-plugins/FileStreamSink/config/validate/", Some(good)).await;
    assert_eq!(clean["error_count"], 0, "{clean}");
    let value_error = json!({"connector.class": "FileStreamSink", "name": "v", "topics": "t", "tasks.max": "many"});
    let (_, bad, _) = rest.call("PUT", path, Some(value_error)).await;
    assert_eq!(bad["error_count"], 1, "{bad}");
    let tasks = bad["configs"].as_array().unwrap().iter().find(|c| c["value"]["name"] == "tasks.max").unwrap();
    assert!(tasks["value"]["errors"][0].as_str().unwrap().contains("`tasks.max`"));

    let other = json!({"connector.class": "com.taosdata.kafka.connect.sink.TDengineSinkConnector"});
    assert_eq!(rest.call("PUT", path, Some(other)).await.0, 400, "class differs from the path");
    assert_eq!(rest.call("PUT", "/connector-plugins/Nope/config/validate", Some(json!({}))).await.0, 404);
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_config_that_changes_only_parser_settings_swaps_the_parser_under_load_without_loss() {
    let h = Harness::new();
    h.topic("live", 2);
    let out = h.path("live.jsonl");
    let rest = Rest::start(&h, vec![]).await;
    let config = |tag: &str| {
        let mut config = file_connector("live", "live", &out);
        config["parser.plugin"] = json!(guest("sluice_test_tagger").display().to_string());
        config["tagger.tag"] = json!(tag);
        config["tasks.max"] = json!("2");
        config
    };
    assert_eq!(rest.call("POST", "/connectors", Some(json!({"name": "live", "config": config("v1")}))).await.0, 201);
    let status = rest.running.statuses()[0].clone();
    let mut next = 0u64;
    for chunk in 0..8 {
        let lines: Vec<String> = (next..next + 40).map(|n| format!("k{}\trec-{n}", n % 5)).collect();
        next += 40;
        h.produce("live", None, &lines).await;
        if chunk == 3 {
            let (code, info, _) = rest.call("PUT", "/connectors/live/config", Some(config("v2"))).await;
            assert_eq!(code, 200, "{info}");
            assert_eq!(info["config"]["tagger.tag"], "v2");
        }
    }
    assert!(wait_until(Duration::from_secs(60), || output_lines(&out).len() as u64 == next).await);
    let end = h.end_offsets("live", 2);
    let lines = output_lines(&out);
    for (partition, offsets) in offsets_by_partition(&lines) {
        assert_eq!(offsets, (0..end[partition as usize]).collect::<Vec<_>>(), "partition {partition}: once, in order");
    }
    let texts: Vec<&str> = lines.iter().map(|l| l["output"]["raw"]["text"].as_str().unwrap()).collect();
    assert!(texts.iter().any(|t| t.starts_with("v1:")) && texts.iter().any(|t| t.starts_with("v2:")), "{texts:?}");
    for partition in 0..2 {
        let tags: Vec<&str> = lines
            .iter()
            .filter(|l| l["partition"] == partition)
            .map(|l| l["output"]["raw"]["text"].as_str().unwrap().split(':').next().unwrap())
            .collect();
        let first_v2 = tags.iter().position(|t| *t == "v2").unwrap_or(tags.len());
        assert!(tags[first_v2..].iter().all(|t| *t == "v2"), "partition {partition}: no v1 after the swap");
    }
    let same_run = rest.running.statuses()[0].clone();
    assert!(std::sync::Arc::ptr_eq(&status, &same_run), "swapped in place, not restarted");
    assert_eq!(sluice::pipeline::status::Counters::get(&status.counters.swaps), 1);
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn config_provider_placeholders_are_stored_and_returned_and_resolved_only_to_run() {
    let h = Harness::new();
    h.topic("s", 1);
    h.produce("s", Some(0), &orders(3, 1)).await;
    let out = h.path("resolved.jsonl");
    let secrets = h.path("secrets.properties");
    std::fs::write(&secrets, format!("out.file={}\n", out.display())).unwrap();
    let worker = "config.providers=file\n\
        config.providers.file.class=org.apache.kafka.common.config.provider.FileConfigProvider\n";
    let rest = Rest::start_with(&h, worker, vec![]).await;
    let placeholder = format!("${{file:{}:out.file}}", secrets.display());
    let config = json!({"connector.class": "FileStreamSink", "topics": "s", "file": placeholder});
    let (code, info, _) = rest.call("POST", "/connectors", Some(json!({"name": "s", "config": config}))).await;
    assert_eq!(code, 201, "{info}");
    assert_eq!(info["config"]["file"], placeholder, "the placeholder is what is stored");
    assert_eq!(rest.get("/connectors/s/config").await.1["file"], placeholder);
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 3).await, "resolved when started");
    let unknown = json!({"connector.class": "FileStreamSink", "topics": "s", "file": "${vault:x:y}"});
    let (code, refused, _) = rest.call("POST", "/connectors", Some(json!({"name": "u", "config": unknown}))).await;
    assert_eq!(code, 400);
    assert!(refused["message"].as_str().unwrap().contains("`vault`"), "{refused}");
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connector_that_could_not_start_restarts_itself_once_the_cause_passes_unless_turned_off() {
    let h = Harness::new();
    h.topic("a", 1);
    h.produce("a", Some(0), &orders(6, 2)).await;
    let rest = Rest::start(&h, vec![]).await;
    let plugin = h.path("deploy/parser.wasm");
    let (auto_out, manual_out) = (h.path("auto.jsonl"), h.path("manual.jsonl"));
    for (name, out, backoff) in [("auto", &auto_out, "2000"), ("manual", &manual_out, "0")] {
        let mut config = file_connector(name, "a", out);
        config["parser.plugin"] = json!(plugin.display().to_string());
        config["sluice.restart.backoff.max.ms"] = json!(backoff);
        assert_eq!(rest.call("POST", "/connectors", Some(json!({"name": name, "config": config}))).await.0, 201);
        assert_eq!(rest.state(name).await, "FAILED");
    }
    std::fs::create_dir_all(h.path("deploy")).unwrap();
    std::fs::copy(guest("sluice_parser_json"), &plugin).unwrap();
    rest.wait_state("auto", "RUNNING").await;
    assert!(wait_until(Duration::from_secs(30), || output_lines(&auto_out).len() == 6).await);
    assert_eq!(rest.state("manual").await, "FAILED", "automatic restarts turned off with 0");
    let (code, bad, _) =
        rest.call("PATCH", "/connectors/manual/config", Some(json!({"sluice.restart.backoff.max.ms": "soon"}))).await;
    assert_eq!(code, 400, "{bad}");
    rest.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connectors_created_through_the_api_survive_a_restart_in_their_target_state() {
    let h = Harness::new();
    h.topic("kept", 1);
    h.produce("kept", None, &orders(30, 5)).await;
    let out = h.path("kept.jsonl");
    let state_dir = h.path("state");
    let worker = format!("sluice.state.dir={}\n", state_dir.display());

    let rest = Rest::start_with(&h, &worker, vec![]).await;
    let body = json!({"name": "kept", "config": file_connector("kept", "kept", &out)});
    assert_eq!(rest.call("POST", "/connectors", Some(body)).await.0, 201);
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 30).await);
    assert_eq!(rest.call("PUT", "/connectors/kept/pause", None).await.0, 202);
    rest.wait_state("kept", "PAUSED").await;
    rest.stop().await;
    let kept: Json = serde_json::from_str(&std::fs::read_to_string(state_dir.join("sluice-connectors.json")).unwrap())
        .expect("the state file is JSON");
    assert_eq!(kept["connectors"]["kept"]["state"], "PAUSED");
    assert_eq!(kept["connectors"]["kept"]["config"]["topics"], "kept");

    // A new process with the same worker file: the connector is back, still paused.
    h.produce("kept", None, &orders(20, 5)).await;
    let rest = Rest::start_with(&h, &worker, vec![]).await;
    assert_eq!(rest.get("/connectors").await.1, json!(["kept"]));
    rest.wait_state("kept", "PAUSED").await;
    assert_eq!(rest.get("/connectors/kept/config").await.1["file"], out.display().to_string());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(output_lines(&out).len(), 30, "nothing written while it stays paused");
    assert_eq!(rest.call("PUT", "/connectors/kept/resume", None).await.0, 202);
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 50).await);
    let offsets = offsets_by_partition(&output_lines(&out)).remove(&0).unwrap();
    assert_eq!(offsets, (0..50).collect::<Vec<_>>(), "resumed from the committed offset: every record once");

    assert_eq!(rest.call("DELETE", "/connectors/kept", None).await.0, 204);
    let kept: Json =
        serde_json::from_str(&std::fs::read_to_string(state_dir.join("sluice-connectors.json")).unwrap()).unwrap();
    assert_eq!(kept["connectors"], json!({}), "a deleted connector is not kept");
    rest.stop().await;
}

/// Runs schemathesis (an OpenAPI conformance tool; `tests/conformance/requirements.txt`,
/// installed by `scripts/test`) against `rest` with Kafka's own OpenAPI file and the checks
/// of `tests/conformance/sluice_checks.py`. Returns its report.
fn schemathesis(h: &Harness, rest: &Rest, selection: &[&str]) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let program = std::env::var("SLUICE_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let config = h.path("schemathesis.toml");
    std::fs::write(
        &config,
        "[parameters]\n\"path.connector\" = \"files\"\n\"path.task\" = 0\n\"path.pluginName\" = \"FileStreamSink\"\n",
    )
    .unwrap();
    let report = h.path("schemathesis.txt");
    let mut child = std::process::Command::new(&program)
        // Its crash cache (`.schemathesis/`) goes to the scratch directory, not the checkout.
        .current_dir(h.dir.path())
        .env("SCHEMATHESIS_HOOKS", "sluice_checks")
        .env("PYTHONPATH", root.join("tests/conformance"))
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(root.join("tests/data/connect_rest-3.9.0.yaml"))
        .args(["--url", &rest.server.url(), "--max-examples", "25", "--seed", "1", "--request-timeout", "60"])
        .args(["--checks", "not_a_server_error,content_type_is_documented,response_headers_conformance,success_body_matches_kafkas_schema,error_body_is_kafka_connects"])
        .args(selection)
        .stdout(std::fs::File::create(&report).unwrap())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("running {program}: {e}; run scripts/test, or `pip install -r tests/conformance/requirements.txt`")
        });
    let status = wait_exit(&mut child, Duration::from_secs(300), "schemathesis");
    let report = std::fs::read_to_string(&report).unwrap();
    assert!(status.success(), "schemathesis found violations of Kafka's OpenAPI file:\n{report}");
    report
}

/// The API checked by an external conformance tool against Kafka's own OpenAPI description
/// of the Connect REST API (3.9): schemathesis generates requests for every operation (valid,
/// invalid, edge cases) against a worker with a live connector, and finds no server error, no
/// 2xx body outside the file's schemas, no undocumented content type and no error body other
/// than Kafka Connect's `{error_code, message}`. The connector is deleted in a second run, so
/// the first reaches it through every other operation.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schemathesis_finds_every_operation_conforming_to_kafkas_openapi_file() {
    let h = Harness::new();
    h.topic("t", 1);
    h.produce("t", Some(0), &orders(5, 2)).await;
    let files =
        h.connector(&format!("name=files\nconnector.class=FileStreamSink\ntopics=t\nfile={}\n", h.path("f").display()));
    let rest = Rest::start(&h, vec![files]).await;

    let all_but_delete = schemathesis(&h, &rest, &["--exclude-operation-id", "destroyConnector"]);
    assert!(all_but_delete.contains("Tested: 28"), "every operation but DELETE was tested:\n{all_but_delete}");
    assert!(!all_but_delete.contains("Missing test data"), "operations reached the live connector:\n{all_but_delete}");
    let delete = schemathesis(&h, &rest, &["--include-operation-id", "destroyConnector"]);
    assert!(delete.contains("Tested: 1"), "{delete}");
    assert_eq!(rest.get("/connectors/files").await.0, 404, "the connector was deleted by the tool");
    rest.stop().await;
}
