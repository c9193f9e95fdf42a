//! Metrics: a Prometheus endpoint on its own listener (`--metrics-listen`, loopback port 9479
//! by default, `off` to disable), built on the `metrics` facade and its Prometheus exporter.
//!
//! Events are recorded where they happen, through the facade: gRPC calls per method and
//! status with their latency ([`CallMetrics`], a step around each call), RESP commands and errors per
//! command with their latency, entries and bytes appended and read, each sync round's
//! latency and how many writers it acknowledged, entries dead-lettered per group. State is
//! sampled when Prometheus scrapes ([`Sources`]): streams, bytes on disk, open files and maps
//! against the budget, blocked readers and Tail subscribers against theirs, RESP clients, and
//! per consumer group its pending entries and lag, and per stream with a retention policy
//! what its guard holds back. A gauge no scrape has refreshed for a second (a dropped
//! stream's) is left out of the next scrape.
//!
//! The endpoint answers `GET /metrics` (anything else is 404) with the text exposition
//! format, over plain HTTP/1.1, one request per connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use metrics::{Counter, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::engine::Engine;
use crate::server::around::{AroundCall, HttpRequest, HttpResponse};
use crate::server::shutdown::Shutdown;

/// Default address of the metrics endpoint.
pub const METRICS_LISTEN_DEFAULT: &str = "127.0.0.1:9479";

/// Latency buckets, in seconds: 50 µs to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// Writers acknowledged by one sync round.
const WRITERS_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Largest request head read from a scraper.
const REQUEST_BYTES_MAX: usize = 8192;

/// Installs the process's Prometheus recorder; an error if another recorder is installed.
pub fn install() -> Result<PrometheusHandle, String> {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(
                Matcher::Full("sluice_sync_batch_writers".to_owned()),
                WRITERS_BUCKETS,
            )
        })
        .map_err(|error| error.to_string())?
        .idle_timeout(MetricKindMask::GAUGE, Some(Duration::from_secs(1)));
    let handle = builder
        .install_recorder()
        .map_err(|error| error.to_string())?;
    describe();
    Ok(handle)
}

/// Help texts for the metrics with the most need of one.
fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};
    describe_counter!(
        "sluice_grpc_requests_total",
        "gRPC calls by method and status code"
    );
    describe_histogram!(
        "sluice_grpc_request_seconds",
        Unit::Seconds,
        "gRPC call latency until the response headers (a stream's: until it opened)"
    );
    describe_counter!(
        "sluice_resp_commands_total",
        "Redis-protocol commands by command"
    );
    describe_counter!(
        "sluice_resp_errors_total",
        "Redis-protocol error replies by command"
    );
    describe_histogram!(
        "sluice_sync_seconds",
        Unit::Seconds,
        "one group-commit round: the fdatasyncs of everything it covers"
    );
    describe_histogram!(
        "sluice_sync_batch_writers",
        "writers (calls, pipelines) acknowledged by one sync round"
    );
    describe_counter!(
        "sluice_dead_lettered_total",
        "entries moved to a dead-letter stream, by stream and group"
    );
    describe_gauge!("sluice_open_files", "segment files and maps open");
    describe_gauge!(
        "sluice_retention_held_entries",
        "entries a retention policy's guard keeps because a group has not processed them"
    );
}

/// Where the sampled gauges come from.
#[derive(Clone)]
pub struct Sources {
    /// The engine.
    pub engine: Engine,
    /// The blocked-reader permits, and their number.
    pub blocked_readers: (Arc<Semaphore>, usize),
    /// The Tail permits, and their number.
    pub tail_subscribers: (Arc<Semaphore>, usize),
    /// Connected RESP clients, if RESP is on.
    pub resp_clients: Option<Arc<dyn Fn() -> usize + Send + Sync>>,
}

