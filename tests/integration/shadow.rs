//! Shadow runs over the REST API: a candidate parser beside the live one reports exactly the
//! differences it has, with the records' coordinates, while the live path writes and commits
//! as before (a trapping candidate included); promotion swaps it in live.

use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::api::RestServer;
use sluice::app::Standalone;

use crate::util::*;

struct Rest {
    running: Standalone,
    server: RestServer,
    http: reqwest::Client,
}

impl Rest {
    async fn call(&self, method: &str, path: &str, body: Option<&Json>) -> (u16, Json) {
        crate::util::http_json(&self.http, method, format!("{}{path}", self.server.url()), body).await
    }
}

fn raw_texts(lines: &[Json]) -> Vec<String> {
    lines.iter().map(|l| l["output"]["raw"]["text"].as_str().unwrap_or_default().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shadow_run_reports_the_known_differences_and_promotion_swaps_the_candidate_in() {
    let h = Harness::new();
    h.topic("events", 1);
    let out = h.path("out.jsonl");
    let live_config = json!({
        "name": "events",
        "connector.class": "FileStreamSink",
        "topics": "events",
        "file": out.display().to_string(),
        "parser.plugin": guest("sluice_test_tagger").display().to_string(),
        "tagger.tag": "v1",
        "errors.tolerance": "all",
    });
    let connector = h.connector(
        &live_config
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={}\n", v.as_str().unwrap()))
            .collect::<String>(),
    );
    let running = h.start(h.worker("listeners=http://127.0.0.1:0\n"), vec![connector]).await.unwrap();
    let server = RestServer::start(running.worker()).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
    let rest = Rest { running, server, http };

    // Nothing to report before a run, and a candidate that changes more than parser keys is
    // refused naming the key.
    assert_eq!(rest.call("GET", "/connectors/events/shadow", None).await.0, 404);
    let mut other_file = live_config.clone();
    other_file["file"] = json!(h.path("elsewhere.jsonl").display().to_string());
    let (status, body) = rest.call("PUT", "/connectors/events/shadow", Some(&other_file)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("not parser keys: file"), "{body}");

    // A candidate that refuses its settings is refused with the plugin's reason; nothing runs.
    let mut refusing = live_config.clone();
    refusing["parser.plugin"] = json!(guest("sluice_test_hostile").display().to_string());
    refusing["hostile.fail"] = json!("true");
    let (status, body) = rest.call("PUT", "/connectors/events/shadow", Some(&refusing)).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("hostile.fail"), "{body}");
    assert_eq!(rest.call("GET", "/connectors/events/shadow", None).await.0, 404);

    // The candidate: the hostile plugin, which echoes values, traps on `trap` and refuses `error`.
    let mut candidate = live_config.clone();
    candidate["parser.plugin"] = json!(guest("sluice_test_hostile").display().to_string());
    let (status, body) = rest.call("PUT", "/connectors/events/shadow", Some(&candidate)).await;
    assert_eq!(status, 201, "{body}");

    let values = ["a", "trap", "b", "error", "c"];
    h.produce("events", Some(0), &values.map(String::from)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let report = loop {
        let (_, report) = rest.call("GET", "/connectors/events/shadow", None).await;
        if report["records_compared"] == 5 {
            break report;
        }
        assert!(std::time::Instant::now() < deadline, "the candidate never compared 5 records: {report:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The live path wrote every record with the live parser, and committed them.
    assert!(wait_until(Duration::from_secs(30), || line_count(&out) == 5).await);
    assert_eq!(raw_texts(&output_lines(&out)), values.map(|v| format!("v1:{v}")));
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-events", "events", 1) == [5]).await);
    let (_, status) = rest.call("GET", "/connectors/events/status", None).await;
    assert_eq!(status["connector"]["state"], "RUNNING", "{status}");

    assert_eq!(report["candidate"], json!(guest("sluice_test_hostile").display().to_string()), "{report:#}");
    assert_eq!(
        report["counts"],
        json!({"missing": 0, "extra": 0, "value_differs": 3, "error_only_live": 0, "error_only_candidate": 2}),
        "{report:#}"
    );
    assert_eq!((report["records_agreeing"].as_u64(), report["records_differing"].as_u64()), (Some(0), Some(5)));
    let differences = report["differences"].as_array().unwrap();
    let coordinates: Vec<(i64, &str)> = differences
        .iter()
        .map(|d| {
            assert_eq!((d["topic"].as_str(), d["partition"].as_i64()), (Some("events"), Some(0)), "{d}");
            (d["offset"].as_i64().unwrap(), d["kind"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        coordinates,
        [
            (0, "value_differs"),
            (1, "error_only_candidate"),
            (2, "value_differs"),
            (3, "error_only_candidate"),
            (4, "value_differs")
        ]
    );
    assert_eq!(differences[0]["output"], 0);
    assert_eq!(differences[0]["detail"], "data: live \"v1:a\", candidate \"a\"");
    assert!(differences[1]["detail"].as_str().unwrap().starts_with("candidate: trap:"), "{}", differences[1]);
    assert_eq!(differences[1]["output"], Json::Null);
    assert!(differences[3]["detail"].as_str().unwrap().contains("hostile-error: asked to fail"), "{}", differences[3]);
    assert!(report["live_us_per_record"].as_f64().unwrap() > 0.0, "{report:#}");
    assert!(report["candidate_us_per_record"].as_f64().unwrap() > 0.0, "{report:#}");
    assert_eq!(report["batches_skipped"], 0);

    // Promotion swaps the candidate in and ends the run; records after it follow the candidate.
    let (status, body) = rest.call("POST", "/connectors/events/shadow/promote", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["config"]["parser.plugin"], candidate["parser.plugin"], "{body}");
    assert_eq!(rest.call("GET", "/connectors/events/shadow", None).await.0, 404);
    h.produce("events", Some(0), &["d".to_string(), "e".to_string()]).await;
    assert!(wait_until(Duration::from_secs(30), || line_count(&out) == 7).await, "{:?}", output_lines(&out));
    assert_eq!(raw_texts(&output_lines(&out))[5..], ["d", "e"]);

    // A run can be stopped; stopping twice finds none.
    let (status, body) = rest.call("PUT", "/connectors/events/shadow", Some(&live_config)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(rest.call("DELETE", "/connectors/events/shadow", None).await.0, 204);
    assert_eq!(rest.call("DELETE", "/connectors/events/shadow", None).await.0, 404);
    assert_eq!(rest.call("POST", "/connectors/events/shadow/promote", None).await.0, 404);

    rest.server.stop();
    rest.running.shutdown();
    rest.running.wait().await;
}
