//! XCLAIM and XAUTOCLAIM, in Redis 7.0.15's order of checks.
//!
//! XCLAIM looks the key and the group up first (NOGROUP comes before any argument error), so
//! its argument errors become [`Command::ErrorUnlessNoGroup`]. XAUTOCLAIM checks every
//! argument before the lookup.

use crate::command::args::{c_string, echoed, integer, is_keyword};
use crate::command::group::MissingGroup;
use crate::command::{Command, CommandError, XAutoClaim, XClaim};
use crate::id::{IdRange, StreamId};
use crate::model::{ClaimOptions, ClaimTime};

/// XAUTOCLAIM's COUNT when none is given.
const AUTOCLAIM_COUNT_DEFAULT: u64 = 100;

/// XAUTOCLAIM's largest COUNT: Redis's `LONG_MAX / max(sizeof(streamID), attempts_factor)`.
const AUTOCLAIM_COUNT_MAX: i64 = i64::MAX / 16;

/// `xclaimCommand`: XCLAIM key group consumer min-idle-time id [id ...] [IDLE ms]
/// [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID] [LASTID id].
pub(super) fn parse_xclaim(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[1].clone();
    let group = arguments[2].clone();
    match xclaim_arguments(arguments) {
        Ok((min_idle_ms, ids, options)) => Ok(Command::XClaim(XClaim {
            key,
            group,
            consumer: arguments[3].clone(),
            min_idle_ms,
            ids,
            options,
        })),
        Err(error) => Ok(Command::ErrorUnlessNoGroup {
            keys: vec![key],
            group,
            missing: MissingGroup::NoGroup,
            error,
        }),
    }
}

/// XCLAIM's arguments after the consumer: the min-idle-time (a negative one is 0), the
/// longest run of strict IDs, then the options.
fn xclaim_arguments(
    arguments: &[Vec<u8>],
) -> Result<(u64, Vec<StreamId>, ClaimOptions), CommandError> {
    let min_idle = integer(&arguments[4]).map_err(|_| CommandError::ClaimMinIdle)?;
    let ids: Vec<StreamId> = arguments[5..]
        .iter()
        .map_while(|argument| StreamId::parse_strict(argument).ok())
        .collect();
    let options = xclaim_options(arguments, 5 + ids.len())?;
    Ok((u64::try_from(min_idle).unwrap_or(0), ids, options))
}

/// XCLAIM's options from `at` on.
fn xclaim_options(arguments: &[Vec<u8>], mut at: usize) -> Result<ClaimOptions, CommandError> {
    let mut options = ClaimOptions::default();
    while at < arguments.len() {
        let option = &arguments[at];
        let value = arguments.get(at + 1);
        match value {
            _ if is_keyword(option, "force") => options.force = true,
            _ if is_keyword(option, "justid") => options.justid = true,
            Some(value) if is_keyword(option, "idle") => {
                let idle = integer(value).map_err(|_| CommandError::ClaimIdle)?;
                options.time = Some(ClaimTime::Idle(idle));
                at += 1;
            }
            Some(value) if is_keyword(option, "time") => {
                let time = integer(value).map_err(|_| CommandError::ClaimTime)?;
                options.time = Some(ClaimTime::Time(time));
                at += 1;
            }
            Some(value) if is_keyword(option, "retrycount") => {
                let count = integer(value).map_err(|_| CommandError::ClaimRetryCount)?;
                // A negative RETRYCOUNT is as good as none.
                options.retry_count = u64::try_from(count).ok();
                at += 1;
            }
            Some(value) if is_keyword(option, "lastid") => {
                options.last_id = Some(StreamId::parse_strict(value)?);
                at += 1;
            }
            _ => return Err(CommandError::ClaimOption(echoed(c_string(option)))),
        }
        at += 1;
    }
    Ok(options)
}

