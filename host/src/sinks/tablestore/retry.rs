//! Which Tablestore failures are worth retrying, and how long to wait between tries.
//!
//! Throttling and partition errors are always retried; timeouts, internal errors and 5xx
//! only for idempotent calls (every write sluice makes is idempotent: puts, deletes and
//! set-updates of the same row in per-key order); parameter, primary key, size,
//! permission and not-found errors never.

use std::time::Duration;

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

/// Exponential backoff with jitter, bounded by a deadline.
#[derive(Debug, Clone)]
pub struct Backoff {
    attempt: u32,
    deadline: tokio::time::Instant,
}

impl Backoff {
    /// A backoff that gives up `budget` from now.
    pub fn new(budget: Duration) -> Self {
        Self { attempt: 0, deadline: tokio::time::Instant::now() + budget }
    }

    /// Attempts made so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// The next delay, or `None` when it would pass the deadline. Throttling waits longer
    /// (100 ms doubling to 3 s) than other failures (20 ms doubling to 1 s); each delay is
    /// drawn between half and all of that.
    pub fn next(&mut self, class: Class) -> Option<Duration> {
        let (base, cap) = match class {
            Class::Throttled => (100u64, 3_000u64),
            _ => (20, 1_000),
        };
        let full = base.saturating_mul(1u64 << self.attempt.min(10)).min(cap);
        self.attempt += 1;
        let delay = Duration::from_millis(full / 2 + fastrand::u64(0..=full / 2));
        (tokio::time::Instant::now() + delay <= self.deadline).then_some(delay)
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

    #[tokio::test]
    async fn backoff_grows_and_stops_at_the_deadline() {
        let mut backoff = Backoff::new(Duration::from_secs(3600));
        let first = backoff.next(Class::Transient).unwrap();
        assert!(first >= Duration::from_millis(10) && first <= Duration::from_millis(20));
        for _ in 0..20 {
            assert!(backoff.next(Class::Throttled).unwrap() <= Duration::from_secs(3));
        }
        let mut short = Backoff::new(Duration::from_millis(5));
        assert_eq!(short.next(Class::Throttled), None);
    }
}
