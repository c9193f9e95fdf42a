//! The load generator: Sluice and Redis side by side under the same concurrent workloads, run
//! on demand with `cargo bench --bench load` (an optimised build of both this and the server).
//!
//! It starts the real `sluice serve` (the binary cargo builds for this bench, found through
//! `CARGO_BIN_EXE_sluice`, so it is always the current source in the bench profile; or
//! `SLUICE_LOAD_BINARY`) on a port the kernel picks, and a `redis-server` on a free port, each
//! with its data in a temporary directory and the same durability: `SLUICE_LOAD_FSYNC`
//! (`always` by default) is Sluice's `--fsync` and Redis's `appendfsync` (for `no`, Redis runs
//! without an append-only file); Redis never snapshots (`--save ''`) and otherwise keeps its
//! defaults, so under heavy writes it rewrites its append-only file in a forked child every
//! second or two, whose CPU shows in the `other cpu%` column. The servers are killed and their
//! data removed at the end, also when the run fails, panics or is interrupted.
//!
//! `SLUICE_LOAD_SERVERS` picks the servers, a comma-separated subset of `sluice`, `sluice-resp`
//! and `redis` (default `sluice,redis`). `sluice-resp` is Sluice's Redis-protocol front end: a
//! `sluice serve` of its own (same binary, flags and durability as `sluice`), whose RESP
//! address is read from the `resp=` field of its listening log line, driven by exactly the
//! client code that drives Redis (`load/redis_side.rs`, the `redis` crate): XADD, pipelined
//! XADDs, XRANGE, XREAD BLOCK, XREADGROUP and XACK, so against `redis` it compares the servers
//! alone, the client held fixed. For it `pipeline-stream` is the same as `pipeline`, as for
//! Redis. The table's `x redis` column and the JSON's `entries_per_second_vs_redis` give each
//! row's entries per second over Redis's in the same workload and run.
//!
//! Workloads, each against the servers in turn (in the order sluice, sluice-resp, redis), each
//! client on a connection of its own, a warm-up and then a fixed measured window:
//! - `add`: one 100-byte entry per call (Redis: XADD, no pipelining), `SLUICE_LOAD_CLIENTS`
//!   clients (default 50).
//! - `add-open`: `add` as an open loop at a fixed offered rate, the same for every server
//!   (`SLUICE_LOAD_OPEN_RATE` calls/s, or by default half the lowest of the servers' `add`
//!   throughput in this run, `SLUICE_LOAD_OPEN_SHARE`): latency percentiles (p50, p99,
//!   p99.9) without coordinated omission, from an HdrHistogram (see `load/measure.rs`).
//! - `add-batch`: 16 entries per Add call (Redis: 16 XADDs per pipeline), entries per second.
//! - `range`: COUNT 100 from a random ID of a stream of 100,000 entries.
//! - `tail`: `SLUICE_LOAD_SUBSCRIBERS` subscribers (default 10) follow one stream (Sluice: Tail;
//!   Redis: XREAD BLOCK 0 loops) while one writer adds entries stamped with their send time;
//!   entries delivered per second over all subscribers, and add-to-receive latency.
//! - `pipeline`: a job pipeline on one stream (see `load/pipeline.rs`): `SLUICE_LOAD_PRODUCERS`
//!   (default 8) add stamped entries one per call, `SLUICE_LOAD_CONSUMERS` (default 4) of one
//!   consumer group read new entries (COUNT `SLUICE_LOAD_GROUP_COUNT`, 16, blocking) and
//!   acknowledge each batch with one XACK; entries per second end to end (added, delivered and
//!   acknowledged in the window) and the latency from add to delivery.
//! - `pipeline-stream`: the same, with Sluice's consumers on its streaming consumer
//!   (Groups.Consume, a window of twice the COUNT, one ack message per batch received);
//!   Redis's consumers are the same XREADGROUP and XACK loops as in `pipeline`.
//!
//! Each row gives calls and entries per second, per-call latency percentiles from the client's
//! side, errors (counted, never unwrapped), and the CPU the server and this load generator used
//! during the window. The generator shares the machine's CPUs with the servers, which the
//! header says and the CPU columns quantify. Results are printed as a table and written to
//! `target/load-report.json`.
//!
//! Three diagnostic workloads run only when named in `SLUICE_LOAD_WORKLOADS`: `ping` (the
//! cheapest round trip: Sluice's gRPC stack alone, answering with a refusal; Redis's PING),
//! `health` (the cheapest call that succeeds: the gRPC health service's Check, whose reply is
//! framed as every successful call's; Redis: PING) and `len` (Sluice: a ping plus the
//! blocking-pool hop every engine call makes; Redis: XLEN). Against `add` they split Sluice's
//! cost per call into transport, reply framing, thread hand-off and storage.
//!
//! Other settings (see `load/settings.rs`): `SLUICE_LOAD_CONNECTIONS` (connections the
//! clients share round robin; default one per client), `SLUICE_LOAD_SECONDS` (5),
//! `SLUICE_LOAD_WARMUP_SECONDS` (1), `SLUICE_LOAD_BATCH` (16), `SLUICE_LOAD_RANGE_ENTRIES`,
//! `SLUICE_LOAD_RANGE_COUNT`, `SLUICE_LOAD_CLIENT_THREADS` (the CPUs), `SLUICE_LOAD_WORKLOADS`
//! and `SLUICE_LOAD_SERVERS` (comma-separated subsets, e.g. to profile one server),
//! `SLUICE_LOAD_REDIS_SERVER`, `SLUICE_LOAD_DIR` (where the data directories go).
//!
//! Run as a test (`cargo test --benches`), it does nothing: it is a measurement, not a check.

