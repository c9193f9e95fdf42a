//! The commands around the streams: PING, and DEL, EXISTS and KEYS on stream names.

use crate::command::{Command, CommandError};

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
    }
}
