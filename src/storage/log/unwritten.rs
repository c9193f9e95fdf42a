//! Appends not yet written to their file, under `always`: to the active log, and to the group
//! journal (each has its own [`Unwritten`], written by its own commit queue's rounds).
//!
//! Under `always` an append is acknowledged only once the sync round that covers it is over,
//! and nobody outside its transaction sees it before that round publishes it. So its bytes need
//! not reach the file while the transaction runs: they are held here, and the round writes
//! everything held with one positional write just before its `fdatasync`. A round covers every
//! writer that arrived while the previous sync ran (dozens under load), and a `pwrite` costs
//! about a microsecond of CPU whatever its size: one per round instead of one per append.
//! (Redis writes its append-only file the same way, once per event-loop iteration.)
//!
//! What still holds:
//! - **Every read reads the file.** The only reader that can see held bytes is a transaction,
//!   through the writer's newest view (an XDEL looking for an ID just added, say). A read of
//!   the active segment up to an offset at or past where the held bytes start writes them first
//!   ([`Unwritten::write_below`]). A published view does not need them: a round writes them
//!   before it publishes. The group journal is read only when a stream's log is opened, and
//!   closing a stream flushes both of its commit queues first; if either fails, what is
//!   still held is abandoned ([`Unwritten::abandon`]), never written to files that move.
//! - **Durability is unchanged.** The round writes before it syncs, and a roll, a seal or a
//!   transaction's own sync ([`super::Txn::make_durable`]) write first too. A crash loses only
//!   what no one was told is durable, as a crash before `fdatasync` always could.
//! - **A failed write loses nothing held.** The bytes stay held, and the next attempt writes
//!   them again at the same offsets. A round that fails to write fails (which stops the
//!   stream's commit queue); a transaction whose append fails to write poisons the stream; a
//!   read that fails to write reports a read error, and the bytes wait for the next attempt.
//! - **Memory is bounded.** At most [`HELD_BYTES_MAX`] are held: an append that would pass it
//!   writes what is held first, and an append larger than it alone is written at once, from
//!   its own buffer. Either way a batch reaches the file in one write.
//!
//! Under `everysec` and `no` a transaction's view is published when it ends, before any
//! round, so appends are written at once and nothing is ever held.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::lock::lock;
use crate::storage::fs::File;

/// The most bytes held between rounds.
const HELD_BYTES_MAX: usize = 256 << 10;

/// Offset meaning "nothing held".
const NONE_HELD: u64 = u64::MAX;

/// The largest buffer kept after its bytes are written: a busy round's larger one is freed,
/// so a stream that once had one does not pin it for good.
const KEPT_BYTES_MAX: usize = 64 << 10;

/// The appends of one file of a stream (its active log, or its group journal) not yet written
/// to it (see the module doc).
pub(crate) struct Unwritten {
    /// Where the held bytes start in their file; [`NONE_HELD`] when none are. Read without the
    /// lock by [`Unwritten::write_below`] (after it stores `file_id`); changed only under it.
    from: AtomicU64,
    /// Which file (the segment, or the journal generation) the held bytes belong to.
    file_id: AtomicU64,
    held: Mutex<Held>,
}

/// The held bytes: one contiguous run of one file.
#[derive(Default)]
struct Held {
    file: Option<Arc<dyn File>>,
    start: u64,
    bytes: Vec<u8>,
    /// Bytes were dropped unwritten (see [`Unwritten::abandon`]): every later write fails.
    abandoned: bool,
}

impl Unwritten {
    /// Nothing held.
    pub(crate) fn new() -> Unwritten {
        Unwritten {
            from: AtomicU64::new(NONE_HELD),
            file_id: AtomicU64::new(0),
            held: Mutex::new(Held::default()),
        }
    }

