//! Redis stream semantics over one stream log: how XADD picks IDs, XSETID's rules, XINFO's
//! figures, (in `groups`) the consumer groups, (in `retention`) the retention policy and (in
//! `shared_read`) the one read that serves every follower at the same place. Each
//! operation is one transaction on the log, so it is atomic and, under the default fsync
//! policy, durable when it returns.

mod groups;
mod retention;
mod shared_read;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

pub use groups::LastIdOf;
pub use retention::{plan as plan_retention, Plan as RetentionPlan, Removed};
pub use shared_read::SharedEntries;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::group::Groups;
use crate::id::{AddId, IdRange, StreamId};
use crate::model::{Entry, EntrySink, Field, NewEntry, ReadLimit, Retention, StreamInfo, TrimSpec};
use crate::storage::log::{StreamLog, Ticket, Txn, View};

/// One stream: its name, its log, its consumer groups and its retention policy.
pub struct Stream {
    name: Vec<u8>,
    log: StreamLog,
    clock: Arc<dyn Clock>,
    groups: Mutex<Groups>,
    /// The retention policy (its file is the truth; this copy changes under the writer lock
    /// once the file is in place).
    retention: Mutex<Option<Retention>>,
    /// What retention removed since the stream was opened.
    retention_removed: Mutex<Removed>,
    /// The group journal has grown enough to be compacted.
    compaction_wanted: AtomicBool,
    /// Asks a background thread to compact the group journal.
    compactor: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// The last small read a follower made, for the followers at the same place (weakly:
    /// the followers hold it).
    shared_read: Mutex<Option<shared_read::SharedRead>>,
}

/// Picks the ID for an XADD argument given the stream's last ID (Redis's `streamAppendItem`).
pub fn resolve_id(spec: AddId, last: StreamId, now_ms: u64) -> Result<StreamId> {
    if last == StreamId::MAX {
        return Err(Error::IdExhausted);
    }
    let id = match spec {
        AddId::Auto => {
            if now_ms > last.ms {
                StreamId::new(now_ms, 0)
            } else {
                // Never backwards, even when the clock is: continue from the last ID.
                last.next().ok_or(Error::IdExhausted)?
            }
        }
        AddId::AutoSeq(ms) => {
            if ms == last.ms {
                if last.seq == u64::MAX {
                    return Err(Error::AddIdTooSmall);
                }
                StreamId::new(ms, last.seq + 1)
            } else {
                StreamId::new(ms, 0)
            }
        }
        AddId::Explicit(id) => {
            if id.is_zero() {
                return Err(Error::AddIdZero);
            }
            id
        }
    };
    if id <= last {
        return Err(Error::AddIdTooSmall);
    }
    Ok(id)
}

impl Stream {
    /// Wraps an opened log; its groups are replayed from the journal's `group_records`, and
    /// `retention` is the policy its directory holds.
    pub fn new(
        name: Vec<u8>,
        log: StreamLog,
        clock: Arc<dyn Clock>,
        group_records: &[Vec<u8>],
        retention: Option<Retention>,
    ) -> Result<Stream> {
        let stream = Stream {
            name,
            log,
            clock,
            groups: Mutex::new(Groups::default()),
            retention: Mutex::new(retention),
            retention_removed: Mutex::new(Removed::default()),
            compaction_wanted: AtomicBool::new(false),
            compactor: OnceLock::new(),
            shared_read: Mutex::new(None),
        };
        stream.replay_groups(group_records)?;
        Ok(stream)
    }

    /// Sets what asks a background thread to run [`Stream::compact_groups`].
    pub fn set_compactor(&self, compactor: Box<dyn Fn() + Send + Sync>) {
        let _ = self.compactor.set(compactor);
    }

    fn request_compaction(&self) {
        if self
            .compaction_wanted
            .load(std::sync::atomic::Ordering::Acquire)
        {
            if let Some(compactor) = self.compactor.get() {
                compactor();
            }
        }
    }

    /// The stream's name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The underlying log.
    pub fn log(&self) -> &StreamLog {
        &self.log
    }

    /// The newest committed view.
    pub fn view(&self) -> Arc<View> {
        self.log.view()
    }

    /// XADD, for one entry or an atomic batch, then the trim if any. Returns the IDs given.
    pub fn add(&self, entries: &[NewEntry], trim: Option<&TrimSpec>) -> Result<Vec<StreamId>> {
        if entries.iter().any(|entry| entry.fields.is_empty()) {
            return Err(Error::EmptyEntry);
        }
        self.log
            .write(|txn| Self::append(txn, &*self.clock, entries, trim))
    }

