//! One segment of a stream's log: its file names, its header, and the validating scan that
//! recovery and index rebuilding share.
//!
//! A segment file (`<id:020>.log`) is a 64-byte header followed by records
//! ([`super::record`]). The active segment's file is extended (sparsely, with zeros) to the
//! segment size when created, so appends never change its size and `fdatasync` need not
//! journal a size change; a zero length field marks where its records end. Sealing truncates
//! the file to its records. The header records the stream's counters as they stood when the segment
//! was created, so a stream's state is recoverable from its newest segment plus that segment's
//! records, without reading older data:
//!
//! ```text
//! offset  size  field
//!  0      8     magic "SLUICESG"
//!  8      4     format version (1), u32 LE
//! 12      8     segment id, u64 LE (equals the number in the file name)
//! 20      8     entries_added before this segment, u64 LE
//! 28     16     last-generated ID before this segment (ms, seq: u64 LE each)
//! 44     16     max-deleted-entry-id before this segment (ms, seq)
//! 60      4     CRC-32 of bytes 0..60
//! ```

use std::io;

use crate::id::StreamId;
use crate::storage::bytes::{get_id, get_u32, get_u64, put_id};
use crate::storage::fs::File;
use crate::storage::index::IndexPoint;
use crate::storage::record::{self, Decoded, RecordRef};

/// Size of the segment header (the configuration's limits account for it).
pub const HEADER_BYTES: usize = crate::config::SEGMENT_HEADER_BYTES;
/// The largest record the format allows: one filling the largest segment. Decoding judges a
/// record's length against this, never against the configured `entry_bytes_max`, which may
/// have been larger when the record was written.
pub const RECORD_BYTES_MAX: usize = crate::config::SEGMENT_BYTES_MAX_MAX as usize;
/// First bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"SLUICESG";
/// The format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The stream's counters as of a segment's creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SegmentHeader {
    /// The segment's number; segments of a stream are numbered upwards from 1.
    pub segment_id: u64,
    /// How many entries the stream had ever received before this segment.
    pub entries_added_before: u64,
    /// The stream's last-generated ID before this segment.
    pub last_id_before: StreamId,
    /// The stream's max-deleted-entry-id before this segment.
    pub max_deleted_before: StreamId,
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[12..20].copy_from_slice(&self.segment_id.to_le_bytes());
        out[20..28].copy_from_slice(&self.entries_added_before.to_le_bytes());
        put_id(&mut out[28..44], self.last_id_before);
        put_id(&mut out[44..60], self.max_deleted_before);
        let crc = crc32fast::hash(&out[..60]);
        out[60..64].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a header.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, &'static str> {
        if bytes.len() < HEADER_BYTES {
            return Err("segment shorter than its header");
        }
        if bytes[0..8] != MAGIC {
            return Err("bad segment magic");
        }
        let crc = get_u32(bytes, 60);
        if crc32fast::hash(&bytes[..60]) != crc {
            return Err("segment header checksum mismatch");
        }
        let version = get_u32(bytes, 8);
        if version != FORMAT_VERSION {
            return Err("unsupported segment format version");
        }
        Ok(SegmentHeader {
            segment_id: get_u64(bytes, 12),
            entries_added_before: get_u64(bytes, 20),
            last_id_before: get_id(bytes, 28),
            max_deleted_before: get_id(bytes, 44),
        })
    }
}

/// Makes `file` a fresh segment: `header`, then zeros up to `preallocated` bytes (sparse, so
/// appends never change the file's size). The caller syncs it as its fsync policy wants.
pub fn initialize(file: &dyn File, header: &SegmentHeader, preallocated: u64) -> io::Result<()> {
    file.set_len(0)?;
    file.write_all_at(&header.encode(), 0)?;
    file.set_len(preallocated.max(HEADER_BYTES as u64))
}

/// The kinds of file a segment has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `.log`: header and records.
    Log,
    /// `.idx`: sparse index points, then a trailer once sealed.
    Index,
    /// `.del`: tombstones (deleted and trimmed entries).
    Deletions,
    /// The stream's group journal (`groups-<generation>.jnl`, see `storage::journal`): not a
    /// segment's file, but synced in the same rounds, after the logs.
    Journal,
}

impl FileKind {
    fn extension(self) -> &'static str {
        match self {
            FileKind::Log => "log",
            FileKind::Index => "idx",
            FileKind::Deletions => "del",
            FileKind::Journal => "jnl",
        }
    }
}

