//! A stream's group journal and its snapshots: opaque records, CRC-framed, appended to
//! `groups-<gen:020>.jnl`, and compacted into `groups-<gen:020>.snap`. What the records mean is
//! the `group` module's business; this one only keeps them safe.
//!
//! ```text
//! file header (24 bytes): magic "SLUICEGJ" (journal) or "SLUICEGS" (snapshot), version u32,
//!                         generation u64, CRC-32 of bytes 0..20 u32
//! snapshot only: record count u64 right after the header, then that many frames, then EOF
//! frame: body length u32 (≥ 1), CRC-32 of the length's 4 bytes and the body u32, body
//! ```
//!
//! A journal is preallocated (sparsely, like an active segment) so appends rarely change its
//! size; a zero length field marks where its frames end. The state of the groups is the newest
//! valid snapshot (generation S; none: empty) followed by the journals of generations S and
//! later, in order. Compaction starts journal S+1 (durably) and writes the state as it stood
//! then into snapshot S+1 (written aside, synced, renamed into place); only then are the files
//! of older generations removed. A crash at any point leaves either snapshot S with journals
//! S and S+1, or snapshot S+1 with journal S+1: the same state.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::storage::fs::{File, FileSystem, OpenMode};
use crate::storage::record::checksum;
use crate::storage::repair::Repair;

/// Bytes of a journal's or snapshot's file header.
pub const HEADER_BYTES: u64 = 24;
/// Bytes of a frame before its body.
pub const FRAME_HEADER_BYTES: usize = 8;
/// A journal file's preallocated size; it grows by doubling when a record would not fit.
pub const PREALLOCATED_BYTES: u64 = 1 << 20;
const JOURNAL_MAGIC: [u8; 8] = *b"SLUICEGJ";
const SNAPSHOT_MAGIC: [u8; 8] = *b"SLUICEGS";
const VERSION: u32 = 1;

/// Which of the two files of a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JournalFile {
    /// `groups-<gen>.jnl`.
    Journal,
    /// `groups-<gen>.snap`.
    Snapshot,
}

/// The file name of generation `generation`'s journal or snapshot.
pub fn file_name(generation: u64, kind: JournalFile) -> String {
    match kind {
        JournalFile::Journal => format!("groups-{generation:020}.jnl"),
        JournalFile::Snapshot => format!("groups-{generation:020}.snap"),
    }
}

/// Parses a name made by [`file_name`].
pub fn parse_file_name(name: &str) -> Option<(u64, JournalFile)> {
    let rest = name.strip_prefix("groups-")?;
    let (stem, extension) = rest.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let kind = match extension {
        "jnl" => JournalFile::Journal,
        "snap" => JournalFile::Snapshot,
        _ => return None,
    };
    Some((stem.parse().ok()?, kind))
}

/// The file header of generation `generation`'s journal or snapshot: fully determined by the
/// two, so a damaged one can be written again exactly.
// Format: the file header in this module's doc (FORMAT.md, "Group journal").
pub fn header(kind: JournalFile, generation: u64) -> [u8; HEADER_BYTES as usize] {
    let mut out = [0u8; HEADER_BYTES as usize];
    out[0..8].copy_from_slice(match kind {
        JournalFile::Journal => &JOURNAL_MAGIC,
        JournalFile::Snapshot => &SNAPSHOT_MAGIC,
    });
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out[12..20].copy_from_slice(&generation.to_le_bytes());
    let crc = crc32fast::hash(&out[..20]);
    out[20..24].copy_from_slice(&crc.to_le_bytes());
    out
}

/// Whether `bytes` begin with generation `generation`'s header of `kind`.
pub fn check_header(bytes: &[u8], kind: JournalFile, generation: u64) -> bool {
    bytes.len() >= HEADER_BYTES as usize
        && bytes[..HEADER_BYTES as usize] == header(kind, generation)
}

/// Appends the frame of one record body to `out`; a body whose length does not fit the
/// frame's 32 bits is refused (no command comes near: its records are bounded by its request).
// Format: frame in this module's doc (FORMAT.md, "Group journal").
pub fn encode_frame(out: &mut Vec<u8>, body: &[u8]) -> Result<()> {
    let len = u32::try_from(body.len())
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("a group record of {} bytes is over 4 GiB", body.len()),
            )
        })?
        .to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&checksum(&len, body).to_le_bytes());
    out.extend_from_slice(body);
    Ok(())
}

