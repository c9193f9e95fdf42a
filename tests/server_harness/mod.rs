//! The server harness, shared by the end-to-end tests: starts the real `sluice` binary and
//! talks to it over gRPC.
//!
//! Each server listens on port 0 (a free port the kernel picks) and the harness learns the
//! port from the line the server logs once it accepts connections:
//! `... INFO sluice::server: listening address=127.0.0.1:PORT ...`. Every line the server
//! writes to stderr is echoed to the test's stderr (shown when a test fails) and can be
//! awaited with [`Server::wait_for_log`]; the server runs with `sluice::server` at debug level
//! so tests can wait for `read blocked` before waking a reader.
//!
//! No test asserts on time. [`guard`] only turns a hang into a failure after [`HANG_GUARD`],
//! far beyond anything the suite needs.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use sluice::proto::v1;
use sluice::proto::v1::streams_client::StreamsClient;
use tokio::sync::mpsc;
use tonic::transport::Channel;

/// How long any single wait may take before the test is declared hung.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// Awaits `future`, failing the test if it hangs.
pub async fn guard<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(HANG_GUARD, future).await {
        Ok(value) => value,
        Err(_) => panic!("hung: {what}"),
    }
}

/// Small segments so that tests cross segment boundaries; no fsync unless durability is
/// what a test is about.
const DEFAULT_FLAGS: &[(&str, &str)] = &[
    ("--listen", "127.0.0.1:0"),
    ("--fsync", "no"),
    ("--segment-bytes-max", "4096"),
    ("--entry-bytes-max", "2048"),
    ("--index-interval-bytes", "256"),
];

/// How to start a server.
pub struct Launch {
    flags: Vec<(String, String)>,
    env: Vec<(String, String)>,
    defaults: bool,
}

impl Launch {
    /// A server on a free port with data in `data_dir` and the test defaults.
    pub fn new(data_dir: &Path) -> Launch {
        Launch {
            flags: vec![("--data-dir".into(), data_dir.display().to_string())],
            env: Vec::new(),
            defaults: true,
        }
    }

    /// No flags at all: only what the environment says.
    pub fn bare() -> Launch {
        Launch {
            flags: Vec::new(),
            env: Vec::new(),
            defaults: false,
        }
    }

    /// Adds (or overrides a default) flag.
    pub fn flag(mut self, name: &str, value: &str) -> Launch {
        self.flags.push((name.into(), value.into()));
        self
    }

    /// Sets an environment variable for the server.
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.push((name.into(), value.into()));
        self
    }

    fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sluice"));
        command.arg("serve");
        if self.defaults {
            for (name, value) in DEFAULT_FLAGS {
                if !self.flags.iter().any(|(given, _)| given == name) {
                    command.arg(name).arg(value);
                }
            }
        }
        for (name, value) in &self.flags {
            command.arg(name).arg(value);
        }
        // The harness owns the environment the server sees for its own variables.
        for (name, _) in std::env::vars() {
            if name.starts_with("SLUICE_") {
                command.env_remove(name);
            }
        }
        command.env("RUST_LOG", "info,sluice::server=debug");
        // The Redis-protocol listener on a free port too, unless a test says otherwise (its
        // default port would collide between servers running side by side).
        command.env("SLUICE_RESP_LISTEN", "127.0.0.1:0");
        command.env("SLUICE_METRICS_LISTEN", "127.0.0.1:0");
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Runs a server that is expected to refuse to start; returns its exit status and
    /// stderr. A server that starts after all is killed after [`HANG_GUARD`] and the test
    /// fails.
    pub fn run_to_exit(&self) -> (ExitStatus, String) {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let started = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for sluice") {
                break status;
            }
            if started.elapsed() > HANG_GUARD {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sluice did not exit: {:?}", reader.join());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        (status, reader.join().expect("stderr reader"))
    }

    /// Starts the server and waits until it listens.
    pub async fn start(self) -> Server {
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sluice");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (sender, mut lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("[sluice] {line}");
                let _ = sender.send(line);
            }
        });
        let mut seen = Vec::new();
        let (address, resp_address, metrics_address, listening) = guard("server start", async {
            while let Some(line) = lines.recv().await {
                if let Some(address) = listening_address(&line) {
                    return (
                        address,
                        logged_address(&line, " resp="),
                        logged_address(&line, " metrics="),
                        line,
                    );
                }
                seen.push(line);
            }
            panic!("the server exited before listening:\n{}", seen.join("\n"));
        })
        .await;
        Server {
            child: Some(child),
            address,
            resp_address,
            metrics_address,
            listening,
            lines,
        }
    }
}

