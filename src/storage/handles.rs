//! The bounded cache of open segment files and memory maps, shared by all streams.
//!
//! A store with ten thousand streams must not hold ten thousand descriptors or maps at once, so
//! every segment file the engine reads or appends to is opened through this cache, which keeps
//! at most `open_files_max` of them (least recently used first out). An evicted handle stays
//! valid for whoever still holds it; it is closed when the last holder lets go. The cache is
//! split into shards so unrelated streams rarely contend on one lock.

use std::hash::{Hash, Hasher};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;

use crate::lock::lock;
use crate::storage::fs::{File, Mapping};

/// What a cached handle is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HandleKind {
    /// The log file, open for reading and writing (active segment).
    LogFile,
    /// The index file, open for reading and writing (active segment).
    IndexFile,
    /// A read-only map of a sealed log.
    LogMap,
    /// A read-only map of a sealed index.
    IndexMap,
    /// The group journal, open for reading and writing (its generation in place of a segment).
    JournalFile,
}

/// Identifies a handle: the stream's run-time id, the segment, the kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HandleKey {
    /// The stream's id for this engine run (never reused, so a dropped and recreated stream
    /// cannot see its predecessor's handles).
    pub stream: u64,
    /// The segment.
    pub segment: u64,
    /// Which file, how opened.
    pub kind: HandleKind,
}

/// A cached handle.
#[derive(Clone)]
pub enum Handle {
    /// An open file.
    File(Arc<dyn File>),
    /// A read-only view.
    Map(Mapping),
}

const SHARDS_MAX: usize = 16;

/// The cache.
pub struct HandleCache {
    shards: Vec<Mutex<LruCache<HandleKey, Handle>>>,
}

impl HandleCache {
    /// A cache holding at most `capacity` handles (at least one per shard).
    pub fn new(capacity: usize) -> HandleCache {
        // Up to 16 shards of at least 4 handles each, never more handles than `capacity`.
        let shards = (capacity / 4).clamp(1, SHARDS_MAX);
        let per_shard = NonZeroUsize::new((capacity / shards).max(1)).unwrap_or(NonZeroUsize::MIN);
        HandleCache {
            shards: (0..shards)
                .map(|_| Mutex::new(LruCache::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, key: &HandleKey) -> &Mutex<LruCache<HandleKey, Handle>> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        key.stream.hash(&mut hasher);
        key.segment.hash(&mut hasher);
        &self.shards[(hasher.finish() as usize) % self.shards.len()]
    }

    /// The cached handle for `key`, or the one `open` makes (then cached).
    pub fn get_or_open<E>(
        &self,
        key: HandleKey,
        open: impl FnOnce() -> Result<Handle, E>,
    ) -> Result<Handle, E> {
        let shard = self.shard(&key);
        if let Some(handle) = lock(shard).get(&key) {
            return Ok(handle.clone());
        }
        // Open outside the lock: opening and mapping are system calls.
        let handle = open()?;
        let mut cache = lock(shard);
        if let Some(existing) = cache.get(&key) {
            return Ok(existing.clone());
        }
        cache.put(key, handle.clone());
        Ok(handle)
    }

    /// Forgets one handle (its file is being removed or replaced).
    pub fn evict(&self, key: &HandleKey) {
        lock(self.shard(key)).pop(key);
    }

    /// Forgets every handle of a segment.
    pub fn evict_segment(&self, stream: u64, segment: u64) {
        for kind in [
            HandleKind::LogFile,
            HandleKind::IndexFile,
            HandleKind::LogMap,
            HandleKind::IndexMap,
        ] {
            self.evict(&HandleKey {
                stream,
                segment,
                kind,
            });
        }
    }

    /// Number of handles held.
    pub fn len(&self) -> usize {
        self.shards.iter().map(|shard| lock(shard).len()).sum()
    }

    /// Whether no handle is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_capacities_are_honoured() {
        for capacity in [1usize, 4, 7, 16, 63] {
            let cache = HandleCache::new(capacity);
            for segment in 0..200u64 {
                let key = HandleKey {
                    stream: 1,
                    segment,
                    kind: HandleKind::LogMap,
                };
                let opened: Result<Handle, ()> =
                    cache.get_or_open(key, || Ok(Handle::Map(Arc::new(Vec::new()))));
                assert!(opened.is_ok());
            }
            assert!(
                cache.len() <= capacity,
                "{} held for {capacity}",
                cache.len()
            );
        }
    }

    #[test]
    fn bounded_and_evicts_least_recent() {
        let cache = HandleCache::new(SHARDS_MAX);
        for segment in 0..1000u64 {
            let key = HandleKey {
                stream: 1,
                segment,
                kind: HandleKind::LogMap,
            };
            let opened: Result<Handle, ()> =
                cache.get_or_open(key, || Ok(Handle::Map(Arc::new(vec![segment as u8]))));
            assert!(opened.is_ok());
        }
        assert!(cache.len() <= SHARDS_MAX);
    }
}
