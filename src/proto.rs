//! The generated gRPC types and service stubs of `proto/sluice/v1/sluice.proto`.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// Package `sluice.v1`.
pub mod v1 {
    tonic::include_proto!("sluice.v1");

    /// The encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sluice_descriptor");
}

/// Conversions between the wire types and the engine's, shared by the server and the client.
/// A name or value travels as text when it is valid UTF-8 and as bytes otherwise, so JSON tools
/// show text; either form is accepted on the way in.
pub mod convert {
    use super::v1;
    use crate::storage::record::{Entry, Field};

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
}
