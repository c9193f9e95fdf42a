//! The engine's vocabulary: the values that cross from the engine to every front end and back.
//!
//! Entries and their fields, what an XADD adds, how a trim or a read is bounded, where a read
//! starts, what XINFO reports, and consumer groups as their commands report them. These are
//! plain data with no behaviour beyond construction, besides [`EntrySink`], how a read hands
//! its entries over. The storage layer, the Redis semantics (`stream`, `engine`) and the front
//! ends (`server`, `cli`, `reply`, `command`) all speak in these types, so no front end needs
//! to reach into storage to name a value.

use crate::id::{AddId, StreamId};

/// A field/value pair of an entry. Both are arbitrary bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// A stream entry: its ID and its field/value pairs, in the order they were added.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry's ID.
    pub id: StreamId,
    /// Its pairs.
    pub fields: Vec<Field>,
}

/// Where a read puts the entries it finds, one at a time, each with its fields borrowed from
/// the log for that call only. A `Vec<Entry>` copies them out; a front end may instead encode
/// them straight into its reply, with no `Entry` built on the way.
pub trait EntrySink {
    /// Takes the entry `id`, whose (name, value) pairs `fields` yields in order (as often as
    /// it is cloned).
    fn push<'a, F>(&mut self, id: StreamId, fields: F)
    where
        F: Iterator<Item = (&'a [u8], &'a [u8])> + Clone;

    /// Forgets every entry pushed: the read starts over.
    fn clear(&mut self);

    /// A hint, given when a read (each attempt of it) knows the reply size of its first
    /// entry: up to `entries` entries (what the read's COUNT and byte budget allow, at that
    /// size) of about `reply_bytes` in all are coming. A sink that buffers may make room for
    /// them at once.
    fn expect_entries(&mut self, entries: usize, reply_bytes: usize) {
        let _ = (entries, reply_bytes);
    }
}

impl EntrySink for Vec<Entry> {
    fn push<'a, F>(&mut self, id: StreamId, fields: F)
    where
        F: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        Vec::push(
            self,
            Entry {
                id,
                fields: fields
                    .map(|(name, value)| (name.to_vec(), value.to_vec()))
                    .collect(),
            },
        );
    }

    fn clear(&mut self) {
        Vec::clear(self);
    }
}

/// An entry to add: its ID argument and its pairs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEntry {
    /// `*`, `<ms>-*` or an explicit ID.
    pub id: AddId,
    /// Field/value pairs; at least one.
    pub fields: Vec<Field>,
}

/// How a trim decides what goes (XTRIM / XADD's trimming options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrimStrategy {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with IDs below this one.
    MinId(StreamId),
}

/// A trim request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrimSpec {
    /// What to remove.
    pub strategy: TrimStrategy,
    /// `~`: remove whole segments only (may remove fewer entries than asked).
    pub approx: bool,
    /// With `~`: remove at most this many entries (0 = no limit).
    pub limit: u64,
}

/// A stream's counters, as XINFO STREAM reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Live entries.
    pub length: u64,
    /// The last ID generated or set (XSETID); new IDs must exceed it.
    pub last_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// The largest ID ever deleted by XDEL (or set by XSETID).
    pub max_deleted: StreamId,
}

/// How much a read may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadLimit {
    /// At most this many entries.
    pub count: usize,
    /// At most about this many bytes of IDs, field names and values.
    pub bytes: usize,
    /// When the byte budget runs out: stop early (`true`; at least one entry is returned) or
    /// fail with [`crate::error::Error::ReplyTooLarge`] (`false`).
    pub partial: bool,
}

impl ReadLimit {
    /// At most `count` entries, with no byte budget.
    pub fn count(count: usize) -> ReadLimit {
        ReadLimit {
            count,
            bytes: usize::MAX,
            partial: false,
        }
    }
}

