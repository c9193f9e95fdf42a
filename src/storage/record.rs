//! One entry's on-disk frame in a segment log.
//!
//! ```text
//! offset  size  field
//!  0      4     body_len   u32 LE: bytes after this 8-byte frame header
//!  4      4     crc        u32 LE: CRC-32 (IEEE, as crc32fast computes it) of body_len's 4 bytes, then the body
//!  8      1     flags      bit 0 = BATCH_END: the last record of an atomic batch
//!  9      8     ms         u64 LE
//! 17      8     seq        u64 LE
//! 25      4     pairs      u32 LE: number of field/value pairs
//! 29      ...   pairs × (name_len u32 LE, name bytes, value_len u32 LE, value bytes)
//! ```
//!
//! The CRC covers the length too, so a damaged length is caught as surely as damaged content.
//! A record is *committed* only if it, or a later record of the same batch, carries BATCH_END:
//! recovery drops a batch whose end never reached the disk, which is what makes multi-entry
//! appends atomic.

use crate::id::StreamId;
use crate::model::Field;

/// Bytes before the body: length and CRC.
pub const FRAME_HEADER_BYTES: usize = 8;
/// Fixed part of the body: flags, ID and pair count.
pub const BODY_FIXED_BYTES: usize = 1 + 16 + 4;
/// Flag: last record of an atomic batch.
pub const FLAG_BATCH_END: u8 = 1;

/// The encoded size of a record holding `fields`.
pub fn encoded_len(fields: &[Field]) -> usize {
    FRAME_HEADER_BYTES
        + BODY_FIXED_BYTES
        + fields
            .iter()
            .map(|(name, value)| 8 + name.len() + value.len())
            .sum::<usize>()
}

/// Appends the encoding of one record to `out`. The caller has checked the size limit, which
/// keeps every length within u32.
pub fn encode(out: &mut Vec<u8>, id: StreamId, fields: &[Field], batch_end: bool) {
    let start = out.len();
    let body_len = (encoded_len(fields) - FRAME_HEADER_BYTES) as u32;
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.push(if batch_end { FLAG_BATCH_END } else { 0 });
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
    out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for (name, value) in fields {
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        out.extend_from_slice(value);
    }
    let crc = checksum(&out[start..start + 4], &out[start + FRAME_HEADER_BYTES..]);
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// A CRC-32 hasher in its initial state, cloned for each frame: `Hasher::new` detects the
/// CPU's features on every call (half a dozen checks), which a read of short records paid once
/// per record.
static NEW_HASHER: std::sync::LazyLock<crc32fast::Hasher> =
    std::sync::LazyLock::new(crc32fast::Hasher::new);

/// The CRC-32 of a frame's 4 length bytes and its body: a record's, and (framed the same way)
/// a group-journal record's (see `storage::journal`).
pub(crate) fn checksum(len_bytes: &[u8], body: &[u8]) -> u32 {
    let mut hasher = NEW_HASHER.clone();
    hasher.update(len_bytes);
    hasher.update(body);
    hasher.finalize()
}

/// A record decoded in place.
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    /// The entry's ID.
    pub id: StreamId,
    /// Whether the record ends an atomic batch.
    pub batch_end: bool,
    /// The encoded pairs (`pairs` count first).
    pairs: &'a [u8],
    /// Total bytes of the record, frame included.
    pub len: usize,
}

/// What lies at a position in a segment.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// A whole, valid record.
    Record(RecordRef<'a>),
    /// The bytes end before the record does: `needed` bytes from this position would hold it
    /// (when the length field itself could be read).
    Incomplete {
        /// Bytes needed from the record's start, if known.
        needed: Option<usize>,
    },
    /// The bytes here are not a valid record.
    Invalid(&'static str),
}

/// Decodes the record at the start of `bytes`, checking length bounds, CRC and structure.
/// `max_len` is the largest record the engine could have written (the format's
/// `segment::RECORD_BYTES_MAX`, or less where the caller knows better).
pub fn decode(bytes: &[u8], max_len: usize) -> Decoded<'_> {
    if bytes.len() < FRAME_HEADER_BYTES {
        return Decoded::Incomplete { needed: None };
    }
    let body_len = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let total = FRAME_HEADER_BYTES + body_len;
    if body_len < BODY_FIXED_BYTES || total > max_len {
        return Decoded::Invalid("record length out of bounds");
    }
    if bytes.len() < total {
        return Decoded::Incomplete {
            needed: Some(total),
        };
    }
    let stored_crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
    let body = &bytes[FRAME_HEADER_BYTES..total];
    if checksum(&bytes[..4], body) != stored_crc {
        return Decoded::Invalid("record checksum mismatch");
    }
    let flags = body[0];
    let ms = u64::from_le_bytes(body[1..9].try_into().unwrap_or_default());
    let seq = u64::from_le_bytes(body[9..17].try_into().unwrap_or_default());
    let pairs = &body[17..];
    if !pairs_are_well_formed(pairs) {
        return Decoded::Invalid("record fields malformed");
    }
    Decoded::Record(RecordRef {
        id: StreamId::new(ms, seq),
        batch_end: flags & FLAG_BATCH_END != 0,
        pairs,
        len: total,
    })
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

fn pairs_are_well_formed(pairs: &[u8]) -> bool {
    let Some(count) = read_u32(pairs, 0) else {
        return false;
    };
    let mut at = 4usize;
    for _ in 0..u64::from(count) * 2 {
        let Some(len) = read_u32(pairs, at) else {
            return false;
        };
        at = match at.checked_add(4 + len as usize) {
            Some(next) if next <= pairs.len() => next,
            _ => return false,
        };
    }
    at == pairs.len()
}

impl<'a> RecordRef<'a> {
    /// The entry's fields, borrowed in place. The structure was checked by [`decode`].
    pub fn pairs(&self) -> Pairs<'a> {
        Pairs::new(self.pairs)
    }

    /// The encoded pairs (count first), for [`Pairs::new`] to read again later.
    pub fn encoded_pairs(&self) -> &'a [u8] {
        self.pairs
    }

    /// Bytes of field names and values (what a reply will carry).
    pub fn payload_len(&self) -> usize {
        self.pairs.len()
    }
}