impl Sources {
    /// Sets every sampled gauge (blocking: reads group state and walks the data directory).
    pub fn sample(&self) {
        let engine = &self.engine;
        let names = engine.list(None);
        metrics::gauge!("sluice_streams").set(names.len() as f64);
        metrics::gauge!("sluice_open_files").set(engine.open_handles() as f64);
        metrics::gauge!("sluice_open_files_max").set(engine.config().open_files_max as f64);
        metrics::gauge!("sluice_disk_bytes").set(directory_bytes(engine.data_dir()) as f64);
        for (name, (permits, max)) in [
            ("sluice_blocked_readers", &self.blocked_readers),
            ("sluice_tail_subscribers", &self.tail_subscribers),
        ] {
            let used = max.saturating_sub(permits.available_permits());
            metrics::gauge!(name).set(used as f64);
            metrics::gauge!(format!("{name}_max")).set(*max as f64);
        }
        if let Some(clients) = &self.resp_clients {
            metrics::gauge!("sluice_resp_clients").set(clients() as f64);
        }
        for name in names {
            let stream = String::from_utf8_lossy(&name).into_owned();
            for group in engine.groups_info(&name).unwrap_or_default() {
                let labels = [
                    ("stream", stream.clone()),
                    ("group", String::from_utf8_lossy(&group.name).into_owned()),
                ];
                metrics::gauge!("sluice_group_pending", &labels).set(group.pending as f64);
                if let Some(lag) = group.lag {
                    metrics::gauge!("sluice_group_lag", &labels).set(lag as f64);
                }
            }
            if let Ok(Some(status)) = engine.retention_status(&name) {
                let labels = [("stream", stream.clone())];
                metrics::gauge!("sluice_retention_held_entries", &labels)
                    .set(status.held_entries as f64);
                metrics::gauge!("sluice_retention_held_bytes", &labels)
                    .set(status.held_bytes as f64);
            }
        }
    }
}

/// Bytes of the files under `dir` (what the data directory takes on disk, as allocated).
fn directory_bytes(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => directory_bytes(&entry.path()),
            Ok(metadata) => metadata.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}

/// The metrics endpoint, bound.
pub struct MetricsServer {
    listener: TcpListener,
    handle: PrometheusHandle,
}

/// The endpoint with the sources of its gauges, ready to serve.
pub struct ReadyMetricsServer {
    listener: TcpListener,
    handle: PrometheusHandle,
    sources: Sources,
}

impl MetricsServer {
    /// Serves `handle`'s metrics on `listener`.
    pub fn new(listener: TcpListener, handle: PrometheusHandle) -> Self {
        MetricsServer { listener, handle }
    }

    /// Adds the gauges' sources; returns the server and where it listens.
    pub fn with_sources(self, sources: Sources) -> (ReadyMetricsServer, SocketAddr) {
        let address = self
            .listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let server = ReadyMetricsServer {
            listener: self.listener,
            handle: self.handle,
            sources,
        };
        (server, address)
    }
}

