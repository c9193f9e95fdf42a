//! The engine's table of streams: which names exist, opening them all at start, creating and
//! dropping them, and the names that could not be opened (quarantined).
//!
//! Creations and drops serialise on one lifecycle lock; reads and writes of existing streams
//! only take the table's read lock for a lookup, so nothing global serialises unrelated
//! streams.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::engine::commit::Committers;
use crate::engine::watch::Watchers;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::lock::{lock, read, write};
use crate::storage::data_dir::{DataDir, StreamDir};
use crate::storage::log::{Context, Listener, StreamLog};
use crate::storage::repair::Repair;
use crate::stream::Stream;

/// A stream that failed to open: left untouched, every call on its name refused with why.
struct Quarantine {
    path: PathBuf,
    reason: String,
}

/// The streams of one engine, by name.
pub(super) struct Table {
    streams: RwLock<HashMap<Vec<u8>, Arc<Stream>>>,
    quarantined: HashMap<Vec<u8>, Quarantine>,
    /// Held while a stream is created or dropped.
    lifecycle: Mutex<()>,
}

/// What opening a stream needs besides its directory.
pub(super) struct Opening<'a> {
    pub(super) ctx: &'a Arc<Context>,
    pub(super) watchers: &'a Arc<Watchers>,
    pub(super) committers: &'a Committers,
}

impl Opening<'_> {
    /// Opens the stream `name` in `dir`: its log recovered, its commits served by the commit
    /// threads, its changes notified to watchers.
    fn open(
        &self,
        name: &[u8],
        dir: PathBuf,
        after_crash: bool,
    ) -> Result<(Arc<Stream>, Vec<Repair>)> {
        let opened = StreamLog::open(
            Arc::clone(self.ctx),
            dir,
            listener(self.watchers, name),
            after_crash,
        )?;
        let stream = Arc::new(Stream::new(
            name.to_vec(),
            opened.log,
            Arc::clone(&self.ctx.config.clock),
            &opened.group_records,
            opened.retention,
        )?);
        self.committers.serve(&stream);
        Ok((stream, opened.repairs))
    }
}

impl Table {
    /// Opens every stream of the data directory. One that fails is quarantined, so that one
    /// damaged stream does not keep the others from being served.
    pub(super) fn open(
        data_dir: &DataDir,
        opening: &Opening<'_>,
        repairs: &mut Vec<Repair>,
    ) -> Result<Table> {
        let mut streams = HashMap::new();
        let mut quarantined = HashMap::new();
        for (name, dir) in data_dir.stream_dirs(opening.ctx.fs.as_ref(), repairs)? {
            match opening.open(&name, dir.clone(), data_dir.after_crash()) {
                Ok((stream, fixed)) => {
                    repairs.extend(fixed);
                    streams.insert(name, stream);
                }
                Err(error) => {
                    tracing::error!(path = %dir.display(), "stream quarantined: {error}");
                    let reason = error.to_string();
                    quarantined.insert(name, Quarantine { path: dir, reason });
                }
            }
        }
        Ok(Table {
            streams: RwLock::new(streams),
            quarantined,
            lifecycle: Mutex::new(()),
        })
    }

    /// Every open stream, for flushing them.
    pub(super) fn all(&self) -> Vec<Arc<Stream>> {
        read(&self.streams).values().cloned().collect()
    }
}

/// Closes a stream taken out of the table: its running transaction finishes, what it wrote
/// is synced, and its open files leave the handle cache.
fn close(ctx: &Context, stream: &Stream) {
    let log = stream.log();
    log.mark_dropped();
    log.evict_group_journal();
    for segment in log.view().segments.iter() {
        ctx.handles.evict_segment(log.uid, segment.id);
    }
}

/// Tells the watchers of `name` about every view its log publishes.
fn listener(watchers: &Arc<Watchers>, name: &[u8]) -> Listener {
    let watchers = Arc::clone(watchers);
    let name = name.to_vec();
    Arc::new(move || watchers.notify(&name))
}

/// Refuses a name longer than the configured limit.
pub(super) fn check_name(config: &Config, name: &[u8]) -> Result<()> {
    if name.len() > config.stream_name_bytes_max {
        return Err(Error::NameTooLong {
            len: name.len(),
            max: config.stream_name_bytes_max,
        });
    }
    Ok(())
}

impl Engine {
    /// The open stream called `name`, if it exists; an error if it is quarantined.
    pub fn stream(&self, name: &[u8]) -> Result<Option<Arc<Stream>>> {
        let table = &self.inner.table;
        if let Some(quarantine) = table.quarantined.get(name) {
            return Err(Error::corrupt(
                &quarantine.path,
                format!("the stream could not be opened: {}", quarantine.reason),
            ));
        }
        Ok(read(&table.streams).get(name).cloned())
    }

