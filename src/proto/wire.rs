//! Entries written for the wire straight from the log.
//!
//! [`EncodedEntries`] is an [`EntrySink`] that writes each entry a read finds as the protobuf
//! bytes of one element of a `repeated Entry` field. No [`v1::Entry`] is built, no name or
//! value gets an allocation of its own, and each nested message is sized once: prost's derived
//! encoding sizes a message again at every level above it, and the reply as a whole once more
//! before writing it. [`RangeResponse`] sends them: it is `sluice.v1.RangeResponse`, written
//! by hand (`build.rs` maps the type here) so that it can carry entries already encoded. A
//! client decodes it as the generated type would, into [`v1::Entry`] messages.
//!
//! The bytes are prost's for the same message (the tests compare them): fields in number
//! order, the ID as `ms-seq`, and each name and value as text when it is UTF-8 and as bytes
//! otherwise, as [`super::convert::field_to_proto`] chooses.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use super::v1;
use crate::id::{StreamId, TEXT_BYTES_MAX};
use crate::model::EntrySink;

/// `Entry.id`.
const ENTRY_ID: u32 = 1;
/// `Entry.fields`.
const ENTRY_FIELDS: u32 = 2;
/// `Field.name` and `Field.name_bytes`.
const FIELD_NAME: (u32, u32) = (1, 2);
/// `Field.value` and `Field.value_bytes`.
const FIELD_VALUE: (u32, u32) = (3, 4);
/// `RangeResponse.entries` (and `TailResponse.entries`).
const RANGE_ENTRIES: u32 = 1;
/// `RangeResponse.exists`.
const RANGE_EXISTS: u32 = 2;

/// The largest piece [`RangeResponse`] copies into the reply's buffer at once: under glibc's
/// `x86_rep_movsb_threshold` (see [`RangeResponse`]'s `encode_raw`).
const COPY_PIECE_BYTES: usize = 2048;

/// Entries encoded as the elements of a message's `repeated Entry entries = 1` field (that of
/// `RangeResponse` and `TailResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedEntries {
    bytes: Vec<u8>,
    count: usize,
}

impl EncodedEntries {
    /// How many entries it holds.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl EntrySink for EncodedEntries {
    fn push<'a, F>(&mut self, id: StreamId, fields: F)
    where
        F: Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    {
        let mut id_text = [0; TEXT_BYTES_MAX];
        let id_text = id.text(&mut id_text);
        let id_len = id_text.len();
        let entry_len = fields
            .clone()
            .fold(delimited_len(ENTRY_ID, id_len), |len, field| {
                len + delimited_len(ENTRY_FIELDS, field_len(field))
            });
        let out = &mut self.bytes;
        let start = out.len();
        out.reserve(delimited_len(RANGE_ENTRIES, entry_len));
        put_header(out, RANGE_ENTRIES, entry_len);
        put_header(out, ENTRY_ID, id_len);
        out.extend_from_slice(id_text);
        for field in fields {
            put_header(out, ENTRY_FIELDS, field_len(field));
            put_text_or_bytes(out, FIELD_NAME, field.0);
            put_text_or_bytes(out, FIELD_VALUE, field.1);
        }
        // The sizes above hold whichever member of a oneof was written: their keys are one
        // byte alike.
        debug_assert_eq!(out.len() - start, delimited_len(RANGE_ENTRIES, entry_len));
        self.count += 1;
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }

    /// Makes room for the entries expected, up to [`EXPECTED_BYTES_MAX`], so that a reply is
    /// not copied at each doubling of its buffer as it grows (a Range of 100 entries of 100
    /// bytes grew through seven). The reply bytes a read counts (20 for an entry's ID and
    /// field count, 8 a field for its lengths, and the names and values) are about what the
    /// encoding takes (19 or so for a 15-digit ID, 6 or 7 a field for keys and lengths, more
    /// for longer IDs); an eighth more covers the difference for all but the longest IDs. One
    /// entry larger than the cap is left to its own push, which sizes the buffer exactly.
    fn expect_entries(&mut self, entries: usize, reply_bytes: usize) {
        let room = reply_bytes.saturating_add(reply_bytes / 8);
        if entries <= 1 && room > EXPECTED_BYTES_MAX {
            return;
        }
        self.bytes.reserve_exact(
            room.min(EXPECTED_BYTES_MAX)
                .saturating_sub(self.bytes.len()),
        );
    }
}

