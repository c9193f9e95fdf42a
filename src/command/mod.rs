//! Redis command syntax in, a typed [`Command`] out, with Redis's own error texts: the one
//! command layer of every front end (the CLI now, a Redis-protocol server next).
//!
//! This module checks everything Redis 7.0.15 checks before it looks the key up: that the
//! command exists, its arity, its options and numbers, and the IDs Redis parses up front, in
//! the same order as Redis (`processCommand`, then `t_stream.c`'s parsers), so the first error
//! reported is the one Redis would report. Some commands parse arguments only after finding
//! the key (XDEL's IDs, XINFO STREAM's options, XGROUP CREATE's ID without MKSTREAM); for
//! those a refused argument becomes [`Command::ErrorUnlessMissing`], which the executor
//! resolves by looking the key up.
//!
//! The consumer-group commands check some arguments only once the key *and the group* are
//! found (XACK's IDs, XCLAIM's options, XGROUP SETID's ID, XREADGROUP's IDs, stream by
//! stream); those become [`Command::ErrorUnlessNoGroup`].
//!
//! The parts: [`tokenizer`] (a typed line into arguments, as redis-cli and Redis's inline
//! protocol split it), `args` (keywords and numbers as Redis reads them), [`error`] (the
//! refusals), and one file per command family: `write` (XADD, XTRIM, XDEL, XSETID), `read`
//! (XRANGE, XREVRANGE, XREAD, XLEN), `info` (XINFO), `keyspace` (PING, DEL, UNLINK, EXISTS,
//! KEYS, TYPE, DBSIZE, FLUSHDB, FLUSHALL, SCAN, RENAME),
//! `group` (XREADGROUP, and the group commands' arguments), `pending` (XACK, XPENDING,
//! Sluice's XNACK and XRENEW), `xgroup` (XGROUP), `claim` (XCLAIM, XAUTOCLAIM) and `retention`
//! (Sluice's XRETENTION).

pub mod args;
mod claim;
pub mod error;
mod group;
mod info;
mod keyspace;
mod pending;
mod read;
mod retention;
pub mod tokenizer;
mod write;
mod xgroup;

pub use error::CommandError;
pub use group::{MissingGroup, XAutoClaim, XClaim, XGroupCreate, XNack, XPending, XReadGroup};
pub use keyspace::Scan;
pub use read::{XRange, XRead};
pub use retention::RetentionAction;
pub use write::{trim_spec, XAdd, XSetId};

use crate::id::StreamId;
use crate::model::{GroupPolicy, GroupTarget, TrimSpec};
use crate::reply::Reply;
use args::{unknown_command, unknown_subcommand};

