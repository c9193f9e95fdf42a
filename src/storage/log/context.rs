//! What every stream log of one engine shares: the file system, the bounded cache of open
//! files, the configuration, and the gate between writes and a clean shutdown.
//!
//! The clean-shutdown marker (`CLEAN`, see [`crate::storage::data_dir`]) says the last close
//! synced everything; the first write after it removes the marker before touching anything,
//! so a crash after that write is recovered as one. Writes hold the gate shared; a clean
//! shutdown holds it alone while it syncs and writes the marker, so no write slips in between.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::{Config, FsyncPolicy};
use crate::lock::{lock, read, write};
use crate::storage::data_dir;
use crate::storage::fs::{File, FileSystem};
use crate::storage::handles::HandleCache;
use crate::storage::metrics::StorageMetrics;

/// What all streams share: the file system, the handle cache and the configuration.
pub struct Context {
    /// Where bytes go.
    pub fs: Arc<dyn FileSystem>,
    /// Open segment files and maps, bounded.
    pub handles: HandleCache,
    /// Limits and policies.
    pub config: Config,
    /// The counters of appends and reads.
    pub metrics: StorageMetrics,
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
            metrics: StorageMetrics::new(),
            next_uid: AtomicU64::new(1),
            clean_marked: AtomicBool::new(false),
            clean_lock: Mutex::new(()),
            gate: RwLock::new(()),
        }
    }

    /// The file whose presence says the last shutdown was clean.
    pub fn clean_marker(&self) -> PathBuf {
        data_dir::clean_marker(&self.config.data_dir)
    }

    /// Records that the clean-shutdown marker was written.
    pub(crate) fn set_clean_marked(&self) {
        self.clean_marked.store(true, Ordering::Release);
    }

    /// Admits a write: removes the clean-shutdown marker if present, and holds off a clean
    /// shutdown until the returned guard is dropped.
    pub(crate) fn write_gate(&self) -> std::io::Result<RwLockReadGuard<'_, ()>> {
        let guard = read(&self.gate);
        self.unmark_clean()?;
        Ok(guard)
    }

    /// Excludes every write (for a clean shutdown).
    pub(crate) fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        write(&self.gate)
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
