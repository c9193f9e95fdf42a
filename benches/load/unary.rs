//! A gRPC client for unary calls that sends each call in one write, as the common gRPC
//! clients do.
//!
//! Why not tonic's client: hyper sends a tonic request as HEADERS, then DATA, then an empty
//! DATA carrying END_STREAM. It queues the DATA only once h2 has given the new stream send
//! capacity, which it does when the connection task opens the stream, after that task has
//! written the HEADERS; and tonic's body learns it has ended only when polled again after its
//! message. So every call leaves in three `writev`s (`strace -f -e trace=writev` of the load
//! generator during `add-batch`: 33, 1,758 and 9 bytes a call). Python's grpcio (the C core)
//! sends the same unary call in one `sendmsg`, and a Redis client writes a command once.
//!
//! The extra writes cost both ends: each write on loopback runs the TCP receive path too, and a
//! server that finds several small segments waiting acknowledges them at once when it reads
//! (Linux's `tcp_cleanup_rbuf`), a packet of its own that its reply would otherwise carry:
//! with each request in two writes, `perf record -g` of the server during `ping` put 15 % of
//! its samples under `tcp_recvmsg` sending that acknowledgement. A load generator that spends
//! the shared cores on its own frames measures itself.
//!
//! [`Unary::call`] uses h2 directly: it queues the HEADERS and the whole framed message with
//! END_STREAM before the connection task runs, so both normally go out in one write. (Not
//! when that task is already running on the other worker thread, as it may be on a connection
//! clients share, or when the server's limit of concurrent streams holds the new stream back:
//! then the HEADERS may leave first.) Replies are read as tonic reads them: HEADERS, the
//! message, then trailers (or trailers only, for an error), with `grpc-status` turned into a
//! [`Status`]. The flow-control windows are hyper's client defaults, tonic's: 2 MiB a stream,
//! 5 MiB the connection.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use h2::client::SendRequest;
use http::header::{HeaderValue, CONTENT_TYPE, TE};
use http::uri::Authority;
use http::{HeaderMap, Request, Uri};
use prost::Message;
use tonic::Status;

/// How long connecting may take: this client's connections, and every other the load
/// generator opens.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes before a gRPC message: the compression flag and the length.
const MESSAGE_PREFIX_BYTES: usize = 5;
/// A stream's receive window: hyper's client default.
const STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
/// The connection's receive window: hyper's client default.
const CONNECTION_WINDOW_BYTES: u32 = 5 * 1024 * 1024;

/// One HTTP/2 connection for unary gRPC calls; clones share it. Calls have no deadline (a
/// server that never answers holds its caller, as tonic's client without a timeout does) and
/// are not compressed.
#[derive(Clone)]
pub struct Unary {
    sender: SendRequest<Bytes>,
    authority: Authority,
    headers: HeaderMap,
}

/// A method of the server a [`Unary`] connection reaches.
#[derive(Clone)]
pub struct RpcMethod {
    uri: Uri,
}

impl RpcMethod {
    /// Method `path` (`/package.Service/Method`) of `unary`'s server.
    pub fn new(unary: &Unary, path: &'static str) -> RpcMethod {
        let uri = Uri::builder()
            .scheme("http")
            .authority(unary.authority.clone())
            .path_and_query(path)
            .build()
            .unwrap_or_else(|error| panic!("{path} is not a method path: {error}"));
        RpcMethod { uri }
    }

    /// A call of this method with `request`, framed once, to be made any number of times.
    pub fn call(&self, request: &impl Message) -> Call {
        Call {
            uri: self.uri.clone(),
            framed: frame(request),
        }
    }
}

/// A method and its request, framed as a gRPC message.
pub struct Call {
    uri: Uri,
    framed: Bytes,
}

/// `message` as one gRPC message: uncompressed, its length, its bytes.
fn frame(message: &impl Message) -> Bytes {
    let length = message.encoded_len();
    let mut framed = BytesMut::with_capacity(MESSAGE_PREFIX_BYTES + length);
    framed.put_u8(0);
    framed.put_u32(length as u32);
    message
        .encode(&mut framed)
        .unwrap_or_else(|_| unreachable!("the buffer was sized for the message"));
    framed.freeze()
}

