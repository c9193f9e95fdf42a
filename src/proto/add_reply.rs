//! The reply to an Add, written for the wire from the IDs the engine returns.
//!
//! [`AddResponse`] is `sluice.v1.AddResponse`, written by hand (`build.rs` maps the type here)
//! so that a server can send the added IDs as they are: each is written as text straight into
//! the reply's buffer, where the generated type needs a `String` for each (and a copy of the last),
//! built before the reply and freed after it, for every entry a batch adds. A client decodes
//! the reply as the generated type would, into `id` and `ids`; the bytes are prost's for the
//! same message (the tests compare them).

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

use super::wire::{delimited_len, in_field, put_header};
use crate::id::{StreamId, TEXT_BYTES_MAX};

/// `AddResponse.id`.
const ADD_ID: u32 = 1;
/// `AddResponse.ids`.
const ADD_IDS: u32 = 2;

/// `sluice.v1.AddResponse`: the ID of the entry added (the last, for a batch) and the IDs of
/// all of them, in order; empty when NOMKSTREAM found no stream. A client finds them decoded
/// in `id` and `ids`; a server builds the reply from the engine's IDs with
/// [`AddResponse::added`], and its `id` and `ids` stay empty (one holding both would encode
/// the IDs of `ids` first and ignore `id`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AddResponse {
    /// The ID of the entry added, the last one for a batch (field 1), as a client decodes it.
    pub id: String,
    /// The IDs of all entries added, in order (field 2), as a client decodes them.
    pub ids: Vec<String>,
    /// The IDs added, as a server sends them: field 1 holds the last, field 2 all.
    added: Vec<StreamId>,
}

impl AddResponse {
    /// A reply of the IDs `added`, in order.
    pub fn added(added: Vec<StreamId>) -> AddResponse {
        AddResponse {
            id: String::new(),
            ids: Vec::new(),
            added,
        }
    }
}

/// Writes `id`'s text as a length-delimited field.
fn put_id(buf: &mut impl BufMut, tag: u32, id: StreamId) {
    let mut text = [0; TEXT_BYTES_MAX];
    let text = id.text(&mut text);
    put_header(buf, tag, text.len());
    buf.put_slice(text);
}

/// The bytes [`put_id`] writes.
fn id_len(tag: u32, id: StreamId) -> usize {
    delimited_len(tag, id.text_len())
}

impl prost::Message for AddResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        debug_assert!(
            self.added.is_empty() || (self.id.is_empty() && self.ids.is_empty()),
            "an AddResponse holds either the engine's IDs or decoded text, not both"
        );
        // Field 1 first, as prost writes fields in number order; it is empty, and so not
        // written, only when nothing was added.
        match self.added.last() {
            Some(&last) => put_id(buf, ADD_ID, last),
            None if !self.id.is_empty() => encoding::string::encode(ADD_ID, &self.id, buf),
            None => {}
        }
        encoding::string::encode_repeated(ADD_IDS, &self.ids, buf);
        for &id in &self.added {
            put_id(buf, ADD_IDS, id);
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
            ADD_ID => encoding::string::merge(wire_type, &mut self.id, buf, ctx)
                .map_err(in_field("AddResponse", "id")),
            ADD_IDS => encoding::string::merge_repeated(wire_type, &mut self.ids, buf, ctx)
                .map_err(in_field("AddResponse", "ids")),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let id = match self.added.last() {
            Some(&last) => id_len(ADD_ID, last),
            None if !self.id.is_empty() => encoding::string::encoded_len(ADD_ID, &self.id),
            None => 0,
        };
        id + encoding::string::encoded_len_repeated(ADD_IDS, &self.ids)
            + self
                .added
                .iter()
                .map(|&added| id_len(ADD_IDS, added))
                .sum::<usize>()
    }

    fn clear(&mut self) {
        self.id.clear();
        self.ids.clear();
        self.added.clear();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    /// `sluice.v1.AddResponse` as prost's derived code encodes and decodes it.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(string, tag = "1")]
        id: String,
        #[prost(string, repeated, tag = "2")]
        ids: Vec<String>,
    }

    fn generated(ids: &[StreamId]) -> Generated {
        let ids: Vec<String> = ids.iter().map(StreamId::to_string).collect();
        Generated {
            id: ids.last().cloned().unwrap_or_default(),
            ids,
        }
    }

    fn samples() -> Vec<Vec<StreamId>> {
        vec![
            Vec::new(),
            vec![StreamId::new(1_659_114_481_311, 0)],
            vec![StreamId::MIN, StreamId::new(0, 1), StreamId::MAX],
            (0..200).map(|seq| StreamId::new(17, seq)).collect(),
        ]
    }

    #[test]
    fn the_field_numbers_are_the_protos() {
        let number = |field| super::super::field_number("AddResponse", field);
        assert_eq!(number("id"), Some(ADD_ID));
        assert_eq!(number("ids"), Some(ADD_IDS));
    }

    #[test]
    fn ids_encode_as_prost_encodes_them() {
        for ids in samples() {
            let expected = generated(&ids);
            let response = AddResponse::added(ids.clone());
            assert_eq!(
                response.encode_to_vec(),
                expected.encode_to_vec(),
                "{ids:?}"
            );
            assert_eq!(response.encoded_len(), expected.encoded_len(), "{ids:?}");
            let as_text = AddResponse {
                id: expected.id.clone(),
                ids: expected.ids.clone(),
                added: Vec::new(),
            };
            assert_eq!(as_text.encode_to_vec(), expected.encode_to_vec());
            assert_eq!(as_text.encoded_len(), expected.encoded_len());
        }
    }

    #[test]
    fn a_client_decodes_what_a_server_encodes() {
        for ids in samples() {
            let bytes = AddResponse::added(ids.clone()).encode_to_vec();
            let decoded = AddResponse::decode(bytes.as_slice()).expect("an AddResponse decodes");
            let expected = generated(&ids);
            assert_eq!(decoded.id, expected.id);
            assert_eq!(decoded.ids, expected.ids);
            assert!(decoded.added.is_empty());
        }
        // Prost's answers to odd input, the generated type's and this one's alike.
        for odd in [
            &[0x18, 0x05, 0x0a, 0x01, b'7'][..], // an unknown field is skipped
            &[0x0a, 0x05, b'1'][..],             // cut short
            &[0x08, 0x01][..],                   // `id` as a varint
            &[0x12, 0x01, 0xff][..],             // not UTF-8
        ] {
            let ours = AddResponse::decode(odd).map(|response| (response.id, response.ids));
            let theirs = Generated::decode(odd).map(|response| (response.id, response.ids));
            assert_eq!(
                ours.as_ref().map_err(ToString::to_string),
                theirs
                    .as_ref()
                    .map_err(|error| error.to_string().replace("Generated", "AddResponse")),
                "{odd:?}"
            );
        }
    }

    #[test]
    fn clearing_starts_over() {
        let mut response = AddResponse::added(vec![StreamId::new(1, 2)]);
        response.ids.push("3-4".to_owned());
        response.id = "3-4".to_owned();
        response.clear();
        assert_eq!(response, AddResponse::default());
        assert_eq!(response.encode_to_vec(), Vec::<u8>::new());
    }
}
