//! Reading new entries: where XREAD's `$` and `+` start, several streams read within one reply
//! budget (XREAD), and one stream followed across reads (Tail).
//!
//! Blocking is the caller's business (it waits on [`super::Engine::watch`] and reads again);
//! these calls never wait. XREADGROUP's `>` will resolve here too.

use std::sync::{Arc, Weak};

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::id::{IdRange, StreamId};
use crate::model::{Entry, ReadLimit, ReadStart};
use crate::stream::{SharedEntries, Stream};

/// One stream followed across reads (a Tail): the last ID delivered, and which stream is being
/// followed, so that a stream dropped and created again under the name is noticed rather than
/// silently read from an old position.
pub struct Follower {
    name: Vec<u8>,
    after: StreamId,
    followed: Option<Weak<Stream>>,
    at_end: bool,
    /// Its hold on the last result it got, shared with the stream's other followers.
    held: SharedEntries,
}

/// What one look at a followed stream found.
#[derive(Debug)]
pub enum Followed {
    /// New entries (the follower has moved past them).
    Entries(Vec<Entry>),
    /// Nothing new (or the stream does not exist yet).
    Nothing,
    /// The followed stream was dropped.
    Dropped,
}

impl Follower {
    /// The followed name.
    pub fn name(&self) -> &[u8] {
        &self.name
    }

    /// The last ID delivered (or the starting point).
    pub fn after(&self) -> StreamId {
        self.after
    }

    /// Whether the last batch read ended at the stream's last-generated ID, as it stood after
    /// the read: nothing committed before the read is left unread. (False when unsure, say
    /// the newest entries were deleted: one more read then finds nothing.)
    pub fn at_end(&self) -> bool {
        self.at_end
    }
}

/// [`Engine::resolve_start`] in `stream` (`None`: missing).
fn resolve_in(stream: Option<&Arc<Stream>>, start: ReadStart) -> Result<StreamId> {
    let stream = match (start, stream) {
        (ReadStart::After(id), _) => return Ok(id),
        (_, None) => return Ok(StreamId::MIN),
        (_, Some(stream)) => stream,
    };
    if start == ReadStart::LastEntry {
        if let Some(last) = stream
            .range(IdRange::ALL, true, ReadLimit::count(1))?
            .first()
        {
            return Ok(last.id.prev().unwrap_or(StreamId::MIN));
        }
    }
    Ok(stream.last_id())
}

impl Engine {
    /// The ID a read of new entries in `name` starts after. `$` is the last-generated ID;
    /// `+` is just below the last *entry* (not the last-generated ID, whose entry may be
    /// deleted), so that entry is read (Redis 7.4 with redis#13632); an empty stream takes `+`
    /// as `$`. A missing stream starts at 0-0 either way. Resolved once, when a call starts:
    /// a blocked read keeps waiting for entries after the ID it resolved.
    pub fn resolve_start(&self, name: &[u8], start: ReadStart) -> Result<StreamId> {
        match start {
            ReadStart::After(id) => Ok(id),
            _ => resolve_in(self.stream(name)?.as_ref(), start),
        }
    }

    /// [`Engine::resolve_start`] for each of an XREAD's streams, in order.
    pub fn resolve_starts(
        &self,
        streams: Vec<(Vec<u8>, ReadStart)>,
    ) -> Result<Vec<(Vec<u8>, StreamId)>> {
        streams
            .into_iter()
            .map(|(name, start)| {
                let after = self.resolve_start(&name, start)?;
                Ok((name, after))
            })
            .collect()
    }

