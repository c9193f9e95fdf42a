//! A stream's consumer groups over its log: each group command is one transaction that reads
//! the stream through its published view, changes the groups by the rules of
//! [`crate::group`], and appends what changed to the group journal, so that under the default
//! fsync policy a reply is sent only once the change is durable. Reading commands (XPENDING,
//! XINFO) take the same lock and answer once what they saw is durable.
//!
//! Lock order: the stream's writer lock, then its groups.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::group::{
    decode_batch, encode_batch, AutoClaim, Claim, DeadLetter, Delivered, Groups, Record, Source,
    StreamFacts,
};
use crate::id::{IdRange, StreamId};
use crate::lock::lock;
use crate::model::{
    ConsumerInfo, Entry, Field, FullGroup, GroupInfo, GroupPolicy, GroupTarget, PendingEntry,
    PendingQuery, PendingSummary, ReadLimit, ReadOptions,
};
use crate::storage::log::{StreamLog, Ticket, Txn, View};
use crate::stream::Stream;

/// The last-generated ID of another stream (a dead-letter target), as the engine knows it.
pub type LastIdOf<'a> = &'a dyn Fn(&[u8]) -> StreamId;

/// The stream as group rules read it: through one published view.
struct StreamSource<'a> {
    log: &'a StreamLog,
    view: Arc<View>,
    limit: ReadLimit,
    last_id_of: LastIdOf<'a>,
}

impl Source for StreamSource<'_> {
    fn fields(&mut self, id: StreamId) -> Result<Option<Vec<Field>>> {
        let range = IdRange { start: id, end: id };
        let found = self
            .log
            .range(&self.view, range, false, ReadLimit::count(1))?;
        Ok(found.into_iter().next().map(|entry| entry.fields))
    }

    fn after(&mut self, after: StreamId, count: usize) -> Result<Vec<Entry>> {
        let Some(start) = after.next() else {
            return Ok(Vec::new());
        };
        let range = IdRange {
            start,
            end: StreamId::MAX,
        };
        let limit = ReadLimit {
            count: if count == 0 {
                self.limit.count
            } else {
                count.min(self.limit.count)
            },
            ..self.limit
        };
        self.log.range(&self.view, range, false, limit)
    }

    fn last_id_of(&mut self, name: &[u8]) -> StreamId {
        (self.last_id_of)(name)
    }
}

impl StreamSource<'_> {
    /// What the group rules need to know of the stream (its counters and first entry).
    fn facts(&self) -> Result<StreamFacts> {
        facts(self.log, &self.view)
    }
}

/// What the group rules need to know of a stream, as of `view`.
fn facts(log: &StreamLog, view: &View) -> Result<StreamFacts> {
    let first = log.range(view, IdRange::ALL, false, ReadLimit::count(1))?;
    Ok(StreamFacts {
        counters: view.counters,
        first_id: first.first().map_or(StreamId::MIN, |entry| entry.id),
    })
}

