//! Kafka Connect's REST API (3.9), Prometheus metrics and health, served by the worker on
//! `listeners`. It reads connector state and sends commands through the worker (the
//! connector supervisor); it never reaches into a pipeline or a sink.

mod connectors;
mod error;
mod history;
mod loggers;
mod metrics;
mod plugins;
mod records;
mod shadow;
mod ui;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::json;
use tower::Layer as _;

pub use error::ApiError;

use crate::pipeline::status::ConnectorState;
use crate::worker::Worker;

/// What the handlers share.
#[derive(Clone)]
struct Api {
    worker: Arc<Worker>,
    /// The Kafka cluster id, read once at startup.
    cluster_id: Arc<str>,
    /// Sampled counters of every connector, for the status page and `sluice top`.
    history: Arc<history::History>,
}

/// A bound REST server.
pub struct RestServer {
    /// The address it listens on.
    pub address: SocketAddr,
    join: tokio::task::JoinHandle<()>,
}

impl RestServer {
    /// Binds the worker's listener (`listeners`, `rest.port`) and starts serving.
    pub async fn start(worker: Arc<Worker>) -> anyhow::Result<Self> {
        let rest = worker.config().rest.clone();
        let host = if rest.host.is_empty() { "0.0.0.0" } else { rest.host.as_str() };
        let listener = tokio::net::TcpListener::bind((host, rest.port)).await.map_err(|error| {
            anyhow::anyhow!(
                "cannot listen on {host}:{} for the REST API ({error}); change `listeners` in {}",
                rest.port,
                worker.config().origin
            )
        })?;
        let address = listener.local_addr()?;
        worker.set_bound_port(address.port());
        let cluster_id = cluster_id(&worker).await;
        let history = history::History::start(worker.clone());
        let api = Api { worker, cluster_id: Arc::from(cluster_id.as_str()), history };
        let service = tower::util::MapRequestLayer::new(trim_trailing_slash).layer(router(api));
        let join = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, axum::ServiceExt::<Request>::into_make_service(service)).await {
                tracing::error!(%error, "The REST server stopped.");
            }
        });
        tracing::info!(%address, "REST API listening.");
        Ok(Self { address, join })
    }

    /// The base URL (`http://127.0.0.1:8083`).
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops serving.
    pub fn stop(self) {
        self.join.abort();
    }
}

async fn cluster_id(worker: &Worker) -> String {
    let bootstrap = worker.config().bootstrap_servers.clone();
    let settings: Vec<(String, String)> =
        worker.config().client_common.iter().chain(&worker.config().admin).cloned().collect();
    tokio::task::spawn_blocking(move || {
        crate::source::group::GroupClient::new(&bootstrap, &settings, "sluice-rest")
            .ok()
            .and_then(|client| client.cluster_id())
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// Kafka Connect's clients add or omit trailing slashes freely; routes are matched without.
fn trim_trailing_slash(mut request: Request) -> Request {
    let path = request.uri().path();
    if path.len() > 1 && path.ends_with('/') {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let rebuilt = match request.uri().query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = rebuilt.parse() {
            *request.uri_mut() = uri;
        }
    }
    request
}

fn router(api: Api) -> Router {
    use connectors as c;
    Router::new()
        .route("/", get(root))
        .route("/health", get(health))
        .route("/metrics", get(metrics::scrape))
        .route("/connectors", get(c::list).post(c::create))
        .route("/connectors/{name}", get(c::info).delete(c::delete))
        .route("/connectors/{name}/config", get(c::config).put(c::put_config).patch(c::patch_config))
        .route("/connectors/{name}/status", get(c::status))
        .route("/connectors/{name}/restart", axum::routing::post(c::restart))
        .route("/connectors/{name}/pause", put(c::pause))
        .route("/connectors/{name}/resume", put(c::resume))
        .route("/connectors/{name}/stop", put(c::stop))
        .route("/connectors/{name}/tasks", get(c::tasks))
        .route("/connectors/{name}/tasks-config", get(c::tasks_config))
        .route("/connectors/{name}/tasks/{task}/status", get(c::task_status))
        .route("/connectors/{name}/tasks/{task}/restart", axum::routing::post(c::task_restart))
        .route("/connectors/{name}/topics", get(c::topics))
        .route("/connectors/{name}/topics/reset", put(c::topics_reset))
        .route("/connectors/{name}/offsets", get(c::offsets).patch(c::alter_offsets).delete(c::reset_offsets))
        .route("/connectors/{name}/explain", axum::routing::post(records::explain))
        .route("/connectors/{name}/dlq/replay", axum::routing::post(records::replay))
        .route("/connectors/{name}/shadow", get(shadow::report).put(shadow::start).delete(shadow::stop))
        .route("/connectors/{name}/shadow/promote", axum::routing::post(shadow::promote))
        .route("/ui", get(ui::page))
        .route("/ui/data", get(history::data))
        .route("/admin/loggers", get(loggers::list))
        .route("/admin/loggers/{logger}", get(loggers::get).put(loggers::set))
        .route("/connector-plugins", get(plugins::list))
        .route("/connector-plugins/{plugin}/config", get(plugins::config))
        .route("/connector-plugins/{plugin}/config/validate", put(plugins::validate))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(api)
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "HTTP 404 Not Found")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "HTTP 405 Method Not Allowed")
}

/// `GET /`: `{version, commit, kafka_cluster_id}`; a worker of a cluster adds its
/// `worker_id` and the live `workers` (`[{worker_id, connectors}]`).
async fn root(State(api): State<Api>) -> Json<serde_json::Value> {
    let mut info = json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("SLUICE_COMMIT").unwrap_or("unknown"),
        "kafka_cluster_id": &*api.cluster_id,
    });
    if let Some(members) = api.worker.members() {
        info["worker_id"] = api.worker.worker_id().into();
        info["workers"] = members
            .into_iter()
            .map(|m| json!({"worker_id": m.worker_id, "connectors": m.connectors}))
            .collect::<Vec<_>>()
            .into();
    }
    Json(info)
}

/// `GET /health`: 200 when the worker serves; 500 `unhealthy` when every connector has
/// FAILED (the process is up but does nothing useful), naming them and why.
async fn health(State(api): State<Api>) -> Response {
    let views = api.worker.views();
    let failed: Vec<String> = views
        .iter()
        .filter_map(|v| match v.status.state() {
            ConnectorState::Failed(reason) => Some(format!("{}: {}", v.name, v.redact(&reason))),
            _ => None,
        })
        .collect();
    if !views.is_empty() && failed.len() == views.len() {
        let message = format!("Every connector has FAILED. {}", failed.join("; "));
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"status": "unhealthy", "message": message})))
            .into_response();
    }
    Json(json!({
        "status": "healthy",
        "message": "Worker has completed startup and is ready to handle requests."
    }))
    .into_response()
}
