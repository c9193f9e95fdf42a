//! All streams of a data directory: open, create, drop, list; and the wake-ups that blocked
//! readers wait on.
//!
//! ```text
//! <data_dir>/
//!   LOCK              advisory lock: one process per data directory
//!   FORMAT            "sluice-format 1": the on-disk format version
//!   CLEAN             written by a clean shutdown, removed by the next open: without it, the
//!                     open is a crash recovery
//!   streams/<dir>/    one directory per stream (see storage::catalog for the name mapping)
//!   trash/            dropped streams, removed at once and again on open if interrupted
//! ```
//!
//! A stream is created by building its directory under a temporary name and renaming it into
//! place, so a crash never leaves half a stream. Dropping renames it into `trash/` first, so a
//! crash never leaves half a drop. Each stream has its own writer lock; nothing global is held
//! on the write or read path besides a read lock on the name table.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::task::{Context as TaskContext, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, FsyncPolicy};
use crate::error::{Error, Result};
use crate::id::{IdRange, StreamId};
use crate::storage::catalog::{self, DirName};
use crate::storage::fs::{FileSystem, OpenMode, RealFs};
use crate::storage::read::ReadLimit;
use crate::storage::record::Entry;
use crate::storage::recovery::{create_segment_file, Repair};
use crate::storage::segment::SegmentHeader;
use crate::storage::stream_log::{check_batch_size, Context, StreamLog, TrimSpec};
use crate::stream::{NewEntry, Stream, StreamInfo};

const FORMAT_FILE: &str = "FORMAT";
/// Present only between a clean shutdown and the next open.
const CLEAN_FILE: &str = "CLEAN";
const FORMAT_TEXT: &str = "sluice-format 1\n";
const STREAMS_DIR: &str = "streams";
const TRASH_DIR: &str = "trash";
const NEW_PREFIX: &str = ".new-";
/// Directories tried for a hashed name before giving up (collisions of a 64-bit hash).
const HASHED_CANDIDATES_MAX: u32 = 64;

/// Per-name change notifications for blocked readers. A name can be watched before its stream
/// exists; every committed change to the stream (and its creation or drop) bumps the counter.
#[derive(Default)]
pub struct Watchers {
    senders: Mutex<HashMap<Vec<u8>, watch::Sender<u64>>>,
    /// Names in `senders`: lets `notify` skip the lock when nobody watches anything.
    watched: AtomicUsize,
}

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, HashMap<Vec<u8>, watch::Sender<u64>>> {
        self.senders
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// A receiver that changes whenever stream `name` does.
    pub fn subscribe(&self, name: &[u8]) -> watch::Receiver<u64> {
        let mut senders = self.lock();
        if senders.len() >= 1024 && senders.len().is_power_of_two() {
            senders.retain(|_, sender| sender.receiver_count() > 0);
        }

        let receiver = senders
            .entry(name.to_vec())
            .or_insert_with(|| watch::channel(0).0)
            .subscribe();
        self.watched.store(senders.len(), Ordering::Release);
        receiver
    }

    /// Wakes everyone watching `name`.
    pub fn notify(&self, name: &[u8]) {
        if self.watched.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut senders = self.lock();
        if let Some(sender) = senders.get(name) {
            if sender.receiver_count() == 0 {
                senders.remove(name);
            } else {
                sender.send_modify(|version| *version = version.wrapping_add(1));
            }
        }
        self.watched.store(senders.len(), Ordering::Release);
    }
}

/// A stream that failed to open.
struct Quarantine {
    path: PathBuf,
    reason: String,
}

/// The name of the stream whose directory is `dir_name`: decoded from the directory name, or
/// read from its `name` file; `None` for a directory that is no stream's.
fn owner(fs: &dyn FileSystem, dir: &Path, dir_name: &str) -> Result<Option<Vec<u8>>> {
    match catalog::decode_dir_name(dir_name) {
        catalog::Decoded::Name(name) => Ok(Some(name)),
        catalog::Decoded::Hashed => fs
            .open(&dir.join(catalog::NAME_FILE), OpenMode::Read)
            .and_then(|file| file.read_all())
            .map(Some)
            .map_err(|error| {
                Error::corrupt(dir, format!("cannot read the stream's name file: {error}"))
            }),
        catalog::Decoded::Other => Ok(None),
    }
}

