//! The repairs `sluice check --repair` makes itself, one file each: what the server would not
//! repair on its own. Nothing is destroyed: every byte a repair takes out of a file is kept
//! beside it in `<file>.dropped-<offset>-<ms>`, as recovery keeps the torn tails it cuts, and
//! every change is synced (file, then directory) before the next.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::check::CheckError;
use crate::storage::journal::{self, JournalFile};
use crate::storage::segment::SegmentHeader;
use crate::storage::tombstone::{self, Tombstone};

/// A repair of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fix {
    /// Cut a segment log after its last valid committed record at `at`; the bytes after it
    /// are kept aside. Opening then rebuilds the segment's index.
    CutLog {
        /// Where the valid records end.
        at: u64,
    },
    /// Write a segment's damaged header again, with counters derived from the segment before.
    WriteHeader(SegmentHeader),
    /// Move an index that disagrees with its log aside; opening rebuilds it from the log.
    SetIndexAside,
    /// Rewrite a tombstone file with its valid slots only; the damaged ones are kept aside.
    KeepValidTombstones,
    /// Write a group journal's damaged header again (it is fully determined by its
    /// generation).
    WriteJournalHeader {
        /// The journal's generation.
        generation: u64,
    },
    /// Cut a group journal after its last valid frame at `at`; the bytes after it are kept
    /// aside.
    CutJournal {
        /// Where the valid frames end.
        at: u64,
    },
    /// Move a damaged group snapshot aside (the server already ignores it).
    SetSnapshotAside,
    /// Move a damaged retention policy file aside: the stream opens without a policy (it
    /// keeps more, never less, than the policy would have).
    SetRetentionAside,
}

impl fmt::Display for Fix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fix::CutLog { at } => write!(f, "cut the log at {at}, the rest kept aside"),
            Fix::WriteHeader(_) => write!(f, "write the header again from the segment before"),
            Fix::SetIndexAside => write!(f, "move the index aside; opening rebuilds it"),
            Fix::KeepValidTombstones => write!(f, "keep the valid tombstones only"),
            Fix::WriteJournalHeader { .. } => write!(f, "write the journal header again"),
            Fix::CutJournal { at } => write!(f, "cut the journal at {at}, the rest kept aside"),
            Fix::SetSnapshotAside => write!(f, "move the snapshot aside"),
            Fix::SetRetentionAside => write!(f, "move the policy aside; set it again"),
        }
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> CheckError + '_ {
    move |source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Applies `fix` to `path`; returns what was done, for the operator.
pub fn apply(path: &Path, fix: &Fix) -> Result<String, CheckError> {
    match fix {
        Fix::CutLog { at } => cut(path, *at, None),
        Fix::WriteHeader(header) => overwrite_start(path, &header.encode()),
        Fix::SetIndexAside => set_aside(path, "the server rebuilds the index from the log"),
        Fix::KeepValidTombstones => keep_valid_tombstones(path),
        Fix::WriteJournalHeader { generation } => {
            overwrite_start(path, &journal::header(JournalFile::Journal, *generation))
        }
        Fix::CutJournal { at } => cut(path, *at, Some(journal::PREALLOCATED_BYTES)),
        Fix::SetSnapshotAside => set_aside(path, "the groups are rebuilt without it"),
        Fix::SetRetentionAside => set_aside(
            path,
            "the stream has no retention policy until one is set again (XRETENTION SET)",
        ),
    }
}

/// A name beside `path` for bytes taken out of it at `offset`, not yet taken.
fn aside_path(path: &Path, offset: u64) -> PathBuf {
    let mut stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis())
        .unwrap_or(0);
    loop {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".dropped-{offset}-{stamp}"));
        let candidate = PathBuf::from(name);
        if !candidate.exists() {
            return candidate;
        }
        stamp += 1;
    }
}

