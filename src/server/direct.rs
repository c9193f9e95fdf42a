//! Unary calls served directly: the request's one message read from the HTTP/2 body and
//! decoded, the handler called, its reply written as one data frame and the trailers.
//!
//! tonic's generated server does the same through layers made for streams of messages: a
//! router that boxes the request body and the response body again at each of its levels, a
//! streaming decoder and a streaming encoder, each with its own 8 KiB buffer, for a call that
//! carries exactly one message each way. [`Direct`] is a layer in front of that router: a
//! unary method of the Streams or Groups service (the table in [`DirectService::call`]) is
//! answered here, by the same handler tonic would call; everything else (Tail, Consume,
//! health, reflection) goes on to the router. It sits inside the server's other layers, so
//! authentication, call metrics, `grpc-timeout` and the OUT_OF_RANGE → RESOURCE_EXHAUSTED
//! rewrite apply to both paths alike.
//!
//! What a client sees is what tonic's path gives, status for status and text for text:
//! a request compressed with an encoding other than `identity` is refused with UNIMPLEMENTED
//! (this server enables none); a message larger than `message_bytes_max` with OUT_OF_RANGE
//! before the rest of it is read; a missing, truncated or undecodable message with INTERNAL;
//! a reply larger than the limit with OUT_OF_RANGE; a handler's error as a trailers-only
//! response. Trailers sent after the request's message are merged into its metadata.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::{BoxFuture, Either, FutureExt};
use http_body::{Body as _, Frame};
use tonic::codegen::http::{self, header, HeaderMap, HeaderValue};
use tonic::Status;

use super::around::{HttpRequest, HttpResponse};
use crate::proto::v1::groups_server::Groups;
use crate::proto::v1::streams_server::Streams;
use crate::server::groups::GroupsService;
use crate::server::streams::StreamsService;

/// A gRPC message's prefix: the compressed flag (one byte) and the length (four, big-endian).
const PREFIX_BYTES: usize = 5;

/// The layer answering the unary methods of `streams` and `groups` itself.
#[derive(Clone)]
pub struct Direct {
    streams: Arc<StreamsService>,
    groups: Arc<GroupsService>,
    /// The largest message accepted or sent (`message_bytes_max`).
    message_bytes_max: usize,
}

impl Direct {
    /// The layer over the services the router also serves (the same instances), with the
    /// router's message limit.
    pub fn new(
        streams: Arc<StreamsService>,
        groups: Arc<GroupsService>,
        message_bytes_max: usize,
    ) -> Direct {
        Direct {
            streams,
            groups,
            message_bytes_max,
        }
    }
}

impl<S> tower::Layer<S> for Direct {
    type Service = DirectService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DirectService {
            inner,
            direct: self.clone(),
        }
    }
}

/// [`Direct`]'s service: a unary method's call answered here, any other passed to `inner`.
#[derive(Clone)]
pub struct DirectService<S> {
    inner: S,
    direct: Direct,
}

/// A unary call's future, as [`Direct::route`] makes it.
type DirectFuture = BoxFuture<'static, HttpResponse>;

/// Serves `$request` with the method `$method` of the service in `$direct.$service` (whose
/// trait is `$trait`), as [`unary`] does.
macro_rules! serve {
    ($direct:ident, $request:ident, $service:ident, $trait:ident :: $method:ident) => {{
        let service = Arc::clone(&$direct.$service);
        Ok(Box::pin(unary(
            $request,
            $direct.message_bytes_max,
            move |request| async move { $trait::$method(&*service, request).await },
        )))
    }};
}

