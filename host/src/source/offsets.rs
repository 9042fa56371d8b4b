//! Per-partition offset tracking for at-least-once delivery.
//!
//! An offset is registered when its record is dispatched to a parser and acknowledged once it
//! was written or durably dead-lettered. The committable position of a partition is the
//! lowest offset still pending, or one past the highest dispatched offset when nothing is
//! pending; so a commit never passes a record that is neither written nor dead-lettered,
//! whatever order acknowledgements arrive in.
//!
//! Fencing: every time a partition is (re)assigned and records of it are dispatched, it gets
//! a new epoch. Acknowledgements carry the epoch of their dispatch, so a write that finishes
//! after its partition was revoked (and maybe assigned back) never counts as progress of the
//! partition's current assignment.
//!
//! Pending offsets are kept as ranges, not one entry per record: records arrive in runs of
//! consecutive offsets, so a batch costs a few range operations whatever its size.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Identifies a partition.
pub type PartitionKey = (Arc<str>, i32);

/// Identifies one assignment of a partition to this consumer (see the module doc).
pub type Epoch = u64;

/// Disjoint half-open ranges `start..end` of pending offsets, keyed by `start`.
#[derive(Debug, Default)]
struct Ranges {
    ranges: BTreeMap<i64, i64>,
}

impl Ranges {
    /// Adds `start..end`; returns how many offsets were not pending before.
    fn insert(&mut self, start: i64, end: i64) -> usize {
        let added = (end - start) as usize - self.overlap(start, end);
        let mut new_start = start;
        let mut new_end = end;
        // Absorb every range that overlaps or touches `start..end`.
        let touching: Vec<i64> =
            self.ranges.range(..=end).rev().take_while(|(_, &e)| e >= start).map(|(&s, _)| s).collect();
        for s in touching {
            let e = self.ranges.remove(&s).unwrap_or(s);
            new_start = new_start.min(s);
            new_end = new_end.max(e);
        }
        self.ranges.insert(new_start, new_end);
        added
    }

    /// Removes `start..end`; returns how many of those offsets were pending.
    fn remove(&mut self, start: i64, end: i64) -> usize {
        let overlapping: Vec<(i64, i64)> =
            self.ranges.range(..end).rev().take_while(|(_, &e)| e > start).map(|(&s, &e)| (s, e)).collect();
        let mut removed = 0;
        for (s, e) in overlapping {
            self.ranges.remove(&s);
            removed += (e.min(end) - s.max(start)) as usize;
            if s < start {
                self.ranges.insert(s, start);
            }
            if e > end {
                self.ranges.insert(end, e);
            }
        }
        removed
    }

    /// How many offsets of `start..end` are pending.
    fn overlap(&self, start: i64, end: i64) -> usize {
        self.ranges
            .range(..end)
            .rev()
            .take_while(|(_, &e)| e > start)
            .map(|(&s, &e)| (e.min(end) - s.max(start)) as usize)
            .sum()
    }

    fn first(&self) -> Option<i64> {
        self.ranges.keys().next().copied()
    }

    fn count(&self) -> usize {
        self.ranges.iter().map(|(s, e)| (e - s) as usize).sum()
    }
}

/// Splits ascending offsets into runs of consecutive offsets and calls `each(start, end)`
/// per run.
fn runs(offsets: impl IntoIterator<Item = i64>, mut each: impl FnMut(i64, i64)) {
    let mut run: Option<(i64, i64)> = None;
    for offset in offsets {
        run = match run {
            Some((start, end)) if offset == end => Some((start, end + 1)),
            Some((start, end)) => {
                each(start, end);
                Some((offset, offset + 1))
            }
            None => Some((offset, offset + 1)),
        };
    }
    if let Some((start, end)) = run {
        each(start, end);
    }
}

#[derive(Debug, Default)]
struct PartitionOffsets {
    epoch: Epoch,
    pending: Ranges,
    /// One past the highest dispatched offset.
    next: i64,
    /// The last position committed (initially where consumption started).
    committed: i64,
}

impl PartitionOffsets {
    fn committable(&self) -> i64 {
        self.pending.first().unwrap_or(self.next)
    }
}

/// Offsets of every partition a connector has dispatched records from.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<PartitionKey, PartitionOffsets>,
    inflight: usize,
    /// The last epoch handed out.
    epochs: Epoch,
}

impl OffsetTracker {
    /// Registers dispatched offsets (ascending, one partition) and returns the partition's
    /// current epoch, which their acknowledgement must carry.
    pub fn dispatch(&mut self, key: &PartitionKey, offsets: impl IntoIterator<Item = i64>) -> Epoch {
        let mut offsets = offsets.into_iter().peekable();
        let Some(&first) = offsets.peek() else {
            return self.partitions.get(key).map_or(0, |p| p.epoch);
        };
        let epochs = &mut self.epochs;
        // The position consumption started from counts as committed: only progress past it
        // is worth a commit.
        let entry = self.partitions.entry(key.clone()).or_insert_with(|| {
            *epochs += 1;
            PartitionOffsets { epoch: *epochs, next: first, committed: first, ..Default::default() }
        });
        let mut added = 0;
        runs(offsets, |start, end| {
            added += entry.pending.insert(start, end);
            entry.next = entry.next.max(end);
        });
        self.inflight += added;
        entry.epoch
    }

    /// Whether `epoch` is still the partition's current assignment.
    pub fn is_current(&self, key: &PartitionKey, epoch: Epoch) -> bool {
        self.partitions.get(key).is_some_and(|p| p.epoch == epoch)
    }

