//! Opening a stream's log: validate what is cheap to validate, repair what a crash can break,
//! and refuse what no rule can repair.
//!
//! Opening reads, per stream: every sealed segment's index trailer (32 bytes), the active
//! segment's index and the part of its log after the last index point, and the tombstone files.
//! It never reads sealed logs unless their index is missing or damaged. The repairs, each
//! reported as a [`Repair`]:
//! - a sealed segment whose index is missing, damaged or disagrees with its log: the index is
//!   rebuilt by scanning the log;
//! - the active segment's log ending in a torn or uncommitted record (a crash mid-write): it is
//!   truncated after the last committed batch; the dropped bytes are kept beside it in a
//!   `.dropped-*` file rather than destroyed;
//! - the active index behind or ahead of its log: rewritten from the scan;
//! - a newest segment whose header never became durable (a crash while starting a segment): it
//!   is removed, and the segment before it continues;
//! - a tombstone file with a torn tail, or with tombstones naming records that were lost in a
//!   crash: rewritten without them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::id::StreamId;
use crate::model::Counters;
use crate::storage::fs::{File, FileSystem, OpenMode};
use crate::storage::index;
use crate::storage::journal;
use crate::storage::log::context::Context;
use crate::storage::log::txn::JournalState;
use crate::storage::log::txn::{Active, Writer};
use crate::storage::log::view::{Body, Extent, Segment};
use crate::storage::log::{Listener, StreamLog};
use crate::storage::repair::Repair;
use crate::storage::segment::{self, FileKind, SegmentHeader, HEADER_BYTES};
use crate::storage::tombstone::{self, DeadSet, Tombstone};
use crate::storage::zeros::ZeroedTo;

/// A stream directory's segment files: each segment's number and the kinds of file it has.
type SegmentFiles = BTreeMap<u64, Vec<FileKind>>;

/// The state of one stream log's opening: where it is, and what was repaired so far.
pub(super) struct Opener<'a> {
    pub(super) ctx: &'a Context,
    pub(super) dir: &'a Path,
    repairs: Vec<Repair>,
    /// The engine was not shut down cleanly: the zero padding after the active segments'
    /// records cannot be trusted (a torn write may have left bytes in it).
    pub(super) after_crash: bool,
}

