//! Stream IDs: `<ms>-<seq>`, two u64 parts ordered by `ms` then `seq`, exactly as Redis has them.
//!
//! This module owns every textual form an ID can take in a command and the rules Redis applies to
//! each: the strict form (`5-3`, `5` = `5-0`), the XADD form (`*`, `5-*`, `5-3`), and range bounds
//! (`-`, `+`, incomplete IDs, `(` for exclusive bounds). A [`StreamId`] is always a valid ID; the
//! parse functions return Redis's own error texts through [`IdError`].

use std::fmt;
use std::str::FromStr;

/// A stream entry ID. Ordering is Redis's: by milliseconds, then by sequence number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part (usually a Unix time in ms).
    pub ms: u64,
    /// Sequence number within the millisecond.
    pub seq: u64,
}

/// Why an ID argument was refused, with the text Redis replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The argument is not an ID of the accepted form.
    #[error("ERR Invalid stream ID specified as stream command argument")]
    Invalid,
    /// An exclusive start bound at the maximum ID: nothing can follow it.
    #[error("ERR invalid start ID for the interval")]
    InvalidStart,
    /// An exclusive end bound at 0-0: nothing can precede it.
    #[error("ERR invalid end ID for the interval")]
    InvalidEnd,
}

impl StreamId {
    /// The smallest ID, `0-0` (also what `-` means).
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID, `18446744073709551615-18446744073709551615` (also what `+` means).
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// Builds an ID from its two parts.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// Whether this is `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// The next ID in order, or `None` after the maximum (Redis's `streamIncrID`).
    pub fn next(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID in order, or `None` before `0-0` (Redis's `streamDecrID`).
    pub fn prev(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// Parses the strict form used by XDEL, XSETID, MINID and friends: `<ms>-<seq>` or `<ms>`
    /// (meaning `<ms>-0`). `-` and `+` are refused.
    pub fn parse_strict(text: &[u8]) -> Result<StreamId, IdError> {
        match parse_generic(text, 0, true, false)? {
            Parsed::Full(id) => Ok(id),
            Parsed::AutoSeq(_) => Err(IdError::Invalid),
        }
    }
}

impl StreamId {
    /// Parses the form XGROUP SETID takes (Redis's `streamParseIDOrReply`): the strict forms,
    /// and `-` and `+` for the smallest and largest IDs.
    pub fn parse_loose(text: &[u8]) -> Result<StreamId, IdError> {
        match parse_generic(text, 0, false, false)? {
            Parsed::Full(id) => Ok(id),
            Parsed::AutoSeq(_) => Err(IdError::Invalid),
        }
    }
}

/// Bytes of the longest ID's text: two 20-digit numbers and the dash.
pub const TEXT_BYTES_MAX: usize = 41;

impl StreamId {
    /// The ID's text, `ms-seq`, written into `buffer` without allocating (what `Display`
    /// shows, for a reply encoder to copy).
    pub fn text(self, buffer: &mut [u8; TEXT_BYTES_MAX]) -> &[u8] {
        let seq_start = digits_before(buffer, TEXT_BYTES_MAX, self.seq);
        buffer[seq_start - 1] = b'-';
        let start = digits_before(buffer, seq_start - 1, self.ms);
        &buffer[start..]
    }

    /// The length of [`StreamId::text`], counted without writing it (for a reply sized before
    /// it is written).
    pub fn text_len(self) -> usize {
        digit_count(self.ms) + 1 + digit_count(self.seq)
    }
}

/// How many decimal digits `value` has.
fn digit_count(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// Writes `value`'s decimal digits to the end of `out[..end]`; returns where they start.
fn digits_before(out: &mut [u8; TEXT_BYTES_MAX], end: usize, mut value: u64) -> usize {
    let mut at = end;
    loop {
        at -= 1;
        out[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return at;
        }
    }
}

impl fmt::Display for StreamId {
    /// `ms-seq`, formatted by hand: every reply formats its IDs, and this is several times
    /// cheaper than going through `write!` twice.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0u8; TEXT_BYTES_MAX];
        // Only ASCII digits and a dash were written.
        f.write_str(std::str::from_utf8(self.text(&mut text)).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl FromStr for StreamId {
    type Err = IdError;
    fn from_str(text: &str) -> Result<StreamId, IdError> {
        StreamId::parse_strict(text.as_bytes())
    }
}

/// The ID argument of XADD.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AddId {
    /// `*`: the server picks `max(now, last.ms)` and the next sequence.
    Auto,
    /// `<ms>-*`: the caller picks the milliseconds, the server the sequence (Redis 7.0+).
    AutoSeq(u64),
    /// `<ms>-<seq>` or `<ms>` (= `<ms>-0`).
    Explicit(StreamId),
}

impl AddId {
    /// Parses an XADD ID argument.
    pub fn parse(text: &[u8]) -> Result<AddId, IdError> {
        if text == b"*" {
            return Ok(AddId::Auto);
        }
        match parse_generic(text, 0, true, true)? {
            Parsed::Full(id) => Ok(AddId::Explicit(id)),
            Parsed::AutoSeq(ms) => Ok(AddId::AutoSeq(ms)),
        }
    }
}

impl fmt::Display for AddId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddId::Auto => f.write_str("*"),
            AddId::AutoSeq(ms) => write!(f, "{ms}-*"),
            AddId::Explicit(id) => write!(f, "{id}"),
        }
    }
}

/// An inclusive range `[start, end]` of IDs, as XRANGE / XREVRANGE / XPENDING take it once `-`,
/// `+`, incomplete IDs and `(` have been resolved. It may be empty (`start > end`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct IdRange {
    /// Smallest ID included.
    pub start: StreamId,
    /// Largest ID included.
    pub end: StreamId,
}

impl IdRange {
    /// Every ID.
    pub const ALL: IdRange = IdRange {
        start: StreamId::MIN,
        end: StreamId::MAX,
    };

