//! The Redis-protocol front end, end to end against the real binary: redis-cli's golden
//! scripts over RESP (compared byte for byte with redis-server's output), RESP2 and RESP3
//! wire replies, pipelining, protocol errors, MULTI/EXEC, blocking reads woken across front
//! ends, limits, and a SIGKILL under pipelined XADD load that must lose no acknowledged entry.
//!
//! The redis-cli tests need redis-server and redis-cli; without them they are skipped with a
//! loud message, unless `SLUICE_REQUIRE_EXTERNAL=1`.

mod redis_oracle;
mod server_harness;

use std::net::SocketAddr;
use std::process::Command as Process;
use std::time::Duration;

use redis_oracle::scenarios::{GROUP_SCENARIOS, SCENARIOS};
use redis_oracle::{
    assert_same_output, mask_group_times, mask_radix_tree_figures, pipe_through, Redis,
};
use server_harness::*;
use sluice::proto::v1;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A raw RESP connection: bytes in, bytes out, nothing interpreted.
struct Wire {
    stream: TcpStream,
    seen: Vec<u8>,
}

impl Wire {
    async fn connect(address: SocketAddr) -> Wire {
        Wire {
            stream: TcpStream::connect(address)
                .await
                .expect("connect over RESP"),
            seen: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("send");
    }

    /// Sends one command as a multibulk.
    async fn command(&mut self, arguments: &[&str]) {
        let bytes = multibulk(arguments);
        self.send(&bytes).await;
    }

    /// Reads until exactly `expected` has arrived (failing on anything else).
    async fn expect(&mut self, expected: &str) {
        let expected = expected.as_bytes();
        guard("a RESP reply", async {
            while self.seen.len() < expected.len() {
                let mut buffer = [0u8; 4096];
                let read = self.stream.read(&mut buffer).await.expect("read");
                assert!(
                    read > 0,
                    "connection closed; got {:?}",
                    String::from_utf8_lossy(&self.seen)
                );
                self.seen.extend_from_slice(&buffer[..read]);
            }
        })
        .await;
        let got: Vec<u8> = self.seen.drain(..expected.len()).collect();
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(expected)
        );
    }

    /// Waits for the server to close the connection.
    async fn expect_closed(&mut self) {
        let mut buffer = [0u8; 64];
        let read = guard("the server closing", self.stream.read(&mut buffer)).await;
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "still open: {:?}",
            read.map(|n| String::from_utf8_lossy(&buffer[..n]).into_owned())
        );
    }
}

fn multibulk(arguments: &[&str]) -> Vec<u8> {
    let mut bytes = format!("*{}\r\n", arguments.len()).into_bytes();
    for argument in arguments {
        bytes.extend_from_slice(format!("${}\r\n{argument}\r\n", argument.len()).as_bytes());
    }
    bytes
}

async fn start(flags: &[(&str, &str)]) -> (Server, tempfile::TempDir, SocketAddr) {
    let dir = data_dir();
    let server = Server::start(dir.path(), flags).await;
    let resp = server.resp_address.expect("RESP is on");
    (server, dir, resp)
}

/// Every golden scenario through redis-cli, against redis-server and against Sluice's RESP
/// port: the same bytes (radix-tree figures and clock readings masked).
#[tokio::test]
async fn redis_cli_prints_the_same_over_resp() {
    let Some(redis) = Redis::start("resp_golden") else {
        return;
    };
    let (_server, _dir, resp) = start(&[]).await;
    let port = resp.port().to_string();
    for (name, script) in SCENARIOS.iter().chain(GROUP_SCENARIOS) {
        let expected = redis.run_script(script);
        let sluice = {
            let port = port.clone();
            let script = script.to_string();
            tokio::task::spawn_blocking(move || {
                let cleared = Process::new("redis-cli")
                    .args(["-p", &port, "FLUSHALL"])
                    .output()
                    .expect("redis-cli runs");
                assert_eq!(cleared.stdout, b"OK\n");
                pipe_through(
                    Process::new("redis-cli").args(["-p", &port, "--no-raw"]),
                    &script,
                )
            })
            .await
            .expect("redis-cli task")
        };
        let actual = String::from_utf8_lossy(&sluice).into_owned();
        let masked = |text: &str| mask_group_times(&mask_radix_tree_figures(text));
        assert_same_output(name, script, &masked(&expected), &masked(&actual));
    }
}

