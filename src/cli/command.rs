//! Redis command syntax in, a typed [`Command`] out, with Redis's own error texts.
//!
//! This module checks everything Redis 7.0.15 checks before it looks the key up: that the
//! command exists, its arity, its options and numbers, and the IDs Redis parses up front, in
//! the same order as Redis (`processCommand`, then `t_stream.c`'s parsers), so the first error
//! reported is the one Redis would report. Two commands parse some arguments only after
//! finding the key (XDEL's IDs, XINFO STREAM's options); for those a refused argument becomes
//! [`Command::ErrorUnlessMissing`], which the executor resolves by looking the key up.
//!
//! Keywords are matched as C strings, case-insensitively (Redis's `strcasecmp` stops at a NUL
//! byte); numbers follow Redis's `string2ll`; IDs use [`crate::id`]'s parsers, which are
//! Redis's.

use crate::id::{parse_i64_strict, AddId, IdRange, StreamId};
use crate::reply::{self, Reply};
use crate::storage::record::Field;
use crate::storage::stream_log::{TrimSpec, TrimStrategy};

/// XINFO STREAM FULL's default COUNT (Redis's, so the reply stays small).
pub const XINFO_FULL_COUNT_DEFAULT: u64 = 10;

/// Bytes of a command name or argument that Redis echoes in an "unknown command" error.
const ECHOED_BYTES_MAX: usize = 128;

/// A command refused before it ran, with the error text Redis replies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(String);

impl CommandError {
    fn new(text: impl Into<String>) -> CommandError {
        CommandError(text.into())
    }

    /// Redis's plain "ERR syntax error".
    fn syntax() -> CommandError {
        CommandError::new("ERR syntax error")
    }

    /// getLongLongFromObjectOrReply's default text.
    fn not_an_integer() -> CommandError {
        CommandError::new("ERR value is not an integer or out of range")
    }

    /// The error text, as Redis sends it (`ERR ...`).
    pub fn text(&self) -> &str {
        &self.0
    }

    /// The error as a reply.
    pub fn into_reply(self) -> Reply {
        Reply::Error(self.0)
    }
}

impl From<crate::id::IdError> for CommandError {
    fn from(error: crate::id::IdError) -> CommandError {
        CommandError::new(error.to_string())
    }
}

/// Where XREAD starts reading a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStart {
    /// After this ID.
    After(StreamId),
    /// `$`: only entries added after the call (after the stream's last-generated ID).
    New,
    /// `+`: the stream's last entry (Redis 7.4; Redis 7.0 refuses it).
    LastEntry,
}

/// XADD's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XAdd {
    /// The stream.
    pub key: Vec<u8>,
    /// NOMKSTREAM: do not create a missing stream.
    pub nomkstream: bool,
    /// MAXLEN / MINID, applied after the add. `limit` is the LIMIT given (0 when absent).
    pub trim: Option<TrimSpec>,
    /// The ID argument.
    pub id: AddId,
    /// The field/value pairs (at least one).
    pub fields: Vec<Field>,
}

/// XRANGE's and XREVRANGE's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XRange {
    /// The stream.
    pub key: Vec<u8>,
    /// The inclusive range, exclusive bounds and incomplete IDs resolved.
    pub range: IdRange,
    /// COUNT (a negative COUNT is 0).
    pub count: Option<u64>,
    /// XREVRANGE: newest first.
    pub reverse: bool,
}

/// XREAD's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XRead {
    /// COUNT per stream; `None` for no limit (COUNT 0 and negative COUNTs mean no limit too).
    pub count: Option<u64>,
    /// BLOCK in milliseconds (0: forever); `None` when not blocking.
    pub block_ms: Option<u64>,
    /// The streams and where to read each from, in order.
    pub streams: Vec<(Vec<u8>, ReadStart)>,
}

/// XSETID's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XSetId {
    /// The stream.
    pub key: Vec<u8>,
    /// The new last-generated ID.
    pub last_id: StreamId,
    /// ENTRIESADDED.
    pub entries_added: Option<u64>,
    /// MAXDELETEDID (`0-0` leaves it unchanged, as in Redis).
    pub max_deleted: Option<StreamId>,
}

