//! What a load run does, read once from `SLUICE_LOAD_*` environment variables.
//!
//! Every setting has a default that reproduces the figures quoted in the README; a malformed
//! value stops the run before any server is started, with a message naming the variable.

use std::path::PathBuf;
use std::time::Duration;

/// Concurrent clients of the add, batch and range workloads.
pub const CLIENTS_DEFAULT: usize = 50;
/// Measured seconds per workload and server.
pub const MEASURE_SECONDS_DEFAULT: f64 = 5.0;
/// Unmeasured seconds before each measurement, to open connections' windows, fill caches and
/// let the servers' thread pools grow.
pub const WARMUP_SECONDS_DEFAULT: f64 = 1.0;
/// Subscribers of the tail workload.
pub const SUBSCRIBERS_DEFAULT: usize = 10;
/// Entries per Add batch (and XADDs per Redis pipeline).
pub const BATCH_ENTRIES_DEFAULT: usize = 16;
/// Entries in the stream the range workload reads.
pub const RANGE_STREAM_ENTRIES_DEFAULT: usize = 100_000;
/// COUNT of each range.
pub const RANGE_COUNT_DEFAULT: usize = 100;
/// Producers of the pipeline workload.
pub const PRODUCERS_DEFAULT: usize = 8;
/// Consumers of the pipeline workload (one group).
pub const CONSUMERS_DEFAULT: usize = 4;
/// COUNT of each group read of the pipeline workload (and so IDs per XACK).
pub const GROUP_COUNT_DEFAULT: usize = 16;
/// The share of the measured peak the open loop offers by default.
pub const OPEN_SHARE_DEFAULT: f64 = 0.5;
/// Bytes of the one field value of every entry: with the 4-byte field name `data`, a
/// 100-byte entry.
pub const VALUE_BYTES: usize = 96;

/// The fsync policy, set to match on both servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fsync {
    /// Sluice `--fsync always`; Redis `appendfsync always`.
    Always,
    /// Sluice `--fsync everysec`; Redis `appendfsync everysec`.
    EverySecond,
    /// Sluice `--fsync no`; Redis without an append-only file (and no snapshots).
    No,
}

impl Fsync {
    /// The name both Sluice's `--fsync` and this variable use.
    pub fn name(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySecond => "everysec",
            Fsync::No => "no",
        }
    }

    /// The `redis-server` arguments that give the same durability.
    pub fn redis_arguments(self) -> &'static [&'static str] {
        match self {
            Fsync::Always => &["--appendonly", "yes", "--appendfsync", "always"],
            Fsync::EverySecond => &["--appendonly", "yes", "--appendfsync", "everysec"],
            Fsync::No => &["--appendonly", "no"],
        }
    }
}

/// One of the workloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workload {
    /// One entry per call.
    Add,
    /// One entry per call at a fixed offered rate (an open loop): latency without coordinated
    /// omission, both servers at the same rate.
    AddOpen,
    /// `batch_entries` entries per call (Redis: per pipeline).
    Batch,
    /// XRANGE of `range_count` entries from a random position.
    Range,
    /// One writer, `subscribers` readers following the stream.
    Tail,
    /// A job pipeline: `producers` adding, `consumers` of one group reading and acknowledging
    /// `group_count` at a time.
    Pipeline,
    /// The same pipeline with Sluice's consumers on the streaming consumer (Groups.Consume,
    /// a window of twice `group_count`, one ack per batch received); Redis has none, so its
    /// consumers loop on XREADGROUP and XACK as in `pipeline`.
    PipelineStream,
    /// Diagnostic, not run by default: the cheapest round trip each server has. Sluice: a Len
    /// naming no stream, refused (INVALID_ARGUMENT) before the engine is touched, so it costs
    /// the gRPC stack alone (as the CLI's PING does); Redis: PING.
    Ping,
    /// Diagnostic, not run by default: the cheapest call that succeeds. Sluice: the gRPC
    /// health service's Check, whose reply (headers, one message, trailers) is framed as
    /// every successful call's is, where a refusal is headers alone; Redis: PING.
    Health,
    /// Diagnostic, not run by default: XLEN of a stream. For Sluice, a ping plus the hop to
    /// the blocking pool and back that every engine call makes.
    Len,
}

impl Workload {
    /// Every workload, in the order they run.
    pub const ALL: [Workload; 10] = [
        Workload::Add,
        Workload::AddOpen,
        Workload::Batch,
        Workload::Range,
        Workload::Tail,
        Workload::Pipeline,
        Workload::PipelineStream,
        Workload::Ping,
        Workload::Health,
        Workload::Len,
    ];

    /// The workloads run when `SLUICE_LOAD_WORKLOADS` is not set.
    pub const DEFAULT: [Workload; 7] = [
        Workload::Add,
        Workload::AddOpen,
        Workload::Batch,
        Workload::Range,
        Workload::Tail,
        Workload::Pipeline,
        Workload::PipelineStream,
    ];

