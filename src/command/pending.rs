//! The commands on a group's pending entries: XACK, XPENDING, and Sluice's XNACK and XRENEW.

use crate::command::args::{integer, is_keyword, non_negative};
use crate::command::group::MissingGroup;
use crate::command::{Command, CommandError, XNack, XPending};
use crate::id::{IdRange, StreamId};
use crate::model::PendingQuery;
use crate::reply;

/// `xackCommand`: a missing key or group acknowledges nothing (0) before any ID is read.
pub(super) fn parse_xack(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[1].clone();
    let group = arguments[2].clone();
    match strict_ids(&arguments[3..]) {
        Ok(ids) => Ok(Command::XAck { key, group, ids }),
        Err(error) => Ok(Command::ErrorUnlessNoGroup {
            keys: vec![key],
            group,
            missing: MissingGroup::Reply(reply::integer(0)),
            error,
        }),
    }
}

fn strict_ids(arguments: &[Vec<u8>]) -> Result<Vec<StreamId>, CommandError> {
    arguments
        .iter()
        .map(|argument| StreamId::parse_strict(argument).map_err(CommandError::from))
        .collect()
}

/// `xpendingCommand`: the summary (3 arguments) or the extended form (6 to 9), every argument
/// checked before the key is looked up.
pub(super) fn parse_xpending(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let argument_count = arguments.len();
    if argument_count != 3 && !(6..=9).contains(&argument_count) {
        return Err(CommandError::Syntax);
    }
    let mut pending = XPending {
        key: arguments[1].clone(),
        group: arguments[2].clone(),
        extended: None,
    };
    if argument_count == 3 {
        return Ok(Command::XPending(pending));
    }
    let mut start_at = 3;
    let mut min_idle: i64 = 0;
    if is_keyword(&arguments[3], "idle") {
        min_idle = integer(&arguments[4])?;
        if argument_count < 8 {
            return Err(CommandError::Syntax);
        }
        start_at += 2;
    }
    let count = integer(&arguments[start_at + 2])?.max(0);
    let range = IdRange::parse(&arguments[start_at], &arguments[start_at + 1])?;
    pending.extended = Some(PendingQuery {
        start: range.start,
        end: range.end,
        count: usize::try_from(count).unwrap_or(usize::MAX),
        // Any further argument is ignored, as in Redis.
        consumer: arguments.get(start_at + 3).cloned(),
        // Redis skips entries only for a positive IDLE.
        min_idle_ms: u64::try_from(min_idle).unwrap_or(0),
    });
    Ok(Command::XPending(pending))
}

/// Sluice's XNACK key group consumer [DELAY ms] [REJECT] IDS numids id [id ...], with the
/// checks of Redis 8.2's XDELEX: numids a positive integer, exactly that many IDs. DELAY and
/// REJECT together are a syntax error (a rejected entry is not delivered again).
pub(super) fn parse_xnack(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let argument_count = arguments.len();
    let mut nack = XNack {
        key: arguments[1].clone(),
        group: arguments[2].clone(),
        consumer: arguments[3].clone(),
        ids: Vec::new(),
        delay_ms: 0,
        reject: false,
    };
    let mut delay_given = false;
    let mut at = 4;
    let ids_at = loop {
        let Some(option) = arguments.get(at) else {
            return Err(CommandError::Syntax);
        };
        let more = argument_count - at - 1;
        if is_keyword(option, "ids") && more > 0 {
            break at + 1;
        } else if is_keyword(option, "delay") && more > 0 {
            nack.delay_ms = non_negative(&arguments[at + 1])?;
            delay_given = true;
            at += 2;
        } else if is_keyword(option, "reject") {
            nack.reject = true;
            at += 1;
        } else {
            return Err(CommandError::Syntax);
        }
    };
    if delay_given && nack.reject {
        return Err(CommandError::Syntax);
    }
    let number = integer(&arguments[ids_at])
        .ok()
        .and_then(|number| usize::try_from(number).ok())
        .filter(|&number| number > 0)
        .ok_or(CommandError::NumIdsNotPositive)?;
    let given = argument_count - ids_at - 1;
    if number > given {
        return Err(CommandError::NumIdsMismatch);
    }
    if number < given {
        return Err(CommandError::Syntax);
    }
    nack.ids = strict_ids(&arguments[ids_at + 1..])?;
    Ok(Command::XNack(nack))
}

