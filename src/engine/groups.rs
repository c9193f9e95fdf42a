//! Consumer-group commands across the engine: finding the stream (each command has Redis's own
//! answer for a missing one), and reading several streams for one XREADGROUP, in two steps
//! so that the moves of what went over a delivery limit ([`super::dead_letter`]) happen once
//! the read is durable.

use std::sync::Arc;

use crate::engine::{Durable, Engine};
use crate::error::{Error, Result};
use crate::group::{AutoClaim, Claim, DeadLetter};
use crate::id::StreamId;
use crate::model::{
    ConsumerInfo, GroupInfo, GroupPolicy, GroupRead, GroupStart, GroupTarget, PendingEntry,
    PendingQuery, PendingSummary, ReadLimit, ReadOptions,
};
use crate::stream::Stream;

/// One XREADGROUP call.
#[derive(Clone, Debug)]
pub struct ReadGroup {
    /// The group.
    pub group: Vec<u8>,
    /// The consumer.
    pub consumer: Vec<u8>,
    /// The streams and where to read each, in order.
    pub streams: Vec<(Vec<u8>, GroupStart)>,
    /// COUNT (0: none), NOACK, CLAIM.
    pub options: ReadOptions,
    /// How much of the stream one read may return (new entries).
    pub limit: ReadLimit,
}

/// What one XREADGROUP call returned: the streams served, in order.
#[derive(Clone, Debug, Default)]
pub struct ReadGroupOutcome {
    /// The streams served, with what each delivered.
    pub streams: Vec<(Vec<u8>, GroupRead)>,
    /// The earliest time a pending entry of a `>` stream falls due again, if any does: a
    /// blocked reader must look again then.
    pub next_due: Option<u64>,
}

/// An XREADGROUP between its steps (see [`Engine::begin_read_group`]).
pub struct GroupReadStep {
    group: Vec<u8>,
    outcome: ReadGroupOutcome,
    /// Per stream that has them (its place in `outcome`), the entries to dead-letter.
    moves: Vec<(usize, Arc<Stream>, Vec<DeadLetter>)>,
}

impl GroupReadStep {
    /// Whether [`Engine::finish_read_group`] has dead letters to move (on a thread that may
    /// block); without, [`GroupReadStep::into_outcome`] is the answer.
    pub fn has_moves(&self) -> bool {
        !self.moves.is_empty()
    }

    /// The answer of a step without moves.
    pub fn into_outcome(mut self) -> ReadGroupOutcome {
        std::mem::take(&mut self.outcome)
    }
}

/// A step dropped with moves left (its call cancelled, or failed on a later stream) abandons
/// them: the entries stay pending as they were, deliverable and acknowledgeable, rather than on
/// their way to a dead-letter stream until the next restart settles them.
impl Drop for GroupReadStep {
    fn drop(&mut self) {
        for (_, stream, letters) in self.moves.drain(..) {
            let ids = letters.iter().map(|letter| letter.id).collect();
            if let Err(error) = stream.abandon_dead_letters(&self.group, ids) {
                tracing::warn!(
                    stream = %String::from_utf8_lossy(stream.name()),
                    %error,
                    "an abandoned group read's dead-letter move could not be abandoned"
                );
            }
        }
    }
}

/// Which stream a blocked reader waits on: a stream dropped and created again under the name
/// is another one.
#[derive(Clone)]
pub struct StreamIdentity(std::sync::Weak<Stream>);

impl Engine {
    /// Refuses a group or consumer name longer than the name limit.
    fn check_group_names(&self, group: &[u8], consumer: Option<&[u8]>) -> Result<()> {
        let max = self.config().stream_name_bytes_max;
        for (kind, name) in [("group", Some(group)), ("consumer", consumer)] {
            if let Some(name) = name.filter(|name| name.len() > max) {
                return Err(Error::GroupNameTooLong {
                    kind,
                    len: name.len(),
                    max,
                });
            }
        }
        Ok(())
    }

    fn group_stream(&self, name: &[u8], missing: impl FnOnce() -> Error) -> Result<Arc<Stream>> {
        self.stream(name)?.ok_or_else(missing)
    }

    /// The last-generated ID of `name` (0-0 if missing): where a dead-letter move's letters
    /// will be found after it.
    fn last_id_or_min(&self, name: &[u8]) -> StreamId {
        self.last_id(name).ok().flatten().unwrap_or(StreamId::MIN)
    }

