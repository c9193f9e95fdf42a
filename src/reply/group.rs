//! The consumer-group replies: XREADGROUP, XPENDING, XCLAIM, XAUTOCLAIM, XINFO GROUPS and
//! CONSUMERS, XINFO STREAM FULL's groups, and the help texts of XGROUP and XINFO. Redis
//! 7.0.15's shapes, maps as [`Reply::Map`], except where
//! noted as a later Redis's.

use crate::id::StreamId;
use crate::model::{
    ConsumerInfo, Delivery, Field, FullConsumer, FullGroup, GroupInfo, GroupRead, PendingEntry,
    PendingSummary,
};
use crate::reply::{field, id, integer, Reply};

/// An entry's pairs as a flat array.
fn pairs(fields: &[Field]) -> Reply {
    let mut items = Vec::with_capacity(fields.len() * 2);
    for (name, value) in fields {
        items.push(Reply::Bulk(name.clone()));
        items.push(Reply::Bulk(value.clone()));
    }
    Reply::Array(items)
}

/// One delivered entry: `[id, fields]`, with a nil array for fields when the entry is gone
/// from the stream (a history read of a deleted entry). With Redis 8.4's CLAIM:
/// `[id, fields, idle-ms, deliveries-before]`.
pub fn delivery(delivery: &Delivery, claim: bool) -> Reply {
    let fields = delivery.fields.as_deref().map_or(Reply::NilArray, pairs);
    let mut items = vec![id(delivery.id), fields];
    if claim {
        items.push(integer(delivery.idle_ms));
        items.push(integer(delivery.delivered_before));
    }
    Reply::Array(items)
}

/// XREADGROUP: `[[stream, entries], ...]` for the streams served, or a nil array when none
/// was (also what a BLOCK timeout gives). `claim`: Redis 8.4's CLAIM was given, so every entry
/// has four elements. Entries moved to a dead-letter stream instead (Sluice's policy) are not
/// part of Redis's reply and are not shown; a stream whose read only moved entries there is
/// listed with no entries.
pub fn xreadgroup(streams: &[(Vec<u8>, GroupRead)], claim: bool) -> Reply {
    if streams.is_empty() {
        return Reply::NilArray;
    }
    let mut items = Vec::with_capacity(streams.len() * 2);
    for (name, read) in streams {
        let entries = read
            .deliveries
            .iter()
            .map(|served| delivery(served, claim))
            .collect();
        items.push(Reply::Bulk(name.clone()));
        items.push(Reply::Array(entries));
    }
    Reply::PairMap(items)
}

/// XPENDING key group: `[count, smallest, greatest, [[consumer, count-as-text], ...]]`, or
/// `[0, nil, nil, nil-array]` when nothing is pending.
pub fn xpending_summary(summary: &PendingSummary) -> Reply {
    let Some((smallest, greatest)) = summary.bounds else {
        return Reply::Array(vec![integer(0), Reply::Nil, Reply::Nil, Reply::NilArray]);
    };
    let consumers = summary
        .consumers
        .iter()
        .map(|(name, count)| {
            Reply::Array(vec![
                Reply::Bulk(name.clone()),
                Reply::Bulk(count.to_string().into_bytes()),
            ])
        })
        .collect();
    Reply::Array(vec![
        integer(summary.count),
        id(smallest),
        id(greatest),
        Reply::Array(consumers),
    ])
}

/// XPENDING's extended form: `[[id, consumer, idle-ms, deliveries], ...]`.
pub fn xpending(entries: &[PendingEntry]) -> Reply {
    Reply::Array(
        entries
            .iter()
            .map(|entry| {
                Reply::Array(vec![
                    id(entry.id),
                    Reply::Bulk(entry.consumer.clone()),
                    integer(entry.idle_ms),
                    integer(entry.delivery_count),
                ])
            })
            .collect(),
    )
}

/// Claimed entries: `[id, fields]` each, or their bare IDs with JUSTID.
fn claimed(deliveries: &[Delivery], justid: bool) -> Reply {
    Reply::Array(
        deliveries
            .iter()
            .map(|served| {
                if justid {
                    id(served.id)
                } else {
                    delivery(served, false)
                }
            })
            .collect(),
    )
}

