//! The schema check at load: a parser whose outputs do not fit the target's table is
//! refused when the connector starts (and when a swap would install it), naming the
//! column, instead of failing every record later.

use std::time::Duration;

use serde_json::json;
use sluice_standins::{Service, Stderr};

use crate::util::*;

/// A MaxCompute stand-in with `tables` (`name -> [(column, type)]`, partitioned by `pt`).
fn maxcompute(tables: &[(&str, &[(&str, &str)])]) -> (sluice_standins::Standin, String) {
    let tables: serde_json::Map<String, serde_json::Value> = tables
        .iter()
        .map(|(name, columns)| {
            let columns: Vec<serde_json::Value> = columns.iter().map(|(n, t)| json!([n, t])).collect();
            (name.to_string(), json!({"columns": columns, "partitions": ["pt"]}))
        })
        .collect();
    let config = json!({"project": "p1", "access_id": "LTAI-test", "access_key": "secret-test", "tables": tables});
    let process = sluice_standins::Standin::start(Service::MaxCompute, &[&config.to_string()], Stderr::Inherit);
    let endpoint = format!("http://127.0.0.1:{}/api", process.named_port("service"));
    (process, endpoint)
}

fn connector(h: &Harness, endpoint: &str, table: &str, extra: &str) -> sluice::config::ConfigMap {
    h.connector(&format!(
        "name={table}\nconnector.class=MaxComputeSinkConnector\ntopics={table}\nendpoint={endpoint}\nproject=p1\n\
         table={table}\naccess_id=LTAI-test\naccess_key=secret-test\n{extra}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_table_without_the_parsers_column_is_refused_at_start_naming_it() {
    // `renamed` calls the value column `payload`; `flagged` has a BOOLEAN `offset`.
    let renamed: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("payload", "string")];
    let flagged: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "boolean"), ("key", "string"), ("value", "string")];
    let (_process, endpoint) = maxcompute(&[("renamed", renamed), ("flagged", flagged)]);
    let h = Harness::new();
    for topic in ["renamed", "flagged"] {
        h.topic(topic, 2);
        h.produce(topic, Some(0), &["k\tv0".to_string(), "k\tv1".to_string()]).await;
    }

    let error = h.start(h.worker(""), vec![connector(&h, &endpoint, "renamed", "")]).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(message.contains("has no column `value`"), "{message}");
    assert!(message.contains("sluice.schema.check=false"), "{message}");

    let error = h.start(h.worker(""), vec![connector(&h, &endpoint, "flagged", "")]).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(message.contains("column `offset`") && message.contains("BOOLEAN"), "{message}");

    // Turned off, the connector starts and the records fail one by one.
    let running = h
        .start(
            h.worker(""),
            vec![connector(&h, &endpoint, "renamed", "sluice.schema.check=false\nerrors.tolerance=all\n")],
        )
        .await
        .unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-renamed", "renamed", 2) == vec![2, -1]).await);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fitting_table_starts_and_a_swap_to_a_parser_that_does_not_fit_is_refused() {
    let columns: &[(&str, &str)] =
        &[("topic", "string"), ("partition", "bigint"), ("offset", "bigint"), ("key", "string"), ("value", "string")];
    let (_process, endpoint) = maxcompute(&[("fits", columns)]);
    let h = Harness::new();
    h.topic("fits", 1);
    h.produce("fits", Some(0), &["k\tv0".to_string()]).await;
    let running = h.start(h.worker(""), vec![connector(&h, &endpoint, "fits", "")]).await.unwrap();
    let swapper = running.worker().swapper("fits").expect("running");
    let before = swapper.current().number;
    // The hostile test parser emits `raw` outputs, which a MaxCompute table never takes.
    let spec = sluice::pipeline::swap::ParserSpec {
        source: sluice::plugin::PluginSource::File(guest("sluice_test_hostile")),
        settings: Vec::new(),
        limits: sluice::plugin::PluginLimits::default(),
    };
    let error = swapper.swap(spec).await.expect_err("refused");
    assert!(format!("{error:#}").contains("writes rows"), "{error:#}");
    assert_eq!(swapper.current().number, before, "the running parser stays");
    running.shutdown();
    running.wait().await;
}

/// Tablestore: a plugin whose primary key is not the table's (`client, time` against
/// `topic_partition, offset`) is refused at start, naming the column, although the
/// connector's own key settings match the table.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plugin_whose_primary_key_is_not_the_tables_is_refused_at_start_naming_the_column() {
    let plugin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/plugins/rust-accesslog/target/wasm32-wasip2/release/sluice_example_accesslog.wasm");
    assert!(plugin.is_file(), "{} is missing: run scripts/build-example-plugins", plugin.display());
    let s = crate::tablestore::Standin::start();
    let h = Harness::new();
    h.topic("access", 1);
    let base = format!(
        "name=access\nconnector.class=TableStoreSinkConnector\ntopics=access\n{}auto.create=true\nprimarykey.mode=kafka\n",
        s.keys()
    );
    // The table is made with the Kafka-coordinates key (topic_partition, offset).
    let running = h.start(h.worker(""), vec![h.connector(&base)]).await.unwrap();
    running.shutdown();
    running.wait().await;
    let lines: Vec<String> = (0..3)
        .map(|i| format!(r#"10.0.0.{i} - - [01/Jan/2024:00:00:0{i} +0000] "GET /a HTTP/1.1" 200 {i} "-" "curl""#))
        .collect();
    h.produce("access", Some(0), &lines).await;

    let with_plugin = format!("{base}parser.plugin={}\n", plugin.display());
    let error = h.start(h.worker(""), vec![h.connector(&with_plugin)]).await.err().expect("refused");
    let message = format!("{error:#}");
    assert!(message.contains("table `access`"), "{message}");
    assert!(message.contains("column `client` where the table has `topic_partition`"), "{message}");
    assert!(s.rows("access").await.is_empty(), "nothing was written");
}
