//! The sparse ID index of a segment (`<id:020>.idx`).
//!
//! A point maps the ID of one record to its offset and ordinal (its position among the
//! segment's records). The writer adds a point for the first record and then for the first
//! record at least `index_interval_bytes` past the previous point, so a seek reads at most about
//! one interval of log. Points are fixed-size slots; a sealed segment's index ends with a
//! trailer slot that summarises the segment, so opening a sealed segment reads 32 bytes of its
//! index and nothing of its log.
//!
//! ```text
//! slot (32 bytes)
//! offset  size  field
//!  0      8     ms  u64 LE    point: the record's ID; trailer: the segment's last ID
//!  8      8     seq u64 LE
//! 16      4     u32 LE        point: record offset in the log; trailer: log length in bytes
//! 20      4     u32 LE        point: record ordinal;           trailer: record count
//! 24      4     kind u32 LE   1 = point, 2 = trailer
//! 28      4     CRC-32 of bytes 0..28
//! ```
//!
//! The active segment's points live in memory and are appended to its index file once the
//! records they point to are durable, so a point found on disk always points into data that
//! survived; recovery trusts the last valid point and re-scans only the log after it.

use crate::id::StreamId;
use crate::storage::bytes::{get_id, get_u32, put_id};
use crate::storage::fs::Mapping;

/// Size of one index slot.
pub const SLOT_BYTES: usize = 32;
const KIND_POINT: u32 = 1;
const KIND_TRAILER: u32 = 2;

/// One index point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexPoint {
    /// The record's ID.
    pub id: StreamId,
    /// The record's offset in the log file.
    pub offset: u32,
    /// The record's position among the segment's records, from 0.
    pub ordinal: u32,
}

/// The summary of a sealed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trailer {
    /// ID of the segment's last record.
    pub last_id: StreamId,
    /// Length of the log file.
    pub log_len: u32,
    /// Number of records.
    pub count: u32,
}

/// A decoded slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A point.
    Point(IndexPoint),
    /// The sealing trailer.
    Trailer(Trailer),
}

fn encode_slot(id: StreamId, a: u32, b: u32, kind: u32) -> [u8; SLOT_BYTES] {
    let mut out = [0u8; SLOT_BYTES];
    put_id(&mut out[0..16], id);
    out[16..20].copy_from_slice(&a.to_le_bytes());
    out[20..24].copy_from_slice(&b.to_le_bytes());
    out[24..28].copy_from_slice(&kind.to_le_bytes());
    let crc = crc32fast::hash(&out[..28]);
    out[28..32].copy_from_slice(&crc.to_le_bytes());
    out
}

impl IndexPoint {
    /// The point's slot bytes.
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        encode_slot(self.id, self.offset, self.ordinal, KIND_POINT)
    }
}

impl Trailer {
    /// The trailer's slot bytes.
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        encode_slot(self.last_id, self.log_len, self.count, KIND_TRAILER)
    }
}

/// A sealed segment's whole index file: its points, then the trailer.
pub fn encode_sealed(points: &[IndexPoint], trailer: &Trailer) -> Vec<u8> {
    let mut bytes = Vec::with_capacity((points.len() + 1) * SLOT_BYTES);
    for point in points {
        bytes.extend_from_slice(&point.encode());
    }
    bytes.extend_from_slice(&trailer.encode());
    bytes
}

/// The active segment's index file content for `points` (no trailer).
pub fn encode_points(points: &[IndexPoint]) -> Vec<u8> {
    points.iter().flat_map(IndexPoint::encode).collect()
}

/// Decodes one slot; `None` if its checksum or kind is wrong.
pub fn decode_slot(bytes: &[u8]) -> Option<Slot> {
    if bytes.len() < SLOT_BYTES || crc32fast::hash(&bytes[..28]) != get_u32(bytes, 28) {
        return None;
    }
    let id = get_id(bytes, 0);
    let (a, b) = (get_u32(bytes, 16), get_u32(bytes, 20));
    match get_u32(bytes, 24) {
        KIND_POINT => Some(Slot::Point(IndexPoint {
            id,
            offset: a,
            ordinal: b,
        })),
        KIND_TRAILER => Some(Slot::Trailer(Trailer {
            last_id: id,
            log_len: a,
            count: b,
        })),
        _ => None,
    }
}

/// An index file read back: the longest valid run of points, and the trailer if the file ends
/// with one right after them.
#[derive(Debug, Default)]
pub struct ParsedIndex {
    /// Valid points, in order.
    pub points: Vec<IndexPoint>,
    /// The trailer, if the index is sealed.
    pub trailer: Option<Trailer>,
    /// Bytes of the file that were valid.
    pub valid_len: usize,
}

impl ParsedIndex {
    /// The trailer, if opening trusts it for a sealed segment whose log is `log_len` bytes and
    /// whose index file is `index_len` bytes: the trailer agrees with the log's length, the whole
    /// file is valid, and the points fit the log and the trailer. Otherwise the index is rebuilt
    /// from the log.
    pub fn trusted_trailer(&self, index_len: usize, log_len: u64) -> Option<Trailer> {
        let trailer = self.trailer?;
        let consistent = u64::from(trailer.log_len) == log_len
            && self.valid_len == index_len
            && (trailer.count == 0) == self.points.is_empty()
            && self.points.last().is_none_or(|point| {
                u64::from(point.offset) < log_len && point.id <= trailer.last_id
            });
        consistent.then_some(trailer)
    }
}

