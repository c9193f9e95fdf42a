//! The data directory: the files around the streams, and how stream directories come and go.
//!
//! ```text
//! <data_dir>/
//!   LOCK              advisory lock (flock): one process per data directory
//!   FORMAT            "sluice-format 1": the on-disk format version
//!   CLEAN             written by a clean shutdown, removed by the next open (or write):
//!                     without it, the open is a crash recovery
//!   streams/<dir>/    one directory per stream (see [`super::catalog`] for the name mapping)
//!   trash/            dropped streams, removed at once and again on open if interrupted
//! ```
//!
//! A stream is created by building its directory under a temporary name (`streams/.new-<n>`)
//! and renaming it into place, so a crash never leaves half a stream. Dropping renames it into
//! `trash/` first, so a crash never leaves half a drop. Every name here is defined once, in this
//! module.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};
use crate::storage::catalog::{self, DirName};
use crate::storage::fs::{FileSystem, OpenMode};
use crate::storage::log::{create_segment_file, Context};
use crate::storage::repair::Repair;
use crate::storage::segment::SegmentHeader;

/// The lock file: held (flock) for as long as an engine has the directory open.
pub const LOCK_FILE: &str = "LOCK";
/// The format file, holding [`FORMAT_TEXT`].
pub const FORMAT_FILE: &str = "FORMAT";
/// What the format file says for the format this code reads and writes.
pub const FORMAT_TEXT: &str = "sluice-format 1\n";
/// Present only between a clean shutdown and the next open or write.
pub const CLEAN_FILE: &str = "CLEAN";
/// The directory of stream directories.
pub const STREAMS_DIR: &str = "streams";
/// Where dropped streams go before they are removed.
pub const TRASH_DIR: &str = "trash";
/// Prefix of a stream directory under construction.
pub const NEW_PREFIX: &str = ".new-";
/// Directories tried for a hashed name before giving up (collisions of a 64-bit hash).
const HASHED_CANDIDATES_MAX: u32 = 64;

/// The clean-shutdown marker of the data directory `root`.
pub fn clean_marker(root: &Path) -> PathBuf {
    root.join(CLEAN_FILE)
}

/// An open data directory: its paths, whether the last shutdown was clean, and the lock that
/// keeps other processes out (released when this is dropped).
pub struct DataDir {
    root: PathBuf,
    streams: PathBuf,
    trash: PathBuf,
    /// The last shutdown was not clean: recovery must not trust the stores' padding.
    after_crash: bool,
    next_temporary: AtomicU64,
    _lock: Box<dyn std::any::Any + Send + Sync>,
}

/// Where a stream's directory goes.
enum Place {
    /// A free directory name.
    Free(PathBuf),
    /// A directory that already holds the stream's name.
    Owned(PathBuf),
}

/// Where a stream's directory was found or made.
pub enum StreamDir {
    /// A directory already there for this name (a creation or drop that failed half-way):
    /// open it as this stream, recovering it as after a crash.
    Existing(PathBuf),
    /// A new, empty stream.
    Created(PathBuf),
}

impl DataDir {
    /// Opens the data directory at `root` (created if missing): takes the lock, checks the
    /// format, removes the clean-shutdown marker (noting whether it was there) and finishes
    /// interrupted drops. Returns the directory and what was repaired.
    pub fn open(fs: &dyn FileSystem, root: &Path) -> Result<(DataDir, Vec<Repair>)> {
        if !fs.exists(root) {
            fs.create_dir_all(root)?;
            // The new directory's own entry must be durable too, or a crash could take
            // everything in it along.
            if let Some(parent) = root
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                fs.sync_dir(parent)?;
            }
        }
        let lock = take_lock(fs, &root.join(LOCK_FILE), root)?;
        check_format(fs, root)?;
        let streams = root.join(STREAMS_DIR);
        let trash = root.join(TRASH_DIR);
        fs.create_dir_all(&streams)?;
        fs.create_dir_all(&trash)?;
        fs.sync_dir(root)?;

