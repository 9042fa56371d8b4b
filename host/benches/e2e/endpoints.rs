//! Fast local endpoints for the end-to-end bench: Tablestore (data and time-series tables),
//! taosAdapter and MaxCompute (service and batch tunnel) on loopback ports, in process.
//!
//! Each answers a successful write exactly as the service does, so sluice's clients accept
//! the answers (Tablestore: signed responses with `x-ots-contentmd5`; MaxCompute: upload
//! session JSON and the table schema; taosAdapter: its JSON and 204), and checks what is
//! cheap to check (credentials, signatures, limits, CRCs). Bodies are only skimmed to count
//! the rows (points, records) they carry; [`Endpoint::landed`] is that count, so the bench
//! knows when every record has been written. [`Endpoint::refused`] counts refused writes: a
//! refusal the sink works around (by splitting requests down to single rows) would
//! otherwise only show as a slow run.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use prost::Message as _;
use sluice::sinks::tablestore::client::content_md5;
use sluice::sinks::tablestore::{flatbuf, protocol, signing};

/// Tablestore instance name.
pub const OTS_INSTANCE: &str = "bench";
/// Tablestore AccessKey ID.
pub const OTS_KEY_ID: &str = "bench-key-id";
/// Tablestore AccessKey secret.
pub const OTS_KEY_SECRET: &str = "bench-key-secret";
/// taosAdapter user.
pub const TAOS_USER: &str = "root";
/// taosAdapter password.
pub const TAOS_PASSWORD: &str = "taosdata";
/// MaxCompute project.
pub const ODPS_PROJECT: &str = "bench";
/// MaxCompute table (`topic, partition, offset, key, value`, partitioned by `pt`).
pub const ODPS_TABLE: &str = "kafka_orders";
/// MaxCompute AccessKey ID.
pub const ODPS_ACCESS_ID: &str = "LTAI-bench";
/// MaxCompute AccessKey secret.
pub const ODPS_ACCESS_KEY: &str = "bench-secret";

/// Which service an endpoint stands in for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Tablestore: `BatchWriteRow` and `PutTimeseriesData` with their table calls.
    Tablestore,
    /// taosAdapter: `/rest/sql` and `/influxdb/v1/write`.
    Tdengine,
    /// MaxCompute: the service endpoint (`/api`) and the batch tunnel on one port.
    MaxCompute,
}

/// What an endpoint counts.
#[derive(Default)]
struct Counts {
    /// Rows (points, records) stored.
    landed: AtomicU64,
    /// Write requests answered with an error.
    refused: AtomicU64,
}

impl Counts {
    /// Counts `response` as refused unless it is a success; returns it.
    fn answered(&self, response: Response) -> Response {
        if !response.status().is_success() {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        response
    }
}

/// A running endpoint; it stops with the runtime it was started on.
pub struct Endpoint {
    /// Where it listens.
    pub address: SocketAddr,
    counts: Arc<Counts>,
}

impl Endpoint {
    /// Binds a free loopback port and serves `service` on `runtime`.
    pub fn start(runtime: &tokio::runtime::Runtime, service: Service) -> anyhow::Result<Self> {
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let address = listener.local_addr()?;
        let counts = Arc::new(Counts::default());
        let router = match service {
            Service::Tablestore => Router::new()
                .route("/{action}", post(tablestore))
                .with_state(Arc::new(Tablestore { counts: counts.clone(), ..Tablestore::default() })),
            Service::Tdengine => Router::new()
                .route("/rest/sql", post(taos_sql))
                .route("/influxdb/v1/write", post(taos_write))
                .with_state(Arc::new(Taos { counts: counts.clone(), databases: Mutex::default() })),
            Service::MaxCompute => Router::new()
                .route("/api/projects/{project}/tunnel", get(odps_tunnel))
                .route("/api/projects/{project}/tables/{table}", get(odps_table))
                .route("/projects/{project}/tables/{table}", post(odps_post).put(odps_upload).get(odps_session))
                .with_state(Arc::new(Odps { counts: counts.clone(), address, sessions: Mutex::default() })),
        };
        runtime.spawn(async move { axum::serve(listener, router).await });
        Ok(Self { address, counts })
    }

