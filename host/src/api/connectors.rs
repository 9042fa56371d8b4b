//! The `/connectors` endpoints: listing, creating, configuring, status, lifecycle, tasks,
//! topics and offsets, with Kafka Connect's status codes and JSON shapes.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::{Api, ApiError};
use crate::config::{parse_text, ConfigMap};
use crate::pipeline::status::ConnectorState;
use crate::worker::store::MemberState;
use crate::worker::{ConnectorView, TargetState};

type Answer = Result<Response, ApiError>;

/// Query parameters, repeatable (`?expand=status&expand=info`).
fn query(raw: &Option<String>) -> Vec<(String, String)> {
    raw.as_deref().map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

/// A boolean query parameter, `true`/`false` in any case.
fn flag(params: &[(String, String)], name: &str) -> Result<bool, ApiError> {
    match params.iter().rev().find(|(k, _)| k == name) {
        None => Ok(false),
        Some((_, v)) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some((_, v)) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
        Some((_, v)) => {
            Err(ApiError::bad_request(format!("query parameter `{name}` must be true or false, got `{v}`")))
        }
    }
}

fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))
}

/// A flat JSON config object as a config map (values as Kafka Connect strings).
fn config_map(name: &str, config: &Value) -> Result<ConfigMap, ApiError> {
    let Value::Object(_) = config else {
        return Err(ApiError::bad_request("the connector config must be a JSON object of strings"));
    };
    parse_text(&format!("the config of connector `{name}`"), &config.to_string())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))
}

/// ConnectorInfo: `{name, config, tasks:[{connector, task}], type}`.
pub(super) fn info_json(view: &ConnectorView) -> Value {
    let tasks: Vec<Value> = if view.target == TargetState::Stopped {
        Vec::new()
    } else {
        (0..view.tasks).map(|t| json!({"connector": view.name, "task": t})).collect()
    };
    json!({"name": view.name, "config": view.config, "tasks": tasks, "type": "sink"})
}

fn state_json(view: &ConnectorView, state: &ConnectorState, worker_id: &str) -> Value {
    let mut object = Map::new();
    object.insert("state".into(), state.name().into());
    object.insert("worker_id".into(), worker_id.into());
    if let ConnectorState::Failed(reason) = state {
        object.insert("trace".into(), view.redact(reason).into());
    }
    Value::Object(object)
}

/// A task's state: sluice's tasks share their connector's pipeline, so they share its
/// state (a data error that fails the connector fails its tasks with the same trace).
fn task_state(view: &ConnectorView) -> ConnectorState {
    match view.status.state() {
        ConnectorState::Stopped if view.target != TargetState::Stopped => ConnectorState::Unassigned,
        state => state,
    }
}

/// ConnectorStateInfo: `{name, connector:{state, worker_id, trace?}, tasks:[...], type}`.
/// In a cluster (`members`), one task per worker running the connector, with the partitions
/// it holds; alone, `tasks.max` tasks of this worker.
pub(super) fn status_json(view: &ConnectorView, worker_id: &str, members: Option<Vec<MemberState>>) -> Value {
    let state = view.status.state();
    let tasks: Vec<Value> = if view.target == TargetState::Stopped {
        Vec::new()
    } else if let Some(members) = members {
        members
            .into_iter()
            .enumerate()
            .map(|(id, member)| {
                let mut task = json!({"id": id, "state": member.state, "worker_id": member.worker_id,
                    "partitions": member.partitions});
                if let Some(trace) = member.trace {
                    task["trace"] = trace.into();
                }
                task
            })
            .collect()
    } else {
        let task_state = task_state(view);
        (0..view.tasks)
            .map(|t| {
                let mut task = state_json(view, &task_state, worker_id);
                task.as_object_mut().unwrap().insert("id".into(), t.into());
                task
            })
            .collect()
    };
    json!({"name": view.name, "connector": state_json(view, &state, worker_id), "tasks": tasks, "type": "sink"})
}

fn created(view: &ConnectorView) -> Response {
    let location = format!("/connectors/{}", view.name);
    (StatusCode::CREATED, [(header::LOCATION, location)], Json(info_json(view))).into_response()
}

/// `GET /connectors` (names, or `?expand=status|info` objects).
pub(super) async fn list(State(api): State<Api>, RawQuery(raw): RawQuery) -> Answer {
    let params = query(&raw);
    let expand: Vec<&str> = params.iter().filter(|(k, _)| k == "expand").map(|(_, v)| v.as_str()).collect();
    let views = api.worker.views();
    let (status, info) = (expand.contains(&"status"), expand.contains(&"info"));
    if !status && !info {
        let names: Vec<&str> = views.iter().map(|v| v.name.as_str()).collect();
        return Ok(Json(json!(names)).into_response());
    }
    let worker_id = api.worker.worker_id();
    let mut out = Map::new();
    for view in &views {
        let mut entry = Map::new();
        if status {
            entry.insert("status".into(), status_json(view, &worker_id, api.worker.cluster_status(&view.name)));
        }
        if info {
            entry.insert("info".into(), info_json(view));
        }
        out.insert(view.name.clone(), Value::Object(entry));
    }
    Ok(Json(Value::Object(out)).into_response())
}

