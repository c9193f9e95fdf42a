//! Opening a stream's log: validate what is cheap to validate, repair what a crash can break,
//! and refuse what no rule can repair.
//!
//! Opening reads, per stream: every sealed segment's index trailer (32 bytes), the active
//! segment's index and the part of its log after the last index point, and the tombstone files.
//! It never reads sealed logs unless their index is missing or damaged. The repairs, each
//! reported as a [`Repair`]:
//! - a sealed segment whose index is missing, damaged or disagrees with its log: the index is
//!   rebuilt by scanning the log;
//! - the active segment's log ending in a torn or uncommitted record (a crash mid-write): it is
//!   truncated after the last committed batch; the dropped bytes are kept beside it in a
//!   `.dropped-*` file rather than destroyed;
//! - the active index behind or ahead of its log: rewritten from the scan;
//! - a newest segment whose header never became durable (a crash while starting a segment): it
//!   is removed, and the segment before it continues;
//! - a tombstone file with a torn tail, or with tombstones naming records that were lost in a
//!   crash: rewritten without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::id::StreamId;
use crate::storage::fs::{File, FileSystem, OpenMode};
use crate::storage::index::{self, IndexPoint, Trailer};
use crate::storage::record::{self, Decoded};
use crate::storage::segment::{self, FileKind, ScanStart, SegmentHeader, HEADER_BYTES};
use crate::storage::stream_log::{
    Active, ActiveShared, Body, Context, Counters, Extent, Listener, Segment, StreamLog, Writer,
};
use crate::storage::tombstone::{self, DeadSet, Tombstone};

/// Something recovery changed on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repair {
    /// The file repaired.
    pub path: PathBuf,
    /// What was done, and why.
    pub action: String,
}

struct Opener<'a> {
    ctx: &'a Context,
    dir: &'a Path,
    repairs: Vec<Repair>,
    /// The engine was not shut down cleanly: the zero padding after the active segments'
    /// records cannot be trusted (a torn write may have left bytes in it).
    after_crash: bool,
}

/// Bytes after a log's last committed record that recovery inspects for leftovers of a torn
/// write (kept aside if not zero).
const LEFTOVER_WINDOW_BYTES: u64 = 64 << 10;

