//! The one retry policy of every sink: what a send's outcome means ([`Outcome`]), how long
//! to wait before the next try (exponential backoff with jitter, or the service's
//! `Retry-After`), and when to give up (`errors.retry.timeout`, plus a sink's own attempt
//! cap such as TDengine's `max.retries`). Sleeps end early on shutdown.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// What happened to one request, or to one row of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Durably written.
    Written,
    /// Transient (throttling, 5xx, timeouts, connection errors): send again after the
    /// delay the service asked for, or after the backoff when it named none.
    RetryAfter {
        /// What went wrong, naming the service's code.
        reason: String,
        /// The service's `Retry-After`, when it sent one.
        after: Option<Duration>,
    },
    /// Refused for its data: for a request of many rows the driver splits it to find the
    /// bad ones; a single row goes to the error path with this reason.
    Reject(String),
    /// Retrying cannot help (credentials, permissions, a missing table): the connector fails.
    Fatal(String),
}

impl Outcome {
    /// A transient failure without a `Retry-After`.
    pub fn retry(reason: impl Into<String>) -> Self {
        Outcome::RetryAfter { reason: reason.into(), after: None }
    }

    /// The same outcome with `what` (`writing to \`db\``) before its reason.
    pub fn doing(self, what: &str) -> Self {
        match self {
            Outcome::Written => Outcome::Written,
            Outcome::RetryAfter { reason, after } => Outcome::RetryAfter { reason: format!("{what}: {reason}"), after },
            Outcome::Reject(reason) => Outcome::Reject(reason),
            Outcome::Fatal(reason) => Outcome::Fatal(format!("{what}: {reason}")),
        }
    }
}

/// First wait of a stretch of failures (doubled per retry).
const FIRST_DELAY: Duration = Duration::from_millis(100);

/// How long and how often transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total time a stretch of failures may last (`errors.retry.timeout`); `None` retries
    /// without end (`errors.retry.timeout=-1`).
    pub timeout: Option<Duration>,
    /// Longest wait between two tries (`errors.retry.delay.max.ms`).
    pub max_delay: Duration,
    /// First wait (doubled per try).
    pub first_delay: Duration,
    /// At most this many retries in one stretch (a sink's own key, such as TDengine's
    /// `max.retries` or MaxCompute's `retry_times`).
    pub max_retries: Option<u32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            timeout: Some(DEFAULT_TIMEOUT),
            max_delay: DEFAULT_MAX_DELAY,
            first_delay: FIRST_DELAY,
            max_retries: None,
        }
    }
}

/// Default `errors.retry.timeout` (see the README's "Retries" section for why).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Default `errors.retry.delay.max.ms`: 5 s (Kafka Connect's is 60 s), so a service that
/// recovers is written to again within seconds, while a five-minute budget still allows
/// about sixty tries.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(5);

/// After this long a stretch of failures logs at WARN (before: DEBUG).
const WARN_AFTER: Duration = Duration::from_secs(5);

/// At most one WARN per stretch of failures this often.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// One stretch of consecutive failures of a write: the backoff state and the budget. A
/// success (any request written) ends the stretch.
#[derive(Debug)]
pub struct Backoff {
    policy: RetryPolicy,
    started: Option<Instant>,
    retries: u32,
    last_warn: Option<Instant>,
}

/// The retry budget is spent: no further try is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("still failing after {elapsed:?} and {retries} retries ({limit}): {reason}")]
pub struct Exhausted {
    /// How long the failures lasted.
    pub elapsed: Duration,
    /// Retries made.
    pub retries: u32,
    /// Which limit was reached, naming its key.
    pub limit: String,
    /// The last failure.
    pub reason: String,
}