    /// Rows (points, records) stored since the last [`Endpoint::reset`].
    pub fn landed(&self) -> u64 {
        self.counts.landed.load(Ordering::Relaxed)
    }

    /// Write requests refused since the last [`Endpoint::reset`].
    pub fn refused(&self) -> u64 {
        self.counts.refused.load(Ordering::Relaxed)
    }

    /// Starts counting from zero.
    pub fn reset(&self) {
        self.counts.landed.store(0, Ordering::Relaxed);
        self.counts.refused.store(0, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------------------------ Tablestore

/// Tablestore state: the tables created so far.
#[derive(Default)]
struct Tablestore {
    /// Rows stored, writes refused.
    counts: Arc<Counts>,
    /// Data tables by name, as created.
    tables: Mutex<HashMap<String, protocol::CreateTableRequest>>,
    /// Time-series tables.
    timeseries: Mutex<HashSet<String>>,
    /// Requests answered (request ids).
    requests: AtomicU64,
}

/// A Tablestore error: HTTP status, code, message.
type OtsFailure = (u16, &'static str, String);

/// `POST /{Action}`: checks the request as the service does, then answers signed protobuf.
async fn tablestore(
    State(state): State<Arc<Tablestore>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = ots_verify(&action, &headers).and_then(|()| match action.as_str() {
        "BatchWriteRow" => batch_write_row(&state, &body),
        "PutTimeseriesData" => put_timeseries_data(&state, &body),
        "DescribeTable" => describe_table(&state, &body),
        "CreateTable" => create_table(&state, &body),
        "DescribeTimeseriesTable" => describe_timeseries_table(&state, &body),
        "CreateTimeseriesTable" => create_timeseries_table(&state, &body),
        _ => Err((400, "OTSUnsupportedOperation", format!("Unsupported operation: '{action}'."))),
    });
    let request_id = format!("{:032x}", state.requests.fetch_add(1, Ordering::Relaxed));
    if answer.is_err() && matches!(action.as_str(), "BatchWriteRow" | "PutTimeseriesData") {
        state.counts.refused.fetch_add(1, Ordering::Relaxed);
    }
    match answer {
        Ok(body) => ots_response(200, &action, &request_id, body),
        Err((status, code, message)) => {
            let body = protocol::Error { code: code.into(), message: Some(message) }.encode_to_vec();
            ots_response(status, &action, &request_id, body)
        }
    }
}

/// The service's request checks: instance, AccessKey and the v2 signature (which covers the
/// `x-ots-contentmd5` header; the body's MD5 is not recomputed, it would be most of this
/// endpoint's CPU time).
fn ots_verify(action: &str, headers: &HeaderMap) -> Result<(), OtsFailure> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let denied = |message: &str| Err((403, "OTSAuthFailed", message.to_string()));
    if header("x-ots-instancename") != OTS_INSTANCE {
        return denied("The instance is not found.");
    }
    if header("x-ots-accesskeyid") != OTS_KEY_ID {
        return denied("The AccessKeyID does not exist.");
    }
    let pairs = headers.iter().filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    if header(signing::SIGNATURE_V2) != signing::sign_v2(OTS_KEY_SECRET, action, pairs) {
        return denied("Signature mismatch.");
    }
    Ok(())
}

/// A response with the headers the service sends, signed with the secret (except 403s).
fn ots_response(status: u16, action: &str, request_id: &str, body: Vec<u8>) -> Response {
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut pairs = vec![
        ("x-ots-contentmd5", content_md5(&body)),
        ("x-ots-requestid", request_id.to_string()),
        ("x-ots-date", date),
        ("x-ots-contenttype", "protocol buffer".to_string()),
    ];
    if status != 403 {
        let signature =
            signing::response_signature(OTS_KEY_SECRET, action, pairs.iter().map(|(k, v)| (*k, v.as_str())));
        pairs.push(("authorization", format!("OTS {OTS_KEY_ID}:{signature}")));
    }
    let mut response =
        (StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body).into_response();
    for (name, value) in pairs {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The service's limit of rows per write request.
const MAX_BATCH_ROWS: usize = 200;
/// The service's limit of bytes per write request.
const MAX_BATCH_BYTES: usize = 4 << 20;

/// The service's answer to a write request over [`MAX_BATCH_BYTES`].
fn too_large() -> OtsFailure {
    (413, "OTSRequestBodyTooLarge", "The total data size of the request exceeds the limit.".into())
}

/// `BatchWriteRow`: counts the rows of each table (skimming the protobuf) and answers one
/// successful `RowResult` per row, in request order.
fn batch_write_row(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let invalid = |message: String| (400, "OTSParameterInvalid", message);
    if body.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    let mut tables = Vec::new();
    for (number, field) in proto_fields(body) {
        let (1, Field::Bytes(table)) = (number, field) else { continue };
        let mut name = None;
        let mut rows = 0;
        for (number, field) in proto_fields(table) {
            match (number, field) {
                (1, Field::Bytes(text)) => name = Some(String::from_utf8_lossy(text).into_owned()),
                (2, Field::Bytes(_)) => rows += 1,
                _ => {}
            }
        }
        let name = name.ok_or_else(|| invalid("A table in the request has no name.".into()))?;
        if rows == 0 {
            return Err(invalid(format!("No row specified in table: '{name}'.")));
        }
        tables.push((name, rows));
    }
    let total: usize = tables.iter().map(|(_, rows)| rows).sum();
    if total == 0 || total > MAX_BATCH_ROWS {
        return Err(invalid(format!("Rows count {total} is outside 1..{MAX_BATCH_ROWS}.")));
    }
    {
        let known = state.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((name, _)) = tables.iter().find(|(name, _)| !known.contains_key(name)) {
            return Err((404, "OTSObjectNotExist", format!("Requested table does not exist: '{name}'.")));
        }
    }
    let written = protocol::RowResult {
        is_ok: true,
        error: None,
        consumed: Some(protocol::ConsumedCapacity {
            capacity_unit: protocol::CapacityUnit { read: Some(0), write: Some(1) },
        }),
        row: None,
    };
    let response = protocol::BatchWriteRowResponse {
        tables: tables
            .into_iter()
            .map(|(table_name, rows)| protocol::TableInBatchWriteRowResponse {
                table_name,
                rows: vec![written.clone(); rows],
            })
            .collect(),
    };
    state.counts.landed.fetch_add(total as u64, Ordering::Relaxed);
    Ok(response.encode_to_vec())
}

/// `PutTimeseriesData`: checks the FlatBuffer's CRC-32C, counts its rows, answers no
/// failed rows.
fn put_timeseries_data(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let invalid = |message: &str| Err((400, "OTSParameterInvalid", message.to_string()));
    if body.len() > MAX_BATCH_BYTES {
        return Err(too_large());
    }
    let (mut table, mut rows_data) = (None, None);
    for (number, field) in proto_fields(body) {
        match (number, field) {
            (1, Field::Bytes(name)) => table = Some(String::from_utf8_lossy(name).into_owned()),
            (2, Field::Bytes(rows)) => rows_data = Some(rows),
            _ => {}
        }
    }
    let (Some(table), Some(rows_data)) = (table, rows_data) else {
        return invalid("Failed to parse the ProtoBuf message.");
    };
    let (mut data, mut crc) = (None, None);
    for (number, field) in proto_fields(rows_data) {
        match (number, field) {
            (1, Field::Varint(kind)) if kind != 0 => return invalid("Unsupported rows serialize type."),
            (2, Field::Bytes(bytes)) => data = Some(bytes),
            (3, Field::Varint(value)) => crc = Some(value as i32),
            _ => {}
        }
    }
    let Some(data) = data else { return invalid("Failed to parse the ProtoBuf message.") };
    if crc != Some(flatbuf::crc32c(data)) {
        return invalid("The crc32c of rows data mismatches.");
    }
    let Some(rows) = flatbuffer_rows(data).filter(|rows| (1..=MAX_BATCH_ROWS).contains(rows)) else {
        return invalid("Rows count is outside 1..200 or the rows cannot be read.");
    };
    if !state.timeseries.lock().unwrap_or_else(|e| e.into_inner()).contains(&table) {
        return Err((404, "OTSObjectNotExist", "Requested table does not exist.".into()));
    }
    state.counts.landed.fetch_add(rows as u64, Ordering::Relaxed);
    Ok(protocol::PutTimeseriesDataResponse { failed_rows: Vec::new() }.encode_to_vec())
}

/// `DescribeTable`: the schema the table was created with.
fn describe_table(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let request =
        protocol::DescribeTableRequest::decode(body).map_err(|e| (400, "OTSParameterInvalid", e.to_string()))?;
    let tables = state.tables.lock().unwrap_or_else(|e| e.into_inner());
    let Some(created) = tables.get(&request.table_name) else {
        return Err((404, "OTSObjectNotExist", "Requested table does not exist.".into()));
    };
    let response = protocol::DescribeTableResponse {
        table_meta: created.table_meta.clone(),
        reserved_throughput_details: Some(protocol::ReservedThroughputDetails {
            capacity_unit: created.reserved_throughput.capacity_unit.clone(),
            last_increase_time: 0,
            last_decrease_time: None,
        }),
        table_options: created.table_options.clone(),
        index_metas: Vec::new(),
    };
    Ok(response.encode_to_vec())
}

/// `CreateTable`.
fn create_table(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let request =
        protocol::CreateTableRequest::decode(body).map_err(|e| (400, "OTSParameterInvalid", e.to_string()))?;
    if !(1..=4).contains(&request.table_meta.primary_key.len()) {
        return Err((400, "OTSParameterInvalid", "The number of primary key columns must be in range: [1, 4].".into()));
    }
    let mut tables = state.tables.lock().unwrap_or_else(|e| e.into_inner());
    if tables.contains_key(&request.table_meta.table_name) {
        return Err((409, "OTSObjectAlreadyExist", "Requested table already exists.".into()));
    }
    tables.insert(request.table_meta.table_name.clone(), request);
    Ok(protocol::CreateTableResponse {}.encode_to_vec())
}

/// `DescribeTimeseriesTable`; a missing table is HTTP 500, as the service answers.
fn describe_timeseries_table(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let request = protocol::DescribeTimeseriesTableRequest::decode(body)
        .map_err(|e| (400, "OTSParameterInvalid", e.to_string()))?;
    if !state.timeseries.lock().unwrap_or_else(|e| e.into_inner()).contains(&request.table_name) {
        return Err((500, "OTSInternalServerError", "Internal server error.".into()));
    }
    let meta = protocol::TimeseriesTableMeta {
        table_name: request.table_name,
        table_options: Some(protocol::TimeseriesTableOptions { time_to_live: Some(-1) }),
        status: Some("CREATED".into()),
    };
    Ok(protocol::DescribeTimeseriesTableResponse { table_meta: meta }.encode_to_vec())
}

/// `CreateTimeseriesTable`.
fn create_timeseries_table(state: &Tablestore, body: &[u8]) -> Result<Vec<u8>, OtsFailure> {
    let request = protocol::CreateTimeseriesTableRequest::decode(body)
        .map_err(|e| (400, "OTSParameterInvalid", e.to_string()))?;
    if !state.timeseries.lock().unwrap_or_else(|e| e.into_inner()).insert(request.table_meta.table_name) {
        return Err((409, "OTSObjectAlreadyExist", "Requested table already exists.".into()));
    }
    Ok(protocol::CreateTimeseriesTableResponse {}.encode_to_vec())
}

/// A protobuf field value, borrowed from the message.
enum Field<'a> {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 2: bytes, strings, nested messages.
    Bytes(&'a [u8]),
    /// Wire types 1 and 5 (skipped).
    Fixed,
}

/// The fields of a protobuf message in order, without decoding nested messages; stops at
/// the first malformed field.
fn proto_fields(mut data: &[u8]) -> impl Iterator<Item = (u64, Field<'_>)> {
    std::iter::from_fn(move || {
        let key = varint(&mut data)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut data)?),
            2 => {
                let len = usize::try_from(varint(&mut data)?).ok()?;
                let (bytes, rest) = data.split_at_checked(len)?;
                data = rest;
                Field::Bytes(bytes)
            }
            wire @ (1 | 5) => {
                data = data.get(if wire == 1 { 8 } else { 4 }..)?;
                Field::Fixed
            }
            _ => return None,
        };
        Some((key >> 3, field))
    })
}

/// Reads a base-128 varint from the front of `data`.
fn varint(data: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for (i, &byte) in data.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            *data = &data[i + 1..];
            return Some(value);
        }
    }
    None
}

/// Rows of a `FlatBufferRows` buffer: the lengths of every row group's `rows` vector.
fn flatbuffer_rows(data: &[u8]) -> Option<usize> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize);
    let u16_at = |at: usize| Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?) as usize);
    // The position of field `id` of the table at `table`, when present.
    let field = |table: usize, id: usize| -> Option<usize> {
        let soffset = i32::from_le_bytes(data.get(table..table + 4)?.try_into().ok()?);
        let vtable = usize::try_from(table as i64 - i64::from(soffset)).ok()?;
        let slot = 4 + 2 * id;
        let offset = if slot < u16_at(vtable)? { u16_at(vtable + slot)? } else { 0 };
        (offset != 0).then_some(table + offset)
    };
    // The vector referenced at `at`: its first element and length.
    let vector = |at: usize| -> Option<(usize, usize)> {
        let start = at + u32_at(at)?;
        Some((start + 4, u32_at(start)?))
    };
    let root = u32_at(0)?;
    let (groups, count) = vector(field(root, 0)?)?;
    let mut rows = 0;
    for i in 0..count {
        let at = groups + 4 * i;
        rows += vector(field(at + u32_at(at)?, 3)?)?.1;
    }
    Some(rows)
}

