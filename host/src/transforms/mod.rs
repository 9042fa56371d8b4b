//! Kafka Connect 3.9's single message transforms (SMTs) and predicates, configured with the
//! same keys (`transforms=a,b`, `transforms.a.type=org.apache.kafka.connect.transforms.Cast$Value`,
//! `transforms.a.predicate`, `transforms.a.negate`, `predicates=p`, `predicates.p.type=...`) and
//! applied in order to each record after the converters.
//!
//! The record model is [`ConnectRecord`] with [`Data`] keys, values and headers: JSON values
//! with an optional Kafka Connect [`Schema`], in JsonConverter's payload form
//! ([`Data::from_json_converter`] / [`Data::to_json_converter`] move between that and bytes).
//! [`Chain::from_config`] builds a chain from a connector's entries and refuses unknown
//! classes and settings with errors that name the key; [`Chain::apply`] transforms one record,
//! `Ok(None)` meaning a transform (`Filter`) dropped it.
//!
//! Files: `record` (the data model), `schema` (the schema type and `SetSchemaMetadata`),
//! `converter` (JsonConverter), `config` (reading settings), `predicates`, `fields`
//! (InsertField, ReplaceField, MaskField, ExtractField, HoistField, ValueToKey, Flatten), `cast`
//! (Cast), `time` (TimestampConverter, TimestampRouter), `datefmt` (SimpleDateFormat patterns),
//! `routing` (RegexRouter, Filter), `headers` (InsertHeader, DropHeaders, HeaderFrom),
//! `header_converter` (`header.converter`), `values`
//! (Java's number and date text forms).

mod cast;
mod config;
mod converter;
mod datefmt;
mod fields;
mod header_converter;
mod headers;
mod predicates;
mod record;
mod records;
mod routing;
mod schema;
mod time;
mod values;

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, bail};
use serde_json::{Map, Value};

pub use record::{ConnectRecord, Data, Header, Part};
pub use records::{decode_parts, parser_converter_settings, RecordTransforms, TransformFailure, Transformed};
pub use schema::{Field, Schema, SchemaKind, DATE, DECIMAL, TIME, TIMESTAMP};

use config::{split_list, Settings};
use predicates::{Predicate, PREDICATE_CLASSES};

/// Why one transform failed on one record: the transform's alias and class, the field when
/// one is to blame, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("transform `{alias}` ({class}) failed{}: {message}", field.as_ref().map(|f| format!(" on field `{f}`")).unwrap_or_default())]
pub struct TransformError {
    /// The alias from `transforms=...`.
    pub alias: String,
    /// The transform's class without its package (`MaskField$Value`).
    pub class: String,
    /// The field the failure is about, when there is one.
    pub field: Option<String>,
    /// What went wrong and, where it helps, how to fix it.
    pub message: String,
}

/// A failure inside one transform, before the chain adds the alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataError {
    field: Option<String>,
    message: String,
}

impl DataError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        DataError { field: None, message: message.into() }
    }

    pub(crate) fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        DataError { field: Some(field.into()), message: message.into() }
    }
}

/// Which parts of a record a transform reads or writes as data (beyond checking for null).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Touches {
    key: bool,
    value: bool,
}

impl Touches {
    pub(crate) fn none() -> Self {
        Touches::default()
    }

    pub(crate) fn part(part: Part) -> Self {
        match part {
            Part::Key => Touches { key: true, value: false },
            Part::Value => Touches { key: false, value: true },
        }
    }

    pub(crate) fn both() -> Self {
        Touches { key: true, value: true }
    }
}

/// One single message transform.
pub(crate) trait Transform: std::fmt::Debug + Send + Sync {
    /// Transforms `record`; `Ok(None)` drops it.
    fn apply(&self, record: ConnectRecord) -> Result<Option<ConnectRecord>, DataError>;

    /// The parts of the record the transform reads or writes.
    fn touches(&self) -> Touches;
}

type Build = fn(&mut Settings) -> anyhow::Result<Box<dyn Transform>>;

fn boxed<T: Transform + 'static>(result: anyhow::Result<T>) -> anyhow::Result<Box<dyn Transform>> {
    result.map(|t| Box::new(t) as Box<dyn Transform>)
}

const PACKAGE: &str = "org.apache.kafka.connect.transforms.";

