//! An in-memory [`FileSystem`] that can lose power.
//!
//! Every file has two contents: what the running program sees, and what would survive a power
//! cut (the bytes as of its last `sync_data`). Every directory entry likewise exists in the live
//! namespace at once and in the durable namespace only after `sync_dir` of its parent. A power
//! cut is scheduled with [`SimFs::cut_after`]: after that many mutating operations every call
//! fails, as if the machine had stopped. [`SimFs::reboot`] then brings back only what was
//! durable, optionally keeping a torn prefix of each file's unsynced tail, which is what a disk
//! may do with the last write in flight. Tests use it to check the engine's promises at every
//! point of a workload where power could fail.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::fs::{File, FileSystem, Mapping, OpenMode};

/// What survives of unsynced data at a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Nothing that no sync covered.
    Clean,
    /// Unsynced writes reach the disk page by page, in any order, or not at all: for each
    /// 4 KiB page of a file that differs from its durable content, the seed picks whether the
    /// page survives as it was, as it is, or as a prefix of what it is (a torn write, its last
    /// surviving byte sometimes garbage). An unsynced growth of the file survives in part.
    Torn {
        /// Seeds the choices.
        seed: u64,
    },
}

/// The page size of the simulated disk's write-back.
const PAGE_BYTES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Dir,
    File(u64),
}

#[derive(Default)]
struct Inode {
    live: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Default)]
struct State {
    live: BTreeMap<PathBuf, Node>,
    durable: BTreeMap<PathBuf, Node>,
    inodes: HashMap<u64, Inode>,
    next_inode: u64,
    /// Mutating operations left before the power cut; `None` = no cut scheduled.
    ops_left: Option<u64>,
    /// Power is off: every operation fails.
    down: bool,
    /// Mutating operations performed so far.
    ops_done: u64,
    /// File syncs fail (and nothing else does): a disk reporting write-back errors.
    failing_syncs: bool,
    /// Directory syncs fail: all of them, or those of one directory.
    failing_dir_syncs: bool,
    failing_dir: Option<PathBuf>,
    /// Reads and maps fail (a transient error such as EMFILE or EIO on read).
    failing_reads: bool,
}

/// The simulated file system. Cheap to clone; clones share the same disk.
#[derive(Clone, Default)]
pub struct SimFs {
    state: Arc<Mutex<State>>,
}

fn power_off() -> io::Error {
    io::Error::other("simulated power loss")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl State {
    fn check_up(&self) -> io::Result<()> {
        if self.down {
            Err(power_off())
        } else {
            Ok(())
        }
    }

    /// Counts one mutating operation; fails (and leaves power off) once the budget is spent.
    fn mutate(&mut self) -> io::Result<()> {
        self.check_up()?;
        if let Some(left) = self.ops_left.as_mut() {
            if *left == 0 {
                self.down = true;
                return Err(power_off());
            }
            *left -= 1;
        }
        self.ops_done += 1;
        Ok(())
    }

    fn parent_is_dir(&self, path: &Path) -> bool {
        match path.parent() {
            None => true,
            Some(parent) if parent.as_os_str().is_empty() => true,
            Some(parent) => self.live.get(parent) == Some(&Node::Dir),
        }
    }
}

impl SimFs {
    /// An empty disk with power on.
    pub fn new() -> SimFs {
        SimFs::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        crate::lock::lock(&self.state)
    }

    /// Schedules a power cut after `ops` more mutating operations (writes, syncs, creations,
    /// renames, removals): the `ops + 1`-th fails and every call after it too.
    pub fn cut_after(&self, ops: u64) {
        self.lock().ops_left = Some(ops);
    }

    /// Cuts power now.
    pub fn cut_now(&self) {
        self.lock().down = true;
    }

    /// Makes every `sync_data` and `sync_dir` fail (or succeed again), while reads and writes
    /// keep working: a disk that reports write-back errors.
    pub fn fail_syncs(&self, failing: bool) {
        let mut state = self.lock();
        state.failing_syncs = failing;
        state.failing_dir_syncs = failing;
    }

    /// Makes reads and maps fail (or succeed again); writes and syncs keep working.
    pub fn fail_reads(&self, failing: bool) {
        self.lock().failing_reads = failing;
    }

    /// Makes `sync_dir` of one directory fail (`None`: none).
    pub fn fail_dir_syncs_of(&self, dir: Option<&Path>) {
        self.lock().failing_dir = dir.map(Path::to_path_buf);
    }

    /// Whether power is off.
    pub fn is_down(&self) -> bool {
        self.lock().down
    }

    /// How many mutating operations have succeeded so far.
    pub fn ops_done(&self) -> u64 {
        self.lock().ops_done
    }

    /// Restores power with only durable state left (see [`Tear`]); cancels any scheduled cut.
    pub fn reboot(&self, tear: Tear) {
        let mut state = self.lock();
        state.down = false;
        state.ops_left = None;
        // An entry survives only if every directory above it does: a file synced into a
        // directory whose own entry never became durable is unreachable after the cut.
        let durable = state.durable.clone();
        state.durable.retain(|path, _| {
            path.ancestors()
                .skip(1)
                .filter(|ancestor| !ancestor.as_os_str().is_empty() && ancestor.parent().is_some())
                .all(|ancestor| durable.get(ancestor) == Some(&Node::Dir))
        });
        state.live = state.durable.clone();
        let mut rng = match tear {
            Tear::Clean => None,
            // splitmix64 of the seed: xorshift's first outputs from small seeds are poor.
            Tear::Torn { seed } => {
                let mut mixed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                Some((mixed ^ (mixed >> 31)) | 1)
            }
        };
        let referenced: std::collections::HashSet<u64> = state
            .live
            .values()
            .filter_map(|node| match node {
                Node::File(inode) => Some(*inode),
                Node::Dir => None,
            })
            .collect();
        state.inodes.retain(|inode, _| referenced.contains(inode));
        let mut inode_ids: Vec<u64> = state.inodes.keys().copied().collect();
        inode_ids.sort_unstable();
        for inode_id in inode_ids {
            let Some(inode) = state.inodes.get_mut(&inode_id) else {
                continue;
            };
            let mut survived = inode.durable.clone();
            if let Some(rng) = rng.as_mut() {
                survived = torn(&inode.durable, &inode.live, rng);
            }
            inode.live = survived.clone();
            inode.durable = survived;
        }
    }

    /// The live content of a file, for tests that corrupt or inspect bytes directly.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        match state.live.get(path) {
            Some(Node::File(inode)) => state.inodes.get(inode).map(|inode| inode.live.clone()),
            _ => None,
        }
    }
}

