//! How long a failing dead-letter write may keep retrying, and when its retries are worth a
//! warning. A small, self-contained policy so the dead-letter path can move onto the shared
//! sink retry module later without changing its callers.

use std::time::{Duration, Instant};

/// Failing for longer than this makes a retry visible at WARN.
pub const WARN_AFTER: Duration = Duration::from_secs(3);
/// At most one WARN per this interval while a write keeps failing.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Try again after this delay.
    RetryAfter(Duration),
    /// The budget is spent (or the error is permanent): fail the connector.
    GiveUp,
}

/// The retry budget of one dead-letter write: bounded by time, spent at once by a permanent
/// error, with a rate-limited warning once the write has been failing for a while.
#[derive(Debug)]
pub struct RetryBudget {
    started: Instant,
    limit: Duration,
    attempts: u32,
    last_warning: Option<Instant>,
}

impl RetryBudget {
    /// A budget of `limit` starting now.
    pub fn new(limit: Duration) -> Self {
        Self { started: Instant::now(), limit, attempts: 0, last_warning: None }
    }

    /// Records a failed attempt and decides whether to retry. The delay never runs past the
    /// end of the budget, so the last attempt happens right at it.
    pub fn failed(&mut self, permanent: bool) -> Verdict {
        self.attempts += 1;
        let elapsed = self.started.elapsed();
        if permanent || elapsed >= self.limit {
            return Verdict::GiveUp;
        }
        Verdict::RetryAfter(crate::pipeline::task::backoff(self.attempts).min(self.limit - elapsed))
    }

    /// Failed attempts so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the write has been failing.
    pub fn failing_for(&self) -> Duration {
        self.started.elapsed()
    }

    /// True when this failure should be logged at WARN: failing for more than [`WARN_AFTER`],
    /// and no warning in the last [`WARN_EVERY`]. Marks the warning as given.
    pub fn warning_due(&mut self) -> bool {
        self.warning_due_at(Instant::now())
    }

    fn warning_due_at(&mut self, now: Instant) -> bool {
        if now.duration_since(self.started) < WARN_AFTER {
            return false;
        }
        if self.last_warning.is_some_and(|last| now.duration_since(last) < WARN_EVERY) {
            return false;
        }
        self.last_warning = Some(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_errors_spend_the_budget_at_once() {
        let mut budget = RetryBudget::new(Duration::from_secs(60));
        assert_eq!(budget.failed(true), Verdict::GiveUp);
        assert_eq!(budget.attempts(), 1);
    }

    #[test]
    fn retries_stop_when_the_time_is_spent() {
        let mut budget = RetryBudget::new(Duration::from_secs(60));
        assert!(matches!(budget.failed(false), Verdict::RetryAfter(d) if d <= Duration::from_secs(60)));
        let mut spent = RetryBudget::new(Duration::ZERO);
        assert_eq!(spent.failed(false), Verdict::GiveUp);
    }

    #[test]
    fn warnings_start_late_and_are_rate_limited() {
        let mut budget = RetryBudget::new(Duration::from_secs(60));
        let start = budget.started;
        assert!(!budget.warning_due_at(start + Duration::from_secs(1)));
        assert!(budget.warning_due_at(start + WARN_AFTER));
        assert!(!budget.warning_due_at(start + WARN_AFTER + Duration::from_secs(1)));
        assert!(budget.warning_due_at(start + WARN_AFTER + WARN_EVERY));
    }
}
