//! The consumer-group commands' arguments, the replies Redis gives when a stream or group is
//! missing, and XREADGROUP's parser (XGROUP's are in `xgroup`, XACK's, XPENDING's, XNACK's
//! and XRENEW's in `pending`, XCLAIM's and XAUTOCLAIM's in `claim`, XINFO GROUPS / CONSUMERS
//! in `info`).
//!
//! Redis 7.0.15 looks the key and the group up before it reads some arguments: XACK's IDs,
//! XREADGROUP's IDs (stream by stream), XCLAIM's options, XGROUP SETID's ID. A refused one of
//! those becomes [`Command::ErrorUnlessNoGroup`], with the reply Redis gives for a missing
//! stream or group ([`MissingGroup`]).

use crate::command::args::{c_string, integer, is_keyword};
use crate::command::{Command, CommandError};
use crate::error::Error;
use crate::id::StreamId;
use crate::model::{ClaimOptions, GroupPolicy, GroupStart, GroupTarget, PendingQuery};
use crate::reply::Reply;

/// XGROUP CREATE key group id|$ \[MKSTREAM\] \[ENTRIESREAD n\], and Sluice's policy options
/// \[MAXDELIVERIES n\] \[DEADLETTER stream\] \[LEASE ms\].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XGroupCreate {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// Its last-delivered ID: `$` or an ID.
    pub target: GroupTarget,
    /// MKSTREAM: create a missing stream.
    pub mkstream: bool,
    /// ENTRIESREAD (`None`: unknown, as -1 and no ENTRIESREAD say).
    pub entries_read: Option<u64>,
    /// Sluice's policy options (the default when none is given).
    pub policy: GroupPolicy,
}

/// XREADGROUP GROUP group consumer \[COUNT n\] \[BLOCK ms\] \[NOACK\] \[CLAIM min-idle-time\]
/// STREAMS key … id ….
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XReadGroup {
    /// The group.
    pub group: Vec<u8>,
    /// The consumer.
    pub consumer: Vec<u8>,
    /// COUNT per stream; `None` for no limit (COUNT 0 and negative COUNTs mean no limit too).
    pub count: Option<u64>,
    /// BLOCK in milliseconds (0: forever); `None` when not blocking.
    pub block_ms: Option<u64>,
    /// NOACK.
    pub noack: bool,
    /// Redis 8.4's CLAIM min-idle-time.
    pub claim_min_idle_ms: Option<u64>,
    /// The streams and where to read each, in order.
    pub streams: Vec<(Vec<u8>, GroupStart)>,
}

/// XPENDING key group \[\[IDLE min-idle\] start end count \[consumer\]\].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XPending {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The extended form's arguments; `None` for the summary.
    pub extended: Option<PendingQuery>,
}

/// XCLAIM key group consumer min-idle-time id \[id …\] \[IDLE ms\] \[TIME ms\] \[RETRYCOUNT n\]
/// \[FORCE\] \[JUSTID\] \[LASTID id\].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XClaim {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer claiming.
    pub consumer: Vec<u8>,
    /// min-idle-time (a negative one is 0).
    pub min_idle_ms: u64,
    /// The IDs, in order.
    pub ids: Vec<StreamId>,
    /// The options.
    pub options: ClaimOptions,
}

/// XAUTOCLAIM key group consumer min-idle-time start \[COUNT count\] \[JUSTID\].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XAutoClaim {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer claiming.
    pub consumer: Vec<u8>,
    /// min-idle-time (a negative one is 0).
    pub min_idle_ms: u64,
    /// Where to start (exclusive bounds resolved).
    pub start: StreamId,
    /// COUNT (default 100).
    pub count: u64,
    /// JUSTID.
    pub justid: bool,
}

/// Sluice's XNACK key group consumer \[DELAY ms\] \[REJECT\] IDS numids id \[id …\]: the consumer
/// gives entries back for redelivery (after DELAY), or with REJECT sends them to the group's
/// dead-letter stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XNack {
    /// The stream.
    pub key: Vec<u8>,
    /// The group.
    pub group: Vec<u8>,
    /// The consumer holding the entries.
    pub consumer: Vec<u8>,
    /// The entries.
    pub ids: Vec<StreamId>,
    /// DELAY in milliseconds (0: at once).
    pub delay_ms: u64,
    /// REJECT: to the dead-letter stream.
    pub reject: bool,
}

/// What Redis replies when a stream, or its group, is missing: the answer of
/// [`Command::ErrorUnlessNoGroup`] before its argument error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MissingGroup {
    /// One reply for both (XACK: 0).
    Reply(Reply),
    /// XPENDING's, XCLAIM's and XAUTOCLAIM's NOGROUP error, naming the key and the group.
    NoGroup,
    /// XREADGROUP's NOGROUP error.
    NoGroupToRead,
    /// XGROUP's: a missing stream "requires the key to exist", a missing group is NOGROUP
    /// naming the group and the key.
    Xgroup,
}