/// What a power cut leaves of a file whose durable content is `durable` and whose content in
/// memory is `live` (see [`Tear::Torn`]).
fn torn(durable: &[u8], live: &[u8], rng: &mut u64) -> Vec<u8> {
    let len = if live.len() > durable.len() {
        durable.len() + (next_random(rng) % (live.len() - durable.len() + 1) as u64) as usize
    } else {
        durable.len()
    };
    let mut out = durable.to_vec();
    out.resize(len, 0);
    for start in (0..len).step_by(PAGE_BYTES) {
        let end = (start + PAGE_BYTES).min(len);
        let new = |at: usize| live.get(at).copied().unwrap_or(0);
        if (start..end).all(|at| out[at] == new(at)) {
            continue;
        }
        // Only the bytes that changed can be torn: a write does not damage what it did not
        // write (storage's "powersafe overwrite", which SQLite also assumes).
        let first = (start..end).find(|&at| out[at] != new(at)).unwrap_or(start);
        let last = (start..end)
            .rev()
            .find(|&at| out[at] != new(at))
            .unwrap_or(first)
            + 1;
        match next_random(rng) % 4 {
            0 => {} // the page never reached the disk
            1 => (first..last).for_each(|at| out[at] = new(at)),
            _ => {
                // Torn: a prefix of the changed bytes, the last one maybe garbage.
                let keep = (next_random(rng) % (last - first + 1) as u64) as usize;
                (first..first + keep).for_each(|at| out[at] = new(at));
                if keep > 0 && next_random(rng) % 2 == 0 {
                    out[first + keep - 1] ^= 0x5a;
                }
            }
        }
    }
    out
}

/// xorshift64: deterministic, dependency-free randomness for tearing.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

struct SimFile {
    fs: SimFs,
    inode: u64,
    writable: bool,
}

impl SimFile {
    fn with_inode<T>(
        &self,
        mutating: bool,
        action: impl FnOnce(&mut Inode) -> io::Result<T>,
    ) -> io::Result<T> {
        let mut state = self.fs.lock();
        if mutating {
            if !self.writable {
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    "file opened read-only",
                ));
            }
            state.mutate()?;
        } else {
            state.check_up()?;
        }
        let inode = state
            .inodes
            .get_mut(&self.inode)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "file was removed"))?;
        action(inode)
    }
}