        let marker = clean_marker(root);
        let after_crash = !fs.exists(&marker);
        if !after_crash {
            // Gone before anything is written, so a crash from here on is seen as one.
            fs.remove_file(&marker)?;
            fs.sync_dir(root)?;
        }
        let mut repairs = Vec::new();
        for leftover in fs.list_dir(&trash)? {
            let path = trash.join(&leftover);
            fs.remove_dir_all(&path)?;
            repairs.push(Repair::new(path, "removed the rest of an interrupted drop"));
        }
        let data_dir = DataDir {
            root: root.to_path_buf(),
            streams,
            trash,
            after_crash,
            next_temporary: AtomicU64::new(0),
            _lock: lock,
        };
        Ok((data_dir, repairs))
    }

    /// Whether the last shutdown was not clean.
    pub fn after_crash(&self) -> bool {
        self.after_crash
    }

    /// The streams' directories, by name, in directory-name order. Leftovers of creations cut
    /// short are removed (and reported); a directory whose name file cannot be read is skipped
    /// with an error in the log, left for repair by hand.
    pub fn stream_dirs(
        &self,
        fs: &dyn FileSystem,
        repairs: &mut Vec<Repair>,
    ) -> Result<Vec<(Vec<u8>, PathBuf)>> {
        let mut names = fs.list_dir(&self.streams)?;
        names.sort();
        let mut found = Vec::with_capacity(names.len());
        for entry in names {
            let Some(dir_name) = entry.to_str() else {
                continue;
            };
            let dir = self.streams.join(dir_name);
            if dir_name.starts_with(NEW_PREFIX) {
                fs.remove_dir_all(&dir)?;
                repairs.push(Repair::new(
                    dir,
                    "removed a stream directory whose creation was cut short",
                ));
                continue;
            }
            match owner(fs, &dir, dir_name) {
                Ok(Some(name)) => found.push((name, dir)),
                Ok(None) => {}
                // Without its name the stream cannot be served; a stream created under the
                // name goes elsewhere.
                Err(error) => {
                    tracing::error!(path = %dir.display(), "stream directory skipped: {error}");
                }
            }
        }
        Ok(found)
    }

    /// Where stream `name`'s directory goes (`planned` is its directory name): the first
    /// candidate that is free, or one that already holds `name` (a creation or a drop that
    /// failed half-way left it). Another stream in every candidate is corruption.
    fn place(&self, fs: &dyn FileSystem, planned: &DirName, name: &[u8]) -> Result<Place> {
        let mut attempt = 0;
        loop {
            let candidate_name = planned.candidate(attempt);
            let candidate = self.streams.join(&candidate_name);
            if !fs.exists(&candidate) {
                return Ok(Place::Free(candidate));
            }
            if owner(fs, &candidate, &candidate_name)
                .ok()
                .flatten()
                .as_deref()
                == Some(name)
            {
                return Ok(Place::Owned(candidate));
            }
            if matches!(planned, DirName::Plain(_)) || attempt >= HASHED_CANDIDATES_MAX {
                return Err(Error::corrupt(
                    candidate,
                    "the stream's directory holds another stream",
                ));
            }
            attempt += 1;
        }
    }

    /// The directory for stream `name`, which the caller knows is not open: one left behind
    /// for this name, or a new one holding an empty first segment, built aside and renamed
    /// into place (durably, unless the fsync policy is `no`).
    pub fn create_stream_dir(&self, ctx: &Context, name: &[u8]) -> Result<StreamDir> {
        let fs = ctx.fs.as_ref();
        let planned = catalog::dir_name(name);
        let final_dir = match self.place(fs, &planned, name)? {
            Place::Free(dir) => dir,
            Place::Owned(dir) => return Ok(StreamDir::Existing(dir)),
        };
        let temporary = self.streams.join(format!(
            "{NEW_PREFIX}{}",
            self.next_temporary.fetch_add(1, Ordering::Relaxed)
        ));
        if fs.exists(&temporary) {
            fs.remove_dir_all(&temporary)?;
        }
        fs.create_dir_all(&temporary)?;
        if matches!(planned, DirName::Hashed(_)) {
            let file = fs.open(&temporary.join(catalog::NAME_FILE), OpenMode::Create)?;
            file.write_all_at(name, 0)?;
            ctx.sync_file(file.as_ref())?;
        }
        let header = SegmentHeader {
            segment_id: 1,
            ..SegmentHeader::default()
        };
        let durable = ctx.config.fsync != crate::config::FsyncPolicy::No;
        create_segment_file(
            fs,
            &temporary,
            &header,
            ctx.config.segment_bytes_max,
            durable,
        )?;
        fs.rename(&temporary, &final_dir)?;
        ctx.sync_dir(&self.streams)?;
        Ok(StreamDir::Created(final_dir))
    }

    /// Moves the directory `dir` of a closed stream to where stream `to` lives, which the
    /// caller knows is not open. A directory left there by a failed creation or drop of `to`
    /// is removed first. Atomic under a crash: the directory is the old stream's until the
    /// step that makes it `to`'s (a hashed name's `name` file replaced, or the directory
    /// renamed), and `to`'s after it. Returns the new path.
    pub fn rename_stream_dir(&self, ctx: &Context, dir: &Path, to: &[u8]) -> Result<PathBuf> {
        let fs = ctx.fs.as_ref();
        let planned = catalog::dir_name(to);
        let final_dir = match self.place(fs, &planned, to)? {
            Place::Free(dir) => dir,
            Place::Owned(dir) => {
                let leftover = self.next_temporary.fetch_add(1, Ordering::Relaxed);
                self.remove_stream_dir(ctx, &dir, leftover)?;
                dir
            }
        };
        if matches!(planned, DirName::Hashed(_)) {
            let staged = dir.join(format!("{}.new", catalog::NAME_FILE));
            let file = fs.open(&staged, OpenMode::Create)?;
            file.write_all_at(to, 0)?;
            ctx.sync_file(file.as_ref())?;
            fs.rename(&staged, &dir.join(catalog::NAME_FILE))?;
            ctx.sync_dir(dir)?;
        }
        fs.rename(dir, &final_dir)?;
        ctx.sync_dir(&self.streams)?;
        Ok(final_dir)
    }

    /// Removes a stream's directory: renamed into the trash first (durably), so a crash never
    /// leaves half a stream behind, then removed. `uid` keeps trash names apart.
    pub fn remove_stream_dir(&self, ctx: &Context, dir: &Path, uid: u64) -> Result<()> {
        let trashed = self.trash.join(format!(
            "{}.{uid}",
            dir.file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("stream"),
        ));
        ctx.fs.rename(dir, &trashed)?;
        ctx.sync_dir(&self.streams)?;
        ctx.sync_dir(&self.trash)?;
        ctx.fs.remove_dir_all(&trashed)?;
        Ok(())
    }

    /// Writes the clean-shutdown marker, durably (the caller has synced every stream).
    pub fn mark_clean(&self, fs: &dyn FileSystem) -> Result<()> {
        let marker = clean_marker(&self.root);
        if !fs.exists(&marker) {
            let file = fs.open(&marker, OpenMode::Create)?;
            file.sync_data()?;
            fs.sync_dir(&self.root)?;
        }
        Ok(())
    }
}

