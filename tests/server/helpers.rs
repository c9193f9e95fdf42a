//! Small helpers the RPC families share: request builders and the texts of common refusals.

use crate::server_harness::*;
use sluice::proto::v1;
use tokio_stream::StreamExt;

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const TOP_ITEM: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

pub fn len_request(stream: &str) -> v1::LenRequest {
    v1::LenRequest {
        key: Some(v1::len_request::Key::Stream(stream.into())),
    }
}

pub fn info_request(stream: &str, full: bool, count: Option<u64>) -> v1::InfoRequest {
    v1::InfoRequest {
        key: Some(v1::info_request::Key::Stream(stream.into())),
        full,
        count,
    }
}

pub fn tail_request(stream: &str, id: &str, batch: u64) -> v1::TailRequest {
    v1::TailRequest {
        key: Some(v1::tail_request::Key::Stream(stream.into())),
        id: id.into(),
        batch,
    }
}

pub fn read_request(
    offsets: Vec<v1::StreamOffset>,
    count: Option<u64>,
    block_ms: Option<u64>,
) -> v1::ReadRequest {
    v1::ReadRequest {
        streams: offsets,
        count,
        block_ms,
    }
}

/// The IDs of a Tail's next message.
pub async fn next_ids(tail: &mut tonic::Streaming<v1::TailResponse>) -> Vec<String> {
    let message = guard("tail message", tail.next()).await;
    ids(&message
        .expect("the stream is open")
        .expect("a message")
        .entries)
}

pub fn stream_key_text(streams: &v1::StreamEntries) -> String {
    match &streams.key {
        Some(v1::stream_entries::Key::Stream(name)) => name.clone(),
        other => panic!("expected a text stream name, got {other:?}"),
    }
}

pub fn value_text(field: &v1::Field) -> &str {
    match &field.field_value {
        Some(v1::field::FieldValue::Value(text)) => text,
        other => panic!("expected a text value, got {other:?}"),
    }
}