impl File for SimFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if self.fs.lock().failing_reads {
            return Err(io::Error::other("simulated read error"));
        }
        self.with_inode(false, |inode| {
            let offset = offset as usize;
            if offset >= inode.live.len() {
                return Ok(0);
            }
            let count = buf.len().min(inode.live.len() - offset);
            buf[..count].copy_from_slice(&inode.live[offset..offset + count]);
            Ok(count)
        })
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.with_inode(true, |inode| {
            let offset = offset as usize;
            let end = offset + data.len();
            if inode.live.len() < end {
                inode.live.resize(end, 0);
            }
            inode.live[offset..end].copy_from_slice(data);
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        if self.fs.lock().failing_syncs {
            return Err(io::Error::other("simulated write-back error"));
        }
        self.with_inode(true, |inode| {
            inode.durable = inode.live.clone();
            Ok(())
        })
    }

    fn len(&self) -> io::Result<u64> {
        self.with_inode(false, |inode| Ok(inode.live.len() as u64))
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.with_inode(true, |inode| {
            inode.live.resize(len as usize, 0);
            Ok(())
        })
    }

    fn map(&self) -> io::Result<Mapping> {
        if self.fs.lock().failing_reads {
            return Err(io::Error::other("simulated read error"));
        }
        self.with_inode(false, |inode| Ok(Arc::new(inode.live.clone()) as Mapping))
    }
}

