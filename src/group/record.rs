//! The changes a stream's consumer groups go through, as records: what the journal stores and
//! replays, and what a snapshot is made of.
//!
//! Every change to group state is first made a [`Record`], then applied by the one function
//! that applies records ([`super::Groups::apply`]), live or at replay, so what is replayed is
//! exactly what happened. One command's records form one journal frame ([`encode_batch`]), so a
//! torn append loses a command whole. A record's body (framed and checksummed by the journal,
//! see `storage::journal` and `FORMAT.md`) is a kind byte and the kind's fields, little-endian:
//!
//! ```text
//! bytes   = len u32, then the bytes          id   = ms u64, seq u64
//! opt u64 = 0 (none) | 1, u64                ids  = count u32, then ids
//! 1 create        group bytes, last id, entries-read opt, policy
//! 2 set-id        group bytes, last id, entries-read opt
//! 3 destroy       group bytes
//! 4 consumer      group bytes, consumer bytes, seen-time u64, active-time opt
//! 5 del-consumer  group bytes, consumer bytes
//! 6 deliver       group bytes, consumer bytes, count u32 × (id, delivery-time u64, count u64)
//! 7 remove        group bytes, ids
//! 8 release       group bytes, count u32 × (id, at u64)
//! 9 policy        group bytes, policy
//! 10 dl-begin     group bytes, target bytes, target-after id, ids
//! 11 dl-end       group bytes, ids
//! 12 dl-abort     group bytes, ids
//! policy = max-deliveries u64, lease-ms u64, dead-letter stream: 0 | 1, bytes
//! ```

use crate::id::StreamId;
use crate::model::GroupPolicy;

/// One change to a stream's groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// XGROUP CREATE.
    Create {
        /// The group.
        group: Vec<u8>,
        /// Its last-delivered ID.
        last_id: StreamId,
        /// Its entries-read counter, if known.
        entries_read: Option<u64>,
        /// Its policy.
        policy: GroupPolicy,
    },
    /// XGROUP SETID, and a read of new entries moving the group on.
    SetId {
        /// The group.
        group: Vec<u8>,
        /// The new last-delivered ID.
        last_id: StreamId,
        /// The new entries-read counter.
        entries_read: Option<u64>,
    },
    /// XGROUP DESTROY.
    Destroy {
        /// The group.
        group: Vec<u8>,
    },
    /// A consumer created, or its times moved.
    Consumer {
        /// The group.
        group: Vec<u8>,
        /// The consumer.
        consumer: Vec<u8>,
        /// When it was last seen.
        seen_time: u64,
        /// When it last read or claimed something, if ever.
        active_time: Option<u64>,
    },
    /// XGROUP DELCONSUMER: the consumer and its pending entries go.
    DeleteConsumer {
        /// The group.
        group: Vec<u8>,
        /// The consumer.
        consumer: Vec<u8>,
    },
    /// Entries delivered (or claimed) to a consumer, with their new delivery time and count.
    Deliver {
        /// The group.
        group: Vec<u8>,
        /// The consumer now owning them.
        consumer: Vec<u8>,
        /// ID, delivery time, delivery count.
        entries: Vec<(StreamId, u64, u64)>,
    },
    /// Entries no longer pending (acknowledged, or gone from the stream).
    Remove {
        /// The group.
        group: Vec<u8>,
        /// The entries.
        ids: Vec<StreamId>,
    },
    /// Entries released for redelivery (a negative acknowledgement), each from a time on.
    Release {
        /// The group.
        group: Vec<u8>,
        /// ID, and when it may be delivered again.
        entries: Vec<(StreamId, u64)>,
    },
    /// The group's policy set.
    Policy {
        /// The group.
        group: Vec<u8>,
        /// The policy.
        policy: GroupPolicy,
    },
    /// Entries about to be appended to a dead-letter stream (the intent of a move).
    DeadLetterBegin {
        /// The group.
        group: Vec<u8>,
        /// The dead-letter stream.
        target: Vec<u8>,
        /// The dead-letter stream's last ID before the move: its dead letters come after.
        target_after: StreamId,
        /// The entries.
        ids: Vec<StreamId>,
    },
    /// A move done: the entries are in the dead-letter stream and no longer pending.
    DeadLetterEnd {
        /// The group.
        group: Vec<u8>,
        /// The entries.
        ids: Vec<StreamId>,
    },
    /// A move abandoned: the entries stay pending as they were.
    DeadLetterAbort {
        /// The group.
        group: Vec<u8>,
        /// The entries.
        ids: Vec<StreamId>,
    },
}

