//! One stream's log: its segments, the write path, and the views readers take.
//!
//! A stream is a directory of segments (see `FORMAT.md`). The newest segment is *active*: it is
//! appended to, and its sparse index lives in memory (persisted behind the data). Older
//! segments are *sealed*: immutable, read through memory maps, summarised by their index
//! trailer. What is gone is recorded in tombstone files ([`super::tombstone`]) and held in memory
//! as one bitmap per segment that has any.
//!
//! Writers serialise on the stream's writer lock and work through a [`Txn`]: they see the
//! newest state, append, delete, trim or reset the counters, and on release the transaction is
//! committed under the fsync policy ([`super::sync`]). Readers never take the writer lock: they
//! take the published [`View`] (an `Arc` swap), which only ever shows committed data — under
//! `always`, only durable data — and read files without locks. Nothing per entry is held in
//! memory besides the tombstone bitmaps.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, Weak};

use crate::config::{Config, FsyncPolicy};
use crate::error::{Error, Result};
use crate::id::StreamId;
use crate::storage::fs::{File, FileSystem, OpenMode};
use crate::storage::handles::{Handle, HandleCache, HandleKey, HandleKind};
use crate::storage::index::{IndexPoint, Trailer, SLOT_BYTES as INDEX_SLOT_BYTES};
use crate::storage::record::{self, Field};
use crate::storage::segment::{self, FileKind, SegmentHeader, HEADER_BYTES};
use crate::storage::sync::{add_dirty, Batch, CommitQueue, Dirty, FileRef};
use crate::storage::tombstone::{DeadSet, Tombstone, TombstoneKind};

/// What all streams share: the file system, the handle cache and the configuration.
pub struct Context {
    /// Where bytes go.
    pub fs: Arc<dyn FileSystem>,
    /// Open segment files and maps, bounded.
    pub handles: HandleCache,
    /// Limits and policies.
    pub config: Config,
    next_uid: AtomicU64,
    /// The clean-shutdown marker exists: the first write after it must remove it.
    clean_marked: AtomicBool,
    clean_lock: Mutex<()>,
    /// Writes hold it shared while they run; a clean shutdown holds it alone while it syncs
    /// and writes the marker, so no write slips in between.
    gate: RwLock<()>,
}

impl Context {
    /// A context over `fs` with `config`.
    pub fn new(fs: Arc<dyn FileSystem>, config: Config) -> Context {
        Context {
            handles: HandleCache::new(config.open_files_max),
            fs,
            config,
            next_uid: AtomicU64::new(1),
            clean_marked: AtomicBool::new(false),
            clean_lock: Mutex::new(()),
            gate: RwLock::new(()),
        }
    }

    /// The file whose presence says the last shutdown was clean.
    pub fn clean_marker(&self) -> PathBuf {
        self.config.data_dir.join("CLEAN")
    }

    /// Records that the clean-shutdown marker was written.
    pub(crate) fn set_clean_marked(&self) {
        self.clean_marked.store(true, Ordering::Release);
    }

    /// Admits a write: removes the clean-shutdown marker if present, and holds off a clean
    /// shutdown until the returned guard is dropped.
    pub(crate) fn write_gate(&self) -> std::io::Result<std::sync::RwLockReadGuard<'_, ()>> {
        let guard = shared_read(&self.gate);
        self.unmark_clean()?;
        Ok(guard)
    }

    /// Excludes every write (for a clean shutdown).
    pub(crate) fn exclusive(&self) -> std::sync::RwLockWriteGuard<'_, ()> {
        write_lock(&self.gate)
    }

    /// Removes the clean-shutdown marker before the first write after a clean shutdown, so a
    /// crash after that write is recovered as one.
    pub(crate) fn unmark_clean(&self) -> std::io::Result<()> {
        if !self.clean_marked.load(Ordering::Acquire) {
            return Ok(());
        }
        let _guard = lock(&self.clean_lock);
        if self.clean_marked.load(Ordering::Acquire) {
            match self.fs.remove_file(&self.clean_marker()) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            self.fs.sync_dir(&self.config.data_dir)?;
            self.clean_marked.store(false, Ordering::Release);
        }
        Ok(())
    }

    pub(crate) fn new_uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    /// Syncs a file's data for a structural change (a segment roll, a removal, a creation),
    /// unless the fsync policy is `no`, which promises nothing on power loss and so skips
    /// every sync until close.
    pub(crate) fn sync_file(&self, file: &dyn File) -> std::io::Result<()> {
        match self.config.fsync {
            FsyncPolicy::No => Ok(()),
            _ => file.sync_data(),
        }
    }

    /// Syncs a directory's entries, under the same rule as [`Context::sync_file`].
    pub(crate) fn sync_dir(&self, path: &Path) -> std::io::Result<()> {
        match self.config.fsync {
            FsyncPolicy::No => Ok(()),
            _ => self.fs.sync_dir(path),
        }
    }
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

/// What a segment holds, as far as a view can see.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Extent {
    /// Bytes of the log that are committed.
    pub len: u64,
    /// Committed records (live or not).
    pub count: u32,
    /// ID of the first record.
    pub first_id: Option<StreamId>,
    /// ID of the last record.
    pub last_id: Option<StreamId>,
}

