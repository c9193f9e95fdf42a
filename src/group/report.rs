//! What the groups report: XPENDING (summary and extended), XINFO GROUPS, XINFO CONSUMERS,
//! XINFO STREAM FULL's groups, and Redis 7.0.15's entries-read and lag arithmetic.

use crate::error::{Error, Result};
use crate::group::{Group, Groups, StreamFacts};
use crate::id::StreamId;
use crate::model::{
    ConsumerInfo, FullConsumer, FullGroup, FullPending, GroupInfo, PendingEntry, PendingQuery,
    PendingSummary,
};

impl Groups {
    fn find(&self, key: &[u8], group: &[u8]) -> Result<&Group> {
        self.groups.get(group).ok_or_else(|| Error::NoGroup {
            key: key.to_vec(),
            group: group.to_vec(),
        })
    }

    /// XPENDING key group.
    pub fn pending_summary(&self, key: &[u8], group: &[u8]) -> Result<PendingSummary> {
        let found = self.find(key, group)?;
        let consumers = found
            .consumers
            .by_name
            .iter()
            .map(|(name, id)| (name.clone(), found.pel.owned_count(*id) as u64))
            .filter(|(_, count)| *count > 0)
            .collect();
        Ok(PendingSummary {
            count: found.pel.len() as u64,
            bounds: found.pel.bounds(),
            consumers,
        })
    }

