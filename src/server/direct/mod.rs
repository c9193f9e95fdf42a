//! Unary calls served directly: the request's one message read from the HTTP/2 body and
//! decoded, the handler called, its reply written as one data frame and the trailers.
//!
//! tonic's generated server does the same through layers made for streams of messages: a
//! router that boxes the request body and the response body again at each of its levels, a
//! streaming decoder and a streaming encoder, each with its own 8 KiB buffer, for a call that
//! carries exactly one message each way. [`Direct`] is a layer in front of that router: a
//! unary method of the Streams or Groups service (the table in [`Direct::route`]) is
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
//!
//! `frame` reads the request's messages from the body and writes the reply's; `tests` sends
//! the same requests through this path and tonic's and compares what a client sees.

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, Either, FutureExt};
use tonic::codegen::http::{self, header, HeaderMap, HeaderName, HeaderValue};
use tonic::Status;

use super::around::{HttpRequest, HttpResponse};
use crate::proto::v1::groups_server::Groups;
use crate::proto::v1::streams_server::Streams;
use crate::server::groups::GroupsService;
use crate::server::streams::StreamsService;
use frame::{encode, read_message, reply_body, GRPC_STATUS};

mod frame;
#[cfg(test)]
mod tests;

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
    let mut response = http::Response::new(reply_body(data));
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
