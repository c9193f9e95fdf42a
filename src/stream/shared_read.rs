//! One read for every follower of a stream at the same place.
//!
//! A write wakes every follower of its stream (Tails), and the followers that were caught up
//! all ask for the same thing: what follows the same ID, within the same limit, in the same
//! published view. The first one reads it; the others get a copy of its result, without the
//! index lookup, the file read and the checksums again. A view's sequence number changes with
//! every committed write (an add, an XDEL, a trim, retention, XSETID), so a copy is what a
//! fresh read of that view returns. (A read that finds a segment of its view trimmed away
//! meanwhile reads the newer view instead, and so would a fresh one; either way the result
//! holds everything the view held.)
//!
//! Memory: only small results are shared (caught-up followers read what the last write
//! added), and the stream holds only a weak reference to the last one. The followers that
//! got it hold it, each until its next read, so a result is freed once every follower has
//! moved on or gone: a stream nobody follows keeps nothing.

use std::sync::{Arc, Weak};

use crate::error::Result;
use crate::id::{IdRange, StreamId};
use crate::lock::lock;
use crate::model::{Entry, Field, ReadLimit};

use super::Stream;

/// Results above this many bytes (field names and values, plus each entry's and each field's
/// own size) are not shared: followers far enough behind to read that much are rarely at the
/// same place.
pub const SHARED_READ_BYTES_MAX: usize = 64 * 1024;

/// The last result shared, and the question it answers.
pub(super) struct SharedRead {
    view_seq: u64,
    after: StreamId,
    limit: ReadLimit,
    entries: Weak<Vec<Entry>>,
}

/// A follower's hold on the result it last got, which keeps that result shared for the
/// followers after it (see the module).
pub type SharedEntries = Option<Arc<Vec<Entry>>>;

impl Stream {
    /// The entries after `after`, within `limit`, as [`Stream::range`] reads them forward;
    /// shared with the other followers asking the same of the same view. `held` is the
    /// follower's hold on its last result, replaced by this one's (see the module).
    pub fn read_for_follower(
        &self,
        after: StreamId,
        limit: ReadLimit,
        held: &mut SharedEntries,
    ) -> Result<Vec<Entry>> {
        *held = None;
        let Some(range) = IdRange::after(after) else {
            return Ok(Vec::new());
        };
        let view = self.log.view();
        let shared = lock(&self.shared_read)
            .as_ref()
            .filter(|kept| kept.view_seq == view.seq && kept.after == after && kept.limit == limit)
            .and_then(|kept| kept.entries.upgrade());
        if let Some(shared) = shared {
            let entries = shared.as_ref().clone();
            *held = Some(shared);
            return Ok(entries);
        }
        let entries = self.log.range(&view, range, false, limit)?;
        if entries.is_empty() || !small(&entries) {
            return Ok(entries);
        }
        let shared = Arc::new(entries.clone());
        *lock(&self.shared_read) = Some(SharedRead {
            view_seq: view.seq,
            after,
            limit,
            entries: Arc::downgrade(&shared),
        });
        *held = Some(shared);
        Ok(entries)
    }
}

