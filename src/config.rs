//! Every limit and policy of the storage engine, with its default and its validation.
//!
//! Nothing in the engine is sized implicitly: each bound on memory, file handles, record size
//! and name length is a named field here, checked once by [`Config::validate`] when the engine
//! opens, and enforced with a clear error where input meets it.

use std::path::PathBuf;
use std::sync::Arc;

use std::sync::atomic::AtomicU64;

use crate::clock::{Clock, SystemClock};
use crate::error::{Error, Result};

/// When appended data is forced to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// A write returns only once it is durable (`fdatasync`); concurrent writers to one stream
    /// share a sync (group commit). The default: an acknowledged write survives power loss.
    Always,
    /// A background thread syncs every stream with unsynced data once a second. A power loss
    /// may lose up to about a second of acknowledged writes; a process crash loses nothing.
    EverySec,
    /// Never sync explicitly; the OS writes back when it likes. A process crash loses nothing,
    /// a power loss may lose anything not yet written back.
    No,
}

impl FsyncPolicy {
    /// Parses `always`, `everysec` or `no` (case-insensitive).
    pub fn parse(text: &str) -> Option<FsyncPolicy> {
        match text.to_ascii_lowercase().as_str() {
            "always" => Some(FsyncPolicy::Always),
            "everysec" => Some(FsyncPolicy::EverySec),
            "no" => Some(FsyncPolicy::No),
            _ => None,
        }
    }

    /// The policy's name as `parse` accepts it.
    pub fn name(self) -> &'static str {
        match self {
            FsyncPolicy::Always => "always",
            FsyncPolicy::EverySec => "everysec",
            FsyncPolicy::No => "no",
        }
    }
}

/// Default size at which a stream's active segment is sealed and a new one started: 64 MiB.
pub const SEGMENT_BYTES_MAX_DEFAULT: u64 = 64 << 20;
/// Default distance between sparse index points within a segment: 4 KiB.
pub const INDEX_INTERVAL_BYTES_DEFAULT: u32 = 4 << 10;
/// Default largest encoded entry (ID, field names and values, framing): 1 MiB.
pub const ENTRY_BYTES_MAX_DEFAULT: u32 = 1 << 20;
/// Default longest stream name: 1 KiB.
pub const STREAM_NAME_BYTES_MAX_DEFAULT: usize = 1024;
/// Default number of segment files and maps held open at once, across all streams.
pub const OPEN_FILES_MAX_DEFAULT: usize = 1024;

/// Default number of commit threads: syncs of different streams can run side by side.
pub const COMMIT_THREADS_DEFAULT: usize = 2;
/// Default group-journal growth that triggers compaction: 4 MiB.
pub const GROUP_JOURNAL_BYTES_MIN_DEFAULT: u64 = 4 << 20;

/// Default time between two background retention passes: 1 s.
pub const RETENTION_INTERVAL_MS_DEFAULT: u64 = 1_000;

/// Smallest segment size accepted (tests use tiny segments to exercise rollover).
pub const SEGMENT_BYTES_MAX_MIN: u64 = 128;
/// Largest segment size accepted, a bound the on-disk format sets: offsets within a segment
/// are stored as u32 (index points, trailers), and 2 GiB keeps every offset sum in range.
pub const SEGMENT_BYTES_MAX_MAX: u64 = 1 << 31;
/// Bytes of every segment taken by its header (its layout is `storage::segment`'s), so not
/// available to records.
pub const SEGMENT_HEADER_BYTES: usize = 64;

