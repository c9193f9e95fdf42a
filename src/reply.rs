//! Redis's reply model, and the one place each command's reply is built from engine values.
//!
//! Every front end renders the same [`Reply`]: the command-line client prints it the way
//! `redis-cli --no-raw` does ([`render_cli`]), and a RESP front end can encode it on the wire.
//! Building replies here, from engine types ([`StreamId`], [`Entry`], [`StreamInfo`]), keeps
//! the shape of every reply (nesting, field order, nil versus empty array) in one module, so
//! the front ends cannot drift apart. The shapes are Redis 7.0.15's, RESP2 flavour, checked
//! against `redis-cli` by `tests/cli_render.rs`. The consumer-group replies are in `group`.

mod group;

use std::fmt::Write as _;

pub use group::{
    delivery, full_groups, xautoclaim, xclaim, xgroup_help, xinfo_consumers, xinfo_groups,
    xinfo_help, xnack, xpending, xpending_summary, xreadgroup,
};

use crate::id::StreamId;
use crate::model::{Entry, Retention, RetentionStatus, StreamInfo};

/// One Redis reply, as RESP2 carries it.
///
/// Nil comes in two kinds because RESP2 encodes them differently (`$-1` and `*-1`) and Redis
/// picks one per command; `redis-cli` prints both as `(nil)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// A simple string (`+OK`), printed unquoted.
    Status(String),
    /// An error; the text starts with its code (`ERR ...`), as Redis sends it.
    Error(String),
    /// A signed integer.
    Integer(i64),
    /// A binary-safe bulk string.
    Bulk(Vec<u8>),
    /// The nil bulk string (`$-1`): XADD NOMKSTREAM on a missing key, XINFO's missing entries.
    Nil,
    /// The nil array (`*-1`): XREAD with no data, XRANGE COUNT 0.
    NilArray,
    /// An array of replies, possibly empty.
    Array(Vec<Reply>),
    /// A map, as its keys and values alternating: RESP3 sends it as a map (`%`), RESP2 and
    /// `redis-cli` as the flat array of those items (XINFO, XREAD's streams).
    Map(Vec<Reply>),
    /// A map that RESP2 sends as an array of `[key, value]` pairs instead (XREAD's and
    /// XREADGROUP's streams); RESP3 as a map. Keys and values alternate here too.
    PairMap(Vec<Reply>),
    /// Entries as XRANGE gives them (`[[id, [field, value, ...]], ...]`), kept as the engine
    /// read them: the RESP front end writes them out without copying them into replies.
    Entries(Vec<Entry>),
}

impl Reply {
    /// An error reply with `text` (which carries its own `ERR` or other code).
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string of `bytes`.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Reply {
        Reply::Bulk(bytes.into())
    }

