//! Reading a stream through a [`View`]: ranges in both directions, and finding one record.
//!
//! Sealed segments are read through memory maps, the active segment through positional reads
//! of its committed part. A seek uses the segment's sparse index, so it reads at most about one
//! index interval of log before reaching the first wanted record. A reverse range walks the
//! index backwards one block (the records between two points) at a time. Every record read is
//! checksummed again; a failure there is reported as corruption, never returned as data.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::id::{IdRange, StreamId};
use crate::lock::read;
use crate::model::{Entry, EntrySink, ReadLimit};
use crate::storage::fs::{File, Mapping, OpenMode};
use crate::storage::handles::{Handle, HandleKind};
use crate::storage::index::{self, IndexPoint, MappedPoints, Points, SLOT_BYTES};
use crate::storage::log::view::{ActiveShared, Body, Extent, Segment, View};
use crate::storage::log::StreamLog;
use crate::storage::record::{self, Decoded, Pairs, RecordRef};
use crate::storage::segment::{FileKind, HEADER_BYTES, RECORD_BYTES_MAX};
use crate::storage::tombstone::{Tombstone, TombstoneKind};

/// The bytes of one segment's log.
pub(crate) enum Source {
    Map(Mapping),
    File(Arc<dyn File>),
}

/// Bytes of the first positional read of the active segment in a walk, unless the walk knows
/// better (a forward range sizes it for the entries it still wants); each further read of
/// the same walk is four times larger, up to [`CHUNK_BYTES_MAX`]. A read for a few entries
/// reads a few kilobytes; a long scan soon reads in large chunks.
const CHUNK_BYTES_FIRST: usize = 16 << 10;
/// Smallest first read of a walk.
const CHUNK_BYTES_MIN: usize = 4 << 10;
/// Largest positional read of the active segment.
const CHUNK_BYTES_MAX: usize = 256 << 10;
/// Times a range is read again because segments vanished under it (whole-segment trimming).
const RANGE_ATTEMPTS_MAX: usize = 8;

impl Source {
    fn bytes(&self, from: u64, to: u64) -> io::Result<Cow<'_, [u8]>> {
        match self {
            Source::Map(map) => map
                .get(from as usize..to as usize)
                .map(Cow::Borrowed)
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "segment truncated")),
            Source::File(file) => {
                let mut buffer = vec![0; (to - from) as usize];
                file.read_exact_at(&mut buffer, from)?;
                Ok(Cow::Owned(buffer))
            }
        }
    }
}

/// A segment's index points as far as a view can see them.
pub(crate) enum SegmentPoints {
    Mapped(MappedPoints),
    Active(Arc<ActiveShared>, usize),
}

impl Points for SegmentPoints {
    fn len(&self) -> usize {
        match self {
            SegmentPoints::Mapped(points) => points.len(),
            SegmentPoints::Active(_, count) => *count,
        }
    }

    fn get(&self, i: usize) -> IndexPoint {
        match self {
            SegmentPoints::Mapped(points) => points.get(i),
            SegmentPoints::Active(shared, _) => read(&shared.points)[i],
        }
    }
}

/// Hands a range read's entries to its sink, within the read's limits.
struct Collector<'s, S> {
    sink: &'s mut S,
    count: usize,
    bytes: usize,
    limit: ReadLimit,
}

impl<'s, S: EntrySink> Collector<'s, S> {
    fn new(sink: &'s mut S, limit: ReadLimit) -> Self {
        sink.clear();
        Collector {
            sink,
            count: 0,
            bytes: 0,
            limit,
        }
    }

