//! The `/connector-plugins` endpoints: the sink classes sluice answers to, their
//! configuration keys, and validation reporting every error per key (`ConfigInfos`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{Api, ApiError};
use crate::config::reference::{Scope, KEYS};
use crate::config::{parse_text, validate};
use crate::sinks::SinkKind;

/// The sink classes, by their Kafka Connect class names.
const PLUGINS: &[(&str, SinkKind)] = &[
    ("org.apache.kafka.connect.file.FileStreamSinkConnector", SinkKind::File),
    ("com.aliyun.tablestore.kafka.connect.TableStoreSinkConnector", SinkKind::Tablestore),
    ("com.taosdata.kafka.connect.sink.TDengineSinkConnector", SinkKind::Tdengine),
    ("com.aliyun.odps.kafka.connect.MaxComputeSinkConnector", SinkKind::MaxCompute),
    ("sluice.StdoutSink", SinkKind::Stdout),
];

/// The plugin a path names: a full class name, its short name, or the short name without
/// the `Connector` suffix (as Kafka Connect's aliases).
fn plugin(name: &str) -> Option<(&'static str, SinkKind)> {
    PLUGINS.iter().copied().find(|(class, _)| {
        let short = class.rsplit('.').next().unwrap_or(class);
        name == *class || name == short || Some(name) == short.strip_suffix("Connector")
    })
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!("Unknown plugin {name}."))
}

/// `GET /connector-plugins`: `[{class, type, version}]`.
pub(super) async fn list() -> Json<Value> {
    let version = env!("CARGO_PKG_VERSION");
    Json(json!(PLUGINS
        .iter()
        .map(|(class, _)| json!({"class": class, "type": "sink", "version": version}))
        .collect::<Vec<_>>()))
}

fn scopes(sink: SinkKind) -> &'static [Scope] {
    match sink {
        SinkKind::File => &[Scope::Connector, Scope::FileSink, Scope::JsonParser],
        SinkKind::Stdout => &[Scope::Connector, Scope::JsonParser],
        SinkKind::Tablestore => &[Scope::Connector, Scope::TablestoreSink, Scope::JsonParser],
        SinkKind::Tdengine => &[Scope::Connector, Scope::TdengineSink, Scope::TdengineParser],
        SinkKind::MaxCompute => &[Scope::Connector, Scope::MaxComputeSink, Scope::MaxComputeParser],
    }
}

fn group(scope: Scope) -> &'static str {
    match scope {
        Scope::Connector | Scope::Worker => "Common",
        Scope::JsonParser | Scope::TdengineParser | Scope::MaxComputeParser => "Parser",
        _ => "Sink",
    }
}

/// ConfigKeyInfo of one key.
fn key_info(name: &str, default: Option<&str>, documentation: &str, group: &str, order: usize) -> Value {
    let required = default.is_some_and(|d| d.starts_with("(required")) || validate::REQUIRED_KEYS.contains(&name);
    json!({
        "name": name,
        "type": "STRING",
        "required": required,
        "default_value": if required { None } else { default.filter(|d| !d.starts_with('(')) },
        "importance": if required { "HIGH" } else { "MEDIUM" },
        "documentation": documentation,
        "group": group,
        "order": order,
        "width": "NONE",
        "display_name": name,
        "dependents": [],
    })
}

/// Every documented key of a sink's connectors, in reference order.
fn definitions(sink: SinkKind) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (order, doc) in KEYS.iter().filter(|k| scopes(sink).contains(&k.scope)).enumerate() {
        for name in doc.key.split(", ") {
            out.push((name.to_string(), key_info(name, Some(doc.default), doc.doc, group(doc.scope), order)));
        }
    }
    for required in ["name", "connector.class"] {
        if !out.iter().any(|(n, _)| n == required) {
            out.insert(0, (required.to_string(), key_info(required, None, "", "Common", 0)));
        }
    }
    out
}

/// `GET /connector-plugins/{plugin}/config`: `[ConfigKeyInfo]`.
pub(super) async fn config(Path(name): Path<String>) -> Result<Response, ApiError> {
    let (_, sink) = plugin(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(json!(definitions(sink).into_iter().map(|(_, v)| v).collect::<Vec<_>>())).into_response())
}

/// `PUT /connector-plugins/{plugin}/config/validate`: 200 `ConfigInfos` with every error of
/// every key (also when there are errors).
pub(super) async fn validate(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (class, sink) = plugin(&name).ok_or_else(|| unknown(&name))?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(ApiError::bad_request("the body must be the connector's flat config object"));
    }
    let map =
        parse_text("the validated config", &body.to_string()).map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    match map.get("connector.class") {
        None => return Err(ApiError::bad_request("Connector config must include the connector.class")),
        Some(given) if SinkKind::from_class(given).ok() != Some(sink) && plugin(given).map(|p| p.1) != Some(sink) => {
            return Err(ApiError::bad_request(format!(
                "Included connector type {given} does not match request type {name}"
            )))
        }
        Some(_) => {}
    }
    let problems = validate::problems(&map, api.worker.config());
    let known = definitions(sink);
    let mut groups: Vec<&str> = Vec::new();
    let mut configs = Vec::with_capacity(problems.len());
    let mut error_count = 0;
    for (key, errors) in &problems {
        error_count += errors.len();
        let definition = known
            .iter()
            .find(|(n, _)| n == key || n.strip_suffix('*').is_some_and(|p| key.starts_with(p)))
            .map(|(_, d)| {
                let mut d = d.clone();
                d["name"] = json!(key);
                d
            })
            .unwrap_or_else(|| key_info(key, None, "", "Common", known.len()));
        if let Some(group) = definition["group"].as_str() {
            let group: &str = match group {
                "Parser" => "Parser",
                "Sink" => "Sink",
                _ => "Common",
            };
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        configs.push(json!({
            "definition": definition,
            "value": {
                "name": key,
                "value": map.entries().get(key),
                "recommended_values": [],
                "errors": errors,
                "visible": true,
            }
        }));
    }
    Ok(Json(json!({"name": class, "error_count": error_count, "groups": groups, "configs": configs})).into_response())
}