#[path = "load/measure.rs"]
mod measure;
#[path = "load/payload.rs"]
mod payload;
#[path = "load/pipeline.rs"]
mod pipeline;
#[path = "load/redis_side.rs"]
mod redis_side;
#[path = "load/report.rs"]
mod report;
#[path = "load/servers.rs"]
mod servers;
#[path = "load/settings.rs"]
mod settings;
#[path = "load/sluice_side.rs"]
mod sluice_side;
#[path = "load/unary.rs"]
mod unary;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use measure::{closed_loop, open_loop, Measurement, Operation};
use report::{Context, Row};
use servers::{RedisServer, SluiceServer};
use settings::{ServerKind, Settings, Workload};
use unary::Unary;

/// Quiet time between two measurements, so that one server's leftover work (a last fsync,
/// closing connections) does not land in the next window.
const SETTLE: Duration = Duration::from_millis(500);

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and a load run is no test.
    if !std::env::args().any(|argument| argument == "--bench") {
        println!("load: a benchmark; run it with `cargo bench --bench load`");
        return ExitCode::SUCCESS;
    }
    let settings = match Settings::from_environment() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("load: {message}");
            return ExitCode::from(2);
        }
    };
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A server under test: which kind, where its workloads connect (for `sluice-resp`, Sluice's
/// RESP listener) and its process, for CPU accounting.
#[derive(Clone, Copy)]
struct Target {
    kind: ServerKind,
    address: SocketAddr,
    pid: u32,
}

fn run(settings: Settings) -> Result<(), String> {
    let load_before = servers::load_average();
    let start_sluice = |kind| {
        if settings.servers.contains(&kind) {
            SluiceServer::start(
                &settings.sluice_binary,
                settings.data_parent.as_deref(),
                settings.fsync,
            )
            .map(Some)
        } else {
            Ok(None)
        }
    };
    // sluice and sluice-resp each get a server of their own: the same workload's stream would
    // otherwise be filled (range) or given its group (pipeline) twice, and each server's CPU
    // is then that of one front end's load alone.
    let sluice = start_sluice(ServerKind::Sluice)?;
    let sluice_resp = start_sluice(ServerKind::SluiceResp)?;
    let sluice_resp_address = match &sluice_resp {
        Some(server) => Some(server.resp_address.ok_or(
            "sluice-resp: the sluice binary logged no RESP address (resp= of its listening line)",
        )?),
        None => None,
    };
    let redis = if settings.servers.contains(&ServerKind::Redis) {
        Some(RedisServer::start(
            &settings.redis_binary,
            settings.data_parent.as_deref(),
            settings.fsync,
        )?)
    } else {
        None
    };
    let mut context = Context {
        settings: settings.clone(),
        sluice: sluice
            .as_ref()
            .map(|server| (server.pid(), server.data_directory().to_path_buf())),
        sluice_resp: sluice_resp
            .as_ref()
            .zip(sluice_resp_address)
            .map(|(server, address)| {
                (server.pid(), server.data_directory().to_path_buf(), address)
            }),
        redis: redis
            .as_ref()
            .map(|server| (server.pid(), server.data_directory().to_path_buf())),
        processors: std::thread::available_parallelism().map_or(0, usize::from),
        load_before,
        load_after: String::new(),
    };
    println!("{}", report::header(&context));

    // In the order of ServerKind::ALL: sluice, sluice-resp, redis.
    let mut targets = Vec::new();
    if let Some(server) = &sluice {
        targets.push(Target {
            kind: ServerKind::Sluice,
            address: server.address,
            pid: server.pid(),
        });
    }
    if let (Some(server), Some(address)) = (&sluice_resp, sluice_resp_address) {
        targets.push(Target {
            kind: ServerKind::SluiceResp,
            address,
            pid: server.pid(),
        });
    }
    if let Some(server) = &redis {
        targets.push(Target {
            kind: ServerKind::Redis,
            address: server.address,
            pid: server.pid(),
        });
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(settings.client_threads)
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start the client runtime: {error}"))?;
    // Ctrl-C ends the run through the normal path, so the guards remove the data directories.
    let rows = runtime.block_on(async {
        tokio::select! {
            rows = run_workloads(&settings, &targets) => Ok(rows),
            _ = tokio::signal::ctrl_c() => Err("interrupted".to_owned()),
        }
    });
    drop(runtime);
    let rows = rows?;
    context.load_after = servers::load_average();

    println!("{}", report::table(&rows));
    println!("{}", report::targets(&rows, settings.fsync));
    println!("load average after: {}", context.load_after);
    let path = report::json_path();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, report::json(&context, &rows)));
    match written {
        Ok(()) => println!("report: {}", path.display()),
        Err(error) => eprintln!("load: cannot write {}: {error}", path.display()),
    }
    Ok(())
}