    /// XREAD: for each stream in turn, the entries after its ID, at most `limit.count`, all
    /// streams together within `limit.bytes`. `take` receives each stream's entries (streams
    /// without new entries are skipped) and answers how many bytes of the reply they took,
    /// which later streams cannot use; its error ends the read at once. A stream that does
    /// not fit in what is left is [`Error::ReplyTooLarge`], with `limit.bytes` as the maximum.
    pub fn read_after<E: From<Error>>(
        &self,
        cursors: &[(Vec<u8>, StreamId)],
        limit: ReadLimit,
        mut take: impl FnMut(&[u8], Vec<Entry>) -> Result<usize, E>,
    ) -> Result<(), E> {
        let mut used = 0usize;
        for (name, after) in cursors {
            let Some(range) = IdRange::after(*after) else {
                continue;
            };
            let left = ReadLimit {
                bytes: limit.bytes.saturating_sub(used),
                ..limit
            };
            let entries = match self.range(name, range, false, left) {
                Ok(Some(entries)) if !entries.is_empty() => entries,
                Ok(_) => continue,
                Err(Error::ReplyTooLarge { .. }) => {
                    return Err(Error::ReplyTooLarge { max: limit.bytes }.into())
                }
                Err(error) => return Err(error.into()),
            };
            used = used.saturating_add(take(name, entries)?);
        }
        Ok(())
    }

    /// Starts following `name` from `start` (resolved now, as [`Engine::resolve_start`] does).
    pub fn follow(&self, name: &[u8], start: ReadStart) -> Result<Follower> {
        let stream = self.stream(name)?;
        let after = resolve_in(stream.as_ref(), start)?;
        Ok(Follower {
            name: name.to_vec(),
            after,
            followed: stream.as_ref().map(Arc::downgrade),
            at_end: false,
            held: None,
        })
    }

    /// The next entries of a followed stream, within `limit`, moving the follower past them. A
    /// follower of a stream that did not exist yet starts following the first stream created
    /// under the name.
    pub fn follow_next(&self, follower: &mut Follower, limit: ReadLimit) -> Result<Followed> {
        let Some(stream) = self.stream(&follower.name)? else {
            return Ok(match follower.followed {
                Some(_) => Followed::Dropped,
                None => Followed::Nothing,
            });
        };
        match &follower.followed {
            Some(followed) if !std::ptr::eq(followed.as_ptr(), Arc::as_ptr(&stream)) => {
                return Ok(Followed::Dropped);
            }
            Some(_) => {}
            None => follower.followed = Some(Arc::downgrade(&stream)),
        }
        let entries = match stream.read_for_follower(follower.after, limit, &mut follower.held) {
            Ok(entries) => entries,
            Err(Error::Dropped) => return Ok(Followed::Dropped),
            Err(error) => return Err(error),
        };
        let Some(last) = entries.last() else {
            return Ok(Followed::Nothing);
        };
        follower.after = last.id;
        follower.at_end = stream.last_id() <= last.id;
        Ok(Followed::Entries(entries))
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{NewEntry, ReadLimit, ReadStart};
    use crate::{AddId, Config, Engine, FsyncPolicy};

    use super::Followed;

    fn add(engine: &Engine, count: usize) {
        let entries: Vec<NewEntry> = (0..count)
            .map(|_| NewEntry {
                id: AddId::Auto,
                fields: vec![(b"f".to_vec(), b"v".to_vec())],
            })
            .collect();
        engine.add(b"s", &entries, false, None).expect("an add");
    }

    #[test]
    fn ranges_of_the_newest_entries_are_told_apart_from_older_ones() {
        use crate::id::{IdRange, StreamId};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        config.segment_bytes_max = 4096;
        config.entry_bytes_max = 1024;
        let engine = Engine::open(config).expect("the engine opens");
        for _ in 0..200 {
            add(&engine, 10);
        }
        let stream = engine.stream(b"s").expect("a lookup").expect("the stream");
        let view = stream.log().view();
        assert!(
            view.segment_count() > 2,
            "sealed segments and an active one"
        );
        let newest = engine
            .range(b"s", IdRange::ALL, true, ReadLimit::count(1))
            .expect("a range")
            .expect("the stream")[0]
            .id;
        let recent = |range: IdRange, rev: bool, count: usize| {
            engine
                .range_if_recent(b"s", range, rev, ReadLimit::count(count))
                .is_some()
        };
        let from_newest = IdRange {
            start: newest,
            end: StreamId::MAX,
        };
        assert!(
            recent(from_newest, false, 100),
            "XRANGE from the newest entry"
        );
        assert!(
            !recent(IdRange::ALL, false, 100),
            "XRANGE - + reads the oldest"
        );
        assert!(recent(IdRange::ALL, true, 1), "XREVRANGE + - COUNT 1");
        assert!(
            !recent(IdRange::ALL, true, 1_000_000),
            "XREVRANGE + - of more than the active segment holds"
        );
        assert!(matches!(
            engine.range_if_recent(b"missing", IdRange::ALL, false, ReadLimit::count(10)),
            Some(Ok(None))
        ));
    }

    #[test]
    fn a_follower_knows_when_its_read_reached_the_end() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        let engine = Engine::open(config).expect("the engine opens");
        add(&engine, 1);
        let mut follower = engine
            .follow(b"s", ReadStart::LastGenerated)
            .expect("a follower");
        add(&engine, 3);
        let read = |follower: &mut super::Follower, count| match engine
            .follow_next(follower, ReadLimit::count(count))
        {
            Ok(Followed::Entries(entries)) => entries.len(),
            other => panic!("expected entries, got {other:?}"),
        };
        assert_eq!(read(&mut follower, 2), 2);
        assert!(!follower.at_end(), "one entry is left");
        assert_eq!(read(&mut follower, 2), 1);
        assert!(follower.at_end());
        add(&engine, 1);
        assert!(
            follower.at_end(),
            "until the next read: the change wakes the waiter"
        );
        assert_eq!(read(&mut follower, 2), 1);
        assert!(follower.at_end());
    }

