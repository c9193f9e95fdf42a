//! The connection and server commands around the streams, as clients and Redis's test
//! suites use them: ECHO, QUIT, RESET, HELLO, AUTH, SELECT, CLIENT, COMMAND, INFO, CONFIG.
//! Their replies and error texts are Redis 7.0.15's.
//!
//! Sluice has no passwords yet: AUTH and HELLO's AUTH answer as Redis answers when the
//! default user has none. There is one database, 0. CONFIG reports the settings that have a
//! meaning here, read-only except the two stream-node sizes: `stream-node-max-entries` is the
//! node size approximate trimming imitates, `stream-node-max-bytes` is kept without effect.

use std::sync::atomic::Ordering;

use crate::command::args::{integer, is_keyword, subcommand_syntax_error, unknown_subcommand};
use crate::command::{command_arities, CommandError};
use crate::lock::lock;
use crate::reply::{self, Reply};
use crate::server::resp::clients::Unblock;
use crate::server::resp::connection::{Connection, End};
use crate::server::resp::encode::Protocol;

/// The Redis version Sluice answers as (its commands and replies are this version's).
pub const REDIS_VERSION: &str = "7.0.15";

/// The commands here, with Redis's arities.
const ADMIN_COMMANDS: &[(&str, i32)] = &[
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

/// `Some` if `arguments` name a command of this module: whether its arity is right.
pub(super) fn check(arguments: &[Vec<u8>]) -> Option<Result<(), CommandError>> {
    let (name, arity) = ADMIN_COMMANDS
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
pub(super) fn known_name(name: &[u8]) -> Option<&'static str> {
    all_commands()
        .into_iter()
        .map(|(known, _)| known)
        .find(|known| name.eq_ignore_ascii_case(known.as_bytes()))
}

/// Runs `arguments` if it is a command of this module (`name` is its lowercase name).
pub(super) async fn run(
    connection: &mut Connection,
    name: &str,
    arguments: &[Vec<u8>],
) -> Option<Reply> {
    if let Err(error) = check(arguments)? {
        return Some(error.into_reply());
    }
    Some(
        match name {
            "echo" => Ok(Reply::Bulk(arguments[1].clone())),
            "quit" => {
                connection.end = Some(End::AfterReplies);
                Ok(reply::ok())
            }
            "reset" => {
                connection.reset();
                Ok(Reply::Status("RESET".to_owned()))
            }
            "hello" => hello(connection, arguments),
            "auth" => auth(arguments),
            "select" => select(arguments),
            "client" => client(connection, arguments),
            "command" => command(arguments),
            "info" => Ok(info(connection, arguments)),
            "config" => config(connection, arguments),
            "function" => function(arguments),
            // MULTI, EXEC and DISCARD reach here only with a wrong arity.
            _ => Err(CommandError::WrongArity("multi")),
        }
        .unwrap_or_else(CommandError::into_reply),
    )
}

/// An error text of this module's own.
fn refuse(text: &str) -> CommandError {
    crate::command::args::error_text(text.as_bytes())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
fn hello(connection: &mut Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let mut protocol = connection.protocol;
    if let Some(version) = arguments.get(1) {
        protocol = match integer(version) {
            Ok(2) => Protocol::Resp2,
            Ok(3) => Protocol::Resp3,
            Ok(_) => return Err(refuse("NOPROTO unsupported protocol version")),
            Err(_) => {
                return Err(refuse(
                    "ERR Protocol version is not an integer or out of range",
                ))
            }
        };
    }
    let mut name = None;
    let mut at = 2;
    while at < arguments.len() {
        let more = arguments.len() - 1 - at;
        if is_keyword(&arguments[at], "auth") && more >= 2 {
            authenticate(&arguments[at + 1], &arguments[at + 2])?;
            at += 3;
        } else if is_keyword(&arguments[at], "setname") && more >= 1 {
            name = Some(valid_name(&arguments[at + 1])?);
            at += 2;
        } else {
            return Err(refuse(&format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&arguments[at])
            )));
        }
    }
    if let Some(name) = name {
        connection.client.set_name(name);
    }
    connection.protocol = protocol;
    connection
        .client
        .set_state(connection.protocol_number(), false);
    Ok(Reply::Map(vec![
        Reply::bulk("server"),
        Reply::bulk("redis"),
        Reply::bulk("version"),
        Reply::bulk(REDIS_VERSION),
        Reply::bulk("proto"),
        Reply::Integer(i64::from(connection.protocol_number())),
        Reply::bulk("id"),
        reply::integer(connection.client.id),
        Reply::bulk("mode"),
        Reply::bulk("standalone"),
        Reply::bulk("role"),
        Reply::bulk("master"),
        Reply::bulk("modules"),
        Reply::Array(Vec::new()),
    ]))
}

