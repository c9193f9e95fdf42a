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
//! What a client sees is what tonic's path gives, status for status and text for text (the
//! tests run both paths on the same requests): a request compressed with an encoding other
//! than `identity` is refused with UNIMPLEMENTED (this server enables none); a message longer
//! than `message_bytes_max` with OUT_OF_RANGE as soon as its prefix is read; a missing or
//! truncated message, an undecodable one, or a bad one after it, with INTERNAL; a handler's
//! error as a trailers-only response. Trailers sent after the request's messages join its
//! metadata. Two differences, both on purpose: a reply longer than the limit is refused as a
//! trailers-only response, so the server's layers see it and clients get RESOURCE_EXHAUSTED,
//! as for every configured limit (tonic sends such a status in trailers after a success's
//! headers, where the layers cannot see it, as OUT_OF_RANGE); and a request whose stream the
//! client resets is refused with the reset's status (tonic takes a cancellation for the end
//! of the body and may still run the handler, so an Add the client gave up on could commit).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use futures_util::future::{BoxFuture, Either, FutureExt};
use http_body::{Body as _, Frame};
use tonic::codegen::http::{self, header, HeaderMap, HeaderName, HeaderValue};
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
    match answer(request, message_bytes_max, handle).await {
        Ok(response) => response,
        Err(status) => status.into_http(),
    }
}