/// The file name of a segment's file: `00000000000000000042.log` (for the journal, the
/// generation's journal file).
pub fn file_name(segment_id: u64, kind: FileKind) -> String {
    match kind {
        FileKind::Journal => crate::storage::journal::file_name(
            segment_id,
            crate::storage::journal::JournalFile::Journal,
        ),
        _ => format!("{segment_id:020}.{}", kind.extension()),
    }
}

/// Parses a name made by [`file_name`].
pub fn parse_file_name(name: &str) -> Option<(u64, FileKind)> {
    let (stem, extension) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let kind = match extension {
        "log" => FileKind::Log,
        "idx" => FileKind::Index,
        "del" => FileKind::Deletions,
        _ => return None,
    };
    Some((stem.parse().ok()?, kind))
}

/// Why a scan stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stop {
    /// The bytes it was given ran out at a record boundary; more bytes might hold more records.
    #[default]
    Exhausted,
    /// The bytes ran out inside a record; more bytes might complete it (at the end of the file,
    /// it is a torn write).
    Truncated,
    /// A zero length field: the preallocated, never-written rest of the segment.
    Padding,
    /// A record that fails its checks, or whose ID does not increase.
    Damaged(&'static str),
}

/// What a validating scan of a segment's records found.
#[derive(Debug, Default)]
pub struct Scan {
    /// End of the last committed record (the last with BATCH_END): where the log is valid to.
    pub committed_end: u64,
    /// Committed records in the scanned part.
    pub records: u32,
    /// First committed record's ID in the scanned part.
    pub first_id: Option<StreamId>,
    /// Last committed record's ID in the scanned part.
    pub last_id: Option<StreamId>,
    /// Index points for the committed records scanned.
    pub points: Vec<IndexPoint>,
    /// Why the scan stopped.
    pub stop: Stop,
    /// Whole records read after the last committed one (a batch whose end was not found).
    pub pending: u32,
}

impl Scan {
    /// Whether the scan stopped only because its bytes ran out: with more, it could go on.
    pub fn wants_more(&self) -> bool {
        matches!(self.stop, Stop::Exhausted | Stop::Truncated)
    }

    /// Why the bytes after `committed_end` are not records to keep, or `None` when the scan
    /// ended exactly there, cleanly (at padding, or at the end of the bytes).
    pub fn damage(&self) -> Option<&'static str> {
        match self.stop {
            Stop::Damaged(why) => Some(why),
            Stop::Truncated => Some("torn record at the end"),
            Stop::Exhausted | Stop::Padding if self.pending > 0 => {
                Some("batch without its end record")
            }
            Stop::Exhausted | Stop::Padding => None,
        }
    }
}

/// Where the index-point rule stands when a scan starts.
#[derive(Clone, Copy, Debug)]
pub struct ScanStart {
    /// Offset of the first record to scan.
    pub offset: u64,
    /// Ordinal (position within the segment) of that record.
    pub ordinal: u32,
    /// Offset of the latest index point before `offset`, if any.
    pub last_point: Option<u64>,
}

/// Whether the record at `offset` gets an index point: the first record of a segment always
/// does, then the first record at least `interval` bytes past the previous point.
pub fn wants_point(offset: u64, last_point: Option<u64>, interval: u32) -> bool {
    match last_point {
        None => true,
        Some(previous) => offset - previous >= u64::from(interval),
    }
}