impl Direct {
    /// The call answered here if `request` is for a unary method of the Streams or Groups
    /// service; else `request`, back, for the router.
    // The request goes back by value, once a call: a move, cheaper than boxing it.
    #[allow(clippy::result_large_err)]
    fn route(&self, request: HttpRequest) -> Result<DirectFuture, HttpRequest> {
        match request.uri().path() {
            "/sluice.v1.Streams/Add" => serve!(self, request, streams, Streams::add),
            "/sluice.v1.Streams/Range" => serve!(self, request, streams, Streams::range),
            "/sluice.v1.Streams/Read" => serve!(self, request, streams, Streams::read),
            "/sluice.v1.Streams/Len" => serve!(self, request, streams, Streams::len),
            "/sluice.v1.Streams/Delete" => serve!(self, request, streams, Streams::delete),
            "/sluice.v1.Streams/Trim" => serve!(self, request, streams, Streams::trim),
            "/sluice.v1.Streams/SetId" => serve!(self, request, streams, Streams::set_id),
            "/sluice.v1.Streams/Info" => serve!(self, request, streams, Streams::info),
            "/sluice.v1.Streams/List" => serve!(self, request, streams, Streams::list),
            "/sluice.v1.Streams/Drop" => serve!(self, request, streams, Streams::drop),
            "/sluice.v1.Streams/SetRetention" => {
                serve!(self, request, streams, Streams::set_retention)
            }
            "/sluice.v1.Streams/GetRetention" => {
                serve!(self, request, streams, Streams::get_retention)
            }
            "/sluice.v1.Groups/Create" => serve!(self, request, groups, Groups::create),
            "/sluice.v1.Groups/SetId" => serve!(self, request, groups, Groups::set_id),
            "/sluice.v1.Groups/Destroy" => serve!(self, request, groups, Groups::destroy),
            "/sluice.v1.Groups/CreateConsumer" => {
                serve!(self, request, groups, Groups::create_consumer)
            }
            "/sluice.v1.Groups/DeleteConsumer" => {
                serve!(self, request, groups, Groups::delete_consumer)
            }
            "/sluice.v1.Groups/SetPolicy" => serve!(self, request, groups, Groups::set_policy),
            "/sluice.v1.Groups/Read" => serve!(self, request, groups, Groups::read),
            "/sluice.v1.Groups/Ack" => serve!(self, request, groups, Groups::ack),
            "/sluice.v1.Groups/Nack" => serve!(self, request, groups, Groups::nack),
            "/sluice.v1.Groups/Renew" => serve!(self, request, groups, Groups::renew),
            "/sluice.v1.Groups/Pending" => serve!(self, request, groups, Groups::pending),
            "/sluice.v1.Groups/Claim" => serve!(self, request, groups, Groups::claim),
            "/sluice.v1.Groups/AutoClaim" => serve!(self, request, groups, Groups::auto_claim),
            "/sluice.v1.Groups/Info" => serve!(self, request, groups, Groups::info),
            "/sluice.v1.Groups/Consumers" => serve!(self, request, groups, Groups::consumers),
            _ => Err(request),
        }
    }
}

impl<S> tower::Service<HttpRequest> for DirectService<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = S::Error;
    type Future = Either<MapOk<DirectFuture, S::Error>, S::Future>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: HttpRequest) -> Self::Future {
        match self.direct.route(request) {
            Ok(call) => Either::Left(call.map(Ok)),
            Err(request) => Either::Right(self.inner.call(request)),
        }
    }
}

/// A direct call's future as the service's: it never fails (a refusal is a response).
type MapOk<F, E> = futures_util::future::Map<F, fn(HttpResponse) -> Result<HttpResponse, E>>;

/// Serves one unary call with `handle`, whose messages are limited to `message_bytes_max`.
async fn unary<Req, Reply, Handle, Handled>(
    request: HttpRequest,
    message_bytes_max: usize,
    handle: Handle,
) -> HttpResponse
where
    Req: prost::Message + Default,
    Reply: prost::Message,
    Handle: FnOnce(tonic::Request<Req>) -> Handled,
    Handled: Future<Output = Result<tonic::Response<Reply>, Status>>,
{
    match call(request, message_bytes_max, handle).await {
        Ok(response) => response,
        Err(status) => status.into_http(),
    }
}

