//! A sorted map held as a list of sorted chunks: the compact in-memory form of a pending-entries
//! list.
//!
//! A `BTreeMap` spends about as much again as its keys and values on nodes and leaves them
//! half full when filled in order; here each entry costs its key and value and a small share of
//! its chunk's slack. Chunks hold at most [`CHUNK_MAX`] entries: appending past the last key
//! (what new deliveries do) fills the last chunk and then starts a new one, so chunks filled in
//! order are full; an insert elsewhere splits a full chunk in two; a chunk emptied by removals
//! goes, and one fallen below a quarter is merged with its neighbour when both fit in one.
//! Lookups are two binary searches (over the chunks' last keys, then in the chunk); an insert
//! or removal moves at most a chunk's entries.

use std::ops::Bound;

/// Entries per chunk at most.
pub const CHUNK_MAX: usize = 256;

/// A map from `K` to `V`, sorted by key.
#[derive(Clone, Debug)]
pub struct ChunkMap<K, V> {
    chunks: Vec<Vec<(K, V)>>,
    len: usize,
}

impl<K, V> Default for ChunkMap<K, V> {
    fn default() -> Self {
        ChunkMap {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<K: Ord + Copy, V: Copy> ChunkMap<K, V> {
    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk that holds `key` or would: the first whose last key is not below it (the
    /// last chunk for a key above all). `None` when the map is empty.
    fn chunk_for(&self, key: &K) -> Option<usize> {
        if self.chunks.is_empty() {
            return None;
        }
        let at = self
            .chunks
            .partition_point(|chunk| chunk.last().is_some_and(|(last, _)| last < key));
        Some(at.min(self.chunks.len() - 1))
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        let chunk = &self.chunks[self.chunk_for(key)?];
        let at = chunk.binary_search_by(|(probe, _)| probe.cmp(key)).ok()?;
        Some(chunk[at].1)
    }

    /// Sets `key` to `value`; returns the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        let Some(index) = self.chunk_for(&key) else {
            self.chunks.push(vec![(key, value)]);
            self.len = 1;
            return None;
        };
        let chunk = &mut self.chunks[index];
        match chunk.binary_search_by(|(probe, _)| probe.cmp(&key)) {
            Ok(at) => Some(std::mem::replace(&mut chunk[at].1, value)),
            Err(at) if at == chunk.len() && chunk.len() == CHUNK_MAX => {
                // Past the last key of a full last chunk (appends in order): a new chunk.
                self.chunks.insert(index + 1, vec![(key, value)]);
                self.len += 1;
                None
            }
            Err(at) => {
                chunk.insert(at, (key, value));
                if chunk.len() > CHUNK_MAX {
                    let upper = chunk.split_off(chunk.len() / 2);
                    chunk.shrink_to(CHUNK_MAX);
                    self.chunks.insert(index + 1, upper);
                }
                self.len += 1;
                None
            }
        }
    }

    /// Removes `key`; returns its value if it was there.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let index = self.chunk_for(key)?;
        let chunk = &mut self.chunks[index];
        let at = chunk.binary_search_by(|(probe, _)| probe.cmp(key)).ok()?;
        let (_, value) = chunk.remove(at);
        self.len -= 1;
        self.settle(index);
        Some(value)
    }

    /// After a removal from chunk `index`: drops it if empty, merges it with a neighbour if
    /// small and both fit, and gives back capacity it no longer needs.
    fn settle(&mut self, index: usize) {
        let len = self.chunks[index].len();
        if len == 0 {
            self.chunks.remove(index);
            return;
        }
        if len < CHUNK_MAX / 4 {
            let neighbour = if index + 1 < self.chunks.len() {
                Some(index)
            } else {
                index.checked_sub(1)
            };
            if let Some(left) = neighbour {
                if self.chunks[left].len() + self.chunks[left + 1].len() <= CHUNK_MAX / 2 {
                    let right = self.chunks.remove(left + 1);
                    self.chunks[left].extend(right);
                    return;
                }
            }
        }
        let chunk = &mut self.chunks[index];
        if chunk.capacity() >= 4 * chunk.len().max(8) {
            chunk.shrink_to(2 * chunk.len());
        }
    }

    /// The first entry.
    pub fn first(&self) -> Option<(K, V)> {
        self.chunks.first()?.first().copied()
    }

    /// The last entry.
    pub fn last(&self) -> Option<(K, V)> {
        self.chunks.last()?.last().copied()
    }

    /// The entries from `start` on, in key order.
    pub fn range_from(&self, start: Bound<K>) -> impl Iterator<Item = (K, V)> + '_ {
        let (chunk, at) = match start {
            Bound::Unbounded => (0, 0),
            Bound::Included(key) | Bound::Excluded(key) => match self.chunk_for(&key) {
                None => (0, 0),
                Some(index) => {
                    let chunk = &self.chunks[index];
                    let at = match (chunk.binary_search_by(|(probe, _)| probe.cmp(&key)), start) {
                        (Ok(at), Bound::Excluded(_)) => at + 1,
                        (Ok(at) | Err(at), _) => at,
                    };
                    (index, at)
                }
            },
        };
        self.chunks
            .get(chunk..)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .flat_map(move |(offset, entries)| {
                let skip = if offset == 0 { at } else { 0 };
                entries.get(skip..).unwrap_or_default().iter().copied()
            })
    }

