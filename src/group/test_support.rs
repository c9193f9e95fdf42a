//! A stream in memory for the group rules' unit tests, and the checks they share.

use std::collections::BTreeMap;

use crate::group::{Groups, Record, Source, StreamFacts};
use crate::id::StreamId;
use crate::model::{Counters, Entry, Field};

/// A stream held in a map, with other streams' last IDs for dead-letter targets.
#[derive(Default)]
pub struct MemSource {
    pub entries: BTreeMap<StreamId, Vec<Field>>,
    pub last_id: StreamId,
    pub added: u64,
    pub max_deleted: StreamId,
}

impl MemSource {
    /// A stream holding entries `1-0` … `n-0`, one field each.
    pub fn with(n: u64) -> MemSource {
        let mut source = MemSource::default();
        for ms in 1..=n {
            source.add(ms);
        }
        source
    }

    pub fn add(&mut self, ms: u64) {
        let id = StreamId::new(ms, 0);
        self.entries
            .insert(id, vec![(b"n".to_vec(), ms.to_string().into_bytes())]);
        self.last_id = id;
        self.added += 1;
    }

    pub fn delete(&mut self, ms: u64) {
        let id = StreamId::new(ms, 0);
        if self.entries.remove(&id).is_some() {
            self.max_deleted = self.max_deleted.max(id);
        }
    }

    pub fn facts(&self) -> StreamFacts {
        StreamFacts {
            counters: Counters {
                length: self.entries.len() as u64,
                last_id: self.last_id,
                entries_added: self.added,
                max_deleted: self.max_deleted,
            },
            first_id: self.entries.keys().next().copied().unwrap_or_default(),
        }
    }
}

impl Source for MemSource {
    fn fields(&mut self, id: StreamId) -> crate::error::Result<Option<Vec<Field>>> {
        Ok(self.entries.get(&id).cloned())
    }

    fn after(&mut self, after: StreamId, count: usize) -> crate::error::Result<Vec<Entry>> {
        let take = if count == 0 { usize::MAX } else { count };
        Ok(self
            .entries
            .range((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .take(take)
            .map(|(id, fields)| Entry {
                id: *id,
                fields: fields.clone(),
            })
            .collect())
    }

    fn last_id_of(&mut self, _name: &[u8]) -> StreamId {
        StreamId::new(1000, 0)
    }
}

/// `ms-0`.
pub fn id(ms: u64) -> StreamId {
    StreamId::new(ms, 0)
}

/// Replays `journal` into fresh groups and checks they report what `groups` report: the
/// journal holds everything that happened.
pub fn assert_replays_to(groups: &Groups, journal: &[Record], facts: &StreamFacts) {
    let mut replayed = Groups::default();
    for record in journal {
        let mut body = Vec::new();
        record.encode(&mut body);
        let decoded = Record::decode(&body).expect("a record decodes");
        replayed.apply(&decoded);
    }
    let mut from_snapshot = Groups::default();
    for record in groups.snapshot() {
        from_snapshot.apply(&record);
    }
    for rebuilt in [&replayed, &from_snapshot] {
        assert_eq!(rebuilt.full(facts, 0), groups.full(facts, 0));
        assert_eq!(rebuilt.open_moves(), groups.open_moves());
        for ((_, expected), (_, actual)) in groups.iter().zip(rebuilt.iter()) {
            let due = |group: &crate::group::Group| group.pel().due(u64::MAX).collect::<Vec<_>>();
            assert_eq!(due(actual), due(expected));
        }
    }
}
