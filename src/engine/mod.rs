//! The storage engine: every stream of one data directory, and the Redis stream commands on
//! them.
//!
//! This module is the engine's API: open and close, and one method per command (XADD, XRANGE,
//! XLEN, XDEL, XTRIM, XSETID, XINFO, DEL, KEYS; retention policies in `retention`). Each is one transaction on one stream: atomic
//! and, under the default fsync policy, durable when it returns. The parts, one concept each:
//! - `table`: which streams exist; opening them all, creating, dropping, quarantine;
//! - `read`: reading new entries (XREAD's `$` and `+`, several streams in one budget, Tail);
//! - `groups`: the consumer-group commands, XREADGROUP over several streams in two steps;
//! - `dead_letter`: moving entries to a dead-letter stream, and settling moves a crash cut
//!   short;
//! - `watch`: per-name change notifications that blocked readers wait on;
//! - `commit`: the background threads that make writes durable, and the future a write
//!   awaits;
//! - `pump`: sync rounds led on a single-threaded server's own thread, between batches of
//!   tasks (Redis's `beforeSleep`); `round`: the request to lead them, run by either;
//! - `retention`: per-stream retention policies, and the background thread enforcing them.
//!
//! The data directory's own files are [`crate::storage::data_dir`]'s. The engine is plain
//! synchronous Rust: nothing here knows about the network.

mod commit;
mod dead_letter;
mod groups;
mod pump;
mod read;
mod retention;
mod round;
mod table;
mod watch;

use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::sync::watch as tokio_watch;

use crate::config::{Config, FsyncPolicy};
use crate::error::{Error, Result};
use crate::id::{AddId, IdRange, StreamId};
use crate::lock::lock;
use crate::model::{Entry, EntrySink, NewEntry, ReadLimit, StreamInfo, TrimSpec};
use crate::storage::data_dir::DataDir;
use crate::storage::fs::{FileSystem, RealFs};
use crate::storage::log::{check_batch_size, Context};
use crate::storage::repair::Repair;

pub use commit::{Commit, Durable};
use commit::{Committers, Syncer};
pub use dead_letter::DEAD_LETTER_FIELDS;
pub use groups::{GroupReadStep, ReadGroup, ReadGroupOutcome, StreamIdentity};
pub use pump::SyncPump;
pub use read::{Followed, Follower};
pub use retention::check_retention;
use retention::Enforcer;
use table::{check_name, Opening, Table};
pub use watch::{Watchers, WATCHED_NAMES_SWEEP_AT};

/// Fields drop in this order: the data directory (and its lock) last, once every stream and
/// file is closed.
struct Inner {
    ctx: Arc<Context>,
    table: Arc<Table>,
    watchers: Arc<Watchers>,
    repairs: Vec<Repair>,
    syncer: Mutex<Option<Syncer>>,
    enforcer: Mutex<Option<Enforcer>>,
    committers: Committers,
    data_dir: DataDir,
}

