//! Consumer groups: the state of one stream's groups and Redis's rules for changing it.
//!
//! Pure: no files, no locks, no clock. The caller (`stream.rs`) hands in the time, and
//! closures that read the stream's entries; every change is made as a [`Record`] and applied
//! by [`Groups::apply`], the one function that changes group state, so that the journal
//! replays exactly what happened.
//!
//! The parts:
//! - [`pel`]: one group's pending-entries list and its indexes;
//! - [`record`]: the changes, and their encoding;
//! - `admin`: XGROUP's subcommands and the group policy;
//! - `deliver`: XREADGROUP (new entries, history, leases and CLAIM);
//! - `claim`: XACK, XCLAIM, XAUTOCLAIM, negative acknowledgements and lease renewals;
//! - `report`: XPENDING, XINFO GROUPS / CONSUMERS / STREAM FULL, entries-read and lag;
//! - `snapshot`: the whole state as records, for compaction.
//!
//! Time is Unix milliseconds throughout. Consumers and groups iterate in byte order of their
//! names, as Redis's do.

mod admin;
pub mod chunked;
mod claim;
mod deliver;
pub mod pel;
pub mod record;
mod report;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};

use crate::id::StreamId;
use crate::model::{Counters, Field, GroupPolicy};
use pel::{ConsumerId, Pel};
pub use record::{decode_batch, encode_batch, Malformed, Record};

pub use claim::{AutoClaim, Claim};
pub use deliver::{DeadLetter, Delivered};

/// What group rules need to know of the stream: its counters and its first live entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamFacts {
    /// Length, last-generated ID, entries added, max-deleted ID.
    pub counters: Counters,
    /// The first live entry's ID (0-0 when empty).
    pub first_id: StreamId,
}

/// What the group rules read from outside the groups: the stream's entries, and the last ID
/// of a dead-letter stream (where a move's dead letters will be found after a crash).
pub trait Source {
    /// The fields of entry `id`, if it exists.
    fn fields(&mut self, id: StreamId) -> crate::error::Result<Option<Vec<Field>>>;
    /// Up to `count` live entries with IDs above `after`, in order (`count` 0: all).
    fn after(
        &mut self,
        after: StreamId,
        count: usize,
    ) -> crate::error::Result<Vec<crate::model::Entry>>;
    /// The last-generated ID of stream `name` (0-0 if it does not exist).
    fn last_id_of(&mut self, name: &[u8]) -> StreamId;
}

/// One consumer of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Consumer {
    name: Vec<u8>,
    /// When it was last seen (Redis 7.0's seen-time).
    seen_time: u64,
    /// When it last read or claimed something (Redis 7.2's active-time).
    active_time: Option<u64>,
}

/// A group's consumers: numbered slots (numbers are reused after a deletion) and a name index
/// in name order.
#[derive(Clone, Debug, Default)]
struct Consumers {
    slots: Vec<Option<Consumer>>,
    free: Vec<ConsumerId>,
    by_name: BTreeMap<Vec<u8>, ConsumerId>,
}

impl Consumers {
    fn find(&self, name: &[u8]) -> Option<ConsumerId> {
        self.by_name.get(name).copied()
    }

    fn get(&self, id: ConsumerId) -> Option<&Consumer> {
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    fn name(&self, id: ConsumerId) -> &[u8] {
        self.get(id)
            .map_or(&[], |consumer| consumer.name.as_slice())
    }

    /// The consumer `name`, created with `seen_time` if missing.
    fn upsert(&mut self, name: &[u8], seen_time: u64) -> ConsumerId {
        if let Some(id) = self.find(name) {
            return id;
        }
        let consumer = Consumer {
            name: name.to_vec(),
            seen_time,
            active_time: None,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = Some(consumer);
                id
            }
            None => {
                self.slots.push(Some(consumer));
                (self.slots.len() - 1) as ConsumerId
            }
        };
        self.by_name.insert(name.to_vec(), id);
        id
    }

    fn remove(&mut self, name: &[u8]) -> Option<ConsumerId> {
        let id = self.by_name.remove(name)?;
        self.slots[id as usize] = None;
        self.free.push(id);
        Some(id)
    }

    fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// One consumer group.
#[derive(Clone, Debug)]
pub struct Group {
    last_delivered: StreamId,
    entries_read: Option<u64>,
    policy: GroupPolicy,
    pel: Pel,
    consumers: Consumers,
    /// Entries being moved to the dead-letter stream: the target and its last ID before.
    moving: BTreeMap<StreamId, (Vec<u8>, StreamId)>,
}

impl Group {
    fn new(last_delivered: StreamId, entries_read: Option<u64>, policy: GroupPolicy) -> Group {
        let mut pel = Pel::default();
        pel.set_lease(policy.lease_ms);
        Group {
            last_delivered,
            entries_read,
            policy,
            pel,
            consumers: Consumers::default(),
            moving: BTreeMap::new(),
        }
    }

    /// The group's pending entries.
    pub fn pel(&self) -> &Pel {
        &self.pel
    }

    /// The group's policy.
    pub fn policy(&self) -> &GroupPolicy {
        &self.policy
    }

    /// The last ID delivered by `>` (or set).
    pub fn last_delivered(&self) -> StreamId {
        self.last_delivered
    }

    /// Whether entry `id` is being moved to the dead-letter stream.
    pub fn is_moving(&self, id: StreamId) -> bool {
        self.moving.contains_key(&id)
    }

