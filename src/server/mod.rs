//! The gRPC server: `sluice serve`.
//!
//! A thin translation layer over the [`Engine`]: it parses requests, calls the engine and
//! renders replies, and holds no stream logic of its own. Besides `sluice.v1.Streams` and
//! `sluice.v1.Groups` it serves the Redis protocol on a second listener ([`resp`]), and
//! gRPC server reflection (v1 and v1alpha, so grpcurl needs no proto file) and the standard
//! `grpc.health.v1.Health` service.
//!
//! Lifecycle: check the configuration, open the engine, bind, install the signal handlers, log
//! `listening address=HOST:PORT` (tests and scripts read the port from this line when they
//! bind port 0), serve. On SIGINT or SIGTERM: stop accepting, let in-flight calls finish
//! (releasing blocked Reads and Tails), close the engine (flush and fsync), return `Ok`; if
//! calls are still running after `shutdown_grace_ms`, close the engine without them.
//!
//! Modules: `config` (flags and their checks), `limits` (per-request limits), `convert` (wire
//! types ↔ engine types), `status` (failures → gRPC status, in one place), `streams` (the
//! service and its dispatch), `write` / `query` / `read` / `tail` / `retention` (the
//! handlers), `groups` (the Groups service, its dispatch and its non-reading handlers), `group_read` (group reads
//! and claims), `consume` (the streaming consumer), `wait` (the one wait of every blocking
//! call), `gate` (MULTI/EXEC's isolation across both front ends), `shutdown`, `runtime` (the
//! tokio runtime: one thread by default, with the engine's sync pump), and `resp`
//! (the Redis-protocol front end). Around every gRPC call, `around` runs `access`'s
//! authentication and `metrics`' call metrics; inside those, `direct` answers the unary
//! methods of both services itself and passes the rest (Tail, Consume, health, reflection)
//! to tonic's router.

pub mod access;
mod around;
mod config;
mod consume;
mod convert;
mod direct;
pub mod gate;
mod group_read;
mod groups;
mod limits;
pub mod metrics;
mod query;
mod read;
pub mod resp;
mod retention;
pub mod runtime;
mod shutdown;
mod status;
mod streams;
mod tail;
pub mod tls;
pub mod users;
mod wait;
mod write;

use std::future::Future;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic_health::ServingStatus;

pub use config::{ServeArgs, ServerConfig};
pub use groups::GroupsService;
pub use limits::Limits;
pub use status::RequestError;
pub use streams::StreamsService;

use crate::engine::Engine;
use crate::error::Error;
use crate::proto::v1::groups_server::GroupsServer;
use crate::proto::v1::streams_server::StreamsServer;