fn open_optional(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>> {
    match fs.open(path, OpenMode::Read) {
        Ok(file) => Ok(Some(file.read_all()?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

impl Opener<'_> {
    fn fs(&self) -> &dyn FileSystem {
        self.ctx.fs.as_ref()
    }

    fn path(&self, segment: u64, kind: FileKind) -> PathBuf {
        self.dir.join(segment::file_name(segment, kind))
    }

    fn note(&mut self, path: PathBuf, action: impl Into<String>) {
        self.repairs.push(Repair {
            path,
            action: action.into(),
        });
    }

    fn remove(&mut self, path: PathBuf, why: &str) -> Result<()> {
        self.fs().remove_file(&path)?;
        self.note(path, format!("removed: {why}"));
        Ok(())
    }

    /// Writes `bytes` as the whole content of `path`, durably, replacing it atomically.
    fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let file = self.fs().open(&temporary, OpenMode::Create)?;
        file.set_len(0)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()?;
        self.fs().rename(&temporary, path)?;
        self.fs().sync_dir(self.dir)?;
        Ok(())
    }

    /// Ends a log after `keep` bytes: saves the non-zero bytes found right after (a torn write's
    /// leftovers) beside it, truncates, and extends an active segment's file back to its
    /// preallocated size with zeros.
    fn cut_log(
        &mut self,
        file: &dyn File,
        path: &Path,
        keep: u64,
        extend_to: Option<u64>,
        why: &str,
    ) -> Result<()> {
        let len = file.len()?;
        if len <= keep {
            return Ok(());
        }
        let window = (len - keep).min(LEFTOVER_WINDOW_BYTES);
        let mut leftovers = vec![0; window as usize];
        file.read_exact_at(&mut leftovers, keep)?;
        let meaningful = leftovers
            .iter()
            .rposition(|&byte| byte != 0)
            .map_or(0, |at| at + 1);
        leftovers.truncate(meaningful);
        file.set_len(keep)?;
        if let Some(size) = extend_to {
            file.set_len(size.max(keep))?;
        }
        if leftovers.is_empty() {
            // Only zero padding was there: nothing was lost, nothing to report.
            return Ok(());
        }
        let stamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_millis())
            .unwrap_or(0);
        let mut saved = path.as_os_str().to_owned();
        saved.push(format!(".dropped-{keep}-{stamp}"));
        let saved = PathBuf::from(saved);
        let copy = self.fs().open(&saved, OpenMode::Create)?;
        copy.write_all_at(&leftovers, 0)?;
        copy.sync_data()?;
        file.sync_data()?;
        self.fs().sync_dir(self.dir)?;
        self.note(
            path.to_path_buf(),
            format!(
                "cut after {keep} bytes ({why}); the {} bytes of leftovers are kept in {}",
                leftovers.len(),
                saved.display()
            ),
        );
        Ok(())
    }

    fn read_header(&self, file: &dyn File, path: &Path, id: u64) -> Result<SegmentHeader> {
        let len = file.len()?.min(HEADER_BYTES as u64) as usize;
        let mut bytes = vec![0; len];
        file.read_exact_at(&mut bytes, 0)?;
        match SegmentHeader::decode(&bytes) {
            Ok(header) if header.segment_id == id => Ok(header),
            Ok(_) => Err(Error::corrupt(path, "segment header names another segment")),
            Err(why) => Err(Error::corrupt(path, why)),
        }
    }

    /// Opens a sealed segment from its trailer, rebuilding its index if needed.
    fn open_sealed(&mut self, id: u64) -> Result<Segment> {
        let log_path = self.path(id, FileKind::Log);
        let log = self.fs().open(&log_path, OpenMode::ReadWrite)?;
        let header = self.read_header(log.as_ref(), &log_path, id)?;
        let log_len = log.len()?;
        let index_path = self.path(id, FileKind::Index);
        let index_bytes = open_optional(self.fs(), &index_path)?.unwrap_or_default();
        let parsed = index::parse(&index_bytes);
        if let Some(trailer) = parsed.trailer {
            let consistent = u64::from(trailer.log_len) == log_len
                && parsed.valid_len == index_bytes.len()
                && (trailer.count == 0) == parsed.points.is_empty()
                && parsed.points.last().is_none_or(|point| {
                    u64::from(point.offset) < log_len && point.id <= trailer.last_id
                });
            if consistent {
                let extent = Extent {
                    len: log_len,
                    count: trailer.count,
                    first_id: parsed.points.first().map(|point| point.id),
                    last_id: (trailer.count > 0).then_some(trailer.last_id),
                };
                return Ok(sealed(id, header, extent, parsed.points.len()));
            }
        }
        // Rebuild from the log.
        let bytes = log.read_all()?;
        let scan = self.scan_from(&bytes, 0, None);
        if let Some(why) = scan.damage() {
            // A sealed segment was synced whole before it was sealed, so damage in it is not
            // a torn write but corruption: its records up to the damage are served, the file
            // is left as it is, for inspection or repair by hand.
            tracing::error!(
                path = %log_path.display(),
                offset = scan.committed_end,
                "sealed segment damaged ({why}): {} bytes after the damage are not served",
                log_len - scan.committed_end
            );
            self.note(
                log_path.clone(),
                format!(
                    "damaged at offset {} ({why}); the {} bytes after it are left in the file but not served",
                    scan.committed_end,
                    log_len - scan.committed_end
                ),
            );
        }
        let extent = Extent {
            len: scan.committed_end,
            count: scan.records,
            first_id: scan.first_id,
            last_id: scan.last_id,
        };
        let mut rebuilt = Vec::new();
        for point in &scan.points {
            rebuilt.extend_from_slice(&point.encode());
        }
        rebuilt.extend_from_slice(
            &Trailer {
                last_id: extent.last_id.unwrap_or_default(),
                log_len: extent.len as u32,
                count: extent.count,
            }
            .encode(),
        );
        self.replace_file(&index_path, &rebuilt)?;
        self.note(
            index_path,
            "index missing, damaged or stale: rebuilt from the log",
        );
        Ok(sealed(id, header, extent, scan.points.len()))
    }

    fn scan_from(
        &self,
        bytes: &[u8],
        base: u64,
        start: Option<(IndexPoint, Option<IndexPoint>)>,
    ) -> segment::Scan {
        let (scan_start, floor) = match start {
            None => (
                ScanStart {
                    offset: HEADER_BYTES as u64,
                    ordinal: 0,
                    last_point: None,
                },
                None,
            ),
            Some((point, previous)) => (
                ScanStart {
                    offset: u64::from(point.offset),
                    ordinal: point.ordinal,
                    last_point: previous.map(|previous| u64::from(previous.offset)),
                },
                previous.map(|previous| previous.id),
            ),
        };
        segment::scan(
            bytes,
            base,
            scan_start,
            floor,
            self.ctx.config.index_interval_bytes,
        )
    }

    /// Whether the record at `point` is intact and has the point's ID.
    fn point_is_sound(&self, log: &dyn File, log_len: u64, point: &IndexPoint) -> Result<bool> {
        let offset = u64::from(point.offset);
        if offset < HEADER_BYTES as u64 || offset >= log_len {
            return Ok(false);
        }
        // The record's own length says how much to read (the file runs on in zeros).
        let mut frame = [0u8; record::FRAME_HEADER_BYTES];
        if offset + frame.len() as u64 > log_len {
            return Ok(false);
        }
        log.read_exact_at(&mut frame, offset)?;
        let body_len = u32::from_le_bytes([frame[0], frame[1], frame[2], frame[3]]) as u64;
        let total = record::FRAME_HEADER_BYTES as u64 + body_len;
        if total > record::RECORD_BYTES_MAX as u64 || offset + total > log_len {
            return Ok(false);
        }
        let mut bytes = vec![0; total as usize];
        log.read_exact_at(&mut bytes, offset)?;
        Ok(matches!(
            record::decode(&bytes, record::RECORD_BYTES_MAX),
            Decoded::Record(record) if record.id == point.id
        ))
    }

    /// Opens the active segment: validates the log after the last sound index point, cuts a
    /// torn tail, and brings the index in line.
    fn open_active(&mut self, id: u64, header: SegmentHeader) -> Result<(Segment, Active)> {
        let log_path = self.path(id, FileKind::Log);
        let log = self.fs().open(&log_path, OpenMode::ReadWrite)?;
        let log_len = log.len()?;
        let index_path = self.path(id, FileKind::Index);
        let index_bytes = open_optional(self.fs(), &index_path)?.unwrap_or_default();
        let parsed = index::parse(&index_bytes);

        // Try the last points first; fall back to scanning the whole segment.
        let mut candidates: Vec<Option<usize>> = (0..parsed.points.len()).rev().map(Some).collect();
        candidates.push(None);
        let mut chosen = None;
        for candidate in candidates {
            let start = match candidate {
                Some(position) => {
                    let point = parsed.points[position];
                    if !self.point_is_sound(log.as_ref(), log_len, &point)? {
                        continue;
                    }
                    let previous = position.checked_sub(1).map(|before| parsed.points[before]);
                    Some((point, previous))
                }
                None => None,
            };
            let base = start.map_or(0, |(point, _)| u64::from(point.offset));
            // Read the tail in growing windows: the file runs on (preallocated zeros) well past
            // its records.
            // The last durable point is normally within an index interval of the end.
            let mut window = 4 * u64::from(self.ctx.config.index_interval_bytes).max(4096);
            let scan = loop {
                let end = log_len.min(base + window);
                let mut tail = vec![0; (end - base) as usize];
                log.read_exact_at(&mut tail, base)?;
                let scan = self.scan_from(&tail, base, start);
                // A window can end exactly at a record boundary or inside a record or batch:
                // only padding, damage or the end of the file ends the records.
                if scan.wants_more() && end < log_len {
                    window = window.saturating_mul(4);
                    continue;
                }
                break scan;
            };
            if candidate.is_some() && scan.records == 0 {
                continue;
            }
            chosen = Some((candidate, scan));
            break;
        }
        let Some((candidate, scan)) = chosen else {
            return Err(Error::corrupt(log_path, "no valid starting point"));
        };
        let kept = candidate.unwrap_or(0);
        let mut points: Vec<IndexPoint> = parsed.points[..kept].to_vec();
        points.extend_from_slice(&scan.points);
        let count = candidate.map_or(0, |position| parsed.points[position].ordinal) + scan.records;
        let len = scan.committed_end;
        let preallocated = self.ctx.config.segment_bytes_max;
        let clean_end = scan.damage().is_none();
        if (self.after_crash || !clean_end) && len < log_len {
            // After a crash a torn write may have left bytes anywhere in the padding, so it is
            // cleared (truncated and extended again) even when it starts with zeros.
            let why = scan.damage().unwrap_or("a torn write's leftovers");
            self.cut_log(log.as_ref(), &log_path, len, Some(preallocated), why)?;
        } else if log_len < preallocated {
            log.set_len(preallocated)?;
        }
        let mut expected = Vec::with_capacity(points.len() * index::SLOT_BYTES);
        for point in &points {
            expected.extend_from_slice(&point.encode());
        }
        if expected != index_bytes {
            // Points may only vouch for durable data: make the scanned log durable first.
            // (After a clean close the index already matches and nothing is synced here.)
            log.sync_data()?;
            let index = self.fs().open(&index_path, OpenMode::Create)?;
            index.write_all_at(&expected, 0)?;
            index.set_len(expected.len() as u64)?;
            index.sync_data()?;
            self.fs().sync_dir(self.dir)?;
            // An index merely behind its log is normal after a crash (points are written after
            // their records); one that disagrees with it is worth reporting.
            if !expected.starts_with(&index_bytes) {
                self.note(index_path, "index disagreed with the log: rewritten");
            }
        }
        let extent = Extent {
            len,
            count,
            first_id: points.first().map(|point| point.id),
            last_id: scan.last_id.or_else(|| points.last().map(|point| point.id)),
        };
        let last_point = points.last().map(|point| u64::from(point.offset));
        let on_disk = points.len();
        let shared = Arc::new(ActiveShared::new(points, on_disk));
        let segment = Segment {
            id,
            header,
            dead: Arc::default(),
            body: Body::Active(Arc::clone(&shared)),
        };
        let active = Active {
            id,
            header,
            shared,
            extent,
            last_point,
        };
        Ok((segment, active))
    }

    /// Loads a segment's tombstones, repairing the file if needed; returns the newest mark.
    fn load_tombstones(
        &mut self,
        id: u64,
        count: u32,
        records_of: &dyn Fn(u64) -> Option<u32>,
    ) -> Result<(DeadSet, Option<(u64, StreamId)>)> {
        let path = self.path(id, FileKind::Deletions);
        let Some(bytes) = open_optional(self.fs(), &path)? else {
            return Ok((DeadSet::default(), None));
        };
        let loaded = tombstone::load(&bytes, count, records_of);
        if loaded.valid_len < bytes.len() || loaded.dangling > 0 {
            let kept: Vec<u8> = loaded.slots.iter().flat_map(Tombstone::encode).collect();
            self.replace_file(&path, &kept)?;
            self.note(
                path,
                format!(
                    "tombstones rewritten: {} torn bytes and {} tombstones of lost records dropped",
                    bytes.len() - loaded.valid_len,
                    loaded.dangling
                ),
            );
        }
        Ok((loaded.dead, loaded.newest))
    }

    /// Creates segment `id` with `header`, durably.
    fn create_segment(&mut self, header: SegmentHeader) -> Result<(Segment, Active)> {
        create_segment_file(
            self.fs(),
            self.dir,
            &header,
            self.ctx.config.segment_bytes_max,
            true,
        )?;
        let shared = Arc::new(ActiveShared::new(Vec::new(), 0));
        let segment = Segment {
            id: header.segment_id,
            header,
            dead: Arc::default(),
            body: Body::Active(Arc::clone(&shared)),
        };
        let active = Active {
            id: header.segment_id,
            header,
            shared,
            extent: Extent {
                len: HEADER_BYTES as u64,
                ..Extent::default()
            },
            last_point: None,
        };
        Ok((segment, active))
    }
}

/// Whether a segment file holds anything after its header: a file whose header never became
/// durable but that holds no record is a segment whose creation was cut short.
fn holds_records(file: &dyn File) -> Result<bool> {
    let len = file.len()?;
    if len <= HEADER_BYTES as u64 {
        return Ok(false);
    }
    let mut first = vec![0; (len - HEADER_BYTES as u64).min(8) as usize];
    file.read_exact_at(&mut first, HEADER_BYTES as u64)?;
    Ok(first.iter().any(|&byte| byte != 0))
}

fn sealed(id: u64, header: SegmentHeader, extent: Extent, points: usize) -> Segment {
    Segment {
        id,
        header,
        dead: Arc::default(),
        body: Body::Sealed { extent, points },
    }
}

/// Writes a new segment's log file holding only `header`, extended with zeros to
/// `preallocated` bytes; durably (file and directory) when `durable`.
pub fn create_segment_file(
    fs: &dyn FileSystem,
    dir: &Path,
    header: &SegmentHeader,
    preallocated: u64,
    durable: bool,
) -> Result<()> {
    let path = dir.join(segment::file_name(header.segment_id, FileKind::Log));
    let file = fs.open(&path, OpenMode::Create)?;
    file.set_len(0)?;
    file.write_all_at(&header.encode(), 0)?;
    file.set_len(preallocated.max(HEADER_BYTES as u64))?;
    if durable {
        file.sync_data()?;
        fs.sync_dir(dir)?;
    }
    Ok(())
}

impl StreamLog {
    /// Opens the stream log in `dir`, repairing what a crash may have left; returns the log and
    /// what was repaired.
    /// `after_crash`: the engine was not shut down cleanly, so the padding after the active
    /// segment's records is cleared rather than trusted.
    pub fn open(
        ctx: Arc<Context>,
        dir: PathBuf,
        listener: Listener,
        after_crash: bool,
    ) -> Result<(StreamLog, Vec<Repair>)> {
        let mut opener = Opener {
            ctx: &ctx,
            dir: &dir,
            repairs: Vec::new(),
            after_crash,
        };
        let mut files: BTreeMap<u64, Vec<FileKind>> = BTreeMap::new();
        for name in opener.fs().list_dir(&dir)? {
            let Some(name) = name.to_str() else {
                continue;
            };
            if let Some((id, kind)) = segment::parse_file_name(name) {
                files.entry(id).or_default().push(kind);
            } else if name.ends_with(".tmp") {
                opener.remove(dir.join(name), "temporary file of an interrupted rewrite")?;
            }
        }
        let mut ids = Vec::new();
        for (id, kinds) in &files {
            if kinds.contains(&FileKind::Log) {
                ids.push(*id);
            } else {
                for kind in kinds {
                    let path = opener.path(*id, *kind);
                    opener.remove(path, "belongs to no segment")?;
                }
            }
        }

        // A newest segment whose header never became durable was being created in a crash.
        let mut last_header = None;
        while let Some(&last) = ids.last() {
            let path = opener.path(last, FileKind::Log);
            let file = opener.fs().open(&path, OpenMode::ReadWrite)?;
            match opener.read_header(file.as_ref(), &path, last) {
                Ok(header) => {
                    last_header = Some(header);
                    break;
                }
                Err(error) if !holds_records(file.as_ref())? => {
                    if ids.len() > 1 {
                        for kind in files.get(&last).cloned().unwrap_or_default() {
                            let path = opener.path(last, kind);
                            opener.remove(path, "segment creation cut short by a crash")?;
                        }
                        ids.pop();
                    } else {
                        let header = SegmentHeader {
                            segment_id: last,
                            ..SegmentHeader::default()
                        };
                        create_segment_file(
                            opener.fs(),
                            &dir,
                            &header,
                            ctx.config.segment_bytes_max,
                            true,
                        )?;
                        opener.note(
                            path,
                            format!("empty segment with a torn header rewritten ({error})"),
                        );
                        last_header = Some(header);
                        break;
                    }
                }
                Err(error) => return Err(error),
            }
        }

        let mut segments: Vec<Segment> = Vec::new();
        let mut active = None;
        match (ids.split_last(), last_header) {
            (Some((&last, older)), Some(header)) => {
                for &id in older {
                    segments.push(opener.open_sealed(id)?);
                }
                let index = open_optional(opener.fs(), &opener.path(last, FileKind::Index))?
                    .unwrap_or_default();
                if index::parse(&index).trailer.is_some() {
                    segments.push(opener.open_sealed(last)?);
                } else {
                    let (segment, state) = opener.open_active(last, header)?;
                    segments.push(segment);
                    active = Some(state);
                }
            }
            _ => {
                let (segment, state) = opener.create_segment(SegmentHeader {
                    segment_id: 1,
                    ..SegmentHeader::default()
                })?;
                segments.push(segment);
                active = Some(state);
            }
        }

        // Tombstones and counters.
        let extent_of = |segment: &Segment| match (&segment.body, &active) {
            (Body::Sealed { extent, .. }, _) => *extent,
            (Body::Active(_), Some(state)) => state.extent,
            (Body::Active(_), None) => Extent::default(),
        };
        let records: BTreeMap<u64, u32> = segments
            .iter()
            .map(|segment| (segment.id, extent_of(segment).count))
            .collect();
        let records_of = |id: u64| records.get(&id).copied();
        let mut newest_mark: Option<(u64, StreamId)> = None;
        let mut length = 0u64;
        for segment in &mut segments {
            let extent = match (&segment.body, &active) {
                (Body::Sealed { extent, .. }, _) => *extent,
                (Body::Active(_), Some(state)) => state.extent,
                (Body::Active(_), None) => Extent::default(),
            };
            let (dead, mark) = opener.load_tombstones(segment.id, extent.count, &records_of)?;
            length += u64::from(extent.count - dead.dead());
            segment.dead = Arc::new(dead);
            if mark.is_some_and(|mark| newest_mark.is_none_or(|newest| mark > newest)) {
                newest_mark = mark;
            }
        }
        let newest = segments
            .last()
            .ok_or_else(|| Error::corrupt(&dir, "stream has no segments"))?;
        let newest_extent = match (&newest.body, &active) {
            (Body::Sealed { extent, .. }, _) => *extent,
            (Body::Active(_), Some(state)) => state.extent,
            (Body::Active(_), None) => Extent::default(),
        };
        let header = newest.header;
        let counters = Counters {
            length,
            last_id: header
                .last_id_before
                .max(newest_extent.last_id.unwrap_or_default()),
            entries_added: header.entries_added_before + u64::from(newest_extent.count),
            max_deleted: match newest_mark {
                Some((epoch, id)) if epoch >= newest.id => id,
                _ => header.max_deleted_before,
            },
        };

        let newest_id = newest.id;
        let active = match active {
            Some(state) => state,
            None => {
                // The newest segment was sealed (a crash between sealing it and starting the
                // next): start the next one now.
                let (segment, state) = opener.create_segment(SegmentHeader {
                    segment_id: newest_id + 1,
                    entries_added_before: counters.entries_added,
                    last_id_before: counters.last_id,
                    max_deleted_before: counters.max_deleted,
                })?;
                let path = opener.path(newest_id + 1, FileKind::Log);
                opener.note(path, "newest segment was sealed: started the next one");
                segments.push(segment);
                state
            }
        };
        let repairs = opener.repairs;
        let segments = segments.into_iter().map(Arc::new).collect();
        let writer = Writer::new(segments, active, counters);
        let uid = ctx.new_uid();
        Ok((
            StreamLog::assemble(ctx, uid, dir, writer, listener),
            repairs,
        ))
    }
}