    /// Takes an entry of `size` reply bytes if admitted; `Ok(false)` once no more are wanted
    /// (the entry is then not taken if it broke the byte budget).
    fn take<'a>(
        &mut self,
        size: usize,
        id: StreamId,
        fields: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    ) -> Result<bool> {
        if self.bytes + size > self.limit.bytes {
            if !self.limit.partial {
                return Err(Error::ReplyTooLarge {
                    max: self.limit.bytes,
                });
            }
            if self.count > 0 {
                return Ok(false);
            }
        }
        if self.count == 0 {
            let entries = self.limit.count.min(self.limit.bytes / size.max(1)).max(1);
            self.sink
                .expect_entries(entries, entries.saturating_mul(size));
        }
        self.bytes += size;
        self.count += 1;
        self.sink.push(id, fields);
        Ok(self.count < self.limit.count)
    }

    /// About how many log bytes the entries still wanted take, for records of `average`
    /// bytes: at most the reply bytes left.
    fn log_bytes_wanted(&self, average: u64) -> u64 {
        let entries = self.limit.count.saturating_sub(self.count) as u64;
        let bytes = self.limit.bytes.saturating_sub(self.bytes) as u64;
        entries.saturating_mul(average).min(bytes)
    }
}

/// The reply bytes an entry accounts for: its ID and its encoded fields.
fn reply_size(record: &RecordRef<'_>) -> usize {
    16 + record.payload_len()
}

impl StreamLog {
    fn open_error(&self, path: &std::path::Path, error: io::Error) -> Error {
        match error.kind() {
            io::ErrorKind::NotFound => Error::Io(error),
            _ => Error::Io(io::Error::new(
                error.kind(),
                format!("{}: {error}", path.display()),
            )),
        }
    }

    /// The bytes of a segment's log as far as `extent` reaches; `None` if its files are gone
    /// (trimmed after the view was taken). Appends still held in memory that the extent reaches
    /// (a transaction reading its own writes) are written first, so the file has them.
    pub(crate) fn source(&self, segment: &Segment, extent: &Extent) -> Result<Option<Source>> {
        // The path is built only to open the file or to name it in an error: a read of an
        // open file (every Tail delivery, every read of the active segment) formats nothing.
        let path = || self.path(segment.id, FileKind::Log);
        let (kind, map) = match segment.body {
            Body::Sealed { .. } => (HandleKind::LogMap, true),
            Body::Active(_) => {
                self.unwritten.write_below(segment.id, extent.len)?;
                (HandleKind::LogFile, false)
            }
        };
        let opened: io::Result<Handle> =
            self.ctx
                .handles
                .get_or_open(self.key(segment.id, kind), || {
                    let mode = if map {
                        OpenMode::Read
                    } else {
                        OpenMode::ReadWrite
                    };
                    let file = self.ctx.fs.open(&path(), mode)?;
                    if map {
                        Ok(Handle::Map(file.map()?))
                    } else {
                        Ok(Handle::File(file))
                    }
                });
        match opened {
            Ok(Handle::Map(map)) => Ok(Some(Source::Map(map))),
            Ok(Handle::File(file)) => Ok(Some(Source::File(file))),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(self.open_error(&path(), error)),
        }
    }

    /// A segment's index points visible in `extent`; `None` if its files are gone.
    pub(crate) fn points(
        &self,
        segment: &Segment,
        extent: &Extent,
    ) -> Result<Option<SegmentPoints>> {
        match &segment.body {
            Body::Active(shared) => {
                let visible = read(&shared.points)
                    .partition_point(|point| u64::from(point.offset) < extent.len);
                Ok(Some(SegmentPoints::Active(Arc::clone(shared), visible)))
            }
            Body::Sealed { points, .. } => {
                let path = || self.path(segment.id, FileKind::Index);
                let opened: io::Result<Handle> = self.ctx.handles.get_or_open(
                    self.key(segment.id, HandleKind::IndexMap),
                    || {
                        Ok(Handle::Map(
                            self.ctx.fs.open(&path(), OpenMode::Read)?.map()?,
                        ))
                    },
                );
                match opened {
                    Ok(Handle::Map(map)) if map.len() >= points * SLOT_BYTES => {
                        Ok(Some(SegmentPoints::Mapped(MappedPoints::new(map, *points))))
                    }
                    Ok(_) => Err(Error::corrupt(path(), "index shorter than its point count")),
                    Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(error) => Err(self.open_error(&path(), error)),
                }
            }
        }
    }

