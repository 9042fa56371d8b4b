//! Flow control between the consume loop and the task lanes: the bytes of records read but
//! not yet finished, and a wake-up for the consume loop whenever a lane finishes a batch.
//!
//! Record counts come from the offset tracker; bytes are counted here because the tracker
//! only knows offsets.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Bytes in flight in one connector, shared by its consume loop and lanes.
#[derive(Debug, Default)]
pub struct Inflight {
    bytes: AtomicUsize,
    released: Notify,
}

impl Inflight {
    /// Counts `bytes` of records that were read.
    pub fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Releases `bytes` of records that were finished (written, dead-lettered or dropped)
    /// and wakes the consume loop if it waits for room.
    pub fn release(&self, bytes: usize) {
        // Saturating: a release never exceeds what was added, but stay safe on shutdown paths.
        let _ = self.bytes.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(bytes)));
        self.released.notify_one();
    }

    /// Bytes currently in flight.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Completes after the next [`Inflight::release`] (or at once if one happened since the
    /// last wait).
    pub async fn released(&self) {
        self.released.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn release_wakes_a_waiter_and_counts_down() {
        let inflight = std::sync::Arc::new(Inflight::default());
        inflight.add(300);
        let waiter = {
            let inflight = inflight.clone();
            tokio::spawn(async move { inflight.released().await })
        };
        inflight.release(100);
        waiter.await.expect("waiter");
        assert_eq!(inflight.bytes(), 200);
        inflight.release(500);
        assert_eq!(inflight.bytes(), 0);
    }
}
