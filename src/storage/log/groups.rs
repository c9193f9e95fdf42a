//! The stream's group journal as a transaction writes it: records appended under the writer
//! lock (so their order is the order of the changes) and group-committed by the journal's own
//! queue; and compaction, which starts a new generation under the lock, writes the snapshot
//! aside outside it, and installs it under the lock unless the stream was dropped meanwhile.
//! The file format is [`crate::storage::journal`]'s.

use std::sync::atomic::Ordering;

use crate::config::FsyncPolicy;
use crate::error::Result;
use crate::storage::handles::HandleKind;
use crate::storage::journal::{self, HEADER_BYTES};
use crate::storage::log::txn::Txn;
use crate::storage::log::StreamLog;
use crate::storage::segment::FileKind;
use crate::storage::zeros::ZeroedTo;

impl Txn<'_> {
    /// Appends record bodies to the group journal, creating it first if the stream has none.
    pub fn append_group_records(&mut self, bodies: &[Vec<u8>]) -> Result<()> {
        if bodies.is_empty() {
            return Ok(());
        }
        // Encoded first: a record refused here has touched nothing.
        let mut bytes = Vec::new();
        for body in bodies {
            journal::encode_frame(&mut bytes, body)?;
        }
        self.touched = true;
        if self.writer.journal.generation == 0 {
            self.start_generation(1)?;
        }
        let generation = self.writer.journal.generation;
        let file = self.log.writable(generation, FileKind::Journal)?;
        let end = self.writer.journal.end;
        let size = journal::reserve(file.as_ref(), end, bytes.len() as u64)?;
        let state = &mut self.writer.journal;
        let new_end = end + bytes.len() as u64;
        state
            .zeroed_to
            .write_ahead(file.as_ref(), end, new_end, size);
        // Under `always` the journal's sync round writes the records, with the rest of its
        // round (see `unwritten`): the journal is read only when the stream is opened.
        match self.log.ctx.config.fsync {
            FsyncPolicy::Always => self
                .log
                .journal_unwritten
                .hold(&file, generation, end, &bytes)?,
            _ => file.write_all_at(&bytes, end)?,
        }
        state.end = new_end;
        state.journal_bytes += bytes.len() as u64;
        self.mark_dirty(generation, FileKind::Journal, file);
        self.changed = true;
        Ok(())
    }

    /// Marks the records being appended as ones that can end a blocked reader's wait: the
    /// journal's next round (under `always`) wakes the stream's listeners. (Under the other
    /// policies every change is announced when published.)
    pub fn announce_group_change(&mut self) {
        self.log.journal_announce.store(true, Ordering::Release);
    }

    /// Whether the journal has grown enough past its snapshot to be compacted: by at least
    /// `min_bytes`, and by twice the snapshot's size, so compaction costs O(1) per record.
    pub fn group_journal_wants_compaction(&self, min_bytes: u64) -> bool {
        let state = &self.writer.journal;
        state.generation > 0 && state.journal_bytes >= min_bytes.max(2 * state.snapshot_bytes)
    }

    /// Starts the next generation of the journal (durably): records from now on go there, and
    /// a snapshot of the state as it stands now may be written as that generation's with
    /// [`StreamLog::write_group_snapshot`]. Returns the new generation.
    pub fn rotate_group_journal(&mut self) -> Result<u64> {
        self.touched = true;
        let next = self.writer.journal.generation + 1;
        self.start_generation(next)?;
        Ok(next)
    }

    fn start_generation(&mut self, generation: u64) -> Result<()> {
        let log = self.log;
        let path = log.path(generation, FileKind::Journal);
        let durable = log.ctx.config.fsync != FsyncPolicy::No;
        journal::start_journal(log.ctx.fs.as_ref(), &path, generation, durable)?;
        let state = &mut self.writer.journal;
        state.generation = generation;
        state.end = HEADER_BYTES;
        state.journal_bytes = 0;
        state.zeroed_to = ZeroedTo(HEADER_BYTES);
        Ok(())
    }
}

impl StreamLog {
    /// Writes `records` as the snapshot of journal generation `generation` (the state when it
    /// was started), once everything written before is durable, and removes the older
    /// generations. The snapshot is written aside outside the writer lock (writers go on
    /// meanwhile). The steps that touch the stream's directory by name — renaming it into
    /// place, removing older generations — each run under the lock and only if the stream was
    /// not dropped meanwhile (a stream created again under the name has files of its own);
    /// the directory sync between them runs outside it.
    pub fn write_group_snapshot(&self, generation: u64, records: &[Vec<u8>]) -> Result<()> {
        // The snapshot must not hold a change whose own record is not yet durable.
        self.flush()?;
        let durable = self.ctx.config.fsync != FsyncPolicy::No;
        let fs = self.ctx.fs.as_ref();
        let (temporary, bytes) =
            journal::write_snapshot_aside(fs, &self.dir, generation, self.uid, records, durable)?;
        {
            let _writer = crate::lock::lock(&self.writer);
            if self.dropped.load(Ordering::Acquire) {
                return journal::discard_snapshot(fs, &temporary);
            }
            journal::install_snapshot(fs, &self.dir, generation, &temporary)?;
        }
        if durable {
            fs.sync_dir(&self.dir)?;
        }
        let mut writer = crate::lock::lock(&self.writer);
        if self.dropped.load(Ordering::Acquire) {
            return Ok(());
        }
        journal::remove_older(fs, &self.dir, generation)?;
        if writer.journal.generation == generation {
            writer.journal.snapshot_bytes = bytes;
        }
        drop(writer);
        let previous = generation.saturating_sub(1);
        self.ctx
            .handles
            .evict(&self.key(previous, HandleKind::JournalFile));
        Ok(())
    }

    /// Forgets the journal's open handle (the stream is being dropped).
    pub(crate) fn evict_group_journal(&self) {
        let generation = crate::lock::lock(&self.writer).journal.generation;
        self.ctx
            .handles
            .evict(&self.key(generation, HandleKind::JournalFile));
    }
}