/// Why a record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed group record: {0}")]
pub struct Malformed(pub &'static str);

/// Appends one command's records as one journal frame body — `count u32`, then each record as
/// `len u32` and its body — so a torn append loses the command whole, never part of it.
pub fn encode_batch(records: &[Record], out: &mut Vec<u8>) {
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    let mut body = Vec::new();
    for record in records {
        body.clear();
        record.encode(&mut body);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
    }
}

/// Decodes a frame body made by [`encode_batch`].
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Record>, Malformed> {
    let mut reader = Decoder(bytes);
    let count = reader.count(5)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let body = reader.bytes()?;
        records.push(Record::decode(&body)?);
    }
    if !reader.0.is_empty() {
        return Err(Malformed("bytes after the batch"));
    }
    Ok(records)
}

impl Record {
    /// Whether one command's records can end a blocked group reader's wait (or move when it
    /// must look again): a destroyed group (NOGROUP), entries released or abandoned on their
    /// way to the dead-letter stream, a new lease, or a last-delivered ID set by XGROUP SETID
    /// (a read that delivers moves it too, but that makes nothing new deliverable; a NOACK
    /// read, which delivers no record, wakes readers for nothing). Deliveries,
    /// acknowledgements and the like cannot.
    pub fn can_end_a_wait(records: &[Record]) -> bool {
        let mut set_id = false;
        let mut delivers = false;
        for record in records {
            match record {
                Record::Destroy { .. }
                | Record::Release { .. }
                | Record::Policy { .. }
                | Record::DeadLetterAbort { .. } => return true,
                Record::SetId { .. } => set_id = true,
                Record::Deliver { .. } => delivers = true,
                _ => {}
            }
        }
        set_id && !delivers
    }

    /// The group the record is about.
    pub fn group(&self) -> &[u8] {
        match self {
            Record::Create { group, .. }
            | Record::SetId { group, .. }
            | Record::Destroy { group }
            | Record::Consumer { group, .. }
            | Record::DeleteConsumer { group, .. }
            | Record::Deliver { group, .. }
            | Record::Remove { group, .. }
            | Record::Release { group, .. }
            | Record::Policy { group, .. }
            | Record::DeadLetterBegin { group, .. }
            | Record::DeadLetterEnd { group, .. }
            | Record::DeadLetterAbort { group, .. } => group,
        }
    }

    /// Appends the record's body to `out`.
    // Format: the record kinds in this module's doc (FORMAT.md, "Group journal").
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut w = Encoder(out);
        match self {
            Record::Create {
                group,
                last_id,
                entries_read,
                policy,
            } => {
                w.u8(1).bytes(group).id(*last_id).opt(*entries_read);
                w.policy(policy);
            }
            Record::SetId {
                group,
                last_id,
                entries_read,
            } => {
                w.u8(2).bytes(group).id(*last_id).opt(*entries_read);
            }
            Record::Destroy { group } => {
                w.u8(3).bytes(group);
            }
            Record::Consumer {
                group,
                consumer,
                seen_time,
                active_time,
            } => {
                w.u8(4)
                    .bytes(group)
                    .bytes(consumer)
                    .u64(*seen_time)
                    .opt(*active_time);
            }
            Record::DeleteConsumer { group, consumer } => {
                w.u8(5).bytes(group).bytes(consumer);
            }
            Record::Deliver {
                group,
                consumer,
                entries,
            } => {
                w.u8(6).bytes(group).bytes(consumer).deliveries(entries);
            }
            Record::Remove { group, ids } => {
                w.u8(7).bytes(group).ids(ids);
            }
            Record::Release { group, entries } => {
                w.u8(8).bytes(group).releases(entries);
            }
            Record::Policy { group, policy } => {
                w.u8(9).bytes(group).policy(policy);
            }
            Record::DeadLetterBegin {
                group,
                target,
                target_after,
                ids,
            } => {
                w.u8(10)
                    .bytes(group)
                    .bytes(target)
                    .id(*target_after)
                    .ids(ids);
            }
            Record::DeadLetterEnd { group, ids } => {
                w.u8(11).bytes(group).ids(ids);
            }
            Record::DeadLetterAbort { group, ids } => {
                w.u8(12).bytes(group).ids(ids);
            }
        }
    }

    /// Decodes a record's body.
    pub fn decode(body: &[u8]) -> Result<Record, Malformed> {
        let mut r = Decoder(body);
        let kind = r.u8()?;
        let group = r.bytes()?;
        let record = match kind {
            1 => Record::Create {
                group,
                last_id: r.id()?,
                entries_read: r.opt()?,
                policy: r.policy()?,
            },
            2 => Record::SetId {
                group,
                last_id: r.id()?,
                entries_read: r.opt()?,
            },
            3 => Record::Destroy { group },
            4 => Record::Consumer {
                group,
                consumer: r.bytes()?,
                seen_time: r.u64()?,
                active_time: r.opt()?,
            },
            5 => Record::DeleteConsumer {
                group,
                consumer: r.bytes()?,
            },
            6 => {
                let consumer = r.bytes()?;
                let count = r.count(32)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push((r.id()?, r.u64()?, r.u64()?));
                }
                Record::Deliver {
                    group,
                    consumer,
                    entries,
                }
            }
            7 => Record::Remove {
                group,
                ids: r.ids()?,
            },
            8 => {
                let count = r.count(24)?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    entries.push((r.id()?, r.u64()?));
                }
                Record::Release { group, entries }
            }
            9 => Record::Policy {
                group,
                policy: r.policy()?,
            },
            10 => Record::DeadLetterBegin {
                group,
                target: r.bytes()?,
                target_after: r.id()?,
                ids: r.ids()?,
            },
            11 => Record::DeadLetterEnd {
                group,
                ids: r.ids()?,
            },
            12 => Record::DeadLetterAbort {
                group,
                ids: r.ids()?,
            },
            _ => return Err(Malformed("unknown record kind")),
        };
        if !r.0.is_empty() {
            return Err(Malformed("bytes after the record"));
        }
        Ok(record)
    }
}

