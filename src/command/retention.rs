//! Sluice's XRETENTION (Redis has no retention command): a stream's retention policy.
//!
//! ```text
//! XRETENTION key SET [MAXAGE ms] [MAXBYTES bytes] [MAXLEN entries] [KEEPUNPROCESSED]
//! XRETENTION key GET
//! XRETENTION key CLEAR
//! ```
//!
//! SET replaces the whole policy (an option not given is unset) and needs at least one
//! option; the values' ranges (0 is refused, KEEPUNPROCESSED needs a limit) are the engine's
//! checks, so both front ends give the same answer.

use crate::command::args::{is_keyword, non_negative};
use crate::command::{Command, CommandError};
use crate::model::Retention;

/// What XRETENTION does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetentionAction {
    /// SET: replace the policy with this one.
    Set(Retention),
    /// GET: the policy and what its guard holds back.
    Get,
    /// CLEAR: remove the policy.
    Clear,
}

/// XRETENTION key SET|GET|CLEAR ...
pub(super) fn parse_xretention(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let key = arguments[1].clone();
    let action = &arguments[2];
    let rest = &arguments[3..];
    let action = if is_keyword(action, "get") && rest.is_empty() {
        RetentionAction::Get
    } else if is_keyword(action, "clear") && rest.is_empty() {
        RetentionAction::Clear
    } else if is_keyword(action, "set") && !rest.is_empty() {
        RetentionAction::Set(set_options(rest)?)
    } else {
        return Err(CommandError::Syntax);
    };
    Ok(Command::XRetention { key, action })
}

/// SET's options, in any order; the last of a repeated one counts.
fn set_options(options: &[Vec<u8>]) -> Result<Retention, CommandError> {
    let mut policy = Retention::default();
    let mut at = 0;
    while at < options.len() {
        let option = &options[at];
        if is_keyword(option, "keepunprocessed") {
            policy.keep_unprocessed = true;
            at += 1;
            continue;
        }
        let limit = if is_keyword(option, "maxage") {
            &mut policy.max_age_ms
        } else if is_keyword(option, "maxbytes") {
            &mut policy.max_bytes
        } else if is_keyword(option, "maxlen") {
            &mut policy.max_len
        } else {
            return Err(CommandError::Syntax);
        };
        let value = options.get(at + 1).ok_or(CommandError::Syntax)?;
        *limit = Some(non_negative(value)?);
        at += 2;
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::test_support::*;

    fn action(line: &str) -> RetentionAction {
        match command(line) {
            Command::XRetention { key, action } => {
                assert_eq!(key, b"s");
                action
            }
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn forms() {
        assert_eq!(action("XRETENTION s GET"), RetentionAction::Get);
        assert_eq!(action("xretention s clear"), RetentionAction::Clear);
        assert_eq!(
            action("XRETENTION s SET MAXAGE 60000 maxbytes 10 MaxLen 5 KEEPUNPROCESSED"),
            RetentionAction::Set(Retention {
                max_age_ms: Some(60_000),
                max_bytes: Some(10),
                max_len: Some(5),
                keep_unprocessed: true,
            })
        );
        assert_eq!(
            action("XRETENTION s SET MAXLEN 1 MAXLEN 2"),
            RetentionAction::Set(Retention {
                max_len: Some(2),
                ..Retention::default()
            })
        );
    }

    #[test]
    fn refusals() {
        for line in [
            "XRETENTION s SET",
            "XRETENTION s GET x",
            "XRETENTION s CLEAR x",
            "XRETENTION s DROP",
            "XRETENTION s SET MAXAGE",
            "XRETENTION s SET MAXAGE 1 BOGUS",
        ] {
            assert_eq!(error(line), "ERR syntax error", "{line}");
        }
        assert_eq!(
            error("XRETENTION s SET MAXLEN -1"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(
            error("XRETENTION s"),
            "ERR wrong number of arguments for 'xretention' command"
        );
    }
}
