//! Command-line interface: `standalone`, `distributed`, `quickstart` and `produce`.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::api::RestServer;
use crate::app::{self, Standalone};
use crate::source::embedded::EmbeddedKafka;
use crate::source::produce::{produce_lines, LineFormat};

mod dlq;
mod explain;
mod plugin;
mod quickstart;
mod top;
mod validate;

/// sluice: Kafka Connect sink connectors in one binary, with WebAssembly record parsers.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run connectors like `connect-standalone.sh worker.properties connector.properties...`.
    Standalone {
        /// Start an in-process Kafka broker, print its address and use it instead of
        /// `bootstrap.servers`. The connectors' topics are created on it.
        #[arg(long)]
        embedded_kafka: bool,
        /// Partitions of each topic created on the embedded broker.
        #[arg(long, default_value_t = 3, requires = "embedded_kafka")]
        embedded_partitions: i32,
        /// Exit with a non-zero code once every connector has FAILED (by default the worker
        /// keeps serving, and `GET /health` answers 500 naming the failures).
        #[arg(long)]
        exit_on_failure: bool,
        /// The worker file (`connect-standalone.properties`).
        worker: PathBuf,
        /// Connector files: `.properties`, a flat JSON map, or a `{"name","config"}` body.
        /// None is fine: connectors can be created through the REST API.
        connectors: Vec<PathBuf>,
    },
    /// Run as one worker of a cluster like `connect-distributed.sh worker.properties`:
    /// connectors are created through any worker's REST API, kept in the config topic, and
    /// run on every worker, which share each connector's partitions.
    Distributed {
        /// The worker file (`connect-distributed.properties`).
        worker: PathBuf,
    },
    /// Try sluice with nothing installed: embedded Kafka, sample records, the built-in JSON
    /// parser, the file sink and a dead-letter topic, then a summary.
    Quickstart(quickstart::Args),
    /// A live terminal view of a running worker's connectors (records/s, lag, errors,
    /// dead-lettered records, retries, plugin cost), read from its REST API.
    Top(top::Args),
    /// Plugin author tools: test a plugin on sample records, inspect it, scaffold a new one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Print the configuration reference (Markdown), as embedded in README.md.
    ConfigReference,
    /// Run records through a connector's converters, transforms, parser and sink encoding
    /// and print every stage and the exact request the sink would send; writes nothing.
    Explain(explain::Args),
    /// Dead-letter topic tools: `dlq replay` runs dead letters through the connector's
    /// current parser and writes what now parses.
    #[command(subcommand)]
    Dlq(dlq::DlqCommand),
    /// Check a worker file and connector files and print every problem of every file at
    /// once (the checks of the REST validate endpoint); exits non-zero when there is one.
    Validate {
        /// The worker file.
        worker: PathBuf,
        /// Connector files.
        connectors: Vec<PathBuf>,
    },
    /// Send one record per line of FILE (`-` for stdin) to a topic; a line `key<TAB>value`
    /// becomes a keyed record.
    Produce {
        /// Kafka bootstrap servers.
        #[arg(long)]
        bootstrap: String,
        /// Topic to write to.
        #[arg(long)]
        topic: String,
        /// Partition to write to (default: chosen by the key, or spread).
        #[arg(long)]
        partition: Option<i32>,
        /// Do not split lines at TAB; the whole line is the value.
        #[arg(long)]
        no_keys: bool,
        /// Input file, one record per line.
        file: PathBuf,
    },
}

/// Entry point of the binary: parses arguments, runs, and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(4, |n| n.get().max(4)))
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", crate::logging::redact(&format!("{error:#}")));
            ExitCode::FAILURE
        }
    };
    // Blocking work still running (a plugin compile, a metadata lookup) does not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    code
}

