//! Checking a stream's segments: each log's header and every record of it (framing, CRC, IDs
//! strictly increasing, batches complete), each index against its log (every point at the
//! start of a record with the point's ID and ordinal), and each sealed trailer's counters
//! against what the scan counted. Each problem is judged as opening judges it (see
//! `storage/log/open.rs` and `recover.rs`): what a crash leaves and opening repairs is a
//! warning; what opening refuses (a quarantine) or serves with failing reads is damage.

use std::path::{Path, PathBuf};

use crate::check::fix::Fix;
use crate::check::report::{Level, Problem};
use crate::check::{read_optional, CheckError};
use crate::id::StreamId;
use crate::storage::fs::{FileSystem, OpenMode, RealFs};
use crate::storage::index::{self, IndexPoint, ParsedIndex};
use crate::storage::record::{self, Decoded};
use crate::storage::segment::{
    self, FileKind, Scan, ScanStart, SegmentHeader, HEADER_BYTES, RECORD_BYTES_MAX,
};

/// Bytes after an active log's records that recovery inspects for a torn write's leftovers.
const LEFTOVER_WINDOW_BYTES: usize = 64 << 10;

/// What the check learned of one segment.
#[derive(Debug)]
pub(super) struct Checked {
    /// The segment's number.
    pub id: u64,
    /// Its header, if valid.
    pub header: Option<SegmentHeader>,
    /// Every committed record up to any damage: ID, offset and ordinal.
    pub records: Vec<IndexPoint>,
    /// Where the committed records end.
    pub committed_end: u64,
}

impl Checked {
    /// The ID of its last record, if any.
    pub fn last_id(&self) -> Option<StreamId> {
        self.records.last().map(|record| record.id)
    }
}

/// What the check of a log found, for the check of its index.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LogState {
    /// Records, then the end of the file or zeros.
    Sound,
    /// A torn tail after the last durable index point, which opening cuts (realigning the
    /// index).
    Torn,
    /// Damage the repair cuts (and opening then rebuilds or realigns the index).
    Damaged,
}

/// One segment's files as read.
struct Files {
    id: u64,
    log_path: PathBuf,
    index_path: PathBuf,
    log: crate::storage::fs::Mapping,
    index: Vec<u8>,
    /// The active (newest, unsealed) segment.
    active: bool,
}

/// Checks the segments `ids` (in order) of the stream in `dir`.
pub(super) fn check(
    dir: &Path,
    ids: &[u64],
    problems: &mut Vec<Problem>,
) -> Result<Vec<Checked>, CheckError> {
    let ids = drop_torn_newest(dir, ids, problems)?;
    let mut checked: Vec<Checked> = Vec::with_capacity(ids.len());
    for (position, &id) in ids.iter().enumerate() {
        let files = read_files(dir, id, position + 1 == ids.len())?;
        let header = check_header(&files, checked.last(), problems);
        let floor = header.map(|header| header.last_id_before);
        let scan = scan_all(&files.log, HEADER_BYTES as u64, 0, floor);
        let log = if files.active {
            check_active_log(&files, &scan, problems)
        } else {
            check_sealed_log(&files, &scan, problems)
        };
        check_index(&files, &scan, log, problems);
        checked.push(Checked {
            id,
            header,
            committed_end: scan.committed_end,
            records: scan.points,
        });
    }
    Ok(checked)
}

fn read_files(dir: &Path, id: u64, newest: bool) -> Result<Files, CheckError> {
    let log_path = dir.join(segment::file_name(id, FileKind::Log));
    let index_path = dir.join(segment::file_name(id, FileKind::Index));
    let log = RealFs
        .open(&log_path, OpenMode::Read)
        .and_then(|file| file.map())
        .map_err(|source| CheckError::io(&log_path, source))?;
    let index = read_optional(&index_path)?.unwrap_or_default();
    let sealed = index::parse(&index).trailer.is_some();
    Ok(Files {
        id,
        log_path,
        index_path,
        log,
        index,
        active: newest && !sealed,
    })
}

/// The segments opening keeps: a newest segment whose header is torn and that holds no record
/// was being created in a crash, and opening removes it (or writes it again, if it is the
/// only one).
fn drop_torn_newest(
    dir: &Path,
    ids: &[u64],
    problems: &mut Vec<Problem>,
) -> Result<Vec<u64>, CheckError> {
    let mut ids = ids.to_vec();
    while let Some(&last) = ids.last() {
        let path = dir.join(segment::file_name(last, FileKind::Log));
        let bytes = std::fs::read(&path).map_err(|source| CheckError::io(&path, source))?;
        let header_ok = SegmentHeader::decode(&bytes).is_ok_and(|header| header.segment_id == last);
        let holds_records = bytes
            .get(HEADER_BYTES..(HEADER_BYTES + 8).min(bytes.len()))
            .is_some_and(|first| first.iter().any(|&byte| byte != 0));
        if header_ok || holds_records {
            break;
        }
        problems.push(Problem::new(
            Level::Warning,
            &path,
            "newest segment with a torn header and no record (its creation was cut short by a \
             crash): the server removes it, or writes it again if it is the only one",
        ));
        ids.pop();
    }
    Ok(ids)
}

