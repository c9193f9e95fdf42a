//! Settling pending entries: XACK, XCLAIM and XAUTOCLAIM with Redis 7.0.15's rules, and
//! Sluice's negative acknowledgement and lease renewal.
//!
//! A claim that delivers an entry again (not JUSTID) counts as a delivery for the group's
//! dead-letter limit: an entry already delivered `max_deliveries` times is marked for the
//! dead-letter stream instead of being claimed. Entries being moved there are not pending any
//! more for these commands.

use crate::error::{Error, Result};
use crate::group::deliver::{begin_dead_letters, DeadLetter, Delivered};
use crate::group::pel::Pending;
use crate::group::{Group, Groups, Record, Source};
use crate::id::StreamId;
use crate::model::{ClaimOptions, ClaimTime, Delivery};

/// XCLAIM's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// The consumer claiming.
    pub consumer: Vec<u8>,
    /// Only entries idle at least this long (0: any).
    pub min_idle_ms: u64,
    /// The entries, in order.
    pub ids: Vec<StreamId>,
    /// The options.
    pub options: ClaimOptions,
}

/// XAUTOCLAIM's outcome.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoClaim {
    /// Where the next call should start (0-0: the end was reached).
    pub cursor: StreamId,
    /// The entries claimed (with JUSTID, fields are not read and are `None`).
    pub claimed: Delivered,
    /// Pending entries found gone from the stream, and dropped from the PEL.
    pub deleted: Vec<StreamId>,
}

/// XAUTOCLAIM looks at most this many pending entries per entry it may claim (Redis's
/// `attempts_factor`).
const AUTOCLAIM_EXAMINED_PER_COUNT: usize = 10;

impl Groups {
    /// XACK: how many of `ids` were pending (and no longer are). A missing group acknowledges
    /// nothing, as in Redis.
    pub fn ack(&mut self, group: &[u8], ids: &[StreamId], journal: &mut Vec<Record>) -> u64 {
        let Some(found) = self.groups.get(group) else {
            return 0;
        };
        let mut acked = Vec::new();
        for id in ids {
            if found.pel.get(*id).is_some() && !found.is_moving(*id) && !acked.contains(id) {
                acked.push(*id);
            }
        }
        let count = acked.len() as u64;
        if !acked.is_empty() {
            let record = Record::Remove {
                group: group.to_vec(),
                ids: acked,
            };
            self.commit(vec![record], journal);
        }
        count
    }

    /// XCLAIM.
    pub fn claim(
        &mut self,
        key: &[u8],
        group: &[u8],
        claim: &Claim,
        now: u64,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<Delivered> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let options = &claim.options;
        // A time in the future or before 1970 becomes now, as Redis does.
        let delivery_time = match options.time {
            Some(ClaimTime::Idle(idle)) => i64::try_from(now)
                .ok()
                .and_then(|now| now.checked_sub(idle)),
            Some(ClaimTime::Time(time)) => Some(time),
            None => None,
        }
        .and_then(|time| u64::try_from(time).ok())
        .filter(|time| *time <= now)
        .unwrap_or(now);
        let mut records = Vec::new();
        if let Some(last_id) = options.last_id.filter(|id| *id > found.last_delivered) {
            records.push(Record::SetId {
                group: group.to_vec(),
                last_id,
                entries_read: found.entries_read,
            });
        }
        self.commit(records, journal);
        let mut delivered = Delivered {
            served: true,
            ..Delivered::default()
        };
        for id in &claim.ids {
            let step = self.claim_one(key, group, claim, *id, now, source)?;
            match step {
                Step::Skip => {}
                Step::Gone => {
                    let record = Record::Remove {
                        group: group.to_vec(),
                        ids: vec![*id],
                    };
                    self.commit(vec![record], journal);
                }
                Step::Dead(letter) => {
                    let mut records = Vec::new();
                    begin_dead_letters(group, std::slice::from_ref(&letter), source, &mut records);
                    self.commit(records, journal);
                    delivered.dead_letters.push(letter);
                }
                Step::Claim(delivery, count) => {
                    // The consumer is seen (and active) once, at the first claim.
                    let mut records = Vec::with_capacity(2);
                    if delivered.deliveries.is_empty() {
                        records.push(self.seen(group, &claim.consumer, now, true));
                    }
                    records.push(Record::Deliver {
                        group: group.to_vec(),
                        consumer: claim.consumer.clone(),
                        entries: vec![(*id, delivery_time, count)],
                    });
                    self.commit(records, journal);
                    delivered.deliveries.push(delivery);
                }
            }
        }
        Ok(delivered)
    }