fn init_logging() {
    crate::logging::init();
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Standalone { embedded_kafka, embedded_partitions, exit_on_failure, worker, connectors } => {
            standalone(embedded_kafka, embedded_partitions, exit_on_failure, worker, connectors).await
        }
        Command::Distributed { worker } => distributed(worker).await,
        Command::Quickstart(args) => quickstart::run(args).await,
        Command::Top(args) => top::run(args).await,
        Command::Plugin(command) => tokio::task::block_in_place(|| plugin::run(command)),
        Command::Validate { worker, connectors } => validate::run(worker, connectors),
        Command::Explain(args) => explain::run(args).await,
        Command::Dlq(command) => dlq::run(command).await,
        Command::ConfigReference => {
            print!("{}", crate::config::reference::markdown());
            Ok(ExitCode::SUCCESS)
        }
        Command::Produce { bootstrap, topic, partition, no_keys, file } => {
            let format = LineFormat { split_key: !no_keys };
            let sent = if file.as_os_str() == "-" {
                produce_lines(&bootstrap, &topic, partition, std::io::stdin().lock(), format).await?
            } else {
                let input = std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
                produce_lines(&bootstrap, &topic, partition, BufReader::new(input), format).await?
            };
            println!("produced {sent} records to {topic}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn standalone(
    embedded_kafka: bool,
    embedded_partitions: i32,
    exit_on_failure: bool,
    worker: PathBuf,
    connectors: Vec<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let embedded = if embedded_kafka { Some(EmbeddedKafka::start()?) } else { None };
    let bootstrap = embedded.as_ref().map(EmbeddedKafka::bootstrap_servers);
    let config = app::load(&worker, &connectors, bootstrap.as_deref())?;
    if let (Some(kafka), Some(bootstrap)) = (&embedded, &bootstrap) {
        for connector in &config.connectors {
            if let crate::config::TopicSelection::List(topics) = &connector.topics {
                for topic in topics {
                    kafka.create_topic(topic, embedded_partitions)?;
                }
            }
            if let crate::config::ErrorPolicy::DeadLetter(dlq) | crate::config::ErrorPolicy::DeadLetterThenFail(dlq) =
                &connector.errors
            {
                kafka.create_topic(&dlq.topic, 1)?;
            }
        }
        println!("embedded Kafka listening on {bootstrap}");
        println!("feed it with: sluice produce --bootstrap {bootstrap} --topic <topic> <file>");
    }
    let running = Arc::new(Standalone::start_with_override(config, bootstrap.clone()).await?);
    let server = match RestServer::start(running.worker()).await {
        Ok(server) => server,
        Err(error) => {
            running.worker().shutdown().await;
            return Err(error);
        }
    };
    println!("REST API listening on {}", server.url());
    let watcher = tokio::spawn(watch_for_changes(running.clone()));
    let mut code = ExitCode::SUCCESS;
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = all_failed(running.worker()), if exit_on_failure => {
            tracing::error!("Every connector has FAILED; exiting (--exit-on-failure).");
            code = ExitCode::FAILURE;
        }
    }
    server.stop();
    watcher.abort();
    let _ = watcher.await;
    tracing::info!("Shutting down.");
    running.shutdown();
    match Arc::try_unwrap(running) {
        Ok(running) => {
            if !running.wait().await {
                code = ExitCode::FAILURE;
            }
        }
        Err(_) => tracing::warn!("Connectors still referenced at shutdown."),
    }
    drop(embedded);
    Ok(code)
}

async fn distributed(worker: PathBuf) -> anyhow::Result<ExitCode> {
    let map = crate::config::read_worker_file(&worker)?;
    let config = crate::config::WorkerConfig::from_map(&map)?;
    let cluster = crate::config::DistributedConfig::from_map(&map)?;
    let cache_dir = config.plugin_cache_dir.clone().or_else(crate::plugin::ComponentCache::default_dir);
    let runtime = crate::plugin::PluginRuntime::new(crate::plugin::ComponentCache::new(cache_dir))?;
    let limit = config.shutdown_timeout + app::SHUTDOWN_MARGIN;
    let group = cluster.group_id.clone();
    let running = crate::worker::cluster::Cluster::start(config, cluster, runtime).await?;
    let server = match RestServer::start(running.worker()).await {
        Ok(server) => server,
        Err(error) => {
            running.shutdown().await;
            return Err(error);
        }
    };
    running.publish_status();
    println!("REST API listening on {}", server.url());
    println!("worker {} joined cluster `{group}`", running.worker().worker_id());
    wait_for_signal().await;
    server.stop();
    tracing::info!("Shutting down.");
    if tokio::time::timeout(limit, running.shutdown()).await.is_err() {
        tracing::error!("Connectors did not stop in time; records not committed are read again by the other workers.");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Resolves once every connector (at least one) has FAILED.
async fn all_failed(worker: Arc<crate::worker::Worker>) {
    loop {
        let views = worker.views();
        if !views.is_empty() && views.iter().all(|v| v.status.is_failed()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// Swaps parsers when a connector file or plugin file changes (polled every second) or on
/// SIGHUP.
async fn watch_for_changes(running: Arc<Standalone>) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        {
            let hangup_received = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = hangup_received => tracing::info!("SIGHUP: reloading connector files and plugins."),
            }
        }
        #[cfg(not(unix))]
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        running.reload().await;
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
