//! `sluice serve`'s settings: the command-line flags (each with an environment variable), their
//! defaults, and the checks that turn them into a [`ServerConfig`] the server can rely on.
//!
//! Every limit the server enforces on a request is named here, has a default, and is checked
//! once at startup; a bad value stops the server with a message naming the flag, before
//! anything is opened or bound.

use std::path::PathBuf;

use tokio::sync::Semaphore;

use crate::config::{
    Config, FsyncPolicy, COMMIT_THREADS_DEFAULT, ENTRY_BYTES_MAX_DEFAULT,
    GROUP_JOURNAL_BYTES_MIN_DEFAULT, INDEX_INTERVAL_BYTES_DEFAULT, OPEN_FILES_MAX_DEFAULT,
    RETENTION_INTERVAL_MS_DEFAULT, SEGMENT_BYTES_MAX_DEFAULT, STREAM_NAME_BYTES_MAX_DEFAULT,
};
use crate::error::Error;
use crate::server::limits::{Limits, REPLY_OVERHEAD_BYTES};
use crate::server::resp::RespLimits;
use crate::server::tls::TlsFiles;

/// Default largest gRPC message, in either direction: 16 MiB.
pub const MESSAGE_BYTES_MAX_DEFAULT: usize = 16 << 20;
/// Largest `message_bytes_max` accepted: gRPC frames a message with a 32-bit length.
pub const MESSAGE_BYTES_MAX_MAX: usize = u32::MAX as usize;
/// Default largest COUNT, and most entries a range without COUNT may return.
pub const COUNT_MAX_DEFAULT: usize = 100_000;
/// Largest `count_max` accepted (the server asks the engine for one entry more than the limit
/// to detect an overflow, and that must stay representable).
pub const COUNT_MAX_MAX: usize = 1 << 32;
/// Default most entries in one Add batch.
pub const BATCH_ENTRIES_MAX_DEFAULT: usize = 10_000;
/// Default most Read calls blocked at once.
pub const BLOCKED_READERS_MAX_DEFAULT: usize = 1024;
/// Default most Tail subscriptions open at once.
pub const TAIL_SUBSCRIBERS_MAX_DEFAULT: usize = 1024;
/// Default most entries in one Tail message.
pub const TAIL_BATCH_MAX_DEFAULT: usize = 256;
/// Default most streaming consumers at once.
pub const CONSUMERS_MAX_DEFAULT: usize = 1024;
/// Default most entries a streaming consumer holds unsettled.
pub const CONSUME_WINDOW_MAX_DEFAULT: usize = 1024;
/// Default address of the Redis-protocol listener: loopback, and not Redis's 6379, so a local Redis and Sluice run side by side.
pub const RESP_LISTEN_DEFAULT: &str = "127.0.0.1:6479";
/// Default most RESP client connections at once (Redis's `maxclients` default).
pub const RESP_CLIENTS_MAX_DEFAULT: usize = 10_000;
/// Default largest RESP request: 16 MiB.
pub const RESP_REQUEST_BYTES_MAX_DEFAULT: usize = 16 << 20;

/// Default time given to in-flight calls after a shutdown signal: 10 s.
pub const SHUTDOWN_GRACE_MS_DEFAULT: u64 = 10_000;

