//! The workloads against Sluice: unary calls through [`Unary`], Tail subscriptions and the
//! streaming consumer through the generated tonic clients.
//!
//! Connections: by default every client (and every tail subscriber, and the tail writer) opens
//! its own connection, so each has its own TCP connection and HTTP/2 session, as each
//! Redis client has its own TCP connection. Sharing a connection multiplexes calls as HTTP/2
//! streams over one socket, which batches their frames into fewer system calls on both sides
//! and so measures something else than "50 clients"; `SLUICE_LOAD_CONNECTIONS` does that on
//! purpose, for both servers alike.
//!
//! Unary calls go through [`Unary`], which sends each call in one write as the common gRPC
//! clients do (tonic's client takes three; see `unary`); Tail and the streaming consumer use
//! the generated tonic clients. Requests that do not change are encoded once per client and
//! their bytes sent as they are, as redis-benchmark reuses its command buffer; Range encodes
//! its request per call, with the start it picked.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::proto::v1;
use sluice::proto::v1::groups_client::GroupsClient;
use sluice::proto::v1::streams_client::StreamsClient;
use tonic::transport::{Channel, Endpoint};
use tonic::{Status, Streaming};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::measure::{
    cpu_during, Measurement, Operation, Random, Tally, Window, PAUSE_AFTER_ERROR,
};
use crate::payload::{self, Stamp};
use crate::pipeline::{self, Received};
use crate::unary::{Call, RpcMethod, Unary, CONNECT_TIMEOUT};

/// How long tail subscribers wait for the writer's stop entry after the window ends.
pub const STOP_GRACE: Duration = Duration::from_secs(10);
/// Entries per Add while filling the range workload's stream.
const FILL_BATCH_ENTRIES: usize = 1000;

// The methods called through `Unary`.
const ADD_PATH: &str = "/sluice.v1.Streams/Add";
const LEN_PATH: &str = "/sluice.v1.Streams/Len";
const RANGE_PATH: &str = "/sluice.v1.Streams/Range";
const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";
const GROUP_READ_PATH: &str = "/sluice.v1.Groups/Read";
const GROUP_ACK_PATH: &str = "/sluice.v1.Groups/Ack";

/// Opens a connection (an HTTP/2 session over a TCP connection of its own).
pub async fn channel(address: SocketAddr) -> Result<Channel, String> {
    Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| format!("bad address {address}: {error}"))?
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .connect()
        .await
        .map_err(|error| format!("cannot connect to sluice at {address}: {error}"))
}

/// A Streams client on a connection of its own.
pub async fn connect(address: SocketAddr) -> Result<StreamsClient<Channel>, String> {
    Ok(StreamsClient::new(channel(address).await?))
}

fn describe(status: Status) -> String {
    format!("{:?}: {}", status.code(), status.message())
}

fn field(value: Vec<u8>) -> v1::Field {
    v1::Field {
        field_name: Some(v1::field::FieldName::Name(payload::FIELD_NAME.into())),
        field_value: Some(v1::field::FieldValue::ValueBytes(value)),
    }
}

fn stream_key(stream: &str) -> Option<v1::add_request::Key> {
    Some(v1::add_request::Key::Stream(stream.into()))
}

/// An Add of one entry with `value` and an automatic ID.
fn single_add(stream: &str, value: Vec<u8>) -> v1::AddRequest {
    v1::AddRequest {
        key: stream_key(stream),
        fields: vec![field(value)],
        ..v1::AddRequest::default()
    }
}

/// An Add of a batch, one entry per ID given (empty: automatic).
fn batch_add<'a>(stream: &str, ids: impl Iterator<Item = &'a str>) -> v1::AddRequest {
    v1::AddRequest {
        key: stream_key(stream),
        entries: ids
            .map(|id| v1::NewEntry {
                id: id.to_owned(),
                fields: vec![field(payload::plain_value())],
            })
            .collect(),
        ..v1::AddRequest::default()
    }
}

/// Add: one entry per call (`batch_entries` = 1) or an atomic batch, encoded once.
pub struct Add {
    unary: Unary,
    call: Call,
    batch_entries: u64,
}