    /// Whether stream `name` exists (an error if it is quarantined).
    pub fn exists(&self, name: &[u8]) -> Result<bool> {
        Ok(self.stream(name)?.is_some())
    }

    /// The stream called `name`, created empty if missing.
    pub(crate) fn stream_or_create(&self, name: &[u8]) -> Result<Arc<Stream>> {
        check_name(self.config(), name)?;
        if let Some(stream) = self.stream(name)? {
            return Ok(stream);
        }
        let _lifecycle = lock(&self.inner.table.lifecycle);
        if let Some(stream) = self.stream(name)? {
            return Ok(stream);
        }
        let ctx = &self.inner.ctx;
        let _gate = ctx.write_gate()?;
        let (dir, after_crash) = match self.inner.data_dir.create_stream_dir(ctx, name)? {
            StreamDir::Existing(dir) => (dir, true),
            StreamDir::Created(dir) => (dir, false),
        };
        let (stream, repairs) = self.opening().open(name, dir, after_crash)?;
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "recovery: {}", repair.action);
        }
        write(&self.inner.table.streams).insert(name.to_vec(), Arc::clone(&stream));
        self.inner.watchers.notify(name);
        Ok(stream)
    }

    fn opening(&self) -> Opening<'_> {
        Opening {
            ctx: &self.inner.ctx,
            watchers: &self.inner.watchers,
            committers: &self.inner.committers,
        }
    }

    /// Runs `work` on the stream (created first if `create`), retrying on the current one if
    /// it was dropped meanwhile. `None` when the stream does not exist and is not created.
    pub(super) fn with_stream<T>(
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

    /// Drops a stream and its data; returns whether it existed.
    pub fn drop_stream(&self, name: &[u8]) -> Result<bool> {
        // A quarantined stream is left for repair by hand, not dropped.
        self.stream(name)?;
        let _lifecycle = lock(&self.inner.table.lifecycle);
        let _gate = self.inner.ctx.write_gate()?;
        let Some(stream) = write(&self.inner.table.streams).remove(name) else {
            return Ok(false);
        };
        close(&self.inner.ctx, &stream);
        let log = stream.log();
        self.inner
            .data_dir
            .remove_stream_dir(&self.inner.ctx, log.dir(), log.uid)?;
        self.inner.watchers.notify(name);
        Ok(true)
    }

    /// RENAME: stream `from` becomes stream `to` (a stream already called `to` is dropped),
    /// entries, counters and groups included; `false` when `from` does not exist. Calls on
    /// the old stream that were running go on against whatever the name means afterwards,
    /// as after a drop; blocked readers of either name are woken.
    pub fn rename_stream(&self, from: &[u8], to: &[u8]) -> Result<bool> {
        check_name(self.config(), to)?;
        self.stream(from)?;
        self.stream(to)?;
        if from == to {
            return self.exists(from);
        }
        let _lifecycle = lock(&self.inner.table.lifecycle);
        let ctx = &self.inner.ctx;
        let _gate = ctx.write_gate()?;
        let Some(stream) = write(&self.inner.table.streams).remove(from) else {
            return Ok(false);
        };
        if let Some(replaced) = write(&self.inner.table.streams).remove(to) {
            close(ctx, &replaced);
            let log = replaced.log();
            self.inner
                .data_dir
                .remove_stream_dir(ctx, log.dir(), log.uid)?;
        }
        close(ctx, &stream);
        let old_dir = stream.log().dir().to_path_buf();
        drop(stream);
        let moved = self.inner.data_dir.rename_stream_dir(ctx, &old_dir, to);
        let (name, dir) = match &moved {
            Ok(dir) => (to, dir.clone()),
            // Not moved: the stream stays what it was.
            Err(_) => (from, old_dir),
        };
        let (reopened, repairs) = self.opening().open(name, dir, false)?;
        for repair in &repairs {
            tracing::warn!(path = %repair.path.display(), "recovery: {}", repair.action);
        }
        write(&self.inner.table.streams).insert(name.to_vec(), reopened);
        self.inner.watchers.notify(from);
        self.inner.watchers.notify(to);
        moved.map(|_| true)
    }

    /// Names of the streams matching a Redis glob pattern (all with `None`), sorted.
    pub fn list(&self, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let mut names: Vec<Vec<u8>> = read(&self.inner.table.streams)
            .keys()
            .filter(|name| pattern.is_none_or(|pattern| crate::glob::glob_match(pattern, name)))
            .cloned()
            .collect();
        names.sort();
        names
    }
}
