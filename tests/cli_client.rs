//! The `sluice` binary against a gRPC server: the client's requests and its reading of the
//! responses (`src/cli/client.rs`), the prompt and one-shot modes, exit codes, and `tail`.
//!
//! The server is the real `sluice serve` on a free port (`server_harness`). Replies are
//! compared with `redis-cli --no-raw` against a real redis-server (`redis_oracle`), which is
//! skipped loudly when Redis is not installed unless `SLUICE_REQUIRE_EXTERNAL=1`.

mod redis_oracle;
mod server_harness;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command as Process, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use redis_oracle::extensions::{EXTENSIONS_SCRIPT, EXTENSIONS_TRANSCRIPT};
use redis_oracle::scenarios::{GROUP_SCENARIOS, SCENARIOS};
use redis_oracle::{
    assert_same_output, free_port, mask_clock_ids, mask_group_times, mask_radix_tree_figures,
    pipe_through, Redis,
};
use server_harness::Server;
use sluice::proto::v1;

/// A guard against a hung child, not a performance check: far longer than any step needs.
const HANG_GUARD_SECONDS: u64 = 60;

fn sluice() -> Process {
    let mut process = Process::new(env!("CARGO_BIN_EXE_sluice"));
    process.env_remove("SLUICE_ADDR");
    process
}

/// Runs `future` to completion on a runtime of its own (these tests are synchronous).
fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A real server on a free port, with room for large entries (one test sends 900 KB ones).
fn fresh_server() -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let flags = [
        ("--segment-bytes-max", "8388608"),
        ("--entry-bytes-max", "1048576"),
    ];
    let server = block_on(Server::start(dir.path(), &flags));
    (server, dir)
}

/// The server's address as `--addr` takes it.
fn address(server: &Server) -> String {
    server.address.to_string()
}

/// Runs `script` through `sluice cli`'s prompt against a fresh server.
fn through_the_prompt(script: &str) -> String {
    let (server, _dir) = fresh_server();
    let output = pipe_through(sluice().args(["cli", "--addr", &address(&server)]), script);
    String::from_utf8_lossy(&output).into_owned()
}

#[test]
fn every_scenario_prints_as_redis_cli_through_the_prompt() {
    let Some(redis) = Redis::start("every_scenario_prints_as_redis_cli_through_the_prompt") else {
        return;
    };
    for (name, script) in SCENARIOS {
        let expected = mask_radix_tree_figures(&redis.run_script(script));
        let actual = mask_radix_tree_figures(&through_the_prompt(script));
        assert_same_output(name, script, &expected, &actual);
    }
}

/// The group commands over the Groups service, with the consumer groups' clock readings
/// masked as `cli_render` masks them.
#[test]
fn every_group_scenario_prints_as_redis_cli_through_the_prompt() {
    let Some(redis) = Redis::start("every_group_scenario_prints_as_redis_cli_through_the_prompt")
    else {
        return;
    };
    let masked = |text: &str| mask_group_times(&mask_radix_tree_figures(text));
    for (name, script) in GROUP_SCENARIOS {
        let expected = masked(&redis.run_script(script));
        let actual = masked(&through_the_prompt(script));
        assert_same_output(name, script, &expected, &actual);
    }
}

/// Sluice's own group commands (XNACK, XRENEW, XGROUP SETPOLICY, the policy options, CLAIM)
/// print the fixed transcript the engine executor prints.
#[test]
fn sluice_group_extensions_print_the_transcript_through_the_prompt() {
    let actual = mask_clock_ids(&through_the_prompt(EXTENSIONS_SCRIPT));
    assert_same_output(
        "sluice_group_extensions",
        EXTENSIONS_SCRIPT,
        EXTENSIONS_TRANSCRIPT,
        &actual,
    );
}

fn run(process: &mut Process) -> Output {
    process.stdin(Stdio::null()).output().expect("sluice runs")
}

#[test]
fn one_shot_commands_print_as_redis_cli_and_exit_zero() {
    let Some(redis) = Redis::start("one_shot_commands_print_as_redis_cli_and_exit_zero") else {
        return;
    };
    assert_eq!(redis.cli(&["FLUSHALL"]), b"OK\n");
    let (server, _dir) = fresh_server();
    // Arguments go through as bytes, without unescaping: "\x41" stays four characters.
    let commands: Vec<Vec<&[u8]>> = vec![
        vec![
            b"XADD",
            b"o",
            b"1-0",
            b"space d",
            b"\xff\xfe",
            b"new\nline",
            br"lit\x41",
        ],
        vec![b"xadd", b"o", b"2-*", "é".as_bytes(), b""],
        vec![b"XRANGE", b"o", b"-", b"+"],
        vec![b"XREVRANGE", b"o", b"+", b"-", b"COUNT", b"1"],
        vec![b"XREAD", b"COUNT", b"5", b"STREAMS", b"o", b"$"],
        vec![b"XREAD", b"STREAMS", b"o", b"1-0"],
        vec![b"XLEN", b"o"],
        vec![b"XINFO", b"STREAM", b"o"],
        vec![b"XINFO", b"STREAM", b"nope"],
        vec![b"XDEL", b"o", b"1-0"],
        vec![b"XADD", b"o", b"1-0", b"a", b"b"],
        vec![b"XSETID", b"o", b"9-0"],
        vec![b"XTRIM", b"o", b"MAXLEN", b"0"],
        vec![b"EXISTS", b"o", b"nope"],
        vec![b"KEYS", b"*"],
        vec![b"DEL", b"o"],
        vec![b"PING"],
        vec![b"nosuchcommand", b"x"],
    ];
    for command in commands {
        let arguments: Vec<&OsStr> = command
            .iter()
            .map(|argument| OsStr::from_bytes(argument))
            .collect();
        let expected = Process::new("redis-cli")
            .args(["-p", &redis.port().to_string(), "--no-raw"])
            .args(&arguments)
            .output()
            .expect("redis-cli runs");
        let actual = run(sluice()
            .args(["cli", "--addr", &address(&server)])
            .args(&arguments));
        let shown = String::from_utf8_lossy(&command.join(&b' ')).into_owned();
        assert_eq!(
            mask_radix_tree_figures(&String::from_utf8_lossy(&actual.stdout)),
            mask_radix_tree_figures(&String::from_utf8_lossy(&expected.stdout)),
            "{shown}"
        );
        assert_eq!(actual.status.code(), expected.status.code(), "{shown}");
        assert_eq!(actual.status.code(), Some(0), "{shown}");
        assert!(
            actual.stderr.is_empty(),
            "{shown}: {}",
            String::from_utf8_lossy(&actual.stderr)
        );
    }
}

