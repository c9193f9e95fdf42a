//! What a transaction removes: XDEL and XTRIM (and XADD's trimming), through tombstones and
//! whole-segment removal. The log is never rewritten: a deletion or an exact trim appends a
//! tombstone slot to the segment's `.del` file (see [`crate::storage::tombstone`]), and a
//! segment whose entries are all gone is removed whole.
//!
//! Order matters for crash safety: what a tombstone names is durable before the tombstone can
//! be, and removing files (which a power cut cannot undo) waits until everything it could
//! depend on is durable.

use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::id::{IdRange, StreamId};
use crate::model::{ReadLimit, TrimSpec, TrimStrategy};
use crate::storage::fs::OpenMode;
use crate::storage::log::txn::Txn;
use crate::storage::log::view::{Extent, Segment};
use crate::storage::segment::FileKind;
use crate::storage::sync::{add_dirty, Dirty};
use crate::storage::tombstone::{DeadSet, Tombstone, TombstoneKind};

impl Txn<'_> {
    /// Replaces segment `id`'s dead set with `dead` in a new version of the segment list; views
    /// taken before keep seeing the old one.
    fn replace_dead(&mut self, id: u64, dead: DeadSet) {
        let dead = Arc::new(dead);
        let segments: Vec<Arc<Segment>> = self
            .writer
            .segments
            .iter()
            .map(|segment| {
                if segment.id == id {
                    Arc::new(Segment {
                        id: segment.id,
                        header: segment.header,
                        dead: Arc::clone(&dead),
                        body: segment.body.clone(),
                    })
                } else {
                    Arc::clone(segment)
                }
            })
            .collect();
        self.writer.segments = Arc::new(segments);
    }

    /// Rewrites a segment's tombstone file with the same meaning in the fewest slots. Repeated
    /// head trims (XADD … MAXLEN = n) append a slot each; this keeps the file proportional to
    /// what it describes. What it describes is made durable first, so the rewritten slots
    /// depend on nothing.
    fn compact_tombstones(&mut self, id: u64, dead: &mut DeadSet) -> Result<()> {
        self.make_durable()?;
        self.touched = true;
        let path = self.log.path(id, FileKind::Deletions);
        let compacted = dead.compacted(self.writer.active.id, self.writer.counters.max_deleted);
        let bytes: Vec<u8> = compacted.iter().flat_map(Tombstone::encode).collect();
        let mut temporary = path.clone().into_os_string();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let rewritten = self.log.ctx.fs.open(&temporary, OpenMode::Create)?;
        rewritten.set_len(0)?;
        rewritten.write_all_at(&bytes, 0)?;
        // The rename must not become durable before the new content.
        self.log.ctx.sync_file(rewritten.as_ref())?;
        self.log.ctx.fs.rename(&temporary, &path)?;
        self.log.ctx.sync_dir(&self.log.dir)?;
        dead.set_slots(compacted.len() as u32);
        Ok(())
    }

    /// Appends tombstones to segment `id`'s tombstone file, and marks the records gone in a new
    /// version of the segment (visible to readers once this transaction is committed).
    fn write_tombstones(&mut self, id: u64, slots: &[Tombstone]) -> Result<()> {
        if slots.is_empty() {
            return Ok(());
        }
        let Some(segment) = self.segment(id) else {
            return Err(Error::corrupt(&self.log.dir, format!("no segment {id}")));
        };
        let mut dead = (*segment.dead).clone();
        if dead.wants_compaction() {
            self.compact_tombstones(id, &mut dead)?;
        }
        self.touched = true;
        let path = self.log.path(id, FileKind::Deletions);
        let file = self.log.ctx.fs.open(&path, OpenMode::Create)?;
        let end = file.len()?;
        let bytes: Vec<u8> = slots.iter().flat_map(|slot| slot.encode()).collect();
        file.write_all_at(&bytes, end)?;
        if end == 0 {
            add_dirty(&mut self.dirty, Dirty::Dir(self.log.dir.clone()));
        }
        dead.apply(slots);
        dead.add_slots(slots.len() as u32);
        self.replace_dead(id, dead);
        // Replace any earlier entry for this file: a compaction may have replaced the file.
        self.dirty.retain(|item| {
            !matches!(item, Dirty::File { segment, kind: FileKind::Deletions, .. } if *segment == id)
        });
        self.mark_dirty(id, FileKind::Deletions, file);
        self.changed = true;
        Ok(())
    }

    /// XDEL: deletes the entries with these IDs; returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> Result<u64> {
        let view = self.view();
        let epoch = self.writer.active.id;
        let requires = self.writer.active.extent.count;
        let mut max_deleted = self.writer.counters.max_deleted;
        // Per segment (by position in the view), the tombstones to write.
        let mut planned: Vec<(usize, Vec<Tombstone>)> = Vec::new();
        let mut deleted = 0u64;
        for &id in ids {
            let Some((position, ordinal)) = self.log.find_live(&view, id, &planned)? else {
                continue;
            };
            max_deleted = max_deleted.max(id);
            let slot = Tombstone {
                kind: TombstoneKind::Delete,
                ordinal,
                epoch,
                max_deleted,
                requires,
            };
            match planned.iter_mut().find(|(at, _)| *at == position) {
                Some((_, slots)) => slots.push(slot),
                None => planned.push((position, vec![slot])),
            }
            deleted += 1;
        }
        for (position, slots) in planned {
            self.write_tombstones(view.segments[position].id, &slots)?;
        }
        self.writer.counters.length -= deleted;
        self.writer.counters.max_deleted = max_deleted;
        // Sealed segments with nothing left alive are reclaimed at once, as Redis frees a
        // node whose entries are all deleted.
        let current = self.view();
        let empty: Vec<Arc<Segment>> = current
            .segments
            .iter()
            .filter(|segment| !segment.is_active() && segment.live(&current.extent(segment)) == 0)
            .cloned()
            .collect();
        if deleted > 0 && !empty.is_empty() {
            self.remove_whole_segments(&empty)?;
        }
        Ok(deleted)
    }

    /// XTRIM (and XADD's trimming): removes old entries by `spec`; returns how many.
    ///
    /// An approximate trim (`~`) removes what Redis's would: whole nodes of its radix tree,
    /// imitated as runs of `node_entries` entries by insertion order (the oldest live entry
    /// is number `entries-added - length`, deletions in between not counted), while the
    /// stream keeps at least MAXLEN entries (or a node's entries are all below MINID) and at
    /// most LIMIT entries go (by default 100 nodes' worth, as in Redis). What that removes is
    /// then trimmed exactly: whole segments as they empty, tombstones for the rest.
    pub fn trim(&mut self, spec: &TrimSpec) -> Result<u64> {
        if spec.approx {
            let removable = self.approx_removable(spec)?;
            if removable == 0 {
                return Ok(0);
            }
            let length = self.writer.counters.length;
            return self.trim(&TrimSpec {
                strategy: TrimStrategy::MaxLen(length - removable),
                approx: false,
                limit: 0,
            });
        }
        let view = self.view();
        let mut length = self.writer.counters.length;
        let mut removed = 0u64;
        let mut whole = Vec::new();
        let mut partial_from = None;
        for (position, segment) in view.segments.iter().enumerate() {
            let extent = view.extent(segment);
            let live = u64::from(segment.live(&extent));
            let removable = !segment.is_active()
                && (live == 0
                    || match spec.strategy {
                        TrimStrategy::MaxLen(max) => length - live >= max,
                        TrimStrategy::MinId(min) => extent.last_id.is_none_or(|last| last < min),
                    });
            let done = match spec.strategy {
                TrimStrategy::MaxLen(max) => length <= max,
                TrimStrategy::MinId(_) => false,
            };
            if done {
                break;
            }
            if !removable {
                partial_from = Some(position);
                break;
            }
            removed += live;
            length -= live;
            whole.push(Arc::clone(segment));
        }

        if !whole.is_empty() {
            self.remove_whole_segments(&whole)?;
        }
        if let Some(start) = partial_from {
            for segment in view.segments[start..].iter() {
                let extent = view.extent(segment);
                let killed = self.trim_within(segment, &extent, spec.strategy, length)?;
                removed += killed;
                length -= killed;
                let exhausted = self
                    .segment(segment.id)
                    .is_some_and(|current| current.live(&extent) == 0);
                if !(exhausted && matches!(spec.strategy, TrimStrategy::MinId(_))) {
                    break;
                }
            }
        }
        self.writer.counters.length = length;
        Ok(removed)
    }

    /// Removes the `count` oldest segments whole, as a retention policy does: never the active
    /// one (the count stops short of it), never a rewrite. The same durable path as a trim's
    /// whole-segment part (see [`Txn::remove_whole_segments`]). Returns the live entries and
    /// the log bytes removed.
    pub fn remove_head_segments(&mut self, count: usize) -> Result<(u64, u64)> {
        let view = self.view();
        let doomed: Vec<Arc<Segment>> = view
            .segments
            .iter()
            .take(count)
            .take_while(|segment| !segment.is_active())
            .cloned()
            .collect();
        if doomed.is_empty() {
            return Ok((0, 0));
        }
        let (mut entries, mut bytes) = (0u64, 0u64);
        for segment in &doomed {
            let extent = view.extent(segment);
            entries += u64::from(segment.live(&extent));
            bytes += extent.len;
        }
        self.remove_whole_segments(&doomed)?;
        self.writer.counters.length -= entries;
        Ok((entries, bytes))
    }

    /// How many of the oldest entries an approximate trim removes (see [`Txn::trim`]).
    fn approx_removable(&self, spec: &TrimSpec) -> Result<u64> {
        let node = self
            .log
            .config()
            .node_entries
            .load(std::sync::atomic::Ordering::Relaxed);
        // 0: nodes without an entry limit (Redis then bounds them by bytes alone); nothing
        // is imitated, nothing removed.
        if node == 0 {
            return Ok(0);
        }
        let counters = &self.writer.counters;
        let length = counters.length;
        let limit = if spec.limit > 0 {
            spec.limit
        } else {
            node.saturating_mul(100)
        };
        let wanted = match spec.strategy {
            TrimStrategy::MaxLen(max) => length.saturating_sub(max),
            TrimStrategy::MinId(min) => match min.prev() {
                None => 0,
                Some(end) => {
                    let cap = usize::try_from(limit.min(length)).unwrap_or(usize::MAX);
                    let below = IdRange {
                        start: StreamId::MIN,
                        end,
                    };
                    self.log
                        .range(&self.view(), below, false, ReadLimit::count(cap))?
                        .len() as u64
                }
            },
        };
        let mut ordinal = counters.entries_added.saturating_sub(length);
        let mut removed = 0u64;
        while removed < length {
            let node_end = (ordinal / node + 1).saturating_mul(node);
            let run = (node_end - ordinal).min(length - removed);
            if removed + run > wanted || removed + run > limit {
                break;
            }
            removed += run;
            ordinal = node_end;
        }
        Ok(removed)
    }

    /// Exact trimming inside one segment; returns how many live entries it removed.
    fn trim_within(
        &mut self,
        segment: &Arc<Segment>,
        extent: &Extent,
        strategy: TrimStrategy,
        length: u64,
    ) -> Result<u64> {
        let (end, killed) = {
            let dead = &segment.dead;
            match strategy {
                TrimStrategy::MaxLen(max) => {
                    let mut excess = length.saturating_sub(max);
                    if excess == 0 {
                        return Ok(0);
                    }
                    let mut end = dead.prefix();
                    let mut killed = 0u64;
                    while end < extent.count && excess > 0 {
                        if !dead.is_dead(end) {
                            excess -= 1;
                            killed += 1;
                        }
                        end += 1;
                    }
                    (end, killed)
                }
                TrimStrategy::MinId(min) => {
                    let end = self.log.first_ordinal_at_or_after(segment, extent, min)?;
                    (end, u64::from(dead.live_below(end)))
                }
            }
        };
        if killed == 0 {
            return Ok(0);
        }
        let slot = Tombstone {
            kind: TombstoneKind::Trim,
            ordinal: end,
            epoch: self.writer.active.id,
            max_deleted: self.writer.counters.max_deleted,
            requires: self.writer.active.extent.count,
        };
        self.write_tombstones(segment.id, &[slot])?;
        Ok(killed)
    }

    /// Removes sealed segments. First a checkpoint of max-deleted-entry-id goes durably into the
    /// active segment's tombstone file (the removed files may have carried the newest value),
    /// then the files go, durably, before anything else in the transaction can become durable:
    /// a trim's exact part must never survive a crash that its whole-segment part did not, or
    /// the stream would have a hole instead of a shorter head.
    fn remove_whole_segments(&mut self, doomed: &[Arc<Segment>]) -> Result<()> {
        let active = self
            .writer
            .segments
            .last()
            .map(Arc::clone)
            .ok_or_else(|| Error::corrupt(&self.log.dir, "stream has no segments"))?;
        // Everything this operation could depend on becomes durable first: removing files
        // cannot be undone by a power cut the way a lost append can.
        self.make_durable()?;
        self.touched = true;
        let checkpoint = Tombstone {
            kind: TombstoneKind::Checkpoint,
            ordinal: 0,
            epoch: self.writer.active.id,
            max_deleted: self.writer.counters.max_deleted,
            requires: 0,
        };
        self.write_tombstones(active.id, &[checkpoint])?;
        let path = self.log.path(active.id, FileKind::Deletions);
        let checkpointed = self.log.ctx.fs.open(&path, OpenMode::ReadWrite)?;
        self.log.ctx.sync_file(checkpointed.as_ref())?;
        self.log.ctx.sync_dir(&self.log.dir)?;
        for segment in doomed {
            self.remove_segment_files(segment.id)?;
        }
        self.log.ctx.sync_dir(&self.log.dir)?;
        let remaining: Vec<Arc<Segment>> = self
            .writer
            .segments
            .iter()
            .filter(|segment| !doomed.iter().any(|gone| gone.id == segment.id))
            .cloned()
            .collect();
        self.writer.segments = Arc::new(remaining);
        self.changed = true;
        Ok(())
    }
}
