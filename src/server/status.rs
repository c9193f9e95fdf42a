//! The one place failures become gRPC statuses.
//!
//! A handler fails with a [`RequestError`]: either an engine [`Error`] or a refusal of the
//! server's own (a malformed request, a configured limit, shutdown). [`status`] picks the code;
//! the message is always the error's `Display` text, which for everything Redis also refuses is
//! Redis's exact text, so a Redis user recognises it.
//!
//! | code | errors |
//! |---|---|
//! | INVALID_ARGUMENT | malformed IDs, XADD `0-0`, an entry without fields, option and syntax errors (the command layer's), a missing stream, group or consumer name, a group policy or retention policy that cannot work, a Consume call without its start |
//! | FAILED_PRECONDITION | ID ordering rules: XADD at or below the top item, IDs exhausted, the XSETID checks; a nack or renewal of an entry the consumer does not hold |
//! | NOT_FOUND | `ERR no such key` (XSETID, XINFO); NOGROUP; XGROUP on a missing stream; a blocked read or Tail whose stream was dropped (`UNBLOCKED …`) |
//! | ALREADY_EXISTS | BUSYGROUP |
//! | RESOURCE_EXHAUSTED | every configured limit: entry, batch, name and message sizes, COUNT, blocked readers, Tail subscribers, streaming consumers |
//! | ABORTED | a stream dropped under a running operation (retry) |
//! | UNAVAILABLE | a stream poisoned by an earlier I/O failure; the server shutting down |
//! | INTERNAL | I/O failures, corrupt data, anything that should not happen |

use tonic::codegen::http::{self, HeaderValue};
use tonic::{Code, Status};

use crate::command::CommandError;
use crate::error::Error;
use crate::id::IdError;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The engine refused or failed.
    #[error(transparent)]
    Engine(#[from] Error),
    /// An argument Redis refuses before it runs a command (the same checks, the same texts
    /// as the command layer's).
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The authenticated user lacks a permission on a stream the request names.
    #[error("NOPERM user {user} has no {permission} permission on stream '{stream}'")]
    PermissionDenied {
        /// The user.
        user: String,
        /// What it lacks.
        permission: crate::server::users::Permission,
        /// On which stream.
        stream: String,
    },
    /// The request names no stream, group or consumer where it needs one.
    #[error("ERR {0} name is required: set {0} or {0}_bytes")]
    MissingName(&'static str),
    /// Add with both the single-entry fields and a batch.
    #[error("ERR use either id and fields (one entry) or entries (a batch), not both")]
    SingleAndBatch,
    /// An Add whose trim sets neither MAXLEN nor MINID.
    #[error("ERR syntax error, a trim must set maxlen or minid")]
    AddTrimWithoutStrategy,
    /// Info with COUNT but not FULL.
    #[error("ERR syntax error, COUNT can only be used with FULL")]
    CountWithoutFull,
    /// COUNT above `count_max`.
    #[error("ERR COUNT {count} exceeds the limit of {max} (count_max)")]
    CountTooLarge {
        /// The COUNT asked for.
        count: u64,
        /// The configured limit.
        max: usize,
    },
    /// A read without COUNT matching more than `count_max` entries.
    #[error("ERR more than {max} entries match (count_max); use COUNT to read them in pages")]
    TooManyEntries {
        /// The configured limit.
        max: usize,
    },
    /// An Add batch longer than `batch_entries_max`.
    #[error("ERR batch of {count} entries exceeds the limit of {max} (batch_entries_max)")]
    BatchTooLong {
        /// Entries in the batch.
        count: usize,
        /// The configured limit.
        max: usize,
    },
    /// A List reply larger than `message_bytes_max`.
    #[error("ERR reply exceeds the limit of {max} bytes; use a narrower pattern")]
    ListTooLarge {
        /// The configured limit.
        max: usize,
    },
    /// A blocking Read beyond `blocked_readers_max`.
    #[error(
        "ERR {max} Read calls are already blocked (blocked_readers_max); retry later or without block_ms"
    )]
    BlockedReadersFull {
        /// The configured limit.
        max: usize,
    },
    /// A streaming consumer beyond `consumers_max`.
    #[error("ERR {max} streaming consumers are already open (consumers_max)")]
    ConsumersFull {
        /// The configured limit.
        max: usize,
    },
    /// A Consume call whose first message is not a start.
    #[error("ERR a Consume call begins with one start message, then sends ack, nack or renew")]
    ConsumeWithoutStart,
    /// A Tail beyond `tail_subscribers_max`.
    #[error("ERR {max} Tail subscriptions are already open (tail_subscribers_max)")]
    TailSubscribersFull {
        /// The configured limit.
        max: usize,
    },
    /// The server is shutting down; a blocked call is released with this.
    #[error("ERR the server is shutting down")]
    ShuttingDown,
    /// An engine call on the blocking pool panicked or was cancelled.
    #[error("ERR internal error: {0}")]
    Task(String),
}

impl From<IdError> for RequestError {
    fn from(error: IdError) -> RequestError {
        RequestError::Engine(Error::Id(error))
    }
}

impl From<RequestError> for Status {
    fn from(error: RequestError) -> Status {
        status(error)
    }
}

/// The gRPC status for a failed request.
pub fn status(error: RequestError) -> Status {
    let code = code(&error);
    let message = error.to_string();
    let storage_fault = matches!(error, RequestError::Engine(Error::Poisoned(_)));
    if code == Code::Internal || storage_fault {
        // Storage faults are the operator's business, not only the caller's.
        tracing::error!(code = ?code, "{message}");
    }
    Status::new(code, message)
}

