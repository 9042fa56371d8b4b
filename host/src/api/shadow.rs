//! The `/connectors/{name}/shadow` endpoints (a sluice extension): start a candidate parser
//! beside the live one, read the differences it found, stop it, promote it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::connectors::info_json;
use super::{Api, ApiError};
use crate::config::parse_text;

type Answer = Result<Response, ApiError>;

/// `PUT /connectors/{name}/shadow`: the body is the connector's flat configuration (as for
/// `PUT /connectors/{name}/config`) with the candidate's parser keys; 201 when the run started.
pub(super) async fn start(State(api): State<Api>, Path(name): Path<String>, body: Bytes) -> Answer {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the body must be the connector's flat config object, with the candidate's parser keys",
        ));
    }
    let mut map = parse_text(&format!("the shadow config of connector `{name}`"), &body.to_string())
        .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
    match map.get("name") {
        Some(inner) if inner != name => {
            return Err(ApiError::bad_request(format!(
                "Connector name configuration ({inner}) doesn't match connector name in the URL ({name})"
            )))
        }
        _ => map.set("name", name.as_str()),
    }
    let candidate = api.worker.shadow_start(map).await?;
    Ok((StatusCode::CREATED, Json(json!({"connector": name, "candidate": candidate}))).into_response())
}

/// `GET /connectors/{name}/shadow`: the candidate and its report (counts by kind, the first
/// differences with their records' coordinates, cost per record of both parsers).
pub(super) async fn report(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    let (candidate, report) = api.worker.shadow(&name)?.ok_or_else(|| none(&name))?;
    let mut body = json!({"connector": name, "candidate": candidate.plugin});
    if let (Value::Object(out), Ok(Value::Object(fields))) = (&mut body, serde_json::to_value(&report)) {
        out.extend(fields);
    }
    Ok(Json(body).into_response())
}

/// `DELETE /connectors/{name}/shadow`: 204, or 404 when no run is in progress.
pub(super) async fn stop(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    match api.worker.shadow_stop(&name)? {
        true => Ok(StatusCode::NO_CONTENT.into_response()),
        false => Err(none(&name)),
    }
}

/// `POST /connectors/{name}/shadow/promote`: swaps the candidate in live and ends the run;
/// answers the connector's info with its new configuration.
pub(super) async fn promote(State(api): State<Api>, Path(name): Path<String>) -> Answer {
    Ok(Json(info_json(&api.worker.shadow_promote(&name).await?)).into_response())
}

fn none(name: &str) -> ApiError {
    ApiError::not_found(format!(
        "connector {name} has no shadow run; start one with PUT /connectors/{name}/shadow and the candidate's config"
    ))
}
