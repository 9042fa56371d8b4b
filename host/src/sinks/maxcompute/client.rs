//! Transport: signed requests to the service endpoint (table metadata, tunnel discovery,
//! the SQL instance that adds a partition) and the batch tunnel (upload sessions, blocks,
//! commit). Every call returns the service's error (status, code, message) on failure.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value as Json;

use super::config::MaxComputeConfig;
use super::request::{self, ServiceError, SignedParts};
use super::schema::TableSchema;

/// Version of the tunnel protocol spoken (as pyodps).
const TUNNEL_VERSION: &str = "6";
const USER_AGENT: &str = concat!("sluice/", env!("CARGO_PKG_VERSION"));

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The service answered with an error status.
    #[error("{0}")]
    Service(ServiceError),
    /// No answer (connection refused, timeout, reset).
    #[error("request failed: {0}")]
    Transport(String),
    /// An answer sluice cannot read.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

/// An upload session as the tunnel reports it.
#[derive(Debug, Clone)]
pub struct Session {
    /// `UploadID`.
    pub id: String,
    /// `Status` (lower case: normal, closing, closed, canceled, expired, critical, committing).
    pub status: String,
    /// `Schema`: the wire column order.
    pub schema: TableSchema,
    /// `UploadedBlockList` block ids.
    pub blocks: Vec<u64>,
}

impl Session {
    fn from_json(body: &[u8]) -> Result<Self, CallError> {
        let json: Json = serde_json::from_slice(body)
            .map_err(|e| CallError::Protocol(format!("upload session is not JSON: {e}")))?;
        let id = json.get("UploadID").and_then(Json::as_str).unwrap_or_default().to_string();
        if id.is_empty() {
            return Err(CallError::Protocol(format!("upload session without UploadID: {json}")));
        }
        let schema = TableSchema::from_json(json.get("Schema").unwrap_or(&Json::Null))
            .map_err(|e| CallError::Protocol(format!("upload session {id}: {e}")))?;
        let blocks = json
            .get("UploadedBlockList")
            .and_then(Json::as_array)
            .map(|list| list.iter().filter_map(|b| b.get("BlockID").and_then(Json::as_u64)).collect())
            .unwrap_or_default();
        let status = json.get("Status").and_then(Json::as_str).unwrap_or("normal").to_ascii_lowercase();
        Ok(Self { id, status, schema, blocks })
    }
}

struct Response {
    headers: reqwest::header::HeaderMap,
    body: Bytes,
}

/// A signed client for one project and table.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Arc<MaxComputeConfig>,
    tunnel: String,
}

