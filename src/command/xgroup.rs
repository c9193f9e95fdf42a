//! XGROUP's subcommands, as Redis 7.0.15's `xgroupCommand` checks them, and Sluice's group
//! policy options.
//!
//! Redis reads CREATE's and SETID's options first, then looks the key (and, for SETID, the
//! group) up, and only then checks the number of arguments and the ID. So an ID refused by
//! CREATE without MKSTREAM waits for the key ([`Command::ErrorUnlessMissing`]), and one
//! refused by SETID for the key and the group ([`Command::ErrorUnlessNoGroup`]).
//!
//! Sluice's policy options `MAXDELIVERIES n`, `DEADLETTER stream` and `LEASE ms` follow
//! Redis's options on CREATE (in any order among themselves), and are all of SETPOLICY.

use crate::command::args::{c_string, integer, is_keyword, non_negative, subcommand_syntax_error};
use crate::command::group::MissingGroup;
use crate::command::{Command, CommandError, XGroupCreate};
use crate::error::Error;
use crate::id::{IdRange, StreamId};
use crate::model::{GroupPolicy, GroupTarget};
use crate::reply::Reply;

/// CREATE takes at most this many arguments of Redis's own (`XGROUP CREATE key group id
/// MKSTREAM ENTRIESREAD n`).
const CREATE_ARGUMENTS_MAX: usize = 8;

/// A lone `XGROUP` never gets here (the arity check refuses it); answer as that check would.
pub(super) fn parse_xgroup_container(_arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Err(CommandError::WrongArity("xgroup"))
}

pub(super) fn parse_help(_arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XGroupHelp)
}

/// Redis's options of CREATE (`MKSTREAM`, `ENTRIESREAD n`) or SETID (`ENTRIESREAD n`) from
/// the sixth argument on, up to the first of Sluice's policy words.
struct RedisOptions {
    mkstream: bool,
    entries_read: Option<u64>,
    /// Where Sluice's policy options start (the argument count when there are none).
    end: usize,
}

fn redis_options(arguments: &[Vec<u8>], create: bool) -> Result<RedisOptions, CommandError> {
    let mut options = RedisOptions {
        mkstream: false,
        entries_read: None,
        end: arguments.len(),
    };
    let mut at = 5;
    while at < arguments.len() {
        let option = &arguments[at];
        if create && is_keyword(option, "mkstream") {
            options.mkstream = true;
            at += 1;
        } else if is_keyword(option, "entriesread") && at + 1 < arguments.len() {
            options.entries_read = entries_read(&arguments[at + 1])?;
            at += 2;
        } else if create && is_policy_word(option) {
            options.end = at;
            break;
        } else {
            return Err(subcommand_syntax_error(arguments));
        }
    }
    Ok(options)
}

/// ENTRIESREAD's value: a count, or -1 for unknown.
fn entries_read(argument: &[u8]) -> Result<Option<u64>, CommandError> {
    match integer(argument)? {
        -1 => Ok(None),
        value => u64::try_from(value)
            .map(Some)
            .map_err(|_| CommandError::NegativeEntriesRead),
    }
}

fn is_policy_word(argument: &[u8]) -> bool {
    ["maxdeliveries", "deadletter", "lease"]
        .iter()
        .any(|word| is_keyword(argument, word))
}

/// Sluice's policy options from `at` on: each word with its value, in any order (the last of
/// a repeated one counts). Options not given take their defaults.
fn policy_options(arguments: &[Vec<u8>], mut at: usize) -> Result<GroupPolicy, CommandError> {
    let mut policy = GroupPolicy::default();
    while at < arguments.len() {
        let option = &arguments[at];
        if !is_policy_word(option) {
            return Err(subcommand_syntax_error(arguments));
        }
        let Some(value) = arguments.get(at + 1) else {
            return Err(subcommand_syntax_error(arguments));
        };
        if is_keyword(option, "maxdeliveries") {
            policy.max_deliveries = non_negative(value)?;
        } else if is_keyword(option, "lease") {
            policy.lease_ms = non_negative(value)?;
        } else {
            policy.dead_letter_stream = Some(value.clone());
        }
        at += 2;
    }
    Ok(policy)
}

