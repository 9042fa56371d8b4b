//! Explaining records: one record's whole path through a connector — its converters, its
//! transforms, its parser and its sink's encoding — with what each stage made of it, the
//! target it would reach and the exact request the sink would send, shown readably. Nothing
//! is written: the sink is opened for previews only ([`SinkKind::open_preview`]), which
//! reads what encoding needs (a table's primary key or columns) and creates nothing.
//!
//! `sluice explain` and `POST /connectors/{name}/explain` both use [`Explainer`]; the sink
//! part goes through [`AnySink::preview`], so this module holds nothing specific to a sink.

use std::sync::Arc;

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value as Json};

use crate::config::{converter_settings, ConnectorConfig, WorkerConfig};
use crate::model::{Header, KafkaRecord, Output};
use crate::pipeline::dead_letter::Failure;
use crate::pipeline::swap::ParserGeneration;
use crate::plugin::{parse_isolating, render, LoadedPlugin, PluginInstance, PluginRuntime, RecordFailure};
use crate::sinks::{AnySink, SinkItem};
use crate::transforms::Transformed;

/// What one stage made of the record.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// `key.converter`, `value.converter`, `transforms`, `parser` or `sink`.
    pub stage: &'static str,
    /// What ran: the converter class, the parser (`builtin:json`), the sink.
    pub component: String,
    /// Whether the stage succeeded (a record a transform dropped counts as succeeded).
    pub ok: bool,
    /// What it produced: decoded data, the transformed record, the outputs, the requests.
    pub result: Json,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The field the failure is about, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// One record's path through the connector.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The record as given: coordinates, key, value and headers (text, or base64 when not UTF-8).
    pub record: Json,
    /// The stages, in the order they ran; the path ends at the first that failed.
    pub stages: Vec<Stage>,
    /// What running the connector would do with it, in one line.
    pub outcome: String,
}

/// A connector ready to explain records: its converters, transforms and configured parser,
/// and its sink opened for previews (or why it could not be opened).
pub struct Explainer {
    config: ConnectorConfig,
    converters: Vec<(String, String)>,
    plugin: Arc<LoadedPlugin>,
    settings: Vec<(String, String)>,
    instance: Option<PluginInstance>,
    sink: Result<AnySink, String>,
}

impl Explainer {
    /// Opens the sink for previews and loads and configures the parser as the connector
    /// would (or, for a running connector, the parser generation it runs now: `current`). A
    /// sink that cannot be opened (a service that does not answer) is reported on every
    /// record's sink stage; a parser that cannot start is an error.
    pub async fn open(
        config: ConnectorConfig,
        worker: &WorkerConfig,
        runtime: &PluginRuntime,
        current: Option<Arc<ParserGeneration>>,
    ) -> anyhow::Result<Self> {
        let sink = config.sink.open_preview(&config).await.map_err(|e| format!("{e:#}"));
        let (plugin, settings) = match current {
            Some(generation) => (generation.plugin.clone(), generation.settings.to_vec()),
            None => {
                let mut settings = config.parser_settings.clone();
                match &sink {
                    Ok(sink) => settings.extend(sink.parser_settings()),
                    Err(_) => settings.extend(config.sink.parser_settings()),
                }
                let runtime = runtime.clone();
                let source = config.parser.clone();
                (tokio::task::spawn_blocking(move || runtime.load(&source)).await??, settings)
            }
        };
        let label: Arc<str> = Arc::from(format!("{}/{} (explain)", config.name, plugin.name));
        let instance = {
            let (instance_plugin, instance_settings, limits) = (plugin.clone(), settings.clone(), config.limits);
            tokio::task::spawn_blocking(move || PluginInstance::new(instance_plugin, &instance_settings, limits, label))
                .await?
                .map_err(|e| anyhow::anyhow!("parser `{}` of connector `{}`: {e}", plugin.name, config.name))?
        };
        let converters = converter_settings(&config.raw, worker);
        Ok(Self { config, converters, plugin, settings, instance: Some(instance), sink })
    }

