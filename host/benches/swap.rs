//! Swap pause: how long a running connector takes from a parser swap request to the first
//! batch parsed by the new parser, while records flow.
//!
//! An embedded broker feeds a connector (2 tasks, tagger plugin, file sink to /dev/null) with
//! a steady stream; the benchmark swaps the parser's settings 20 times and reports, for each
//! swap, the time to prepare the new generation (compile from cache and configure one
//! instance per task, off the hot path) and the time until a worker parsed its first batch
//! with it. Run: `cargo bench -p sluice --bench swap`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::producer::{FutureProducer, FutureRecord};
use sluice::app::{self, Standalone};
use sluice::config::parse_text;
use sluice::pipeline::status::Counters;
use sluice::pipeline::swap::ParserSpec;
use sluice::plugin::{PluginLimits, PluginSource};
use sluice::source::client;
use sluice::source::embedded::EmbeddedKafka;

const SWAPS: usize = 20;

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let kafka = EmbeddedKafka::start().unwrap();
    let bootstrap = kafka.bootstrap_servers();
    kafka.create_topic("swap", 2).unwrap();
    let plugin = std::path::Path::new(env!("SLUICE_GUEST_DIR")).join("sluice_test_tagger.wasm");
    let cache = tempfile::tempdir().unwrap();
    let worker = parse_text(
        "worker",
        &format!("bootstrap.servers={bootstrap}\noffset.flush.interval.ms=1000\nconsumer.fetch.wait.max.ms=5\nsluice.plugin.cache.dir={}\n", cache.path().display()),
    )
    .unwrap();
    let connector = parse_text(
        "connector",
        &format!(
            "name=swap\nconnector.class=FileStreamSink\ntopics=swap\ntasks.max=2\nfile=/dev/null\nparser.plugin={}\ntagger.tag=v0\n",
            plugin.display()
        ),
    )
    .unwrap();
    let running = Standalone::start(app::from_maps(worker, vec![connector], None).unwrap()).await.unwrap();
    let status = running.statuses()[0].clone();
    let swapper = running.swappers()[0].clone();

    let stop = Arc::new(AtomicBool::new(false));
    // A steady stream of about 2,000 records/s from one producer.
    let feeder = {
        let (stop, bootstrap) = (stop.clone(), bootstrap.clone());
        tokio::spawn(async move {
            let mut config = client::client_config(&bootstrap, &[]);
            config.set("linger.ms", "0");
            let producer: FutureProducer = client::create(config).unwrap();
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..10 {
                    let (key, value) = (format!("k{}", n % 7), format!("value-{n}"));
                    let _ = producer.send_result(FutureRecord::to("swap").key(&key).payload(&value));
                    n += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    while Counters::get(&status.counters.all_tasks.records_written) < 1000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let mut prepare = Vec::new();
    let mut pause = Vec::new();
    for i in 1..=SWAPS {
        let applied_before = Counters::get(&status.counters.swaps_applied);
        let spec = ParserSpec {
            source: PluginSource::File(plugin.clone()),
            settings: vec![("tagger.tag".into(), format!("v{i}"))],
            limits: PluginLimits::default(),
        };
        let requested = Instant::now();
        swapper.swap(spec).await.unwrap();
        prepare.push(requested.elapsed());
        while Counters::get(&status.counters.swaps_applied) == applied_before {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        pause.push(requested.elapsed());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = feeder.await;
    let read = Counters::get(&status.counters.all_tasks.records_read);
    running.shutdown();
    running.wait().await;

    let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
    let summary = |name: &str, values: &mut Vec<Duration>| {
        values.sort();
        println!(
            "{name:<44} min {:>7.2} ms   median {:>7.2} ms   max {:>7.2} ms",
            ms(&values[0]),
            ms(&values[values.len() / 2]),
            ms(values.last().unwrap())
        );
    };
    println!("{SWAPS} settings swaps of a running connector (2 tasks) under load; {read} records read");
    summary("prepare (compile from cache + configure x2)", &mut prepare);
    summary("request -> first batch parsed by new parser", &mut pause);
}
