//! The interactive prompt: what a typed line means, following `redis-cli`'s `repl()`.
//!
//! A line is split like redis-cli splits it ([`tokenizer`]); a blank line does nothing;
//! `quit` or `exit` leaves; a leading number repeats the command (`3 XLEN s`); `help` lists
//! the commands. Bad quoting prints "Invalid argument(s)" and a bad repeat count "Invalid
//! redis-cli repeat command option value.", the texts redis-cli prints.

use crate::command::tokenizer;

/// What one input line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// Nothing: an empty or blank line.
    Blank,
    /// `quit` or `exit`.
    Quit,
    /// `help` or `?`.
    Help,
    /// A line redis-cli refuses, and the message it prints for it.
    Refused(&'static str),
    /// A command and how many times to run it.
    Run {
        /// Times to run it (at least 1).
        repeat: u64,
        /// The command name and its arguments.
        arguments: Vec<Vec<u8>>,
    },
}

/// What redis-cli prints for a line it cannot split.
pub const INVALID_ARGUMENTS: &str = "Invalid argument(s)";
/// What redis-cli prints for a repeat count that is not a positive number.
pub const INVALID_REPEAT: &str = "Invalid redis-cli repeat command option value.";

/// Interprets one line (without its line ending).
pub fn interpret(line: &[u8]) -> Line {
    let Ok(arguments) = tokenizer::split(line) else {
        return Line::Refused(INVALID_ARGUMENTS);
    };
    if arguments.is_empty() {
        return Line::Blank;
    }
    // Like redis-cli, a first word that is wholly a number is a repeat count, provided a
    // command follows.
    let mut repeat = 1;
    let mut skip = 0;
    if arguments.len() > 1 {
        if let Some(count) = strtol_whole(&arguments[0]) {
            match count {
                Some(count) if count > 0 => repeat = count.unsigned_abs(),
                _ => return Line::Refused(INVALID_REPEAT),
            }
            skip = 1;
        }
    }
    // redis-cli checks the first word, before the repeat count is taken off.
    if is_word(&arguments[0], "quit") || is_word(&arguments[0], "exit") {
        return Line::Quit;
    }
    let arguments = arguments[skip..].to_vec();
    if is_word(&arguments[0], "help") || is_word(&arguments[0], "?") {
        return Line::Help;
    }
    Line::Run { repeat, arguments }
}

fn c_string(argument: &[u8]) -> &[u8] {
    match argument.iter().position(|&byte| byte == 0) {
        Some(nul) => &argument[..nul],
        None => argument,
    }
}

fn is_word(argument: &[u8], word: &str) -> bool {
    c_string(argument).eq_ignore_ascii_case(word.as_bytes())
}

/// C's `strtol(text, &end, 10)` when `*end == '\0'` afterwards, which is how redis-cli spots a
/// repeat count: `None` when the text is not wholly a number; `Some(None)` when it is but
/// overflows. An empty word counts as the number 0, as it does for strtol.
fn strtol_whole(argument: &[u8]) -> Option<Option<i64>> {
    let text = c_string(argument);
    let mut at = 0;
    while at < text.len() && matches!(text[at], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        at += 1;
    }
    let negative = match text.get(at) {
        Some(b'-') => {
            at += 1;
            true
        }
        Some(b'+') => {
            at += 1;
            false
        }
        _ => false,
    };
    let digits = &text[at..];
    let digit_count = digits
        .iter()
        .take_while(|byte| byte.is_ascii_digit())
        .count();
    if digit_count == 0 {
        // No number: strtol leaves `end` at the start, so only an empty word "ends" there.
        return text.is_empty().then_some(Some(0));
    }
    if digit_count != digits.len() {
        return None;
    }
    let mut value: i64 = 0;
    for &digit in digits {
        let digit = i64::from(digit - b'0');
        let next = value.checked_mul(10).and_then(|value| {
            if negative {
                value.checked_sub(digit)
            } else {
                value.checked_add(digit)
            }
        });
        match next {
            Some(next) => value = next,
            None => return Some(None),
        }
    }
    Some(Some(value))
}

/// The help text for `help`: what Sluice's client understands.
pub fn help_text() -> String {
    let mut text = String::from("Sluice: Redis Streams made durable. Commands:\n");
    for name in crate::command::command_names() {
        text.push_str("  ");
        text.push_str(&name.to_ascii_uppercase());
        text.push('\n');
    }
    text.push_str("Type quit or exit to leave; a leading number repeats a command (3 XLEN s).\n");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(repeat: u64, words: &[&str]) -> Line {
        Line::Run {
            repeat,
            arguments: words.iter().map(|word| word.as_bytes().to_vec()).collect(),
        }
    }

    #[test]
    fn blank_and_quit() {
        assert_eq!(interpret(b""), Line::Blank);
        assert_eq!(interpret(b"   \t"), Line::Blank);
        assert_eq!(interpret(b"quit"), Line::Quit);
        assert_eq!(interpret(b"EXIT now"), Line::Quit);
        assert_eq!(interpret(b"help"), Line::Help);
        assert_eq!(interpret(b"?"), Line::Help);
    }

    #[test]
    fn commands_and_repeats() {
        assert_eq!(interpret(b"XLEN s"), run(1, &["XLEN", "s"]));
        assert_eq!(interpret(b"3 XLEN s"), run(3, &["XLEN", "s"]));
        assert_eq!(interpret(b"\"+2\" ping"), run(2, &["ping"]));
        // A lone number is a command, not a repeat count.
        assert_eq!(interpret(b"2"), run(1, &["2"]));
        // Not wholly a number: a command name.
        assert_eq!(interpret(b"3x ping"), run(1, &["3x", "ping"]));
        assert_eq!(interpret(b"- ping"), run(1, &["-", "ping"]));
        // redis-cli looks for quit before taking the count off.
        assert_eq!(interpret(b"2 quit"), run(2, &["quit"]));
    }

    #[test]
    fn refused_lines() {
        assert_eq!(
            interpret(b"XADD s 1 \"open"),
            Line::Refused(INVALID_ARGUMENTS)
        );
        assert_eq!(interpret(b"0 XLEN s"), Line::Refused(INVALID_REPEAT));
        assert_eq!(interpret(b"-1 XLEN s"), Line::Refused(INVALID_REPEAT));
        assert_eq!(interpret(b"\"\" XLEN s"), Line::Refused(INVALID_REPEAT));
        assert_eq!(
            interpret(b"99999999999999999999 XLEN s"),
            Line::Refused(INVALID_REPEAT)
        );
    }

    #[test]
    fn help_lists_commands() {
        let text = help_text();
        assert!(text.contains("  XADD\n"));
        assert!(text.contains("  XINFO\n"));
    }

    proptest::proptest! {
        /// Any line, quotes and escapes included, is interpreted without a panic.
        #[test]
        fn any_line_is_interpreted(
            line in proptest::collection::vec(
                proptest::sample::select(b" \t\"'\\xq0123456789-+aZ\x00\xff".to_vec()),
                0..40,
            )
        ) {
            let _ = interpret(&line);
        }
    }
}