/// The most room [`EncodedEntries`] makes for expected entries: a larger reply grows as it
/// comes, and a small read in a large budget reserves no more than this.
const EXPECTED_BYTES_MAX: usize = 64 << 10;

/// The encoded length of a `Field` message (without its own key and length).
fn field_len((name, value): (&[u8], &[u8])) -> usize {
    delimited_len(FIELD_NAME.0, name.len()) + delimited_len(FIELD_VALUE.0, value.len())
}

/// The bytes a length-delimited field of `len` bytes takes, key and length included.
pub(super) fn delimited_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// Names the field a decode error came from, as prost's derived code does.
pub(super) fn in_field(
    message: &'static str,
    field: &'static str,
) -> impl FnOnce(DecodeError) -> DecodeError {
    move |mut error| {
        error.push(message, field);
        error
    }
}

/// A length-delimited field's key and length.
pub(super) fn put_header(out: &mut impl BufMut, tag: u32, len: usize) {
    encoding::encode_key(tag, WireType::LengthDelimited, out);
    encoding::encode_varint(len as u64, out);
}

/// `bytes` as the text member of a oneof when they are UTF-8, else as its bytes member.
fn put_text_or_bytes(out: &mut Vec<u8>, (text, binary): (u32, u32), bytes: &[u8]) {
    let tag = if std::str::from_utf8(bytes).is_ok() {
        text
    } else {
        binary
    };
    put_header(out, tag, bytes.len());
    out.extend_from_slice(bytes);
}

/// `sluice.v1.RangeResponse`: the entries of an XRANGE / XREVRANGE, and whether the stream
/// exists. A client finds them decoded in `entries`; a server sends them already encoded
/// ([`RangeResponse::encoded`]), after any in `entries`. Equality compares the two parts
/// apart: a response with encoded entries is not equal to what a client decodes from it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RangeResponse {
    /// The entries (field 1), as a client decodes them.
    pub entries: Vec<v1::Entry>,
    /// Whether the stream exists (field 2). Redis answers COUNT 0 with nil for an existing
    /// stream and an empty array for a missing one.
    pub exists: bool,
    /// More entries of field 1, encoded, sent after `entries`.
    encoded: EncodedEntries,
}

impl RangeResponse {
    /// A reply of `entries` as messages (what the generated type's struct literal built).
    pub fn new(entries: Vec<v1::Entry>, exists: bool) -> RangeResponse {
        RangeResponse {
            entries,
            exists,
            encoded: EncodedEntries::default(),
        }
    }

    /// A reply with `entries` already encoded.
    pub fn encoded(entries: EncodedEntries, exists: bool) -> RangeResponse {
        RangeResponse {
            entries: Vec::new(),
            exists,
            encoded: entries,
        }
    }
}