/// Checks the header; a damaged one is damage (opening quarantines the stream), repaired with
/// counters derived from the segment before when there is one (or the first segment's, which
/// are always zero).
fn check_header(
    files: &Files,
    previous: Option<&Checked>,
    problems: &mut Vec<Problem>,
) -> Option<SegmentHeader> {
    let why = match SegmentHeader::decode(&files.log) {
        Ok(header) if header.segment_id == files.id => return Some(header),
        Ok(_) => "segment header names another segment",
        Err(why) => why,
    };
    let derived = match previous {
        _ if files.id == 1 => Some(SegmentHeader {
            segment_id: 1,
            ..SegmentHeader::default()
        }),
        Some(previous) if previous.id + 1 == files.id => {
            previous.header.map(|header| SegmentHeader {
                segment_id: files.id,
                entries_added_before: header.entries_added_before + previous.records.len() as u64,
                last_id_before: header
                    .last_id_before
                    .max(previous.last_id().unwrap_or_default()),
                max_deleted_before: header.max_deleted_before,
            })
        }
        _ => None,
    };
    let mut problem = Problem::new(
        Level::Damage,
        &files.log_path,
        format!("{why}: the server will not open the stream (quarantine)"),
    )
    .at(0);
    match derived {
        Some(header) => problem = problem.fixed_by(Fix::WriteHeader(header)),
        None => problem
            .what
            .push_str("; no segment before it to derive the header from"),
    }
    problems.push(problem);
    None
}

/// A validating scan of `bytes` from `offset` (record `ordinal`), with a point for every
/// record: the list of all committed records.
fn scan_all(bytes: &[u8], offset: u64, ordinal: u32, floor: Option<StreamId>) -> Scan {
    if bytes.len() < HEADER_BYTES || offset >= bytes.len() as u64 {
        return Scan {
            committed_end: offset,
            ..Scan::default()
        };
    }
    let start = ScanStart {
        offset,
        ordinal,
        last_point: None,
    };
    segment::scan(bytes, 0, start, floor, 1)
}

/// A sealed log must be records and nothing else: damage anywhere is corruption (it was synced
/// whole before it was sealed).
fn check_sealed_log(files: &Files, scan: &Scan, problems: &mut Vec<Problem>) -> LogState {
    let len = files.log.len() as u64;
    let after = len.saturating_sub(scan.committed_end);
    let what = match scan.damage() {
        Some(why) => format!(
            "{why} in a sealed segment: the server serves the records before it, reads reaching \
             it fail, and the {after} bytes from here on are never served"
        ),
        None if after > 0 => format!("{after} bytes after the last record of a sealed segment"),
        None => return LogState::Sound,
    };
    let at = scan.committed_end;
    problems.push(
        Problem::new(Level::Damage, &files.log_path, what)
            .at(at)
            .fixed_by(Fix::CutLog { at }),
    );
    LogState::Damaged
}

/// Whether the record at `point` is intact, has the point's ID, and begins a committed batch
/// (its own or one ending after it): the point opening may start from.
fn sound_start(log: &[u8], point: &IndexPoint) -> bool {
    let mut at = point.offset as usize;
    if at < HEADER_BYTES {
        return false;
    }
    let mut first = true;
    loop {
        let Some(rest) = log.get(at..) else {
            return false;
        };
        match record::decode(rest, RECORD_BYTES_MAX) {
            Decoded::Record(found) if !first || found.id == point.id => {
                if found.batch_end {
                    return true;
                }
                first = false;
                at += found.len;
            }
            _ => return false,
        }
    }
}

/// The active log: a torn or uncommitted tail after the last durable index point is a crash's
/// doing (opening cuts it); damage that a sound index point after it vouches for was durable,
/// so it is media damage that opening does not see.
fn check_active_log(files: &Files, scan: &Scan, problems: &mut Vec<Problem>) -> LogState {
    let at = scan.committed_end;
    let Some(why) = scan.damage() else {
        let start = usize::try_from(at)
            .unwrap_or(usize::MAX)
            .min(files.log.len());
        let window = &files.log[start..(start + LEFTOVER_WINDOW_BYTES).min(files.log.len())];
        if window.iter().any(|&byte| byte != 0) {
            problems.push(
                Problem::new(
                    Level::Warning,
                    &files.log_path,
                    "non-zero bytes after the records (a torn write's leftovers): recovery \
                     after a crash cuts them, keeping them aside",
                )
                .at(at),
            );
        }
        return LogState::Sound;
    };
    let points = index::parse(&files.index).points;
    let vouched = points
        .iter()
        .any(|point| u64::from(point.offset) > at && sound_start(&files.log, point));
    if vouched {
        problems.push(
            Problem::new(
                Level::Damage,
                &files.log_path,
                format!(
                    "{why}, before records an index point vouches for: media damage, not a torn \
                     write; reads reaching it fail"
                ),
            )
            .at(at)
            .fixed_by(Fix::CutLog { at }),
        );
        return LogState::Damaged;
    }
    problems.push(
        Problem::new(
            Level::Warning,
            &files.log_path,
            format!("{why} (a torn write): the server cuts it on open, keeping the bytes aside"),
        )
        .at(at),
    );
    LogState::Torn
}