    /// Holds `bytes`, to be written at `start` of `file` (known as `file_id`: its segment, or
    /// its journal generation). What is already held is written first
    /// if `bytes` does not continue it (another file or offset) or if together they would pass
    /// [`HELD_BYTES_MAX`]; `bytes` larger than that alone are written at once. An error means
    /// nothing new is held.
    pub(crate) fn hold(
        &self,
        file: &Arc<dyn File>,
        file_id: u64,
        start: u64,
        bytes: &[u8],
    ) -> io::Result<()> {
        let mut held = lock(&self.held);
        let continues = held.file.as_ref().is_some_and(|held_file| {
            Arc::ptr_eq(held_file, file) && held.start + held.bytes.len() as u64 == start
        });
        if !continues || held.bytes.len() + bytes.len() > HELD_BYTES_MAX {
            self.write_held(&mut held)?;
        }
        if bytes.len() > HELD_BYTES_MAX {
            return file.write_all_at(bytes, start);
        }
        if held.file.is_none() {
            held.file = Some(Arc::clone(file));
            held.start = start;
            self.file_id.store(file_id, Ordering::Relaxed);
            self.from.store(start, Ordering::Release);
        }
        held.bytes.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes everything held.
    pub(crate) fn write(&self) -> io::Result<()> {
        if self.from.load(Ordering::Acquire) == NONE_HELD {
            return Ok(());
        }
        self.write_held(&mut lock(&self.held))
    }

    /// Writes what is held if a read of file `file_id` up to `end` would reach it. (A reader of
    /// a published view never would; one whose view still shows a segment since sealed as the
    /// active one is not sent to write the next segment's bytes.)
    pub(crate) fn write_below(&self, file_id: u64, end: u64) -> io::Result<()> {
        if end <= self.from.load(Ordering::Acquire)
            || self.file_id.load(Ordering::Relaxed) != file_id
        {
            return Ok(());
        }
        self.write()
    }

    /// Drops whatever is held, for a stream being closed whose last sync failed: those bytes
    /// must never reach files that are about to move, perhaps to be reused by a stream created
    /// under the same name. Their writers were never acknowledged (their queue failed), and
    /// every later write here fails, so no late round acknowledges anything on top of them.
    pub(crate) fn abandon(&self) {
        let mut held = lock(&self.held);
        if held.file.take().is_some() {
            held.bytes = Vec::new();
            held.abandoned = true;
            // Keeps `write` on its slow path, which reports the loss.
            self.from.store(0, Ordering::Release);
        }
    }

    fn write_held(&self, held: &mut Held) -> io::Result<()> {
        if held.abandoned {
            return Err(io::Error::other(
                "writes held for a closed stream were dropped unwritten",
            ));
        }
        let Some(file) = held.file.as_ref() else {
            return Ok(());
        };
        file.write_all_at(&held.bytes, held.start)?;
        held.file = None;
        held.bytes.clear();
        if held.bytes.capacity() > KEPT_BYTES_MAX {
            held.bytes = Vec::new();
        }
        self.from.store(NONE_HELD, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;
    use crate::storage::fs::{FileSystem, Mapping, OpenMode, RealFs};

    /// A file whose writes fail while `failing` is set.
    struct Flaky {
        inner: Arc<dyn File>,
        failing: AtomicBool,
    }

    impl File for Flaky {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            self.inner.read_at(buf, offset)
        }
        fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
            if self.failing.load(Ordering::Relaxed) {
                return Err(io::Error::other("injected write failure"));
            }
            self.inner.write_all_at(data, offset)
        }
        fn sync_data(&self) -> io::Result<()> {
            self.inner.sync_data()
        }
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.inner.set_len(len)
        }
        fn map(&self) -> io::Result<Mapping> {
            self.inner.map()
        }
    }

    fn file(dir: &tempfile::TempDir) -> Arc<dyn File> {
        RealFs
            .open(&dir.path().join("log"), OpenMode::Create)
            .expect("open")
    }