/// A command Sluice understands, its arguments parsed and checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// PING [message].
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
    /// An argument Redis checks only once it has found the key: the reply is `missing` when
    /// the stream does not exist and `error` when it does.
    ErrorUnlessMissing {
        /// The stream.
        key: Vec<u8>,
        /// The reply for a missing stream (XDEL: 0; XINFO: "ERR no such key").
        missing: Reply,
        /// The error for an existing stream.
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
    define("ping", -1, parse_ping),
    define("xadd", -5, parse_xadd),
    define("xrange", -4, parse_xrange),
    define("xrevrange", -4, parse_xrevrange),
    define("xread", -4, parse_xread),
    define("xlen", 2, parse_xlen),
    define("xdel", -3, parse_xdel),
    define("xtrim", -4, parse_xtrim),
    define("xsetid", -3, parse_xsetid),
    define("del", -2, parse_del),
    define("exists", -2, parse_exists),
    define("keys", 2, parse_keys),
];

/// XINFO is a container: with no subcommand it is checked as itself (arity -2, so it is
/// always refused).
const XINFO: Definition = define("xinfo", -2, parse_xinfo_container);

const XINFO_SUBCOMMANDS: &[(&str, Definition)] = &[
    ("stream", define("xinfo|stream", -3, parse_xinfo_stream)),
    ("help", define("xinfo|help", 2, parse_xinfo_help)),
];

/// The names of the commands Sluice understands, for help texts.
pub fn command_names() -> impl Iterator<Item = &'static str> {
    COMMANDS
        .iter()
        .map(|definition| definition.name)
        .chain(std::iter::once(XINFO.name))
}

/// Parses one command: `arguments[0]` is the command name.
pub fn parse(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let Some(name) = arguments.first() else {
        return Err(CommandError::new("ERR empty command"));
    };
    let definition = if name.eq_ignore_ascii_case(XINFO.name.as_bytes()) {
        match arguments.get(1) {
            None => &XINFO,
            Some(subcommand) => XINFO_SUBCOMMANDS
                .iter()
                .find(|(word, _)| subcommand.eq_ignore_ascii_case(word.as_bytes()))
                .map(|(_, definition)| definition)
                .ok_or_else(|| unknown_subcommand(name, subcommand))?,
        }
    } else {
        COMMANDS
            .iter()
            .find(|definition| name.eq_ignore_ascii_case(definition.name.as_bytes()))
            .ok_or_else(|| unknown_command(arguments))?
    };
    let argument_count = arguments.len();
    let arity_ok = match usize::try_from(definition.arity) {
        Ok(exact) => argument_count == exact,
        Err(_) => argument_count >= definition.arity.unsigned_abs() as usize,
    };
    if !arity_ok {
        return Err(CommandError::new(format!(
            "ERR wrong number of arguments for '{}' command",
            definition.name
        )));
    }
    (definition.parse)(arguments)
}

/// The bytes of `argument` as C sees them: up to the first NUL.
fn c_string(argument: &[u8]) -> &[u8] {
    match argument.iter().position(|&byte| byte == 0) {
        Some(nul) => &argument[..nul],
        None => argument,
    }
}