/// The flags of `sluice serve`. Each can also be set through the environment variable named
/// after it (`--data-dir` is `SLUICE_DATA_DIR`); a flag wins over its variable.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to serve gRPC on, host:port (port 0 picks a free port; the address is logged).
    #[arg(long, env = "SLUICE_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: String,
    /// Address to serve the Redis protocol (RESP2/RESP3) on, host:port, or `off`.
    #[arg(long, env = "SLUICE_RESP_LISTEN", default_value = RESP_LISTEN_DEFAULT)]
    pub resp_listen: String,
    /// Address of the Prometheus metrics endpoint (GET /metrics), host:port, or `off`.
    #[arg(long, env = "SLUICE_METRICS_LISTEN", default_value = crate::server::metrics::METRICS_LISTEN_DEFAULT)]
    pub metrics_listen: String,
    /// Most Redis-protocol client connections at once; one more gets
    /// `ERR max number of clients reached` and is closed.
    #[arg(long, env = "SLUICE_RESP_CLIENTS_MAX", default_value_t = RESP_CLIENTS_MAX_DEFAULT)]
    pub resp_clients_max: usize,
    /// Largest Redis-protocol request (all its arguments together); a larger one is refused
    /// with a protocol error and the connection closed.
    #[arg(long, env = "SLUICE_RESP_REQUEST_BYTES_MAX", default_value_t = RESP_REQUEST_BYTES_MAX_DEFAULT)]
    pub resp_request_bytes_max: usize,
    /// Certificate chain (PEM) to serve TLS with, on every listener; needs --tls-key.
    #[arg(long, env = "SLUICE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of --tls-cert.
    #[arg(long, env = "SLUICE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Certificate authorities (PEM) whose client certificates are accepted: turns on mutual
    /// TLS, refusing clients without such a certificate. Needs --tls-cert.
    #[arg(long, env = "SLUICE_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// Users and their permissions (TOML; see the README): every call must then
    /// authenticate, except the health service. Reloaded on SIGHUP.
    #[arg(long, env = "SLUICE_USERS")]
    pub users: Option<PathBuf>,
    /// Directory holding the streams (created if missing).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// When writes reach stable storage: always (before each reply), everysec, or no.
    #[arg(long, env = "SLUICE_FSYNC", default_value = "always", value_parser = parse_fsync)]
    pub fsync: FsyncPolicy,
    /// Size at which a stream's segment file is sealed and a new one begun.
    #[arg(long, env = "SLUICE_SEGMENT_BYTES_MAX", default_value_t = SEGMENT_BYTES_MAX_DEFAULT)]
    pub segment_bytes_max: u64,
    /// Bytes of log between two points of a segment's sparse index.
    #[arg(long, env = "SLUICE_INDEX_INTERVAL_BYTES", default_value_t = INDEX_INTERVAL_BYTES_DEFAULT)]
    pub index_interval_bytes: u32,
    /// Largest encoded entry accepted.
    #[arg(long, env = "SLUICE_ENTRY_BYTES_MAX", default_value_t = ENTRY_BYTES_MAX_DEFAULT)]
    pub entry_bytes_max: u32,
    /// Longest stream name accepted.
    #[arg(long, env = "SLUICE_STREAM_NAME_BYTES_MAX", default_value_t = STREAM_NAME_BYTES_MAX_DEFAULT)]
    pub stream_name_bytes_max: usize,
    /// Segment files and maps held open at once, across all streams.
    #[arg(long, env = "SLUICE_OPEN_FILES_MAX", default_value_t = OPEN_FILES_MAX_DEFAULT)]
    pub open_files_max: usize,
    /// Threads that run connections and commands. With 1 (the default) the server runs on
    /// one thread, as Redis does, and leads the syncs its writes await (fsync always) on it,
    /// between batches of commands: the least CPU per operation. More threads use more
    /// cores, with the syncs led by the commit threads.
    #[arg(long, env = "SLUICE_WORKER_THREADS", default_value_t = crate::server::runtime::WORKER_THREADS_DEFAULT,
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub worker_threads: u16,
    /// Threads that run group-commit syncs for Add calls (under fsync always): syncs of
    /// different streams run side by side on different threads.
    #[arg(long, env = "SLUICE_COMMIT_THREADS", default_value_t = COMMIT_THREADS_DEFAULT)]
    pub commit_threads: usize,
    /// Largest gRPC message in either direction; replies that would be larger are refused
    /// with RESOURCE_EXHAUSTED (ask for fewer entries with COUNT).
    #[arg(long, env = "SLUICE_MESSAGE_BYTES_MAX", default_value_t = MESSAGE_BYTES_MAX_DEFAULT)]
    pub message_bytes_max: usize,
    /// Largest COUNT accepted; a range without COUNT that matches more entries is refused.
    #[arg(long, env = "SLUICE_COUNT_MAX", default_value_t = COUNT_MAX_DEFAULT)]
    pub count_max: usize,
    /// Most entries in one Add batch.
    #[arg(long, env = "SLUICE_BATCH_ENTRIES_MAX", default_value_t = BATCH_ENTRIES_MAX_DEFAULT)]
    pub batch_entries_max: usize,
    /// Most Read calls waiting for data (BLOCK) at once.
    #[arg(long, env = "SLUICE_BLOCKED_READERS_MAX", default_value_t = BLOCKED_READERS_MAX_DEFAULT)]
    pub blocked_readers_max: usize,
    /// Most Tail subscriptions open at once.
    #[arg(long, env = "SLUICE_TAIL_SUBSCRIBERS_MAX", default_value_t = TAIL_SUBSCRIBERS_MAX_DEFAULT)]
    pub tail_subscribers_max: usize,
    /// Most entries in one Tail message (a request's larger batch is lowered to this).
    #[arg(long, env = "SLUICE_TAIL_BATCH_MAX", default_value_t = TAIL_BATCH_MAX_DEFAULT)]
    pub tail_batch_max: usize,
    /// Most streaming consumers (Groups.Consume calls) open at once.
    #[arg(long, env = "SLUICE_CONSUMERS_MAX", default_value_t = CONSUMERS_MAX_DEFAULT)]
    pub consumers_max: usize,
    /// Most entries a streaming consumer may hold delivered and unsettled (a larger window
    /// asked for is lowered to this).
    #[arg(long, env = "SLUICE_CONSUME_WINDOW_MAX", default_value_t = CONSUME_WINDOW_MAX_DEFAULT)]
    pub consume_window_max: usize,
    /// Bytes a stream's group journal grows past its last snapshot before it is compacted.
    #[arg(long, env = "SLUICE_GROUP_JOURNAL_BYTES_MIN", default_value_t = GROUP_JOURNAL_BYTES_MIN_DEFAULT)]
    pub group_journal_bytes_min: u64,
    /// Milliseconds between two background passes that enforce the streams' retention
    /// policies (removing whole old segments); 0 turns the background passes off.
    #[arg(long, env = "SLUICE_RETENTION_INTERVAL_MS", default_value_t = RETENTION_INTERVAL_MS_DEFAULT)]
    pub retention_interval_ms: u64,
    /// After SIGINT/SIGTERM, how long in-flight calls may take to finish before the server
    /// closes the storage and exits anyway.
    #[arg(long, env = "SLUICE_SHUTDOWN_GRACE_MS", default_value_t = SHUTDOWN_GRACE_MS_DEFAULT)]
    pub shutdown_grace_ms: u64,
}

