//! What clients ask about the server: the command table (COMMAND, and which commands exist
//! with which arity), INFO and CONFIG. Their replies are Redis 7.0.15's.
//!
//! CONFIG reports the settings that have a meaning here, read-only except the two stream-node
//! sizes: `stream-node-max-entries` is the node size approximate trimming imitates,
//! `stream-node-max-bytes` is kept without effect.

use std::sync::atomic::Ordering;

use crate::command::args::{integer, is_keyword, unknown_subcommand};
use crate::command::{command_arities, CommandError};
use crate::lock::lock;
use crate::reply::{self, Reply};
use crate::server::resp::connection::Connection;
use crate::server::resp::Shared;

/// The Redis version Sluice answers as (its commands and replies are this version's).
pub const REDIS_VERSION: &str = "7.0.15";

/// The commands the RESP front end answers itself (not the command layer's), with Redis's
/// arities.
const SERVER_COMMANDS: &[(&str, i32)] = &[
    ("echo", 2),
    ("quit", -1),
    ("reset", 1),
    ("hello", -1),
    ("auth", -2),
    ("select", 2),
    ("client", -2),
    ("command", -1),
    ("info", -1),
    ("config", -2),
    ("function", -2),
    ("multi", 1),
    ("exec", 1),
    ("discard", 1),
];

/// `Some` if `arguments` name one of [`SERVER_COMMANDS`]: whether its arity is right.
pub(super) fn check(arguments: &[Vec<u8>]) -> Option<Result<(), CommandError>> {
    let (name, arity) = SERVER_COMMANDS
        .iter()
        .find(|(name, _)| arguments[0].eq_ignore_ascii_case(name.as_bytes()))?;
    let count = arguments.len();
    let fits = match usize::try_from(*arity) {
        Ok(exact) => count == exact,
        Err(_) => count >= arity.unsigned_abs() as usize,
    };
    Some(if fits {
        Ok(())
    } else {
        Err(CommandError::WrongArity(name))
    })
}

/// The name of the command `name` selects, if Sluice knows it (for INFO's statistics).
/// Looked up for every request, so it walks the tables rather than collect them.
pub(super) fn known_name(name: &[u8]) -> Option<&'static str> {
    commands()
        .map(|(known, _)| known)
        .find(|known| name.eq_ignore_ascii_case(known.as_bytes()))
}

/// An error text of this module's own.
pub(super) fn refuse(text: &str) -> CommandError {
    crate::command::args::error_text(text.as_bytes())
}

/// Redis's `addReplyHelp`.
pub(super) fn help_reply(command: &str, lines: &[&str]) -> Reply {
    let mut replies = vec![Reply::Status(format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ))];
    replies.extend(
        lines
            .iter()
            .chain(["HELP", "    Print this help."].iter())
            .map(|line| Reply::Status((*line).to_owned())),
    );
    Reply::Array(replies)
}

/// Every command a RESP client can send, with its arity: the stream and keyspace commands,
/// then the server's own.
fn commands() -> impl Iterator<Item = (&'static str, i32)> {
    command_arities().chain(SERVER_COMMANDS.iter().copied())
}

/// Key positions for COMMAND: (first, last, step).
fn key_positions(name: &str) -> (i64, i64, i64) {
    match name {
        "xread" | "xreadgroup" | "ping" | "keys" | "dbsize" | "flushdb" | "flushall" | "scan" => {
            (0, 0, 0)
        }
        "del" | "unlink" | "exists" => (1, -1, 1),
        "rename" => (1, 2, 1),
        name if name.starts_with('x') => (if name.contains('|') { 2 } else { 1 }, 1, 1),
        _ => (0, 0, 0),
    }
}

/// One command's COMMAND INFO reply.
fn command_info(name: &str, arity: i32) -> Reply {
    let (first, last, step) = key_positions(name);
    let writes = matches!(
        name,
        "xadd"
            | "xdel"
            | "xtrim"
            | "xsetid"
            | "xack"
            | "xclaim"
            | "xautoclaim"
            | "xreadgroup"
            | "del"
            | "unlink"
            | "flushdb"
            | "flushall"
            | "rename"
            | "xgroup"
            | "xnack"
            | "xrenew"
            | "xretention"
    );
    let flags = vec![Reply::Status(
        if writes { "write" } else { "readonly" }.to_owned(),
    )];
    Reply::Array(vec![
        Reply::bulk(name),
        Reply::Integer(i64::from(arity)),
        Reply::Array(flags),
        Reply::Integer(first),
        Reply::Integer(last),
        Reply::Integer(step),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
        Reply::Array(Vec::new()),
    ])
}