    /// XGROUP CREATE, with MKSTREAM creating a missing stream (after the arguments are known
    /// good, as Redis does).
    pub fn create_group(
        &self,
        name: &[u8],
        group: &[u8],
        target: GroupTarget,
        mkstream: bool,
        entries_read: Option<u64>,
        policy: GroupPolicy,
    ) -> Result<()> {
        self.check_group_names(group, None)?;
        self.check_policy_names(name, &policy)?;
        let created = self.with_stream(name, mkstream, |stream| {
            stream.create_group(group, target, entries_read, policy.clone())
        })?;
        created.ok_or(Error::GroupNeedsStream)
    }

    /// XGROUP SETID.
    pub fn set_group_id(
        &self,
        name: &[u8],
        group: &[u8],
        target: GroupTarget,
        entries_read: Option<u64>,
    ) -> Result<()> {
        self.with_stream(name, false, |stream| {
            stream.set_group_id(group, target, entries_read)
        })?
        .ok_or(Error::GroupNeedsStream)
    }

    /// XGROUP DESTROY: whether the group existed. Blocked readers of the group are woken (and
    /// told it is gone).
    pub fn destroy_group(&self, name: &[u8], group: &[u8]) -> Result<bool> {
        self.with_stream(name, false, |stream| stream.destroy_group(group))?
            .ok_or(Error::GroupNeedsStream)
    }

    /// XGROUP CREATECONSUMER.
    pub fn create_consumer(&self, name: &[u8], group: &[u8], consumer: &[u8]) -> Result<bool> {
        self.check_group_names(group, Some(consumer))?;
        self.with_stream(name, false, |stream| {
            stream.create_consumer(group, consumer)
        })?
        .ok_or(Error::GroupNeedsStream)
    }

    /// XGROUP DELCONSUMER: how many entries the consumer had pending.
    pub fn delete_consumer(&self, name: &[u8], group: &[u8], consumer: &[u8]) -> Result<u64> {
        self.with_stream(name, false, |stream| {
            stream.delete_consumer(group, consumer)
        })?
        .ok_or(Error::GroupNeedsStream)
    }

    /// Sets a group's policy (Sluice's).
    pub fn set_group_policy(&self, name: &[u8], group: &[u8], policy: GroupPolicy) -> Result<()> {
        self.check_policy_names(name, &policy)?;
        self.with_stream(name, false, |stream| {
            stream.set_group_policy(group, policy.clone())
        })?
        .ok_or(Error::GroupNeedsStream)
    }

    /// Refuses a policy before anything is created: its dead-letter stream must be a name
    /// streams can have, and not the group's own stream.
    fn check_policy_names(&self, name: &[u8], policy: &GroupPolicy) -> Result<()> {
        let target = policy.dead_letter_stream_of(name);
        if target == name {
            return Err(Error::BadPolicy(
                "the dead-letter stream must not be the group's own stream",
            ));
        }
        super::table::check_name(self.config(), &target)
    }

    /// XREADGROUP over its streams: every stream and group is checked first (any missing one
    /// fails the whole call, nothing read), then each is read in order. Dead letters are moved
    /// before this returns.
    pub fn read_group(&self, request: &ReadGroup) -> Result<ReadGroupOutcome> {
        let streams = self.read_group_streams(request, None)?;
        self.read_group_from(request, &streams)
    }

    /// The streams of an XREADGROUP, checked: the group and consumer names are within the
    /// limit, and each stream exists (and, for a blocked reader, is the one it blocked on) and
    /// has the group. Every way of reading a group starts here.
    pub fn read_group_streams(
        &self,
        request: &ReadGroup,
        blocked_on: Option<&[StreamIdentity]>,
    ) -> Result<Vec<Arc<Stream>>> {
        self.check_group_names(&request.group, Some(&request.consumer))?;
        let mut streams = Vec::with_capacity(request.streams.len());
        for (position, (name, _)) in request.streams.iter().enumerate() {
            let missing = || Error::NoGroupToRead {
                key: name.clone(),
                group: request.group.clone(),
            };
            let stream = match (self.stream(name)?, blocked_on) {
                (Some(stream), Some(identities)) => {
                    let same = identities.get(position).is_some_and(|identity| {
                        std::ptr::eq(identity.0.as_ptr(), Arc::as_ptr(&stream))
                    });
                    if !same {
                        return Err(Error::StreamGone);
                    }
                    stream
                }
                (Some(stream), None) => stream,
                (None, Some(_)) => return Err(Error::StreamGone),
                (None, None) => return Err(missing()),
            };
            if stream.group_state(&request.group).is_none() {
                return Err(match blocked_on {
                    Some(_) => Error::GroupGone,
                    None => missing(),
                });
            }
            streams.push(stream);
        }
        Ok(streams)
    }