    /// The connector being explained.
    pub fn config(&self) -> &ConnectorConfig {
        &self.config
    }

    /// Runs `record` through every stage and reports each; writes nothing.
    pub async fn explain(&mut self, record: &KafkaRecord) -> Explanation {
        let mut stages = Vec::new();
        let done = |stages, outcome: String| Explanation { record: record_json(record), stages, outcome };

        // The converters, as the transforms (and a typed parser) read the record.
        match crate::transforms::decode_parts(&self.converters, record) {
            Err(error) => {
                return done(stages, format!("the converter settings are invalid: {error:#}"));
            }
            Ok(parts) => {
                for (prefix, decoded) in parts {
                    let component = self
                        .converters
                        .iter()
                        .rev()
                        .find(|(k, _)| k == prefix)
                        .map_or("JsonConverter (default)".to_string(), |(_, v)| v.clone());
                    stages.push(match decoded {
                        Ok(Some(data)) => Stage {
                            stage: prefix,
                            component,
                            ok: true,
                            result: json!({"schema": data.schema.as_ref().map(|s| s.to_json()), "value": data.value}),
                            error: None,
                            field: None,
                        },
                        Ok(None) => Stage {
                            stage: prefix,
                            component,
                            ok: true,
                            result: json!("not read by the host: the parser reads these bytes itself"),
                            error: None,
                            field: None,
                        },
                        // A converter only fails the record when a transform needs the data
                        // (else the parser reads the bytes itself): shown, not fatal.
                        Err(error) => Stage {
                            stage: prefix,
                            component,
                            ok: self.config.transforms.is_none(),
                            result: Json::Null,
                            error: Some(format!("{error:#}")),
                            field: None,
                        },
                    });
                }
            }
        }

        // The transforms.
        let mut parsed_record = record.clone();
        if let Some(transforms) = &self.config.transforms {
            match transforms.apply(record) {
                Transformed::Record(transformed) => {
                    stages.push(Stage {
                        stage: "transforms",
                        component: transform_names(&self.config),
                        ok: true,
                        result: record_json(&transformed),
                        error: None,
                        field: None,
                    });
                    parsed_record = transformed;
                }
                Transformed::Dropped => {
                    stages.push(Stage {
                        stage: "transforms",
                        component: transform_names(&self.config),
                        ok: true,
                        result: json!("dropped"),
                        error: None,
                        field: None,
                    });
                    return done(
                        stages,
                        "dropped by a transform: nothing is written and the offset is committed".into(),
                    );
                }
                Transformed::Failed(failure) => {
                    let failure = RecordFailure::Transform(failure);
                    let reason = Failure::from_parser(&self.plugin.name, &failure);
                    stages.push(Stage {
                        stage: "transforms",
                        component: reason.component.clone(),
                        ok: false,
                        result: Json::Null,
                        error: Some(reason.message.clone()),
                        field: reason.field.clone(),
                    });
                    return done(stages, self.refused(&reason, record));
                }
                Transformed::Unavailable(reason) => {
                    stages.push(Stage {
                        stage: "transforms",
                        component: transform_names(&self.config),
                        ok: false,
                        result: Json::Null,
                        error: Some(reason.clone()),
                        field: None,
                    });
                    return done(stages, format!("not processed now: {reason}; the connector would retry"));
                }
            }
        }

        // The parser.
        let outputs = match self.parse(&parsed_record) {
            Err(error) => {
                stages.push(Stage {
                    stage: "parser",
                    component: self.plugin.name.clone(),
                    ok: false,
                    result: Json::Null,
                    error: Some(error.clone()),
                    field: None,
                });
                return done(stages, format!("the parser cannot run: {error}"));
            }
            Ok(Err(failure)) => {
                let reason = Failure::from_parser(&self.plugin.name, &failure);
                stages.push(Stage {
                    stage: "parser",
                    component: self.plugin.name.clone(),
                    ok: false,
                    result: Json::Null,
                    error: Some(format!("{}: {}", reason.code, reason.message)),
                    field: reason.field.clone(),
                });
                return done(stages, self.refused(&reason, record));
            }
            Ok(Ok(outputs)) => outputs,
        };
        stages.push(Stage {
            stage: "parser",
            component: self.plugin.name.clone(),
            ok: true,
            result: Json::Array(outputs.iter().map(render::output).collect()),
            error: None,
            field: None,
        });
        if outputs.is_empty() {
            return done(stages, "no outputs: nothing is written and the offset is committed".into());
        }

        // The sink's encoding.
        let sink_name = format!("{:?}", self.config.sink).to_lowercase();
        let sink = match &self.sink {
            Ok(sink) => sink,
            Err(error) => {
                stages.push(Stage {
                    stage: "sink",
                    component: sink_name,
                    ok: false,
                    result: Json::Null,
                    error: Some(format!("the sink cannot be opened: {error}")),
                    field: None,
                });
                return done(stages, format!("the connector would not start: {error}"));
            }
        };
        let item = SinkItem { record, topic: &parsed_record.topic, outputs: &outputs };
        match sink.preview(&item).await {
            Ok(previews) => {
                let count = previews.iter().map(|p| p.rows.len()).sum::<usize>();
                stages.push(Stage {
                    stage: "sink",
                    component: sink_name,
                    ok: true,
                    result: serde_json::to_value(&previews).unwrap_or(Json::Null),
                    error: None,
                    field: None,
                });
                match count {
                    0 => done(
                        stages,
                        "the sink skips it (a tombstone): nothing is written and the offset is committed".into(),
                    ),
                    count => done(stages, format!("would be written: {count} row(s)/line(s)")),
                }
            }
            Err(message) => {
                let reason = Failure::from_sink(&sink_name, message.clone());
                stages.push(Stage {
                    stage: "sink",
                    component: sink_name,
                    ok: false,
                    result: Json::Null,
                    error: Some(message),
                    field: field_named(&reason.message),
                });
                done(stages, self.refused(&reason, record))
            }
        }
    }