/// `strcasecmp(argument, word) == 0`.
fn is_keyword(argument: &[u8], word: &str) -> bool {
    c_string(argument).eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's error text with user bytes in it: newlines become spaces (Redis keeps the protocol
/// line intact) and bytes that are not UTF-8 are replaced, since replies hold text.
fn error_text(bytes: &[u8]) -> CommandError {
    let mapped: Vec<u8> = bytes
        .iter()
        .map(|&byte| {
            if byte == b'\r' || byte == b'\n' {
                b' '
            } else {
                byte
            }
        })
        .collect();
    CommandError::new(String::from_utf8_lossy(&mapped).into_owned())
}

fn truncated(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

/// Redis's `commandCheckExistence` text: the name and the first arguments, 128 bytes of each
/// at most and about 128 bytes of arguments in all.
fn unknown_command(arguments: &[Vec<u8>]) -> CommandError {
    let mut echoed: Vec<u8> = Vec::new();
    for argument in &arguments[1..] {
        if echoed.len() >= ECHOED_BYTES_MAX {
            break;
        }
        let room = ECHOED_BYTES_MAX - echoed.len();
        echoed.push(b'\'');
        echoed.extend_from_slice(truncated(c_string(argument), room));
        echoed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(truncated(c_string(&arguments[0]), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&echoed);
    error_text(&text)
}

fn unknown_subcommand(container: &[u8], subcommand: &[u8]) -> CommandError {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(truncated(c_string(subcommand), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&c_string(container).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    error_text(&text)
}

/// `addReplySubcommandSyntaxError`.
fn subcommand_syntax_error(arguments: &[Vec<u8>]) -> CommandError {
    let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    text.extend_from_slice(truncated(c_string(&arguments[1]), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&c_string(&arguments[0]).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    error_text(&text)
}

/// `getLongLongFromObjectOrReply` with its default error text.
fn integer(argument: &[u8]) -> Result<i64, CommandError> {
    parse_i64_strict(argument).ok_or_else(CommandError::not_an_integer)
}

fn parse_ping(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    if arguments.len() > 2 {
        return Err(CommandError::new(
            "ERR wrong number of arguments for 'ping' command",
        ));
    }
    Ok(Command::Ping {
        message: arguments.get(1).cloned(),
    })
}

/// What `streamParseAddOrTrimArgsOrReply` found.
struct AddTrimArguments {
    trim: Option<TrimSpec>,
    nomkstream: bool,
    /// XADD's ID, and the position of the argument after it.
    id: Option<(AddId, usize)>,
}

/// Redis's `streamParseAddOrTrimArgsOrReply`, for XADD (`xadd`) and XTRIM: the options from
/// the third argument on, in Redis's order of checks.
fn parse_add_or_trim(arguments: &[Vec<u8>], xadd: bool) -> Result<AddTrimArguments, CommandError> {
    let argument_count = arguments.len();
    let mut strategy: Option<TrimStrategy> = None;
    let mut approximate = false;
    let mut limit: i64 = 0;
    let mut limit_given = false;
    let mut nomkstream = false;
    let mut id = None;
    let mut at = 2;
    while at < argument_count {
        let more = argument_count - 1 - at;
        let option = &arguments[at];
        if xadd && c_string(option) == b"*" {
            id = Some((AddId::Auto, at + 1));
            break;
        } else if (is_keyword(option, "maxlen") || is_keyword(option, "minid")) && more > 0 {
            if strategy.is_some() {
                return Err(CommandError::new(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            approximate = false;
            let next = c_string(&arguments[at + 1]);
            if more >= 2 && next == b"~" {
                approximate = true;
                at += 1;
            } else if more >= 2 && next == b"=" {
                at += 1;
            }
            let threshold = &arguments[at + 1];
            strategy = Some(if is_keyword(option, "maxlen") {
                let maxlen = integer(threshold)?;
                let maxlen = u64::try_from(maxlen)
                    .map_err(|_| CommandError::new("ERR The MAXLEN argument must be >= 0."))?;
                TrimStrategy::MaxLen(maxlen)
            } else {
                TrimStrategy::MinId(StreamId::parse_strict(threshold)?)
            });
            at += 1;
        } else if is_keyword(option, "limit") && more > 0 {
            limit = integer(&arguments[at + 1])?;
            if limit < 0 {
                return Err(CommandError::new("ERR The LIMIT argument must be >= 0."));
            }
            limit_given = true;
            at += 1;
        } else if xadd && is_keyword(option, "nomkstream") {
            nomkstream = true;
        } else if xadd {
            // Not an option, so it must be the ID.
            id = Some((AddId::parse(option)?, at + 1));
            break;
        } else {
            return Err(CommandError::syntax());
        }
        at += 1;
    }
    if limit != 0 && strategy.is_none() {
        return Err(CommandError::new(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && strategy.is_none() {
        return Err(CommandError::new(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if limit_given && !approximate {
        return Err(CommandError::new(
            "ERR syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    Ok(AddTrimArguments {
        // Redis caps an approximate trim without LIMIT at 100 radix-tree nodes of work; Sluice's
        // `~` removes whole segments, so no LIMIT means no limit (0) here.
        trim: strategy.map(|strategy| TrimSpec {
            strategy,
            approx: approximate,
            limit: limit.unsigned_abs(),
        }),
        nomkstream,
        id,
    })
}

fn parse_xadd(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let parsed = parse_add_or_trim(arguments, true)?;
    let arity_error = || CommandError::new("ERR wrong number of arguments for 'xadd' command");
    // Running out of arguments before the ID leaves no room for fields: an arity error.
    let (id, fields_at) = parsed.id.ok_or_else(arity_error)?;
    let field_arguments = &arguments[fields_at..];
    if field_arguments.len() < 2 || field_arguments.len() % 2 == 1 {
        return Err(arity_error());
    }
    if id == AddId::Explicit(StreamId::MIN) {
        return Err(CommandError::new(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    Ok(Command::XAdd(XAdd {
        key: arguments[1].clone(),
        nomkstream: parsed.nomkstream,
        trim: parsed.trim,
        id,
        fields: field_arguments
            .chunks_exact(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect(),
    }))
}

fn parse_xtrim(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let parsed = parse_add_or_trim(arguments, false)?;
    let trim = parsed.trim.ok_or_else(CommandError::syntax)?;
    Ok(Command::XTrim {
        key: arguments[1].clone(),
        trim,
    })
}

fn parse_xrange(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    parse_range(arguments, false)
}

fn parse_xrevrange(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    parse_range(arguments, true)
}

/// `xrangeGenericCommand`: XREVRANGE takes the end first.
fn parse_range(arguments: &[Vec<u8>], reverse: bool) -> Result<Command, CommandError> {
    let (start, end) = if reverse {
        (&arguments[3], &arguments[2])
    } else {
        (&arguments[2], &arguments[3])
    };
    let range = IdRange::parse(start, end)?;
    let mut count = None;
    let mut at = 4;
    while at < arguments.len() {
        let more = arguments.len() - at - 1;
        if is_keyword(&arguments[at], "count") && more >= 1 {
            count = Some(integer(&arguments[at + 1])?.max(0).unsigned_abs());
            at += 1;
        } else {
            return Err(CommandError::syntax());
        }
        at += 1;
    }
    Ok(Command::XRange(XRange {
        key: arguments[1].clone(),
        range,
        count,
        reverse,
    }))
}

/// `xreadCommand`, without XREADGROUP's options.
fn parse_xread(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let argument_count = arguments.len();
    let mut count = None;
    let mut block_ms = None;
    let mut streams_at = None;
    let mut at = 1;
    while at < argument_count {
        let more = argument_count - at - 1;
        let option = &arguments[at];
        if is_keyword(option, "block") && more > 0 {
            at += 1;
            let timeout = parse_i64_strict(&arguments[at]).ok_or_else(|| {
                CommandError::new("ERR timeout is not an integer or out of range")
            })?;
            let timeout =
                u64::try_from(timeout).map_err(|_| CommandError::new("ERR timeout is negative"))?;
            block_ms = Some(timeout);
        } else if is_keyword(option, "count") && more > 0 {
            at += 1;
            // Redis treats COUNT 0 (and a negative COUNT, clamped to 0) as no limit.
            let value = integer(&arguments[at])?;
            count = u64::try_from(value).ok().filter(|&value| value > 0);
        } else if is_keyword(option, "streams") && more > 0 {
            if (argument_count - at - 1) % 2 != 0 {
                return Err(CommandError::new(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_at = Some(at + 1);
            break;
        } else if is_keyword(option, "group") && more >= 2 {
            return Err(CommandError::new(
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else if is_keyword(option, "noack") {
            return Err(CommandError::new(
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ));
        } else {
            return Err(CommandError::syntax());
        }
        at += 1;
    }
    let streams_at = streams_at.ok_or_else(CommandError::syntax)?;
    let pairs = (argument_count - streams_at) / 2;
    let (keys, ids) = arguments[streams_at..].split_at(pairs);
    let mut streams = Vec::with_capacity(pairs);
    for (key, id) in keys.iter().zip(ids) {
        let start = match c_string(id) {
            b"$" => ReadStart::New,
            b">" => {
                return Err(CommandError::new(
                    "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
                ))
            }
            b"+" => ReadStart::LastEntry,
            _ => ReadStart::After(StreamId::parse_strict(id)?),
        };
        streams.push((key.clone(), start));
    }
    Ok(Command::XRead(XRead {
        count,
        block_ms,
        streams,
    }))
}

fn parse_xlen(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XLen {
        key: arguments[1].clone(),
    })
}

/// XDEL looks the key up before parsing the IDs: a missing key replies 0 whatever they are.
fn parse_xdel(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[1].clone();
    let mut ids = Vec::with_capacity(arguments.len() - 2);
    for argument in &arguments[2..] {
        match StreamId::parse_strict(argument) {
            Ok(id) => ids.push(id),
            Err(error) => {
                return Ok(Command::ErrorUnlessMissing {
                    key,
                    missing: reply::integer(0),
                    error: error.into(),
                })
            }
        }
    }
    Ok(Command::XDel { key, ids })
}

/// `xsetidCommand`: every argument is checked before the key is looked up.
fn parse_xsetid(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let last_id = StreamId::parse_strict(&arguments[2])?;
    let mut entries_added = None;
    let mut max_deleted = None;
    let mut at = 3;
    while at < arguments.len() {
        let more = arguments.len() - 1 - at;
        let option = &arguments[at];
        if is_keyword(option, "entriesadded") && more > 0 {
            let value = integer(&arguments[at + 1])?;
            let value = u64::try_from(value)
                .map_err(|_| CommandError::new("ERR entries_added must be positive"))?;
            entries_added = Some(value);
        } else if is_keyword(option, "maxdeletedid") && more > 0 {
            let id = StreamId::parse_strict(&arguments[at + 1])?;
            if last_id < id {
                return Err(CommandError::new(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(id);
        } else {
            return Err(CommandError::syntax());
        }
        at += 2;
    }
    Ok(Command::XSetId(XSetId {
        key: arguments[1].clone(),
        last_id,
        entries_added,
        max_deleted,
    }))
}

/// A lone `XINFO` never gets here (the arity check refuses it); answer as that check would.
fn parse_xinfo_container(_arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Err(CommandError::new(
        "ERR wrong number of arguments for 'xinfo' command",
    ))
}

fn parse_xinfo_help(_argv: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XInfoHelp)
}

/// `xinfoReplyWithStreamInfo`: Redis looks the key up before reading the options, so a bad
/// option on a missing key replies "no such key".
fn parse_xinfo_stream(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[2].clone();
    match xinfo_stream_options(arguments) {
        Ok(full) => Ok(Command::XInfoStream { key, full }),
        Err(error) => Ok(Command::ErrorUnlessMissing {
            key,
            missing: Reply::error("ERR no such key"),
            error,
        }),
    }
}

fn xinfo_stream_options(arguments: &[Vec<u8>]) -> Result<Option<u64>, CommandError> {
    let options = &arguments[3..];
    match options {
        [] => Ok(None),
        [full] if is_keyword(full, "full") => Ok(Some(XINFO_FULL_COUNT_DEFAULT)),
        [full, count, value] if is_keyword(full, "full") && is_keyword(count, "count") => {
            let value = integer(value)?;
            // A negative COUNT falls back to the default, as in Redis.
            Ok(Some(
                u64::try_from(value).unwrap_or(XINFO_FULL_COUNT_DEFAULT),
            ))
        }
        _ => Err(subcommand_syntax_error(arguments)),
    }
}

fn parse_del(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Del {
        keys: arguments[1..].to_vec(),
    })
}

fn parse_exists(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Exists {
        keys: arguments[1..].to_vec(),
    })
}

fn parse_keys(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Keys {
        pattern: arguments[1].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::tokenizer;
    use proptest::strategy::Strategy as _;

    fn arguments(line: &str) -> Vec<Vec<u8>> {
        match tokenizer::split(line.as_bytes()) {
            Ok(words) => words,
            Err(error) => panic!("{line:?}: {error}"),
        }
    }

    fn command(line: &str) -> Command {
        match parse(&arguments(line)) {
            Ok(command) => command,
            Err(error) => panic!("{line:?} refused: {error}"),
        }
    }

    fn error(line: &str) -> String {
        match parse(&arguments(line)) {
            Ok(command) => panic!("{line:?} accepted: {command:?}"),
            Err(error) => error.text().to_owned(),
        }
    }

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
        pairs
            .iter()
            .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
            .collect()
    }

    const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
    const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

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

    #[test]
    fn xinfo_subcommands() {
        assert_eq!(
            error("xinfo foo bar"),
            "ERR unknown subcommand 'foo'. Try XINFO HELP."
        );
        assert_eq!(
            error("XINFO groups s"),
            "ERR unknown subcommand 'groups'. Try XINFO HELP."
        );
        assert_eq!(command("XINFO HELP"), Command::XInfoHelp);
        assert_eq!(
            command("XINFO STREAM s"),
            Command::XInfoStream {
                key: b"s".to_vec(),
                full: None
            }
        );
        assert_eq!(
            command("XINFO STREAM s full"),
            Command::XInfoStream {
                key: b"s".to_vec(),
                full: Some(10)
            }
        );
        assert_eq!(
            command("XINFO STREAM s FULL COUNT 0"),
            Command::XInfoStream {
                key: b"s".to_vec(),
                full: Some(0)
            }
        );
        assert_eq!(
            command("XINFO STREAM s FULL COUNT -5"),
            Command::XInfoStream {
                key: b"s".to_vec(),
                full: Some(10)
            }
        );
    }

    fn deferred(line: &str) -> (Reply, String) {
        match command(line) {
            Command::ErrorUnlessMissing { missing, error, .. } => {
                (missing, error.text().to_owned())
            }
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn xinfo_option_errors_wait_for_the_key() {
        let no_such_key = Reply::error("ERR no such key");
        let syntax =
            "ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.";
        assert_eq!(
            deferred("XINFO stream s full count"),
            (no_such_key.clone(), syntax.to_owned())
        );
        assert_eq!(
            deferred("XINFO stream s foo"),
            (no_such_key.clone(), syntax.to_owned())
        );
        assert_eq!(
            deferred("XINFO STREAM s FULL LIMIT 1"),
            (
                no_such_key.clone(),
                "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."
                    .to_owned()
            )
        );
        assert_eq!(
            deferred("XINFO STREAM s FULL COUNT x"),
            (no_such_key, NOT_AN_INTEGER.to_owned())
        );
    }

    #[test]
    fn xadd_forms() {
        assert_eq!(
            command("XADD s * a 1 b 2"),
            Command::XAdd(XAdd {
                key: b"s".to_vec(),
                nomkstream: false,
                trim: None,
                id: AddId::Auto,
                fields: fields(&[("a", "1"), ("b", "2")]),
            })
        );
        assert_eq!(
            command("xadd s nomkstream MAXLEN ~ 5 LIMIT 10 5-* a 1"),
            Command::XAdd(XAdd {
                key: b"s".to_vec(),
                nomkstream: true,
                trim: Some(TrimSpec {
                    strategy: TrimStrategy::MaxLen(5),
                    approx: true,
                    limit: 10
                }),
                id: AddId::AutoSeq(5),
                fields: fields(&[("a", "1")]),
            })
        );
        let XAddParts { trim, id, .. } = xadd_parts("XADD s MINID = 7 12-3 a 1");
        assert_eq!(
            trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MinId(id_of(7, 0)),
                approx: false,
                limit: 0
            })
        );
        assert_eq!(id, AddId::Explicit(id_of(12, 3)));
        assert_eq!(
            xadd_parts("XADD s maxlen 0 12 a 1").id,
            AddId::Explicit(id_of(12, 0))
        );
        assert_eq!(
            xadd_parts("XADD s MAXLEN 3 * a 1").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(3),
                approx: false,
                limit: 0
            })
        );
        // LIMIT 0 is "no limit", allowed with ~.
        assert_eq!(
            xadd_parts("XADD s MINID ~ 3 LIMIT 0 * a 1").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MinId(id_of(3, 0)),
                approx: true,
                limit: 0
            })
        );
        // A field may look like an option once the ID is past.
        assert_eq!(
            xadd_parts("XADD s * maxlen 1").fields,
            fields(&[("maxlen", "1")])
        );
        // "0-*" is not 0-0: the sequence is picked by the server.
        assert_eq!(xadd_parts("XADD s 0-* a 1").id, AddId::AutoSeq(0));
    }

    struct XAddParts {
        trim: Option<TrimSpec>,
        id: AddId,
        fields: Vec<Field>,
    }

    fn xadd_parts(line: &str) -> XAddParts {
        match command(line) {
            Command::XAdd(add) => XAddParts {
                trim: add.trim,
                id: add.id,
                fields: add.fields,
            },
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn id_of(ms: u64, seq: u64) -> StreamId {
        id(ms, seq)
    }

    #[test]
    fn xadd_errors() {
        let arity = "ERR wrong number of arguments for 'xadd' command";
        for (line, expected) in [
            ("XADD s 1-1 a b c", arity),
            ("XADD s maxlen 1 1-1 a", arity),
            ("XADD s 12-1 a b maxlen", arity),
            ("XADD s nomkstream nomkstream nomkstream", arity),
            ("XADD s bad a b", INVALID_ID),
            ("XADD s maxlen", arity),
            ("XADD s - a b", INVALID_ID),
            (
                "XADD s 0-0 a b",
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                "XADD s 0 a b",
                "ERR The ID specified in XADD must be greater than 0-0",
            ),
            (
                "XADD s MAXLEN -1 * a b",
                "ERR The MAXLEN argument must be >= 0.",
            ),
            ("XADD s MAXLEN x * a b", NOT_AN_INTEGER),
            ("XADD s MAXLEN 01 * a b", NOT_AN_INTEGER),
            ("XADD s maxlen ~ 1-1 a b", NOT_AN_INTEGER),
            (
                "XADD s MAXLEN 5 LIMIT 10 * a b",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                "XADD s LIMIT 0 * a b",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            (
                "XADD s MAXLEN ~ 5 LIMIT -1 * a b",
                "ERR The LIMIT argument must be >= 0.",
            ),
            ("XADD s MAXLEN ~ 5 LIMIT x * a b", NOT_AN_INTEGER),
            (
                "XADD s MAXLEN 5 MINID 3 * a b",
                "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
            ),
            (
                "XADD s LIMIT 5 * a b",
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            ("XADD s MINID bad * a b", INVALID_ID),
            ("XADD s MINID + * a b", INVALID_ID),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xtrim_forms_and_errors() {
        assert_eq!(
            command("XTRIM s MAXLEN 2"),
            Command::XTrim {
                key: b"s".to_vec(),
                trim: TrimSpec {
                    strategy: TrimStrategy::MaxLen(2),
                    approx: false,
                    limit: 0
                }
            }
        );
        assert_eq!(
            command("xtrim s minid ~ 5-1 limit 7"),
            Command::XTrim {
                key: b"s".to_vec(),
                trim: TrimSpec {
                    strategy: TrimStrategy::MinId(id(5, 1)),
                    approx: true,
                    limit: 7
                }
            }
        );
        for (line, expected) in [
            ("XTRIM s MAXLEN 1 extra", "ERR syntax error"),
            ("XTRIM s FOO 1", "ERR syntax error"),
            ("XTRIM s * 1", "ERR syntax error"),
            ("XTRIM s NOMKSTREAM MAXLEN 1", "ERR syntax error"),
            (
                "XTRIM s LIMIT 1",
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ),
            (
                "XTRIM s LIMIT 0 LIMIT 0",
                "ERR syntax error, XTRIM must be called with a trimming strategy",
            ),
            (
                "XTRIM s MAXLEN = 1 LIMIT 1",
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ),
            ("XTRIM s MAXLEN -3", "ERR The MAXLEN argument must be >= 0."),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn ranges() {
        assert_eq!(
            command("XRANGE s - + COUNT 2"),
            Command::XRange(XRange {
                key: b"s".to_vec(),
                range: IdRange::ALL,
                count: Some(2),
                reverse: false
            })
        );
        assert_eq!(
            command("XREVRANGE s (9 5 count -1 COUNT 3"),
            Command::XRange(XRange {
                key: b"s".to_vec(),
                // An incomplete end bound takes the largest sequence, then "(" steps back one.
                range: IdRange {
                    start: id(5, 0),
                    end: id(9, u64::MAX - 1)
                },
                count: Some(3),
                reverse: true
            })
        );
        match command("XRANGE s - + COUNT -4") {
            Command::XRange(range) => assert_eq!(range.count, Some(0)),
            other => panic!("{other:?}"),
        }
        for (line, expected) in [
            ("XRANGE s - + COUNT", "ERR syntax error"),
            ("XRANGE s - + foo 1", "ERR syntax error"),
            ("XRANGE s - + COUNT x", NOT_AN_INTEGER),
            ("XRANGE s ( +", INVALID_ID),
            ("XRANGE s bad +", INVALID_ID),
            (
                "XRANGE s (18446744073709551615-18446744073709551615 +",
                "ERR invalid start ID for the interval",
            ),
            ("XRANGE s - (0-0", "ERR invalid end ID for the interval"),
            ("XREVRANGE s (0-0 -", "ERR invalid end ID for the interval"),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xread_forms() {
        assert_eq!(
            command("XREAD COUNT 2 BLOCK 0 STREAMS a b $ 5-1"),
            Command::XRead(XRead {
                count: Some(2),
                block_ms: Some(0),
                streams: vec![
                    (b"a".to_vec(), ReadStart::New),
                    (b"b".to_vec(), ReadStart::After(id(5, 1)))
                ]
            })
        );
        assert_eq!(
            command("xread count 0 streams s +"),
            Command::XRead(XRead {
                count: None,
                block_ms: None,
                streams: vec![(b"s".to_vec(), ReadStart::LastEntry)]
            })
        );
        match command("XREAD COUNT -5 STREAMS s 0") {
            Command::XRead(read) => assert_eq!(read.count, None),
            other => panic!("{other:?}"),
        }
        // STREAMS ends the options: everything after is keys and IDs.
        match command("XREAD STREAMS count block 0 0") {
            Command::XRead(read) => assert_eq!(
                read.streams,
                vec![
                    (b"count".to_vec(), ReadStart::After(id(0, 0))),
                    (b"block".to_vec(), ReadStart::After(id(0, 0)))
                ]
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xread_errors() {
        let unbalanced = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
        for (line, expected) in [
            ("XREAD STREAMS s t 0", unbalanced),
            ("XREAD COUNT 1 s 0", "ERR syntax error"),
            ("XREAD FOO STREAMS s 0", "ERR syntax error"),
            ("XREAD COUNT 1 STREAMS", "ERR syntax error"),
            ("XREAD COUNT x STREAMS s 0", NOT_AN_INTEGER),
            ("XREAD BLOCK x STREAMS s 0", "ERR timeout is not an integer or out of range"),
            ("XREAD BLOCK -1 STREAMS s 0", "ERR timeout is negative"),
            ("XREAD STREAMS s bad", INVALID_ID),
            ("XREAD STREAMS s -", INVALID_ID),
            (
                "XREAD STREAMS s >",
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            ),
            (
                "XREAD GROUP g c STREAMS s 0",
                "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
            ),
            (
                "XREAD NOACK STREAMS s 0",
                "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xdel_id_errors_wait_for_the_key() {
        assert_eq!(
            command("XDEL s 1-1 2"),
            Command::XDel {
                key: b"s".to_vec(),
                ids: vec![id(1, 1), id(2, 0)]
            }
        );
        assert_eq!(
            deferred("XDEL s 1-1 bad"),
            (Reply::Integer(0), INVALID_ID.to_owned())
        );
    }

    #[test]
    fn xsetid_forms_and_errors() {
        assert_eq!(
            command("XSETID s 5-1 ENTRIESADDED 9 MAXDELETEDID 3"),
            Command::XSetId(XSetId {
                key: b"s".to_vec(),
                last_id: id(5, 1),
                entries_added: Some(9),
                max_deleted: Some(id(3, 0))
            })
        );
        for (line, expected) in [
            ("XSETID s bad", INVALID_ID),
            ("XSETID s 99-1 ENTRIESADDED", "ERR syntax error"),
            ("XSETID s 99-1 ENTRIESADDED x", NOT_AN_INTEGER),
            (
                "XSETID s 99-1 ENTRIESADDED -1",
                "ERR entries_added must be positive",
            ),
            (
                "XSETID s 99-1 MAXDELETEDID 100-1",
                "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
            ),
            ("XSETID s 99-1 MAXDELETEDID bad", INVALID_ID),
            ("XSETID s 99-1 FOO 1", "ERR syntax error"),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn keyspace_commands() {
        assert_eq!(
            command("DEL a b a"),
            Command::Del {
                keys: vec![b"a".to_vec(), b"b".to_vec(), b"a".to_vec()]
            }
        );
        assert_eq!(
            command("exists a"),
            Command::Exists {
                keys: vec![b"a".to_vec()]
            }
        );
        assert_eq!(
            command("KEYS or*"),
            Command::Keys {
                pattern: b"or*".to_vec()
            }
        );
    }

    #[test]
    fn keywords_are_c_strings() {
        // Redis compares options with strcasecmp, which stops at a NUL byte.
        assert_eq!(
            xadd_parts("XADD s \"MAXLEN\\x00junk\" 1 * a b").trim,
            Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(1),
                approx: false,
                limit: 0
            })
        );
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
                    ])
                    .prop_map(|word| word.as_bytes().to_vec()),
                    proptest::collection::vec(proptest::num::u8::ANY, 0..6),
                ],
                0..10,
            )
        ) {
            let _ = parse(&words);
        }
    }
}