async fn run_workloads(settings: &Settings, targets: &[Target]) -> Vec<Row> {
    let mut rows = Vec::new();
    for &workload in &settings.workloads {
        let rate = open_rate(settings, &rows);
        for &target in targets {
            eprintln!(
                "load: {} against {} ...",
                workload.name(),
                target.kind.name()
            );
            let outcome = measure_one(settings, workload, target, rate).await;
            if let Ok(measurement) = &outcome {
                eprintln!(
                    "load: {} against {}: {:.0} ops/s, {:.0} entries/s",
                    workload.name(),
                    target.kind.name(),
                    measurement.operations_per_second(),
                    measurement.entries_per_second()
                );
            }
            rows.push(Row {
                workload,
                server: target.kind,
                clients: settings.clients_label(workload),
                outcome,
            });
            tokio::time::sleep(SETTLE).await;
        }
    }
    rows
}

/// The open loop's offered rate: `SLUICE_LOAD_OPEN_RATE`, or a share of the lower `add`
/// throughput measured so far in this run.
fn open_rate(settings: &Settings, rows: &[Row]) -> Option<f64> {
    settings.open_rate.or_else(|| {
        rows.iter()
            .filter(|row| row.workload == Workload::Add)
            .filter_map(|row| row.outcome.as_ref().ok())
            .map(Measurement::operations_per_second)
            .filter(|rate| *rate > 0.0)
            .reduce(f64::min)
            .map(|peak| peak * settings.open_share)
    })
}

/// [`clients`] at an offered rate, in an open loop.
async fn clients_at<C, O, Connect, Connecting, Build>(
    settings: &Settings,
    pid: u32,
    connect: Connect,
    build: Build,
    rate: Option<f64>,
) -> Result<Measurement, String>
where
    C: Clone,
    O: Operation,
    Connect: Fn() -> Connecting,
    Connecting: std::future::Future<Output = Result<C, String>>,
    Build: FnMut(usize, C) -> O,
{
    let rate = rate.ok_or(
        "add-open needs SLUICE_LOAD_OPEN_RATE, or the add workload earlier in the same run",
    )?;
    let operations = operations(settings, connect, build).await?;
    Ok(open_loop(operations, rate, settings.warmup, settings.measure, pid).await)
}

