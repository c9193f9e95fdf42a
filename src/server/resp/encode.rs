//! RESP replies out: a [`Reply`] written in the protocol version the connection speaks.
//!
//! RESP2 and RESP3 differ only where the reply model has a choice: a nil is `$-1` or `*-1` in
//! RESP2 (Redis picks one per command) and `_` in RESP3, and a map is a flat array in RESP2
//! and a `%` map in RESP3. Error and status texts never contain a line break (Redis turns them
//! into spaces), so no reply can corrupt the stream of replies after it.

use crate::id::{StreamId, TEXT_BYTES_MAX};
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
        Reply::Bulk(bytes) => bulk(out, bytes),
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
        Reply::Entries(entries) => {
            header(out, b'*', entries.len() as i64);
            for entry in entries {
                out.extend_from_slice(b"*2\r\n");
                id(out, entry.id);
                header(out, b'*', (entry.fields.len() * 2) as i64);
                for (name, value) in &entry.fields {
                    bulk(out, name);
                    bulk(out, value);
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

/// A bulk string.
fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, b'$', bytes.len() as i64);
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

/// An ID as a bulk string, `<ms>-<seq>`, formatted in place.
fn id(out: &mut Vec<u8>, id: StreamId) {
    let mut text = [0; TEXT_BYTES_MAX];
    let text = id.text(&mut text);
    header(out, b'$', text.len() as i64);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// `<kind><number>\r\n`.
fn header(out: &mut Vec<u8>, kind: u8, number: i64) {
    out.push(kind);
    let mut digits = [0; 21];
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
fn format_i64(number: i64, buffer: &mut [u8; 21]) -> &[u8] {
    let mut digits = [0; 20];
    let magnitude = format_u64(number.unsigned_abs(), &mut digits);
    let sign = usize::from(number < 0);
    buffer[0] = b'-';
    buffer[sign..sign + magnitude.len()].copy_from_slice(magnitude);
    &buffer[..sign + magnitude.len()]
}

/// `number` in decimal, written into `buffer` without allocating.
fn format_u64(mut number: u64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (number % 10) as u8;
        number /= 10;
        if number == 0 {
            break;
        }
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
    fn entries_are_written_as_xrange_replies() {
        let found = vec![
            crate::model::Entry {
                id: StreamId::new(1, 2),
                fields: vec![(b"f".to_vec(), b"v".to_vec())],
            },
            crate::model::Entry {
                id: StreamId::new(u64::MAX, 0),
                fields: vec![],
            },
        ];
        let copied = wire(&crate::reply::entries(&found), Protocol::Resp2);
        assert_eq!(wire(&Reply::Entries(found), Protocol::Resp2), copied);
        assert!(copied.starts_with("*2\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"));
        assert!(copied.ends_with("$22\r\n18446744073709551615-0\r\n*0\r\n"));
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
