//! The engine's vocabulary: the values that cross from the engine to every front end and back.
//!
//! Entries and their fields, what an XADD adds, how a trim or a read is bounded, where a read
//! starts, and what XINFO reports. These are plain data with no behaviour beyond construction:
//! the storage layer, the Redis semantics (`stream`, `engine`) and the front ends (`server`,
//! `cli`, `reply`, `command`) all speak in these types, so no front end needs to reach into
//! storage to name a value.

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
    /// fail with [`crate::Error::ReplyTooLarge`] (`false`).
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