/// The transformation classes sluice implements, without the package, and how to build each.
const TRANSFORMS: &[(&str, Build)] = &[
    ("Cast$Key", |s| boxed(cast::Cast::build(s, Part::Key))),
    ("Cast$Value", |s| boxed(cast::Cast::build(s, Part::Value))),
    ("DropHeaders", |s| boxed(headers::DropHeaders::build(s))),
    ("ExtractField$Key", |s| boxed(fields::ExtractField::build(s, Part::Key))),
    ("ExtractField$Value", |s| boxed(fields::ExtractField::build(s, Part::Value))),
    ("Filter", |_| boxed(Ok(routing::Filter))),
    ("Flatten$Key", |s| boxed(fields::Flatten::build(s, Part::Key))),
    ("Flatten$Value", |s| boxed(fields::Flatten::build(s, Part::Value))),
    ("HeaderFrom$Key", |s| boxed(headers::HeaderFrom::build(s, Part::Key))),
    ("HeaderFrom$Value", |s| boxed(headers::HeaderFrom::build(s, Part::Value))),
    ("HoistField$Key", |s| boxed(fields::HoistField::build(s, Part::Key))),
    ("HoistField$Value", |s| boxed(fields::HoistField::build(s, Part::Value))),
    ("InsertField$Key", |s| boxed(fields::InsertField::build(s, Part::Key))),
    ("InsertField$Value", |s| boxed(fields::InsertField::build(s, Part::Value))),
    ("InsertHeader", |s| boxed(headers::InsertHeader::build(s))),
    ("MaskField$Key", |s| boxed(fields::MaskField::build(s, Part::Key))),
    ("MaskField$Value", |s| boxed(fields::MaskField::build(s, Part::Value))),
    ("RegexRouter", |s| boxed(routing::RegexRouter::build(s))),
    ("ReplaceField$Key", |s| boxed(fields::ReplaceField::build(s, Part::Key))),
    ("ReplaceField$Value", |s| boxed(fields::ReplaceField::build(s, Part::Value))),
    ("SetSchemaMetadata$Key", |s| boxed(schema::SetSchemaMetadata::build(s, Part::Key))),
    ("SetSchemaMetadata$Value", |s| boxed(schema::SetSchemaMetadata::build(s, Part::Value))),
    ("TimestampConverter$Key", |s| boxed(time::TimestampConverter::build(s, Part::Key))),
    ("TimestampConverter$Value", |s| boxed(time::TimestampConverter::build(s, Part::Value))),
    ("TimestampRouter", |s| boxed(time::TimestampRouter::build(s))),
    ("ValueToKey", |s| boxed(fields::ValueToKey::build(s))),
];

/// Finds a transformation by its fully qualified class name, or by the simple name of a class
/// without `$Key`/`$Value` variants (Kafka's plugin aliases, e.g. `RegexRouter`).
fn find_transform(class: &str) -> Option<(&'static str, Build)> {
    let short = class.strip_prefix(PACKAGE).filter(|s| !s.contains('.'));
    TRANSFORMS
        .iter()
        .find(|(name, _)| Some(*name) == short || (!name.contains('$') && *name == class))
        .map(|(name, build)| (*name, *build))
}

/// One configured transform with its optional predicate.
#[derive(Debug)]
struct Stage {
    alias: String,
    class: &'static str,
    transform: Box<dyn Transform>,
    /// Index into `Chain::predicates`, and whether to negate it.
    predicate: Option<(usize, bool)>,
}

/// A configured transformation chain (`transforms=...`), applied to records in order.
#[derive(Debug, Default)]
pub struct Chain {
    stages: Vec<Stage>,
    predicates: Vec<(String, Predicate)>,
}