/// [`unary`], with every refusal as a status.
async fn call<Req, Reply, Handle, Handled>(
    request: HttpRequest,
    message_bytes_max: usize,
    handle: Handle,
) -> Result<HttpResponse, Status>
where
    Req: prost::Message + Default,
    Reply: prost::Message,
    Handle: FnOnce(tonic::Request<Req>) -> Handled,
    Handled: Future<Output = Result<tonic::Response<Reply>, Status>>,
{
    refuse_compressed(request.headers())?;
    let (mut parts, body) = request.into_parts();
    let (message, trailers) = read_message(body, message_bytes_max).await?;
    if let Some(trailers) = trailers {
        parts.headers.extend(trailers);
    }
    let message = Req::decode(message).map_err(|error| Status::internal(error.to_string()))?;
    let request = tonic::Request::from_http(http::Request::from_parts(parts, message));
    let (metadata, reply, extensions) = handle(request).await?.into_parts();
    let data = encode(&reply, message_bytes_max)?;
    let mut response = http::Response::new(tonic::body::Body::new(ReplyBody {
        data: Some(data),
        done: false,
    }));
    *response.headers_mut() = metadata.into_headers();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    *response.extensions_mut() = extensions;
    Ok(response)
}

/// Refuses a request whose `grpc-encoding` is other than `identity`, as tonic does when it
/// has no compression enabled.
fn refuse_compressed(headers: &HeaderMap) -> Result<(), Status> {
    let Some(encoding) = headers.get("grpc-encoding") else {
        return Ok(());
    };
    if encoding.as_bytes() == b"identity" {
        return Ok(());
    }
    let name = match std::str::from_utf8(encoding.as_bytes()) {
        Ok(name) => name.to_owned(),
        Err(_) => format!("{:?}", encoding.as_bytes()),
    };
    let mut status = Status::unimplemented(format!(
        "Content is compressed with `{name}` which isn't supported"
    ));
    status.metadata_mut().insert(
        "grpc-accept-encoding",
        tonic::metadata::MetadataValue::from_static("identity"),
    );
    Err(status)
}

/// The request's first message (without its prefix) and the trailers that ended the body, if
/// any. A message longer than `message_bytes_max` is refused as soon as its prefix is read;
/// anything after the first message is read and dropped, not kept.
async fn read_message(
    body: tonic::body::Body,
    message_bytes_max: usize,
) -> Result<(Bytes, Option<HeaderMap>), Status> {
    let mut body = std::pin::pin!(body);
    let mut pending = Pending::default();
    let mut message = None;
    let mut trailers = None;
    while let Some(frame) = std::future::poll_fn(|context| body.as_mut().poll_frame(context)).await
    {
        match frame?.into_data() {
            Ok(data) if message.is_none() => {
                pending.push(data);
                message = pending.message(message_bytes_max)?;
            }
            Ok(_after_the_message) => {}
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailers = Some(map);
                }
            }
        }
    }
    match message {
        Some(message) => Ok((message, trailers)),
        None if pending.is_empty() => Err(Status::internal("Missing request message.")),
        None => Err(Status::internal("Unexpected EOF decoding stream.")),
    }
}

/// The bytes of a request body received so far, until they hold its first message: usually
/// one data frame, kept as it came; a message split over frames is gathered into one buffer.
#[derive(Default)]
struct Pending {
    first: Bytes,
    gathered: Option<BytesMut>,
}

impl Pending {
    fn push(&mut self, data: Bytes) {
        if let Some(gathered) = &mut self.gathered {
            gathered.extend_from_slice(&data);
        } else if self.first.is_empty() {
            self.first = data;
        } else {
            let mut gathered = BytesMut::with_capacity(self.first.len() + data.len());
            gathered.extend_from_slice(&self.first);
            gathered.extend_from_slice(&data);
            self.gathered = Some(gathered);
        }
    }

