//! Every problem of a connector configuration at once, per key: the REST validate endpoint
//! (and `sluice validate`) report them all instead of stopping at the first.

use std::collections::BTreeMap;

use super::keys::{self, KeySet};
use super::{ConfigMap, ConnectorConfig, WorkerConfig, CONNECTOR_KEYS};
use crate::sinks::SinkKind;

/// Keys every connector must set.
pub const REQUIRED_KEYS: &[&str] = &["name", "connector.class", "topics"];

/// The errors of each key of `map` (every key of the map and every required key appears,
/// most with no error).
pub fn problems(map: &ConfigMap, worker: &WorkerConfig) -> BTreeMap<String, Vec<String>> {
    let mut errors: BTreeMap<String, Vec<String>> = map.keys().map(|k| (k.to_string(), Vec::new())).collect();
    for key in REQUIRED_KEYS {
        errors.entry(key.to_string()).or_default();
    }
    let mut add = |key: &str, message: String| errors.entry(key.to_string()).or_default().push(message);

    for key in ["name", "connector.class"] {
        if map.get(key).is_none() {
            add(key, format!("Missing required configuration \"{key}\" which has no default value."));
        }
    }
    if map.get("topics").is_none() && map.get("topics.regex").is_none() {
        add("topics", "Must configure one of topics or topics.regex".to_string());
    }
    let sink = map.get("connector.class").map(SinkKind::from_class);
    if let Some(Err(error)) = &sink {
        add("connector.class", format!("{error:#}"));
    }
    let sink_keys = match &sink {
        Some(Ok(sink)) => sink.keys(),
        _ => KeySet { keys: &[], prefixes: &[""] },
    };
    let parser_keys = match (&sink, map.get("parser.plugin")) {
        (Some(Ok(sink)), None) => crate::plugin::builtin_keys(map.get("parser").unwrap_or(sink.default_parser())),
        _ => KeySet { keys: &[], prefixes: &["parser."] },
    };
    let (_, key_problems) = keys::problems(map, &[CONNECTOR_KEYS, sink_keys, parser_keys]);
    let refused_keys = !key_problems.is_empty();
    for problem in key_problems {
        add(&problem.key, problem.message);
    }

    // The full check stops at its first error: report it under the key it names, take that
    // key's value away and check again, until the check passes, names a key a second time
    // (say, now as missing) or names one the file does not set.
    let basic_errors = errors.values().any(|e| !e.is_empty());
    if !basic_errors && !refused_keys {
        let mut trial = map.clone();
        let mut reported: Vec<String> = Vec::new();
        while let Err(error) = ConnectorConfig::from_map(&trial, worker) {
            let message = format!("{error:#}");
            let key = named_keys(&message)
                .into_iter()
                .find(|k| errors.contains_key(*k))
                .or_else(|| named_keys(&message).into_iter().next())
                .unwrap_or("connector.class")
                .to_string();
            if reported.contains(&key) {
                break;
            }
            errors.entry(key.clone()).or_default().push(message);
            if trial.get(&key).is_none() || REQUIRED_KEYS.contains(&key.as_str()) {
                break;
            }
            trial.remove(&key);
            reported.push(key);
        }
    }
    errors
}

/// The keys a message names in backquotes, in order.
fn named_keys(message: &str) -> Vec<&str> {
    message.split('`').skip(1).step_by(2).filter(|k| !k.is_empty() && !k.contains(' ')).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_text;

    #[test]
    fn every_problem_is_reported_under_its_key() {
        let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
        let map =
            parse_text("c", "connector.class=FileStreamSink\nparser.timeout.msx=5\nsluice.batch.linger=3\n").unwrap();
        let errors = problems(&map, &worker);
        assert!(errors["name"][0].contains("\"name\""), "{errors:?}");
        assert!(errors["topics"][0].contains("topics.regex"), "{errors:?}");
        assert!(errors["parser.timeout.msx"][0].contains("`parser.timeout.ms`"), "{errors:?}");
        assert!(errors["sluice.batch.linger"][0].contains("`sluice.`"), "{errors:?}");
        assert!(errors["connector.class"].is_empty(), "{errors:?}");
    }

    #[test]
    fn a_value_error_names_its_key() {
        let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
        let map = parse_text("c", "name=x\nconnector.class=FileStreamSink\ntopics=t\ntasks.max=zero\n").unwrap();
        let errors = problems(&map, &worker);
        assert!(errors["tasks.max"][0].contains("whole number"), "{errors:?}");
    }

    #[test]
    fn every_value_error_is_reported_not_only_the_first() {
        let worker = WorkerConfig::from_map(&parse_text("w", "").unwrap()).unwrap();
        let map = parse_text(
            "c",
            "name=x\nconnector.class=FileStreamSink\ntopics=t\ntasks.max=zero\nerrors.retry.timeout=soon\n\
             errors.tolerance=some\n",
        )
        .unwrap();
        let errors = problems(&map, &worker);
        let refused: Vec<&str> = errors.iter().filter(|(_, e)| !e.is_empty()).map(|(k, _)| k.as_str()).collect();
        assert_eq!(refused, ["errors.retry.timeout", "errors.tolerance", "tasks.max"], "{errors:?}");
        assert!(errors.values().all(|e| e.len() <= 1), "each reported once: {errors:?}");
    }
}