fn parse_fsync(text: &str) -> Result<FsyncPolicy, String> {
    FsyncPolicy::parse(text).ok_or_else(|| format!("expected always, everysec or no, got {text:?}"))
}

/// A checked server configuration.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (resolved when binding, so host names work).
    pub listen: String,
    /// Where to serve RESP, if at all.
    pub resp_listen: Option<String>,
    /// Where to serve metrics, if at all.
    pub metrics_listen: Option<String>,
    /// The RESP listener's limits.
    pub resp: RespLimits,
    /// The storage engine's configuration, already validated.
    pub engine: Config,
    /// The per-request limits.
    pub limits: Limits,
    /// TLS's files, if TLS is on.
    pub tls: Option<TlsFiles>,
    /// The users file, if users are on.
    pub users: Option<PathBuf>,
    /// How long in-flight calls may run after a shutdown signal.
    pub shutdown_grace_ms: u64,
}

impl ServerConfig {
    /// Checks the flags; the error names the offending flag.
    pub fn from_args(args: ServeArgs) -> Result<ServerConfig, String> {
        let mut engine = Config::new(args.data_dir);
        engine.fsync = args.fsync;
        engine.segment_bytes_max = args.segment_bytes_max;
        engine.index_interval_bytes = args.index_interval_bytes;
        engine.entry_bytes_max = args.entry_bytes_max;
        engine.stream_name_bytes_max = args.stream_name_bytes_max;
        engine.open_files_max = args.open_files_max;
        engine.commit_threads = args.commit_threads;
        engine.group_journal_bytes_min = args.group_journal_bytes_min;
        engine.retention_interval_ms = args.retention_interval_ms;
        engine.validate().map_err(|error| match error {
            Error::Config(message) => message,
            other => other.to_string(),
        })?;

        let at_least_one = [
            ("count_max", args.count_max),
            ("batch_entries_max", args.batch_entries_max),
            ("blocked_readers_max", args.blocked_readers_max),
            ("tail_subscribers_max", args.tail_subscribers_max),
            ("tail_batch_max", args.tail_batch_max),
            ("consumers_max", args.consumers_max),
            ("consume_window_max", args.consume_window_max),
            ("resp_clients_max", args.resp_clients_max),
        ];
        for (name, value) in at_least_one {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if args.count_max > COUNT_MAX_MAX {
            return Err(format!(
                "count_max must be at most {COUNT_MAX_MAX}, got {}",
                args.count_max
            ));
        }
        for (name, value) in [
            ("blocked_readers_max", args.blocked_readers_max),
            ("tail_subscribers_max", args.tail_subscribers_max),
            ("consumers_max", args.consumers_max),
            ("resp_clients_max", args.resp_clients_max),
        ] {
            if value > Semaphore::MAX_PERMITS.min(u32::MAX as usize) {
                return Err(format!(
                    "{name} must be at most {}, got {value}",
                    Semaphore::MAX_PERMITS.min(u32::MAX as usize)
                ));
            }
        }
        // Any single entry the engine accepts must fit in a message, both as an Add request
        // and as a reply (whose framing is larger than the entry's stored form): otherwise an
        // entry could be written that no call can ever read back.
        let message_bytes_min =
            2 * args.entry_bytes_max as usize + args.stream_name_bytes_max + REPLY_OVERHEAD_BYTES;
        if !(message_bytes_min..=MESSAGE_BYTES_MAX_MAX).contains(&args.message_bytes_max) {
            return Err(format!(
                "message_bytes_max must be between {message_bytes_min} (2 × entry_bytes_max + \
                 stream_name_bytes_max + {REPLY_OVERHEAD_BYTES}) and {MESSAGE_BYTES_MAX_MAX}, got {}",
                args.message_bytes_max
            ));
        }

        // Any entry the engine accepts must fit in a request.
        let request_bytes_min =
            args.entry_bytes_max as usize + args.stream_name_bytes_max + REPLY_OVERHEAD_BYTES;
        if args.resp_request_bytes_max < request_bytes_min {
            return Err(format!(
                "resp_request_bytes_max must be at least {request_bytes_min} (entry_bytes_max + \
                 stream_name_bytes_max + {REPLY_OVERHEAD_BYTES}), got {}",
                args.resp_request_bytes_max
            ));
        }
        let resp_listen = match args.resp_listen.as_str() {
            "off" => None,
            "" => return Err("resp_listen must be host:port or off".to_owned()),
            address => Some(address.to_owned()),
        };

        let tls = TlsFiles::from_flags(args.tls_cert, args.tls_key, args.tls_client_ca)?;

        let metrics_listen = match args.metrics_listen.as_str() {
            "off" => None,
            "" => return Err("metrics_listen must be host:port or off".to_owned()),
            address => Some(address.to_owned()),
        };

        Ok(ServerConfig {
            metrics_listen,
            tls,
            users: args.users,
            listen: args.listen,
            resp_listen,
            resp: RespLimits {
                clients_max: args.resp_clients_max,
                request_bytes_max: args.resp_request_bytes_max,
            },
            engine,
            limits: Limits {
                message_bytes_max: args.message_bytes_max,
                count_max: args.count_max,
                batch_entries_max: args.batch_entries_max,
                blocked_readers_max: args.blocked_readers_max,
                tail_subscribers_max: args.tail_subscribers_max,
                tail_batch_max: args.tail_batch_max,
                stream_name_bytes_max: args.stream_name_bytes_max,
                consumers_max: args.consumers_max,
                consume_window_max: args.consume_window_max,
            },
            shutdown_grace_ms: args.shutdown_grace_ms,
        })
    }
}
