//! Dead-letter routing: moving entries over a group's delivery limit (or rejected) to the
//! group's dead-letter stream, each carrying where it came from.
//!
//! A move is three durable steps: the origin group records the intent (the entries stop being
//! deliverable), the dead letters are appended to the target stream, the origin group records
//! the end (the entries leave the PEL). A crash between the steps leaves an open intent, which
//! [`Engine::finish_open_moves`] settles when the engine opens: it looks for the dead letters in
//! the target after the ID the intent noted, ends the move for those found and abandons it for
//! the rest (they stay pending, unchanged). So after any crash an entry of a move is either
//! still pending or dead-lettered and not pending — never both, never neither. (A `>` read after
//! XGROUP SETID moved the group back may deliver an entry whose move is under way again: that
//! new delivery stands, and the entry stays pending.)

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::config::SEGMENT_HEADER_BYTES;
use crate::engine::Engine;
use crate::error::Result;
use crate::group::{DeadLetter, Delivered};
use crate::id::{IdRange, StreamId};
use crate::model::{Field, GroupRead, NewEntry, ReadLimit};
use crate::storage::record;
use crate::stream::Stream;

/// The fields a dead letter carries after its entry's own, in this order: where it came
/// from, who had it last, how often it was delivered.
pub const DEAD_LETTER_FIELDS: [&str; 5] = [
    "origin-stream",
    "origin-id",
    "origin-group",
    "last-consumer",
    "delivery-count",
];

/// The field a dead letter carries instead of its entry's own when those would not fit.
pub const FIELDS_DROPPED: &[u8] = b"fields-dropped";

/// Entries of a dead-letter stream read at a time when recovery looks for a move's letters.
const DEAD_LETTER_SCAN_PAGE: usize = 1024;

impl Engine {
    /// A claim's outcome with its dead letters moved.
    pub(super) fn settle(
        &self,
        stream: &Arc<Stream>,
        group: &[u8],
        delivered: Delivered,
    ) -> Result<GroupRead> {
        let dead_lettered = self.move_dead_letters(stream, group, &delivered.dead_letters)?;
        Ok(GroupRead {
            deliveries: delivered.deliveries,
            dead_lettered,
        })
    }

    /// Completes the moves of `letters` (marked in `stream`'s `group`): appends them to their
    /// dead-letter streams, in batches that fit a segment, each batch then ending its part of
    /// the move. A failed append abandons what is left of the move (those entries stay
    /// pending) and fails the call. Returns the IDs moved.
    pub(super) fn move_dead_letters(
        &self,
        stream: &Arc<Stream>,
        group: &[u8],
        letters: &[DeadLetter],
    ) -> Result<Vec<StreamId>> {
        let mut moved = Vec::with_capacity(letters.len());
        let targets: BTreeSet<&[u8]> = letters
            .iter()
            .map(|letter| letter.target.as_slice())
            .collect();
        for target in targets {
            let entries: Vec<(StreamId, NewEntry)> = letters
                .iter()
                .filter(|letter| letter.target == target)
                .map(|letter| {
                    (
                        letter.id,
                        self.fit(dead_letter_entry(stream.name(), group, letter)),
                    )
                })
                .collect();
            for batch in self.batches(&entries) {
                let ids: Vec<StreamId> = batch.iter().map(|(id, _)| *id).collect();
                let batch: Vec<NewEntry> = batch.iter().map(|(_, entry)| entry.clone()).collect();
                if let Err(error) = self.add(target, &batch, false, None) {
                    let left: Vec<StreamId> = letters
                        .iter()
                        .map(|letter| letter.id)
                        .filter(|id| !moved.contains(id))
                        .collect();
                    stream.end_dead_letters(group, left, false)?;
                    return Err(error);
                }
                stream.end_dead_letters(group, ids.clone(), true)?;
                metrics::counter!(
                    "sluice_dead_lettered_total",
                    "stream" => String::from_utf8_lossy(stream.name()).into_owned(),
                    "group" => String::from_utf8_lossy(group).into_owned()
                )
                .increment(ids.len() as u64);
                moved.extend(ids);
            }
        }
        Ok(moved)
    }

    /// A dead letter within `entry_bytes_max`: one that its origin fields would take past it
    /// keeps only where it came from, and says so, rather than never leaving the PEL.
    fn fit(&self, mut entry: NewEntry) -> NewEntry {
        if record::encoded_len(&entry.fields) <= self.config().entry_bytes_max as usize {
            return entry;
        }
        let origin = entry
            .fields
            .split_off(entry.fields.len() - DEAD_LETTER_FIELDS.len());
        entry.fields = origin;
        entry.fields.push((
            FIELDS_DROPPED.to_vec(),
            b"the entry's own fields do not fit in entry_bytes_max with these".to_vec(),
        ));
        entry
    }

