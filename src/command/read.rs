//! The commands that read: XRANGE, XREVRANGE, XREAD and XLEN.

use crate::command::args::{c_string, integer, is_keyword};
use crate::command::{Command, CommandError};
use crate::id::{parse_i64_strict, IdRange, StreamId};
use crate::model::ReadStart;

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

pub(super) fn parse_xrange(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    parse_range(arguments, false)
}

pub(super) fn parse_xrevrange(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
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
            return Err(CommandError::Syntax);
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
pub(super) fn parse_xread(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
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
            let timeout =
                parse_i64_strict(&arguments[at]).ok_or(CommandError::TimeoutNotAnInteger)?;
            let timeout = u64::try_from(timeout).map_err(|_| CommandError::NegativeTimeout)?;
            block_ms = Some(timeout);
        } else if is_keyword(option, "count") && more > 0 {
            at += 1;
            // Redis treats COUNT 0 (and a negative COUNT, clamped to 0) as no limit.
            let value = integer(&arguments[at])?;
            count = u64::try_from(value).ok().filter(|&value| value > 0);
        } else if is_keyword(option, "streams") && more > 0 {
            if (argument_count - at - 1) % 2 != 0 {
                return Err(CommandError::UnbalancedStreams);
            }
            streams_at = Some(at + 1);
            break;
        } else if is_keyword(option, "group") && more >= 2 {
            return Err(CommandError::GroupInXread);
        } else if is_keyword(option, "noack") {
            return Err(CommandError::NoackInXread);
        } else {
            return Err(CommandError::Syntax);
        }
        at += 1;
    }
    let streams_at = streams_at.ok_or(CommandError::Syntax)?;
    let pairs = (argument_count - streams_at) / 2;
    let (keys, ids) = arguments[streams_at..].split_at(pairs);
    let mut streams = Vec::with_capacity(pairs);
    for (key, id) in keys.iter().zip(ids) {
        // The markers compare as C strings, as Redis's do; an ID is parsed whole.
        let start = match c_string(id) {
            b">" => return Err(CommandError::NewIdInXread),
            b"$" => ReadStart::LastGenerated,
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

pub(super) fn parse_xlen(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XLen {
        key: arguments[1].clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::command::{XRange, XRead};
    use crate::id::IdRange;
    use crate::model::ReadStart;

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
                    (b"a".to_vec(), ReadStart::LastGenerated),
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
}