/// [`unary`], with every refusal as a status.
async fn answer<Req, Reply, Handle, Handled>(
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
    let (message, trailers) = read_message::<Req>(body, message_bytes_max).await?;
    if let Some(trailers) = trailers {
        parts.headers.extend(trailers);
    }
    let request = tonic::Request::from_http(http::Request::from_parts(parts, message));
    let (metadata, reply, extensions) = handle(request).await?.into_parts();
    let data = encode(&reply, message_bytes_max)?;
    let mut response = http::Response::new(tonic::body::Body::new(ReplyBody {
        data: Some(data),
        done: false,
    }));
    let headers = response.headers_mut();
    *headers = metadata.into_headers();
    if !headers.is_empty() {
        for reserved in &RESERVED_HEADERS {
            headers.remove(reserved);
        }
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    *response.extensions_mut() = extensions;
    Ok(response)
}

/// Headers a handler's metadata may not set on a reply (tonic drops them too).
const RESERVED_HEADERS: [HeaderName; 5] = [
    HeaderName::from_static("te"),
    header::CONTENT_TYPE,
    HeaderName::from_static("grpc-message"),
    HeaderName::from_static("grpc-message-type"),
    GRPC_STATUS,
];

/// `grpc-status`, named once: a header looked up by text is parsed at every call.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// `grpc-encoding`.
const GRPC_ENCODING: HeaderName = HeaderName::from_static("grpc-encoding");

/// Refuses a request whose `grpc-encoding` is other than `identity`, as tonic does when it
/// has no compression enabled.
fn refuse_compressed(headers: &HeaderMap) -> Result<(), Status> {
    let Some(encoding) = headers.get(&GRPC_ENCODING) else {
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

/// The request's first message, decoded as soon as all of it is here, and the trailers that
/// ended the body, if any. As tonic does, the body is then read to its end and every further
/// message framed and decoded too, then dropped: a bad one refuses the call, as do bytes left
/// over at the end. A message longer than `message_bytes_max` is refused as soon as its
/// prefix is read. A body that fails (the client reset the stream) refuses the call with its
/// status, where tonic would take a cancellation for the end of the body and might still run
/// the handler.
async fn read_message<Req: prost::Message + Default>(
    body: tonic::body::Body,
    message_bytes_max: usize,
) -> Result<(Req, Option<HeaderMap>), Status> {
    let mut body = std::pin::pin!(body);
    let mut framer = Framer::default();
    let mut first = None;
    let mut trailers = None;
    while let Some(frame) = std::future::poll_fn(|context| body.as_mut().poll_frame(context)).await
    {
        match frame?.into_data() {
            Ok(data) => {
                framer.push(data);
                while let Some(message) = framer.next_message(message_bytes_max)? {
                    let message = decode::<Req>(message)?;
                    if first.is_none() {
                        first = Some(message);
                    }
                }
            }
            Err(frame) => {
                if let Ok(map) = frame.into_trailers() {
                    trailers = Some(map);
                }
            }
        }
    }
    if framer.holds_bytes() {
        return Err(Status::internal("Unexpected EOF decoding stream."));
    }
    let first = first.ok_or_else(|| Status::internal("Missing request message."))?;
    Ok((first, trailers))
}

/// `message` decoded, or tonic's refusal.
fn decode<Req: prost::Message + Default>(message: Bytes) -> Result<Req, Status> {
    Req::decode(message).map_err(|error| Status::internal(error.to_string()))
}

/// Splits a request body's bytes into its messages. A message within one data frame (the
/// usual case) is a slice of that frame, not a copy; one spanning frames is gathered into a
/// buffer sized for it once its prefix is read.
#[derive(Default)]
struct Framer {
    /// The bytes not yet framed, as they came, while they are one frame's.
    held: Bytes,
    /// The bytes not yet framed, once they span frames.
    gathered: BytesMut,
}

impl Framer {
    fn push(&mut self, data: Bytes) {
        if self.held.is_empty() && self.gathered.is_empty() {
            self.held = data;
            return;
        }
        if !self.held.is_empty() {
            self.gathered.extend_from_slice(&self.held);
            self.held.clear();
        }
        self.gathered.extend_from_slice(&data);
    }

    /// Whether bytes are left that no message has taken.
    fn holds_bytes(&self) -> bool {
        !self.held.is_empty() || !self.gathered.is_empty()
    }

    /// The next message, once all of it is here; refuses a bad prefix or a length over the
    /// limit as soon as the prefix is read.
    fn next_message(&mut self, message_bytes_max: usize) -> Result<Option<Bytes>, Status> {
        let unframed: &[u8] = if self.gathered.is_empty() {
            &self.held
        } else {
            &self.gathered
        };
        let Some(mut prefix) = unframed.get(..PREFIX_BYTES) else {
            return Ok(None);
        };
        match prefix.get_u8() {
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
        let len = prefix.get_u32() as usize;
        if len > message_bytes_max {
            return Err(Status::out_of_range(format!(
                "Error, decoded message length too large: found {len} bytes, the limit is: {message_bytes_max} bytes"
            )));
        }
        let framed = PREFIX_BYTES + len;
        if unframed.len() < framed {
            if !self.gathered.is_empty() {
                self.gathered.reserve(framed - self.gathered.len());
            }
            return Ok(None);
        }
        let message = if self.gathered.is_empty() {
            self.held.split_to(framed)
        } else {
            self.gathered.split_to(framed).freeze()
        };
        Ok(Some(message.slice(PREFIX_BYTES..)))
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
    // The prefix was written from the size the message reported: a hand-written encoding
    // (`proto::wire`, `proto::add_reply`) that wrote another would corrupt the stream.
    if buf.len() != PREFIX_BYTES + len {
        return Err(Status::internal(format!(
            "Error encoding: the reply reported {len} bytes and wrote {}",
            buf.len() - PREFIX_BYTES
        )));
    }
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
        trailers.insert(GRPC_STATUS, HeaderValue::from_static("0"));
        Poll::Ready(Some(Ok(Frame::trailers(trailers))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.done
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use futures_util::FutureExt as _;
    use prost::Message as _;
    use tokio::sync::Semaphore;
    use tonic::Code;
    use tower::Service as _;

    use super::*;
    use crate::config::{Config, FsyncPolicy};
    use crate::engine::Engine;
    use crate::proto::v1;
    use crate::server::gate::Gate;
    use crate::server::limits::Limits;
    use crate::server::shutdown;

    /// A request body: the given frames, then its end, or (`open`) nothing more ever.
    struct Frames {
        frames: VecDeque<Result<Frame<Bytes>, Status>>,
        open: bool,
    }

    impl http_body::Body for Frames {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _context: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            match self.frames.pop_front() {
                Some(frame) => Poll::Ready(Some(frame)),
                None if self.open => Poll::Pending,
                None => Poll::Ready(None),
            }
        }
    }

    /// What a test request's body holds, in order.
    #[derive(Clone)]
    enum Part {
        Data(Vec<u8>),
        Trailer(&'static str, &'static str),
    }

    /// Request headers a test sets.
    type Headers = &'static [(&'static str, &'static str)];

    fn request_with(parts: &[Part], headers: Headers, open: bool) -> HttpRequest {
        let frames = parts
            .iter()
            .map(|part| match part {
                Part::Data(bytes) => Ok(Frame::data(Bytes::copy_from_slice(bytes))),
                Part::Trailer(name, value) => {
                    let mut map = HeaderMap::new();
                    map.insert(*name, HeaderValue::from_static(value));
                    Ok(Frame::trailers(map))
                }
            })
            .collect();
        let mut request = http::Request::new(tonic::body::Body::new(Frames { frames, open }));
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, HeaderValue::from_static(value));
        }
        request
    }

    fn request(parts: &[Part]) -> HttpRequest {
        request_with(parts, &[], false)
    }

    /// `message` with its gRPC prefix.
    fn framed(message: &impl prost::Message) -> Vec<u8> {
        let bytes = message.encode_to_vec();
        let mut framed = vec![0];
        framed.extend_from_slice(&u32::try_from(bytes.len()).expect("small").to_be_bytes());
        framed.extend_from_slice(&bytes);
        framed
    }

    fn len_request(stream: &str) -> Part {
        Part::Data(framed(&v1::LenRequest {
            key: Some(v1::len_request::Key::Stream(stream.into())),
        }))
    }

    /// Answers the stream name's length plus the request's `u32` extension; echoes its
    /// `x-echo` metadata, and tries to set a reserved header on the reply.
    async fn len_handler(
        request: tonic::Request<v1::LenRequest>,
    ) -> Result<tonic::Response<v1::LenResponse>, Status> {
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
        reply
            .metadata_mut()
            .insert("grpc-message-type", "reserved".parse().expect("ascii"));
        Ok(reply)
    }

    async fn direct_len(request: HttpRequest, message_bytes_max: usize) -> HttpResponse {
        unary(request, message_bytes_max, len_handler).await
    }

    /// The same call through tonic's own unary path, with the same limits.
    async fn tonic_len(request: HttpRequest, message_bytes_max: usize) -> HttpResponse {
        let codec = tonic_prost::ProstCodec::<v1::LenResponse, v1::LenRequest>::default();
        tonic::server::Grpc::new(codec)
            .apply_max_message_size_config(Some(message_bytes_max), Some(message_bytes_max))
            .unary(tower::service_fn(len_handler), request)
            .await
    }

    /// A response as a client sees it: its headers, its data, its trailers.
    #[derive(Debug, PartialEq)]
    struct Seen {
        headers: HeaderMap,
        data: Vec<u8>,
        trailers: Option<HeaderMap>,
    }

    async fn seen(response: HttpResponse) -> Seen {
        let (parts, mut body) = response.into_parts();
        let mut data = Vec::new();
        let mut trailers = None;
        while let Some(frame) =
            std::future::poll_fn(|context| Pin::new(&mut body).poll_frame(context)).await
        {
            match frame.expect("the reply's frames").into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers = frame.into_trailers().ok(),
            }
        }
        Seen {
            headers: parts.headers,
            data,
            trailers,
        }
    }

    /// The status of a response: in its headers (trailers-only) or its trailers.
    fn status_of(seen: &Seen) -> Status {
        Status::from_header_map(&seen.headers)
            .or_else(|| seen.trailers.as_ref().and_then(Status::from_header_map))
            .expect("a status")
    }

    #[tokio::test]
    async fn a_client_sees_what_tonics_path_gives() {
        let oversized = Part::Data(vec![0, 0, 0, 4, 1]);
        let undecodable = Part::Data(vec![0, 0, 0, 0, 2, 0x0a, 0x05]);
        // A request of exactly 13 bytes, the limit of every case.
        let at_limit = len_request("12345678901");
        let split: Vec<Part> = match len_request("stream") {
            Part::Data(bytes) => bytes.chunks(3).map(|c| Part::Data(c.to_vec())).collect(),
            Part::Trailer(..) => unreachable!(),
        };
        let mut split_with_trailers = split.clone();
        split_with_trailers.push(Part::Trailer("x-echo", "late"));
        let mut message_and_leftover = match len_request("s") {
            Part::Data(bytes) => bytes,
            Part::Trailer(..) => unreachable!(),
        };
        message_and_leftover.extend_from_slice(&[0, 0]);
        let none: Headers = &[];
        let cases: Vec<(&str, Vec<Part>, Headers, Code)> = vec![
            ("one message", vec![len_request("abc")], none, Code::Ok),
            (
                "metadata",
                vec![len_request("abc")],
                &[("x-echo", "hi")],
                Code::Ok,
            ),
            ("no body", vec![], none, Code::Internal),
            (
                "part of a prefix",
                vec![Part::Data(vec![0, 0, 0])],
                none,
                Code::Internal,
            ),
            (
                "part of a message",
                vec![Part::Data(vec![0, 0, 0, 0, 9, 1])],
                none,
                Code::Internal,
            ),
            (
                "compressed flag",
                vec![Part::Data(vec![1, 0, 0, 0, 0])],
                none,
                Code::Internal,
            ),
            (
                "bad flag",
                vec![Part::Data(vec![7, 0, 0, 0, 0])],
                none,
                Code::Internal,
            ),
            (
                "over the limit",
                vec![oversized.clone()],
                none,
                Code::OutOfRange,
            ),
            ("at the limit", vec![at_limit], none, Code::Ok),
            (
                "undecodable",
                vec![undecodable.clone()],
                none,
                Code::Internal,
            ),
            (
                "handler's refusal",
                vec![Part::Data(framed(&v1::LenRequest { key: None }))],
                none,
                Code::InvalidArgument,
            ),
            ("split over frames", split, none, Code::Ok),
            ("trailers", split_with_trailers, none, Code::Ok),
            (
                "bytes left over",
                vec![Part::Data(message_and_leftover)],
                none,
                Code::Internal,
            ),
            (
                "a second message",
                vec![len_request("s"), len_request("second")],
                none,
                Code::Ok,
            ),
            (
                "a second one over the limit",
                vec![len_request("s"), oversized],
                none,
                Code::OutOfRange,
            ),
            (
                "a second one undecodable",
                vec![len_request("s"), undecodable],
                none,
                Code::Internal,
            ),
            (
                "gzip",
                vec![len_request("s")],
                &[("grpc-encoding", "gzip")],
                Code::Unimplemented,
            ),
            (
                "identity",
                vec![len_request("s")],
                &[("grpc-encoding", "identity")],
                Code::Ok,
            ),
        ];
        for (name, parts, headers, code) in cases {
            let direct = seen(direct_len(request_with(&parts, headers, false), 13).await).await;
            let tonic = seen(tonic_len(request_with(&parts, headers, false), 13).await).await;
            assert_eq!(direct, tonic, "{name}");
            assert_eq!(status_of(&direct).code(), code, "{name}: {direct:?}");
            assert!(
                !direct.headers.contains_key("grpc-message-type"),
                "{name}: a reserved header from the handler's metadata"
            );
        }
    }

    #[tokio::test]
    async fn a_reply_is_one_data_frame_then_ok_trailers() {
        let mut call = request(&[len_request("abc")]);
        call.extensions_mut().insert(10u32);
        let seen = seen(direct_len(call, 1024).await).await;
        assert_eq!(seen.headers["content-type"], "application/grpc");
        assert_eq!(seen.data, framed(&v1::LenResponse { length: 13 }));
        let trailers = seen.trailers.expect("trailers");
        assert_eq!(trailers.len(), 1);
        assert_eq!(trailers["grpc-status"], "0");
    }

    #[tokio::test]
    async fn a_refusal_does_not_wait_for_the_end_of_the_body() {
        for parts in [
            vec![Part::Data(vec![0, 0, 0, 4, 1])],
            vec![Part::Data(vec![0, 0, 0, 0, 2, 0x0a, 0x05])],
            vec![Part::Data(vec![7, 0, 0, 0, 0])],
        ] {
            let answered = direct_len(request_with(&parts, &[], true), 1024).now_or_never();
            let response = answered.expect("refused before the body ends");
            assert!(Status::from_header_map(response.headers()).is_some());
        }
        // A good message waits: its trailers may yet come.
        let waiting = direct_len(request_with(&[len_request("s")], &[], true), 1024).now_or_never();
        assert!(waiting.is_none());
    }

    #[tokio::test]
    async fn on_purpose_unlike_tonic() {
        // A reply over the limit: a trailers-only refusal, which the server's layers see and
        // rewrite to RESOURCE_EXHAUSTED (tonic sends it in trailers, after headers of success).
        // A request of 2 bytes (field 1, empty), a reply of 3 (a two-byte varint), limit 2.
        let mut call = request(&[len_request("")]);
        call.extensions_mut().insert(1000u32);
        let response = direct_len(call, 2).await;
        let status = Status::from_header_map(response.headers()).expect("trailers-only");
        assert_eq!(status.code(), Code::OutOfRange);
        assert_eq!(
            status.message(),
            "Error, encoded message length too large: found 3 bytes, the limit is: 2 bytes"
        );
        let rewritten = crate::server::status::oversized_request_as_resource_exhausted(response);
        let status = Status::from_header_map(rewritten.headers()).expect("trailers-only");
        assert_eq!(status.code(), Code::ResourceExhausted);

        // A body reset by the client: its status, and no handler run.
        let message = Frame::data(Bytes::from(framed(&v1::LenRequest {
            key: Some(v1::len_request::Key::Stream("s".into())),
        })));
        let frames = [Ok(message), Err(Status::cancelled("reset"))];
        let body = tonic::body::Body::new(Frames {
            frames: frames.into(),
            open: false,
        });
        let response = unary(
            http::Request::new(body),
            1024,
            |_: tonic::Request<v1::LenRequest>| async {
                panic!("the handler runs for a cancelled request");
                #[allow(unreachable_code)]
                Ok(tonic::Response::new(v1::LenResponse::default()))
            },
        )
        .await;
        let status = Status::from_header_map(response.headers()).expect("trailers-only");
        assert_eq!(status.code(), Code::Cancelled);
    }

    #[tokio::test]
    async fn every_unary_method_is_answered_here_and_the_rest_goes_on() {
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
                    let mut call = request(&[]);
                    *call.uri_mut() = path.parse().expect("a path");
                    assert_eq!(direct.route(call).is_ok(), is_unary, "{path}");
                }
            }
        }
        assert_eq!(unary, 27, "the services' unary methods");

        // Through the service: Len reaches Len's handler (which refuses a request naming no
        // stream, in its words); the health check reaches the router.
        let router = tower::service_fn(|_: HttpRequest| async {
            let mut response = http::Response::new(tonic::body::Body::empty());
            response
                .headers_mut()
                .insert("x-router", HeaderValue::from_static("yes"));
            Ok::<_, Infallible>(response)
        });
        let mut service = tower::Layer::layer(&direct, router);
        let mut len = request(&[Part::Data(framed(&v1::LenRequest { key: None }))]);
        *len.uri_mut() = "/sluice.v1.Streams/Len".parse().expect("a path");
        len.extensions_mut()
            .insert(crate::server::access::Principal::Anyone);
        let answered = service.call(len).await.expect("infallible");
        let status = Status::from_header_map(answered.headers()).expect("a refusal");
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status.message().contains("stream name is required"),
            "{status:?}"
        );
        let mut check = request(&[]);
        *check.uri_mut() = "/grpc.health.v1.Health/Check".parse().expect("a path");
        let passed = service.call(check).await.expect("infallible");
        assert_eq!(passed.headers()["x-router"], "yes");
    }
}
