//! Which Tablestore failures are worth retrying (the driver decides how long to wait).
//!
//! Throttling and partition errors are always retried; timeouts, internal errors and 5xx
//! only for idempotent calls (every write sluice makes is idempotent: puts, deletes and
//! set-updates of the same row in per-key order); parameter, primary key, size,
//! permission and not-found errors never.

use super::client::OtsError;
use crate::sinks::retry::Outcome;

/// Codes retried for any call.
const ALWAYS: &[&str] = &[
    "OTSRowOperationConflict",
    "OTSNotEnoughCapacityUnit",
    "OTSTableNotReady",
    "OTSPartitionUnavailable",
    "OTSServerBusy",
    "OTSStorageServerBusy",
    "OTSOperationConflict",
    "OTSOperationThrottled",
];

/// Codes retried when the call is idempotent.
const IDEMPOTENT: &[&str] = &["OTSTimeout", "OTSInternalServerError", "OTSServerUnavailable", "OTSRequestTimeout"];

/// Whether a failure is worth retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The service asked us to slow down: retry with a longer backoff.
    Throttled,
    /// A transient failure: retry.
    Transient,
    /// Retrying cannot help (bad data, bad credentials, missing table).
    Permanent,
}

impl Class {
    /// Whether to retry at all.
    pub fn retryable(self) -> bool {
        self != Class::Permanent
    }

    /// The class that asks for the longer wait of the two (for a set of failed rows).
    pub fn worse(self, other: Class) -> Class {
        if self == Class::Throttled || other == Class::Throttled {
            Class::Throttled
        } else {
            other
        }
    }
}

/// Classifies a service error code (with its message and HTTP status).
pub fn classify(code: &str, message: &str, status: u16, idempotent: bool) -> Class {
    if ALWAYS.contains(&code) || (code == "OTSQuotaExhausted" && message == "Too frequent table operations.") {
        return if matches!(
            code,
            "OTSServerBusy" | "OTSNotEnoughCapacityUnit" | "OTSOperationThrottled" | "OTSQuotaExhausted"
        ) {
            Class::Throttled
        } else {
            Class::Transient
        };
    }
    if idempotent && (IDEMPOTENT.contains(&code) || (code.is_empty() && status >= 500)) {
        return Class::Transient;
    }
    Class::Permanent
}

/// Classifies an HTTP status without a Tablestore error body (a proxy or gateway answered).
pub fn classify_status(status: u16, idempotent: bool) -> Class {
    match status {
        429 => Class::Throttled,
        500..=599 | 408 if idempotent => Class::Transient,
        _ => Class::Permanent,
    }
}

/// The driver's view of a whole request that failed: credentials stop the connector, a
/// missing table is created again (`auto.create`) or stops it, transient failures are
/// retried, and anything else refuses the request's data (split to find the bad rows).
pub fn request_outcome(error: &OtsError, auto_create: bool) -> Outcome {
    let code = error.code().unwrap_or_default();
    if matches!(code, "OTSAuthFailed" | "OTSNoPermissionAccess" | "OTSAccessDenied")
        || matches!(error, OtsError::Http { status: 401 | 403 | 404, .. })
    {
        return Outcome::Fatal(format!(
            "{error}; check `tablestore.endpoint`, `tablestore.instance.name` and the access key"
        ));
    }
    if code == "OTSObjectNotExist" {
        return missing_table(error.to_string(), auto_create);
    }
    match error.class(true) {
        Class::Throttled | Class::Transient => Outcome::retry(error.to_string()),
        Class::Permanent => Outcome::Reject(error.to_string()),
    }
}

/// The driver's view of one failed row of a batch answer.
pub fn row_outcome(code: &str, message: &str, reason: String, auto_create: bool) -> Outcome {
    if code == "OTSObjectNotExist" {
        return missing_table(reason, auto_create);
    }
    match classify(code, message, 200, true) {
        Class::Throttled | Class::Transient => Outcome::retry(reason),
        Class::Permanent => Outcome::Reject(reason),
    }
}

fn missing_table(reason: String, auto_create: bool) -> Outcome {
    match auto_create {
        true => Outcome::retry(format!("{reason}; the table will be created again")),
        false => Outcome::Fatal(format!("{reason}; create the table or set `auto.create=true`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_reference() {
        assert_eq!(classify("OTSServerBusy", "", 503, false), Class::Throttled);
        assert_eq!(classify("OTSPartitionUnavailable", "", 503, false), Class::Transient);
        assert_eq!(classify("OTSQuotaExhausted", "Too frequent table operations.", 403, false), Class::Throttled);
        assert_eq!(classify("OTSQuotaExhausted", "Other", 403, true), Class::Permanent);
        assert_eq!(classify("OTSTimeout", "", 503, true), Class::Transient);
        assert_eq!(classify("OTSTimeout", "", 503, false), Class::Permanent);
        assert_eq!(classify("OTSInternalServerError", "", 500, true), Class::Transient);
        for code in [
            "OTSParameterInvalid",
            "OTSInvalidPK",
            "OTSConditionCheckFail",
            "OTSRequestBodyTooLarge",
            "OTSOutOfColumnCountLimit",
            "OTSOutOfRowSizeLimit",
            "OTSAuthFailed",
            "OTSObjectNotExist",
        ] {
            assert_eq!(classify(code, "", 400, true), Class::Permanent, "{code}");
        }
        assert_eq!(classify_status(502, true), Class::Transient);
        assert_eq!(classify_status(502, false), Class::Permanent);
        assert_eq!(classify_status(404, true), Class::Permanent);
    }
}