/// An entry's (name, value) pairs, borrowed from a record's bytes, in order.
#[derive(Clone, Debug)]
pub struct Pairs<'a> {
    pairs: &'a [u8],
    at: usize,
    left: usize,
}

impl<'a> Pairs<'a> {
    /// The pairs of a record's pairs area (count first), as [`RecordRef::encoded_pairs`]
    /// gives it; [`decode`] checked its structure. Bytes that do not hold it end the pairs
    /// early rather than panic.
    pub fn new(pairs: &'a [u8]) -> Pairs<'a> {
        Pairs {
            pairs,
            at: 4,
            left: read_u32(pairs, 0).unwrap_or(0) as usize,
        }
    }

    fn take(&mut self) -> Option<&'a [u8]> {
        let len = read_u32(self.pairs, self.at)? as usize;
        let bytes = self.pairs.get(self.at + 4..self.at + 4 + len)?;
        self.at += 4 + len;
        Some(bytes)
    }
}

impl<'a> Iterator for Pairs<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        match (self.take(), self.take()) {
            (Some(name), Some(value)) => Some((name, value)),
            _ => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Bytes that do not hold the pairs end them early.
        (0, Some(self.left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Field> {
        vec![
            (b"name".to_vec(), b"value".to_vec()),
            (Vec::new(), vec![0, 255, 10]),
        ]
    }

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        encode(&mut buf, StreamId::new(7, 9), &sample(), true);
        assert_eq!(buf.len(), encoded_len(&sample()));
        match decode(&buf, 1 << 20) {
            Decoded::Record(record) => {
                assert_eq!(record.id, StreamId::new(7, 9));
                assert!(record.batch_end);
                assert_eq!(record.len, buf.len());
                let fields: Vec<Field> = record
                    .pairs()
                    .map(|(name, value)| (name.to_vec(), value.to_vec()))
                    .collect();
                assert_eq!(fields, sample());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn pairs_are_borrowed_in_order_and_stop_at_bytes_that_do_not_hold_them() {
        let mut buf = Vec::new();
        encode(&mut buf, StreamId::new(7, 9), &sample(), true);
        let Decoded::Record(record) = decode(&buf, 1 << 20) else {
            panic!("a record decodes");
        };
        let sample = sample();
        let expected: Vec<(&[u8], &[u8])> = sample
            .iter()
            .map(|(name, value)| (name.as_slice(), value.as_slice()))
            .collect();
        assert_eq!(record.pairs().collect::<Vec<_>>(), expected);
        assert_eq!(record.pairs().size_hint(), (0, Some(2)));
        // A count past the bytes, or a length past them: the pairs end early, no panic.
        let mut short = record.encoded_pairs().to_vec();
        short[0] = 9;
        assert_eq!(Pairs::new(&short).count(), 2);
        short.truncate(short.len() - 1);
        assert_eq!(Pairs::new(&short).count(), 1);
        assert_eq!(Pairs::new(&[]).count(), 0);
    }

    #[test]
    fn every_truncation_is_incomplete_and_every_flip_is_caught() {
        let mut buf = Vec::new();
        encode(&mut buf, StreamId::new(1, 2), &sample(), false);
        for cut in 0..buf.len() {
            assert!(
                matches!(decode(&buf[..cut], 1 << 20), Decoded::Incomplete { .. }),
                "cut at {cut}"
            );
        }
        for at in 0..buf.len() {
            let mut damaged = buf.clone();
            damaged[at] ^= 0x01;
            assert!(
                !matches!(decode(&damaged, 1 << 20), Decoded::Record(_)),
                "flip at {at} went unnoticed"
            );
        }
    }

    #[test]
    fn oversized_length_is_invalid_not_incomplete() {
        let mut buf = Vec::new();
        encode(&mut buf, StreamId::new(1, 2), &sample(), false);
        assert!(matches!(decode(&buf, 16), Decoded::Invalid(_)));
    }
}