    /// Ranges of every size from many starts in a large active segment, whose reads are sized
    /// by the entries wanted (and so end mid-record, or hold fewer records than wanted): each
    /// returns exactly the slice of the whole stream it names, forward and reverse.
    #[test]
    fn sized_reads_of_the_active_segment_return_exact_ranges() {
        use crate::id::{IdRange, StreamId};
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut config = Config::new(dir.path());
        config.fsync = FsyncPolicy::No;
        config.segment_bytes_max = 8 << 20;
        config.index_interval_bytes = 4096;
        let engine = Engine::open(config).expect("the engine opens");
        for n in 0..3000usize {
            // Sizes vary, so no read boundary falls on a record boundary by construction.
            let value = vec![b'v'; 20 + (n * 37) % 300];
            let entry = NewEntry {
                id: AddId::Auto,
                fields: vec![(b"f".to_vec(), value)],
            };
            engine.add(b"s", &[entry], false, None).expect("an add");
        }
        let all = engine
            .range(b"s", IdRange::ALL, false, ReadLimit::count(usize::MAX))
            .expect("a range")
            .expect("the stream");
        assert_eq!(all.len(), 3000);
        for start in (0..3000).step_by(97) {
            for count in [1usize, 7, 100, 333, 2999] {
                let range = IdRange {
                    start: all[start].id,
                    end: StreamId::MAX,
                };
                let got = engine
                    .range(b"s", range, false, ReadLimit::count(count))
                    .expect("a range")
                    .expect("the stream");
                let expected = &all[start..(start + count).min(all.len())];
                assert_eq!(got.len(), expected.len(), "start {start} count {count}");
                assert!(
                    got.iter().zip(expected).all(|(a, b)| a == b),
                    "start {start} count {count}"
                );
                let reverse = IdRange {
                    start: StreamId::MIN,
                    end: all[start].id,
                };
                let got = engine
                    .range(b"s", reverse, true, ReadLimit::count(count))
                    .expect("a reverse range")
                    .expect("the stream");
                let low = (start + 1).saturating_sub(count);
                let expected: Vec<_> = all[low..=start].iter().rev().collect();
                assert_eq!(
                    got.iter().collect::<Vec<_>>(),
                    expected,
                    "reverse start {start} count {count}"
                );
            }
        }
    }
}
