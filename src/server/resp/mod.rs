//! The Redis-protocol front end: `sluice serve`'s second listener, so every Redis client
//! library and `redis-cli` work with Sluice unchanged.
//!
//! It speaks RESP2, and RESP3 after `HELLO 3`; takes multibulk and inline requests; and
//! answers pipelines of any depth in order. Stream and group commands go through the one
//! command layer ([`crate::command`]) and the one reply model ([`crate::reply`]) that the CLI
//! uses, against the same [`Engine`] as the gRPC services, so an entry added over one front end
//! is read over the other.
//!
//! Durability is the gRPC side's: a write's reply leaves only once the write is durable under
//! the fsync policy. A connection runs the commands of a pipeline one after another (so a read
//! sees the writes before it) and sends their replies together once every write among them
//! is durable, so a deep pipeline shares its syncs with every other connection's writes
//! (group commit) rather than paying one per command.
//!
//! Modules: `frame` (requests in), `encode` (replies out), `connection` (one client's loop,
//! MULTI/EXEC, pipelining), `execute` (stream and keyspace commands), `group` (consumer-group
//! commands), `block` (XREAD / XREADGROUP BLOCK), `admin` (HELLO, CLIENT and the other connection
//! commands), `introspect` (the command table, COMMAND, INFO, CONFIG), `clients` (the connected clients).

mod admin;
mod block;
mod clients;
mod connection;
mod encode;
mod execute;
pub mod frame;
mod group;
mod introspect;
mod socket;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::server::gate::Gate;
use crate::server::limits::Limits;
use crate::server::shutdown::Shutdown;

use socket::Socket;

pub use encode::Protocol;
pub use group::answer_group;

/// The RESP listener's own limits (the per-request ones are the server's [`Limits`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RespLimits {
    /// Most client connections at once; one more is told so and closed.
    pub clients_max: usize,
    /// Largest request (its arguments' bytes together), and largest single argument.
    pub request_bytes_max: usize,
}

/// What every connection shares.
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    pub(crate) limits: Limits,
    pub(crate) resp: RespLimits,
    pub(crate) shutdown: Shutdown,
    /// The permits of blocked reads, shared with the gRPC side's.
    pub(crate) blocked_readers: Arc<Semaphore>,
    pub(crate) clients: clients::Clients,
    /// MULTI/EXEC's isolation, shared with the gRPC services.
    pub(crate) gate: Gate,
    pub(crate) started: Instant,
    /// Where the listener listens.
    pub(crate) address: SocketAddr,
    /// INFO's command and error statistics.
    pub(crate) stats: stats::Stats,
    /// Users and permissions, if on (`--users`): set once, before serving.
    pub(crate) users: std::sync::OnceLock<Arc<crate::server::users::Users>>,
    /// What CONFIG SET changed.
    pub(crate) settings: std::sync::Mutex<std::collections::BTreeMap<String, String>>,
}

/// A bound RESP listener, ready to serve.
pub struct RespServer {
    listener: TcpListener,
    shared: Arc<Shared>,
    connections: Arc<Semaphore>,
    /// TLS for every connection, if on.
    tls: Option<tokio_rustls::TlsAcceptor>,
}

impl RespServer {
    /// Serves on `listener` (already bound, so a port in use fails before anything starts).
    pub fn new(
        listener: TcpListener,
        engine: Engine,
        limits: Limits,
        resp: RespLimits,
        blocked_readers: Arc<Semaphore>,
        gate: Gate,
        shutdown: Shutdown,
    ) -> std::io::Result<RespServer> {
        let address = listener.local_addr()?;
        Ok(RespServer {
            listener,
            tls: None,
            connections: Arc::new(Semaphore::new(resp.clients_max)),
            shared: Arc::new(Shared {
                engine,
                limits,
                resp,
                shutdown,
                blocked_readers,
                clients: clients::Clients::default(),
                gate,
                started: Instant::now(),
                address,
                settings: Default::default(),
                users: std::sync::OnceLock::new(),
                stats: stats::Stats::default(),
            }),
        })
    }

    /// Serves every connection over TLS (after a handshake with `acceptor`).
    pub fn with_tls(mut self, acceptor: Option<tokio_rustls::TlsAcceptor>) -> RespServer {
        self.tls = acceptor;
        self
    }

    /// Requires every connection to authenticate as one of `users` (AUTH, HELLO … AUTH).
    /// Call before serving.
    pub fn with_users(self, users: Option<Arc<crate::server::users::Users>>) -> RespServer {
        if let Some(users) = users {
            // A new server's cell is empty: this is its only setting.
            let _ = self.shared.users.set(users);
        }
        self
    }

    /// A count of the connected clients, for the metrics.
    pub fn client_count(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        let shared = Arc::clone(&self.shared);
        Arc::new(move || shared.clients.count())
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.shared.address
    }

    /// Accepts connections until the shutdown fires, then waits up to `grace` for the open
    /// ones to finish their commands and close.
    pub async fn serve(self, grace: Duration) {
        let shutdown = self.shared.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                () = shutdown.fired() => break,
                accepted = self.listener.accept() => accepted,
            };
            let (socket, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!("resp: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            let permit = Arc::clone(&self.connections).try_acquire_owned();
            let shared = Arc::clone(&self.shared);
            let tls = self.tls.clone();
            tokio::spawn(async move {
                let socket = match Socket::establish(socket, tls.as_ref()).await {
                    Ok(socket) => socket,
                    Err(error) => {
                        tracing::info!(%peer, "resp: TLS handshake failed: {error}");
                        return;
                    }
                };
                match permit {
                    Ok(permit) => {
                        connection::Connection::new(shared, socket, peer)
                            .run()
                            .await;
                        drop(permit);
                    }
                    Err(_) => refuse(socket).await,
                }
            });
        }
        drop(self.listener);
        let all = u32::try_from(self.shared.resp.clients_max).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, self.connections.acquire_many(all)).await;
        if drained.is_err() {
            tracing::warn!("resp: connections still open after the shutdown grace period");
        }
    }
}

/// One connection too many: Redis's reply, then close.
async fn refuse(mut socket: Socket) {
    let _ = socket
        .write_all(b"-ERR max number of clients reached\r\n")
        .await;
    let _ = socket.shutdown().await;
}
