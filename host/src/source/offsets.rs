//! Per-partition offset tracking for at-least-once delivery.
//!
//! An offset is registered when its record is dispatched to a parser and acknowledged once it
//! was written or durably dead-lettered. The committable position of a partition is the
//! lowest offset still pending, or one past the highest dispatched offset when nothing is
//! pending; so a commit never passes a record that is neither written nor dead-lettered,
//! whatever order acknowledgements arrive in.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// Identifies a partition.
pub type PartitionKey = (Arc<str>, i32);

#[derive(Debug, Default)]
struct PartitionOffsets {
    pending: BTreeSet<i64>,
    /// One past the highest dispatched offset.
    next: i64,
    /// The last position committed (initially where consumption started).
    committed: i64,
}

impl PartitionOffsets {
    fn committable(&self) -> i64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

/// Offsets of every partition a connector has dispatched records from.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<PartitionKey, PartitionOffsets>,
    inflight: usize,
}

impl OffsetTracker {
    /// Registers dispatched offsets (ascending, one partition).
    pub fn dispatch(&mut self, key: &PartitionKey, offsets: impl IntoIterator<Item = i64>) {
        let mut offsets = offsets.into_iter().peekable();
        let Some(&first) = offsets.peek() else { return };
        // The position consumption started from counts as committed: only progress past it
        // is worth a commit.
        let entry = self.partitions.entry(key.clone()).or_insert_with(|| PartitionOffsets {
            next: first,
            committed: first,
            ..Default::default()
        });
        for offset in offsets {
            if entry.pending.insert(offset) {
                self.inflight += 1;
            }
            entry.next = entry.next.max(offset + 1);
        }
    }

    /// Acknowledges offsets as written or dead-lettered. Unknown partitions (revoked in the
    /// meantime) are ignored.
    pub fn ack(&mut self, key: &PartitionKey, offsets: impl IntoIterator<Item = i64>) {
        if let Some(entry) = self.partitions.get_mut(key) {
            for offset in offsets {
                if entry.pending.remove(&offset) {
                    self.inflight -= 1;
                }
            }
        }
    }

    /// Records dispatched but not acknowledged, over all partitions.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// Records pending in the given partitions.
    pub fn inflight_in(&self, keys: &[PartitionKey]) -> usize {
        keys.iter().filter_map(|k| self.partitions.get(k)).map(|p| p.pending.len()).sum()
    }

    /// Positions that moved past the last commit: `(partition, next offset to read)`.
    pub fn to_commit(&self) -> Vec<(PartitionKey, i64)> {
        self.partitions
            .iter()
            .filter(|(_, p)| p.committable() > p.committed)
            .map(|(k, p)| (k.clone(), p.committable()))
            .collect()
    }

    /// Same as [`OffsetTracker::to_commit`] restricted to `keys`.
    pub fn to_commit_in(&self, keys: &[PartitionKey]) -> Vec<(PartitionKey, i64)> {
        self.to_commit().into_iter().filter(|(k, _)| keys.contains(k)).collect()
    }

    /// Records a successful commit.
    pub fn committed(&mut self, positions: &[(PartitionKey, i64)]) {
        for (key, offset) in positions {
            if let Some(entry) = self.partitions.get_mut(key) {
                entry.committed = entry.committed.max(*offset);
            }
        }
    }

    /// Forgets revoked partitions (their pending records will be re-read by the new owner).
    pub fn forget(&mut self, keys: &[PartitionKey]) {
        for key in keys {
            if let Some(entry) = self.partitions.remove(key) {
                self.inflight -= entry.pending.len();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        (Arc::from("t"), p)
    }

    #[test]
    fn commit_stops_at_lowest_pending_offset() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [10, 11, 12, 13]);
        t.ack(&key(0), [10, 12, 13]);
        assert_eq!(t.to_commit(), vec![(key(0), 11)]);
        assert_eq!(t.inflight(), 1);
        t.ack(&key(0), [11]);
        assert_eq!(t.to_commit(), vec![(key(0), 14)]);
        t.committed(&[(key(0), 14)]);
        assert!(t.to_commit().is_empty());
    }

    #[test]
    fn a_partition_without_progress_has_nothing_to_commit() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [40, 41]);
        assert!(t.to_commit().is_empty(), "position 40 is where consumption started");
        t.ack(&key(0), [40]);
        assert_eq!(t.to_commit(), vec![(key(0), 41)]);
    }

    #[test]
    fn gaps_in_offsets_do_not_block_commits() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(1), [5, 9]);
        t.ack(&key(1), [9, 5]);
        assert_eq!(t.to_commit(), vec![(key(1), 10)]);
    }

    #[test]
    fn never_acknowledged_record_blocks_forever() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [0, 1, 2]);
        t.ack(&key(0), [0, 2]);
        t.committed(&t.to_commit());
        t.dispatch(&key(0), [3, 4]);
        t.ack(&key(0), [3, 4]);
        assert!(t.to_commit().is_empty(), "position stays at 1 while offset 1 is pending");
    }

    #[test]
    fn forget_drops_pending_and_late_acks() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [0, 1]);
        t.dispatch(&key(2), [7]);
        t.forget(&[key(0)]);
        t.ack(&key(0), [0, 1]);
        assert_eq!(t.inflight(), 1);
        assert_eq!(t.inflight_in(&[key(2)]), 1);
        assert_eq!(t.to_commit_in(&[key(0)]), vec![]);
    }
}