impl FileSystem for SimFs {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        let mut missing = Vec::new();
        let mut cursor = Some(path);
        while let Some(dir) = cursor {
            if dir.as_os_str().is_empty() {
                break;
            }
            match state.live.get(dir) {
                Some(Node::Dir) => break,
                Some(Node::File(_)) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} is a file", dir.display()),
                    ))
                }
                None => missing.push(dir.to_path_buf()),
            }
            cursor = dir.parent();
        }
        for dir in missing.into_iter().rev() {
            state.mutate()?;
            state.live.insert(dir, Node::Dir);
        }
        state.check_up()
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<OsString>> {
        let state = self.lock();
        state.check_up()?;
        if state.live.get(path) != Some(&Node::Dir) {
            return Err(not_found(path));
        }
        Ok(state
            .live
            .keys()
            .filter(|child| child.parent() == Some(path))
            .filter_map(|child| child.file_name().map(|name| name.to_os_string()))
            .collect())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn File>> {
        let mut state = self.lock();
        state.check_up()?;
        let inode = match state.live.get(path) {
            Some(Node::File(inode)) => *inode,
            Some(Node::Dir) => {
                return Err(io::Error::other(format!(
                    "{} is a directory",
                    path.display()
                )))
            }
            None if mode == OpenMode::Create => {
                if !state.parent_is_dir(path) {
                    return Err(not_found(path));
                }
                state.mutate()?;
                state.next_inode += 1;
                let inode = state.next_inode;
                state.inodes.insert(inode, Inode::default());
                state.live.insert(path.to_path_buf(), Node::File(inode));
                inode
            }
            None => return Err(not_found(path)),
        };
        Ok(Arc::new(SimFile {
            fs: self.clone(),
            inode,
            writable: mode != OpenMode::Read,
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        self.lock().live.contains_key(path)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up()?;
        match state.live.get(path) {
            Some(Node::File(_)) => {
                state.mutate()?;
                state.live.remove(path);
                Ok(())
            }
            _ => Err(not_found(path)),
        }
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up()?;
        if !state.live.contains_key(path) {
            return Err(not_found(path));
        }
        state.mutate()?;
        state
            .live
            .retain(|child, _| !(child == path || child.starts_with(path)));
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up()?;
        let Some(node) = state.live.get(from).copied() else {
            return Err(not_found(from));
        };
        if !state.parent_is_dir(to) {
            return Err(not_found(to));
        }
        state.mutate()?;
        let moved: Vec<(PathBuf, Node)> = state
            .live
            .iter()
            .filter(|(child, _)| *child != from && child.starts_with(from))
            .map(|(child, node)| (child.clone(), *node))
            .collect();
        state
            .live
            .retain(|child, _| !(child == from || child.starts_with(from)));
        state
            .live
            .retain(|child, _| !(child == to || child.starts_with(to)));
        state.live.insert(to.to_path_buf(), node);
        for (child, node) in moved {
            if let Ok(suffix) = child.strip_prefix(from) {
                state.live.insert(to.join(suffix), node);
            }
        }
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        if state.failing_dir_syncs || state.failing_dir.as_deref() == Some(path) {
            return Err(io::Error::other("simulated write-back error"));
        }
        state.mutate()?;
        // The entries directly in `path` become durable as they are now. A directory made
        // durable brings its subtree's entries that are durable relative to it, which matches
        // a journaling file system committing a rename of a whole directory.
        let live_children: Vec<(PathBuf, Node)> = state
            .live
            .iter()
            .filter(|(child, _)| child.parent() == Some(path))
            .map(|(child, node)| (child.clone(), *node))
            .collect();
        let durable_children: Vec<PathBuf> = state
            .durable
            .keys()
            .filter(|child| child.parent() == Some(path))
            .cloned()
            .collect();
        for child in durable_children {
            if !state.live.contains_key(&child) {
                state
                    .durable
                    .retain(|entry, _| !(entry == &child || entry.starts_with(&child)));
            }
        }
        for (child, node) in live_children {
            let previous = state.durable.insert(child.clone(), node);
            if node == Node::Dir && previous != Some(Node::Dir) {
                // A directory that just became reachable durably (e.g. renamed into place):
                // its contents become reachable as they are now.
                let subtree: Vec<(PathBuf, Node)> = state
                    .live
                    .iter()
                    .filter(|(entry, _)| *entry != &child && entry.starts_with(&child))
                    .map(|(entry, node)| (entry.clone(), *node))
                    .collect();
                state
                    .durable
                    .retain(|entry, _| !(entry != &child && entry.starts_with(&child)));
                state.durable.extend(subtree);
            }
        }
        Ok(())
    }

    fn lock(&self, _path: &Path) -> io::Result<Box<dyn std::any::Any + Send + Sync>> {
        self.lock().check_up()?;
        Ok(Box::new(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsynced_data_and_entries_vanish_at_power_cut() {
        let fs = SimFs::new();
        let dir = Path::new("/d");
        fs.create_dir_all(dir).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        let synced = fs.open(&dir.join("a"), OpenMode::Create).unwrap();
        synced.write_all_at(b"kept", 0).unwrap();
        synced.sync_data().unwrap();
        fs.sync_dir(dir).unwrap();
        synced.write_all_at(b"lost", 4).unwrap();
        let unsynced_entry = fs.open(&dir.join("b"), OpenMode::Create).unwrap();
        unsynced_entry.write_all_at(b"x", 0).unwrap();
        unsynced_entry.sync_data().unwrap();

        fs.cut_now();
        assert!(synced.len().is_err());
        fs.reboot(Tear::Clean);
        assert_eq!(fs.contents(&dir.join("a")).unwrap(), b"kept");
        assert!(!fs.exists(&dir.join("b")));
    }

    #[test]
    fn files_in_a_directory_that_never_became_durable_are_lost() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs.sync_dir(Path::new("/")).unwrap();
        fs.create_dir_all(Path::new("/d/new")).unwrap();
        let file = fs.open(Path::new("/d/new/f"), OpenMode::Create).unwrap();
        file.sync_data().unwrap();
        fs.sync_dir(Path::new("/d/new")).unwrap();
        fs.cut_now();
        fs.reboot(Tear::Clean);
        assert!(!fs.exists(Path::new("/d/new/f")));
        assert!(fs.exists(Path::new("/d")));
    }

    #[test]
    fn scheduled_cut_fails_the_next_mutation() {
        let fs = SimFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let file = fs.open(Path::new("/d/f"), OpenMode::Create).unwrap();
        fs.cut_after(1);
        file.write_all_at(b"one", 0).unwrap();
        assert!(file.write_all_at(b"two", 3).is_err());
        assert!(fs.is_down());
    }

    #[test]
    fn torn_reboot_keeps_synced_pages_and_some_unsynced_ones() {
        let mut outcomes = std::collections::HashSet::new();
        for seed in 1..200 {
            let fs = SimFs::new();
            fs.create_dir_all(Path::new("/d")).unwrap();
            fs.sync_dir(Path::new("/")).unwrap();
            let file = fs.open(Path::new("/d/f"), OpenMode::Create).unwrap();
            fs.sync_dir(Path::new("/d")).unwrap();
            file.write_all_at(&[b'a'; 3 * PAGE_BYTES], 0).unwrap();
            file.sync_data().unwrap();
            // Overwrite pages 0 and 2 in place, unsynced (a preallocated file never grows).
            file.write_all_at(&[b'b'; PAGE_BYTES], 0).unwrap();
            file.write_all_at(&[b'c'; PAGE_BYTES], 2 * PAGE_BYTES as u64)
                .unwrap();
            fs.reboot(Tear::Torn { seed });
            let content = fs.contents(Path::new("/d/f")).unwrap();
            assert_eq!(content.len(), 3 * PAGE_BYTES);
            assert!(content[PAGE_BYTES..2 * PAGE_BYTES]
                .iter()
                .all(|&b| b == b'a'));
            outcomes.insert((content[0], content[2 * PAGE_BYTES]));
        }
        // Both pages each survive as old or new, in every combination, over enough seeds.
        for pair in [(b'a', b'a'), (b'b', b'a'), (b'a', b'c'), (b'b', b'c')] {
            assert!(outcomes.contains(&pair), "never saw {pair:?}");
        }
    }
}