    /// Calls `visit(ordinal, record)` for each record in `[from, to)` of a segment's log, the
    /// first having ordinal `ordinal`, until it returns `Ok(false)`.
    /// Visits the records from offset `from` (record `ordinal`) to `to`, until `visit` says
    /// stop. The active segment is read in chunks, the first of `first_chunk` bytes.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        segment: &Segment,
        source: &Source,
        from: u64,
        to: u64,
        ordinal: u32,
        first_chunk: u64,
        visit: &mut dyn FnMut(u32, &RecordRef<'_>) -> Result<bool>,
    ) -> Result<()> {
        let corrupt = |at: u64| {
            Error::corrupt(
                self.path(segment.id, FileKind::Log),
                format!("committed record at offset {at} fails its checks"),
            )
        };
        let mut position = from;
        let mut ordinal = ordinal;
        let mut chunk_bytes = first_chunk.clamp(CHUNK_BYTES_MIN as u64, CHUNK_BYTES_MAX as u64);
        while position < to {
            let mut chunk_end = match source {
                Source::Map(_) => to,
                Source::File(_) => to.min(position + chunk_bytes),
            };
            chunk_bytes = (chunk_bytes * 4).min(CHUNK_BYTES_MAX as u64);
            let mut bytes = source.bytes(position, chunk_end)?;
            let mut local = 0usize;
            while local < bytes.len() {
                match record::decode(&bytes[local..], RECORD_BYTES_MAX) {
                    Decoded::Record(record) => {
                        if !visit(ordinal, &record)? {
                            return Ok(());
                        }
                        ordinal += 1;
                        local += record.len;
                    }
                    // Committed records lie wholly below `to`: running past it is damage.
                    Decoded::Incomplete { .. } if chunk_end >= to => {
                        return Err(corrupt(position + local as u64));
                    }
                    Decoded::Incomplete { needed } => {
                        if local > 0 {
                            break; // read on from this record's start
                        }
                        // A record larger than the chunk: read it whole (or up to `to`).
                        let needed = needed.unwrap_or(record::FRAME_HEADER_BYTES) as u64;
                        chunk_end = to.min(position + needed.max(chunk_bytes));
                        bytes = source.bytes(position, chunk_end)?;
                    }
                    Decoded::Invalid(_) => return Err(corrupt(position + local as u64)),
                }
            }
            position += local as u64;
        }
        Ok(())
    }