    /// The name used in `SLUICE_LOAD_WORKLOADS`, the table and the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Add => "add",
            Workload::AddOpen => "add-open",
            Workload::Batch => "add-batch",
            Workload::Range => "range",
            Workload::Tail => "tail",
            Workload::Pipeline => "pipeline",
            Workload::PipelineStream => "pipeline-stream",
            Workload::Ping => "ping",
            Workload::Health => "health",
            Workload::Len => "len",
        }
    }
}

/// Which server a measurement is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerKind {
    /// The `sluice serve` binary, through its gRPC API.
    Sluice,
    /// The `sluice serve` binary (a process of its own), through its Redis-protocol listener
    /// (`--resp-listen`), driven by the same client code as Redis.
    SluiceResp,
    /// `redis-server`.
    Redis,
}

impl ServerKind {
    /// Every server kind, in the order they run.
    pub const ALL: [ServerKind; 3] = [
        ServerKind::Sluice,
        ServerKind::SluiceResp,
        ServerKind::Redis,
    ];

    /// The servers run when `SLUICE_LOAD_SERVERS` is not set.
    pub const DEFAULT: [ServerKind; 2] = [ServerKind::Sluice, ServerKind::Redis];

    /// The name used in `SLUICE_LOAD_SERVERS`, the table and the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Sluice => "sluice",
            ServerKind::SluiceResp => "sluice-resp",
            ServerKind::Redis => "redis",
        }
    }
}

/// A complete, checked description of a run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `SLUICE_LOAD_CLIENTS`.
    pub clients: usize,
    /// `SLUICE_LOAD_CONNECTIONS`: connections the clients of the add, batch and range
    /// workloads share, round robin (default: one per client; more than the clients means one
    /// per client).
    pub connections: usize,
    /// `SLUICE_LOAD_SECONDS`.
    pub measure: Duration,
    /// `SLUICE_LOAD_WARMUP_SECONDS`.
    pub warmup: Duration,
    /// `SLUICE_LOAD_SUBSCRIBERS`.
    pub subscribers: usize,
    /// `SLUICE_LOAD_PRODUCERS`.
    pub producers: usize,
    /// `SLUICE_LOAD_CONSUMERS`.
    pub consumers: usize,
    /// `SLUICE_LOAD_GROUP_COUNT`.
    pub group_count: usize,
    /// `SLUICE_LOAD_FSYNC`.
    pub fsync: Fsync,
    /// `SLUICE_LOAD_BATCH`.
    pub batch_entries: usize,
    /// `SLUICE_LOAD_RANGE_ENTRIES`.
    pub range_stream_entries: usize,
    /// `SLUICE_LOAD_RANGE_COUNT`.
    pub range_count: usize,
    /// `SLUICE_LOAD_CLIENT_THREADS`: tokio worker threads of the load generator.
    pub client_threads: usize,
    /// `SLUICE_LOAD_OPEN_RATE`: add-open's offered rate in calls per second; unset, a share
    /// of the lowest of the servers' `add` throughput in the same run.
    pub open_rate: Option<f64>,
    /// `SLUICE_LOAD_OPEN_SHARE`: that share (default 0.5).
    pub open_share: f64,
    /// `SLUICE_LOAD_WORKLOADS`: a comma-separated subset of the workloads.
    pub workloads: Vec<Workload>,
    /// `SLUICE_LOAD_SERVERS`: a comma-separated subset of `sluice`, `sluice-resp` and `redis`
    /// (default `sluice,redis`).
    pub servers: Vec<ServerKind>,
    /// `SLUICE_LOAD_BINARY`: the `sluice` executable (default: the one cargo built for this
    /// bench).
    pub sluice_binary: PathBuf,
    /// `SLUICE_LOAD_REDIS_SERVER`: the `redis-server` executable.
    pub redis_binary: PathBuf,
    /// `SLUICE_LOAD_DIR`: where the servers' temporary data directories go (default: the
    /// system temp dir). Put it on the disk you want to measure.
    pub data_parent: Option<PathBuf>,
}