/// `POST /connectors` with `{name, config, initial_state?}`: 201 + Location, 409 if it exists.
pub(super) async fn create(State(api): State<Api>, body: Bytes) -> Answer {
    let body = body_json(&body)?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().trim().to_string();
    let config = body.get("config").cloned().unwrap_or(Value::Null);
    if config.is_null() {
        return Err(ApiError::bad_request("Connector config is required: the body is {\"name\", \"config\"}"));
    }
    let mut map = config_map(&name, &config)?;
    match map.get("name") {
        Some(inner) if !name.is_empty() && inner != name => {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"
            )))
        }
        Some(inner) => {
            let inner = inner.to_string();
            map.set("name", inner);
        }
        None if name.is_empty() => return Err(ApiError::bad_request("Connector name is required")),
        None => map.set("name", name.as_str()),
    }
    let target = match body.get("initial_state") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(TargetState::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!("initial_state must be RUNNING, PAUSED or STOPPED, got `{text}`"))
        })?),
        Some(other) => return Err(ApiError::bad_request(format!("initial_state must be a string, got {other}"))),
    };
    let view = api.worker.create(map, Some(target.unwrap_or(TargetState::Running))).await?;
    Ok(created(&view))
}

/// `GET /connectors/{name}`.
pub(super) async fn info(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    Ok(Json(info_json(&api.worker.view(&name)?)).into_response())
}