/// A request for a sync round: the stream, and its "already requested" flag.
type RoundRequest = Option<(Weak<Stream>, Arc<AtomicBool>)>;

/// Threads that lead group-commit rounds for writes awaited by async tasks (which cannot block
/// on a sync themselves).
struct Committers {
    requests: mpsc::Sender<RoundRequest>,
    threads: Vec<JoinHandle<()>>,
}

impl Committers {
    fn start(count: usize) -> Committers {
        let (requests, receiver) = mpsc::channel::<RoundRequest>();
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = (0..count)
            .filter_map(|number| {
                let receiver = Arc::clone(&receiver);
                std::thread::Builder::new()
                    .name(format!("sluice-commit-{number}"))
                    .spawn(move || loop {
                        let request = lock(&receiver).recv();
                        let Ok(Some((stream, requested))) = request else {
                            return;
                        };
                        // Cleared first: a request made during the round is not lost.
                        requested.store(false, Ordering::Release);
                        if let Some(stream) = stream.upgrade() {
                            stream.log().try_flush();
                        }
                    })
                    .map_err(|error| tracing::error!("cannot start a commit thread: {error}"))
                    .ok()
            })
            .collect();
        Committers { requests, threads }
    }

    /// Lets `stream`'s waiting tasks ask this pool for sync rounds.
    fn serve(&self, stream: &Arc<Stream>) {
        let requests = Mutex::new(self.requests.clone());
        let weak = Arc::downgrade(stream);
        let requested = Arc::new(AtomicBool::new(false));
        stream.log().set_round_scheduler(Box::new(move || {
            if !requested.swap(true, Ordering::AcqRel) {
                let _ = lock(&requests).send(Some((weak.clone(), Arc::clone(&requested))));
            }
        }));
    }

