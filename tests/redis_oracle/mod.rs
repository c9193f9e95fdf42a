//! The Redis oracle, shared by the client's integration tests (`cli_render`, `cli_client`): a
//! real `redis-server` whose answers are the reference, an engine executor that answers typed
//! commands straight from a [`sluice::Engine`], the scripted scenarios both are run through,
//! and the masks for figures that legitimately differ (`masks`).

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::thread::sleep;
use std::time::Duration;

use sluice::cli::repl::{self, Line};
use sluice::command::{Command, XRead, XReadGroup};
use sluice::engine::ReadGroup;
use sluice::model::ReadOptions;
use sluice::reply::{self, render_cli, Reply};
use sluice::{Config, Engine, FsyncPolicy, NewEntry, ReadLimit};

pub mod extensions;
mod masks;
pub mod scenarios;

// Each test binary uses its own part of this module (see `dead_code` above).
#[allow(unused_imports)]
pub use masks::{mask_clock_ids, mask_group_times, mask_radix_tree_figures};

/// Attempts at starting redis-server on a free port before giving up.
const START_ATTEMPTS_MAX: usize = 5;
/// Times redis-cli is asked for PONG while a fresh server starts.
const READY_POLLS_MAX: usize = 400;
/// Pause between those polls.
const READY_POLL_INTERVAL_MS: u64 = 25;

/// Whether the external programs are required (`SLUICE_REQUIRE_EXTERNAL=1`): then a missing
/// redis-server fails the test instead of skipping it.
fn external_required() -> bool {
    std::env::var("SLUICE_REQUIRE_EXTERNAL").is_ok_and(|value| value == "1")
}