fn code(error: &RequestError) -> Code {
    match error {
        RequestError::Engine(error) => engine_code(error),
        // Every command error is an argument refused before anything ran.
        RequestError::Command(_)
        | RequestError::MissingName(_)
        | RequestError::SingleAndBatch
        | RequestError::AddTrimWithoutStrategy
        | RequestError::ConsumeWithoutStart
        | RequestError::CountWithoutFull => Code::InvalidArgument,
        RequestError::CountTooLarge { .. }
        | RequestError::TooManyEntries { .. }
        | RequestError::BatchTooLong { .. }
        | RequestError::ListTooLarge { .. }
        | RequestError::BlockedReadersFull { .. }
        | RequestError::TailSubscribersFull { .. }
        | RequestError::ConsumersFull { .. } => Code::ResourceExhausted,
        RequestError::ShuttingDown => Code::Unavailable,
        RequestError::PermissionDenied { .. } => Code::PermissionDenied,
        RequestError::Task(_) => Code::Internal,
    }
}

/// Every engine error's code; exhaustive, so a new variant must be placed here.
fn engine_code(error: &Error) -> Code {
    match error {
        Error::Id(_) | Error::AddIdZero | Error::EmptyEntry => Code::InvalidArgument,
        Error::AddIdTooSmall
        | Error::IdExhausted
        | Error::SetIdTooSmall
        | Error::SetIdEntriesAddedTooSmall
        | Error::SetIdBelowMaxDeleted => Code::FailedPrecondition,
        Error::NoSuchKey
        | Error::NoGroup { .. }
        | Error::NoGroupToRead { .. }
        | Error::NoGroupForKey { .. }
        | Error::GroupGone
        | Error::StreamGone
        | Error::GroupNeedsStream => Code::NotFound,
        Error::BusyGroup => Code::AlreadyExists,
        Error::NotPending(_) => Code::FailedPrecondition,
        Error::BadPolicy(_) | Error::BadRetention(_) => Code::InvalidArgument,
        Error::EntryTooLarge { .. }
        | Error::BatchTooLarge { .. }
        | Error::NameTooLong { .. }
        | Error::GroupNameTooLong { .. }
        | Error::ReplyTooLarge { .. } => Code::ResourceExhausted,
        Error::Dropped => Code::Aborted,
        Error::Poisoned(_) => Code::Unavailable,
        // Locked and Config only arise when the engine opens; on a request path they would
        // be a bug.
        Error::Io(_) | Error::Corrupt { .. } | Error::Locked(_) | Error::Config(_) => {
            Code::Internal
        }
    }
}

/// tonic, and `direct` with tonic's texts, refuse a request or a reply larger than
/// `message_bytes_max` with OUT_OF_RANGE; gRPC's status table and this API's contract call a
/// configured limit RESOURCE_EXHAUSTED. Such a refusal travels as a trailers-only response
/// (the status in the headers), and no other refusal of the server is OUT_OF_RANGE, so this
/// rewrites exactly that header and keeps the message. (A reply over the limit on tonic's own
/// path, a stream's, sends its OUT_OF_RANGE in trailers, which this does not see; handlers
/// check their replies' size first, see `limits`.)
pub fn oversized_request_as_resource_exhausted<B>(
    mut response: http::Response<B>,
) -> http::Response<B> {
    let headers = response.headers_mut();
    let code = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<i32>().ok());
    if code == Some(Code::OutOfRange as i32) {
        headers.insert(
            "grpc-status",
            HeaderValue::from(Code::ResourceExhausted as i32),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_redis_texts() {
        let cases: Vec<(RequestError, Code, &str)> = vec![
            (
                IdError::Invalid.into(),
                Code::InvalidArgument,
                "ERR Invalid stream ID specified as stream command argument",
            ),
            (
                Error::AddIdZero.into(),
                Code::InvalidArgument,
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                Error::AddIdTooSmall.into(),
                Code::FailedPrecondition,
                "ERR The ID specified in XADD is equal or smaller than the target stream top item",
            ),
            (Error::NoSuchKey.into(), Code::NotFound, "ERR no such key"),
            (
                CommandError::WrongArity("xdel").into(),
                Code::InvalidArgument,
                "ERR wrong number of arguments for 'xdel' command",
            ),
            (
                Error::Poisoned("disk".into()).into(),
                Code::Unavailable,
                "ERR stream is unavailable after an I/O failure; restart the server to recover: disk",
            ),
        ];
        for (error, expected_code, expected_message) in cases {
            let status = status(error);
            assert_eq!(status.code(), expected_code);
            assert_eq!(status.message(), expected_message);
        }
    }

    #[test]
    fn only_out_of_range_headers_are_rewritten() {
        let response = |code: &'static str| {
            let mut response = http::Response::new(());
            response
                .headers_mut()
                .insert("grpc-status", HeaderValue::from_static(code));
            oversized_request_as_resource_exhausted(response)
        };
        assert_eq!(response("11").headers()["grpc-status"], "8");
        assert_eq!(response("3").headers()["grpc-status"], "3");
        let plain = oversized_request_as_resource_exhausted(http::Response::new(()));
        assert!(plain.headers().get("grpc-status").is_none());
    }
}
