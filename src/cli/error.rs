//! What ends a client run with a non-zero exit code.
//!
//! Error *replies* are not here: like `redis-cli`, the client prints them as `(error) ...` and
//! carries on (exit code 0). These are the failures around the replies: no server to talk to,
//! a broken terminal, a tail that stopped.

use std::error::Error as _;
use std::io;

/// A failure of the client itself, printed on stderr by `main`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The server could not be reached, or the connection broke (redis-cli's wording).
    #[error("Could not connect to Sluice at {address}: {reason}")]
    Connection {
        /// The address as the user gave it.
        address: String,
        /// Why, as the operating system or the transport put it.
        reason: String,
    },
    /// The server refused a tail, or failed during one.
    #[error("(error) {0}")]
    Server(String),
    /// The server ended a tail (it shut down, most likely).
    #[error("the server at {0} ended the tail")]
    TailEnded(String),
    /// Arguments that cannot be sent (the API takes some of them as UTF-8 text).
    #[error("{0}")]
    Usage(String),
    /// Reading commands or printing replies failed.
    #[error("I/O error on the terminal: {0}")]
    Terminal(#[from] io::Error),
}

impl CliError {
    /// A connection failure at `address` caused by `error`, described by its innermost cause
    /// ("Connection refused", as redis-cli says, rather than tonic's layers of context).
    pub fn connection(address: &str, error: &(dyn std::error::Error + 'static)) -> CliError {
        CliError::Connection {
            address: address.to_owned(),
            reason: innermost_reason(error),
        }
    }
}

/// The operating system's description when an I/O error is in the chain (without Rust's
/// "(os error N)" suffix), else the innermost error's text.
fn innermost_reason(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    loop {
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            let text = io_error.to_string();
            return match text.find(" (os error ") {
                Some(suffix) => text[..suffix].to_owned(),
                None => text,
            };
        }
        match current.source() {
            Some(next) => current = next,
            None => return current.to_string(),
        }
    }
}

/// Whether a failed call's status came from the transport (no answer from the server) rather
/// than from the server itself. Tonic attaches the underlying error as the source of the
/// statuses it makes up; statuses decoded from the server's response have none.
pub fn is_transport_failure(status: &tonic::Status) -> bool {
    status.source().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("transport error")]
    struct Outer(#[source] io::Error);

    #[test]
    fn reasons_come_from_the_operating_system() {
        let refused = Outer(io::Error::from_raw_os_error(libc::ECONNREFUSED));
        let error = CliError::connection("127.0.0.1:1", &refused);
        assert_eq!(
            error.to_string(),
            "Could not connect to Sluice at 127.0.0.1:1: Connection refused"
        );
        let plain = io::Error::other("no route");
        assert_eq!(innermost_reason(&plain), "no route");
    }

    #[test]
    fn server_statuses_are_not_transport_failures() {
        assert!(!is_transport_failure(&tonic::Status::not_found(
            "ERR no such key"
        )));
        let mut status = tonic::Status::unavailable("tcp connect error");
        status.set_source(std::sync::Arc::new(io::Error::other("refused")));
        assert!(is_transport_failure(&status));
    }
}