/// Opens the connections the clients share (by default one per client) with `connect`,
/// builds each client's operation with `build` (given its index and its connection) and runs
/// them all.
async fn clients<C, O, Connect, Connecting, Build>(
    settings: &Settings,
    pid: u32,
    connect: Connect,
    build: Build,
) -> Result<Measurement, String>
where
    C: Clone,
    O: Operation,
    Connect: Fn() -> Connecting,
    Connecting: std::future::Future<Output = Result<C, String>>,
    Build: FnMut(usize, C) -> O,
{
    let operations = operations(settings, connect, build).await?;
    Ok(closed_loop(operations, settings.warmup, settings.measure, pid).await)
}

/// The clients' operations, on connections they share (by default one each).
async fn operations<C, O, Connect, Connecting, Build>(
    settings: &Settings,
    connect: Connect,
    mut build: Build,
) -> Result<Vec<O>, String>
where
    C: Clone,
    O: Operation,
    Connect: Fn() -> Connecting,
    Connecting: std::future::Future<Output = Result<C, String>>,
    Build: FnMut(usize, C) -> O,
{
    let mut connections = Vec::with_capacity(settings.connections);
    for _ in 0..settings.connections {
        connections.push(connect().await?);
    }
    Ok((0..settings.clients)
        .map(|index| build(index, connections[index % connections.len()].clone()))
        .collect())
}

/// The IDs the range workload's stream holds (`1-1`, `1-2`, …) and the ones a range may start
/// at, so that every range finds exactly COUNT entries.
fn range_ids(settings: &Settings) -> (Vec<String>, Arc<Vec<String>>) {
    let ids: Vec<String> = (1..=settings.range_stream_entries)
        .map(|sequence| format!("1-{sequence}"))
        .collect();
    let starts = ids[..=settings.range_stream_entries - settings.range_count].to_vec();
    (ids, Arc::new(starts))
}

async fn measure_one(
    settings: &Settings,
    workload: Workload,
    target: Target,
    rate: Option<f64>,
) -> Result<Measurement, String> {
    let stream = format!("load:{}", workload.name());
    let Target { kind, address, pid } = target;
    match kind {
        ServerKind::Sluice => measure_sluice(settings, workload, address, pid, &stream, rate).await,
        // Sluice's RESP front end gets exactly the client code Redis gets.
        ServerKind::SluiceResp | ServerKind::Redis => {
            measure_redis(settings, workload, address, pid, &stream, rate).await
        }
    }
}

/// One workload against Sluice.
async fn measure_sluice(
    settings: &Settings,
    workload: Workload,
    address: SocketAddr,
    pid: u32,
    stream: &str,
    rate: Option<f64>,
) -> Result<Measurement, String> {
    let sluice = |address| move || Unary::connect(address);
    let add = |_, client| sluice_side::Add::new(client, stream, 1);
    match workload {
        Workload::Add => clients(settings, pid, sluice(address), add).await,
        Workload::AddOpen => clients_at(settings, pid, sluice(address), add, rate).await,
        Workload::Batch => {
            clients(settings, pid, sluice(address), |_, client| {
                sluice_side::Add::new(client, stream, settings.batch_entries)
            })
            .await
        }
        Workload::Range => {
            let (ids, starts) = range_ids(settings);
            sluice_side::fill(address, stream, &ids).await?;
            clients(settings, pid, sluice(address), |index, client| {
                let starts = Arc::clone(&starts);
                sluice_side::Range::new(client, stream, starts, settings.range_count, index as u64)
            })
            .await
        }
        Workload::Ping => {
            clients(settings, pid, sluice(address), |_, client| {
                sluice_side::Ping::new(client)
            })
            .await
        }
        Workload::Health => {
            clients(settings, pid, sluice(address), |_, client| {
                sluice_side::Health::new(client)
            })
            .await
        }
        Workload::Len => {
            clients(settings, pid, sluice(address), |_, client| {
                sluice_side::Len::new(client, stream)
            })
            .await
        }
        Workload::Pipeline => sluice_pipeline(settings, address, pid, stream, false).await,
        Workload::PipelineStream => sluice_pipeline(settings, address, pid, stream, true).await,
        Workload::Tail => {
            sluice_side::tail(
                address,
                stream,
                settings.subscribers,
                settings.warmup,
                settings.measure,
                pid,
            )
            .await
        }
    }
}