/// What one frame read found.
enum Frame<'a> {
    Body(&'a [u8]),
    /// A zero length: the end of a journal's frames.
    End,
    /// Bytes that are not a whole, valid frame.
    Damaged,
}

fn decode_frame(bytes: &[u8]) -> Frame<'_> {
    if bytes.len() < 4 || bytes[..4] == [0; 4] {
        return Frame::End;
    }
    if bytes.len() < FRAME_HEADER_BYTES {
        return Frame::Damaged;
    }
    let len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let stored = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    // The length is covered by the CRC: one damaged into another value that still fits the
    // file is caught below. (Replay takes any length a command could write.)
    if bytes.len() - FRAME_HEADER_BYTES < len {
        return Frame::Damaged;
    }
    let body = &bytes[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + len];
    if checksum(&bytes[..4], body) != stored {
        return Frame::Damaged;
    }
    Frame::Body(body)
}

/// The groups' files as opening found them: the record bodies to replay, in order, and where
/// the newest journal goes on.
#[derive(Debug, Default)]
pub struct Replay {
    /// Record bodies: the snapshot's, then each journal's.
    pub records: Vec<Vec<u8>>,
    /// The newest journal, if any: its generation and the end of its frames.
    pub journal: Option<(u64, u64)>,
    /// Bytes of the newest snapshot (what the next compaction is measured against).
    pub snapshot_bytes: u64,
    /// Bytes of journal since that snapshot.
    pub journal_bytes: u64,
}

/// Opens the group files of the stream directory `dir`: picks the newest valid snapshot,
/// reads it and every later journal, cuts a torn journal tail, removes what compaction left
/// behind. `names` are the directory's file names.
pub fn open(
    fs: &dyn FileSystem,
    dir: &Path,
    names: &[String],
    after_crash: bool,
    repairs: &mut Vec<Repair>,
) -> Result<Replay> {
    let mut journals = Vec::new();
    let mut snapshots = Vec::new();
    for name in names {
        match parse_file_name(name) {
            Some((generation, JournalFile::Journal)) => journals.push(generation),
            Some((generation, JournalFile::Snapshot)) => snapshots.push(generation),
            None => {}
        }
    }
    journals.sort_unstable();
    snapshots.sort_unstable();
    let mut replay = Replay::default();
    let mut base = None;
    for generation in snapshots.iter().rev() {
        let path = dir.join(file_name(*generation, JournalFile::Snapshot));
        match read_snapshot(fs, &path, *generation)? {
            Some((records, bytes)) => {
                replay.records = records;
                replay.snapshot_bytes = bytes;
                base = Some(*generation);
                break;
            }
            None => {
                // Written aside and renamed only once synced: damage here is not a crash's
                // doing. An older snapshot and its journals still hold the state.
                tracing::error!(path = %path.display(), "group snapshot damaged; using an older generation");
                repairs.push(Repair::new(
                    path,
                    "damaged group snapshot: an older generation was used",
                ));
            }
        }
    }
    // Newest first: an older journal's torn tail is a crash's doing (and cut) only while no
    // later journal holds a record — a compaction may start the next journal while an append
    // to this one is still unsynced; once a later journal has records, this one's tail was
    // synced before them, and damage there is corruption.
    let mut read = Vec::new();
    let mut later_has_records = false;
    for generation in journals.iter().copied().rev() {
        if base.is_some_and(|base| generation < base) {
            continue;
        }
        let path = dir.join(file_name(generation, JournalFile::Journal));
        let newest = journals.last() == Some(&generation);
        let tail = Tail {
            newest,
            may_tear: !later_has_records,
        };
        let (records, end) = read_journal(fs, &path, generation, tail, after_crash, repairs)?;
        later_has_records |= !records.is_empty();
        read.push((generation, newest, records, end));
    }
    for (generation, newest, records, end) in read.into_iter().rev() {
        replay.journal_bytes += end - HEADER_BYTES;
        replay.records.extend(records);
        if newest {
            replay.journal = Some((generation, end));
        }
    }
    if let Some(base) = base.filter(|base| replay.journal.is_none_or(|(newest, _)| newest < *base))
    {
        // A snapshot's own journal is started before it is written; without it (removed by
        // hand), records must not go to an older generation that the snapshot hides.
        let path = dir.join(file_name(base, JournalFile::Journal));
        start_journal(fs, &path, base, true)?;
        repairs.push(Repair::new(
            path,
            "missing group journal of the newest snapshot recreated",
        ));
        replay.journal = Some((base, HEADER_BYTES));
    }
    let cut_below = base.unwrap_or(0);
    for generation in journals.iter().chain(&snapshots) {
        if *generation < cut_below {
            for kind in [JournalFile::Journal, JournalFile::Snapshot] {
                remove_if_present(fs, &dir.join(file_name(*generation, kind)))?;
            }
        }
    }
    Ok(replay)
}

