//! The generated gRPC types and service stubs of `proto/sluice/v1/sluice.proto`, and their
//! conversions to and from the engine's types: [`convert`] for entries and names, [`groups`]
//! for the consumer-group messages, [`retention`] for the retention policy's, [`wire`]:
//! entries encoded for a reply straight from the log, and [`add_reply`]: an Add's IDs encoded
//! for its reply without a string each.

/// Package `sluice.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]

    tonic::include_proto!("sluice.v1");

    pub use super::add_reply::AddResponse;
    pub use super::wire::RangeResponse;

    /// The encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("sluice_descriptor");
}

/// A field's number in the proto's descriptor set, for the tests that check hand-written
/// messages against it.
#[cfg(test)]
fn field_number(message: &str, field: &str) -> Option<u32> {
    use prost::Message;
    let files = prost_types::FileDescriptorSet::decode(v1::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes");
    files
        .file
        .iter()
        .flat_map(|file| &file.message_type)
        .filter(|found| found.name() == message)
        .flat_map(|found| &found.field)
        .find(|found| found.name() == field)
        .map(|found| found.number() as u32)
}

pub mod add_reply;
pub mod convert;
pub mod groups;
pub mod retention;
pub mod wire;