    /// XADD without waiting for durability: the IDs, and under `always` the ticket to await
    /// with [`StreamLog::poll_durable`] before acknowledging them.
    pub fn add_deferred(
        &self,
        entries: &[NewEntry],
        trim: Option<&TrimSpec>,
    ) -> Result<(Vec<StreamId>, Ticket)> {
        if entries.iter().any(|entry| entry.fields.is_empty()) {
            return Err(Error::EmptyEntry);
        }
        let (outcome, pending) = self
            .log
            .write_deferred(|txn| Self::append(txn, &*self.clock, entries, trim))?;
        Ok((outcome?, pending))
    }

    fn append(
        txn: &mut Txn<'_>,
        clock: &dyn Clock,
        entries: &[NewEntry],
        trim: Option<&TrimSpec>,
    ) -> Result<Vec<StreamId>> {
        let mut last = txn.counters().last_id;
        let now_ms = clock.now_ms();
        let mut batch: Vec<(StreamId, &[Field])> = Vec::with_capacity(entries.len());
        for entry in entries {
            last = resolve_id(entry.id, last, now_ms)?;
            batch.push((last, entry.fields.as_slice()));
        }
        txn.append(&batch)?;
        if let Some(trim) = trim {
            txn.trim(trim)?;
        }
        Ok(batch.into_iter().map(|(id, _)| id).collect())
    }