#[tokio::test]
async fn resp2_and_resp3_replies() {
    let (_server, _dir, resp) = start(&[]).await;
    let mut wire = Wire::connect(resp).await;
    wire.command(&["XADD", "s", "1-1", "f", "v"]).await;
    wire.expect("$3\r\n1-1\r\n").await;
    wire.command(&["XREAD", "STREAMS", "s", "0"]).await;
    wire.expect("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
        .await;
    wire.command(&["XREAD", "STREAMS", "s", "$"]).await;
    wire.expect("*-1\r\n").await;
    wire.command(&["XADD", "missing", "NOMKSTREAM", "*", "f", "v"])
        .await;
    wire.expect("$-1\r\n").await;

    wire.command(&["HELLO", "3"]).await;
    let hello = "%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n\
                 $5\r\nproto\r\n:3\r\n$2\r\nid\r\n";
    wire.expect(hello).await;
    // The id's digits, then the rest.
    wire.expect(":").await;
    let mut digits = Vec::new();
    loop {
        wire.expect_any_byte(&mut digits).await;
        if digits.ends_with(b"\r\n") {
            break;
        }
    }
    wire.expect(
        "$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n",
    )
    .await;
    wire.command(&["XREAD", "STREAMS", "s", "0"]).await;
    wire.expect("%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
        .await;
    wire.command(&["XREAD", "STREAMS", "s", "$"]).await;
    wire.expect("_\r\n").await;
    wire.command(&["XINFO", "GROUPS", "s"]).await;
    wire.expect("*0\r\n").await;
    wire.command(&["HELLO", "4"]).await;
    wire.expect("-NOPROTO unsupported protocol version\r\n")
        .await;
    wire.command(&["HELLO", "2"]).await;
    wire.expect("*14\r\n").await;
}

impl Wire {
    /// Reads one more byte into `into`.
    async fn expect_any_byte(&mut self, into: &mut Vec<u8>) {
        if self.seen.is_empty() {
            let mut buffer = [0u8; 4096];
            let read = guard("a byte", self.stream.read(&mut buffer))
                .await
                .expect("read");
            assert!(read > 0, "connection closed");
            self.seen.extend_from_slice(&buffer[..read]);
        }
        into.push(self.seen.remove(0));
    }
}

#[tokio::test]
async fn a_deep_pipeline_is_answered_in_order() {
    let (_server, _dir, resp) = start(&[("--fsync", "always")]).await;
    let mut wire = Wire::connect(resp).await;
    let mut pipeline = Vec::new();
    let mut expected = String::new();
    for n in 1..=2000 {
        pipeline.extend(multibulk(&[
            "XADD",
            "p",
            &format!("{n}-1"),
            "n",
            &n.to_string(),
        ]));
        expected.push_str(&format!("${}\r\n{n}-1\r\n", format!("{n}-1").len()));
        if n % 500 == 0 {
            // A read in the middle sees every write before it.
            pipeline.extend(multibulk(&["XLEN", "p"]));
            expected.push_str(&format!(":{n}\r\n"));
        }
    }
    pipeline.extend(b"PING\r\n");
    expected.push_str("+PONG\r\n");
    wire.send(&pipeline).await;
    wire.expect(&expected).await;
}

#[tokio::test]
async fn protocol_errors_get_redis_replies_and_close_the_connection() {
    let (_server, _dir, resp) = start(&[("--resp-request-bytes-max", "65536")]).await;
    let cases: [(&[u8], &str); 5] = [
        (
            b"*1\r\nfoo\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*x\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"PING \"unterminated\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
        (
            b"*1\r\n$70000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
    ];
    for (request, reply) in cases {
        let mut wire = Wire::connect(resp).await;
        // A good command first: its reply still comes, then the error's.
        wire.send(b"PING\r\n").await;
        wire.send(request).await;
        wire.expect("+PONG\r\n").await;
        wire.expect(reply).await;
        wire.expect_closed().await;
    }
    // The server is fine afterwards.
    let mut wire = Wire::connect(resp).await;
    wire.command(&["ECHO", "still here"]).await;
    wire.expect("$10\r\nstill here\r\n").await;
    wire.command(&["NOSUCH", "a"]).await;
    wire.expect("-ERR unknown command 'NOSUCH', with args beginning with: 'a' \r\n")
        .await;
    wire.command(&["SELECT", "1"]).await;
    wire.expect("-ERR DB index is out of range\r\n").await;
    wire.command(&["QUIT"]).await;
    wire.expect("+OK\r\n").await;
    wire.expect_closed().await;
}

#[tokio::test]
async fn too_many_clients_are_refused() {
    let (_server, _dir, resp) = start(&[("--resp-clients-max", "2")]).await;
    let mut first = Wire::connect(resp).await;
    let mut second = Wire::connect(resp).await;
    first.command(&["PING"]).await;
    first.expect("+PONG\r\n").await;
    second.command(&["PING"]).await;
    second.expect("+PONG\r\n").await;
    let mut third = Wire::connect(resp).await;
    third.expect("-ERR max number of clients reached\r\n").await;
    third.expect_closed().await;
    drop(first);
    // The freed slot is taken again (the server notices the close first).
    let mut accepted = false;
    for _ in 0..200 {
        let mut again = Wire::connect(resp).await;
        again.command(&["PING"]).await;
        let mut byte = Vec::new();
        again.expect_any_byte(&mut byte).await;
        if byte == b"+" {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "a freed client slot is never reused");
}

#[tokio::test]
async fn multi_exec_runs_the_queue_and_aborts_on_queueing_errors() {
    let (_server, _dir, resp) = start(&[]).await;
    let mut wire = Wire::connect(resp).await;
    wire.command(&["MULTI"]).await;
    wire.expect("+OK\r\n").await;
    wire.command(&["XADD", "m", "1-1", "a", "1"]).await;
    wire.expect("+QUEUED\r\n").await;
    wire.command(&["XADD", "m", "1-1", "a", "1"]).await;
    wire.expect("+QUEUED\r\n").await;
    // A blocking read inside MULTI does not block.
    wire.command(&["XREAD", "BLOCK", "0", "STREAMS", "m", "$"])
        .await;
    wire.expect("+QUEUED\r\n").await;
    wire.command(&["XLEN", "m"]).await;
    wire.expect("+QUEUED\r\n").await;
    wire.command(&["EXEC"]).await;
    wire.expect(
        "*4\r\n$3\r\n1-1\r\n-ERR The ID specified in XADD is equal or smaller than the target \
         stream top item\r\n*-1\r\n:1\r\n",
    )
    .await;

    wire.command(&["MULTI"]).await;
    wire.expect("+OK\r\n").await;
    wire.command(&["XLEN"]).await;
    wire.expect("-ERR wrong number of arguments for 'xlen' command\r\n")
        .await;
    wire.command(&["XADD", "m", "2-1", "a", "1"]).await;
    wire.expect("+QUEUED\r\n").await;
    wire.command(&["EXEC"]).await;
    wire.expect("-EXECABORT Transaction discarded because of previous errors.\r\n")
        .await;
    wire.command(&["XLEN", "m"]).await;
    wire.expect(":1\r\n").await;
    wire.command(&["EXEC"]).await;
    wire.expect("-ERR EXEC without MULTI\r\n").await;
    wire.command(&["EXEC", "now"]).await;
    wire.expect("-ERR wrong number of arguments for 'exec' command\r\n")
        .await;
    wire.command(&["DISCARD"]).await;
    wire.expect("-ERR DISCARD without MULTI\r\n").await;
}

/// A reader blocked over RESP is woken by an Add over gRPC, and the other way round an entry
/// added over RESP is read over gRPC.
#[tokio::test]
async fn both_front_ends_serve_the_same_streams() {
    let (mut server, _dir, resp) = start(&[]).await;
    let mut reader = Wire::connect(resp).await;
    reader
        .command(&["XREAD", "BLOCK", "0", "STREAMS", "x", "$"])
        .await;
    server.wait_for_log("resp: read blocked").await;
    let mut grpc = server.client().await;
    grpc.add(v1::AddRequest {
        key: Some(v1::add_request::Key::Stream("x".into())),
        id: "5-1".into(),
        fields: vec![v1::Field {
            field_name: Some(v1::field::FieldName::Name("from".into())),
            field_value: Some(v1::field::FieldValue::Value("grpc".into())),
        }],
        ..Default::default()
    })
    .await
    .expect("gRPC add");
    reader
        .expect(
            "*1\r\n*2\r\n$1\r\nx\r\n*1\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$4\r\nfrom\r\n$4\r\ngrpc\r\n",
        )
        .await;

    reader.command(&["XADD", "x", "6-1", "from", "resp"]).await;
    reader.expect("$3\r\n6-1\r\n").await;
    let range = grpc
        .range(v1::RangeRequest {
            key: Some(v1::range_request::Key::Stream("x".into())),
            start: "6".into(),
            end: "+".into(),
            ..Default::default()
        })
        .await
        .expect("gRPC range")
        .into_inner();
    assert_eq!(range.entries.len(), 1);
    assert_eq!(range.entries[0].id, "6-1");
    assert_eq!(
        range.entries[0].fields[0].field_value,
        Some(v1::field::FieldValue::Value("resp".into()))
    );
}

#[tokio::test]
async fn client_unblock_ends_a_blocked_read() {
    let (mut server, _dir, resp) = start(&[]).await;
    let mut blocked = Wire::connect(resp).await;
    blocked.command(&["CLIENT", "ID"]).await;
    let mut id = Vec::new();
    blocked.expect(":").await;
    loop {
        blocked.expect_any_byte(&mut id).await;
        if id.ends_with(b"\r\n") {
            break;
        }
    }
    let id = String::from_utf8_lossy(&id[..id.len() - 2]).into_owned();
    let mut admin = Wire::connect(resp).await;
    for (how, reply) in [
        ("TIMEOUT", "*-1\r\n"),
        (
            "ERROR",
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n",
        ),
    ] {
        blocked
            .command(&["XREAD", "BLOCK", "0", "STREAMS", "u", "$"])
            .await;
        server.wait_for_log("resp: read blocked").await;
        admin.command(&["CLIENT", "UNBLOCK", &id, how]).await;
        admin.expect(":1\r\n").await;
        blocked.expect(reply).await;
    }
    admin.command(&["CLIENT", "UNBLOCK", &id]).await;
    admin.expect(":0\r\n").await;
}

/// Entries acknowledged over RESP under fsync always survive a SIGKILL at any moment of a
/// pipelined load.
#[tokio::test]
async fn sigkill_under_pipelined_xadd_loses_no_acknowledged_entry() {
    let dir = data_dir();
    let server = Server::start(dir.path(), &[("--fsync", "always")]).await;
    let resp = server.resp_address.expect("RESP is on");
    let mut writers = Vec::new();
    for writer in 0..4u64 {
        writers.push(tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(resp).await else {
                return 0;
            };
            let mut acknowledged = 0u64;
            let mut next = 1u64;
            loop {
                let mut pipeline = Vec::new();
                for n in next..next + 16 {
                    pipeline.extend(multibulk(&[
                        "XADD",
                        &format!("w{writer}"),
                        &format!("{n}-0"),
                        "n",
                        &n.to_string(),
                    ]));
                }
                if stream.write_all(&pipeline).await.is_err() {
                    return acknowledged;
                }
                // Count whole replies (`$<len>\r\n<id>\r\n`: two lines each).
                let mut lines = 0;
                let mut buffer = [0u8; 4096];
                while lines < 32 {
                    match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return acknowledged + lines / 2,
                        Ok(read) => {
                            for &byte in &buffer[..read] {
                                if byte == b'\n' {
                                    lines += 1;
                                }
                            }
                        }
                    }
                }
                acknowledged = next + 15;
                next += 16;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    drop(server); // SIGKILL
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.push(writer.await.expect("writer task"));
    }
    assert!(
        acknowledged.iter().any(|&count| count > 0),
        "no write was acknowledged before the kill"
    );
    let server = Server::start(dir.path(), &[("--fsync", "always")]).await;
    let mut wire = Wire::connect(server.resp_address.expect("RESP is on")).await;
    for (writer, count) in acknowledged.iter().enumerate() {
        if *count == 0 {
            continue;
        }
        // Every acknowledged ID is there (more may be: written, not yet acknowledged).
        wire.command(&[
            "XRANGE",
            &format!("w{writer}"),
            &format!("{count}-0"),
            &format!("{count}-0"),
        ])
        .await;
        let id = format!("{count}-0");
        wire.expect(&format!(
            "*1\r\n*2\r\n${}\r\n{id}\r\n*2\r\n$1\r\nn\r\n${}\r\n{count}\r\n",
            id.len(),
            count.to_string().len()
        ))
        .await;
        wire.command(&["XRANGE", &format!("w{writer}"), "-", "+", "COUNT", "1"])
            .await;
        wire.expect("*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nn\r\n$1\r\n1\r\n")
            .await;
    }
}

/// redis-py, unchanged, against the RESP port (`tests/python/resp_client_test.py`: a group
/// pipeline with acks, claims, a blocked read, pipelines and transactions, errors; RESP2 and
/// RESP3). Needs `python3` with the `redis` package (`pip install redis`).
#[tokio::test]
async fn redis_py_produces_and_consumes_through_a_group() {
    let probe = tokio::process::Command::new("python3")
        .args(["-c", "import redis"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await;
    if !probe.is_ok_and(|status| status.success()) {
        skip_unless_required(
            "redis_py_produces_and_consumes_through_a_group",
            "python3 cannot import redis",
            "pip install redis",
        );
        return;
    }
    let (_server, _dir, resp) = start(&[("--fsync", "always")]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/resp_client_test.py"
    );
    let ran = run_to_completion(
        "redis-py against the RESP port",
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(resp.port().to_string()),
    )
    .await;
    assert!(
        ran.status.success() && ran.stdout.ends_with(b"ok\n"),
        "{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        ran.status,
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
}

#[tokio::test]
async fn a_resp_port_in_use_is_a_startup_error_naming_the_flag() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = taken.local_addr().expect("its address").to_string();
    let dir = data_dir();
    let (status, stderr) = Launch::new(dir.path())
        .flag("--resp-listen", &address)
        .run_to_exit();
    assert!(!status.success(), "started on a port in use");
    assert!(
        stderr.contains(&format!("cannot listen on {address} (--resp-listen")),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_closes_resp_connections_and_the_server_exits_cleanly() {
    let (mut server, _dir, resp) = start(&[]).await;
    let mut idle = Wire::connect(resp).await;
    idle.command(&["PING"]).await;
    idle.expect("+PONG\r\n").await;
    let mut blocked = Wire::connect(resp).await;
    blocked
        .command(&["XREAD", "BLOCK", "0", "STREAMS", "t", "$"])
        .await;
    server.wait_for_log("resp: read blocked").await;
    let status = server.terminate().await;
    assert!(status.success(), "exit status {status}");
    idle.expect_closed().await;
    blocked.expect("-ERR the server is shutting down\r\n").await;
}

/// RENAME moves a stream with its groups, replaces a stream of the new name, survives a
/// restart, and works for names long enough to be stored under a hashed directory.
#[tokio::test]
async fn rename_moves_a_stream_with_its_groups_durably() {
    let dir = data_dir();
    let long = "L".repeat(300);
    {
        let server = Server::start(dir.path(), &[("--fsync", "always")]).await;
        let mut wire = Wire::connect(server.resp_address.expect("RESP is on")).await;
        for (command, reply) in [
            (vec!["XADD", "a", "1-1", "f", "v"], "$3\r\n1-1\r\n"),
            (vec!["XGROUP", "CREATE", "a", "g", "0"], "+OK\r\n"),
            (vec!["XADD", "b", "9-9", "old", "b"], "$3\r\n9-9\r\n"),
            (vec!["RENAME", "a", "b"], "+OK\r\n"),
            (vec!["EXISTS", "a"], ":0\r\n"),
            (vec!["XLEN", "b"], ":1\r\n"),
            (vec!["XADD", "b", "2-1", "f", "w"], "$3\r\n2-1\r\n"),
            (vec!["RENAME", "missing", "c"], "-ERR no such key\r\n"),
            (vec!["RENAME", "b", "b"], "+OK\r\n"),
            (vec!["XADD", "x", "1-1", "f", "v"], "$3\r\n1-1\r\n"),
            (vec!["RENAME", "x", &long], "+OK\r\n"),
            (vec!["RENAME", &long, "y"], "+OK\r\n"),
            (vec!["RENAME", "y", &long], "+OK\r\n"),
        ] {
            wire.command(&command).await;
            wire.expect(reply).await;
        }
        // Killed: nothing but the syncs of each call keeps the renames.
    }
    let server = Server::start(dir.path(), &[]).await;
    let mut wire = Wire::connect(server.resp_address.expect("RESP is on")).await;
    wire.command(&["XRANGE", "b", "-", "+"]).await;
    wire.expect(
        "*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n\
         *2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nf\r\n$1\r\nw\r\n",
    )
    .await;
    wire.command(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "COUNT",
        "1",
        "STREAMS",
        "b",
        ">",
    ])
    .await;
    wire.expect("*1\r\n*2\r\n$1\r\nb\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n")
        .await;
    wire.command(&["XLEN", &long]).await;
    wire.expect(":1\r\n").await;
    wire.command(&["DBSIZE"]).await;
    wire.expect(":2\r\n").await;
}

/// Approximate trimming removes what Redis's would: whole nodes of `stream-node-max-entries`
/// entries by insertion order, within LIMIT (Redis's `XTRIM with MAXLEN option basic test` and
/// `XADD with LIMIT consecutive calls`).
#[tokio::test]
async fn approximate_trims_remove_redis_nodes() {
    let (_server, _dir, resp) = start(&[]).await;
    let mut wire = Wire::connect(resp).await;
    let mut pipeline = Vec::new();
    let mut expected = String::new();
    for n in 1..=1000 {
        let id = format!("{n}-0");
        pipeline.extend(multibulk(&["XADD", "t", &id, "n", "v"]));
        expected.push_str(&format!("${}\r\n{id}\r\n", id.len()));
    }
    wire.send(&pipeline).await;
    wire.expect(&expected).await;
    for (command, reply) in [
        (vec!["XTRIM", "t", "MAXLEN", "666"], ":334\r\n"),
        (vec!["XTRIM", "t", "MAXLEN", "=", "555"], ":111\r\n"),
        // The oldest node holds 55 entries (445..499 by insertion): it goes, the next does not.
        (vec!["XTRIM", "t", "MAXLEN", "~", "444"], ":55\r\n"),
        (vec!["XTRIM", "t", "MAXLEN", "~", "400"], ":100\r\n"),
        (vec!["XTRIM", "t", "MINID", "~", "950"], ":300\r\n"),
        (vec!["XLEN", "t"], ":100\r\n"),
        (
            vec!["CONFIG", "SET", "stream-node-max-entries", "10"],
            "+OK\r\n",
        ),
        (
            vec!["XTRIM", "t", "MAXLEN", "~", "55", "LIMIT", "30"],
            ":30\r\n",
        ),
        (
            vec!["XTRIM", "t", "MAXLEN", "~", "55", "LIMIT", "30"],
            ":10\r\n",
        ),
        (vec!["XLEN", "t"], ":60\r\n"),
        (
            vec!["CONFIG", "GET", "stream-node-max-entries"],
            "*2\r\n$23\r\nstream-node-max-entries\r\n$2\r\n10\r\n",
        ),
    ] {
        wire.command(&command).await;
        wire.expect(reply).await;
    }
}