/// With no password configured, the default user takes any password and no other user
/// exists.
fn authenticate(user: &[u8], _password: &[u8]) -> Result<(), CommandError> {
    if user == b"default" {
        Ok(())
    } else {
        Err(refuse(
            "WRONGPASS invalid username-password pair or user is disabled.",
        ))
    }
}

/// AUTH [username] password.
fn auth(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    match arguments {
        [_, _password] => Err(refuse(
            "ERR AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        )),
        [_, user, password] => authenticate(user, password).map(|()| reply::ok()),
        _ => Err(CommandError::Syntax),
    }
}

/// SELECT index: there is one database.
fn select(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let index = integer(&arguments[1])?;
    if i32::try_from(index).is_err() {
        return Err(CommandError::NotAnInteger);
    }
    if index != 0 {
        return Err(refuse("ERR DB index is out of range"));
    }
    Ok(reply::ok())
}

/// A CLIENT SETNAME name: printable ASCII without spaces (empty clears the name).
fn valid_name(name: &[u8]) -> Result<Vec<u8>, CommandError> {
    if name.iter().all(|&byte| (b'!'..=b'~').contains(&byte)) {
        Ok(name.to_vec())
    } else {
        Err(refuse(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// CLIENT's subcommands, with their arities.
const CLIENT_SUBCOMMANDS: &[(&str, i32)] = &[
    ("id", 2),
    ("setname", 3),
    ("getname", 2),
    ("info", 2),
    ("list", -2),
    ("unblock", -3),
    ("help", 2),
];

fn client(connection: &mut Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    let Some((name, arity)) = CLIENT_SUBCOMMANDS
        .iter()
        .find(|(name, _)| subcommand.eq_ignore_ascii_case(name.as_bytes()))
    else {
        return Err(unknown_subcommand(&arguments[0], subcommand));
    };
    let count = arguments.len();
    let fits = match usize::try_from(*arity) {
        Ok(exact) => count == exact,
        Err(_) => count >= arity.unsigned_abs() as usize,
    };
    if !fits {
        return Err(subcommand_syntax_error(arguments));
    }
    let shared = &connection.shared;
    let local = shared.address;
    Ok(match *name {
        "id" => reply::integer(connection.client.id),
        "setname" => {
            connection.client.set_name(valid_name(&arguments[2])?);
            reply::ok()
        }
        "getname" => {
            let name = connection.client.name();
            if name.is_empty() {
                Reply::Nil
            } else {
                Reply::Bulk(name)
            }
        }
        "info" => Reply::Bulk(format!("{}\n", connection.client.describe(local)).into_bytes()),
        "list" => client_list(connection, &arguments[2..])?,
        "unblock" => {
            let id = integer(&arguments[2])?;
            let how = match arguments.get(3) {
                None => Unblock::Timeout,
                Some(word) if is_keyword(word, "timeout") => Unblock::Timeout,
                Some(word) if is_keyword(word, "error") => Unblock::Error,
                Some(_) => {
                    return Err(refuse(
                        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
                    ))
                }
            };
            let unblocked = u64::try_from(id)
                .is_ok_and(|id| id != connection.client.id && shared.clients.unblock(id, how));
            reply::integer(u64::from(unblocked))
        }
        _ => help_reply(
            "CLIENT",
            &[
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID id [id ...]]",
                "    Return information about client connections.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
            ],
        ),
    })
}

/// CLIENT LIST [TYPE type] [ID id ...].
fn client_list(connection: &Connection, options: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let mut ids: Option<Vec<u64>> = None;
    let mut normal = true;
    match options {
        [] => {}
        [word, kind] if is_keyword(word, "type") => {
            if is_keyword(kind, "normal") {
            } else if ["master", "replica", "slave", "pubsub"]
                .iter()
                .any(|known| is_keyword(kind, known))
            {
                normal = false;
            } else {
                return Err(refuse(&format!(
                    "ERR Unknown client type '{}'",
                    String::from_utf8_lossy(kind)
                )));
            }
        }
        [word, rest @ ..] if is_keyword(word, "id") && !rest.is_empty() => {
            let mut wanted = Vec::new();
            for id in rest {
                let id = u64::try_from(integer(id)?)
                    .ok()
                    .filter(|&id| id > 0)
                    .ok_or_else(|| refuse("ERR Invalid client ID"))?;
                wanted.push(id);
            }
            ids = Some(wanted);
        }
        _ => return Err(CommandError::Syntax),
    }
    let local = connection.shared.address;
    let mut text = String::new();
    for client in connection.shared.clients.all() {
        if normal && ids.as_ref().is_none_or(|ids| ids.contains(&client.id)) {
            text.push_str(&client.describe(local));
            text.push('\n');
        }
    }
    Ok(Reply::Bulk(text.into_bytes()))
}

/// Redis's `addReplyHelp`.
fn help_reply(command: &str, lines: &[&str]) -> Reply {
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

/// Every command a RESP client can send, with its arity.
fn all_commands() -> Vec<(&'static str, i32)> {
    let mut commands: Vec<(&'static str, i32)> = command_arities().collect();
    commands.extend_from_slice(ADMIN_COMMANDS);
    commands
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
fn command(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let commands = all_commands();
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
fn info(connection: &Connection, arguments: &[Vec<u8>]) -> Reply {
    let shared = &connection.shared;
    let wanted = |section: &str| {
        arguments.len() == 1
            || arguments[1..].iter().any(|word| {
                is_keyword(word, section)
                    || is_keyword(word, "all")
                    || is_keyword(word, "everything")
                    || is_keyword(word, "default")
            })
    };
    let engine = &shared.engine;
    let (connected, blocked) = shared.clients.counts();
    let mut sections: Vec<(&str, Vec<String>)> = Vec::new();
    sections.push((
        "Server",
        vec![
            format!("redis_version:{REDIS_VERSION}"),
            format!("sluice_version:{}", env!("CARGO_PKG_VERSION")),
            "redis_mode:standalone".to_owned(),
            format!("os:{}", std::env::consts::OS),
            format!("arch_bits:{}", usize::BITS),
            format!("process_id:{}", std::process::id()),
            format!("tcp_port:{}", shared.address.port()),
            format!("uptime_in_seconds:{}", shared.started.elapsed().as_secs()),
            format!(
                "uptime_in_days:{}",
                shared.started.elapsed().as_secs() / 86_400
            ),
        ],
    ));
    sections.push((
        "Clients",
        vec![
            format!("connected_clients:{connected}"),
            format!("maxclients:{}", shared.resp.clients_max),
            format!("blocked_clients:{blocked}"),
        ],
    ));
    let resident = resident_bytes();
    sections.push((
        "Memory",
        vec![
            format!("used_memory:{resident}"),
            format!("used_memory_rss:{resident}"),
            format!("open_files:{}", engine.open_handles()),
        ],
    ));
    sections.push((
        "Persistence",
        vec![
            "loading:0".to_owned(),
            "aof_enabled:1".to_owned(),
            format!("sluice_fsync:{}", engine.config().fsync.name()),
            "rdb_bgsave_in_progress:0".to_owned(),
            "aof_rewrite_in_progress:0".to_owned(),
        ],
    ));
    sections.push(("Stats", shared.stats.totals()));
    sections.push((
        "Replication",
        vec!["role:master".to_owned(), "connected_slaves:0".to_owned()],
    ));
    let streams = engine.list(None).len();
    let keyspace = if streams > 0 {
        vec![format!("db0:keys={streams},expires=0,avg_ttl=0")]
    } else {
        Vec::new()
    };
    sections.push(("Keyspace", keyspace));
    // Not in INFO's default output, as in Redis: only when named, or with `all`.
    let named = |section: &str| {
        arguments[1..].iter().any(|word| {
            is_keyword(word, section) || is_keyword(word, "all") || is_keyword(word, "everything")
        })
    };
    if named("commandstats") {
        sections.push(("Commandstats", shared.stats.commands()));
    }
    if named("errorstats") {
        sections.push(("Errorstats", shared.stats.errors()));
    }
    let mut text = String::new();
    for (title, lines) in sections {
        let extra = matches!(title, "Commandstats" | "Errorstats");
        if !extra && !wanted(&title.to_ascii_lowercase()) {
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

/// FUNCTION: there are no functions; FLUSH and LIST answer as on a server without any (test
/// suites and tools call them to start clean).
fn function(arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    if is_keyword(subcommand, "flush") && arguments.len() <= 3 {
        Ok(reply::ok())
    } else if is_keyword(subcommand, "list") {
        Ok(Reply::Array(Vec::new()))
    } else {
        Err(unknown_subcommand(&arguments[0], subcommand))
    }
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
fn config(connection: &Connection, arguments: &[Vec<u8>]) -> Result<Reply, CommandError> {
    let subcommand = &arguments[1];
    if is_keyword(subcommand, "get") && arguments.len() >= 3 {
        let mut items = Vec::new();
        for (name, value) in parameters(connection) {
            if arguments[2..].iter().any(|pattern| {
                crate::glob::glob_match(&pattern.to_ascii_lowercase(), name.as_bytes())
            }) {
                items.push(Reply::bulk(name));
                items.push(Reply::bulk(value));
            }
        }
        Ok(Reply::Map(items))
    } else if is_keyword(subcommand, "set") && arguments.len() >= 4 && arguments.len() % 2 == 0 {
        let mut changes = Vec::new();
        for pair in arguments[2..].chunks(2) {
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
    } else if is_keyword(subcommand, "resetstat") && arguments.len() == 2 {
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