/// Whether `entries` take at most [`SHARED_READ_BYTES_MAX`] bytes of memory, counted roughly.
fn small(entries: &[Entry]) -> bool {
    let per_entry = std::mem::size_of::<Entry>();
    let per_field = std::mem::size_of::<Field>();
    entries
        .iter()
        .try_fold(0usize, |bytes, entry| {
            let bytes = entry
                .fields
                .iter()
                .fold(bytes + per_entry, |bytes, (name, value)| {
                    bytes + per_field + name.len() + value.len()
                });
            (bytes <= SHARED_READ_BYTES_MAX).then_some(bytes)
        })
        .is_some()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{SharedEntries, SHARED_READ_BYTES_MAX};
    use crate::id::StreamId;
    use crate::lock::lock;
    use crate::model::{Entry, NewEntry, ReadLimit};
    use crate::stream::Stream;
    use crate::{AddId, Config, Engine, FsyncPolicy};

    fn engine() -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        let engine = Engine::open(config).expect("the engine opens");
        (dir, engine)
    }

    fn add(engine: &Engine, value: &[u8]) -> StreamId {
        let entry = NewEntry {
            id: AddId::Auto,
            fields: vec![(b"f".to_vec(), value.to_vec())],
        };
        let ids = engine.add(b"s", &[entry], false, None).expect("an add");
        ids.and_then(|ids| ids.first().copied())
            .expect("the new ID")
    }

    fn stream(engine: &Engine) -> Arc<Stream> {
        engine.stream(b"s").expect("a lookup").expect("the stream")
    }

    /// A stream holding `seed` and, after it, `one`.
    struct Seeded {
        _dir: tempfile::TempDir,
        engine: Engine,
        stream: Arc<Stream>,
        seed: StreamId,
        one: StreamId,
    }

    fn seeded() -> Seeded {
        let (dir, engine) = engine();
        let seed = add(&engine, b"seed");
        let one = add(&engine, b"one");
        let stream = stream(&engine);
        Seeded {
            _dir: dir,
            engine,
            stream,
            seed,
            one,
        }
    }

    /// A follower's read: the values it got, and its hold on the shared result.
    fn read(stream: &Stream, after: StreamId, limit: ReadLimit) -> (Vec<Vec<u8>>, SharedEntries) {
        let mut held = None;
        let entries = stream
            .read_for_follower(after, limit, &mut held)
            .expect("a read");
        (values(&entries), held)
    }

    fn values(entries: &[Entry]) -> Vec<Vec<u8>> {
        entries
            .iter()
            .map(|entry| entry.fields[0].1.clone())
            .collect()
    }

    fn same(a: &SharedEntries, b: &SharedEntries) -> bool {
        matches!((a, b), (Some(a), Some(b)) if Arc::ptr_eq(a, b))
    }

    #[test]
    fn followers_at_the_same_place_share_one_result() {
        let seeded = seeded();
        let (stream, start) = (&seeded.stream, seeded.seed);
        let limit = ReadLimit::count(10);
        let (first, first_held) = read(stream, start, limit);
        let (second, second_held) = read(stream, start, limit);
        assert_eq!(first, [b"one"]);
        assert_eq!(second, first);
        assert!(
            same(&first_held, &second_held),
            "the second copies the first"
        );
        // Another limit, or another place, is read afresh.
        let (other, other_held) = read(stream, start, ReadLimit::count(5));
        assert_eq!(other, first);
        assert!(!same(&first_held, &other_held));
        let (_, elsewhere_held) = read(stream, start.next().expect("an ID"), limit);
        assert!(!same(&other_held, &elsewhere_held));
    }

    #[test]
    fn any_write_since_makes_the_next_follower_read_afresh() {
        let Seeded {
            _dir,
            engine,
            stream,
            seed: start,
            one,
        } = seeded();
        let limit = ReadLimit::count(10);
        let (first, _held) = read(&stream, start, limit);
        assert_eq!(first, [b"one"]);
        add(&engine, b"two");
        let (after_add, _held_too) = read(&stream, start, limit);
        assert_eq!(after_add, [b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(engine.delete(b"s", &[one]).expect("an XDEL"), 1);
        let (after_delete, _held_three) = read(&stream, start, limit);
        assert_eq!(after_delete, [b"two"]);
    }

    #[test]
    fn large_results_are_not_shared() {
        let (_dir, engine) = engine();
        let start = add(&engine, b"seed");
        let large = add(&engine, &vec![b'x'; SHARED_READ_BYTES_MAX]);
        let stream = stream(&engine);
        let (entries, held) = read(&stream, start, ReadLimit::count(10));
        assert_eq!(entries.len(), 1);
        assert!(held.is_none());
        add(&engine, b"small");
        let (entries, held) = read(&stream, large, ReadLimit::count(1));
        assert_eq!(entries.len(), 1);
        assert!(held.is_some());
    }

    #[test]
    fn a_result_no_follower_holds_is_freed() {
        let seeded = seeded();
        let (stream, start) = (&seeded.stream, seeded.seed);
        let kept = |stream: &Stream| {
            lock(&stream.shared_read)
                .as_ref()
                .and_then(|kept| kept.entries.upgrade())
                .is_some()
        };
        let (_, mut held) = read(stream, start, ReadLimit::count(10));
        assert!(kept(stream));
        // The follower's next read (here, of nothing new) lets go of the last result.
        let after = stream.last_id();
        stream
            .read_for_follower(after, ReadLimit::count(10), &mut held)
            .expect("a read");
        assert!(held.is_none());
        assert!(!kept(stream));
    }
}