impl Add {
    /// Adds to `stream` over `unary`.
    pub fn new(unary: Unary, stream: &str, batch_entries: usize) -> Add {
        let request = if batch_entries == 1 {
            single_add(stream, payload::plain_value())
        } else {
            batch_add(stream, std::iter::repeat_n("", batch_entries))
        };
        Add {
            call: RpcMethod::new(&unary, ADD_PATH).call(&request),
            unary,
            batch_entries: batch_entries as u64,
        }
    }
}

impl Operation for Add {
    async fn call(&mut self) -> Result<u64, String> {
        let reply: v1::AddResponse = self.unary.call(&self.call).await.map_err(describe)?;
        let added = reply.ids.len() as u64;
        if added != self.batch_entries {
            return Err(format!(
                "{added} IDs in the reply to an Add of {}",
                self.batch_entries
            ));
        }
        Ok(added)
    }
}

/// Len naming no stream: refused before the engine is touched, so the call costs the gRPC
/// round trip alone. The refusal is the expected answer.
pub struct Ping {
    unary: Unary,
    call: Call,
}

impl Ping {
    /// Pings over `unary`.
    pub fn new(unary: Unary) -> Ping {
        Ping {
            call: RpcMethod::new(&unary, LEN_PATH).call(&v1::LenRequest { key: None }),
            unary,
        }
    }
}

impl Operation for Ping {
    async fn call(&mut self) -> Result<u64, String> {
        match self.unary.call::<v1::LenResponse>(&self.call).await {
            Err(status) if status.code() == tonic::Code::InvalidArgument => Ok(0),
            Err(status) => Err(describe(status)),
            Ok(_) => Err("a Len naming no stream was accepted".into()),
        }
    }
}

/// The health service's Check of the whole server: a call that succeeds without touching
/// the engine, so its reply is framed as every successful call's is.
pub struct Health {
    unary: Unary,
    call: Call,
}

impl Health {
    /// Checks over `unary`.
    pub fn new(unary: Unary) -> Health {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        Health {
            call: RpcMethod::new(&unary, HEALTH_CHECK_PATH).call(&request),
            unary,
        }
    }
}

impl Operation for Health {
    async fn call(&mut self) -> Result<u64, String> {
        let response: HealthCheckResponse = self.unary.call(&self.call).await.map_err(describe)?;
        if response.status() == ServingStatus::Serving {
            Ok(0)
        } else {
            Err(format!(
                "the server is not serving: {:?}",
                response.status()
            ))
        }
    }
}

/// Len of a stream: a round trip through the blocking pool to the engine and back.
pub struct Len {
    unary: Unary,
    call: Call,
}

impl Len {
    /// Asks for `stream`'s length over `unary`.
    pub fn new(unary: Unary, stream: &str) -> Len {
        let request = v1::LenRequest {
            key: Some(v1::len_request::Key::Stream(stream.into())),
        };
        Len {
            call: RpcMethod::new(&unary, LEN_PATH).call(&request),
            unary,
        }
    }
}

impl Operation for Len {
    async fn call(&mut self) -> Result<u64, String> {
        let _: v1::LenResponse = self.unary.call(&self.call).await.map_err(describe)?;
        Ok(0)
    }
}

/// Writes `ids` (explicit IDs, in order) into `stream` with plain values.
pub async fn fill(address: SocketAddr, stream: &str, ids: &[String]) -> Result<(), String> {
    let mut client = connect(address).await?;
    for chunk in ids.chunks(FILL_BATCH_ENTRIES) {
        let request = batch_add(stream, chunk.iter().map(String::as_str));
        client.add(request).await.map_err(describe)?;
    }
    Ok(())
}

/// Range: `count` entries from a random one of `starts`.
pub struct Range {
    unary: Unary,
    method: RpcMethod,
    request: v1::RangeRequest,
    starts: Arc<Vec<String>>,
    random: Random,
    count: u64,
}

impl Range {
    /// Reads `stream` over `unary`.
    pub fn new(
        unary: Unary,
        stream: &str,
        starts: Arc<Vec<String>>,
        count: usize,
        seed: u64,
    ) -> Range {
        let request = v1::RangeRequest {
            key: Some(v1::range_request::Key::Stream(stream.into())),
            start: String::new(),
            end: "+".into(),
            count: Some(count as u64),
            reverse: false,
        };
        Range {
            method: RpcMethod::new(&unary, RANGE_PATH),
            unary,
            request,
            starts,
            random: Random::new(seed),
            count: count as u64,
        }
    }
}

