//! XREADGROUP: delivering entries to a consumer, with Redis 7.0.15's rules, and Sluice's
//! leases and dead-letter limit on top.
//!
//! `>` first hands out what is due again — entries released by a negative acknowledgement
//! whose time has come, entries idle beyond the group's lease, and with Redis 8.4's CLAIM
//! option entries idle beyond its minimum — then new entries, all within one COUNT. An
//! explicit ID re-reads the consumer's own pending entries after it. An entry that would be
//! delivered again after already being delivered `max_deliveries` times is not delivered: it
//! is marked for the dead-letter stream (a move the engine completes).

use crate::error::{Error, Result};
use crate::group::pel::Pending;
use crate::group::report::{estimate_read_counter, has_tombstones_after};
use crate::group::{Group, Groups, Record, Source, StreamFacts};
use crate::id::StreamId;
use crate::model::{Delivery, Field, ReadOptions};

/// The most entries one read examines among those due again, per entry it may return: a
/// bound on the work of a read whatever the PEL holds (as XAUTOCLAIM's).
const DUE_EXAMINED_PER_COUNT: usize = 10;
/// The COUNT a read without COUNT uses for what is due again (new entries are not limited).
const DUE_COUNT_DEFAULT: usize = 100;

/// A pending entry about to be delivered again: its ID, its state, its fields.
type Again = (StreamId, Pending, Vec<Field>);

/// An entry to move to the dead-letter stream instead of delivering it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The entry's ID in its stream.
    pub id: StreamId,
    /// Its fields (`None` if it is gone from the stream).
    pub fields: Option<Vec<Field>>,
    /// The consumer it was last delivered to.
    pub consumer: Vec<u8>,
    /// How often it was delivered.
    pub delivery_count: u64,
    /// The dead-letter stream.
    pub target: Vec<u8>,
}

/// What a read or claim handed out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// The entries delivered, in order.
    pub deliveries: Vec<Delivery>,
    /// Entries marked for the dead-letter stream instead.
    pub dead_letters: Vec<DeadLetter>,
    /// Whether the stream is in the reply (Redis leaves out a `>` stream with nothing new).
    pub served: bool,
}

