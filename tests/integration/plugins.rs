//! Plugins in several languages through the author tools and through a real connector:
//! `sluice plugin test` with expected results, `sluice plugin inspect`, and the examples under
//! `examples/plugins/` running on the embedded broker. The examples are built by
//! `scripts/build-example-plugins` (run by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;
use sluice::plugin::testing::parse_records;

use crate::util::*;

/// (directory, component path relative to it) of each example.
const EXAMPLES: &[(&str, &str)] = &[
    ("rust-accesslog", "target/wasm32-wasip2/release/sluice_example_accesslog.wasm"),
    ("python-csv", "csv_parser.wasm"),
    ("js-sensor", "sensor_parser.wasm"),
];

fn example(dir: &str, wasm: &str) -> (PathBuf, PathBuf) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins").join(dir);
    let component = root.join(wasm);
    assert!(component.is_file(), "{} is missing: run scripts/build-example-plugins", component.display());
    (root, component)
}

fn sluice() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.env("SLUICE_CACHE_DIR", cache_dir()).env("SLUICE_LOG", "warn");
    command
}

fn plugin_test(component: &Path, samples: &Path, expected: &Path) -> std::process::Output {
    sluice()
        .args(["plugin", "test"])
        .arg(component)
        .arg("--settings")
        .arg(samples.join("settings.properties"))
        .arg("--input")
        .arg(samples.join("records.jsonl"))
        .arg("--expect")
        .arg(expected)
        .output()
        .unwrap()
}