impl MissingGroup {
    /// The reply for `key`, which exists without `group` when `stream_exists` and does not
    /// exist otherwise.
    pub fn reply(&self, key: &[u8], group: &[u8], stream_exists: bool) -> Reply {
        let (key, group) = (key.to_vec(), group.to_vec());
        let error = match self {
            MissingGroup::Reply(reply) => return reply.clone(),
            MissingGroup::NoGroup => Error::NoGroup { key, group },
            MissingGroup::NoGroupToRead => Error::NoGroupToRead { key, group },
            MissingGroup::Xgroup if stream_exists => Error::NoGroupForKey { key, group },
            MissingGroup::Xgroup => Error::GroupNeedsStream,
        };
        Reply::error(error.to_string())
    }
}

/// `xreadCommand` as XREADGROUP: the options, then each stream's ID in order. Redis checks a
/// stream's key and group before its ID, so a refused ID waits for the streams up to it.
pub(super) fn parse_xreadgroup(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let argument_count = arguments.len();
    let mut read = XReadGroup {
        group: Vec::new(),
        consumer: Vec::new(),
        count: None,
        block_ms: None,
        noack: false,
        claim_min_idle_ms: None,
        streams: Vec::new(),
    };
    let mut group_given = false;
    let mut streams_at = None;
    let mut at = 1;
    while at < argument_count {
        let more = argument_count - at - 1;
        let option = &arguments[at];
        if is_keyword(option, "block") && more > 0 {
            at += 1;
            let timeout = integer(&arguments[at]).map_err(|_| CommandError::TimeoutNotAnInteger)?;
            let timeout = u64::try_from(timeout).map_err(|_| CommandError::NegativeTimeout)?;
            read.block_ms = Some(timeout);
        } else if is_keyword(option, "count") && more > 0 {
            at += 1;
            // COUNT 0 (and a negative COUNT, clamped to 0) is no limit.
            read.count = u64::try_from(integer(&arguments[at])?)
                .ok()
                .filter(|&count| count > 0);
        } else if is_keyword(option, "streams") && more > 0 {
            if (argument_count - at - 1) % 2 != 0 {
                return Err(CommandError::UnbalancedStreams);
            }
            streams_at = Some(at + 1);
            break;
        } else if is_keyword(option, "group") && more >= 2 {
            read.group = arguments[at + 1].clone();
            read.consumer = arguments[at + 2].clone();
            group_given = true;
            at += 2;
        } else if is_keyword(option, "noack") {
            read.noack = true;
        } else if is_keyword(option, "claim") && more > 0 {
            at += 1;
            read.claim_min_idle_ms = Some(read_claim_min_idle(&arguments[at])?);
        } else {
            return Err(CommandError::Syntax);
        }
        at += 1;
    }
    let streams_at = streams_at.ok_or(CommandError::Syntax)?;
    if !group_given {
        return Err(CommandError::MissingGroupOption);
    }
    let pairs = (argument_count - streams_at) / 2;
    let (keys, ids) = arguments[streams_at..].split_at(pairs);
    for (position, (key, id)) in keys.iter().zip(ids).enumerate() {
        match group_start(id) {
            Ok(start) => read.streams.push((key.clone(), start)),
            Err(error) => {
                return Ok(Command::ErrorUnlessNoGroup {
                    keys: keys[..=position].to_vec(),
                    group: read.group,
                    missing: MissingGroup::NoGroupToRead,
                    error,
                })
            }
        }
    }
    Ok(Command::XReadGroup(read))
}

/// Redis 8.4's `CLAIM min-idle-time`: a plain integer (no `+`, no `-0`), not negative.
fn read_claim_min_idle(argument: &[u8]) -> Result<u64, CommandError> {
    let value = integer(argument).map_err(|_| CommandError::ReadClaimNotAnInteger)?;
    u64::try_from(value).map_err(|_| CommandError::ReadClaimNegative)
}