/// `DELETE /connectors/{name}`: 204.
pub(super) async fn delete(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.delete(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /connectors/{name}/config`.
pub(super) async fn config(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    Ok(Json(json!(api.worker.view(&name)?.config)).into_response())
}

/// `PUT /connectors/{name}/config`: 201 created / 200 updated.
pub(super) async fn put_config(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Answer {
    let mut map = config_map(&name, &body_json(&body)?)?;
    match map.get("name") {
        Some(inner) if inner != name => {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"
            )))
        }
        _ => map.set("name", name.as_str()),
    }
    if api.worker.view(&name).is_err() {
        return Ok(created(&api.worker.create(map, None).await?));
    }
    Ok(Json(info_json(&api.worker.reconfigure(map).await?)).into_response())
}

/// `PATCH /connectors/{name}/config`: merges the body (a `null` value removes the key).
pub(super) async fn patch_config(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Answer {
    let patch = body_json(&body)?;
    let Value::Object(patch) = patch else {
        return Err(ApiError::bad_request("the config patch must be a JSON object"));
    };
    if let Some(inner) = patch.get("name").and_then(Value::as_str) {
        if inner != name {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"
            )));
        }
    }
    let mut merged: Map<String, Value> =
        api.worker.view(&name)?.config.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
    for (key, value) in patch {
        if value.is_null() {
            merged.remove(&key);
        } else {
            merged.insert(key, value);
        }
    }
    let map = config_map(&name, &Value::Object(merged))?;
    Ok(Json(info_json(&api.worker.reconfigure(map).await?)).into_response())
}

/// `GET /connectors/{name}/status`.
pub(super) async fn status(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let view =
        api.worker.view(&name).map_err(|_| ApiError::not_found(format!("No status found for connector {name}")))?;
    Ok(Json(status_json(&view, &api.worker.worker_id(), api.worker.cluster_status(&name))).into_response())
}

/// `POST /connectors/{name}/restart?includeTasks&onlyFailed`: 204 for the plain restart,
/// 202 with the status otherwise.
pub(super) async fn restart(State(api): State<Api>, Path(name): Path<String>, RawQuery(raw): RawQuery) -> Answer {
    let params = query(&raw);
    let include_tasks = flag(&params, "includeTasks")?;
    let only_failed = flag(&params, "onlyFailed")?;
    api.worker.request_restart(&name, only_failed).await?;
    if !include_tasks && !only_failed {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let view = api.worker.view(&name)?;
    let members = api.worker.cluster_status(&name);
    Ok((StatusCode::ACCEPTED, Json(status_json(&view, &api.worker.worker_id(), members))).into_response())
}

/// `PUT /connectors/{name}/pause`: 202.
pub(super) async fn pause(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.pause(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `PUT /connectors/{name}/resume`: 202.
pub(super) async fn resume(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.resume(&name).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `PUT /connectors/{name}/stop`: 204.
pub(super) async fn stop(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.stop(&name).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn task_index(view: &ConnectorView, task: &str) -> Result<usize, ApiError> {
    task.parse::<usize>()
        .ok()
        .filter(|t| *t < view.tasks && view.target != TargetState::Stopped)
        .ok_or_else(|| ApiError::not_found(format!("Task {}-{task} not found", view.name)))
}

/// `GET /connectors/{name}/tasks`: `[{id:{connector, task}, config}]`.
pub(super) async fn tasks(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let view = api.worker.view(&name)?;
    let count = if view.target == TargetState::Stopped { 0 } else { view.tasks };
    let tasks: Vec<Value> =
        (0..count).map(|t| json!({"id": {"connector": view.name, "task": t}, "config": view.config})).collect();
    Ok(Json(json!(tasks)).into_response())
}

/// `GET /connectors/{name}/tasks-config` (deprecated in Kafka Connect 3.7).
pub(super) async fn tasks_config(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let view = api.worker.view(&name)?;
    tracing::warn!("GET /connectors/{{name}}/tasks-config is deprecated and will be removed in the next major release");
    let count = if view.target == TargetState::Stopped { 0 } else { view.tasks };
    let out: BTreeMap<String, &BTreeMap<String, String>> =
        (0..count).map(|t| (format!("{}-{t}", view.name), &view.config)).collect();
    Ok(Json(json!(out)).into_response())
}

/// `GET /connectors/{name}/tasks/{task}/status`: `{id, state, worker_id, trace?}`.
pub(super) async fn task_status(State(api): State<Api>, Path((name, task)): Path<(String, String)>) -> Answer {
    let view = api.worker.view(&name)?;
    let task = task_index(&view, &task)?;
    let mut body = state_json(&view, &task_state(&view), &api.worker.worker_id());
    body.as_object_mut().unwrap().insert("id".into(), task.into());
    Ok(Json(body).into_response())
}

/// `POST /connectors/{name}/tasks/{task}/restart`: 204 (restarts the connector's pipeline,
/// which all its tasks share).
pub(super) async fn task_restart(State(api): State<Api>, Path((name, task)): Path<(String, String)>) -> Answer {
    let view = api.worker.view(&name)?;
    task_index(&view, &task)?;
    api.worker.request_restart(&name, false).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /connectors/{name}/topics`: `{name: {topics: [...]}}`.
pub(super) async fn topics(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let topics = api.worker.topics(&name).await?;
    Ok(Json(json!({ name: {"topics": topics} })).into_response())
}

/// `PUT /connectors/{name}/topics/reset`: 202 (sluice keeps no topic history to reset).
pub(super) async fn topics_reset(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.view(&name)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /connectors/{name}/offsets`: the consumer group's committed offsets.
pub(super) async fn offsets(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let offsets: Vec<Value> = api
        .worker
        .offsets(&name)
        .await?
        .into_iter()
        .map(|o| {
            json!({"partition": {"kafka_topic": o.topic, "kafka_partition": o.partition},
                   "offset": {"kafka_offset": o.offset}})
        })
        .collect();
    Ok(Json(json!({ "offsets": offsets })).into_response())
}

/// `PATCH /connectors/{name}/offsets` with `{offsets:[{partition, offset}]}` (a `null`
/// offset resets that partition); only on a STOPPED connector.
pub(super) async fn alter_offsets(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Answer {
    let body = body_json(&body)?;
    let entries = body.get("offsets").and_then(Value::as_array).filter(|a| !a.is_empty()).ok_or_else(|| {
        ApiError::bad_request("Partitions / offsets need to be provided for an alter offsets request")
    })?;
    let mut changes = Vec::with_capacity(entries.len());
    for entry in entries {
        let partition = entry.get("partition").unwrap_or(&Value::Null);
        let topic = partition.get("kafka_topic").and_then(Value::as_str);
        let number = partition.get("kafka_partition").and_then(|p| match p {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        });
        let (Some(topic), Some(number)) = (topic, number) else {
            return Err(ApiError::bad_request(format!(
                "each partition must be {{\"kafka_topic\": string, \"kafka_partition\": int}}, got {partition}"
            )));
        };
        let offset = match entry.get("offset") {
            None | Some(Value::Null) => None,
            Some(offset) => match offset.get("kafka_offset") {
                Some(Value::Number(n)) if n.as_i64().is_some_and(|o| o >= 0) => n.as_i64(),
                Some(Value::String(s)) if s.parse::<i64>().is_ok_and(|o| o >= 0) => s.parse().ok(),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "the offset of {topic}-{number} must be {{\"kafka_offset\": a non-negative int}} or null, \
                         got {offset}"
                    )))
                }
            },
        };
        changes.push((topic.to_string(), number as i32, offset));
    }
    api.worker.alter_offsets(&name, changes).await?;
    Ok(Json(json!({"message": "The offsets for this connector have been altered successfully"})).into_response())
}

/// `DELETE /connectors/{name}/offsets`: resets the group's offsets; only when STOPPED.
pub(super) async fn reset_offsets(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    api.worker.view(&name)?;
    api.worker.reset_offsets(&name).await?;
    Ok(Json(json!({"message": "The offsets for this connector have been reset successfully"})).into_response())
}
