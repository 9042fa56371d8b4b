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

/// Checks every key of `map` against the known sets.
pub fn check(map: &ConfigMap, sets: &[KeySet<'_>]) -> anyhow::Result<KeyCheck> {
    let mut result = KeyCheck::default();
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
        if let Some((_, suggestion)) = suggestion {
            anyhow::bail!("unknown key `{key}` in {}: did you mean `{suggestion}`?", map.origin());
        }
        if SLUICE_NAMESPACES.iter().any(|ns| key.starts_with(ns)) {
            anyhow::bail!(
                "unknown key `{key}` in {}: keys under `{}` are sluice's own and this one is not \
                 one of them (see the configuration reference in README.md)",
                map.origin(),
                SLUICE_NAMESPACES.iter().find(|ns| key.starts_with(**ns)).unwrap()
            );
        }
        result.ignored.push(key.to_string());
    }
    Ok(result)
}

fn typo_budget(key: &str) -> usize {
    match key.len() {
        0..=4 => 0,
        5..=10 => 1,
        _ => 2,
    }
}

/// Levenshtein distance over bytes (keys are ASCII).
fn distance(a: &str, b: &str) -> usize {
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