impl Operation for Range {
    async fn call(&mut self) -> Result<u64, String> {
        let start = &self.starts[self.random.below(self.starts.len())];
        self.request.start.clone_from(start);
        let call = self.method.call(&self.request);
        let reply: v1::RangeResponse = self.unary.call(&call).await.map_err(describe)?;
        let returned = reply.entries.len() as u64;
        if returned != self.count {
            return Err(format!("{returned} entries for a range of {}", self.count));
        }
        Ok(returned)
    }
}

/// The tail workload: `subscribers` Tails of `stream`, one writer adding stamped entries one
/// call at a time; the measurement counts the writer's calls as operations and the entries
/// delivered to all subscribers, with their add-to-receive latencies.
pub async fn tail(
    address: SocketAddr,
    stream: &str,
    subscribers: usize,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> Result<Measurement, String> {
    let origin = Instant::now();
    let mut writer = Unary::connect(address).await?;
    // An entry before the subscriptions, so they start from a known ID on an existing stream.
    let add = RpcMethod::new(&writer, ADD_PATH);
    let first = add.call(&single_add(stream, payload::plain_value()));
    let seed = writer
        .call::<v1::AddResponse>(&first)
        .await
        .map_err(describe)?
        .id;
    let mut followers = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let mut client = connect(address).await?;
        let request = v1::TailRequest {
            key: Some(v1::tail_request::Key::Stream(stream.into())),
            id: seed.clone(),
            batch: 0,
        };
        let messages = client.tail(request).await.map_err(describe)?.into_inner();
        // The client must outlive the subscription's messages.
        followers.push((client, messages));
    }
    let window = Window::after(warmup, measure);
    let subscriber_tasks: Vec<_> = followers
        .into_iter()
        .map(|(client, messages)| tokio::spawn(follow(client, messages, origin, window)))
        .collect();
    let writer_task = tokio::spawn(write_stamped(
        writer,
        add,
        stream.to_owned(),
        origin,
        window,
    ));
    let cpu = cpu_during(window, server_pid).await;
    let mut tallies = Vec::with_capacity(subscribers + 1);
    for task in std::iter::once(writer_task).chain(subscriber_tasks) {
        tallies.push(task.await.unwrap_or_else(|error| {
            let mut failed = Tally::new();
            failed.error(format!("tail task failed: {error}"));
            failed
        }));
    }
    Ok(Measurement::new(tallies, window, cpu))
}

/// The tail writer: stamped entries until the window ends, then the stop entry.
async fn write_stamped(
    mut writer: Unary,
    add: RpcMethod,
    stream: String,
    origin: Instant,
    window: Window,
) -> Tally {
    let mut tally = Tally::new();
    loop {
        let started = Instant::now();
        if started >= window.end {
            break;
        }
        let request = single_add(&stream, payload::stamped_value(origin, started));
        let outcome = writer.call::<v1::AddResponse>(&add.call(&request)).await;
        let counted = window.contains(started, Instant::now());
        match outcome {
            Ok(_) if counted => tally.operations += 1,
            Ok(_) => {}
            Err(status) => {
                if counted {
                    tally.error(describe(status));
                }
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
            }
        }
    }
    let stop = add.call(&single_add(&stream, payload::stop_value()));
    if let Err(status) = writer.call::<v1::AddResponse>(&stop).await {
        tally.error(format!("the stop entry failed: {}", describe(status)));
    }
    tally
}