    /// A [`Reply::PairMap`]'s items as RESP2 sends them: an array of `[key, value]` arrays.
    pub fn pairs(items: &[Reply]) -> Reply {
        Reply::Array(
            items
                .chunks(2)
                .map(|pair| Reply::Array(pair.to_vec()))
                .collect(),
        )
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// `+OK`: XSETID's reply.
pub fn ok() -> Reply {
    Reply::Status("OK".to_owned())
}

/// `+PONG`: PING's reply without an argument.
pub fn pong() -> Reply {
    Reply::Status("PONG".to_owned())
}

/// An integer reply for a count (XLEN, XDEL, XTRIM, DEL, EXISTS). Counts beyond `i64::MAX`
/// cannot occur in practice; they saturate rather than wrap.
pub fn integer(count: u64) -> Reply {
    Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

/// An ID as a bulk string, `<ms>-<seq>`.
pub fn id(id: StreamId) -> Reply {
    Reply::Bulk(id.to_string().into_bytes())
}

/// One entry: `[id, [field, value, field, value, ...]]`.
pub fn entry(entry: &Entry) -> Reply {
    let mut pairs = Vec::with_capacity(entry.fields.len() * 2);
    for (name, value) in &entry.fields {
        pairs.push(Reply::Bulk(name.clone()));
        pairs.push(Reply::Bulk(value.clone()));
    }
    Reply::Array(vec![id(entry.id), Reply::Array(pairs)])
}

/// A list of entries, as XRANGE and XREAD give them.
pub fn entries(entries: &[Entry]) -> Reply {
    Reply::Array(entries.iter().map(entry).collect())
}

/// [`entries`], taking them rather than copying them.
pub fn entries_owned(entries: Vec<Entry>) -> Reply {
    Reply::Entries(entries)
}

/// XADD: the new entry's ID, or nil when NOMKSTREAM found no stream.
pub fn xadd(added: Option<StreamId>) -> Reply {
    added.map_or(Reply::Nil, id)
}

/// XRANGE / XREVRANGE. `count` is the COUNT given (a negative COUNT counts as 0). Redis
/// 7.0.15 answers COUNT 0 with a nil array, but only once it has found the stream: a missing
/// stream gets the empty array whatever the COUNT.
pub fn xrange(count: Option<u64>, exists: bool, found: &[Entry]) -> Reply {
    if count == Some(0) && exists {
        Reply::NilArray
    } else {
        entries(found)
    }
}

/// [`xrange`], taking the entries.
pub fn xrange_owned(count: Option<u64>, found: Option<Vec<Entry>>) -> Reply {
    match found {
        Some(_) if count == Some(0) => Reply::NilArray,
        Some(found) => Reply::Entries(found),
        None => Reply::Array(Vec::new()),
    }
}

/// [`xread`], taking the entries.
pub fn xread_owned(streams: Vec<(Vec<u8>, Vec<Entry>)>) -> Reply {
    if streams.is_empty() {
        return Reply::NilArray;
    }
    let mut items = Vec::with_capacity(streams.len() * 2);
    for (name, found) in streams {
        items.push(Reply::Bulk(name));
        items.push(Reply::Entries(found));
    }
    Reply::PairMap(items)
}

/// XREAD: stream to entries (RESP2: `[[stream, entries], ...]`, RESP3: a map) for the streams that had data, or a nil array when none
/// had (also what a BLOCK timeout gives).
pub fn xread(streams: &[(Vec<u8>, Vec<Entry>)]) -> Reply {
    if streams.is_empty() {
        return Reply::NilArray;
    }
    let mut items = Vec::with_capacity(streams.len() * 2);
    for (name, found) in streams {
        items.push(Reply::Bulk(name.clone()));
        items.push(entries(found));
    }
    Reply::PairMap(items)
}

/// Entries per node of a Redis stream's radix tree (Redis's default
/// `stream-node-max-entries`), for XINFO's `radix-tree-keys`.
pub const REDIS_NODE_ENTRIES: u64 = 100;

/// XINFO STREAM, plain or FULL, with Redis 7.0.15's field order.
///
/// Sluice has no radix tree: `radix-tree-keys` is the number of nodes Redis would hold the
/// entries in (one per [`REDIS_NODE_ENTRIES`] entries, its default `stream-node-max-entries`;
/// clients and Redis's own tests watch it grow as entries are added), and `radix-tree-nodes`
/// the number of Sluice's sparse index points. `groups` is the number
/// of groups (plain) or [`full_groups`] (FULL). With `full`, missing `info.entries` render as
/// no entries.
pub fn xinfo_stream(info: &StreamInfo, full: bool) -> Reply {
    let counters = &info.counters;
    let mut fields = vec![
        field("length"),
        integer(counters.length),
        field("radix-tree-keys"),
        integer(counters.length.div_ceil(REDIS_NODE_ENTRIES)),
        field("radix-tree-nodes"),
        integer(info.index_points),
        field("last-generated-id"),
        id(counters.last_id),
        field("max-deleted-entry-id"),
        id(counters.max_deleted),
        field("entries-added"),
        integer(counters.entries_added),
        field("recorded-first-entry-id"),
        id(info.recorded_first_id),
    ];
    if full {
        fields.push(field("entries"));
        fields.push(entries(info.entries.as_deref().unwrap_or_default()));
        fields.push(field("groups"));
        fields.push(full_groups(&info.full_groups));
    } else {
        fields.push(field("groups"));
        fields.push(integer(info.groups));
        fields.push(field("first-entry"));
        fields.push(info.first_entry.as_ref().map_or(Reply::Nil, entry));
        fields.push(field("last-entry"));
        fields.push(info.last_entry.as_ref().map_or(Reply::Nil, entry));
    }
    // Sluice's, after Redis's fields and only with a policy: a stream without one answers
    // exactly as Redis does.
    if let Some(policy) = &info.retention {
        for (name, value) in retention_fields(policy) {
            fields.push(field(&format!("retention-{name}")));
            fields.push(value);
        }
    }
    Reply::Map(fields)
}

/// A retention policy's fields and values: a limit as an integer, or nil when unset.
fn retention_fields(policy: &Retention) -> [(&'static str, Reply); 4] {
    let limit = |value: Option<u64>| value.map_or(Reply::Nil, integer);
    [
        ("max-age-ms", limit(policy.max_age_ms)),
        ("max-bytes", limit(policy.max_bytes)),
        ("max-len", limit(policy.max_len)),
        (
            "keep-unprocessed",
            integer(u64::from(policy.keep_unprocessed)),
        ),
    ]
}

/// XRETENTION GET: the policy's fields, then what its guard holds back and what retention
/// removed; an empty map for a stream without a policy.
pub fn xretention(policy: Option<&Retention>, status: Option<&RetentionStatus>) -> Reply {
    let Some(policy) = policy else {
        return Reply::Map(Vec::new());
    };
    let mut fields = Vec::new();
    for (name, value) in retention_fields(policy) {
        fields.push(field(name));
        fields.push(value);
    }
    let status = status.copied().unwrap_or_default();
    for (name, value) in [
        ("held-entries", status.held_entries),
        ("held-bytes", status.held_bytes),
        ("held-segments", status.held_segments),
        ("removed-entries", status.removed_entries),
        ("removed-bytes", status.removed_bytes),
        ("removed-segments", status.removed_segments),
    ] {
        fields.push(field(name));
        fields.push(integer(value));
    }
    Reply::Map(fields)
}

/// KEYS: the names, as bulk strings.
pub fn keys(names: &[Vec<u8>]) -> Reply {
    Reply::Array(names.iter().map(|name| Reply::Bulk(name.clone())).collect())
}

fn field(name: &str) -> Reply {
    Reply::Bulk(name.as_bytes().to_vec())
}

/// Prints a reply exactly as `redis-cli --no-raw` does (its `cliFormatReplyTTY`), trailing
/// newline included.
pub fn render_cli(reply: &Reply) -> String {
    let mut out = String::new();
    render_into(&mut out, reply, "");
    out
}

fn render_into(out: &mut String, reply: &Reply, prefix: &str) {
    match reply {
        // redis-cli prints these with C's `%s`, which stops at a NUL byte.
        Reply::Error(text) => {
            out.push_str("(error) ");
            out.push_str(until_nul(text));
            out.push('\n');
        }
        Reply::Status(text) => {
            out.push_str(until_nul(text));
            out.push('\n');
        }
        Reply::Integer(value) => {
            let _ = writeln!(out, "(integer) {value}");
        }
        Reply::Bulk(bytes) => {
            out.push_str(&repr(bytes));
            out.push('\n');
        }
        Reply::Nil | Reply::NilArray => out.push_str("(nil)\n"),
        Reply::PairMap(items) => render_into(out, &Reply::pairs(items), prefix),
        Reply::Entries(found) => render_into(out, &entries(found), prefix),
        Reply::Array(items) | Reply::Map(items) if items.is_empty() => {
            out.push_str("(empty array)\n")
        }
        Reply::Array(items) | Reply::Map(items) => {
            // Indexes are right-aligned to the width of the largest one, and nested arrays are
            // indented past "<index>) ", so a 10-element array prints " 1)" ... "10)".
            let width = items.len().to_string().len();
            let nested_prefix = format!("{prefix}{}", " ".repeat(width + 2));
            for (index, item) in items.iter().enumerate() {
                // The first element follows its parent's "<index>) " on the same line.
                if index > 0 {
                    out.push_str(prefix);
                }
                let _ = write!(out, "{:>width$}) ", index + 1);
                render_into(out, item, &nested_prefix);
            }
        }
    }
}

fn until_nul(text: &str) -> &str {
    text.split('\0').next().unwrap_or_default()
}

/// Redis's `sdscatrepr`: `bytes` in double quotes, with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`,
/// `\b` escaped and every byte outside printable ASCII written as `\xNN`. `redis-cli` runs in
/// the C locale, so UTF-8 text is escaped byte by byte too ("é" prints as `"\xc3\xa9"`).
pub fn repr(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                let _ = write!(out, "\\x{byte:02x}");
            }
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Counters;

    fn entry_of(ms: u64, seq: u64, fields: &[(&[u8], &[u8])]) -> Entry {
        Entry {
            id: StreamId::new(ms, seq),
            fields: fields
                .iter()
                .map(|(name, value)| (name.to_vec(), value.to_vec()))
                .collect(),
        }
    }

    #[test]
    fn scalars() {
        assert_eq!(render_cli(&ok()), "OK\n");
        assert_eq!(render_cli(&pong()), "PONG\n");
        assert_eq!(render_cli(&integer(5)), "(integer) 5\n");
        assert_eq!(render_cli(&Reply::Integer(-3)), "(integer) -3\n");
        assert_eq!(
            render_cli(&integer(u64::MAX)),
            format!("(integer) {}\n", i64::MAX)
        );
        assert_eq!(render_cli(&Reply::Nil), "(nil)\n");
        assert_eq!(render_cli(&Reply::NilArray), "(nil)\n");
        assert_eq!(render_cli(&Reply::Array(vec![])), "(empty array)\n");
        assert_eq!(
            render_cli(&Reply::error("ERR no such key")),
            "(error) ERR no such key\n"
        );
        assert_eq!(render_cli(&Reply::error("ERR a\0b")), "(error) ERR a\n");
    }

    #[test]
    fn bulk_strings_are_quoted_like_sdscatrepr() {
        assert_eq!(repr(b"plain text"), "\"plain text\"");
        assert_eq!(repr(b"a\0b"), "\"a\\x00b\"");
        assert_eq!(repr(b"line\nbreak\r\t"), "\"line\\nbreak\\r\\t\"");
        assert_eq!(
            repr(b"quote\"d back\\slash"),
            "\"quote\\\"d back\\\\slash\""
        );
        assert_eq!(
            repr(b"\x07\x08\x1b\x7f\x80\xff"),
            "\"\\a\\b\\x1b\\x7f\\x80\\xff\""
        );
        assert_eq!(repr("é€".as_bytes()), "\"\\xc3\\xa9\\xe2\\x82\\xac\"");
        assert_eq!(repr(b""), "\"\"");
        assert_eq!(render_cli(&Reply::bulk("x")), "\"x\"\n");
    }

    #[test]
    fn nested_arrays_indent_past_their_index() {
        let reply = entries(&[
            entry_of(1, 1, &[(b"a", b"1")]),
            entry_of(2, 1, &[(b"b", b"2"), (b"c", b"3")]),
        ]);
        assert_eq!(
            render_cli(&reply),
            "1) 1) \"1-1\"\n   2) 1) \"a\"\n      2) \"1\"\n\
             2) 1) \"2-1\"\n   2) 1) \"b\"\n      2) \"2\"\n      3) \"c\"\n      4) \"3\"\n"
        );
    }

    #[test]
    fn ten_or_more_elements_widen_the_index() {
        let reply = Reply::Array((1..=10).map(integer).collect());
        let text = render_cli(&reply);
        assert!(text.starts_with(" 1) (integer) 1\n 2) (integer) 2\n"));
        assert!(text.ends_with(" 9) (integer) 9\n10) (integer) 10\n"));

        // A wide nested array under a narrow parent: the parent's prefix, then its own width.
        let nested = Reply::Array(vec![
            Reply::bulk("k"),
            Reply::Array((1..=10).map(integer).collect()),
        ]);
        let text = render_cli(&nested);
        assert!(text.starts_with("1) \"k\"\n2)  1) (integer) 1\n    2) (integer) 2\n"));
        assert!(text.ends_with("   10) (integer) 10\n"));
    }

    #[test]
    fn xrange_count_zero_depends_on_existence() {
        assert_eq!(xrange(Some(0), true, &[]), Reply::NilArray);
        assert_eq!(xrange(Some(0), false, &[]), Reply::Array(vec![]));
        assert_eq!(xrange(None, true, &[]), Reply::Array(vec![]));
        assert_eq!(
            xrange(Some(1), true, &[entry_of(1, 0, &[(b"f", b"v")])]),
            Reply::Array(vec![entry(&entry_of(1, 0, &[(b"f", b"v")]))])
        );
    }

    #[test]
    fn xread_and_xadd_nils() {
        assert_eq!(xread(&[]), Reply::NilArray);
        assert_eq!(xadd(None), Reply::Nil);
        assert_eq!(xadd(Some(StreamId::new(5, 1))), Reply::bulk("5-1"));
        let text = render_cli(&xread(&[(
            b"s".to_vec(),
            vec![entry_of(1, 1, &[(b"a", b"1")])],
        )]));
        assert_eq!(
            text,
            "1) 1) \"s\"\n   2) 1) 1) \"1-1\"\n         2) 1) \"a\"\n            2) \"1\"\n"
        );
    }

    fn sample_info(entries: Option<Vec<Entry>>) -> StreamInfo {
        StreamInfo {
            counters: Counters {
                length: 1,
                last_id: StreamId::new(2, 0),
                entries_added: 2,
                max_deleted: StreamId::new(1, 0),
            },
            recorded_first_id: StreamId::new(2, 0),
            first_entry: Some(entry_of(2, 0, &[(b"f", b"v")])),
            last_entry: Some(entry_of(2, 0, &[(b"f", b"v")])),
            segments: 1,
            index_points: 2,
            entries,
            groups: 0,
            full_groups: Vec::new(),
            retention: None,
        }
    }

    fn names_of(reply: &Reply) -> Vec<String> {
        match reply {
            Reply::Map(items) => items
                .iter()
                .step_by(2)
                .map(|name| match name {
                    Reply::Bulk(bytes) => String::from_utf8_lossy(bytes).into_owned(),
                    other => panic!("field name is not a bulk string: {other:?}"),
                })
                .collect(),
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn xinfo_field_order() {
        let plain = xinfo_stream(&sample_info(None), false);
        assert_eq!(
            names_of(&plain),
            [
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "groups",
                "first-entry",
                "last-entry"
            ]
        );
        let full = xinfo_stream(&sample_info(Some(vec![])), true);
        assert_eq!(
            names_of(&full),
            [
                "length",
                "radix-tree-keys",
                "radix-tree-nodes",
                "last-generated-id",
                "max-deleted-entry-id",
                "entries-added",
                "recorded-first-entry-id",
                "entries",
                "groups"
            ]
        );
        let text = render_cli(&full);
        assert!(text
            .ends_with("15) \"entries\"\n16) (empty array)\n17) \"groups\"\n18) (empty array)\n"));
    }

    #[test]
    fn xinfo_appends_a_retention_policy_only_when_set() {
        let mut info = sample_info(None);
        let without = names_of(&xinfo_stream(&info, false));
        info.retention = Some(Retention {
            max_len: Some(5),
            keep_unprocessed: true,
            ..Retention::default()
        });
        let plain = xinfo_stream(&info, false);
        let with = names_of(&plain);
        assert_eq!(with[..without.len()], without[..]);
        assert_eq!(
            with[without.len()..],
            [
                "retention-max-age-ms",
                "retention-max-bytes",
                "retention-max-len",
                "retention-keep-unprocessed"
            ]
        );
        let text = render_cli(&plain);
        assert!(text.ends_with(
            "21) \"retention-max-age-ms\"\n22) (nil)\n23) \"retention-max-bytes\"\n24) (nil)\n\
             25) \"retention-max-len\"\n26) (integer) 5\n27) \"retention-keep-unprocessed\"\n\
             28) (integer) 1\n"
        ));
        assert_eq!(xretention(None, None), Reply::Map(Vec::new()));
        let got = names_of(&xretention(info.retention.as_ref(), None));
        assert_eq!(got.len(), 10);
        assert_eq!(got[0], "max-age-ms");
    }

    #[test]
    fn xinfo_of_an_empty_stream_has_nil_entries() {
        let mut info = sample_info(None);
        info.first_entry = None;
        info.last_entry = None;
        let text = render_cli(&xinfo_stream(&info, false));
        assert!(text.ends_with("17) \"first-entry\"\n18) (nil)\n19) \"last-entry\"\n20) (nil)\n"));
    }

    #[test]
    fn help_is_status_lines() {
        let text = render_cli(&xinfo_help());
        assert!(
            text.starts_with("1) XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\n")
        );
        assert!(text.contains("2) CONSUMERS <key> <groupname>\n"));
        assert!(text.ends_with("9)     Prints this help.\n"));
    }
}
