//! A consumer group's pending-entries list (PEL): the entries delivered to the group and not
//! yet acknowledged, each with the consumer it was last delivered to, when, and how often.
//!
//! Pure: no I/O, and time comes in as arguments. Held in memory in proportion to the pending
//! entries, never to history, and compactly ([`ChunkMap`]): 32 bytes an entry (its ID, time,
//! count and owner) and its share of a chunk's slack, plus, only for groups with a lease or for
//! entries released by a negative acknowledgement, 24 bytes in the due index. A consumer's own
//! entries are found by walking the list (in ID order, stopping at what is asked for); each
//! consumer's count is kept.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::group::chunked::ChunkMap;
use crate::id::StreamId;

/// A consumer's number within its group (stable while it exists).
pub type ConsumerId = u32;

/// One pending entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    /// The consumer it was last delivered to.
    pub owner: ConsumerId,
    /// When it was last delivered (Unix ms).
    pub delivery_time: u64,
    /// How many times it was delivered.
    pub delivery_count: u64,
}

/// A pending entry as stored: the count in 32 bits, a larger one (XCLAIM RETRYCOUNT can set
/// any) kept aside in [`Pel::large_counts`].
#[derive(Clone, Copy, Debug)]
struct Slot {
    delivery_time: u64,
    delivery_count: u32,
    owner: ConsumerId,
}

/// The pending entries of one group, indexed by ID, and by when each may be delivered again.
#[derive(Clone, Debug, Default)]
pub struct Pel {
    entries: ChunkMap<StreamId, Slot>,
    /// Delivery counts that do not fit a slot's 32 bits.
    large_counts: BTreeMap<StreamId, u64>,
    /// Each consumer's pending entries, by consumer number.
    owned: Vec<usize>,
    /// Entries released by a negative acknowledgement: when each may be delivered again.
    released: BTreeMap<StreamId, u64>,
    /// (due time, ID) for every entry that may be delivered again at a known time: released
    /// ones, and with a lease, all of them.
    due: ChunkMap<(u64, StreamId), ()>,
    /// The group's lease (0: none).
    lease_ms: u64,
}

