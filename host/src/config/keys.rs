//! Checking config keys: known keys pass, likely typos of known keys are errors that name
//! the key and suggest the right one, unknown keys in sluice's own namespaces are errors,
//! and other unknown keys (Kafka Connect keys sluice does not use) are noted in the log.

use super::ConfigMap;

/// Namespaces that belong to sluice: every key under them must be known.
pub const SLUICE_NAMESPACES: &[&str] = &["sluice.", "parser."];

/// The keys one kind of file understands.
#[derive(Debug, Clone, Copy)]
pub struct KeySet<'a> {
    /// Exact key names.
    pub keys: &'a [&'a str],
    /// Prefixes under which any key is accepted (`consumer.`, `tablestore.`...).
    pub prefixes: &'a [&'a str],
}

/// The result of a key check.
#[derive(Debug, Default)]
pub struct KeyCheck {
    /// Keys accepted but not used by sluice (logged as a note).
    pub ignored: Vec<String>,
}

/// A key that is not accepted, and why (a likely typo, or an unknown key in sluice's own
/// namespaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    /// The key as written.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// Checks every key of `map` against the known sets; fails on the first refused key.
pub fn check(map: &ConfigMap, sets: &[KeySet<'_>]) -> anyhow::Result<KeyCheck> {
    let (checked, problems) = problems(map, sets);
    match problems.into_iter().next() {
        Some(problem) => Err(anyhow::anyhow!(problem.message)),
        None => Ok(checked),
    }
}

/// Checks every key of `map` against the known sets and returns every refused key at once
/// (for `sluice validate` and the REST validate endpoint).
pub fn problems(map: &ConfigMap, sets: &[KeySet<'_>]) -> (KeyCheck, Vec<KeyProblem>) {
    let mut result = KeyCheck::default();
    let mut problems = Vec::new();
    let known = |key: &str| sets.iter().any(|s| s.keys.contains(&key) || s.prefixes.iter().any(|p| key.starts_with(p)));
    for key in map.keys() {
        if known(key) {
            continue;
        }
        let suggestion = sets
            .iter()
            .flat_map(|s| s.keys.iter())
            .map(|k| (distance(key, k), *k))
            .filter(|(d, k)| *d <= typo_budget(k))
            .min();
        let message = if let Some((_, suggestion)) = suggestion {
            format!("unknown key `{key}` in {}: did you mean `{suggestion}`?", map.origin())
        } else if let Some(namespace) = SLUICE_NAMESPACES.iter().find(|ns| key.starts_with(**ns)) {
            format!(
                "unknown key `{key}` in {}: keys under `{namespace}` are sluice's own and this one is not \
                 one of them (see the configuration reference in README.md)",
                map.origin(),
            )
        } else {
            result.ignored.push(key.to_string());
            continue;
        };
        problems.push(KeyProblem { key: key.to_string(), message });
    }
    (result, problems)
}

fn typo_budget(key: &str) -> usize {
    match key.len() {
        0..=4 => 0,
        5..=10 => 1,
        _ => 2,
    }
}

/// Levenshtein distance over bytes (keys are ASCII); also used for transform settings.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: KeySet<'static> =
        KeySet { keys: &["parser.plugin", "parser.timeout.ms", "topics", "file"], prefixes: &["consumer."] };

    fn map(pairs: &[(&str, &str)]) -> ConfigMap {
        ConfigMap::new("test.properties", pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn typo_is_an_error_naming_key_and_suggestion() {
        let error = check(&map(&[("parser.plugn", "x")]), &[SET]).unwrap_err().to_string();
        assert!(error.contains("`parser.plugn`") && error.contains("`parser.plugin`"), "{error}");
    }

    #[test]
    fn unknown_sluice_key_is_an_error() {
        let error = check(&map(&[("parser.whatever.else", "x")]), &[SET]).unwrap_err().to_string();
        assert!(error.contains("`parser.whatever.else`"), "{error}");
    }

    #[test]
    fn unknown_foreign_key_is_noted() {
        let checked = check(&map(&[("transforms", "x"), ("consumer.max.poll.records", "5")]), &[SET]).unwrap();
        assert_eq!(checked.ignored, vec!["transforms".to_string()]);
    }

    #[test]
    fn levenshtein() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
    }
}