    /// Every entry, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.chunks.iter().flatten().copied()
    }

    /// Repacks the entries into full chunks (after a build that inserted out of order, such as
    /// a replay), giving back the slack.
    pub fn compact(&mut self) {
        let mut chunks = Vec::with_capacity(self.len.div_ceil(CHUNK_MAX));
        let mut chunk: Vec<(K, V)> = Vec::with_capacity(CHUNK_MAX.min(self.len));
        for entry in self.chunks.drain(..).flatten() {
            if chunk.len() == CHUNK_MAX {
                let left = self.len - chunks.len() * CHUNK_MAX - CHUNK_MAX;
                let next = Vec::with_capacity(CHUNK_MAX.min(left));
                chunks.push(std::mem::replace(&mut chunk, next));
            }
            chunk.push(entry);
        }
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
        self.chunks = chunks;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u8),
        Remove(u16),
        Range(u16, bool),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (any::<u16>(), any::<u8>()).prop_map(|(key, value)| Op::Insert(key % 2000, value)),
            2 => any::<u16>().prop_map(|key| Op::Remove(key % 2000)),
            1 => (any::<u16>(), any::<bool>()).prop_map(|(key, excluded)| Op::Range(key % 2000, excluded)),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec(op(), 1..3000)) {
            let mut map = ChunkMap::default();
            let mut model = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(key, value) => {
                        prop_assert_eq!(map.insert(key, value), model.insert(key, value));
                    }
                    Op::Remove(key) => prop_assert_eq!(map.remove(&key), model.remove(&key)),
                    Op::Range(key, excluded) => {
                        let bound = if excluded { Bound::Excluded(key) } else { Bound::Included(key) };
                        let got: Vec<_> = map.range_from(bound).take(40).collect();
                        let want: Vec<_> = model
                            .range((bound, Bound::Unbounded))
                            .take(40)
                            .map(|(key, value)| (*key, *value))
                            .collect();
                        prop_assert_eq!(got, want);
                    }
                }
                prop_assert_eq!(map.len(), model.len());
                prop_assert!(map.chunks.iter().all(|chunk| !chunk.is_empty() && chunk.len() <= CHUNK_MAX));
            }
            prop_assert_eq!(map.first(), model.first_key_value().map(|(key, value)| (*key, *value)));
            prop_assert_eq!(map.last(), model.last_key_value().map(|(key, value)| (*key, *value)));
            let all: Vec<_> = map.iter().collect();
            let want: Vec<_> = model.iter().map(|(key, value)| (*key, *value)).collect();
            prop_assert_eq!(&all, &want);
            map.compact();
            prop_assert_eq!(map.iter().collect::<Vec<_>>(), want);
            prop_assert!(map.chunks.iter().rev().skip(1).all(|chunk| chunk.len() == CHUNK_MAX));
            for key in 0..2000u16 {
                prop_assert_eq!(map.get(&key), model.get(&key).copied());
            }
        }
    }

    #[test]
    fn appends_in_order_fill_whole_chunks() {
        let mut map = ChunkMap::default();
        for key in 0..10 * CHUNK_MAX as u64 {
            map.insert(key, ());
        }
        assert_eq!(map.chunks.len(), 10);
        assert!(map.chunks.iter().all(|chunk| chunk.len() == CHUNK_MAX));
        // Removing in order frees chunks as they empty.
        for key in 0..5 * CHUNK_MAX as u64 {
            map.remove(&key);
        }
        assert_eq!(map.chunks.len(), 5);
        assert_eq!(map.first(), Some((5 * CHUNK_MAX as u64, ())));
    }
}
