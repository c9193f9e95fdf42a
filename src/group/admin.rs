//! XGROUP's subcommands (CREATE, SETID, DESTROY, CREATECONSUMER, DELCONSUMER) and the group
//! policy, with Redis 7.0.15's rules. The stream's existence is the caller's to check (Redis
//! checks it first); these check the groups.

use crate::error::{Error, Result};
use crate::group::{Groups, Record};
use crate::id::StreamId;
use crate::model::GroupPolicy;

impl Groups {
    /// Applies `records` in order and hands them back for the journal, where a delivery to
    /// the consumer the previous record delivered to joins that record (applying the two in
    /// turn and applying the joined one are the same): XCLAIM of many IDs writes one record,
    /// not one per ID.
    pub(super) fn commit(&mut self, records: Vec<Record>, journal: &mut Vec<Record>) {
        for record in records {
            self.apply(&record);
            match (journal.last_mut(), record) {
                (
                    Some(Record::Deliver {
                        group: last_group,
                        consumer: last_consumer,
                        entries: last_entries,
                    }),
                    Record::Deliver {
                        group,
                        consumer,
                        entries,
                    },
                ) if *last_group == group && *last_consumer == consumer => {
                    last_entries.extend(entries)
                }
                (_, record) => journal.push(record),
            }
        }
    }

    /// XGROUP CREATE: a group at `last_id`, with `entries_read` if known (ENTRIESREAD).
    pub fn create(
        &mut self,
        key: &[u8],
        group: &[u8],
        last_id: StreamId,
        entries_read: Option<u64>,
        policy: GroupPolicy,
        journal: &mut Vec<Record>,
    ) -> Result<()> {
        check_policy(key, &policy)?;
        if self.groups.contains_key(group) {
            return Err(Error::BusyGroup);
        }
        let record = Record::Create {
            group: group.to_vec(),
            last_id,
            entries_read,
            policy,
        };
        self.commit(vec![record], journal);
        Ok(())
    }

    /// XGROUP SETID: moves the group's last-delivered ID (either way) and sets entries-read
    /// (unknown without ENTRIESREAD); the pending entries stay.
    pub fn set_id(
        &mut self,
        key: &[u8],
        group: &[u8],
        last_id: StreamId,
        entries_read: Option<u64>,
        journal: &mut Vec<Record>,
    ) -> Result<()> {
        self.require(key, group)?;
        let record = Record::SetId {
            group: group.to_vec(),
            last_id,
            entries_read,
        };
        self.commit(vec![record], journal);
        Ok(())
    }

    /// XGROUP DESTROY: whether the group existed.
    pub fn destroy(&mut self, group: &[u8], journal: &mut Vec<Record>) -> bool {
        if !self.groups.contains_key(group) {
            return false;
        }
        let record = Record::Destroy {
            group: group.to_vec(),
        };
        self.commit(vec![record], journal);
        true
    }

    /// XGROUP CREATECONSUMER: whether the consumer was created.
    pub fn create_consumer(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        now: u64,
        journal: &mut Vec<Record>,
    ) -> Result<bool> {
        if self.require(key, group)?.consumers.find(consumer).is_some() {
            return Ok(false);
        }
        let record = Record::Consumer {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
            seen_time: now,
            active_time: None,
        };
        self.commit(vec![record], journal);
        Ok(true)
    }

    /// XGROUP DELCONSUMER: the consumer's pending entries go with it (they are not handed to
    /// anyone); returns how many it had.
    pub fn delete_consumer(
        &mut self,
        key: &[u8],
        group: &[u8],
        consumer: &[u8],
        journal: &mut Vec<Record>,
    ) -> Result<u64> {
        let found = self.require(key, group)?;
        let Some(id) = found.consumers.find(consumer) else {
            return Ok(0);
        };
        let pending = found.pel.owned_count(id) as u64;
        let record = Record::DeleteConsumer {
            group: group.to_vec(),
            consumer: consumer.to_vec(),
        };
        self.commit(vec![record], journal);
        Ok(pending)
    }

    /// Sets the group's policy (Sluice's): a lease or dead-letter limit applies from now on.
    pub fn set_policy(
        &mut self,
        key: &[u8],
        group: &[u8],
        policy: GroupPolicy,
        journal: &mut Vec<Record>,
    ) -> Result<()> {
        check_policy(key, &policy)?;
        self.require(key, group)?;
        let record = Record::Policy {
            group: group.to_vec(),
            policy,
        };
        self.commit(vec![record], journal);
        Ok(())
    }

    /// The group, or XGROUP's NOGROUP error.
    fn require(&self, key: &[u8], group: &[u8]) -> Result<&crate::group::Group> {
        self.groups.get(group).ok_or_else(|| Error::NoGroupForKey {
            key: key.to_vec(),
            group: group.to_vec(),
        })
    }
}

/// Refuses a policy that cannot work: dead letters sent back into the stream they came from.
fn check_policy(key: &[u8], policy: &GroupPolicy) -> Result<()> {
    if policy.dead_letter_stream_of(key) == key {
        return Err(Error::BadPolicy(
            "the dead-letter stream must not be the group's own stream",
        ));
    }
    Ok(())
}