impl Groups {
    /// XREADGROUP with `>`.
    #[allow(clippy::too_many_arguments)]
    pub fn read_new(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        now: u64,
        options: ReadOptions,
        facts: StreamFacts,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<Delivered> {
        let again = self.take_due(key, group, now, options, source, journal)?;
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let (redeliver, dead) = found.split_dead(key, again);
        let fresh = match limit(options.count) {
            Some(count) if count <= redeliver.len() => Vec::new(),
            Some(count) => source.after(found.last_delivered, count - redeliver.len())?,
            None => source.after(found.last_delivered, 0)?,
        };
        let mut delivered = Delivered {
            served: !redeliver.is_empty() || !fresh.is_empty(),
            ..Delivered::default()
        };
        let mut records = Vec::new();
        if delivered.served {
            let active = !redeliver.is_empty() || (!options.noack && !fresh.is_empty());
            records.push(self.seen(group, consumer, now, active));
        }
        // The move begins before the delivery: an entry both dead-lettered and read again as
        // new (SETID moved the group back) ends up pending to the reader (see `Group::apply`).
        begin_dead_letters(group, &dead, source, &mut records);
        let mut entries = Vec::with_capacity(redeliver.len() + fresh.len());
        for (id, pending, fields) in redeliver {
            entries.push((id, now, pending.delivery_count.saturating_add(1)));
            delivered.deliveries.push(Delivery {
                id,
                fields: Some(fields),
                idle_ms: now.saturating_sub(pending.delivery_time),
                delivered_before: pending.delivery_count,
            });
        }
        let (mut last_id, mut entries_read) = (found.last_delivered, found.entries_read);
        let advanced = !fresh.is_empty();
        for entry in fresh {
            entries_read = advance(entries_read, entry.id, &facts);
            last_id = entry.id;
            if !options.noack {
                entries.push((entry.id, now, 1));
            }
            delivered.deliveries.push(Delivery {
                id: entry.id,
                fields: Some(entry.fields),
                idle_ms: 0,
                delivered_before: 0,
            });
        }
        if !entries.is_empty() {
            records.push(Record::Deliver {
                group: group.to_vec(),
                consumer: consumer.to_vec(),
                entries,
            });
        }
        if advanced {
            records.push(Record::SetId {
                group: group.to_vec(),
                last_id,
                entries_read,
            });
        }
        self.commit(records, journal);
        delivered.dead_letters = dead;
        Ok(delivered)
    }

    /// The pending entries `>` hands out again, with their fields; those found gone from the
    /// stream are dropped from the PEL on the way (as XAUTOCLAIM drops them).
    fn take_due(
        &mut self,
        key: &[u8],
        group: &[u8],
        now: u64,
        options: ReadOptions,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<Vec<Again>> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let mut again = Vec::new();
        let mut gone = Vec::new();
        for id in found.due_again(now, options) {
            let Some(pending) = found.pel.get(id) else {
                continue;
            };
            match source.fields(id)? {
                None => gone.push(id),
                Some(fields) => again.push((id, pending, fields)),
            }
            if limit(options.count).is_some_and(|count| again.len() >= count) {
                break;
            }
        }
        if !gone.is_empty() {
            let record = Record::Remove {
                group: group.to_vec(),
                ids: gone,
            };
            self.commit(vec![record], journal);
        }
        Ok(again)
    }

    /// XREADGROUP with an ID: the consumer's own pending entries after `after`, each delivered
    /// again (time now, count + 1) — except those deleted from the stream since, which come
    /// with no fields and stay as they were. Always served, even when empty.
    #[allow(clippy::too_many_arguments)]
    pub fn read_history(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        after: StreamId,
        count: usize,
        now: u64,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<Delivered> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let mut delivered = Delivered {
            served: true,
            ..Delivered::default()
        };
        let ids: Vec<StreamId> = match found.consumers.find(consumer) {
            Some(owner) => {
                let owned = found.pel.owned_after(owner, after);
                match limit(count) {
                    Some(count) => owned.take(count).collect(),
                    None => owned.collect(),
                }
            }
            None => Vec::new(),
        };
        let mut again = Vec::new();
        let mut order = Vec::with_capacity(ids.len());
        for id in ids {
            let Some(pending) = found.pel.get(id) else {
                continue;
            };
            match source.fields(id)? {
                Some(fields) if !found.is_moving(id) => {
                    order.push((id, true));
                    again.push((id, pending, fields));
                }
                _ => order.push((id, false)),
            }
        }
        let (redeliver, dead) = found.split_dead(key, again);
        let mut records = vec![self.seen(group, consumer, now, false)];
        let mut entries = Vec::with_capacity(redeliver.len());
        let mut redelivered = redeliver.into_iter().peekable();
        for (id, exists) in order {
            match redelivered.peek() {
                Some((next, _, _)) if exists && *next == id => {
                    let Some((id, pending, fields)) = redelivered.next() else {
                        continue;
                    };
                    entries.push((id, now, pending.delivery_count.saturating_add(1)));
                    delivered.deliveries.push(Delivery {
                        id,
                        fields: Some(fields),
                        idle_ms: now.saturating_sub(pending.delivery_time),
                        delivered_before: pending.delivery_count,
                    });
                }
                _ if exists => {} // dead-lettered
                _ => delivered.deliveries.push(Delivery {
                    id,
                    fields: None,
                    idle_ms: 0,
                    delivered_before: 0,
                }),
            }
        }
        records.push(Record::Deliver {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
            entries,
        });
        begin_dead_letters(group, &dead, source, &mut records);
        self.commit(records, journal);
        delivered.dead_letters = dead;
        Ok(delivered)
    }

    /// The consumer record of a served read: created if missing, seen now, and active now if
    /// it got something.
    pub(super) fn seen(&self, group: &[u8], consumer: &[u8], now: u64, active: bool) -> Record {
        let previous = self
            .groups
            .get(group)
            .and_then(|found| {
                found
                    .consumers
                    .find(consumer)
                    .and_then(|id| found.consumers.get(id))
            })
            .and_then(|found| found.active_time);
        Record::Consumer {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
            seen_time: now,
            active_time: if active { Some(now) } else { previous },
        }
    }
}

impl Group {
    /// The pending entries `>` may hand out again, in order: due ones (released, or over the
    /// lease), then with CLAIM those idle long enough; entries being dead-lettered excluded.
    fn due_again(&self, now: u64, options: ReadOptions) -> Vec<StreamId> {
        let examined = limit(options.count)
            .unwrap_or(DUE_COUNT_DEFAULT)
            .saturating_mul(DUE_EXAMINED_PER_COUNT);
        let mut ids: Vec<StreamId> = self
            .pel
            .due(now)
            .filter(|id| !self.is_moving(*id))
            .take(examined)
            .collect();
        if let Some(min_idle) = options.claim_min_idle_ms {
            let idle = self
                .pel
                .range(StreamId::MIN, StreamId::MAX)
                .filter(|(id, pending)| {
                    now.saturating_sub(pending.delivery_time) >= min_idle
                        && !self.is_moving(*id)
                        && !ids.contains(id)
                })
                .map(|(id, _)| id)
                .take(examined);
            ids.extend(idle.collect::<Vec<_>>());
        }
        ids
    }

