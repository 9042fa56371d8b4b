//! `sluice plugin test | inspect | new`: the plugin author's tools.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context as _};

use crate::config::{parse_text, ConfigMap};
use crate::plugin::{testing, ComponentCache, PluginLimits, PluginRuntime, PluginSource};
use crate::sinks::SinkKind;

mod scaffold;

/// Plugin subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PluginCommand {
    /// Run a plugin on sample records under production limits and print each record's outputs
    /// or error; with --expect, exit non-zero on any difference and show it.
    Test {
        /// The component (`.wasm`), or `builtin:<name>`.
        plugin: String,
        /// Settings passed to `configure` (properties or JSON), including the `parser.*` limits.
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Sample records, one JSON object per line.
        #[arg(long)]
        input: PathBuf,
        /// Expected results, one JSON line per record (as printed without --expect).
        #[arg(long)]
        expect: Option<PathBuf>,
        /// Records per `parse` call.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Show the world a component implements, its imports and exports, its size and compile
    /// time; exits non-zero if the host would refuse it.
    Inspect {
        /// The component (`.wasm`).
        plugin: PathBuf,
    },
    /// Measure a plugin's cost per record on sample records under production limits: the
    /// records are repeated to `--records`, parsed in batches, and the best of several passes
    /// is reported (one core).
    Bench {
        /// The component (`.wasm`), or `builtin:<name>`.
        plugin: String,
        /// Settings passed to `configure` (properties or JSON).
        #[arg(long)]
        settings: Option<PathBuf>,
        /// Sample records, one JSON object per line.
        #[arg(long)]
        input: PathBuf,
        /// Records per pass.
        #[arg(long, default_value_t = 20_000)]
        records: usize,
        /// Records per `parse` call.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
    },
    /// Create a plugin project that builds and passes its own sample test right away.
    New {
        /// Language of the plugin.
        #[arg(long, value_enum)]
        lang: scaffold::Lang,
        /// Project name (also the directory created).
        name: String,
    },
}

/// Runs a plugin subcommand.
pub fn run(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Test { plugin, settings, input, expect, batch_size } => {
            test(&plugin, settings.as_deref(), &input, expect.as_deref(), batch_size)
        }
        PluginCommand::Inspect { plugin } => inspect(&plugin),
        PluginCommand::Bench { plugin, settings, input, records, batch_size } => {
            bench(&plugin, settings.as_deref(), &input, records, batch_size)
        }
        PluginCommand::New { lang, name } => scaffold::create(lang, &name).map(|()| ExitCode::SUCCESS),
    }
}

fn runtime() -> anyhow::Result<PluginRuntime> {
    PluginRuntime::new(ComponentCache::new(ComponentCache::default_dir()))
}

fn source(plugin: &str) -> PluginSource {
    match plugin.strip_prefix("builtin:") {
        Some(name) => PluginSource::Builtin(name.to_string()),
        None => PluginSource::File(PathBuf::from(plugin)),
    }
}

/// Settings, limits and records for `test` and `bench`.
struct Inputs {
    settings: Vec<(String, String)>,
    limits: PluginLimits,
    records: Vec<crate::model::KafkaRecord>,
}

fn read_inputs(settings: Option<&Path>, input: &Path) -> anyhow::Result<Inputs> {
    let settings = match settings {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading settings {}", path.display()))?;
            parse_text(&path.display().to_string(), &text)?
        }
        None => ConfigMap::new("(no settings)", Default::default()),
    };
    let defaults = PluginLimits::default();
    let limits = PluginLimits {
        call_timeout: settings.millis_or("parser.timeout.ms", defaults.call_timeout.as_millis() as u64)?,
        max_memory_bytes: settings.parse_or(
            "parser.memory.max.bytes",
            defaults.max_memory_bytes,
            "a number of bytes",
        )?,
        max_stdio_bytes: settings.parse_or("parser.stdio.max.bytes", defaults.max_stdio_bytes, "a number of bytes")?,
    };
    let records_text = std::fs::read_to_string(input).with_context(|| format!("reading {}", input.display()))?;
    let records = testing::parse_records(&records_text).with_context(|| format!("in {}", input.display()))?;
    let mut settings: Vec<(String, String)> = settings.entries().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    // A connector file as settings: add what its sink would tell the parser (the sink mode).
    if let Some(kind) =
        settings.iter().find(|(k, _)| k == "connector.class").and_then(|(_, c)| SinkKind::from_class(c).ok())
    {
        settings.extend(kind.parser_settings());
    }
    Ok(Inputs { settings, limits, records })
}

