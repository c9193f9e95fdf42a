//! The write side of a stream log: the state behind its writer lock ([`Writer`]) and the
//! transaction a write works through ([`Txn`]): append a batch, roll to a new segment, reset the
//! counters. What a transaction removes (XDEL, XTRIM) is in [`super::remove`].
//!
//! A transaction sees the newest state, including writes not yet durable. Its operations check
//! their input before changing anything, so an error other than I/O leaves the stream as it
//! was; an I/O error after a step touched the disk poisons the stream (see
//! [`super::StreamLog::write`]).

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use crate::config::{Config, FsyncPolicy};
use crate::error::{Error, Result};
use crate::id::StreamId;
use crate::lock::{lock, read, write};
use crate::model::{Counters, Field};
use crate::storage::fs::File;
use crate::storage::index::{self, IndexPoint, Trailer};
use crate::storage::log::view::{ActiveShared, Extent, Segment, View};
use crate::storage::log::StreamLog;
use crate::storage::record;
use crate::storage::segment::{self, FileKind, SegmentHeader, HEADER_BYTES};
use crate::storage::sync::{add_dirty, Dirty, FileRef};
use crate::storage::zeros::ZeroedTo;

/// The largest encoding buffer a stream keeps between appends; a bigger batch's buffer is
/// freed after use, so one large batch does not pin its size in memory for good.
const BUFFER_KEPT_BYTES_MAX: usize = 1 << 20;

/// Checks a batch against the size limits: each entry within `entry_bytes_max`, all of them
/// within one segment. Returns the batch's encoded size.
pub fn check_batch_size<'a>(
    config: &Config,
    batch: impl IntoIterator<Item = &'a [Field]>,
) -> Result<u64> {
    let mut total = 0u64;
    for fields in batch {
        let size = record::encoded_len(fields);
        if size > config.entry_bytes_max as usize {
            return Err(Error::EntryTooLarge {
                size,
                max: config.entry_bytes_max,
            });
        }
        total += size as u64;
    }
    let room = config.segment_bytes_max - HEADER_BYTES as u64;
    if total > room {
        return Err(Error::BatchTooLarge {
            size: total,
            max: room,
        });
    }
    Ok(total)
}

/// Where the group journal stands, behind the writer lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct JournalState {
    /// The generation appended to (0: no journal yet).
    pub(crate) generation: u64,
    /// The end of its frames.
    pub(crate) end: u64,
    /// Bytes of the newest snapshot.
    pub(crate) snapshot_bytes: u64,
    /// Bytes of journal since it.
    pub(crate) journal_bytes: u64,
    /// How far its file holds written bytes (see [`crate::storage::zeros`]).
    pub(crate) zeroed_to: ZeroedTo,
}

/// The active segment as the writer knows it.
pub(crate) struct Active {
    pub(crate) id: u64,
    pub(crate) header: SegmentHeader,
    pub(crate) shared: Arc<ActiveShared>,
    pub(crate) extent: Extent,
    /// Offset of its newest index point.
    pub(crate) last_point: Option<u64>,
    /// How far its log file holds written bytes (see [`crate::storage::zeros`]).
    pub(crate) zeroed_to: ZeroedTo,
}

impl Active {
    /// A new, empty active segment starting with `header`, and its entry in the segment list.
    pub(crate) fn empty(header: SegmentHeader) -> (Segment, Active) {
        let shared = Arc::new(ActiveShared::new(Vec::new(), 0));
        let extent = Extent {
            len: HEADER_BYTES as u64,
            ..Extent::default()
        };
        Active::with_points(header, shared, extent, None)
    }

    /// The active segment `header.segment_id` with its index points and extent.
    pub(crate) fn with_points(
        header: SegmentHeader,
        shared: Arc<ActiveShared>,
        extent: Extent,
        last_point: Option<u64>,
    ) -> (Segment, Active) {
        let segment = Segment::active(header, Arc::clone(&shared));
        let active = Active {
            id: header.segment_id,
            header,
            shared,
            zeroed_to: ZeroedTo(extent.len),
            extent,
            last_point,
        };
        (segment, active)
    }
}