/// A command Sluice understands, its arguments parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// PING \[message\].
    Ping {
        /// Echoed back as a bulk string when given.
        message: Option<Vec<u8>>,
    },
    /// XADD.
    XAdd(XAdd),
    /// XRANGE / XREVRANGE.
    XRange(XRange),
    /// XREAD.
    XRead(XRead),
    /// XLEN key.
    XLen {
        /// The stream.
        key: Vec<u8>,
    },
    /// XDEL key id [id ...].
    XDel {
        /// The stream.
        key: Vec<u8>,
        /// The IDs to delete.
        ids: Vec<StreamId>,
    },
    /// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count].
    XTrim {
        /// The stream.
        key: Vec<u8>,
        /// What to remove.
        trim: TrimSpec,
    },
    /// XSETID.
    XSetId(XSetId),
    /// XINFO STREAM key [FULL [COUNT count]].
    XInfoStream {
        /// The stream.
        key: Vec<u8>,
        /// With FULL: the COUNT (default 10, 0 for every entry).
        full: Option<u64>,
    },
    /// XINFO HELP.
    XInfoHelp,
    /// XINFO GROUPS key.
    XInfoGroups {
        /// The stream.
        key: Vec<u8>,
    },
    /// XINFO CONSUMERS key group.
    XInfoConsumers {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
    },
    /// XGROUP CREATE.
    XGroupCreate(XGroupCreate),
    /// XGROUP SETID key group id|$ [ENTRIESREAD n].
    XGroupSetId {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The new last-delivered ID.
        target: GroupTarget,
        /// ENTRIESREAD (`None`: unknown).
        entries_read: Option<u64>,
    },
    /// XGROUP DESTROY key group.
    XGroupDestroy {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
    },
    /// XGROUP CREATECONSUMER key group consumer.
    XGroupCreateConsumer {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The consumer.
        consumer: Vec<u8>,
    },
    /// XGROUP DELCONSUMER key group consumer.
    XGroupDelConsumer {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The consumer.
        consumer: Vec<u8>,
    },
    /// Sluice's XGROUP SETPOLICY key group [MAXDELIVERIES n] [DEADLETTER stream] [LEASE ms]:
    /// replaces the group's policy (options not given take their defaults).
    XGroupSetPolicy {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The new policy.
        policy: GroupPolicy,
    },
    /// XGROUP HELP.
    XGroupHelp,
    /// XREADGROUP.
    XReadGroup(XReadGroup),
    /// XACK key group id [id ...].
    XAck {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The IDs.
        ids: Vec<StreamId>,
    },
    /// XPENDING.
    XPending(XPending),
    /// XCLAIM.
    XClaim(XClaim),
    /// XAUTOCLAIM.
    XAutoClaim(XAutoClaim),
    /// Sluice's XNACK.
    XNack(XNack),
    /// Sluice's XRENEW key group consumer id [id ...]: renews the consumer's lease on its
    /// entries (their delivery time becomes now; counts stay).
    XRenew {
        /// The stream.
        key: Vec<u8>,
        /// The group.
        group: Vec<u8>,
        /// The consumer holding the entries.
        consumer: Vec<u8>,
        /// The entries.
        ids: Vec<StreamId>,
    },
    /// Sluice's XRETENTION key SET [MAXAGE ms] [MAXBYTES n] [MAXLEN n] [KEEPUNPROCESSED] |
    /// GET | CLEAR: a stream's retention policy.
    XRetention {
        /// The stream.
        key: Vec<u8>,
        /// What to do with its policy.
        action: RetentionAction,
    },
    /// DEL key [key ...].
    Del {
        /// The streams to drop.
        keys: Vec<Vec<u8>>,
    },
    /// EXISTS key [key ...]: how many of the keys exist (a key named twice counts twice).
    Exists {
        /// The streams to look for.
        keys: Vec<Vec<u8>>,
    },
    /// KEYS pattern.
    Keys {
        /// A Redis glob pattern.
        pattern: Vec<u8>,
    },
    /// TYPE key: `stream`, or `none` when there is no such stream.
    Type {
        /// The name.
        key: Vec<u8>,
    },
    /// DBSIZE: how many streams there are.
    DbSize,
    /// FLUSHDB / FLUSHALL \[ASYNC|SYNC\]: drops every stream.
    FlushAll,
    /// SCAN cursor \[MATCH pattern\] \[COUNT count\] \[TYPE type\].
    Scan(Scan),
    /// RENAME key newkey.
    Rename {
        /// The stream to rename.
        from: Vec<u8>,
        /// Its new name.
        to: Vec<u8>,
    },
    /// An argument Redis checks only once it has found the key: the reply is `missing` when
    /// the stream does not exist and `error` when it does.
    ErrorUnlessMissing {
        /// The stream.
        key: Vec<u8>,
        /// The reply for a missing stream (XDEL: 0; XINFO: "ERR no such key"; XGROUP CREATE:
        /// "requires the key to exist").
        missing: Reply,
        /// The error for an existing stream.
        error: CommandError,
    },
    /// An argument Redis checks only once it has found the streams and their group: the
    /// executor looks the streams up in order, and the reply is `missing`'s for the first that
    /// does not exist or lacks the group, and `error` when every one has it.
    ErrorUnlessNoGroup {
        /// The streams, in the order Redis looks them up (XREADGROUP: up to the stream whose
        /// ID is refused; the others: the one key).
        keys: Vec<Vec<u8>>,
        /// The group each must have.
        group: Vec<u8>,
        /// What Redis replies for a missing stream or group.
        missing: MissingGroup,
        /// The error when every stream has the group.
        error: CommandError,
    },
}