impl Chain {
    /// Builds the chain from a connector's entries (other keys are ignored; the last entry of
    /// a repeated key wins). Fails, naming the key, on: an alias without `.type`; a class
    /// sluice does not implement; a missing or invalid setting; a setting the transform does
    /// not know; a predicate that is referenced but not declared in `predicates`; `negate`
    /// without `predicate`; a repeated alias.
    pub fn from_config(entries: &[(String, String)]) -> anyhow::Result<Chain> {
        let map: HashMap<&str, &str> = entries.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let aliases = |key: &str| -> anyhow::Result<Vec<String>> {
            let list = split_list(map.get(key).copied().unwrap_or(""));
            for (i, alias) in list.iter().enumerate() {
                if alias.is_empty() {
                    bail!("`{key}`: empty alias in {:?}; remove the extra comma", map[key]);
                }
                if list[..i].contains(alias) {
                    bail!("`{key}`: duplicate alias `{alias}`; each alias may appear once");
                }
            }
            Ok(list)
        };
        let transform_aliases = aliases("transforms")?;
        let predicate_aliases = aliases("predicates")?;
        // The settings of one alias: keys under its prefix, except those of a longer alias that
        // shares it (`a` and `a.b`).
        let settings_under = |prefix: &str, skip: &[&str]| -> BTreeMap<String, String> {
            let family = if prefix.starts_with("predicates.") { &predicate_aliases } else { &transform_aliases };
            let kind = if prefix.starts_with("predicates.") { "predicates." } else { "transforms." };
            let others: Vec<String> = family
                .iter()
                .map(|a| format!("{kind}{a}."))
                .filter(|p| p.len() > prefix.len() && p.starts_with(prefix))
                .collect();
            entries
                .iter()
                .filter(|(k, _)| !others.iter().any(|o| k.starts_with(o.as_str())))
                .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?, v)))
                .filter(|(name, _)| !skip.contains(name))
                .map(|(name, v)| (name.to_string(), v.clone()))
                .collect()
        };

        let mut chain = Chain::default();
        for alias in predicate_aliases.iter().cloned() {
            let prefix = format!("predicates.{alias}.");
            let class = map.get(format!("{prefix}type").as_str()).map(|c| c.trim()).ok_or_else(|| {
                anyhow!(
                    "missing required key `{prefix}type`: predicate `{alias}` is listed in `predicates` but has no \
                     class; set it to one of: {}",
                    PREDICATE_CLASSES.join(", ")
                )
            })?;
            let mut settings = Settings::new(prefix.clone(), class.to_string(), settings_under(&prefix, &["type"]));
            let predicate = Predicate::build(class, &mut settings).ok_or_else(|| {
                anyhow!(
                    "`{prefix}type`: sluice does not implement the predicate `{class}`; supported: {}",
                    PREDICATE_CLASSES.join(", ")
                )
            })??;
            settings.finish()?;
            chain.predicates.push((alias, predicate));
        }

        for alias in transform_aliases.iter().cloned() {
            let prefix = format!("transforms.{alias}.");
            let key = |name: &str| format!("{prefix}{name}");
            let class = map.get(key("type").as_str()).map(|c| c.trim()).ok_or_else(|| {
                anyhow!(
                    "missing required key `{}`: transform `{alias}` is listed in `transforms` but has no class, e.g. \
                     {}=org.apache.kafka.connect.transforms.InsertField$Value",
                    key("type"),
                    key("type")
                )
            })?;
            let (name, build) = find_transform(class).ok_or_else(|| unsupported_transform(&key("type"), class))?;
            let negate = match map.get(key("negate").as_str()).map(|v| v.trim()) {
                None => None,
                Some(v) if v.eq_ignore_ascii_case("true") => Some(true),
                Some(v) if v.eq_ignore_ascii_case("false") => Some(false),
                Some(v) => bail!("`{}`: expected `true` or `false`, found {v:?}", key("negate")),
            };
            let predicate = match map.get(key("predicate").as_str()).map(|v| v.trim()) {
                None => {
                    if negate.is_some() {
                        bail!(
                            "`{}` was provided but there is no `{}` defining a predicate to be negated",
                            key("negate"),
                            key("predicate")
                        );
                    }
                    None
                }
                Some(predicate) => {
                    let index = chain.predicates.iter().position(|(p, _)| p == predicate).ok_or_else(|| {
                        anyhow!(
                            "`{}` refers to predicate `{predicate}`, which is not declared: add it to `predicates` and \
                             set `predicates.{predicate}.type`",
                            key("predicate")
                        )
                    })?;
                    Some((index, negate.unwrap_or(false)))
                }
            };
            let mut settings = Settings::new(
                prefix.clone(),
                format!("{PACKAGE}{name}"),
                settings_under(&prefix, &["type", "predicate", "negate"]),
            );
            let transform = build(&mut settings)?;
            settings.finish()?;
            chain.stages.push(Stage { alias, class: name, transform, predicate });
        }
        Ok(chain)
    }

    /// True when there are no transforms.
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// Applies every transform in order. `Ok(None)`: a transform dropped the record (the chain
    /// stops there, as Kafka's does).
    pub fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>, TransformError> {
        for stage in &self.stages {
            if let Some((index, negate)) = stage.predicate {
                if self.predicates[index].1.test(&record) == negate {
                    continue;
                }
            }
            match stage.transform.apply(record) {
                Ok(Some(next)) => record = next,
                Ok(None) => return Ok(None),
                Err(error) => {
                    return Err(TransformError {
                        alias: stage.alias.clone(),
                        class: stage.class.to_string(),
                        field: error.field,
                        message: error.message,
                    })
                }
            }
        }
        Ok(Some(record))
    }

    /// True when some transform reads or writes the record key as data (a `Map`/`Struct` or a
    /// typed value), so the key converter must give structured data, not raw bytes. Predicates
    /// never need it (`RecordIsTombstone` only looks for a null value).
    pub fn needs_key(&self) -> bool {
        self.stages.iter().any(|s| s.transform.touches().key)
    }

    /// True when some transform reads or writes the record value as data (see [`Chain::needs_key`]).
    pub fn needs_value(&self) -> bool {
        self.stages.iter().any(|s| s.transform.touches().value)
    }

    /// The transforms that read or write `part` as data, as `transforms.<alias> (<Class>)`,
    /// for an error that names them.
    pub fn users(&self, part: Part) -> Vec<String> {
        self.stages
            .iter()
            .filter(|s| match part {
                Part::Key => s.transform.touches().key,
                Part::Value => s.transform.touches().value,
            })
            .map(|s| format!("transforms.{} ({})", s.alias, s.class))
            .collect()
    }
}