/// Writes `bytes` beside `path` as taken from `offset`, durably; returns where.
fn keep_aside(path: &Path, offset: u64, bytes: &[u8]) -> Result<PathBuf, CheckError> {
    let aside = aside_path(path, offset);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&aside)
        .map_err(io_error(&aside))?;
    file.write_all_at(bytes, 0).map_err(io_error(&aside))?;
    file.sync_data().map_err(io_error(&aside))?;
    Ok(aside)
}

/// A file's name, for saying where something went (it is beside the file repaired).
fn shown(path: &Path) -> std::borrow::Cow<'_, str> {
    path.file_name()
        .map_or_else(|| path.to_string_lossy(), |name| name.to_string_lossy())
}

fn sync_parent(path: &Path) -> Result<(), CheckError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(dir))
}

/// Cuts `path` at `at` (extended again with zeros to `preallocated`, if given), keeping the
/// non-zero bytes after `at` aside.
fn cut(path: &Path, at: u64, preallocated: Option<u64>) -> Result<String, CheckError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let len = bytes.len() as u64;
    let start = usize::try_from(at.min(len)).unwrap_or(bytes.len());
    let tail = &bytes[start..];
    let meaningful = tail
        .iter()
        .rposition(|&byte| byte != 0)
        .map_or(0, |at| at + 1);
    let kept = if meaningful > 0 {
        Some(keep_aside(path, at, &tail[..meaningful])?)
    } else {
        None
    };
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    file.set_len(at).map_err(io_error(path))?;
    if let Some(size) = preallocated {
        file.set_len(len.max(size)).map_err(io_error(path))?;
    }
    file.sync_data().map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(match kept {
        Some(aside) => format!(
            "cut after {at} bytes; the {meaningful} bytes after them are kept in {}",
            shown(&aside)
        ),
        None => format!("cut after {at} bytes (only zeros followed)"),
    })
}

/// Writes `start` over the first bytes of `path`, keeping the bytes it replaces aside.
fn overwrite_start(path: &Path, start: &[u8]) -> Result<String, CheckError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    let mut old = vec![0; start.len()];
    let read = file.read_at(&mut old, 0).map_err(io_error(path))?;
    old.truncate(read);
    let aside = keep_aside(path, 0, &old)?;
    file.write_all_at(start, 0).map_err(io_error(path))?;
    file.sync_data().map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(format!(
        "header written again; the damaged one is kept in {}",
        shown(&aside)
    ))
}

/// Renames `path` aside.
fn set_aside(path: &Path, consequence: &str) -> Result<String, CheckError> {
    let aside = aside_path(path, 0);
    fs::rename(path, &aside).map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(format!("moved to {}: {consequence}", shown(&aside)))
}

/// Rewrites a tombstone file with the slots that decode; the others are kept aside.
fn keep_valid_tombstones(path: &Path) -> Result<String, CheckError> {
    let bytes = fs::read(path).map_err(io_error(path))?;
    let mut valid = Vec::with_capacity(bytes.len());
    let mut damaged = Vec::new();
    let mut first_damaged = None;
    for (slot, chunk) in bytes.chunks(tombstone::SLOT_BYTES).enumerate() {
        if Tombstone::decode(chunk).is_some() {
            valid.extend_from_slice(chunk);
        } else {
            first_damaged.get_or_insert((slot * tombstone::SLOT_BYTES) as u64);
            damaged.extend_from_slice(chunk);
        }
    }
    let Some(offset) = first_damaged else {
        return Ok("nothing damaged any more: left as it is".to_owned());
    };
    let aside = keep_aside(path, offset, &damaged)?;
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let file = fs::File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all_at(&valid, 0).map_err(io_error(&temporary))?;
    file.sync_data().map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))?;
    sync_parent(path)?;
    Ok(format!(
        "rewritten with its {} valid tombstones; the {} damaged bytes are kept in {}",
        valid.len() / tombstone::SLOT_BYTES,
        damaged.len(),
        shown(&aside)
    ))
}