    /// Acknowledges offsets (ascending) dispatched in `epoch` as written or dead-lettered.
    /// Acknowledgements of an earlier assignment of the partition (revoked in the meantime)
    /// are ignored.
    pub fn ack(&mut self, key: &PartitionKey, epoch: Epoch, offsets: impl IntoIterator<Item = i64>) {
        if let Some(entry) = self.partitions.get_mut(key).filter(|p| p.epoch == epoch) {
            let mut removed = 0;
            runs(offsets, |start, end| removed += entry.pending.remove(start, end));
            self.inflight -= removed;
        }
    }

    /// Records dispatched but not acknowledged, over all partitions.
    pub fn inflight(&self) -> usize {
        self.inflight
    }

    /// Records pending in the given partitions.
    pub fn inflight_in(&self, keys: &[PartitionKey]) -> usize {
        keys.iter().filter_map(|k| self.partitions.get(k)).map(|p| p.pending.count()).sum()
    }

    /// Positions that moved past the last commit: `(partition, next offset to read)`.
    pub fn to_commit(&self) -> Vec<(PartitionKey, i64)> {
        self.partitions
            .iter()
            .filter(|(_, p)| p.committable() > p.committed)
            .map(|(k, p)| (k.clone(), p.committable()))
            .collect()
    }

    /// Every tracked partition's position: the lowest pending offset, else one past the
    /// highest dispatched.
    pub fn positions(&self) -> Vec<(PartitionKey, i64)> {
        self.partitions.iter().map(|(k, p)| (k.clone(), p.committable())).collect()
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
                self.inflight -= entry.pending.count();
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
        t.ack(&key(0), 1, [10, 12, 13]);
        assert_eq!(t.to_commit(), vec![(key(0), 11)]);
        assert_eq!(t.inflight(), 1);
        t.ack(&key(0), 1, [11]);
        assert_eq!(t.to_commit(), vec![(key(0), 14)]);
        t.committed(&[(key(0), 14)]);
        assert!(t.to_commit().is_empty());
    }

    #[test]
    fn a_partition_without_progress_has_nothing_to_commit() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [40, 41]);
        assert!(t.to_commit().is_empty(), "position 40 is where consumption started");
        t.ack(&key(0), 1, [40]);
        assert_eq!(t.to_commit(), vec![(key(0), 41)]);
    }

    #[test]
    fn gaps_in_offsets_do_not_block_commits() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(1), [5, 9]);
        t.ack(&key(1), 1, [9, 5]);
        assert_eq!(t.to_commit(), vec![(key(1), 10)]);
    }

    #[test]
    fn never_acknowledged_record_blocks_forever() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [0, 1, 2]);
        t.ack(&key(0), 1, [0, 2]);
        t.committed(&t.to_commit());
        t.dispatch(&key(0), [3, 4]);
        t.ack(&key(0), 1, [3, 4]);
        assert!(t.to_commit().is_empty(), "position stays at 1 while offset 1 is pending");
    }

    #[test]
    fn forget_drops_pending_and_late_acks() {
        let mut t = OffsetTracker::default();
        t.dispatch(&key(0), [0, 1]);
        t.dispatch(&key(2), [7]);
        t.forget(&[key(0)]);
        t.ack(&key(0), 1, [0, 1]);
        assert_eq!(t.inflight(), 1);
        assert_eq!(t.inflight_in(&[key(2)]), 1);
        assert_eq!(t.to_commit_in(&[key(0)]), vec![]);
    }

    #[test]
    fn ranges_match_a_set_of_offsets() {
        // Random dispatches and acks (ascending offsets within each call, as the pipeline
        // makes them) checked against a plain set.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut tracker = OffsetTracker::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut top = 0i64;
        let mut highest: Option<i64> = None;
        for _ in 0..4000 {
            if next(2) == 0 {
                let count = next(30) as i64;
                let offsets: Vec<i64> = (top..top + count).filter(|_| next(5) != 0).collect();
                top += count;
                highest = offsets.last().copied().or(highest);
                reference.extend(offsets.iter().copied());
                tracker.dispatch(&key(0), offsets);
            } else {
                let from = next(top as u64 + 1) as i64;
                let offsets: Vec<i64> = (from..from + next(40) as i64).filter(|_| next(3) != 0).collect();
                for offset in &offsets {
                    reference.remove(offset);
                }
                tracker.ack(&key(0), 1, offsets);
            }
            assert_eq!(tracker.inflight(), reference.len());
            assert_eq!(tracker.inflight_in(&[key(0)]), reference.len());
            let committable = tracker.partitions.get(&key(0)).map(PartitionOffsets::committable);
            if let Some(highest) = highest {
                assert_eq!(committable, Some(reference.first().copied().unwrap_or(highest + 1)));
            }
        }
    }

    #[test]
    fn acknowledgements_of_an_earlier_assignment_are_fenced_off() {
        let mut t = OffsetTracker::default();
        let first = t.dispatch(&key(0), 100..110);
        // Revoked before the write finished, then assigned back: the same offsets again.
        t.forget(&[key(0)]);
        let second = t.dispatch(&key(0), 100..110);
        assert_ne!(first, second);
        assert!(!t.is_current(&key(0), first) && t.is_current(&key(0), second));
        t.ack(&key(0), first, 100..110);
        assert_eq!(t.inflight(), 10, "the stale write does not count for the new assignment");
        assert!(t.to_commit().is_empty());
        t.ack(&key(0), second, 100..110);
        assert_eq!(t.to_commit(), vec![(key(0), 110)]);
    }
}
