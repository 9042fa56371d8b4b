//! `/admin/loggers`: log levels, read and changed while running.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::ApiError;
use crate::logging::{self, LoggerLevel};

fn level_json(level: &LoggerLevel) -> Value {
    json!({"level": level.level, "last_modified": level.last_modified})
}

/// `GET /admin/loggers`: `{logger: {level, last_modified}}`.
pub(super) async fn list() -> Json<Value> {
    let out: Map<String, Value> = logging::loggers().iter().map(|(k, v)| (k.clone(), level_json(v))).collect();
    Json(Value::Object(out))
}

/// `GET /admin/loggers/{logger}`: `{level, last_modified}` (inherited levels included).
pub(super) async fn get(Path(logger): Path<String>) -> Json<Value> {
    Json(level_json(&logging::level(&logger)))
}

/// `PUT /admin/loggers/{logger}?scope=worker|cluster` with `{"level": "DEBUG"}`: 200 with the
/// affected loggers (`scope=cluster`: 204; a standalone worker is the whole cluster).
pub(super) async fn set(
    Path(logger): Path<String>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Request body is not valid JSON: {e}")))?;
    let level = body
        .get("level")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("The request body must specify a log level"))?;
    let affected = logging::set_level(&logger, level)
        .ok_or_else(|| ApiError::not_found(format!("invalid log level '{level}'")))?;
    let cluster = raw.as_deref().is_some_and(|q| {
        url::form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "scope" && v.eq_ignore_ascii_case("cluster"))
    });
    if cluster {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Ok(Json(json!(affected)).into_response())
}