/// COMMAND, COMMAND COUNT / INFO / DOCS / LIST.
pub(super) fn command(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let commands: Vec<(&'static str, i32)> = commands().collect();
    let Some(subcommand) = arguments.get(1) else {
        return Ok(Reply::Array(
            commands
                .iter()
                .map(|(name, arity)| command_info(name, *arity))
                .collect(),
        ));
    };
    let find = |wanted: &[u8]| {
        commands
            .iter()
            .find(|(name, _)| wanted.eq_ignore_ascii_case(name.as_bytes()))
            .copied()
    };
    if is_keyword(subcommand, "count") && arguments.len() == 2 {
        Ok(reply::integer(commands.len() as u64))
    } else if is_keyword(subcommand, "list") {
        Ok(Reply::Array(
            commands
                .iter()
                .map(|(name, _)| Reply::bulk(*name))
                .collect(),
        ))
    } else if is_keyword(subcommand, "info") {
        let wanted: Vec<(&str, i32)> = if arguments.len() == 2 {
            commands.clone()
        } else {
            Vec::new()
        };
        let mut replies: Vec<Reply> = wanted
            .iter()
            .map(|(name, arity)| command_info(name, *arity))
            .collect();
        for name in arguments.iter().skip(2) {
            replies.push(
                find(name).map_or(Reply::NilArray, |(name, arity)| command_info(name, arity)),
            );
        }
        Ok(Reply::Array(replies))
    } else if is_keyword(subcommand, "docs") {
        let wanted: Vec<(&str, i32)> = if arguments.len() == 2 {
            commands.clone()
        } else {
            arguments[2..]
                .iter()
                .filter_map(|name| find(name))
                .collect()
        };
        let mut items = Vec::new();
        for (name, _) in wanted {
            let group = if name.starts_with('x') {
                "stream"
            } else {
                "generic"
            };
            items.push(Reply::bulk(name));
            items.push(Reply::Map(vec![
                Reply::bulk("summary"),
                Reply::bulk(format!("{} (Sluice)", name.to_ascii_uppercase())),
                Reply::bulk("since"),
                Reply::bulk("5.0.0"),
                Reply::bulk("group"),
                Reply::bulk(group),
            ]));
        }
        Ok(Reply::Map(items))
    } else {
        Err(unknown_subcommand(&arguments[0], subcommand))
    }
}

/// INFO [section ...]: server, clients, memory, persistence, stats, replication, keyspace.
pub(super) fn info(connection: &Connection, arguments: &[Vec<u8>]) -> Reply {
    let asked = |word: &str| arguments[1..].iter().any(|given| is_keyword(given, word));
    let everything = asked("all") || asked("everything");
    let default = arguments.len() == 1 || everything || asked("default");
    let mut text = String::new();
    for (title, lines) in sections(&connection.shared) {
        // Command and error statistics are not in the default output, as in Redis.
        let extra = matches!(title, "Commandstats" | "Errorstats");
        let wanted = asked(&title.to_ascii_lowercase()) || everything || (default && !extra);
        if !wanted {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        text.push_str(&format!("# {title}\r\n"));
        for line in lines {
            text.push_str(&line);
            text.push_str("\r\n");
        }
    }
    Reply::Bulk(text.into_bytes())
}

/// Every INFO section, with its lines.
fn sections(shared: &Shared) -> Vec<(&'static str, Vec<String>)> {
    let engine = &shared.engine;
    let (connected, blocked) = shared.clients.counts();
    let uptime = shared.started.elapsed().as_secs();
    let resident = resident_bytes();
    let streams = engine.list(None).len();
    vec![
        (
            "Server",
            vec![
                format!("redis_version:{REDIS_VERSION}"),
                format!("sluice_version:{}", env!("CARGO_PKG_VERSION")),
                "redis_mode:standalone".to_owned(),
                format!("os:{}", std::env::consts::OS),
                format!("arch_bits:{}", usize::BITS),
                format!("process_id:{}", std::process::id()),
                format!("tcp_port:{}", shared.address.port()),
                format!("uptime_in_seconds:{uptime}"),
                format!("uptime_in_days:{}", uptime / 86_400),
            ],
        ),
        (
            "Clients",
            vec![
                format!("connected_clients:{connected}"),
                format!("maxclients:{}", shared.resp.clients_max),
                format!("blocked_clients:{blocked}"),
            ],
        ),
        (
            "Memory",
            vec![
                format!("used_memory:{resident}"),
                format!("used_memory_rss:{resident}"),
                format!("open_files:{}", engine.open_handles()),
            ],
        ),
        (
            "Persistence",
            vec![
                "loading:0".to_owned(),
                "aof_enabled:1".to_owned(),
                format!("sluice_fsync:{}", engine.config().fsync.name()),
                "rdb_bgsave_in_progress:0".to_owned(),
                "aof_rewrite_in_progress:0".to_owned(),
            ],
        ),
        ("Stats", shared.stats.totals()),
        (
            "Replication",
            vec!["role:master".to_owned(), "connected_slaves:0".to_owned()],
        ),
        (
            "Keyspace",
            match streams {
                0 => Vec::new(),
                streams => vec![format!("db0:keys={streams},expires=0,avg_ttl=0")],
            },
        ),
        ("Commandstats", shared.stats.commands()),
        ("Errorstats", shared.stats.errors()),
    ]
}

/// The process's resident memory (from /proc), 0 where it cannot be read.
fn resident_bytes() -> u64 {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return 0;
    };
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kib| kib * 1024)
}

