//! RESP replies out: a [`Reply`] written in the protocol version the connection speaks.
//!
//! RESP2 and RESP3 differ only where the reply model has a choice: a nil is `$-1` or `*-1` in
//! RESP2 (Redis picks one per command) and `_` in RESP3, and a map is a flat array in RESP2
//! and a `%` map in RESP3. Error and status texts never contain a line break (Redis turns them
//! into spaces), so no reply can corrupt the stream of replies after it.

use crate::reply::Reply;

/// The protocol version a connection speaks (HELLO switches it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2, every connection's start.
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

/// Appends `reply`, encoded for `protocol`, to `out`.
pub fn encode(reply: &Reply, protocol: Protocol, out: &mut Vec<u8>) {
    match reply {
        Reply::Status(text) => line(out, b'+', text.as_bytes()),
        Reply::Error(text) => line(out, b'-', text.as_bytes()),
        Reply::Integer(value) => header(out, b':', *value),
        Reply::Bulk(bytes) => {
            header(out, b'$', bytes.len() as i64);
            out.extend_from_slice(bytes);
            out.extend_from_slice(b"\r\n");
        }
        Reply::Nil | Reply::NilArray if protocol == Protocol::Resp3 => {
            out.extend_from_slice(b"_\r\n")
        }
        Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
        Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
        Reply::Array(items) => {
            header(out, b'*', items.len() as i64);
            for item in items {
                encode(item, protocol, out);
            }
        }
        Reply::PairMap(items) if protocol == Protocol::Resp2 => {
            header(out, b'*', (items.len() / 2) as i64);
            for pair in items.chunks(2) {
                header(out, b'*', pair.len() as i64);
                for item in pair {
                    encode(item, protocol, out);
                }
            }
        }
        Reply::Map(items) | Reply::PairMap(items) => {
            match protocol {
                Protocol::Resp2 => header(out, b'*', items.len() as i64),
                Protocol::Resp3 => header(out, b'%', (items.len() / 2) as i64),
            }
            for item in items {
                encode(item, protocol, out);
            }
        }
    }
}

/// `<kind><number>\r\n`.
fn header(out: &mut Vec<u8>, kind: u8, number: i64) {
    out.push(kind);
    let mut digits = [0; 20];
    out.extend_from_slice(format_i64(number, &mut digits));
    out.extend_from_slice(b"\r\n");
}

/// A status or error line, its line breaks turned into spaces.
fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(text.iter().map(|&byte| match byte {
        b'\r' | b'\n' => b' ',
        other => other,
    }));
    out.extend_from_slice(b"\r\n");
}

/// `number` in decimal, written into `buffer` without allocating.
fn format_i64(number: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut magnitude = number.unsigned_abs();
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if number < 0 {
        at -= 1;
        buffer[at] = b'-';
    }
    &buffer[at..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(reply: &Reply, protocol: Protocol) -> String {
        let mut out = Vec::new();
        encode(reply, protocol, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn scalars() {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            assert_eq!(wire(&Reply::Status("OK".into()), protocol), "+OK\r\n");
            assert_eq!(wire(&Reply::error("ERR a\r\nb"), protocol), "-ERR a  b\r\n");
            assert_eq!(wire(&Reply::Integer(0), protocol), ":0\r\n");
            assert_eq!(
                wire(&Reply::Integer(i64::MIN), protocol),
                ":-9223372036854775808\r\n"
            );
            assert_eq!(
                wire(&Reply::Integer(i64::MAX), protocol),
                ":9223372036854775807\r\n"
            );
            assert_eq!(wire(&Reply::bulk("a\r\nb"), protocol), "$4\r\na\r\nb\r\n");
            assert_eq!(wire(&Reply::bulk(""), protocol), "$0\r\n\r\n");
        }
    }

    #[test]
    fn nils_and_maps_follow_the_protocol() {
        assert_eq!(wire(&Reply::Nil, Protocol::Resp2), "$-1\r\n");
        assert_eq!(wire(&Reply::NilArray, Protocol::Resp2), "*-1\r\n");
        assert_eq!(wire(&Reply::Nil, Protocol::Resp3), "_\r\n");
        assert_eq!(wire(&Reply::NilArray, Protocol::Resp3), "_\r\n");
        let map = Reply::Map(vec![
            Reply::bulk("k"),
            Reply::Array(vec![Reply::Integer(1)]),
        ]);
        assert_eq!(wire(&map, Protocol::Resp2), "*2\r\n$1\r\nk\r\n*1\r\n:1\r\n");
        assert_eq!(wire(&map, Protocol::Resp3), "%1\r\n$1\r\nk\r\n*1\r\n:1\r\n");
        let Reply::Map(items) = map else {
            unreachable!()
        };
        let pairs = Reply::PairMap(items);
        assert_eq!(
            wire(&pairs, Protocol::Resp2),
            "*1\r\n*2\r\n$1\r\nk\r\n*1\r\n:1\r\n"
        );
        assert_eq!(
            wire(&pairs, Protocol::Resp3),
            "%1\r\n$1\r\nk\r\n*1\r\n:1\r\n"
        );
    }
}