    /// Entries with IDs in `range`, oldest first (or newest first with `rev`), within `limit`.
    pub fn range(
        &self,
        view: &View,
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
    ) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        self.range_into(view, range, rev, limit, &mut entries)?;
        Ok(entries)
    }

    /// [`StreamLog::range`] into `sink`, which it clears first: each entry goes to the sink
    /// with its fields borrowed from the log. If a segment is trimmed away under the read,
    /// the sink is cleared again and the read starts over. After an error the sink holds
    /// whatever part of the read got there.
    pub fn range_into<S: EntrySink>(
        &self,
        view: &View,
        range: IdRange,
        rev: bool,
        limit: ReadLimit,
        sink: &mut S,
    ) -> Result<()> {
        if range.is_empty() || limit.count == 0 {
            sink.clear();
            return Ok(());
        }
        let mut latest;
        let mut view = view;
        for _ in 0..RANGE_ATTEMPTS_MAX {
            let mut collector = Collector::new(sink, limit);
            let whole = if rev {
                self.range_backward(view, range, &mut collector)?
            } else {
                self.range_forward(view, range, &mut collector)?
            };
            if whole {
                let metrics = &self.ctx.metrics;
                metrics.entries_read.increment(collector.count as u64);
                metrics.bytes_read.increment(collector.bytes as u64);
                return Ok(());
            }
            // A segment of the view was trimmed away meanwhile: what was read may now have a
            // hole in it. Read again from the stream as it is now.
            latest = self.view();
            view = &latest;
        }
        Err(Error::Io(io::Error::other(
            "the stream kept changing under a read; try again",
        )))
    }

    /// Reads forward; `Ok(false)` if a segment of the view was gone (trimmed meanwhile).
    fn range_forward<S: EntrySink>(
        &self,
        view: &View,
        range: IdRange,
        out: &mut Collector<'_, S>,
    ) -> Result<bool> {
        for segment in view.segments.iter() {
            let extent = view.extent(segment);
            let (Some(first), Some(last)) = (extent.first_id, extent.last_id) else {
                continue;
            };
            if last < range.start || first > range.end {
                continue;
            }
            let (Some(source), Some(points)) = (
                self.source(segment, &extent)?,
                self.points(segment, &extent)?,
            ) else {
                return Ok(false);
            };
            let dead = &segment.dead;
            let (mut offset, mut ordinal) = start_of(&points, range.start);
            if dead.prefix() > ordinal {
                // Skip the run of gone records at the head (say, a stream trimmed exactly on
                // every add) by ordinal: it holds nothing to return.
                if let Some(position) = index::seek_ordinal(&points, dead.prefix()) {
                    let point = points.get(position);
                    if point.ordinal > ordinal {
                        (offset, ordinal) = (u64::from(point.offset), point.ordinal);
                    }
                }
            }
            // The first read covers the entries still wanted, at this segment's average
            // record size, from the index point before the start (up to an interval away).
            let average = extent.len / u64::from(extent.count.max(1));
            let first_chunk = out
                .log_bytes_wanted(average)
                .saturating_add(u64::from(self.ctx.config.index_interval_bytes));
            let mut wants_more = true;
            self.walk(
                segment,
                &source,
                offset,
                extent.len,
                ordinal,
                first_chunk,
                &mut |ordinal, record| {
                    if record.id < range.start || dead.is_dead(ordinal) {
                        return Ok(true);
                    }
                    if record.id > range.end {
                        return Ok(false);
                    }
                    wants_more = out.take(reply_size(record), record.id, record.pairs())?;
                    Ok(wants_more)
                },
            )?;
            if !wants_more {
                break;
            }
        }
        Ok(true)
    }

    /// Reads backward; `Ok(false)` if a segment of the view was gone (trimmed meanwhile).
    fn range_backward<S: EntrySink>(
        &self,
        view: &View,
        range: IdRange,
        out: &mut Collector<'_, S>,
    ) -> Result<bool> {
        for segment in view.segments.iter().rev() {
            let extent = view.extent(segment);
            let (Some(first), Some(last)) = (extent.first_id, extent.last_id) else {
                continue;
            };
            if first > range.end {
                continue;
            }
            if last < range.start {
                // Live entries of older segments are all older than this segment's records.
                break;
            }
            let (Some(source), Some(points)) = (
                self.source(segment, &extent)?,
                self.points(segment, &extent)?,
            ) else {
                return Ok(false);
            };
            let Some(mut block) = index::seek(&points, range.end) else {
                continue;
            };
            let dead = &segment.dead;
            // A block's wanted records in order, their pairs copied out of the chunk the walk
            // reads into one buffer, then handed out newest first.
            let mut wanted: Vec<(usize, StreamId, std::ops::Range<usize>)> = Vec::new();
            let mut pairs: Vec<u8> = Vec::new();
            loop {
                wanted.clear();
                pairs.clear();
                let start = points.get(block);
                let end = if block + 1 < points.len() {
                    u64::from(points.get(block + 1).offset)
                } else {
                    extent.len
                };
                let from = u64::from(start.offset);
                self.walk(
                    segment,
                    &source,
                    from,
                    end,
                    start.ordinal,
                    CHUNK_BYTES_FIRST as u64,
                    &mut |ordinal, record| {
                        if range.contains(record.id) && !dead.is_dead(ordinal) {
                            let at = pairs.len();
                            pairs.extend_from_slice(record.encoded_pairs());
                            wanted.push((reply_size(record), record.id, at..pairs.len()));
                        }
                        Ok(record.id <= range.end)
                    },
                )?;
                for (size, id, span) in wanted.iter().rev() {
                    let record_pairs = pairs.get(span.clone()).unwrap_or_default();
                    if !out.take(*size, *id, Pairs::new(record_pairs))? {
                        return Ok(true);
                    }
                }
                if start.id < range.start || block == 0 {
                    break;
                }
                block -= 1;
            }
        }
        Ok(true)
    }

    /// The ordinal of the record with exactly `id` in `segment`, if it has one.
    pub(crate) fn locate(
        &self,
        view: &View,
        segment: &Segment,
        id: StreamId,
    ) -> Result<Option<u32>> {
        let extent = view.extent(segment);
        match (extent.first_id, extent.last_id) {
            (Some(first), Some(last)) if first <= id && id <= last => {}
            _ => return Ok(None),
        }
        let (Some(source), Some(points)) = (
            self.source(segment, &extent)?,
            self.points(segment, &extent)?,
        ) else {
            return Ok(None);
        };
        let (offset, ordinal) = start_of(&points, id);
        let mut found = None;
        self.walk(
            segment,
            &source,
            offset,
            extent.len,
            ordinal,
            CHUNK_BYTES_FIRST as u64,
            &mut |ordinal, record| {
                if record.id == id {
                    found = Some(ordinal);
                }
                Ok(record.id < id)
            },
        )?;
        Ok(found)
    }

    /// The ordinal of the first record of `segment` with an ID at or above `id` (its record
    /// count if none).
    pub(crate) fn first_ordinal_at_or_after(
        &self,
        segment: &Segment,
        extent: &Extent,
        id: StreamId,
    ) -> Result<u32> {
        let (Some(source), Some(points)) =
            (self.source(segment, extent)?, self.points(segment, extent)?)
        else {
            return Ok(0);
        };
        let (offset, ordinal) = start_of(&points, id);
        let mut found = extent.count;
        self.walk(
            segment,
            &source,
            offset,
            extent.len,
            ordinal,
            CHUNK_BYTES_FIRST as u64,
            &mut |ordinal, record| {
                if record.id >= id {
                    found = ordinal;
                    return Ok(false);
                }
                Ok(true)
            },
        )?;
        Ok(found)
    }

    /// Finds the live record with `id`, newest segment first, skipping records that
    /// `planned` (tombstones not yet written, by segment position) already removes. Returns
    /// the segment's position in the view and the record's ordinal.
    pub(crate) fn find_live(
        &self,
        view: &View,
        id: StreamId,
        planned: &[(usize, Vec<Tombstone>)],
    ) -> Result<Option<(usize, u32)>> {
        for (position, segment) in view.segments.iter().enumerate().rev() {
            let Some(ordinal) = self.locate(view, segment, id)? else {
                continue;
            };
            let dead = segment.dead.is_dead(ordinal);
            let pending = planned.iter().any(|(at, slots)| {
                *at == position
                    && slots
                        .iter()
                        .any(|slot| slot.kind == TombstoneKind::Delete && slot.ordinal == ordinal)
            });
            if !dead && !pending {
                return Ok(Some((position, ordinal)));
            }
        }
        Ok(None)
    }
}

/// Where a forward scan for `id` starts in a segment: the last point at or before it.
fn start_of(points: &SegmentPoints, id: StreamId) -> (u64, u32) {
    match index::seek(points, id) {
        Some(position) => {
            let point = points.get(position);
            (u64::from(point.offset), point.ordinal)
        }
        None => (HEADER_BYTES as u64, 0),
    }
}