/// The CONFIG parameters CONFIG SET may change: `stream-node-max-entries` sets the node size
/// approximate trimming imitates; `stream-node-max-bytes` is kept without effect.
const SETTABLE: &[(&str, &str)] = &[
    ("stream-node-max-bytes", "4096"),
    ("stream-node-max-entries", "100"),
];

/// The parameter that is the engine's `node_entries`.
const NODE_ENTRIES: &str = "stream-node-max-entries";

/// Every CONFIG parameter with its value.
fn parameters(connection: &Connection) -> Vec<(String, String)> {
    let shared = &connection.shared;
    let config = shared.engine.config();
    let fsync = config.fsync.name().to_owned();
    let mut parameters = vec![
        ("appendonly".to_owned(), "yes".to_owned()),
        ("appendfsync".to_owned(), fsync),
        ("save".to_owned(), String::new()),
        ("databases".to_owned(), "1".to_owned()),
        ("maxclients".to_owned(), shared.resp.clients_max.to_string()),
        (
            "proto-max-bulk-len".to_owned(),
            shared.resp.request_bytes_max.to_string(),
        ),
        ("port".to_owned(), shared.address.port().to_string()),
        ("bind".to_owned(), shared.address.ip().to_string()),
        ("dir".to_owned(), config.data_dir.display().to_string()),
    ];
    let overrides = lock(&shared.settings);
    for (name, default) in SETTABLE {
        let value = if *name == NODE_ENTRIES {
            config.node_entries.load(Ordering::Relaxed).to_string()
        } else {
            overrides
                .get(*name)
                .cloned()
                .unwrap_or_else(|| (*default).to_owned())
        };
        parameters.push(((*name).to_owned(), value));
    }
    parameters
}

/// CONFIG GET / SET / RESETSTAT / HELP.
pub(super) fn config(
    connection: &Connection,
    arguments: &[Vec<u8>],
) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    if is_keyword(subcommand, "get") && arguments.len() >= 3 {
        Ok(config_get(connection, &arguments[2..]))
    } else if is_keyword(subcommand, "set") && arguments.len() >= 4 && arguments.len() % 2 == 0 {
        connection.require_admin("config|set")?;
        config_set(connection, &arguments[2..])
    } else if is_keyword(subcommand, "resetstat") && arguments.len() == 2 {
        connection.require_admin("config|resetstat")?;
        connection.shared.stats.reset();
        Ok(reply::ok())
    } else if is_keyword(subcommand, "help") && arguments.len() == 2 {
        Ok(help_reply(
            "CONFIG",
            &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
            ],
        ))
    } else if ["get", "set", "resetstat", "help"]
        .iter()
        .any(|known| is_keyword(subcommand, known))
    {
        Err(CommandError::WrongArity(
            match String::from_utf8_lossy(subcommand)
                .to_ascii_lowercase()
                .as_str()
            {
                "get" => "config|get",
                "set" => "config|set",
                "resetstat" => "config|resetstat",
                _ => "config|help",
            },
        ))
    } else {
        Err(unknown_subcommand(&arguments[0], subcommand))
    }
}

/// CONFIG GET pattern [pattern ...].
fn config_get(connection: &Connection, patterns: &[Vec<u8>]) -> Reply {
    let mut items = Vec::new();
    for (name, value) in parameters(connection) {
        if patterns
            .iter()
            .any(|pattern| crate::glob::glob_match(&pattern.to_ascii_lowercase(), name.as_bytes()))
        {
            items.push(Reply::bulk(name));
            items.push(Reply::bulk(value));
        }
    }
    Reply::Map(items)
}

/// CONFIG SET name value [name value ...]: all or nothing.
fn config_set(connection: &Connection, pairs: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let mut changes = Vec::new();
    for pair in pairs.chunks(2) {
        let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
        // Setting a parameter to the value it has is a no-op, whatever it is.
        let current = parameters(connection)
            .into_iter()
            .find(|(known, _)| *known == name)
            .map(|(_, value)| value);
        if current.is_some_and(|value| value.as_bytes() == pair[1].as_slice()) {
            continue;
        }
        if !SETTABLE.iter().any(|(settable, _)| *settable == name) {
            return Err(refuse(&format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{name}'"
            )));
        }
        let value = integer(&pair[1])
            .ok()
            .filter(|&value| value >= 0)
            .ok_or_else(|| {
                refuse(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{name}') - argument \
                 couldn't be parsed into an integer"
                ))
            })?;
        changes.push((name, value.to_string()));
    }
    for (name, value) in &changes {
        if name == NODE_ENTRIES {
            if let Ok(entries) = value.parse::<u64>() {
                let config = connection.shared.engine.config();
                config.node_entries.store(entries, Ordering::Relaxed);
            }
        }
    }
    lock(&connection.shared.settings).extend(changes);
    Ok(reply::ok())
}