// ------------------------------------------------------------------------------ taosAdapter

/// taosAdapter state: the databases created so far.
struct Taos {
    /// Lines stored, writes refused.
    counts: Arc<Counts>,
    /// Databases created (lower case).
    databases: Mutex<HashSet<String>>,
}

/// Whether the request carries the configured user and password (Basic auth).
fn taos_authorised(headers: &HeaderMap) -> bool {
    let expected = base64::engine::general_purpose::STANDARD.encode(format!("{TAOS_USER}:{TAOS_PASSWORD}"));
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Basic {expected}"))
}

/// A JSON answer.
fn json_response(status: StatusCode, body: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json; charset=utf-8")], body.to_string()).into_response()
}

/// `POST /rest/sql`: `SELECT SERVER_VERSION()` and `CREATE DATABASE`, the statements the
/// sink runs; anything else is a syntax error (HTTP 200 with a code, as taosAdapter does).
async fn taos_sql(State(state): State<Arc<Taos>>, headers: HeaderMap, body: Bytes) -> Response {
    if !taos_authorised(&headers) {
        return json_response(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"code": 0x0357, "desc": "Authentication failure"}),
        );
    }
    let sql = String::from_utf8_lossy(&body).trim().to_ascii_lowercase();
    let answer = if sql.starts_with("select server_version()") {
        serde_json::json!({"code": 0, "column_meta": [["server_version()", "VARCHAR", 7]], "data": [["3.3.6.0"]], "rows": 1})
    } else if let Some(name) = sql.strip_prefix("create database if not exists ").and_then(|r| r.split(' ').next()) {
        state.databases.lock().unwrap_or_else(|e| e.into_inner()).insert(name.trim_matches('`').to_string());
        serde_json::json!({"code": 0, "column_meta": [["affected_rows", "INT", 4]], "data": [[0]], "rows": 1})
    } else {
        serde_json::json!({"code": 0x2600, "desc": format!("syntax error near \"{sql}\"")})
    };
    json_response(StatusCode::OK, answer)
}

