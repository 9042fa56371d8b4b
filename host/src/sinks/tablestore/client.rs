//! The Tablestore transport: `POST {endpoint}/{Action}` with a protobuf body, the
//! `x-ots-*` headers, a v2 or v4 signature, response MD5/signature checks, protobuf error
//! bodies, and retries with backoff within a deadline. Shared by the data-table sink and
//! the error table (and meant for the time-series sink too).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest, Md5};
use prost::Message;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::protocol;
use super::retry::{self, Class};
use super::signing;
use crate::sinks::retry::{Backoff, RetryPolicy};

/// The API version every request names.
const API_VERSION: &str = "2015-12-31";

/// An access key, optionally with an STS security token.
#[derive(Clone)]
pub struct Credentials {
    /// AccessKey ID.
    pub access_key_id: String,
    /// AccessKey secret.
    pub access_key_secret: String,
    /// STS token, sent as `x-ots-ststoken`.
    pub security_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"***")
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// How to reach an instance.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `https://<instance>.<region>.ots.aliyuncs.com` (or `http://`).
    pub endpoint: url::Url,
    /// Instance name (`x-ots-instancename`).
    pub instance: String,
    /// Credentials.
    pub credentials: Credentials,
    /// Signing region: v4 signatures when set, v2 otherwise.
    pub region: Option<String>,
    /// Check the MD5 and signature of responses.
    pub verify_responses: bool,
    /// Timeout of one HTTP exchange.
    pub request_timeout: Duration,
    /// How long retryable failures are retried before giving up.
    pub retry_budget: Duration,
}