    /// XRANGE / XREVRANGE.
    pub fn range(&self, range: IdRange, rev: bool, limit: ReadLimit) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        self.range_into(range, rev, limit, &mut entries)?;
        Ok(entries)
    }

    /// XRANGE / XREVRANGE into `sink` (see [`EntrySink`]).
    pub fn range_into<S: EntrySink>(
        &self,
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
        sink: &mut S,
    ) -> Result<()> {
        let view = self.log.view();
        self.log.range_into(&view, range, rev, limit, sink)
    }

    /// XRANGE / XREVRANGE into `sink` if the active segment serves it (see
    /// [`crate::storage::log::View::served_by_active`]), read through the view that decided;
    /// `None` (and the sink untouched) when it would reach older segments.
    pub fn range_if_recent_into<S: EntrySink>(
        &self,
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
        sink: &mut S,
    ) -> Option<Result<()>> {
        let view = self.log.view();
        view.served_by_active(range, rev, limit.count)
            .then(|| self.log.range_into(&view, range, rev, limit, sink))
    }

    /// XLEN.
    pub fn len(&self) -> u64 {
        self.log.view().counters.length
    }

    /// Whether the stream has no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The last-generated ID (what `$` means).
    pub fn last_id(&self) -> StreamId {
        self.log.view().counters.last_id
    }

    /// XDEL: returns how many of `ids` existed.
    pub fn delete(&self, ids: &[StreamId]) -> Result<u64> {
        self.log.write(|txn| txn.delete(ids))
    }

    /// XTRIM: returns how many entries were removed.
    pub fn trim(&self, spec: &TrimSpec) -> Result<u64> {
        self.log.write(|txn| txn.trim(spec))
    }

    /// XSETID, with Redis 7.0's checks (the argument-only check, MAXDELETEDID above the ID,
    /// is the caller's, since Redis makes it before looking the key up).
    pub fn set_id(
        &self,
        last_id: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<()> {
        self.log.write(|txn| {
            let counters = txn.counters();
            if counters.length > 0 {
                let view = txn.view();
                let top = txn
                    .log()
                    .range(&view, IdRange::ALL, true, ReadLimit::count(1))?
                    .first()
                    .map(|entry| entry.id)
                    .unwrap_or_default();
                if last_id < top {
                    return Err(Error::SetIdTooSmall);
                }
                if entries_added.is_some_and(|added| added < counters.length) {
                    return Err(Error::SetIdEntriesAddedTooSmall);
                }
            }
            let entries_added = entries_added.unwrap_or(counters.entries_added);
            let max_deleted = match max_deleted {
                Some(id) if !id.is_zero() => id,
                _ => counters.max_deleted,
            };
            let unchanged = last_id == counters.last_id
                && entries_added == counters.entries_added
                && max_deleted == counters.max_deleted;
            if unchanged {
                return Ok(());
            }
            txn.reset_counters(last_id, entries_added, max_deleted)
        })
    }

    /// XINFO STREAM (FULL when `full_count` is given: that many entries, 0 for all up to
    /// `limit`, and as many pending entries per group and consumer).
    pub fn info(&self, full_count: Option<usize>, limit: ReadLimit) -> Result<StreamInfo> {
        let (groups, full_groups) = match full_count {
            Some(count) => self.full_groups(count)?,
            None => (self.group_count()?, Vec::new()),
        };
        let view = self.log.view();
        let first_entry = self
            .log
            .range(&view, IdRange::ALL, false, ReadLimit::count(1))?
            .pop();
        let last_entry = self
            .log
            .range(&view, IdRange::ALL, true, ReadLimit::count(1))?
            .pop();
        let entries = match full_count {
            None => None,
            Some(count) => {
                let limit = ReadLimit {
                    count: if count == 0 {
                        limit.count
                    } else {
                        count.min(limit.count)
                    },
                    ..limit
                };
                Some(self.log.range(&view, IdRange::ALL, false, limit)?)
            }
        };
        Ok(StreamInfo {
            counters: view.counters,
            recorded_first_id: first_entry
                .as_ref()
                .map(|entry| entry.id)
                .unwrap_or_default(),
            first_entry,
            last_entry,
            segments: view.segment_count() as u64,
            index_points: view.index_points() as u64,
            entries,
            groups,
            full_groups,
            retention: self.retention(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrimStrategy;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    /// Under `always`, appends wait in memory for their sync round (see
    /// `storage::log::unwritten`); a later transaction that reads them before that round, as
    /// XDEL, XSETID and a trim do, must find them in the file all the same.
    #[test]
    fn transactions_read_appends_their_round_has_not_written_yet() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = crate::Config::new(dir.path());
        config.fsync = crate::FsyncPolicy::Always;
        let engine = crate::Engine::open(config).expect("the engine opens");
        let entry = |value: &[u8]| NewEntry {
            id: AddId::Auto,
            fields: vec![(b"f".to_vec(), value.to_vec())],
        };
        engine
            .add(b"s", &[entry(b"first")], false, None)
            .expect("an add");
        let stream = engine.stream(b"s").expect("a lookup").expect("the stream");
        let held = |stream: &Stream, value: &[u8], trim: Option<&TrimSpec>| {
            let (ids, _ticket) = stream.add_deferred(&[entry(value)], trim).expect("an add");
            ids[0]
        };

        // XDEL looks the ID up in the file.
        let a = held(&stream, b"a", None);
        assert_eq!(stream.delete(&[a]).expect("an XDEL"), 1);

        // A trim in the add's own transaction reads where its cut falls.
        held(&stream, b"b", None);
        let c = held(&stream, b"c", None);
        let from_c = TrimSpec {
            strategy: TrimStrategy::MinId(c),
            approx: false,
            limit: 0,
        };
        let d = held(&stream, b"d", Some(&from_c));

        // XSETID reads the top entry.
        let e = held(&stream, b"e", None);
        assert!(matches!(
            stream.set_id(d, None, None),
            Err(Error::SetIdTooSmall)
        ));
        stream.set_id(e, None, None).expect("an XSETID at the top");

        let values: Vec<Vec<u8>> = stream
            .range(IdRange::ALL, false, ReadLimit::count(10))
            .expect("a range")
            .into_iter()
            .map(|entry| entry.fields[0].1.clone())
            .collect();
        assert_eq!(values, vec![b"c".to_vec(), b"d".to_vec(), b"e".to_vec()]);
    }

    #[test]
    fn auto_ids_never_go_backwards() {
        assert_eq!(resolve_id(AddId::Auto, id(5, 3), 10).unwrap(), id(10, 0));
        assert_eq!(resolve_id(AddId::Auto, id(5, 3), 5).unwrap(), id(5, 4));
        assert_eq!(resolve_id(AddId::Auto, id(5, 3), 1).unwrap(), id(5, 4));
        assert_eq!(
            resolve_id(AddId::Auto, id(5, u64::MAX), 1).unwrap(),
            id(6, 0)
        );
        assert!(matches!(
            resolve_id(AddId::Auto, StreamId::MAX, 1),
            Err(Error::IdExhausted)
        ));
    }

    #[test]
    fn explicit_and_partial_ids() {
        assert!(matches!(
            resolve_id(AddId::Explicit(id(0, 0)), id(0, 0), 1),
            Err(Error::AddIdZero)
        ));
        assert!(matches!(
            resolve_id(AddId::Explicit(id(5, 3)), id(5, 3), 1),
            Err(Error::AddIdTooSmall)
        ));
        assert_eq!(
            resolve_id(AddId::AutoSeq(0), id(0, 0), 1).unwrap(),
            id(0, 1)
        );
        assert_eq!(
            resolve_id(AddId::AutoSeq(5), id(5, 3), 1).unwrap(),
            id(5, 4)
        );
        assert_eq!(
            resolve_id(AddId::AutoSeq(6), id(5, 3), 1).unwrap(),
            id(6, 0)
        );
        assert!(matches!(
            resolve_id(AddId::AutoSeq(4), id(5, 3), 1),
            Err(Error::AddIdTooSmall)
        ));
        assert!(matches!(
            resolve_id(AddId::AutoSeq(5), id(5, u64::MAX), 1),
            Err(Error::AddIdTooSmall)
        ));
    }
}