impl Pel {
    /// Pending entries in the group.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn pending(&self, id: StreamId, slot: Slot) -> Pending {
        let delivery_count = match slot.delivery_count {
            u32::MAX => self
                .large_counts
                .get(&id)
                .copied()
                .unwrap_or(u64::from(u32::MAX)),
            count => u64::from(count),
        };
        Pending {
            owner: slot.owner,
            delivery_time: slot.delivery_time,
            delivery_count,
        }
    }

    /// The pending entry `id`.
    pub fn get(&self, id: StreamId) -> Option<Pending> {
        let slot = self.entries.get(&id)?;
        Some(self.pending(id, slot))
    }

    /// The pending entries with IDs in `[start, end]`, in order.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl Iterator<Item = (StreamId, Pending)> + '_ {
        (start <= end)
            .then(|| self.entries.range_from(Bound::Included(start)))
            .into_iter()
            .flatten()
            .take_while(move |(id, _)| *id <= end)
            .map(|(id, slot)| (id, self.pending(id, slot)))
    }

    /// The smallest and largest pending IDs.
    pub fn bounds(&self) -> Option<(StreamId, StreamId)> {
        Some((self.entries.first()?.0, self.entries.last()?.0))
    }

    /// The IDs consumer `owner` has pending after `after`, in order.
    pub fn owned_after(
        &self,
        owner: ConsumerId,
        after: StreamId,
    ) -> impl Iterator<Item = StreamId> + '_ {
        let left = self.owned_count(owner);
        self.entries
            .range_from(Bound::Excluded(after))
            .filter(move |(_, slot)| slot.owner == owner)
            .map(|(id, _)| id)
            // Stop walking once none of the consumer's entries can be left.
            .take(left)
    }

    /// How many entries consumer `owner` has pending.
    pub fn owned_count(&self, owner: ConsumerId) -> usize {
        self.owned.get(owner as usize).copied().unwrap_or(0)
    }

    /// Records `pending` as entry `id`'s state (a new entry, or a delivery of an existing one:
    /// a delivery ends a release).
    pub fn put(&mut self, id: StreamId, pending: Pending) {
        let slot = Slot {
            delivery_time: pending.delivery_time,
            delivery_count: u32::try_from(pending.delivery_count).unwrap_or(u32::MAX),
            owner: pending.owner,
        };
        if slot.delivery_count == u32::MAX {
            self.large_counts.insert(id, pending.delivery_count);
        } else {
            self.large_counts.remove(&id);
        }
        if let Some(previous) = self.entries.insert(id, slot) {
            self.unindex(id, &previous);
        }
        self.released.remove(&id);
        self.index(id, &slot);
    }

    /// Removes entry `id`; returns its state if it was pending.
    pub fn remove(&mut self, id: StreamId) -> Option<Pending> {
        let slot = self.entries.remove(&id)?;
        let removed = self.pending(id, slot);
        self.unindex(id, &slot);
        self.large_counts.remove(&id);
        self.released.remove(&id);
        Some(removed)
    }

    /// Releases pending entry `id` for redelivery at `at` (Unix ms), keeping its owner, time and
    /// count; false if it is not pending.
    pub fn release(&mut self, id: StreamId, at: u64) -> bool {
        let Some(slot) = self.entries.get(&id) else {
            return false;
        };
        self.unindex(id, &slot);
        self.released.insert(id, at);
        self.index(id, &slot);
        true
    }

    /// When entry `id` was released for, if it was.
    pub fn released_at(&self, id: StreamId) -> Option<u64> {
        self.released.get(&id).copied()
    }

    /// The entries that may be delivered again at `now`: released ones whose time has come and,
    /// with a lease, those idle longer than it; earliest due first.
    pub fn due(&self, now: u64) -> impl Iterator<Item = StreamId> + '_ {
        self.due
            .range_from(Bound::Unbounded)
            .take_while(move |((at, _), ())| *at <= now)
            .map(|((_, id), ())| id)
    }

    /// The earliest time an entry other than those `skip` names falls due, if any does.
    pub fn next_due(&self, skip: impl Fn(StreamId) -> bool) -> Option<u64> {
        self.due
            .iter()
            .find(|((_, id), ())| !skip(*id))
            .map(|((at, _), ())| at)
    }

    /// Sets the group's lease (0: none), re-indexing every entry.
    pub fn set_lease(&mut self, lease_ms: u64) {
        if lease_ms == self.lease_ms {
            return;
        }
        let entries: Vec<(StreamId, Slot)> = self.entries.iter().collect();
        for (id, slot) in &entries {
            self.unindex(*id, slot);
        }
        self.lease_ms = lease_ms;
        for (id, slot) in &entries {
            self.index(*id, slot);
        }
    }

    /// Repacks the list's memory (after a replay, whose records come consumer by consumer).
    pub fn compact(&mut self) {
        self.entries.compact();
        self.due.compact();
    }

    /// Removes every entry of consumer `owner`; returns how many there were.
    pub fn remove_owner(&mut self, owner: ConsumerId) -> usize {
        let ids: Vec<StreamId> = self.owned_after(owner, StreamId::MIN).collect();
        for id in &ids {
            self.remove(*id);
        }
        ids.len()
    }

    fn due_time(&self, id: StreamId, slot: &Slot) -> Option<u64> {
        match self.released.get(&id) {
            Some(at) => Some(*at),
            None if self.lease_ms > 0 => Some(slot.delivery_time.saturating_add(self.lease_ms)),
            None => None,
        }
    }

    fn index(&mut self, id: StreamId, slot: &Slot) {
        let owner = slot.owner as usize;
        if self.owned.len() <= owner {
            self.owned.resize(owner + 1, 0);
        }
        self.owned[owner] += 1;
        if let Some(at) = self.due_time(id, slot) {
            self.due.insert((at, id), ());
        }
    }

    fn unindex(&mut self, id: StreamId, slot: &Slot) {
        if let Some(count) = self.owned.get_mut(slot.owner as usize) {
            *count = count.saturating_sub(1);
        }
        if let Some(at) = self.due_time(id, slot) {
            self.due.remove(&(at, id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> StreamId {
        StreamId::new(ms, 0)
    }

    fn pending(owner: ConsumerId, time: u64) -> Pending {
        Pending {
            owner,
            delivery_time: time,
            delivery_count: 1,
        }
    }

    #[test]
    fn indexes_follow_owners_and_removals() {
        let mut pel = Pel::default();
        pel.put(id(1), pending(0, 10));
        pel.put(id(2), pending(1, 10));
        pel.put(id(3), pending(0, 10));
        assert_eq!(
            pel.owned_after(0, StreamId::MIN).collect::<Vec<_>>(),
            [id(1), id(3)]
        );
        pel.put(id(3), pending(1, 20));
        assert_eq!(
            pel.owned_after(0, StreamId::MIN).collect::<Vec<_>>(),
            [id(1)]
        );
        assert_eq!(pel.owned_after(1, id(2)).collect::<Vec<_>>(), [id(3)]);
        assert_eq!(pel.remove(id(2)).map(|p| p.owner), Some(1));
        // A count past 32 bits is kept whole.
        pel.put(
            id(9),
            Pending {
                owner: 0,
                delivery_time: 5,
                delivery_count: 1 << 40,
            },
        );
        assert_eq!(pel.get(id(9)).map(|p| p.delivery_count), Some(1 << 40));
        assert_eq!(pel.remove(id(9)).map(|p| p.delivery_count), Some(1 << 40));
        assert_eq!(pel.remove(id(2)), None);
        assert_eq!(pel.remove_owner(1), 1);
        assert_eq!(pel.len(), 1);
        assert_eq!(pel.bounds(), Some((id(1), id(1))));
        // An inverted range is empty, not a panic.
        assert_eq!(pel.range(id(5), id(1)).count(), 0);
    }

    #[test]
    fn due_entries_come_from_releases_and_the_lease() {
        let mut pel = Pel::default();
        pel.put(id(1), pending(0, 100));
        pel.put(id(2), pending(0, 200));
        assert_eq!(pel.due(10_000).count(), 0, "no lease, nothing released");
        assert!(pel.release(id(2), 150));
        assert_eq!(pel.due(149).count(), 0);
        assert_eq!(pel.due(150).collect::<Vec<_>>(), [id(2)]);
        pel.set_lease(1000);
        assert_eq!(pel.due(1100).collect::<Vec<_>>(), [id(2), id(1)]);
        assert_eq!(pel.next_due(|_| false), Some(150));
        assert_eq!(
            pel.next_due(|id| id == StreamId::new(2, 0)),
            Some(1100),
            "skipped"
        );
        // A new delivery ends the release and restarts the lease.
        pel.put(id(2), pending(1, 1100));
        assert_eq!(pel.released_at(id(2)), None);
        assert_eq!(pel.due(1100).collect::<Vec<_>>(), [id(1)]);
        pel.set_lease(0);
        assert_eq!(pel.due(u64::MAX).count(), 0);
    }
}
