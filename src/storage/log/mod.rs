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
//!
//! The parts, one idea each:
//! - `context`: what all streams share (file system, handle cache, configuration, the
//!   clean-shutdown gate);
//! - `view`: the immutable snapshot readers take;
//! - `txn`: the writer's state and the transaction (append, roll, counters);
//! - `remove`: what a transaction removes (XDEL, XTRIM) through tombstones;
//! - `groups`: the group journal a transaction appends to, and its compaction;
//! - `unwritten`: under `always`, the appends (to the log, to the group journal) a sync round
//!   writes to the file in one go;
//! - `read`: ranges and lookups through a view;
//! - `open`: opening a log from its files, and `recover`: checking and repairing one
//!   segment on the way;
//! - this module: the log itself, and the commit of a transaction under the fsync policy.

mod context;
mod groups;
mod open;
mod read;
mod recover;
mod remove;
mod txn;
mod unwritten;
mod view;

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::config::FsyncPolicy;
use crate::error::{Error, Result};
use crate::lock::{lock, read, write};
use crate::storage::fs::{File, OpenMode};
use crate::storage::handles::{Handle, HandleKey, HandleKind};
use crate::storage::index::SLOT_BYTES as INDEX_SLOT_BYTES;
use crate::storage::segment::{self, FileKind};
use crate::storage::sync::{Batch, CommitQueue, Dirty, Round};

pub use context::Context;

/// How the handle cache keeps a file of this kind open; `None` for tombstone files, which are
/// opened for each write.
fn cached_kind(kind: FileKind) -> Option<HandleKind> {
    match kind {
        FileKind::Log => Some(HandleKind::LogFile),
        FileKind::Index => Some(HandleKind::IndexFile),
        FileKind::Journal => Some(HandleKind::JournalFile),
        FileKind::Deletions => None,
    }
}
pub use open::{create_segment_file, Opened};
use txn::Writer;
pub use txn::{check_batch_size, Txn};
use unwritten::Unwritten;
use view::Body;
pub use view::{SegmentFacts, View};

/// Notified every time a new view is published.
pub type Listener = Arc<dyn Fn() + Send + Sync>;

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
    /// Under `always`, appends not yet written to the active log: the next round writes them.
    unwritten: Unwritten,
    /// The same for the group journal, written by its queue's next round.
    journal_unwritten: Unwritten,
    published: RwLock<Arc<View>>,
    /// Group commit of the segment files (and tombstones, directories) under every policy.
    commits: CommitQueue<Arc<View>>,
    /// Group commit of the group journal under `always`, apart from the log's, so a group
    /// change waits for the journal's sync alone and an append for the log's alone (see
    /// [`Ticket`]). Under the other policies the journal goes with the log.
    journal_commits: CommitQueue<()>,
    /// Set by a journal change that can end a blocked reader's wait (see
    /// [`Txn::announce_group_change`]); the journal round that finds it set wakes the
    /// stream's listeners. Acknowledgements and deliveries, most of the journal, wake nobody.
    journal_announce: AtomicBool,
    listener: Listener,
}

/// The two commit queues of a stream (see [`StreamLog::try_flush`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitQueueKind {
    /// The segment files'.
    Log,
    /// The group journal's.
    Journal,
}

/// What a write must await before it is acknowledged under `always`: its sequence number in
/// the log's commit queue, in the group journal's, or both; empty when nothing need be.
///
/// The two are synced independently, which is safe because under `always` a group record can
/// only name entries a reader saw, and readers see only durable entries: nothing written to
/// the journal depends on log data that is not yet durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ticket {
    log: Option<u64>,
    journal: Option<u64>,
}