/// Where a read of new entries starts in one stream: the one model of XREAD's and Tail's
/// start argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStart {
    /// Entries with IDs greater than this one.
    After(StreamId),
    /// `$`: only entries added from now on (after the stream's last-generated ID).
    LastGenerated,
    /// `+`: the stream's last entry, then entries added from now on (Redis 7.4+).
    LastEntry,
}

impl ReadStart {
    /// Parses `$`, `+` or a strict ID (`<ms>-<seq>` or `<ms>`).
    pub fn parse(text: &[u8]) -> Result<ReadStart, crate::id::IdError> {
        Ok(match text {
            b"$" => ReadStart::LastGenerated,
            b"+" => ReadStart::LastEntry,
            id => ReadStart::After(StreamId::parse_strict(id)?),
        })
    }

    /// The argument as Redis writes it.
    pub fn to_argument(self) -> String {
        match self {
            ReadStart::After(id) => id.to_string(),
            ReadStart::LastGenerated => "$".to_owned(),
            ReadStart::LastEntry => "+".to_owned(),
        }
    }
}

/// XINFO STREAM FULL's default COUNT (Redis's, so the reply stays small).
pub const INFO_FULL_COUNT_DEFAULT: u64 = 10;

/// What XINFO STREAM reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    /// Length, last-generated-id, entries-added, max-deleted-entry-id.
    pub counters: Counters,
    /// The first live entry's ID, or 0-0 (recorded-first-entry-id).
    pub recorded_first_id: StreamId,
    /// The first live entry.
    pub first_entry: Option<Entry>,
    /// The last live entry.
    pub last_entry: Option<Entry>,
    /// Segment files (reported where Redis reports radix-tree keys).
    pub segments: u64,
    /// Sparse index points (reported where Redis reports radix-tree nodes).
    pub index_points: u64,
    /// With FULL: the first entries, up to the COUNT asked.
    pub entries: Option<Vec<Entry>>,
    /// Consumer groups.
    pub groups: u64,
    /// With FULL: the groups, each with its first pending entries and consumers.
    pub full_groups: Vec<FullGroup>,
    /// The stream's retention policy, if it has one (Sluice's; reported after Redis's
    /// fields, so a stream without one answers exactly as Redis does).
    pub retention: Option<Retention>,
}

/// A stream's retention policy (Sluice's): limits enforced in the background by removing
/// whole sealed segments from the head of the stream, never by rewriting one. Every limit is
/// optional; a policy with none is no policy. Persisted with the stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Retention {
    /// Remove a segment once its newest entry's ID (its millisecond part) is older than this
    /// many milliseconds by the wall clock.
    pub max_age_ms: Option<u64>,
    /// Remove the oldest segments while the stream's log holds more than this many bytes.
    pub max_bytes: Option<u64>,
    /// Remove the oldest segments while at least this many entries would remain.
    pub max_len: Option<u64>,
    /// Never remove a segment holding an entry that a consumer group has not yet delivered
    /// (ID above its last-delivered ID) or that is still pending (in a PEL).
    pub keep_unprocessed: bool,
}

impl Retention {
    /// Whether no limit is set (with or without the guard): nothing would ever be removed.
    pub fn has_no_limit(&self) -> bool {
        self.max_age_ms.is_none() && self.max_bytes.is_none() && self.max_len.is_none()
    }

    /// Whether this is the empty policy, which means "no policy" (clearing).
    pub fn is_clear(&self) -> bool {
        self.has_no_limit() && !self.keep_unprocessed
    }
}

/// Where retention stands for one stream: what the guard holds back now (what the limits
/// alone would remove but [`Retention::keep_unprocessed`] keeps), and what enforcement
/// removed since the stream was opened (the engine's open, the stream's creation, or a RENAME,
/// which reopens it). For metrics: [`crate::Engine::retention_status`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionStatus {
    /// Live entries in the segments held back by the guard.
    pub held_entries: u64,
    /// Log bytes of the segments held back by the guard.
    pub held_bytes: u64,
    /// Segments held back by the guard.
    pub held_segments: u64,
    /// Entries removed by retention since the stream was opened.
    pub removed_entries: u64,
    /// Log bytes removed by retention since the stream was opened.
    pub removed_bytes: u64,
    /// Segments removed by retention since the stream was opened.
    pub removed_segments: u64,
}

