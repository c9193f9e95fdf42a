//! The same workloads against Redis, through the `redis` crate.
//!
//! Connections are the crate's multiplexed connections: by default one per client, so one TCP
//! connection per client with at most one call or one pipeline in flight (see
//! `SLUICE_LOAD_CONNECTIONS` for sharing them, which pipelines the sharers' calls), with no
//! response timeout so that `XREAD BLOCK 0` may wait as long as it needs. Commands
//! that do not change between calls are built once and reused; replies are read as generic
//! values and only counted, never converted into typed structures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, Pipeline, Value};

use crate::measure::{
    cpu_during, Measurement, Operation, Random, Tally, Window, PAUSE_AFTER_ERROR,
};
use crate::payload::{self, Stamp};
use crate::pipeline::{self, Received};
use crate::sluice_side::STOP_GRACE;
use crate::unary::CONNECT_TIMEOUT;

/// XADDs per pipeline while filling the range workload's stream.
const FILL_BATCH_ENTRIES: usize = 1000;

/// Opens a connection of its own.
pub async fn connect(address: SocketAddr) -> Result<MultiplexedConnection, String> {
    let client = redis::Client::open(format!("redis://{address}/"))
        .map_err(|error| format!("bad address {address}: {error}"))?;
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|error| format!("cannot connect to redis at {address}: {error}"))
}

fn describe(error: redis::RedisError) -> String {
    error.to_string()
}

/// `XADD stream id data value`.
fn xadd(stream: &str, id: &str, value: &[u8]) -> Cmd {
    let mut command = redis::cmd("XADD");
    command
        .arg(stream)
        .arg(id)
        .arg(payload::FIELD_NAME)
        .arg(value);
    command
}

/// Checks that an XADD reply is an ID.
fn added(reply: &Value) -> Result<u64, String> {
    match reply {
        Value::BulkString(_) | Value::SimpleString(_) => Ok(1),
        other => Err(format!("unexpected XADD reply {other:?}")),
    }
}

/// XADD of one entry per call.
pub struct Add {
    connection: MultiplexedConnection,
    command: Cmd,
}

impl Add {
    /// Adds to `stream` over `connection`.
    pub fn new(connection: MultiplexedConnection, stream: &str) -> Add {
        Add {
            connection,
            command: xadd(stream, "*", &payload::plain_value()),
        }
    }
}

impl Operation for Add {
    async fn call(&mut self) -> Result<u64, String> {
        let reply: Value = self
            .command
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        added(&reply)
    }
}

/// `batch_entries` XADDs per call, pipelined (sent together, answered together).
pub struct PipelinedAdd {
    connection: MultiplexedConnection,
    pipeline: Pipeline,
    batch_entries: usize,
}

impl PipelinedAdd {
    /// Adds to `stream` over `connection`.
    pub fn new(
        connection: MultiplexedConnection,
        stream: &str,
        batch_entries: usize,
    ) -> PipelinedAdd {
        let value = payload::plain_value();
        let mut pipeline = redis::pipe();
        for _ in 0..batch_entries {
            pipeline.add_command(xadd(stream, "*", &value));
        }
        PipelinedAdd {
            connection,
            pipeline,
            batch_entries,
        }
    }
}

impl Operation for PipelinedAdd {
    async fn call(&mut self) -> Result<u64, String> {
        let replies: Vec<Value> = self
            .pipeline
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        if replies.len() != self.batch_entries {
            return Err(format!(
                "{} replies to a pipeline of {}",
                replies.len(),
                self.batch_entries
            ));
        }
        let mut entries = 0;
        for reply in &replies {
            entries += added(reply)?;
        }
        Ok(entries)
    }
}

/// A command whose reply is only checked not to be an error: PING, or XLEN of a stream.
pub struct Simple {
    connection: MultiplexedConnection,
    command: Cmd,
}

impl Simple {
    /// PING over `connection`.
    pub fn ping(connection: MultiplexedConnection) -> Simple {
        Simple {
            connection,
            command: redis::cmd("PING"),
        }
    }

    /// `XLEN stream` over `connection`.
    pub fn xlen(connection: MultiplexedConnection, stream: &str) -> Simple {
        let mut command = redis::cmd("XLEN");
        command.arg(stream);
        Simple {
            connection,
            command,
        }
    }
}

impl Operation for Simple {
    async fn call(&mut self) -> Result<u64, String> {
        let _: Value = self
            .command
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        Ok(0)
    }
}