/// A snapshot's record bodies and its size, or `None` if it is damaged.
fn read_snapshot(
    fs: &dyn FileSystem,
    path: &Path,
    generation: u64,
) -> Result<Option<(Vec<Vec<u8>>, u64)>> {
    let bytes = fs.open(path, OpenMode::Read)?.read_all()?;
    Ok(parse_snapshot(&bytes, generation).map(|records| (records, bytes.len() as u64)))
}

/// The record bodies of snapshot `generation` whose bytes are `bytes`, or `None` if its
/// header, a frame or its record count is damaged.
pub fn parse_snapshot(bytes: &[u8], generation: u64) -> Option<Vec<Vec<u8>>> {
    if !check_header(bytes, JournalFile::Snapshot, generation) || bytes.len() < 32 {
        return None;
    }
    let count = u64::from_le_bytes(bytes[24..32].try_into().unwrap_or_default());
    let mut at = 32usize;
    let mut records = Vec::new();
    while at < bytes.len() {
        match decode_frame(&bytes[at..]) {
            Frame::Body(body) => {
                records.push(body.to_vec());
                at += FRAME_HEADER_BYTES + body.len();
            }
            Frame::End | Frame::Damaged => return None,
        }
    }
    (records.len() as u64 == count).then_some(records)
}

/// A journal's frames read from its bytes (after a valid header).
#[derive(Debug, Default)]
pub struct Frames {
    /// Each whole, valid frame: its offset in the file and its body.
    pub bodies: Vec<(u64, Vec<u8>)>,
    /// Where the valid frames end.
    pub end: u64,
    /// The frames ended at bytes that are not a whole, valid frame (rather than at a zero
    /// length or the end of the file).
    pub damaged: bool,
    /// Non-zero bytes after `end` (a torn append's leftovers, or the damaged frame).
    pub leftovers: bool,
}

/// Reads the frames of journal bytes `bytes` (header included) up to the zero length that ends
/// them, or to the first damaged frame.
pub fn read_frames(bytes: &[u8]) -> Frames {
    let mut frames = Frames::default();
    let mut at = (HEADER_BYTES as usize).min(bytes.len());
    frames.damaged = loop {
        match decode_frame(&bytes[at..]) {
            Frame::Body(body) => {
                frames.bodies.push((at as u64, body.to_vec()));
                at += FRAME_HEADER_BYTES + body.len();
            }
            Frame::End => break false,
            Frame::Damaged => break true,
        }
    };
    frames.end = at as u64;
    frames.leftovers = bytes[at..].iter().any(|&byte| byte != 0);
    frames
}

/// Where a journal stands among the others, for what its damage means.
#[derive(Clone, Copy)]
struct Tail {
    /// The newest journal (a torn header there is a creation cut short).
    newest: bool,
    /// No later journal holds a record: a damaged tail is a torn append, and is cut.
    may_tear: bool,
}