fn listening_address(line: &str) -> Option<SocketAddr> {
    logged_address(line, " listening address=")
}

/// The address logged after `label` (`None` for `off`).
fn logged_address(line: &str, label: &str) -> Option<SocketAddr> {
    let rest = line.split(label).nth(1)?;
    rest.split_whitespace().next()?.parse().ok()
}

/// A running `sluice serve`; killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// Where it listens.
    pub address: SocketAddr,
    /// Where it serves the Redis protocol (`None`: off).
    pub resp_address: Option<SocketAddr>,
    /// Where it serves metrics (`None`: off).
    pub metrics_address: Option<SocketAddr>,
    /// The line it logged once listening (its settings).
    pub listening: String,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Server {
    /// A server with the test defaults and `flags`, data in `data_dir`.
    pub async fn start(data_dir: &Path, flags: &[(&str, &str)]) -> Server {
        let mut launch = Launch::new(data_dir);
        for (name, value) in flags {
            launch = launch.flag(name, value);
        }
        launch.start().await
    }

    /// A client of the Streams service.
    pub async fn client(&self) -> StreamsClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.address))
            .expect("valid URI")
            .connect()
            .await
            .expect("connect to sluice");
        StreamsClient::new(channel)
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }

    /// A channel for other services (reflection, health).
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.address))
            .expect("valid URI")
            .connect()
            .await
            .expect("connect to sluice")
    }

    /// Waits for a log line containing `needle` (lines before it are consumed).
    pub async fn wait_for_log(&mut self, needle: &str) -> String {
        let lines = &mut self.lines;
        guard(&format!("log line {needle:?}"), async {
            while let Some(line) = lines.recv().await {
                if line.contains(needle) {
                    return line;
                }
            }
            panic!("the server exited without logging {needle:?}");
        })
        .await
    }

    /// The server's process ID (to signal it).
    pub fn pid(&self) -> libc::pid_t {
        let child = self.child.as_ref().expect("running");
        libc::pid_t::try_from(child.id()).expect("pid fits")
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
        // SAFETY: kill only sends a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill failed");
        guard(
            "server exit after SIGTERM",
            tokio::task::spawn_blocking(move || child.wait().expect("wait for sluice")),
        )
        .await
        .expect("wait task")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A temporary data directory.
pub fn data_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

/// A text field.
pub fn field(name: &str, value: &str) -> v1::Field {
    v1::Field {
        field_name: Some(v1::field::FieldName::Name(name.into())),
        field_value: Some(v1::field::FieldValue::Value(value.into())),
    }
}

/// A field given as bytes.
pub fn bytes_field(name: &[u8], value: &[u8]) -> v1::Field {
    v1::Field {
        field_name: Some(v1::field::FieldName::NameBytes(name.to_vec())),
        field_value: Some(v1::field::FieldValue::ValueBytes(value.to_vec())),
    }
}

/// An Add of one entry with text fields.
pub fn add_request(stream: &str, id: &str, fields: &[(&str, &str)]) -> v1::AddRequest {
    v1::AddRequest {
        key: Some(v1::add_request::Key::Stream(stream.into())),
        id: id.into(),
        fields: fields
            .iter()
            .map(|(name, value)| field(name, value))
            .collect(),
        ..Default::default()
    }
}

/// Adds one entry; returns its ID.
pub async fn add(
    client: &mut StreamsClient<Channel>,
    stream: &str,
    id: &str,
    fields: &[(&str, &str)],
) -> String {
    client
        .add(add_request(stream, id, fields))
        .await
        .expect("add")
        .into_inner()
        .id
}

/// A Range request over a text-named stream.
pub fn range_request(stream: &str, start: &str, end: &str) -> v1::RangeRequest {
    v1::RangeRequest {
        key: Some(v1::range_request::Key::Stream(stream.into())),
        start: start.into(),
        end: end.into(),
        ..Default::default()
    }
}

/// Every entry of a stream, oldest first (COUNT large enough for tests).
pub async fn range_all(client: &mut StreamsClient<Channel>, stream: &str) -> Vec<v1::Entry> {
    let mut request = range_request(stream, "-", "+");
    request.count = Some(100_000);
    client
        .range(request)
        .await
        .expect("range")
        .into_inner()
        .entries
}

/// The IDs of entries.
pub fn ids(entries: &[v1::Entry]) -> Vec<String> {
    entries.iter().map(|entry| entry.id.clone()).collect()
}

/// A StreamOffset for Read.
pub fn offset(stream: &str, id: &str) -> v1::StreamOffset {
    v1::StreamOffset {
        key: Some(v1::stream_offset::Key::Stream(stream.into())),
        id: id.into(),
    }
}

/// Asserts a status's code and exact message.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    message: &str,
) {
    match result {
        Ok(value) => panic!("expected {code:?} {message:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(
                (status.code(), status.message()),
                (code, message),
                "unexpected status"
            );
        }
    }
}

