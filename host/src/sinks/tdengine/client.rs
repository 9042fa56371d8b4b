//! Transport: taosAdapter's REST API over reqwest, with Basic auth on every request
//! (the OpenTSDB endpoints accept nothing else) and gzip request bodies.

use anyhow::Context as _;
use base64::Engine as _;
use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, RETRY_AFTER};
use url::Url;

use super::config::{Precision, Protocol, TdengineConfig};
use super::encode;
use super::retry::{classify_sql, classify_write, Class};

/// Bodies smaller than this are sent uncompressed (gzip would not pay off).
const GZIP_MIN_BYTES: usize = 1024;

/// A taosAdapter endpoint with credentials. Cheap to clone.
#[derive(Clone)]
pub struct AdapterClient {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
    gzip: bool,
    precision: Precision,
    ttl: Option<u32>,
    table_name_key: Option<String>,
}

impl AdapterClient {
    /// A client for the configured adapter.
    pub fn new(config: &TdengineConfig) -> anyhow::Result<Self> {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", config.user, config.password));
        let mut auth = HeaderValue::from_str(&format!("Basic {token}"))
            .context("`connection.user`/`connection.password` contain characters not allowed in a header")?;
        auth.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(std::time::Duration::from_secs(10)))
            .pool_idle_timeout(std::time::Duration::from_secs(30))
            .build()
            .context("creating the HTTP client")?;
        Ok(Self {
            http,
            base: config.endpoint.clone(),
            auth,
            gzip: config.gzip,
            precision: config.precision,
            ttl: config.ttl,
            table_name_key: config.table_name_key.clone(),
        })
    }

    /// Where requests go, for messages.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Runs one SQL statement through `/rest/sql`; returns the outcome and the body.
    pub async fn sql(&self, sql: &str) -> (Class, String) {
        let url = self.url(&["rest", "sql"]);
        let request = self.http.post(url).header(AUTHORIZATION, self.auth.clone()).body(sql.to_string());
        match request.send().await {
            Err(error) => (transport_failure(&error), String::new()),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = header_text(&response);
                let body = response.text().await.unwrap_or_default();
                (classify_sql(status, &body, retry_after.as_deref()), body)
            }
        }
    }

    /// The URL a schemaless body for `db` is posted to (its query names the database,
    /// precision, TTL and table name key where they apply).
    pub fn write_url(&self, db: &str, protocol: Protocol) -> Url {
        let mut url = match protocol {
            Protocol::Line => self.url(&["influxdb", "v1", "write"]),
            Protocol::Telnet => self.url(&["opentsdb", "v1", "put", "telnet", db]),
            Protocol::Json => self.url(&["opentsdb", "v1", "put", "json", db]),
        };
        {
            let mut query = url.query_pairs_mut();
            if protocol == Protocol::Line {
                query.append_pair("db", db).append_pair("precision", self.precision.wire());
            }
            if let Some(ttl) = self.ttl {
                query.append_pair("ttl", &ttl.to_string());
            }
            if let Some(key) = &self.table_name_key {
                query.append_pair("table_name_key", key);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    /// Writes one schemaless body into `db`.
    pub async fn write(&self, db: &str, protocol: Protocol, body: bytes::Bytes) -> Class {
        let url = self.write_url(db, protocol);
        let content_type = if protocol == Protocol::Json { "application/json" } else { "text/plain; charset=utf-8" };
        let mut request =
            self.http.post(url).header(AUTHORIZATION, self.auth.clone()).header(CONTENT_TYPE, content_type);
        request = if self.gzip && body.len() >= GZIP_MIN_BYTES {
            match encode::gzip(&body) {
                Ok(packed) => request.header(CONTENT_ENCODING, "gzip").body(packed),
                Err(_) => request.body(body),
            }
        } else {
            request.body(body)
        };
        match request.send().await {
            Err(error) => transport_failure(&error),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = header_text(&response);
                let text = response.text().await.unwrap_or_default();
                classify_write(status, &text, retry_after.as_deref())
            }
        }
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }
}

fn header_text(response: &reqwest::Response) -> Option<String> {
    response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// Timeouts, refused and dropped connections are worth retrying.
fn transport_failure(error: &reqwest::Error) -> Class {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut reason = format!("the request to taosAdapter {kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        reason.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    Class::Retry { reason, after: None }
}
