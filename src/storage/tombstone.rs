//! Tombstones: which records of a segment are gone (`<id:020>.del`), and the in-memory bitmap
//! built from them.
//!
//! A segment's log is never rewritten, so XDEL and exact trimming record their effect here
//! instead: a *delete* slot names one record by its ordinal, a *trim* slot says every record
//! before an ordinal is gone. Each slot also carries the stream's max-deleted-entry-id after the
//! operation and the *epoch* — the id of the stream's active segment when it was written. On
//! recovery, the newest epoch's largest value is the stream's max-deleted-entry-id (an XSETID
//! that lowers it always starts a new segment, hence a new epoch). Before whole segment files
//! are removed, a *checkpoint* slot carrying that value is written to the active segment's file,
//! so removing files never loses it.
//!
//! A slot also names what it depends on: `requires` is the number of records the epoch
//! segment had when the slot was written. A power cut may persist a tombstone page while losing
//! the log page written just before it (unsynced writes reach the disk in any order), so a
//! slot whose epoch segment came back with fewer records belongs to a write that never
//! completed — say, the trim of an XADD whose entry was lost — and recovery drops it.
//!
//! ```text
//! slot (40 bytes)
//! offset  size  field
//!  0      1     kind: 1 = delete, 2 = trim, 3 = checkpoint
//!  1      3     zero
//!  4      4     ordinal u32 LE   delete: the record's ordinal; trim: records before it are gone
//!  8      8     epoch u64 LE
//! 16     16     max-deleted-entry-id (ms, seq: u64 LE each)
//! 32      4     requires u32 LE: records the epoch segment must have (0 = nothing)
//! 36      4     CRC-32 of bytes 0..36
//! ```
//!
//! The bitmap costs one bit per record of a segment that has tombstones, and nothing for a
//! segment that has none.

use std::sync::Arc;

use crate::id::StreamId;
use crate::storage::bytes::{get_id, get_u32, get_u64, put_id};

/// Size of one tombstone slot.
pub const SLOT_BYTES: usize = 40;

/// What a tombstone slot says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TombstoneKind {
    /// One record is deleted.
    Delete,
    /// Every record before `ordinal` is trimmed.
    Trim,
    /// Only carries max-deleted-entry-id.
    Checkpoint,
}

/// One tombstone slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// What it says.
    pub kind: TombstoneKind,
    /// The record (delete) or the bound (trim); 0 for a checkpoint.
    pub ordinal: u32,
    /// The stream's active segment id when written.
    pub epoch: u64,
    /// The stream's max-deleted-entry-id after the operation.
    pub max_deleted: StreamId,
    /// Records the epoch segment must have for this slot to count (0: none).
    pub requires: u32,
}

impl Tombstone {
    /// The slot's bytes.
    pub fn encode(&self) -> [u8; SLOT_BYTES] {
        let mut out = [0u8; SLOT_BYTES];
        out[0] = match self.kind {
            TombstoneKind::Delete => 1,
            TombstoneKind::Trim => 2,
            TombstoneKind::Checkpoint => 3,
        };
        out[4..8].copy_from_slice(&self.ordinal.to_le_bytes());
        out[8..16].copy_from_slice(&self.epoch.to_le_bytes());
        put_id(&mut out[16..32], self.max_deleted);
        out[32..36].copy_from_slice(&self.requires.to_le_bytes());
        let crc = crc32fast::hash(&out[..36]);
        out[36..40].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a slot; `None` if damaged.
    pub fn decode(bytes: &[u8]) -> Option<Tombstone> {
        if bytes.len() < SLOT_BYTES {
            return None;
        }
        let crc = get_u32(bytes, 36);
        if crc32fast::hash(&bytes[..36]) != crc {
            return None;
        }
        let kind = match bytes[0] {
            1 => TombstoneKind::Delete,
            2 => TombstoneKind::Trim,
            3 => TombstoneKind::Checkpoint,
            _ => return None,
        };
        Some(Tombstone {
            kind,
            ordinal: get_u32(bytes, 4),
            epoch: get_u64(bytes, 8),
            max_deleted: get_id(bytes, 16),
            requires: get_u32(bytes, 32),
        })
    }
}

/// Bits per chunk of a [`DeadSet`]'s bitmap.
const CHUNK_BITS: u32 = 4096;
const CHUNK_WORDS: usize = (CHUNK_BITS / 64) as usize;

/// Which records of a segment are gone: a bitmap by ordinal, plus the length of the run of
/// gone records at the start, so trimming the head again and again costs only what it adds.
///
/// The bitmap is made of shared chunks of 4,096 bits, copied on write: a clone costs a
/// reference count per chunk, and a change copies only the chunk it touches. Each published
/// view of a stream holds its own clone, so a deletion becomes visible exactly when the write
/// that made it is committed.
#[derive(Clone, Debug, Default)]
pub struct DeadSet {
    chunks: Vec<Option<Arc<[u64; CHUNK_WORDS]>>>,
    dead: u32,
    /// Every ordinal below this is gone.
    prefix: u32,
    /// Slots in the segment's tombstone file.
    slots: u32,
}

impl DeadSet {
    fn is_set(&self, ordinal: u32) -> bool {
        let chunk = (ordinal / CHUNK_BITS) as usize;
        let bit = ordinal % CHUNK_BITS;
        match self.chunks.get(chunk) {
            Some(Some(words)) => words[(bit / 64) as usize] & (1 << (bit % 64)) != 0,
            _ => false,
        }
    }

