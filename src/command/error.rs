//! Why a command was refused before it ran, with the text Redis replies.
//!
//! These are the argument errors: what Redis 7.0.15 checks before it looks a key up. Each has
//! one home, here; the gRPC server refuses the same options with the same variants. Errors
//! that depend on a stream's state are the engine's ([`crate::error::Error`]), and malformed IDs are
//! [`crate::id::IdError`]'s.

use crate::id::IdError;

/// A command refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A malformed ID argument.
    #[error(transparent)]
    Id(#[from] IdError),
    /// No command at all.
    #[error("ERR empty command")]
    Empty,
    /// SCAN's cursor is not an unsigned number.
    #[error("ERR invalid cursor")]
    InvalidCursor,
    /// The plain syntax error.
    #[error("ERR syntax error")]
    Syntax,
    /// `getLongLongFromObjectOrReply`'s default text.
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    /// The wrong number of arguments, naming the command as Redis reports it
    /// (`xinfo|stream` for a subcommand).
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(&'static str),
    /// MAXLEN and MINID together.
    #[error("ERR syntax error, MAXLEN and MINID options at the same time are not compatible")]
    MaxLenAndMinId,
    /// A negative MAXLEN.
    #[error("ERR The MAXLEN argument must be >= 0.")]
    NegativeMaxLen,
    /// A negative LIMIT.
    #[error("ERR The LIMIT argument must be >= 0.")]
    NegativeLimit,
    /// LIMIT without MAXLEN or MINID.
    #[error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy")]
    LimitWithoutStrategy,
    /// XTRIM without MAXLEN or MINID.
    #[error("ERR syntax error, XTRIM must be called with a trimming strategy")]
    TrimWithoutStrategy,
    /// LIMIT without `~`.
    #[error("ERR syntax error, LIMIT cannot be used without the special ~ option")]
    LimitWithoutApprox,
    /// A BLOCK timeout that is not a number.
    #[error("ERR timeout is not an integer or out of range")]
    TimeoutNotAnInteger,
    /// A negative BLOCK timeout.
    #[error("ERR timeout is negative")]
    NegativeTimeout,
    /// XREAD STREAMS with a key and no ID.
    #[error(
        "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."
    )]
    UnbalancedStreams,
    /// XREAD with XREADGROUP's GROUP option.
    #[error("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.")]
    GroupInXread,
    /// XREAD with XREADGROUP's NOACK option.
    #[error("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.")]
    NoackInXread,
    /// XREAD with XREADGROUP's `>` ID.
    #[error(
        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
    )]
    NewIdInXread,
    /// XSETID ENTRIESADDED below zero.
    #[error("ERR entries_added must be positive")]
    NegativeEntriesAdded,
    /// XREADGROUP without GROUP.
    #[error("ERR Missing GROUP option for XREADGROUP")]
    MissingGroupOption,
    /// XREADGROUP with the `$` ID.
    #[error(
        "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set."
    )]
    LastIdInXreadgroup,
    /// XREADGROUP CLAIM (Redis 8.4) with a min-idle-time that is not a plain integer.
    #[error("ERR min-idle-time is not an integer")]
    ReadClaimNotAnInteger,
    /// XREADGROUP CLAIM (Redis 8.4) with a negative min-idle-time.
    #[error("ERR min-idle-time must be a positive integer")]
    ReadClaimNegative,
    /// XGROUP CREATE / SETID ENTRIESREAD below -1.
    #[error("ERR value for ENTRIESREAD must be positive or -1")]
    NegativeEntriesRead,
    /// XCLAIM's min-idle-time is not an integer.
    #[error("ERR Invalid min-idle-time argument for XCLAIM")]
    ClaimMinIdle,
    /// XCLAIM's IDLE value is not an integer.
    #[error("ERR Invalid IDLE option argument for XCLAIM")]
    ClaimIdle,
    /// XCLAIM's TIME value is not an integer.
    #[error("ERR Invalid TIME option argument for XCLAIM")]
    ClaimTime,
    /// XCLAIM's RETRYCOUNT value is not an integer.
    #[error("ERR Invalid RETRYCOUNT option argument for XCLAIM")]
    ClaimRetryCount,
    /// An XCLAIM argument that is neither an ID (before the options) nor an option: the
    /// argument as Redis echoes it (up to a NUL byte, line breaks as spaces).
    #[error("ERR Unrecognized XCLAIM option '{0}'")]
    ClaimOption(String),
    /// XAUTOCLAIM's min-idle-time is not an integer.
    #[error("ERR Invalid min-idle-time argument for XAUTOCLAIM")]
    AutoClaimMinIdle,
    /// XAUTOCLAIM's COUNT outside 1..=LONG_MAX/16.
    #[error("ERR COUNT must be > 0")]
    AutoClaimCount,
    /// Sluice's XNACK with a numids that is not a positive integer (Redis 8.2's XDELEX text).
    #[error("ERR Number of IDs must be a positive integer")]
    NumIdsNotPositive,
    /// Sluice's XNACK with fewer IDs than numids says (Redis 8.2's XDELEX text).
    #[error("ERR The `numids` parameter must match the number of arguments")]
    NumIdsMismatch,
    /// An engine error that Redis reports while parsing (XADD `0-0`, XSETID's MAXDELETEDID
    /// check): the engine's text, rendered.
    #[error("{0}")]
    Engine(String),
    /// A text built from the arguments (unknown commands and subcommands).
    #[error("{0}")]
    Echo(String),
}

impl From<crate::error::Error> for CommandError {
    fn from(error: crate::error::Error) -> CommandError {
        match error {
            crate::error::Error::Id(error) => CommandError::Id(error),
            other => CommandError::Engine(other.to_string()),
        }
    }
}

impl CommandError {
    /// The error as a reply.
    pub fn into_reply(self) -> crate::reply::Reply {
        crate::reply::Reply::Error(self.to_string())
    }
}
