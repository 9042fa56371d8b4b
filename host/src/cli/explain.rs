//! `sluice explain CONNECTOR_FILE (--record FILE | --from TOPIC:PARTITION:OFFSET)`: runs
//! records through the connector's converters, transforms, parser and sink encoding and
//! prints every stage (see [`crate::explain`]); writes nothing.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use crate::config::{parse_text, read_connector_file, read_worker_file, ConnectorConfig, WorkerConfig};
use crate::explain::{default_topic, Explainer, RecordInput};
use crate::model::KafkaRecord;
use crate::plugin::{ComponentCache, PluginRuntime};
use crate::source::fetch::{parse_coordinates, RangeReader, Start};

/// Arguments of `sluice explain`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["record", "from"])))]
pub struct Args {
    /// The connector file (`.properties` or JSON).
    connector: PathBuf,
    /// The worker file (converters, `bootstrap.servers` for `--from`); defaults otherwise.
    #[arg(long)]
    worker: Option<PathBuf>,
    /// Records to explain, one per line (`-` for stdin): the value, or `key<TAB>value` as
    /// `sluice produce` reads them; with `--json-records`, a JSON object per line
    /// (`{"topic","partition","offset","key","value","headers"}`, bytes as text or
    /// `{"base64": …}`).
    #[arg(long)]
    record: Option<PathBuf>,
    /// Read records from Kafka, starting at `TOPIC:PARTITION:OFFSET`.
    #[arg(long)]
    from: Option<String>,
    /// With `--from`: how many records to explain.
    #[arg(long, default_value_t = 1, requires = "from")]
    count: usize,
    /// With `--record`: the topic the records come from (default: the connector's first).
    #[arg(long, requires = "record")]
    topic: Option<String>,
    /// With `--record`: lines are whole values (no `key<TAB>value` split).
    #[arg(long, requires = "record")]
    no_keys: bool,
    /// With `--record`: each line is a JSON record object.
    #[arg(long, requires = "record")]
    json_records: bool,
    /// Print the explanations as JSON (one object per record, one per line).
    #[arg(long)]
    json: bool,
}

/// Explains the records and prints the explanations.
pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let worker = match &args.worker {
        Some(path) => WorkerConfig::from_map(&read_worker_file(path)?)?,
        None => WorkerConfig::from_map(&parse_text("defaults", "")?)?,
    };
    let config = ConnectorConfig::from_map(&read_connector_file(&args.connector)?, &worker)?;
    let records = match (&args.record, &args.from) {
        (Some(path), _) => read_records(path, &args, default_topic(&config))?,
        (None, Some(from)) => {
            let (topic, partition, offset) = parse_coordinates(from)?;
            let bootstrap = worker.bootstrap_servers.clone();
            let settings = config.consumer_settings.clone();
            let count = args.count;
            tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<KafkaRecord>> {
                let reader = RangeReader::new(&bootstrap, &settings, "sluice-explain")?;
                Ok(reader.read(&topic, partition, Start::Offset(offset), count)?.0)
            })
            .await??
        }
        (None, None) => anyhow::bail!("give --record FILE or --from TOPIC:PARTITION:OFFSET"),
    };
    if records.is_empty() {
        anyhow::bail!("no records to explain (the file is empty, or nothing is stored at that offset yet)");
    }
    let cache_dir = worker.plugin_cache_dir.clone().or_else(ComponentCache::default_dir);
    let runtime = PluginRuntime::new(ComponentCache::new(cache_dir))?;
    let mut explainer = Explainer::open(config, &worker, &runtime, None).await?;
    for record in &records {
        let explanation = explainer.explain(record).await;
        if args.json {
            println!("{}", serde_json::to_string(&explanation)?);
        } else {
            println!("{}", explanation.to_text());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The records of a `--record` file.
fn read_records(path: &Path, args: &Args, default_topic: Option<&str>) -> anyhow::Result<Vec<KafkaRecord>> {
    let lines: Vec<String> = if path.as_os_str() == "-" {
        std::io::stdin().lock().lines().collect::<Result<_, _>>()?
    } else {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        std::io::BufReader::new(file).lines().collect::<Result<_, _>>()?
    };
    let topic = args.topic.as_deref().or(default_topic);
    let mut records = Vec::new();
    for (number, line) in lines.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        let at = || format!("{} line {}", path.display(), number + 1);
        let input = if args.json_records {
            serde_json::from_str::<RecordInput>(line).with_context(at)?
        } else {
            let (key, value) = match line.split_once('\t') {
                Some((key, value)) if !args.no_keys => (Some(key), value),
                _ => (None, line.as_str()),
            };
            RecordInput {
                key: key.map(|k| crate::explain::Payload::Text(k.to_string())),
                value: Some(crate::explain::Payload::Text(value.to_string())),
                offset: Some(number as i64),
                ..RecordInput::default()
            }
        };
        records.push(input.into_record(topic).with_context(at)?);
    }
    Ok(records)
}