impl Stream {
    /// Runs one change to the groups as a transaction; `work` gets the groups, a journal to
    /// add records to, and the stream as of its published view (its facts are read only when
    /// asked for). Whatever `work` recorded is appended even if it then failed (it was
    /// applied). Returns once the change is durable.
    fn change_groups<R>(
        &self,
        limit: ReadLimit,
        last_id_of: LastIdOf<'_>,
        work: impl FnOnce(&mut Groups, &mut Vec<Record>, &mut StreamSource<'_>) -> Result<R>,
    ) -> Result<R> {
        let (outcome, ticket) = self.change_groups_deferred(limit, last_id_of, work)?;
        self.log.wait_durable(ticket)?;
        outcome
    }

    /// [`Stream::change_groups`] without the wait: the outcome, and the ticket to await before
    /// acknowledging it.
    fn change_groups_deferred<R>(
        &self,
        limit: ReadLimit,
        last_id_of: LastIdOf<'_>,
        work: impl FnOnce(&mut Groups, &mut Vec<Record>, &mut StreamSource<'_>) -> Result<R>,
    ) -> Result<(Result<R>, Ticket)> {
        let outcome = self.log.write_deferred(|txn| {
            let mut source = StreamSource {
                log: &self.log,
                view: self.log.view(),
                limit,
                last_id_of,
            };
            let mut groups = lock(&self.groups);
            let mut journal = Vec::new();
            let outcome = work(&mut groups, &mut journal, &mut source);
            drop(groups);
            append(txn, &journal)?;
            let min_bytes = self.log.config().group_journal_bytes_min;
            if txn.group_journal_wants_compaction(min_bytes) {
                self.compaction_wanted.store(true, Ordering::Release);
            }
            outcome
        });
        self.request_compaction();
        outcome
    }

    /// Runs a read of the groups: under the writer lock, answered once what it saw is durable.
    fn read_groups<R>(&self, work: impl FnOnce(&Groups, StreamFacts) -> Result<R>) -> Result<R> {
        self.log.write(|_| {
            let facts = facts(&self.log, &self.log.view())?;
            work(&lock(&self.groups), facts)
        })
    }

    /// XGROUP CREATE (the stream exists; MKSTREAM is the engine's).
    pub fn create_group(
        &self,
        group: &[u8],
        target: GroupTarget,
        entries_read: Option<u64>,
        policy: GroupPolicy,
    ) -> Result<()> {
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, source| {
                let last_id = match target {
                    GroupTarget::LastGenerated => source.view.counters.last_id,
                    GroupTarget::Id(id) => id,
                };
                groups.create(&self.name, group, last_id, entries_read, policy, journal)
            },
        )
    }

    /// XGROUP SETID.
    pub fn set_group_id(
        &self,
        group: &[u8],
        target: GroupTarget,
        entries_read: Option<u64>,
    ) -> Result<()> {
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, source| {
                let last_id = match target {
                    GroupTarget::LastGenerated => source.view.counters.last_id,
                    GroupTarget::Id(id) => id,
                };
                groups.set_id(&self.name, group, last_id, entries_read, journal)
            },
        )
    }