/// Writes `ids` (explicit IDs, in order) into `stream` with plain values.
pub async fn fill(address: SocketAddr, stream: &str, ids: &[String]) -> Result<(), String> {
    let mut connection = connect(address).await?;
    let value = payload::plain_value();
    for chunk in ids.chunks(FILL_BATCH_ENTRIES) {
        let mut pipeline = redis::pipe();
        for id in chunk {
            pipeline.add_command(xadd(stream, id, &value));
        }
        let replies: Vec<Value> = pipeline
            .query_async(&mut connection)
            .await
            .map_err(describe)?;
        for reply in &replies {
            added(reply)?;
        }
    }
    Ok(())
}

/// `XRANGE stream start + COUNT count` from a random one of `starts`.
pub struct Range {
    connection: MultiplexedConnection,
    stream: String,
    starts: Arc<Vec<String>>,
    random: Random,
    count: usize,
}

impl Range {
    /// Reads `stream` over `connection`.
    pub fn new(
        connection: MultiplexedConnection,
        stream: &str,
        starts: Arc<Vec<String>>,
        count: usize,
        seed: u64,
    ) -> Range {
        Range {
            connection,
            stream: stream.to_owned(),
            starts,
            random: Random::new(seed),
            count,
        }
    }
}

impl Operation for Range {
    async fn call(&mut self) -> Result<u64, String> {
        let start = &self.starts[self.random.below(self.starts.len())];
        let mut command = redis::cmd("XRANGE");
        command
            .arg(&self.stream)
            .arg(start)
            .arg("+")
            .arg("COUNT")
            .arg(self.count);
        let reply: Value = command
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        let returned = match &reply {
            Value::Array(entries) => entries.len(),
            other => return Err(format!("unexpected XRANGE reply {other:?}")),
        };
        if returned != self.count {
            return Err(format!("{returned} entries for a range of {}", self.count));
        }
        Ok(returned as u64)
    }
}

/// The tail workload: `subscribers` connections looping on `XREAD BLOCK 0 STREAMS stream
/// <last ID seen>`, one writer XADDing stamped entries one call at a time. Counted as for
/// Sluice (see `sluice_side::tail`).
pub async fn tail(
    address: SocketAddr,
    stream: &str,
    subscribers: usize,
    warmup: Duration,
    measure: Duration,
    server_pid: u32,
) -> Result<Measurement, String> {
    let origin = Instant::now();
    let mut writer = connect(address).await?;
    let seed: Value = xadd(stream, "*", &payload::plain_value())
        .query_async(&mut writer)
        .await
        .map_err(describe)?;
    let seed = match seed {
        Value::BulkString(id) => String::from_utf8_lossy(&id).into_owned(),
        other => return Err(format!("unexpected XADD reply {other:?}")),
    };
    let mut connections = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        connections.push(connect(address).await?);
    }
    let window = Window::after(warmup, measure);
    let subscriber_tasks: Vec<_> = connections
        .into_iter()
        .map(|connection| {
            tokio::spawn(follow(
                connection,
                stream.to_owned(),
                seed.clone(),
                origin,
                window,
            ))
        })
        .collect();
    let writer_task = tokio::spawn(write_stamped(writer, stream.to_owned(), origin, window));
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
    mut connection: MultiplexedConnection,
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
        let outcome: Result<Value, _> =
            xadd(&stream, "*", &payload::stamped_value(origin, started))
                .query_async(&mut connection)
                .await;
        let counted = window.contains(started, Instant::now());
        match outcome.map_err(describe).and_then(|reply| added(&reply)) {
            Ok(_) if counted => tally.operations += 1,
            Ok(_) => {}
            Err(description) => {
                if counted {
                    tally.error(description);
                }
                tokio::time::sleep(PAUSE_AFTER_ERROR).await;
            }
        }
    }
    let stop: Result<Value, _> = xadd(&stream, "*", &payload::stop_value())
        .query_async(&mut connection)
        .await;
    if let Err(error) = stop {
        tally.error(format!("the stop entry failed: {error}"));
    }
    tally
}

/// One subscriber: counts stamped entries until the stop entry.
async fn follow(
    mut connection: MultiplexedConnection,
    stream: String,
    mut last_id: String,
    origin: Instant,
    window: Window,
) -> Tally {
    let mut tally = Tally::new();
    let give_up = window.end + STOP_GRACE;
    loop {
        let mut command = redis::cmd("XREAD");
        command
            .arg("BLOCK")
            .arg(0)
            .arg("STREAMS")
            .arg(&stream)
            .arg(&last_id);
        let read = command.query_async::<Value>(&mut connection);
        let reply = match tokio::time::timeout_at(give_up.into(), read).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                tally.error(describe(error));
                return tally;
            }
            Err(_) => {
                tally.error(format!("no stop entry within {STOP_GRACE:?} of the end"));
                return tally;
            }
        };
        let received = Instant::now();
        let entries = match read_entries(&reply) {
            Ok(entries) => entries,
            Err(description) => {
                tally.error(description);
                return tally;
            }
        };
        for entry in entries {
            let Some((id, value)) = id_and_value(entry) else {
                tally.error(format!("unexpected entry {entry:?}"));
                return tally;
            };
            last_id.clear();
            last_id.push_str(&String::from_utf8_lossy(id));
            match payload::read_stamp(origin, value) {
                Stamp::Stop => return tally,
                Stamp::Sent(sent) => {
                    if window.contains(sent, received) {
                        tally.entries += 1;
                        tally.latency(received - sent);
                    }
                }
                Stamp::Unreadable => tally.error(format!("entry {last_id} is not stamped")),
            }
        }
    }
}

