//! sluice's own record endpoints beside Kafka Connect's API: `POST
//! /connectors/{name}/explain` (a record's path through the connector, writing nothing; see
//! [`crate::explain`]) and `POST /connectors/{name}/dlq/replay` (dead-letter replay; see
//! [`crate::pipeline::replay`]). Both use the connector's configuration and, while it runs,
//! the parser generation it runs now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value as Json_;

use super::{Api, ApiError};
use crate::explain::{default_topic, explain_all, RecordInput};
use crate::pipeline::replay::{parse_since, replay as run_replay, ReplayOptions};

/// `POST /connectors/{name}/explain` with one record object, or a list of them
/// (`{"topic","partition","offset","timestamp_ms","key","value","headers"}`, bytes as text
/// or `{"base64": …}`): one explanation, or a list in the same order.
pub(super) async fn explain(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let config = api.worker.connector_config(&name)?;
    let body: Json_ =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let (list, inputs) = match body {
        Json_::Array(items) => (true, items),
        single => (false, vec![single]),
    };
    let mut records = Vec::with_capacity(inputs.len());
    for (index, input) in inputs.into_iter().enumerate() {
        let input: RecordInput = serde_json::from_value(input)
            .map_err(|e| ApiError::bad_request(format!("record {index} of the body: {e}")))?;
        records.push(
            input
                .into_record(default_topic(&config))
                .map_err(|e| ApiError::bad_request(format!("record {index} of the body: {e:#}")))?,
        );
    }
    let current = api.worker.swapper(&name).map(|s| s.current());
    let explanations = explain_all(config, api.worker.config(), api.worker.plugin_runtime(), current, &records)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    let body = match list {
        true => serde_json::to_value(&explanations),
        false => serde_json::to_value(&explanations[0]),
    }
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(body).into_response())
}

/// The body of `POST /connectors/{name}/dlq/replay`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReplayBody {
    /// The dead-letter topic (default: the connector's).
    #[serde(default)]
    from_topic: Option<String>,
    /// Milliseconds since the epoch or an RFC 3339 time.
    #[serde(default)]
    since: Option<Json_>,
    /// Parse and encode only.
    #[serde(default)]
    dry_run: bool,
}

/// `POST /connectors/{name}/dlq/replay` with `{"from_topic", "since", "dry_run"}`: the
/// replay's summary (200) once it finished.
pub(super) async fn replay(
    State(api): State<Api>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let config = api.worker.connector_config(&name)?;
    let body: ReplayBody = if body.is_empty() {
        ReplayBody { from_topic: None, since: None, dry_run: false }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("the body: {e}")))?
    };
    let from_topic = match (body.from_topic, &config.errors) {
        (Some(topic), _) => topic,
        (
            None,
            crate::config::ErrorPolicy::DeadLetter(target) | crate::config::ErrorPolicy::DeadLetterThenFail(target),
        ) => target.topic.clone(),
        (None, _) => {
            return Err(ApiError::bad_request(format!(
                "connector `{name}` has no dead-letter topic; give `from_topic` in the body"
            )))
        }
    };
    let since_ms = match body.since {
        None | Some(Json_::Null) => None,
        Some(Json_::Number(n)) => {
            Some(n.as_i64().ok_or_else(|| ApiError::bad_request("`since` must be whole milliseconds"))?)
        }
        Some(Json_::String(text)) => {
            Some(parse_since(&text).map_err(|e| ApiError::bad_request(format!("`since`: {e:#}")))?)
        }
        Some(_) => return Err(ApiError::bad_request("`since` is milliseconds since the epoch or an RFC 3339 time")),
    };
    let options = ReplayOptions { from_topic, since_ms, dry_run: body.dry_run };
    let current = api.worker.swapper(&name).map(|s| s.current());
    let summary = run_replay(config, api.worker.config(), api.worker.plugin_runtime(), current, options)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    Ok(Json(summary).into_response())
}
