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
use crate::id::StreamId;
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

/// The largest piece [`RangeResponse`] copies into tonic's buffer at once.
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
        let id_len = decimal_len(id.ms) + 1 + decimal_len(id.seq);
        let entry_len = fields
            .clone()
            .fold(delimited_len(ENTRY_ID, id_len), |len, field| {
                len + delimited_len(ENTRY_FIELDS, field_len(field))
            });
        let out = &mut self.bytes;
        out.reserve(delimited_len(RANGE_ENTRIES, entry_len));
        put_header(out, RANGE_ENTRIES, entry_len);
        put_header(out, ENTRY_ID, id_len);
        put_decimal(out, id.ms);
        out.push(b'-');
        put_decimal(out, id.seq);
        for field in fields {
            put_header(out, ENTRY_FIELDS, field_len(field));
            put_text_or_bytes(out, FIELD_NAME, field.0);
            put_text_or_bytes(out, FIELD_VALUE, field.1);
        }
        self.count += 1;
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

/// The encoded length of a `Field` message (without its own key and length).
fn field_len((name, value): (&[u8], &[u8])) -> usize {
    delimited_len(FIELD_NAME.0, name.len()) + delimited_len(FIELD_VALUE.0, value.len())
}

/// The bytes a length-delimited field of `len` bytes takes, key and length included.
fn delimited_len(tag: u32, len: usize) -> usize {
    encoding::key_len(tag) + encoding::encoded_len_varint(len as u64) + len
}

/// A length-delimited field's key and length.
fn put_header(out: &mut Vec<u8>, tag: u32, len: usize) {
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

/// Digits of `n` in decimal.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// `n` in decimal.
fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// `sluice.v1.RangeResponse`: the entries of an XRANGE / XREVRANGE, and whether the stream
/// exists. A client finds them decoded in `entries`; a server sends them already encoded
/// ([`RangeResponse::encoded`]).
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
        // In pieces: glibc's memcpy moves a block over about 2 KiB with `rep movsb`, which on
        // the AMD machine of the README's figures took 64 % of memcpy's samples and 7 % of a
        // Range's server CPU for this one copy; pieces go by vector moves.
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
                encoding::message::merge_repeated(wire_type, &mut self.entries, buf, ctx).map_err(
                    |mut error| {
                        error.push("RangeResponse", "entries");
                        error
                    },
                )
            }
            RANGE_EXISTS => {
                encoding::bool::merge(wire_type, &mut self.exists, buf, ctx).map_err(|mut error| {
                    error.push("RangeResponse", "exists");
                    error
                })
            }
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
    use crate::model::Entry;
    use crate::proto::convert::entries_to_proto;

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
                    ("naïve".as_bytes().to_vec(), vec![b'v'; 300]),
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
    fn entries_encode_as_prost_encodes_them() {
        for exists in [false, true] {
            let response = RangeResponse::encoded(encoded(&sample()), exists);
            let generated = RangeResponse {
                entries: entries_to_proto(sample()),
                exists,
                encoded: EncodedEntries::default(),
            };
            assert_eq!(response.encode_to_vec(), generated.encode_to_vec());
            assert_eq!(response.encoded_len(), response.encode_to_vec().len());
            // TailResponse's `entries` is field 1 too, encoded by prost's derived code.
            let tail = v1::TailResponse {
                entries: entries_to_proto(sample()),
            };
            assert_eq!(encoded(&sample()).bytes(), tail.encode_to_vec());
        }
    }

    #[test]
    fn a_client_decodes_what_a_server_encodes() {
        let response = RangeResponse::encoded(encoded(&sample()), true);
        let decoded = RangeResponse::decode(response.encode_to_vec().as_slice())
            .expect("a RangeResponse decodes");
        assert_eq!(decoded.entries, entries_to_proto(sample()));
        assert!(decoded.exists);
        assert_eq!(
            RangeResponse::decode(&[0x10, 0x01, 0x18, 0x05][..]).map(|r| r.exists),
            Ok(true),
            "an unknown field is skipped"
        );
        assert!(RangeResponse::decode(&[0x0a, 0x05, 0x0a][..]).is_err());
    }

    #[test]
    fn decimals() {
        for n in [0, 9, 10, 99, 100, 1_659_114_481_311, u64::MAX] {
            let mut out = Vec::new();
            put_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
            assert_eq!(decimal_len(n), out.len());
        }
    }

    #[test]
    fn clearing_starts_over() {
        let mut sink = encoded(&sample());
        assert_eq!(sink.count(), 3);
        sink.clear();
        assert_eq!(sink, EncodedEntries::default());
    }
}
