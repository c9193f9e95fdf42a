//! A stream's retention policy over its log: which whole segments the policy removes, what
//! its guard holds back, and the removal itself as one transaction.
//!
//! A pass looks at the sealed segments from the oldest on and stops at the first one no limit
//! removes (the active segment is never removed): one whose newest entry's millisecond part is
//! older than `max_age_ms` by the clock; one the stream's log bytes exceed `max_bytes` with;
//! one that leaves at least `max_len` entries behind. With `keep_unprocessed` it also stops at
//! the first segment holding an entry some consumer group has not yet delivered (an ID above
//! the group's last-delivered ID) or still has pending; what the limits alone would have
//! removed beyond that point is reported as held back ([`RetentionStatus`]).
//!
//! The removal is the storage layer's whole-segment removal, the one exact trims use, so it is
//! exactly as crash-safe: a crash leaves the segments there or gone, never half. It runs under
//! the stream's writer lock, which every group delivery also takes, so the guard's view of the
//! groups cannot change while a pass decides and removes.

use crate::error::Result;
use crate::group::Groups;
use crate::lock::lock;
use crate::model::{Retention, RetentionStatus};
use crate::storage::log::{SegmentFacts, View};
use crate::stream::Stream;

/// What the policy does to a stream's segments right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// How many of the oldest segments to remove.
    pub remove: usize,
    /// Live entries, log bytes and segments the limits would remove but the guard keeps.
    pub held: Removed,
}

/// Entries, log bytes and segments: what a pass removed, or what its guard held back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Removed {
    /// Live entries.
    pub entries: u64,
    /// Log bytes.
    pub bytes: u64,
    /// Segments.
    pub segments: u64,
}

impl Removed {
    fn add(&mut self, segment: &SegmentFacts) {
        self.entries += segment.live;
        self.bytes += segment.bytes;
        self.segments += 1;
    }

    /// Adds `other` to this.
    pub fn absorb(&mut self, other: Removed) {
        self.entries += other.entries;
        self.bytes += other.bytes;
        self.segments += other.segments;
    }
}

/// Whether the policy's limits remove `segment`, given the stream's log bytes and live
/// entries before it goes.
fn limits_remove(
    policy: &Retention,
    segment: &SegmentFacts,
    bytes: u64,
    length: u64,
    now_ms: u64,
) -> bool {
    let by_age = policy.max_age_ms.is_some_and(|max| {
        segment
            .last_id
            .is_none_or(|last| now_ms.saturating_sub(last.ms) > max)
    });
    let by_bytes = policy.max_bytes.is_some_and(|max| bytes > max);
    let by_len = policy
        .max_len
        .is_some_and(|max| length.saturating_sub(segment.live) >= max);
    by_age || by_bytes || by_len
}

/// What `policy` removes of `segments` (oldest first) holding `length` live entries at
/// `now_ms`; `protected` says whether the guard keeps a segment (asked only with
/// `keep_unprocessed`).
pub fn plan(
    policy: &Retention,
    segments: &[SegmentFacts],
    length: u64,
    now_ms: u64,
    protected: &dyn Fn(&SegmentFacts) -> bool,
) -> Plan {
    let mut bytes: u64 = segments.iter().map(|segment| segment.bytes).sum();
    let mut length = length;
    let mut removable = 0;
    let mut guarded_from = None;
    let mut held = Removed::default();
    for segment in segments {
        if segment.active || !limits_remove(policy, segment, bytes, length, now_ms) {
            break;
        }
        if guarded_from.is_none() && policy.keep_unprocessed && protected(segment) {
            guarded_from = Some(removable);
        }
        if guarded_from.is_some() {
            held.add(segment);
        }
        removable += 1;
        bytes = bytes.saturating_sub(segment.bytes);
        length = length.saturating_sub(segment.live);
    }
    Plan {
        remove: guarded_from.unwrap_or(removable),
        held,
    }
}

/// Whether some group of `groups` has not yet delivered, or still has pending, an entry of
/// `segment`.
fn unprocessed(groups: &Groups, segment: &SegmentFacts) -> bool {
    let (Some(first), Some(last)) = (segment.first_id, segment.last_id) else {
        return false;
    };
    groups.iter().any(|(_, group)| {
        last > group.last_delivered() || group.pel().range(first, last).next().is_some()
    })
}

impl Stream {
    /// The stream's retention policy, if it has one.
    pub fn retention(&self) -> Option<Retention> {
        *lock(&self.retention)
    }

    /// Sets (`Some`) or clears (`None`) the retention policy, durably; checked by the caller.
    pub fn set_retention(&self, policy: Option<Retention>) -> Result<()> {
        self.log.store_retention(policy.as_ref(), || {
            *lock(&self.retention) = policy;
        })
    }