/// The entries of an XREAD reply on one stream: `[[name, [entry, ...]]]`.
fn read_entries(reply: &Value) -> Result<&[Value], String> {
    let unexpected = || format!("unexpected XREAD reply {reply:?}");
    let Value::Array(streams) = reply else {
        return Err(unexpected());
    };
    let [Value::Array(name_and_entries)] = streams.as_slice() else {
        return Err(unexpected());
    };
    match name_and_entries.as_slice() {
        [_, Value::Array(entries)] => Ok(entries),
        _ => Err(unexpected()),
    }
}

/// An entry `[id, [field, value]]` → its ID and its first value.
fn id_and_value(entry: &Value) -> Option<(&[u8], &[u8])> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [Value::BulkString(id), Value::Array(fields)] = parts.as_slice() else {
        return None;
    };
    match fields.as_slice() {
        [_, Value::BulkString(value), ..] => Some((id, value)),
        _ => None,
    }
}

/// Creates the pipeline's group (and its stream) with only new entries to deliver.
pub async fn create_group(address: SocketAddr, stream: &str) -> Result<(), String> {
    let mut connection = connect(address).await?;
    let mut command = redis::cmd("XGROUP");
    command
        .arg("CREATE")
        .arg(stream)
        .arg(pipeline::GROUP)
        .arg("$")
        .arg("MKSTREAM");
    let _: Value = command
        .query_async(&mut connection)
        .await
        .map_err(describe)?;
    Ok(())
}

/// A pipeline producer: one stamped XADD per call.
pub struct Producer {
    connection: MultiplexedConnection,
    stream: String,
}

impl Producer {
    /// Adds to `stream` over `connection`.
    pub fn new(connection: MultiplexedConnection, stream: &str) -> Producer {
        Producer {
            connection,
            stream: stream.to_owned(),
        }
    }
}

impl pipeline::Producer for Producer {
    async fn add(&mut self, value: Vec<u8>) -> Result<(), String> {
        let reply: Value = xadd(&self.stream, "*", &value)
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        added(&reply).map(drop)
    }
}

/// A pipeline consumer: `XREADGROUP GROUP load name COUNT count BLOCK … STREAMS stream >`,
/// then one `XACK stream load id…` per batch.
pub struct Consumer {
    connection: MultiplexedConnection,
    read: Cmd,
    stream: String,
}

impl Consumer {
    /// Consumer `name` of the pipeline's group on `stream`, reading up to `count` at a time.
    pub fn new(
        connection: MultiplexedConnection,
        stream: &str,
        name: String,
        count: usize,
    ) -> Consumer {
        let mut read = redis::cmd("XREADGROUP");
        read.arg("GROUP")
            .arg(pipeline::GROUP)
            .arg(name)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(pipeline::READ_BLOCK.as_millis() as u64)
            .arg("STREAMS")
            .arg(stream)
            .arg(">");
        Consumer {
            connection,
            read,
            stream: stream.to_owned(),
        }
    }
}

impl pipeline::Consumer for Consumer {
    async fn read(&mut self) -> Result<Vec<Received>, String> {
        let reply: Value = self
            .read
            .query_async(&mut self.connection)
            .await
            .map_err(describe)?;
        if reply == Value::Nil {
            return Ok(Vec::new());
        }
        let mut batch = Vec::new();
        for entry in read_entries(&reply)? {
            let (id, value) =
                id_and_value(entry).ok_or_else(|| format!("unexpected entry {entry:?}"))?;
            batch.push((String::from_utf8_lossy(id).into_owned(), value.to_vec()));
        }
        Ok(batch)
    }

    async fn ack(&mut self, ids: Vec<String>) -> Result<u64, String> {
        let mut command = redis::cmd("XACK");
        command.arg(&self.stream).arg(pipeline::GROUP).arg(ids);
        match command.query_async(&mut self.connection).await {
            Ok(Value::Int(acknowledged)) => Ok(acknowledged.max(0) as u64),
            Ok(other) => Err(format!("unexpected XACK reply {other:?}")),
            Err(error) => Err(describe(error)),
        }
    }
}