/// One subscriber: counts stamped entries until the stop entry.
async fn follow(
    _client: StreamsClient<Channel>,
    mut messages: Streaming<v1::TailResponse>,
    origin: Instant,
    window: Window,
) -> Tally {
    let mut tally = Tally::new();
    let give_up = window.end + STOP_GRACE;
    loop {
        let response = match tokio::time::timeout_at(give_up.into(), messages.message()).await {
            Ok(Ok(Some(response))) => response,
            Ok(Ok(None)) => {
                tally.error("the server ended the tail".into());
                return tally;
            }
            Ok(Err(status)) => {
                tally.error(describe(status));
                return tally;
            }
            Err(_) => {
                tally.error(format!("no stop entry within {STOP_GRACE:?} of the end"));
                return tally;
            }
        };
        let received = Instant::now();
        for entry in &response.entries {
            let Some(bytes) = first_value(&entry.fields) else {
                tally.error(format!("entry {} has no value", entry.id));
                continue;
            };
            match payload::read_stamp(origin, bytes) {
                Stamp::Stop => return tally,
                Stamp::Sent(sent) => {
                    if window.contains(sent, received) {
                        tally.entries += 1;
                        tally.latency(received - sent);
                    }
                }
                Stamp::Unreadable => tally.error(format!("entry {} is not stamped", entry.id)),
            }
        }
    }
}

/// The value of an entry's first field.
fn first_value(fields: &[v1::Field]) -> Option<&[u8]> {
    match fields.first()?.field_value.as_ref()? {
        v1::field::FieldValue::Value(text) => Some(text.as_bytes()),
        v1::field::FieldValue::ValueBytes(bytes) => Some(bytes),
    }
}

/// Creates the pipeline's group (and its stream) with only new entries to deliver.
pub async fn create_group(address: SocketAddr, stream: &str) -> Result<(), String> {
    let mut client = GroupsClient::new(channel(address).await?);
    let request = v1::CreateGroupRequest {
        key: Some(v1::create_group_request::Key::Stream(stream.into())),
        group_name: Some(v1::create_group_request::GroupName::Group(
            pipeline::GROUP.into(),
        )),
        id: "$".into(),
        mkstream: true,
        ..v1::CreateGroupRequest::default()
    };
    client.create(request).await.map_err(describe)?;
    Ok(())
}

/// A pipeline producer: one stamped entry per Add.
pub struct Producer {
    unary: Unary,
    add: RpcMethod,
    stream: String,
}

impl Producer {
    /// Adds to `stream` over `unary`.
    pub fn new(unary: Unary, stream: &str) -> Producer {
        Producer {
            add: RpcMethod::new(&unary, ADD_PATH),
            unary,
            stream: stream.to_owned(),
        }
    }
}

impl pipeline::Producer for Producer {
    async fn add(&mut self, value: Vec<u8>) -> Result<(), String> {
        let call = self.add.call(&single_add(&self.stream, value));
        let _: v1::AddResponse = self.unary.call(&call).await.map_err(describe)?;
        Ok(())
    }
}

/// A pipeline consumer: Groups.Read of new entries (COUNT, blocking), then one Ack per batch.
pub struct Consumer {
    unary: Unary,
    read: Call,
    ack: RpcMethod,
    stream: String,
}

impl Consumer {
    /// Consumer `name` of the pipeline's group on `stream`, reading up to `count` at a time.
    pub fn new(unary: Unary, stream: &str, name: String, count: usize) -> Consumer {
        let read = v1::ReadGroupRequest {
            group_name: Some(v1::read_group_request::GroupName::Group(
                pipeline::GROUP.into(),
            )),
            consumer_name: Some(v1::read_group_request::ConsumerName::Consumer(name)),
            streams: vec![v1::GroupStreamOffset {
                key: Some(v1::group_stream_offset::Key::Stream(stream.into())),
                id: ">".into(),
            }],
            count: Some(count as u64),
            block_ms: Some(pipeline::READ_BLOCK.as_millis() as u64),
            ..v1::ReadGroupRequest::default()
        };
        Consumer {
            read: RpcMethod::new(&unary, GROUP_READ_PATH).call(&read),
            ack: RpcMethod::new(&unary, GROUP_ACK_PATH),
            unary,
            stream: stream.to_owned(),
        }
    }
}

impl pipeline::Consumer for Consumer {
    async fn read(&mut self) -> Result<Vec<Received>, String> {
        let reply: v1::ReadGroupResponse = self.unary.call(&self.read).await.map_err(describe)?;
        let mut batch = Vec::new();
        for entry in reply.streams.into_iter().flat_map(|stream| stream.entries) {
            let value = first_value(&entry.fields)
                .ok_or_else(|| format!("entry {} has no value", entry.id))?
                .to_vec();
            batch.push((entry.id, value));
        }
        Ok(batch)
    }