struct Encoder<'a>(&'a mut Vec<u8>);

impl Encoder<'_> {
    fn u8(&mut self, value: u8) -> &mut Self {
        self.0.push(value);
        self
    }
    fn u32(&mut self, value: u32) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_le_bytes());
        self
    }
    fn id(&mut self, id: StreamId) -> &mut Self {
        self.u64(id.ms).u64(id.seq)
    }
    fn bytes(&mut self, bytes: &[u8]) -> &mut Self {
        self.u32(bytes.len() as u32);
        self.0.extend_from_slice(bytes);
        self
    }
    fn opt(&mut self, value: Option<u64>) -> &mut Self {
        match value {
            Some(value) => self.u8(1).u64(value),
            None => self.u8(0),
        }
    }
    fn ids(&mut self, ids: &[StreamId]) -> &mut Self {
        self.u32(ids.len() as u32);
        for id in ids {
            self.id(*id);
        }
        self
    }
    fn deliveries(&mut self, entries: &[(StreamId, u64, u64)]) -> &mut Self {
        self.u32(entries.len() as u32);
        for (id, time, count) in entries {
            self.id(*id).u64(*time).u64(*count);
        }
        self
    }
    fn releases(&mut self, entries: &[(StreamId, u64)]) -> &mut Self {
        self.u32(entries.len() as u32);
        for (id, at) in entries {
            self.id(*id).u64(*at);
        }
        self
    }
    fn policy(&mut self, policy: &GroupPolicy) -> &mut Self {
        self.u64(policy.max_deliveries).u64(policy.lease_ms);
        match &policy.dead_letter_stream {
            Some(name) => self.u8(1).bytes(name),
            None => self.u8(0),
        }
    }
}

struct Decoder<'a>(&'a [u8]);

