//! Reading one transform's or predicate's settings (`transforms.<alias>.<setting>`) with
//! Kafka's `ConfigDef` rules: values are trimmed, lists are comma-separated, booleans are
//! `true`/`false` in any case. Every setting a transform reads is recorded, so a key it does not
//! know is an error that names the key and suggests the closest known one.

use std::collections::BTreeMap;

use anyhow::anyhow;

/// The settings of one alias, keyed by setting name (without the `transforms.<alias>.` prefix).
#[derive(Debug)]
pub(crate) struct Settings {
    prefix: String,
    class: String,
    values: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Settings {
    /// Settings under `prefix` (`transforms.mask.`) for `class`.
    pub(crate) fn new(prefix: String, class: String, values: BTreeMap<String, String>) -> Self {
        Settings { prefix, class, values, known: Vec::new() }
    }

    /// The full key of a setting (`transforms.mask.fields`).
    pub(crate) fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// An error about setting `name`, naming its full key.
    pub(crate) fn error_for(&self, name: &str, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("`{}`: {message}", self.key(name))
    }

    /// An error about the transform's settings as a whole (`transforms.ins`: ...).
    pub(crate) fn alias_error(&self, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("`{}` ({}): {message}", self.prefix.trim_end_matches('.'), self.class)
    }

    fn raw(&mut self, name: &'static str) -> Option<String> {
        if !self.known.contains(&name) {
            self.known.push(name);
        }
        self.values.get(name).map(|v| v.trim().to_string())
    }

    /// An optional string setting (trimmed).
    pub(crate) fn string(&mut self, name: &'static str) -> Option<String> {
        self.raw(name)
    }

    /// A string setting with a default.
    pub(crate) fn string_or(&mut self, name: &'static str, default: &str) -> String {
        self.raw(name).unwrap_or_else(|| default.to_string())
    }

    /// The error for a missing required setting, pointing at a present key that looks like a
    /// typo of it.
    fn missing(&self, name: &str, what: &str) -> anyhow::Error {
        let typo = self
            .values
            .keys()
            .filter(|k| distance(k, name) <= typo_budget(name))
            .map(|k| format!("; `{}` is set: a typo?", self.key(k)))
            .next()
            .unwrap_or_default();
        anyhow!("missing required key `{}` ({what}) for {}{typo}", self.key(name), self.class)
    }

    /// A required string setting; `what` says what it is, for the error.
    pub(crate) fn required(&mut self, name: &'static str, what: &str) -> anyhow::Result<String> {
        self.raw(name).ok_or_else(|| self.missing(name, what))
    }

    /// A required string setting that may not be empty.
    pub(crate) fn required_non_empty(&mut self, name: &'static str, what: &str) -> anyhow::Result<String> {
        let value = self.required(name, what)?;
        if value.is_empty() {
            return Err(self.error_for(name, format!("must not be empty ({what})")));
        }
        Ok(value)
    }

    /// An optional list setting (comma-separated, entries trimmed; empty text is an empty list).
    pub(crate) fn list(&mut self, name: &'static str) -> Option<Vec<String>> {
        self.raw(name).map(|v| split_list(&v))
    }

    /// A required list setting with at least one entry.
    pub(crate) fn required_list(&mut self, name: &'static str, what: &str) -> anyhow::Result<Vec<String>> {
        let list = self.list(name).ok_or_else(|| self.missing(name, what))?;
        if list.is_empty() {
            return Err(self.error_for(name, format!("empty list is not allowed; give {what}")));
        }
        Ok(list)
    }

    /// A boolean setting with a default.
    pub(crate) fn bool_or(&mut self, name: &'static str, default: bool) -> anyhow::Result<bool> {
        match self.raw(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.error_for(name, format!("expected `true` or `false`, found {v:?}"))),
        }
    }

    /// An optional 32-bit integer setting.
    pub(crate) fn int(&mut self, name: &'static str) -> anyhow::Result<Option<i32>> {
        match self.raw(name) {
            None => Ok(None),
            Some(v) => {
                v.parse().map(Some).map_err(|_| self.error_for(name, format!("expected an integer, found {v:?}")))
            }
        }
    }