    /// An empty file in a temporary directory (kept alive by the first value), and nothing
    /// held for it.
    fn fixture() -> (tempfile::TempDir, Arc<dyn File>, Unwritten) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = file(&dir);
        (dir, file, Unwritten::new())
    }

    fn contents(file: &Arc<dyn File>) -> Vec<u8> {
        let mut bytes = vec![0; file.len().expect("len") as usize];
        file.read_exact_at(&mut bytes, 0).expect("read");
        bytes
    }

    #[test]
    fn held_appends_reach_the_file_in_one_write_when_asked() {
        let (_dir, file, unwritten) = fixture();
        unwritten.hold(&file, 1, 0, b"abc").expect("hold");
        unwritten.hold(&file, 1, 3, b"def").expect("hold");
        assert_eq!(contents(&file), b"", "held bytes are not written yet");
        unwritten.write_below(1, 0).expect("write below");
        assert_eq!(
            contents(&file),
            b"",
            "a read that ends before them writes nothing"
        );
        unwritten.write_below(1, 1).expect("write below");
        assert_eq!(contents(&file), b"abcdef");
        unwritten.hold(&file, 1, 6, b"gh").expect("hold");
        unwritten.write().expect("write");
        assert_eq!(contents(&file), b"abcdefgh");
    }

    #[test]
    fn an_append_elsewhere_writes_what_is_held_first() {
        let (_dir, file, unwritten) = fixture();
        unwritten.hold(&file, 1, 0, b"abc").expect("hold");
        unwritten.hold(&file, 1, 10, b"xyz").expect("hold");
        assert_eq!(contents(&file), b"abc", "the earlier run is written");
        unwritten.write().expect("write");
        let mut expected = b"abc".to_vec();
        expected.extend_from_slice(&[0; 7]);
        expected.extend_from_slice(b"xyz");
        assert_eq!(contents(&file), expected);
    }

    #[test]
    fn no_more_than_the_bound_is_held() {
        let (_dir, file, unwritten) = fixture();
        let chunk = vec![7u8; HELD_BYTES_MAX / 2];
        unwritten.hold(&file, 1, 0, &chunk).expect("hold");
        unwritten
            .hold(&file, 1, chunk.len() as u64, &chunk)
            .expect("hold");
        assert_eq!(contents(&file).len(), 0, "exactly the bound is still held");
        unwritten
            .hold(&file, 1, 2 * chunk.len() as u64, b"x")
            .expect("hold");
        assert_eq!(
            contents(&file).len(),
            HELD_BYTES_MAX,
            "passing it writes what is held"
        );
        let big = vec![9u8; HELD_BYTES_MAX + 1];
        unwritten
            .hold(&file, 1, HELD_BYTES_MAX as u64 + 1, &big)
            .expect("hold");
        assert_eq!(
            contents(&file).len(),
            2 * HELD_BYTES_MAX + 2,
            "a batch over the bound is written at once, after what was held"
        );
    }

    #[test]
    fn a_failed_write_keeps_what_is_held_for_the_next_attempt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let flaky = Arc::new(Flaky {
            inner: file(&dir),
            failing: AtomicBool::new(true),
        });
        let file: Arc<dyn File> = flaky.clone();
        let unwritten = Unwritten::new();
        unwritten.hold(&file, 1, 0, b"abc").expect("hold");
        assert!(unwritten.write().is_err());
        assert!(
            unwritten.hold(&file, 1, 10, b"xyz").is_err(),
            "an append that must write first fails with it"
        );
        unwritten.hold(&file, 1, 3, b"def").expect("hold");
        flaky.failing.store(false, Ordering::Relaxed);
        unwritten.write_below(1, 1).expect("write below");
        assert_eq!(contents(&file), b"abcdef");
    }

    #[test]
    fn a_read_of_another_file_writes_nothing() {
        let (_dir, file, unwritten) = fixture();
        unwritten.hold(&file, 2, 0, b"abc").expect("hold");
        unwritten.write_below(1, 100).expect("write below");
        assert_eq!(
            contents(&file),
            b"",
            "a read of file 1 does not write file 2's bytes"
        );
        unwritten.write_below(2, 100).expect("write below");
        assert_eq!(contents(&file), b"abc");
    }

    #[test]
    fn abandoned_bytes_are_never_written_and_later_writes_fail() {
        let (_dir, file, unwritten) = fixture();
        unwritten.abandon();
        unwritten
            .write()
            .expect("abandoning nothing changes nothing");
        unwritten.hold(&file, 1, 0, b"abc").expect("hold");
        unwritten.abandon();
        assert!(unwritten.write().is_err());
        assert!(unwritten.write_below(1, 100).is_err());
        assert!(unwritten.hold(&file, 1, 3, b"def").is_err());
        assert_eq!(contents(&file), b"");
    }

    #[test]
    fn a_busy_round_s_buffer_is_not_kept() {
        let (_dir, file, unwritten) = fixture();
        unwritten
            .hold(&file, 1, 0, &vec![1u8; KEPT_BYTES_MAX + 1])
            .expect("hold");
        unwritten.write().expect("write");
        assert!(lock(&unwritten.held).bytes.capacity() <= KEPT_BYTES_MAX);
        unwritten.hold(&file, 1, 0, b"abc").expect("hold");
        unwritten.write().expect("write");
        assert!(
            lock(&unwritten.held).bytes.capacity() > 0,
            "a small one is kept"
        );
    }
}