/// A file's bytes, or `None` if it does not exist.
pub(super) fn open_optional(fs: &dyn FileSystem, path: &Path) -> Result<Option<Vec<u8>>> {
    match fs.open(path, OpenMode::Read) {
        Ok(file) => Ok(Some(file.read_all()?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error.into()),
    }
}

impl Opener<'_> {
    pub(super) fn fs(&self) -> &dyn FileSystem {
        self.ctx.fs.as_ref()
    }

    pub(super) fn path(&self, segment: u64, kind: FileKind) -> PathBuf {
        self.dir.join(segment::file_name(segment, kind))
    }

    pub(super) fn note(&mut self, path: PathBuf, action: impl Into<String>) {
        self.repairs.push(Repair::new(path, action));
    }

    pub(super) fn remove(&mut self, path: PathBuf, why: &str) -> Result<()> {
        self.fs().remove_file(&path)?;
        self.note(path, format!("removed: {why}"));
        Ok(())
    }

    /// Writes `bytes` as the whole content of `path`, durably, replacing it atomically.
    pub(super) fn replace_file(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let file = self.fs().open(&temporary, OpenMode::Create)?;
        file.set_len(0)?;
        file.write_all_at(bytes, 0)?;
        file.sync_data()?;
        self.fs().rename(&temporary, path)?;
        self.fs().sync_dir(self.dir)?;
        Ok(())
    }

    /// Loads a segment's tombstones, repairing the file if needed; returns the newest mark.
    fn load_tombstones(
        &mut self,
        id: u64,
        count: u32,
        records_of: &dyn Fn(u64) -> Option<u32>,
    ) -> Result<(DeadSet, Option<(u64, StreamId)>)> {
        let path = self.path(id, FileKind::Deletions);
        let Some(bytes) = open_optional(self.fs(), &path)? else {
            return Ok((DeadSet::default(), None));
        };
        let loaded = tombstone::load(&bytes, count, records_of);
        if loaded.valid_len < bytes.len() || loaded.dangling > 0 {
            let kept: Vec<u8> = loaded.slots.iter().flat_map(Tombstone::encode).collect();
            self.replace_file(&path, &kept)?;
            self.note(
                path,
                format!(
                    "tombstones rewritten: {} torn bytes and {} tombstones of lost records dropped",
                    bytes.len() - loaded.valid_len,
                    loaded.dangling
                ),
            );
        }
        Ok((loaded.dead, loaded.newest))
    }

    /// Creates the segment `header` names, durably, as the active one.
    pub(super) fn create_segment(&mut self, header: SegmentHeader) -> Result<(Segment, Active)> {
        create_segment_file(
            self.fs(),
            self.dir,
            &header,
            self.ctx.config.segment_bytes_max,
            true,
        )?;
        Ok(Active::empty(header))
    }

    /// The segment files of the stream, by segment; stray files (temporary files of an
    /// interrupted rewrite, files of segments without a log) are removed. Returns the ids of
    /// the segments that have a log, in order, and every segment's file kinds.
    fn segment_files(&mut self) -> Result<(Vec<u64>, SegmentFiles)> {
        let mut files = SegmentFiles::new();
        for name in self.fs().list_dir(self.dir)? {
            let Some(name) = name.to_str() else {
                continue;
            };
            if let Some((id, kind)) = segment::parse_file_name(name) {
                files.entry(id).or_default().push(kind);
            } else if name.ends_with(".tmp") {
                self.remove(
                    self.dir.join(name),
                    "temporary file of an interrupted rewrite",
                )?;
            }
        }
        let mut ids = Vec::new();
        for (id, kinds) in &files {
            if kinds.contains(&FileKind::Log) {
                ids.push(*id);
                continue;
            }
            for kind in kinds {
                self.remove(self.path(*id, *kind), "belongs to no segment")?;
            }
        }
        Ok((ids, files))
    }

    /// The newest segment's header. A newest segment whose header never became durable and
    /// that holds no record was being created in a crash: it is removed (or, as the only one,
    /// written again), so the segment before it continues.
    fn newest_header(
        &mut self,
        ids: &mut Vec<u64>,
        files: &SegmentFiles,
    ) -> Result<Option<SegmentHeader>> {
        while let Some(&last) = ids.last() {
            let path = self.path(last, FileKind::Log);
            let file = self.fs().open(&path, OpenMode::ReadWrite)?;
            let error = match self.read_header(file.as_ref(), &path, last) {
                Ok(header) => return Ok(Some(header)),
                Err(error) if !holds_records(file.as_ref())? => error,
                Err(error) => return Err(error),
            };
            if ids.len() == 1 {
                let header = SegmentHeader {
                    segment_id: last,
                    ..SegmentHeader::default()
                };
                self.create_segment(header)?;
                self.note(
                    path,
                    format!("empty segment with a torn header rewritten ({error})"),
                );
                return Ok(Some(header));
            }
            for kind in files.get(&last).cloned().unwrap_or_default() {
                self.remove(
                    self.path(last, kind),
                    "segment creation cut short by a crash",
                )?;
            }
            ids.pop();
        }
        Ok(None)
    }

    /// Opens every segment: the older ones sealed, the newest active unless it was sealed (a
    /// crash between sealing it and starting the next). A stream with no segment gets its
    /// first.
    fn open_segments(
        &mut self,
        ids: &[u64],
        newest: Option<SegmentHeader>,
    ) -> Result<(Vec<Segment>, Option<Active>)> {
        let (Some((&last, older)), Some(header)) = (ids.split_last(), newest) else {
            let (segment, active) = self.create_segment(SegmentHeader {
                segment_id: 1,
                ..SegmentHeader::default()
            })?;
            return Ok((vec![segment], Some(active)));
        };
        let mut segments = Vec::with_capacity(ids.len() + 1);
        for &id in older {
            segments.push(self.open_sealed(id)?);
        }
        let index =
            open_optional(self.fs(), &self.path(last, FileKind::Index))?.unwrap_or_default();
        if index::parse(&index).trailer.is_some() {
            segments.push(self.open_sealed(last)?);
            return Ok((segments, None));
        }
        let (segment, active) = self.open_active(header)?;
        segments.push(segment);
        Ok((segments, Some(active)))
    }

    /// Loads every segment's tombstones into its dead set. Returns the stream's length and the
    /// newest max-deleted-entry-id mark (epoch, ID).
    fn load_all_tombstones(
        &mut self,
        segments: &mut [Segment],
        active: Option<&Active>,
    ) -> Result<(u64, Option<(u64, StreamId)>)> {
        let records: BTreeMap<u64, u32> = segments
            .iter()
            .map(|segment| (segment.id, extent_of(segment, active).count))
            .collect();
        let records_of = |id: u64| records.get(&id).copied();
        let mut newest_mark: Option<(u64, StreamId)> = None;
        let mut length = 0u64;
        for segment in segments.iter_mut() {
            let count = extent_of(segment, active).count;
            let (dead, mark) = self.load_tombstones(segment.id, count, &records_of)?;
            length += u64::from(count - dead.dead());
            segment.dead = Arc::new(dead);
            if mark.is_some_and(|mark| newest_mark.is_none_or(|newest| mark > newest)) {
                newest_mark = mark;
            }
        }
        Ok((length, newest_mark))
    }
}

/// A segment's extent: a sealed one's own, the active one's from the writer's state.
fn extent_of(segment: &Segment, active: Option<&Active>) -> Extent {
    match (&segment.body, active) {
        (Body::Sealed { extent, .. }, _) => *extent,
        (Body::Active(_), Some(state)) => state.extent,
        (Body::Active(_), None) => Extent::default(),
    }
}

