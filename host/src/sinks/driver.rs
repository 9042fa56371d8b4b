//! The one sink driver. A sink encodes a batch into rows and hands them to
//! [`Driver::run`] with its [`Service`] (how rows group into requests, how one request is
//! sent and what its answer means); the driver sends the requests, classifies every
//! outcome with the one [`Outcome`] type, retries transient failures with backoff and
//! jitter inside the retry budget (honouring `Retry-After`, ending early on shutdown),
//! bisects requests refused for their data until the bad rows are alone, and collects
//! the rejected rows for the error path. No sink has a send or retry loop of its own.

use std::collections::BTreeMap;
use std::future::Future;

use tokio::sync::watch;

use super::retry::{self, Backoff, Outcome, RetryPolicy};
use super::SinkError;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// One outcome for every row of the request.
    Whole(Outcome),
    /// One outcome per row, in request order (batch APIs that report rows separately).
    Rows(Vec<Outcome>),
}

/// What a sink supplies to the driver.
pub trait Service: Send + Sync {
    /// One encoded row (or line, or point), ready to go into a request.
    type Row: Send + Sync;

    /// The service's name in logs and errors (`Tablestore`, `TDengine`, …).
    fn name(&self) -> &'static str;

    /// The batch item (index into the write's items) a row belongs to.
    fn item(&self, row: &Self::Row) -> usize;

    /// Groups the rows at `indices` (ascending) into waves of requests. The requests of a
    /// wave are sent concurrently and may be split or resent in any order, so a wave must
    /// not hold two writes whose order matters; waves go one after another.
    fn plan(&self, rows: &[Self::Row], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>>;

    /// The connector's retry policy with the sink's own limits folded in (TDengine's
    /// `max.retries`, MaxCompute's `retry_times`, Tablestore's `tablestore.retry.timeout.ms`).
    fn limits(&self, policy: RetryPolicy) -> RetryPolicy {
        policy
    }

    /// Sends one request made of `rows[i]` for `i` in `request` (once: the driver retries).
    fn send<'a>(&'a self, rows: &'a [Self::Row], request: &'a [usize]) -> impl Future<Output = Response> + Send + 'a;
}

/// Rows rejected for their data: batch item index → reason (the first reason of an item).
pub type Rejected = BTreeMap<usize, String>;

/// Runs a sink's requests for one lane: the retry policy and the shutdown signal.
pub struct Driver {
    policy: RetryPolicy,
    shutdown: watch::Receiver<bool>,
    retries: u64,
    on_retry: Option<Box<dyn Fn() + Send + Sync>>,
    on_request: Option<Box<dyn Fn(std::time::Duration) + Send + Sync>>,
    /// When splitting refused requests was last reported at WARN (at most every
    /// [`SPLIT_WARNING_EVERY`]: a service that refuses every request of several rows makes
    /// the connector send one row per request, which must not go unnoticed).
    split_warned: Option<std::time::Instant>,
}