    /// What XCLAIM does with one ID.
    fn claim_one(
        &self,
        key: &[u8],
        group: &[u8],
        claim: &Claim,
        id: StreamId,
        now: u64,
        source: &mut dyn Source,
    ) -> Result<Step> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        if found.is_moving(id) {
            return Ok(Step::Skip);
        }
        let pending = found.pel.get(id);
        // The entry must exist for anyone to own it; a pending one that is gone is dropped.
        let Some(fields) = source.fields(id)? else {
            return Ok(if pending.is_some() {
                Step::Gone
            } else {
                Step::Skip
            });
        };
        let options = &claim.options;
        let pending = match pending {
            Some(pending) => {
                let idle = now.saturating_sub(pending.delivery_time);
                if claim.min_idle_ms > 0 && idle < claim.min_idle_ms {
                    return Ok(Step::Skip);
                }
                pending
            }
            // FORCE makes a pending entry of it (count 1), then claims it like any other.
            None if options.force => Pending {
                owner: u32::MAX,
                delivery_time: now,
                delivery_count: 1,
            },
            None => return Ok(Step::Skip),
        };
        let delivers = !options.justid;
        if delivers && found.over_limit(&pending) {
            return Ok(Step::Dead(found.dead_letter(
                key,
                id,
                &pending,
                Some(fields),
            )));
        }
        let count = match (options.retry_count, options.justid) {
            (Some(count), _) => count,
            (None, true) => pending.delivery_count,
            (None, false) => pending.delivery_count.saturating_add(1),
        };
        let delivery = Delivery {
            id,
            fields: (!options.justid).then_some(fields),
            idle_ms: now.saturating_sub(pending.delivery_time),
            delivered_before: pending.delivery_count,
        };
        Ok(Step::Claim(delivery, count))
    }

    /// XAUTOCLAIM: claims pending entries from `start` on that are idle at least
    /// `min_idle_ms`, at most `count` of them, looking at most at ten times that many.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        min_idle_ms: u64,
        start: StreamId,
        count: usize,
        justid: bool,
        now: u64,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<AutoClaim> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let mut outcome = AutoClaim {
            claimed: Delivered {
                served: true,
                ..Delivered::default()
            },
            ..AutoClaim::default()
        };
        let mut left = count;
        let mut claimed = Vec::new();
        let mut cursor = StreamId::MIN;
        let attempts = count.saturating_mul(AUTOCLAIM_EXAMINED_PER_COUNT);
        for (examined, (id, pending)) in found.pel.range(start, StreamId::MAX).enumerate() {
            if examined >= attempts || left == 0 {
                cursor = id;
                break;
            }
            if found.is_moving(id) {
                continue;
            }
            let Some(fields) = source.fields(id)? else {
                outcome.deleted.push(id);
                left -= 1;
                continue;
            };
            if min_idle_ms > 0 && now.saturating_sub(pending.delivery_time) < min_idle_ms {
                continue;
            }
            if !justid && found.over_limit(&pending) {
                let letter = found.dead_letter(key, id, &pending, Some(fields));
                outcome.claimed.dead_letters.push(letter);
                continue;
            }
            let next_count = pending.delivery_count.saturating_add(u64::from(!justid));
            claimed.push((id, now, next_count));
            outcome.claimed.deliveries.push(Delivery {
                id,
                fields: (!justid).then_some(fields),
                idle_ms: now.saturating_sub(pending.delivery_time),
                delivered_before: pending.delivery_count,
            });
            left -= 1;
        }
        outcome.cursor = cursor;
        let mut records = Vec::new();
        if !outcome.deleted.is_empty() {
            records.push(Record::Remove {
                group: group.to_vec(),
                ids: outcome.deleted.clone(),
            });
        }
        if !claimed.is_empty() {
            records.push(self.seen(group, consumer, now, true));
            records.push(Record::Deliver {
                group: group.to_vec(),
                consumer: consumer.to_vec(),
                entries: claimed,
            });
        }
        begin_dead_letters(group, &outcome.claimed.dead_letters, source, &mut records);
        self.commit(records, journal);
        Ok(outcome)
    }

    /// A negative acknowledgement (Sluice's): `consumer` gives its pending entries back, to be
    /// delivered again to the next reader of `>` once `delay_ms` has passed; with `reject`, they
    /// go to the dead-letter stream at once instead. Returns the entries marked for the
    /// dead-letter stream; an entry the consumer does not hold is an error, and nothing changes.
    #[allow(clippy::too_many_arguments)]
    pub fn nack(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        delay_ms: u64,
        reject: bool,
        now: u64,
        source: &mut dyn Source,
        journal: &mut Vec<Record>,
    ) -> Result<Vec<DeadLetter>> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let held = found.held(consumer, ids)?;
        let mut records = Vec::new();
        let mut dead = Vec::new();
        if reject {
            for (id, pending) in held {
                let fields = source.fields(id)?;
                dead.push(found.dead_letter(key, id, &pending, fields));
            }
            begin_dead_letters(group, &dead, source, &mut records);
        } else {
            let at = now.saturating_add(delay_ms);
            records.push(Record::Release {
                group: group.to_vec(),
                entries: held.iter().map(|(id, _)| (*id, at)).collect(),
            });
        }
        self.commit(records, journal);
        Ok(dead)
    }

    /// Renews `consumer`'s lease on its pending entries (Sluice's): their delivery time becomes
    /// now, their count stays. An entry it does not hold is an error, and nothing changes.
    pub fn renew(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        now: u64,
        journal: &mut Vec<Record>,
    ) -> Result<u64> {
        let found = self.groups.get(group).ok_or_else(|| no_group(key, group))?;
        let held = found.held(consumer, ids)?;
        let count = held.len() as u64;
        let record = Record::Deliver {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
            entries: held
                .iter()
                .map(|(id, pending)| (*id, now, pending.delivery_count))
                .collect(),
        };
        self.commit(vec![record], journal);
        Ok(count)
    }
}

