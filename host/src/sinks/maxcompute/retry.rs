//! Classifying MaxCompute failures: what a later attempt can fix (throttling, 5xx,
//! timeouts, an expired or already-closed session) versus what needs an operator
//! (credentials, permissions, a missing project or table, a clock far off).

use super::client::CallError;
use crate::sinks::retry::Outcome;

/// What to do about a failed call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Try again (the same request, or the whole write with a new session).
    Retry,
    /// The tunnel refused a block for its data: split it to find the bad records.
    Data,
    /// The partition does not exist (the tunnel ignored `create_partition`).
    NoPartition,
    /// Nothing will change by retrying.
    Fatal,
}

/// Tunnel and service codes worth a retry (Tunnel error list: "try again later" ones, and
/// session states that a new session fixes).
const RETRY_CODES: &[&str] = &[
    "StatusConflict",
    "NoSuchUpload",
    "InConsistentBlockList",
    "FlowExceeded",
    "RequestTimeOut",
    "ServiceUnavailable",
    "InternalServerError",
    "DataUnderReplication",
    "DataVersionConflict",
    "TableModified",
    "CorruptedDataStream",
    "SlotExceeded",
];

/// Codes of a block refused for its content (a record the table cannot take).
const DATA_CODES: &[&str] = &["MalformedDataStream", "InvalidRowData", "InvalidColumnValue"];

/// Classifies a failed call.
pub fn classify(error: &CallError) -> Class {
    match error {
        CallError::Transport(_) => Class::Retry,
        CallError::Protocol(_) => Class::Fatal,
        CallError::Service(e) if e.code == "NoSuchPartition" => Class::NoPartition,
        CallError::Service(e) if DATA_CODES.contains(&e.code.as_str()) => Class::Data,
        CallError::Service(e) if e.status >= 500 || e.status == 429 || e.status == 408 => Class::Retry,
        CallError::Service(e) if RETRY_CODES.contains(&e.code.as_str()) => Class::Retry,
        CallError::Service(_) => Class::Fatal,
    }
}

/// The driver's view of a failure while `doing` something.
pub fn outcome(doing: &str, error: CallError) -> Outcome {
    let hint = match &error {
        CallError::Service(e) if e.status == 401 || e.status == 403 => {
            " (check `access_id`/`access_key`, the account's permissions on the project and table, and the clock)"
        }
        CallError::Service(e) if e.code == "NoSuchTable" || e.code == "NoSuchProject" || e.code == "NoSuchObject" => {
            " (check `project` and `table`)"
        }
        _ => "",
    };
    match classify(&error) {
        Class::Retry => Outcome::retry(format!("MaxCompute: {doing} failed: {error}")),
        Class::Data => Outcome::Reject(format!("MaxCompute: {doing} failed: {error}")),
        Class::NoPartition | Class::Fatal => Outcome::Fatal(format!("MaxCompute: {doing} failed: {error}{hint}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::maxcompute::request::parse_error;

    fn service(status: u16, code: &str) -> CallError {
        CallError::Service(parse_error(status, format!("{{\"Code\":\"{code}\",\"Message\":\"m\"}}").as_bytes(), None))
    }

    #[test]
    fn classes() {
        assert_eq!(classify(&service(500, "InternalServerError")), Class::Retry);
        assert_eq!(classify(&service(409, "StatusConflict")), Class::Retry);
        assert_eq!(classify(&service(404, "NoSuchPartition")), Class::NoPartition);
        assert_eq!(classify(&service(401, "Unauthorized")), Class::Fatal);
        assert_eq!(classify(&CallError::Transport("reset".into())), Class::Retry);
        assert_eq!(classify(&service(400, "MalformedDataStream")), Class::Data);
        assert!(matches!(outcome("x", service(403, "NoPermission")), Outcome::Fatal(m) if m.contains("access_id")));
    }
}