    /// Parses one record with the configured instance (a fresh one after a trap).
    fn parse(&mut self, record: &KafkaRecord) -> Result<Result<Vec<Output>, RecordFailure>, String> {
        let plugin = self.plugin.clone();
        let settings = self.settings.clone();
        let limits = self.config.limits;
        let label: Arc<str> = Arc::from(format!("{}/{} (explain)", self.config.name, plugin.name));
        let mut make = || PluginInstance::new(plugin.clone(), &settings, limits, label.clone());
        let records = std::slice::from_ref(record);
        let outcomes = tokio::task::block_in_place(|| parse_isolating(&mut self.instance, &mut make, records))
            .map_err(|e| e.to_string())?;
        Ok(outcomes.into_iter().next().unwrap_or(Ok(Vec::new())))
    }

    /// What the connector's error policy would do with a record that failed.
    fn refused(&self, failure: &Failure, record: &KafkaRecord) -> String {
        use crate::config::ErrorPolicy;
        let what = failure.describe(record);
        match &self.config.errors {
            ErrorPolicy::Fail => format!("the connector would FAIL (errors.tolerance=none): {what}"),
            ErrorPolicy::Ignore => format!("skipped (errors.tolerance=all, no dead-letter topic): {what}"),
            ErrorPolicy::DeadLetter(dlq) => format!("dead-lettered to topic `{}`: {what}", dlq.topic),
            ErrorPolicy::DeadLetterThenFail(dlq) => {
                format!("dead-lettered to topic `{}`, then the connector would FAIL: {what}", dlq.topic)
            }
            ErrorPolicy::SinkTable(table) => format!("written to error table `{table}`: {what}"),
        }
    }
}

