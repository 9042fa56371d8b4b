//! A Confluent Schema Registry client for the converters: schemas by id
//! (`GET /schemas/ids/{id}`), cached forever since an id never changes meaning, and the version
//! of a schema under a subject (`POST /subjects/{subject}`), cached per (subject, id).
//!
//! It is blocking (reqwest's blocking client, built on first use) because the converters run
//! on the parser threads, outside the async runtime. Several registry URLs are tried in order,
//! starting with the last one that answered; basic auth comes from the URL's user info or from
//! `basic.auth.user.info`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use anyhow::{anyhow, bail};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use url::Url;

/// The registry could not be reached, timed out, or answered with a server error. The record
/// itself is not known to be bad: converting it again later may succeed. Confluent's converters
/// raise a retriable exception here rather than a data error; find it with
/// `error.downcast_ref::<RegistryUnavailable>()`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct RegistryUnavailable(pub String);

/// The kind of a registered schema (`schemaType`; absent means Avro).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    /// `AVRO`.
    Avro,
    /// `JSON` (JSON Schema).
    Json,
    /// `PROTOBUF`.
    Protobuf,
}

impl SchemaType {
    /// The registry's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Json => "JSON",
            SchemaType::Protobuf => "PROTOBUF",
        }
    }
}

/// A schema as the registry stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisteredSchema {
    /// The schema id (the one in the record's wire-format header).
    pub id: u32,
    /// The kind of schema.
    pub schema_type: SchemaType,
    /// The schema text, as registered.
    pub text: String,
    /// The registry's `references` (Protobuf imports registered as their own subjects), as
    /// given: sent back when looking up the schema's version.
    pub references: Value,
    /// The referenced schemas' texts by import name, transitively (Protobuf only).
    pub imports: Vec<(String, String)>,
}

/// How to reach the registry.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Base URLs (`schema.registry.url`, comma-separated), tried in order.
    pub urls: Vec<String>,
    /// Basic auth user and password from `basic.auth.user.info` (source `USER_INFO`); `None`
    /// means only credentials in a URL's user info are used (source `URL`, Confluent's default).
    pub user_info: Option<(String, String)>,
    /// Connection timeout (`http.connect.timeout.ms`, default 60 s).
    pub connect_timeout: Duration,
    /// Whole-request timeout (`http.read.timeout.ms`, default 60 s).
    pub read_timeout: Duration,
    /// The converter's settings prefix (`value.converter`), for messages that name keys.
    pub prefix: String,
}

/// One registry base URL without its credentials, and the credentials it carried.
#[derive(Debug, Clone)]
struct Endpoint {
    base: Url,
    credentials: Option<(String, String)>,
}

/// A registry client shared by the parser threads (`Send + Sync`).
#[derive(Debug)]
pub struct RegistryClient {
    endpoints: Vec<Endpoint>,
    user_info: Option<(String, String)>,
    connect_timeout: Duration,
    read_timeout: Duration,
    prefix: String,
    http: OnceLock<reqwest::blocking::Client>,
    /// The endpoint that answered last; tried first.
    preferred: AtomicUsize,
    schemas: RwLock<HashMap<u32, Arc<RegisteredSchema>>>,
    versions: RwLock<HashMap<(String, u32), i32>>,
}

/// Characters escaped in a subject used as a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

const ACCEPT: &str = "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json, application/json";