    fn is_empty(&self) -> bool {
        self.first.is_empty() && self.gathered.is_none()
    }

    fn bytes(&self) -> &[u8] {
        self.gathered.as_deref().unwrap_or(&self.first)
    }

    /// The message, once all of it is here; refuses a bad prefix or a length over the limit.
    fn message(&mut self, message_bytes_max: usize) -> Result<Option<Bytes>, Status> {
        let mut bytes = self.bytes();
        if bytes.len() < PREFIX_BYTES {
            return Ok(None);
        }
        match bytes.get_u8() {
            0 => {}
            1 => {
                return Err(Status::internal(
                    "protocol error: received message with compressed-flag but no grpc-encoding was specified",
                ))
            }
            flag => {
                return Err(Status::internal(format!(
                    "protocol error: received message with invalid compression flag: {flag} (valid flags are 0 and 1), while sending request"
                )))
            }
        }
        let len = bytes.get_u32() as usize;
        if len > message_bytes_max {
            return Err(Status::out_of_range(format!(
                "Error, decoded message length too large: found {len} bytes, the limit is: {message_bytes_max} bytes"
            )));
        }
        if bytes.len() < len {
            return Ok(None);
        }
        let whole = match self.gathered.take() {
            Some(gathered) => gathered.freeze(),
            None => std::mem::take(&mut self.first),
        };
        Ok(Some(whole.slice(PREFIX_BYTES..PREFIX_BYTES + len)))
    }
}

/// `reply` with its prefix, refused if longer than `message_bytes_max`.
fn encode(reply: &impl prost::Message, message_bytes_max: usize) -> Result<Bytes, Status> {
    let len = reply.encoded_len();
    if len > message_bytes_max {
        return Err(Status::out_of_range(format!(
            "Error, encoded message length too large: found {len} bytes, the limit is: {message_bytes_max} bytes"
        )));
    }
    let prefix_len = u32::try_from(len).map_err(|_| {
        Status::resource_exhausted(format!(
            "Cannot return body with more than 4GB of data but got {len} bytes"
        ))
    })?;
    let mut buf = BytesMut::with_capacity(PREFIX_BYTES + len);
    buf.put_u8(0);
    buf.put_u32(prefix_len);
    reply.encode_raw(&mut buf);
    Ok(buf.freeze())
}

/// A successful unary reply's body: the message's one data frame, then the trailers
/// `grpc-status: 0`.
struct ReplyBody {
    data: Option<Bytes>,
    done: bool,
}

