//! RESP requests in: the bytes a client sends, cut into commands (each a list of arguments),
//! exactly as Redis 7.0's `processInlineBuffer` and `processMultibulkBuffer` read them.
//!
//! A request is either a multibulk (`*<n>\r\n` then `n` times `$<len>\r\n<bytes>\r\n`), what
//! every client library sends, or an inline command (a line of blank-separated words, quoted
//! as redis-cli quotes them), what a person types into a raw TCP session. Empty requests
//! (`*0`, a blank line) are skipped, as Redis skips them.
//!
//! The parser keeps the arguments of an unfinished multibulk between calls, so a large
//! request arriving in many reads is walked once. Every size is bounded before it is
//! buffered: a line (inline command, or a count) of more than [`LINE_BYTES_MAX`], a bulk or a
//! whole request of more than the configured `request_bytes_max`, is a [`ProtocolError`]
//! with Redis's text; Redis then replies and closes the connection, and so does Sluice.
//!
//! Sluice parses requests itself rather than with a RESP codec crate: a server reads only
//! this one shape (arrays of bulk strings, and inline lines), must answer malformed input with
//! Redis's own error texts, and must refuse an oversized request from its header, before
//! buffering it; the codec crates decode every RESP type into their own frames and report
//! their own errors. Measured (`cargo bench --bench resp_parse`, three runs on 2026-11-30): a
//! pipeline of 16 100-byte XADDs into argument lists takes 3.3–3.8 µs here and 7.2–8.3 µs
//! through `redis-protocol` 6's decoder and the conversion of its frames.

use bytes::{Buf, BytesMut};

use crate::command::tokenizer;

/// Longest line Redis accepts where it waits for a newline (its `PROTO_INLINE_MAX_SIZE`):
/// an inline command, a multibulk count, a bulk length.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

/// Most arguments one multibulk may announce (Redis's limit is `INT_MAX`; the request's byte
/// limit bounds what is actually buffered).
const ARGUMENTS_MAX: i64 = i32::MAX as i64;

/// Why a request was refused. The connection is closed after the reply, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline command longer than [`LINE_BYTES_MAX`] without a newline.
    #[error("ERR Protocol error: too big inline request")]
    InlineTooBig,
    /// An inline command with an unterminated quote.
    #[error("ERR Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A multibulk count line longer than [`LINE_BYTES_MAX`].
    #[error("ERR Protocol error: too big mbulk count string")]
    CountTooBig,
    /// A multibulk count that is not a number, or too large.
    #[error("ERR Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk length line longer than [`LINE_BYTES_MAX`].
    #[error("ERR Protocol error: too big bulk count string")]
    BulkCountTooBig,
    /// A multibulk element that is not a bulk string.
    #[error("ERR Protocol error: expected '$', got '{0}'")]
    ExpectedBulk(char),
    /// A bulk length that is not a number, negative, or over `request_bytes_max`.
    #[error("ERR Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// A request whose arguments together exceed `request_bytes_max`.
    #[error("ERR Protocol error: request larger than {max} bytes (resp_request_bytes_max)")]
    RequestTooBig {
        /// The configured limit.
        max: usize,
    },
}

/// A multibulk whose arguments are still arriving.
struct Partial {
    /// Arguments announced and not yet read.
    remaining: usize,
    /// Arguments read so far.
    arguments: Vec<Vec<u8>>,
    /// Their bytes so far.
    bytes: usize,
}

/// Cuts a connection's input into requests.
pub struct RequestParser {
    request_bytes_max: usize,
    partial: Option<Partial>,
}

impl RequestParser {
    /// A parser refusing any request whose arguments exceed `request_bytes_max` bytes.
    pub fn new(request_bytes_max: usize) -> RequestParser {
        RequestParser {
            request_bytes_max,
            partial: None,
        }
    }

    /// The next complete request in `input`, consumed from it; `None` when more input is
    /// needed (what is consumed so far is kept here).
    pub fn next(&mut self, input: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        loop {
            if self.partial.is_none() {
                match input.first() {
                    None => return Ok(None),
                    Some(b'*') => {
                        let Some(count) = take_number(input, ProtocolError::CountTooBig)? else {
                            return Ok(None);
                        };
                        match count {
                            Some(count) if count > ARGUMENTS_MAX => {
                                return Err(ProtocolError::InvalidMultibulkLength)
                            }
                            // `*0`, `*-1`: nothing to run.
                            Some(count) if count <= 0 => continue,
                            Some(count) => {
                                let remaining = usize::try_from(count)
                                    .map_err(|_| ProtocolError::InvalidMultibulkLength)?;
                                self.partial = Some(Partial {
                                    remaining,
                                    arguments: Vec::with_capacity(remaining.min(1024)),
                                    bytes: 0,
                                });
                            }
                            None => return Err(ProtocolError::InvalidMultibulkLength),
                        }
                    }
                    Some(_) => match take_inline(input)? {
                        None => return Ok(None),
                        Some(arguments) if arguments.is_empty() => continue,
                        Some(arguments) => return Ok(Some(arguments)),
                    },
                }
            }
            if let Some(request) = self.continue_multibulk(input)? {
                return Ok(Some(request));
            }
            if self.partial.is_some() {
                return Ok(None);
            }
        }
    }

