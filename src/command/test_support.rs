//! Helpers for the command layer's unit tests: a line in, what the parser made of it out.

use crate::command::{parse, tokenizer, MissingGroup};
use crate::reply::Reply;

pub use crate::command::Command;
pub use crate::id::{AddId, StreamId};
pub use crate::model::{Field, TrimSpec, TrimStrategy};

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";

pub fn arguments(line: &str) -> Vec<Vec<u8>> {
    match tokenizer::split(line.as_bytes()) {
        Ok(words) => words,
        Err(error) => panic!("{line:?}: {error}"),
    }
}

pub fn command(line: &str) -> Command {
    match parse(&arguments(line)) {
        Ok(command) => command,
        Err(error) => panic!("{line:?} refused: {error}"),
    }
}

pub fn error(line: &str) -> String {
    match parse(&arguments(line)) {
        Ok(command) => panic!("{line:?} accepted: {command:?}"),
        Err(error) => error.to_string(),
    }
}

pub fn id(ms: u64, seq: u64) -> StreamId {
    StreamId::new(ms, seq)
}

pub fn fields(pairs: &[(&str, &str)]) -> Vec<Field> {
    pairs
        .iter()
        .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
        .collect()
}

pub fn deferred(line: &str) -> (Reply, String) {
    match command(line) {
        Command::ErrorUnlessMissing { missing, error, .. } => (missing, error.to_string()),
        other => panic!("{line:?} parsed as {other:?}"),
    }
}

/// A command whose error waits for its streams and group: the keys looked up, what a missing
/// one gets, and the error.
pub fn deferred_group(line: &str) -> (Vec<String>, MissingGroup, String) {
    match command(line) {
        Command::ErrorUnlessNoGroup {
            keys,
            missing,
            error,
            ..
        } => (
            keys.iter()
                .map(|key| String::from_utf8_lossy(key).into_owned())
                .collect(),
            missing,
            error.to_string(),
        ),
        other => panic!("{line:?} parsed as {other:?}"),
    }
}