impl http_body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if self.done {
            return Poll::Ready(None);
        }
        self.done = true;
        let mut trailers = HeaderMap::with_capacity(1);
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.done
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use prost::Message as _;
    use tokio::sync::Semaphore;
    use tonic::Code;

    use super::*;
    use crate::config::{Config, FsyncPolicy};
    use crate::engine::Engine;
    use crate::proto::v1;
    use crate::server::gate::Gate;
    use crate::server::limits::Limits;
    use crate::server::shutdown;

    /// A request body that yields the given frames, then ends.
    struct Frames(VecDeque<Frame<Bytes>>);

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _context: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    fn body(frames: Vec<Frame<Bytes>>) -> tonic::body::Body {
        tonic::body::Body::new(Frames(frames.into()))
    }

    /// `message` with its gRPC prefix.
    fn framed(message: &impl prost::Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        framed.extend_from_slice(&bytes);
        framed
    }

    fn data(bytes: &[u8]) -> Frame<Bytes> {
        Frame::data(Bytes::copy_from_slice(bytes))
    }

    fn request(path: &str, frames: Vec<Frame<Bytes>>) -> HttpRequest {
        let mut request = http::Request::new(body(frames));
        *request.uri_mut() = path.parse().expect("a path");
        request
    }

    async fn frames_of(response: HttpResponse) -> Vec<Frame<Bytes>> {
        let mut body = response.into_body();
        let mut frames = Vec::new();
        while let Some(frame) =
            std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await
        {
            frames.push(frame.expect("the reply's frames"));
        }
        frames
    }

    /// The status a trailers-only response carries.
    fn refusal(response: &HttpResponse) -> Status {
        Status::from_header_map(response.headers()).expect("a trailers-only refusal")
    }

    fn len_request(stream: &str) -> v1::LenRequest {
        v1::LenRequest {
            key: Some(v1::len_request::Key::Stream(stream.into())),
        }
    }

    /// Serves a Len call with a handler that answers the stream name's length, echoes the
    /// request's `x-echo` metadata and its `u32` extension.
    async fn serve_len(request: HttpRequest, message_bytes_max: usize) -> HttpResponse {
        unary(
            request,
            message_bytes_max,
            |request: tonic::Request<v1::LenRequest>| async move {
                let echo = request.metadata().get("x-echo").cloned();
                let extension = request.extensions().get::<u32>().copied();
                let length = match request.into_inner().key {
                    Some(v1::len_request::Key::Stream(name)) => name.len() as u64,
                    _ => return Err(Status::invalid_argument("no stream")),
                };
                let mut reply = tonic::Response::new(v1::LenResponse {
                    length: length + u64::from(extension.unwrap_or(0)),
                });
                if let Some(echo) = echo {
                    reply.metadata_mut().insert("x-echo", echo);
                }
                Ok(reply)
            },
        )
        .await
    }

    #[tokio::test]
    async fn a_reply_is_one_data_frame_then_ok_trailers() {
        let mut call = request("/x", vec![data(&framed(&len_request("abc")))]);
        call.headers_mut()
            .insert("x-echo", HeaderValue::from_static("hello"));
        call.extensions_mut().insert(10u32);
        let response = serve_len(call, 1024).await;
        assert_eq!(response.headers()["content-type"], "application/grpc");
        assert_eq!(response.headers()["x-echo"], "hello");
        let frames = frames_of(response).await;
        assert_eq!(frames.len(), 2, "{frames:?}");
        let reply = frames[0].data_ref().expect("a data frame first");
        assert_eq!(reply[..], framed(&v1::LenResponse { length: 13 })[..]);
        let trailers = frames[1].trailers_ref().expect("trailers last");
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers["grpc-status"], "0");
    }

    #[tokio::test]
    async fn a_message_over_several_frames_is_gathered_and_trailers_join_the_metadata() {
        let whole = framed(&len_request("stream"));
        let mut trailers = HeaderMap::new();
        trailers.insert("x-echo", HeaderValue::from_static("late"));
        let mut frames: Vec<_> = whole.chunks(3).map(data).collect();
        frames.push(data(&framed(&len_request("a second message, dropped"))));
        frames.push(Frame::trailers(trailers));
        let response = serve_len(request("/x", frames), 1024).await;
        assert_eq!(response.headers()["x-echo"], "late");
        let frames = frames_of(response).await;
        let reply = frames[0].data_ref().expect("a data frame");
        assert_eq!(reply[..], framed(&v1::LenResponse { length: 6 })[..]);
    }

    #[tokio::test]
    async fn refusals_are_tonics() {
        let cases: Vec<(Vec<Frame<Bytes>>, Code, &str)> = vec![
            (vec![], Code::Internal, "Missing request message."),
            (vec![data(&[0, 0, 0])], Code::Internal, "Unexpected EOF decoding stream."),
            (
                vec![data(&[0, 0, 0, 0, 9, 1])],
                Code::Internal,
                "Unexpected EOF decoding stream.",
            ),
            (
                vec![data(&[1, 0, 0, 0, 0])],
                Code::Internal,
                "protocol error: received message with compressed-flag but no grpc-encoding was specified",
            ),
            (
                vec![data(&[7, 0, 0, 0, 0])],
                Code::Internal,
                "protocol error: received message with invalid compression flag: 7 (valid flags are 0 and 1), while sending request",
            ),
            // Refused on its prefix, though the rest never comes.
            (
                vec![data(&[0, 0, 0, 4, 1])],
                Code::OutOfRange,
                "Error, decoded message length too large: found 1025 bytes, the limit is: 1024 bytes",
            ),
            (
                vec![data(&[0, 0, 0, 0, 2, 0x0a, 0x05])],
                Code::Internal,
                "failed to decode Protobuf message: ",
            ),
            (vec![data(&framed(&v1::LenRequest { key: None }))], Code::InvalidArgument, "no stream"),
        ];
        for (frames, code, message) in cases {
            let response = serve_len(request("/x", frames), 1024).await;
            let status = refusal(&response);
            assert_eq!(status.code(), code, "{status:?}");
            assert!(status.message().starts_with(message), "{status:?}");
        }

        let mut compressed = request("/x", vec![data(&framed(&len_request("s")))]);
        compressed
            .headers_mut()
            .insert("grpc-encoding", HeaderValue::from_static("gzip"));
        let response = serve_len(compressed, 1024).await;
        let status = refusal(&response);
        assert_eq!(status.code(), Code::Unimplemented);
        assert_eq!(
            status.message(),
            "Content is compressed with `gzip` which isn't supported"
        );
        assert_eq!(response.headers()["grpc-accept-encoding"], "identity");

        let mut identity = request("/x", vec![data(&framed(&len_request("s")))]);
        identity
            .headers_mut()
            .insert("grpc-encoding", HeaderValue::from_static("identity"));
        let frames = frames_of(serve_len(identity, 1024).await).await;
        assert_eq!(frames.len(), 2, "identity is no compression");
    }

    #[tokio::test]
    async fn a_reply_over_the_limit_is_refused() {
        // A request of 2 bytes (field 1, empty) and a reply of 3 (field 1, a two-byte
        // varint), against a limit of 2.
        let mut call = request("/x", vec![data(&framed(&len_request("")))]);
        call.extensions_mut().insert(1000u32);
        let status = refusal(&serve_len(call, 2).await);
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "Error, encoded message length too large: found 3 bytes, the limit is: 2 bytes"
        );
    }

    #[test]
    fn every_unary_method_is_routed_here_and_only_those() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        let engine = Engine::open(config).expect("the engine opens");
        let limits = Limits {
            message_bytes_max: 1024,
            count_max: 10,
            batch_entries_max: 10,
            blocked_readers_max: 10,
            tail_subscribers_max: 10,
            tail_batch_max: 10,
            stream_name_bytes_max: 10,
            consumers_max: 10,
            consume_window_max: 10,
        };
        let readers = Arc::new(Semaphore::new(1));
        let (_trigger, shutdown) = shutdown::channel();
        let streams = StreamsService::new(
            engine.clone(),
            limits,
            Arc::clone(&readers),
            Gate::default(),
            shutdown.clone(),
        );
        let groups = GroupsService::new(engine, limits, readers, Gate::default(), shutdown);
        let direct = Direct::new(Arc::new(streams), Arc::new(groups), 1024);

        let files = prost_types::FileDescriptorSet::decode(v1::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set decodes");
        let mut unary = 0;
        for file in files.file {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{}.{}/{}", file.package(), service.name(), method.name());
                    let is_unary = !method.client_streaming() && !method.server_streaming();
                    unary += usize::from(is_unary);
                    let routed = direct.route(request(&path, vec![])).is_ok();
                    assert_eq!(routed, is_unary, "{path}");
                }
            }
        }
        assert_eq!(unary, 27, "the services' unary methods");
        assert!(direct
            .route(request("/grpc.health.v1.Health/Check", vec![]))
            .is_err());
    }
}
