//! A consumer group's pending-entries list (PEL): the entries delivered to the group and not
//! yet acknowledged, each with the consumer it was last delivered to, when, and how often.
//!
//! Pure: no I/O, and time comes in as arguments. Held in memory in proportion to the pending
//! entries, never to history: one map entry per pending entry (its ID and a 24-byte
//! [`Pending`]), one set entry in its consumer's index, and, only for groups with a lease or
//! for entries released by a negative acknowledgement, one entry in the due index.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

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

/// The pending entries of one group, indexed by ID, by consumer, and by when each may be
/// delivered again.
#[derive(Clone, Debug, Default)]
pub struct Pel {
    entries: BTreeMap<StreamId, Pending>,
    /// Each consumer's pending IDs, by consumer number.
    owned: Vec<BTreeSet<StreamId>>,
    /// Entries released by a negative acknowledgement: when each may be delivered again.
    released: BTreeMap<StreamId, u64>,
    /// (due time, ID) for every entry that may be delivered again at a known time: released
    /// ones, and with a lease, all of them.
    due: BTreeSet<(u64, StreamId)>,
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

    /// The pending entry `id`.
    pub fn get(&self, id: StreamId) -> Option<&Pending> {
        self.entries.get(&id)
    }

    /// The pending entries with IDs in `[start, end]`, in order.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
    ) -> impl Iterator<Item = (StreamId, &Pending)> + '_ {
        (start <= end)
            .then(|| self.entries.range(start..=end))
            .into_iter()
            .flatten()
            .map(|(id, pending)| (*id, pending))
    }

    /// The smallest and largest pending IDs.
    pub fn bounds(&self) -> Option<(StreamId, StreamId)> {
        let first = self.entries.first_key_value()?.0;
        let last = self.entries.last_key_value()?.0;
        Some((*first, *last))
    }

    /// The IDs consumer `owner` has pending after `after`, in order.
    pub fn owned_after(
        &self,
        owner: ConsumerId,
        after: StreamId,
    ) -> impl Iterator<Item = StreamId> + '_ {
        self.owned
            .get(owner as usize)
            .into_iter()
            .flat_map(move |ids| ids.range((Bound::Excluded(after), Bound::Unbounded)))
            .copied()
    }

    /// How many entries consumer `owner` has pending.
    pub fn owned_count(&self, owner: ConsumerId) -> usize {
        self.owned.get(owner as usize).map_or(0, BTreeSet::len)
    }

    /// Records `pending` as entry `id`'s state (a new entry, or a delivery of an existing one:
    /// a delivery ends a release).
    pub fn put(&mut self, id: StreamId, pending: Pending) {
        if let Some(previous) = self.entries.insert(id, pending) {
            self.unindex(id, &previous);
        }
        self.released.remove(&id);
        self.index(id, &pending);
    }

    /// Removes entry `id`; returns its state if it was pending.
    pub fn remove(&mut self, id: StreamId) -> Option<Pending> {
        let removed = self.entries.remove(&id)?;
        self.unindex(id, &removed);
        self.released.remove(&id);
        Some(removed)
    }

    /// Releases pending entry `id` for redelivery at `at` (Unix ms), keeping its owner, time and
    /// count; false if it is not pending.
    pub fn release(&mut self, id: StreamId, at: u64) -> bool {
        let Some(pending) = self.entries.get(&id).copied() else {
            return false;
        };
        self.unindex(id, &pending);
        self.released.insert(id, at);
        self.index(id, &pending);
        true
    }

    /// When entry `id` was released for, if it was.
    pub fn released_at(&self, id: StreamId) -> Option<u64> {
        self.released.get(&id).copied()
    }

    /// The entries that may be delivered again at `now`: released ones whose time has come and,
    /// with a lease, those idle longer than it; earliest due first.
    pub fn due(&self, now: u64) -> impl Iterator<Item = StreamId> + '_ {
        self.due.range(..=(now, StreamId::MAX)).map(|(_, id)| *id)
    }

    /// The earliest time an entry falls due, if any does.
    pub fn next_due(&self) -> Option<u64> {
        self.due.first().map(|(at, _)| *at)
    }

    /// Sets the group's lease (0: none), re-indexing every entry.
    pub fn set_lease(&mut self, lease_ms: u64) {
        if lease_ms == self.lease_ms {
            return;
        }
        let entries: Vec<(StreamId, Pending)> = self
            .entries
            .iter()
            .map(|(id, pending)| (*id, *pending))
            .collect();
        for (id, pending) in &entries {
            self.unindex(*id, pending);
        }
        self.lease_ms = lease_ms;
        for (id, pending) in &entries {
            self.index(*id, pending);
        }
    }

    /// Removes every entry of consumer `owner`; returns how many there were.
    pub fn remove_owner(&mut self, owner: ConsumerId) -> usize {
        let Some(ids) = self.owned.get_mut(owner as usize).map(std::mem::take) else {
            return 0;
        };
        for id in &ids {
            if let Some(pending) = self.entries.remove(id) {
                if let Some(at) = self.due_time(*id, &pending) {
                    self.due.remove(&(at, *id));
                }
            }
            self.released.remove(id);
        }
        ids.len()
    }

    fn due_time(&self, id: StreamId, pending: &Pending) -> Option<u64> {
        match self.released.get(&id) {
            Some(at) => Some(*at),
            None if self.lease_ms > 0 => Some(pending.delivery_time.saturating_add(self.lease_ms)),
            None => None,
        }
    }

    fn index(&mut self, id: StreamId, pending: &Pending) {
        let owner = pending.owner as usize;
        if self.owned.len() <= owner {
            self.owned.resize_with(owner + 1, BTreeSet::new);
        }
        self.owned[owner].insert(id);
        if let Some(at) = self.due_time(id, pending) {
            self.due.insert((at, id));
        }
    }

    fn unindex(&mut self, id: StreamId, pending: &Pending) {
        if let Some(ids) = self.owned.get_mut(pending.owner as usize) {
            ids.remove(&id);
        }
        if let Some(at) = self.due_time(id, pending) {
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
        assert_eq!(pel.next_due(), Some(150));
        // A new delivery ends the release and restarts the lease.
        pel.put(id(2), pending(1, 1100));
        assert_eq!(pel.released_at(id(2)), None);
        assert_eq!(pel.due(1100).collect::<Vec<_>>(), [id(1)]);
        pel.set_lease(0);
        assert_eq!(pel.due(u64::MAX).count(), 0);
    }
}
