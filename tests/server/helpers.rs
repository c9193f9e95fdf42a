//! What the RPC families share: a server with its own data directory, request builders, calls
//! that unwrap their reply, and the texts of refusals several families check.

use std::ops::{Deref, DerefMut};

use sluice::proto::v1;
use sluice::proto::v1::streams_client::StreamsClient;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tonic::transport::Channel;
use tonic::{Response, Status, Streaming};

use crate::server_harness::*;

pub type Client = StreamsClient<Channel>;

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const TOP_ITEM: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
pub const NAME_REQUIRED: &str = "ERR stream name is required: set stream or stream_bytes";
pub const ZERO_ID: &str = "ERR The ID specified in XADD must be greater than 0-0";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const LIMIT_WITHOUT_TILDE: &str =
    "ERR syntax error, LIMIT cannot be used without the special ~ option";

/// The one field most tests add: `f v`.
pub const FV: &[(&str, &str)] = &[("f", "v")];

// ---------------------------------------------------------------------------------------------
// The server.

/// A running server and its data directory, removed once the server is killed.
pub struct TestServer {
    server: Server,
    _dir: TempDir,
}

impl Deref for TestServer {
    type Target = Server;

    fn deref(&self) -> &Server {
        &self.server
    }
}

impl DerefMut for TestServer {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

/// A server with the test defaults and `flags` in a fresh data directory, and a client of it.
pub async fn start(flags: &[(&str, &str)]) -> (TestServer, Client) {
    let dir = data_dir();
    let server = Server::start(dir.path(), flags).await;
    let client = server.client().await;
    (TestServer { server, _dir: dir }, client)
}

// ---------------------------------------------------------------------------------------------
// Requests.

/// A batch entry with text fields.
pub fn new_entry(id: &str, fields: &[(&str, &str)]) -> v1::NewEntry {
    v1::NewEntry {
        id: id.into(),
        fields: fields
            .iter()
            .map(|(name, value)| field(name, value))
            .collect(),
    }
}

/// An Add of a batch.
pub fn batch_request(stream: &str, entries: Vec<v1::NewEntry>) -> v1::AddRequest {
    v1::AddRequest {
        key: Some(v1::add_request::Key::Stream(stream.into())),
        entries,
        ..Default::default()
    }
}

/// `request`, newest first.
pub fn reversed(mut request: v1::RangeRequest) -> v1::RangeRequest {
    request.reverse = true;
    request
}

/// `request` with COUNT `count`.
pub fn with_count(mut request: v1::RangeRequest, count: u64) -> v1::RangeRequest {
    request.count = Some(count);
    request
}

/// A Read of text-named streams, each from its ID.
pub fn read_request(
    offsets: &[(&str, &str)],
    count: Option<u64>,
    block_ms: Option<u64>,
) -> v1::ReadRequest {
    v1::ReadRequest {
        streams: offsets
            .iter()
            .map(|(stream, id)| offset(stream, id))
            .collect(),
        count,
        block_ms,
    }
}

pub fn len_request(stream: &str) -> v1::LenRequest {
    v1::LenRequest {
        key: Some(v1::len_request::Key::Stream(stream.into())),
    }
}

pub fn delete_request(stream: &str, ids: &[&str]) -> v1::DeleteRequest {
    v1::DeleteRequest {
        key: Some(v1::delete_request::Key::Stream(stream.into())),
        ids: ids.iter().map(|id| id.to_string()).collect(),
    }
}

pub fn trim_request(stream: &str, trim: Option<v1::Trim>) -> v1::TrimRequest {
    v1::TrimRequest {
        key: Some(v1::trim_request::Key::Stream(stream.into())),
        trim,
    }
}

/// An exact MAXLEN trim.
pub fn maxlen(count: u64) -> v1::Trim {
    v1::Trim {
        threshold: Some(v1::trim::Threshold::Maxlen(count)),
        ..Default::default()
    }
}

/// An exact MINID trim.
pub fn minid(id: &str) -> v1::Trim {
    v1::Trim {
        threshold: Some(v1::trim::Threshold::Minid(id.into())),
        ..Default::default()
    }
}

pub fn set_id_request(
    stream: &str,
    last_id: &str,
    entries_added: Option<u64>,
    max_deleted_id: &str,
) -> v1::SetIdRequest {
    v1::SetIdRequest {
        key: Some(v1::set_id_request::Key::Stream(stream.into())),
        last_id: last_id.into(),
        entries_added,
        max_deleted_id: max_deleted_id.into(),
    }
}

pub fn info_request(stream: &str, full: bool, count: Option<u64>) -> v1::InfoRequest {
    v1::InfoRequest {
        key: Some(v1::info_request::Key::Stream(stream.into())),
        full,
        count,
    }
}

pub fn drop_request(streams: &[&str]) -> v1::DropRequest {
    v1::DropRequest {
        streams: streams.iter().map(|name| name.to_string()).collect(),
        streams_bytes: vec![],
    }
}

pub fn tail_request(stream: &str, id: &str, batch: u64) -> v1::TailRequest {
    v1::TailRequest {
        key: Some(v1::tail_request::Key::Stream(stream.into())),
        id: id.into(),
        batch,
    }
}

// ---------------------------------------------------------------------------------------------
// Calls expected to succeed, and their replies.

pub async fn add_reply(client: &mut Client, request: v1::AddRequest) -> v1::AddResponse {
    client.add(request).await.unwrap().into_inner()
}

pub async fn range(client: &mut Client, request: v1::RangeRequest) -> v1::RangeResponse {
    client.range(request).await.unwrap().into_inner()
}

/// The IDs a Range returns.
pub async fn range_ids(client: &mut Client, request: v1::RangeRequest) -> Vec<String> {
    ids(&range(client, request).await.entries)
}

/// The IDs of every entry of a stream, oldest first.
pub async fn all_ids(client: &mut Client, stream: &str) -> Vec<String> {
    ids(&range_all(client, stream).await)
}

pub async fn read(client: &mut Client, request: v1::ReadRequest) -> v1::ReadResponse {
    client.read(request).await.unwrap().into_inner()
}

pub async fn len(client: &mut Client, stream: &str) -> u64 {
    client
        .len(len_request(stream))
        .await
        .unwrap()
        .into_inner()
        .length
}

/// Deletes `ids`; returns how many existed.
pub async fn delete(client: &mut Client, stream: &str, ids: &[&str]) -> u64 {
    client
        .delete(delete_request(stream, ids))
        .await
        .unwrap()
        .into_inner()
        .deleted
}

/// Trims; returns how many entries were removed.
pub async fn trim(client: &mut Client, stream: &str, trim: v1::Trim) -> u64 {
    client
        .trim(trim_request(stream, Some(trim)))
        .await
        .unwrap()
        .into_inner()
        .removed
}

pub async fn info(
    client: &mut Client,
    stream: &str,
    full: bool,
    count: Option<u64>,
) -> v1::InfoResponse {
    client
        .info(info_request(stream, full, count))
        .await
        .unwrap()
        .into_inner()
}

/// The text names of the streams matching `pattern`.
pub async fn list(client: &mut Client, pattern: &str) -> Vec<String> {
    let request = v1::ListRequest {
        pattern: pattern.into(),
    };
    client.list(request).await.unwrap().into_inner().streams
}

/// Drops streams; returns how many existed.
pub async fn drop_streams(client: &mut Client, request: v1::DropRequest) -> u64 {
    client.drop(request).await.unwrap().into_inner().dropped
}

pub async fn open_tail(
    client: &mut Client,
    stream: &str,
    id: &str,
    batch: u64,
) -> Streaming<v1::TailResponse> {
    client
        .tail(tail_request(stream, id, batch))
        .await
        .unwrap()
        .into_inner()
}

/// A Tail's next message.
pub async fn next_message(tail: &mut Streaming<v1::TailResponse>) -> v1::TailResponse {
    guard("tail message", tail.next())
        .await
        .expect("the stream is open")
        .expect("a message")
}

/// The IDs of a Tail's next message.
pub async fn next_ids(tail: &mut Streaming<v1::TailResponse>) -> Vec<String> {
    ids(&next_message(tail).await.entries)
}

/// A blocking Read on a clone of `client`, running until it is woken.
pub fn spawn_read(
    client: &Client,
    request: v1::ReadRequest,
) -> JoinHandle<Result<Response<v1::ReadResponse>, Status>> {
    let mut reader = client.clone();
    tokio::spawn(async move { reader.read(request).await })
}

/// The reply of a blocked Read once something wakes it.
pub async fn woken(
    blocked: JoinHandle<Result<Response<v1::ReadResponse>, Status>>,
) -> v1::ReadResponse {
    guard("woken read", blocked)
        .await
        .unwrap()
        .unwrap()
        .into_inner()
}

// ---------------------------------------------------------------------------------------------
// Reading replies.

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

/// The IDs of the entries a Read returned for its `index`th stream.
pub fn stream_ids(reply: &v1::ReadResponse, index: usize) -> Vec<String> {
    ids(&reply.streams[index].entries)
}
