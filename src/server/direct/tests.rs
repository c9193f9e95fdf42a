use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http_body::{Body as _, Frame};
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
    let limits = Limits::sample();
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