#[test]
fn every_example_plugin_passes_its_sample_test() {
    for (dir, wasm) in EXAMPLES {
        let (root, component) = example(dir, wasm);
        let samples = root.join("samples");
        let output = plugin_test(&component, &samples, &samples.join("expected.jsonl"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{dir}: {stdout}{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.starts_with("ok: ") && stdout.contains("records match"), "{dir}: {stdout}");
    }
}

#[test]
fn plugin_test_fails_and_points_at_the_difference() {
    let (root, component) = example("python-csv", "csv_parser.wasm");
    let samples = root.join("samples");
    let expected = std::fs::read_to_string(samples.join("expected.jsonl")).unwrap().replace("\"alice\"", "\"alicia\"");
    let dir = tempfile::tempdir().unwrap();
    let tampered = dir.path().join("expected.jsonl");
    std::fs::write(&tampered, expected).unwrap();
    let output = plugin_test(&component, &samples, &tampered);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(stdout.contains("record #1 differs") && stdout.contains("expected \"alicia\", got \"alice\""), "{stdout}");
    assert!(stdout.contains("FAILED: 1 of 5 records differ"), "{stdout}");
}

#[test]
fn inspect_shows_the_contract_and_refuses_other_versions() {
    let output = sluice().args(["plugin", "inspect"]).arg(guest("sluice_parser_json")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("sluice:plugin/parsing@0.2.0") && stdout.contains("compile time:"), "{stdout}");
    assert!(stdout.contains("sluice:plugin/compact-parsing@0.2.0"), "{stdout}");

    let output = sluice().args(["plugin", "inspect"]).arg(guest("sluice_test_contract_0_1")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("sluice:plugin/parsing@0.1.0"), "{stdout}");

    let output = sluice().args(["plugin", "inspect"]).arg(guest("sluice_test_future_contract")).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("sluice:plugin@1.0.0") && stdout.contains("supports sluice:plugin@0.1.0 and @0.2.0"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connector_refuses_a_plugin_for_another_contract_version() {
    let h = Harness::new();
    h.topic("t", 1);
    let connector = h.connector(&format!(
        "name=future\nconnector.class=FileStreamSink\ntopics=t\nfile={}\nparser.plugin={}\n",
        h.path("o").display(),
        guest("sluice_test_future_contract").display()
    ));
    let error = h.start(h.worker(""), vec![connector]).await.err().expect("must refuse");
    let message = format!("{error:#}");
    assert!(message.contains("1.0.0") && message.contains("0.2.0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_example_plugin_runs_in_a_connector() {
    let h = Harness::new();
    let mut connectors = Vec::new();
    let mut cases = Vec::new();
    for (index, (dir, wasm)) in EXAMPLES.iter().enumerate() {
        let (root, component) = example(dir, wasm);
        let samples = root.join("samples");
        let topic = format!("example-{index}");
        let (dlq, out) = (format!("{topic}-dlq"), h.path(&format!("{dir}.jsonl")));
        h.topic(&topic, 1);
        h.topic(&dlq, 1);
        let mut records = parse_records(&std::fs::read_to_string(samples.join("records.jsonl")).unwrap()).unwrap();
        for record in &mut records {
            record.topic = topic.as_str().into();
            record.partition = 0;
        }
        h.produce_records(&records).await;
        let settings = std::fs::read_to_string(samples.join("settings.properties")).unwrap();
        connectors.push(h.connector(&format!(
            "name={dir}\nconnector.class=FileStreamSink\ntopics={topic}\nfile={}\nparser.plugin={}\n\
             errors.tolerance=all\nerrors.deadletterqueue.topic.name={dlq}\nerrors.deadletterqueue.context.headers.enable=true\n{settings}",
            out.display(),
            component.display()
        )));
        let expected: Vec<Json> = std::fs::read_to_string(samples.join("expected.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        cases.push((dir, topic, dlq, out, records.len() as i64, expected));
    }
    let running = h.start(h.worker(""), connectors).await.unwrap();
    for (dir, topic, dlq, out, count, expected) in &cases {
        assert!(
            wait_until(Duration::from_secs(60), || h.committed(&format!("connect-{dir}"), topic, 1) == vec![*count])
                .await,
            "{dir}: committed {:?}",
            h.committed(&format!("connect-{dir}"), topic, 1)
        );
        let written: Vec<Json> = output_lines(out).into_iter().map(|l| l["output"].clone()).collect();
        let expected_outputs: Vec<Json> =
            expected.iter().filter_map(|e| e["outputs"].as_array()).flatten().cloned().collect();
        assert_eq!(written, expected_outputs, "{dir}: the connector wrote what `plugin test` expects");
        let errors: Vec<&Json> = expected.iter().filter(|e| e.get("error").is_some()).collect();
        let dead = h.read(dlq, 0, errors.len());
        assert_eq!(dead.len(), errors.len(), "{dir}: every rejected record is dead-lettered");
        for (message, error) in dead.iter().zip(errors) {
            assert_eq!(
                header(message, "__connect.errors.exception.class.name").unwrap(),
                format!("sluice.{}", error["error"]["code"].as_str().unwrap())
            );
        }
    }
    running.shutdown();
    running.wait().await;
}

#[test]
fn scaffolded_plugins_build_and_pass_their_own_test_in_every_language() {
    let dir = tempfile::tempdir().unwrap();
    for lang in ["rust", "python", "js"] {
        let name = format!("my-{lang}-parser");
        let output = sluice().current_dir(dir.path()).args(["plugin", "new", "--lang", lang, &name]).output().unwrap();
        assert!(output.status.success(), "{lang}: {}", String::from_utf8_lossy(&output.stderr));
        let project = dir.path().join(&name);
        if lang == "js" {
            // Reuse the example's installed toolchain instead of downloading it again.
            let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/plugins/js-sensor/node_modules");
            std::os::unix::fs::symlink(&modules, project.join("node_modules")).unwrap();
        }
        let output = Command::new("bash")
            .arg("test.sh")
            .current_dir(&project)
            .env("SLUICE", env!("CARGO_BIN_EXE_sluice"))
            .env("SLUICE_CACHE_DIR", cache_dir())
            .env("SLUICE_LOG", "warn")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{lang}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.contains("ok: 4 records match"), "{lang}: {stdout}");
    }
    let again =
        sluice().current_dir(dir.path()).args(["plugin", "new", "--lang", "rust", "my-rust-parser"]).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("already exists"));
}