    /// The streams of a blocked XREADGROUP that woke up, checked as Redis 7.0 checks them then:
    /// a stream that no longer exists ends the read ([`Error::StreamGone`]); a stream now
    /// under the name is read, whichever it is (RENAME onto the key hands the reader the
    /// renamed stream), and one without the group ends the read with [`Error::GroupGone`].
    pub fn read_group_streams_again(&self, request: &ReadGroup) -> Result<Vec<Arc<Stream>>> {
        for (name, _) in &request.streams {
            if !self.exists(name)? {
                return Err(Error::StreamGone);
            }
        }
        match self.read_group_streams(request, None) {
            Err(Error::NoGroupToRead { .. }) => Err(Error::GroupGone),
            other => other,
        }
    }

    /// Identities of checked streams, for a reader about to block.
    pub fn identities(streams: &[Arc<Stream>]) -> Vec<StreamIdentity> {
        streams
            .iter()
            .map(|stream| StreamIdentity(Arc::downgrade(stream)))
            .collect()
    }

    /// Reads checked streams for an XREADGROUP: [`Engine::begin_read_group`], its wait, and
    /// [`Engine::finish_read_group`].
    pub fn read_group_from(
        &self,
        request: &ReadGroup,
        streams: &[Arc<Stream>],
    ) -> Result<ReadGroupOutcome> {
        let step = self.begin_read_group(request, streams)?.wait()?;
        self.finish_read_group(step)
    }

    /// The first step of an XREADGROUP over checked streams: the groups read and changed, to
    /// be answered once durable — and once [`Engine::finish_read_group`] has moved what went
    /// over a delivery limit to its dead-letter stream, if anything did
    /// ([`GroupReadStep::has_moves`]). Waits for nothing.
    pub fn begin_read_group(
        &self,
        request: &ReadGroup,
        streams: &[Arc<Stream>],
    ) -> Result<Durable<GroupReadStep>> {
        let mut step = GroupReadStep {
            group: request.group.clone(),
            outcome: ReadGroupOutcome::default(),
            moves: Vec::new(),
        };
        let mut waits = Vec::with_capacity(streams.len());
        let last_id_of = |name: &[u8]| self.last_id_or_min(name);
        for (stream, (name, start)) in streams.iter().zip(&request.streams) {
            let (delivered, ticket) = match start {
                GroupStart::New => {
                    let read = stream.read_group_new(
                        &request.group,
                        &request.consumer,
                        request.options,
                        request.limit,
                        &last_id_of,
                    )?;
                    if let Some(Some(due)) = stream.group_state(&request.group) {
                        step.outcome.next_due =
                            Some(step.outcome.next_due.map_or(due, |next| next.min(due)));
                    }
                    read
                }
                GroupStart::Pending(after) => stream.read_group_history(
                    &request.group,
                    &request.consumer,
                    *after,
                    request.options.count,
                    &last_id_of,
                )?,
            };
            waits.push((Arc::clone(stream), ticket));
            let delivered = delivered?;
            if delivered.served || !delivered.dead_letters.is_empty() {
                if !delivered.dead_letters.is_empty() {
                    let at = step.outcome.streams.len();
                    step.moves
                        .push((at, Arc::clone(stream), delivered.dead_letters));
                }
                step.outcome.streams.push((
                    name.clone(),
                    GroupRead {
                        deliveries: delivered.deliveries,
                        dead_lettered: Vec::new(),
                    },
                ));
            }
        }
        let mut durable = Durable::new(step);
        for (stream, ticket) in &waits {
            durable.after(stream, *ticket);
        }
        Ok(durable)
    }

    /// The last step of an XREADGROUP, once its first is durable: moves what went over a
    /// delivery limit to the dead-letter streams (waiting for each step of each move).
    /// A failure leaves the moves not yet made to the step's drop, which abandons them.
    pub fn finish_read_group(&self, mut step: GroupReadStep) -> Result<ReadGroupOutcome> {
        while !step.moves.is_empty() {
            let (at, stream, letters) = step.moves.remove(0);
            let moved = self.move_dead_letters(&stream, &step.group, &letters)?;
            if let Some((_, read)) = step.outcome.streams.get_mut(at) {
                read.dead_lettered = moved;
            }
        }
        Ok(step.into_outcome())
    }