impl Decoder<'_> {
    fn take(&mut self, len: usize) -> Result<&[u8], Malformed> {
        if self.0.len() < len {
            return Err(Malformed("record cut short"));
        }
        let (head, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, Malformed> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }
    fn u64(&mut self) -> Result<u64, Malformed> {
        let bytes = self.take(8)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(array))
    }
    fn id(&mut self) -> Result<StreamId, Malformed> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }
    fn bytes(&mut self) -> Result<Vec<u8>, Malformed> {
        let len = self.u32()? as usize;
        Ok(self.take(len)?.to_vec())
    }
    fn opt(&mut self) -> Result<Option<u64>, Malformed> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.u64()?)),
            _ => Err(Malformed("bad option flag")),
        }
    }
    /// A count of items of `item_bytes` each, refused if the body cannot hold them (so a
    /// damaged count cannot make decoding allocate without bound).
    fn count(&mut self, item_bytes: usize) -> Result<usize, Malformed> {
        let count = self.u32()? as usize;
        if count.saturating_mul(item_bytes) > self.0.len() {
            return Err(Malformed("count beyond the record"));
        }
        Ok(count)
    }
    fn ids(&mut self) -> Result<Vec<StreamId>, Malformed> {
        let count = self.count(16)?;
        (0..count).map(|_| self.id()).collect()
    }
    fn policy(&mut self) -> Result<GroupPolicy, Malformed> {
        let max_deliveries = self.u64()?;
        let lease_ms = self.u64()?;
        let dead_letter_stream = match self.u8()? {
            0 => None,
            1 => Some(self.bytes()?),
            _ => return Err(Malformed("bad option flag")),
        };
        Ok(GroupPolicy {
            max_deliveries,
            dead_letter_stream,
            lease_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changes_that_can_end_a_wait_announce_themselves() {
        let group = b"g".to_vec();
        let set_id = Record::SetId {
            group: group.clone(),
            last_id: StreamId::new(1, 0),
            entries_read: None,
        };
        let deliver = Record::Deliver {
            group: group.clone(),
            consumer: b"c".to_vec(),
            entries: vec![(StreamId::new(1, 0), 5, 1)],
        };
        let remove = Record::Remove {
            group: group.clone(),
            ids: vec![StreamId::new(1, 0)],
        };
        let release = Record::Release {
            group,
            entries: vec![(StreamId::new(1, 0), 9)],
        };
        assert!(
            Record::can_end_a_wait(std::slice::from_ref(&set_id)),
            "XGROUP SETID"
        );
        assert!(
            !Record::can_end_a_wait(&[deliver, set_id]),
            "a read of new entries"
        );
        assert!(
            !Record::can_end_a_wait(std::slice::from_ref(&remove)),
            "XACK"
        );
        assert!(Record::can_end_a_wait(&[remove, release]), "XNACK");
    }

    fn samples() -> Vec<Record> {
        let group = b"g".to_vec();
        let id = StreamId::new(5, 1);
        vec![
            Record::Create {
                group: group.clone(),
                last_id: id,
                entries_read: Some(3),
                policy: GroupPolicy {
                    max_deliveries: 4,
                    dead_letter_stream: Some(b"dlq".to_vec()),
                    lease_ms: 30_000,
                },
            },
            Record::SetId {
                group: group.clone(),
                last_id: id,
                entries_read: None,
            },
            Record::Destroy {
                group: group.clone(),
            },
            Record::Consumer {
                group: group.clone(),
                consumer: b"c\0x".to_vec(),
                seen_time: 7,
                active_time: None,
            },
            Record::DeleteConsumer {
                group: group.clone(),
                consumer: b"c".to_vec(),
            },
            Record::Deliver {
                group: group.clone(),
                consumer: b"c".to_vec(),
                entries: vec![(id, 9, 2), (StreamId::MAX, u64::MAX, 1)],
            },
            Record::Remove {
                group: group.clone(),
                ids: vec![id],
            },
            Record::Release {
                group: group.clone(),
                entries: vec![(id, 99)],
            },
            Record::Policy {
                group: group.clone(),
                policy: GroupPolicy::default(),
            },
            Record::DeadLetterBegin {
                group: group.clone(),
                target: b"t".to_vec(),
                target_after: id,
                ids: vec![id],
            },
            Record::DeadLetterEnd {
                group: group.clone(),
                ids: vec![],
            },
            Record::DeadLetterAbort {
                group,
                ids: vec![id, id],
            },
        ]
    }

    #[test]
    fn every_kind_round_trips_and_every_cut_is_refused() {
        for record in samples() {
            let mut body = Vec::new();
            record.encode(&mut body);
            assert_eq!(Record::decode(&body), Ok(record.clone()));
            for cut in 0..body.len() {
                assert!(
                    Record::decode(&body[..cut]).is_err(),
                    "{record:?} cut at {cut}"
                );
            }
            body.push(0);
            assert!(
                Record::decode(&body).is_err(),
                "{record:?} with a byte more"
            );
        }
    }

    #[test]
    fn batches_round_trip_whole() {
        let records = samples();
        let mut bytes = Vec::new();
        encode_batch(&records, &mut bytes);
        assert_eq!(decode_batch(&bytes), Ok(records));
        assert!(decode_batch(&bytes[..bytes.len() - 1]).is_err());
        let mut empty = Vec::new();
        encode_batch(&[], &mut empty);
        assert_eq!(decode_batch(&empty), Ok(Vec::new()));
    }

    #[test]
    fn a_damaged_count_cannot_ask_for_memory() {
        let mut body = Vec::new();
        Record::Remove {
            group: b"g".to_vec(),
            ids: vec![],
        }
        .encode(&mut body);
        let at = body.len() - 4;
        body[at..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Record::decode(&body),
            Err(Malformed("count beyond the record"))
        );
    }
}