impl Client {
    /// Connects: uses `tunnel_endpoint` or discovers the tunnel with
    /// `GET /projects/{p}/tunnel?service` (a bare `host[:port]`, given the endpoint's scheme).
    pub async fn connect(config: Arc<MaxComputeConfig>) -> Result<Self, CallError> {
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CallError::Transport(e.to_string()))?;
        let mut client = Self { http, tunnel: config.tunnel_endpoint.clone().unwrap_or_default(), config };
        if client.tunnel.is_empty() {
            let path = format!("/projects/{}/tunnel", client.config.project);
            let response = client
                .call(Base::Service, Method::GET, &path, &[("service", String::new())], None, Bytes::new())
                .await?;
            let address = String::from_utf8_lossy(&response.body).trim().to_string();
            if address.is_empty() || address.contains('/') {
                return Err(CallError::Protocol(format!("tunnel discovery returned `{address}`, not host[:port]")));
            }
            let scheme = client.config.endpoint.split("://").next().unwrap_or("http");
            client.tunnel = format!("{scheme}://{address}");
        }
        Ok(client)
    }

    /// The tunnel endpoint in use.
    pub fn tunnel(&self) -> &str {
        &self.tunnel
    }

    /// The table's schema from `GET /projects/{p}/tables/{t}` (XML with a JSON `Schema`).
    pub async fn table_schema(&self) -> Result<TableSchema, CallError> {
        let path = format!("/projects/{}/tables/{}", self.config.project, self.config.table);
        let response = self.call(Base::Service, Method::GET, &path, &[], None, Bytes::new()).await?;
        let xml = String::from_utf8_lossy(&response.body);
        let schema = request::xml_text(&xml, "Schema")
            .ok_or_else(|| CallError::Protocol("table metadata without <Schema>".into()))?;
        let json: Json =
            serde_json::from_str(&schema).map_err(|e| CallError::Protocol(format!("table schema is not JSON: {e}")))?;
        TableSchema::from_json(&json).map_err(|e| CallError::Protocol(e.to_string()))
    }

    /// `POST {table}?uploads&partition=…[&create_partition=true]`.
    pub async fn create_session(&self, spec: Option<&str>, create_partition: bool) -> Result<Session, CallError> {
        let mut query = vec![("uploads", String::new())];
        if let Some(spec) = spec {
            query.push(("partition", spec.to_string()));
            if create_partition {
                query.push(("create_partition", "true".to_string()));
            }
        }
        let response = self.call(Base::Tunnel, Method::POST, &self.table_path(), &query, None, Bytes::new()).await?;
        Session::from_json(&response.body)
    }

    /// `GET {table}?uploadid=…`: the session with its uploaded block list.
    pub async fn reload_session(&self, spec: Option<&str>, id: &str) -> Result<Session, CallError> {
        let query = session_query(spec, id);
        let response = self.call(Base::Tunnel, Method::GET, &self.table_path(), &query, None, Bytes::new()).await?;
        Session::from_json(&response.body)
    }

    /// `PUT {table}?uploadid=…&blockid=…` with a zlib-deflated record stream.
    pub async fn upload_block(&self, spec: Option<&str>, id: &str, block: u64, body: Bytes) -> Result<(), CallError> {
        let mut query = session_query(spec, id);
        query.push(("blockid", block.to_string()));
        self.call(Base::Tunnel, Method::PUT, &self.table_path(), &query, Some("application/octet-stream"), body)
            .await
            .map(drop)
    }

    /// `POST {table}?uploadid=…` with an empty body.
    pub async fn commit(&self, spec: Option<&str>, id: &str) -> Result<Session, CallError> {
        let query = session_query(spec, id);
        let response = self.call(Base::Tunnel, Method::POST, &self.table_path(), &query, None, Bytes::new()).await?;
        Session::from_json(&response.body)
    }

    /// Runs `ALTER TABLE … ADD IF NOT EXISTS PARTITION (…)` as an SQL instance and waits
    /// for it to succeed.
    pub async fn add_partition(&self, spec: &[(String, String)]) -> Result<(), CallError> {
        let uuid = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        let body = request::add_partition_instance(&self.config.project, &self.config.table, spec, &uuid);
        let path = format!("/projects/{}/instances", self.config.project);
        let response =
            self.call(Base::Service, Method::POST, &path, &[], Some("application/xml"), Bytes::from(body)).await?;
        let location = response
            .headers
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| CallError::Protocol("instance creation without a Location header".into()))?;
        let instance = location.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
        let path = format!("{path}/{instance}");
        let deadline = tokio::time::Instant::now() + self.config.request_timeout;
        loop {
            let response = self.call(Base::Service, Method::GET, &path, &[], None, Bytes::new()).await?;
            let xml = String::from_utf8_lossy(&response.body).into_owned();
            if request::xml_text(&xml, "Status").is_some_and(|s| s.eq_ignore_ascii_case("Terminated")) {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(CallError::Transport(format!(
                    "instance {instance} adding the partition did not finish in time"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let response =
            self.call(Base::Service, Method::GET, &path, &[("taskstatus", String::new())], None, Bytes::new()).await?;
        let xml = String::from_utf8_lossy(&response.body).into_owned();
        let task_status = xml.find("<Task").and_then(|at| request::xml_text(&xml[at..], "Status")).unwrap_or_default();
        if task_status.eq_ignore_ascii_case("Success") {
            return Ok(());
        }
        let result =
            self.call(Base::Service, Method::GET, &path, &[("result", String::new())], None, Bytes::new()).await;
        let detail = result.map(|r| String::from_utf8_lossy(&r.body).into_owned()).unwrap_or_default();
        Err(CallError::Protocol(format!("instance {instance} adding the partition ended {task_status}: {detail}")))
    }

    fn table_path(&self) -> String {
        format!("/projects/{}/tables/{}", self.config.project, self.config.table)
    }

    async fn call(
        &self,
        base: Base,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        content_type: Option<&str>,
        body: Bytes,
    ) -> Result<Response, CallError> {
        let mut query = query.to_vec();
        query.push(("curr_project", self.config.project.clone()));
        let mut headers: Vec<(&str, String)> = vec![("x-odps-user-agent", USER_AGENT.to_string())];
        let root = match base {
            Base::Service => self.config.endpoint.as_str(),
            Base::Tunnel => {
                headers.push(("x-odps-tunnel-version", TUNNEL_VERSION.to_string()));
                headers.push(("odps-tunnel-date-transform", "v1".to_string()));
                headers.push(("odps-tunnel-sdk-support-schema-evolution", "true".to_string()));
                if method == Method::PUT {
                    headers.push(("Content-Encoding", "deflate".to_string()));
                }
                self.tunnel.as_str()
            }
        };
        let date = request::http_date(SystemTime::now());
        let to_sign = request::string_to_sign(&SignedParts {
            method: method.as_str(),
            content_md5: "",
            content_type: content_type.unwrap_or(""),
            date: &date,
            headers: &headers,
            resource: path,
            query: &query,
        });
        let url = format!("{root}{path}?{}", request::query_string(&query));
        let mut builder = self
            .http
            .request(method.clone(), &url)
            .header("Date", &date)
            .header("Authorization", request::authorization(&self.config.credentials, &to_sign));
        for (name, value) in &headers {
            builder = builder.header(*name, value);
        }
        if let Some(content_type) = content_type {
            builder = builder.header("Content-Type", content_type);
        }
        if let Some(token) = &self.config.credentials.sts_token {
            builder = builder.header("authorization-sts-token", token);
        }
        if method != Method::GET {
            builder = builder.header("Content-Length", body.len().to_string()).body(body);
        }
        let response = builder.send().await.map_err(|e| CallError::Transport(format!("{method} {path}: {e}")))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| CallError::Transport(format!("{method} {path}: {e}")))?;
        if status.is_success() {
            return Ok(Response { headers, body });
        }
        let request_id = headers.get("x-odps-request-id").and_then(|v| v.to_str().ok());
        Err(CallError::Service(request::parse_error(status.as_u16(), &body, request_id)))
    }
}

#[derive(Debug, Clone, Copy)]
enum Base {
    Service,
    Tunnel,
}

fn session_query(spec: Option<&str>, id: &str) -> Vec<(&'static str, String)> {
    let mut query = vec![("uploadid", id.to_string())];
    if let Some(spec) = spec {
        query.push(("partition", spec.to_string()));
    }
    query
}
