//! A stand-in for the Sluice gRPC server, for the client's tests before the real server is
//! merged: `sluice.v1.Streams` answered straight from an [`Engine`], each engine error sent as
//! a status whose message is the error's Redis text. It is deliberately plain (no limits, no
//! status-code subtleties beyond NOT_FOUND for "no such key"): what is under test is the
//! client's side of the API.

use std::pin::Pin;
use std::thread::JoinHandle;
use std::time::Duration;

use sluice::id::IdError;
use sluice::proto::v1 as proto;
use sluice::proto::v1::streams_server::{Streams, StreamsServer};
use sluice::{
    AddId, Engine, Entry, Error, IdRange, NewEntry, ReadLimit, StreamId, TrimSpec, TrimStrategy,
};
use tokio::sync::oneshot;
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status};

/// A running fake server; stopped when dropped.
pub struct FakeServer {
    address: String,
    engine: Engine,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeServer {
    /// Serves `engine` on a free local port, on a thread of its own.
    pub fn start(engine: Engine) -> FakeServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a local port");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let address = listener.local_addr().expect("a bound address").to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = StreamsServer::new(Fake {
            engine: engine.clone(),
        });
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime for the fake server");
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let serving = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                        let _ = stopped.await;
                    });
                if let Err(error) = serving.await {
                    eprintln!("fake server failed: {error}");
                }
            });
        });
        FakeServer {
            address,
            engine,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `HOST:PORT`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The engine behind it, to change streams behind the client's back.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Fake {
    engine: Engine,
}

fn status(error: Error) -> Status {
    match error {
        Error::NoSuchKey => Status::not_found(error.to_string()),
        Error::Id(_) => Status::invalid_argument(error.to_string()),
        other => Status::failed_precondition(other.to_string()),
    }
}

fn id_status(error: IdError) -> Status {
    Status::invalid_argument(error.to_string())
}

fn name(text: Option<String>, bytes: Option<Vec<u8>>) -> Vec<u8> {
    text.map(String::into_bytes).or(bytes).unwrap_or_default()
}

macro_rules! key_of {
    ($request:expr, $module:ident) => {
        match $request.key.take() {
            Some(proto::$module::Key::Stream(text)) => name(Some(text), None),
            Some(proto::$module::Key::StreamBytes(bytes)) => name(None, Some(bytes)),
            None => Vec::new(),
        }
    };
}

fn field_from(field: proto::Field) -> (Vec<u8>, Vec<u8>) {
    let name = match field.field_name {
        Some(proto::field::FieldName::Name(text)) => text.into_bytes(),
        Some(proto::field::FieldName::NameBytes(bytes)) => bytes,
        None => Vec::new(),
    };
    let value = match field.field_value {
        Some(proto::field::FieldValue::Value(text)) => text.into_bytes(),
        Some(proto::field::FieldValue::ValueBytes(bytes)) => bytes,
        None => Vec::new(),
    };
    (name, value)
}

fn field_to((name, value): &(Vec<u8>, Vec<u8>)) -> proto::Field {
    proto::Field {
        field_name: Some(match String::from_utf8(name.clone()) {
            Ok(text) => proto::field::FieldName::Name(text),
            Err(bytes) => proto::field::FieldName::NameBytes(bytes.into_bytes()),
        }),
        field_value: Some(match String::from_utf8(value.clone()) {
            Ok(text) => proto::field::FieldValue::Value(text),
            Err(bytes) => proto::field::FieldValue::ValueBytes(bytes.into_bytes()),
        }),
    }
}

fn entry_to(entry: &Entry) -> proto::Entry {
    proto::Entry {
        id: entry.id.to_string(),
        fields: entry.fields.iter().map(field_to).collect(),
    }
}

fn limit(count: Option<u64>) -> ReadLimit {
    ReadLimit::count(count.map_or(usize::MAX, |count| {
        usize::try_from(count).unwrap_or(usize::MAX)
    }))
}

fn trim_from(trim: proto::Trim) -> Result<TrimSpec, Status> {
    let strategy = match trim.threshold {
        Some(proto::trim::Threshold::Maxlen(maxlen)) => TrimStrategy::MaxLen(maxlen),
        Some(proto::trim::Threshold::Minid(id)) => {
            TrimStrategy::MinId(StreamId::parse_strict(id.as_bytes()).map_err(id_status)?)
        }
        None => return Err(Status::invalid_argument("ERR syntax error")),
    };
    Ok(TrimSpec {
        strategy,
        approx: trim.approximate,
        limit: trim.limit,
    })
}