    /// Parses a start and an end bound the way XRANGE does: an incomplete start gets seq 0, an
    /// incomplete end gets seq u64::MAX, `(` makes a bound exclusive.
    pub fn parse(start: &[u8], end: &[u8]) -> Result<IdRange, IdError> {
        let start = parse_bound(start, 0)?;
        let start = match start {
            (id, false) => id,
            (id, true) => id.next().ok_or(IdError::InvalidStart)?,
        };
        let end = parse_bound(end, u64::MAX)?;
        let end = match end {
            (id, false) => id,
            (id, true) => id.prev().ok_or(IdError::InvalidEnd)?,
        };
        Ok(IdRange { start, end })
    }

    /// Whether the range holds `id`.
    pub fn contains(&self, id: StreamId) -> bool {
        self.start <= id && id <= self.end
    }

    /// Whether the range holds no ID at all.
    pub fn is_empty(&self) -> bool {
        self.start > self.end
    }

    /// Every ID after `id` (what XREAD and a Tail read past their cursor); `None` if no ID
    /// can follow it.
    pub fn after(id: StreamId) -> Option<IdRange> {
        Some(IdRange {
            start: id.next()?,
            end: StreamId::MAX,
        })
    }
}

/// Parses one range bound; returns the ID and whether it was exclusive.
fn parse_bound(text: &[u8], missing_seq: u64) -> Result<(StreamId, bool), IdError> {
    if text.len() > 1 && text[0] == b'(' {
        match parse_generic(&text[1..], missing_seq, true, false)? {
            Parsed::Full(id) => Ok((id, true)),
            Parsed::AutoSeq(_) => Err(IdError::Invalid),
        }
    } else {
        match parse_generic(text, missing_seq, false, false)? {
            Parsed::Full(id) => Ok((id, false)),
            Parsed::AutoSeq(_) => Err(IdError::Invalid),
        }
    }
}

enum Parsed {
    Full(StreamId),
    AutoSeq(u64),
}

/// Redis's `streamGenericParseIDOrReply`: the one ID grammar every command shares.
fn parse_generic(
    text: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto_seq: bool,
) -> Result<Parsed, IdError> {
    // Redis copies the argument into a 128-byte C string: longer arguments are invalid and an
    // embedded NUL ends the string.
    if text.len() > 127 {
        return Err(IdError::Invalid);
    }
    let text = match text.iter().position(|&b| b == 0) {
        Some(nul) => &text[..nul],
        None => text,
    };
    match text {
        b"-" if strict => return Err(IdError::Invalid),
        b"+" if strict => return Err(IdError::Invalid),
        b"-" => return Ok(Parsed::Full(StreamId::MIN)),
        b"+" => return Ok(Parsed::Full(StreamId::MAX)),
        _ => {}
    }
    let (ms_text, seq_text) = match text.iter().position(|&b| b == b'-') {
        Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
        None => (text, None),
    };
    let ms = parse_u64(ms_text).ok_or(IdError::Invalid)?;
    match seq_text {
        None => Ok(Parsed::Full(StreamId::new(ms, missing_seq))),
        Some(b"*") if allow_auto_seq => Ok(Parsed::AutoSeq(ms)),
        Some(seq_text) => {
            let seq = parse_u64(seq_text).ok_or(IdError::Invalid)?;
            Ok(Parsed::Full(StreamId::new(ms, seq)))
        }
    }
}

/// Redis's `string2ull`: a strict decimal first, then C's `strtoull` as a fallback (which takes
/// leading blanks, a sign and leading zeros).
pub fn parse_u64(text: &[u8]) -> Option<u64> {
    if let Some(value) = parse_i64_strict(text) {
        return u64::try_from(value).ok();
    }
    strtoull(text)
}

/// Redis's `string2ll`: an optional `-`, then digits with no leading zero (except "0" itself),
/// within i64's range. Nothing else is accepted.
pub fn parse_i64_strict(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [] => return None,
        [b'0'] => return Some(0),
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        if magnitude > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// C's `strtoull(text, &end, 10)` accepted only when it consumes the whole, non-empty string.
fn strtoull(text: &[u8]) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut rest = text;
    while let [first, tail @ ..] = rest {
        if matches!(first, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
            rest = tail;
        } else {
            break;
        }
    }
    let negative = match rest.first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in rest {
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    #[test]
    fn ids_print_as_redis_prints_them() {
        for (ms, seq) in [
            (0, 0),
            (1659114481311, 0),
            (10, 10),
            (9, 99),
            (100, 999),
            (9, 1_000_000),
            (u64::MAX, u64::MAX),
        ] {
            assert_eq!(id(ms, seq).to_string(), format!("{ms}-{seq}"));
            assert_eq!(
                id(ms, seq).text(&mut [0; TEXT_BYTES_MAX]),
                format!("{ms}-{seq}").as_bytes()
            );
            assert_eq!(id(ms, seq).text_len(), format!("{ms}-{seq}").len());
            assert_eq!(
                StreamId::parse_strict(id(ms, seq).to_string().as_bytes()),
                Ok(id(ms, seq))
            );
        }
    }

    #[test]
    fn strict_forms() {
        assert_eq!(StreamId::parse_strict(b"5-3"), Ok(id(5, 3)));
        assert_eq!(StreamId::parse_strict(b"5"), Ok(id(5, 0)));
        assert_eq!(
            StreamId::parse_strict(b"18446744073709551615-18446744073709551615"),
            Ok(StreamId::MAX)
        );
        for bad in [
            &b"-"[..],
            b"+",
            b"",
            b"*",
            b"5-*",
            b"a-1",
            b"1-2-3",
            b"18446744073709551616",
        ] {
            assert_eq!(
                StreamId::parse_strict(bad),
                Err(IdError::Invalid),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn redis_number_quirks() {
        // Leading zeros, blanks and '+' fall through to strtoull and are accepted, as in Redis.
        assert_eq!(StreamId::parse_strict(b"007-1"), Ok(id(7, 1)));
        assert_eq!(StreamId::parse_strict(b" 9-1"), Ok(id(9, 1)));
        assert_eq!(StreamId::parse_strict(b"+10"), Ok(id(10, 0)));
        // A negative number through the strict path is refused.
        assert_eq!(StreamId::parse_strict(b"5--1"), Err(IdError::Invalid));
        assert!(StreamId::parse_strict(&[b'7'; 128]).is_err());
    }

    #[test]
    fn add_forms() {
        assert_eq!(AddId::parse(b"*"), Ok(AddId::Auto));
        assert_eq!(AddId::parse(b"12-*"), Ok(AddId::AutoSeq(12)));
        assert_eq!(AddId::parse(b"12-4"), Ok(AddId::Explicit(id(12, 4))));
        assert_eq!(AddId::parse(b"12"), Ok(AddId::Explicit(id(12, 0))));
        assert_eq!(AddId::parse(b"*-1"), Err(IdError::Invalid));
        assert_eq!(AddId::parse(b"-"), Err(IdError::Invalid));
    }

    #[test]
    fn range_forms() {
        assert_eq!(IdRange::parse(b"-", b"+"), Ok(IdRange::ALL));
        assert_eq!(
            IdRange::parse(b"5", b"7"),
            Ok(IdRange {
                start: id(5, 0),
                end: id(7, u64::MAX)
            })
        );
        assert_eq!(
            IdRange::parse(b"(5-1", b"(7-0"),
            Ok(IdRange {
                start: id(5, 2),
                end: id(6, u64::MAX)
            })
        );
        assert_eq!(
            IdRange::parse(b"(18446744073709551615-18446744073709551615", b"+"),
            Err(IdError::InvalidStart)
        );
        assert_eq!(IdRange::parse(b"-", b"(0-0"), Err(IdError::InvalidEnd));
        assert_eq!(IdRange::parse(b"(", b"+"), Err(IdError::Invalid));
        assert_eq!(IdRange::parse(b"(-", b"+"), Err(IdError::Invalid));
    }

    #[test]
    fn successor_and_predecessor() {
        assert_eq!(id(1, u64::MAX).next(), Some(id(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(id(2, 0).prev(), Some(id(1, u64::MAX)));
        assert_eq!(StreamId::MIN.prev(), None);
        assert!(id(1, 5) < id(2, 0));
    }
}
