//! One RESP client: read requests, run them in order, send the replies in order.
//!
//! The loop reads what the socket has, runs every complete request in it one after another,
//! then sends their replies together. A write's reply may wait for its sync: it is queued as
//! a [`Queued::Durable`] and awaited only when the replies are sent, so the commands after it
//! run first (they see its effect: it is applied, only not yet durable) and one sync covers
//! the whole pipeline. Replies are sent strictly in request order, and none before the writes
//! ahead of it are durable.
//!
//! Under fsync `always` readers see only durable data, so a command other than a write is
//! run only once the writes queued before it are durable: within one connection a read after
//! a write sees it.
//!
//! MULTI queues requests (refusing unknown commands and wrong arities at once, as Redis does,
//! and then the whole EXEC); EXEC runs them holding the server's gate alone, so no other RESP
//! client's command runs between them. A blocking read inside EXEC does not block.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::socket::Socket;
use crate::engine::Durable;
use crate::reply::{self, Reply};
use crate::server::access::Principal;
use crate::server::resp::clients::Client;
use crate::server::resp::encode::{encode, Protocol};
use crate::server::resp::frame::RequestParser;
use crate::server::resp::Shared;

/// Replies queued before they are sent even if more requests are waiting: bounds the memory
/// one deep pipeline holds.
const QUEUED_REPLIES_MAX: usize = 1024;
/// Bytes of replies encoded before they are written out.
const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;
/// Room the input buffer gets before each read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// A reply, ready or waiting for its write to become durable.
pub(super) enum Queued {
    /// Ready to send.
    Reply(Reply),
    /// Sent once the write is durable; an error reply if the sync failed.
    Durable(Durable<Reply>),
}

impl From<Reply> for Queued {
    fn from(reply: Reply) -> Queued {
        Queued::Reply(reply)
    }
}

impl Queued {
    /// The reply, once durable.
    pub(super) async fn settle(self) -> Reply {
        match self {
            Queued::Reply(reply) => reply,
            Queued::Durable(durable) => durable
                .await
                .unwrap_or_else(|error| Reply::Error(error.to_string())),
        }
    }
}

/// Whether `name` is a write whose reply waits in the queue for its sync (XADD, XACK).
///
/// Readers see only durable data under `always` (see `storage::log`), so before any other
/// command runs, the writes queued ahead of it are awaited: a read after a write sees it,
/// while a run of writes (the usual pipeline) still shares one sync.
fn is_deferred_write(name: &str) -> bool {
    matches!(name, "xadd" | "xack")
}

/// Waits until a queued write is durable, keeping its reply queued.
async fn settle_one(queued: &mut Queued) {
    if let Queued::Durable(_) = queued {
        let durable = std::mem::replace(queued, Reply::Nil.into());
        *queued = durable.settle().await.into();
    }
}

/// A queued reply with what INFO counts it under.
struct Pending {
    queued: Queued,
    /// The command, if Sluice knows it.
    name: Option<&'static str>,
    started: Instant,
}

/// MULTI's state: the requests queued so far, and whether one was refused.
struct Multi {
    queued: Vec<Vec<Vec<u8>>>,
    refused: bool,
}

/// Redis's reply to a command before authentication.
pub(super) const NOAUTH: &str = "NOAUTH Authentication required.";

/// Why the connection ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum End {
    /// QUIT, or a protocol error: close once the replies so far are sent.
    AfterReplies,
}

/// One client's connection.
pub(super) struct Connection {
    pub(super) shared: Arc<Shared>,
    pub(super) socket: Socket,
    pub(super) input: BytesMut,
    parser: RequestParser,
    queue: Vec<Pending>,
    /// How many replies at the head of `queue` are known ready (no write left to await).
    settled: usize,
    out: Vec<u8>,
    pub(super) client: Arc<Client>,
    pub(super) protocol: Protocol,
    multi: Option<Multi>,
    /// Set by EXEC while it runs its queue: blocking reads do not block.
    pub(super) in_exec: bool,
    pub(super) end: Option<End>,
    /// The client closed its side (seen while waiting in a blocking read).
    pub(super) peer_closed: bool,
    /// The user this connection authenticated as (with `--users`).
    pub(super) user: Option<String>,
}

