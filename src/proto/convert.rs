//! Conversions between the wire types and the engine's, shared by the server and the client.
//! A name or value travels as text when it is valid UTF-8 and as bytes otherwise, so JSON tools
//! show text; either form is accepted on the way in.

use super::v1;
use crate::model::{Entry, Field};

/// A message's name oneof — a stream (`key`), group or consumer name — as text when it is
/// UTF-8, or as bytes. Every message has its own generated type for each; this makes them
/// one, for both directions.
pub trait StreamKey: Sized {
    /// The oneof for `name`: text when the bytes are UTF-8.
    fn from_name(name: Vec<u8>) -> Self;
    /// The name's bytes.
    fn into_name(self) -> Vec<u8>;
    /// The name's bytes, borrowed.
    fn name(&self) -> &[u8];
}

macro_rules! names {
    ($($oneof:ident($text:ident, $bytes:ident): $($message:ident),+;)*) => {
        $($(impl StreamKey for v1::$message::$oneof {
            fn from_name(name: Vec<u8>) -> Self {
                match text_or_bytes(name) {
                    Ok(text) => v1::$message::$oneof::$text(text),
                    Err(bytes) => v1::$message::$oneof::$bytes(bytes),
                }
            }
            fn into_name(self) -> Vec<u8> {
                match self {
                    v1::$message::$oneof::$text(text) => text.into_bytes(),
                    v1::$message::$oneof::$bytes(bytes) => bytes,
                }
            }
            fn name(&self) -> &[u8] {
                match self {
                    v1::$message::$oneof::$text(text) => text.as_bytes(),
                    v1::$message::$oneof::$bytes(bytes) => bytes,
                }
            }
        })+)*
    };
}

names! {
    Key(Stream, StreamBytes): add_request, range_request, stream_offset, stream_entries,
        tail_request, len_request, delete_request, trim_request, set_id_request,
        info_request, create_group_request, set_group_id_request, destroy_group_request,
        consumer_request, set_policy_request, group_stream_offset, group_stream_entries,
        ack_request, nack_request, renew_request, pending_request, claim_request,
        auto_claim_request, groups_info_request, consumers_request, consume_start,
        set_retention_request, get_retention_request;
    GroupName(Group, GroupBytes): create_group_request, set_group_id_request,
        destroy_group_request, consumer_request, set_policy_request, read_group_request,
        ack_request, nack_request, renew_request, pending_request, claim_request,
        auto_claim_request, consumers_request, group_info, consume_start;
    ConsumerName(Consumer, ConsumerBytes): consumer_request, read_group_request,
        nack_request, renew_request, pending_range, pending_entry, consumer_pending,
        claim_request, auto_claim_request, consumer_info, full_pending, full_consumer,
        consume_start;
    DeadLetter(DeadLetterStream, DeadLetterStreamBytes): group_policy;
}

/// The name oneof for `name`, in whichever message type `K` is.
pub fn key<K: StreamKey>(name: &[u8]) -> Option<K> {
    Some(K::from_name(name.to_vec()))
}

/// Text when the bytes are UTF-8, else the bytes back.
pub fn text_or_bytes(bytes: Vec<u8>) -> Result<String, Vec<u8>> {
    String::from_utf8(bytes).map_err(|error| error.into_bytes())
}

/// A field from the wire. An unset name or value is empty, as proto3 reads any unset
/// field.
pub fn field_from_proto(field: v1::Field) -> Field {
    let name = match field.field_name {
        Some(v1::field::FieldName::Name(text)) => text.into_bytes(),
        Some(v1::field::FieldName::NameBytes(bytes)) => bytes,
        None => Vec::new(),
    };
    let value = match field.field_value {
        Some(v1::field::FieldValue::Value(text)) => text.into_bytes(),
        Some(v1::field::FieldValue::ValueBytes(bytes)) => bytes,
        None => Vec::new(),
    };
    (name, value)
}

/// Fields from the wire.
pub fn entries_fields_from_proto(fields: Vec<v1::Field>) -> Vec<Field> {
    fields.into_iter().map(field_from_proto).collect()
}

/// A field for the wire.
pub fn field_to_proto((name, value): Field) -> v1::Field {
    v1::Field {
        field_name: Some(match text_or_bytes(name) {
            Ok(text) => v1::field::FieldName::Name(text),
            Err(bytes) => v1::field::FieldName::NameBytes(bytes),
        }),
        field_value: Some(match text_or_bytes(value) {
            Ok(text) => v1::field::FieldValue::Value(text),
            Err(bytes) => v1::field::FieldValue::ValueBytes(bytes),
        }),
    }
}

/// An entry for the wire.
pub fn entry_to_proto(entry: Entry) -> v1::Entry {
    v1::Entry {
        id: entry.id.to_string(),
        fields: entry.fields.into_iter().map(field_to_proto).collect(),
    }
}

/// Entries for the wire.
pub fn entries_to_proto(entries: Vec<Entry>) -> Vec<v1::Entry> {
    entries.into_iter().map(entry_to_proto).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_pick_text_when_utf8_and_come_back_as_bytes() {
        let text: v1::len_request::Key = StreamKey::from_name(b"s".to_vec());
        assert_eq!(text, v1::len_request::Key::Stream("s".to_owned()));
        let bytes: v1::len_request::Key = StreamKey::from_name(vec![0xff]);
        assert_eq!(bytes, v1::len_request::Key::StreamBytes(vec![0xff]));
        assert_eq!(bytes.into_name(), vec![0xff]);
        assert_eq!(text.into_name(), b"s".to_vec());
    }

    #[test]
    fn text_when_utf8_bytes_otherwise_and_back() {
        let field = field_to_proto((b"name".to_vec(), vec![0xff, 0x00]));
        assert_eq!(
            field.field_name,
            Some(v1::field::FieldName::Name("name".into()))
        );
        assert_eq!(
            field.field_value,
            Some(v1::field::FieldValue::ValueBytes(vec![0xff, 0x00]))
        );
        assert_eq!(
            field_from_proto(field),
            (b"name".to_vec(), vec![0xff, 0x00])
        );
        assert_eq!(
            field_from_proto(v1::Field::default()),
            (Vec::new(), Vec::new())
        );
    }
}