/// `$` or a strict ID (CREATE).
fn strict_target(argument: &[u8]) -> Result<GroupTarget, CommandError> {
    if c_string(argument) == b"$" {
        return Ok(GroupTarget::LastGenerated);
    }
    Ok(GroupTarget::Id(StreamId::parse_strict(argument)?))
}

/// `$` or an ID where `-` and `+` are accepted (SETID, Redis's `streamParseIDOrReply`).
fn loose_target(argument: &[u8]) -> Result<GroupTarget, CommandError> {
    if c_string(argument) == b"$" {
        return Ok(GroupTarget::LastGenerated);
    }
    // An interval bound without `(` is exactly the loose form.
    if argument.len() > 1 && argument[0] == b'(' {
        return Err(crate::id::IdError::Invalid.into());
    }
    Ok(GroupTarget::Id(IdRange::parse(argument, b"+")?.start))
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n], then Sluice's
/// [MAXDELIVERIES n] [DEADLETTER stream] [LEASE ms].
pub(super) fn parse_create(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let options = redis_options(arguments, true)?;
    let policy = policy_options(arguments, options.end)?;
    let key = arguments[2].clone();
    let target = if options.end > CREATE_ARGUMENTS_MAX {
        Err(subcommand_syntax_error(arguments))
    } else {
        strict_target(&arguments[4])
    };
    match target {
        Ok(target) => Ok(Command::XGroupCreate(XGroupCreate {
            key,
            group: arguments[3].clone(),
            target,
            mkstream: options.mkstream,
            entries_read: options.entries_read,
            policy,
        })),
        // With MKSTREAM the key is not looked up first.
        Err(error) if options.mkstream => Err(error),
        Err(error) => Ok(Command::ErrorUnlessMissing {
            key,
            missing: Reply::error(Error::GroupNeedsStream.to_string()),
            error,
        }),
    }
}

/// XGROUP SETID key group id|$ [ENTRIESREAD n]: exactly 5 or 7 arguments and the ID are
/// checked once the key and the group are found.
pub(super) fn parse_setid(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let options = redis_options(arguments, false)?;
    let key = arguments[2].clone();
    let group = arguments[3].clone();
    let target = if arguments.len() == 5 || arguments.len() == 7 {
        loose_target(&arguments[4])
    } else {
        Err(subcommand_syntax_error(arguments))
    };
    match target {
        Ok(target) => Ok(Command::XGroupSetId {
            key,
            group,
            target,
            entries_read: options.entries_read,
        }),
        Err(error) => Ok(Command::ErrorUnlessNoGroup {
            keys: vec![key],
            group,
            missing: MissingGroup::Xgroup,
            error,
        }),
    }
}

pub(super) fn parse_destroy(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XGroupDestroy {
        key: arguments[2].clone(),
        group: arguments[3].clone(),
    })
}

pub(super) fn parse_createconsumer(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XGroupCreateConsumer {
        key: arguments[2].clone(),
        group: arguments[3].clone(),
        consumer: arguments[4].clone(),
    })
}

pub(super) fn parse_delconsumer(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XGroupDelConsumer {
        key: arguments[2].clone(),
        group: arguments[3].clone(),
        consumer: arguments[4].clone(),
    })
}

