//! At-least-once delivery: ordering, commits, the dead-letter path and `tolerance=none`.

use std::time::Duration;

use rdkafka::message::Message;
use sluice::pipeline::status::{ConnectorState, Counters};

use crate::util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_record_arrives_once_in_partition_order_and_end_offsets_are_committed() {
    let h = Harness::new();
    h.topic("orders", 3);
    h.produce("orders", None, &orders(600, 17)).await;
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=orders-sink\nconnector.class=FileStreamSink\ntopics=orders\ntasks.max=2\nsluice.parser.threads=3\nfile={}\n",
        out.display()
    ));
    let running = h.start(h.worker("consumer.max.poll.records=50\n"), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    let end = h.end_offsets("orders", 3);
    assert_eq!(end.iter().sum::<i64>(), 600);
    let committed_all =
        wait_until(Duration::from_secs(30), || h.committed("connect-orders-sink", "orders", 3) == end).await;
    assert!(committed_all, "committed {:?}, end {end:?}", h.committed("connect-orders-sink", "orders", 3));

    let lines = output_lines(&out);
    assert_eq!(lines.len(), 600, "exactly one output per record");
    for (partition, offsets) in offsets_by_partition(&lines) {
        let expected: Vec<i64> = (0..end[partition as usize]).collect();
        assert_eq!(offsets, expected, "partition {partition} in order, no gap, no duplicate");
    }
    let first = &lines[0]["output"]["row"];
    assert_eq!(first["primary_key"][0]["name"], "topic_partition");
    assert_eq!(Counters::get(&status.counters.all_tasks.records_read), 600);
    assert_eq!(Counters::get(&status.counters.all_tasks.records_written), 600);
    running.shutdown();
    running.wait().await;
    assert_eq!(status.state(), ConnectorState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_records_are_dead_lettered_with_error_info_and_offsets_move_past_them() {
    let h = Harness::new();
    h.topic("events", 1);
    h.topic("events-dlq", 1);
    let lines: Vec<String> = vec![
        "a\t{\"n\":0}".into(),
        "b\t{\"n\":1,".into(),
        "c\t{\"n\":2}".into(),
        "d\tnot json".into(),
        "e\t{\"n\":4}".into(),
    ];
    h.produce("events", Some(0), &lines).await;
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=dlq-test\nconnector.class=FileStreamSink\ntopics=events\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=events-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
        out.display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-dlq-test", "events", 1) == vec![5]).await);

    let written: Vec<i64> = output_lines(&out).iter().map(|l| l["offset"].as_i64().unwrap()).collect();
    assert_eq!(written, vec![0, 2, 4]);
    let dead = h.read("events-dlq", 0, 2);
    assert_eq!(dead.len(), 2);
    assert_eq!(dead[0].key(), Some(&b"b"[..]), "original key kept");
    assert_eq!(dead[0].payload(), Some(&b"{\"n\":1,"[..]), "original value kept");
    assert_eq!(header(&dead[0], "__connect.errors.offset").as_deref(), Some("1"));
    assert_eq!(header(&dead[1], "__connect.errors.offset").as_deref(), Some("3"));
    assert_eq!(header(&dead[0], "__connect.errors.topic").as_deref(), Some("events"));
    assert_eq!(header(&dead[0], "__connect.errors.connector.name").as_deref(), Some("dlq-test"));
    assert_eq!(header(&dead[0], "__connect.errors.stage").as_deref(), Some("VALUE_CONVERTER"));
    let info = header(&dead[1], "ErrorInfo").unwrap();
    assert!(info.contains("events-0@3") && info.contains("invalid-json"), "{info}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn runtime_error_keys_route_to_a_kafka_error_topic() {
    let h = Harness::new();
    h.topic("t", 1);
    h.topic("t-errors", 1);
    h.produce("t", Some(0), &["{\"ok\":true}".into(), "{".into()]).await;
    let connector = h.connector(&format!(
        "name=rt\nconnector.class=FileStreamSink\ntopics=t\nfile={}\nruntime.error.tolerance=all\n\
         runtime.error.mode=kafka\nruntime.error.topic.name=t-errors\nruntime.error.bootstrap.servers={}\n",
        h.path("o").display(),
        h.bootstrap
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-rt", "t", 1) == vec![2]).await);
    let dead = h.read("t-errors", 0, 1);
    assert_eq!(dead.len(), 1);
    assert!(header(&dead[0], "ErrorInfo").unwrap().contains("t-0@1"));
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tolerance_none_fails_the_connector_and_never_commits_past_the_bad_record() {
    let h = Harness::new();
    h.topic("strict", 1);
    let mut lines = orders(10, 3);
    lines.push("bad\t{oops".into());
    lines.extend(orders(5, 3));
    h.produce("strict", Some(0), &lines).await;
    let connector = h.connector(&format!(
        "name=strict\nconnector.class=FileStreamSink\ntopics=strict\nfile={}\n",
        h.path("o").display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(wait_until(Duration::from_secs(30), || status.is_failed()).await, "connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { unreachable!() };
    assert!(reason.contains("strict-0@10") && reason.contains("invalid-json"), "{reason}");
    running.shutdown();
    running.wait().await;
    assert_eq!(h.committed("connect-strict", "strict", 1), vec![10], "commit stops right before offset 10");
    assert_eq!(output_lines(&h.path("o")).len(), 10, "nothing past the bad record is written, as in Kafka Connect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn topics_regex_subscribes_to_matching_topics() {
    let h = Harness::new();
    h.topic("sensor-a", 1);
    h.topic("sensor-b", 2);
    h.topic("other", 1);
    h.produce("sensor-a", None, &orders(5, 1)).await;
    h.produce("sensor-b", None, &orders(7, 3)).await;
    h.produce("other", None, &orders(3, 1)).await;
    let out = h.path("o.jsonl");
    let connector = h.connector(&format!(
        "name=rx\nconnector.class=FileStreamSink\ntopics.regex=sensor-.*\nfile={}\n",
        out.display()
    ));
    let running =
        h.start(h.worker("consumer.topic.metadata.refresh.interval.ms=200\n"), vec![connector]).await.unwrap();
    assert!(
        wait_until(Duration::from_secs(30), || output_lines(&out).len() == 12).await,
        "got {} lines",
        output_lines(&out).len()
    );
    assert!(output_lines(&out).iter().all(|l| l["topic"].as_str().unwrap().starts_with("sensor-")));
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sink_that_keeps_failing_pauses_consumption_at_the_inflight_cap_and_commits_nothing() {
    let h = Harness::new();
    h.topic("full", 2);
    h.produce("full", None, &orders(2000, 11)).await;
    let connector = h.connector(
        "name=full\nconnector.class=FileStreamSink\ntopics=full\nfile=/dev/full\n\
         sluice.max.inflight.records=50\nconsumer.override.max.poll.records=10\n",
    );
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(wait_until(Duration::from_secs(20), || Counters::get(&status.counters.all_tasks.retries) >= 3).await);
    let read = Counters::get(&status.counters.all_tasks.records_read);
    // Three more failed attempts later (at least 1.4 s of backoff), still nothing more read.
    let retries = Counters::get(&status.counters.all_tasks.retries);
    assert!(
        wait_until(Duration::from_secs(30), || Counters::get(&status.counters.all_tasks.retries) >= retries + 3).await
    );
    let read_later = Counters::get(&status.counters.all_tasks.records_read);
    assert!(read_later <= 100, "read {read_later} records with a cap of 50: consumption must pause");
    assert_eq!(read, read_later, "nothing more is read while the pipeline is full");
    assert_eq!(Counters::get(&status.counters.all_tasks.records_written), 0);
    assert!(!status.is_failed(), "a retryable sink error does not fail the connector");
    // Nothing was written: every record of both partitions counts as lag.
    let lag_total = || status.lag().iter().map(|(_, _, records)| records).sum::<i64>();
    assert!(wait_until(Duration::from_secs(10), || lag_total() == 2000).await, "lag {:?}", status.lag());
    running.shutdown();
    running.wait().await;
    assert_eq!(h.committed("connect-full", "full", 2), vec![-1, -1], "nothing written, nothing committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_instance_joining_the_group_splits_partitions_without_losing_records() {
    let h = Harness::new();
    h.topic("shared", 4);
    h.produce("shared", None, &orders(800, 23)).await;
    let config = |file: &str| {
        h.connector(&format!(
            "name=shared\nconnector.class=FileStreamSink\ntopics=shared\nfile={}\n",
            h.path(file).display()
        ))
    };
    let first = h.start(h.worker(""), vec![config("a.jsonl")]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || line_count(&h.path("a.jsonl")) >= 100).await);
    // What the group had committed before the second member joined: commits only move
    // forward, so no member may ever go back before it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let committed_before = h.committed("connect-shared", "shared", 4);
    let second = h.start(h.worker(""), vec![config("b.jsonl")]).await.unwrap();
    let second_status = second.statuses()[0].clone();
    let first_status = first.statuses()[0].clone();
    // Once the group has rebalanced onto both members, add records for both.
    assert!(
        wait_until(Duration::from_secs(30), || second_status.assigned() > 0 && first_status.assigned() < 4).await,
        "the second instance never got partitions"
    );
    h.produce("shared", None, &orders(800, 29)).await;
    let end = h.end_offsets("shared", 4);
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-shared", "shared", 4) == end).await,
        "committed {:?} end {end:?}",
        h.committed("connect-shared", "shared", 4)
    );
    // A member writes a partition's records in order, except that it may go back to the
    // group's last commit when it gets the partition back in the rebalance: librdkafka's mock
    // broker refuses commits while the group rebalances (REBALANCE_IN_PROGRESS; Kafka accepts
    // the revoking member's commit), so what was written since the last commit is written
    // again. Such steps are counted, and never go back before what was committed before the
    // second member joined.
    let a = output_lines(&h.path("a.jsonl"));
    let b = output_lines(&h.path("b.jsonl"));
    let mut replays = 0;
    for (file, lines) in [("a", &a), ("b", &b)] {
        for (partition, offsets) in offsets_by_partition(lines) {
            for step in offsets.windows(2).filter(|w| w[1] <= w[0]) {
                let floor = committed_before[partition as usize];
                assert!(
                    step[1] >= floor,
                    "member {file} re-read partition {partition} from {}, before the commit {floor}: {offsets:?}",
                    step[1]
                );
                replays += 1;
            }
        }
    }
    // Together they wrote every record; a record both wrote (written by the old owner after
    // its last commit, then read again by the new one) is counted.
    let mut lines = a;
    lines.extend(b);
    let duplicates = every_offset_at_least_once(offsets_by_partition(&lines), &end);
    println!(
        "rebalance: {} records written, {duplicates} of them twice (the handover window), {replays} partitions re-read by the same member",
        lines.len()
    );
    assert!(Counters::get(&second_status.counters.all_tasks.records_read) > 0, "the second member got partitions");
    first.shutdown();
    second.shutdown();
    first.wait().await;
    second.wait().await;
}

/// A poison matrix through the built-in JSON parser into the file sink: invalid JSON, invalid
/// UTF-8, JSON nested 10,000 deep and a 2 MB value whose JSON is cut short are dead-lettered
/// with their reasons; good records, a top-level array (one `value` column) and a tombstone
/// (no output) are handled; nothing is lost and the connector never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_matrix_is_dead_lettered_record_by_record_and_every_good_record_is_written() {
    let h = Harness::new();
    h.topic("poison", 1);
    h.topic("poison-dlq", 1);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_cut = format!("{{\"blob\":\"{}", "x".repeat(2 << 20));
    let values: Vec<(Option<Vec<u8>>, &str)> = vec![
        (Some(br#"{"n":0}"#.to_vec()), "good"),
        (Some(br#"{"n":"#.to_vec()), "invalid JSON"),
        (Some(b"{\"\xff\":1}".to_vec()), "invalid UTF-8"),
        (Some(br#"{"n":3}"#.to_vec()), "good"),
        (None, "tombstone"),
        (Some(b"[1,2,3]".to_vec()), "array"),
        (Some(deep.into_bytes()), "nested 10,000 deep"),
        (Some(huge_cut.into_bytes()), "2 MB, cut short"),
        (Some(br#"{"n":8}"#.to_vec()), "good"),
    ];
    let records: Vec<_> =
        values.iter().enumerate().map(|(i, (value, _))| record("poison", 0, &format!("k{i}"), value.clone())).collect();
    h.produce_records(&records).await;
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=poison\nconnector.class=FileStreamSink\ntopics=poison\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=poison-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
        out.display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-poison", "poison", 1) == vec![9]).await,
        "committed {:?}",
        h.committed("connect-poison", "poison", 1)
    );
    let written: Vec<i64> = output_lines(&out).iter().map(|l| l["offset"].as_i64().unwrap()).collect();
    assert_eq!(written, vec![0, 3, 5, 8], "the good records and the array, once each, in order");
    let dead = h.read("poison-dlq", 0, 4);
    let dead_offsets: Vec<String> =
        dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap_or_default()).collect();
    assert_eq!(dead_offsets, ["1", "2", "6", "7"], "each bad record dead-lettered once");
    for message in &dead {
        let offset: usize = header(message, "__connect.errors.offset").unwrap().parse().unwrap();
        assert_eq!(message.payload().map(<[u8]>::to_vec), values[offset].0, "{}: original bytes", values[offset].1);
        let info = header(message, "ErrorInfo").unwrap();
        assert!(info.contains("invalid-json"), "{}: {info}", values[offset].1);
    }
    assert!(
        header(&dead[2], "ErrorInfo").unwrap().contains("recursion limit"),
        "the reason names the nesting: {:?}",
        header(&dead[2], "ErrorInfo")
    );
    assert!(!status.is_failed());
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 4);
    assert_eq!(Counters::get(&status.counters.all_tasks.records_without_output), 1, "the tombstone");
    running.shutdown();
    running.wait().await;
}

/// The broker goes down mid-stream for five seconds (connections closed and refused, as in a
/// broker restart) and comes back: reading, writing and committing resume by themselves,
/// every record is written, committed offsets equal the end offsets, and no commit sampled
/// during the whole run (outage included) is ever past what the file holds. Records written
/// twice (after the last commit before the outage) are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_outage_mid_stream_loses_nothing_and_never_commits_past_written_records() {
    let h = Harness::new();
    h.topic("restart", 2);
    h.produce("restart", None, &orders(6000, 17)).await;
    let out = h.path("out.jsonl");
    // A record at a time keeps the backlog from being written before the outage begins.
    let c = h.connector(&format!(
        "name=restart\nconnector.class=FileStreamSink\ntopics=restart\nfile={}\nsluice.max.inflight.records=1\n",
        out.display()
    ));
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    let status = running.statuses()[0].clone();
    // Samples the group's committed offsets, then what the file holds: a commit is never
    // ahead of the records written before it.
    let check = |label: &str| {
        let written = || offsets_by_partition(&output_lines_lenient(&out).0);
        assert_commits_written(&h, "connect-restart", "restart", 2, written, label);
    };
    assert!(wait_until(Duration::from_secs(30), || line_count(&out) >= 300).await, "no progress before the outage");
    check("before the outage");
    h.kafka.set_broker_up(false).unwrap();
    let lines_at_outage = line_count(&out);
    assert!(lines_at_outage < 6000, "the outage began after the backlog was written: {lines_at_outage}");
    tokio::time::sleep(Duration::from_secs(5)).await;
    h.kafka.set_broker_up(true).unwrap();
    check("after the outage");
    h.produce("restart", None, &orders(1000, 5)).await;
    let end = h.end_offsets("restart", 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while h.committed("connect-restart", "restart", 2) != end {
        assert!(std::time::Instant::now() < deadline, "never caught up: {:?} of {end:?}", status.state());
        check("catching up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!status.is_failed(), "{:?}", status.state());
    let lines = output_lines(&out);
    let duplicates = every_offset_at_least_once(offsets_by_partition(&lines), &end);
    println!("broker outage: {} lines ({lines_at_outage} before it), {duplicates} written twice", lines.len());
    running.shutdown();
    running.wait().await;
}

/// A chain over Kafka Connect envelopes (`schemas.enable=true`) into the file sink: the schema
/// is edited with the value (Cast to string, ReplaceField's exclude and rename, InsertField's
/// topic field), so the parser types the columns by the new schema, as a Kafka Connect sink
/// receiving the transformed Struct would.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transforms_edit_envelopes_and_their_schema_before_the_parser() {
    let h = Harness::new();
    h.topic("stock", 1);
    let envelope = r#"{"schema":{"type":"struct","optional":false,"fields":[{"field":"sku","type":"string","optional":false},{"field":"qty","type":"int32","optional":false},{"field":"secret","type":"string","optional":true}]},"payload":{"sku":"A-1","qty":7,"secret":"x"}}"#;
    h.produce("stock", Some(0), &[envelope.to_string()]).await;
    let out = h.path("stock.jsonl");
    let connector = h.connector(&format!(
        "name=stock\nconnector.class=FileStreamSink\ntopics=stock\nfile={}\n\
         value.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=true\n\
         transforms=cast,fields,origin\n\
         transforms.cast.type=org.apache.kafka.connect.transforms.Cast$Value\ntransforms.cast.spec=qty:string\n\
         transforms.fields.type=org.apache.kafka.connect.transforms.ReplaceField$Value\n\
         transforms.fields.exclude=secret\ntransforms.fields.renames=sku:item\n\
         transforms.origin.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.origin.topic.field=source_topic\n",
        out.display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-stock", "stock", 1) == vec![1]).await);
    running.shutdown();
    running.wait().await;
    let lines = output_lines(&out);
    let columns = &lines[0]["output"]["row"]["columns"];
    assert_eq!(
        columns,
        &serde_json::json!([{"name": "item", "text": "A-1"}, {"name": "qty", "text": "7"}, {"name": "source_topic", "text": "stock"}]),
        "{}",
        lines[0]
    );
}