/// XCLAIM: the entries claimed, or their IDs with JUSTID (possibly none). Entries moved to a
/// dead-letter stream instead (Sluice's policy) are not shown.
pub fn xclaim(read: &GroupRead, justid: bool) -> Reply {
    claimed(&read.deliveries, justid)
}

/// XAUTOCLAIM: `[cursor, entries (IDs with JUSTID), IDs found deleted and dropped]`.
pub fn xautoclaim(
    cursor: StreamId,
    deliveries: &[Delivery],
    deleted: &[StreamId],
    justid: bool,
) -> Reply {
    Reply::Array(vec![
        id(cursor),
        claimed(deliveries, justid),
        Reply::Array(deleted.iter().copied().map(id).collect()),
    ])
}

/// A count that may be unknown (entries-read): nil when unknown.
fn known(value: Option<u64>) -> Reply {
    value.map_or(Reply::Nil, integer)
}

/// A lag: nil when unknown, negative as Redis 7.0 reports it.
fn known_lag(value: Option<i64>) -> Reply {
    value.map_or(Reply::Nil, Reply::Integer)
}

/// XINFO GROUPS: per group `name`, `consumers`, `pending`, `last-delivered-id`,
/// `entries-read`, `lag`. Sluice's policy is not part of Redis's reply.
pub fn xinfo_groups(groups: &[GroupInfo]) -> Reply {
    Reply::Array(
        groups
            .iter()
            .map(|group| {
                Reply::Map(vec![
                    field("name"),
                    Reply::Bulk(group.name.clone()),
                    field("consumers"),
                    integer(group.consumers),
                    field("pending"),
                    integer(group.pending),
                    field("last-delivered-id"),
                    id(group.last_delivered),
                    field("entries-read"),
                    known(group.entries_read),
                    field("lag"),
                    known_lag(group.lag),
                ])
            })
            .collect(),
    )
}

/// XINFO CONSUMERS: per consumer `name`, `pending`, `idle` (Redis 7.0's three pairs; 7.2's
/// `inactive` is not shown).
pub fn xinfo_consumers(consumers: &[ConsumerInfo]) -> Reply {
    Reply::Array(
        consumers
            .iter()
            .map(|consumer| {
                Reply::Map(vec![
                    field("name"),
                    Reply::Bulk(consumer.name.clone()),
                    field("pending"),
                    integer(consumer.pending),
                    field("idle"),
                    integer(consumer.idle_ms),
                ])
            })
            .collect(),
    )
}

/// XINFO STREAM FULL's `groups`: per group `name`, `last-delivered-id`, `entries-read`, `lag`,
/// `pel-count`, `pending` (`[id, consumer, delivery-time, deliveries]`), `consumers`.
pub fn full_groups(groups: &[FullGroup]) -> Reply {
    Reply::Array(groups.iter().map(full_group).collect())
}

fn full_group(group: &FullGroup) -> Reply {
    let info = &group.info;
    let pending = group
        .pending
        .iter()
        .map(|(entry, consumer, time, count)| {
            Reply::Array(vec![
                id(*entry),
                Reply::Bulk(consumer.clone()),
                integer(*time),
                integer(*count),
            ])
        })
        .collect();
    Reply::Map(vec![
        field("name"),
        Reply::Bulk(info.name.clone()),
        field("last-delivered-id"),
        id(info.last_delivered),
        field("entries-read"),
        known(info.entries_read),
        field("lag"),
        known_lag(info.lag),
        field("pel-count"),
        integer(info.pending),
        field("pending"),
        Reply::Array(pending),
        field("consumers"),
        Reply::Array(group.consumers.iter().map(full_consumer).collect()),
    ])
}

/// A consumer in XINFO STREAM FULL: `name`, `seen-time`, `pel-count`, `pending`
/// (`[id, delivery-time, deliveries]`); Redis 7.0's four pairs (7.2's `active-time` is not
/// shown).
fn full_consumer(consumer: &FullConsumer) -> Reply {
    let pending = consumer
        .pending
        .iter()
        .map(|(entry, time, count)| Reply::Array(vec![id(*entry), integer(*time), integer(*count)]))
        .collect();
    Reply::Map(vec![
        field("name"),
        Reply::Bulk(consumer.name.clone()),
        field("seen-time"),
        integer(consumer.seen_time),
        field("pel-count"),
        integer(consumer.pel_count),
        field("pending"),
        Reply::Array(pending),
    ])
}