/// One segment as readers see it.
pub struct Segment {
    /// Its number.
    pub id: u64,
    /// Its header.
    pub header: SegmentHeader,
    /// Which of its records are gone, as of the view holding this version of the segment.
    pub(crate) dead: Arc<DeadSet>,
    pub(crate) body: Body,
}

#[derive(Clone)]
pub(crate) enum Body {
    Sealed { extent: Extent, points: usize },
    Active(Arc<ActiveShared>),
}

/// The active segment's in-memory index, shared between the writer and readers.
pub(crate) struct ActiveShared {
    pub(crate) points: RwLock<Vec<IndexPoint>>,
    persist: Mutex<Persist>,
}

struct Persist {
    /// Points already written to the index file.
    on_disk: usize,
    /// The segment was sealed: its index file is complete.
    sealed: bool,
}

impl ActiveShared {
    pub(crate) fn new(points: Vec<IndexPoint>, on_disk: usize) -> ActiveShared {
        ActiveShared {
            points: RwLock::new(points),
            persist: Mutex::new(Persist {
                on_disk,
                sealed: false,
            }),
        }
    }
}

impl Segment {
    /// Live records.
    pub(crate) fn live(&self, extent: &Extent) -> u32 {
        extent.count - self.dead.dead()
    }

    pub(crate) fn is_active(&self) -> bool {
        matches!(self.body, Body::Active(_))
    }
}

/// A consistent snapshot of a stream for readers: which segments exist, how much of the active
/// one is committed, and the counters at that instant.
pub struct View {
    /// Increases with every committed write.
    pub seq: u64,
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) active: Extent,
    /// The counters.
    pub counters: Counters,
}

impl View {
    /// The extent of `segment` in this view.
    pub(crate) fn extent(&self, segment: &Segment) -> Extent {
        match &segment.body {
            Body::Sealed { extent, .. } => *extent,
            Body::Active(_) => self.active,
        }
    }

    /// Number of segments.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Number of sparse index points across segments.
    pub fn index_points(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match &segment.body {
                Body::Sealed { points, .. } => *points,
                Body::Active(shared) => shared_read(&shared.points).len(),
            })
            .sum()
    }
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

/// The largest encoding buffer a stream keeps between appends; a bigger batch's buffer is
/// freed after use, so one large batch does not pin its size in memory for good.
const BUFFER_KEPT_BYTES_MAX: usize = 1 << 20;

/// Checks a batch against the size limits: each entry within `entry_bytes_max`, all of them
/// within one segment. Returns the batch's encoded size.
pub fn check_batch_size<'a>(
    config: &Config,
    batch: impl IntoIterator<Item = &'a [Field]>,
) -> Result<u64> {
    let mut total = 0u64;
    for fields in batch {
        let size = record::encoded_len(fields);
        if size > config.entry_bytes_max as usize {
            return Err(Error::EntryTooLarge {
                size,
                max: config.entry_bytes_max,
            });
        }
        total += size as u64;
    }
    let room = config.segment_bytes_max - HEADER_BYTES as u64;
    if total > room {
        return Err(Error::BatchTooLarge {
            size: total,
            max: room,
        });
    }
    Ok(total)
}

/// Notified every time a new view is published.
pub type Listener = Arc<dyn Fn() + Send + Sync>;

pub(crate) struct Active {
    pub(crate) id: u64,
    pub(crate) header: SegmentHeader,
    pub(crate) shared: Arc<ActiveShared>,
    pub(crate) extent: Extent,
    pub(crate) last_point: Option<u64>,
}

pub(crate) struct Writer {
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) active: Active,
    pub(crate) counters: Counters,
    pub(crate) seq: u64,
    pub(crate) failure: Option<String>,
    buffer: Vec<u8>,
    /// The active log's handle as last obtained from the cache: a weak reference, so the
    /// cache alone decides how long it stays open, and the append path skips the cache lookup
    /// while it does.
    log_file: Option<(u64, Weak<dyn File>)>,
    /// A transaction's list of files to sync, kept between transactions for its allocation.
    dirty: Vec<Dirty>,
}

impl Writer {
    pub(crate) fn new(segments: Vec<Arc<Segment>>, active: Active, counters: Counters) -> Writer {
        Writer {
            segments: Arc::new(segments),
            active,
            counters,
            seq: 0,
            failure: None,
            buffer: Vec::new(),
            log_file: None,
            dirty: Vec::new(),
        }
    }

    fn view(&self) -> Arc<View> {
        Arc::new(View {
            seq: self.seq,
            segments: Arc::clone(&self.segments),
            active: self.active.extent,
            counters: self.counters,
        })
    }
}

/// One stream's log.
pub struct StreamLog {
    pub(crate) ctx: Arc<Context>,
    pub(crate) uid: u64,
    pub(crate) dir: PathBuf,
    /// Set by `mark_dropped`: the directory is about to go (and its path may be reused by a
    /// stream created under the same name), so nothing may open files by path any more and
    /// later transactions fail with [`Error::Dropped`]. Stored under the writer lock.
    dropped: AtomicBool,
    writer: Mutex<Writer>,
    published: RwLock<Arc<View>>,
    commits: CommitQueue<Arc<View>>,
    listener: Listener,
}