/// Parses an index file, stopping at the first damaged or out-of-order slot.
pub fn parse(bytes: &[u8]) -> ParsedIndex {
    let mut parsed = ParsedIndex::default();
    for slot in bytes.chunks_exact(SLOT_BYTES) {
        match decode_slot(slot) {
            Some(Slot::Point(point)) => {
                let ordered = parsed.points.last().is_none_or(|previous| {
                    previous.id < point.id
                        && previous.offset < point.offset
                        && previous.ordinal < point.ordinal
                });
                if !ordered {
                    break;
                }
                parsed.points.push(point);
                parsed.valid_len += SLOT_BYTES;
            }
            Some(Slot::Trailer(trailer)) => {
                parsed.trailer = Some(trailer);
                parsed.valid_len += SLOT_BYTES;
                break;
            }
            None => break,
        }
    }
    parsed
}

/// Random access to a sequence of points, wherever they are kept.
pub trait Points {
    /// Number of points.
    fn len(&self) -> usize;
    /// The `i`-th point (`i < len()`).
    fn get(&self, i: usize) -> IndexPoint;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Points for [IndexPoint] {
    fn len(&self) -> usize {
        <[IndexPoint]>::len(self)
    }
    fn get(&self, i: usize) -> IndexPoint {
        self[i]
    }
}

/// The points of a sealed segment, read in place from its mapped index file.
pub struct MappedPoints {
    map: Mapping,
    count: usize,
}

impl MappedPoints {
    /// Views the first `count` slots of `map` as points; the caller has validated them.
    pub fn new(map: Mapping, count: usize) -> MappedPoints {
        MappedPoints { map, count }
    }
}

impl Points for MappedPoints {
    fn len(&self) -> usize {
        self.count
    }
    fn get(&self, i: usize) -> IndexPoint {
        match decode_slot(&self.map[i * SLOT_BYTES..(i + 1) * SLOT_BYTES]) {
            Some(Slot::Point(point)) => point,
            // Validated when the segment was opened; a mapping of a sealed file cannot change.
            _ => IndexPoint {
                id: StreamId::MAX,
                offset: u32::MAX,
                ordinal: u32::MAX,
            },
        }
    }
}

/// The position of the last point whose ID is at most `id`, or 0 when `id` precedes them all:
/// where a forward scan for `id` should start. `None` for an empty index.
pub fn seek<P: Points + ?Sized>(points: &P, id: StreamId) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    // Binary search for the first point with an ID greater than `id`.
    let (mut low, mut high) = (0usize, points.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if points.get(middle).id <= id {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Some(low.saturating_sub(1))
}

/// The position of the last point whose ordinal is at most `ordinal`.
pub fn seek_ordinal<P: Points + ?Sized>(points: &P, ordinal: u32) -> Option<usize> {
    if points.is_empty() {
        return None;
    }
    let (mut low, mut high) = (0usize, points.len());
    while low < high {
        let middle = low + (high - low) / 2;
        if points.get(middle).ordinal <= ordinal {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    Some(low.saturating_sub(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(ms: u64, offset: u32, ordinal: u32) -> IndexPoint {
        IndexPoint {
            id: StreamId::new(ms, 0),
            offset,
            ordinal,
        }
    }

    #[test]
    fn parse_stops_at_damage_and_reads_trailer() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&point(1, 64, 0).encode());
        bytes.extend_from_slice(&point(5, 200, 4).encode());
        let trailer = Trailer {
            last_id: StreamId::new(9, 0),
            log_len: 400,
            count: 8,
        };
        bytes.extend_from_slice(&trailer.encode());
        let parsed = parse(&bytes);
        assert_eq!(parsed.points.len(), 2);
        assert_eq!(parsed.trailer, Some(trailer));

        let mut damaged = bytes.clone();
        damaged[40] ^= 1;
        let parsed = parse(&damaged);
        assert_eq!(parsed.points.len(), 1);
        assert_eq!(parsed.trailer, None);
        assert_eq!(parsed.valid_len, SLOT_BYTES);
    }

    #[test]
    fn seek_finds_last_point_not_after() {
        let points = [point(10, 64, 0), point(20, 100, 3), point(30, 200, 6)];
        assert_eq!(seek(&points[..], StreamId::new(5, 0)), Some(0));
        assert_eq!(seek(&points[..], StreamId::new(10, 0)), Some(0));
        assert_eq!(seek(&points[..], StreamId::new(25, 0)), Some(1));
        assert_eq!(seek(&points[..], StreamId::MAX), Some(2));
        assert_eq!(seek(&[][..], StreamId::MAX), None);
        assert_eq!(seek_ordinal(&points[..], 5), Some(1));
        assert_eq!(seek_ordinal(&points[..], 6), Some(2));
    }
}