/// `POST /influxdb/v1/write?db=…&precision=…`: inflates a gzip body, counts its lines and
/// answers 204; an unknown database is TDengine's `0x0388` in an HTTP 500.
async fn taos_write(
    State(state): State<Arc<Taos>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.counts.answered(taos_write_answer(&state, &query, &headers, &body))
}

/// The answer to a schemaless write.
fn taos_write_answer(state: &Taos, query: &HashMap<String, String>, headers: &HeaderMap, body: &[u8]) -> Response {
    if !taos_authorised(headers) {
        let answer = serde_json::json!({"code": "forbidden", "message": "Authentication failure"});
        return json_response(StatusCode::UNAUTHORIZED, answer);
    }
    let Some(db) = query.get("db").filter(|db| !db.is_empty()) else {
        let answer = serde_json::json!({"code": "illegal param", "message": "db required"});
        return json_response(StatusCode::BAD_REQUEST, answer);
    };
    if !state.databases.lock().unwrap_or_else(|e| e.into_inner()).contains(&db.to_ascii_lowercase()) {
        let answer = serde_json::json!({"code": "internal error", "message": "[0x0388] Database not exist"});
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, answer);
    }
    let gzip = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut text = Vec::new();
    let read = if gzip { flate2::read::GzDecoder::new(body).read_to_end(&mut text).map(drop) } else { Ok(()) };
    if let Err(error) = read {
        let answer = serde_json::json!({"code": "internal error", "message": format!("[0x3002] gzip: {error}")});
        return json_response(StatusCode::INTERNAL_SERVER_ERROR, answer);
    }
    let text = if gzip { &text[..] } else { body };
    let lines = text.split(|&b| b == b'\n').filter(|line| !line.is_empty() && line[0] != b'#').count();
    state.counts.landed.fetch_add(lines as u64, Ordering::Relaxed);
    StatusCode::NO_CONTENT.into_response()
}

