//! Routing transforms: `RegexRouter` (a new topic from a regular expression over the old one)
//! and `Filter` (drops the record; used with a predicate).
//!
//! Kafka's patterns are Java regular expressions; sluice runs them with Rust's `regex` crate,
//! which has the same syntax for everything topic patterns use (classes, groups, named groups
//! `(?<name>..)`, alternation, quantifiers, inline flags) but no look-around and no
//! back-references: such patterns are refused at load.

use regex::Regex;

use super::config::Settings;
use super::record::ConnectRecord;
use super::{DataError, Touches, Transform};

/// Compiles a Java pattern; with `whole`, it must match the entire text (Java's
/// `Matcher.matches`).
pub(crate) fn compile_java_regex(pattern: &str, whole: bool) -> Result<Regex, String> {
    let text = if whole { format!("^(?:{pattern})$") } else { pattern.to_string() };
    Regex::new(&text).map_err(|e| {
        let detail = e.to_string();
        let hint = if detail.contains("look-around") || detail.contains("backreference") {
            " (sluice uses Rust's regex syntax, which has no look-around or back-references)"
        } else {
            ""
        };
        format!("not a regular expression sluice can run: {pattern:?}{hint}: {}", detail.lines().last().unwrap_or(""))
    })
}

/// Rewrites a Java replacement string (`$1`, `${name}`, `\$` for a literal dollar) as the
/// `regex` crate's (`${1}`, `${name}`, `$$`), checking group references against `regex`.
pub(crate) fn java_replacement(replacement: &str, regex: &Regex) -> Result<String, String> {
    let groups = regex.captures_len() - 1;
    let mut out = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(other) => out.push(other),
                None => return Err("character to be escaped is missing (a trailing `\\`)".into()),
            },
            '$' => {
                match chars.peek() {
                    Some('{') => {
                        chars.next();
                        let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                        if !regex.capture_names().flatten().any(|n| n == name) {
                            return Err(format!("no group with name {{{name}}} in the regex"));
                        }
                        out.push_str(&format!("${{{name}}}"));
                    }
                    Some(d) if d.is_ascii_digit() => {
                        // Java reads further digits only while the number stays a valid group.
                        let mut number = chars.next().and_then(|d| d.to_digit(10)).unwrap_or(0) as usize;
                        if number > groups {
                            return Err(format!("no group {number}: the regex has {groups} group(s)"));
                        }
                        while let Some(next) = chars.peek().and_then(|d| d.to_digit(10)) {
                            let longer = number * 10 + next as usize;
                            if longer > groups {
                                break;
                            }
                            number = longer;
                            chars.next();
                        }
                        out.push_str(&format!("${{{number}}}"));
                    }
                    _ => return Err(
                        "illegal group reference: `$` must be followed by a group number or {name}; write `\\$` for a \
                         literal dollar"
                            .into(),
                    ),
                }
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// `RegexRouter`: when `regex` matches the whole topic, the topic becomes `replacement`
/// applied to the first match (Java's `replaceFirst`), with `$1`-style group references;
/// other topics are left as they are.
#[derive(Debug)]
pub(crate) struct RegexRouter {
    whole: Regex,
    regex: Regex,
    replacement: String,
}

impl RegexRouter {
    pub(crate) fn build(settings: &mut Settings) -> anyhow::Result<Self> {
        let pattern = settings.required("regex", "a regular expression the whole topic must match")?;
        let replacement = settings.required("replacement", "the new topic, with $1-style group references")?;
        let regex = compile_java_regex(&pattern, false).map_err(|e| settings.error_for("regex", e))?;
        let whole = compile_java_regex(&pattern, true).map_err(|e| settings.error_for("regex", e))?;
        let replacement = java_replacement(&replacement, &regex).map_err(|e| settings.error_for("replacement", e))?;
        Ok(RegexRouter { whole, regex, replacement })
    }
}

impl Transform for RegexRouter {
    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        if self.whole.is_match(&record.topic) {
            record.topic = self.regex.replacen(&record.topic, 1, self.replacement.as_str()).into_owned();
        }
        Ok(Some(record))
    }

    fn touches(&self) -> Touches {
        Touches::none()
    }
}

/// `Filter`: drops every record it is applied to (so, with a predicate, the matching ones).
#[derive(Debug)]
pub(crate) struct Filter;

impl Transform for Filter {
    fn apply(&self, _record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError> {
        Ok(None)
    }

    fn touches(&self) -> Touches {
        Touches::none()
    }
}

#[cfg(test)]
mod tests {
    use crate::transforms::test_support::{apply_one, config_error, record};

    fn route(regex: &str, replacement: &str, topic: &str) -> String {
        let mut r = record();
        r.topic = topic.into();
        apply_one(
            "org.apache.kafka.connect.transforms.RegexRouter",
            &[("regex", regex), ("replacement", replacement)],
            r,
        )
        .unwrap()
        .unwrap()
        .topic
    }

    // RegexRouterTest: staticReplacement, doesntMatch, identity, addPrefix, addSuffix, slice,
    // deadlockRegexRouter... and the documented `(.*)-(.*)` example.
    #[test]
    fn regex_router_cases() {
        assert_eq!(route("foo", "bar", "foo"), "bar");
        assert_eq!(route("foo", "bar", "orig"), "orig");
        assert_eq!(route("(.*)", "$1", "orig"), "orig");
        assert_eq!(route("(.*)", "prefix-$1", "orig"), "prefix-orig");
        assert_eq!(route("(.*)", "$1-suffix", "orig"), "orig-suffix");
        assert_eq!(route("(.*)-(\\d\\d\\d\\d\\d\\d\\d\\d)", "$1", "index-20160117"), "index");
        assert_eq!(route("([a-z]+)-([a-z]+)", "$2_$1", "users-prod"), "prod_users");
        // Only whole-topic matches reroute.
        assert_eq!(route("foo", "bar", "foobar"), "foobar");
        // `$1a` is group 1 then `a` (the regex crate alone would read a group named `1a`).
        assert_eq!(route("(.*)", "$1a", "x"), "xa");
        // `$12` with one group is group 1 then `2`; `\$` is a literal dollar.
        assert_eq!(route("(.*)", "$12\\$", "x"), "x2$");
        assert_eq!(route("(?<name>.*)", "${name}!", "x"), "x!");
    }

    #[test]
    fn regex_router_load_errors() {
        let error = |regex: &str, replacement: &str| {
            config_error(&[
                ("transforms", "r"),
                ("transforms.r.type", "org.apache.kafka.connect.transforms.RegexRouter"),
                ("transforms.r.regex", regex),
                ("transforms.r.replacement", replacement),
            ])
        };
        assert!(error("(", "x").contains("`transforms.r.regex`"));
        let lookahead = error("foo(?=bar)", "x");
        assert!(lookahead.contains("`transforms.r.regex`") && lookahead.contains("look-around"), "{lookahead}");
        assert!(error("(.*)", "$2").contains("`transforms.r.replacement`"));
        assert!(error("(.*)", "$x").contains("illegal group reference"));
        let missing = config_error(&[
            ("transforms", "r"),
            ("transforms.r.type", "org.apache.kafka.connect.transforms.RegexRouter"),
        ]);
        assert!(missing.contains("`transforms.r.regex`"), "{missing}");
    }

    #[test]
    fn filter_drops() {
        assert_eq!(apply_one("org.apache.kafka.connect.transforms.Filter", &[], record()).unwrap(), None);
    }
}