/// Sluice's XGROUP SETPOLICY key group [MAXDELIVERIES n] [DEADLETTER stream] [LEASE ms].
pub(super) fn parse_setpolicy(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XGroupSetPolicy {
        key: arguments[2].clone(),
        group: arguments[3].clone(),
        policy: policy_options(arguments, 4)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::command::{MissingGroup, XGroupCreate};
    use crate::model::{GroupPolicy, GroupTarget};
    use crate::reply::Reply;

    const REQUIRES_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

    fn syntax(subcommand: &str) -> String {
        format!(
            "ERR unknown subcommand or wrong number of arguments for '{subcommand}'. Try XGROUP HELP."
        )
    }

    fn create(line: &str) -> XGroupCreate {
        match command(line) {
            Command::XGroupCreate(create) => create,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn create_forms() {
        assert_eq!(
            command("XGROUP CREATE s g $"),
            Command::XGroupCreate(XGroupCreate {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                target: GroupTarget::LastGenerated,
                mkstream: false,
                entries_read: None,
                policy: GroupPolicy::default(),
            })
        );
        let made = create("xgroup create s g 5-1 entriesread 3 mkstream");
        assert_eq!(made.target, GroupTarget::Id(id(5, 1)));
        assert_eq!((made.mkstream, made.entries_read), (true, Some(3)));
        assert_eq!(
            create("XGROUP CREATE s g 0 ENTRIESREAD -1").entries_read,
            None
        );
        // Sluice's policy options follow Redis's, in any order.
        let made = create("XGROUP CREATE s g $ MKSTREAM LEASE 30000 DEADLETTER dl MAXDELIVERIES 5");
        assert!(made.mkstream);
        assert_eq!(
            made.policy,
            GroupPolicy {
                max_deliveries: 5,
                dead_letter_stream: Some(b"dl".to_vec()),
                lease_ms: 30000
            }
        );
        assert_eq!(
            create("XGROUP CREATE s g $ maxdeliveries 2")
                .policy
                .max_deliveries,
            2
        );
    }

    #[test]
    fn create_errors() {
        for (line, expected) in [
            ("XGROUP CREATE s g $ FOO", syntax("CREATE")),
            ("XGROUP create s g $ ENTRIESREAD", syntax("create")),
            (
                "XGROUP CREATE s g $ MKSTREAM ENTRIESREAD 5 x",
                syntax("CREATE"),
            ),
            (
                "XGROUP CREATE s g $ MKSTREAM ENTRIESREAD 1 MKSTREAM",
                syntax("CREATE"),
            ),
            (
                "XGROUP CREATE s g $ ENTRIESREAD -2",
                "ERR value for ENTRIESREAD must be positive or -1".to_owned(),
            ),
            (
                "XGROUP CREATE s g $ ENTRIESREAD x",
                NOT_AN_INTEGER.to_owned(),
            ),
            ("XGROUP CREATE s g bad MKSTREAM", INVALID_ID.to_owned()),
            ("XGROUP CREATE s g $ LEASE", syntax("CREATE")),
            ("XGROUP CREATE s g $ LEASE 5 MKSTREAM", syntax("CREATE")),
            ("XGROUP CREATE s g $ LEASE -5", NOT_AN_INTEGER.to_owned()),
            (
                "XGROUP CREATE s g $ MAXDELIVERIES x",
                NOT_AN_INTEGER.to_owned(),
            ),
            (
                "XGROUP CREATE s",
                "ERR wrong number of arguments for 'xgroup|create' command".to_owned(),
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }

    #[test]
    fn create_errors_after_the_lookup_wait_for_the_key() {
        let requires_key = Reply::error(REQUIRES_KEY);
        assert_eq!(
            deferred("XGROUP CREATE s g -"),
            (requires_key.clone(), INVALID_ID.to_owned())
        );
        // Nine arguments of Redis's own: too many, once the key is found.
        assert_eq!(
            deferred("XGROUP CREATE s g $ ENTRIESREAD 1 ENTRIESREAD 2"),
            (requires_key, syntax("CREATE"))
        );
    }

    #[test]
    fn setid_forms_and_errors() {
        assert_eq!(
            command("XGROUP SETID s g - ENTRIESREAD 4"),
            Command::XGroupSetId {
                key: b"s".to_vec(),
                group: b"g".to_vec(),
                target: GroupTarget::Id(id(0, 0)),
                entries_read: Some(4)
            }
        );
        match command("XGROUP SETID s g +") {
            Command::XGroupSetId { target, .. } => {
                assert_eq!(target, GroupTarget::Id(id(u64::MAX, u64::MAX)))
            }
            other => panic!("{other:?}"),
        }
        match command("XGROUP setid s g $") {
            Command::XGroupSetId { target, .. } => assert_eq!(target, GroupTarget::LastGenerated),
            other => panic!("{other:?}"),
        }
        assert_eq!(error("XGROUP SETID s g 1 MKSTREAM"), syntax("SETID"));
        assert_eq!(error("XGROUP setid s g 1 ENTRIESREAD 3 x"), syntax("setid"));
        let keys = vec!["s".to_owned()];
        for (line, expected) in [
            ("XGROUP SETID s g (5", INVALID_ID.to_owned()),
            ("XGROUP SETID s g 5-*", INVALID_ID.to_owned()),
            (
                "XGROUP SETID s g 1 ENTRIESREAD 3 ENTRIESREAD 4",
                syntax("SETID"),
            ),
        ] {
            assert_eq!(
                deferred_group(line),
                (keys.clone(), MissingGroup::Xgroup, expected),
                "{line}"
            );
        }
    }

    #[test]
    fn other_subcommands() {
        let (key, group, consumer) = (b"s".to_vec(), b"g".to_vec(), b"c".to_vec());
        assert_eq!(
            command("XGROUP DESTROY s g"),
            Command::XGroupDestroy {
                key: key.clone(),
                group: group.clone()
            }
        );
        assert_eq!(
            command("XGROUP CREATECONSUMER s g c"),
            Command::XGroupCreateConsumer {
                key: key.clone(),
                group: group.clone(),
                consumer: consumer.clone()
            }
        );
        assert_eq!(
            command("xgroup delconsumer s g c"),
            Command::XGroupDelConsumer {
                key: key.clone(),
                group: group.clone(),
                consumer
            }
        );
        assert_eq!(command("XGROUP HELP"), Command::XGroupHelp);
        assert_eq!(
            command("XGROUP SETPOLICY s g"),
            Command::XGroupSetPolicy {
                key: key.clone(),
                group: group.clone(),
                policy: GroupPolicy::default()
            }
        );
        assert_eq!(
            command("XGROUP SETPOLICY s g LEASE 100 LEASE 200 maxdeliveries 3"),
            Command::XGroupSetPolicy {
                key,
                group,
                policy: GroupPolicy {
                    max_deliveries: 3,
                    dead_letter_stream: None,
                    lease_ms: 200
                }
            }
        );
        assert_eq!(error("XGROUP SETPOLICY s g MKSTREAM"), syntax("SETPOLICY"));
        assert_eq!(
            error("XGROUP SETPOLICY s g DEADLETTER"),
            syntax("SETPOLICY")
        );
    }

    #[test]
    fn container_errors() {
        for (line, expected) in [
            (
                "XGROUP",
                "ERR wrong number of arguments for 'xgroup' command",
            ),
            (
                "XGROUP foo",
                "ERR unknown subcommand 'foo'. Try XGROUP HELP.",
            ),
            (
                "XGROUP foo a b",
                "ERR unknown subcommand 'foo'. Try XGROUP HELP.",
            ),
            (
                r#"XGROUP "crea\x00te" s g $"#,
                "ERR unknown subcommand 'crea'. Try XGROUP HELP.",
            ),
            (
                "XGROUP HELP x",
                "ERR wrong number of arguments for 'xgroup|help' command",
            ),
            (
                "XGROUP DESTROY s g x",
                "ERR wrong number of arguments for 'xgroup|destroy' command",
            ),
            (
                "XGROUP CREATECONSUMER s g",
                "ERR wrong number of arguments for 'xgroup|createconsumer' command",
            ),
            (
                "XGROUP DELCONSUMER s g c d",
                "ERR wrong number of arguments for 'xgroup|delconsumer' command",
            ),
            (
                "XGROUP SETID s g",
                "ERR wrong number of arguments for 'xgroup|setid' command",
            ),
            (
                "XGROUP SETPOLICY s",
                "ERR wrong number of arguments for 'xgroup|setpolicy' command",
            ),
        ] {
            assert_eq!(error(line), expected, "{line}");
        }
    }
}