impl ReadyMetricsServer {
    /// Answers scrapes until the shutdown fires. Meanwhile it folds the histograms' samples
    /// every few seconds (the exporter's upkeep), so memory stays bounded without scrapes.
    pub async fn serve(self, shutdown: Shutdown) {
        let shared = Arc::new(Scrapes {
            handle: self.handle,
            sources: self.sources,
            one_at_a_time: tokio::sync::Mutex::new(()),
        });
        let mut upkeep = tokio::time::interval(UPKEEP_INTERVAL);
        loop {
            let accepted = tokio::select! {
                () = shutdown.fired() => return,
                _ = upkeep.tick() => {
                    shared.handle.run_upkeep();
                    continue;
                }
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((socket, _)) => {
                    tokio::spawn(answer(socket, Arc::clone(&shared)));
                }
                Err(error) => {
                    tracing::warn!("metrics: accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// How often the exporter's histograms are folded when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// What scrapes share: one samples and renders at a time (a scrape takes every stream's
/// group lock and walks the data directory).
struct Scrapes {
    handle: PrometheusHandle,
    sources: Sources,
    one_at_a_time: tokio::sync::Mutex<()>,
}

/// One scrape: read the request head, answer, close.
async fn answer(mut socket: TcpStream, shared: Arc<Scrapes>) {
    let mut head = Vec::with_capacity(1024);
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(4).any(|window| window == b"\r\n\r\n") {
            if head.len() > REQUEST_BYTES_MAX || socket.read_buf(&mut head).await? == 0 {
                return Err(std::io::Error::other("incomplete request"));
            }
        }
        Ok(())
    })
    .await;
    if !matches!(read, Ok(Ok(()))) {
        return;
    }
    let response = if head.starts_with(b"GET /metrics ") || head.starts_with(b"GET /metrics?") {
        let _turn = shared.one_at_a_time.lock().await;
        let scrapes = Arc::clone(&shared);
        let sampled = tokio::task::spawn_blocking(move || {
            scrapes.sources.sample();
            scrapes.handle.render()
        })
        .await;
        match sampled {
            Ok(body) => http_response("200 OK", "text/plain; version=0.0.4", &body),
            Err(error) => http_response(
                "500 Internal Server Error",
                "text/plain",
                &error.to_string(),
            ),
        }
    } else {
        http_response("404 Not Found", "text/plain", "try GET /metrics\n")
    };
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The step that counts and times every gRPC call by method and status; a layer through
/// [`Around`](crate::server::around::Around).
#[derive(Clone, Copy, Default)]
pub struct CallMetrics;

impl AroundCall for CallMetrics {
    fn around<S>(
        &self,
        request: HttpRequest,
        mut inner: S,
    ) -> BoxFuture<'static, Result<HttpResponse, S::Error>>
    where
        S: tower::Service<HttpRequest, Response = HttpResponse> + Send + 'static,
        S::Future: Send + 'static,
    {
        let method = method_handles(request.uri().path());
        let started = Instant::now();
        let call = inner.call(request);
        Box::pin(async move {
            let response = call.await?;
            // A refusal is a trailers-only response: its status is in the headers. A call
            // that got as far as its body is OK here.
            let code = response
                .headers()
                .get("grpc-status")
                .map_or(tonic::Code::Ok, |value| {
                    tonic::Code::from_bytes(value.as_bytes())
                });
            method.record(code, started.elapsed());
            Ok(response)
        })
    }
}

/// Status codes, 0 (OK) to 16 (UNAUTHENTICATED).
const CODES: usize = 17;

/// One method's call metrics: its label and its handles, each registered on first use (so a
/// method never called, or a code never returned, has no series). Looked up once per call by
/// path, where the `metrics` macros would build a key and search the registry for each.
struct MethodMetrics {
    label: &'static str,
    seconds: OnceLock<Histogram>,
    calls: [OnceLock<Counter>; CODES],
}

impl MethodMetrics {
    fn new(label: &'static str) -> MethodMetrics {
        MethodMetrics {
            label,
            seconds: OnceLock::new(),
            calls: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// Counts one call that ended with `code` after `elapsed`.
    fn record(&self, code: tonic::Code, elapsed: Duration) {
        let method = self.label;
        self.seconds
            .get_or_init(|| metrics::histogram!("sluice_grpc_request_seconds", "method" => method))
            .record(elapsed.as_secs_f64());
        let index = (code as usize).min(CODES - 1);
        self.calls[index]
            .get_or_init(|| {
                metrics::counter!(
                    "sluice_grpc_requests_total",
                    "method" => method,
                    "code" => code_label(code)
                )
            })
            .increment(1);
    }
}

/// The metrics of a request path's method: one of the server's methods, or `other`, so that
/// clients sending made-up paths cannot grow the set of series without bound. The handles
/// belong to the recorder installed when they were first used: `sluice serve` installs it
/// before it serves (or never, with metrics off).
fn method_handles(path: &str) -> &'static MethodMetrics {
    static METHODS: OnceLock<(HashMap<&'static str, MethodMetrics>, MethodMetrics)> =
        OnceLock::new();
    let (methods, other) = METHODS.get_or_init(|| {
        use prost::Message;
        let mut paths = vec![
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        ];
        for encoded in [
            crate::proto::v1::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(files) = prost_types::FileDescriptorSet::decode(encoded) else {
                continue;
            };
            for file in files.file {
                for service in &file.service {
                    for method in &service.method {
                        let path =
                            format!("/{}.{}/{}", file.package(), service.name(), method.name());
                        // Once per method of the API, for the life of the process.
                        paths.push(Box::leak(path.into_boxed_str()));
                    }
                }
            }
        }
        let methods = paths
            .into_iter()
            .map(|path| (path, MethodMetrics::new(path)))
            .collect();
        (methods, MethodMetrics::new("other"))
    });
    methods.get(path).unwrap_or(other)
}

/// A status code's label (its name in tonic).
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method_label(path: &str) -> &'static str {
        method_handles(path).label
    }

    #[test]
    fn only_the_apis_methods_are_labels() {
        assert_eq!(
            method_label("/sluice.v1.Streams/Add"),
            "/sluice.v1.Streams/Add"
        );
        assert_eq!(
            method_label("/sluice.v1.Groups/Consume"),
            "/sluice.v1.Groups/Consume"
        );
        assert_eq!(
            method_label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(method_label("/sluice.v1.Streams/Nope"), "other");
        assert_eq!(method_label("/made/up"), "other");
        assert_eq!(
            code_label(tonic::Code::PermissionDenied),
            "PermissionDenied"
        );
    }
}