/// Takes the directory's lock file. Another process holding it is [`Error::Locked`]; any other
/// failure (permissions, a read-only file system) is an I/O error that names the file.
fn take_lock(
    fs: &dyn FileSystem,
    path: &Path,
    root: &Path,
) -> Result<Box<dyn std::any::Any + Send + Sync>> {
    fs.lock(path).map_err(|error| match error.kind() {
        io::ErrorKind::WouldBlock => Error::Locked(root.to_path_buf()),
        kind => Error::Io(io::Error::new(
            kind,
            format!("cannot take the lock file {}: {error}", path.display()),
        )),
    })
}

/// Checks the format file, writing it into a directory that has none.
fn check_format(fs: &dyn FileSystem, root: &Path) -> Result<()> {
    let path = root.join(FORMAT_FILE);
    if !fs.exists(&path) {
        let file = fs.open(&path, OpenMode::Create)?;
        file.write_all_at(FORMAT_TEXT.as_bytes(), 0)?;
        file.sync_data()?;
        return Ok(());
    }
    let text = fs.open(&path, OpenMode::Read)?.read_all()?;
    if text != FORMAT_TEXT.as_bytes() {
        return Err(Error::Config(format!(
            "{} holds data in an unknown format ({:?})",
            root.display(),
            String::from_utf8_lossy(&text).trim()
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::fs::RealFs;

    #[test]
    fn a_held_lock_is_reported_as_in_use_and_other_failures_as_what_they_are() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (_open, _) = DataDir::open(&RealFs, dir.path()).expect("the first open");
        match DataDir::open(&RealFs, dir.path()) {
            Err(Error::Locked(path)) => assert_eq!(path, dir.path()),
            Err(other) => panic!("expected Locked, got {other}"),
            Ok(_) => panic!("a second open took the lock"),
        }
        // A lock file that cannot be opened is an I/O error naming it, not "in use".
        let blocked = dir.path().join("blocked");
        std::fs::create_dir_all(blocked.join(LOCK_FILE)).expect("a directory where LOCK goes");
        match DataDir::open(&RealFs, &blocked) {
            Err(Error::Io(error)) => assert!(error.to_string().contains(LOCK_FILE), "{error}"),
            Err(other) => panic!("expected an I/O error, got {other}"),
            Ok(_) => panic!("opened with a directory as its lock file"),
        }
    }
}