/// The storage engine's configuration.
#[derive(Clone)]
pub struct Config {
    /// Directory holding all streams. Created if missing.
    pub data_dir: PathBuf,
    /// When writes are made durable.
    pub fsync: FsyncPolicy,
    /// Size at which the active segment is sealed and a new one begun.
    pub segment_bytes_max: u64,
    /// Distance in bytes between sparse index points; smaller means faster seeks and a larger
    /// index (32 bytes per point).
    pub index_interval_bytes: u32,
    /// Largest encoded entry accepted; larger ones are refused with an error.
    pub entry_bytes_max: u32,
    /// Longest stream name accepted.
    pub stream_name_bytes_max: usize,
    /// Segment files and memory maps held open at once, across all streams; least recently
    /// used ones are closed beyond this.
    pub open_files_max: usize,
    /// Threads that lead group-commit syncs for writes awaited asynchronously (the server's).
    pub commit_threads: usize,
    /// Bytes a stream's group journal may grow past its last snapshot before it is compacted
    /// (in the background; compaction also waits for twice the snapshot's size, so its cost
    /// per record stays constant).
    pub group_journal_bytes_min: u64,
    /// Milliseconds between two background passes enforcing the streams' retention policies
    /// (0: no background pass; [`crate::Engine::enforce_retention`] still runs one).
    pub retention_interval_ms: u64,
    /// Where `*` IDs get their milliseconds (and what retention's maximum age is judged by).
    pub clock: Arc<dyn Clock>,
    /// Entries per node of the Redis radix tree that approximate trimming (`~`) imitates:
    /// Redis's `stream-node-max-entries`, changeable at run time (CONFIG SET), shared by
    /// every clone of the configuration.
    pub node_entries: Arc<AtomicU64>,
}

/// Redis's default `stream-node-max-entries`.
pub const NODE_ENTRIES_DEFAULT: u64 = 100;

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("fsync", &self.fsync)
            .field("segment_bytes_max", &self.segment_bytes_max)
            .field("index_interval_bytes", &self.index_interval_bytes)
            .field("entry_bytes_max", &self.entry_bytes_max)
            .field("stream_name_bytes_max", &self.stream_name_bytes_max)
            .field("open_files_max", &self.open_files_max)
            .field("commit_threads", &self.commit_threads)
            .field("group_journal_bytes_min", &self.group_journal_bytes_min)
            .field("retention_interval_ms", &self.retention_interval_ms)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The defaults, keeping data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            fsync: FsyncPolicy::Always,
            segment_bytes_max: SEGMENT_BYTES_MAX_DEFAULT,
            index_interval_bytes: INDEX_INTERVAL_BYTES_DEFAULT,
            entry_bytes_max: ENTRY_BYTES_MAX_DEFAULT,
            stream_name_bytes_max: STREAM_NAME_BYTES_MAX_DEFAULT,
            open_files_max: OPEN_FILES_MAX_DEFAULT,
            commit_threads: COMMIT_THREADS_DEFAULT,
            group_journal_bytes_min: GROUP_JOURNAL_BYTES_MIN_DEFAULT,
            retention_interval_ms: RETENTION_INTERVAL_MS_DEFAULT,
            clock: Arc::new(SystemClock),
            node_entries: Arc::new(AtomicU64::new(NODE_ENTRIES_DEFAULT)),
        }
    }

    /// Checks that the limits are coherent.
    pub fn validate(&self) -> Result<()> {
        let fail = |message: String| Err(Error::Config(message));
        if !(SEGMENT_BYTES_MAX_MIN..=SEGMENT_BYTES_MAX_MAX).contains(&self.segment_bytes_max) {
            return fail(format!(
                "segment_bytes_max must be between {SEGMENT_BYTES_MAX_MIN} and {SEGMENT_BYTES_MAX_MAX}, got {}",
                self.segment_bytes_max
            ));
        }
        if self.index_interval_bytes == 0 {
            return fail("index_interval_bytes must be at least 1".into());
        }
        if self.entry_bytes_max < 64 {
            return fail(format!(
                "entry_bytes_max must be at least 64, got {}",
                self.entry_bytes_max
            ));
        }
        let room = self.segment_bytes_max - SEGMENT_HEADER_BYTES as u64;
        if u64::from(self.entry_bytes_max) > room {
            return fail(format!(
                "entry_bytes_max ({}) must fit in a segment: at most segment_bytes_max - {} = {room}",
                self.entry_bytes_max,
                SEGMENT_HEADER_BYTES
            ));
        }
        if self.stream_name_bytes_max == 0 {
            return fail("stream_name_bytes_max must be at least 1".into());
        }
        if self.group_journal_bytes_min == 0 {
            return fail("group_journal_bytes_min must be at least 1".into());
        }
        if self.commit_threads == 0 {
            return fail("commit_threads must be at least 1".into());
        }
        if self.open_files_max < 4 {
            return fail(format!(
                "open_files_max must be at least 4, got {}",
                self.open_files_max
            ));
        }
        Ok(())
    }
}