    /// XGROUP DESTROY: whether the group existed.
    pub fn destroy_group(&self, group: &[u8]) -> Result<bool> {
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| Ok(groups.destroy(group, journal)),
        )
    }

    /// XGROUP CREATECONSUMER: whether the consumer was created.
    pub fn create_consumer(&self, group: &[u8], consumer: &[u8]) -> Result<bool> {
        let now = self.clock.now_ms();
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| groups.create_consumer(&self.name, group, consumer, now, journal),
        )
    }

    /// XGROUP DELCONSUMER: how many entries the consumer had pending.
    pub fn delete_consumer(&self, group: &[u8], consumer: &[u8]) -> Result<u64> {
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| groups.delete_consumer(&self.name, group, consumer, journal),
        )
    }

    /// Sets a group's policy (Sluice's).
    pub fn set_group_policy(&self, group: &[u8], policy: GroupPolicy) -> Result<()> {
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| groups.set_policy(&self.name, group, policy, journal),
        )
    }

    /// XREADGROUP with `>`, reading at most `limit` of new entries; the outcome and the ticket
    /// to await before answering.
    pub fn read_group_new(
        &self,
        group: &[u8],
        consumer: &[u8],
        options: ReadOptions,
        limit: ReadLimit,
        last_id_of: LastIdOf<'_>,
    ) -> Result<(Result<Delivered>, Ticket)> {
        let now = self.clock.now_ms();
        self.change_groups_deferred(limit, last_id_of, |groups, journal, source| {
            let facts = source.facts()?;
            groups.read_new(
                &self.name, group, consumer, now, options, facts, source, journal,
            )
        })
    }

    /// XREADGROUP with an ID: the consumer's history after it; the outcome and the ticket to
    /// await before answering.
    pub fn read_group_history(
        &self,
        group: &[u8],
        consumer: &[u8],
        after: StreamId,
        count: usize,
        last_id_of: LastIdOf<'_>,
    ) -> Result<(Result<Delivered>, Ticket)> {
        let now = self.clock.now_ms();
        self.change_groups_deferred(
            ReadLimit::count(1),
            last_id_of,
            |groups, journal, source| {
                groups.read_history(
                    &self.name, group, consumer, after, count, now, source, journal,
                )
            },
        )
    }

    /// XACK: how many of `ids` were pending; and the ticket to await before answering.
    pub fn ack(&self, group: &[u8], ids: &[StreamId]) -> Result<(u64, Ticket)> {
        let (outcome, ticket) = self.change_groups_deferred(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| Ok(groups.ack(group, ids, journal)),
        )?;
        Ok((outcome?, ticket))
    }

    /// XCLAIM.
    pub fn claim(
        &self,
        group: &[u8],
        claim: &Claim,
        last_id_of: LastIdOf<'_>,
    ) -> Result<Delivered> {
        let now = self.clock.now_ms();
        self.change_groups(
            ReadLimit::count(1),
            last_id_of,
            |groups, journal, source| groups.claim(&self.name, group, claim, now, source, journal),
        )
    }

    /// XAUTOCLAIM.
    #[allow(clippy::too_many_arguments)]
    pub fn autoclaim(
        &self,
        group: &[u8],
        consumer: &[u8],
        min_idle_ms: u64,
        start: StreamId,
        count: usize,
        justid: bool,
        last_id_of: LastIdOf<'_>,
    ) -> Result<AutoClaim> {
        let now = self.clock.now_ms();
        self.change_groups(
            ReadLimit::count(1),
            last_id_of,
            |groups, journal, source| {
                groups.autoclaim(
                    &self.name,
                    group,
                    consumer,
                    min_idle_ms,
                    start,
                    count,
                    justid,
                    now,
                    source,
                    journal,
                )
            },
        )
    }

    /// A negative acknowledgement (Sluice's); returns the entries marked for the dead-letter
    /// stream (with `reject`).
    pub fn nack(
        &self,
        group: &[u8],
        consumer: &[u8],
        ids: &[StreamId],
        delay_ms: u64,
        reject: bool,
        last_id_of: LastIdOf<'_>,
    ) -> Result<Vec<DeadLetter>> {
        let now = self.clock.now_ms();
        self.change_groups(
            ReadLimit::count(1),
            last_id_of,
            |groups, journal, source| {
                groups.nack(
                    &self.name, group, consumer, ids, delay_ms, reject, now, source, journal,
                )
            },
        )
    }

    /// Renews a consumer's lease on its entries (Sluice's).
    pub fn renew(&self, group: &[u8], consumer: &[u8], ids: &[StreamId]) -> Result<u64> {
        let now = self.clock.now_ms();
        self.change_groups(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| groups.renew(&self.name, group, consumer, ids, now, journal),
        )
    }

    /// Finishes a move to the dead-letter stream: done (the entries leave the PEL) or
    /// abandoned (they stay pending as they were).
    pub fn end_dead_letters(&self, group: &[u8], ids: Vec<StreamId>, done: bool) -> Result<()> {
        let (outcome, ticket) = self.end_dead_letters_deferred(group, ids, done)?;
        self.log.wait_durable(ticket)?;
        outcome
    }

    /// Abandons a move to the dead-letter stream without waiting for that to be durable: for
    /// a read given up between its steps. (A crash before it is durable leaves the move open,
    /// and opening abandons it again.)
    pub fn abandon_dead_letters(&self, group: &[u8], ids: Vec<StreamId>) -> Result<()> {
        let (outcome, ticket) = self.end_dead_letters_deferred(group, ids, false)?;
        // Nobody awaits it, but under `always` its round is what tells blocked readers that
        // the entries are deliverable again.
        self.log.request_rounds(ticket);
        outcome
    }

    fn end_dead_letters_deferred(
        &self,
        group: &[u8],
        ids: Vec<StreamId>,
        done: bool,
    ) -> Result<(Result<()>, Ticket)> {
        self.change_groups_deferred(
            ReadLimit::count(1),
            &|_| StreamId::MIN,
            |groups, journal, _| {
                let group = group.to_vec();
                let record = if done {
                    Record::DeadLetterEnd { group, ids }
                } else {
                    Record::DeadLetterAbort { group, ids }
                };
                groups.apply(&record);
                journal.push(record);
                Ok(())
            },
        )
    }

    /// XPENDING's summary.
    pub fn pending_summary(&self, group: &[u8]) -> Result<PendingSummary> {
        self.read_groups(|groups, _| groups.pending_summary(&self.name, group))
    }

    /// XPENDING's extended form.
    pub fn pending(&self, group: &[u8], query: &PendingQuery) -> Result<Vec<PendingEntry>> {
        let now = self.clock.now_ms();
        self.read_groups(|groups, _| groups.pending_range(&self.name, group, query, now))
    }

    /// XINFO GROUPS.
    pub fn groups_info(&self) -> Result<Vec<GroupInfo>> {
        self.read_groups(|groups, facts| Ok(groups.groups_info(&facts)))
    }

    /// XINFO CONSUMERS.
    pub fn consumers_info(&self, group: &[u8]) -> Result<Vec<ConsumerInfo>> {
        let now = self.clock.now_ms();
        self.read_groups(|groups, _| groups.consumers_info(&self.name, group, now))
    }

    /// XINFO STREAM FULL's groups, and the number of groups.
    pub fn full_groups(&self, count: usize) -> Result<(u64, Vec<FullGroup>)> {
        self.read_groups(|groups, facts| Ok((groups.len() as u64, groups.full(&facts, count))))
    }

    /// The number of groups, answered once what it counted is durable.
    pub fn group_count(&self) -> Result<u64> {
        self.log.write(|_| Ok(lock(&self.groups).len() as u64))
    }

    /// Whether group `name` exists, and when it may next have entries due again (a lease or a
    /// release running out).
    pub fn group_state(&self, name: &[u8]) -> Option<Option<u64>> {
        lock(&self.groups).get(name).map(|group| group.next_due())
    }

    /// The dead-letter moves a crash left open.
    pub fn open_dead_letter_moves(&self) -> crate::group::OpenMoves {
        lock(&self.groups).open_moves()
    }

    /// Compacts the group journal if a change asked for it: a new generation starts under
    /// the writer lock, and the snapshot of the state at that instant is built and written
    /// outside it.
    pub fn compact_groups(&self) -> Result<()> {
        if !self.compaction_wanted.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        // Under the lock only a copy of the state (a memory copy, a few milliseconds for a
        // million pending entries); the records are built and encoded outside it.
        let (generation, groups) = self.log.write(|txn| {
            let groups = lock(&self.groups).clone();
            let generation = txn.rotate_group_journal()?;
            Ok((generation, groups))
        })?;
        let bodies = groups
            .snapshot()
            .chunks(SNAPSHOT_RECORDS_PER_FRAME)
            .map(|chunk| {
                let mut body = Vec::new();
                encode_batch(chunk, &mut body);
                body
            })
            .collect::<Vec<_>>();
        drop(groups);
        self.log.write_group_snapshot(generation, &bodies)
    }

    /// Replays journal frames into the groups (when the stream is opened).
    pub(crate) fn replay_groups(&self, frames: &[Vec<u8>]) -> Result<()> {
        let mut groups = lock(&self.groups);
        for frame in frames {
            let records = decode_batch(frame)
                .map_err(|error| Error::corrupt(self.log.dir(), error.to_string()))?;
            for record in &records {
                groups.apply(record);
            }
        }
        groups.compact();
        Ok(())
    }
}

/// Records per snapshot frame: frames stay small however large the state.
const SNAPSHOT_RECORDS_PER_FRAME: usize = 64;

/// Appends one command's records to the journal as one frame.
fn append(txn: &mut Txn<'_>, journal: &[Record]) -> Result<()> {
    if journal.is_empty() {
        return Ok(());
    }
    let mut body = Vec::new();
    encode_batch(journal, &mut body);
    if Record::can_end_a_wait(journal) {
        txn.announce_group_change();
    }
    txn.append_group_records(&[body])
}