/// Why `sluice serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A flag or environment variable has a bad value.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The data directory could not be opened (locked, unreadable, corrupt).
    #[error("cannot open the data directory: {0}")]
    Open(#[source] Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The RESP listen address could not be bound.
    #[error("cannot listen on {address} (--resp-listen / SLUICE_RESP_LISTEN; `off` disables it): {source}")]
    RespBind {
        /// The address asked for.
        address: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The metrics listen address could not be bound.
    #[error("cannot listen on {address} (--metrics-listen / SLUICE_METRICS_LISTEN; `off` disables it): {source}")]
    MetricsBind {
        /// The address asked for.
        address: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The signal handlers could not be installed.
    #[error("cannot install the signal handlers (SIGINT, SIGTERM, SIGHUP): {0}")]
    Signals(#[source] std::io::Error),
    /// Building the reflection service failed.
    #[error("cannot build the reflection service: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// The gRPC transport failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Closing the engine (the final flush and fsync) failed: acknowledged writes may not be
    /// durable under the `everysec` or `no` policies.
    #[error("closing the storage failed: {0}")]
    Close(#[source] Error),
    /// An engine call on the blocking pool panicked.
    #[error("internal error: {0}")]
    Task(String),
}

impl ServeError {
    /// The process exit code: 2 for a configuration mistake (as for a usage error), else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Config(_) => 2,
            _ => 1,
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), structured as `key=value` pairs.
/// Does nothing if a subscriber is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// Reflection v1 and v1alpha (grpcurl 1.8 asks for the latter), describing Sluice's API and
/// the health service.
fn reflection() -> (
    tonic_reflection::server::Builder<'static>,
    tonic_reflection::server::Builder<'static>,
) {
    let mut reflection_v1 = tonic_reflection::server::Builder::configure();
    let mut reflection_v1alpha = tonic_reflection::server::Builder::configure();
    for descriptor in [
        crate::proto::v1::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
    ] {
        reflection_v1 = reflection_v1.register_encoded_file_descriptor_set(descriptor);
        reflection_v1alpha = reflection_v1alpha.register_encoded_file_descriptor_set(descriptor);
    }
    (reflection_v1, reflection_v1alpha)
}

/// Runs `sluice serve` until SIGINT or SIGTERM, then shuts down gracefully.
pub async fn run(args: ServeArgs) -> Result<(), ServeError> {
    let config = ServerConfig::from_args(args).map_err(ServeError::Config)?;
    let tls = config
        .tls
        .as_ref()
        .map(tls::Tls::load)
        .transpose()
        .map_err(ServeError::Config)?;
    let users = match &config.users {
        Some(path) => Some(Arc::new(
            users::Users::load(path).map_err(ServeError::Config)?,
        )),
        None => None,
    };
    let metrics_server = bind_metrics(&config).await?;
    raise_open_files_limit(config.engine.open_files_max);
    let (engine, stream_count) = open_engine(&config).await?;
    runtime::start_sync_pump(&engine);
    let (listener, address) = bind(&config.listen).await?;
    let resp_listener = bind_resp(&config).await?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let signals = shutdown::Signals::install().map_err(ServeError::Signals)?;
    let (trigger, shutdown) = shutdown::channel();

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<StreamsServer<StreamsService>>().await;
    health.set_serving::<GroupsServer<GroupsService>>().await;
    health.set_service_status("", ServingStatus::Serving).await;
    let resp_tls = tls.as_ref().map(|tls| tls.resp.clone());
    if let Some(users) = &users {
        reload_on_hangup(Arc::clone(users)).map_err(ServeError::Signals)?;
    }
    let (streams, groups, direct, resp, sources) = services(
        &config,
        &engine,
        &shutdown,
        resp_listener,
        resp_tls,
        users.clone(),
    )?;
    let (reflection_v1, reflection_v1alpha) = reflection();
    let mut builder = Server::builder();
    if let Some(tls) = &tls {
        builder = builder.tls_config(tls.grpc.clone())?;
    }
    let metrics_task = metrics_server.map(|server| {
        let (server, address) = server.with_sources(sources);
        (tokio::spawn(server.serve(shutdown.clone())), address)
    });
    let server = builder
        .layer(around::Around(metrics::CallMetrics))
        .layer(around::Around(access::Authenticate::new(users.clone())))
        .layer(tower::util::MapResponseLayer::new(
            status::oversized_request_as_resource_exhausted::<tonic::body::Body>,
        ))
        .layer(direct)
        .add_service(health_service)
        .add_service(reflection_v1.build_v1()?)
        .add_service(reflection_v1alpha.build_v1alpha()?)
        .add_service(streams)
        .add_service(groups)
        .serve_with_incoming_shutdown(incoming, {
            let shutdown = shutdown.clone();
            async move { shutdown.fired().await }
        });
    let resp_address = resp
        .as_ref()
        .map_or_else(|| "off".to_owned(), |resp| resp.address().to_string());
    let metrics_address = match &metrics_task {
        Some((_, address)) => address.to_string(),
        None => "off".to_owned(),
    };
    let grace = Duration::from_millis(config.shutdown_grace_ms);
    let resp_task = resp.map(|resp| tokio::spawn(resp.serve(grace)));
    tracing::info!(
        %address,
        resp = %resp_address,
        metrics = %metrics_address,
        data_dir = %config.engine.data_dir.display(),
        fsync = %config.engine.fsync.name(),
        worker_threads = runtime::worker_threads(),
        tls = tls_mode(&config),
        users = users.as_ref().map_or(0, |users| users.table().len()),
        streams = stream_count,
        "listening"
    );

    let mut stop = Stop {
        signals,
        health,
        trigger,
        shutdown,
        grace_ms: config.shutdown_grace_ms,
    };
    let served = stop.serve(server).await;
    if let Some(resp_task) = resp_task {
        // The gRPC side is done; RESP connections get what is left of the grace period.
        let _ = tokio::time::timeout(grace, resp_task).await;
    }
    tracing::info!("closing the storage");
    let closed = tokio::task::spawn_blocking(move || engine.close())
        .await
        .map_err(|error| ServeError::Task(error.to_string()))?;
    drop(stop);
    served?;
    closed.map_err(ServeError::Close)?;
    tracing::info!("stopped");
    Ok(())
}

/// Opens the engine on the blocking pool (recovery reads files); returns it and its number of
/// streams.
async fn open_engine(config: &ServerConfig) -> Result<(Engine, usize), ServeError> {
    let engine_config = config.engine.clone();
    tokio::task::spawn_blocking(move || {
        let engine = Engine::open(engine_config)?;
        let stream_count = engine.list(None).len();
        Ok((engine, stream_count))
    })
    .await
    .map_err(|error| ServeError::Task(error.to_string()))?
    .map_err(ServeError::Open)
}

/// The gRPC services and the RESP server (if on).
type Services = (
    StreamsServer<StreamsService>,
    GroupsServer<GroupsService>,
    direct::Direct,
    Option<resp::RespServer>,
    metrics::Sources,
);

/// The gRPC services and the RESP server, sharing the engine, the blocked-reader permits,
/// MULTI/EXEC's gate and the shutdown.
fn services(
    config: &ServerConfig,
    engine: &Engine,
    shutdown: &shutdown::Shutdown,
    resp_listener: Option<tokio::net::TcpListener>,
    resp_tls: Option<tokio_rustls::TlsAcceptor>,
    users: Option<Arc<users::Users>>,
) -> Result<Services, ServeError> {
    let limits = config.limits;
    let blocked_readers = Arc::new(Semaphore::new(limits.blocked_readers_max));
    let gate = gate::Gate::default();
    let streams = StreamsService::new(
        engine.clone(),
        limits,
        Arc::clone(&blocked_readers),
        gate.clone(),
        shutdown.clone(),
    );
    let mut sources = metrics::Sources {
        engine: engine.clone(),
        blocked_readers: (Arc::clone(&blocked_readers), limits.blocked_readers_max),
        tail_subscribers: (
            Arc::clone(&streams.tail_subscribers),
            limits.tail_subscribers_max,
        ),
        resp_clients: None,
    };
    let streams = Arc::new(streams);
    let streams_server = StreamsServer::from_arc(Arc::clone(&streams))
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let resp = match resp_listener {
        Some(listener) => Some(
            resp::RespServer::new(
                listener,
                engine.clone(),
                limits,
                config.resp,
                Arc::clone(&blocked_readers),
                gate.clone(),
                shutdown.clone(),
            )
            .map_err(|source| resp_bind_error(config, source))?
            .with_tls(resp_tls)
            .with_users(users),
        ),
        None => None,
    };
    sources.resp_clients = resp.as_ref().map(resp::RespServer::client_count);
    let groups = Arc::new(GroupsService::new(
        engine.clone(),
        limits,
        blocked_readers,
        gate,
        shutdown.clone(),
    ));
    let groups_server = GroupsServer::from_arc(Arc::clone(&groups))
        .max_decoding_message_size(limits.message_bytes_max)
        .max_encoding_message_size(limits.message_bytes_max);
    let direct = direct::Direct::new(streams, groups, limits.message_bytes_max);
    Ok((streams_server, groups_server, direct, resp, sources))
}

/// Reloads the users file on every SIGHUP; a bad file keeps the users in force.
fn reload_on_hangup(users: Arc<users::Users>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            let reloading = Arc::clone(&users);
            match tokio::task::spawn_blocking(move || reloading.reload()).await {
                Ok(Ok(count)) => tracing::info!(
                    path = %users.path().display(), users = count, "users reloaded"
                ),
                Ok(Err(error)) => {
                    tracing::error!("users not reloaded, the previous ones stay: {error}")
                }
                Err(error) => tracing::error!("users not reloaded: {error}"),
            }
        }
    });
    Ok(())
}

/// How the `listening` line describes TLS.
fn tls_mode(config: &ServerConfig) -> &'static str {
    match &config.tls {
        None => "off",
        Some(files) if files.client_ca.is_some() => "mutual",
        Some(_) => "on",
    }
}