/// The connector's transform aliases, for the transforms stage.
fn transform_names(config: &ConnectorConfig) -> String {
    match config.raw.get("transforms").map(str::trim).filter(|t| !t.is_empty()) {
        Some(list) => format!("transforms={list}"),
        None => "converters".to_string(),
    }
}

/// The field a sink's reason names (`field `x``), if any.
fn field_named(message: &str) -> Option<String> {
    let start = message.find("field `")? + "field `".len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_string())
}

/// Bytes as text when they are UTF-8, else `{"base64": …}`.
fn bytes_json(bytes: Option<&[u8]>) -> Json {
    match bytes {
        None => Json::Null,
        Some(bytes) => match std::str::from_utf8(bytes) {
            Ok(text) => Json::String(text.to_string()),
            Err(_) => json!({"base64": base64::engine::general_purpose::STANDARD.encode(bytes)}),
        },
    }
}

fn record_json(record: &KafkaRecord) -> Json {
    json!({
        "topic": &*record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": bytes_json(record.key.as_deref()),
        "value": bytes_json(record.value.as_deref()),
        "headers": record.headers.iter().map(|h: &Header| json!({"key": h.key, "value": bytes_json(h.value.as_deref())})).collect::<Vec<_>>(),
    })
}

impl Explanation {
    /// The explanation as indented text, one stage after another.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let r = &self.record;
        let mut out = String::new();
        let _ = writeln!(out, "record {}-{}@{}", text(&r["topic"]), r["partition"], r["offset"]);
        let _ = writeln!(out, "  key:   {}", text(&r["key"]));
        let _ = writeln!(out, "  value: {}", text(&r["value"]));
        if let Some(headers) = r["headers"].as_array().filter(|h| !h.is_empty()) {
            let shown: Vec<String> =
                headers.iter().map(|h| format!("{}={}", text(&h["key"]), text(&h["value"]))).collect();
            let _ = writeln!(out, "  headers: {}", shown.join(", "));
        }
        for stage in &self.stages {
            // A converter error the record survives (no transform needs the data; the parser
            // reads the bytes itself) is a warning, not a failure.
            let status = match (stage.ok, &stage.error) {
                (true, None) => "ok",
                (true, Some(_)) => "warning (the parser reads the bytes itself)",
                (false, _) => "FAILED",
            };
            let _ = writeln!(out, "{} ({}): {status}", stage.stage, stage.component);
            if let Some(error) = &stage.error {
                let _ = writeln!(out, "  error: {error}");
            }
            if let Some(field) = &stage.field {
                let _ = writeln!(out, "  field: {field}");
            }
            match (stage.stage, &stage.result) {
                (_, Json::Null) => {}
                ("sink", Json::Array(previews)) => {
                    for preview in previews {
                        let _ = writeln!(out, "  target: {}", text(&preview["target"]));
                        let _ = writeln!(out, "  request: {}", text(&preview["request"]));
                        for row in preview["rows"].as_array().into_iter().flatten() {
                            let _ = writeln!(out, "    {}", text(row));
                        }
                    }
                }
                ("parser", Json::Array(outputs)) => {
                    for output in outputs {
                        let _ = writeln!(out, "  output: {output}");
                    }
                }
                (_, result) => {
                    let _ = writeln!(out, "  {}", text(result));
                }
            }
        }
        let _ = writeln!(out, "outcome: {}", self.outcome);
        out
    }
}