    /// Reads the arguments of the current multibulk that `input` holds whole.
    fn continue_multibulk(
        &mut self,
        input: &mut BytesMut,
    ) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        let Some(partial) = self.partial.as_mut() else {
            return Ok(None);
        };
        while partial.remaining > 0 {
            let Some(&first) = input.first() else {
                return Ok(None);
            };
            if first != b'$' {
                // Redis reports the byte where the `$` should be, even before the line ends.
                return Err(ProtocolError::ExpectedBulk(char::from(first)));
            }
            let Some(line_end) = find_line(input, ProtocolError::BulkCountTooBig)? else {
                return Ok(None);
            };
            let length = parse_number(&input[1..line_end])
                .and_then(|length| usize::try_from(length).ok())
                .filter(|&length| length <= self.request_bytes_max)
                .ok_or(ProtocolError::InvalidBulkLength)?;
            if partial.bytes + length > self.request_bytes_max {
                return Err(ProtocolError::RequestTooBig {
                    max: self.request_bytes_max,
                });
            }
            // The length line, the bytes, and the CRLF after them (not checked, as in Redis).
            let header = line_end + 2;
            if input.len() < header + length + 2 {
                input.reserve(header + length + 2 - input.len());
                return Ok(None);
            }
            partial
                .arguments
                .push(input[header..header + length].to_vec());
            input.advance(header + length + 2);
            partial.bytes += length;
            partial.remaining -= 1;
        }
        Ok(self.partial.take().map(|partial| partial.arguments))
    }
}

/// Where the line starting `input` ends (the index of its `\r`), if its `\r\n` has arrived;
/// `too_long` if no `\r` is within [`LINE_BYTES_MAX`].
fn find_line(input: &[u8], too_long: ProtocolError) -> Result<Option<usize>, ProtocolError> {
    match input.iter().position(|&byte| byte == b'\r') {
        Some(end) if end + 1 < input.len() => Ok(Some(end)),
        Some(_) => Ok(None),
        None if input.len() > LINE_BYTES_MAX => Err(too_long),
        None => Ok(None),
    }
}

/// Consumes the `*<n>` line starting `input`: `Some(Some(n))`, `Some(None)` for a line that
/// is not a number, `None` if the line is incomplete.
fn take_number(
    input: &mut BytesMut,
    too_long: ProtocolError,
) -> Result<Option<Option<i64>>, ProtocolError> {
    let Some(line_end) = find_line(input, too_long)? else {
        return Ok(None);
    };
    let number = parse_number(&input[1..line_end]);
    input.advance(line_end + 2);
    Ok(Some(number))
}