/// Redis's `addReplyHelp`: a header naming the command, the lines, and HELP's own two lines,
/// as status lines.
fn help(command: &str, lines: &[&str]) -> Reply {
    let header = format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
    let footer = ["HELP", "    Prints this help."];
    let mut replies = vec![Reply::Status(header)];
    replies.extend(
        lines
            .iter()
            .chain(footer.iter())
            .map(|line| Reply::Status((*line).to_owned())),
    );
    Reply::Array(replies)
}

/// XINFO HELP: Redis 7.0.15's text.
pub fn xinfo_help() -> Reply {
    help(
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    )
}

/// XGROUP HELP: Redis 7.0.15's text (Sluice's SETPOLICY and policy options are not listed, so
/// the text stays Redis's).
pub fn xgroup_help() -> Reply {
    help(
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    )
}

/// Sluice's XNACK: how many entries were given back (each ID once), or with REJECT how many
/// were moved to the dead-letter stream.
pub fn xnack(ids: &[StreamId], reject: bool, dead_lettered: &[StreamId]) -> Reply {
    if reject {
        return integer(dead_lettered.len() as u64);
    }
    let distinct: std::collections::BTreeSet<&StreamId> = ids.iter().collect();
    integer(distinct.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::render_cli;

    fn served(ms: u64, fields: Option<&[(&str, &str)]>) -> Delivery {
        Delivery {
            id: StreamId::new(ms, 0),
            fields: fields.map(|pairs| {
                pairs
                    .iter()
                    .map(|(name, value)| (name.as_bytes().to_vec(), value.as_bytes().to_vec()))
                    .collect()
            }),
            idle_ms: 7,
            delivered_before: 2,
        }
    }

    #[test]
    fn xreadgroup_shapes() {
        assert_eq!(xreadgroup(&[], false), Reply::NilArray);
        let read = GroupRead {
            deliveries: vec![served(1, Some(&[("a", "1")])), served(2, None)],
            dead_lettered: vec![StreamId::new(3, 0)],
        };
        let streams = [(b"s".to_vec(), read), (b"t".to_vec(), GroupRead::default())];
        assert_eq!(
            render_cli(&xreadgroup(&streams, false)),
            "1) 1) \"s\"\n   2) 1) 1) \"1-0\"\n         2) 1) \"a\"\n            2) \"1\"\n\
             \x20     2) 1) \"2-0\"\n         2) (nil)\n\
             2) 1) \"t\"\n   2) (empty array)\n"
        );
        // Redis 8.4's CLAIM: idle time and earlier deliveries after the fields.
        assert_eq!(
            delivery(&served(2, None), true),
            Reply::Array(vec![
                Reply::bulk("2-0"),
                Reply::NilArray,
                Reply::Integer(7),
                Reply::Integer(2)
            ])
        );
    }

    #[test]
    fn xpending_shapes() {
        assert_eq!(
            render_cli(&xpending_summary(&PendingSummary::default())),
            "1) (integer) 0\n2) (nil)\n3) (nil)\n4) (nil)\n"
        );
        let summary = PendingSummary {
            count: 3,
            bounds: Some((StreamId::new(1, 0), StreamId::new(3, 0))),
            consumers: vec![(b"a".to_vec(), 2), (b"b".to_vec(), 1)],
        };
        assert_eq!(
            render_cli(&xpending_summary(&summary)),
            "1) (integer) 3\n2) \"1-0\"\n3) \"3-0\"\n4) 1) 1) \"a\"\n      2) \"2\"\n   \
             2) 1) \"b\"\n      2) \"1\"\n"
        );
        let entries = [PendingEntry {
            id: StreamId::new(1, 0),
            consumer: b"a".to_vec(),
            idle_ms: 12,
            delivery_count: 4,
        }];
        assert_eq!(
            render_cli(&xpending(&entries)),
            "1) 1) \"1-0\"\n   2) \"a\"\n   3) (integer) 12\n   4) (integer) 4\n"
        );
        assert_eq!(xpending(&[]), Reply::Array(vec![]));
    }

    #[test]
    fn claim_shapes() {
        let read = GroupRead {
            deliveries: vec![served(1, None)],
            dead_lettered: Vec::new(),
        };
        assert_eq!(xclaim(&read, true), Reply::Array(vec![Reply::bulk("1-0")]));
        assert_eq!(xclaim(&GroupRead::default(), false), Reply::Array(vec![]));
        let auto = xautoclaim(
            StreamId::new(5, 0),
            &[served(1, Some(&[("a", "1")]))],
            &[StreamId::new(2, 0)],
            false,
        );
        assert_eq!(
            render_cli(&auto),
            "1) \"5-0\"\n2) 1) 1) \"1-0\"\n      2) 1) \"a\"\n         2) \"1\"\n3) 1) \"2-0\"\n"
        );
        assert_eq!(
            xnack(&[StreamId::new(1, 0), StreamId::new(1, 0)], false, &[]),
            Reply::Integer(1)
        );
        assert_eq!(
            xnack(&[StreamId::new(1, 0)], true, &[StreamId::new(1, 0)]),
            Reply::Integer(1)
        );
    }

    fn info(entries_read: Option<u64>, lag: Option<i64>) -> GroupInfo {
        GroupInfo {
            name: b"g".to_vec(),
            consumers: 1,
            pending: 2,
            last_delivered: StreamId::new(3, 0),
            entries_read,
            lag,
            policy: Default::default(),
        }
    }

    #[test]
    fn xinfo_group_shapes() {
        assert_eq!(
            render_cli(&xinfo_groups(&[info(None, Some(0))])),
            "1)  1) \"name\"\n    2) \"g\"\n    3) \"consumers\"\n    4) (integer) 1\n    \
             5) \"pending\"\n    6) (integer) 2\n    7) \"last-delivered-id\"\n    8) \"3-0\"\n    \
             9) \"entries-read\"\n   10) (nil)\n   11) \"lag\"\n   12) (integer) 0\n"
        );
        let consumers = [ConsumerInfo {
            name: b"c".to_vec(),
            pending: 2,
            idle_ms: 5,
            inactive_ms: Some(9),
        }];
        assert_eq!(
            render_cli(&xinfo_consumers(&consumers)),
            "1) 1) \"name\"\n   2) \"c\"\n   3) \"pending\"\n   4) (integer) 2\n   \
             5) \"idle\"\n   6) (integer) 5\n"
        );
        let full = FullGroup {
            info: info(Some(3), None),
            pending: vec![(StreamId::new(1, 0), b"c".to_vec(), 1000, 1)],
            consumers: vec![FullConsumer {
                name: b"c".to_vec(),
                seen_time: 2000,
                active_time: None,
                pel_count: 1,
                pending: vec![(StreamId::new(1, 0), 1000, 1)],
            }],
        };
        let Reply::Array(groups) = full_groups(&[full]) else {
            panic!("not an array")
        };
        let Reply::Map(pairs) = &groups[0] else {
            panic!("not a map")
        };
        let names: Vec<&Reply> = pairs.iter().step_by(2).collect();
        let expected = [
            "name",
            "last-delivered-id",
            "entries-read",
            "lag",
            "pel-count",
            "pending",
            "consumers",
        ];
        assert_eq!(names, expected.map(field).iter().collect::<Vec<_>>());
        assert_eq!(pairs[7], Reply::Nil);
        let Reply::Array(consumers) = &pairs[13] else {
            panic!("no consumers")
        };
        assert_eq!(
            render_cli(&consumers[0]),
            "1) \"name\"\n2) \"c\"\n3) \"seen-time\"\n4) (integer) 2000\n5) \"pel-count\"\n\
             6) (integer) 1\n7) \"pending\"\n8) 1) 1) \"1-0\"\n      2) (integer) 1000\n      \
             3) (integer) 1\n"
        );
    }

    #[test]
    fn help_texts() {
        let text = render_cli(&xgroup_help());
        assert!(text
            .starts_with(" 1) XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\n"));
        assert!(text.ends_with("16) HELP\n17)     Prints this help.\n"));
        let text = render_cli(&xinfo_help());
        assert!(text.starts_with("1) XINFO <subcommand>"));
        assert!(text.contains("6) STREAM <key> [FULL [COUNT <count>]\n"));
    }
}
