//! The commands around the streams: PING, and DEL (UNLINK), EXISTS, KEYS, TYPE, DBSIZE,
//! FLUSHDB / FLUSHALL, SCAN and RENAME on stream names.

use crate::command::args::{integer, is_keyword};
use crate::command::{Command, CommandError};
use crate::id::parse_u64;

/// SCAN's COUNT when none is given (Redis's).
const SCAN_COUNT_DEFAULT: u64 = 10;

/// SCAN's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// Where to go on (0: from the start).
    pub cursor: u64,
    /// MATCH: only names matching this Redis glob.
    pub pattern: Option<Vec<u8>>,
    /// COUNT: about how many names to look at.
    pub count: u64,
    /// TYPE: only keys of this type (`stream` is the only one there is).
    pub key_type: Option<Vec<u8>>,
}

pub(super) fn parse_ping(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    if arguments.len() > 2 {
        return Err(CommandError::WrongArity("ping"));
    }
    Ok(Command::Ping {
        message: arguments.get(1).cloned(),
    })
}

pub(super) fn parse_del(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Del {
        keys: arguments[1..].to_vec(),
    })
}

pub(super) fn parse_exists(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Exists {
        keys: arguments[1..].to_vec(),
    })
}

pub(super) fn parse_keys(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Keys {
        pattern: arguments[1].clone(),
    })
}

pub(super) fn parse_type(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Type {
        key: arguments[1].clone(),
    })
}

pub(super) fn parse_dbsize(_arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::DbSize)
}

/// FLUSHDB and FLUSHALL take ASYNC or SYNC (both drop at once here).
pub(super) fn parse_flush(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    match &arguments[1..] {
        [] => Ok(Command::FlushAll),
        [mode] if is_keyword(mode, "async") || is_keyword(mode, "sync") => Ok(Command::FlushAll),
        _ => Err(CommandError::Syntax),
    }
}

pub(super) fn parse_scan(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    let cursor = parse_u64(&arguments[1]).ok_or(CommandError::InvalidCursor)?;
    let mut scan = Scan {
        cursor,
        pattern: None,
        count: SCAN_COUNT_DEFAULT,
        key_type: None,
    };
    let mut options = arguments[2..].chunks(2);
    for option in &mut options {
        let [name, value] = option else {
            return Err(CommandError::Syntax);
        };
        if is_keyword(name, "count") {
            scan.count = u64::try_from(integer(value)?)
                .ok()
                .filter(|&count| count >= 1)
                .ok_or(CommandError::Syntax)?;
        } else if is_keyword(name, "match") {
            scan.pattern = Some(value.clone());
        } else if is_keyword(name, "type") {
            scan.key_type = Some(value.clone());
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(Command::Scan(scan))
}

pub(super) fn parse_rename(arguments: &[Vec<u8>]) -> Result<Command, CommandError> {
    Ok(Command::Rename {
        from: arguments[1].clone(),
        to: arguments[2].clone(),
    })
}

#[cfg(test)]
mod tests {
    use crate::command::test_support::*;

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
        assert_eq!(command("UNLINK a"), command("DEL a"));
        assert_eq!(command("flushall async"), Command::FlushAll);
        assert_eq!(error("flushdb later"), "ERR syntax error");
        assert_eq!(command("dbsize"), Command::DbSize);
        assert_eq!(command("type s"), Command::Type { key: b"s".to_vec() });
    }

    #[test]
    fn scan_options() {
        assert_eq!(
            command("SCAN 0"),
            Command::Scan(crate::command::Scan {
                cursor: 0,
                pattern: None,
                count: 10,
                key_type: None
            })
        );
        assert_eq!(
            command("scan 17 match a* count 5 type stream"),
            Command::Scan(crate::command::Scan {
                cursor: 17,
                pattern: Some(b"a*".to_vec()),
                count: 5,
                key_type: Some(b"stream".to_vec())
            })
        );
        assert_eq!(error("scan x"), "ERR invalid cursor");
        assert_eq!(error("scan 0 count 0"), "ERR syntax error");
        assert_eq!(
            error("scan 0 count x"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(error("scan 0 match"), "ERR syntax error");
        assert_eq!(error("scan 0 foo bar"), "ERR syntax error");
    }
}