/// `xautoclaimCommand`: XAUTOCLAIM key group consumer min-idle-time start [COUNT count]
/// [JUSTID], every argument checked before the key is looked up.
pub(super) fn parse_xautoclaim(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let min_idle = integer(&arguments[4]).map_err(|_| CommandError::AutoClaimMinIdle)?;
    // The start is an interval bound: `-`, `+` and `(` are accepted.
    let start = IdRange::parse(&arguments[5], b"+")?.start;
    let mut count = AUTOCLAIM_COUNT_DEFAULT;
    let mut justid = false;
    let mut at = 6;
    while at < arguments.len() {
        let more = arguments.len() - 1 - at;
        let option = &arguments[at];
        if is_keyword(option, "count") && more > 0 {
            count = integer(&arguments[at + 1])
                .ok()
                .filter(|count| (1..=AUTOCLAIM_COUNT_MAX).contains(count))
                .ok_or(CommandError::AutoClaimCount)?
                .unsigned_abs();
            at += 1;
        } else if is_keyword(option, "justid") {
            justid = true;
        } else {
            return Err(CommandError::Syntax);
        }
        at += 1;
    }
    Ok(Command::XAutoClaim(XAutoClaim {
        key: arguments[1].clone(),
        group: arguments[2].clone(),
        consumer: arguments[3].clone(),
        min_idle_ms: u64::try_from(min_idle).unwrap_or(0),
        start,
        count,
        justid,
    }))
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::command::{MissingGroup, XAutoClaim, XClaim};
    use crate::model::{ClaimOptions, ClaimTime};

    fn claim(line: &str) -> XClaim {
        match command(line) {
            Command::XClaim(claim) => claim,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn xclaim_forms() {
        assert_eq!(
            command("XCLAIM s g c 100 1-1 2"),
            Command::XClaim(XClaim {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                min_idle_ms: 100,
                ids: vec![id(1, 1), id(2, 0)],
                options: ClaimOptions::default(),
            })
        );
        let parsed =
            claim("xclaim s g c -5 1-1 idle 10 TIME 20 RETRYCOUNT 3 force JUSTID LASTID 9-9");
        assert_eq!(parsed.min_idle_ms, 0);
        assert_eq!(
            parsed.options,
            ClaimOptions {
                time: Some(ClaimTime::Time(20)),
                retry_count: Some(3),
                force: true,
                justid: true,
                last_id: Some(id(9, 9)),
            }
        );
        // A negative RETRYCOUNT is none; options compare as C strings.
        let parsed = claim(r#"XCLAIM s g c 0 1-1 RETRYCOUNT 4 RETRYCOUNT -1 "FORCE\x00x""#);
        assert_eq!(parsed.options.retry_count, None);
        assert!(parsed.options.force);
        assert_eq!(claim("XCLAIM s g c 0 FORCE").ids, vec![]);
        assert_eq!(
            claim("XCLAIM s g c 0 1 IDLE -7").options.time,
            Some(ClaimTime::Idle(-7))
        );
    }

    #[test]
    fn xclaim_errors_wait_for_the_group() {
        let keys = vec!["s".to_owned()];
        for (line, expected) in [
            (
                "XCLAIM s g c x 1-1",
                "ERR Invalid min-idle-time argument for XCLAIM",
            ),
            ("XCLAIM s g c 0 bad", "ERR Unrecognized XCLAIM option 'bad'"),
            (
                "XCLAIM s g c 0 1-1 FOO",
                "ERR Unrecognized XCLAIM option 'FOO'",
            ),
            (
                "XCLAIM s g c 0 1-1 IDLE",
                "ERR Unrecognized XCLAIM option 'IDLE'",
            ),
            (
                "XCLAIM s g c 0 1-1 FORCE 2-0",
                "ERR Unrecognized XCLAIM option '2-0'",
            ),
            (
                "XCLAIM s g c 0 1-1 5-*",
                "ERR Unrecognized XCLAIM option '5-*'",
            ),
            ("XCLAIM s g c 0 1-1 +", "ERR Unrecognized XCLAIM option '+'"),
            (
                r#"XCLAIM s g c 0 1-1 "JUST\x00ID""#,
                "ERR Unrecognized XCLAIM option 'JUST'",
            ),
            (
                r#"XCLAIM s g c 0 1-1 "bad\nopt""#,
                "ERR Unrecognized XCLAIM option 'bad opt'",
            ),
            (
                "XCLAIM s g c 0 1-1 IDLE x",
                "ERR Invalid IDLE option argument for XCLAIM",
            ),
            (
                "XCLAIM s g c 0 1-1 TIME x",
                "ERR Invalid TIME option argument for XCLAIM",
            ),
            (
                "XCLAIM s g c 0 1-1 RETRYCOUNT x",
                "ERR Invalid RETRYCOUNT option argument for XCLAIM",
            ),
            ("XCLAIM s g c 0 1-1 LASTID bad", INVALID_ID),
        ] {
            assert_eq!(
                deferred_group(line),
                (keys.clone(), MissingGroup::NoGroup, expected.to_owned()),
                "{line}"
            );
        }
        assert_eq!(
            error("XCLAIM s g c 0"),
            "ERR wrong number of arguments for 'xclaim' command"
        );
    }

    #[test]
    fn xautoclaim_forms() {
        assert_eq!(
            command("XAUTOCLAIM s g c 10 0"),
            Command::XAutoClaim(XAutoClaim {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                consumer: b"c".to_vec(),
                min_idle_ms: 10,
                start: id(0, 0),
                count: 100,
                justid: false,
            })
        );
        for (line, start, count, justid) in [
            (
                "XAUTOCLAIM s g c -10 (1-0 COUNT 1 COUNT 10 justid",
                id(1, 1),
                10,
                true,
            ),
            (
                "XAUTOCLAIM s g c 0 - COUNT 576460752303423487",
                id(0, 0),
                576460752303423487,
                false,
            ),
            (
                "XAUTOCLAIM s g c 0 + JUSTID",
                id(u64::MAX, u64::MAX),
                100,
                true,
            ),
        ] {
            match command(line) {
                Command::XAutoClaim(auto) => {
                    assert_eq!(
                        (auto.start, auto.count, auto.justid),
                        (start, count, justid)
                    );
                    assert_eq!(auto.min_idle_ms, 0, "{line}");
                }
                other => panic!("{line:?} parsed as {other:?}"),
            }
        }
    }

    #[test]
    fn xautoclaim_errors_come_first() {
        let count = "ERR COUNT must be > 0";
        for (line, expected) in [
            (
                "XAUTOCLAIM s g c x 0",
                "ERR Invalid min-idle-time argument for XAUTOCLAIM",
            ),
            ("XAUTOCLAIM s g c 0 bad", INVALID_ID),
            (
                "XAUTOCLAIM s g c 0 (18446744073709551615-18446744073709551615",
                "ERR invalid start ID for the interval",
            ),
            ("XAUTOCLAIM s g c 0 0 COUNT 0", count),
            ("XAUTOCLAIM s g c 0 0 COUNT -1", count),
            ("XAUTOCLAIM s g c 0 0 COUNT x", count),
            ("XAUTOCLAIM s g c 0 0 COUNT 576460752303423488", count),
            ("XAUTOCLAIM s g c 0 0 COUNT", "ERR syntax error"),
            ("XAUTOCLAIM s g c 0 0 FOO", "ERR syntax error"),
            (
                "XAUTOCLAIM s g c 0",
                "ERR wrong number of arguments for 'xautoclaim' command",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }
}
