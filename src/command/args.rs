//! The pieces every command's parser is made of: keywords as Redis compares them, integers as
//! Redis reads them, and the errors that echo the caller's own bytes.
//!
//! Keywords are matched as C strings, case-insensitively (Redis's `strcasecmp` stops at a NUL
//! byte); numbers follow Redis's `string2ll`.

use crate::command::CommandError;
use crate::id::parse_i64_strict;

/// Bytes of a command name or argument that Redis echoes in an "unknown command" error.
const ECHOED_BYTES_MAX: usize = 128;

/// The bytes of `argument` as C sees them: up to the first NUL.
pub fn c_string(argument: &[u8]) -> &[u8] {
    match argument.iter().position(|&byte| byte == 0) {
        Some(nul) => &argument[..nul],
        None => argument,
    }
}

/// `strcasecmp(argument, word) == 0`.
pub fn is_keyword(argument: &[u8], word: &str) -> bool {
    c_string(argument).eq_ignore_ascii_case(word.as_bytes())
}

/// Redis's error text with user bytes in it: newlines become spaces (Redis keeps the protocol
/// line intact) and bytes that are not UTF-8 are replaced, since replies hold text.
pub fn error_text(bytes: &[u8]) -> CommandError {
    CommandError::Echo(echoed(bytes))
}

/// User bytes as Redis puts them in an error text: newlines as spaces, and (since replies hold
/// text) bytes that are not UTF-8 replaced.
pub fn echoed(bytes: &[u8]) -> String {
    let mapped: Vec<u8> = bytes
        .iter()
        .map(|&byte| {
            if byte == b'\r' || byte == b'\n' {
                b' '
            } else {
                byte
            }
        })
        .collect();
    String::from_utf8_lossy(&mapped).into_owned()
}

fn truncated(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max)]
}

/// Redis's `commandCheckExistence` text: the name and the first arguments, 128 bytes of each
/// at most and about 128 bytes of arguments in all.
pub fn unknown_command(arguments: &[Vec<u8>]) -> CommandError {
    let mut echoed: Vec<u8> = Vec::new();
    for argument in &arguments[1..] {
        if echoed.len() >= ECHOED_BYTES_MAX {
            break;
        }
        let room = ECHOED_BYTES_MAX - echoed.len();
        echoed.push(b'\'');
        echoed.extend_from_slice(truncated(c_string(argument), room));
        echoed.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(truncated(c_string(&arguments[0]), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&echoed);
    error_text(&text)
}

pub fn unknown_subcommand(container: &[u8], subcommand: &[u8]) -> CommandError {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(truncated(c_string(subcommand), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&c_string(container).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    error_text(&text)
}

/// `addReplySubcommandSyntaxError`.
pub fn subcommand_syntax_error(arguments: &[Vec<u8>]) -> CommandError {
    let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    text.extend_from_slice(truncated(c_string(&arguments[1]), ECHOED_BYTES_MAX));
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&c_string(&arguments[0]).to_ascii_uppercase());
    text.extend_from_slice(b" HELP.");
    error_text(&text)
}

/// `getLongLongFromObjectOrReply` with its default error text.
pub fn integer(argument: &[u8]) -> Result<i64, CommandError> {
    parse_i64_strict(argument).ok_or(CommandError::NotAnInteger)
}

/// A non-negative integer option value (Sluice's group options): anything else is Redis's
/// default integer error.
pub fn non_negative(argument: &[u8]) -> Result<u64, CommandError> {
    u64::try_from(integer(argument)?).map_err(|_| CommandError::NotAnInteger)
}