impl prost::Message for RangeResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for entry in &self.entries {
            encoding::message::encode(RANGE_ENTRIES, entry, buf);
        }
        // In pieces: glibc's memcpy moves a block larger than its `x86_rep_movsb_threshold`
        // (2,112 bytes on a CPU with fast short `rep movsb`; `ld.so --list-tunables`) with
        // `rep movsb`, which on the AMD machine of the README's figures took 64 % of memcpy's
        // samples and 7 % of a Range's server CPU for this one copy; pieces go by vector
        // moves.
        for piece in self.encoded.bytes().chunks(COPY_PIECE_BYTES) {
            buf.put_slice(piece);
        }
        if self.exists {
            encoding::bool::encode(RANGE_EXISTS, &self.exists, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            RANGE_ENTRIES => {
                encoding::message::merge_repeated(wire_type, &mut self.entries, buf, ctx)
                    .map_err(in_field("RangeResponse", "entries"))
            }
            RANGE_EXISTS => encoding::bool::merge(wire_type, &mut self.exists, buf, ctx)
                .map_err(in_field("RangeResponse", "exists")),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let exists = if self.exists {
            encoding::bool::encoded_len(RANGE_EXISTS, &self.exists)
        } else {
            0
        };
        encoding::message::encoded_len_repeated(RANGE_ENTRIES, &self.entries)
            + self.encoded.bytes().len()
            + exists
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.exists = false;
        self.encoded.clear();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::id::IdRange;
    use crate::model::{Entry, NewEntry, ReadLimit};
    use crate::proto::convert::entries_to_proto;
    use crate::{AddId, Config, Engine, FsyncPolicy};

    /// `sluice.v1.RangeResponse` as prost's derived code encodes and decodes it.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(message, repeated, tag = "1")]
        entries: Vec<v1::Entry>,
        #[prost(bool, tag = "2")]
        exists: bool,
    }

    fn sample() -> Vec<Entry> {
        vec![
            Entry {
                id: StreamId::new(1_659_114_481_311, 0),
                fields: vec![(b"data".to_vec(), vec![b'x'; 96])],
            },
            Entry {
                id: StreamId::new(0, u64::MAX),
                fields: vec![
                    (Vec::new(), vec![0xff, 0x00]),
                    (vec![0xc3], b"text".to_vec()),
                    ("naïve".as_bytes().to_vec(), vec![b'v'; 20_000]),
                ],
            },
            Entry {
                id: StreamId::new(u64::MAX, 9),
                fields: Vec::new(),
            },
        ]
    }

    fn encoded(entries: &[Entry]) -> EncodedEntries {
        let mut sink = EncodedEntries::default();
        for entry in entries {
            sink.push(
                entry.id,
                entry
                    .fields
                    .iter()
                    .map(|(name, value)| (name.as_slice(), value.as_slice())),
            );
        }
        sink
    }

    #[test]
    fn the_field_numbers_are_the_protos() {
        let number = super::super::field_number;
        assert_eq!(number("Entry", "id"), Some(ENTRY_ID));
        assert_eq!(number("Entry", "fields"), Some(ENTRY_FIELDS));
        assert_eq!(number("Field", "name"), Some(FIELD_NAME.0));
        assert_eq!(number("Field", "name_bytes"), Some(FIELD_NAME.1));
        assert_eq!(number("Field", "value"), Some(FIELD_VALUE.0));
        assert_eq!(number("Field", "value_bytes"), Some(FIELD_VALUE.1));
        assert_eq!(number("RangeResponse", "entries"), Some(RANGE_ENTRIES));
        assert_eq!(number("RangeResponse", "exists"), Some(RANGE_EXISTS));
        assert_eq!(number("TailResponse", "entries"), Some(RANGE_ENTRIES));
    }

    #[test]
    fn entries_encode_as_prost_encodes_them() {
        for exists in [false, true] {
            let generated = Generated {
                entries: entries_to_proto(sample()),
                exists,
            };
            let response = RangeResponse::encoded(encoded(&sample()), exists);
            assert_eq!(response.encode_to_vec(), generated.encode_to_vec());
            assert_eq!(response.encoded_len(), generated.encoded_len());
            let as_messages = RangeResponse::new(entries_to_proto(sample()), exists);
            assert_eq!(as_messages.encode_to_vec(), generated.encode_to_vec());
        }
    }

    #[test]
    fn a_client_decodes_what_a_server_encodes() {
        let bytes = RangeResponse::encoded(encoded(&sample()), true).encode_to_vec();
        let decoded = RangeResponse::decode(bytes.as_slice()).expect("a RangeResponse decodes");
        assert_eq!(
            decoded,
            RangeResponse::new(entries_to_proto(sample()), true)
        );
        let generated = Generated::decode(bytes.as_slice()).expect("it decodes as generated");
        assert_eq!(decoded.entries, generated.entries);
        // Prost's answers to odd input, the generated type's and this one's alike.
        for odd in [
            &[0x10, 0x01, 0x18, 0x05][..], // an unknown field is skipped
            &[0x10, 0x02][..],             // a bool of 2 is true
            &[0x0a, 0x05, 0x0a][..],       // cut short
            &[0x12, 0x00][..],             // `exists` as a length-delimited field
            &[0x08, 0x01][..],             // `entries` as a varint
        ] {
            let ours =
                RangeResponse::decode(odd).map(|response| (response.entries, response.exists));
            let theirs = Generated::decode(odd).map(|response| (response.entries, response.exists));
            assert_eq!(
                ours.as_ref().map_err(ToString::to_string),
                theirs
                    .as_ref()
                    .map_err(|error| error.to_string().replace("Generated", "RangeResponse")),
                "{odd:?}"
            );
        }
        assert!(RangeResponse::decode(&[0x12, 0x00][..]).is_err());
    }

    #[test]
    fn clearing_starts_over() {
        let mut sink = encoded(&sample());
        assert_eq!(sink.count(), 3);
        sink.clear();
        assert_eq!(sink, EncodedEntries::default());
        let mut response = RangeResponse::encoded(encoded(&sample()), true);
        response.entries = entries_to_proto(sample());
        response.clear();
        assert_eq!(response, RangeResponse::default());
        assert_eq!(response.encode_to_vec(), Vec::<u8>::new());
    }

    #[test]
    fn a_read_makes_room_for_its_entries_at_once() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        let engine = Engine::open(config).expect("the engine opens");
        // Sixteen to a millisecond, as a batched Add makes them: two-digit sequence numbers,
        // and values long enough for a two-byte length, so that each entry's encoding takes
        // a byte more than the read counts for it.
        let entries: Vec<NewEntry> = (0..320u64)
            .map(|n| NewEntry {
                id: AddId::Explicit(StreamId::new(1_659_114_481_311 + n / 16, n % 16)),
                fields: vec![(b"data".to_vec(), vec![b'x'; 200])],
            })
            .collect();
        engine.add(b"s", &entries, false, None).expect("an add");
        for (count, bytes) in [(100, usize::MAX), (250, usize::MAX), (usize::MAX, 5000)] {
            let limit = ReadLimit {
                count,
                bytes,
                partial: true,
            };
            let mut sink = EncodedEntries::default();
            engine
                .range_into(b"s", IdRange::ALL, false, limit, &mut sink)
                .expect("a read");
            let (len, room) = (sink.bytes().len(), sink.bytes.capacity());
            // Grown by doubling, or doubled once at the end, the buffer would end with more
            // than a fifth to spare.
            assert!(len <= room && room <= len + len / 5, "{len} in {room}");
        }
        // A read in a large budget reserves no more than the cap; one entry larger than the
        // cap, nothing (its push sizes the buffer).
        let mut sink = EncodedEntries::default();
        sink.expect_entries(usize::MAX, usize::MAX);
        assert_eq!(sink.bytes.capacity(), EXPECTED_BYTES_MAX);
        let mut sink = EncodedEntries::default();
        sink.expect_entries(1, EXPECTED_BYTES_MAX + 1);
        assert_eq!(sink.bytes.capacity(), 0);
    }

    #[test]
    fn a_read_encodes_what_its_entries_would() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        config.segment_bytes_max = 4096;
        config.entry_bytes_max = 1024;
        config.index_interval_bytes = 256;
        let engine = Engine::open(config).expect("the engine opens");
        for ms in 1..=300u64 {
            let value = if ms % 3 == 0 {
                vec![0xff; (ms % 50) as usize]
            } else {
                b"v".repeat((ms % 70) as usize)
            };
            let entry = NewEntry {
                id: AddId::Explicit(StreamId::new(ms, 0)),
                fields: vec![(b"f".to_vec(), value), (Vec::new(), b"x".to_vec())],
            };
            engine.add(b"s", &[entry], false, None).expect("an add");
        }
        let ranges = [
            IdRange::ALL,
            IdRange {
                start: StreamId::new(17, 0),
                end: StreamId::new(250, 0),
            },
        ];
        let limits = [
            ReadLimit::count(1),
            ReadLimit::count(40),
            ReadLimit::count(usize::MAX),
            ReadLimit {
                count: usize::MAX,
                bytes: 3000,
                partial: true,
            },
        ];
        for range in ranges {
            for limit in limits {
                for rev in [false, true] {
                    let entries = engine
                        .range(b"s", range, rev, limit)
                        .expect("a read")
                        .expect("the stream");
                    let mut sink = encoded(&sample());
                    let exists = engine
                        .range_into(b"s", range, rev, limit, &mut sink)
                        .expect("a read");
                    assert!(exists);
                    assert_eq!(sink.count(), entries.len());
                    let generated = v1::TailResponse {
                        entries: entries_to_proto(entries),
                    };
                    assert_eq!(
                        sink.bytes(),
                        generated.encode_to_vec(),
                        "{range:?} {limit:?} rev {rev}"
                    );
                }
            }
        }
        let mut sink = encoded(&sample());
        let exists = engine
            .range_into(
                b"missing",
                IdRange::ALL,
                false,
                ReadLimit::count(5),
                &mut sink,
            )
            .expect("a read");
        assert!(!exists);
        assert_eq!(sink, EncodedEntries::default());
    }
}