/// A stream's state behind its writer lock.
pub(crate) struct Writer {
    pub(crate) segments: Arc<Vec<Arc<Segment>>>,
    pub(crate) active: Active,
    pub(crate) counters: Counters,
    pub(crate) seq: u64,
    pub(crate) failure: Option<String>,
    buffer: Vec<u8>,
    /// The active log's handle as last obtained from the cache: a weak reference, so the
    /// cache alone decides how long it stays open, and the append path skips the cache lookup
    /// while it does.
    log_file: Option<(u64, Weak<dyn File>)>,
    /// A transaction's list of files to sync, kept between transactions for its allocation.
    pub(crate) dirty: Vec<Dirty>,
    /// Where the group journal stands.
    pub(crate) journal: JournalState,
}

impl Writer {
    pub(crate) fn new(
        segments: Vec<Arc<Segment>>,
        active: Active,
        counters: Counters,
        journal: JournalState,
    ) -> Writer {
        Writer {
            journal,
            segments: Arc::new(segments),
            active,
            counters,
            seq: 0,
            failure: None,
            buffer: Vec::new(),
            log_file: None,
            dirty: Vec::new(),
        }
    }

    /// A view of the newest state, committed or not.
    pub(crate) fn view(&self) -> Arc<View> {
        Arc::new(View {
            seq: self.seq,
            segments: Arc::clone(&self.segments),
            active: self.active.extent,
            counters: self.counters,
        })
    }
}

/// A write transaction on one stream: holds its writer lock. Operations validate their input
/// before changing anything, so an error other than I/O leaves the stream as it was.
pub struct Txn<'a> {
    pub(crate) log: &'a StreamLog,
    pub(crate) writer: &'a mut Writer,
    pub(crate) dirty: Vec<Dirty>,
    /// Something changed: the transaction gets a sequence number and a new view.
    pub(crate) changed: bool,
    /// A step that writes to disk has begun (so a failure leaves the disk in doubt).
    pub(crate) touched: bool,
}

/// A batch encoded for one write: its bytes, the index points it adds, and where it ends.
struct Encoded {
    bytes: Vec<u8>,
    points: Vec<IndexPoint>,
    end: u64,
}