/// Sluice's XRENEW key group consumer id [id ...].
pub(super) fn parse_xrenew(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XRenew {
        key: arguments[1].clone(),
        group: arguments[2].clone(),
        consumer: arguments[3].clone(),
        ids: strict_ids(&arguments[4..])?,
    })
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::command::{MissingGroup, XNack, XPending};
    use crate::model::PendingQuery;
    use crate::reply::Reply;

    #[test]
    fn xack_ids_wait_for_the_group() {
        assert_eq!(
            command("XACK s g 1-1 2"),
            Command::XAck {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                ids: vec![id(1, 1), id(2, 0)]
            }
        );
        assert_eq!(
            deferred_group("XACK s g 1-1 bad"),
            (
                vec!["s".to_owned()],
                MissingGroup::Reply(Reply::Integer(0)),
                INVALID_ID.to_owned()
            )
        );
    }

    fn query(line: &str) -> PendingQuery {
        match command(line) {
            Command::XPending(XPending {
                extended: Some(query),
                ..
            }) => query,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn xpending_forms() {
        assert_eq!(
            command("XPENDING s g"),
            Command::XPending(XPending {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                extended: None
            })
        );
        assert_eq!(
            query("XPENDING s g (1 (3-0 10 c extra"),
            PendingQuery {
                start: id(1, 1),
                end: id(2, u64::MAX),
                count: 10,
                consumer: Some(b"c".to_vec()),
                min_idle_ms: 0
            }
        );
        assert_eq!(
            query("XPENDING s g idle 50 - + 3"),
            PendingQuery {
                start: id(0, 0),
                end: id(u64::MAX, u64::MAX),
                count: 3,
                consumer: None,
                min_idle_ms: 50
            }
        );
        assert_eq!(query("XPENDING s g IDLE -5 - + -1 c").min_idle_ms, 0);
        assert_eq!(query("XPENDING s g IDLE -5 - + -1 c").count, 0);
    }

    #[test]
    fn xpending_errors() {
        for (line, expected) in [
            ("XPENDING s g -", "ERR syntax error"),
            ("XPENDING s g - +", "ERR syntax error"),
            ("XPENDING s g a b c d e f g", "ERR syntax error"),
            ("XPENDING s g IDLE 5 - +", "ERR syntax error"),
            ("XPENDING s g IDLE 5 - + 1 c extra", "ERR syntax error"),
            ("XPENDING s g IDLE x - + 1", NOT_AN_INTEGER),
            ("XPENDING s g IDLE - + 10", NOT_AN_INTEGER),
            ("XPENDING s g bad + x", NOT_AN_INTEGER),
            ("XPENDING s g bad + 1", INVALID_ID),
            (
                "XPENDING s g (18446744073709551615-18446744073709551615 + 1",
                "ERR invalid start ID for the interval",
            ),
            (
                "XPENDING s g - (0-0 1",
                "ERR invalid end ID for the interval",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xnack_forms() {
        assert_eq!(
            command("XNACK s g c DELAY 500 IDS 2 1-1 2"),
            Command::XNack(XNack {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                ids: vec![id(1, 1), id(2, 0)],
                delay_ms: 500,
                reject: false
            })
        );
        match command("xnack s g c reject ids 1 3") {
            Command::XNack(nack) => assert!(nack.reject && nack.delay_ms == 0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn xnack_errors() {
        let positive = "ERR Number of IDs must be a positive integer";
        let mismatch = "ERR The `numids` parameter must match the number of arguments";
        for (line, expected) in [
            (
                "XNACK s g c IDS 1",
                "ERR wrong number of arguments for 'xnack' command",
            ),
            ("XNACK s g c IDS 0 1-1", positive),
            ("XNACK s g c IDS -1 1-1", positive),
            ("XNACK s g c IDS x 1-1", positive),
            ("XNACK s g c IDS 3 1-1 2-1", mismatch),
            ("XNACK s g c IDS 1 1-1 2-1", "ERR syntax error"),
            ("XNACK s g c FOO IDS 1 1-1", "ERR syntax error"),
            ("XNACK s g c DELAY 1 REJECT IDS 1 1-1", "ERR syntax error"),
            ("XNACK s g c DELAY x IDS 1 1-1", NOT_AN_INTEGER),
            ("XNACK s g c DELAY -1 IDS 1 1-1", NOT_AN_INTEGER),
            ("XNACK s g c REJECT REJECT 1-1", "ERR syntax error"),
            ("XNACK s g c IDS 1 bad", INVALID_ID),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn xrenew() {
        assert_eq!(
            command("XRENEW s g c 1-1 2"),
            Command::XRenew {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                ids: vec![id(1, 1), id(2, 0)]
            }
        );
        assert_eq!(error("XRENEW s g c 1-1 -"), INVALID_ID);
        assert_eq!(
            error("XRENEW s g c"),
            "ERR wrong number of arguments for 'xrenew' command"
        );
    }
}