// ------------------------------------------------------------------------------ MaxCompute

/// MaxCompute state: upload sessions (id → blocks with their record counts, committed).
struct Odps {
    /// Committed records, writes refused.
    counts: Arc<Counts>,
    /// This endpoint's address, which tunnel discovery answers.
    address: SocketAddr,
    /// Upload sessions by id.
    sessions: Mutex<HashMap<String, OdpsSession>>,
}

/// An upload session.
#[derive(Default)]
struct OdpsSession {
    /// Record count of each uploaded block, by block id.
    blocks: std::collections::BTreeMap<u64, u64>,
    /// Whether it was committed (closed).
    committed: bool,
}

/// The decoded query parameters of a request (a bare key has an empty value).
type OdpsQuery = Query<HashMap<String, String>>;

/// An error body as the service sends it.
fn odps_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, serde_json::json!({"Code": code, "Message": message, "RequestId": "bench"}))
}

/// The refusal of a request for another project or table, or not signed with the
/// configured key.
fn odps_refusal(project: &str, table: Option<&str>, headers: &HeaderMap) -> Option<Response> {
    if project != ODPS_PROJECT {
        return Some(odps_error(StatusCode::NOT_FOUND, "NoSuchProject", "Project not found"));
    }
    if table.is_some_and(|t| t != ODPS_TABLE) {
        return Some(odps_error(StatusCode::NOT_FOUND, "NoSuchTable", "Table not found"));
    }
    let signed = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !signed.starts_with(&format!("ODPS {ODPS_ACCESS_ID}:")) || !headers.contains_key(header::DATE) {
        return Some(odps_error(StatusCode::UNAUTHORIZED, "Unauthorized", "The request is not signed"));
    }
    None
}