/// An XREADGROUP ID: `>` (or the largest ID, which is how Redis stores `>`, so it reads the
/// same), or an ID to read this consumer's history after. The markers compare as C strings.
fn group_start(argument: &[u8]) -> Result<GroupStart, CommandError> {
    match c_string(argument) {
        b"$" => Err(CommandError::LastIdInXreadgroup),
        b">" => Ok(GroupStart::New),
        _ => match StreamId::parse_strict(argument)? {
            StreamId::MAX => Ok(GroupStart::New),
            id => Ok(GroupStart::Pending(id)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::MissingGroup;
    use crate::command::test_support::*;
    use crate::command::XReadGroup;
    use crate::model::GroupStart;
    use crate::reply::Reply;

    const LAST_ID: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";

    fn read_group(line: &str) -> XReadGroup {
        match command(line) {
            Command::XReadGroup(read) => read,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn xreadgroup_forms() {
        assert_eq!(
            command("XREADGROUP GROUP g c COUNT 2 BLOCK 0 NOACK STREAMS a b > 5-1"),
            Command::XReadGroup(XReadGroup {
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                count: Some(2),
                block_ms: Some(0),
                noack: true,
                claim_min_idle_ms: None,
                streams: vec![
                    (b"a".to_vec(), GroupStart::New),
                    (b"b".to_vec(), GroupStart::Pending(id(5, 1)))
                ]
            })
        );
        // The last GROUP counts; COUNT 0 and negative COUNTs are no limit.
        let read = read_group("xreadgroup group x y GROUP g c count -3 streams s 0");
        assert_eq!((read.group, read.consumer), (b"g".to_vec(), b"c".to_vec()));
        assert_eq!(read.count, None);
        assert_eq!(
            read.streams,
            vec![(b"s".to_vec(), GroupStart::Pending(id(0, 0)))]
        );
        // Redis stores `>` as the largest ID, so that ID reads like `>`; markers are C strings.
        let read = read_group(
            r#"XREADGROUP GROUP g c STREAMS s t 18446744073709551615-18446744073709551615 ">\x00x""#,
        );
        assert!(read
            .streams
            .iter()
            .all(|(_, start)| *start == GroupStart::New));
        // Redis 8.4's CLAIM.
        assert_eq!(
            read_group("XREADGROUP GROUP g c CLAIM 0 STREAMS s >").claim_min_idle_ms,
            Some(0)
        );
        assert_eq!(
            read_group("XREADGROUP CLAIM 1500 GROUP g c STREAMS s >").claim_min_idle_ms,
            Some(1500)
        );
    }

    #[test]
    fn xreadgroup_errors() {
        let unbalanced = "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
        for (line, expected) in [
            ("XREADGROUP GROUP g c STREAMS s s >", unbalanced),
            (
                "XREADGROUP COUNT 1 NOACK STREAMS s >",
                "ERR Missing GROUP option for XREADGROUP",
            ),
            ("XREADGROUP GROUP g c COUNT 1 s >", "ERR syntax error"),
            ("XREADGROUP GROUP g c FOO STREAMS s >", "ERR syntax error"),
            ("XREADGROUP GROUP g STREAMS s > x", "ERR syntax error"),
            ("XREADGROUP GROUP g c COUNT x STREAMS s >", NOT_AN_INTEGER),
            (
                "XREADGROUP GROUP g c BLOCK x STREAMS s >",
                "ERR timeout is not an integer or out of range",
            ),
            (
                "XREADGROUP GROUP g c BLOCK -1 STREAMS s >",
                "ERR timeout is negative",
            ),
            // CLAIM takes the next argument as its value, whatever it is.
            (
                "XREADGROUP GROUP g c CLAIM STREAMS s >",
                "ERR min-idle-time is not an integer",
            ),
            (
                "XREADGROUP GROUP g c CLAIM -5 STREAMS s >",
                "ERR min-idle-time must be a positive integer",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
        for value in ["+10", "-0", "5.5", "x", "", "01"] {
            let line = format!("XREADGROUP GROUP g c CLAIM \"{value}\" STREAMS s >");
            assert_eq!(
                error(&line),
                "ERR min-idle-time is not an integer",
                "{line}"
            );
        }
    }

    #[test]
    fn xreadgroup_ids_wait_for_their_streams() {
        // Redis checks each stream's key and group before its ID, in order.
        assert_eq!(
            deferred_group("XREADGROUP GROUP g c STREAMS a b c > $ bad"),
            (
                vec!["a".to_owned(), "b".to_owned()],
                MissingGroup::NoGroupToRead,
                LAST_ID.to_owned()
            )
        );
        assert_eq!(
            deferred_group("XREADGROUP GROUP g c STREAMS a +"),
            (
                vec!["a".to_owned()],
                MissingGroup::NoGroupToRead,
                INVALID_ID.to_owned()
            )
        );
        assert_eq!(
            deferred_group(r#"XREADGROUP GROUP g c STREAMS a "$\x00x""#).2,
            LAST_ID
        );
    }

    #[test]
    fn missing_group_replies() {
        let cases = [
            (MissingGroup::Reply(Reply::Integer(0)), false, "(integer) 0\n"),
            (MissingGroup::NoGroup, true, "(error) NOGROUP No such key 'k' or consumer group 'g'\n"),
            (
                MissingGroup::NoGroupToRead,
                false,
                "(error) NOGROUP No such key 'k' or consumer group 'g' in XREADGROUP with GROUP option\n",
            ),
            (
                MissingGroup::Xgroup,
                true,
                "(error) NOGROUP No such consumer group 'g' for key name 'k'\n",
            ),
        ];
        for (missing, exists, expected) in cases {
            let reply = missing.reply(b"k", b"g", exists);
            assert_eq!(crate::reply::render_cli(&reply), expected, "{missing:?}");
        }
        assert!(MissingGroup::Xgroup.reply(b"k", b"g", false).is_error());
    }
}