impl Connection {
    /// A new connection from `peer`, registered with the server's clients.
    pub(super) fn new(shared: Arc<Shared>, socket: Socket, peer: SocketAddr) -> Connection {
        let client = shared.clients.register(peer);
        Connection {
            parser: RequestParser::new(shared.resp.request_bytes_max),
            shared,
            socket,
            input: BytesMut::with_capacity(READ_CHUNK_BYTES),
            queue: Vec::new(),
            settled: 0,
            out: Vec::new(),
            client,
            protocol: Protocol::Resp2,
            multi: None,
            in_exec: false,
            end: None,
            peer_closed: false,
            user: None,
        }
    }

    /// Serves the client until it disconnects, QUITs, breaks the protocol, or the server
    /// shuts down.
    pub(super) async fn run(mut self) {
        if let Err(error) = self.serve().await {
            tracing::debug!(client = self.client.id, "resp: connection ended: {error}");
        }
        self.shared.clients.remove(self.client.id);
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        let shutdown = self.shared.shutdown.clone();
        loop {
            while self.end.is_none() && !self.peer_closed {
                match self.parser.next(&mut self.input) {
                    Ok(Some(arguments)) => {
                        let started = Instant::now();
                        let name = Self::known_name(&arguments[0]);
                        let queued = self.request(name, arguments, started).await;
                        self.queue.push(Pending {
                            queued,
                            name,
                            started,
                        });
                        if self.queue.len() >= QUEUED_REPLIES_MAX {
                            self.flush().await?;
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        self.queue.push(Pending {
                            queued: Reply::Error(error.to_string()).into(),
                            name: None,
                            started: Instant::now(),
                        });
                        self.end = Some(End::AfterReplies);
                    }
                }
            }
            self.flush().await?;
            if self.end.is_some() || self.peer_closed {
                return self.socket.shutdown().await;
            }
            self.input.reserve(READ_CHUNK_BYTES);
            let read = tokio::select! {
                () = shutdown.fired() => return self.socket.shutdown().await,
                read = self.socket.read_buf(&mut self.input) => read?,
            };
            if read == 0 {
                return Ok(());
            }
        }
    }

    /// Sends every queued reply, in order, each once its write is durable.
    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        self.settled = 0;
        for pending in std::mem::take(&mut self.queue) {
            let reply = pending.queued.settle().await;
            self.shared
                .stats
                .record(pending.name, pending.started.elapsed(), &reply);
            encode(&reply, self.protocol, &mut self.out);
            if self.out.len() >= OUTPUT_FLUSH_BYTES {
                self.socket.write_all(&self.out).await?;
                self.out.clear();
            }
        }
        if !self.out.is_empty() {
            self.socket.write_all(&self.out).await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Runs one request (or queues it inside MULTI), which arrived `at`.
    /// `known` is the command's name if Sluice knows it.
    async fn request(
        &mut self,
        known: Option<&'static str>,
        arguments: Vec<Vec<u8>>,
        at: Instant,
    ) -> Queued {
        let name = known.unwrap_or_default();
        self.client.ran(name, at);
        if self.principal().is_none() && !matches!(name, "auth" | "hello" | "quit" | "reset") {
            return Reply::error(NOAUTH).into();
        }
        if self.multi.is_some() && !matches!(name, "exec" | "discard" | "multi" | "quit" | "reset")
        {
            return self.queue_in_multi(arguments).into();
        }
        if !is_deferred_write(name) {
            for pending in &mut self.queue[self.settled..] {
                settle_one(&mut pending.queued).await;
            }
            self.settled = self.queue.len();
        }
        if matches!(name, "multi" | "exec" | "discard") {
            if let Some(error) = Self::refusal_in_multi(&arguments) {
                return error.into_reply().into();
            }
        }
        match name {
            "multi" => self.begin_multi().into(),
            "exec" => self.exec().await,
            "discard" => self.discard().into(),
            _ => self.run_command(name, arguments).await,
        }
    }

    fn begin_multi(&mut self) -> Reply {
        if self.multi.is_some() {
            return Reply::error("ERR MULTI calls can not be nested");
        }
        self.multi = Some(Multi {
            queued: Vec::new(),
            refused: false,
        });
        self.client.set_state(self.protocol_number(), true);
        reply::ok()
    }

    fn discard(&mut self) -> Reply {
        if self.multi.take().is_none() {
            return Reply::error("ERR DISCARD without MULTI");
        }
        self.client.set_state(self.protocol_number(), false);
        reply::ok()
    }

    /// Inside MULTI: an unknown command or a wrong arity is refused now and dooms the EXEC;
    /// anything else is queued and checked when it runs, as Redis does.
    fn queue_in_multi(&mut self, arguments: Vec<Vec<u8>>) -> Reply {
        let refused = Self::refusal_in_multi(&arguments);
        let Some(multi) = self.multi.as_mut() else {
            return Reply::error("ERR internal error: no MULTI");
        };
        if let Some(error) = refused {
            multi.refused = true;
            return error.into_reply();
        }
        multi.queued.push(arguments);
        Reply::Status("QUEUED".to_owned())
    }

    /// EXEC: the queued requests back to back, no other RESP client's command between them.
    async fn exec(&mut self) -> Queued {
        let Some(multi) = self.multi.take() else {
            return Reply::error("ERR EXEC without MULTI").into();
        };
        self.client.set_state(self.protocol_number(), false);
        if multi.refused {
            return Reply::error("EXECABORT Transaction discarded because of previous errors.")
                .into();
        }
        let shared = Arc::clone(&self.shared);
        let guard = shared.gate.exclusive().await;
        self.in_exec = true;
        let mut results = Vec::with_capacity(multi.queued.len());
        for arguments in multi.queued {
            let name = Self::known_name(&arguments[0]).unwrap_or_default();
            if !is_deferred_write(name) {
                for queued in &mut results {
                    settle_one(queued).await;
                }
            }
            results.push(Box::pin(self.run_command(name, arguments)).await);
        }
        self.in_exec = false;
        drop(guard);
        let mut replies = Vec::with_capacity(results.len());
        for queued in results {
            replies.push(queued.settle().await);
        }
        Reply::Array(replies).into()
    }

    /// RESET: out of MULTI, back to RESP2, no name.
    pub(super) fn reset(&mut self) {
        self.multi = None;
        self.user = None;
        self.protocol = Protocol::Resp2;
        self.client.set_name(Vec::new());
        self.client.set_state(2, false);
    }

    /// Who the connection's commands run as: anyone without `--users`; with it, the user
    /// it authenticated as, looked up in the users in force now (so a reload applies at
    /// once); `None` before authentication, or once the user is gone from the file.
    pub(super) fn principal(&self) -> Option<Principal> {
        let Some(users) = self.shared.users.get() else {
            return Some(Principal::Anyone);
        };
        users.user(self.user.as_deref()?).map(Principal::User)
    }

    /// Refuses a server-wide command (`name` as Redis names it, e.g. `config|set`) unless the
    /// connection's user holds admin on every stream; always allowed without `--users`.
    pub(super) fn require_admin(&self, name: &str) -> Result<(), crate::command::CommandError> {
        match self.principal() {
            Some(principal) if crate::server::access::admin_of_all(&principal) => Ok(()),
            _ => Err(crate::command::args::error_text(
                format!("NOPERM this user has no permissions to run the '{name}' command")
                    .as_bytes(),
            )),
        }
    }

    /// 2 or 3, for CLIENT LIST.
    pub(super) fn protocol_number(&self) -> u8 {
        match self.protocol {
            Protocol::Resp2 => 2,
            Protocol::Resp3 => 3,
        }
    }

    /// Takes the server's gate shared for one command (not inside EXEC, which holds it alone).
    pub(super) async fn gate(&self) -> Option<tokio::sync::RwLockReadGuard<'_, ()>> {
        if self.in_exec {
            None
        } else {
            Some(self.shared.gate.shared().await)
        }
    }
}