/// How a command is found and checked, after Redis's command table.
struct Definition {
    /// Full name as Redis reports it in arity errors (`xinfo|stream` for a subcommand).
    name: &'static str,
    /// Redis's arity: exactly `n` arguments (name included) when positive, at least `-n`
    /// when negative.
    arity: i32,
    /// Parses the arguments once the arity is right.
    parse: fn(&[Vec<u8>]) -> Result<Command, CommandError>,
}

/// A table row; `parse` may index the arguments up to the arity, which is checked first.
const fn define(
    name: &'static str,
    arity: i32,
    parse: fn(&[Vec<u8>]) -> Result<Command, CommandError>,
) -> Definition {
    Definition { name, arity, parse }
}

const COMMANDS: &[Definition] = &[
    define("ping", -1, keyspace::parse_ping),
    define("xadd", -5, write::parse_xadd),
    define("xrange", -4, read::parse_xrange),
    define("xrevrange", -4, read::parse_xrevrange),
    define("xread", -4, read::parse_xread),
    define("xlen", 2, read::parse_xlen),
    define("xdel", -3, write::parse_xdel),
    define("xtrim", -4, write::parse_xtrim),
    define("xsetid", -3, write::parse_xsetid),
    define("xreadgroup", -7, group::parse_xreadgroup),
    define("xack", -4, pending::parse_xack),
    define("xpending", -3, pending::parse_xpending),
    define("xclaim", -6, claim::parse_xclaim),
    define("xautoclaim", -6, claim::parse_xautoclaim),
    define("xnack", -7, pending::parse_xnack),
    define("xrenew", -5, pending::parse_xrenew),
    define("xretention", -3, retention::parse_xretention),
    define("del", -2, keyspace::parse_del),
    define("exists", -2, keyspace::parse_exists),
    define("keys", 2, keyspace::parse_keys),
    define("unlink", -2, keyspace::parse_del),
    define("type", 2, keyspace::parse_type),
    define("dbsize", 1, keyspace::parse_dbsize),
    define("flushdb", -1, keyspace::parse_flush),
    define("flushall", -1, keyspace::parse_flush),
    define("scan", -2, keyspace::parse_scan),
    define("rename", 3, keyspace::parse_rename),
];

/// A command with subcommands (XINFO, XGROUP): each subcommand has its own row, named
/// `container|subcommand` as Redis names it in arity errors.
struct Container {
    /// With no subcommand the container is checked as itself (its arity, -2, refuses it).
    definition: Definition,
    /// The subcommands, by the word that selects them.
    subcommands: &'static [(&'static str, Definition)],
}

const CONTAINERS: &[Container] = &[
    Container {
        definition: define("xinfo", -2, info::parse_xinfo_container),
        subcommands: &[
            (
                "stream",
                define("xinfo|stream", -3, info::parse_xinfo_stream),
            ),
            (
                "groups",
                define("xinfo|groups", 3, info::parse_xinfo_groups),
            ),
            (
                "consumers",
                define("xinfo|consumers", 4, info::parse_xinfo_consumers),
            ),
            ("help", define("xinfo|help", 2, info::parse_xinfo_help)),
        ],
    },
    Container {
        definition: define("xgroup", -2, xgroup::parse_xgroup_container),
        subcommands: &[
            ("create", define("xgroup|create", -5, xgroup::parse_create)),
            ("setid", define("xgroup|setid", -5, xgroup::parse_setid)),
            (
                "destroy",
                define("xgroup|destroy", 4, xgroup::parse_destroy),
            ),
            (
                "createconsumer",
                define("xgroup|createconsumer", 5, xgroup::parse_createconsumer),
            ),
            (
                "delconsumer",
                define("xgroup|delconsumer", 5, xgroup::parse_delconsumer),
            ),
            (
                "setpolicy",
                define("xgroup|setpolicy", -4, xgroup::parse_setpolicy),
            ),
            ("help", define("xgroup|help", 2, xgroup::parse_help)),
        ],
    },
];