    /// Whether the record at `ordinal` is gone.
    pub fn is_dead(&self, ordinal: u32) -> bool {
        ordinal < self.prefix || self.is_set(ordinal)
    }

    /// Marks one record gone; returns whether it was live.
    pub fn kill(&mut self, ordinal: u32) -> bool {
        if self.is_set(ordinal) {
            return false;
        }
        let chunk = (ordinal / CHUNK_BITS) as usize;
        let bit = ordinal % CHUNK_BITS;
        if self.chunks.len() <= chunk {
            self.chunks.resize(chunk + 1, None);
        }
        let words =
            Arc::make_mut(self.chunks[chunk].get_or_insert_with(|| Arc::new([0; CHUNK_WORDS])));
        words[(bit / 64) as usize] |= 1 << (bit % 64);
        self.dead += 1;
        while self.is_set(self.prefix) {
            self.prefix += 1;
        }
        true
    }

    /// Marks every record before `end` gone; returns how many were live.
    pub fn kill_prefix(&mut self, end: u32) -> u32 {
        let mut killed = 0;
        for ordinal in self.prefix..end {
            if self.kill(ordinal) {
                killed += 1;
            }
        }
        killed
    }

    /// How many records are gone.
    pub fn dead(&self) -> u32 {
        self.dead
    }

    /// The length of the run of gone records at the start.
    pub fn prefix(&self) -> u32 {
        self.prefix
    }

    /// Live records with ordinals below `end`.
    pub fn live_below(&self, end: u32) -> u32 {
        let mut dead = 0u32;
        for (index, chunk) in self.chunks.iter().enumerate() {
            let base = index as u32 * CHUNK_BITS;
            if base >= end {
                break;
            }
            let Some(words) = chunk else { continue };
            for (word_index, word) in words.iter().enumerate() {
                let word_base = base + word_index as u32 * 64;
                if word_base >= end {
                    break;
                }
                let bits = if end - word_base >= 64 {
                    *word
                } else {
                    word & ((1u64 << (end - word_base)) - 1)
                };
                dead += bits.count_ones();
            }
        }
        end - dead
    }

    /// Slots in the tombstone file behind this set.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Counts slots appended to the file.
    pub fn add_slots(&mut self, count: u32) {
        self.slots += count;
    }

    /// Sets the slot count (after the file was rewritten).
    pub fn set_slots(&mut self, count: u32) {
        self.slots = count;
    }

    /// Whether the file has grown well past what it describes and should be rewritten.
    pub fn wants_compaction(&self) -> bool {
        let needed = self.dead - self.prefix + 2;
        self.slots > 64 && self.slots > needed.saturating_mul(2)
    }

    /// The fewest slots that say the same: a trim for the dead prefix, a delete for each other
    /// gone record, and a checkpoint carrying the stream's current (epoch, max-deleted-entry-id).
    /// They depend on nothing: the caller makes everything they describe durable first.
    pub fn compacted(&self, epoch: u64, max_deleted: StreamId) -> Vec<Tombstone> {
        let slot = |kind, ordinal| Tombstone {
            kind,
            ordinal,
            epoch,
            max_deleted,
            requires: 0,
        };
        let mut slots = vec![slot(TombstoneKind::Trim, self.prefix)];
        let end = self.chunks.len() as u32 * CHUNK_BITS;
        slots.extend(
            (self.prefix..end)
                .filter(|&ordinal| self.is_set(ordinal))
                .map(|ordinal| slot(TombstoneKind::Delete, ordinal)),
        );
        slots.push(slot(TombstoneKind::Checkpoint, 0));
        slots
    }