/// Redis's `string2ll`: an optional `-` and decimal digits, no leading zeros, no `+`, no
/// blanks, within `i64`.
fn parse_number(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
    {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// Consumes one inline command: its arguments (none for a blank line), `None` until its
/// newline has arrived.
fn take_inline(input: &mut BytesMut) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
    let Some(newline) = input.iter().position(|&byte| byte == b'\n') else {
        if input.len() > LINE_BYTES_MAX {
            return Err(ProtocolError::InlineTooBig);
        }
        return Ok(None);
    };
    let line = input.split_to(newline + 1);
    let line = line[..newline]
        .strip_suffix(b"\r")
        .unwrap_or(&line[..newline]);
    tokenizer::split(line)
        .map(Some)
        .map_err(|_| ProtocolError::UnbalancedQuotes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(parser: &mut RequestParser, bytes: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut input = BytesMut::from(bytes);
        let mut requests = Vec::new();
        while let Some(request) = parser.next(&mut input).unwrap() {
            requests.push(request);
        }
        requests
    }

    fn words(request: &[&str]) -> Vec<Vec<u8>> {
        request
            .iter()
            .map(|word| word.as_bytes().to_vec())
            .collect()
    }

    #[test]
    fn multibulk_and_inline_requests() {
        let mut parser = RequestParser::new(1 << 20);
        let requests = parse_all(
            &mut parser,
            b"*2\r\n$4\r\nXLEN\r\n$1\r\ns\r\nPING\r\n*0\r\n\r\nxadd s * f \"a b\"\n",
        );
        assert_eq!(
            requests,
            vec![
                words(&["XLEN", "s"]),
                words(&["PING"]),
                words(&["xadd", "s", "*", "f", "a b"])
            ]
        );
    }

    #[test]
    fn a_request_split_at_every_byte_comes_out_whole() {
        let wire = b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$5\r\nva\r\nl\r\n";
        for cut in 0..wire.len() {
            let mut parser = RequestParser::new(1 << 20);
            let mut input = BytesMut::from(&wire[..cut]);
            assert_eq!(parser.next(&mut input).unwrap(), None, "cut at {cut}");
            input.extend_from_slice(&wire[cut..]);
            let request = parser.next(&mut input).unwrap().expect("complete");
            assert_eq!(request, vec![b"SET".to_vec(), vec![], b"va\r\nl".to_vec()]);
            assert!(input.is_empty());
        }
    }

    #[test]
    fn malformed_requests_get_redis_texts() {
        let cases: [(&[u8], &str); 6] = [
            (b"*x\r\n", "ERR Protocol error: invalid multibulk length"),
            (
                b"*3000000000\r\n",
                "ERR Protocol error: invalid multibulk length",
            ),
            (
                b"*1\r\nfoo\r\n",
                "ERR Protocol error: expected '$', got 'f'",
            ),
            (b"*1\r\n$-1\r\n", "ERR Protocol error: invalid bulk length"),
            (
                b"*1\r\n$01\r\nx\r\n",
                "ERR Protocol error: invalid bulk length",
            ),
            (
                b"PING \"a\n",
                "ERR Protocol error: unbalanced quotes in request",
            ),
        ];
        for (wire, text) in cases {
            let mut parser = RequestParser::new(1 << 20);
            let error = parser.next(&mut BytesMut::from(wire)).unwrap_err();
            assert_eq!(
                error.to_string(),
                text,
                "{:?}",
                String::from_utf8_lossy(wire)
            );
        }
    }

    #[test]
    fn sizes_are_refused_before_the_bytes_arrive() {
        let mut parser = RequestParser::new(100);
        let error = parser.next(&mut BytesMut::from(&b"*1\r\n$101\r\n"[..]));
        assert_eq!(error, Err(ProtocolError::InvalidBulkLength));

        let mut parser = RequestParser::new(100);
        let mut two_halves = b"*2\r\n$60\r\n".to_vec();
        two_halves.extend_from_slice(&[b'x'; 60]);
        two_halves.extend_from_slice(b"\r\n$60\r\n");
        let error = parser.next(&mut BytesMut::from(&two_halves[..]));
        assert_eq!(error, Err(ProtocolError::RequestTooBig { max: 100 }));

        let mut parser = RequestParser::new(100);
        let long_line = vec![b'a'; LINE_BYTES_MAX + 1];
        let error = parser.next(&mut BytesMut::from(&long_line[..]));
        assert_eq!(error, Err(ProtocolError::InlineTooBig));
        let mut count = b"*".to_vec();
        count.extend(std::iter::repeat_n(b'1', LINE_BYTES_MAX + 1));
        let error = parser.next(&mut BytesMut::from(&count[..]));
        assert_eq!(error, Err(ProtocolError::CountTooBig));
    }

    proptest::proptest! {
        /// Whatever bytes arrive, cut wherever: the parser never panics, always consumes or
        /// waits, and an error is final.
        #[test]
        fn any_input_is_parsed_or_refused_cleanly(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::sample::select(b"*$\r\n0123456789-+ \"'abc".to_vec()),
                    proptest::num::u8::ANY,
                ],
                0..200,
            ),
            cut in 0usize..200,
        ) {
            let mut parser = RequestParser::new(64);
            let cut = cut.min(bytes.len());
            let mut input = BytesMut::from(&bytes[..cut]);
            let mut arrived = cut;
            loop {
                let before = input.len();
                match parser.next(&mut input) {
                    Ok(Some(request)) => proptest::prop_assert!(!request.is_empty()),
                    Ok(None) if arrived < bytes.len() => {
                        input.extend_from_slice(&bytes[arrived..]);
                        arrived = bytes.len();
                    }
                    Ok(None) | Err(_) => break,
                }
                proptest::prop_assert!(input.len() <= before || arrived == bytes.len());
            }
        }

        /// Any requests, written as multibulks and delivered in two pieces cut anywhere, come
        /// out as they went in.
        #[test]
        fn multibulks_round_trip_across_any_cut(
            requests in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..20), 1..5),
                1..5,
            ),
            cut in 0usize..400,
        ) {
            let mut wire = Vec::new();
            for request in &requests {
                wire.extend_from_slice(format!("*{}\r\n", request.len()).as_bytes());
                for argument in request {
                    wire.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
                    wire.extend_from_slice(argument);
                    wire.extend_from_slice(b"\r\n");
                }
            }
            let cut = cut.min(wire.len());
            let mut parser = RequestParser::new(1 << 20);
            let mut input = BytesMut::from(&wire[..cut]);
            let mut parsed = Vec::new();
            while let Some(request) = parser.next(&mut input).expect("well formed") {
                parsed.push(request);
            }
            input.extend_from_slice(&wire[cut..]);
            while let Some(request) = parser.next(&mut input).expect("well formed") {
                parsed.push(request);
            }
            proptest::prop_assert_eq!(parsed, requests);
        }
    }
}