/// Validates records from `start`, collecting index points by the same rule the writer uses.
/// `bytes` holds the segment file from offset `base` (at most `start.offset`) on. Stops at the
/// end of the bytes, at zero padding, or at the first incomplete or invalid record; records
/// after the last BATCH_END are not counted as committed. Record IDs must strictly increase
/// (`floor` is an ID the first record must exceed).
pub fn scan(
    bytes: &[u8],
    base: u64,
    start: ScanStart,
    floor: Option<StreamId>,
    interval: u32,
) -> Scan {
    let mut scan = Scan {
        committed_end: start.offset,
        ..Scan::default()
    };
    let mut offset = start.offset;
    let mut ordinal = start.ordinal;
    let mut last_point = start.last_point;
    let mut previous_id = floor;
    // Records of the batch in progress, not yet known to be committed.
    let mut pending_points: Vec<IndexPoint> = Vec::new();
    let mut pending_first: Option<StreamId> = None;
    let end = base + bytes.len() as u64;
    scan.stop = loop {
        if offset >= end {
            break Stop::Exhausted;
        }
        let at = (offset - base) as usize;
        if bytes[at..].len() >= 4 && bytes[at..at + 4] == [0; 4] {
            break Stop::Padding;
        }
        let record: RecordRef<'_> = match record::decode(&bytes[at..], RECORD_BYTES_MAX) {
            Decoded::Record(record) => record,
            Decoded::Incomplete { .. } => break Stop::Truncated,
            Decoded::Invalid(why) => break Stop::Damaged(why),
        };
        if previous_id.is_some_and(|previous| record.id <= previous) {
            break Stop::Damaged("record IDs out of order");
        }
        previous_id = Some(record.id);
        if wants_point(offset, last_point, interval) {
            pending_points.push(IndexPoint {
                id: record.id,
                offset: offset as u32,
                ordinal,
            });
            last_point = Some(offset);
        }
        pending_first.get_or_insert(record.id);
        scan.pending += 1;
        ordinal += 1;
        offset += record.len as u64;
        if record.batch_end {
            scan.committed_end = offset;
            scan.records += scan.pending;
            if scan.first_id.is_none() {
                scan.first_id = pending_first;
            }
            scan.last_id = Some(record.id);
            scan.points.append(&mut pending_points);
            scan.pending = 0;
            pending_first = None;
        }
    };
    scan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::record::encode;

    #[test]
    fn header_round_trip_and_damage() {
        let header = SegmentHeader {
            segment_id: 3,
            entries_added_before: 10,
            last_id_before: StreamId::new(5, 6),
            max_deleted_before: StreamId::new(1, 2),
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        for at in 0..HEADER_BYTES {
            let mut damaged = bytes;
            damaged[at] ^= 0x10;
            assert!(SegmentHeader::decode(&damaged).is_err(), "flip at {at}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(file_name(42, FileKind::Log), "00000000000000000042.log");
        assert_eq!(
            parse_file_name("00000000000000000042.del"),
            Some((42, FileKind::Deletions))
        );
        assert_eq!(parse_file_name("42.log"), None);
        assert_eq!(parse_file_name("00000000000000000042.tmp"), None);
    }

    #[test]
    fn scan_stops_cleanly_at_zero_padding() {
        let mut bytes = SegmentHeader::default().encode().to_vec();
        let fields = vec![(b"f".to_vec(), b"v".to_vec())];
        encode(&mut bytes, StreamId::new(1, 0), &fields, true);
        let end = bytes.len() as u64;
        bytes.resize(4096, 0);
        let start = ScanStart {
            offset: HEADER_BYTES as u64,
            ordinal: 0,
            last_point: None,
        };
        let scan = scan(&bytes, 0, start, None, 1);
        assert_eq!(
            (scan.committed_end, scan.stop, scan.damage()),
            (end, Stop::Padding, None)
        );
    }

    #[test]
    fn a_record_ending_exactly_at_the_end_of_the_bytes_asks_for_more() {
        let mut bytes = SegmentHeader::default().encode().to_vec();
        let fields = vec![(b"f".to_vec(), b"v".to_vec())];
        encode(&mut bytes, StreamId::new(1, 0), &fields, true);
        let start = ScanStart {
            offset: HEADER_BYTES as u64,
            ordinal: 0,
            last_point: None,
        };
        let scan = scan(&bytes, 0, start, None, 1);
        assert_eq!(scan.stop, Stop::Exhausted);
        assert!(scan.wants_more());
        assert_eq!(scan.damage(), None);
    }

    #[test]
    fn scan_stops_at_uncommitted_batch() {
        let mut bytes = SegmentHeader::default().encode().to_vec();
        let fields = vec![(b"f".to_vec(), b"v".to_vec())];
        encode(&mut bytes, StreamId::new(1, 0), &fields, true);
        let committed = bytes.len() as u64;
        encode(&mut bytes, StreamId::new(2, 0), &fields, false);
        encode(&mut bytes, StreamId::new(3, 0), &fields, false);
        let start = ScanStart {
            offset: HEADER_BYTES as u64,
            ordinal: 0,
            last_point: None,
        };
        let scan = scan(&bytes, 0, start, None, 1);
        assert_eq!(scan.committed_end, committed);
        assert_eq!(scan.records, 1);
        assert_eq!(scan.points.len(), 1);
        assert!(
            scan.wants_more(),
            "a batch cut by the end of the bytes may continue"
        );
        assert_eq!(scan.damage(), Some("batch without its end record"));
    }
}