    /// What `policy` does to the stream as `view` shows it, now. Takes the groups' lock
    /// (after the writer lock, if the caller holds it).
    fn plan_retention(&self, policy: &Retention, view: &View) -> Plan {
        let now_ms = self.clock.now_ms();
        let segments = view.segment_facts();
        let groups = lock(&self.groups);
        plan(
            policy,
            &segments,
            view.counters.length,
            now_ms,
            &|segment| unprocessed(&groups, segment),
        )
    }

    /// One enforcement pass: removes the whole segments the policy removes now; returns what
    /// went. A stream without a policy, or with nothing to remove, is not written to at all.
    pub fn enforce_retention(&self) -> Result<Removed> {
        let Some(policy) = self.retention() else {
            return Ok(Removed::default());
        };
        // Decided first on the published view without the writer lock: most passes remove
        // nothing and must cost no write.
        if self.plan_retention(&policy, &self.log.view()).remove == 0 {
            return Ok(Removed::default());
        }
        let removed = self.log.write(|txn| {
            let Some(policy) = self.retention() else {
                return Ok(Removed::default());
            };
            let plan = self.plan_retention(&policy, &txn.view());
            let before = txn.view().segment_count();
            let (entries, bytes) = txn.remove_head_segments(plan.remove)?;
            let segments = (before - txn.view().segment_count()) as u64;
            Ok(Removed {
                entries,
                bytes,
                segments,
            })
        })?;
        lock(&self.retention_removed).absorb(removed);
        Ok(removed)
    }

    /// Where retention stands for this stream (`None` without a policy): what the guard holds
    /// back as of the newest view, and what enforcement removed since the engine opened.
    pub fn retention_status(&self) -> Option<RetentionStatus> {
        let policy = self.retention()?;
        let held = self.plan_retention(&policy, &self.log.view()).held;
        let removed = *lock(&self.retention_removed);
        Some(RetentionStatus {
            held_entries: held.entries,
            held_bytes: held.bytes,
            held_segments: held.segments,
            removed_entries: removed.entries,
            removed_bytes: removed.bytes,
            removed_segments: removed.segments,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::StreamId;

    /// Sealed segments of 10 entries and 1000 bytes each, the last one active; segment `n`
    /// holds IDs `n*10 .. n*10+9` (ms), so its newest entry is at ms `n*10 + 9`.
    fn segments(count: u64) -> Vec<SegmentFacts> {
        (0..count)
            .map(|n| SegmentFacts {
                id: n + 1,
                first_id: Some(StreamId::new(n * 10, 0)),
                last_id: Some(StreamId::new(n * 10 + 9, 0)),
                live: 10,
                bytes: 1000,
                active: n + 1 == count,
            })
            .collect()
    }

    fn never(_: &SegmentFacts) -> bool {
        false
    }

    #[test]
    fn each_limit_removes_a_head_and_never_the_active_segment() {
        let all = segments(5);
        let age = Retention {
            max_age_ms: Some(20),
            ..Retention::default()
        };
        // At ms 40 segments 1 (newest 9) and 2 (newest 19) are over 20 ms old.
        assert_eq!(plan(&age, &all, 50, 40, &never).remove, 2);
        assert_eq!(plan(&age, &all, 50, 1_000_000, &never).remove, 4);
        let bytes = Retention {
            max_bytes: Some(2500),
            ..Retention::default()
        };
        assert_eq!(plan(&bytes, &all, 50, 0, &never).remove, 3);
        let len = Retention {
            max_len: Some(25),
            ..Retention::default()
        };
        // 50 -> 40 -> 30 stay at least 25; a third would leave 20.
        assert_eq!(plan(&len, &all, 50, 0, &never).remove, 2);
        let everything = Retention {
            max_len: Some(1),
            ..Retention::default()
        };
        assert_eq!(plan(&everything, &all, 50, 0, &never).remove, 4);
        assert_eq!(plan(&Retention::default(), &all, 50, 0, &never).remove, 0);
    }

    #[test]
    fn the_guard_stops_at_the_first_protected_segment_and_counts_the_rest() {
        let all = segments(5);
        let policy = Retention {
            max_len: Some(1),
            keep_unprocessed: true,
            ..Retention::default()
        };
        let plan = plan(&policy, &all, 50, 0, &|segment| segment.id >= 2);
        assert_eq!(plan.remove, 1);
        assert_eq!(
            plan.held,
            Removed {
                entries: 30,
                bytes: 3000,
                segments: 3
            }
        );
        let unguarded = Retention {
            keep_unprocessed: false,
            ..policy
        };
        let free = super::plan(&unguarded, &all, 50, 0, &|_| true);
        assert_eq!((free.remove, free.held), (4, Removed::default()));
    }
}