pub(crate) fn shared_read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poison| poison.into_inner())
}

fn write_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poison| poison.into_inner())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

impl StreamLog {
    pub(crate) fn assemble(
        ctx: Arc<Context>,
        uid: u64,
        dir: PathBuf,
        writer: Writer,
        listener: Listener,
    ) -> StreamLog {
        let view = writer.view();
        StreamLog {
            ctx,
            uid,
            dir,
            commits: CommitQueue::new(writer.seq),
            dropped: AtomicBool::new(false),
            writer: Mutex::new(writer),
            published: RwLock::new(view),
            listener,
        }
    }

    /// The newest committed view.
    pub fn view(&self) -> Arc<View> {
        Arc::clone(&shared_read(&self.published))
    }

    /// The stream's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn publish(&self, view: Arc<View>) {
        {
            let mut published = write_lock(&self.published);
            if view.seq <= published.seq {
                return;
            }
            *published = view;
        }
        (self.listener)();
    }

    pub(crate) fn path(&self, segment: u64, kind: FileKind) -> PathBuf {
        self.dir.join(segment::file_name(segment, kind))
    }

    pub(crate) fn key(&self, segment: u64, kind: HandleKind) -> HandleKey {
        HandleKey {
            stream: self.uid,
            segment,
            kind,
        }
    }

    /// The active segment's log or index file, open for writing, through the handle cache.
    pub(crate) fn writable(&self, segment: u64, kind: FileKind) -> Result<Arc<dyn File>> {
        let handle_kind = match kind {
            FileKind::Log => HandleKind::LogFile,
            _ => HandleKind::IndexFile,
        };
        let handle = self
            .ctx
            .handles
            .get_or_open(self.key(segment, handle_kind), || {
                self.ctx
                    .fs
                    .open(&self.path(segment, kind), OpenMode::Create)
                    .map(Handle::File)
                    .map_err(Error::Io)
            })?;
        match handle {
            Handle::File(file) => Ok(file),
            Handle::Map(_) => Err(Error::corrupt(
                self.path(segment, kind),
                "handle cache returned a map for a file",
            )),
        }
    }

    /// Runs a write transaction and commits it under the fsync policy. Returns once the
    /// transaction's effects are committed (durable, under `always`) and visible.
    pub fn write<R>(&self, work: impl FnOnce(&mut Txn<'_>) -> Result<R>) -> Result<R> {
        // Held until the write is committed, so a clean shutdown waits for it.
        let _gate = self.ctx.write_gate()?;
        let (outcome, pending) = self.write_deferred_locked(work)?;
        if let Some(seq) = pending {
            self.commits
                .wait_durable(seq, &|batch| self.sync_round(batch))
                .map_err(Error::Poisoned)?;
        }
        outcome
    }

    /// Runs a write transaction like [`StreamLog::write`] but does not wait for it to be
    /// durable: returns its outcome and, under `always`, the sequence number to await with
    /// [`StreamLog::poll_durable`] before acknowledging it. (Under the other policies it is
    /// already committed.) A clean shutdown syncs whatever such writes left pending.
    pub fn write_deferred<R>(
        &self,
        work: impl FnOnce(&mut Txn<'_>) -> Result<R>,
    ) -> Result<(Result<R>, Option<u64>)> {
        let _gate = self.ctx.write_gate()?;
        self.write_deferred_locked(work)
    }

    /// Whether write `seq` is durable (see [`CommitQueue::poll_durable`]).
    pub fn poll_durable(&self, seq: u64, waker: &std::task::Waker) -> std::task::Poll<Result<()>> {
        self.commits
            .poll_durable(seq, waker)
            .map(|outcome| outcome.map_err(Error::Poisoned))
    }

    /// Leads a sync round if one is needed and none is running (for committer threads).
    pub fn try_flush(&self) {
        self.commits.try_lead(&|batch| self.sync_round(batch));
    }

    /// Sets what asks a committer thread for a sync round on behalf of waiting tasks.
    pub fn set_round_scheduler(&self, scheduler: Box<dyn Fn() + Send + Sync>) {
        self.commits.set_scheduler(scheduler);
    }

    fn write_deferred_locked<R>(
        &self,
        work: impl FnOnce(&mut Txn<'_>) -> Result<R>,
    ) -> Result<(Result<R>, Option<u64>)> {
        let mut writer = lock(&self.writer);
        if self.dropped.load(Ordering::Acquire) {
            return Err(Error::Dropped);
        }
        if let Some(failure) = writer.failure.clone().or_else(|| self.commits.failure()) {
            return Err(Error::Poisoned(failure));
        }
        let dirty = std::mem::take(&mut writer.dirty);
        let mut txn = Txn {
            log: self,
            writer: &mut writer,
            dirty,
            changed: false,
            touched: false,
        };
        let outcome = work(&mut txn);
        let (changed, touched, mut dirty) =
            (txn.changed, txn.touched, std::mem::take(&mut txn.dirty));
        if let (Err(error), true) = (&outcome, touched) {
            // A step that writes to disk failed: what is on disk is no longer known, so no
            // later write may be acknowledged on top of it. (A failed read changes nothing.)
            writer.failure = Some(error.to_string());
        }
        let always = self.ctx.config.fsync == FsyncPolicy::Always;
        if !changed {
            dirty.clear();
            writer.dirty = dirty;
            // Under always, what this call saw (say, that an ID was already deleted) may rest
            // on writes not yet durable: it is answered only once they are.
            return Ok((outcome, always.then_some(writer.seq)));
        }
        writer.seq += 1;
        let seq = writer.seq;
        let view = writer.view();
        if always {
            self.commits.enqueue(seq, view, &mut dirty);
            writer.dirty = dirty;
            return Ok((outcome, Some(seq)));
        }
        // Visible at once; durable at the next flush (the everysec tick, a segment roll, or
        // close). Index points wait for that sync too, so a point on disk never vouches for
        // data that might not be.
        self.commits.enqueue(seq, Arc::clone(&view), &mut dirty);
        writer.dirty = dirty;
        self.publish(view);
        Ok((outcome, None))
    }

    /// One group-commit round: sync what the batch dirtied, persist the index points that are
    /// now safe, publish.
    fn sync_round(&self, batch: &mut Batch<Arc<View>>) -> std::result::Result<(), String> {
        for item in &batch.dirty {
            let outcome = match item {
                Dirty::File {
                    segment,
                    kind,
                    file,
                } => match file.get() {
                    Some(file) => file.sync_data(),
                    None => self.reopen_and_sync(*segment, *kind),
                },
                Dirty::Dir(path) => self.ctx.fs.sync_dir(path),
            };
            outcome.map_err(|error| format!("sync failed: {error}"))?;
        }
        self.persist_points(&batch.view)
            .map_err(|error| format!("index write failed: {error}"))?;
        self.publish(Arc::clone(&batch.view));
        Ok(())
    }

    /// Syncs a file whose handle was let go since it was written. A file that no longer exists
    /// (its segment was trimmed or its stream dropped) has nothing left to sync.
    fn reopen_and_sync(&self, segment: u64, kind: FileKind) -> std::io::Result<()> {
        let opened = match kind {
            FileKind::Deletions => self
                .ctx
                .fs
                .open(&self.path(segment, kind), OpenMode::ReadWrite),
            FileKind::Log | FileKind::Index => {
                let handle_kind = match kind {
                    FileKind::Log => HandleKind::LogFile,
                    _ => HandleKind::IndexFile,
                };
                self.ctx
                    .handles
                    .get_or_open(self.key(segment, handle_kind), || {
                        self.ctx
                            .fs
                            .open(&self.path(segment, kind), OpenMode::ReadWrite)
                            .map(Handle::File)
                    })
                    .and_then(|handle| match handle {
                        Handle::File(file) => Ok(file),
                        Handle::Map(_) => Err(std::io::Error::other("expected a file handle")),
                    })
            }
        };
        match opened {
            Ok(file) => file.sync_data(),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Syncs everything written but not yet durable (the `everysec` tick, and shutdown).
    pub fn flush(&self) -> Result<()> {
        self.commits
            .flush(&|batch| self.sync_round(batch))
            .map_err(Error::Poisoned)
    }

    /// Appends the active segment's index points that point below the view's committed length
    /// to its index file. Called only once that length is durable, so a point that reaches the
    /// disk always points into durable data; recovery re-validates the log only after the last
    /// point. Not synced itself: a lost point only means a longer scan at recovery.
    fn persist_points(&self, view: &View) -> Result<()> {
        if self.dropped.load(Ordering::Acquire) {
            return Ok(());
        }
        let Some(segment) = view.segments.last() else {
            return Ok(());
        };
        let Body::Active(shared) = &segment.body else {
            return Ok(());
        };
        let mut persist = lock(&shared.persist);
        if persist.sealed {
            return Ok(());
        }
        let pending: Vec<u8> = {
            let points = shared_read(&shared.points);
            points[persist.on_disk.min(points.len())..]
                .iter()
                .take_while(|point| u64::from(point.offset) < view.active.len)
                .flat_map(|point| point.encode())
                .collect()
        };
        if pending.is_empty() {
            return Ok(());
        }
        let file = self.writable(segment.id, FileKind::Index)?;
        file.write_all_at(&pending, (persist.on_disk * INDEX_SLOT_BYTES) as u64)?;
        persist.on_disk += pending.len() / INDEX_SLOT_BYTES;
        Ok(())
    }

    /// Marks the stream dropped: later transactions fail with [`Error::Dropped`]. Waits for
    /// the transaction in progress, if any.
    pub fn mark_dropped(&self) {
        {
            // Under the writer lock: the transaction in progress finishes first, and every
            // later one sees the flag.
            let _writer = lock(&self.writer);
            self.dropped.store(true, Ordering::Release);
        }
        // Let a sync round in progress finish before the directory moves.
        if let Err(error) = self.flush() {
            tracing::warn!("sync before dropping a stream failed: {error}");
        }
    }

    /// Whether the stream failed and refuses writes.
    pub fn failure(&self) -> Option<String> {
        lock(&self.writer)
            .failure
            .clone()
            .or_else(|| self.commits.failure())
    }
}

/// A write transaction on one stream: holds its writer lock. Operations validate their input
/// before changing anything, so an error other than I/O leaves the stream as it was.
pub struct Txn<'a> {
    log: &'a StreamLog,
    writer: &'a mut Writer,
    dirty: Vec<Dirty>,
    changed: bool,
    /// A step that writes to disk has begun (so a failure leaves the disk in doubt).
    touched: bool,
}

impl Txn<'_> {
    /// The counters, including this transaction's changes so far.
    pub fn counters(&self) -> Counters {
        self.writer.counters
    }

    /// A view of the newest state (including writes not yet durable), for reads the
    /// transaction's decisions depend on.
    pub fn view(&self) -> Arc<View> {
        self.writer.view()
    }

    /// The log this transaction writes to.
    pub fn log(&self) -> &StreamLog {
        self.log
    }

    fn config(&self) -> &Config {
        &self.log.ctx.config
    }

    /// Appends entries as one atomic batch. IDs must be strictly increasing and above the
    /// stream's last ID (the caller resolved them); sizes are checked here.
    pub fn append(&mut self, entries: &[(StreamId, &[Field])]) -> Result<()> {
        let Some(&(last, _)) = entries.last() else {
            return Ok(());
        };
        let mut previous = self.writer.counters.last_id;
        for (id, _) in entries {
            assert!(
                *id > previous,
                "append IDs must increase: {id} after {previous}"
            );
            previous = *id;
        }
        let total = check_batch_size(self.config(), entries.iter().map(|(_, fields)| *fields))?;
        if self.writer.active.extent.len + total > self.config().segment_bytes_max
            && self.writer.active.extent.count > 0
        {
            let header = self.next_header();
            self.roll(header)?;
        }

        let interval = self.config().index_interval_bytes;
        let active = &mut self.writer.active;
        let mut buffer = std::mem::take(&mut self.writer.buffer);
        buffer.clear();
        let mut new_points = Vec::new();
        let mut offset = active.extent.len;
        for (position, (id, fields)) in entries.iter().enumerate() {
            if segment::wants_point(offset, active.last_point, interval) {
                new_points.push(IndexPoint {
                    id: *id,
                    offset: offset as u32,
                    ordinal: active.extent.count + position as u32,
                });
                active.last_point = Some(offset);
            }
            let before = buffer.len();
            record::encode(&mut buffer, *id, fields, position + 1 == entries.len());
            offset += (buffer.len() - before) as u64;
        }
        let cached = self
            .writer
            .log_file
            .as_ref()
            .filter(|(segment, _)| *segment == self.writer.active.id)
            .and_then(|(_, file)| file.upgrade());
        let file = match cached {
            Some(file) => file,
            None => {
                let file = self.log.writable(self.writer.active.id, FileKind::Log)?;
                self.writer.log_file = Some((self.writer.active.id, Arc::downgrade(&file)));
                file
            }
        };
        self.touched = true;
        let active = &mut self.writer.active;
        let written = file.write_all_at(&buffer, active.extent.len);
        if buffer.capacity() <= BUFFER_KEPT_BYTES_MAX {
            self.writer.buffer = buffer;
        }
        written?;

        let active = &mut self.writer.active;
        if !new_points.is_empty() {
            write_lock(&active.shared.points).extend(new_points);
        }
        active.extent.len = offset;
        active.extent.count += entries.len() as u32;
        active.extent.first_id.get_or_insert(entries[0].0);
        active.extent.last_id = Some(last);
        let counters = &mut self.writer.counters;
        counters.length += entries.len() as u64;
        counters.entries_added += entries.len() as u64;
        counters.last_id = last;
        let hold = self.log.ctx.config.fsync == FsyncPolicy::Always;
        add_dirty(
            &mut self.dirty,
            Dirty::File {
                segment: active.id,
                kind: FileKind::Log,
                file: FileRef::new(file, hold),
            },
        );
        self.changed = true;
        Ok(())
    }

    /// The header a new active segment starts with: the counters as they stand.
    fn next_header(&self) -> SegmentHeader {
        SegmentHeader {
            segment_id: self.writer.active.id + 1,
            entries_added_before: self.writer.counters.entries_added,
            last_id_before: self.writer.counters.last_id,
            max_deleted_before: self.writer.counters.max_deleted,
        }
    }

    /// Seals the active segment and starts a new one with `header`. Everything written so far
    /// is synced first, and the new segment exists durably before this returns.
    fn roll(&mut self, header: SegmentHeader) -> Result<()> {
        // The new header carries the counters as they stand, some set by writes still in the
        // commit queue (an XDEL's max-deleted-entry-id): those become durable first.
        self.make_durable()?;
        self.touched = true;
        let log = self.log;
        let old_id = self.writer.active.id;
        let old_extent = self.writer.active.extent;
        let old_shared = Arc::clone(&self.writer.active.shared);

        // 1. Seal the old segment: cut to its records (dropping the preallocated padding) and
        //    durable, then its complete index and trailer.
        let old_log = log.writable(old_id, FileKind::Log)?;
        old_log.set_len(old_extent.len)?;
        log.ctx.sync_file(old_log.as_ref())?;
        let points: Vec<IndexPoint> = shared_read(&old_shared.points).clone();
        {
            let mut persist = lock(&old_shared.persist);
            let mut bytes = Vec::with_capacity((points.len() + 1) * INDEX_SLOT_BYTES);
            for point in &points {
                bytes.extend_from_slice(&point.encode());
            }
            bytes.extend_from_slice(
                &Trailer {
                    last_id: old_extent.last_id.unwrap_or_default(),
                    log_len: old_extent.len as u32,
                    count: old_extent.count,
                }
                .encode(),
            );
            let index = log.writable(old_id, FileKind::Index)?;
            index.write_all_at(&bytes, 0)?;
            index.set_len(bytes.len() as u64)?;
            log.ctx.sync_file(index.as_ref())?;
            persist.on_disk = points.len();
            persist.sealed = true;
        }

        // 2. Create the new segment durably.
        let new_id = header.segment_id;
        let new_log = log.writable(new_id, FileKind::Log)?;
        new_log.set_len(0)?;
        new_log.write_all_at(&header.encode(), 0)?;
        new_log.set_len(log.ctx.config.segment_bytes_max)?;
        log.ctx.sync_file(new_log.as_ref())?;
        log.ctx.sync_dir(&log.dir)?;

        // 3. Swap it in. An old segment with no records is useless: remove it.
        let old_dead = self
            .writer
            .segments
            .last()
            .map(|segment| Arc::clone(&segment.dead))
            .unwrap_or_default();
        let mut segments: Vec<Arc<Segment>> = self.writer.segments.as_ref().clone();
        segments.pop();
        if old_extent.count > 0 {
            segments.push(Arc::new(Segment {
                id: old_id,
                header: self.writer.active.header,
                dead: old_dead,
                body: Body::Sealed {
                    extent: old_extent,
                    points: points.len(),
                },
            }));
        }
        let shared = Arc::new(ActiveShared::new(Vec::new(), 0));
        segments.push(Arc::new(Segment {
            id: new_id,
            header,
            dead: Arc::default(),
            body: Body::Active(Arc::clone(&shared)),
        }));
        self.writer.segments = Arc::new(segments);
        self.writer.active = Active {
            id: new_id,
            header,
            shared,
            extent: Extent {
                len: HEADER_BYTES as u64,
                ..Extent::default()
            },
            last_point: None,
        };
        self.dirty.retain(|item| {
            !matches!(item, Dirty::File { segment, kind: FileKind::Log, .. } if *segment == old_id)
        });
        if old_extent.count == 0 {
            self.remove_segment_files(old_id)?;
            log.ctx.sync_dir(&log.dir)?;
        }
        self.changed = true;
        Ok(())
    }

    fn remove_segment_files(&mut self, segment: u64) -> Result<()> {
        let log = self.log;
        log.ctx.handles.evict_segment(log.uid, segment);
        let mut paths: Vec<PathBuf> = [FileKind::Log, FileKind::Index, FileKind::Deletions]
            .into_iter()
            .map(|kind| log.path(segment, kind))
            .collect();
        // Bytes recovery once cut off this segment's log go with it.
        let dropped_prefix = format!("{}.dropped-", segment::file_name(segment, FileKind::Log));
        for name in log.ctx.fs.list_dir(&log.dir)? {
            if name
                .to_str()
                .is_some_and(|name| name.starts_with(&dropped_prefix))
            {
                paths.push(log.dir.join(name));
            }
        }
        for path in paths {
            match log.ctx.fs.remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Sets the counters (XSETID). The caller checked Redis's rules. Starts a new segment whose
    /// header carries the new values, so they are durable without rewriting anything.
    pub fn reset_counters(
        &mut self,
        last_id: StreamId,
        entries_added: u64,
        max_deleted: StreamId,
    ) -> Result<()> {
        let header = SegmentHeader {
            segment_id: self.writer.active.id + 1,
            entries_added_before: entries_added,
            last_id_before: last_id,
            max_deleted_before: max_deleted,
        };
        self.roll(header)?;
        let counters = &mut self.writer.counters;
        counters.last_id = last_id;
        counters.entries_added = entries_added;
        counters.max_deleted = max_deleted;
        Ok(())
    }

    /// Makes every write so far durable — earlier transactions' (through the commit queue)
    /// and this one's appends — before a step that must not outlive them. Not under `no`.
    fn make_durable(&mut self) -> Result<()> {
        if self.log.ctx.config.fsync == FsyncPolicy::No {
            return Ok(());
        }
        self.touched = true;
        self.log.flush()?;
        let log = self.log.writable(self.writer.active.id, FileKind::Log)?;
        log.sync_data()?;
        Ok(())
    }

    /// The current version of segment `id`.
    fn segment(&self, id: u64) -> Option<Arc<Segment>> {
        self.writer
            .segments
            .iter()
            .find(|segment| segment.id == id)
            .cloned()
    }

    /// Replaces segment `id`'s dead set with `dead` in a new version of the segment list; views
    /// taken before keep seeing the old one.
    fn replace_dead(&mut self, id: u64, dead: DeadSet) {
        let dead = Arc::new(dead);
        let segments: Vec<Arc<Segment>> = self
            .writer
            .segments
            .iter()
            .map(|segment| {
                if segment.id == id {
                    Arc::new(Segment {
                        id: segment.id,
                        header: segment.header,
                        dead: Arc::clone(&dead),
                        body: segment.body.clone(),
                    })
                } else {
                    Arc::clone(segment)
                }
            })
            .collect();
        self.writer.segments = Arc::new(segments);
    }

    /// Rewrites a segment's tombstone file with the same meaning in the fewest slots. Repeated
    /// head trims (XADD … MAXLEN = n) append a slot each; this keeps the file proportional to
    /// what it describes. What it describes is made durable first, so the rewritten slots
    /// depend on nothing.
    fn compact_tombstones(&mut self, id: u64, dead: &mut DeadSet) -> Result<()> {
        self.make_durable()?;
        self.touched = true;
        let path = self.log.path(id, FileKind::Deletions);
        let compacted = dead.compacted(self.writer.active.id, self.writer.counters.max_deleted);
        let bytes: Vec<u8> = compacted.iter().flat_map(Tombstone::encode).collect();
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let rewritten = self.log.ctx.fs.open(&temporary, OpenMode::Create)?;
        rewritten.set_len(0)?;
        rewritten.write_all_at(&bytes, 0)?;
        // The rename must not become durable before the new content.
        self.log.ctx.sync_file(rewritten.as_ref())?;
        self.log.ctx.fs.rename(&temporary, &path)?;
        self.log.ctx.sync_dir(&self.log.dir)?;
        dead.set_slots(compacted.len() as u32);
        Ok(())
    }

    /// Appends tombstones to segment `id`'s tombstone file, and marks the records gone in a new
    /// version of the segment (visible to readers once this transaction is committed).
    fn write_tombstones(&mut self, id: u64, slots: &[Tombstone]) -> Result<()> {
        if slots.is_empty() {
            return Ok(());
        }
        let Some(segment) = self.segment(id) else {
            return Err(Error::corrupt(&self.log.dir, format!("no segment {id}")));
        };
        let mut dead = (*segment.dead).clone();
        if dead.wants_compaction() {
            self.compact_tombstones(id, &mut dead)?;
        }
        self.touched = true;
        let path = self.log.path(id, FileKind::Deletions);
        let file = self.log.ctx.fs.open(&path, OpenMode::Create)?;
        let end = file.len()?;
        let bytes: Vec<u8> = slots.iter().flat_map(|slot| slot.encode()).collect();
        file.write_all_at(&bytes, end)?;
        if end == 0 {
            add_dirty(&mut self.dirty, Dirty::Dir(self.log.dir.clone()));
        }
        dead.apply(slots);
        dead.add_slots(slots.len() as u32);
        self.replace_dead(id, dead);
        let hold = self.log.ctx.config.fsync == FsyncPolicy::Always;
        // Replace any earlier entry for this file: a compaction may have replaced the file.
        self.dirty.retain(|item| {
            !matches!(item, Dirty::File { segment, kind: FileKind::Deletions, .. } if *segment == id)
        });
        add_dirty(
            &mut self.dirty,
            Dirty::File {
                segment: id,
                kind: FileKind::Deletions,
                file: FileRef::new(file, hold),
            },
        );
        self.changed = true;
        Ok(())
    }

    /// XDEL: deletes the entries with these IDs; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> Result<u64> {
        let view = self.view();
        let epoch = self.writer.active.id;
        let requires = self.writer.active.extent.count;
        let mut max_deleted = self.writer.counters.max_deleted;
        // Per segment (by position in the view), the tombstones to write.
        let mut planned: Vec<(usize, Vec<Tombstone>)> = Vec::new();
        let mut deleted = 0u64;
        for &id in ids {
            let Some((position, ordinal)) = self.log.find_live(&view, id, &planned)? else {
                continue;
            };
            max_deleted = max_deleted.max(id);
            let slot = Tombstone {
                kind: TombstoneKind::Delete,
                ordinal,
                epoch,
                max_deleted,
                requires,
            };
            match planned.iter_mut().find(|(at, _)| *at == position) {
                Some((_, slots)) => slots.push(slot),
                None => planned.push((position, vec![slot])),
            }
            deleted += 1;
        }
        for (position, slots) in planned {
            self.write_tombstones(view.segments[position].id, &slots)?;
        }
        self.writer.counters.length -= deleted;
        self.writer.counters.max_deleted = max_deleted;
        // Sealed segments with nothing left alive are reclaimed at once, as Redis frees a
        // node whose entries are all deleted.
        let current = self.view();
        let empty: Vec<Arc<Segment>> = current
            .segments
            .iter()
            .filter(|segment| !segment.is_active() && segment.live(&current.extent(segment)) == 0)
            .cloned()
            .collect();
        if deleted > 0 && !empty.is_empty() {
            self.remove_whole_segments(&empty)?;
        }
        Ok(deleted)
    }

    /// XTRIM (and XADD's trimming): removes old entries by `spec`; returns how many.
    pub fn trim(&mut self, spec: &TrimSpec) -> Result<u64> {
        let view = self.view();
        let mut length = self.writer.counters.length;
        let limit = if spec.approx && spec.limit > 0 {
            spec.limit
        } else {
            u64::MAX
        };
        let mut removed = 0u64;
        let mut whole = Vec::new();
        let mut partial_from = None;
        for (position, segment) in view.segments.iter().enumerate() {
            let extent = view.extent(segment);
            let live = u64::from(segment.live(&extent));
            let removable = !segment.is_active()
                && (live == 0
                    || match spec.strategy {
                        TrimStrategy::MaxLen(max) => length - live >= max,
                        TrimStrategy::MinId(min) => extent.last_id.is_none_or(|last| last < min),
                    });
            let done = match spec.strategy {
                TrimStrategy::MaxLen(max) => length <= max,
                TrimStrategy::MinId(_) => false,
            };
            if done {
                break;
            }
            if !removable {
                partial_from = Some(position);
                break;
            }
            if removed + live > limit {
                break;
            }
            removed += live;
            length -= live;
            whole.push(Arc::clone(segment));
        }

        if !whole.is_empty() {
            self.remove_whole_segments(&whole)?;
        }
        if let (false, Some(start)) = (spec.approx, partial_from) {
            for segment in view.segments[start..].iter() {
                let extent = view.extent(segment);
                let killed = self.trim_within(segment, &extent, spec.strategy, length)?;
                removed += killed;
                length -= killed;
                let exhausted = self
                    .segment(segment.id)
                    .is_some_and(|current| current.live(&extent) == 0);
                if !(exhausted && matches!(spec.strategy, TrimStrategy::MinId(_))) {
                    break;
                }
            }
        }
        self.writer.counters.length = length;
        Ok(removed)
    }

    /// Exact trimming inside one segment; returns how many live entries it removed.
    fn trim_within(
        &mut self,
        segment: &Arc<Segment>,
        extent: &Extent,
        strategy: TrimStrategy,
        length: u64,
    ) -> Result<u64> {
        let (end, killed) = {
            let dead = &segment.dead;
            match strategy {
                TrimStrategy::MaxLen(max) => {
                    let mut excess = length.saturating_sub(max);
                    if excess == 0 {
                        return Ok(0);
                    }
                    let mut end = dead.prefix();
                    let mut killed = 0u64;
                    while end < extent.count && excess > 0 {
                        if !dead.is_dead(end) {
                            excess -= 1;
                            killed += 1;
                        }
                        end += 1;
                    }
                    (end, killed)
                }
                TrimStrategy::MinId(min) => {
                    let end = self.log.first_ordinal_at_or_after(segment, extent, min)?;
                    (end, u64::from(dead.live_below(end)))
                }
            }
        };
        if killed == 0 {
            return Ok(0);
        }
        let slot = Tombstone {
            kind: TombstoneKind::Trim,
            ordinal: end,
            epoch: self.writer.active.id,
            max_deleted: self.writer.counters.max_deleted,
            requires: self.writer.active.extent.count,
        };
        self.write_tombstones(segment.id, &[slot])?;
        Ok(killed)
    }

    /// Removes sealed segments. First a checkpoint of max-deleted-entry-id goes durably into the
    /// active segment's tombstone file (the removed files may have carried the newest value),
    /// then the files go, durably, before anything else in the transaction can become durable:
    /// a trim's exact part must never survive a crash that its whole-segment part did not, or
    /// the stream would have a hole instead of a shorter head.
    fn remove_whole_segments(&mut self, doomed: &[Arc<Segment>]) -> Result<()> {
        let active = self
            .writer
            .segments
            .last()
            .map(Arc::clone)
            .ok_or_else(|| Error::corrupt(&self.log.dir, "stream has no segments"))?;
        // Everything this operation could depend on becomes durable first: removing files
        // cannot be undone by a power cut the way a lost append can.
        self.make_durable()?;
        self.touched = true;
        let checkpoint = Tombstone {
            kind: TombstoneKind::Checkpoint,
            ordinal: 0,
            epoch: self.writer.active.id,
            max_deleted: self.writer.counters.max_deleted,
            requires: 0,
        };
        self.write_tombstones(active.id, &[checkpoint])?;
        let path = self.log.path(active.id, FileKind::Deletions);
        let checkpointed = self.log.ctx.fs.open(&path, OpenMode::ReadWrite)?;
        self.log.ctx.sync_file(checkpointed.as_ref())?;
        self.log.ctx.sync_dir(&self.log.dir)?;
        for segment in doomed {
            self.remove_segment_files(segment.id)?;
        }
        self.log.ctx.sync_dir(&self.log.dir)?;
        let remaining: Vec<Arc<Segment>> = self
            .writer
            .segments
            .iter()
            .filter(|segment| !doomed.iter().any(|gone| gone.id == segment.id))
            .cloned()
            .collect();
        self.writer.segments = Arc::new(remaining);
        self.changed = true;
        Ok(())
    }
}