/// The table schema as the service and the tunnel describe it.
fn odps_schema() -> serde_json::Value {
    let column =
        |name: &str, kind: &str| serde_json::json!({"name": name, "type": kind, "comment": "", "nullable": true});
    serde_json::json!({
        "IsVirtualView": false,
        "columns": [column("topic", "string"), column("partition", "bigint"), column("offset", "bigint"),
            column("key", "string"), column("value", "string")],
        "partitionKeys": [column("pt", "string")],
    })
}

/// An upload session's JSON, with its block list when asked.
fn odps_session_json(id: &str, session: &OdpsSession, with_blocks: bool) -> serde_json::Value {
    let mut json = serde_json::json!({
        "UploadID": id,
        "Status": if session.committed { "closed" } else { "normal" },
        "Owner": "ALIYUN$bench@example.com",
        "IsOverwrite": false,
        "MaxFieldSize": 8_388_608,
        "Schema": odps_schema(),
    });
    if with_blocks {
        json["UploadedBlockList"] = session
            .blocks
            .iter()
            .map(|(id, records)| serde_json::json!({"BlockID": id, "RecordCount": records, "Version": 1}))
            .collect();
    }
    json
}

/// `GET /api/projects/{p}/tunnel?service`: the tunnel is this same address.
async fn odps_tunnel(State(state): State<Arc<Odps>>, Path(project): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = odps_refusal(&project, None, &headers) {
        return refused;
    }
    state.address.to_string().into_response()
}