    /// Applies tombstone slots.
    pub fn apply(&mut self, slots: &[Tombstone]) {
        for slot in slots {
            match slot.kind {
                TombstoneKind::Delete => {
                    self.kill(slot.ordinal);
                }
                TombstoneKind::Trim => {
                    self.kill_prefix(slot.ordinal);
                }
                TombstoneKind::Checkpoint => {}
            }
        }
    }
}

/// A tombstone file read back.
#[derive(Debug, Default)]
pub struct LoadedTombstones {
    /// The records gone, among the first `count` of the segment.
    pub dead: DeadSet,
    /// The newest (epoch, max-deleted-entry-id) in the file.
    pub newest: Option<(u64, StreamId)>,
    /// Bytes of whole, valid slots from the start; the rest is a torn tail.
    pub valid_len: usize,
    /// Slots that name records the segment does not have, or depend on records their epoch
    /// segment does not have (written by a write whose log part was lost in a crash); the
    /// file should be rewritten without them.
    pub dangling: usize,
    /// The valid slots, for a rewrite.
    pub slots: Vec<Tombstone>,
}

/// Reads a tombstone file for a segment of `count` committed records; `records_of` gives the
/// committed records of a segment by id (`None` if it no longer exists).
pub fn load(bytes: &[u8], count: u32, records_of: &dyn Fn(u64) -> Option<u32>) -> LoadedTombstones {
    let mut loaded = LoadedTombstones::default();
    for slot in bytes.chunks_exact(SLOT_BYTES) {
        let Some(tombstone) = Tombstone::decode(slot) else {
            break;
        };
        loaded.valid_len += SLOT_BYTES;
        let names_a_record = match tombstone.kind {
            TombstoneKind::Delete => tombstone.ordinal < count,
            TombstoneKind::Trim => tombstone.ordinal <= count,
            TombstoneKind::Checkpoint => true,
        };
        let dependency_met = tombstone.requires == 0
            || records_of(tombstone.epoch).is_none_or(|records| records >= tombstone.requires);
        let fits = names_a_record && dependency_met;
        if !fits {
            loaded.dangling += 1;
            continue;
        }
        loaded.dead.apply(std::slice::from_ref(&tombstone));
        loaded.dead.add_slots(1);
        let mark = (tombstone.epoch, tombstone.max_deleted);
        if loaded.newest.is_none_or(|newest| mark > newest) {
            loaded.newest = Some(mark);
        }
        loaded.slots.push(tombstone);
    }
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_set_counts_and_searches() {
        let mut set = DeadSet::default();
        assert!(set.kill(3));
        assert!(!set.kill(3));
        assert_eq!(set.kill_prefix(5), 4);
        assert_eq!(set.dead(), 5);
        assert!(set.kill(64));
        assert!(set.is_dead(64) && !set.is_dead(65) && !set.is_dead(5));
        assert_eq!(set.prefix(), 5);
        assert_eq!(set.live_below(70), 70 - 6);
        assert!(set.kill(5));
        assert_eq!(set.prefix(), 6);
    }

    #[test]
    fn clones_share_chunks_and_diverge_on_write() {
        let mut before = DeadSet::default();
        before.kill(10);
        before.kill(9000);
        let mut after = before.clone();
        assert!(after.kill(11));
        assert!(after.kill(9001));
        assert!(before.is_dead(10) && !before.is_dead(11) && !before.is_dead(9001));
        assert!(after.is_dead(10) && after.is_dead(11) && after.is_dead(9001));
        assert_eq!((before.dead(), after.dead()), (2, 4));
        assert_eq!(after.live_below(9002), 9002 - 4);
    }

    #[test]
    fn compaction_says_the_same_in_fewer_slots() {
        let mut set = DeadSet::default();
        for ordinal in 0..500 {
            set.kill_prefix(ordinal + 1);
            set.add_slots(1);
        }
        set.kill(700);
        set.add_slots(1);
        assert!(set.wants_compaction());
        let slots = set.compacted(9, StreamId::new(3, 4));
        assert_eq!(slots.len(), 3);
        let bytes: Vec<u8> = slots.iter().flat_map(Tombstone::encode).collect();
        let loaded = load(&bytes, 800, &|_| None);
        assert_eq!(loaded.dead.dead(), set.dead());
        assert_eq!(loaded.dead.prefix(), 500);
        assert!(loaded.dead.is_dead(700) && !loaded.dead.is_dead(699));
        assert_eq!(loaded.newest, Some((9, StreamId::new(3, 4))));
        assert!(!loaded.dead.wants_compaction());
    }

    #[test]
    fn load_skips_dangling_and_stops_at_damage() {
        let slot = |kind, ordinal, epoch, ms| Tombstone {
            kind,
            ordinal,
            epoch,
            max_deleted: StreamId::new(ms, 0),
            requires: 0,
        };
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&slot(TombstoneKind::Delete, 1, 4, 10).encode());
        bytes.extend_from_slice(&slot(TombstoneKind::Delete, 99, 4, 11).encode());
        bytes.extend_from_slice(&slot(TombstoneKind::Trim, 1, 5, 3).encode());
        // Depends on segment 5 having 8 records; it came back with 7.
        let mut unmet = slot(TombstoneKind::Delete, 2, 5, 12);
        unmet.requires = 8;
        bytes.extend_from_slice(&unmet.encode());
        bytes.extend_from_slice(&[7u8; 17]);
        let records_of = |epoch: u64| (epoch == 5).then_some(7);
        let loaded = load(&bytes, 10, &records_of);
        assert_eq!(loaded.dead.dead(), 2);
        assert_eq!(loaded.dangling, 2);
        assert_eq!(loaded.valid_len, 4 * SLOT_BYTES);
        assert_eq!(loaded.newest, Some((5, StreamId::new(3, 0))));
    }
}