/// The first point of `points` that is not at the start of a committed
/// record with the point's ID and ordinal: its position.
fn first_wrong_point(points: &[IndexPoint], records: &[IndexPoint]) -> Option<usize> {
    points.iter().position(|point| {
        records
            .binary_search_by_key(&point.offset, |record| record.offset)
            .map_or(true, |at| records[at] != *point)
    })
}

/// Checks the index against the scanned log.
fn check_index(files: &Files, scan: &Scan, log: LogState, problems: &mut Vec<Problem>) {
    if log == LogState::Damaged {
        // The repair cuts the log, and opening then rebuilds (sealed) or realigns (active) the
        // index of a cut log anyway.
        return;
    }
    let parsed = index::parse(&files.index);
    if files.active {
        check_active_index(files, &parsed, scan, log == LogState::Torn, problems);
    } else {
        check_sealed_index(files, &parsed, scan, problems);
    }
}

fn check_sealed_index(
    files: &Files,
    parsed: &ParsedIndex,
    scan: &Scan,
    problems: &mut Vec<Problem>,
) {
    let path = &files.index_path;
    let Some(trailer) = parsed.trusted_trailer(files.index.len(), files.log.len() as u64) else {
        let what = if files.index.is_empty() {
            "index missing or empty: the server rebuilds it from the log on open"
        } else {
            "index damaged, unsealed or not matching its log's length: the server rebuilds it \
             from the log on open"
        };
        problems.push(Problem::new(Level::Warning, path, what));
        return;
    };
    let last_id = scan.last_id.unwrap_or_default();
    let wrong = if trailer.count != scan.records {
        Some(format!(
            "trailer counts {} records, the log holds {}",
            trailer.count, scan.records
        ))
    } else if trailer.last_id != last_id {
        Some(format!(
            "trailer's last ID is {}, the log's is {last_id}",
            trailer.last_id
        ))
    } else if let Some(position) = first_wrong_point(&parsed.points, &scan.points) {
        Some(format!(
            "index point {position} does not name a record of the log (offset {}, ID {})",
            parsed.points[position].offset, parsed.points[position].id
        ))
    } else if parsed.points.first().map(|point| u64::from(point.offset))
        != scan.points.first().map(|record| u64::from(record.offset))
    {
        Some("the first record has no index point".to_owned())
    } else {
        None
    };
    if let Some(wrong) = wrong {
        problems.push(
            Problem::new(
                Level::Damage,
                path,
                format!("{wrong}: the server trusts this index, so reads and counts are wrong"),
            )
            .fixed_by(Fix::SetIndexAside),
        );
    }
}

/// The active index: opening starts from its last sound point and keeps the points before it
/// unread, so a wrong point there is damage; a wrong or damaged point after it, or points ahead
/// of the log, are what a crash leaves, and opening rewrites them (not reported again after a
/// torn log tail, which they follow from).
fn check_active_index(
    files: &Files,
    parsed: &ParsedIndex,
    scan: &Scan,
    torn_log: bool,
    problems: &mut Vec<Problem>,
) {
    let path = &files.index_path;
    let start = parsed
        .points
        .iter()
        .rposition(|point| sound_start(&files.log, point));
    let kept = start.unwrap_or(0);
    if let Some(position) = first_wrong_point(&parsed.points[..kept], &scan.points) {
        problems.push(
            Problem::new(
                Level::Damage,
                path,
                format!(
                    "index point {position} does not name a record of the log: the server \
                     keeps it, so seeks go wrong"
                ),
            )
            .at((position * index::SLOT_BYTES) as u64)
            .fixed_by(Fix::SetIndexAside),
        );
        return;
    }
    let ahead = first_wrong_point(&parsed.points[kept..], &scan.points).is_some();
    if !torn_log && (ahead || parsed.valid_len < files.index.len()) {
        problems.push(Problem::new(
            Level::Warning,
            path,
            "index ahead of its log or damaged after its last sound point: the server rewrites \
             it on open",
        ));
    }
}
