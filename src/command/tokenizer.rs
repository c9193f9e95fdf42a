//! Splits an interactive command line into arguments the way `redis-cli` does (Redis's
//! `sdssplitargs`), so a line pasted from a redis-cli session means the same thing here.
//!
//! Arguments are separated by blanks. Inside double quotes, `\xNN` (two hex digits) is a byte,
//! `\n`, `\r`, `\t`, `\b`, `\a` are control characters and `\` before any other character is
//! that character. Inside single quotes only `\'` is special. A closing quote must be followed
//! by a blank or the end of the line; an unterminated quote is an error. Arguments are bytes:
//! nothing here assumes UTF-8.

/// Why a line could not be split. `redis-cli` prints "Invalid argument(s)" for all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenizeError {
    /// A quote was opened and never closed.
    #[error("unbalanced quotes")]
    UnbalancedQuotes,
    /// A closing quote was followed by something other than a blank.
    #[error("a closing quote must be followed by a blank")]
    TextAfterQuote,
}

/// Where the scanner is within one argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quoting {
    None,
    Double,
    Single,
}

/// C's `isspace` in the C locale: what `sdssplitargs` skips between arguments.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Splits `line` into arguments. A blank line gives no arguments.
pub fn split(line: &[u8]) -> Result<Vec<Vec<u8>>, TokenizeError> {
    // sdssplitargs works on a C string: a NUL byte ends the line.
    let line = match line.iter().position(|&byte| byte == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut arguments = Vec::new();
    let mut at = 0;
    loop {
        while at < line.len() && is_c_space(line[at]) {
            at += 1;
        }
        if at == line.len() {
            return Ok(arguments);
        }
        let (argument, next) = split_one(line, at)?;
        arguments.push(argument);
        at = next;
    }
}

/// Reads the argument starting at `start` (not a blank); returns it and where scanning resumes.
fn split_one(line: &[u8], start: usize) -> Result<(Vec<u8>, usize), TokenizeError> {
    let mut current = Vec::new();
    let mut quoting = Quoting::None;
    let mut at = start;
    loop {
        let byte = line.get(at).copied();
        match quoting {
            Quoting::Double => match byte {
                None => return Err(TokenizeError::UnbalancedQuotes),
                Some(b'\\') if line.get(at + 1) == Some(&b'x') => {
                    match (hex_value(line.get(at + 2)), hex_value(line.get(at + 3))) {
                        (Some(high), Some(low)) => {
                            current.push(high * 16 + low);
                            at += 3;
                        }
                        // Not a valid \xNN: a backslash before 'x' is just 'x'.
                        _ => {
                            current.push(b'x');
                            at += 1;
                        }
                    }
                }
                Some(b'\\') if at + 1 < line.len() => {
                    at += 1;
                    current.push(match line[at] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                }
                Some(b'"') => return close_quote(line, at, current),
                Some(other) => current.push(other),
            },
            Quoting::Single => match byte {
                None => return Err(TokenizeError::UnbalancedQuotes),
                Some(b'\\') if line.get(at + 1) == Some(&b'\'') => {
                    at += 1;
                    current.push(b'\'');
                }
                Some(b'\'') => return close_quote(line, at, current),
                Some(other) => current.push(other),
            },
            Quoting::None => match byte {
                // Only these end an unquoted argument (not \v or \f, unlike the skipping).
                None | Some(b' ' | b'\n' | b'\r' | b'\t') => return Ok((current, at)),
                Some(b'"') => quoting = Quoting::Double,
                Some(b'\'') => quoting = Quoting::Single,
                Some(other) => current.push(other),
            },
        }
        at += 1;
    }
}

/// At a closing quote at `at`: the argument ends, provided a blank or the end follows.
fn close_quote(
    line: &[u8],
    at: usize,
    current: Vec<u8>,
) -> Result<(Vec<u8>, usize), TokenizeError> {
    match line.get(at + 1) {
        Some(&next) if !is_c_space(next) => Err(TokenizeError::TextAfterQuote),
        _ => Ok((current, at + 1)),
    }
}

fn hex_value(byte: Option<&u8>) -> Option<u8> {
    let byte = *byte?;
    char::from(byte)
        .to_digit(16)
        .and_then(|digit| u8::try_from(digit).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<u8>> {
        match split(line.as_bytes()) {
            Ok(words) => words,
            Err(error) => panic!("{line:?} failed to split: {error}"),
        }
    }

    fn bytes(items: &[&[u8]]) -> Vec<Vec<u8>> {
        items.iter().map(|item| item.to_vec()).collect()
    }

    #[test]
    fn blanks_separate_arguments() {
        assert_eq!(
            words("XADD s * a 1"),
            bytes(&[b"XADD", b"s", b"*", b"a", b"1"])
        );
        assert_eq!(words("  ping \t  x  "), bytes(&[b"ping", b"x"]));
        assert!(words("").is_empty());
        assert!(words("   \t ").is_empty());
        // \v and \f are skipped between arguments but do not end one.
        assert_eq!(words("\x0ba\x0bb"), bytes(&[b"a\x0bb"]));
    }

    #[test]
    fn double_quotes_take_escapes() {
        assert_eq!(words(r#""a b""#), bytes(&[b"a b"]));
        assert_eq!(words(r#""\x41\x00\xff""#), bytes(&[b"A\x00\xff"]));
        assert_eq!(words(r#""\xZZ""#), bytes(&[b"xZZ"]));
        assert_eq!(words(r#""\x4""#), bytes(&[b"x4"]));
        assert_eq!(words(r#""\n\r\t\b\a""#), bytes(&[b"\n\r\t\x08\x07"]));
        assert_eq!(
            words(r#""q\"d" "back\\slash" "\q""#),
            bytes(&[b"q\"d", b"back\\slash", b"q"])
        );
        assert_eq!(words(r#""""#), bytes(&[b""]));
    }

    #[test]
    fn single_quotes_only_escape_the_quote() {
        assert_eq!(words(r"'it\'s'"), bytes(&[b"it's"]));
        assert_eq!(words(r"'a\nb'"), bytes(&[b"a\\nb"]));
        assert_eq!(words(r#"'say "hi"'"#), bytes(&[b"say \"hi\""]));
        assert_eq!(words("''"), bytes(&[b""]));
    }

    #[test]
    fn quotes_join_with_preceding_text() {
        // An opening quote inside an argument starts quoting there (sdssplitargs does this).
        assert_eq!(words(r#"ab"c d""#), bytes(&[b"abc d"]));
    }

    #[test]
    fn malformed_quoting_is_refused() {
        assert_eq!(split(br#""open"#), Err(TokenizeError::UnbalancedQuotes));
        assert_eq!(split(b"'open"), Err(TokenizeError::UnbalancedQuotes));
        assert_eq!(split(br#""a\"#), Err(TokenizeError::UnbalancedQuotes));
        assert_eq!(split(br#""a"b"#), Err(TokenizeError::TextAfterQuote));
        assert_eq!(split(b"'a'b"), Err(TokenizeError::TextAfterQuote));
    }

    #[test]
    fn a_nul_byte_ends_the_line() {
        assert_eq!(split(b"a b\0c d"), Ok(bytes(&[b"a", b"b"])));
    }

    #[test]
    fn non_utf8_bytes_pass_through() {
        assert_eq!(split(b"\xff\xfe x"), Ok(bytes(&[b"\xff\xfe", b"x"])));
    }
}