    /// XACK: 0 for a missing stream or group.
    pub fn ack(&self, name: &[u8], group: &[u8], ids: &[StreamId]) -> Result<u64> {
        self.ack_deferred(name, group, ids)?.wait()
    }

    /// XACK, answered once durable.
    pub fn ack_deferred(
        &self,
        name: &[u8],
        group: &[u8],
        ids: &[StreamId],
    ) -> Result<Durable<u64>> {
        let acked = self.with_stream(name, false, |stream| {
            let (count, ticket) = stream.ack(group, ids)?;
            let mut durable = Durable::new(count);
            durable.after(stream, ticket);
            Ok(durable)
        })?;
        Ok(acked.unwrap_or_else(|| Durable::new(0)))
    }

    fn no_group(name: &[u8], group: &[u8]) -> impl FnOnce() -> Error {
        let (key, group) = (name.to_vec(), group.to_vec());
        move || Error::NoGroup { key, group }
    }

    /// XPENDING's summary.
    pub fn pending_summary(&self, name: &[u8], group: &[u8]) -> Result<PendingSummary> {
        self.group_stream(name, Self::no_group(name, group))?
            .pending_summary(group)
    }

    /// XPENDING's extended form.
    pub fn pending(
        &self,
        name: &[u8],
        group: &[u8],
        query: &PendingQuery,
    ) -> Result<Vec<PendingEntry>> {
        self.group_stream(name, Self::no_group(name, group))?
            .pending(group, query)
    }

    /// XCLAIM; entries over the group's delivery limit go to the dead-letter stream.
    pub fn claim(&self, name: &[u8], group: &[u8], claim: &Claim) -> Result<GroupRead> {
        self.check_group_names(group, Some(&claim.consumer))?;
        let stream = self.group_stream(name, Self::no_group(name, group))?;
        let last_id_of = |target: &[u8]| self.last_id_or_min(target);
        let delivered = stream.claim(group, claim, &last_id_of)?;
        self.settle(&stream, group, delivered)
    }

    /// XAUTOCLAIM; entries over the group's delivery limit go to the dead-letter stream.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &self,
        name: &[u8],
        group: &[u8],
        consumer: &[u8],
        min_idle_ms: u64,
        start: StreamId,
        count: usize,
        justid: bool,
    ) -> Result<(AutoClaim, Vec<StreamId>)> {
        self.check_group_names(group, Some(consumer))?;
        let stream = self.group_stream(name, Self::no_group(name, group))?;
        let last_id_of = |target: &[u8]| self.last_id_or_min(target);
        let mut outcome = stream.autoclaim(
            group,
            consumer,
            min_idle_ms,
            start,
            count,
            justid,
            &last_id_of,
        )?;
        let letters = std::mem::take(&mut outcome.claimed.dead_letters);
        let moved = self.move_dead_letters(&stream, group, &letters)?;
        Ok((outcome, moved))
    }

    /// A negative acknowledgement (Sluice's): the entries are released for redelivery after
    /// `delay_ms`, or with `reject` moved to the dead-letter stream now. Returns the entries
    /// dead-lettered.
    pub fn nack(
        &self,
        name: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        delay_ms: u64,
        reject: bool,
    ) -> Result<Vec<StreamId>> {
        let stream = self.group_stream(name, Self::no_group(name, group))?;
        let last_id_of = |target: &[u8]| self.last_id_or_min(target);
        let letters = stream.nack(group, consumer, ids, delay_ms, reject, &last_id_of)?;
        self.move_dead_letters(&stream, group, &letters)
    }

    /// Renews a consumer's lease on its entries (Sluice's).
    pub fn renew(
        &self,
        name: &[u8],
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
    ) -> Result<u64> {
        self.group_stream(name, Self::no_group(name, group))?
            .renew(group, consumer, ids)
    }

    /// XINFO GROUPS.
    pub fn groups_info(&self, name: &[u8]) -> Result<Vec<GroupInfo>> {
        self.group_stream(name, || Error::NoSuchKey)?.groups_info()
    }

    /// XINFO CONSUMERS.
    pub fn consumers_info(&self, name: &[u8], group: &[u8]) -> Result<Vec<ConsumerInfo>> {
        self.group_stream(name, || Error::NoSuchKey)?
            .consumers_info(group)
    }
}
