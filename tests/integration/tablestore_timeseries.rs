//! The Tablestore sink in `tablestore.mode=timeseries` against the local stand-in, which
//! reads every PutTimeseriesData with the official SDK's FlatBuffer reader and checks its
//! CRC-32C and signature; assertions read back the points the stand-in stored.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value as Json};
use sluice::pipeline::status::{ConnectorState, Counters};

use crate::tablestore::Standin;
use crate::util::*;

/// The stored time-series table (`rows`, `ttl`), or `None`.
async fn ts_table(s: &Standin, name: &str) -> Option<Json> {
    let response = reqwest::get(format!("{}/_standin/timeseries/{name}", s.endpoint)).await.unwrap();
    if response.status() == 404 {
        return None;
    }
    Some(serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
}

/// Waits until time-series table `name` holds `count` points; returns them.
async fn wait_points(s: &Standin, name: &str, count: usize) -> Vec<Json> {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = ts_table(s, name).await.map(|t| t["rows"].as_array().unwrap().clone()).unwrap_or_default();
        if rows.len() >= count || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A time-series connector file: the stand-in's keys, the seed's mapping keys for table
/// `topic`, plus `extra` (later keys win).
fn connector(h: &Harness, s: &Standin, name: &str, topic: &str, extra: &str) -> sluice::config::ConfigMap {
    h.connector(&format!(
        "name={name}\nconnector.class=TableStoreSinkConnector\ntopics={topic}\n{}tablestore.mode=timeseries\nauto.create=true\n\
         tablestore.timeseries.{topic}.measurement=m\ntablestore.timeseries.{topic}.dataSource=d\n\
         tablestore.timeseries.{topic}.tags=region,level\ntablestore.timeseries.{topic}.time=timestamp\n{extra}",
        s.keys()
    ))
}

const SEED_RECORD: &str =
    r#"{"m":"cpu_usage","d":"host-1","region":"hz","level":"1","timestamp":1700000000123,"cpu":0.42,"io":7}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seed_timeseries_quickstart_lands_one_point_per_record() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("test", 1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/tablestore");
    let worker = std::fs::read_to_string(dir.join("connect-standalone-timeseries.properties")).unwrap();
    let worker = worker.replace("bootstrap.servers=localhost:9092", &format!("bootstrap.servers={}", h.bootstrap))
        + &format!("offset.flush.interval.ms=200\nsluice.plugin.cache.dir={}\n", cache_dir().display());
    let example = std::fs::read_to_string(dir.join("connect-tablestore-timeseries-quickstart.properties")).unwrap();
    let text = example
        .replace("https://xxx.xxx.ots.aliyuncs.com", &s.endpoint)
        .replace("tablestore.access.key.id=xxx", "tablestore.access.key.id=test-key-id")
        .replace("tablestore.access.key.secret=xxx", "tablestore.access.key.secret=test-key-secret")
        .replace("tablestore.instance.name=xxx", "tablestore.instance.name=sluice-test");
    let running =
        h.start(sluice::config::parse_text("w.properties", &worker).unwrap(), vec![h.connector(&text)]).await.unwrap();
    assert_eq!(ts_table(&s, "test").await.expect("auto.create made time-series table `test`")["ttl"], -1);
    h.produce("test", Some(0), &[SEED_RECORD.to_string()]).await;
    let points = wait_points(&s, "test", 1).await;
    assert_eq!(
        points,
        vec![json!({
            "measurement": "cpu_usage", "data_source": "host-1", "tags": "[\"level=1\",\"region=hz\"]",
            "time_us": 1_700_000_000_123_000i64,
            "fields": {"cpu": {"type": "double", "value": 0.42}, "io": {"type": "double", "value": 7.0}},
        })]
    );
    assert!(wait_until(Duration::from_secs(20), || h.committed("connect-tablestore-sink", "test", 1) == vec![1]).await);
    let requests = s.requests().await;
    assert_eq!(
        requests,
        vec![json!({"action": "PutTimeseriesData", "tables": [{"table": "test", "rows": 1}], "overlap": false})]
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_time_unit_topic_measurement_and_integer_fields() {
    let s = Standin::start();
    let h = Harness::new();
    let units = [
        ("u_s", "SECONDS", 1_000_000i64),
        ("u_ms", "MILLISECONDS", 1_000),
        ("u_us", "MICROSECONDS", 1),
        ("u_ns", "nanoseconds", -1),
    ];
    let mut connectors = Vec::new();
    for (topic, unit, _) in units {
        h.topic(topic, 1);
        connectors.push(connector(&h, &s, topic, topic, &format!("tablestore.timeseries.{topic}.time.unit={unit}\n")));
    }
    h.topic("by_topic", 1);
    connectors.push(connector(
        &h,
        &s,
        "by-topic",
        "by_topic",
        "tablestore.timeseries.by_topic.measurement=<topic>\n\
        tablestore.timeseries.integers=integer\n",
    ));
    let running = h.start(h.worker(""), connectors).await.unwrap();
    for (topic, _, _) in units {
        // A JSON number, a numeric string and a 64-bit value.
        let lines = [
            r#"{"m":"x","d":"a","timestamp":1700000000,"v":1}"#.to_string(),
            r#"{"m":"x","d":"b","timestamp":"1700000001","v":1}"#.to_string(),
        ];
        h.produce(topic, Some(0), &lines).await;
    }
    h.produce(
        "by_topic",
        Some(0),
        &[r#"{"m":"ignored?","d":"a","region":"hz","timestamp":5,"n":9007199254740993,"f":1.5}"#.to_string()],
    )
    .await;
    for (topic, _, factor) in units {
        let points = wait_points(&s, topic, 2).await;
        let times: Vec<i64> = points.iter().map(|p| p["time_us"].as_i64().unwrap()).collect();
        let expected = match factor {
            -1 => vec![1_700_000, 1_700_000],
            f => vec![1_700_000_000 * f, 1_700_000_001 * f],
        };
        assert_eq!(times, expected, "{topic}");
    }
    let points = wait_points(&s, "by_topic", 1).await;
    assert_eq!(points[0]["measurement"], "by_topic");
    // With `<topic>` the `m` field is an ordinary field; integers stay integers (exactly).
    assert_eq!(points[0]["fields"]["n"], json!({"type": "long", "value": 9007199254740993i64}));
    assert_eq!(points[0]["fields"]["f"], json!({"type": "double", "value": 1.5}));
    assert_eq!(points[0]["fields"]["m"], json!({"type": "string", "value": "ignored?"}));
    assert_eq!(points[0]["time_us"], 5000);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn map_all_off_keeps_configured_fields_and_to_lower_case_off_reaches_the_service() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("only", 1);
    h.topic("upper", 1);
    let connectors = vec![
        connector(
            &h,
            &s,
            "only",
            "only",
            "tablestore.timeseries.mapAll=false\n\
            tablestore.timeseries.only.field.name=CPU,io\ntablestore.timeseries.only.field.type=double,integer\n",
        ),
        connector(
            &h,
            &s,
            "upper",
            "upper",
            "tablestore.timeseries.toLowerCase=false\n\
            errors.tolerance=all\nerrors.deadletterqueue.topic.name=upper_dlq\nerrors.deadletterqueue.context.headers.enable=true\n",
        ),
    ];
    h.topic("upper_dlq", 1);
    let running = h.start(h.worker(""), connectors).await.unwrap();
    h.produce("only", Some(0), &[r#"{"m":"x","d":"a","timestamp":1,"Cpu":"0.5","io":7,"extra":true}"#.to_string()])
        .await;
    h.produce(
        "upper",
        Some(0),
        &[
            r#"{"m":"x","d":"a","timestamp":1,"Cpu":1}"#.to_string(),
            r#"{"m":"x","d":"a","timestamp":2,"cpu":2}"#.to_string(),
        ],
    )
    .await;
    let points = wait_points(&s, "only", 1).await;
    assert_eq!(
        points[0]["fields"],
        json!({"cpu": {"type": "double", "value": 0.5}, "io": {"type": "long", "value": 7}})
    );
    // `Cpu` is sent as is and refused by the service for that row only: dead-lettered.
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-upper", "upper", 1) == vec![2]).await);
    let points = wait_points(&s, "upper", 1).await;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0]["time_us"], 2000);
    let dead = h.read("upper_dlq", 0, 1);
    let reason = header(&dead[0], "__connect.errors.exception.message").unwrap_or_default();
    assert!(reason.contains("upper case") && reason.contains("x/a/[]@1000"), "{reason}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_rows_are_retried_and_bad_records_go_to_the_error_path() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("partial", 1);
    s.fault(json!([{"action": "PutTimeseriesData", "kind": "row_error", "code": "OTSServerBusy", "match": "/h1/", "count": 2}])).await;
    let lines: Vec<String> = vec![
        r#"{"m":"x","d":"h0","timestamp":1,"v":0}"#.into(),
        r#"{"m":"x","d":"h1","timestamp":1,"v":1}"#.into(),
        r##"{"m":"a#b","d":"h2","timestamp":1,"v":2}"##.into(),
        r#"{"m":"x","d":"h3","v":3}"#.into(),
        r#"{"m":"x","d":"h4","timestamp":1,"region":"a=b","v":4}"#.into(),
        r#"{"m":"x","d":"h5","timestamp":1}"#.into(),
        r#"{"m":"x","d":"h6","timestamp":1,"v":6}"#.into(),
    ];
    h.produce("partial", Some(0), &lines).await;
    let c = connector(
        &h,
        &s,
        "partial",
        "partial",
        "runtime.error.tolerance=all\nruntime.error.mode=tablestore\nruntime.error.table.name=errors\n",
    );
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-partial", "partial", 1) == vec![7]).await);
    let sources: Vec<Json> = wait_points(&s, "partial", 3).await.iter().map(|p| p["data_source"].clone()).collect();
    assert_eq!(sources, vec![json!("h0"), json!("h1"), json!("h6")]);
    let errors = s.table("errors").await.expect("error table auto-created");
    let rows = errors["rows"].as_array().unwrap();
    let offsets: Vec<i64> = rows.iter().map(|r| r["pk"]["offset"].as_i64().unwrap()).collect();
    assert_eq!(offsets, vec![2, 3, 4, 5]);
    let info = |i: usize| rows[i]["columns"]["error_info"].as_str().unwrap().to_string();
    assert!(info(0).contains("m") && info(0).contains('#'), "{}", info(0));
    assert!(info(1).contains("timestamp"), "{}", info(1));
    assert!(info(2).contains("region"), "{}", info(2));
    assert!(info(3).contains("no fields"), "{}", info(3));
    // h1 failed twice with a retryable code and was resent.
    let requests = s.requests().await;
    let single = requests.iter().filter(|r| r["tables"][0]["rows"] == 1).count();
    assert!(single >= 2, "{requests:?}");
    let status = running.statuses()[0].clone();
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 4);
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_table_without_auto_create_fails_at_start_and_rows_per_batch_splits_requests() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("absent", 1);
    let c = connector(&h, &s, "absent", "absent", "auto.create=false\n");
    let error = format!("{:#}", h.start(h.worker(""), vec![c]).await.err().expect("a missing table stops the start"));
    assert!(error.contains("time-series table `absent` does not exist"), "{error}");

    h.topic("many", 1);
    let c = connector(&h, &s, "many", "many", "tablestore.timeseries.rowsPerBatch=7\n");
    let lines: Vec<String> = (0..30).map(|i| format!(r#"{{"m":"x","d":"h","timestamp":{i},"v":{i}}}"#)).collect();
    h.produce("many", Some(0), &lines).await;
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    assert_eq!(wait_points(&s, "many", 30).await.len(), 30);
    let requests = s.requests().await;
    assert!(requests.iter().all(|r| r["tables"][0]["rows"].as_i64().unwrap() <= 7), "{requests:?}");
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn points_of_another_parser_use_the_same_sink() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("other", 1);
    let c = h.connector(&format!(
        "name=other\nconnector.class=TableStoreSinkConnector\ntopics=other\n{}tablestore.mode=timeseries\nauto.create=true\n\
         parser=tdengine\ntdengine.mapping.measurement=${{topic}}\ntdengine.mapping.tags=host\n\
         tdengine.mapping.fields=v:i64\ntdengine.mapping.timestamp.field=ts\n",
        s.keys()
    ));
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    h.produce("other", Some(0), &[r#"{"host":"h","v":3,"ts":1000}"#.to_string()]).await;
    let points = wait_points(&s, "other", 1).await;
    assert_eq!(
        points,
        vec![json!({"measurement": "other", "data_source": "", "tags": "[\"host=h\"]", "time_us": 1_000_000,
                    "fields": {"v": {"type": "long", "value": 3}}})]
    );
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_outage_longer_than_the_retry_budget_fails_the_connector_and_commits_nothing_past_the_batch() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("tsout", 1);
    let extra = "errors.retry.timeout=2000\nerrors.retry.delay.max.ms=300\n";
    let running = h.start(h.worker(""), vec![connector(&h, &s, "tsout", "tsout", extra)]).await.unwrap();
    let status = running.statuses()[0].clone();
    let lines: Vec<String> =
        (0..6).map(|i| format!(r#"{{"m":"x","d":"h{i}","timestamp":{},"v":{i}}}"#, 1000 + i)).collect();
    h.produce("tsout", Some(0), &lines[..2]).await;
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-tsout", "tsout", 1) == vec![2]).await);
    s.fault(json!([{"action": "PutTimeseriesData", "kind": "server_busy", "duration_ms": 3_600_000}])).await;
    h.produce("tsout", Some(0), &lines[2..]).await;
    assert!(wait_until(Duration::from_secs(60), || status.is_failed()).await, "the connector must fail");
    let ConnectorState::Failed(reason) = status.state() else { panic!() };
    assert!(reason.contains("errors.retry.timeout=2000") && reason.contains("OTSServerBusy"), "{reason}");
    running.shutdown();
    running.wait().await;
    assert_eq!(h.committed("connect-tsout", "tsout", 1), vec![2], "nothing committed past the failed batch");
    assert_eq!(wait_points(&s, "tsout", 2).await.len(), 2);
}

/// What the stand-in holds of one time-series table, for [`kill_loop`].
struct SeriesTable<'a>(&'a Standin, &'a str);

impl Landed for SeriesTable<'_> {
    async fn stored(&self) -> usize {
        ts_table(self.0, self.1).await.map_or(0, |t| t["rows"].as_array().unwrap().len())
    }

    async fn accepted(&self) -> usize {
        self.0.rows_sent("PutTimeseriesData", self.1).await
    }
}

/// SIGKILLs `sluice` eight times at seeded random moments while it streams points into the
/// stand-in (see [`kill_loop`] for what is checked). A point is keyed by measurement, data
/// source, tags and time, so a re-sent record overwrites its point.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_eight_times_at_random_moments_each_restart_resumes_at_the_last_commit() {
    let s = Standin::start();
    let h = Harness::new();
    let connector_text = connector(&h, &s, "pkills", "pkills", "consumer.override.max.poll.records=20\n")
        .entries()
        .iter()
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect::<String>();
    // Every write waits 30 ms, so a run is still streaming when it is killed.
    s.fault(json!([{"action": "PutTimeseriesData", "kind": "slow", "delay_ms": 30, "duration_ms": 600_000}])).await;
    let records = |first: usize, count: usize| -> Vec<String> {
        (first..first + count)
            .map(|i| {
                format!(
                    "k{i}\t{{\"m\":\"cpu\",\"d\":\"h\",\"timestamp\":{},\"v\":{i}}}",
                    1_700_000_000_000u64 + i as u64
                )
            })
            .collect()
    };
    let series = SeriesTable(&s, "pkills");
    let (produced, _) = kill_loop(&h, "pkills", &connector_text, 2000, records, &series).await;
    let points = ts_table(&s, "pkills").await.unwrap()["rows"].as_array().unwrap().clone();
    let mut values: Vec<i64> = points.iter().map(|p| p["fields"]["v"]["value"].as_f64().unwrap() as i64).collect();
    values.sort_unstable();
    assert_eq!(values, (0..produced as i64).collect::<Vec<_>>(), "every record stored once as a point");
}

/// A poison matrix through the JSON parser into time-series points: invalid JSON, invalid
/// UTF-8, a tombstone (a point needs an object), an array instead of an object, JSON nested
/// 10,000 deep, a 2 MB value cut short, a text where the time must be a number, and a point
/// the service refuses are dead-lettered with their reasons and original bytes; every good
/// record is written once; none is lost and the connector never fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_matrix_is_dead_lettered_record_by_record_and_every_good_record_is_written() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("tspoison", 1);
    h.topic("tspoison-dlq", 1);
    let refuse = json!({"action": "PutTimeseriesData", "kind": "row_error", "code": "OTSParameterInvalid",
        "match": "/refused/", "count": 100});
    s.fault(json!([refuse])).await;
    let good = |i: usize| format!(r#"{{"m":"x","d":"h{i}","timestamp":{},"v":{i}}}"#, 1_700_000_000_000u64 + i as u64);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let huge_cut = format!("{{\"m\":\"{}", "x".repeat(2 << 20));
    let values: Vec<Poison<'_>> = vec![
        (Some(good(0).into_bytes()), "good"),
        (Some(br#"{"m":"#.to_vec()), "invalid JSON"),
        (Some(b"{\"m\":\"\xff\",\"d\":\"h2\",\"timestamp\":1,\"v\":2}".to_vec()), "invalid UTF-8"),
        (Some(good(3).into_bytes()), "good"),
        (None, "tombstone"),
        (Some(b"[1,2,3]".to_vec()), "array"),
        (Some(deep.into_bytes()), "nested 10,000 deep"),
        (Some(huge_cut.into_bytes()), "2 MB, cut short"),
        (Some(br#"{"m":"x","d":"h8","timestamp":"soon","v":8}"#.to_vec()), "text for the time"),
        (Some(br#"{"m":"x","d":"refused","timestamp":1700000000009,"v":9}"#.to_vec()), "refused by the service"),
        (Some(good(10).into_bytes()), "good"),
    ];
    let records = poison_records("tspoison", &values);
    h.produce_records(&records).await;
    let c = connector(
        &h,
        &s,
        "c-tspoison",
        "tspoison",
        "errors.tolerance=all\nerrors.deadletterqueue.topic.name=tspoison-dlq\nerrors.deadletterqueue.context.headers.enable=true\n\
         errors.deadletterqueue.topic.replication.factor=1\n",
    );
    let running = h.start(h.worker(""), vec![c]).await.unwrap();
    let status = running.statuses()[0].clone();
    assert!(
        wait_until(Duration::from_secs(30), || h.committed("connect-c-tspoison", "tspoison", 1) == vec![11]).await,
        "{:?}, committed {:?}",
        status.state(),
        h.committed("connect-c-tspoison", "tspoison", 1)
    );
    let points = wait_points(&s, "tspoison", 3).await;
    let sources: Vec<Json> = points.iter().map(|p| p["data_source"].clone()).collect();
    assert_eq!(sources, vec![json!("h0"), json!("h10"), json!("h3")], "every good record written once: {points:?}");
    let dead = h.read("tspoison-dlq", 0, 8);
    let offsets: Vec<String> = dead.iter().map(|m| header(m, "__connect.errors.offset").unwrap()).collect();
    assert_eq!(offsets, ["1", "2", "4", "5", "6", "7", "8", "9"], "each bad record dead-lettered once");
    // What each reason must name, in offset order.
    let reasons: [&[&str]; 8] = [
        &["builtin:json", "invalid-json"],
        &["invalid-json", "invalid unicode code point"],
        &["dirty-data", "value is null", "needs a JSON object"],
        &["dirty-data", "field m (the measurement) is missing"],
        &["invalid-json", "recursion limit"],
        &["invalid-json", "EOF while parsing a string"],
        &["dirty-data", "field timestamp (the time)", "not the text \"soon\""],
        &["tablestore failed with rejected", "x/refused/", "OTSParameterInvalid"],
    ];
    assert_dead_letters(&dead, &values, &reasons);
    assert!(!status.is_failed());
    assert_eq!(Counters::get(&status.counters.all_tasks.records_dead_lettered), 8);
    running.shutdown();
    running.wait().await;
}

/// A migrated chain into a time-series table: a router renames the topic (the table, the
/// `<topic>` measurement and the per-table mapping keys follow the routed name), and
/// InsertField adds the tag the records lack.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_and_an_inserted_tag_shape_the_points_like_kafka_connect() {
    let s = Standin::start();
    let h = Harness::new();
    h.topic("sensors_raw", 1);
    h.produce("sensors_raw", Some(0), &[r#"{"d":"dev-1","timestamp":1700000000123,"t":21.5}"#.to_string()]).await;
    let text = format!(
        "name=routed-ts\nconnector.class=TableStoreSinkConnector\ntopics=sensors_raw\n{}tablestore.mode=timeseries\n\
         auto.create=true\nvalue.converter=org.apache.kafka.connect.json.JsonConverter\nvalue.converter.schemas.enable=false\n\
         tablestore.timeseries.sensors.measurement=<topic>\ntablestore.timeseries.sensors.dataSource=d\n\
         tablestore.timeseries.sensors.tags=region\ntablestore.timeseries.sensors.time=timestamp\n\
         transforms=route,region\ntransforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
         transforms.route.regex=(.*)_raw\ntransforms.route.replacement=$1\n\
         transforms.region.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.region.static.field=region\ntransforms.region.static.value=hz\n",
        s.keys()
    );
    let running = h.start(h.worker(""), vec![h.connector(&text)]).await.unwrap();
    let points = wait_points(&s, "sensors", 1).await;
    running.shutdown();
    running.wait().await;
    assert_eq!(points.len(), 1, "{points:?}");
    assert_eq!(points[0]["measurement"], "sensors");
    assert_eq!(points[0]["data_source"], "dev-1");
    assert_eq!(points[0]["tags"], json!("[\"region=hz\"]"), "the SDK's tag text");
    assert_eq!(points[0]["time_us"], 1_700_000_000_123_000i64);
    assert_eq!(points[0]["fields"]["t"], json!({"type": "double", "value": 21.5}));
}