    /// `entries` in consecutive batches that each fit one segment.
    fn batches<'a>(&self, entries: &'a [(StreamId, NewEntry)]) -> Vec<&'a [(StreamId, NewEntry)]> {
        let room = self.config().segment_bytes_max - SEGMENT_HEADER_BYTES as u64;
        let mut batches = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (at, (_, entry)) in entries.iter().enumerate() {
            let size = record::encoded_len(&entry.fields) as u64;
            if at > start && bytes + size > room {
                batches.push(&entries[start..at]);
                (start, bytes) = (at, 0);
            }
            bytes += size;
        }
        if start < entries.len() {
            batches.push(&entries[start..]);
        }
        batches
    }

    /// Settles the dead-letter moves a crash left open (see the module's doc): called once,
    /// when the engine opens, after every stream is.
    pub(super) fn finish_open_moves(&self) -> Result<()> {
        for name in self.list(None) {
            let Some(stream) = self.stream(&name)? else {
                continue;
            };
            for (group, target, after, ids) in stream.open_dead_letter_moves() {
                let found = self.find_dead_letters(&target, after, stream.name(), &group)?;
                let (done, open): (Vec<StreamId>, Vec<StreamId>) =
                    ids.into_iter().partition(|id| found.contains(id));
                tracing::warn!(
                    stream = %String::from_utf8_lossy(stream.name()),
                    group = %String::from_utf8_lossy(&group),
                    done = done.len(),
                    abandoned = open.len(),
                    "recovery: dead-letter moves cut short by a crash settled"
                );
                if !done.is_empty() {
                    stream.end_dead_letters(&group, done, true)?;
                }
                if !open.is_empty() {
                    stream.end_dead_letters(&group, open, false)?;
                }
            }
        }
        Ok(())
    }

    /// The origin IDs of the dead letters of `origin`'s `group` in `target` after `after`.
    fn find_dead_letters(
        &self,
        target: &[u8],
        after: StreamId,
        origin: &[u8],
        group: &[u8],
    ) -> Result<BTreeSet<StreamId>> {
        let mut found = BTreeSet::new();
        let Some(start) = after.next() else {
            return Ok(found);
        };
        let range = IdRange {
            start,
            end: StreamId::MAX,
        };
        let mut range = range;
        loop {
            let page = self
                .range(
                    target,
                    range,
                    false,
                    ReadLimit::count(DEAD_LETTER_SCAN_PAGE),
                )?
                .unwrap_or_default();
            for entry in &page {
                if let Some(id) = dead_letter_origin(&entry.fields, origin, group) {
                    found.insert(id);
                }
            }
            match page.last().and_then(|last| last.id.next()) {
                Some(next) if page.len() == DEAD_LETTER_SCAN_PAGE => range.start = next,
                _ => return Ok(found),
            }
        }
    }
}

/// The dead letter of `letter`: its fields, then where it came from.
fn dead_letter_entry(origin: &[u8], group: &[u8], letter: &DeadLetter) -> NewEntry {
    let mut fields: Vec<Field> = letter.fields.clone().unwrap_or_default();
    let values = [
        origin.to_vec(),
        letter.id.to_string().into_bytes(),
        group.to_vec(),
        letter.consumer.clone(),
        letter.delivery_count.to_string().into_bytes(),
    ];
    for (name, value) in DEAD_LETTER_FIELDS.iter().zip(values) {
        fields.push((name.as_bytes().to_vec(), value));
    }
    NewEntry {
        id: crate::id::AddId::Auto,
        fields,
    }
}

/// The origin ID of a dead letter from `origin`'s `group`, if `fields` are one's.
fn dead_letter_origin(fields: &[Field], origin: &[u8], group: &[u8]) -> Option<StreamId> {
    let tail = fields.get(fields.len().checked_sub(DEAD_LETTER_FIELDS.len())?..)?;
    let names_match = tail
        .iter()
        .zip(DEAD_LETTER_FIELDS)
        .all(|((name, _), expected)| name == expected.as_bytes());
    if !names_match || tail[0].1 != origin || tail[2].1 != group {
        return None;
    }
    StreamId::parse_strict(&tail[1].1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_letters_name_their_origin() {
        let letter = DeadLetter {
            id: StreamId::new(5, 1),
            fields: Some(vec![(b"job".to_vec(), b"42".to_vec())]),
            consumer: b"worker".to_vec(),
            delivery_count: 3,
            target: b"jobs:dead-letter".to_vec(),
        };
        let entry = dead_letter_entry(b"jobs", b"g", &letter);
        assert_eq!(entry.fields[0], (b"job".to_vec(), b"42".to_vec()));
        assert_eq!(entry.fields.len(), 6);
        assert_eq!(
            dead_letter_origin(&entry.fields, b"jobs", b"g"),
            Some(StreamId::new(5, 1))
        );
        assert_eq!(dead_letter_origin(&entry.fields, b"jobs", b"other"), None);
        assert_eq!(dead_letter_origin(&entry.fields[..5], b"jobs", b"g"), None);
    }
}