    /// A setting that must be one of `choices` (exact case, as Kafka's `ValidString`).
    pub(crate) fn choice(
        &mut self,
        name: &'static str,
        choices: &[&str],
        default: Option<&str>,
    ) -> anyhow::Result<String> {
        let value = match (self.raw(name), default) {
            (Some(v), _) => v,
            (None, Some(d)) => return Ok(d.to_string()),
            (None, None) => {
                return Err(anyhow!(
                    "missing required key `{}` for {} (one of: {})",
                    self.key(name),
                    self.class,
                    choices.join(", ")
                ))
            }
        };
        if choices.contains(&value.as_str()) {
            return Ok(value);
        }
        let hint = choices
            .iter()
            .find(|c| c.eq_ignore_ascii_case(&value))
            .map(|c| format!(" (did you mean `{c}`? the case matters)"))
            .unwrap_or_default();
        Err(self.error_for(name, format!("invalid value {value:?}: must be one of {}{hint}", choices.join(", "))))
    }

    /// Fails on the first key the transform did not read, suggesting the closest known key.
    pub(crate) fn finish(self) -> anyhow::Result<()> {
        let Some(unknown) = self.values.keys().find(|k| !self.known.contains(&k.as_str())) else {
            return Ok(());
        };
        let suggestion = self
            .known
            .iter()
            .map(|k| (distance(unknown, k), *k))
            .filter(|(d, k)| *d <= typo_budget(k))
            .min()
            .map(|(_, k)| format!("did you mean `{}`? ", self.key(k)))
            .unwrap_or_default();
        let mut known: Vec<String> = self.known.iter().map(|k| k.to_string()).collect();
        known.extend(["predicate".to_string(), "negate".to_string()]);
        if self.prefix.starts_with("predicates.") {
            known.retain(|k| k != "predicate" && k != "negate");
        }
        Err(anyhow!(
            "unknown key `{}` for {}: {suggestion}(its settings are: {})",
            self.key(unknown),
            self.class,
            if known.is_empty() { "none".to_string() } else { known.join(", ") }
        ))
    }
}

/// Kafka's list syntax: comma-separated with the whitespace around entries dropped; empty
/// text is an empty list.
pub(crate) fn split_list(text: &str) -> Vec<String> {
    let text = text.trim();
    if text.is_empty() {
        return Vec::new();
    }
    text.split(',').map(|s| s.trim().to_string()).collect()
}

fn typo_budget(key: &str) -> usize {
    match key.len() {
        0..=4 => 1,
        5..=10 => 2,
        _ => 3,
    }
}

pub(crate) use crate::config::keys::distance;

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            "transforms.t.".into(),
            "Test".into(),
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        )
    }

    #[test]
    fn lists_and_booleans_follow_config_def() {
        let mut s = settings(&[("fields", " a , b,c "), ("empty", "  "), ("flag", "TRUE")]);
        assert_eq!(s.list("fields"), Some(vec!["a".into(), "b".into(), "c".into()]));
        assert_eq!(s.list("empty"), Some(vec![]));
        assert!(s.bool_or("flag", false).unwrap());
        s.finish().unwrap();
    }

    #[test]
    fn unknown_key_names_the_key_and_a_suggestion() {
        let mut s = settings(&[("feilds", "a")]);
        let _ = s.list("fields");
        let error = s.finish().unwrap_err().to_string();
        assert!(
            error.contains("`transforms.t.feilds`") && error.contains("did you mean `transforms.t.fields`"),
            "{error}"
        );
    }

    #[test]
    fn choice_hints_at_case() {
        let mut s = settings(&[("target.type", "timestamp")]);
        let error = s.choice("target.type", &["string", "Timestamp"], None).unwrap_err().to_string();
        assert!(error.contains("`transforms.t.target.type`") && error.contains("`Timestamp`"), "{error}");
    }
}