fn installed(program: &str) -> bool {
    Process::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A redis-server of our own, killed when dropped.
pub struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts redis-server on a free port with persistence off; `None` (after a loud message)
    /// when Redis is not installed, unless external programs are required.
    pub fn start(test: &str) -> Option<Redis> {
        if !installed("redis-server") || !installed("redis-cli") {
            assert!(
                !external_required(),
                "SLUICE_REQUIRE_EXTERNAL=1 but redis-server/redis-cli are not installed"
            );
            eprintln!(
                "\n!!!!!!!!\n!!! SKIPPING {test}: redis-server and redis-cli (7.0.15) are not \
                 installed; install them (apt-get install redis-server redis-tools) or set \
                 SLUICE_REQUIRE_EXTERNAL=1 to make this a failure\n!!!!!!!!\n"
            );
            return None;
        }
        for _ in 0..START_ATTEMPTS_MAX {
            if let Some(redis) = Redis::try_start() {
                return Some(redis);
            }
        }
        panic!("redis-server did not start after {START_ATTEMPTS_MAX} attempts");
    }

    fn try_start() -> Option<Redis> {
        let port = free_port();
        let child = Process::new("redis-server")
            .args(["--port", &port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed but cannot be started");
        let mut redis = Redis { child, port };
        for _ in 0..READY_POLLS_MAX {
            // The port may have been taken meanwhile: then the server exits and we retry.
            if let Ok(Some(_)) = redis.child.try_wait() {
                return None;
            }
            let answer = redis.cli(&["PING"]);
            if answer == b"PONG\n" {
                return Some(redis);
            }
            sleep(Duration::from_millis(READY_POLL_INTERVAL_MS));
        }
        None
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs one command with `redis-cli --no-raw` (arguments passed as they are).
    pub fn cli(&self, arguments: &[&str]) -> Vec<u8> {
        let output = Process::new("redis-cli")
            .args(["-p", &self.port.to_string(), "--no-raw"])
            .args(arguments)
            .stderr(Stdio::null())
            .output()
            .expect("redis-cli runs");
        output.stdout
    }

    /// Empties the server, then feeds `script` to an interactive `redis-cli --no-raw` (one
    /// command per line, quoting and escapes as at its prompt) and returns what it printed.
    pub fn run_script(&self, script: &str) -> String {
        assert_eq!(self.cli(&["FLUSHALL"]), b"OK\n");
        let output = pipe_through(
            Process::new("redis-cli").args(["-p", &self.port.to_string(), "--no-raw"]),
            script,
        );
        // Only error texts echoing a user's non-UTF-8 bytes are not UTF-8; Sluice's replies
        // hold text, so it shows those bytes as U+FFFD, and so does the comparison.
        String::from_utf8_lossy(&output).into_owned()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `process` with `input` on stdin and returns its stdout.
pub fn pipe_through(process: &mut Process, input: &str) -> Vec<u8> {
    let mut child = process
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the process starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin
            .write_all(input.as_bytes())
            .expect("the script is written");
    }
    let output = child.wait_with_output().expect("the process finishes");
    if !output.stderr.is_empty() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&output.stderr));
    }
    output.stdout
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS hands out a free port")
}

/// An engine on a fresh directory, without fsync (tests do not need durability).
pub fn open_engine(dir: &Path) -> Engine {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::No;
    Engine::open(config).expect("the engine opens")
}

/// Runs `script` the way the prompt does, answering from `engine`: what `sluice cli` would
/// print if its server were this engine.
pub fn run_script_on_engine(engine: &Engine, script: &str) -> String {
    let mut out = String::new();
    for line in script.lines() {
        match repl::interpret(line.as_bytes()) {
            Line::Blank => {}
            Line::Quit => break,
            Line::Help => out.push_str(&repl::help_text()),
            Line::Refused(message) => {
                out.push_str(message);
                out.push('\n');
            }
            Line::Run { repeat, arguments } => {
                for _ in 0..repeat {
                    let reply = match sluice::command::parse(&arguments) {
                        Ok(command) => execute(engine, &command),
                        Err(error) => error.into_reply(),
                    };
                    out.push_str(&render_cli(&reply));
                }
            }
        }
    }
    out
}

/// Answers a command from the engine, building the reply with `sluice::reply`.
pub fn execute(engine: &Engine, command: &Command) -> Reply {
    match answer(engine, command) {
        Ok(reply) => reply,
        Err(error) => Reply::Error(error.to_string()),
    }
}

fn read_limit(count: Option<u64>) -> ReadLimit {
    ReadLimit::count(count.map_or(usize::MAX, |count| {
        usize::try_from(count).unwrap_or(usize::MAX)
    }))
}

fn answer(engine: &Engine, command: &Command) -> sluice::Result<Reply> {
    Ok(match command {
        Command::Ping { message } => message.clone().map_or_else(reply::pong, Reply::Bulk),
        Command::XAdd(add) => {
            let entry = NewEntry {
                id: add.id,
                fields: add.fields.clone(),
            };
            let ids = engine.add(&add.key, &[entry], add.nomkstream, add.trim.as_ref())?;
            reply::xadd(ids.and_then(|ids| ids.last().copied()))
        }
        Command::XRange(range) => {
            let found = engine.range(
                &range.key,
                range.range,
                range.reverse,
                read_limit(range.count),
            )?;
            reply::xrange(
                range.count,
                found.is_some(),
                found.as_deref().unwrap_or_default(),
            )
        }
        Command::XRead(read) => xread(engine, read)?,
        Command::XLen { key } => reply::integer(engine.len(key)?),
        Command::XDel { key, ids } => reply::integer(engine.delete(key, ids)?),
        Command::XTrim { key, trim } => reply::integer(engine.trim(key, trim)?),
        Command::XSetId(set_id) => {
            engine.set_id(
                &set_id.key,
                set_id.last_id,
                set_id.entries_added,
                set_id.max_deleted,
            )?;
            reply::ok()
        }
        Command::XInfoStream { key, full } => {
            let full_count = full.map(|count| usize::try_from(count).unwrap_or(usize::MAX));
            let info = engine.info(key, full_count, ReadLimit::count(usize::MAX))?;
            reply::xinfo_stream(&info, full.is_some())
        }
        Command::XInfoHelp => reply::xinfo_help(),
        Command::Del { keys } => {
            let mut dropped = 0;
            for key in keys {
                if engine.drop_stream(key)? {
                    dropped += 1;
                }
            }
            reply::integer(dropped)
        }
        Command::Exists { keys } => reply::integer(
            keys.iter()
                .filter(|key| matches!(engine.exists(key), Ok(true)))
                .count() as u64,
        ),
        Command::Keys { pattern } => reply::keys(&engine.list(Some(pattern))),
        Command::ErrorUnlessMissing {
            key,
            missing,
            error,
        } => {
            if matches!(engine.exists(key), Ok(true)) {
                error.clone().into_reply()
            } else {
                missing.clone()
            }
        }
        group_command => answer_group(engine, group_command)?,
    })
}

/// The consumer-group commands: XREADGROUP here, the others as the RESP front end answers
/// them ([`sluice::server::resp::answer_group`]).
fn answer_group(engine: &Engine, command: &Command) -> sluice::Result<Reply> {
    Ok(match command {
        Command::XReadGroup(read) => read_group(engine, read)?,
        other => sluice::server::resp::answer_group(engine, other.clone(), usize::MAX)
            .unwrap_or_else(|error| Reply::Error(error.to_string())),
    })
}

/// XREAD. Nothing else writes here, so a BLOCK would only time out: nil, as Redis says.
fn xread(engine: &Engine, read: &XRead) -> sluice::Result<Reply> {
    let mut cursors = Vec::new();
    for (name, start) in &read.streams {
        cursors.push((name.clone(), engine.resolve_start(name, *start)?));
    }
    let mut streams = Vec::new();
    engine.read_after(&cursors, read_limit(read.count), |name, entries| {
        streams.push((name.to_vec(), entries));
        Ok::<_, sluice::Error>(0)
    })?;
    Ok(reply::xread(&streams))
}

/// XREADGROUP. Nothing else writes here, so a BLOCK would only time out: nil, as Redis says.
fn read_group(engine: &Engine, read: &XReadGroup) -> sluice::Result<Reply> {
    let request = ReadGroup {
        group: read.group.clone(),
        consumer: read.consumer.clone(),
        streams: read.streams.clone(),
        options: ReadOptions {
            count: read
                .count
                .map_or(0, |count| usize::try_from(count).unwrap_or(usize::MAX)),
            noack: read.noack,
            claim_min_idle_ms: read.claim_min_idle_ms,
        },
        limit: ReadLimit::count(usize::MAX),
    };
    let outcome = engine.read_group(&request)?;
    Ok(reply::xreadgroup(
        &outcome.streams,
        read.claim_min_idle_ms.is_some(),
    ))
}

/// Asserts two outputs are the same, showing both with line numbers when not.
pub fn assert_same_output(scenario: &str, script: &str, expected: &str, actual: &str) {
    if expected == actual {
        return;
    }
    let expected_lines: Vec<&str> = expected.lines().collect();
    let actual_lines: Vec<&str> = actual.lines().collect();
    let first_difference = expected_lines
        .iter()
        .zip(&actual_lines)
        .position(|(left, right)| left != right)
        .unwrap_or(expected_lines.len().min(actual_lines.len()));
    panic!(
        "scenario {scenario}: output differs from redis-cli from line {}\n\
         --- script ---\n{script}\n--- redis-cli ---\n{expected}\n--- sluice ---\n{actual}",
        first_difference + 1
    );
}