    async fn ack(&mut self, ids: Vec<String>) -> Result<u64, String> {
        let request = v1::AckRequest {
            key: Some(v1::ack_request::Key::Stream(self.stream.clone())),
            group_name: Some(v1::ack_request::GroupName::Group(pipeline::GROUP.into())),
            ids,
        };
        let reply: v1::AckResponse = self
            .unary
            .call(&self.ack.call(&request))
            .await
            .map_err(describe)?;
        Ok(reply.acknowledged)
    }
}

/// A pipeline consumer on Sluice's streaming consumer (Groups.Consume): the server pushes
/// entries while fewer than `window` are unsettled; each batch received is acknowledged with
/// one ack message, answered in order on the same call. Entries pushed while an ack is being
/// answered wait for the next read.
pub struct StreamConsumer {
    requests: tokio::sync::mpsc::Sender<v1::ConsumeRequest>,
    responses: Streaming<v1::ConsumeResponse>,
    /// Entries received while waiting for an ack's answer.
    early: std::collections::VecDeque<Received>,
    _client: GroupsClient<Channel>,
}

impl StreamConsumer {
    /// Starts consumer `name` of the pipeline's group on `stream` with a window of `window`.
    pub async fn start(
        channel: Channel,
        stream: &str,
        name: String,
        window: usize,
    ) -> Result<StreamConsumer, String> {
        let (requests, receiver) = tokio::sync::mpsc::channel(16);
        let start = v1::ConsumeRequest {
            message: Some(v1::consume_request::Message::Start(v1::ConsumeStart {
                key: Some(v1::consume_start::Key::Stream(stream.into())),
                group_name: Some(v1::consume_start::GroupName::Group(pipeline::GROUP.into())),
                consumer_name: Some(v1::consume_start::ConsumerName::Consumer(name)),
                window: window as u64,
            })),
        };
        requests
            .send(start)
            .await
            .map_err(|_| "the consume call closed".to_owned())?;
        let mut client = GroupsClient::new(channel);
        let responses = client
            .consume(tokio_stream::wrappers::ReceiverStream::new(receiver))
            .await
            .map_err(describe)?
            .into_inner();
        Ok(StreamConsumer {
            requests,
            responses,
            early: std::collections::VecDeque::new(),
            _client: client,
        })
    }

    /// The next message, or an error when the call ends.
    async fn next(&mut self) -> Result<v1::consume_response::Message, String> {
        match self.responses.message().await {
            Ok(Some(v1::ConsumeResponse {
                message: Some(message),
            })) => Ok(message),
            Ok(_) => Err("the server ended the consume call".into()),
            Err(status) => Err(describe(status)),
        }
    }

    fn keep(&mut self, entries: v1::GroupStreamEntries) -> Result<(), String> {
        for entry in entries.entries {
            let value = first_value(&entry.fields)
                .ok_or_else(|| format!("entry {} has no value", entry.id))?
                .to_vec();
            self.early.push_back((entry.id, value));
        }
        Ok(())
    }
}

impl pipeline::Consumer for StreamConsumer {
    async fn read(&mut self) -> Result<Vec<Received>, String> {
        if self.early.is_empty() {
            let message = match tokio::time::timeout(pipeline::READ_BLOCK, self.next()).await {
                Ok(message) => message?,
                Err(_) => return Ok(Vec::new()),
            };
            match message {
                v1::consume_response::Message::Entries(entries) => self.keep(entries)?,
                v1::consume_response::Message::Settled(_) => {
                    return Err("an ack answered that was not sent".into())
                }
            }
        }
        Ok(self.early.drain(..).collect())
    }

    async fn ack(&mut self, ids: Vec<String>) -> Result<u64, String> {
        let settle = v1::ConsumeRequest {
            message: Some(v1::consume_request::Message::Ack(v1::Settle {
                ids,
                ..v1::Settle::default()
            })),
        };
        self.requests
            .send(settle)
            .await
            .map_err(|_| "the consume call closed".to_owned())?;
        loop {
            match self.next().await? {
                v1::consume_response::Message::Entries(entries) => self.keep(entries)?,
                v1::consume_response::Message::Settled(settled) => return Ok(settled.count),
            }
        }
    }
}
