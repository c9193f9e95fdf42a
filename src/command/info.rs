//! XINFO: its subcommands (STREAM, GROUPS, CONSUMERS, HELP), and the options Redis reads only
//! once it has found the key.

use crate::command::args::{integer, is_keyword, subcommand_syntax_error};
use crate::command::{Command, CommandError};
use crate::error::Error;
use crate::model::INFO_FULL_COUNT_DEFAULT;
use crate::reply::Reply;

/// A lone `XINFO` never gets here (the arity check refuses it); answer as that check would.
pub(super) fn parse_xinfo_container(_arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Err(CommandError::WrongArity("xinfo"))
}

pub(super) fn parse_xinfo_help(_argv: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XInfoHelp)
}

/// XINFO GROUPS key.
pub(super) fn parse_xinfo_groups(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XInfoGroups {
        key: arguments[2].clone(),
    })
}

/// XINFO CONSUMERS key group.
pub(super) fn parse_xinfo_consumers(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::XInfoConsumers {
        key: arguments[2].clone(),
        group: arguments[3].clone(),
    })
}

/// `xinfoReplyWithStreamInfo`: Redis looks the key up before reading the options, so a bad
/// option on a missing key replies "no such key".
pub(super) fn parse_xinfo_stream(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[2].clone();
    match xinfo_stream_options(arguments) {
        Ok(full) => Ok(Command::XInfoStream { key, full }),
        Err(error) => Ok(Command::ErrorUnlessMissing {
            key,
            missing: Reply::error(Error::NoSuchKey.to_string()),
            error,
        }),
    }
}

fn xinfo_stream_options(arguments: &[Vec<u8>]) -> Result<Option<u64>, CommandError> {
    let options = &arguments[3..];
    match options {
        [] => Ok(None),
        [full] if is_keyword(full, "full") => Ok(Some(INFO_FULL_COUNT_DEFAULT)),
        [full, count, value] if is_keyword(full, "full") && is_keyword(count, "count") => {
            let value = integer(value)?;
            // A negative COUNT falls back to the default, as in Redis.
            Ok(Some(
                u64::try_from(value).unwrap_or(INFO_FULL_COUNT_DEFAULT),
            ))
        }
        _ => Err(subcommand_syntax_error(arguments)),
    }
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;
    use crate::reply::Reply;

    #[test]
    fn xinfo_subcommands() {
        assert_eq!(
            error("xinfo foo bar"),
            "ERR unknown subcommand 'foo'. Try XINFO HELP."
        );
        assert_eq!(
            command("XINFO groups s"),
            Command::XInfoGroups { key: b"s".to_vec() }
        );
        assert_eq!(
            command("xinfo CONSUMERS s g"),
            Command::XInfoConsumers {
                key: b"s".to_vec(),
                group: b"g".to_vec()
            }
        );
        for (line, name) in [
            ("XINFO GROUPS", "xinfo|groups"),
            ("XINFO GROUPS s g", "xinfo|groups"),
            ("XINFO CONSUMERS s", "xinfo|consumers"),
            ("XINFO CONSUMERS s g c", "xinfo|consumers"),
        ] {
            assert_eq!(
                error(line),
                format!("ERR wrong number of arguments for '{name}' command"),
                "{line}"
            );
        }
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
}
