//! The `sluice` binary as users run it: crash and restart without loss, graceful SIGTERM,
//! config errors that name the key, and the quickstart.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::*;

fn sluice() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
    command.env("SLUICE_CACHE_DIR", cache_dir()).env("SLUICE_LOG", "warn");
    command
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

fn standalone(worker: &Path, connector: &Path) -> Child {
    sluice().arg("standalone").arg(worker).arg(connector).stdout(Stdio::null()).spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_stream_and_restarted_nothing_is_missing_and_sigterm_exits_cleanly() {
    let h = Harness::new();
    h.topic("stream", 2);
    h.produce("stream", None, &orders(4000, 31)).await;
    let out = h.path("out.jsonl");
    let worker = h.path("worker.properties");
    let connector = h.path("connector.properties");
    write(&worker, &format!("bootstrap.servers={}\nlisteners=http://127.0.0.1:0\noffset.flush.interval.ms=100\nvalue.converter.schemas.enable=false\nconsumer.fetch.wait.max.ms=20\nconsumer.session.timeout.ms=6000\n", h.bootstrap));
    write(&connector, &format!(
        "name=crashy\nconnector.class=FileStreamSink\ntopics=stream\ntasks.max=2\nfile={}\nconsumer.override.max.poll.records=20\n",
        out.display()
    ));

    let mut first = standalone(&worker, &connector);
    assert!(wait_until(Duration::from_secs(60), || line_count(&out) >= 100).await, "no progress before the kill");
    first.kill().unwrap(); // SIGKILL: no chance to commit or flush anything more
    first.wait().unwrap();
    let before_restart = line_count(&out);
    h.produce("stream", None, &orders(1000, 7)).await;

    let mut second = standalone(&worker, &connector);
    let end = h.end_offsets("stream", 2);
    assert_eq!(end.iter().sum::<i64>(), 5000);
    let complete = wait_until(Duration::from_secs(90), || {
        // Cheap check first: parsing the whole file on every poll would slow the host down.
        if line_count(&out) < 5000 {
            return false;
        }
        let (lines, torn) = output_lines_lenient(&out);
        assert!(torn <= 1, "only the line being written when the host was killed may be torn");
        let seen = offsets_by_partition(&lines);
        (0..2).all(|p| {
            let mut offsets = seen.get(&(p as i64)).cloned().unwrap_or_default();
            offsets.sort_unstable();
            offsets.dedup();
            offsets == (0..end[p]).collect::<Vec<_>>()
        })
    })
    .await;
    assert!(complete, "every offset must be present at least once after the restart");
    assert!(wait_until(Duration::from_secs(30), || h.committed("connect-crashy", "stream", 2) == end).await);

    let pid = second.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = wait_exit(&mut second, Duration::from_secs(30), "SIGTERM");
    assert!(status.success(), "SIGTERM must shut down gracefully with exit 0, got {status}");
    assert_eq!(h.committed("connect-crashy", "stream", 2), end);
    assert!(before_restart >= 100);
}

/// SIGKILLs `sluice` eight times at seeded random moments while it streams into the file
/// sink, restarting it each time. After every restart consumption resumes exactly at the
/// group's committed offset (never from the beginning), so only records written after the
/// last commit are written again; at the end every offset is present and committed = end.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_eight_times_at_random_moments_each_restart_resumes_at_the_last_commit() {
    const PARTITIONS: i32 = 2;
    const KILLS: usize = 8;
    let h = Harness::new();
    h.topic("kills", PARTITIONS);
    let out = h.path("out.jsonl");
    let worker = h.path("worker.properties");
    let connector = h.path("connector.properties");
    write(
        &worker,
        &format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:0\noffset.flush.interval.ms=50\n\
         value.converter.schemas.enable=false\nconsumer.fetch.wait.max.ms=20\n\
         consumer.session.timeout.ms=3000\nconsumer.heartbeat.interval.ms=300\n",
            h.bootstrap
        ),
    );
    write(
        &connector,
        &format!(
        "name=kills\nconnector.class=FileStreamSink\ntopics=kills\nfile={}\nconsumer.override.max.poll.records=20\n",
        out.display()
    ),
    );
    let mut random = seeded_random(0x9e37_79b9_7f4a_7c15);
    let mut produced = 0;
    let mut committed_at_kill = vec![0i64; PARTITIONS as usize];
    for run in 0..=KILLS {
        h.produce("kills", None, &orders(3000, 13)).await;
        produced += 3000;
        let lines_before = line_count(&out);
        let mut child = standalone(&worker, &connector);
        if run < KILLS {
            let progressed = wait_until(Duration::from_secs(60), || line_count(&out) > lines_before + 20).await;
            assert!(progressed, "run {run} made no progress");
            tokio::time::sleep(Duration::from_millis(random(300))).await;
            child.kill().unwrap(); // SIGKILL: nothing more is written or committed
            child.wait().unwrap();
        } else {
            let end = h.end_offsets("kills", PARTITIONS);
            let done =
                wait_until(Duration::from_secs(90), || h.committed("connect-kills", "kills", PARTITIONS) == end).await;
            assert!(done, "the last run must commit the end offsets {end:?}");
            assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
            assert!(wait_exit(&mut child, Duration::from_secs(30), "SIGTERM after the last run").success());
        }
        // What this run wrote: the complete lines after those of earlier runs (a line torn by
        // the previous kill was cut off when this run opened the file).
        let (lines, torn) = output_lines_lenient(&out);
        assert!(torn <= 1, "only the line being written at the kill may be torn");
        for (partition, offsets) in offsets_by_partition(&lines[lines_before.min(lines.len())..]) {
            let resume = committed_at_kill[partition as usize].max(0);
            assert_eq!(
                offsets[0], resume,
                "run {run}: partition {partition} resumed at {}, not at the committed offset {resume}",
                offsets[0]
            );
            assert!(offsets.windows(2).all(|w| w[0] < w[1]), "run {run}: partition {partition} out of order");
        }
        committed_at_kill = h.committed("connect-kills", "kills", PARTITIONS);
    }
    let end = h.end_offsets("kills", PARTITIONS);
    assert_eq!(end.iter().sum::<i64>(), produced as i64);
    let (lines, _) = output_lines_lenient(&out);
    let duplicates = every_offset_at_least_once(offsets_by_partition(&lines), &end);
    println!(
        "{KILLS} kills: {} lines for {produced} records, {duplicates} written twice (after the last commit)",
        lines.len()
    );
}