    /// The earliest time a pending entry falls due for `>` again (a lease or a release running
    /// out), if any does: entries on their way to the dead-letter stream never do.
    pub fn next_due(&self) -> Option<u64> {
        self.pel.next_due(|id| self.is_moving(id))
    }
}

/// All consumer groups of one stream, by name.
#[derive(Clone, Debug, Default)]
pub struct Groups {
    groups: BTreeMap<Vec<u8>, Group>,
}

impl Groups {
    /// Repacks every group's pending-entries list (after a replay).
    pub fn compact(&mut self) {
        for group in self.groups.values_mut() {
            group.pel.compact();
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// The group `name`.
    pub fn get(&self, name: &[u8]) -> Option<&Group> {
        self.groups.get(name)
    }

    /// The groups, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Group)> {
        self.groups.iter()
    }

    /// Applies one change. Replay applies records in the order they were made, so a record
    /// always finds what it refers to; one that does not (only possible on a damaged store) is
    /// ignored, and `false` says so.
    pub fn apply(&mut self, record: &Record) -> bool {
        if let Record::Create {
            group,
            last_id,
            entries_read,
            policy,
        } = record
        {
            let created = Group::new(*last_id, *entries_read, policy.clone());
            return self.groups.insert(group.clone(), created).is_none();
        }
        if let Record::Destroy { group } = record {
            return self.groups.remove(group).is_some();
        }
        let Some(group) = self.groups.get_mut(record.group()) else {
            return false;
        };
        group.apply(record)
    }
}

impl Group {
    fn apply(&mut self, record: &Record) -> bool {
        match record {
            Record::Create { .. } | Record::Destroy { .. } => return false,
            Record::SetId {
                last_id,
                entries_read,
                ..
            } => {
                self.last_delivered = *last_id;
                self.entries_read = *entries_read;
            }
            Record::Consumer {
                consumer,
                seen_time,
                active_time,
                ..
            } => {
                let id = self.consumers.upsert(consumer, *seen_time);
                if let Some(slot) = self.consumers.slots[id as usize].as_mut() {
                    slot.seen_time = *seen_time;
                    slot.active_time = *active_time;
                }
            }
            Record::DeleteConsumer { consumer, .. } => return self.delete_consumer(consumer),
            Record::Deliver {
                consumer, entries, ..
            } => self.deliver(consumer, entries),
            Record::Remove { ids, .. } => {
                for id in ids {
                    self.pel.remove(*id);
                    self.moving.remove(id);
                }
            }
            Record::DeadLetterEnd { ids, .. } => {
                for id in ids {
                    if self.moving.remove(id).is_some() {
                        self.pel.remove(*id);
                    }
                }
            }
            Record::Release { entries, .. } => {
                for (id, at) in entries {
                    self.pel.release(*id, *at);
                }
            }
            Record::Policy { policy, .. } => {
                self.pel.set_lease(policy.lease_ms);
                self.policy = policy.clone();
            }
            Record::DeadLetterBegin {
                target,
                target_after,
                ids,
                ..
            } => {
                for id in ids {
                    self.moving.insert(*id, (target.clone(), *target_after));
                }
            }
            Record::DeadLetterAbort { ids, .. } => {
                for id in ids {
                    self.moving.remove(id);
                }
            }
        }
        true
    }
}

impl Group {
    /// Applies [`Record::DeleteConsumer`]: the consumer goes with its pending entries.
    fn delete_consumer(&mut self, consumer: &[u8]) -> bool {
        let Some(id) = self.consumers.remove(consumer) else {
            return false;
        };
        let owned: Vec<StreamId> = self.pel.owned_after(id, StreamId::MIN).collect();
        self.pel.remove_owner(id);
        for id in owned {
            self.moving.remove(&id);
        }
        true
    }

    /// Applies [`Record::Deliver`]: the entries become (or stay) pending to `consumer`, created
    /// if it is new.
    fn deliver(&mut self, consumer: &[u8], entries: &[(StreamId, u64, u64)]) {
        let owner = match (entries.first(), self.consumers.find(consumer)) {
            (_, Some(owner)) => owner,
            (Some((_, time, _)), None) => self.consumers.upsert(consumer, *time),
            (None, None) => return,
        };
        for (id, delivery_time, delivery_count) in entries {
            // A delivery of an entry whose dead-letter move is under way (read as new again
            // after SETID moved the group back) supersedes the move's end: the entry stays
            // pending to its new owner.
            self.moving.remove(id);
            self.pel.put(
                *id,
                pel::Pending {
                    owner,
                    delivery_time: *delivery_time,
                    delivery_count: *delivery_count,
                },
            );
        }
    }
}

/// The moves to dead-letter streams that were begun and not finished, by group: the target,
/// its last ID before the move, and the entries.
pub type OpenMoves = Vec<(Vec<u8>, Vec<u8>, StreamId, Vec<StreamId>)>;

impl Groups {
    /// The dead-letter moves left open (by a crash between their steps), per group and target.
    pub fn open_moves(&self) -> OpenMoves {
        let mut moves: OpenMoves = Vec::new();
        for (name, group) in &self.groups {
            let mut by_target: BTreeMap<(Vec<u8>, StreamId), Vec<StreamId>> = BTreeMap::new();
            for (id, (target, after)) in &group.moving {
                by_target
                    .entry((target.clone(), *after))
                    .or_default()
                    .push(*id);
            }
            for ((target, after), ids) in by_target {
                moves.push((name.clone(), target, after, ids));
            }
        }
        moves
    }

    /// The entries pending in any group: what retention must keep (IDs only).
    pub fn pending_ids(&self) -> BTreeSet<StreamId> {
        self.groups
            .values()
            .flat_map(|group| {
                group
                    .pel
                    .range(StreamId::MIN, StreamId::MAX)
                    .map(|(id, _)| id)
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;