fn unsupported_transform(key: &str, class: &str) -> anyhow::Error {
    let supported: Vec<String> = TRANSFORMS.iter().map(|(name, _)| format!("{PACKAGE}{name}")).collect();
    let hint = if find_transform(&format!("{class}$Value")).is_some() {
        format!(" (did you mean `{class}$Key` or `{class}$Value`? this transform has a variant for each)")
    } else {
        supported
            .iter()
            .map(|s| (config::distance(class, s), s))
            .filter(|(d, _)| *d <= 3)
            .min()
            .map(|(_, s)| format!(" (did you mean `{s}`?)"))
            .unwrap_or_default()
    };
    anyhow!(
        "`{key}`: sluice does not implement the transformation `{class}`{hint}; supported: {}",
        supported.join(", ")
    )
}

/// A field's value in a struct, its default standing in for null when
/// `replace_null_with_default` (Kafka's `Struct.get` versus `getWithoutDefault`).
pub(crate) fn struct_field_value(object: &Map<String, Value>, field: &Field, replace_null_with_default: bool) -> Value {
    match object.get(&field.name) {
        Some(value) if !value.is_null() => value.clone(),
        _ if replace_null_with_default => field.schema.default.clone().unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Takes a struct's fields out of `value` (which must follow the struct `schema`), with each
/// null field replaced by its default when `replace_null_with_default`, so a transform can move
/// the values instead of copying them.
pub(crate) fn struct_map(
    schema: &Schema,
    value: Value,
    purpose: &str,
    replace_null_with_default: bool,
) -> Result<Map<String, Value>, DataError> {
    require_struct(schema, &value, purpose)?;
    let Value::Object(mut map) = value else { unreachable!("require_struct checked for an object") };
    if replace_null_with_default {
        for field in schema.fields() {
            if let Some(default) = &field.schema.default {
                match map.get_mut(&field.name) {
                    Some(v) if v.is_null() => *v = default.clone(),
                    Some(_) => {}
                    None => {
                        map.insert(field.name.clone(), default.clone());
                    }
                }
            }
        }
    }
    Ok(map)
}

/// Moves a field's value out of a struct's map (null when absent).
pub(crate) fn take_field(map: &mut Map<String, Value>, name: &str) -> Value {
    map.get_mut(name).map(Value::take).unwrap_or(Value::Null)
}

/// The JSON type of a schemaless value, for messages.
pub(crate) fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Schemaless data must be a map (a JSON object) for `purpose`.
pub(crate) fn require_map(value: Value, purpose: &str) -> Result<Map<String, Value>, DataError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(DataError::new(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            describe(&other)
        ))),
    }
}

