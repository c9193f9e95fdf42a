//! One read for every follower of a stream at the same place.
//!
//! A write wakes every follower of its stream (Tails), and the followers that were caught up
//! all ask for the same thing: what follows the same ID, within the same limit, in the same
//! published view. The first one reads it; the others get a copy of its result, without the
//! index lookup, the file read and the checksums again. The result is a pure function of the
//! view and the question, and a view's sequence number changes with every committed write
//! (an XDEL, a trim, retention, as well as an add), so a copy is exactly what a fresh read
//! would have returned. Only small results are kept (caught-up followers read what the last
//! write added), and only the last one per stream.

use crate::error::Result;
use crate::id::{IdRange, StreamId};
use crate::lock::lock;
use crate::model::{Entry, ReadLimit};

use super::Stream;

/// Results above this many bytes of field names and values are not kept: followers far
/// enough behind to read that much are rarely at the same place, and the memory kept per
/// stream stays small.
pub const SHARED_READ_BYTES_MAX: usize = 64 * 1024;

/// The last result kept, and the question it answers.
pub(super) struct SharedRead {
    view_seq: u64,
    after: StreamId,
    limit: ReadLimit,
    entries: Vec<Entry>,
}

impl Stream {
    /// The entries after `after`, within `limit`, as [`Stream::range`] reads them forward;
    /// shared with the other followers asking the same of the same view (see the module).
    pub fn read_after(&self, after: StreamId, limit: ReadLimit) -> Result<Vec<Entry>> {
        let Some(start) = after.next() else {
            return Ok(Vec::new());
        };
        let view = self.log.view();
        {
            let kept = lock(&self.shared_read);
            if let Some(kept) = kept.as_ref().filter(|kept| {
                kept.view_seq == view.seq && kept.after == after && kept.limit == limit
            }) {
                return Ok(kept.entries.clone());
            }
        }
        let range = IdRange {
            start,
            end: StreamId::MAX,
        };
        let entries = self.log.range(&view, range, false, limit)?;
        let small = entries
            .iter()
            .flat_map(|entry| entry.fields.iter())
            .try_fold(0usize, |bytes, (name, value)| {
                let bytes = bytes + name.len() + value.len();
                (bytes <= SHARED_READ_BYTES_MAX).then_some(bytes)
            })
            .is_some();
        let mut kept = lock(&self.shared_read);
        *kept = small.then(|| SharedRead {
            view_seq: view.seq,
            after,
            limit,
            entries: entries.clone(),
        });
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::SHARED_READ_BYTES_MAX;
    use crate::id::StreamId;
    use crate::lock::lock;
    use crate::model::{NewEntry, ReadLimit};
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

    fn values(entries: &[crate::model::Entry]) -> Vec<Vec<u8>> {
        entries
            .iter()
            .map(|entry| entry.fields[0].1.clone())
            .collect()
    }

    #[test]
    fn a_second_follower_at_the_same_place_gets_the_first_ones_result() {
        let (_dir, engine) = engine();
        let start = add(&engine, b"seed");
        add(&engine, b"one");
        let stream = stream(&engine);
        let limit = ReadLimit::count(10);
        assert_eq!(
            values(&stream.read_after(start, limit).expect("a read")),
            [b"one"]
        );
        // Mark what is kept: a second read of the same view must return it, not read again.
        lock(&stream.shared_read)
            .as_mut()
            .expect("a small result is kept")
            .entries[0]
            .fields[0]
            .1 = b"kept".to_vec();
        assert_eq!(
            values(&stream.read_after(start, limit).expect("a read")),
            [b"kept"]
        );
        // Another place, or another limit, is read afresh.
        assert!(stream
            .read_after(start.next().expect("an ID"), limit)
            .is_ok());
        assert_eq!(
            values(&stream.read_after(start, limit).expect("a read")),
            [b"one"]
        );
    }

    #[test]
    fn any_write_since_makes_the_next_follower_read_afresh() {
        let (_dir, engine) = engine();
        let start = add(&engine, b"seed");
        let one = add(&engine, b"one");
        let stream = stream(&engine);
        let limit = ReadLimit::count(10);
        assert_eq!(stream.read_after(start, limit).expect("a read").len(), 1);
        add(&engine, b"two");
        assert_eq!(
            values(&stream.read_after(start, limit).expect("a read")),
            [b"one".to_vec(), b"two".to_vec()]
        );
        assert_eq!(engine.delete(b"s", &[one]).expect("an XDEL"), 1);
        assert_eq!(
            values(&stream.read_after(start, limit).expect("a read")),
            [b"two"]
        );
    }

    #[test]
    fn large_results_are_not_kept() {
        let (_dir, engine) = engine();
        let start = add(&engine, b"seed");
        let large = add(&engine, &vec![b'x'; SHARED_READ_BYTES_MAX + 1]);
        let stream = stream(&engine);
        assert_eq!(
            stream
                .read_after(start, ReadLimit::count(10))
                .expect("a read")
                .len(),
            1
        );
        assert!(lock(&stream.shared_read).is_none());
        add(&engine, b"small");
        let last = stream.read_after(large, ReadLimit::count(1));
        assert_eq!(last.expect("a read").len(), 1);
        assert!(lock(&stream.shared_read).is_some());
    }
}
