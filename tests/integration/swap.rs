//! Swapping a running connector's parser plugin and its settings under load: nothing lost,
//! nothing parsed twice, nothing after a swap parsed by the old plugin, broken replacements
//! refused while the stream continues. Each task parses on three threads, so batches are
//! parsed out of order and the lanes must restore it.

use std::collections::BTreeMap;
use std::time::Duration;

use sluice::app::{self, ReloadOutcome, Standalone};
use sluice::pipeline::status::Counters;

use crate::util::*;

fn connector_text(plugin: &std::path::Path, out: &std::path::Path, tag: &str) -> String {
    format!(
        "name=live\nconnector.class=FileStreamSink\ntopics=live\ntasks.max=2\nsluice.parser.threads=3\nfile={}\nparser.plugin={}\n\
         tagger.tag={tag}\nconsumer.override.max.poll.records=25\nsluice.batch.linger.ms=5\n",
        out.display(),
        plugin.display()
    )
}

/// Which parser produced a line: tagger with `v1`/`v2` settings, or the hostile echo plugin.
fn version(text: &str) -> u64 {
    match text.split_once(':') {
        Some(("v1", _)) => 1,
        Some(("v2", _)) => 2,
        _ => 3,
    }
}

fn number(text: &str) -> u64 {
    text.rsplit("rec-").next().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plugins_and_settings_swap_under_load_without_loss_or_stale_parsing() {
    let h = Harness::new();
    h.topic("live", 2);
    let plugin = h.path("plugin.wasm");
    let out = h.path("out.jsonl");
    let connector_file = h.path("live.properties");
    let worker_file = h.path("worker.properties");
    std::fs::copy(guest("sluice_test_tagger"), &plugin).unwrap();
    std::fs::write(&connector_file, connector_text(&plugin, &out, "v1")).unwrap();
    std::fs::write(
        &worker_file,
        format!(
            "bootstrap.servers={}\noffset.flush.interval.ms=200\nsluice.plugin.cache.dir={}\n",
            h.bootstrap,
            cache_dir().display()
        ),
    )
    .unwrap();
    let running =
        Standalone::start(app::load(&worker_file, std::slice::from_ref(&connector_file), None).unwrap()).await.unwrap();
    let status = running.statuses()[0].clone();

    let mut next = 0u64;
    // The first record number produced after each swap was published, by generation.
    let mut first_after: BTreeMap<u64, u64> = BTreeMap::new();
    for chunk in 0..16 {
        let lines: Vec<String> = (next..next + 40).map(|n| format!("k{}\trec-{n}", n % 5)).collect();
        next += 40;
        h.produce("live", None, &lines).await;
        tokio::time::sleep(Duration::from_millis(40)).await;
        let outcome = match chunk {
            3 => {
                std::fs::write(&connector_file, connector_text(&plugin, &out, "v2")).unwrap();
                Some(running.reload().await)
            }
            7 => {
                std::fs::copy(guest("sluice_test_hostile"), &plugin).unwrap();
                Some(running.reload().await)
            }
            11 => {
                std::fs::write(&plugin, b"definitely not a component").unwrap();
                let outcome = running.reload().await;
                assert!(
                    matches!(outcome[0].1, ReloadOutcome::Refused(ref r) if r.contains("plugin.wasm")),
                    "{outcome:?}"
                );
                None
            }
            _ => None,
        };
        if let Some(outcome) = outcome {
            let ReloadOutcome::Swapped(generation) = outcome[0].1 else { panic!("{outcome:?}") };
            first_after.insert(generation, next);
        }
    }
    assert_eq!(first_after.keys().copied().collect::<Vec<_>>(), vec![2, 3]);

    let end = h.end_offsets("live", 2);
    assert_eq!(end.iter().sum::<i64>(), next as i64);
    assert!(
        wait_until(Duration::from_secs(60), || h.committed("connect-live", "live", 2) == end).await,
        "committed {:?} end {end:?}",
        h.committed("connect-live", "live", 2)
    );

    let lines = output_lines(&out);
    assert_eq!(lines.len() as u64, next, "every record parsed exactly once");
    for (partition, offsets) in offsets_by_partition(&lines) {
        assert_eq!(offsets, (0..end[partition as usize]).collect::<Vec<_>>(), "partition {partition}");
    }
    let mut last_version: BTreeMap<i64, u64> = BTreeMap::new();
    for line in &lines {
        let text = line["output"]["raw"]["text"].as_str().unwrap();
        let (v, n) = (version(text), number(text));
        let partition = line["partition"].as_i64().unwrap();
        let previous = last_version.insert(partition, v).unwrap_or(1);
        assert!(v >= previous, "partition {partition} went back from parser {previous} to {v} at {text}");
        for (generation, first) in &first_after {
            if n >= *first {
                assert!(v >= *generation, "rec-{n} was produced after swap {generation} but parsed by {v}");
            }
        }
    }
    for v in 1..=3 {
        assert!(
            lines.iter().any(|l| version(l["output"]["raw"]["text"].as_str().unwrap()) == v),
            "no line from parser {v}"
        );
    }
    assert_eq!(Counters::get(&status.counters.swaps), 2);
    assert_eq!(Counters::get(&status.counters.swaps_refused), 1);
    assert!(!status.is_failed());
    running.shutdown();
    running.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replacement_refusing_its_settings_keeps_the_old_parser() {
    let h = Harness::new();
    h.topic("live", 1);
    let plugin = h.path("plugin.wasm");
    let out = h.path("out.jsonl");
    let connector_file = h.path("c.properties");
    let worker_file = h.path("w.properties");
    std::fs::copy(guest("sluice_test_hostile"), &plugin).unwrap();
    std::fs::write(&connector_file, connector_text(&plugin, &out, "v1")).unwrap();
    std::fs::write(
        &worker_file,
        format!(
            "bootstrap.servers={}\noffset.flush.interval.ms=200\nsluice.plugin.cache.dir={}\n",
            h.bootstrap,
            cache_dir().display()
        ),
    )
    .unwrap();
    let running =
        Standalone::start(app::load(&worker_file, std::slice::from_ref(&connector_file), None).unwrap()).await.unwrap();
    std::fs::write(&connector_file, connector_text(&plugin, &out, "v1") + "hostile.fail=true\n").unwrap();
    let outcome = running.reload().await;
    assert!(matches!(outcome[0].1, ReloadOutcome::Refused(ref r) if r.contains("hostile.fail")), "{outcome:?}");
    assert!(
        matches!(running.reload().await[0].1, ReloadOutcome::Unchanged),
        "a refused file is not retried until it changes"
    );
    h.produce("live", Some(0), &["a".into(), "b".into()]).await;
    assert!(wait_until(Duration::from_secs(30), || output_lines(&out).len() == 2).await);
    running.shutdown();
    running.wait().await;
}