impl Txn<'_> {
    /// The counters, including this transaction's changes so far.
    pub fn counters(&self) -> Counters {
        self.writer.counters
    }

    /// A view of the newest state (including writes not yet durable), for reads the
    /// transaction's decisions depend on.
    pub fn view(&self) -> Arc<View> {
        self.writer.view()
    }

    /// The log this transaction writes to.
    pub fn log(&self) -> &StreamLog {
        self.log
    }

    fn config(&self) -> &Config {
        &self.log.ctx.config
    }

    /// Appends entries as one atomic batch. IDs must be strictly increasing and above the
    /// stream's last ID (the caller resolved them); sizes are checked here.
    pub fn append(&mut self, entries: &[(StreamId, &[Field])]) -> Result<()> {
        let (Some(&(first, _)), Some(&(last, _))) = (entries.first(), entries.last()) else {
            return Ok(());
        };
        let mut previous = self.writer.counters.last_id;
        for (id, _) in entries {
            assert!(
                *id > previous,
                "append IDs must increase: {id} after {previous}"
            );
            previous = *id;
        }
        let total = check_batch_size(self.config(), entries.iter().map(|(_, fields)| *fields))?;
        let active = &self.writer.active.extent;
        if active.len + total > self.config().segment_bytes_max && active.count > 0 {
            self.roll(self.next_header())?;
        }
        let encoded = self.encode(entries);
        let file = self.log_file()?;
        self.touched = true;
        let start = self.writer.active.extent.len;
        let preallocated = self.config().segment_bytes_max;
        self.writer
            .active
            .zeroed_to
            .write_ahead(file.as_ref(), start, encoded.end, preallocated);
        // Under `always` the round that makes this append durable writes it, with the rest of
        // its round (see `unwritten`).
        let written = match self.config().fsync {
            FsyncPolicy::Always => {
                let segment = self.writer.active.id;
                self.log
                    .unwritten
                    .hold(&file, segment, start, &encoded.bytes)
            }
            _ => file.write_all_at(&encoded.bytes, start),
        };
        let bytes = encoded.bytes.len() as u64;
        if encoded.bytes.capacity() <= BUFFER_KEPT_BYTES_MAX {
            self.writer.buffer = encoded.bytes;
        }
        written?;
        let metrics = &self.log.ctx.metrics;
        metrics.entries_appended.increment(entries.len() as u64);
        metrics.bytes_appended.increment(bytes);

        let active = &mut self.writer.active;
        if !encoded.points.is_empty() {
            write(&active.shared.points).extend(encoded.points);
        }
        active.extent.len = encoded.end;
        active.extent.count += entries.len() as u32;
        active.extent.first_id.get_or_insert(first);
        active.extent.last_id = Some(last);
        let counters = &mut self.writer.counters;
        counters.length += entries.len() as u64;
        counters.entries_added += entries.len() as u64;
        counters.last_id = last;
        self.mark_dirty(self.writer.active.id, FileKind::Log, file);
        self.changed = true;
        Ok(())
    }

    /// Encodes a batch at the end of the active segment (only its last record carries
    /// BATCH_END), with the index points the writer's rule gives it.
    fn encode(&mut self, entries: &[(StreamId, &[Field])]) -> Encoded {
        let interval = self.config().index_interval_bytes;
        let active = &mut self.writer.active;
        let mut bytes = std::mem::take(&mut self.writer.buffer);
        bytes.clear();
        let mut points = Vec::new();
        let mut offset = active.extent.len;
        for (position, (id, fields)) in entries.iter().enumerate() {
            if segment::wants_point(offset, active.last_point, interval) {
                points.push(IndexPoint {
                    id: *id,
                    offset: offset as u32,
                    ordinal: active.extent.count + position as u32,
                });
                active.last_point = Some(offset);
            }
            let before = bytes.len();
            record::encode(&mut bytes, *id, fields, position + 1 == entries.len());
            offset += (bytes.len() - before) as u64;
        }
        Encoded {
            bytes,
            points,
            end: offset,
        }
    }

    /// The active segment's log file, from the writer's weak handle while the cache keeps it
    /// open.
    fn log_file(&mut self) -> Result<Arc<dyn File>> {
        let active = self.writer.active.id;
        let cached = self
            .writer
            .log_file
            .as_ref()
            .filter(|(segment, _)| *segment == active)
            .and_then(|(_, file)| file.upgrade());
        if let Some(file) = cached {
            return Ok(file);
        }
        let file = self.log.writable(active, FileKind::Log)?;
        self.writer.log_file = Some((active, Arc::downgrade(&file)));
        Ok(file)
    }

    /// Records that `file` of `segment` holds writes the commit must sync. An earlier record
    /// for the same file is kept: the first descriptor that wrote is the one a write-back error
    /// is reported to.
    pub(crate) fn mark_dirty(&mut self, segment: u64, kind: FileKind, file: Arc<dyn File>) {
        let hold = self.config().fsync == FsyncPolicy::Always;
        add_dirty(
            &mut self.dirty,
            Dirty::File {
                segment,
                kind,
                file: FileRef::new(file, hold),
            },
        );
    }

    /// The header a new active segment starts with: the counters as they stand.
    fn next_header(&self) -> SegmentHeader {
        SegmentHeader {
            segment_id: self.writer.active.id + 1,
            entries_added_before: self.writer.counters.entries_added,
            last_id_before: self.writer.counters.last_id,
            max_deleted_before: self.writer.counters.max_deleted,
        }
    }

    /// Seals the active segment and starts a new one with `header`. Everything written so far
    /// is synced first, and the new segment exists durably before this returns.
    fn roll(&mut self, header: SegmentHeader) -> Result<()> {
        // The new header carries the counters as they stand, some set by writes still in the
        // commit queue (an XDEL's max-deleted-entry-id): those become durable first.
        self.make_durable()?;
        self.touched = true;
        let old_id = self.writer.active.id;
        let old_extent = self.writer.active.extent;
        let points = self.seal_active()?;
        self.create_segment(&header)?;

        // Swap the new segment in. An old segment with no records is useless: it goes.
        let old = self.segment(old_id);
        let mut segments: Vec<Arc<Segment>> = self.writer.segments.as_ref().clone();
        segments.pop();
        if old_extent.count > 0 {
            let dead = old
                .map(|segment| Arc::clone(&segment.dead))
                .unwrap_or_default();
            let header = self.writer.active.header;
            let mut sealed = Segment::sealed(header, old_extent, points);
            sealed.dead = dead;
            segments.push(Arc::new(sealed));
        }
        let (segment, active) = Active::empty(header);
        segments.push(Arc::new(segment));
        self.writer.segments = Arc::new(segments);
        self.writer.active = active;
        self.dirty.retain(|item| {
            !matches!(item, Dirty::File { segment, kind: FileKind::Log, .. } if *segment == old_id)
        });
        if old_extent.count == 0 {
            self.remove_segment_files(old_id)?;
            self.log.ctx.sync_dir(&self.log.dir)?;
        }
        self.changed = true;
        Ok(())
    }

    /// Seals the active segment: its log cut to its records (dropping the preallocated
    /// padding) and durable, then its complete index with the trailer. Returns its point count.
    fn seal_active(&mut self) -> Result<usize> {
        let log = self.log;
        log.unwritten.write()?;
        let active = &self.writer.active;
        let old_log = log.writable(active.id, FileKind::Log)?;
        old_log.set_len(active.extent.len)?;
        log.ctx.sync_file(old_log.as_ref())?;
        let points: Vec<IndexPoint> = read(&active.shared.points).clone();
        let mut persist = lock(&active.shared.persist);
        let trailer = Trailer {
            last_id: active.extent.last_id.unwrap_or_default(),
            log_len: active.extent.len as u32,
            count: active.extent.count,
        };
        let bytes = index::encode_sealed(&points, &trailer);
        let index = log.writable(active.id, FileKind::Index)?;
        index.write_all_at(&bytes, 0)?;
        index.set_len(bytes.len() as u64)?;
        log.ctx.sync_file(index.as_ref())?;
        persist.on_disk = points.len();
        persist.sealed = true;
        Ok(points.len())
    }

    /// Creates the log file of a new segment holding only `header`, preallocated, durably
    /// (file and directory).
    fn create_segment(&mut self, header: &SegmentHeader) -> Result<()> {
        let log = self.log;
        let new_log = log.writable(header.segment_id, FileKind::Log)?;
        segment::initialize(new_log.as_ref(), header, log.ctx.config.segment_bytes_max)?;
        log.ctx.sync_file(new_log.as_ref())?;
        log.ctx.sync_dir(&log.dir)?;
        Ok(())
    }

    /// Removes every file of a segment, and the bytes recovery once cut off its log.
    pub(crate) fn remove_segment_files(&mut self, segment: u64) -> Result<()> {
        let log = self.log;
        log.ctx.handles.evict_segment(log.uid, segment);
        let mut paths: Vec<PathBuf> = [FileKind::Log, FileKind::Index, FileKind::Deletions]
            .into_iter()
            .map(|kind| log.path(segment, kind))
            .collect();
        let dropped_prefix = format!("{}.dropped-", segment::file_name(segment, FileKind::Log));
        for name in log.ctx.fs.list_dir(&log.dir)? {
            if name
                .to_str()
                .is_some_and(|name| name.starts_with(&dropped_prefix))
            {
                paths.push(log.dir.join(name));
            }
        }
        for path in paths {
            match log.ctx.fs.remove_file(&path) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(())
    }

    /// Sets the counters (XSETID). The caller checked Redis's rules. Starts a new segment whose
    /// header carries the new values, so they are durable without rewriting anything.
    pub fn reset_counters(
        &mut self,
        last_id: StreamId,
        entries_added: u64,
        max_deleted: StreamId,
    ) -> Result<()> {
        let header = SegmentHeader {
            segment_id: self.writer.active.id + 1,
            entries_added_before: entries_added,
            last_id_before: last_id,
            max_deleted_before: max_deleted,
        };
        self.roll(header)?;
        let counters = &mut self.writer.counters;
        counters.last_id = last_id;
        counters.entries_added = entries_added;
        counters.max_deleted = max_deleted;
        Ok(())
    }

    /// Makes every write so far durable — earlier transactions' (through the commit queue)
    /// and this one's appends — before a step that must not outlive them. Not under `no`.
    pub(crate) fn make_durable(&mut self) -> Result<()> {
        if self.log.ctx.config.fsync == FsyncPolicy::No {
            return Ok(());
        }
        self.touched = true;
        self.log.flush()?;
        self.log.unwritten.write()?;
        let log = self.log.writable(self.writer.active.id, FileKind::Log)?;
        log.sync_data()?;
        Ok(())
    }

    /// The current version of segment `id`.
    pub(crate) fn segment(&self, id: u64) -> Option<Arc<Segment>> {
        self.writer
            .segments
            .iter()
            .find(|segment| segment.id == id)
            .cloned()
    }
}
