//! Logging: the subscriber the binary installs, log levels changed while running (Kafka
//! Connect's `/admin/loggers`), and the hiding of credentials in everything written to the
//! log. A logger is a tracing target (`sluice::sinks`, `librdkafka`) or `root`, the default
//! level.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock, RwLock};

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The levels Kafka Connect accepts, and the tracing level each maps to.
const LEVELS: &[(&str, &str)] = &[
    ("OFF", "off"),
    ("FATAL", "error"),
    ("ERROR", "error"),
    ("WARN", "warn"),
    ("INFO", "info"),
    ("DEBUG", "debug"),
    ("TRACE", "trace"),
    ("ALL", "trace"),
];

/// A logger's level and when it was last set (milliseconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerLevel {
    /// Upper-case level (`INFO`).
    pub level: String,
    /// When it was set through the API; `None` for levels from the start-up configuration.
    pub last_modified: Option<i64>,
}

struct Levels {
    /// Directives from `SLUICE_LOG` / `RUST_LOG` or the default.
    base: Vec<String>,
    /// Levels set through the API, by logger.
    set: BTreeMap<String, LoggerLevel>,
}

static LEVELS_STATE: Mutex<Option<Levels>> = Mutex::new(None);
static HANDLE: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

fn state() -> std::sync::MutexGuard<'static, Option<Levels>> {
    LEVELS_STATE.lock().unwrap_or_else(|e| e.into_inner())
}

fn base_directives() -> Vec<String> {
    let text = std::env::var("SLUICE_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .filter(|t| EnvFilter::try_new(t).is_ok())
        .unwrap_or_else(|| "info,librdkafka=warn".to_string());
    text.split(',').map(str::trim).filter(|d| !d.is_empty()).map(String::from).collect()
}

/// Installs the subscriber (logs to stderr; levels from `SLUICE_LOG`, then `RUST_LOG`, then
/// `info`), with levels that `set_level` can change later.
pub fn init() {
    let levels = Levels { base: base_directives(), set: BTreeMap::new() };
    let filter = EnvFilter::new(directives(&levels));
    *state() = Some(levels);
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(|| HidingWriter);
    if tracing_subscriber::registry().with(filter).with(fmt).try_init().is_ok() {
        let _ = HANDLE.set(handle);
    }
}

/// Credential values of the connectors (and worker) configured so far; every log line and
/// fatal error is written with them replaced by `[hidden]`.
static HIDDEN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What a hidden value is replaced by, in logs as in status traces.
pub const HIDDEN_MARK: &str = "[hidden]";

/// Adds credential values to hide from the log from now on. Values shorter than 4
/// characters are not hidden (they would mask ordinary words).
pub fn hide(values: impl IntoIterator<Item = String>) {
    let mut hidden = HIDDEN.write().unwrap_or_else(|e| e.into_inner());
    for value in values {
        if value.len() >= 4 && !hidden.contains(&value) {
            hidden.push(value);
        }
    }
    // Longer values first, so a secret containing another is hidden whole.
    hidden.sort_by_key(|v| std::cmp::Reverse(v.len()));
}

/// `text` with every value given to [`hide`] replaced by `[hidden]`.
pub fn redact(text: &str) -> Cow<'_, str> {
    let hidden = HIDDEN.read().unwrap_or_else(|e| e.into_inner());
    let mut text = Cow::Borrowed(text);
    for value in hidden.iter() {
        if text.contains(value.as_str()) {
            text = Cow::Owned(text.replace(value.as_str(), HIDDEN_MARK));
        }
    }
    text
}

/// Standard error with [`redact`] applied to each write (the formatter writes one event per
/// call).
struct HidingWriter;

impl std::io::Write for HidingWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(bytes);
        std::io::stderr().lock().write_all(redact(&text).as_bytes())?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn directives(levels: &Levels) -> String {
    let overridden = |directive: &str| match directive.split_once('=') {
        None => levels.set.contains_key("root"),
        Some((target, _)) => levels.set.contains_key(target),
    };
    let mut out: Vec<String> = levels.base.iter().filter(|d| !overridden(d)).cloned().collect();
    for (logger, level) in &levels.set {
        let level = tracing_level(&level.level).unwrap_or("info");
        out.push(if logger == "root" { level.to_string() } else { format!("{logger}={level}") });
    }
    out.join(",")
}

fn tracing_level(level: &str) -> Option<&'static str> {
    LEVELS.iter().find(|(name, _)| name.eq_ignore_ascii_case(level)).map(|(_, l)| *l)
}

fn upper(directive_level: &str) -> String {
    match directive_level {
        "off" => "OFF".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// The root level and every logger whose level was set.
pub fn loggers() -> BTreeMap<String, LoggerLevel> {
    let guard = state();
    let base = guard.as_ref().map(|l| l.base.clone()).unwrap_or_else(base_directives);
    let mut out = BTreeMap::new();
    let root = base.iter().rev().find(|d| !d.contains('=')).map(|d| upper(d)).unwrap_or_else(|| "ERROR".into());
    out.insert("root".to_string(), LoggerLevel { level: root, last_modified: None });
    for directive in &base {
        if let Some((target, level)) = directive.split_once('=') {
            out.insert(target.to_string(), LoggerLevel { level: upper(level), last_modified: None });
        }
    }
    if let Some(levels) = guard.as_ref() {
        out.extend(levels.set.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    out
}

/// The level of one logger: its own, or the closest ancestor's (`a::b` inherits from `a`),
/// or root's.
pub fn level(logger: &str) -> LoggerLevel {
    let all = loggers();
    let mut name = logger;
    loop {
        if let Some(level) = all.get(name) {
            return if name == logger { level.clone() } else { LoggerLevel { last_modified: None, ..level.clone() } };
        }
        match name.rfind("::").or_else(|| name.rfind('.')) {
            Some(cut) => name = &name[..cut],
            None => return LoggerLevel { last_modified: None, ..all["root"].clone() },
        }
    }
}

/// Sets a logger's level (Kafka Connect's names: `DEBUG`, `INFO`, …); returns the loggers
/// affected, or `None` for a level that does not exist.
pub fn set_level(logger: &str, level: &str) -> Option<Vec<String>> {
    tracing_level(level)?;
    let mut guard = state();
    let levels = guard.get_or_insert_with(|| Levels { base: base_directives(), set: BTreeMap::new() });
    let now = chrono::Utc::now().timestamp_millis();
    levels.set.insert(logger.to_string(), LoggerLevel { level: level.to_ascii_uppercase(), last_modified: Some(now) });
    let directives = directives(levels);
    if let (Some(handle), Ok(filter)) = (HANDLE.get(), EnvFilter::try_new(&directives)) {
        if let Err(error) = handle.reload(filter) {
            tracing::warn!(%error, "Changing the log level failed.");
        }
    }
    tracing::info!(logger, level, "Log level changed.");
    let mut affected: Vec<String> = levels
        .set
        .keys()
        .filter(|k| logger == "root" || *k == logger || k.starts_with(&format!("{logger}::")))
        .cloned()
        .collect();
    if !affected.iter().any(|k| k == logger) {
        affected.push(logger.to_string());
    }
    Some(affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_values_are_replaced_whole_and_short_ones_are_kept() {
        hide(["s3cret-value".to_string(), "s3cret-value-longer".to_string(), "abc".to_string()]);
        assert_eq!(redact("a s3cret-value-longer and s3cret-value; abc"), "a [hidden] and [hidden]; abc");
        assert!(matches!(redact("nothing to hide"), Cow::Borrowed(_)));
    }
}
