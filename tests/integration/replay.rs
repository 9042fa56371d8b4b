//! Dead-letter replay: records a parser rejected are dead-lettered; after the parser is
//! fixed (here: swapped for another plugin), a replay writes what now parses exactly once,
//! dead-letters the rest again with the new reason, and a second replay writes nothing twice.

use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::config::{ConnectorConfig, WorkerConfig};
use sluice::pipeline::replay::{replay, ReplayOptions};
use sluice::plugin::{ComponentCache, PluginRuntime};

use crate::util::*;

fn runtime() -> PluginRuntime {
    PluginRuntime::new(ComponentCache::new(Some(cache_dir()))).unwrap()
}

/// The `raw` text payloads in the output file (the hostile parser echoes values as `raw`).
fn raw_values(path: &std::path::Path) -> Vec<String> {
    output_lines(path).iter().filter_map(|line| line["output"]["raw"]["text"].as_str().map(str::to_string)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fixed_parser_replays_the_dead_letters_once_and_dead_letters_the_rest_again() {
    let h = Harness::new();
    h.topic("events", 2);
    h.topic("events-dlq", 1);
    let out = h.path("out.jsonl");
    let base = format!(
        "name=events\nconnector.class=FileStreamSink\ntopics=events\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=events-dlq\nerrors.deadletterqueue.context.headers.enable=true\n",
        out.display()
    );
    // The built-in JSON parser rejects the three records that are not JSON.
    h.produce("events", Some(0), &[r#"{"n":1}"#.into(), "plain-a".into(), r#"{"n":2}"#.into(), "error".into()]).await;
    h.produce("events", Some(1), &["plain-b".into(), r#"{"n":3}"#.into()]).await;
    let running = h.start(h.worker(""), vec![h.connector(&base)]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-events", "events", 2) == vec![4, 2]).await);
    running.shutdown();
    running.wait().await;
    assert_eq!(output_lines(&out).len(), 3, "the three JSON records were written");
    let dead = h.read("events-dlq", 0, 3);
    assert_eq!(dead.len(), 3);

    // The fix: the same connector with a parser that takes these records (the hostile test
    // parser echoes any value as a `raw` output and still rejects the value `error`).
    let fixed = format!("{base}parser.plugin={}\n", guest("sluice_test_hostile").display());
    let worker = WorkerConfig::from_map(&h.worker("")).unwrap();
    let config = || ConnectorConfig::from_map(&h.connector(&fixed), &worker).unwrap();
    let options = |dry_run| ReplayOptions { from_topic: "events-dlq".into(), since_ms: None, dry_run };

    // A dry run reports what would happen and changes nothing.
    let summary = replay(config(), &worker, &runtime(), None, options(true)).await.unwrap();
    assert_eq!((summary.read, summary.fixed), (3, 2), "{summary:?}");
    assert_eq!(output_lines(&out).len(), 3, "a dry run writes nothing");
    assert_eq!(h.end_offsets("events-dlq", 1), vec![3], "a dry run dead-letters nothing");

    let summary = replay(config(), &worker, &runtime(), None, options(false)).await.unwrap();
    assert_eq!((summary.read, summary.fixed), (3, 2), "{summary:?}");
    let failing: Vec<(&String, usize)> = summary.still_failing.iter().map(|(k, v)| (k, v.count)).collect();
    assert_eq!(failing.len(), 1, "{summary:?}");
    assert!(failing[0].0.contains("hostile-error") && failing[0].1 == 1, "{summary:?}");
    assert!(summary.to_text().contains("fixed (written): 2"), "{}", summary.to_text());
    let mut replayed = raw_values(&out);
    replayed.sort();
    assert_eq!(replayed, vec!["plain-a", "plain-b"], "each fixed record written once");
    // Written under their original coordinates.
    let coordinates: Vec<Json> = output_lines(&out)
        .iter()
        .filter(|l| l["output"].get("raw").is_some())
        .map(|l| json!([l["topic"], l["partition"], l["offset"]]))
        .collect();
    assert!(coordinates.contains(&json!(["events", 0, 1])) && coordinates.contains(&json!(["events", 1, 0])));
    // The record that still fails is dead-lettered again, with the new reason and its
    // original coordinates.
    let dead = h.read("events-dlq", 0, 4);
    assert_eq!(dead.len(), 4);
    assert_eq!(header(&dead[3], "__connect.errors.topic").as_deref(), Some("events"));
    assert_eq!(header(&dead[3], "__connect.errors.offset").as_deref(), Some("3"));
    assert_eq!(header(&dead[3], "__connect.errors.exception.class.name").as_deref(), Some("sluice.hostile-error"));

    // Replaying again reads only the new dead letter: nothing is written twice.
    let summary = replay(config(), &worker, &runtime(), None, options(false)).await.unwrap();
    assert_eq!((summary.read, summary.fixed), (1, 0), "{summary:?}");
    let mut replayed = raw_values(&out);
    replayed.sort();
    assert_eq!(replayed, vec!["plain-a", "plain-b"]);
    assert_eq!(output_lines(&out).len(), 5);
}

/// `sluice dlq replay` on the command line, with `--since` after every dead letter: nothing
/// to replay; and a connector without a dead-letter topic is refused unless `--dry-run`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_command_line_replays_since_a_time_and_needs_a_dead_letter_topic() {
    let h = Harness::new();
    h.topic("in", 1);
    h.topic("in-dlq", 1);
    let worker = h.path("worker.properties");
    std::fs::write(
        &worker,
        format!("bootstrap.servers={}\nsluice.plugin.cache.dir={}\n", h.bootstrap, cache_dir().display()),
    )
    .unwrap();
    let connector = h.path("c.properties");
    std::fs::write(
        &connector,
        format!(
            "name=c\nconnector.class=FileStreamSink\ntopics=in\nfile={}\nerrors.tolerance=all\n\
             errors.deadletterqueue.topic.name=in-dlq\nerrors.deadletterqueue.context.headers.enable=true\n",
            h.path("out.jsonl").display()
        ),
    )
    .unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .env("SLUICE_LOG", "warn")
            .args(["dlq", "replay"])
            .arg(&connector)
            .arg("--worker")
            .arg(&worker)
            .args(["--from-topic", "in-dlq"])
            .args(extra)
            .output()
            .unwrap()
    };
    let output = run(&["--since", "2999-01-01T00:00:00Z", "--json"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let summary: Json = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((summary["read"].as_u64(), summary["fixed"].as_u64()), (Some(0), Some(0)), "{summary}");

    std::fs::write(
        &connector,
        format!("name=c\nconnector.class=FileStreamSink\ntopics=in\nfile={}\n", h.path("out.jsonl").display()),
    )
    .unwrap();
    let output = run(&[]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("errors.deadletterqueue.topic.name"));
    let output = run(&["--dry-run"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("dry run"));
}

/// `POST /connectors/{name}/dlq/replay` on a running connector uses the parser it runs now:
/// after a swap to a parser that takes the records, the replay writes them once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_rest_endpoint_replays_through_the_parser_the_connector_runs_now() {
    let h = Harness::new();
    h.topic("in", 1);
    h.topic("in-dlq", 1);
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=live\nconnector.class=FileStreamSink\ntopics=in\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=in-dlq\nerrors.deadletterqueue.context.headers.enable=true\n",
        out.display()
    ));
    let running = h.start(h.worker("listeners=http://127.0.0.1:0\n"), vec![connector]).await.unwrap();
    let server = sluice::api::RestServer::start(running.worker()).await.unwrap();
    h.produce("in", Some(0), &[r#"{"n":1}"#.into(), "not-json".into()]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-live", "in", 1) == vec![2]).await);
    assert_eq!(h.end_offsets("in-dlq", 1), vec![1]);

    let spec = sluice::pipeline::swap::ParserSpec {
        source: sluice::plugin::PluginSource::File(guest("sluice_test_hostile")),
        settings: Vec::new(),
        limits: sluice::plugin::PluginLimits::default(),
    };
    running.worker().swapper("live").unwrap().swap(spec).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let response = http
        .post(format!("{}/connectors/live/dlq/replay", server.url()))
        .header("content-type", "application/json")
        .body(json!({"dry_run": false}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let summary: Json = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((summary["read"].as_u64(), summary["fixed"].as_u64()), (Some(1), Some(1)), "{summary}");
    assert_eq!(raw_values(&out), vec!["not-json"]);
    assert_eq!(h.end_offsets("in-dlq", 1), vec![1], "nothing dead-lettered again");
    let response = http.post(format!("{}/connectors/nope/dlq/replay", server.url())).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 404);
    server.stop();
    running.shutdown();
    running.wait().await;
}