/// The names of the commands Sluice understands, for help texts.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .chain(CONTAINERS.iter().map(|container| &container.definition))
        .map(|definition| definition.name)
}

/// Every command with its Redis arity (a container with its own, -2), for COMMAND.
pub fn command_arities() -> impl Iterator<Item = (&'static str, i32)> {
    COMMANDS
        .iter()
        .chain(CONTAINERS.iter().map(|container| &container.definition))
        .map(|definition| (definition.name, definition.arity))
}

/// The definition `arguments` select: a command, a container's subcommand, or the container
/// itself when no subcommand is given.
fn find(arguments: &[Vec<u8>]) -> Result<&'static Definition, CommandError> {
    let name = &arguments[0];
    let container = CONTAINERS
        .iter()
        .find(|container| name.eq_ignore_ascii_case(container.definition.name.as_bytes()));
    match (container, arguments.get(1)) {
        (Some(container), None) => Ok(&container.definition),
        (Some(container), Some(subcommand)) => container
            .subcommands
            .iter()
            .find(|(word, _)| subcommand.eq_ignore_ascii_case(word.as_bytes()))
            .map(|(_, definition)| definition)
            .ok_or_else(|| unknown_subcommand(name, subcommand)),
        (None, _) => COMMANDS
            .iter()
            .find(|definition| name.eq_ignore_ascii_case(definition.name.as_bytes()))
            .ok_or_else(|| unknown_command(arguments)),
    }
}

/// Parses one command: `arguments[0]` is the command name.
pub fn parse(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    (lookup(arguments)?.parse)(arguments)
}

/// What Redis checks before it queues a command inside MULTI: that the command (and its
/// subcommand) exists and the arity is right. The options are checked when it runs.
pub fn check(arguments: &[Vec<u8>]) -> Result<(), CommandError> {
    lookup(arguments).map(|_| ())
}

