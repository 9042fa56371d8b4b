//! [`Settings`]: the connector configuration handed to `configure`.

use crate::PluginError;

/// The connector's settings: an ordered list of key/value pairs.
///
/// When a key appears more than once, the last occurrence wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pairs: Vec<(String, String)>,
}

impl Settings {
    /// Settings from key/value pairs, in order.
    pub fn new(pairs: Vec<(String, String)>) -> Self {
        Settings { pairs }
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, or `default` when it is not set.
    pub fn get_or<'a>(&'a self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// `key` as a boolean (`true`/`false`, any case, surrounding spaces ignored), or
    /// `default` when it is not set. Any other value is a `bad-setting` error naming `key`.
    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, PluginError> {
        let Some(raw) = self.get(key) else {
            return Ok(default);
        };
        let value = raw.trim();
        if value.eq_ignore_ascii_case("true") {
            Ok(true)
        } else if value.eq_ignore_ascii_case("false") {
            Ok(false)
        } else {
            Err(bad_setting(key, format!("{key} must be true or false, not {raw:?}")))
        }
    }

    /// `key` as an unsigned integer, or `default` when it is not set. Anything else is a
    /// `bad-setting` error naming `key`.
    pub fn get_u64(&self, key: &str, default: u64) -> Result<u64, PluginError> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| bad_setting(key, format!("{key} must be a non-negative integer, not {raw:?}"))),
        }
    }

    /// `key` as one of `allowed` (exact match), or `default` when it is not set. Any other
    /// value is a `bad-setting` error naming `key` and listing the allowed values.
    pub fn get_choice<'a>(&'a self, key: &str, default: &'a str, allowed: &[&str]) -> Result<&'a str, PluginError> {
        let value = self.get_or(key, default);
        if allowed.contains(&value) {
            Ok(value)
        } else {
            Err(bad_setting(key, format!("{key} must be one of {}, not {value:?}", allowed.join(", "))))
        }
    }

    /// The `(key, value)` pairs whose key starts with `prefix`, in order.
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.iter().filter(move |(k, _)| k.starts_with(prefix))
    }

    /// All `(key, value)` pairs, in order (duplicates included).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether there are no settings at all.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

fn bad_setting(key: &str, message: String) -> PluginError {
    PluginError::new("bad-setting", message).with_field(key)
}

impl From<Vec<(String, String)>> for Settings {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Settings::new(pairs)
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        Settings::new(iter.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl IntoIterator for Settings {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;

    fn into_iter(self) -> Self::IntoIter {
        self.pairs.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        [("a", "1"), ("flag", " TRUE "), ("bad", "yes"), ("x.one", "1"), ("a", "2"), ("x.two", "2")]
            .into_iter()
            .collect()
    }

    #[test]
    fn get_and_defaults() {
        let s = settings();
        assert_eq!(s.get("a"), Some("2"), "last occurrence wins");
        assert_eq!(s.get("missing"), None);
        assert_eq!(s.get_or("missing", "d"), "d");
        assert_eq!(s.len(), 6);
        assert!(!s.is_empty());
        assert_eq!(s.iter().next(), Some(("a", "1")));
    }

    #[test]
    fn booleans() {
        let s = settings();
        assert_eq!(s.get_bool("flag", false), Ok(true));
        assert_eq!(s.get_bool("missing", true), Ok(true));
        let err = s.get_bool("bad", false).unwrap_err();
        assert_eq!(err.code, "bad-setting");
        assert_eq!(err.field.as_deref(), Some("bad"));
        assert!(err.message.contains("bad"));
    }

    #[test]
    fn numbers_and_choices() {
        let s = settings();
        assert_eq!(s.get_u64("a", 0), Ok(2));
        assert_eq!(s.get_u64("missing", 9), Ok(9));
        assert_eq!(s.get_u64("bad", 0).unwrap_err().field.as_deref(), Some("bad"));
        assert_eq!(s.get_choice("missing", "x", &["x", "y"]), Ok("x"));
        let err = s.get_choice("bad", "x", &["x", "y"]).unwrap_err();
        assert!(err.message.contains("x, y"), "{}", err.message);
    }

    #[test]
    fn prefixes() {
        let s = settings();
        let keys: Vec<_> = s.keys_with_prefix("x.").map(|(k, _)| k).collect();
        assert_eq!(keys, ["x.one", "x.two"]);
    }
}