    fn stop(&mut self) {
        for _ in &self.threads {
            let _ = self.requests.send(None);
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// A write accepted by [`Engine::add_deferred`]: resolves to its IDs once it is durable
/// (under `always`), without blocking a thread meanwhile.
pub struct Commit {
    stream: Option<Arc<Stream>>,
    seq: Option<u64>,
    ids: Vec<StreamId>,
}

impl Future for Commit {
    type Output = Result<Option<Vec<StreamId>>>;

    fn poll(mut self: Pin<&mut Self>, context: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let Some(stream) = &self.stream else {
            return Poll::Ready(Ok(None)); // NOMKSTREAM on a missing stream
        };
        if let Some(seq) = self.seq {
            match stream.log().poll_durable(seq, context.waker()) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(Some(std::mem::take(&mut self.ids))))
    }
}

struct Syncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: JoinHandle<()>,
}

struct Inner {
    ctx: Arc<Context>,
    streams_dir: PathBuf,
    trash_dir: PathBuf,
    streams: RwLock<HashMap<Vec<u8>, Arc<Stream>>>,
    /// Streams that could not be opened, by name: left untouched, refused with their error.
    quarantined: HashMap<Vec<u8>, Quarantine>,
    lifecycle: Mutex<()>,
    watchers: Arc<Watchers>,
    repairs: Vec<Repair>,
    syncer: Mutex<Option<Syncer>>,
    committers: Mutex<Committers>,
    next_temporary: AtomicU64,
    _lock: Box<dyn std::any::Any + Send + Sync>,
}

/// The storage engine: every stream of one data directory. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

fn check_name(config: &Config, name: &[u8]) -> Result<()> {
    if name.len() > config.stream_name_bytes_max {
        return Err(Error::NameTooLong {
            len: name.len(),
            max: config.stream_name_bytes_max,
        });
    }
    Ok(())
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
        let root = config.data_dir.clone();
        if !fs.exists(&root) {
            fs.create_dir_all(&root)?;
            // The new directory's own entry must be durable too, or a crash could take
            // everything in it along.
            if let Some(parent) = root
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                fs.sync_dir(parent)?;
            }
        }
        let guard = fs
            .lock(&root.join("LOCK"))
            .map_err(|_| Error::Locked(root.clone()))?;
        let format_path = root.join(FORMAT_FILE);
        if fs.exists(&format_path) {
            let text = fs.open(&format_path, OpenMode::Read)?.read_all()?;
            if text != FORMAT_TEXT.as_bytes() {
                return Err(Error::Config(format!(
                    "{} holds data in an unknown format ({:?})",
                    root.display(),
                    String::from_utf8_lossy(&text).trim()
                )));
            }
        } else {
            let file = fs.open(&format_path, OpenMode::Create)?;
            file.write_all_at(FORMAT_TEXT.as_bytes(), 0)?;
            file.sync_data()?;
        }
        let streams_dir = root.join(STREAMS_DIR);
        let trash_dir = root.join(TRASH_DIR);
        fs.create_dir_all(&streams_dir)?;
        fs.create_dir_all(&trash_dir)?;
        fs.sync_dir(&root)?;

        let clean_path = root.join(CLEAN_FILE);
        let after_crash = !fs.exists(&clean_path);
        debug_assert_eq!(clean_path, config.data_dir.join("CLEAN"));
        if !after_crash {
            // Gone before anything is written, so a crash from here on is seen as one.
            fs.remove_file(&clean_path)?;
            fs.sync_dir(&root)?;
        }
        let ctx = Arc::new(Context::new(Arc::clone(&fs), config));
        let watchers = Arc::new(Watchers::default());
        let mut repairs = Vec::new();
        for leftover in fs.list_dir(&trash_dir)? {
            let path = trash_dir.join(&leftover);
            fs.remove_dir_all(&path)?;
            repairs.push(Repair {
                path,
                action: "removed the rest of an interrupted drop".into(),
            });
        }
        let committers = Committers::start(ctx.config.commit_threads);
        let mut streams = HashMap::new();
        let mut quarantined = HashMap::new();
        let mut names = fs.list_dir(&streams_dir)?;
        names.sort();
        for entry in names {
            let Some(dir_name) = entry.to_str() else {
                continue;
            };
            let dir = streams_dir.join(dir_name);
            if dir_name.starts_with(NEW_PREFIX) {
                fs.remove_dir_all(&dir)?;
                repairs.push(Repair {
                    path: dir,
                    action: "removed a stream directory whose creation was cut short".into(),
                });
                continue;
            }
            let name = match owner(fs.as_ref(), &dir, dir_name) {
                Ok(Some(name)) => name,
                Ok(None) => continue,
                Err(error) => {
                    // Without its name the stream cannot be served; its directory is left for
                    // repair by hand, and a stream created under the name goes elsewhere.
                    tracing::error!(path = %dir.display(), "stream directory skipped: {error}");
                    continue;
                }
            };
            match StreamLog::open(
                Arc::clone(&ctx),
                dir.clone(),
                listener(&watchers, &name),
                after_crash,
            ) {
                Ok((log, fixed)) => {
                    repairs.extend(fixed);
                    let stream = Arc::new(Stream::new(
                        name.clone(),
                        log,
                        Arc::clone(&ctx.config.clock),
                    ));
                    committers.serve(&stream);
                    streams.insert(name, stream);
                }
                Err(error) => {
                    // One damaged stream must not keep the others from being served: it is
                    // quarantined (every call on its name fails with this error), its files
                    // left untouched.
                    tracing::error!(path = %dir.display(), "stream quarantined: {error}");
                    quarantined.insert(
                        name,
                        Quarantine {
                            path: dir,
                            reason: error.to_string(),
                        },
                    );
                }
            }
        }
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "recovery: {}", repair.action);
        }

        let engine = Engine {
            inner: Arc::new(Inner {
                ctx,
                streams_dir,
                trash_dir,
                streams: RwLock::new(streams),
                quarantined,
                lifecycle: Mutex::new(()),
                watchers,
                repairs,
                syncer: Mutex::new(None),
                committers: Mutex::new(committers),
                next_temporary: AtomicU64::new(0),
                _lock: guard,
            }),
        };
        if engine.inner.ctx.config.fsync == FsyncPolicy::EverySec {
            engine.start_syncer();
        }
        Ok(engine)
    }

    fn start_syncer(&self) {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let weak = Arc::downgrade(&self.inner);
        let signal = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("sluice-everysec".into())
            .spawn(move || loop {
                {
                    let (stopped, wake) = &*signal;
                    let guard = lock(stopped);
                    let (guard, _) = wake
                        .wait_timeout_while(guard, Duration::from_secs(1), |stopped| !*stopped)
                        .unwrap_or_else(|poison| poison.into_inner());
                    if *guard {
                        return;
                    }
                }
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let streams: Vec<Arc<Stream>> =
                    inner.streams.read().map(|map| map.values().cloned().collect()).unwrap_or_default();
                for stream in streams {
                    if let Err(error) = stream.log().flush() {
                        tracing::error!(stream = %String::from_utf8_lossy(stream.name()), "background sync failed: {error}");
                    }
                }
            });
        match thread {
            Ok(thread) => *lock(&self.inner.syncer) = Some(Syncer { stop, thread }),
            Err(error) => tracing::error!("cannot start the everysec sync thread: {error}"),
        }
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
    pub fn watch(&self, name: &[u8]) -> watch::Receiver<u64> {
        self.inner.watchers.subscribe(name)
    }

    /// The open stream called `name`, if it exists; an error if it is quarantined.
    pub fn stream(&self, name: &[u8]) -> Result<Option<Arc<Stream>>> {
        if let Some(quarantine) = self.inner.quarantined.get(name) {
            return Err(Error::corrupt(
                &quarantine.path,
                format!("the stream could not be opened: {}", quarantine.reason),
            ));
        }
        Ok(self
            .inner
            .streams
            .read()
            .ok()
            .and_then(|streams| streams.get(name).cloned()))
    }

    /// The stream called `name`, created empty if missing.
    pub fn stream_or_create(&self, name: &[u8]) -> Result<Arc<Stream>> {
        check_name(self.config(), name)?;
        if let Some(stream) = self.stream(name)? {
            return Ok(stream);
        }
        let _lifecycle = lock(&self.inner.lifecycle);
        if let Some(stream) = self.stream(name)? {
            return Ok(stream);
        }
        let _gate = self.inner.ctx.write_gate()?;
        let fs = &self.inner.ctx.fs;
        let planned = catalog::dir_name(name);
        let mut attempt = 0;
        let final_dir = loop {
            let candidate_name = planned.candidate(attempt);
            let candidate = self.inner.streams_dir.join(&candidate_name);
            if !fs.exists(&candidate) {
                break candidate;
            }
            // The directory exists but the name is not in the table: a creation or a drop
            // failed half-way. If it is this name's, it is this stream: open it.
            if owner(fs.as_ref(), &candidate, &candidate_name)
                .ok()
                .flatten()
                .as_deref()
                == Some(name)
            {
                return self.register(name, candidate, true);
            }
            if matches!(planned, DirName::Plain(_)) || attempt >= HASHED_CANDIDATES_MAX {
                return Err(Error::corrupt(
                    candidate,
                    "the stream's directory holds another stream",
                ));
            }
            attempt += 1;
        };
        let temporary = self.inner.streams_dir.join(format!(
            "{NEW_PREFIX}{}",
            self.inner.next_temporary.fetch_add(1, Ordering::Relaxed)
        ));
        if fs.exists(&temporary) {
            fs.remove_dir_all(&temporary)?;
        }
        fs.create_dir_all(&temporary)?;
        if matches!(planned, DirName::Hashed(_)) {
            let file = fs.open(&temporary.join(catalog::NAME_FILE), OpenMode::Create)?;
            file.write_all_at(name, 0)?;
            self.inner.ctx.sync_file(file.as_ref())?;
        }
        let header = SegmentHeader {
            segment_id: 1,
            ..SegmentHeader::default()
        };
        let durable = self.inner.ctx.config.fsync != FsyncPolicy::No;
        let preallocated = self.inner.ctx.config.segment_bytes_max;
        create_segment_file(fs.as_ref(), &temporary, &header, preallocated, durable)?;
        fs.rename(&temporary, &final_dir)?;
        self.inner.ctx.sync_dir(&self.inner.streams_dir)?;
        self.register(name, final_dir, false)
    }

    /// Opens the stream in `dir` and adds it to the table.
    fn register(&self, name: &[u8], dir: PathBuf, after_crash: bool) -> Result<Arc<Stream>> {
        let (log, repairs) = StreamLog::open(
            Arc::clone(&self.inner.ctx),
            dir,
            listener(&self.inner.watchers, name),
            after_crash,
        )?;
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "recovery: {}", repair.action);
        }
        let stream = Arc::new(Stream::new(
            name.to_vec(),
            log,
            Arc::clone(&self.inner.ctx.config.clock),
        ));
        lock(&self.inner.committers).serve(&stream);
        if let Ok(mut streams) = self.inner.streams.write() {
            streams.insert(name.to_vec(), Arc::clone(&stream));
        }
        self.inner.watchers.notify(name);
        Ok(stream)
    }

    /// Runs `work` on the stream, retrying on the current one if it was dropped meanwhile.
    fn with_stream<T>(
        &self,
        name: &[u8],
        create: bool,
        mut work: impl FnMut(&Arc<Stream>) -> Result<T>,
    ) -> Result<Option<T>> {
        loop {
            let stream = if create {
                Some(self.stream_or_create(name)?)
            } else {
                self.stream(name)?
            };
            let Some(stream) = stream else {
                return Ok(None);
            };
            match work(&stream) {
                Err(Error::Dropped) => continue,
                other => return other.map(Some),
            }
        }
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
            if entry.id == crate::id::AddId::Explicit(StreamId::MIN) {
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
            let (ids, seq) = stream.add_deferred(entries, trim)?;
            Ok(Commit {
                stream: Some(Arc::clone(stream)),
                seq,
                ids,
            })
        })?;
        Ok(accepted.unwrap_or(Commit {
            stream: None, // NOMKSTREAM on a missing stream
            seq: None,
            ids: Vec::new(),
        }))
    }

    /// XRANGE / XREVRANGE: `None` when the stream does not exist.
    pub fn range(
        &self,
        name: &[u8],
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
    ) -> Result<Option<Vec<Entry>>> {
        match self.stream(name)? {
            Some(stream) => stream.range(range, rev, limit).map(Some),
            None => Ok(None),
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

    /// Drops a stream and its data; returns whether it existed.
    pub fn drop_stream(&self, name: &[u8]) -> Result<bool> {
        // A quarantined stream is left for repair by hand, not dropped.
        self.stream(name)?;
        let _lifecycle = lock(&self.inner.lifecycle);
        let _gate = self.inner.ctx.write_gate()?;
        let removed = self
            .inner
            .streams
            .write()
            .ok()
            .and_then(|mut streams| streams.remove(name));
        let Some(stream) = removed else {
            return Ok(false);
        };
        let log = stream.log();
        log.mark_dropped();
        for segment in log.view().segments.iter() {
            self.inner.ctx.handles.evict_segment(log.uid, segment.id);
        }
        let fs = &self.inner.ctx.fs;
        let dir = log.dir().to_path_buf();
        let trashed = self.inner.trash_dir.join(format!(
            "{}.{}",
            dir.file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("stream"),
            log.uid
        ));
        fs.rename(&dir, &trashed)?;
        self.inner.ctx.sync_dir(&self.inner.streams_dir)?;
        self.inner.ctx.sync_dir(&self.inner.trash_dir)?;
        fs.remove_dir_all(&trashed)?;
        self.inner.watchers.notify(name);
        Ok(true)
    }

    /// Names of the streams matching a Redis glob pattern (all with `None`), sorted.
    pub fn list(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = self
            .inner
            .streams
            .read()
            .map(|streams| {
                streams
                    .keys()
                    .filter(|name| pattern.is_none_or(|pattern| glob_match(pattern, name)))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Makes everything written durable (all policies).
    pub fn flush(&self) -> Result<()> {
        let streams: Vec<Arc<Stream>> = self
            .inner
            .streams
            .read()
            .map(|map| map.values().cloned().collect())
            .unwrap_or_default();
        let mut first_error = None;
        for stream in streams {
            if let Err(error) = stream.log().flush() {
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Makes everything durable and marks the shutdown clean (so the next open trusts the
    /// stores' padding), after the writes in progress finish. The engine stays usable: a later
    /// write removes the mark again. Also done on drop.
    pub fn close(&self) -> Result<()> {
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
    /// Stops the sync thread, flushes every stream and, if all went well, writes the clean
    /// shutdown marker. Idempotent: a second call finds the marker and does nothing more.
    fn shutdown(&self) -> Result<()> {
        let _exclusive = self.ctx.exclusive();
        let streams: Vec<Arc<Stream>> = self
            .streams
            .read()
            .map(|map| map.values().cloned().collect())
            .unwrap_or_default();
        let mut failure = None;
        for stream in &streams {
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
        let root = &self.ctx.config.data_dir;
        let marker = self.ctx.clean_marker();
        if !self.ctx.fs.exists(&marker) {
            let file = self.ctx.fs.open(&marker, OpenMode::Create)?;
            file.sync_data()?;
            self.ctx.fs.sync_dir(root)?;
        }
        self.ctx.set_clean_marked();
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        lock(&self.committers).stop();
        if let Some(syncer) = lock(&self.syncer).take() {
            let (stopped, wake) = &*syncer.stop;
            *lock(stopped) = true;
            wake.notify_all();
            let _ = syncer.thread.join();
        }
        if let Err(error) = self.shutdown() {
            tracing::error!("shutdown left the store to crash recovery: {error}");
        }
    }
}

fn listener(watchers: &Arc<Watchers>, name: &[u8]) -> crate::storage::stream_log::Listener {
    let watchers = Arc::clone(watchers);
    let name = name.to_vec();
    Arc::new(move || watchers.notify(&name))
}

/// Redis's glob matching (`*`, `?`, `[...]` with `^` and ranges, `\` escapes), on bytes.
/// Iterative with one backtrack point, so no pattern can make it take exponential time.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut at_pattern, mut at_text) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while at_text < text.len() {
        if at_pattern < pattern.len() {
            if pattern[at_pattern] == b'*' {
                star = Some((at_pattern, at_text));
                at_pattern += 1;
                continue;
            }
            if let Some(next) = match_one(pattern, at_pattern, text[at_text]) {
                at_pattern = next;
                at_text += 1;
                continue;
            }
        }
        match star {
            Some((star_pattern, star_text)) => {
                at_pattern = star_pattern + 1;
                at_text = star_text + 1;
                star = Some((star_pattern, star_text + 1));
            }
            None => return false,
        }
    }
    pattern[at_pattern..].iter().all(|&byte| byte == b'*')
}

/// Whether the single-byte pattern element at `at` matches `byte`; returns where the next
/// element starts.
fn match_one(pattern: &[u8], at: usize, byte: u8) -> Option<usize> {
    match pattern[at] {
        b'?' => Some(at + 1),
        b'\\' if at + 1 < pattern.len() => (pattern[at + 1] == byte).then_some(at + 2),
        b'[' => {
            let mut cursor = at + 1;
            let negate = pattern.get(cursor) == Some(&b'^');
            if negate {
                cursor += 1;
            }
            let mut matched = false;
            while cursor < pattern.len() && pattern[cursor] != b']' {
                if pattern[cursor] == b'\\' && cursor + 1 < pattern.len() {
                    matched |= pattern[cursor + 1] == byte;
                    cursor += 2;
                } else if cursor + 2 < pattern.len()
                    && pattern[cursor + 1] == b'-'
                    && pattern[cursor + 2] != b']'
                {
                    let (low, high) = (
                        pattern[cursor].min(pattern[cursor + 2]),
                        pattern[cursor].max(pattern[cursor + 2]),
                    );
                    matched |= (low..=high).contains(&byte);
                    cursor += 3;
                } else {
                    matched |= pattern[cursor] == byte;
                    cursor += 1;
                }
            }
            let next = (cursor + 1).min(pattern.len());
            (matched != negate).then_some(next)
        }
        literal => (literal == byte).then_some(at + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match(b"*", b"anything"));
        assert!(glob_match(b"or*s", b"orders"));
        assert!(glob_match(b"h?llo", b"hello"));
        assert!(glob_match(b"h[ae]llo", b"hallo"));
        assert!(!glob_match(b"h[^e]llo", b"hello"));
        assert!(glob_match(b"h[a-c]llo", b"hbllo"));
        assert!(glob_match(b"a\\*b", b"a*b"));
        assert!(!glob_match(b"a\\*b", b"axb"));
        assert!(!glob_match(b"*a*a*a*a*a*a*a*a*a*a*a*a*b", &[b'a'; 200]));
        assert!(glob_match(b"*", b""));
        assert!(!glob_match(b"?", b""));
    }
}