impl Ticket {
    /// Whether there is nothing to await.
    pub fn is_empty(&self) -> bool {
        self.log.is_none() && self.journal.is_none()
    }
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
            journal_commits: CommitQueue::new(writer.seq),
            dropped: AtomicBool::new(false),
            journal_announce: AtomicBool::new(false),
            writer: Mutex::new(writer),
            unwritten: Unwritten::new(),
            journal_unwritten: Unwritten::new(),
            published: RwLock::new(view),
            listener,
        }
    }

    /// The newest committed view.
    pub fn view(&self) -> Arc<View> {
        Arc::clone(&read(&self.published))
    }

    /// The engine's configuration.
    pub fn config(&self) -> &crate::config::Config {
        &self.ctx.config
    }

    /// The stream's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn publish(&self, view: Arc<View>) {
        if self.publish_quietly(view) {
            (self.listener)();
        }
    }

    /// Makes `view` the published one unless a newer one is; returns whether it did. The
    /// listeners are not told.
    fn publish_quietly(&self, view: Arc<View>) -> bool {
        let mut published = write(&self.published);
        if view.seq <= published.seq {
            return false;
        }
        *published = view;
        true
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

    /// The active segment's log or index file, or the group journal, open for writing, through
    /// the handle cache.
    pub(crate) fn writable(&self, segment: u64, kind: FileKind) -> Result<Arc<dyn File>> {
        let handle_kind = cached_kind(kind).unwrap_or(HandleKind::IndexFile);
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
        let (outcome, ticket) = self.write_deferred_locked(work)?;
        self.wait_durable(ticket)?;
        outcome
    }

    /// Runs a write transaction like [`StreamLog::write`] but does not wait for it to be
    /// durable: returns its outcome and, under `always`, the [`Ticket`] to await with
    /// [`StreamLog::poll_durable`] or [`StreamLog::wait_durable`] before acknowledging it.
    /// (Under the other policies it is already committed.) A clean shutdown syncs whatever
    /// such writes left pending.
    pub fn write_deferred<R>(
        &self,
        work: impl FnOnce(&mut Txn<'_>) -> Result<R>,
    ) -> Result<(Result<R>, Ticket)> {
        let _gate = self.ctx.write_gate()?;
        self.write_deferred_locked(work)
    }

    /// Blocks until what `ticket` names is durable, leading sync rounds as needed.
    pub fn wait_durable(&self, ticket: Ticket) -> Result<()> {
        if let Some(seq) = ticket.log {
            self.commits
                .wait_durable(seq, &LogRound::new(self))
                .map_err(Error::Poisoned)?;
        }
        if let Some(seq) = ticket.journal {
            self.journal_commits
                .wait_durable(seq, &JournalRound(self))
                .map_err(Error::Poisoned)?;
        }
        Ok(())
    }

    /// Whether what `ticket` names is durable (see [`CommitQueue::poll_durable`]).
    pub fn poll_durable(
        &self,
        ticket: Ticket,
        waker: &std::task::Waker,
    ) -> std::task::Poll<Result<()>> {
        use std::task::Poll;
        let queues = [
            ticket.log.map(|seq| self.commits.poll_durable(seq, waker)),
            ticket
                .journal
                .map(|seq| self.journal_commits.poll_durable(seq, waker)),
        ];
        for poll in queues.into_iter().flatten() {
            match poll {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(failure)) => return Poll::Ready(Err(Error::Poisoned(failure))),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Leads the sync rounds of `queue` that waiting tasks need and no one is leading, up to
    /// `rounds_max` of them (for committer threads, and a runtime thread's sync pump): if
    /// more are needed, the round scheduler is asked for them.
    pub fn try_flush(&self, queue: CommitQueueKind, rounds_max: usize) {
        match queue {
            CommitQueueKind::Log => self.commits.try_lead(&LogRound::new(self), rounds_max),
            CommitQueueKind::Journal => self
                .journal_commits
                .try_lead(&JournalRound(self), rounds_max),
        }
    }

    /// Asks for the sync rounds `ticket` needs without waiting for them: for a write nobody
    /// awaits, which must still become durable (and announce itself) soon.
    pub fn request_rounds(&self, ticket: Ticket) {
        if ticket.log.is_some() {
            self.commits.request_round();
        }
        if ticket.journal.is_some() {
            self.journal_commits.request_round();
        }
    }

    /// Sets what asks a committer thread for a sync round of `queue` on behalf of waiting
    /// tasks.
    pub fn set_round_scheduler(
        &self,
        queue: CommitQueueKind,
        scheduler: Box<dyn Fn() + Send + Sync>,
    ) {
        match queue {
            CommitQueueKind::Log => self.commits.set_scheduler(scheduler),
            CommitQueueKind::Journal => self.journal_commits.set_scheduler(scheduler),
        }
    }

    /// The failure that stopped either commit queue, if any.
    fn commit_failure(&self) -> Option<String> {
        self.commits
            .failure()
            .or_else(|| self.journal_commits.failure())
    }

    fn write_deferred_locked<R>(
        &self,
        work: impl FnOnce(&mut Txn<'_>) -> Result<R>,
    ) -> Result<(Result<R>, Ticket)> {
        let mut writer = lock(&self.writer);
        if self.dropped.load(Ordering::Acquire) {
            return Err(Error::Dropped);
        }
        if let Some(failure) = writer.failure.clone().or_else(|| self.commit_failure()) {
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
            // Under always, what this call saw (say, that an ID was already deleted, or a
            // group's pending entries) may rest on writes not yet durable: it is answered only
            // once they are.
            let ticket = match always {
                true => Ticket {
                    log: Some(self.commits.enqueued()),
                    journal: Some(self.journal_commits.enqueued()),
                },
                false => Ticket::default(),
            };
            return Ok((outcome, ticket));
        }
        writer.seq += 1;
        let seq = writer.seq;
        let view = writer.view();
        if always {
            let mut ticket = Ticket::default();
            if dirty.iter().any(Dirty::is_journal) {
                let mut journal: Vec<Dirty> = dirty
                    .iter()
                    .filter(|item| item.is_journal())
                    .cloned()
                    .collect();
                dirty.retain(|item| !item.is_journal());
                self.journal_commits.enqueue(seq, (), &mut journal);
                ticket.journal = Some(seq);
            }
            // The log's queue publishes the new view: it takes every change that dirtied a
            // log file, and a change that dirtied nothing at all. A journal-only change (a
            // group's state, which lives in memory, not in the view) is announced by the
            // journal's queue once it is durable.
            if !dirty.is_empty() || ticket.journal.is_none() {
                self.commits.enqueue(seq, view, &mut dirty);
                ticket.log = Some(seq);
            }
            writer.dirty = dirty;
            return Ok((outcome, ticket));
        }
        // Visible at once; durable at the next flush (the everysec tick, a segment roll, or
        // close). Index points wait for that sync too, so a point on disk never vouches for
        // data that might not be.
        self.commits.enqueue(seq, Arc::clone(&view), &mut dirty);
        writer.dirty = dirty;
        self.publish(view);
        Ok((outcome, Ticket::default()))
    }

    /// Syncs a round's dirty files and directories, in order.
    fn sync_all(&self, dirty: &[Dirty]) -> std::result::Result<(), String> {
        for item in dirty {
            self.sync_dirty(item)
                .map_err(|error| format!("sync failed: {error}"))?;
        }
        Ok(())
    }

    /// Syncs one dirty file or directory.
    fn sync_dirty(&self, item: &Dirty) -> std::io::Result<()> {
        match item {
            Dirty::File {
                segment,
                kind,
                file,
            } => match file.get() {
                Some(file) => file.sync_data(),
                None => self.reopen_and_sync(*segment, *kind),
            },
            Dirty::Dir(path) => self.ctx.fs.sync_dir(path),
        }
    }

    /// Syncs a file whose handle was let go since it was written. A file that no longer exists
    /// (its segment was trimmed or its stream dropped) has nothing left to sync.
    fn reopen_and_sync(&self, segment: u64, kind: FileKind) -> std::io::Result<()> {
        let opened = match cached_kind(kind) {
            None => self
                .ctx
                .fs
                .open(&self.path(segment, kind), OpenMode::ReadWrite),
            Some(handle_kind) => self
                .ctx
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
                }),
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
            .flush(&LogRound::new(self))
            .map_err(Error::Poisoned)?;
        self.journal_commits
            .flush(&JournalRound(self))
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
            let points = read(&shared.points);
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
        // Let a sync round in progress finish before the directory moves: each queue's, even
        // if the other's failed.
        let flushed = [
            self.commits.flush(&LogRound::new(self)),
            self.journal_commits.flush(&JournalRound(self)),
        ];
        for error in flushed.into_iter().filter_map(|flushed| flushed.err()) {
            tracing::warn!("sync before dropping a stream failed: {error}");
        }
        // What a failed flush left held must never reach these files now.
        self.unwritten.abandon();
        self.journal_unwritten.abandon();
    }

    /// Whether the stream failed and refuses writes.
    pub fn failure(&self) -> Option<String> {
        lock(&self.writer)
            .failure
            .clone()
            .or_else(|| self.commit_failure())
    }
}

/// A group-commit round of the log: sync what the batch dirtied, persist the index points that
/// are now safe, publish; once the round's writers are woken, tell the listeners.
struct LogRound<'a> {
    log: &'a StreamLog,
    published: Cell<bool>,
}

impl<'a> LogRound<'a> {
    fn new(log: &'a StreamLog) -> LogRound<'a> {
        LogRound {
            log,
            published: Cell::new(false),
        }
    }
}

impl Round<Arc<View>> for LogRound<'_> {
    fn sync(&self, batch: &mut Batch<Arc<View>>) -> std::result::Result<(), String> {
        self.log
            .unwritten
            .write()
            .map_err(|error| format!("write failed: {error}"))?;
        self.log.sync_all(&batch.dirty)?;
        self.log
            .persist_points(&batch.view)
            .map_err(|error| format!("index write failed: {error}"))?;
        self.published
            .set(self.log.publish_quietly(Arc::clone(&batch.view)));
        Ok(())
    }

    fn announce(&self) {
        if self.published.take() {
            (self.log.listener)();
        }
    }
}

/// A group-commit round of the group journal (under `always`): sync it; then, if a change asked
/// for it, wake the stream's listeners, so that a blocked group read sees what a journal-only
/// change (a negative acknowledgement, a destroyed group, a moved last-delivered ID) made
/// possible. (The flag is taken after the sync: a change that set it after the round began is
/// announced early, and its readers, waking, wait for its durability as every group read does;
/// never late.)
struct JournalRound<'a>(&'a StreamLog);

impl Round<()> for JournalRound<'_> {
    fn sync(&self, batch: &mut Batch<()>) -> std::result::Result<(), String> {
        self.0
            .journal_unwritten
            .write()
            .map_err(|error| format!("write failed: {error}"))?;
        self.0.sync_all(&batch.dirty)
    }

    fn announce(&self) {
        if self.0.journal_announce.swap(false, Ordering::AcqRel) {
            (self.0.listener)();
        }
    }
}