fn bench(
    plugin: &str,
    settings: Option<&Path>,
    input: &Path,
    count: usize,
    batch_size: usize,
) -> anyhow::Result<ExitCode> {
    let Inputs { settings, limits, records } = read_inputs(settings, input)?;
    if records.is_empty() {
        bail!("{} has no records", input.display());
    }
    let records: Vec<_> = records.iter().cycle().take(count.max(1)).cloned().collect();
    let loaded = runtime()?.load(&source(plugin))?;
    let started = Instant::now();
    let mut instance = crate::plugin::PluginInstance::new(loaded.clone(), &settings, limits, "bench".into())?;
    let ready = started.elapsed();
    let mut best = std::time::Duration::MAX;
    for _ in 0..5 {
        let started = Instant::now();
        for batch in records.chunks(batch_size.max(1)) {
            instance
                .parse(batch)
                .map_err(|failure| anyhow::anyhow!("the plugin failed during the benchmark: {failure}"))?;
        }
        best = best.min(started.elapsed());
    }
    let ns = best.as_nanos() as f64 / records.len() as f64;
    println!(
        "plugin={} records={} batch={} ns_per_record={:.0} records_per_sec={:.0} instantiate_and_configure_us={}",
        loaded.name,
        records.len(),
        batch_size,
        ns,
        1e9 / ns,
        ready.as_micros()
    );
    Ok(ExitCode::SUCCESS)
}

fn test(
    plugin: &str,
    settings: Option<&Path>,
    input: &Path,
    expect: Option<&Path>,
    batch_size: usize,
) -> anyhow::Result<ExitCode> {
    let Inputs { settings, limits, records } = read_inputs(settings, input)?;
    let plugin = runtime()?.load(&source(plugin))?;
    let results = testing::run(plugin, &settings, limits, &records, batch_size)?;

    let Some(expect) = expect else {
        for line in &results {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    };
    let expected = std::fs::read_to_string(expect).with_context(|| format!("reading {}", expect.display()))?;
    let mismatches = testing::compare(&results, &expected)?;
    if mismatches.is_empty() {
        println!("ok: {} records match {}", results.len(), expect.display());
        return Ok(ExitCode::SUCCESS);
    }
    let show = |line: &Option<serde_json::Value>| line.as_ref().map_or("(none)".to_string(), ToString::to_string);
    for mismatch in &mismatches {
        println!("record #{} differs:", mismatch.position);
        if let (Some(expected), Some(actual)) = (&mismatch.expected, &mismatch.actual) {
            if let Some((path, e, a)) = testing::first_difference(expected, actual) {
                println!("  at `{path}`: expected {e}, got {a}");
            }
        }
        println!("  - expected: {}", show(&mismatch.expected));
        println!("  + actual:   {}", show(&mismatch.actual));
    }
    println!(
        "FAILED: {} of {} records differ from {}",
        mismatches.len(),
        results.len().max(mismatches.len()),
        expect.display()
    );
    Ok(ExitCode::FAILURE)
}

fn inspect(path: &Path) -> anyhow::Result<ExitCode> {
    let wasm = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let runtime = runtime()?;
    let inspection = runtime.inspect(&wasm)?;
    println!("plugin:       {}", path.display());
    println!("size:         {} bytes (sha256 {})", inspection.size_bytes, inspection.digest);
    println!(
        "compile time: {} ms (from scratch; later starts load the cached compilation)",
        inspection.compile_time.as_millis()
    );
    println!("exports:");
    for export in &inspection.exports {
        println!("  {export}");
    }
    println!("imports:");
    for import in &inspection.imports {
        println!("  {import}");
    }
    match &inspection.verdict {
        Ok(report) => {
            let started = Instant::now();
            let plugin = runtime.load_bytes(path.display().to_string(), &wasm)?;
            let ready = crate::plugin::PluginInstance::new(plugin, &[], PluginLimits::default(), "inspect".into());
            let (world, outputs) = if report.compact {
                ("compact-parser", "the compact encoding (parse-compact)")
            } else {
                ("parser", "canonical ABI values (parse)")
            };
            println!("world:        sluice:plugin/{world}@{} (compatible with this host)", report.contract_version);
            println!("outputs:      {outputs}");
            match ready {
                Ok(_) => {
                    println!("instantiate:  {} µs including configure with no settings", started.elapsed().as_micros())
                }
                Err(error) => println!("instantiate:  ok; configure with no settings refused: {error}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            println!("refused:      {reason}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Fails with a clear message when a file that must not exist does.
fn ensure_absent(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!("{} already exists; choose another name or remove it", path.display());
    }
    Ok(())
}