/// A journal's record bodies and the end of its frames. A tail after the last whole frame is
/// cleared (a torn append) when `tail.may_tear`; otherwise damage is corruption.
fn read_journal(
    fs: &dyn FileSystem,
    path: &Path,
    generation: u64,
    tail: Tail,
    after_crash: bool,
    repairs: &mut Vec<Repair>,
) -> Result<(Vec<Vec<u8>>, u64)> {
    let file = fs.open(path, OpenMode::ReadWrite)?;
    let bytes = file.read_all()?;
    if !check_header(&bytes, JournalFile::Journal, generation) {
        let empty = bytes
            .get(HEADER_BYTES as usize..)
            .is_none_or(|rest| rest.iter().all(|&byte| byte == 0));
        if tail.newest && empty {
            // Created in a crash before its header was durable: it holds nothing.
            start_journal(fs, path, generation, true)?;
            repairs.push(Repair::new(
                path,
                "group journal with a torn header rewritten",
            ));
            return Ok((Vec::new(), HEADER_BYTES));
        }
        return Err(Error::corrupt(path, "group journal header damaged"));
    }
    let Frames {
        bodies,
        end,
        damaged,
        leftovers,
    } = read_frames(&bytes);
    let records: Vec<Vec<u8>> = bodies.into_iter().map(|(_, body)| body).collect();
    if damaged && !tail.may_tear {
        return Err(Error::corrupt(
            path,
            format!("group journal damaged at offset {end}"),
        ));
    }
    let _ = after_crash;
    if damaged || leftovers {
        let size = (bytes.len() as u64).max(PREALLOCATED_BYTES);
        file.set_len(end)?;
        file.set_len(size)?;
        file.sync_data()?;
        repairs.push(Repair::new(
            path,
            format!(
                "group journal cut after {end} bytes ({}): the torn append's {} bytes cleared",
                if damaged {
                    "a damaged or torn record"
                } else {
                    "a torn write's leftovers"
                },
                bytes.len() as u64 - end
            ),
        ));
    }
    Ok((records, end))
}

/// Creates generation `generation`'s journal holding only its header, preallocated; durably
/// (file and directory) when `durable`.
pub fn start_journal(
    fs: &dyn FileSystem,
    path: &Path,
    generation: u64,
    durable: bool,
) -> Result<()> {
    let file = fs.open(path, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&header(JournalFile::Journal, generation), 0)?;
    file.set_len(PREALLOCATED_BYTES)?;
    if durable {
        file.sync_data()?;
        if let Some(dir) = path.parent() {
            fs.sync_dir(dir)?;
        }
    }
    Ok(())
}

/// Makes sure `file` can take `len` more bytes at `end`, doubling its preallocation as needed.
/// Returns the file's size.
pub fn reserve(file: &dyn File, end: u64, len: u64) -> std::io::Result<u64> {
    let size = file.len()?;
    if end + len <= size {
        return Ok(size);
    }
    let mut grown = size.max(PREALLOCATED_BYTES);
    while grown < end + len {
        grown = grown.saturating_mul(2);
    }
    file.set_len(grown)?;
    Ok(grown)
}

/// Writes snapshot `generation` holding `records` (bodies) aside, as `tag` names it (unique
/// to the stream's incarnation, so that a stream dropped and created again under the same
/// name never sees it), synced as `durable` says. Returns its path and size; nothing of the
/// groups' state changes until [`install_snapshot`].
pub fn write_snapshot_aside(
    fs: &dyn FileSystem,
    dir: &Path,
    generation: u64,
    tag: u64,
    records: &[Vec<u8>],
    durable: bool,
) -> Result<(PathBuf, u64)> {
    let temporary = dir.join(format!(
        "{}.{tag:016x}.tmp",
        file_name(generation, JournalFile::Snapshot)
    ));
    let mut bytes = header(JournalFile::Snapshot, generation).to_vec();
    bytes.extend_from_slice(&(records.len() as u64).to_le_bytes());
    for record in records {
        encode_frame(&mut bytes, record)?;
    }
    let file = fs.open(&temporary, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&bytes, 0)?;
    if durable {
        file.sync_data()?;
    }
    Ok((temporary, bytes.len() as u64))
}

/// Renames a snapshot written by [`write_snapshot_aside`] into place as generation
/// `generation`'s. Older generations stay until [`remove_older`], which may run only once
/// the directory is synced.
pub fn install_snapshot(
    fs: &dyn FileSystem,
    dir: &Path,
    generation: u64,
    temporary: &Path,
) -> Result<()> {
    fs.rename(
        temporary,
        &dir.join(file_name(generation, JournalFile::Snapshot)),
    )?;
    Ok(())
}

/// Removes every journal and snapshot of a generation older than `generation`.
pub fn remove_older(fs: &dyn FileSystem, dir: &Path, generation: u64) -> Result<()> {
    for name in fs.list_dir(dir)? {
        let Some((older, _)) = name.to_str().and_then(parse_file_name) else {
            continue;
        };
        if older < generation {
            remove_if_present(fs, &dir.join(name))?;
        }
    }
    Ok(())
}