impl Fake {
    /// XREAD once: the streams with entries after their start.
    fn read_now(
        &self,
        starts: &[(Vec<u8>, Option<StreamId>, bool)],
        count: Option<u64>,
    ) -> Result<Vec<proto::StreamEntries>, Status> {
        let mut streams = Vec::new();
        for (key, after, last_entry) in starts {
            let found = if *last_entry {
                self.engine
                    .range(key, IdRange::ALL, true, ReadLimit::count(1))
                    .map_err(status)?
                    .unwrap_or_default()
            } else {
                let Some(start) = after.and_then(StreamId::next) else {
                    continue;
                };
                let range = IdRange {
                    start,
                    end: StreamId::MAX,
                };
                self.engine
                    .range(key, range, false, limit(count))
                    .map_err(status)?
                    .unwrap_or_default()
            };
            if !found.is_empty() {
                streams.push(proto::StreamEntries {
                    key: Some(match String::from_utf8(key.clone()) {
                        Ok(text) => proto::stream_entries::Key::Stream(text),
                        Err(bytes) => proto::stream_entries::Key::StreamBytes(bytes.into_bytes()),
                    }),
                    entries: found.iter().map(entry_to).collect(),
                });
            }
        }
        Ok(streams)
    }
}

#[tonic::async_trait]
impl Streams for Fake {
    async fn add(
        &self,
        request: Request<proto::AddRequest>,
    ) -> Result<Response<proto::AddResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, add_request);
        let id_text = if request.id.is_empty() {
            "*".to_owned()
        } else {
            request.id.clone()
        };
        let entry = NewEntry {
            id: AddId::parse(id_text.as_bytes()).map_err(id_status)?,
            fields: request.fields.into_iter().map(field_from).collect(),
        };
        let trim = request.trim.map(trim_from).transpose()?;
        let ids = self
            .engine
            .add(&key, &[entry], request.nomkstream, trim.as_ref())
            .map_err(status)?;
        let ids: Vec<String> = ids
            .unwrap_or_default()
            .iter()
            .map(StreamId::to_string)
            .collect();
        Ok(Response::new(proto::AddResponse {
            id: ids.last().cloned().unwrap_or_default(),
            ids,
        }))
    }

    async fn range(
        &self,
        request: Request<proto::RangeRequest>,
    ) -> Result<Response<proto::RangeResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, range_request);
        let start = if request.start.is_empty() {
            "-"
        } else {
            &request.start
        };
        let end = if request.end.is_empty() {
            "+"
        } else {
            &request.end
        };
        let range = IdRange::parse(start.as_bytes(), end.as_bytes()).map_err(id_status)?;
        let found = self
            .engine
            .range(&key, range, request.reverse, limit(request.count))
            .map_err(status)?;
        Ok(Response::new(proto::RangeResponse {
            exists: found.is_some(),
            entries: found.unwrap_or_default().iter().map(entry_to).collect(),
        }))
    }

    async fn read(
        &self,
        request: Request<proto::ReadRequest>,
    ) -> Result<Response<proto::ReadResponse>, Status> {
        let request = request.into_inner();
        let mut starts = Vec::new();
        let mut watchers = Vec::new();
        for mut offset in request.streams {
            let key = key_of!(offset, stream_offset);
            watchers.push(self.engine.watch(&key));
            let start = match offset.id.as_str() {
                "$" => (Some(self.engine.last_id(&key).unwrap_or_default()), false),
                "+" => (None, true),
                id => (
                    Some(StreamId::parse_strict(id.as_bytes()).map_err(id_status)?),
                    false,
                ),
            };
            starts.push((key, start.0, start.1));
        }
        let deadline = request
            .block_ms
            .filter(|&block_ms| block_ms > 0)
            .map(|block_ms| tokio::time::Instant::now() + Duration::from_millis(block_ms));
        loop {
            let streams = self.read_now(&starts, request.count)?;
            if !streams.is_empty() || request.block_ms.is_none() {
                return Ok(Response::new(proto::ReadResponse { streams }));
            }
            let changed = async {
                let waits = watchers
                    .iter_mut()
                    .map(|watcher| Box::pin(watcher.changed()));
                let _ = futures_select_all(waits).await;
            };
            match deadline {
                Some(deadline) => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return Ok(Response::new(proto::ReadResponse::default()));
                    }
                }
                None => changed.await,
            }
        }
    }

    type TailStream = Pin<
        Box<dyn tokio_stream::Stream<Item = Result<proto::TailResponse, Status>> + Send + 'static>,
    >;

    async fn tail(
        &self,
        request: Request<proto::TailRequest>,
    ) -> Result<Response<Self::TailStream>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, tail_request);
        let mut watcher = self.engine.watch(&key);
        let mut cursor = match request.id.as_str() {
            "" | "$" => self.engine.last_id(&key).unwrap_or_default(),
            id => StreamId::parse_strict(id.as_bytes()).map_err(id_status)?,
        };
        let engine = self.engine.clone();
        let (sender, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            loop {
                let Some(start) = cursor.next() else { return };
                let range = IdRange {
                    start,
                    end: StreamId::MAX,
                };
                let found = match engine.range(&key, range, false, ReadLimit::count(100)) {
                    Ok(found) => found.unwrap_or_default(),
                    Err(error) => {
                        let _ = sender.send(Err(status(error))).await;
                        return;
                    }
                };
                if let Some(last) = found.last() {
                    cursor = last.id;
                    let message = proto::TailResponse {
                        entries: found.iter().map(entry_to).collect(),
                    };
                    if sender.send(Ok(message)).await.is_err() {
                        return;
                    }
                    continue;
                }
                if watcher.changed().await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(receiver))))
    }

    async fn len(
        &self,
        request: Request<proto::LenRequest>,
    ) -> Result<Response<proto::LenResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, len_request);
        Ok(Response::new(proto::LenResponse {
            length: self.engine.len(&key),
        }))
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteRequest>,
    ) -> Result<Response<proto::DeleteResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, delete_request);
        let ids = request
            .ids
            .iter()
            .map(|id| StreamId::parse_strict(id.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(id_status)?;
        Ok(Response::new(proto::DeleteResponse {
            deleted: self.engine.delete(&key, &ids).map_err(status)?,
        }))
    }

    async fn trim(
        &self,
        request: Request<proto::TrimRequest>,
    ) -> Result<Response<proto::TrimResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, trim_request);
        let trim = trim_from(request.trim.unwrap_or_default())?;
        Ok(Response::new(proto::TrimResponse {
            removed: self.engine.trim(&key, &trim).map_err(status)?,
        }))
    }

    async fn set_id(
        &self,
        request: Request<proto::SetIdRequest>,
    ) -> Result<Response<proto::SetIdResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, set_id_request);
        let last_id = StreamId::parse_strict(request.last_id.as_bytes()).map_err(id_status)?;
        let max_deleted = if request.max_deleted_id.is_empty() {
            None
        } else {
            Some(StreamId::parse_strict(request.max_deleted_id.as_bytes()).map_err(id_status)?)
        };
        self.engine
            .set_id(&key, last_id, request.entries_added, max_deleted)
            .map_err(status)?;
        Ok(Response::new(proto::SetIdResponse {}))
    }

    async fn info(
        &self,
        request: Request<proto::InfoRequest>,
    ) -> Result<Response<proto::InfoResponse>, Status> {
        let mut request = request.into_inner();
        let key = key_of!(request, info_request);
        let full_count = request
            .full
            .then(|| usize::try_from(request.count.unwrap_or(10)).unwrap_or(usize::MAX));
        let info = self
            .engine
            .info(&key, full_count, ReadLimit::count(usize::MAX))
            .map_err(status)?;
        Ok(Response::new(proto::InfoResponse {
            length: info.counters.length,
            radix_tree_keys: info.segments,
            radix_tree_nodes: info.index_points,
            last_generated_id: info.counters.last_id.to_string(),
            max_deleted_entry_id: info.counters.max_deleted.to_string(),
            entries_added: info.counters.entries_added,
            recorded_first_entry_id: info.recorded_first_id.to_string(),
            groups: 0,
            first_entry: info.first_entry.as_ref().map(entry_to),
            last_entry: info.last_entry.as_ref().map(entry_to),
            entries: info
                .entries
                .unwrap_or_default()
                .iter()
                .map(entry_to)
                .collect(),
        }))
    }

    async fn list(
        &self,
        request: Request<proto::ListRequest>,
    ) -> Result<Response<proto::ListResponse>, Status> {
        let pattern = request.into_inner().pattern;
        let pattern = (!pattern.is_empty()).then_some(pattern.as_bytes());
        let mut response = proto::ListResponse::default();
        for name in self.engine.list(pattern) {
            match String::from_utf8(name) {
                Ok(text) => response.streams.push(text),
                Err(bytes) => response.streams_bytes.push(bytes.into_bytes()),
            }
        }
        Ok(Response::new(response))
    }

    async fn drop(
        &self,
        request: Request<proto::DropRequest>,
    ) -> Result<Response<proto::DropResponse>, Status> {
        let request = request.into_inner();
        let names = request
            .streams
            .into_iter()
            .map(String::into_bytes)
            .chain(request.streams_bytes);
        let mut dropped = 0;
        for name in names {
            if self.engine.drop_stream(&name).map_err(status)? {
                dropped += 1;
            }
        }
        Ok(Response::new(proto::DropResponse { dropped }))
    }
}

/// Waits for the first of `futures` to finish (a tiny `select_all`, to avoid a dependency).
async fn futures_select_all<F: std::future::Future + Unpin>(futures: impl Iterator<Item = F>) {
    let mut futures: Vec<F> = futures.collect();
    std::future::poll_fn(|context| {
        for future in &mut futures {
            if Pin::new(future).poll(context).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}
