//! `sluice dlq replay CONNECTOR_FILE --from-topic DLQ [--since TIME] [--dry-run]`: runs the
//! connector's dead letters through its current parser, writes what now parses and
//! dead-letters the rest again (see [`crate::pipeline::replay`]).

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::{parse_text, read_connector_file, read_worker_file, ConnectorConfig, WorkerConfig};
use crate::pipeline::replay::{parse_since, replay, ReplayOptions};
use crate::plugin::{ComponentCache, PluginRuntime};

/// Dead-letter topic tools.
#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// Re-read dead-lettered records (their original coordinates from the
    /// `__connect.errors.*` headers), run them through the connector's current parser, write
    /// what now parses and dead-letter the rest again with the new reason; prints a summary.
    Replay(ReplayArgs),
}

/// Arguments of `sluice dlq replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The connector file (its current parser, settings, sink and dead-letter topic).
    connector: PathBuf,
    /// The worker file (`bootstrap.servers`, converters); defaults otherwise.
    #[arg(long)]
    worker: Option<PathBuf>,
    /// The dead-letter topic to read.
    #[arg(long)]
    from_topic: String,
    /// Only dead letters written at or after this time: milliseconds since the epoch or RFC
    /// 3339 (`2026-01-31T12:00:00Z`). Without it, the replay continues where the last one
    /// stopped.
    #[arg(long)]
    since: Option<String>,
    /// Parse and encode only: write, dead-letter and commit nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs a dead-letter command.
pub async fn run(command: DlqCommand) -> anyhow::Result<ExitCode> {
    let DlqCommand::Replay(args) = command;
    let worker = match &args.worker {
        Some(path) => WorkerConfig::from_map(&read_worker_file(path)?)?,
        None => WorkerConfig::from_map(&parse_text("defaults", "")?)?,
    };
    let config = ConnectorConfig::from_map(&read_connector_file(&args.connector)?, &worker)?;
    let options = ReplayOptions {
        from_topic: args.from_topic.clone(),
        since_ms: args.since.as_deref().map(parse_since).transpose()?,
        dry_run: args.dry_run,
    };
    let cache_dir = worker.plugin_cache_dir.clone().or_else(ComponentCache::default_dir);
    let runtime = PluginRuntime::new(ComponentCache::new(cache_dir))?;
    let summary = replay(config, &worker, &runtime, None, options).await?;
    if args.json {
        println!("{}", serde_json::to_string(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(ExitCode::SUCCESS)
}