/// A JSON value as text: strings bare, anything else as JSON.
fn text(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A record given to `POST /connectors/{name}/explain` or on an `explain --record` line.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInput {
    /// The topic (default: the connector's first listed topic).
    #[serde(default)]
    pub topic: Option<String>,
    /// The partition (default 0).
    #[serde(default)]
    pub partition: Option<i32>,
    /// The offset (default 0).
    #[serde(default)]
    pub offset: Option<i64>,
    /// The timestamp in milliseconds (default: now).
    #[serde(default)]
    pub timestamp_ms: Option<i64>,
    /// The key: text, or `{"base64": "…"}`.
    #[serde(default)]
    pub key: Option<Payload>,
    /// The value: text, or `{"base64": "…"}`; absent or null for a tombstone.
    #[serde(default)]
    pub value: Option<Payload>,
    /// Headers: `{"name": "text"}` or `[{"key": …, "value": …}]`.
    #[serde(default)]
    pub headers: Option<Json>,
}

/// Bytes given as text or base64.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// UTF-8 text.
    Text(String),
    /// `{"base64": "…"}`.
    Base64 {
        /// The bytes, base64-encoded (standard alphabet).
        base64: String,
    },
    /// Any other JSON (an object or number): its JSON text is the payload.
    Json(Json),
}

impl Payload {
    fn bytes(&self, what: &str) -> anyhow::Result<Vec<u8>> {
        Ok(match self {
            Payload::Text(text) => text.as_bytes().to_vec(),
            Payload::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| anyhow::anyhow!("`{what}.base64` is not base64: {e}"))?,
            Payload::Json(json) => json.to_string().into_bytes(),
        })
    }
}

impl RecordInput {
    /// The Kafka record it describes; `default_topic` when it names none.
    pub fn into_record(self, default_topic: Option<&str>) -> anyhow::Result<KafkaRecord> {
        let topic = match (self.topic, default_topic) {
            (Some(topic), _) => topic,
            (None, Some(topic)) => topic.to_string(),
            (None, None) => {
                anyhow::bail!("the record names no `topic` and the connector lists none (it uses topics.regex)")
            }
        };
        let headers = match self.headers {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Object(map)) => {
                map.into_iter().map(|(key, value)| Header { key, value: header_bytes(value) }).collect()
            }
            Some(Json::Array(list)) => list
                .into_iter()
                .map(|entry| match entry {
                    Json::Object(mut map) => Ok(Header {
                        key: map
                            .remove("key")
                            .and_then(|k| k.as_str().map(str::to_string))
                            .ok_or_else(|| anyhow::anyhow!("a header in `headers` has no string `key`"))?,
                        value: header_bytes(map.remove("value").unwrap_or(Json::Null)),
                    }),
                    _ => anyhow::bail!("`headers` entries are objects with `key` and `value`"),
                })
                .collect::<anyhow::Result<_>>()?,
            Some(_) => anyhow::bail!("`headers` is an object of names to values or a list of {{key, value}}"),
        };
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        Ok(KafkaRecord {
            topic: Arc::from(topic.as_str()),
            partition: self.partition.unwrap_or(0),
            offset: self.offset.unwrap_or(0),
            timestamp_ms: Some(self.timestamp_ms.unwrap_or(now)),
            key: self.key.map(|k| k.bytes("key")).transpose()?,
            value: self.value.map(|v| v.bytes("value")).transpose()?,
            headers,
        })
    }
}

fn header_bytes(value: Json) -> Option<Vec<u8>> {
    match value {
        Json::Null => None,
        Json::String(text) => Some(text.into_bytes()),
        other => Some(other.to_string().into_bytes()),
    }
}

/// The connector's first listed topic, the default for records that name none.
pub fn default_topic(config: &ConnectorConfig) -> Option<&str> {
    match &config.topics {
        crate::config::TopicSelection::List(topics) => topics.first().map(String::as_str),
        crate::config::TopicSelection::Regex(_) => None,
    }
}

/// Explains `records` with a fresh [`Explainer`] for `config` (the REST endpoint's path).
pub async fn explain_all(
    config: ConnectorConfig,
    worker: &WorkerConfig,
    runtime: &PluginRuntime,
    current: Option<Arc<ParserGeneration>>,
    records: &[KafkaRecord],
) -> anyhow::Result<Vec<Explanation>> {
    let mut explainer = Explainer::open(config, worker, runtime, current).await?;
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        out.push(explainer.explain(record).await);
    }
    Ok(out)
}