/// How often splitting refused requests is reported at WARN.
const SPLIT_WARNING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl Driver {
    /// A driver retrying by `policy` until `shutdown` turns true.
    pub fn new(policy: RetryPolicy, shutdown: watch::Receiver<bool>) -> Self {
        Self { policy, shutdown, retries: 0, on_retry: None, on_request: None, split_warned: None }
    }

    /// Calls `time` with the duration of every request sent (the sink's request latency).
    pub fn timing(mut self, time: impl Fn(std::time::Duration) + Send + Sync + 'static) -> Self {
        self.on_request = Some(Box::new(time));
        self
    }

    /// Calls `count` at every retry, as it happens (the connector's retry counter).
    pub fn counting(mut self, count: impl Fn() + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Box::new(count));
        self
    }

    /// A driver that is never shut down (tools and tests).
    pub fn unstoppable(policy: RetryPolicy) -> Self {
        let (sender, shutdown) = watch::channel(false);
        std::mem::forget(sender);
        Self::new(policy, shutdown)
    }

    /// Retries made since the last call.
    pub fn take_retries(&mut self) -> u64 {
        std::mem::take(&mut self.retries)
    }

    /// Writes `rows` through `service`, adding the rows refused for their data to
    /// `rejected`. Returns once every other row is written, or with the reason the write
    /// failed: [`SinkError::Fatal`] for a fatal answer or a spent retry budget,
    /// [`SinkError::Interrupted`] on shutdown.
    pub async fn run<S: Service>(
        &mut self,
        service: &S,
        rows: &[S::Row],
        rejected: &mut Rejected,
    ) -> Result<(), SinkError> {
        let mut backoff = Backoff::new(service.limits(self.policy));
        let name = service.name();
        for wave in service.plan(rows, (0..rows.len()).collect()) {
            let mut pending = wave;
            while !pending.is_empty() {
                let on_request = &self.on_request;
                let answers = futures_util::future::join_all(pending.iter().map(|request| async move {
                    let started = std::time::Instant::now();
                    let answer = service.send(rows, request).await;
                    if let Some(time) = on_request {
                        time(started.elapsed());
                    }
                    answer
                }))
                .await;
                let mut split: Vec<Vec<usize>> = Vec::new();
                let mut refused: Option<(usize, String)> = None;
                let mut again: Vec<usize> = Vec::new();
                let mut wait: Option<(String, Option<std::time::Duration>)> = None;
                let mut progress = false;
                for (request, answer) in pending.iter().zip(answers) {
                    let mut one = |index: usize, outcome: Outcome| -> Result<(), SinkError> {
                        match outcome {
                            Outcome::Written => progress = true,
                            Outcome::RetryAfter { reason, after } => {
                                again.push(index);
                                let longest = wait.as_ref().and_then(|(_, a)| *a).max(after);
                                wait = Some((reason, longest));
                            }
                            Outcome::Reject(reason) => {
                                progress = true;
                                rejected.entry(service.item(&rows[index])).or_insert(reason);
                            }
                            Outcome::Fatal(reason) => return Err(SinkError::Fatal(format!("{name}: {reason}"))),
                        }
                        Ok(())
                    };
                    match answer {
                        Response::Whole(Outcome::Reject(reason)) if request.len() > 1 => {
                            tracing::debug!(
                                service = name,
                                rows = request.len(),
                                "{name} refused a request for its data ({reason}); splitting it to find the bad rows."
                            );
                            refused.get_or_insert((request.len(), reason));
                            let (left, right) = request.split_at(request.len() / 2);
                            split.push(left.to_vec());
                            split.push(right.to_vec());
                        }
                        Response::Whole(Outcome::RetryAfter { reason, after }) => {
                            again.extend_from_slice(request);
                            let longest = wait.as_ref().and_then(|(_, a)| *a).max(after);
                            wait = Some((reason, longest));
                        }
                        Response::Whole(outcome) => {
                            for &index in request {
                                one(index, outcome.clone())?;
                            }
                        }
                        Response::Rows(outcomes) if outcomes.len() != request.len() => {
                            again.extend_from_slice(request);
                            let reason = format!(
                                "{name} answered {} row results for a request of {} rows",
                                outcomes.len(),
                                request.len()
                            );
                            wait = Some((reason, wait.and_then(|(_, a)| a)));
                        }
                        Response::Rows(outcomes) => {
                            for (&index, outcome) in request.iter().zip(outcomes) {
                                one(index, outcome)?;
                            }
                        }
                    }
                }
                if let Some((rows, reason)) = refused {
                    let due = self.split_warned.is_none_or(|at| at.elapsed() >= SPLIT_WARNING_EVERY);
                    if due {
                        self.split_warned = Some(std::time::Instant::now());
                        tracing::warn!(
                            service = name,
                            rows,
                            "{name} refused a request of {rows} rows for its data ({reason}); splitting requests to \
                             find the bad rows (if most requests are refused, every row goes alone: check the data \
                             against the target's schema). Reported at most every 10 s."
                        );
                    }
                }
                if progress {
                    backoff.reset();
                }
                pending = split;
                if let Some((reason, after)) = wait {
                    let delay = backoff.next_delay(&reason, after).map_err(|exhausted| {
                        SinkError::Unavailable(format!(
                            "{name} {exhausted}; the connector stops, nothing past this batch is committed, and it \
                             restarts itself with backoff (`sluice.restart.backoff.max.ms`; raise `errors.retry.timeout` \
                             to wait longer within one run)"
                        ))
                    })?;
                    backoff.log(name, &reason, delay);
                    if !retry::sleep(delay, &mut self.shutdown).await {
                        return Err(SinkError::Interrupted);
                    }
                    self.retries += 1;
                    if let Some(count) = &self.on_retry {
                        count();
                    }
                    // The rows come from one wave, so resending them together keeps order.
                    again.sort_unstable();
                    pending.extend(service.plan(rows, again).into_iter().flatten());
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// A service refusing requests holding a bad row, failing transiently a number of
    /// times first, and recording every request.
    struct Fake {
        bad: HashSet<usize>,
        transient: Mutex<u32>,
        retry_after: Option<Duration>,
        per_row: bool,
        sent: Mutex<Vec<Vec<usize>>>,
        written: Mutex<Vec<usize>>,
    }

    impl Fake {
        fn new(bad: &[usize], transient: u32) -> Self {
            Self {
                bad: bad.iter().copied().collect(),
                transient: Mutex::new(transient),
                retry_after: None,
                per_row: false,
                sent: Mutex::default(),
                written: Mutex::default(),
            }
        }
    }

    impl Service for Fake {
        type Row = usize;

        fn name(&self) -> &'static str {
            "Fake"
        }

        fn item(&self, row: &usize) -> usize {
            *row
        }

        fn plan(&self, _rows: &[usize], indices: Vec<usize>) -> Vec<Vec<Vec<usize>>> {
            vec![indices.chunks(8).map(<[usize]>::to_vec).collect()]
        }

        async fn send(&self, rows: &[usize], request: &[usize]) -> Response {
            self.sent.lock().unwrap().push(request.to_vec());
            {
                let mut transient = self.transient.lock().unwrap();
                if *transient > 0 {
                    *transient -= 1;
                    return Response::Whole(Outcome::RetryAfter { reason: "HTTP 503".into(), after: self.retry_after });
                }
            }
            if self.per_row {
                let outcomes = request
                    .iter()
                    .map(|&i| match self.bad.contains(&rows[i]) {
                        true => Outcome::Reject(format!("row {} is bad", rows[i])),
                        false => {
                            self.written.lock().unwrap().push(rows[i]);
                            Outcome::Written
                        }
                    })
                    .collect();
                return Response::Rows(outcomes);
            }
            if request.iter().any(|i| self.bad.contains(&rows[*i])) {
                return Response::Whole(Outcome::Reject("refused".into()));
            }
            self.written.lock().unwrap().extend(request.iter().map(|&i| rows[i]));
            Response::Whole(Outcome::Written)
        }
    }

    fn policy(timeout: Duration) -> RetryPolicy {
        RetryPolicy { timeout: Some(timeout), ..RetryPolicy::default() }
    }

    #[tokio::test]
    async fn bisection_finds_exactly_the_bad_rows() {
        let rows: Vec<usize> = (0..37).collect();
        let fake = Fake::new(&[3, 4, 20, 36], 0);
        let mut rejected = Rejected::new();
        let mut driver = Driver::unstoppable(RetryPolicy::default());
        driver.run(&fake, &rows, &mut rejected).await.unwrap();
        assert_eq!(rejected.keys().copied().collect::<Vec<_>>(), vec![3, 4, 20, 36]);
        let mut written = fake.written.lock().unwrap().clone();
        written.sort_unstable();
        assert_eq!(written, (0..37).filter(|i| ![3, 4, 20, 36].contains(i)).collect::<Vec<_>>());
        // Bisection, not one request per row: a clean chunk of 8 goes in one request.
        assert!(fake.sent.lock().unwrap().len() < 37, "{:?}", fake.sent.lock().unwrap());
    }

    #[tokio::test]
    async fn per_row_refusals_are_rejected_without_splitting() {
        let rows: Vec<usize> = (0..10).collect();
        let mut fake = Fake::new(&[7], 0);
        fake.per_row = true;
        let mut rejected = Rejected::new();
        Driver::unstoppable(RetryPolicy::default()).run(&fake, &rows, &mut rejected).await.unwrap();
        assert_eq!(rejected, Rejected::from([(7, "row 7 is bad".to_string())]));
        assert_eq!(fake.sent.lock().unwrap().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let rows: Vec<usize> = (0..3).collect();
        let mut fake = Fake::new(&[], 2);
        fake.retry_after = Some(Duration::from_secs(7));
        let started = tokio::time::Instant::now();
        // Retry-After is capped by errors.retry.delay.max.ms; leave room above 7 s.
        let mut driver =
            Driver::unstoppable(RetryPolicy { max_delay: Duration::from_secs(60), ..RetryPolicy::default() });
        driver.run(&fake, &rows, &mut Rejected::new()).await.unwrap();
        assert_eq!(started.elapsed(), Duration::from_secs(14), "two waits of exactly Retry-After");
        assert_eq!(driver.take_retries(), 2);
        assert_eq!(fake.written.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_fails_as_unavailable() {
        let rows: Vec<usize> = (0..3).collect();
        let fake = Fake::new(&[], u32::MAX);
        let mut driver = Driver::unstoppable(policy(Duration::from_secs(30)));
        let error = driver.run(&fake, &rows, &mut Rejected::new()).await.unwrap_err();
        let SinkError::Unavailable(message) = error else { panic!("{error:?}") };
        assert!(message.contains("errors.retry.timeout=30000") && message.contains("HTTP 503"), "{message}");
        assert!(fake.written.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn shutdown_interrupts_the_wait() {
        let rows: Vec<usize> = (0..3).collect();
        let fake = Fake::new(&[], u32::MAX);
        let (stop, shutdown) = watch::channel(false);
        let mut driver = Driver::new(policy(Duration::from_secs(3600)), shutdown);
        let run = async {
            let mut fake_rejected = Rejected::new();
            driver.run(&fake, &rows, &mut fake_rejected).await
        };
        let stopper = async {
            // Stop once the first attempt failed and the driver is waiting.
            while fake.sent.lock().unwrap().is_empty() {
                tokio::task::yield_now().await;
            }
            stop.send(true).unwrap();
        };
        let (result, ()) = tokio::join!(run, stopper);
        assert!(matches!(result, Err(SinkError::Interrupted)), "{result:?}");
    }
}