impl RegistryClient {
    /// A client for `settings`; fails on a URL that does not parse. No connection is made here.
    pub fn new(settings: RegistrySettings) -> anyhow::Result<Self> {
        let key = format!("{}.schema.registry.url", settings.prefix);
        if settings.urls.is_empty() {
            bail!("`{key}` is empty: set it to the schema registry's URL, e.g. http://localhost:8081");
        }
        let mut endpoints = Vec::with_capacity(settings.urls.len());
        for raw in &settings.urls {
            let mut base = Url::parse(raw.trim())
                .map_err(|e| anyhow!("`{key}`: {raw:?} is not a URL ({e}); write it as http://host:8081"))?;
            if !matches!(base.scheme(), "http" | "https") {
                bail!("`{key}`: {raw:?} must be an http:// or https:// URL");
            }
            let credentials = (!base.username().is_empty()).then(|| {
                let user = percent_encoding::percent_decode_str(base.username()).decode_utf8_lossy().into_owned();
                let password = base
                    .password()
                    .map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned())
                    .unwrap_or_default();
                (user, password)
            });
            let _ = base.set_username("");
            let _ = base.set_password(None);
            if !base.path().ends_with('/') {
                let path = format!("{}/", base.path());
                base.set_path(&path);
            }
            endpoints.push(Endpoint { base, credentials });
        }
        Ok(RegistryClient {
            endpoints,
            user_info: settings.user_info,
            connect_timeout: settings.connect_timeout,
            read_timeout: settings.read_timeout,
            prefix: settings.prefix,
            http: OnceLock::new(),
            preferred: AtomicUsize::new(0),
            schemas: RwLock::new(HashMap::new()),
            versions: RwLock::new(HashMap::new()),
        })
    }

    /// The registry URLs, without credentials, for messages.
    pub fn describe(&self) -> String {
        self.endpoints.iter().map(|e| e.base.as_str().trim_end_matches('/')).collect::<Vec<_>>().join(", ")
    }

    /// The schema registered under `id`, from the cache or the registry.
    pub fn schema(&self, id: u32) -> anyhow::Result<Arc<RegisteredSchema>> {
        if let Some(found) = self.schemas.read().unwrap_or_else(|e| e.into_inner()).get(&id) {
            return Ok(found.clone());
        }
        let body = self.call(reqwest::Method::GET, &format!("schemas/ids/{id}"), None, &|status, text, url| {
            if status == 404 {
                anyhow!(
                    "schema id {id} is not in the schema registry at {url} ({}): the record was written against \
                     another registry, or the schema was deleted; point `{}.schema.registry.url` at the registry \
                     the producer used",
                    registry_message(text),
                    self.prefix
                )
            } else {
                anyhow!("the schema registry at {url} refused to return schema id {id}: {}", registry_message(text))
            }
        })?;
        let text = body
            .get("schema")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("the schema registry's answer for schema id {id} has no \"schema\" text: {body}"))?;
        let schema_type = match body.get("schemaType").and_then(Value::as_str) {
            None | Some("AVRO") => SchemaType::Avro,
            Some("JSON") => SchemaType::Json,
            Some("PROTOBUF") => SchemaType::Protobuf,
            Some(other) => bail!("schema id {id} has the unknown schemaType {other:?}"),
        };
        let references = body.get("references").cloned().unwrap_or(Value::Null);
        let has_references = references.as_array().is_some_and(|r| !r.is_empty());
        let mut imports = Vec::new();
        if has_references && schema_type == SchemaType::Protobuf {
            self.resolve_references(&format!("schema id {id}"), &references, &mut imports, 0)?;
        } else if has_references {
            bail!(
                "schema id {id} refers to other registered schemas (\"references\": {}); sluice does not resolve \
                 schema references yet: register the schema self-contained",
                body["references"]
            );
        }
        let schema = Arc::new(RegisteredSchema { id, schema_type, text: text.to_string(), references, imports });
        self.schemas.write().unwrap_or_else(|e| e.into_inner()).insert(id, schema.clone());
        Ok(schema)
    }

    /// Fetches the schemas `references` name (`GET /subjects/{subject}/versions/{version}`),
    /// and theirs, into `imports` as (import name, schema text); `what` names the referrer.
    fn resolve_references(
        &self,
        what: &str,
        references: &Value,
        imports: &mut Vec<(String, String)>,
        depth: usize,
    ) -> anyhow::Result<()> {
        if depth > 32 {
            bail!("{what}: schema references nest more than 32 deep");
        }
        for reference in references.as_array().into_iter().flatten() {
            let field = |name: &str| reference.get(name).filter(|v| !v.is_null());
            let (Some(name), Some(subject), Some(version)) = (
                field("name").and_then(Value::as_str),
                field("subject").and_then(Value::as_str),
                field("version").and_then(Value::as_i64),
            ) else {
                bail!("{what} has a reference without name, subject and version: {reference}");
            };
            if imports.iter().any(|(known, _)| known == name) {
                continue;
            }
            let path = format!("subjects/{}/versions/{version}", utf8_percent_encode(subject, SEGMENT));
            let body = self.call(reqwest::Method::GET, &path, None, &|_, text, url| {
                anyhow!(
                    "{what} imports `{name}`, registered as subject `{subject}` version {version}, which the schema \
                     registry at {url} did not return: {}",
                    registry_message(text)
                )
            })?;
            let text = body.get("schema").and_then(Value::as_str).ok_or_else(|| {
                anyhow!("the schema registry's answer for subject `{subject}` version {version} has no schema: {body}")
            })?;
            imports.push((name.to_string(), text.to_string()));
            if let Some(nested) = body.get("references") {
                self.resolve_references(&format!("`{name}`"), nested, imports, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The version of `schema` under `subject` (`POST /subjects/{subject}`), as Confluent's
    /// converters put it on the Connect schema.
    pub fn version(&self, subject: &str, schema: &RegisteredSchema) -> anyhow::Result<i32> {
        let key = (subject.to_string(), schema.id);
        if let Some(version) = self.versions.read().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(*version);
        }
        let mut request = serde_json::Map::new();
        request.insert("schema".into(), Value::from(schema.text.clone()));
        if schema.schema_type != SchemaType::Avro {
            request.insert("schemaType".into(), Value::from(schema.schema_type.name()));
        }
        if schema.references.as_array().is_some_and(|r| !r.is_empty()) {
            request.insert("references".into(), schema.references.clone());
        }
        let path = format!("subjects/{}?normalize=false&deleted=true", utf8_percent_encode(subject, SEGMENT));
        let body = self.call(reqwest::Method::POST, &path, Some(Value::Object(request)), &|status, text, url| {
            let why = if status == 404 {
                format!(
                    "schema id {} is not registered under subject `{subject}` at {url} ({}); Confluent's converters \
                     need it there to name the schema's version: check `{}.key.subject.name.strategy` / \
                     `{}.value.subject.name.strategy` against the producer's",
                    schema.id,
                    registry_message(text),
                    self.prefix,
                    self.prefix
                )
            } else {
                format!(
                    "looking up schema id {} under subject `{subject}` failed: {}",
                    schema.id,
                    registry_message(text)
                )
            };
            anyhow!(why)
        })?;
        let version =
            body.get("version").and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok()).ok_or_else(|| {
                anyhow!("the schema registry's lookup answer under `{subject}` has no version: {body}")
            })?;
        self.versions.write().unwrap_or_else(|e| e.into_inner()).insert(key, version);
        Ok(version)
    }

    fn http(&self) -> anyhow::Result<&reqwest::blocking::Client> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(self.connect_timeout)
            .timeout(self.read_timeout)
            .build()
            .map_err(|e| anyhow!("building the schema registry client failed: {e}"))?;
        Ok(self.http.get_or_init(|| client))
    }

    /// Sends one request to the first endpoint that answers; a 4xx answer is final (`refused`
    /// builds its error), connection failures and 5xx move on to the next URL.
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        refused: &dyn Fn(u16, &str, &str) -> anyhow::Error,
    ) -> anyhow::Result<Value> {
        let http = self.http()?;
        let count = self.endpoints.len();
        let first = self.preferred.load(Ordering::Relaxed) % count;
        let mut failures = Vec::new();
        for step in 0..count {
            let index = (first + step) % count;
            let endpoint = &self.endpoints[index];
            let url = endpoint.base.join(path).map_err(|e| anyhow!("bad registry path {path:?}: {e}"))?;
            let shown = endpoint.base.as_str().trim_end_matches('/').to_string();
            let mut request = http.request(method.clone(), url).header(reqwest::header::ACCEPT, ACCEPT);
            if let Some((user, password)) = self.user_info.as_ref().or(endpoint.credentials.as_ref()) {
                request = request.basic_auth(user, Some(password));
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/vnd.schemaregistry.v1+json")
                    .body(body.to_string());
            }
            let response = match request.send() {
                Ok(response) => response,
                Err(e) => {
                    failures.push(format!("{shown}: {}", error_chain(&e)));
                    continue;
                }
            };
            let status = response.status().as_u16();
            let text = match response.text() {
                Ok(text) => text,
                Err(e) => {
                    failures.push(format!("{shown}: reading the answer failed: {}", error_chain(&e)));
                    continue;
                }
            };
            if status >= 500 {
                failures.push(format!("{shown}: HTTP {status} {}", registry_message(&text)));
                continue;
            }
            self.preferred.store(index, Ordering::Relaxed);
            if status == 401 || status == 403 {
                bail!(
                    "the schema registry at {shown} refused the request (HTTP {status}: {}): set \
                     `{p}.basic.auth.credentials.source=USER_INFO` and `{p}.basic.auth.user.info=<user>:<password>` \
                     to credentials the registry accepts",
                    registry_message(&text),
                    p = self.prefix
                );
            }
            if !(200..300).contains(&status) {
                return Err(refused(status, &text, &shown));
            }
            return serde_json::from_str(&text)
                .map_err(|e| anyhow!("the schema registry at {shown} answered with invalid JSON ({e}): {text:.200}"));
        }
        Err(RegistryUnavailable(format!(
            "the schema registry is unavailable ({}); the record was not converted and may be retried",
            failures.join("; ")
        ))
        .into())
    }
}

/// The registry's `{"error_code":..,"message":..}` as `error 40403: Schema not found`, or the
/// start of any other body.
fn registry_message(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(json) if json.get("message").is_some() => {
            let message = json["message"].as_str().unwrap_or_default();
            match json.get("error_code").and_then(Value::as_i64) {
                Some(code) => format!("error {code}: {message}"),
                None => message.to_string(),
            }
        }
        _ => format!("{:.200}", text.trim()),
    }
}

/// An error with its causes, `a: b: c`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
