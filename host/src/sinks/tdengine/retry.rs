//! Response classification (the driver owns retries and their budget). taosAdapter answers schemaless writes
//! with 204, and every TDengine error (bad data included) with HTTP 500 whose message starts
//! with the TDengine code (`[0x3002] …`); `/rest/sql` answers 200 with a non-zero `code`.

use std::time::Duration;

use crate::sinks::retry::{parse_retry_after, Outcome};

/// What a taosAdapter response (or a transport failure) means for the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Class {
    /// Written.
    Written,
    /// The data was rejected (permanent): isolate the bad records.
    Data(String),
    /// The database does not exist: create it and retry once.
    MissingDatabase(String),
    /// Transient: retry after the delay the server asked for, if any.
    Retry {
        /// What went wrong.
        reason: String,
        /// `Retry-After`, when the server sent one.
        after: Option<Duration>,
    },
    /// Not worth retrying (credentials, permissions, wrong endpoint): the connector fails.
    Fatal(String),
}

/// TDengine codes (`& 0xffff`) meaning the data itself is wrong.
const DATA_CODES: &[u32] = &[
    0x0202, // invalid timestamp
    0x0203, // invalid value
    0x020A, // invalid table id length
    0x0216, // SQL syntax error
    0x0218, // invalid table name
    0x021B, // line syntax error
    0x021D, // duplicated column names
    0x021E, // invalid tag length
    0x021F, // invalid column length
    0x0220, // duplicated tag names
    0x0221, // invalid JSON
    0x0222, // invalid JSON type
    0x0223, // value out of range
    0x0224, // value out of range / invalid input
    0x060B, // timestamp out of range
    0x2600, // syntax error
    0x263B, // value too long
    0x3000, // invalid protocol
    0x3001, // invalid precision
    0x3002, // invalid data format
    0x3004, // not the same type as before
];

/// TDengine codes meaning the credentials or permissions are wrong.
const AUTH_CODES: &[u32] =
    &[0x0003, 0x0214, 0x0350, 0x0351, 0x0352, 0x0353, 0x0354, 0x0355, 0x0356, 0x0357, 0x1105, 0x1122, 0x1124];

/// Database does not exist.
const MISSING_DATABASE: u32 = 0x0388;

/// The database was not created for schemaless writes.
const NOT_SCHEMALESS_DB: u32 = 0x3003;

/// The TDengine code at the start of a message (`[0x3002] …`).
pub fn tdengine_code(message: &str) -> Option<u32> {
    let start = message.find("[0x")? + 3;
    let end = start + message[start..].find(']')?;
    u32::from_str_radix(&message[start..end], 16).ok().map(|c| c & 0xffff)
}

/// Classifies a TDengine error by code.
pub fn classify_code(code: u32, message: String) -> Class {
    match code {
        MISSING_DATABASE => Class::MissingDatabase(message),
        NOT_SCHEMALESS_DB => Class::Fatal(format!(
            "{message} (the database exists but was not created for schemaless writes; create it with SCHEMALESS 1 \
             or let sluice create it)"
        )),
        c if AUTH_CODES.contains(&c) => Class::Fatal(format!(
            "{message}; check `connection.user` and `connection.password` and the user's write permission"
        )),
        c if DATA_CODES.contains(&c) => Class::Data(message),
        // Unknown codes are taken as transient, but only within the retry budget
        // (`max.retries`, `errors.retry.timeout`): then the connector fails.
        _ => Class::Retry { reason: message, after: None },
    }
}

/// The message of a schemaless endpoint's error body (`{"code":…,"message":"…"}`), or the
/// body itself.
fn message_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("message").or_else(|| v.get("desc")).and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.trim().chars().take(500).collect())
}

/// Classifies a schemaless endpoint's response.
pub fn classify_write(status: u16, body: &str, retry_after: Option<&str>) -> Class {
    let message = || message_of(body);
    match status {
        200..=299 => Class::Written,
        401 | 403 => Class::Fatal(format!(
            "taosAdapter refused the request (HTTP {status}: {}); check `connection.user` and \
             `connection.password` (and the adapter's IP whitelist)",
            message()
        )),
        404 => Class::Fatal(format!(
            "taosAdapter has no such endpoint (HTTP 404: {}); check that `connection.url` names taosAdapter (port 6041)",
            message()
        )),
        400 => Class::Data(format!("HTTP 400: {}", message())),
        500 => {
            let message = message();
            match tdengine_code(&message) {
                Some(code) => classify_code(code, message),
                None => Class::Retry { reason: format!("HTTP 500: {message}"), after: None },
            }
        }
        _ => Class::Retry {
            reason: format!("HTTP {status}: {}", message()),
            after: retry_after.and_then(parse_retry_after),
        },
    }
}