/// Two `sluice` processes in one consumer group while records stream in: the second joins
/// mid-stream, the first leaves (SIGTERM) later, and the survivor finishes. Every record is
/// written, the committed offsets end at the end offsets, and a commit sampled at any moment
/// is never past what the two files hold; records written twice (the handover window) are
/// counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_in_one_group_share_and_hand_over_partitions_without_loss() {
    const PARTITIONS: i32 = 4;
    let h = Harness::new();
    h.topic("pair", PARTITIONS);
    let worker = h.path("worker.properties");
    write(
        &worker,
        &format!(
            "bootstrap.servers={}\nlisteners=http://127.0.0.1:0\noffset.flush.interval.ms=100\n\
         value.converter.schemas.enable=false\nconsumer.fetch.wait.max.ms=20\nconsumer.session.timeout.ms=6000\n\
         consumer.heartbeat.interval.ms=500\n",
            h.bootstrap
        ),
    );
    let files = [h.path("a.jsonl"), h.path("b.jsonl")];
    let connectors: Vec<_> = files
        .iter()
        .zip(["a", "b"])
        .map(|(file, which)| {
            let path = h.path(&format!("{which}.properties"));
            // One record in flight at a time keeps both processes writing while the group
            // changes.
            write(
                &path,
                &format!(
                    "name=pair\nconnector.class=FileStreamSink\ntopics=pair\nfile={}\nsluice.max.inflight.records=1\n",
                    file.display()
                ),
            );
            path
        })
        .collect();
    let written = || {
        let mut lines = output_lines_lenient(&files[0]).0;
        lines.extend(output_lines_lenient(&files[1]).0);
        offsets_by_partition(&lines)
    };
    // A commit is never past a record that neither process has written.
    let check = |label: &str| assert_commits_written(&h, "connect-pair", "pair", PARTITIONS, written, label);
    h.produce("pair", None, &orders(3000, 19)).await;
    let mut first = KillOnDrop(standalone(&worker, &connectors[0]));
    assert!(wait_until(Duration::from_secs(60), || line_count(&files[0]) >= 200).await, "the first made no progress");
    check("first alone");
    let mut second = KillOnDrop(standalone(&worker, &connectors[1]));
    assert!(wait_until(Duration::from_secs(60), || line_count(&files[1]) >= 200).await, "the second never wrote");
    check("both");
    h.produce("pair", None, &orders(2000, 7)).await;
    assert!(Command::new("kill").args(["-TERM", &first.0.id().to_string()]).status().unwrap().success());
    assert!(wait_exit(&mut first.0, Duration::from_secs(30), "SIGTERM to the first").success());
    check("the first left");
    let end = h.end_offsets("pair", PARTITIONS);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while h.committed("connect-pair", "pair", PARTITIONS) != end {
        assert!(std::time::Instant::now() < deadline, "the survivor never caught up to {end:?}");
        check("the second alone");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(Command::new("kill").args(["-TERM", &second.0.id().to_string()]).status().unwrap().success());
    assert!(wait_exit(&mut second.0, Duration::from_secs(30), "SIGTERM to the second").success());
    // A process writes a partition in order, except that it may go back to the offset the
    // group last committed when it gets the partition back in a rebalance: librdkafka's mock
    // broker refuses commits while the group rebalances (REBALANCE_IN_PROGRESS; Kafka accepts
    // them), so what was written since the last commit is written again.
    let mut replays = 0;
    for file in &files {
        for (_, offsets) in offsets_by_partition(&output_lines(file)) {
            replays += offsets.windows(2).filter(|w| w[1] <= w[0]).count();
        }
    }
    let duplicates = every_offset_at_least_once(written(), &end);
    println!(
        "two processes: {} and {} lines, {duplicates} written twice, {replays} partitions taken back and re-read from their last commit",
        line_count(&files[0]),
        line_count(&files[1])
    );
}