/// The stream's counters, from its newest segment's header and records and the newest
/// max-deleted-entry-id mark of the tombstones.
fn counters_of(
    newest: &Segment,
    active: Option<&Active>,
    length: u64,
    newest_mark: Option<(u64, StreamId)>,
) -> Counters {
    let extent = extent_of(newest, active);
    let header = newest.header;
    Counters {
        length,
        last_id: header
            .last_id_before
            .max(extent.last_id.unwrap_or_default()),
        entries_added: header.entries_added_before + u64::from(extent.count),
        max_deleted: match newest_mark {
            Some((epoch, id)) if epoch >= newest.id => id,
            _ => header.max_deleted_before,
        },
    }
}

/// Whether a segment file holds anything after its header: a file whose header never became
/// durable but that holds no record is a segment whose creation was cut short.
fn holds_records(file: &dyn File) -> Result<bool> {
    let len = file.len()?;
    if len <= HEADER_BYTES as u64 {
        return Ok(false);
    }
    let mut first = vec![0; (len - HEADER_BYTES as u64).min(8) as usize];
    file.read_exact_at(&mut first, HEADER_BYTES as u64)?;
    Ok(first.iter().any(|&byte| byte != 0))
}

/// Writes a new segment's log file holding only `header`, extended with zeros to
/// `preallocated` bytes; durably (file and directory) when `durable`.
pub fn create_segment_file(
    fs: &dyn FileSystem,
    dir: &Path,
    header: &SegmentHeader,
    preallocated: u64,
    durable: bool,
) -> Result<()> {
    let path = dir.join(segment::file_name(header.segment_id, FileKind::Log));
    let file = fs.open(&path, OpenMode::Create)?;
    segment::initialize(file.as_ref(), header, preallocated)?;
    if durable {
        file.sync_data()?;
        fs.sync_dir(dir)?;
    }
    Ok(())
}

/// A stream log just opened: the log, what was repaired, and the group records to replay.
pub struct Opened {
    /// The log.
    pub log: StreamLog,
    /// What recovery repaired.
    pub repairs: Vec<Repair>,
    /// The group journal's records, snapshot first, in order.
    pub group_records: Vec<Vec<u8>>,
    /// The stream's retention policy, if it has one.
    pub retention: Option<crate::model::Retention>,
}

impl StreamLog {
    /// Opens the stream log in `dir`, repairing what a crash may have left; returns the log,
    /// what was repaired, and the group journal's records.
    /// `after_crash`: the engine was not shut down cleanly, so the padding after the active
    /// segment's records is cleared rather than trusted.
    pub fn open(
        ctx: Arc<Context>,
        dir: PathBuf,
        listener: Listener,
        after_crash: bool,
    ) -> Result<Opened> {
        // First: a damaged policy refuses the stream before any repair touches its files.
        let retention = crate::storage::retention::load(ctx.fs.as_ref(), &dir)?;
        let mut opener = Opener {
            ctx: &ctx,
            dir: &dir,
            repairs: Vec::new(),
            after_crash,
        };
        let (mut ids, files) = opener.segment_files()?;
        let newest = opener.newest_header(&mut ids, &files)?;
        let (mut segments, active) = opener.open_segments(&ids, newest)?;
        let (length, newest_mark) = opener.load_all_tombstones(&mut segments, active.as_ref())?;
        let newest = segments
            .last()
            .ok_or_else(|| Error::corrupt(&dir, "stream has no segments"))?;
        let counters = counters_of(newest, active.as_ref(), length, newest_mark);
        let newest_id = newest.id;
        let active = match active {
            Some(state) => state,
            None => {
                // The newest segment was sealed (a crash between sealing it and starting the
                // next): start the next one now.
                let (segment, state) = opener.create_segment(SegmentHeader {
                    segment_id: newest_id + 1,
                    entries_added_before: counters.entries_added,
                    last_id_before: counters.last_id,
                    max_deleted_before: counters.max_deleted,
                })?;
                let path = opener.path(newest_id + 1, FileKind::Log);
                opener.note(path, "newest segment was sealed: started the next one");
                segments.push(segment);
                state
            }
        };
        let fs = ctx.fs.as_ref();
        let names: Vec<String> = fs
            .list_dir(&dir)?
            .into_iter()
            .filter_map(|name| name.into_string().ok())
            .collect();
        let replay = journal::open(fs, &dir, &names, after_crash, &mut opener.repairs)?;
        let (generation, end) = replay.journal.unwrap_or_default();
        let journal = JournalState {
            generation,
            end,
            snapshot_bytes: replay.snapshot_bytes,
            journal_bytes: replay.journal_bytes,
            zeroed_to: ZeroedTo(end),
        };
        let repairs = opener.repairs;
        let segments = segments.into_iter().map(Arc::new).collect();
        let writer = Writer::new(segments, active, counters, journal);
        let uid = ctx.new_uid();
        Ok(Opened {
            log: StreamLog::assemble(ctx, uid, dir, writer, listener),
            repairs,
            group_records: replay.records,
            retention,
        })
    }
}
