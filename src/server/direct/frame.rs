//! gRPC messages on an HTTP/2 body, for a unary call: the request's read and split into its
//! messages ([`read_message`]), the reply's written with its prefix ([`encode`]) and sent as
//! one data frame and the trailers of success ([`reply_body`]). The refusals are tonic's,
//! status and text.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http_body::{Body as _, Frame};
use tonic::codegen::http::{HeaderMap, HeaderName, HeaderValue};
use tonic::Status;

/// A gRPC message's prefix: the compressed flag (one byte) and the length (four, big-endian).
const PREFIX_BYTES: usize = 5;
/// `grpc-status`, named once: a header looked up by text is parsed at every call.
pub(super) const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
/// The request's first message, decoded as soon as all of it is here, and the trailers that
/// ended the body, if any. As tonic does, the body is then read to its end and every further
/// message framed and decoded too, then dropped: a bad one refuses the call, as do bytes left
/// over at the end. A message longer than `message_bytes_max` is refused as soon as its
/// prefix is read. A body that fails (the client reset the stream) refuses the call with its
/// status, where tonic would take a cancellation for the end of the body and might still run
/// the handler.
pub(super) async fn read_message<Req: prost::Message + Default>(
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
pub(super) fn encode(
    reply: &impl prost::Message,
    message_bytes_max: usize,
) -> Result<Bytes, Status> {
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

/// A successful unary reply's body: `data` (a message with its prefix, from [`encode`]) as
/// one data frame, then the trailers `grpc-status: 0`.
pub(super) fn reply_body(data: Bytes) -> tonic::body::Body {
    tonic::body::Body::new(ReplyBody {
        data: Some(data),
        done: false,
    })
}

/// [`reply_body`]'s body.
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