/// A failed call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OtsError {
    /// The service answered with an error body.
    #[error("{action} failed with HTTP {status} {code}: {message} (request id {request_id})")]
    Service {
        /// The API called.
        action: String,
        /// HTTP status.
        status: u16,
        /// Tablestore error code.
        code: String,
        /// Error message.
        message: String,
        /// `x-ots-requestid`.
        request_id: String,
    },
    /// Something other than Tablestore answered (no request id: a proxy or gateway).
    #[error("{action} failed with HTTP {status} from something other than Tablestore: {body}")]
    Http {
        /// The API called.
        action: String,
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The request did not complete (connection, timeout).
    #[error("{action} could not be sent to Tablestore: {message}")]
    Transport {
        /// The API called.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The answer was not a valid Tablestore response (MD5, signature, protobuf).
    #[error("{action}: invalid response from Tablestore: {message}")]
    Response {
        /// The API called.
        action: String,
        /// What is wrong with it.
        message: String,
    },
}

impl OtsError {
    /// Whether (and how) to retry, for an idempotent call or not.
    pub fn class(&self, idempotent: bool) -> Class {
        match self {
            OtsError::Service { status, code, message, .. } => retry::classify(code, message, *status, idempotent),
            OtsError::Http { status, .. } => retry::classify_status(*status, idempotent),
            OtsError::Transport { .. } | OtsError::Response { .. } if idempotent => Class::Transient,
            OtsError::Transport { .. } | OtsError::Response { .. } => Class::Permanent,
        }
    }

    /// The Tablestore error code, when the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            OtsError::Service { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A Tablestore client. Cheap to clone.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
}

impl Client {
    /// Creates a client (no request is made).
    pub fn new(config: ClientConfig) -> anyhow::Result<Self> {
        match config.endpoint.scheme() {
            "http" | "https" => {}
            other => anyhow::bail!("the Tablestore endpoint must start with http:// or https://, not `{other}://`"),
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(64)
            .user_agent(concat!("sluice/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("creating the HTTP client for Tablestore")?;
        Ok(Self { inner: Arc::new(Inner { http, config }) })
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// Calls `action` once: no retry.
    pub async fn call_once<Req: Message, Resp: Message + Default>(
        &self,
        action: &str,
        request: &Req,
    ) -> Result<Resp, OtsError> {
        let body = self.send(action, request.encode_to_vec()).await?;
        Resp::decode(body.as_slice()).map_err(|e| OtsError::Response {
            action: action.to_string(),
            message: format!("the {action} response is not valid protobuf: {e}"),
        })
    }

    /// Calls `action`, retrying retryable failures with backoff within the retry budget
    /// (control calls: tables, the error table; data writes go through the driver).
    /// Returns the last error when the budget is spent or the failure is permanent.
    pub async fn call<Req: Message, Resp: Message + Default>(
        &self,
        action: &str,
        request: &Req,
        idempotent: bool,
    ) -> Result<Resp, OtsError> {
        let policy = RetryPolicy { timeout: Some(self.inner.config.retry_budget), ..RetryPolicy::default() };
        let mut backoff = Backoff::new(policy);
        loop {
            let error = match self.call_once(action, request).await {
                Ok(response) => return Ok(response),
                Err(error) if error.class(idempotent).retryable() => error,
                Err(error) => return Err(error),
            };
            let reason = error.to_string();
            let Ok(delay) = backoff.next_delay(&reason, None) else { return Err(error) };
            backoff.log("Tablestore", &reason, delay);
            tokio::time::sleep(delay).await;
        }
    }

    /// `DescribeTable`; `Ok(None)` when the table does not exist.
    pub async fn describe_table(&self, table: &str) -> Result<Option<protocol::DescribeTableResponse>, OtsError> {
        let request = protocol::DescribeTableRequest { table_name: table.to_string() };
        match self.call("DescribeTable", &request, true).await {
            Ok(response) => Ok(Some(response)),
            Err(error) if error.code() == Some("OTSObjectNotExist") => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `CreateTable`; an already existing table is not an error.
    pub async fn create_table(&self, request: &protocol::CreateTableRequest) -> Result<(), OtsError> {
        match self.call::<_, protocol::CreateTableResponse>("CreateTable", request, false).await {
            Ok(_) => Ok(()),
            Err(error) if error.code() == Some("OTSObjectAlreadyExist") => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `ListTable`.
    pub async fn list_tables(&self) -> Result<Vec<String>, OtsError> {
        let response: protocol::ListTableResponse =
            self.call("ListTable", &protocol::ListTableRequest {}, true).await?;
        Ok(response.table_names)
    }

    /// Sends a signed request and checks the response; returns the body of a 2xx answer.
    async fn send(&self, action: &str, body: Vec<u8>) -> Result<Vec<u8>, OtsError> {
        let config = &self.inner.config;
        let transport = |message: String| OtsError::Transport { action: action.to_string(), message };
        let (headers, signing_key) = self.signed_headers(action, &body);
        let mut url = config.endpoint.clone();
        {
            let path = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{path}/{action}"));
        }
        let response = self
            .inner
            .http
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
            .map_err(|e| transport(describe_reqwest(&e)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| transport(describe_reqwest(&e)))?.to_vec();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let invalid = |message: String| OtsError::Response { action: action.to_string(), message };

        let Some(request_id) = header("x-ots-requestid") else {
            if (200..300).contains(&status) {
                return Err(invalid("the response has no x-ots-requestid header".into()));
            }
            return Err(OtsError::Http { action: action.to_string(), status, body: snippet(&body) });
        };
        if let Some(md5) = header("x-ots-contentmd5") {
            if md5 != content_md5(&body) {
                return Err(invalid("the body does not match x-ots-contentmd5".into()));
            }
        } else if (200..300).contains(&status) {
            return Err(invalid("the response has no x-ots-contentmd5 header".into()));
        }
        if config.verify_responses && status != 403 {
            match header("authorization") {
                Some(authorization) => {
                    let expected_prefix = format!("OTS {}:", config.credentials.access_key_id);
                    let Some(signature) = authorization.strip_prefix(&expected_prefix) else {
                        return Err(invalid(format!("unexpected Authorization header `{authorization}`")));
                    };
                    let pairs = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
                    if signature != signing::response_signature(&signing_key, action, pairs) {
                        return Err(invalid(
                            "the response signature does not match (wrong secret, or a proxy changed the answer)"
                                .into(),
                        ));
                    }
                }
                None if (200..300).contains(&status) => {
                    return Err(invalid("the response has no Authorization header".into()));
                }
                None => {}
            }
        }
        if (200..300).contains(&status) {
            return Ok(body);
        }
        match protocol::Error::decode(body.as_slice()) {
            Ok(error) => Err(OtsError::Service {
                action: action.to_string(),
                status,
                code: error.code,
                message: error.message.unwrap_or_default(),
                request_id: request_id.to_string(),
            }),
            Err(_) => Err(OtsError::Http { action: action.to_string(), status, body: snippet(&body) }),
        }
    }

    /// The request headers including the signature, and the key responses are signed with.
    fn signed_headers(&self, action: &str, body: &[u8]) -> (HeaderMap, String) {
        let config = &self.inner.config;
        let now = chrono::Utc::now();
        let mut pairs: Vec<(&'static str, String)> = vec![
            ("x-ots-date", now.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()),
            ("x-ots-apiversion", API_VERSION.to_string()),
            ("x-ots-accesskeyid", config.credentials.access_key_id.clone()),
            ("x-ots-instancename", config.instance.clone()),
            ("x-ots-contentmd5", content_md5(body)),
        ];
        if let Some(token) = &config.credentials.security_token {
            pairs.push(("x-ots-ststoken", token.clone()));
        }
        let secret = &config.credentials.access_key_secret;
        let signing_key = match &config.region {
            None => {
                let signature = signing::sign_v2(secret, action, pairs.iter().map(|(k, v)| (*k, v.as_str())));
                pairs.push((signing::SIGNATURE_V2, signature));
                secret.clone()
            }
            Some(region) => {
                let sign_date = now.format("%Y%m%d").to_string();
                let key = signing::v4_signing_key(secret, &sign_date, region);
                pairs.push((signing::SIGN_DATE, sign_date));
                pairs.push((signing::SIGN_REGION, region.clone()));
                let signature = signing::sign_v4(&key, action, pairs.iter().map(|(k, v)| (*k, v.as_str())));
                pairs.push((signing::SIGNATURE_V4, signature));
                key
            }
        };
        let mut headers = HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            // Header values come from the config (validated at load) and from base64/dates.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        (headers, signing_key)
    }
}

/// base64(MD5(body)), the `x-ots-contentmd5` value.
pub fn content_md5(body: &[u8]) -> String {
    BASE64.encode(Md5::digest(body))
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if text.is_empty() {
        "(empty body)".into()
    } else {
        text
    }
}

fn describe_reqwest(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if error.is_timeout() {
        text.push_str(" (timed out)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_body_md5() {
        assert_eq!(content_md5(b""), "1B2M2Y8AsgTpgAmY7PhCfg==");
    }

    #[test]
    fn errors_classify() {
        let busy = OtsError::Service {
            action: "BatchWriteRow".into(),
            status: 503,
            code: "OTSServerBusy".into(),
            message: "busy".into(),
            request_id: "r".into(),
        };
        assert_eq!(busy.class(true), Class::Throttled);
        let gateway = OtsError::Http { action: "A".into(), status: 502, body: String::new() };
        assert_eq!(gateway.class(true), Class::Transient);
        let transport = OtsError::Transport { action: "A".into(), message: "reset".into() };
        assert_eq!(transport.class(false), Class::Permanent);
    }
}