    /// Splits entries about to be delivered again into those that may be, and those over the
    /// group's `max_deliveries` (marked for the dead-letter stream).
    pub(super) fn split_dead(
        &self,
        key: &[u8],
        entries: Vec<Again>,
    ) -> (Vec<Again>, Vec<DeadLetter>) {
        let max = self.policy.max_deliveries;
        if max == 0 {
            return (entries, Vec::new());
        }
        let target = self.policy.dead_letter_stream_of(key);
        let mut keep = Vec::with_capacity(entries.len());
        let mut dead = Vec::new();
        for (id, pending, fields) in entries {
            if pending.delivery_count < max {
                keep.push((id, pending, fields));
                continue;
            }
            dead.push(DeadLetter {
                id,
                fields: Some(fields),
                consumer: self.consumers.name(pending.owner).to_vec(),
                delivery_count: pending.delivery_count,
                target: target.clone(),
            });
        }
        (keep, dead)
    }
}

/// The records that mark entries as being moved to their dead-letter streams.
pub(super) fn begin_dead_letters(
    group: &[u8],
    dead: &[DeadLetter],
    source: &mut dyn Source,
    records: &mut Vec<Record>,
) {
    let mut targets: Vec<&[u8]> = dead.iter().map(|letter| letter.target.as_slice()).collect();
    targets.dedup();
    for target in targets {
        let ids: Vec<StreamId> = dead
            .iter()
            .filter(|letter| letter.target == target)
            .map(|letter| letter.id)
            .collect();
        records.push(Record::DeadLetterBegin {
            group: group.to_vec(),
            target: target.to_vec(),
            target_after: source.last_id_of(target),
            ids,
        });
    }
}

/// The group's entries-read counter after delivering new entry `id` (Redis 7.0's
/// `streamReplyWithRange`): one more while it is known and no deletion lies ahead, else
/// estimated afresh.
fn advance(entries_read: Option<u64>, id: StreamId, facts: &StreamFacts) -> Option<u64> {
    match entries_read {
        Some(read) if !has_tombstones_after(facts, id) => Some(read + 1),
        _ if facts.counters.entries_added > 0 => estimate_read_counter(facts, id),
        other => other,
    }
}

/// COUNT as a limit: 0 means none.
fn limit(count: usize) -> Option<usize> {
    (count > 0).then_some(count)
}

/// XREADGROUP's NOGROUP error.
pub(super) fn no_group(key: &[u8], group: &[u8]) -> Error {
    Error::NoGroupToRead {
        key: key.to_vec(),
        group: group.to_vec(),
    }
}
