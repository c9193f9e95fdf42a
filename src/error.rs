//! The storage engine's one error type.
//!
//! Variants that mirror a Redis error carry Redis's exact text (as `redis-cli` prints it, with
//! the `ERR` prefix) in their `Display`; the others describe a limit, a storage fault or a
//! configuration mistake. The network layer maps each variant to a status in one place.

use std::io;
use std::path::PathBuf;

use crate::id::IdError;

/// Shorthand for results of engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything an engine operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed ID argument.
    #[error(transparent)]
    Id(#[from] IdError),
    /// XADD with an explicit `0-0`.
    #[error("ERR The ID specified in XADD must be greater than 0-0")]
    AddIdZero,
    /// XADD with an ID not above the stream's last ID.
    #[error("ERR The ID specified in XADD is equal or smaller than the target stream top item")]
    AddIdTooSmall,
    /// The stream's last ID is the maximum: no ID can follow.
    #[error("ERR The stream has exhausted the last possible ID, unable to add more items")]
    IdExhausted,
    /// The stream does not exist (XSETID, XINFO).
    #[error("ERR no such key")]
    NoSuchKey,
    /// XSETID below the last live entry.
    #[error("ERR The ID specified in XSETID is smaller than the target stream top item")]
    SetIdTooSmall,
    /// XSETID ENTRIESADDED below the stream's length.
    #[error("ERR The entries_added specified in XSETID is smaller than the target stream length")]
    SetIdEntriesAddedTooSmall,
    /// XSETID MAXDELETEDID above the ID being set.
    #[error("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id")]
    SetIdBelowMaxDeleted,
    /// An entry with no field-value pair.
    #[error("ERR wrong number of arguments for 'xadd' command")]
    EmptyEntry,
    /// An encoded entry larger than `entry_bytes_max`.
    #[error("ERR entry of {size} bytes exceeds the limit of {max} bytes (entry_bytes_max)")]
    EntryTooLarge {
        /// Encoded size of the refused entry.
        size: usize,
        /// The configured limit.
        max: u32,
    },
    /// A batch whose entries together would not fit in one segment.
    #[error("ERR batch of {size} bytes exceeds the limit of {max} bytes (one segment)")]
    BatchTooLarge {
        /// Encoded size of the batch.
        size: u64,
        /// Room in one segment.
        max: u64,
    },
    /// A stream name longer than `stream_name_bytes_max`.
    #[error(
        "ERR stream name of {len} bytes exceeds the limit of {max} bytes (stream_name_bytes_max)"
    )]
    NameTooLong {
        /// Length of the refused name.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A group or consumer name longer than `stream_name_bytes_max` (which bounds every name).
    #[error(
        "ERR {kind} name of {len} bytes exceeds the limit of {max} bytes (stream_name_bytes_max)"
    )]
    GroupNameTooLong {
        /// "group" or "consumer".
        kind: &'static str,
        /// Length of the refused name.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// A read whose reply would exceed the caller's byte budget.
    #[error("ERR reply exceeds the limit of {max} bytes; ask for fewer entries with COUNT")]
    ReplyTooLarge {
        /// The byte budget that was exceeded.
        max: usize,
    },
    /// The stream hit an I/O failure earlier and refuses writes until the engine is reopened, so
    /// that nothing is acknowledged on top of data whose durability is unknown.
    #[error("ERR stream is unavailable after an I/O failure; restart the server to recover: {0}")]
    Poisoned(String),
    /// The stream was dropped while the operation waited for it; the caller retries on
    /// whatever stream now has the name.
    #[error("ERR the stream was dropped concurrently")]
    Dropped,
    /// XPENDING, XCLAIM, XAUTOCLAIM on a missing stream or group.
    #[error(
        "NOGROUP No such key '{}' or consumer group '{}'",
        c_text(key),
        c_text(group)
    )]
    NoGroup {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
    },
    /// XREADGROUP on a missing stream or group.
    #[error(
        "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
        c_text(key),
        c_text(group)
    )]
    NoGroupToRead {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
    },
    /// XGROUP SETID / CREATECONSUMER / DELCONSUMER, XINFO CONSUMERS on a missing group.
    #[error(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        c_text(group),
        c_text(key)
    )]
    NoGroupForKey {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
    },
    /// A blocked XREADGROUP whose group was destroyed meanwhile (Redis 7.0's text).
    #[error("NOGROUP the consumer group this client was blocked on no longer exists")]
    GroupGone,
    /// A blocked read whose stream was deleted meanwhile (Redis 7.0's text).
    #[error("UNBLOCKED the stream key no longer exists")]
    StreamGone,
    /// XGROUP CREATE of a group that exists.
    #[error("BUSYGROUP Consumer Group name already exists")]
    BusyGroup,
    /// XGROUP on a missing stream (CREATE without MKSTREAM).
    #[error("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.")]
    GroupNeedsStream,
    /// A group policy that cannot work (Sluice's, not Redis's).
    #[error("ERR invalid group policy: {0}")]
    BadPolicy(&'static str),
    /// A retention policy that cannot work (Sluice's, not Redis's).
    #[error("ERR invalid retention policy: {0}")]
    BadRetention(&'static str),
    /// Nothing is pending under this ID for this consumer (a negative acknowledgement or a
    /// lease renewal of an entry it does not hold).
    #[error("ERR no pending entry {0} for this consumer")]
    NotPending(crate::id::StreamId),
    /// An operating-system I/O failure.
    #[error("ERR I/O error: {0}")]
    Io(#[from] io::Error),
    /// Stored data that fails its checks where no repair rule applies.
    #[error("ERR corrupt data in {path}: {detail}")]
    Corrupt {
        /// The damaged file.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// Another process holds the data directory.
    #[error("ERR data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// An invalid configuration.
    #[error("ERR invalid configuration: {0}")]
    Config(String),
}

/// A name as Redis prints it with `%s`: up to its first NUL byte, as text.
fn c_text(bytes: &[u8]) -> String {
    let end = bytes
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

impl Error {
    /// A corruption error for `path`.
    pub fn corrupt(path: impl Into<PathBuf>, detail: impl Into<String>) -> Error {
        Error::Corrupt {
            path: path.into(),
            detail: detail.into(),
        }
    }
}