/// A child process killed when the test ends, passed or failed.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_standalone_expecting_failure(dir: &Path, connector_text: &str) -> String {
    run_standalone_logging_expecting_failure(dir, connector_text, "warn")
}

fn run_standalone_logging_expecting_failure(dir: &Path, connector_text: &str, log_level: &str) -> String {
    let worker = dir.join("w.properties");
    let connector = dir.join("c.properties");
    write(&worker, "bootstrap.servers=127.0.0.1:1\n");
    write(&connector, connector_text);
    let output = sluice().env("SLUICE_LOG", log_level).arg("standalone").arg(&worker).arg(&connector).output().unwrap();
    assert!(!output.status.success(), "must exit non-zero");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_mistyped_key_exits_non_zero_naming_the_key_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_standalone_expecting_failure(
        dir.path(),
        "name=x\nconnector.class=FileStreamSink\ntopics=t\nparser.timout.ms=100\n",
    );
    assert!(stderr.contains("`parser.timout.ms`") && stderr.contains("did you mean `parser.timeout.ms`"), "{stderr}");
}

#[test]
fn a_missing_required_key_exits_non_zero_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = run_standalone_expecting_failure(dir.path(), "name=x\nconnector.class=FileStreamSink\n");
    assert!(stderr.contains("missing required key `topics`"), "{stderr}");
    let stderr = run_standalone_expecting_failure(dir.path(), "connector.class=FileStreamSink\ntopics=t\n");
    assert!(stderr.contains("missing required key `name`"), "{stderr}");
    let stderr = run_standalone_expecting_failure(dir.path(), "name=x\nconnector.class=NoSuchSink\ntopics=t\n");
    assert!(stderr.contains("unknown connector class `NoSuchSink`"), "{stderr}");
}

#[test]
fn the_quickstart_delivers_its_sample_records() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.jsonl");
    let output = sluice().arg("quickstart").arg("--output").arg(&out).output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("24 rows written") && stdout.contains("2 records dead-lettered"), "{stdout}");
    assert_eq!(output_lines(&out).len(), 24);
}

#[test]
fn validate_prints_every_problem_of_every_file_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (worker, a, b) = (dir.path().join("w.properties"), dir.path().join("a.properties"), dir.path().join("b.json"));
    write(&worker, "bootstrap.servers=k:9092\noffset.flush.intervall.ms=5\n");
    write(&a, "connector.class=FileStreamSink\nparser.timout.ms=100\nsluice.nope=1\n");
    write(&b, r#"{"name": "b", "config": {"connector.class": "FileStreamSink", "topics": "t", "tasks.max": "none"}}"#);
    let output = sluice().arg("validate").arg(&worker).arg(&a).arg(&b).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    for expected in [
        "did you mean `offset.flush.interval.ms`",
        "Missing required configuration \"name\"",
        "topics.regex",
        "did you mean `parser.timeout.ms`",
        "`sluice.nope`",
        "`tasks.max`",
        "6 problem(s) found",
    ] {
        assert!(stderr.contains(expected), "missing {expected:?} in:\n{stderr}");
    }
    write(&b, r#"{"name": "b", "config": {"connector.class": "FileStreamSink", "topics": "t"}}"#);
    write(&worker, "bootstrap.servers=k:9092\n");
    let output = sluice().arg("validate").arg(&worker).arg(&b).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// Credentials never reach the log or the fatal error, even where a message quotes the
/// value that holds them: a password in a JDBC URL is quoted by the start-up log line about
/// the native port, and by the error about a malformed port.
#[test]
fn passwords_in_urls_are_hidden_in_the_log_and_in_fatal_errors() {
    let dir = tempfile::tempdir().unwrap();
    let td = |url: &str| {
        format!(
            "name=td\nconnector.class=com.taosdata.kafka.connect.sink.TDengineSinkConnector\ntopics=t\n\
             db.schemaless=line\nconnection.database=db\nconnection.attempts=1\nconnection.url={url}\n\
             connection.password=Plain-S3cret-9\n"
        )
    };
    let stderr = run_standalone_logging_expecting_failure(
        dir.path(),
        &td("jdbc:TAOS://127.0.0.1:6030/?user=root&password=N4tive-S3cret"),
        "info",
    );
    assert!(stderr.contains("names taosd's native port") && stderr.contains("password=[hidden]"), "{stderr}");
    assert!(!stderr.contains("N4tive-S3cret") && !stderr.contains("Plain-S3cret-9"), "{stderr}");

    let stderr = run_standalone_logging_expecting_failure(
        dir.path(),
        &td("jdbc:TAOS-RS://db-host:notaport/?password=P0rt-S3cret"),
        "info",
    );
    assert!(stderr.contains("is not a number") && stderr.contains("password=[hidden]"), "{stderr}");
    assert!(!stderr.contains("P0rt-S3cret"), "{stderr}");
}