/// One workload against Redis, or against Sluice's RESP listener.
async fn measure_redis(
    settings: &Settings,
    workload: Workload,
    address: SocketAddr,
    pid: u32,
    stream: &str,
    rate: Option<f64>,
) -> Result<Measurement, String> {
    let redis = |address| move || redis_side::connect(address);
    let add = |_, connection| redis_side::Add::new(connection, stream);
    match workload {
        Workload::Add => clients(settings, pid, redis(address), add).await,
        Workload::AddOpen => clients_at(settings, pid, redis(address), add, rate).await,
        Workload::Batch => {
            clients(settings, pid, redis(address), |_, connection| {
                redis_side::PipelinedAdd::new(connection, stream, settings.batch_entries)
            })
            .await
        }
        Workload::Range => {
            let (ids, starts) = range_ids(settings);
            redis_side::fill(address, stream, &ids).await?;
            clients(settings, pid, redis(address), |index, connection| {
                let starts = Arc::clone(&starts);
                redis_side::Range::new(
                    connection,
                    stream,
                    starts,
                    settings.range_count,
                    index as u64,
                )
            })
            .await
        }
        Workload::Ping | Workload::Health => {
            clients(settings, pid, redis(address), |_, connection| {
                redis_side::Simple::ping(connection)
            })
            .await
        }
        Workload::Len => {
            clients(settings, pid, redis(address), |_, connection| {
                redis_side::Simple::xlen(connection, stream)
            })
            .await
        }
        Workload::Pipeline | Workload::PipelineStream => {
            redis_side::create_group(address, stream).await?;
            let (mut producers, mut consumers) = (Vec::new(), Vec::new());
            for _ in 0..settings.producers {
                let connection = redis_side::connect(address).await?;
                producers.push(redis_side::Producer::new(connection, stream));
            }
            for index in 0..settings.consumers {
                let connection = redis_side::connect(address).await?;
                let name = format!("consumer-{index}");
                consumers.push(redis_side::Consumer::new(
                    connection,
                    stream,
                    name,
                    settings.group_count,
                ));
            }
            Ok(pipeline::run(producers, consumers, settings.warmup, settings.measure, pid).await)
        }
        Workload::Tail => {
            redis_side::tail(
                address,
                stream,
                settings.subscribers,
                settings.warmup,
                settings.measure,
                pid,
            )
            .await
        }
    }
}

/// The pipeline against Sluice: consumers on unary group reads and acks, or (`streaming`) on
/// the streaming consumer.
async fn sluice_pipeline(
    settings: &Settings,
    address: SocketAddr,
    pid: u32,
    stream: &str,
    streaming: bool,
) -> Result<Measurement, String> {
    sluice_side::create_group(address, stream).await?;
    let mut producers = Vec::new();
    for _ in 0..settings.producers {
        let unary = Unary::connect(address).await?;
        producers.push(sluice_side::Producer::new(unary, stream));
    }
    let (warmup, measure) = (settings.warmup, settings.measure);
    if streaming {
        let mut consumers = Vec::new();
        for index in 0..settings.consumers {
            let channel = sluice_side::channel(address).await?;
            let name = format!("consumer-{index}");
            let window = 2 * settings.group_count;
            consumers
                .push(sluice_side::StreamConsumer::start(channel, stream, name, window).await?);
        }
        return Ok(pipeline::run(producers, consumers, warmup, measure, pid).await);
    }
    let mut consumers = Vec::new();
    for index in 0..settings.consumers {
        let unary = Unary::connect(address).await?;
        let name = format!("consumer-{index}");
        consumers.push(sluice_side::Consumer::new(
            unary,
            stream,
            name,
            settings.group_count,
        ));
    }
    Ok(pipeline::run(producers, consumers, warmup, measure, pid).await)
}