/// Classifies a `/rest/sql` response: 3.x bodies carry `code` (0 = success), 2.x bodies
/// carry `status` (`succ`/`error`); HTTP 200 does not mean success.
pub fn classify_sql(status: u16, body: &str, retry_after: Option<&str>) -> Class {
    let json = serde_json::from_str::<serde_json::Value>(body).ok();
    let code = json.as_ref().and_then(|j| j.get("code")).and_then(|c| c.as_u64()).map(|c| c as u32);
    let failed_2x = json.as_ref().and_then(|j| j.get("status")).and_then(|s| s.as_str()) == Some("error");
    let outcome = match (status, code) {
        (401 | 403, _) => classify_write(status, body, retry_after),
        (200..=299, Some(0) | None) if !failed_2x => {
            if json.is_none() {
                return Class::Retry {
                    reason: format!("taosAdapter sent an unreadable /rest/sql body: {}", body.trim()),
                    after: None,
                };
            }
            Class::Written
        }
        (_, Some(code)) if code != 0 => {
            let desc = json.as_ref().and_then(|j| j.get("desc")).and_then(|d| d.as_str()).unwrap_or("");
            classify_code(code & 0xffff, format!("[0x{:04x}] {desc}", code & 0xffff))
        }
        (200..=299, _) => Class::Retry { reason: format!("/rest/sql failed: {}", body.trim()), after: None },
        (500, _) => Class::Retry { reason: format!("HTTP 500: {}", message_of(body)), after: None },
        _ => classify_write(status, body, retry_after),
    };
    match outcome {
        Class::Data(message) => Class::Fatal(format!("the SQL was rejected: {message}")),
        other => other,
    }
}

impl Class {
    /// The driver's view: a missing database is transient (the next try creates it), data
    /// errors reject the request (split until the bad records are alone).
    pub fn into_outcome(self) -> Outcome {
        match self {
            Class::Written => Outcome::Written,
            Class::Data(reason) => Outcome::Reject(reason),
            Class::MissingDatabase(reason) => Outcome::retry(reason),
            Class::Retry { reason, after } => Outcome::RetryAfter { reason, after },
            Class::Fatal(reason) => Outcome::Fatal(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemaless_responses_are_classified() {
        assert_eq!(classify_write(204, "", None), Class::Written);
        let data = classify_write(
            500,
            r#"{"code":"internal error","message":"[0x3002] Invalid data format: point type and db type mismatch"}"#,
            None,
        );
        assert!(matches!(data, Class::Data(ref m) if m.contains("0x3002") && m.contains("mismatch")), "{data:?}");
        assert!(matches!(
            classify_write(500, r#"{"code":500,"message":"[0x80003004] not the same type"}"#, None),
            Class::Data(_)
        ));
        assert!(matches!(
            classify_write(500, r#"{"code":"internal error","message":"[0x388] Database not exist"}"#, None),
            Class::MissingDatabase(_)
        ));
        assert!(matches!(
            classify_write(500, r#"{"code":500,"message":"[0x3005] internal error"}"#, None),
            Class::Retry { .. }
        ));
        assert!(matches!(
            classify_write(500, r#"{"code":500,"message":"[0x000B] Unable to establish connection"}"#, None),
            Class::Retry { .. }
        ));
        assert_eq!(
            classify_write(503, r#"{"code":503,"message":"memory exceeded"}"#, Some("2")),
            Class::Retry { reason: "HTTP 503: memory exceeded".into(), after: Some(Duration::from_secs(2)) }
        );
        assert!(matches!(classify_write(502, "bad gateway", None), Class::Retry { after: None, .. }));
        let fatal = classify_write(401, r#"{"code":"forbidden","message":"Authentication failure"}"#, None);
        assert!(matches!(fatal, Class::Fatal(ref m) if m.contains("connection.password")), "{fatal:?}");
        assert!(matches!(classify_write(403, "", None), Class::Fatal(_)));
        assert!(matches!(
            classify_write(500, r#"{"code":500,"message":"[0x0357] Authentication failure"}"#, None),
            Class::Fatal(_)
        ));
    }

    #[test]
    fn sql_failures_hide_behind_http_200() {
        assert_eq!(
            classify_sql(200, r#"{"code":0,"column_meta":[["affected_rows","INT",4]],"data":[[0]],"rows":1}"#, None),
            Class::Written
        );
        assert!(
            matches!(classify_sql(200, r#"{"code":9728,"desc":"syntax error near \"-\""}"#, None), Class::Fatal(ref m) if m.contains("0x2600"))
        );
        assert!(matches!(
            classify_sql(200, r#"{"status":"error","code":534,"desc":"Syntax error in SQL"}"#, None),
            Class::Fatal(_)
        ));
        assert_eq!(
            classify_sql(200, r#"{"status":"succ","head":["affected_rows"],"data":[[0]],"rows":1}"#, None),
            Class::Written
        );
        assert!(matches!(classify_sql(401, r#"{"code":4389,"desc":"invalid basic auth"}"#, None), Class::Fatal(_)));
        assert!(matches!(classify_sql(503, "", Some("1")), Class::Retry { after: Some(_), .. }));
        assert!(matches!(
            classify_sql(200, r#"{"code":11,"desc":"Unable to establish connection"}"#, None),
            Class::Retry { .. }
        ));
    }

    #[test]
    fn codes_are_read_from_messages() {
        assert_eq!(tdengine_code("[0x3002] Invalid data format"), Some(0x3002));
        assert_eq!(tdengine_code("[0x80000388] db"), Some(0x0388));
        assert_eq!(tdengine_code("no code"), None);
    }
}