/// Data with a schema must be a struct for `purpose`: its fields and its value.
pub(crate) fn require_struct<'a>(
    schema: &'a Schema,
    value: &'a Value,
    purpose: &str,
) -> Result<(&'a [Field], &'a Map<String, Value>), DataError> {
    match (&schema.kind, value) {
        (SchemaKind::Struct(fields), Value::Object(map)) => Ok((fields, map)),
        (SchemaKind::Struct(_), Value::Null) => {
            Err(DataError::new(format!("Only Struct objects supported for [{purpose}], found: null")))
        }
        (kind, _) => Err(DataError::new(format!(
            "Only Struct objects supported for [{purpose}], found: {} (the schema is {})",
            describe(value),
            kind.kafka_name()
        ))),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub(crate) fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub(crate) fn chain(pairs: &[(&str, &str)]) -> Chain {
        Chain::from_config(&entries(pairs)).unwrap_or_else(|e| panic!("chain: {e:#}"))
    }

    /// A record on `test`, partition 0, offset 42, timestamp 1 483 228 800 000
    /// (2017-01-01T00:00:00Z), with null key and value and no headers.
    pub(crate) fn record() -> ConnectRecord {
        ConnectRecord {
            topic: "test".into(),
            partition: 0,
            offset: 42,
            timestamp_ms: Some(1_483_228_800_000),
            key: Data::null(),
            value: Data::null(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn record_with_value(value: Data) -> ConnectRecord {
        ConnectRecord { value, ..record() }
    }

    pub(crate) fn record_with_key(key: Data) -> ConnectRecord {
        ConnectRecord { key, ..record() }
    }

    /// Applies a one-transform chain of `class` with `settings` to `record`.
    pub(crate) fn apply_one(
        class: &str,
        settings: &[(&str, &str)],
        record: ConnectRecord,
    ) -> Result<Option<ConnectRecord>, TransformError> {
        let mut pairs = vec![("transforms".to_string(), "t".to_string()), ("transforms.t.type".into(), class.into())];
        pairs.extend(settings.iter().map(|(k, v)| (format!("transforms.t.{k}"), v.to_string())));
        Chain::from_config(&pairs).unwrap_or_else(|e| panic!("chain: {e:#}")).apply(record)
    }

    /// The error `Chain::from_config` gives for `pairs`.
    pub(crate) fn config_error(pairs: &[(&str, &str)]) -> String {
        format!("{:#}", Chain::from_config(&entries(pairs)).expect_err("config should be refused"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::test_support::*;
    use super::*;

    #[test]
    fn no_transforms_is_an_empty_chain() {
        for pairs in [&[][..], &[("transforms", "")][..], &[("transforms", "  ")][..]] {
            let chain = chain(pairs);
            assert!(chain.is_empty());
            assert!(!chain.needs_key() && !chain.needs_value());
            assert_eq!(chain.apply(record()).unwrap(), Some(record()));
        }
    }

    // The chain: a router, field edits, and a filter with a predicate, in order; the filter's
    // predicate sees the topic the router wrote.
    #[test]
    fn router_field_edits_and_filter_with_predicate() {
        let chain = chain(&[
            ("transforms", " route , mask,rename, dropAudit "),
            ("transforms.route.type", "org.apache.kafka.connect.transforms.RegexRouter"),
            ("transforms.route.regex", "(.*)-events"),
            ("transforms.route.replacement", "$1_table"),
            ("transforms.mask.type", "org.apache.kafka.connect.transforms.MaskField$Value"),
            ("transforms.mask.fields", "ssn"),
            ("transforms.rename.type", "org.apache.kafka.connect.transforms.ReplaceField$Value"),
            ("transforms.rename.renames", "id:user_id"),
            ("transforms.rename.exclude", "debug"),
            ("transforms.dropAudit.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.dropAudit.predicate", "isAudit"),
            ("predicates", "isAudit"),
            ("predicates.isAudit.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
            ("predicates.isAudit.pattern", "audit_.*"),
        ]);
        assert!(chain.needs_value() && !chain.needs_key());
        assert_eq!(
            chain.users(Part::Value),
            vec!["transforms.mask (MaskField$Value)".to_string(), "transforms.rename (ReplaceField$Value)".to_string()]
        );
        let value = json!({"id": 7, "ssn": "123-45-6789", "debug": true, "name": "x"});
        let mut users = record_with_value(Data::schemaless(value.clone()));
        users.topic = "users-events".into();
        let out = chain.apply(users).unwrap().unwrap();
        assert_eq!(out.topic, "users_table");
        assert_eq!(out.value, Data::schemaless(json!({"user_id": 7, "ssn": "", "name": "x"})));

        let mut audit = record_with_value(Data::schemaless(value));
        audit.topic = "audit-events".into();
        assert_eq!(chain.apply(audit).unwrap(), None);
    }

    // The predicates example of Kafka's documentation (connect.html, "Predicates"): drop topic
    // foo, extract other_field from the key everywhere except topic bar.
    #[test]
    fn kafka_documentation_predicates_example() {
        let chain = chain(&[
            ("transforms", "Filter,Extract"),
            ("transforms.Filter.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.Filter.predicate", "IsFoo"),
            ("transforms.Extract.type", "org.apache.kafka.connect.transforms.ExtractField$Key"),
            ("transforms.Extract.field", "other_field"),
            ("transforms.Extract.predicate", "IsBar"),
            ("transforms.Extract.negate", "true"),
            ("predicates", "IsFoo,IsBar"),
            ("predicates.IsFoo.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
            ("predicates.IsFoo.pattern", "foo"),
            ("predicates.IsBar.type", "org.apache.kafka.connect.transforms.predicates.TopicNameMatches"),
            ("predicates.IsBar.pattern", "bar"),
        ]);
        let on = |topic: &str| {
            let mut r = record_with_key(Data::schemaless(json!({"other_field": 1, "x": 2})));
            r.topic = topic.into();
            chain.apply(r).unwrap().map(|r| r.key.value)
        };
        assert_eq!(on("foo"), None);
        assert_eq!(on("bar"), Some(json!({"other_field": 1, "x": 2})));
        assert_eq!(on("baz"), Some(json!(1)));
    }

    // Kafka's documentation example (connect.html, "Transformations"): HoistField then
    // InsertField turn the line "foo" into {"line":"foo","data_source":"test-file-source"}.
    #[test]
    fn kafka_documentation_hoist_and_insert_example() {
        let chain = chain(&[
            ("transforms", "MakeMap, InsertSource"),
            ("transforms.MakeMap.type", "org.apache.kafka.connect.transforms.HoistField$Value"),
            ("transforms.MakeMap.field", "line"),
            ("transforms.InsertSource.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
            ("transforms.InsertSource.static.field", "data_source"),
            ("transforms.InsertSource.static.value", "test-file-source"),
        ]);
        let out = chain.apply(record_with_value(Data::schemaless(json!("foo")))).unwrap().unwrap();
        assert_eq!(
            serde_json::to_string(&out.value.value).unwrap(),
            r#"{"line":"foo","data_source":"test-file-source"}"#
        );
    }

    #[test]
    fn error_names_alias_class_and_field() {
        let error = apply_one(
            "org.apache.kafka.connect.transforms.Cast$Value",
            &[("spec", "age:int32")],
            record_with_value(Data::schemaless(json!({"age": "old"}))),
        )
        .unwrap_err();
        assert_eq!(error.alias, "t");
        assert_eq!(error.class, "Cast$Value");
        assert_eq!(error.field.as_deref(), Some("age"));
        assert!(error.to_string().starts_with("transform `t` (Cast$Value) failed on field `age`: "), "{error}");
    }

    #[test]
    fn load_errors_name_the_key() {
        let missing_type = config_error(&[("transforms", "a")]);
        assert!(missing_type.contains("`transforms.a.type`"), "{missing_type}");

        let unknown_class = config_error(&[("transforms", "a"), ("transforms.a.type", "com.example.MyTransform")]);
        assert!(
            unknown_class.contains("`transforms.a.type`")
                && unknown_class.contains("com.example.MyTransform")
                && unknown_class.contains("org.apache.kafka.connect.transforms.InsertField$Value"),
            "{unknown_class}"
        );

        let no_variant = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.MaskField"),
        ]);
        assert!(
            no_variant.contains("MaskField$Key` or `org.apache.kafka.connect.transforms.MaskField$Value"),
            "{no_variant}"
        );

        let missing_setting = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.MaskField$Value"),
        ]);
        assert!(missing_setting.contains("`transforms.a.fields`"), "{missing_setting}");

        let invalid_setting = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.Cast$Value"),
            ("transforms.a.spec", "x:bytes"),
        ]);
        assert!(
            invalid_setting.contains("`transforms.a.spec`") && invalid_setting.contains("BYTES"),
            "{invalid_setting}"
        );

        let typo = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.MaskField$Value"),
            ("transforms.a.fields", "x"),
            ("transforms.a.replacment", "*"),
        ]);
        assert!(
            typo.contains("unknown key `transforms.a.replacment`")
                && typo.contains("did you mean `transforms.a.replacement`"),
            "{typo}"
        );

        let undeclared = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.a.predicate", "p"),
        ]);
        assert!(undeclared.contains("`transforms.a.predicate`") && undeclared.contains("`p`"), "{undeclared}");

        let lone_negate = config_error(&[
            ("transforms", "a"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.Filter"),
            ("transforms.a.negate", "true"),
        ]);
        assert!(lone_negate.contains("`transforms.a.negate`"), "{lone_negate}");

        let predicate_without_type = config_error(&[("predicates", "p")]);
        assert!(predicate_without_type.contains("`predicates.p.type`"), "{predicate_without_type}");

        let unknown_predicate = config_error(&[("predicates", "p"), ("predicates.p.type", "com.example.IsBig")]);
        assert!(
            unknown_predicate.contains("`predicates.p.type`") && unknown_predicate.contains("TopicNameMatches"),
            "{unknown_predicate}"
        );

        let predicate_typo = config_error(&[
            ("predicates", "p"),
            ("predicates.p.type", "org.apache.kafka.connect.transforms.predicates.HasHeaderKey"),
            ("predicates.p.nam", "x"),
        ]);
        assert!(
            predicate_typo.contains("`predicates.p.name`") && predicate_typo.contains("`predicates.p.nam` is set"),
            "{predicate_typo}"
        );

        let duplicate = config_error(&[("transforms", "a,a"), ("transforms.a.type", "Filter")]);
        assert!(duplicate.contains("duplicate alias `a`"), "{duplicate}");
    }

    #[test]
    fn chain_is_shareable_between_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Chain>();
        assert_send_sync::<TransformError>();
    }

    // The integrator's path: JsonConverter bytes in, the chain, JsonConverter bytes out.
    #[test]
    fn json_converter_envelope_through_a_chain() {
        let input = br#"{"schema":{"type":"struct","fields":[{"field":"id","type":"int64","optional":false},
            {"field":"amount","type":"string","optional":true},{"field":"secret","type":"string","optional":true}],
            "optional":false,"name":"order"},"payload":{"id":7,"amount":"12.5","secret":"x"}}"#;
        let chain = chain(&[
            ("transforms", "cast,drop,rename"),
            ("transforms.cast.type", "org.apache.kafka.connect.transforms.Cast$Value"),
            ("transforms.cast.spec", "amount:float64"),
            ("transforms.drop.type", "org.apache.kafka.connect.transforms.ReplaceField$Value"),
            ("transforms.drop.exclude", "secret"),
            ("transforms.rename.type", "org.apache.kafka.connect.transforms.SetSchemaMetadata$Value"),
            ("transforms.rename.schema.name", "order.v2"),
        ]);
        let value = Data::from_json_converter(Some(input), true).unwrap();
        let out = chain.apply(record_with_value(value)).unwrap().unwrap();
        let bytes = out.value.to_json_converter(true).unwrap().unwrap();
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"double","optional":true,"field":"amount"}],"optional":false,"name":"order.v2"},"payload":{"id":7,"amount":12.5}}"#
        );
    }

    #[test]
    fn an_alias_that_prefixes_another_keeps_its_own_settings() {
        let chain = chain(&[
            ("transforms", "a,a.b"),
            ("transforms.a.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
            ("transforms.a.static.field", "x"),
            ("transforms.a.static.value", "1"),
            ("transforms.a.b.type", "org.apache.kafka.connect.transforms.InsertField$Value"),
            ("transforms.a.b.static.field", "y"),
            ("transforms.a.b.static.value", "2"),
        ]);
        let out = chain.apply(record_with_value(Data::schemaless(json!({})))).unwrap().unwrap();
        assert_eq!(out.value, Data::schemaless(json!({"x": "1", "y": "2"})));
    }

    #[test]
    fn simple_names_of_unique_classes_are_accepted() {
        let chain = chain(&[("transforms", "f"), ("transforms.f.type", "Filter")]);
        assert_eq!(chain.apply(record()).unwrap(), None);
    }
}
