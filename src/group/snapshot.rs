//! The whole group state of a stream as records: a snapshot is the journal that would build
//! the state from nothing, so one replay function reads both.

use std::collections::BTreeMap;

use crate::group::pel::ConsumerId;
use crate::group::{Groups, Record};
use crate::id::StreamId;

/// Pending entries per `Deliver` record in a snapshot: keeps each record small (about 40
/// bytes an entry) however many entries a consumer holds.
const SNAPSHOT_ENTRIES_PER_RECORD: usize = 1024;

impl Groups {
    /// Records that rebuild the present state when applied to empty groups: per group, its
    /// creation, its consumers, their pending entries, releases, and moves in progress.
    pub fn snapshot(&self) -> Vec<Record> {
        let mut records = Vec::new();
        for (name, group) in &self.groups {
            records.push(Record::Create {
                group: name.clone(),
                last_id: group.last_delivered,
                entries_read: group.entries_read,
                policy: group.policy.clone(),
            });
            // One walk of the PEL, sorted out by owner (in ID order each).
            let mut by_owner: BTreeMap<ConsumerId, Vec<(StreamId, u64, u64)>> = BTreeMap::new();
            for (id, pending) in group.pel.range(StreamId::MIN, StreamId::MAX) {
                by_owner.entry(pending.owner).or_default().push((
                    id,
                    pending.delivery_time,
                    pending.delivery_count,
                ));
            }
            for (consumer_name, id) in &group.consumers.by_name {
                let Some(consumer) = group.consumers.get(*id) else {
                    continue;
                };
                records.push(Record::Consumer {
                    group: name.clone(),
                    consumer: consumer_name.clone(),
                    seen_time: consumer.seen_time,
                    active_time: consumer.active_time,
                });
                let owned = by_owner.remove(id).unwrap_or_default();
                for chunk in owned.chunks(SNAPSHOT_ENTRIES_PER_RECORD) {
                    let entries = chunk.to_vec();
                    records.push(Record::Deliver {
                        group: name.clone(),
                        consumer: consumer_name.clone(),
                        entries,
                    });
                }
            }
            let released: Vec<(StreamId, u64)> = group
                .pel
                .range(StreamId::MIN, StreamId::MAX)
                .filter_map(|(id, _)| group.pel.released_at(id).map(|at| (id, at)))
                .collect();
            for chunk in released.chunks(SNAPSHOT_ENTRIES_PER_RECORD) {
                records.push(Record::Release {
                    group: name.clone(),
                    entries: chunk.to_vec(),
                });
            }
        }
        for (group, target, target_after, ids) in self.open_moves() {
            records.push(Record::DeadLetterBegin {
                group,
                target,
                target_after,
                ids,
            });
        }
        records
    }
}