/// `GET /api/projects/{p}/tables/{t}`: table metadata, XML around the JSON schema.
async fn odps_table(Path((project, table)): Path<(String, String)>, headers: HeaderMap) -> Response {
    if let Some(refused) = odps_refusal(&project, Some(&table), &headers) {
        return refused;
    }
    let xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Table><Name>{table}</Name><Owner>ALIYUN$bench@example.com</Owner>\
         <Schema><![CDATA[{}]]></Schema></Table>",
        odps_schema()
    );
    ([(header::CONTENT_TYPE, "application/xml")], xml).into_response()
}

/// `POST {table}?uploads` creates a session (201); `POST {table}?uploadid=…` commits it.
async fn odps_post(
    State(state): State<Arc<Odps>>,
    Path((project, table)): Path<(String, String)>,
    Query(query): OdpsQuery,
    headers: HeaderMap,
) -> Response {
    state.counts.answered(odps_post_answer(&state, &project, &table, &query, &headers))
}

/// The answer to a session creation or commit.
fn odps_post_answer(
    state: &Odps,
    project: &str,
    table: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    if let Some(refused) = odps_refusal(project, Some(table), headers) {
        return refused;
    }
    if !query.contains_key("partition") {
        return odps_error(StatusCode::BAD_REQUEST, "MissingPartitionSpec", "The table is partitioned");
    }
    let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    if query.contains_key("uploads") {
        let id = format!("bench{:016x}", sessions.len());
        let session = OdpsSession::default();
        let json = odps_session_json(&id, &session, false);
        sessions.insert(id, session);
        return json_response(StatusCode::CREATED, json);
    }
    let id = query.get("uploadid").cloned().unwrap_or_default();
    let Some(session) = sessions.get_mut(&id) else {
        return odps_error(StatusCode::NOT_FOUND, "NoSuchUpload", "The specified upload id does not exist");
    };
    if session.committed {
        return odps_error(StatusCode::CONFLICT, "StatusConflict", "The upload session is closed");
    }
    session.committed = true;
    state.counts.landed.fetch_add(session.blocks.values().sum(), Ordering::Relaxed);
    json_response(StatusCode::OK, odps_session_json(&id, session, true))
}