/// The definition of the command `arguments` name, its arity checked.
fn lookup(arguments: &[Vec<u8>]) -> Result<&'static Definition, CommandError> {
    if arguments.is_empty() {
        return Err(CommandError::Empty);
    }
    let definition = find(arguments)?;
    let argument_count = arguments.len();
    let arity_ok = match usize::try_from(definition.arity) {
        Ok(exact) => argument_count == exact,
        Err(_) => argument_count >= definition.arity.unsigned_abs() as usize,
    };
    if !arity_ok {
        return Err(CommandError::WrongArity(definition.name));
    }
    Ok(definition)
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::parse;
    use crate::command::test_support::*;
    use proptest::strategy::Strategy as _;

    #[test]
    fn names_are_case_insensitive() {
        assert_eq!(command("ping"), Command::Ping { message: None });
        assert_eq!(
            command("PiNg hello"),
            Command::Ping {
                message: Some(b"hello".to_vec())
            }
        );
        assert_eq!(command("XLEN s"), command("xlen s"));
        assert_eq!(command("xInfo StReAm s"), command("XINFO STREAM s"));
    }

    #[test]
    fn unknown_commands_echo_their_arguments() {
        assert_eq!(
            error("FOO"),
            "ERR unknown command 'FOO', with args beginning with: "
        );
        assert_eq!(
            error("foo a b"),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        assert_eq!(
            error(r#"FOO "a\nb" "c\x00d""#),
            "ERR unknown command 'FOO', with args beginning with: 'a b' 'c' "
        );
        // About 128 bytes of arguments at most.
        let long = "x".repeat(200);
        assert_eq!(
            error(&format!("foo {long} more")),
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' ",
                "x".repeat(128)
            )
        );
        // The last argument echoed is cut to what is left of the 128 bytes.
        assert_eq!(
            error(&format!("foo {} abcdefgh more", "y".repeat(120))),
            format!(
                "ERR unknown command 'foo', with args beginning with: '{}' 'abcde' ",
                "y".repeat(120)
            )
        );
        assert_eq!(
            error(&long),
            format!(
                "ERR unknown command '{}', with args beginning with: ",
                "x".repeat(128)
            )
        );
    }

    #[test]
    fn arity_errors_name_the_command() {
        for (line, name) in [
            ("xadd s", "xadd"),
            ("XADD s 1-1 a", "xadd"),
            ("xrange s -", "xrange"),
            ("xrevrange s +", "xrevrange"),
            ("xread streams s", "xread"),
            ("xlen", "xlen"),
            ("xlen a b", "xlen"),
            ("xdel s", "xdel"),
            ("xtrim s maxlen", "xtrim"),
            ("xsetid s", "xsetid"),
            ("xinfo", "xinfo"),
            ("xinfo stream", "xinfo|stream"),
            ("xinfo help x", "xinfo|help"),
            ("xinfo groups", "xinfo|groups"),
            ("xinfo consumers s", "xinfo|consumers"),
            ("xgroup", "xgroup"),
            ("xgroup create s g", "xgroup|create"),
            ("xgroup setid s g", "xgroup|setid"),
            ("xgroup destroy s", "xgroup|destroy"),
            ("xgroup createconsumer s g", "xgroup|createconsumer"),
            ("xgroup delconsumer s g c d", "xgroup|delconsumer"),
            ("xgroup setpolicy s", "xgroup|setpolicy"),
            ("xgroup help x", "xgroup|help"),
            ("xreadgroup group g c streams s", "xreadgroup"),
            ("xack s g", "xack"),
            ("xpending s", "xpending"),
            ("xclaim s g c 0", "xclaim"),
            ("xautoclaim s g c 0", "xautoclaim"),
            ("xnack s g c ids 1", "xnack"),
            ("xrenew s g c", "xrenew"),
            ("xretention s", "xretention"),
            ("del", "del"),
            ("exists", "exists"),
            ("keys", "keys"),
            ("keys a b", "keys"),
            ("ping a b", "ping"),
        ] {
            assert_eq!(
                error(line),
                format!("ERR wrong number of arguments for '{name}' command"),
                "{line}"
            );
        }
    }

    proptest::proptest! {
        /// No argument list makes the parser panic: every index it takes is covered by the
        /// arity check or a bound check.
        #[test]
        fn any_arguments_parse_or_fail_cleanly(
            words in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(vec![
                        "XADD", "xrange", "XREVRANGE", "XREAD", "XLEN", "XDEL", "XTRIM",
                        "XSETID", "XINFO", "STREAM", "HELP", "FULL", "COUNT", "BLOCK",
                        "STREAMS", "MAXLEN", "MINID", "LIMIT", "NOMKSTREAM", "~", "=", "*",
                        "$", "+", "-", "(", "(1", "0", "1-1", "5-*", "-1", "ENTRIESADDED",
                        "MAXDELETEDID", "DEL", "EXISTS", "KEYS", "PING", "GROUP", "NOACK",
                        "XGROUP", "CREATE", "SETID", "DESTROY", "CREATECONSUMER",
                        "DELCONSUMER", "SETPOLICY", "MKSTREAM", "ENTRIESREAD", "MAXDELIVERIES",
                        "DEADLETTER", "LEASE", "XREADGROUP", "CLAIM", ">", "XACK", "XPENDING",
                        "IDLE", "XCLAIM", "TIME", "RETRYCOUNT", "FORCE", "JUSTID", "LASTID",
                        "XAUTOCLAIM", "XNACK", "DELAY", "REJECT", "IDS", "XRENEW", "GROUPS",
                        "XRETENTION", "GET", "SET", "CLEAR", "MAXAGE", "MAXBYTES",
                        "KEEPUNPROCESSED",
                        "CONSUMERS", "g", "c", "s", "2", "-2", "9-9",
                    ])
                    .prop_map(|word| word.as_bytes().to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..6),
                ],
                0..14,
            )
        ) {
            let _ = parse(&words);
        }
    }
}