/// The storage engine: every stream of one data directory. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// Opens (creating if needed) the data directory named in `config`, recovering every
    /// stream.
    pub fn open(config: Config) -> Result<Engine> {
        Engine::open_with(config, Arc::new(RealFs))
    }

    /// Opens with an explicit file system (tests use a simulated one).
    pub fn open_with(config: Config, fs: Arc<dyn FileSystem>) -> Result<Engine> {
        config.validate()?;
        let (data_dir, mut repairs) = DataDir::open(fs.as_ref(), &config.data_dir)?;
        let ctx = Arc::new(Context::new(fs, config));
        let watchers = Arc::new(Watchers::default());
        let committers = Committers::start(ctx.config.commit_threads);
        let opening = Opening {
            ctx: &ctx,
            watchers: &watchers,
            committers: &committers,
        };
        let table = Arc::new(Table::open(&data_dir, &opening, &mut repairs)?);
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "recovery: {}", repair.action);
        }
        let everysec = ctx.config.fsync == FsyncPolicy::EverySec;
        let engine = Engine {
            inner: Arc::new(Inner {
                ctx,
                table,
                watchers,
                repairs,
                syncer: Mutex::new(None),
                enforcer: Mutex::new(None),
                committers,
                data_dir,
            }),
        };
        if everysec {
            let weak = Arc::downgrade(&engine.inner);
            let syncer = Syncer::start(move || weak.upgrade().map(|inner| inner.table.all()));
            *lock(&engine.inner.syncer) = syncer;
        }
        engine.finish_open_moves()?;
        let interval = engine.config().retention_interval_ms;
        *lock(&engine.inner.enforcer) =
            Enforcer::start(Arc::downgrade(&engine.inner.table), interval);
        Ok(engine)
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.inner.ctx.config
    }

    /// What recovery repaired when the engine opened.
    pub fn repairs(&self) -> &[Repair] {
        &self.inner.repairs
    }

    /// The change notifications of stream `name`.
    pub fn watch(&self, name: &[u8]) -> tokio_watch::Receiver<u64> {
        self.inner.watchers.subscribe(name)
    }

    /// XADD (one entry, or an atomic batch): returns the IDs, or `None` when `nomkstream`
    /// is set and the stream does not exist.
    pub fn add(
        &self,
        name: &[u8],
        entries: &[NewEntry],
        nomkstream: bool,
        trim: Option<&TrimSpec>,
    ) -> Result<Option<Vec<StreamId>>> {
        self.check_add(name, entries)?;
        self.with_stream(name, !nomkstream, |stream| stream.add(entries, trim))
    }

    /// Refuses what would fail anyway before creating the stream, as Redis does: a refused
    /// XADD must not leave an empty stream behind.
    fn check_add(&self, name: &[u8], entries: &[NewEntry]) -> Result<()> {
        check_name(self.config(), name)?;
        for entry in entries {
            if entry.fields.is_empty() {
                return Err(Error::EmptyEntry);
            }
            if entry.id == AddId::Explicit(StreamId::MIN) {
                return Err(Error::AddIdZero);
            }
        }
        check_batch_size(
            self.config(),
            entries.iter().map(|entry| entry.fields.as_slice()),
        )?;
        Ok(())
    }

    /// XADD for async callers: appends now and returns a [`Commit`] that resolves once the
    /// entries are durable (under `always`; at once otherwise), so no thread blocks on the
    /// sync. The same checks and results as [`Engine::add`].
    pub fn add_deferred(
        &self,
        name: &[u8],
        entries: &[NewEntry],
        nomkstream: bool,
        trim: Option<&TrimSpec>,
    ) -> Result<Commit> {
        self.check_add(name, entries)?;
        let accepted = self.with_stream(name, !nomkstream, |stream| {
            let (ids, ticket) = stream.add_deferred(entries, trim)?;
            let mut commit = Commit::new(Some(ids));
            commit.after(stream, ticket);
            Ok(commit)
        })?;
        // NOMKSTREAM on a missing stream.
        Ok(accepted.unwrap_or_else(|| Commit::new(None)))
    }

    /// XRANGE / XREVRANGE: `None` when the stream does not exist.
    pub fn range(
        &self,
        name: &[u8],
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
    ) -> Result<Option<Vec<Entry>>> {
        let mut entries = Vec::new();
        Ok(self
            .range_into(name, range, rev, limit, &mut entries)?
            .then_some(entries))
    }

    /// [`Engine::range`] into `sink`, which it clears first (see [`EntrySink`]): whether the
    /// stream exists. After an error the sink's contents are unspecified.
    pub fn range_into<S: EntrySink>(
        &self,
        name: &[u8],
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
        sink: &mut S,
    ) -> Result<bool> {
        match self.stream(name)? {
            Some(stream) => stream.range_into(range, rev, limit, sink).map(|()| true),
            None => {
                sink.clear();
                Ok(false)
            }
        }
    }

    /// XRANGE / XREVRANGE, answered only if it reads the newest entries alone (those of the
    /// active segment, cheap enough to read on an async task; a missing stream has none to
    /// read): `None` when it would reach older ones, which may be cold on disk.
    pub fn range_if_recent(
        &self,
        name: &[u8],
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
    ) -> Option<Result<Option<Vec<Entry>>>> {
        let mut entries = Vec::new();
        self.range_if_recent_into(name, range, rev, limit, &mut entries)
            .map(|exists| Ok(exists?.then_some(entries)))
    }

    /// [`Engine::range_if_recent`] into `sink` (see [`EntrySink`]): whether the stream exists,
    /// or `None` (and the sink untouched) when the read would reach older entries. After an
    /// error the sink's contents are unspecified.
    pub fn range_if_recent_into<S: EntrySink>(
        &self,
        name: &[u8],
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
        sink: &mut S,
    ) -> Option<Result<bool>> {
        match self.stream(name) {
            Ok(Some(stream)) => stream
                .range_if_recent_into(range, rev, limit, sink)
                .map(|read| read.map(|()| true)),
            Ok(None) => {
                sink.clear();
                Some(Ok(false))
            }
            Err(error) => Some(Err(error)),
        }
    }

    /// XLEN: 0 for a missing stream.
    pub fn len(&self, name: &[u8]) -> Result<u64> {
        Ok(self.stream(name)?.map_or(0, |stream| stream.len()))
    }

    /// The last-generated ID (`$`), if the stream exists.
    pub fn last_id(&self, name: &[u8]) -> Result<Option<StreamId>> {
        Ok(self.stream(name)?.map(|stream| stream.last_id()))
    }

    /// XDEL: how many of `ids` existed.
    pub fn delete(&self, name: &[u8], ids: &[StreamId]) -> Result<u64> {
        Ok(self
            .with_stream(name, false, |stream| stream.delete(ids))?
            .unwrap_or(0))
    }

    /// XTRIM: how many entries were removed.
    pub fn trim(&self, name: &[u8], spec: &TrimSpec) -> Result<u64> {
        Ok(self
            .with_stream(name, false, |stream| stream.trim(spec))?
            .unwrap_or(0))
    }

    /// XSETID.
    pub fn set_id(
        &self,
        name: &[u8],
        last_id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<()> {
        if max_deleted.is_some_and(|max| last_id < max) {
            return Err(Error::SetIdBelowMaxDeleted);
        }
        self.with_stream(name, false, |stream| {
            stream.set_id(last_id, entries_added, max_deleted)
        })?
        .ok_or(Error::NoSuchKey)
    }

    /// XINFO STREAM [FULL [COUNT n]].
    pub fn info(
        &self,
        name: &[u8],
        full_count: Option<usize>,
        limit: ReadLimit,
    ) -> Result<StreamInfo> {
        self.stream(name)?
            .ok_or(Error::NoSuchKey)?
            .info(full_count, limit)
    }

    /// Makes everything written durable (all policies).
    pub fn flush(&self) -> Result<()> {
        let mut first_error = None;
        for stream in self.inner.table.all() {
            if let Err(error) = stream.log().flush() {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A [`SyncPump`] whose `run` to spawn on a current-thread runtime: the sync rounds its tasks await
    /// are then led on that thread between batches of tasks, not by a commit thread.
    pub fn sync_pump(&self) -> SyncPump {
        self.inner.committers.pump()
    }

    /// Makes everything durable and marks the shutdown clean (so the next open trusts the
    /// stores' padding), after the writes in progress finish. The engine stays usable: a later
    /// write removes the mark again. Also done on drop. Background retention passes stop here
    /// (after the one in progress), so none can write after the mark;
    /// [`Engine::enforce_retention`] still runs a pass on demand.
    pub fn close(&self) -> Result<()> {
        self.inner.stop_enforcer();
        self.inner.shutdown()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.inner.ctx.config.data_dir
    }

    /// Open files and maps held by the handle cache (bounded by `open_files_max`).
    pub fn open_handles(&self) -> usize {
        self.inner.ctx.handles.len()
    }
}

impl Inner {
    /// Stops the background retention thread, if it runs.
    fn stop_enforcer(&self) {
        let enforcer = lock(&self.enforcer).take();
        if let Some(enforcer) = enforcer {
            enforcer.stop();
        }
    }

    /// Flushes every stream and, if all went well, writes the clean shutdown marker.
    /// Idempotent: a second call finds the marker and does nothing more.
    fn shutdown(&self) -> Result<()> {
        let _exclusive = self.ctx.exclusive();
        let mut failure = None;
        for stream in self.table.all() {
            let outcome = stream
                .log()
                .flush()
                .and_then(|()| match stream.log().failure() {
                    Some(message) => Err(Error::Poisoned(message)),
                    None => Ok(()),
                });
            if let Err(error) = outcome {
                failure.get_or_insert(error);
            }
        }
        if let Some(error) = failure {
            return Err(error);
        }
        self.data_dir.mark_clean(self.ctx.fs.as_ref())?;
        self.ctx.set_clean_marked();
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_enforcer();
        self.committers.stop();
        if let Some(syncer) = lock(&self.syncer).take() {
            syncer.stop();
        }
        if let Err(error) = self.shutdown() {
            tracing::error!("shutdown left the store to crash recovery: {error}");
        }
    }
}