#[test]
fn the_address_can_come_from_the_environment() {
    let (server, _dir) = fresh_server();
    let output = run(sluice()
        .env("SLUICE_ADDR", address(&server))
        .args(["cli", "PING"]));
    assert_eq!(output.stdout, b"PONG\n");
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn no_server_is_a_one_line_error_and_exit_one() {
    let address = format!("127.0.0.1:{}", free_port());
    let output = run(sluice().args(["cli", "--addr", &address, "XLEN", "s"]));
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        format!("Could not connect to Sluice at {address}: Connection refused\n")
    );
}

#[test]
fn the_prompt_keeps_going_without_a_server() {
    // Like redis-cli: one message at start, one per command, and exit code 0 at the end.
    let address = format!("127.0.0.1:{}", free_port());
    let output = sluice()
        .args(["cli", "--addr", &address])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"PING\nXLEN s\n")?;
            }
            child.wait_with_output()
        })
        .expect("sluice runs");
    let message = format!("Could not connect to Sluice at {address}: Connection refused\n");
    assert_eq!(String::from_utf8_lossy(&output.stderr), message.repeat(3));
    assert!(output.stdout.is_empty());
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn the_prompt_stops_at_quit() {
    let (server, _dir) = fresh_server();
    let output = pipe_through(
        sluice().args(["cli", "--addr", &address(&server)]),
        "PING\nquit\nPING\n",
    );
    assert_eq!(output, b"PONG\n");
}

/// Reads lines from a child's stdout on a thread, so a missing line fails the test instead of
/// hanging it.
fn line_reader(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

fn next_line(lines: &mpsc::Receiver<String>) -> String {
    lines
        .recv_timeout(Duration::from_secs(HANG_GUARD_SECONDS))
        .expect("sluice tail printed the next entry")
}

/// Adds an entry to stream `events` over gRPC (field values may be any bytes).
fn add(server: &Server, id: &str, fields: &[(&[u8], &[u8])]) {
    let request = v1::AddRequest {
        key: Some(v1::add_request::Key::Stream("events".into())),
        id: id.into(),
        fields: fields
            .iter()
            .map(|(name, value)| server_harness::bytes_field(name, value))
            .collect(),
        ..Default::default()
    };
    block_on(async {
        let mut client = server.client().await;
        client.add(request).await.expect("the entry is added");
    });
}

#[test]
fn tail_prints_history_then_live_entries() {
    let (server, _dir) = fresh_server();
    add(&server, "1-0", &[(b"kind", b"start")]);
    add(
        &server,
        "2-0",
        &[(b"note", b"two words"), (b"raw", b"a\0b")],
    );
    let mut child = sluice()
        .args(["tail", "--addr", &address(&server), "events", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("sluice tail starts");
    let lines = line_reader(child.stdout.take().expect("stdout is piped"));
    assert_eq!(next_line(&lines), "1-0 kind start");
    assert_eq!(next_line(&lines), r#"2-0 note "two words" raw "a\x00b""#);
    add(&server, "3-0", &[(b"kind", b"live")]);
    assert_eq!(next_line(&lines), "3-0 kind live");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn tail_refuses_an_id_that_is_not_text() {
    let output = run(sluice().args([
        OsStr::new("tail"),
        OsStr::new("--addr"),
        OsStr::new("127.0.0.1:1"),
        OsStr::new("s"),
        OsStr::from_bytes(b"\xff"),
    ]));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "ERR Invalid stream ID specified as stream command argument\n"
    );
}

#[test]
fn responses_above_tonics_default_limit_are_read() {
    // Six entries of 900 KB: over tonic's 4 MiB default, under the client's limit.
    let (server, _dir) = fresh_server();
    let value = vec![b'v'; 900 * 1024];
    for ms in 1..=6 {
        add(&server, &format!("{ms}-0"), &[(b"big", &value)]);
    }
    let output = run(sluice().args([
        "cli",
        "--addr",
        &address(&server),
        "XRANGE",
        "events",
        "-",
        "+",
    ]));
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.starts_with("1) 1) \"1-0\"\n"),
        "{}",
        &text[..text.len().min(200)]
    );
    assert!(text.contains("6) 1) \"6-0\"\n"));
    assert!(text.len() > 6 * 900 * 1024);
}