/// Removes a snapshot written aside that will not be installed.
pub fn discard_snapshot(fs: &dyn FileSystem, temporary: &Path) -> Result<()> {
    remove_if_present(fs, temporary)
}

fn remove_if_present(fs: &dyn FileSystem, path: &Path) -> Result<()> {
    match fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_stay_apart_from_segments() {
        assert_eq!(
            file_name(7, JournalFile::Journal),
            "groups-00000000000000000007.jnl"
        );
        assert_eq!(
            parse_file_name("groups-00000000000000000007.snap"),
            Some((7, JournalFile::Snapshot))
        );
        assert_eq!(parse_file_name("00000000000000000007.log"), None);
        assert_eq!(parse_file_name("groups-7.jnl"), None);
        assert_eq!(
            crate::storage::segment::parse_file_name("groups-00000000000000000007.jnl"),
            None
        );
    }

    #[test]
    fn frames_catch_every_flip_and_cut() {
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, b"record body").expect("a small body");
        assert!(matches!(decode_frame(&bytes), Frame::Body(body) if body == b"record body"));
        for cut in 4..bytes.len() {
            assert!(
                matches!(decode_frame(&bytes[..cut]), Frame::Damaged),
                "cut {cut}"
            );
        }
        for at in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x40;
            assert!(
                !matches!(decode_frame(&flipped), Frame::Body(body) if body == b"record body"),
                "flip {at}"
            );
        }
        assert!(matches!(decode_frame(&[0, 0, 0, 0, 9]), Frame::End));
    }

    #[test]
    fn a_frame_of_any_size_written_is_read_back() {
        // One command's records can be large (a read or claim of many entries with long
        // names): replay takes whatever length an append wrote.
        let body = vec![7u8; 65 << 20];
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, &body).expect("a body under 4 GiB");
        assert!(matches!(decode_frame(&bytes), Frame::Body(read) if read.len() == body.len()));
    }

    /// Journal `generation` in `dir` holding `records`, then `tail` (a torn append).
    fn journal_with(dir: &Path, generation: u64, records: &[&[u8]], tail: &[u8]) {
        let fs = crate::storage::fs::RealFs;
        let path = dir.join(file_name(generation, JournalFile::Journal));
        start_journal(&fs, &path, generation, false).expect("a journal");
        let mut bytes = Vec::new();
        for record in records {
            encode_frame(&mut bytes, record).expect("a small body");
        }
        bytes.extend_from_slice(tail);
        let file = fs
            .open(&path, OpenMode::ReadWrite)
            .expect("open the journal");
        file.write_all_at(&bytes, HEADER_BYTES)
            .expect("write the frames");
    }

    fn open_dir(dir: &Path) -> (Result<Replay>, Vec<Repair>) {
        let names: Vec<String> = std::fs::read_dir(dir)
            .expect("list")
            .map(|entry| {
                entry
                    .expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let mut repairs = Vec::new();
        let opened = open(&crate::storage::fs::RealFs, dir, &names, true, &mut repairs);
        (opened, repairs)
    }

    #[test]
    fn an_older_journal_may_be_torn_only_while_no_later_one_has_records() {
        // A compaction started journal 2 while an append to journal 1 was unsynced: the power
        // cut tore that append, and journal 2 holds nothing yet. The tail is cut.
        let torn = [9u8, 0, 0, 0, 1, 2];
        let dir = tempfile::tempdir().expect("a temporary directory");
        journal_with(dir.path(), 1, &[b"one", b"two"], &torn);
        journal_with(dir.path(), 2, &[], &[]);
        let (opened, repairs) = open_dir(dir.path());
        let replay = opened.expect("a torn tail before an empty journal is repaired");
        assert_eq!(replay.records, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(replay.journal.map(|(generation, _)| generation), Some(2));
        assert!(repairs
            .iter()
            .any(|repair| repair.action.contains("cut after")));

        // Once journal 2 has a record, journal 1's tail was synced before it: damage there
        // is corruption, not a crash.
        let dir = tempfile::tempdir().expect("a temporary directory");
        journal_with(dir.path(), 1, &[b"one"], &torn);
        journal_with(dir.path(), 2, &[b"three"], &[]);
        let (opened, _) = open_dir(dir.path());
        assert!(matches!(opened, Err(Error::Corrupt { .. })), "{opened:?}");
    }
}