/// Installs the metrics recorder and binds the metrics address, unless metrics are off; a
/// failure to bind names the flag. Another recorder already installed (Sluice embedded in a
/// process that has one) turns the endpoint off with a warning.
async fn bind_metrics(config: &ServerConfig) -> Result<Option<metrics::MetricsServer>, ServeError> {
    let Some(address) = &config.metrics_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::MetricsBind {
            address: address.clone(),
            source,
        })?;
    match metrics::install() {
        Ok(handle) => Ok(Some(metrics::MetricsServer::new(listener, handle))),
        Err(error) => {
            tracing::warn!("metrics endpoint off: {error}");
            Ok(None)
        }
    }
}

/// Binds the RESP listen address, unless RESP is off; a failure names the flag.
async fn bind_resp(config: &ServerConfig) -> Result<Option<tokio::net::TcpListener>, ServeError> {
    let Some(address) = &config.resp_listen else {
        return Ok(None);
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| resp_bind_error(config, source))?;
    Ok(Some(listener))
}

fn resp_bind_error(config: &ServerConfig, source: std::io::Error) -> ServeError {
    ServeError::RespBind {
        address: config.resp_listen.clone().unwrap_or_default(),
        source,
    }
}

/// Binds the listen address; returns the listener and the address it got (port 0 resolved).
async fn bind(listen: &str) -> Result<(tokio::net::TcpListener, SocketAddr), ServeError> {
    let failed = |source| ServeError::Bind {
        address: listen.to_owned(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(failed)?;
    let address = listener.local_addr().map_err(failed)?;
    Ok((listener, address))
}

/// How serving ends: the first signal starts a graceful shutdown (health says not serving,
/// blocked calls are released, no new connections); calls still running after the grace
/// period are abandoned; a second signal is only logged.
struct Stop {
    signals: shutdown::Signals,
    health: tonic_health::server::HealthReporter,
    trigger: shutdown::Trigger,
    shutdown: shutdown::Shutdown,
    grace_ms: u64,
}

impl Stop {
    /// Runs `server` until it ends, or the shutdown it was given ends it, or the grace period
    /// after a signal runs out. The trigger lives on in `self` until the caller is done.
    async fn serve(
        &mut self,
        server: impl Future<Output = Result<(), tonic::transport::Error>>,
    ) -> Result<(), ServeError> {
        let grace_ms = self.grace_ms;
        let shutdown = self.shutdown.clone();
        let grace = async {
            shutdown.fired().await;
            tokio::time::sleep(Duration::from_millis(grace_ms)).await;
        };
        tokio::pin!(server);
        tokio::select! {
            served = &mut server => Ok(served?),
            () = self.watch_signals() => Ok(()),
            () = grace => {
                tracing::warn!(
                    grace_ms,
                    "calls still running after the shutdown grace period; closing without them"
                );
                Ok(())
            }
        }
    }

    async fn watch_signals(&mut self) {
        let name = self.signals.next().await;
        tracing::info!(
            signal = name,
            "shutting down: no new connections, finishing in-flight calls"
        );
        self.health
            .set_not_serving::<StreamsServer<StreamsService>>()
            .await;
        self.health
            .set_not_serving::<GroupsServer<GroupsService>>()
            .await;
        self.health
            .set_service_status("", ServingStatus::NotServing)
            .await;
        self.trigger.fire();
        let name = self.signals.next().await;
        tracing::warn!(signal = name, "already shutting down");
        std::future::pending::<()>().await;
    }
}

/// Raises the soft limit on open files to the hard limit: the engine keeps up to
/// `open_files_max` segment files and maps open, besides one socket per client.
fn raise_open_files_limit(open_files_max: usize) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed to them.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        tracing::warn!(
            "cannot read the open-files limit: {}",
            std::io::Error::last_os_error()
        );
        return;
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(
                "cannot raise the open-files limit to {}: {}",
                limit.rlim_max,
                std::io::Error::last_os_error()
            );
        }
    }
    tracing::info!(open_files = limit.rlim_cur, "open-files limit");
    if (limit.rlim_cur as u128) < open_files_max as u128 + 64 {
        tracing::warn!(
            open_files = limit.rlim_cur,
            open_files_max,
            "the open-files limit leaves little room beyond open_files_max for clients"
        );
    }
}
