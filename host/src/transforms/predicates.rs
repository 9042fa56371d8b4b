//! Kafka Connect's predicates (`predicates.<alias>.type`): `TopicNameMatches`,
//! `HasHeaderKey` and `RecordIsTombstone`. A transform with `predicate=<alias>` runs only on
//! records the predicate matches (or, with `negate=true`, does not match).

use regex::Regex;

use super::config::Settings;
use super::record::ConnectRecord;
use super::routing::compile_java_regex;

const PACKAGE: &str = "org.apache.kafka.connect.transforms.predicates.";

/// The predicate classes sluice implements (fully qualified).
pub(crate) const PREDICATE_CLASSES: &[&str] = &[
    "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
    "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone",
    "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
];

/// A configured predicate.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    /// True when the whole topic name matches `pattern` (Java's `Matcher.matches`).
    TopicNameMatches(Regex),
    /// True when the record has at least one header called `name`.
    HasHeaderKey(String),
    /// True when the value is null.
    RecordIsTombstone,
}

impl Predicate {
    /// Builds the predicate of `class` (fully qualified, or its simple name as Kafka's plugin
    /// aliases allow) from its settings; `None` when sluice does not implement the class.
    pub(crate) fn build(class: &str, settings: &mut Settings) -> Option<anyhow::Result<Predicate>> {
        let simple = class.strip_prefix(PACKAGE).unwrap_or(class);
        Some(match simple {
            "TopicNameMatches" => (|| {
                let pattern = settings.required_non_empty("pattern", "a Java regular expression for topic names")?;
                let regex = compile_java_regex(&pattern, true).map_err(|e| settings.error_for("pattern", e))?;
                Ok(Predicate::TopicNameMatches(regex))
            })(),
            "HasHeaderKey" => settings.required_non_empty("name", "the header name").map(Predicate::HasHeaderKey),
            "RecordIsTombstone" => Ok(Predicate::RecordIsTombstone),
            _ => return None,
        })
    }

    /// Whether `record` matches.
    pub(crate) fn test(&self, record: &ConnectRecord) -> bool {
        match self {
            Predicate::TopicNameMatches(regex) => regex.is_match(&record.topic),
            Predicate::HasHeaderKey(name) => record.headers.iter().any(|h| h.key == *name),
            Predicate::RecordIsTombstone => record.value.is_null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::transforms::record::{Data, Header};
    use crate::transforms::test_support::{chain, entries, record, record_with_value};
    use crate::transforms::Chain;

    fn filter_when(predicate: &[(&str, &str)], negate: bool) -> Chain {
        let mut pairs = vec![
            ("transforms", "drop"),
            ("transforms.drop.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.drop.predicate", "p"),
            ("predicates", "p"),
        ];
        if negate {
            pairs.push(("transforms.drop.negate", "true"));
        }
        pairs.extend_from_slice(predicate);
        chain(&pairs)
    }

    // TopicNameMatchesTest.testTest: "my-prefix-.*" matches "my-prefix-"/"my-prefix-foo", not
    // "x-my-prefix-" (the whole name must match, as Java's `matches`).
    #[test]
    fn topic_name_matches_the_whole_name() {
        let chain = filter_when(
            &[
                ("predicates.p.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
                ("predicates.p.pattern", "my-prefix-.*"),
            ],
            false,
        );
        let on = |topic: &str| {
            let mut r = record();
            r.topic = topic.into();
            chain.apply(r).unwrap().is_some()
        };
        assert!(!on("my-prefix-"));
        assert!(!on("my-prefix-foo"));
        assert!(on("x-my-prefix-"));
        assert!(on("your-prefix-"));
    }

    #[test]
    fn topic_name_matches_needs_a_valid_pattern() {
        let error = Chain::from_config(&entries(&[
            ("transforms", "drop"),
            ("transforms.drop.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.drop.predicate", "p"),
            ("predicates", "p"),
            ("predicates.p.type", "TopicNameMatches"),
            ("predicates.p.pattern", "[a-"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("predicates.p.pattern"), "{error}");
        let error = Chain::from_config(&entries(&[
            ("predicates", "p"),
            ("predicates.p.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(error.contains("predicates.p.pattern"), "{error}");
    }

    // HasHeaderKeyTest.testTest: true with one or more headers of the name, false otherwise;
    // negated, the filter keeps exactly the records with the header.
    #[test]
    fn has_header_key_with_and_without_negate() {
        let settings = [
            ("predicates.p.type", "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"),
            ("predicates.p.name", "foo"),
        ];
        let with = |keys: &[&str]| {
            let mut r = record();
            r.headers = keys.iter().map(|k| Header::new(*k, Data::null())).collect();
            r
        };
        let plain = filter_when(&settings, false);
        let negated = filter_when(&settings, true);
        for (keys, has) in [(&["foo"][..], true), (&["foo", "foo"][..], true), (&["bar"][..], false), (&[][..], false)]
        {
            assert_eq!(plain.apply(with(keys)).unwrap().is_none(), has, "{keys:?}");
            assert_eq!(negated.apply(with(keys)).unwrap().is_none(), !has, "{keys:?}");
        }
    }

    // RecordIsTombstoneTest: a null value is a tombstone; any other value is not.
    #[test]
    fn record_is_tombstone() {
        let chain = filter_when(
            &[("predicates.p.type", "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone")],
            false,
        );
        assert!(chain.apply(record_with_value(Data::null())).unwrap().is_none());
        assert!(chain.apply(record_with_value(Data::schemaless(json!({"a": 1})))).unwrap().is_some());
    }
}