/// `GET {table}?uploadid=…`: the session with its uploaded blocks.
async fn odps_session(
    State(state): State<Arc<Odps>>,
    Path((project, table)): Path<(String, String)>,
    Query(query): OdpsQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = odps_refusal(&project, Some(&table), &headers) {
        return refused;
    }
    let id = query.get("uploadid").cloned().unwrap_or_default();
    let sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    match sessions.get(&id) {
        Some(session) => json_response(StatusCode::OK, odps_session_json(&id, session, true)),
        None => odps_error(StatusCode::NOT_FOUND, "NoSuchUpload", "The specified upload id does not exist"),
    }
}

/// `PUT {table}?uploadid=…&blockid=…`: inflates the block and reads its record count from
/// the stream's footer.
async fn odps_upload(
    State(state): State<Arc<Odps>>,
    Path((project, table)): Path<(String, String)>,
    Query(query): OdpsQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    state.counts.answered(odps_upload_answer(&state, &project, &table, &query, &headers, &body))
}

/// The answer to a block upload.
fn odps_upload_answer(
    state: &Odps,
    project: &str,
    table: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let Some(refused) = odps_refusal(project, Some(table), headers) {
        return refused;
    }
    if !headers.contains_key("x-odps-tunnel-version") {
        return odps_error(StatusCode::BAD_REQUEST, "InvalidArgument", "x-odps-tunnel-version header is required");
    }
    let Some(block) = query.get("blockid").and_then(|b| b.parse::<u64>().ok()).filter(|b| *b < 20_000) else {
        return odps_error(StatusCode::BAD_REQUEST, "InvalidBlockID", "block id must be within 0..19999");
    };
    let deflated = headers.get(header::CONTENT_ENCODING).is_some_and(|v| v.as_bytes() == b"deflate");
    let Some(records) = (if deflated { block_records(flate2::read::ZlibDecoder::new(body)) } else { None }) else {
        return odps_error(StatusCode::BAD_REQUEST, "MalformedDataStream", "the block has no readable record stream");
    };
    let id = query.get("uploadid").cloned().unwrap_or_default();
    let mut sessions = state.sessions.lock().unwrap_or_else(|e| e.into_inner());
    match sessions.get_mut(&id) {
        Some(session) if !session.committed => {
            session.blocks.insert(block, records);
            StatusCode::OK.into_response()
        }
        Some(_) => odps_error(StatusCode::CONFLICT, "StatusConflict", "The upload session is closed"),
        None => odps_error(StatusCode::NOT_FOUND, "NoSuchUpload", "The specified upload id does not exist"),
    }
}

/// The record count in the footer of a record stream: the `META_COUNT` tag
/// (`F0 FF FF 7F`), the zigzag count, then the `META_CHECKSUM` tag (`F8 FF FF 7F`).
fn block_records(mut stream: impl std::io::Read) -> Option<u64> {
    const COUNT_TAG: [u8; 4] = [0xF0, 0xFF, 0xFF, 0x7F];
    const CHECKSUM_TAG: [u8; 4] = [0xF8, 0xFF, 0xFF, 0x7F];
    let mut buffer = vec![0u8; 64 * 1024];
    let mut tail: Vec<u8> = Vec::with_capacity(64);
    loop {
        let read = stream.read(&mut buffer).ok()?;
        if read == 0 {
            break;
        }
        tail.extend_from_slice(&buffer[read.saturating_sub(32)..read]);
        tail.drain(..tail.len().saturating_sub(32));
    }
    let at = tail.windows(4).rposition(|w| w == COUNT_TAG)?;
    let mut rest = &tail[at + 4..];
    let zigzag = varint(&mut rest)?;
    rest.starts_with(&CHECKSUM_TAG).then_some((zigzag >> 1) ^ (zigzag & 1).wrapping_neg())
}