/// What XCLAIM does with one ID.
enum Step {
    /// Nothing: not pending, not idle enough, or being dead-lettered.
    Skip,
    /// Pending but gone from the stream: dropped from the PEL.
    Gone,
    /// Over the delivery limit: to the dead-letter stream.
    Dead(DeadLetter),
    /// Claimed: delivered, with its new delivery count.
    Claim(Delivery, u64),
}

impl Group {
    /// Whether delivering `pending` again would exceed the group's `max_deliveries`.
    pub(super) fn over_limit(&self, pending: &Pending) -> bool {
        self.policy.max_deliveries > 0 && pending.delivery_count >= self.policy.max_deliveries
    }

    /// A dead letter for pending entry `id`.
    pub(super) fn dead_letter(
        &self,
        key: &[u8],
        id: StreamId,
        pending: &Pending,
        fields: Option<Vec<crate::model::Field>>,
    ) -> DeadLetter {
        DeadLetter {
            id,
            fields,
            consumer: self.consumers.name(pending.owner).to_vec(),
            delivery_count: pending.delivery_count,
            target: self.policy.dead_letter_stream_of(key),
        }
    }

    /// The entries among `ids` that `consumer` holds (each once), or an error naming the
    /// first it does not.
    fn held(&self, consumer: &[u8], ids: &[StreamId]) -> Result<Vec<(StreamId, Pending)>> {
        let owner = self.consumers.find(consumer);
        let mut held: Vec<(StreamId, Pending)> = Vec::with_capacity(ids.len());
        for id in ids {
            if held.iter().any(|(seen, _)| seen == id) {
                continue;
            }
            match self.pel.get(*id) {
                Some(pending) if Some(pending.owner) == owner && !self.is_moving(*id) => {
                    held.push((*id, pending));
                }
                _ => return Err(Error::NotPending(*id)),
            }
        }
        Ok(held)
    }
}

/// XPENDING's, XCLAIM's and XAUTOCLAIM's NOGROUP error.
fn no_group(key: &[u8], group: &[u8]) -> Error {
    Error::NoGroup {
        key: key.to_vec(),
        group: group.to_vec(),
    }
}
