//! The dead-letter path under stress: records too big for a default producer, and
//! dead-letter writes that cannot succeed.

use std::time::Duration;

use rdkafka::message::Message;
use sluice::model::KafkaRecord;
use sluice::pipeline::status::ConnectorState;

use crate::util::*;

/// A value the JSON parser rejects, `size` bytes long.
fn poison(size: usize) -> Vec<u8> {
    let mut value = b"{\"blob\":\"".to_vec();
    value.resize(size, b'x');
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_record_over_one_megabyte_is_dead_lettered_whole_with_default_settings() {
    let h = Harness::new();
    h.topic("big", 3);
    let huge = poison(2 * 1024 * 1024 + 17);
    let mut records = Vec::new();
    for partition in 0..3 {
        for i in 0..4 {
            records.push(record("big", partition, &format!("k{i}"), format!("{{\"n\":{i}}}").into_bytes()));
        }
    }
    records.insert(5, record("big", 1, "huge", huge.clone()));
    records.push(record("big", 2, "small-poison", b"not json".to_vec()));
    h.produce_records(&records).await;
    let out = h.path("out.jsonl");
    let connector = h.connector(&format!(
        "name=big\nconnector.class=FileStreamSink\ntopics=big\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=big-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n",
        out.display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    let end = h.end_offsets("big", 3);
    assert_eq!(end, vec![4, 5, 5]);
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-big", "big", 3) == end).await,
        "committed {:?}, end {end:?}, state {:?}",
        h.committed("connect-big", "big", 3),
        status.state()
    );
    assert_eq!(output_lines(&out).len(), 12, "every good record written");
    let dead = h.read("big-dlq", 0, 2);
    assert_eq!(dead.len(), 2);
    let whole = dead.iter().find(|m| m.key() == Some(&b"huge"[..])).expect("the big record was dead-lettered");
    assert_eq!(whole.payload().map(<[u8]>::len), Some(huge.len()), "dead-lettered whole");
    assert_eq!(whole.payload(), Some(&huge[..]));
    assert_eq!(header(whole, "__connect.errors.partition").as_deref(), Some("1"));
    assert_eq!(header(whole, "__connect.errors.offset").as_deref(), Some("1"));
    running.shutdown();
    running.wait().await;
    assert_eq!(status.state(), ConnectorState::Stopped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_letter_write_that_cannot_succeed_fails_the_connector_without_committing_past_the_record() {
    let h = Harness::new();
    h.topic("capped", 1);
    let mut records: Vec<KafkaRecord> =
        (0..3).map(|i| record("capped", 0, "ok", format!("{{\"n\":{i}}}").into_bytes())).collect();
    records.push(record("capped", 0, "poison", poison(5000)));
    records.extend((3..6).map(|i| record("capped", 0, "ok", format!("{{\"n\":{i}}}").into_bytes())));
    h.produce_records(&records).await;
    // Kafka Connect's producer size key, translated to librdkafka's `message.max.bytes`: the
    // dead-letter producer refuses the 5000-byte record, and retrying cannot help.
    let connector = h.connector(&format!(
        "name=capped\nconnector.class=FileStreamSink\ntopics=capped\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=capped-dlq\nerrors.deadletterqueue.context.headers.enable=true\nerrors.deadletterqueue.topic.replication.factor=1\n\
         producer.override.max.request.size=1000\n",
        h.path("out.jsonl").display()
    ));
    let running = h.start(h.worker(""), vec![connector]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(wait_until(Duration::from_secs(30), || status.is_failed()).await, "the connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { unreachable!() };
    assert!(reason.contains("capped-0@3") && reason.contains("capped-dlq"), "{reason}");
    assert!(reason.contains("max.request.size"), "says how to fix it: {reason}");
    running.shutdown();
    running.wait().await;
    let committed = h.committed("connect-capped", "capped", 1)[0];
    assert!(committed <= 3, "committed {committed}: nothing past the record that was not dead-lettered");
    assert!(h.read("capped-dlq", 0, 1).is_empty());
}

/// Kafka Connect's error keys as it applies them: without
/// `errors.deadletterqueue.context.headers.enable` a dead letter carries only the record's
/// own headers; under `errors.tolerance=none` a bad record is reported to the dead-letter
/// topic and then the connector fails, committing nothing at or past it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn context_headers_only_when_enabled_and_tolerance_none_reports_to_the_dead_letter_topic_first() {
    let h = Harness::new();
    for topic in ["plain", "strict"] {
        h.topic(topic, 1);
        h.topic(&format!("{topic}-dlq"), 1);
        let mut records: Vec<KafkaRecord> =
            (0..3).map(|i| record(topic, 0, "ok", format!("{{\"n\":{i}}}").into_bytes())).collect();
        let mut bad = record(topic, 0, "bad", b"not json".to_vec());
        bad.headers = vec![sluice::model::Header { key: "trace".into(), value: Some(b"t-1".to_vec()) }];
        records.push(bad);
        records.extend((3..5).map(|i| record(topic, 0, "ok", format!("{{\"n\":{i}}}").into_bytes())));
        h.produce_records(&records).await;
    }
    let (plain_out, strict_out) = (h.path("plain.jsonl"), h.path("strict.jsonl"));
    let plain = h.connector(&format!(
        "name=plain\nconnector.class=FileStreamSink\ntopics=plain\nfile={}\nerrors.tolerance=all\n\
         errors.deadletterqueue.topic.name=plain-dlq\nerrors.deadletterqueue.topic.replication.factor=1\n",
        plain_out.display()
    ));
    let strict = h.connector(&format!(
        "name=strict\nconnector.class=FileStreamSink\ntopics=strict\nfile={}\nerrors.tolerance=none\n\
         errors.deadletterqueue.topic.name=strict-dlq\nerrors.deadletterqueue.context.headers.enable=true\n\
         errors.deadletterqueue.topic.replication.factor=1\nerrors.log.enable=true\nerrors.log.include.messages=true\n",
        strict_out.display()
    ));
    let running = h.start(h.worker(""), vec![plain, strict]).await.unwrap();
    let statuses = running.statuses();
    let (plain_status, strict_status) = (statuses[0].clone(), statuses[1].clone());
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-plain", "plain", 1) == vec![6]
            && strict_status.is_failed())
        .await,
        "plain committed {:?} ({:?}), strict {:?}",
        h.committed("connect-plain", "plain", 1),
        plain_status.state(),
        strict_status.state()
    );

    let dead = h.read("plain-dlq", 0, 1);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].payload(), Some(&b"not json"[..]));
    assert_eq!(header(&dead[0], "trace").as_deref(), Some("t-1"), "the record's own header is kept");
    let names: Vec<String> = {
        use rdkafka::message::Headers;
        dead[0].headers().map(|hs| hs.iter().map(|h| h.key.to_string()).collect()).unwrap_or_default()
    };
    assert_eq!(names, vec!["trace".to_string()], "no context headers unless enabled");
    assert_eq!(output_lines(&plain_out).len(), 5);

    let reported = h.read("strict-dlq", 0, 1);
    assert_eq!(reported.len(), 1, "reported to the dead-letter topic before failing");
    assert_eq!(reported[0].payload(), Some(&b"not json"[..]));
    assert_eq!(header(&reported[0], "__connect.errors.offset").as_deref(), Some("3"));
    assert_eq!(header(&reported[0], "trace").as_deref(), Some("t-1"));
    assert!(header(&reported[0], "ErrorInfo").is_some_and(|i| i.contains("strict-0@3")));
    let ConnectorState::Failed(trace) = strict_status.state() else { panic!("{:?}", strict_status.state()) };
    assert!(trace.contains("strict-0@3") && trace.contains("strict-dlq"), "{trace}");
    assert_eq!(output_lines(&strict_out).len(), 3, "the records before the bad one are written, none after it");
    assert_eq!(h.committed("connect-strict", "strict", 1), vec![3], "nothing at or past the bad record committed");
    running.shutdown();
    running.wait().await;
}