impl Backoff {
    /// A backoff with no failure yet.
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy, started: None, retries: 0, last_warn: None }
    }

    /// The policy.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// Something was written: the next failure starts a new stretch.
    pub fn reset(&mut self) {
        self.started = None;
        self.retries = 0;
        self.last_warn = None;
    }

    /// The wait before the next try after a failure, or why there is none. `after` is the
    /// service's `Retry-After` (honoured, capped by `max_delay`).
    pub fn next_delay(&mut self, reason: &str, after: Option<Duration>) -> Result<Duration, Exhausted> {
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        let elapsed = now - started;
        let exhausted = |limit: String| Exhausted { elapsed, retries: self.retries, limit, reason: reason.into() };
        if let Some(max) = self.policy.max_retries {
            if self.retries >= max {
                return Err(exhausted(format!("the sink's retry limit of {max}")));
            }
        }
        let delay = match after {
            Some(after) => after.min(self.policy.max_delay),
            None => {
                let full = self.policy.first_delay.saturating_mul(1 << self.retries.min(20)).min(self.policy.max_delay);
                full / 2 + full.mul_f64(fastrand::f64() / 2.0)
            }
        };
        if let Some(timeout) = self.policy.timeout {
            if elapsed + delay > timeout {
                return Err(exhausted(format!("errors.retry.timeout={}", timeout.as_millis())));
            }
        }
        self.retries += 1;
        Ok(delay)
    }

    /// Logs a retry: DEBUG while the stretch is young, then WARN at most every 10 s naming
    /// the service, the error and how long it has been failing.
    pub fn log(&mut self, service: &str, reason: &str, delay: Duration) {
        let now = Instant::now();
        let failing = self.started.map(|s| now - s).unwrap_or_default();
        let warn_due = failing >= WARN_AFTER && self.last_warn.is_none_or(|w| now - w >= WARN_EVERY);
        if warn_due {
            self.last_warn = Some(now);
            tracing::warn!(service, failing_for = ?failing, retries = self.retries, next_try_in = ?delay,
                "{service} keeps failing; retrying: {reason}");
        } else {
            tracing::debug!(service, failing_for = ?failing, retries = self.retries, next_try_in = ?delay,
                "{service} failed; retrying: {reason}");
        }
    }
}

/// Sleeps `delay` unless shutdown begins first. Returns false on shutdown.
pub async fn sleep(delay: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => true,
        // A dropped sender disables this branch, so the sleep runs out.
        Ok(_) = shutdown.wait_for(|stop| *stop) => false,
    }
}

/// Jittered exponential delay for retry `attempt` (1-based), from `first` doubling up to
/// `max`: between half and all of it. For loops outside the driver (dead letters).
pub fn jittered(attempt: u32, first: Duration, max: Duration) -> Duration {
    let full = first.saturating_mul(1 << attempt.saturating_sub(1).min(20)).min(max);
    full / 2 + full.mul_f64(fastrand::f64() / 2.0)
}

/// `Retry-After` in seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(timeout_ms: u64) -> RetryPolicy {
        RetryPolicy {
            timeout: Some(Duration::from_millis(timeout_ms)),
            max_delay: Duration::from_secs(1),
            first_delay: Duration::from_millis(100),
            max_retries: None,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn delays_grow_with_jitter_and_are_capped() {
        let mut backoff = Backoff::new(policy(3_600_000));
        let first = backoff.next_delay("x", None).unwrap();
        assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100), "{first:?}");
        let second = backoff.next_delay("x", None).unwrap();
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(200), "{second:?}");
        for _ in 0..30 {
            assert!(backoff.next_delay("x", None).unwrap() <= Duration::from_secs(1));
        }
        assert_eq!(backoff.next_delay("x", Some(Duration::from_millis(700))), Ok(Duration::from_millis(700)));
        assert_eq!(backoff.next_delay("x", Some(Duration::from_secs(90))), Ok(Duration::from_secs(1)), "capped");
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_ends_a_stretch_and_a_success_starts_a_new_one() {
        let mut backoff = Backoff::new(policy(1_000));
        let mut waited = Duration::ZERO;
        let error = loop {
            match backoff.next_delay("HTTP 503", None) {
                Ok(delay) => {
                    waited += delay;
                    tokio::time::advance(delay).await;
                }
                Err(error) => break error,
            }
        };
        assert!(waited <= Duration::from_secs(1));
        assert!(
            matches!(&error, Exhausted { limit, reason, .. }
            if limit == "errors.retry.timeout=1000" && reason == "HTTP 503"),
            "{error:?}"
        );
        backoff.reset();
        assert!(backoff.next_delay("x", None).is_ok());

        let mut capped = Backoff::new(RetryPolicy { max_retries: Some(2), ..policy(3_600_000) });
        assert!(capped.next_delay("x", None).is_ok());
        assert!(capped.next_delay("x", None).is_ok());
        assert!(matches!(capped.next_delay("x", None), Err(Exhausted { retries: 2, .. })));
        let mut none = Backoff::new(policy(0));
        assert!(none.next_delay("x", None).is_err(), "errors.retry.timeout=0 retries nothing");
    }

    #[tokio::test]
    async fn shutdown_ends_a_sleep() {
        let (tx, mut rx) = watch::channel(false);
        let sleeper = tokio::spawn(async move { sleep(Duration::from_secs(3600), &mut rx).await });
        tx.send(true).unwrap();
        assert!(!sleeper.await.unwrap());
    }

    #[test]
    fn retry_after_is_read_in_seconds() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