/// Where a group read starts in one stream: XREADGROUP's ID argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupStart {
    /// `>`: entries never delivered to the group (after its last-delivered ID), and, with a
    /// lease or a CLAIM, entries idle long enough to be delivered again.
    New,
    /// An ID: this consumer's own pending entries after it (its history).
    Pending(StreamId),
}

/// The ID argument of XGROUP CREATE and SETID: `$` or an ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupTarget {
    /// `$`: the stream's last-generated ID.
    LastGenerated,
    /// This ID.
    Id(StreamId),
}

/// A consumer group's policy: Sluice's additions to Redis's groups. Every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupPolicy {
    /// An entry already delivered this many times is moved to the dead-letter stream instead
    /// of being delivered again (0: never).
    pub max_deliveries: u64,
    /// Where dead letters go; `None` for the default, `<stream>:dead-letter`.
    pub dead_letter_stream: Option<Vec<u8>>,
    /// Entries pending longer than this go to the next reader of `>` before new entries
    /// (0: no lease).
    pub lease_ms: u64,
}

impl GroupPolicy {
    /// The dead-letter stream of a group of `stream`.
    pub fn dead_letter_stream_of(&self, stream: &[u8]) -> Vec<u8> {
        match &self.dead_letter_stream {
            Some(name) => name.clone(),
            None => [stream, DEAD_LETTER_SUFFIX].concat(),
        }
    }
}

/// What a group's default dead-letter stream adds to its stream's name.
pub const DEAD_LETTER_SUFFIX: &[u8] = b":dead-letter";

/// An entry as a group read delivers it: its fields (`None` for a pending entry that was
/// deleted from the stream since, which Redis shows with nil fields), and, for XREADGROUP's
/// CLAIM form, how long it was idle and how often it had been delivered before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The entry's ID.
    pub id: StreamId,
    /// Its pairs, or `None` if the entry is gone from the stream.
    pub fields: Option<Vec<Field>>,
    /// Milliseconds since its previous delivery (0 for a first delivery).
    pub idle_ms: u64,
    /// Deliveries before this one (0 for a first delivery).
    pub delivered_before: u64,
}

/// What a group read returns for one stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupRead {
    /// The entries delivered, in order.
    pub deliveries: Vec<Delivery>,
    /// Entries that would have been delivered again but were over the group's
    /// `max_deliveries`: moved to the dead-letter stream instead.
    pub dead_lettered: Vec<StreamId>,
}

/// A read's options beyond group and consumer.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReadOptions {
    /// COUNT (0: no limit).
    pub count: usize,
    /// NOACK: new entries are not added to the PEL.
    pub noack: bool,
    /// Redis 8.4's CLAIM: entries idle at least this long are delivered again first.
    pub claim_min_idle_ms: Option<u64>,
}

/// XCLAIM's IDLE or TIME option (the last one given counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimTime {
    /// IDLE ms: the claimed entries' new idle time.
    Idle(i64),
    /// TIME ms: their new delivery time (Unix ms).
    Time(i64),
}

/// XCLAIM's options.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimOptions {
    /// IDLE or TIME: the claimed entries' new delivery time; now without either.
    pub time: Option<ClaimTime>,
    /// RETRYCOUNT: their new delivery count.
    pub retry_count: Option<u64>,
    /// FORCE: claim IDs not pending (if they exist in the stream).
    pub force: bool,
    /// JUSTID: return IDs only, and leave delivery counts as they are.
    pub justid: bool,
    /// LASTID: move the group's last-delivered ID up to this.
    pub last_id: Option<StreamId>,
}