/// A call's failure below gRPC (the connection, HTTP/2) as a status.
fn transport(error: h2::Error) -> Status {
    Status::unavailable(format!("HTTP/2: {error}"))
}

impl Unary {
    /// Connects to `address` over a TCP connection of its own, with Nagle's algorithm off.
    pub async fn connect(address: SocketAddr) -> Result<Unary, String> {
        let connect = tokio::net::TcpStream::connect(address);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| format!("connecting to sluice at {address} timed out"))?
            .map_err(|error| format!("cannot connect to sluice at {address}: {error}"))?;
        tcp.set_nodelay(true)
            .map_err(|error| format!("cannot set TCP_NODELAY: {error}"))?;
        let (sender, connection) = h2::client::Builder::new()
            .initial_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .handshake(tcp)
            .await
            .map_err(|error| format!("HTTP/2 handshake with {address} failed: {error}"))?;
        tokio::spawn(async move {
            // Ends when the connection closes; a call on it then fails and says why.
            let _ = connection.await;
        });
        let authority = Authority::try_from(address.to_string())
            .map_err(|error| format!("{address} is not an authority: {error}"))?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(TE, HeaderValue::from_static("trailers"));
        Ok(Unary {
            sender,
            authority,
            headers,
        })
    }

    /// Makes `call` and decodes its reply as `Reply`. The server's `grpc-status` comes back as
    /// the call's status; a reply without one as INTERNAL (or UNKNOWN, naming the HTTP status,
    /// if that was not 200); a failure of the connection or of HTTP/2 as UNAVAILABLE.
    pub async fn call<Reply: Message + Default>(&mut self, call: &Call) -> Result<Reply, Status> {
        poll_fn(|cx| self.sender.poll_ready(cx))
            .await
            .map_err(transport)?;
        let mut request = Request::new(());
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = call.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let (response, mut body) = self
            .sender
            .send_request(request, false)
            .map_err(transport)?;
        // Queued before the connection task runs, so it normally leaves with the HEADERS.
        body.send_data(call.framed.clone(), true)
            .map_err(transport)?;
        let (head, mut reply) = response.await.map_err(transport)?.into_parts();
        if let Some(status) = Status::from_header_map(&head.headers) {
            // Trailers only: the call failed, or ended with no message, which a unary call
            // must not.
            return Err(match status.code() {
                tonic::Code::Ok => Status::internal("a unary reply without a message"),
                _ => status,
            });
        }
        if head.status != http::StatusCode::OK {
            return Err(Status::unknown(format!("HTTP status {}", head.status)));
        }
        // A reply up to a frame's size (16 KiB) comes as one chunk and is kept as it is; a
        // larger one is joined.
        let mut message = Bytes::new();
        let mut joined = BytesMut::new();
        while let Some(chunk) = reply.data().await {
            let chunk = chunk.map_err(transport)?;
            let _ = reply.flow_control().release_capacity(chunk.len());
            if message.is_empty() && joined.is_empty() {
                message = chunk;
            } else {
                if joined.is_empty() {
                    joined.extend_from_slice(&message);
                }
                joined.extend_from_slice(&chunk);
            }
        }
        if !joined.is_empty() {
            message = joined.freeze();
        }
        let trailers = reply.trailers().await.map_err(transport)?;
        let trailers = trailers.unwrap_or_default();
        // Success, the common case, read without building a status.
        if trailers.get("grpc-status").is_some_and(|code| code == "0") {
            return decode(message);
        }
        Err(Status::from_header_map(&trailers)
            .unwrap_or_else(|| Status::internal("a reply without grpc-status")))
    }
}

/// The message of a reply's body: one uncompressed gRPC message.
fn decode<Reply: Message + Default>(body: Bytes) -> Result<Reply, Status> {
    let Some((prefix, message)) = body.split_at_checked(MESSAGE_PREFIX_BYTES) else {
        return Err(Status::internal(format!(
            "a reply body of {} bytes",
            body.len()
        )));
    };
    let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if prefix[0] != 0 || length != message.len() {
        return Err(Status::internal(format!(
            "a reply framed as flag {}, {length} bytes, with {} bytes",
            prefix[0],
            message.len()
        )));
    }
    Reply::decode(message).map_err(|error| Status::internal(format!("undecodable reply: {error}")))
}
