//! The plugin sandbox under hostile plugins: loops, traps, memory hogs and chatter never
//! stop the connector; only the guilty records are dead-lettered, with the reason.

use std::time::Duration;

use sluice::pipeline::status::Counters;

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loops_traps_and_memory_hogs_are_isolated_to_their_records() {
    let h = Harness::new();
    h.topic("hostile", 1);
    h.topic("hostile-dlq", 1);
    let values = ["a", "b", "loop", "c", "trap", "d", "oom", "e", "print", "error", "f"];
    h.produce("hostile", Some(0), &values.iter().map(|v| v.to_string()).collect::<Vec<_>>()).await;
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=hostile\nconnector.class=FileStreamSink\ntopics=hostile\nfile={}\nparser.plugin={}\n\
         parser.timeout.ms=300\nparser.memory.max.bytes=67108864\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=hostile-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
        out.display(),
        guest("sluice_test_hostile").display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-hostile", "hostile", 1) == vec![11]).await,
        "committed {:?}, state {:?}",
        h.committed("connect-hostile", "hostile", 1),
        status.state()
    );
    assert!(!status.is_failed());

    let written: Vec<String> =
        output_lines(&out).iter().map(|l| l["output"]["raw"]["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(written, vec!["a", "b", "c", "d", "e", "print", "f"], "innocent records parsed once each, in order");

    let dead = h.read("hostile-dlq", 0, 4);
    let reasons: Vec<(String, String)> = dead
        .iter()
        .map(|m| {
            (header(m, "__connect.errors.offset").unwrap(), header(m, "__connect.errors.exception.class.name").unwrap())
        })
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("2".to_string(), "sluice.timeout".to_string()),
            ("4".to_string(), "sluice.trap".to_string()),
            ("6".to_string(), "sluice.memory".to_string()),
            ("9".to_string(), "sluice.hostile-error".to_string()),
        ]
    );
    assert!(header(&dead[1], "ErrorInfo").unwrap().contains("hostile plugin asked to trap"));
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 4);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_refusing_its_settings_stops_the_start_naming_the_setting() {
    let h = Harness::new();
    h.topic("x", 1);
    let connector = h.connector(&format!(
        "name=refuse\nconnector.class=FileStreamSink\ntopics=x\nfile={}\nparser.plugin={}\nhostile.fail=true\n",
        h.path("o").display(),
        guest("sluice_test_hostile").display()
    ));
    let error = h.start(h.worker(""), vec![connector]).await.err().expect("start must fail");
    let message = format!("{error:#}");
    assert!(message.contains("hostile.fail") && message.contains("refuse"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_that_is_not_a_component_is_refused_with_the_reason() {
    let h = Harness::new();
    h.topic("x", 1);
    let bogus = h.path("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    let connector = h.connector(&format!(
        "name=bogus\nconnector.class=FileStreamSink\ntopics=x\nfile={}\nparser.plugin={}\n",
        h.path("o").display(),
        bogus.display()
    ));
    let error = h.start(h.worker(""), vec![connector]).await.err().expect("start must fail");
    let message = format!("{error:#}");
    assert!(message.contains("bogus.wasm"), "{message}");
}

fn record(value: &str) -> sluice::model::KafkaRecord {
    sluice::model::KafkaRecord {
        topic: "t".into(),
        partition: 0,
        offset: 0,
        timestamp_ms: None,
        key: None,
        value: Some(value.as_bytes().to_vec()),
        headers: vec![],
    }
}

#[test]
fn plugins_cannot_read_files_the_environment_or_the_network() {
    use sluice::model::Output;
    use sluice::plugin::*;
    let runtime = PluginRuntime::new(ComponentCache::new(Some(cache_dir()))).unwrap();
    let plugin = runtime.load(&PluginSource::File(guest("sluice_test_hostile"))).unwrap();
    let mut instance = PluginInstance::new(plugin, &[], PluginLimits::default(), "test".into()).unwrap();
    let results = instance.parse(&[record("escape")]).unwrap();
    let Ok(outputs) = &results[0] else { panic!("{:?}", results[0]) };
    let Output::Raw(raw) = &outputs[0] else { panic!("{outputs:?}") };
    assert_eq!(String::from_utf8_lossy(&raw.data), "file=denied env=0 net=denied");
}

#[test]
fn compiled_components_are_reused_from_the_disk_cache() {
    use sluice::plugin::*;
    let dir = tempfile::tempdir().unwrap();
    let runtime = PluginRuntime::new(ComponentCache::new(Some(dir.path().to_path_buf()))).unwrap();
    let first = runtime.load(&PluginSource::Builtin("json".into())).unwrap();
    assert!(!first.from_cache, "nothing cached yet");
    let second = runtime.load(&PluginSource::Builtin("json".into())).unwrap();
    assert!(second.from_cache, "second load deserialises the cached compilation");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // The cached code runs.
    let mut instance = PluginInstance::new(second, &[], PluginLimits::default(), "test".into()).unwrap();
    assert!(instance.parse(&[record("{\"a\":1}")]).unwrap()[0].is_ok());
}

/// A plugin built against the frozen contract 0.1.0 still loads, and its outputs (lifted
/// through the canonical ABI) reach the host's model as they were built.
#[test]
fn a_plugin_for_contract_0_1_still_parses() {
    use sluice::model::{Column, Output, Row, Value, WriteKind};
    use sluice::plugin::*;
    let runtime = PluginRuntime::new(ComponentCache::new(Some(cache_dir()))).unwrap();
    let plugin = runtime.load(&PluginSource::File(guest("sluice_test_contract_0_1"))).unwrap();
    assert_eq!(plugin.report.contract_version, "0.1.0");
    assert!(!plugin.report.compact);
    let mut instance = PluginInstance::new(plugin, &[], PluginLimits::default(), "test".into()).unwrap();
    let mut first = record("héllo");
    first.offset = 41;
    first.headers = vec![sluice::model::Header { key: "h".into(), value: None }];
    let results = instance.parse(&[first, record("reject")]).unwrap();
    assert_eq!(
        results[0],
        Ok(vec![Output::Row(Row {
            table: None,
            kind: WriteKind::Put,
            primary_key: vec![Column { name: "offset".into(), value: Value::Int64(41) }],
            columns: vec![
                Column { name: "value".into(), value: Value::Text("héllo".into()) },
                Column { name: "headers".into(), value: Value::Int32(1) },
            ],
            deleted_columns: vec![],
        })])
    );
    assert_eq!(results[1].as_ref().unwrap_err().code, "rejected");
}
