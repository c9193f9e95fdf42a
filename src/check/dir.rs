//! The data directory around the streams: its lock (so a check and a server never overlap),
//! its format file, the clean-shutdown marker, interrupted creations and drops, and which
//! directories are streams.

use std::fs;
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::check::report::{Level, Problem, Report};
use crate::check::{stream, CheckError};
use crate::storage::catalog::{self, Decoded};
use crate::storage::data_dir::{
    CLEAN_FILE, FORMAT_FILE, FORMAT_TEXT, LOCK_FILE, NEW_PREFIX, STREAMS_DIR, TRASH_DIR,
};

/// The data directory's lock, held for as long as this lives.
pub(super) struct DirLock {
    _file: Option<fs::File>,
}

/// Takes the lock of the data directory `root` (flock, exclusive, without waiting), as the
/// server does; a held lock means a server (or another check) is using the directory. The lock
/// file is opened read-only; when it is missing it is created only if `create` (a read-only
/// check of a directory no server ever opened needs no lock).
pub(super) fn lock(root: &Path, create: bool) -> Result<DirLock, CheckError> {
    if !root.is_dir() {
        return Err(CheckError::NotADataDir {
            path: root.to_path_buf(),
            why: "no such directory".to_owned(),
        });
    }
    let path = root.join(LOCK_FILE);
    let file = match fs::OpenOptions::new()
        .read(true)
        .create(create)
        .write(create)
        .truncate(false)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok(DirLock { _file: None })
        }
        Err(source) => return Err(CheckError::io(&path, source)),
    };
    // SAFETY: flock on a descriptor this function owns; the lock goes when the file closes.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let error = io::Error::last_os_error();
        return Err(match error.kind() {
            io::ErrorKind::WouldBlock => CheckError::Locked(root.to_path_buf()),
            _ => CheckError::io(&path, error),
        });
    }
    Ok(DirLock { _file: Some(file) })
}

/// Checks the data directory `root`, whose lock the caller holds.
pub(super) fn check(root: &Path) -> Result<Report, CheckError> {
    match fs::read(root.join(FORMAT_FILE)) {
        Ok(text) if text == FORMAT_TEXT.as_bytes() => {}
        Ok(text) => {
            return Err(CheckError::NotADataDir {
                path: root.to_path_buf(),
                why: format!(
                    "its FORMAT file says {:?}",
                    String::from_utf8_lossy(&text).trim()
                ),
            })
        }
        Err(error) => {
            return Err(CheckError::NotADataDir {
                path: root.to_path_buf(),
                why: format!("no FORMAT file ({error})"),
            })
        }
    }
    let mut report = Report {
        root: root.to_path_buf(),
        clean_shutdown: root.join(CLEAN_FILE).exists(),
        ..Report::default()
    };
    for leftover in names(&root.join(TRASH_DIR))? {
        report.problems.push(Problem::new(
            Level::Warning,
            root.join(TRASH_DIR).join(leftover),
            "the rest of an interrupted drop: the server removes it on open",
        ));
    }
    let streams = root.join(STREAMS_DIR);
    for dir_name in names(&streams)? {
        let dir = streams.join(&dir_name);
        if dir_name.starts_with(NEW_PREFIX) {
            report.problems.push(Problem::new(
                Level::Warning,
                &dir,
                "a stream whose creation was cut short: the server removes it on open",
            ));
            continue;
        }
        let name = match catalog::decode_dir_name(&dir_name) {
            Decoded::Name(name) => Some(name),
            Decoded::Hashed => match fs::read(dir.join(catalog::NAME_FILE)) {
                Ok(name) => Some(name),
                Err(error) => {
                    let mut unnamed = stream::check(None, &dir)?;
                    unnamed.problems.insert(
                        0,
                        Problem::new(
                            Level::Damage,
                            dir.join(catalog::NAME_FILE),
                            format!(
                                "cannot read the stream's name ({error}): the server skips \
                                 this directory"
                            ),
                        ),
                    );
                    report.streams.push(unnamed);
                    continue;
                }
            },
            Decoded::Other => {
                report.problems.push(Problem::new(
                    Level::Info,
                    &dir,
                    "not a stream directory: the server leaves it alone",
                ));
                continue;
            }
        };
        report.streams.push(stream::check(name, &dir)?);
    }
    Ok(report)
}

/// The names in directory `dir` (none if it does not exist), sorted.
fn names(dir: &Path) -> Result<Vec<String>, CheckError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(CheckError::io(dir, source)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| CheckError::io(dir, source))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    Ok(names)
}