/// XPENDING's extended form: which entries, how many at most, whose, how idle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingQuery {
    /// The inclusive ID range.
    pub start: StreamId,
    /// Its end.
    pub end: StreamId,
    /// At most this many entries.
    pub count: usize,
    /// Only this consumer's entries.
    pub consumer: Option<Vec<u8>>,
    /// Only entries idle at least this long (0: all).
    pub min_idle_ms: u64,
}

/// One entry of a group's pending-entries list, as XPENDING's extended form reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEntry {
    /// The entry's ID.
    pub id: StreamId,
    /// The consumer it was last delivered to.
    pub consumer: Vec<u8>,
    /// Milliseconds since that delivery.
    pub idle_ms: u64,
    /// Times delivered.
    pub delivery_count: u64,
}

/// XPENDING's summary form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingSummary {
    /// Entries pending in the group.
    pub count: u64,
    /// The smallest and the largest pending ID.
    pub bounds: Option<(StreamId, StreamId)>,
    /// Consumers with pending entries, by name, with how many each.
    pub consumers: Vec<(Vec<u8>, u64)>,
}

/// One consumer group, as XINFO GROUPS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's name.
    pub name: Vec<u8>,
    /// Its consumers.
    pub consumers: u64,
    /// Its pending entries.
    pub pending: u64,
    /// The last ID delivered by `>`, or set by XGROUP CREATE/SETID.
    pub last_delivered: StreamId,
    /// Entries read by the group, if known.
    pub entries_read: Option<u64>,
    /// Entries added less entries read by the group, if known. Negative when ENTRIESREAD was
    /// set above the entries added, as Redis 7.0 reports it.
    pub lag: Option<i64>,
    /// Sluice's policy.
    pub policy: GroupPolicy,
}

/// One consumer of a group, as XINFO CONSUMERS reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerInfo {
    /// The consumer's name.
    pub name: Vec<u8>,
    /// Its pending entries.
    pub pending: u64,
    /// Milliseconds since it was last seen (Redis 7.0's `idle`).
    pub idle_ms: u64,
    /// Milliseconds since its last successful read or claim (Redis 7.2's `inactive`), or
    /// `None` if it never had one.
    pub inactive_ms: Option<u64>,
}

/// A pending entry in XINFO STREAM FULL: ID, consumer, delivery time (Unix ms), count.
pub type FullPending = (StreamId, Vec<u8>, u64, u64);

/// A consumer in XINFO STREAM FULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullConsumer {
    /// Its name.
    pub name: Vec<u8>,
    /// When it was last seen (Unix ms).
    pub seen_time: u64,
    /// When it last read or claimed successfully (Unix ms), if ever.
    pub active_time: Option<u64>,
    /// Its pending entries in all.
    pub pel_count: u64,
    /// Its first pending entries: ID, delivery time, delivery count.
    pub pending: Vec<(StreamId, u64, u64)>,
}

/// A group in XINFO STREAM FULL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FullGroup {
    /// What XINFO GROUPS says of it.
    pub info: GroupInfo,
    /// Its first pending entries.
    pub pending: Vec<FullPending>,
    /// Its consumers, by name.
    pub consumers: Vec<FullConsumer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_starts() {
        assert_eq!(ReadStart::parse(b"$"), Ok(ReadStart::LastGenerated));
        assert_eq!(ReadStart::parse(b"+"), Ok(ReadStart::LastEntry));
        assert_eq!(
            ReadStart::parse(b"5"),
            Ok(ReadStart::After(StreamId::new(5, 0)))
        );
        assert!(ReadStart::parse(b"-").is_err());
        assert!(ReadStart::parse(b"").is_err());
        assert!(ReadStart::parse(b">").is_err());
        for start in [
            ReadStart::LastGenerated,
            ReadStart::LastEntry,
            ReadStart::After(StreamId::new(7, 1)),
        ] {
            assert_eq!(ReadStart::parse(start.to_argument().as_bytes()), Ok(start));
        }
    }
}