impl Settings {
    /// Reads the environment; the error names the variable at fault.
    pub fn from_environment() -> Result<Settings, String> {
        let processors = std::thread::available_parallelism().map_or(2, usize::from);
        let clients = count("SLUICE_LOAD_CLIENTS", CLIENTS_DEFAULT)?;
        let settings = Settings {
            clients,
            connections: count("SLUICE_LOAD_CONNECTIONS", clients)?.min(clients),
            measure: seconds("SLUICE_LOAD_SECONDS", MEASURE_SECONDS_DEFAULT)?,
            warmup: seconds("SLUICE_LOAD_WARMUP_SECONDS", WARMUP_SECONDS_DEFAULT)?,
            subscribers: count("SLUICE_LOAD_SUBSCRIBERS", SUBSCRIBERS_DEFAULT)?,
            producers: count("SLUICE_LOAD_PRODUCERS", PRODUCERS_DEFAULT)?,
            consumers: count("SLUICE_LOAD_CONSUMERS", CONSUMERS_DEFAULT)?,
            group_count: count("SLUICE_LOAD_GROUP_COUNT", GROUP_COUNT_DEFAULT)?,
            fsync: fsync("SLUICE_LOAD_FSYNC")?,
            batch_entries: count("SLUICE_LOAD_BATCH", BATCH_ENTRIES_DEFAULT)?,
            range_stream_entries: count("SLUICE_LOAD_RANGE_ENTRIES", RANGE_STREAM_ENTRIES_DEFAULT)?,
            range_count: count("SLUICE_LOAD_RANGE_COUNT", RANGE_COUNT_DEFAULT)?,
            client_threads: count("SLUICE_LOAD_CLIENT_THREADS", processors)?,
            open_rate: positive("SLUICE_LOAD_OPEN_RATE")?,
            open_share: positive("SLUICE_LOAD_OPEN_SHARE")?.unwrap_or(OPEN_SHARE_DEFAULT),
            workloads: list(
                "SLUICE_LOAD_WORKLOADS",
                &Workload::ALL,
                &Workload::DEFAULT,
                Workload::name,
            )?,
            servers: list(
                "SLUICE_LOAD_SERVERS",
                &ServerKind::ALL,
                &ServerKind::DEFAULT,
                ServerKind::name,
            )?,
            sluice_binary: path("SLUICE_LOAD_BINARY", env!("CARGO_BIN_EXE_sluice")),
            redis_binary: path("SLUICE_LOAD_REDIS_SERVER", "redis-server"),
            data_parent: std::env::var_os("SLUICE_LOAD_DIR").map(PathBuf::from),
        };
        if settings.measure.is_zero() {
            return Err("SLUICE_LOAD_SECONDS must be more than 0".into());
        }
        if settings.range_count > settings.range_stream_entries {
            return Err(format!(
                "SLUICE_LOAD_RANGE_COUNT ({}) must be at most SLUICE_LOAD_RANGE_ENTRIES ({})",
                settings.range_count, settings.range_stream_entries
            ));
        }
        Ok(settings)
    }

    /// The clients a workload runs, as the table shows them.
    pub fn clients_label(&self, workload: Workload) -> String {
        match workload {
            Workload::Tail => format!("1+{}", self.subscribers),
            Workload::Pipeline | Workload::PipelineStream => {
                format!("{}+{}", self.producers, self.consumers)
            }
            _ => self.clients.to_string(),
        }
    }
}

fn variable(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

/// A whole number of at least 1.
fn count(name: &str, default: usize) -> Result<usize, String> {
    let Some(text) = variable(name)? else {
        return Ok(default);
    };
    match text.parse::<usize>() {
        Ok(value) if value >= 1 => Ok(value),
        _ => Err(format!(
            "{name} must be a whole number of at least 1, got {text:?}"
        )),
    }
}

/// A number above 0, if set.
fn positive(name: &str) -> Result<Option<f64>, String> {
    let Some(text) = variable(name)? else {
        return Ok(None);
    };
    match text.parse::<f64>() {
        Ok(value) if value > 0.0 && value.is_finite() => Ok(Some(value)),
        _ => Err(format!("{name} must be a number above 0, got {text:?}")),
    }
}

/// A duration in seconds (fractions allowed), at least 0 and at most a day.
fn seconds(name: &str, default: f64) -> Result<Duration, String> {
    const SECONDS_MAX: f64 = 86_400.0;
    let value = match variable(name)? {
        None => default,
        Some(text) => match text.parse::<f64>() {
            Ok(value) if (0.0..=SECONDS_MAX).contains(&value) => value,
            _ => {
                return Err(format!(
                    "{name} must be a number of seconds between 0 and {SECONDS_MAX}, got {text:?}"
                ))
            }
        },
    };
    Ok(Duration::from_secs_f64(value))
}

fn fsync(name: &str) -> Result<Fsync, String> {
    match variable(name)?.as_deref() {
        None | Some("always") => Ok(Fsync::Always),
        Some("everysec") => Ok(Fsync::EverySecond),
        Some("no") => Ok(Fsync::No),
        Some(other) => Err(format!(
            "{name} must be always, everysec or no, got {other:?}"
        )),
    }
}

/// A comma-separated subset of `all`, kept in `all`'s order; `default` when unset.
fn list<T: Copy + PartialEq>(
    name: &str,
    all: &[T],
    default: &[T],
    item_name: fn(T) -> &'static str,
) -> Result<Vec<T>, String> {
    let Some(text) = variable(name)? else {
        return Ok(default.to_vec());
    };
    let mut chosen = Vec::new();
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let Some(item) = all.iter().copied().find(|item| item_name(*item) == part) else {
            let names: Vec<&str> = all.iter().map(|item| item_name(*item)).collect();
            return Err(format!(
                "{name}: unknown {part:?}; expected a comma-separated list of {}",
                names.join(", ")
            ));
        };
        if !chosen.contains(&item) {
            chosen.push(item);
        }
    }
    if chosen.is_empty() {
        return Err(format!("{name} names nothing"));
    }
    Ok(all
        .iter()
        .copied()
        .filter(|item| chosen.contains(item))
        .collect())
}

fn path(name: &str, default: &str) -> PathBuf {
    std::env::var_os(name)
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from(default), PathBuf::from)
}
