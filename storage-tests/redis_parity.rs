//! Redis parity of ID parsing and error texts (the cases of `shared/reference/redis-streams.md`).
//!
//! Each case is a command and the reply `redis-cli --no-raw` prints for it from Redis 7.0.15.
//! The engine runs every case through Sluice's own parsing (`sluice::id`) and operations and
//! must produce the same reply. When `redis-server` is installed, the same commands also run
//! against a real Redis started for the test, so the expected texts here cannot drift from the
//! oracle. Without it the oracle half is skipped with a warning, unless
//! `SLUICE_REQUIRE_EXTERNAL=1` (as in CI), which makes its absence a failure.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice::id::{parse_i64_strict, IdError};
use sluice::{AddId, Config, Engine, Error, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

/// (command, what redis-cli --no-raw prints). Run in order: state carries over.
const CASES: &[(&[&str], &str)] = &[
    // XADD: explicit, incomplete, and partial IDs; the 0-0 rule.
    (&["XADD", "p", "0", "a", "b"], "(error) ERR The ID specified in XADD must be greater than 0-0"),
    (&["XADD", "p", "0-0", "a", "b"], "(error) ERR The ID specified in XADD must be greater than 0-0"),
    (&["XADD", "p", "(5", "a", "b"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XADD", "p", "1-2-3", "a", "b"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XADD", "p", "-", "a", "b"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XADD", "p", "+", "a", "b"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XADD", "p", "18446744073709551616", "a", "b"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XADD", "p", "5-*", "a", "b"], "\"5-0\""),
    (&["XADD", "p", "5-*", "a", "b"], "\"5-1\""),
    (&["XADD", "p", "5", "a", "b"], "(error) ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (&["XADD", "p", "4-9", "a", "b"], "(error) ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (&["XADD", "p", "4-*", "a", "b"], "(error) ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    (&["XADD", "p", "6-*", "a", "b"], "\"6-0\""),
    (&["XADD", "p", "007-3", "a", "b"], "\"7-3\""),
    (&["XADD", "p2", "0-*", "a", "b"], "\"0-1\""),
    // Range bounds: '-', '+', incomplete IDs, exclusive bounds and their edge errors.
    (&["XRANGE", "p", "5", "5"], "1) 1) \"5-0\"\n   2) 1) \"a\"\n      2) \"b\"\n2) 1) \"5-1\"\n   2) 1) \"a\"\n      2) \"b\""),
    // An incomplete exclusive end: "(6" is "(6-18446744073709551615", so 6-0 is in.
    (&["XRANGE", "p", "(5-0", "(6"], "1) 1) \"5-1\"\n   2) 1) \"a\"\n      2) \"b\"\n2) 1) \"6-0\"\n   2) 1) \"a\"\n      2) \"b\""),
    (&["XRANGE", "p", "(5-0", "(6-0"], "1) 1) \"5-1\"\n   2) 1) \"a\"\n      2) \"b\""),
    (&["XRANGE", "p", "-", "(0"], "(empty array)"),
    (&["XRANGE", "p", "(", "+"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XRANGE", "p", "(-", "+"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XRANGE", "p", "(+", "+"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XRANGE", "p", "-", "(0-0"], "(error) ERR invalid end ID for the interval"),
    (&["XRANGE", "p", "(18446744073709551615-18446744073709551615", "+"], "(error) ERR invalid start ID for the interval"),
    (&["XRANGE", "p", "5-0-1", "+"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XREVRANGE", "p", "+", "-", "COUNT", "1"], "1) 1) \"7-3\"\n   2) 1) \"a\"\n      2) \"b\""),
    (&["XRANGE", "nokey", "-", "+"], "(empty array)"),
    // XDEL parses strictly.
    (&["XDEL", "p", "abc"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XDEL", "p", "-"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XDEL", "p", "6", "6-0", "99"], "(integer) 1"),
    (&["XLEN", "p"], "(integer) 3"),
    // XSETID's checks, in Redis's order.
    (&["XSETID", "p", "1"], "(error) ERR The ID specified in XSETID is smaller than the target stream top item"),
    (&["XSETID", "p", "10", "ENTRIESADDED", "1"], "(error) ERR The entries_added specified in XSETID is smaller than the target stream length"),
    (&["XSETID", "p", "10", "ENTRIESADDED", "-1"], "(error) ERR entries_added must be positive"),
    (&["XSETID", "p", "10", "MAXDELETEDID", "11"], "(error) ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id"),
    (&["XSETID", "nokey", "10"], "(error) ERR no such key"),
    (&["XSETID", "p", "+"], "(error) ERR Invalid stream ID specified as stream command argument"),
    (&["XSETID", "p", "7-3"], "OK"),
    // The last possible ID.
    (&["XSETID", "p", "18446744073709551615-18446744073709551615"], "OK"),
    (&["XADD", "p", "*", "a", "b"], "(error) ERR The stream has exhausted the last possible ID, unable to add more items"),
    (&["XADD", "p", "18446744073709551615-18446744073709551615", "a", "b"], "(error) ERR The stream has exhausted the last possible ID, unable to add more items"),
    (&["XADD", "p3", "18446744073709551615-*", "a", "b"], "\"18446744073709551615-0\""),
    (&["XADD", "p3", "18446744073709551615-*", "a", "b"], "\"18446744073709551615-1\""),
];

enum Reply {
    Bulk(String),
    Status(&'static str),
    Integer(u64),
    Entries(Vec<sluice::Entry>),
}

fn render(result: Result<Reply, String>) -> String {
    match result {
        Err(text) => format!("(error) {text}"),
        Ok(Reply::Bulk(text)) => format!("\"{text}\""),
        Ok(Reply::Status(text)) => text.to_string(),
        Ok(Reply::Integer(value)) => format!("(integer) {value}"),
        Ok(Reply::Entries(entries)) if entries.is_empty() => "(empty array)".to_string(),
        Ok(Reply::Entries(entries)) => entries
            .iter()
            .enumerate()
            .map(|(at, entry)| {
                let (name, value) = &entry.fields[0];
                format!(
                    "{}) 1) \"{}\"\n   2) 1) \"{}\"\n      2) \"{}\"",
                    at + 1,
                    entry.id,
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(value)
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn text(error: impl std::fmt::Display) -> String {
    error.to_string()
}

/// Runs one case on the engine, parsing arguments the way Redis does.
fn run(engine: &Engine, args: &[&str]) -> Result<Reply, String> {
    let key = args[1].as_bytes();
    match args[0] {
        "XADD" => {
            let id = AddId::parse(args[2].as_bytes()).map_err(text)?;
            let fields = vec![(args[3].as_bytes().to_vec(), args[4].as_bytes().to_vec())];
            let ids = engine
                .add(key, &[NewEntry { id, fields }], false, None)
                .map_err(text)?
                .unwrap_or_default();
            Ok(Reply::Bulk(ids[0].to_string()))
        }
        "XRANGE" | "XREVRANGE" => {
            let rev = args[0] == "XREVRANGE";
            let (start, end) = if rev {
                (args[3], args[2])
            } else {
                (args[2], args[3])
            };
            let range = IdRange::parse(start.as_bytes(), end.as_bytes()).map_err(text)?;
            let count = match args.get(4..6) {
                Some(["COUNT", count]) => count.parse().map_err(text)?,
                _ => usize::MAX,
            };
            let entries = engine
                .range(key, range, rev, ReadLimit::count(count))
                .map_err(text)?
                .unwrap_or_default();
            Ok(Reply::Entries(entries))
        }
        "XDEL" => {
            let ids = args[2..]
                .iter()
                .map(|id| StreamId::parse_strict(id.as_bytes()))
                .collect::<Result<Vec<_>, IdError>>()
                .map_err(text)?;
            engine.delete(key, &ids).map(Reply::Integer).map_err(text)
        }
        "XLEN" => engine.len(key).map(Reply::Integer).map_err(text),
        "XSETID" => {
            let id = StreamId::parse_strict(args[2].as_bytes()).map_err(text)?;
            let (mut entries_added, mut max_deleted) = (None, None);
            for option in args[3..].chunks(2) {
                match option {
                    ["ENTRIESADDED", value] => {
                        let value = parse_i64_strict(value.as_bytes())
                            .ok_or("ERR value is not an integer or out of range")?;
                        if value < 0 {
                            return Err("ERR entries_added must be positive".into());
                        }
                        entries_added = Some(value as u64);
                    }
                    ["MAXDELETEDID", value] => {
                        let max = StreamId::parse_strict(value.as_bytes()).map_err(text)?;
                        if id < max {
                            return Err(text(Error::SetIdBelowMaxDeleted));
                        }
                        max_deleted = Some(max);
                    }
                    _ => return Err("ERR syntax error".into()),
                }
            }
            engine
                .set_id(key, id, entries_added, max_deleted)
                .map(|()| Reply::Status("OK"))
                .map_err(text)
        }
        other => panic!("no case runner for {other}"),
    }
}

#[test]
fn engine_replies_as_redis_does() {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config::new(data.path());
    config.fsync = FsyncPolicy::No;
    let engine = Engine::open(config).unwrap();
    for (args, expected) in CASES {
        let got = render(run(&engine, args));
        assert_eq!(&got, expected, "{args:?}");
    }
}

struct RedisServer(Child);

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--no-raw"])
        .args(args)
        .output()
        .ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string()
    })
}

#[test]
fn expected_replies_are_what_redis_replies() {
    let port = free_port();
    let spawned = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        assert!(
            std::env::var("SLUICE_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "redis-server is required (SLUICE_REQUIRE_EXTERNAL=1) but could not be started"
        );
        eprintln!(
            "WARNING: redis-server not installed; the oracle half of the parity test is skipped"
        );
        return;
    };
    let _server = RedisServer(child);
    let started = Instant::now();
    while redis_cli(port, &["PING"]).as_deref() != Some("PONG") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for (args, expected) in CASES {
        let got = redis_cli(port, args).expect("redis-cli failed");
        assert_eq!(
            &got, expected,
            "Redis itself disagrees with the table for {args:?}"
        );
    }
}