    /// XPENDING key group \[IDLE ms\] start end count \[consumer\]. An unknown consumer has
    /// nothing pending.
    pub fn pending_range(
        &self,
        key: &[u8],
        group: &[u8],
        query: &PendingQuery,
        now: u64,
    ) -> Result<Vec<PendingEntry>> {
        let found = self.find(key, group)?;
        let owner = match &query.consumer {
            Some(name) => match found.consumers.find(name) {
                Some(owner) => Some(owner),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        let entries = found
            .pel
            .range(query.start, query.end)
            .filter(|(_, pending)| owner.is_none_or(|owner| pending.owner == owner))
            .filter(|(_, pending)| now.saturating_sub(pending.delivery_time) >= query.min_idle_ms)
            .take(query.count)
            .map(|(id, pending)| PendingEntry {
                id,
                consumer: found.consumers.name(pending.owner).to_vec(),
                idle_ms: now.saturating_sub(pending.delivery_time),
                delivery_count: pending.delivery_count,
            })
            .collect();
        Ok(entries)
    }

    /// XINFO GROUPS key.
    pub fn groups_info(&self, facts: &StreamFacts) -> Vec<GroupInfo> {
        self.groups
            .iter()
            .map(|(name, group)| group.info(name, facts))
            .collect()
    }

    /// XINFO CONSUMERS key group.
    pub fn consumers_info(&self, key: &[u8], group: &[u8], now: u64) -> Result<Vec<ConsumerInfo>> {
        let found = self.groups.get(group).ok_or_else(|| Error::NoGroupForKey {
            key: key.to_vec(),
            group: group.to_vec(),
        })?;
        Ok(found
            .consumers
            .by_name
            .iter()
            .filter_map(|(name, id)| {
                let consumer = found.consumers.get(*id)?;
                Some(ConsumerInfo {
                    name: name.clone(),
                    pending: found.pel.owned_count(*id) as u64,
                    idle_ms: now.saturating_sub(consumer.seen_time),
                    inactive_ms: consumer.active_time.map(|time| now.saturating_sub(time)),
                })
            })
            .collect())
    }

    /// XINFO STREAM FULL's groups, each with its first `count` pending entries (0: all) and
    /// its consumers with theirs.
    pub fn full(&self, facts: &StreamFacts, count: usize) -> Vec<FullGroup> {
        let take = if count == 0 { usize::MAX } else { count };
        self.groups
            .iter()
            .map(|(name, group)| {
                let pending: Vec<FullPending> = group
                    .pel
                    .range(StreamId::MIN, StreamId::MAX)
                    .take(take)
                    .map(|(id, pending)| {
                        let owner = group.consumers.name(pending.owner).to_vec();
                        (id, owner, pending.delivery_time, pending.delivery_count)
                    })
                    .collect();
                let consumers = group
                    .consumers
                    .by_name
                    .iter()
                    .filter_map(|(name, id)| {
                        let consumer = group.consumers.get(*id)?;
                        let pending = group
                            .pel
                            .owned_after(*id, StreamId::MIN)
                            .take(take)
                            .filter_map(|entry| {
                                let pending = group.pel.get(entry)?;
                                Some((entry, pending.delivery_time, pending.delivery_count))
                            })
                            .collect();
                        Some(FullConsumer {
                            name: name.clone(),
                            seen_time: consumer.seen_time,
                            active_time: consumer.active_time,
                            pel_count: group.pel.owned_count(*id) as u64,
                            pending,
                        })
                    })
                    .collect();
                FullGroup {
                    info: group.info(name, facts),
                    pending,
                    consumers,
                }
            })
            .collect()
    }
}

impl Group {
    fn info(&self, name: &[u8], facts: &StreamFacts) -> GroupInfo {
        GroupInfo {
            name: name.to_vec(),
            consumers: self.consumers.len() as u64,
            pending: self.pel.len() as u64,
            last_delivered: self.last_delivered,
            entries_read: self.entries_read,
            lag: lag(facts, self.last_delivered, self.entries_read),
            policy: self.policy.clone(),
        }
    }
}

/// Whether a deletion lies at or after `from` in the stream (Redis's
/// `streamRangeHasTombstones(s, from, NULL)`): the stream is not empty, something was deleted,
/// the newest deletion is not before the first entry, and `from` is not after it.
pub(super) fn has_tombstones_after(facts: &StreamFacts, from: StreamId) -> bool {
    let counters = &facts.counters;
    counters.length > 0
        && !counters.max_deleted.is_zero()
        && facts.first_id <= counters.max_deleted
        && from <= counters.max_deleted
}

/// The logical read counter of `id` — how many entries were ever added up to it — when it can
/// be known (Redis's `streamEstimateDistanceFromFirstEverEntry`).
pub(super) fn estimate_read_counter(facts: &StreamFacts, id: StreamId) -> Option<u64> {
    let counters = &facts.counters;
    if counters.entries_added == 0 {
        return Some(0);
    }
    if counters.length == 0 && id <= counters.last_id {
        return Some(counters.entries_added);
    }
    if id == counters.last_id {
        return Some(counters.entries_added);
    }
    if id > counters.last_id {
        return None;
    }
    let no_deletion_ahead = counters.max_deleted.is_zero() || counters.max_deleted < facts.first_id;
    if no_deletion_ahead {
        if id < facts.first_id {
            return Some(counters.entries_added - counters.length);
        }
        if id == facts.first_id {
            return Some(counters.entries_added - counters.length + 1);
        }
    }
    None
}

/// A group's lag: entries added and not yet read by it, when it can be known (Redis's
/// `streamReplyWithCGLag`).
fn lag(facts: &StreamFacts, last_delivered: StreamId, entries_read: Option<u64>) -> Option<i64> {
    let added = facts.counters.entries_added;
    if added == 0 {
        return Some(0);
    }
    let difference = |read: u64| signed(added).saturating_sub(signed(read));
    if let Some(read) = entries_read {
        if !has_tombstones_after(facts, last_delivered) {
            return Some(difference(read));
        }
    }
    estimate_read_counter(facts, last_delivered).map(difference)
}

/// A counter as Redis's `long long`.
fn signed(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counters;

    fn facts(length: u64, last: u64, added: u64, max_deleted: u64, first: u64) -> StreamFacts {
        StreamFacts {
            counters: Counters {
                length,
                last_id: StreamId::new(last, 0),
                entries_added: added,
                max_deleted: StreamId::new(max_deleted, 0),
            },
            first_id: StreamId::new(first, 0),
        }
    }

    #[test]
    fn lag_as_redis_7_0_reports_it() {
        // Stream 1, 2, 3; groups at 0, $ and 2 (observed on 7.0.15: lag 3, 0, nil).
        let stream = facts(3, 3, 3, 0, 1);
        assert_eq!(lag(&stream, StreamId::MIN, None), Some(3));
        assert_eq!(lag(&stream, StreamId::new(3, 0), None), Some(0));
        assert_eq!(lag(&stream, StreamId::new(2, 0), None), None);
        // After XDEL 2: nil, 0, nil.
        let deleted = facts(2, 3, 3, 2, 1);
        assert_eq!(lag(&deleted, StreamId::MIN, None), None);
        assert_eq!(lag(&deleted, StreamId::new(3, 0), None), Some(0));
        assert_eq!(lag(&deleted, StreamId::new(2, 0), None), None);
        // A never-used stream.
        assert_eq!(lag(&facts(0, 0, 0, 0, 0), StreamId::MIN, None), Some(0));
        // A known counter with no deletion ahead.
        assert_eq!(lag(&stream, StreamId::new(1, 0), Some(1)), Some(2));
        // ENTRIESREAD set above the entries added: negative (7.0.15: XGROUP CREATE s h 0
        // ENTRIESREAD 100 on six entries reports -94).
        let six = facts(6, 6, 6, 0, 1);
        assert_eq!(lag(&six, StreamId::MIN, Some(100)), Some(-94));
    }
}
