//! Opening one segment: check what is cheap to check, and repair what a crash can break.
//!
//! A sealed segment is opened from its index trailer alone; its index is rebuilt from the log
//! when missing, damaged or stale. The active segment's log is validated from its last sound
//! index point on: a torn or uncommitted tail is cut (the bytes kept aside in a `.dropped-*`
//! file), and the index is brought in line with what the scan found.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::storage::fs::{File, OpenMode};
use crate::storage::index::{self, IndexPoint, Trailer};
use crate::storage::log::open::{open_optional, Opener};
use crate::storage::log::txn::Active;
use crate::storage::log::view::{ActiveShared, Extent, Segment};
use crate::storage::record::{self, Decoded};
use crate::storage::segment::{
    self, FileKind, Scan, ScanStart, SegmentHeader, HEADER_BYTES, RECORD_BYTES_MAX,
};

/// Bytes after a log's last committed record that recovery inspects for leftovers of a torn
/// write (kept aside if not zero).
const LEFTOVER_WINDOW_BYTES: u64 = 64 << 10;

impl Opener<'_> {
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

    pub(super) fn read_header(
        &self,
        file: &dyn File,
        path: &Path,
        id: u64,
    ) -> Result<SegmentHeader> {
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
    pub(super) fn open_sealed(&mut self, id: u64) -> Result<Segment> {
        let log_path = self.path(id, FileKind::Log);
        let log = self.fs().open(&log_path, OpenMode::ReadWrite)?;
        let header = self.read_header(log.as_ref(), &log_path, id)?;
        let log_len = log.len()?;
        let index_path = self.path(id, FileKind::Index);
        let index_bytes = open_optional(self.fs(), &index_path)?.unwrap_or_default();
        let parsed = index::parse(&index_bytes);
        if let Some(trailer) = parsed.trusted_trailer(index_bytes.len(), log_len) {
            let extent = Extent {
                len: log_len,
                count: trailer.count,
                first_id: parsed.points.first().map(|point| point.id),
                last_id: (trailer.count > 0).then_some(trailer.last_id),
            };
            return Ok(Segment::sealed(header, extent, parsed.points.len()));
        }
        self.rebuild_sealed(header, log.as_ref(), &log_path, &index_path)
    }

    /// Rebuilds a sealed segment's index from its log. Damage in a sealed log is not a torn
    /// write (the segment was synced whole before it was sealed) but corruption: its records
    /// up to the damage are served, the file is left as it is, for inspection or repair by hand.
    fn rebuild_sealed(
        &mut self,
        header: SegmentHeader,
        log: &dyn File,
        log_path: &Path,
        index_path: &Path,
    ) -> Result<Segment> {
        let bytes = log.read_all()?;
        let log_len = bytes.len() as u64;
        let scan = self.scan_from(&bytes, 0, None);
        if let Some(why) = scan.damage() {
            let unserved = log_len - scan.committed_end;
            tracing::error!(
                path = %log_path.display(),
                offset = scan.committed_end,
                "sealed segment damaged ({why}): {unserved} bytes after the damage are not served",
            );
            self.note(
                log_path.to_path_buf(),
                format!(
                    "damaged at offset {} ({why}); the {unserved} bytes after it are left in the file but not served",
                    scan.committed_end,
                ),
            );
        }
        let extent = Extent {
            len: scan.committed_end,
            count: scan.records,
            first_id: scan.first_id,
            last_id: scan.last_id,
        };
        let trailer = Trailer {
            last_id: extent.last_id.unwrap_or_default(),
            log_len: extent.len as u32,
            count: extent.count,
        };
        self.replace_file(index_path, &index::encode_sealed(&scan.points, &trailer))?;
        self.note(
            index_path.to_path_buf(),
            "index missing, damaged or stale: rebuilt from the log",
        );
        Ok(Segment::sealed(header, extent, scan.points.len()))
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
        if total > RECORD_BYTES_MAX as u64 || offset + total > log_len {
            return Ok(false);
        }
        let mut bytes = vec![0; total as usize];
        log.read_exact_at(&mut bytes, offset)?;
        Ok(matches!(
            record::decode(&bytes, RECORD_BYTES_MAX),
            Decoded::Record(record) if record.id == point.id
        ))
    }

    /// Opens the active segment: validates the log after the last sound index point, cuts a
    /// torn tail, and brings the index in line.
    pub(super) fn open_active(&mut self, header: SegmentHeader) -> Result<(Segment, Active)> {
        let id = header.segment_id;
        let log_path = self.path(id, FileKind::Log);
        let log = self.fs().open(&log_path, OpenMode::ReadWrite)?;
        let log_len = log.len()?;
        let index_path = self.path(id, FileKind::Index);
        let index_bytes = open_optional(self.fs(), &index_path)?.unwrap_or_default();
        let parsed = index::parse(&index_bytes);
        let (start, scan) = self.scan_active(log.as_ref(), &log_path, log_len, &parsed.points)?;

        let kept = start.unwrap_or(0);
        let mut points: Vec<IndexPoint> = parsed.points[..kept].to_vec();
        points.extend_from_slice(&scan.points);
        let count = start.map_or(0, |position| parsed.points[position].ordinal) + scan.records;
        self.end_active_log(log.as_ref(), &log_path, log_len, &scan)?;
        self.align_active_index(log.as_ref(), &index_path, &index_bytes, &points)?;
        let extent = Extent {
            len: scan.committed_end,
            count,
            first_id: points.first().map(|point| point.id),
            last_id: scan.last_id.or_else(|| points.last().map(|point| point.id)),
        };
        let last_point = points.last().map(|point| u64::from(point.offset));
        let on_disk = points.len();
        let shared = Arc::new(ActiveShared::new(points, on_disk));
        Ok(Active::with_points(header, shared, extent, last_point))
    }

    /// Finds where the active log's committed records end: from the last sound index point,
    /// or an earlier one, or the segment's start. Returns the point scanned from (its position
    /// in `points`) and the scan.
    fn scan_active(
        &self,
        log: &dyn File,
        log_path: &Path,
        log_len: u64,
        points: &[IndexPoint],
    ) -> Result<(Option<usize>, Scan)> {
        let candidates = (0..points.len()).rev().map(Some).chain([None]);
        for candidate in candidates {
            let start = match candidate {
                Some(position) => {
                    let point = points[position];
                    if !self.point_is_sound(log, log_len, &point)? {
                        continue;
                    }
                    let previous = position.checked_sub(1).map(|before| points[before]);
                    Some((point, previous))
                }
                None => None,
            };
            let scan = self.scan_tail(log, log_len, start)?;
            if candidate.is_some() && scan.records == 0 {
                continue;
            }
            return Ok((candidate, scan));
        }
        Err(Error::corrupt(log_path, "no valid starting point"))
    }

    /// Scans the log from `start` in growing windows: the file runs on (preallocated zeros)
    /// well past its records, and the last durable point is normally within an index interval
    /// of the end.
    fn scan_tail(
        &self,
        log: &dyn File,
        log_len: u64,
        start: Option<(IndexPoint, Option<IndexPoint>)>,
    ) -> Result<Scan> {
        let base = start.map_or(0, |(point, _)| u64::from(point.offset));
        let mut window = 4 * u64::from(self.ctx.config.index_interval_bytes).max(4096);
        loop {
            let end = log_len.min(base + window);
            let mut tail = vec![0; (end - base) as usize];
            log.read_exact_at(&mut tail, base)?;
            let scan = self.scan_from(&tail, base, start);
            // A window can end exactly at a record boundary or inside a record or batch: only
            // padding, damage or the end of the file ends the records.
            if scan.wants_more() && end < log_len {
                window = window.saturating_mul(4);
                continue;
            }
            return Ok(scan);
        }
    }

    /// Ends the active log after its committed records: cuts what follows them when it may
    /// hold a torn write, and restores the preallocated size.
    fn end_active_log(
        &mut self,
        log: &dyn File,
        log_path: &Path,
        log_len: u64,
        scan: &Scan,
    ) -> Result<()> {
        let len = scan.committed_end;
        let preallocated = self.ctx.config.segment_bytes_max;
        let clean_end = scan.damage().is_none();
        if (self.after_crash || !clean_end) && len < log_len {
            // After a crash a torn write may have left bytes anywhere in the padding, so it is
            // cleared (truncated and extended again) even when it starts with zeros.
            let why = scan.damage().unwrap_or("a torn write's leftovers");
            self.cut_log(log, log_path, len, Some(preallocated), why)?;
        } else if log_len < preallocated {
            log.set_len(preallocated)?;
        }
        Ok(())
    }

    /// Rewrites the active index when it differs from the points the scan vouches for.
    fn align_active_index(
        &mut self,
        log: &dyn File,
        index_path: &Path,
        index_bytes: &[u8],
        points: &[IndexPoint],
    ) -> Result<()> {
        let expected = index::encode_points(points);
        if expected == index_bytes {
            return Ok(());
        }
        // Points may only vouch for durable data: make the scanned log durable first. (After a
        // clean close the index already matches and nothing is synced here.)
        log.sync_data()?;
        let index = self.fs().open(index_path, OpenMode::Create)?;
        index.write_all_at(&expected, 0)?;
        index.set_len(expected.len() as u64)?;
        index.sync_data()?;
        self.fs().sync_dir(self.dir)?;
        // An index merely behind its log is normal after a crash (points are written after
        // their records); one that disagrees with it is worth reporting.
        if !expected.starts_with(index_bytes) {
            self.note(
                index_path.to_path_buf(),
                "index disagreed with the log: rewritten",
            );
        }
        Ok(())
    }
}