/// Asserts a status's code and that its message contains `part`.
#[track_caller]
pub fn assert_status_contains<T: std::fmt::Debug>(
    result: Result<T, tonic::Status>,
    code: tonic::Code,
    part: &str,
) {
    match result {
        Ok(value) => panic!("expected {code:?} containing {part:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected code: {status:?}");
            assert!(
                status.message().contains(part),
                "{:?} does not contain {part:?}",
                status.message()
            );
        }
    }
}

/// Whether a missing external program (python's grpcio, grpcurl, ...) fails the test
/// (`SLUICE_REQUIRE_EXTERNAL=1`, as CI sets) instead of skipping it.
pub fn external_required() -> bool {
    std::env::var("SLUICE_REQUIRE_EXTERNAL").as_deref() == Ok("1")
}

/// Handles a missing external dependency: under `SLUICE_REQUIRE_EXTERNAL=1` the test fails;
/// otherwise this prints a loud warning and the caller returns, passing without checking
/// anything. The warning is written to stderr directly, not through `eprintln!`, so that
/// cargo test's capture does not hide it when the test passes.
#[track_caller]
pub fn skip_unless_required(test: &str, missing: &str, install: &str) {
    assert!(
        !external_required(),
        "{test}: {missing}, and SLUICE_REQUIRE_EXTERNAL=1 makes that a failure ({install})"
    );
    let warning = format!(
        "\n!!!!!!!!\n!!! SKIPPING {test}: {missing}; {install}, or set \
         SLUICE_REQUIRE_EXTERNAL=1 to make this a failure\n!!!!!!!!\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), warning.as_bytes());
}

/// Runs a child process to completion, killing it if it hangs (see [`guard`]); its output is
/// captured.
pub async fn run_to_completion(
    what: &str,
    command: &mut tokio::process::Command,
) -> std::process::Output {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    guard(what, command.output())
        .await
        .unwrap_or_else(|error| panic!("{what}: cannot run: {error}"))
}

/// Whether `program args…` runs and succeeds (a probe for an external tool or package).
pub async fn runs(program: &str, args: &[&str]) -> bool {
    tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .is_ok_and(|status| status.success())
}

/// Whether an external tool is there; if not, [`skip_unless_required`] (the caller returns
/// when this says no).
pub async fn external(test: &str, program: &str, args: &[&str], install: &str) -> bool {
    if runs(program, args).await {
        return true;
    }
    skip_unless_required(test, &format!("{program} {args:?} failed"), install);
    false
}
