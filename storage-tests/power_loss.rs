//! Power loss: a SIGKILL only proves that data reached the kernel. Here the engine runs on a
//! simulated file system ([`SimFs`]) that loses every write no sync covered when power is cut,
//! optionally tearing the last one. A workload of adds, atomic batches, deletes, trims, XSETID,
//! stream creation, drops and renames runs with a power cut scheduled after `k` mutating file-system
//! operations, for every `k` the workload performs; after each cut the disk is rebooted and the
//! engine reopened, and the store must:
//! - open, whatever the cut point (repairing what the cut broke);
//! - hold every acknowledged operation's effect exactly;
//! - show the operation in flight at the cut either not at all or whole (a batch is all or
//!   nothing; a delete removes a subset of its IDs; a trim removes a prefix of what it would);
//! - keep working: accept a write and reopen cleanly.
//!
//! `SLUICE_POWER_LOSS_SEEDS=n` runs `n` random workloads instead of the default few.

use std::collections::BTreeMap;
use std::sync::Arc;

use sluice::clock::ManualClock;
use sluice::storage::sim_fs::{SimFs, Tear};
use sluice::{
    AddId, Config, Engine, Entry, Field, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId,
    TrimSpec, TrimStrategy,
};

const STREAMS: [&[u8]; 2] = [b"alpha", b"beta"];

#[derive(Clone, Debug)]
enum Op {
    Add(usize, Vec<(StreamId, Vec<Field>)>),
    Delete(usize, Vec<StreamId>),
    Trim(usize, TrimSpec),
    SetId(usize, StreamId, u64),
    Drop(usize),
    /// RENAME of this stream onto the other one (replacing it if it exists).
    Rename(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct StreamModel {
    entries: BTreeMap<StreamId, Vec<Field>>,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
}

type State = [Option<StreamModel>; 2];

/// xorshift64*: a deterministic workload from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn fields(rng: &mut Rng, tag: u64) -> Vec<Field> {
    let pad = rng.below(40) as usize;
    vec![
        (b"tag".to_vec(), tag.to_string().into_bytes()),
        (b"pad".to_vec(), vec![b'a' + (tag % 26) as u8; pad]),
    ]
}

/// A valid workload: every operation succeeds when no power is cut.
fn workload(seed: u64, length: usize) -> Vec<Op> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut state: State = Default::default();
    let mut ops = Vec::new();
    let mut tag = 0;
    while ops.len() < length {
        let stream = rng.below(2) as usize;
        let model = &mut state[stream];
        let op = match rng.below(20) {
            0..=10 => {
                let count = if rng.below(4) == 0 {
                    1 + rng.below(4)
                } else {
                    1
                };
                let mut last = model.as_ref().map_or(StreamId::MIN, |m| m.last_id);
                let mut batch = Vec::new();
                for _ in 0..count {
                    last = StreamId::new(last.ms + 1 + rng.below(3), rng.below(2));
                    tag += 1;
                    batch.push((last, fields(&mut rng, tag)));
                }
                Op::Add(stream, batch)
            }
            11..=13 => {
                let Some(model) = model else { continue };
                let mut ids: Vec<StreamId> = model
                    .entries
                    .keys()
                    .filter(|_| rng.below(4) == 0)
                    .take(3)
                    .copied()
                    .collect();
                ids.push(StreamId::new(rng.below(50), 0));
                Op::Delete(stream, ids)
            }
            14..=16 => {
                let Some(model) = model else { continue };
                let strategy = if rng.below(2) == 0 {
                    TrimStrategy::MaxLen(
                        model
                            .entries
                            .len()
                            .saturating_sub(1 + rng.below(6) as usize)
                            as u64,
                    )
                } else {
                    let keys: Vec<_> = model.entries.keys().copied().collect();
                    match keys.get(rng.below(keys.len().max(1) as u64) as usize) {
                        Some(id) => TrimStrategy::MinId(*id),
                        None => TrimStrategy::MinId(StreamId::new(1, 0)),
                    }
                };
                Op::Trim(
                    stream,
                    TrimSpec {
                        strategy,
                        approx: rng.below(3) == 0,
                        limit: 0,
                    },
                )
            }
            17 => {
                let Some(model) = model else { continue };
                let top = model.last_id;
                Op::SetId(
                    stream,
                    StreamId::new(top.ms + rng.below(5), top.seq),
                    model.entries_added + rng.below(3),
                )
            }
            18 => {
                if model.is_none() {
                    continue;
                }
                Op::Drop(stream)
            }
            19 => {
                if model.is_none() {
                    continue;
                }
                Op::Rename(stream)
            }
            _ => continue,
        };
        apply(&mut state, &op, None);
        ops.push(op);
    }
    ops
}

/// Applies `op` to the model; for a trim, `removed` (if known) says how many entries went.
fn apply(state: &mut State, op: &Op, removed: Option<u64>) {
    match op {
        Op::Add(stream, batch) => {
            let model = state[*stream].get_or_insert_with(StreamModel::default);
            for (id, fields) in batch {
                model.entries.insert(*id, fields.clone());
                model.last_id = *id;
                model.entries_added += 1;
            }
        }
        Op::Delete(stream, ids) => {
            if let Some(model) = state[*stream].as_mut() {
                for id in ids {
                    if model.entries.remove(id).is_some() {
                        model.max_deleted = model.max_deleted.max(*id);
                    }
                }
            }
        }
        Op::Trim(stream, spec) => {
            if let Some(model) = state[*stream].as_mut() {
                let exact = match spec.strategy {
                    TrimStrategy::MaxLen(max) => model.entries.len().saturating_sub(max as usize),
                    TrimStrategy::MinId(min) => model.entries.range(..min).count(),
                };
                let count = removed.map_or(exact, |removed| removed as usize);
                for _ in 0..count {
                    model.entries.pop_first();
                }
            }
        }
        Op::SetId(stream, id, added) => {
            if let Some(model) = state[*stream].as_mut() {
                model.last_id = *id;
                model.entries_added = *added;
            }
        }
        Op::Drop(stream) => state[*stream] = None,
        Op::Rename(stream) => state[1 - *stream] = state[*stream].take(),
    }
}

fn config(clock: &Arc<ManualClock>) -> Config {
    let mut config = Config::new("/data");
    config.fsync = FsyncPolicy::Always;
    config.segment_bytes_max = 512;
    config.index_interval_bytes = 150;
    config.entry_bytes_max = 300;
    config.clock = clock.clone();
    config
}

fn execute(engine: &Engine, op: &Op) -> sluice::Result<Option<u64>> {
    match op {
        Op::Add(stream, batch) => {
            let entries: Vec<NewEntry> = batch
                .iter()
                .map(|(id, fields)| NewEntry {
                    id: AddId::Explicit(*id),
                    fields: fields.clone(),
                })
                .collect();
            engine.add(STREAMS[*stream], &entries, false, None)?;
            Ok(None)
        }
        Op::Delete(stream, ids) => engine.delete(STREAMS[*stream], ids).map(|_| None),
        Op::Trim(stream, spec) => engine.trim(STREAMS[*stream], spec).map(Some),
        Op::SetId(stream, id, added) => engine
            .set_id(STREAMS[*stream], *id, Some(*added), None)
            .map(|_| None),
        Op::Drop(stream) => engine.drop_stream(STREAMS[*stream]).map(|_| None),
        Op::Rename(stream) => engine
            .rename_stream(STREAMS[*stream], STREAMS[1 - *stream])
            .map(|_| None),
    }
}

fn observe(engine: &Engine) -> State {
    let mut state: State = Default::default();
    for (slot, name) in STREAMS.iter().enumerate() {
        let Ok(info) = engine.info(name, None, ReadLimit::count(1)) else {
            continue;
        };
        let entries = engine
            .range(name, IdRange::ALL, false, ReadLimit::count(usize::MAX))
            .unwrap()
            .unwrap_or_default();
        assert_eq!(
            info.counters.length,
            entries.len() as u64,
            "XLEN disagrees with XRANGE"
        );
        state[slot] = Some(StreamModel {
            entries: entries
                .into_iter()
                .map(|Entry { id, fields }| (id, fields))
                .collect(),
            last_id: info.counters.last_id,
            entries_added: info.counters.entries_added,
            max_deleted: info.counters.max_deleted,
        });
    }
    state
}

/// Whether `seen` is an acceptable outcome of `op` (in flight at the cut) on `before`.
fn acceptable(before: &State, op: Option<&Op>, seen: &State) -> bool {
    if seen == before {
        return true;
    }
    let Some(op) = op else {
        return false;
    };
    let mut after = before.clone();
    apply(&mut after, op, None);
    if *seen == after {
        return true;
    }
    // A rename onto an existing stream drops that one first: the cut can fall between.
    if let Op::Rename(from) = op {
        let mut dropped = before.clone();
        dropped[1 - *from] = None;
        return *seen == dropped;
    }
    // Streams the operation does not touch must be as they were.
    let touched = match op {
        Op::Add(s, _) | Op::Delete(s, _) | Op::Trim(s, _) | Op::SetId(s, _, _) | Op::Drop(s) => *s,
        Op::Rename(_) => return false,
    };
    if seen[1 - touched] != before[1 - touched] {
        return false;
    }
    let (was, now) = (&before[touched], &seen[touched]);
    match (op, was, now) {
        // The new stream's directory became durable, its first entry did not.
        (Op::Add(..), None, Some(now)) => *now == StreamModel::default(),
        // Some of the IDs' tombstones became durable.
        (Op::Delete(_, ids), Some(was), Some(now)) => {
            now.last_id == was.last_id
                && now.entries_added == was.entries_added
                && now
                    .entries
                    .iter()
                    .all(|(id, fields)| was.entries.get(id) == Some(fields))
                && was
                    .entries
                    .keys()
                    .filter(|id| !now.entries.contains_key(id))
                    .all(|id| ids.contains(id))
                && now.max_deleted >= was.max_deleted
                && now.max_deleted <= ids.iter().copied().fold(was.max_deleted, StreamId::max)
        }
        // Whole segments went before the exact part of the trim did.
        (Op::Trim(..), Some(was), Some(now)) => {
            let removed = was.entries.len() - now.entries.len();
            let mut partial = before.clone();
            apply(&mut partial, op, Some(removed as u64));
            partial[touched].as_ref() == Some(now)
        }
        _ => false,
    }
}

fn run_with_cut(ops: &[Op], cut: Option<u64>, tear: Tear) -> u64 {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1));
    let config = config(&clock);
    if let Some(cut) = cut {
        fs.cut_after(cut);
    }
    let mut state: State = Default::default();
    let mut in_flight = None;
    let opened = Engine::open_with(config.clone(), Arc::new(fs.clone()));
    if let Ok(engine) = opened {
        for op in ops {
            match execute(&engine, op) {
                Ok(removed) => apply(&mut state, op, removed),
                Err(error) => {
                    assert!(fs.is_down(), "{op:?} failed without a power cut: {error}");
                    in_flight = Some(op.clone());
                    break;
                }
            }
        }
        if cut.is_none() {
            engine.close().unwrap();
            return fs.ops_done();
        }
        // The cut may come after the last operation: then it strikes now.
        fs.cut_now();
        drop(engine);
    }
    assert!(fs.is_down());
    fs.reboot(tear);

    let engine = Engine::open_with(config.clone(), Arc::new(fs.clone()))
        .unwrap_or_else(|error| panic!("reopen after a cut at {cut:?} ({tear:?}) failed: {error}"));
    let seen = observe(&engine);
    assert!(
        acceptable(&state, in_flight.as_ref(), &seen),
        "cut at {cut:?} ({tear:?}), in flight {in_flight:?}:\nacknowledged {state:#?}\nfound {seen:#?}\nrepairs {:#?}",
        engine.repairs()
    );
    // Still usable: a write, a clean reopen, the write still there.
    let id = StreamId::new(u64::MAX - 1, 0);
    let entry = NewEntry {
        id: AddId::Explicit(id),
        fields: vec![(b"after".to_vec(), b"cut".to_vec())],
    };
    engine.add(STREAMS[0], &[entry], false, None).unwrap();
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open_with(config, Arc::new(fs.clone())).unwrap();
    assert!(
        engine.repairs().is_empty(),
        "cut at {cut:?} ({tear:?}): second open repaired {:?}",
        engine.repairs()
    );
    let last = engine
        .range(STREAMS[0], IdRange::ALL, true, ReadLimit::count(1))
        .unwrap()
        .unwrap();
    assert_eq!(last[0].id, id);
    0
}

fn check_every_cut(seed: u64, length: usize) {
    let ops = workload(seed, length);
    let total = run_with_cut(&ops, None, Tear::Clean);
    assert!(total > 100, "workload too small: {total} operations");
    for cut in 0..=total {
        run_with_cut(&ops, Some(cut), Tear::Clean);
        run_with_cut(&ops, Some(cut), Tear::Torn { seed: cut + seed });
    }
}

#[test]
fn every_cut_point_of_a_mixed_workload() {
    let seeds: u64 = std::env::var("SLUICE_POWER_LOSS_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(3);
    for seed in 1..=seeds {
        check_every_cut(seed, 70);
    }
}

/// Concurrent writers under group commit: after a cut, every acknowledged entry is there with
/// its fields, and nothing is there that was not written.
#[test]
fn concurrent_appenders_lose_nothing_acknowledged() {
    for cut in [40u64, 97, 150, 222, 301, 415] {
        let fs = SimFs::new();
        let clock = Arc::new(ManualClock::new(1));
        let config = config(&clock);
        let engine = Engine::open_with(config.clone(), Arc::new(fs.clone())).unwrap();
        fs.cut_after(cut);
        let acknowledged: Vec<Vec<(StreamId, Vec<Field>)>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4u64)
                .map(|worker| {
                    let engine = engine.clone();
                    scope.spawn(move || {
                        let mut acked = Vec::new();
                        for n in 0..200u64 {
                            let fields =
                                vec![(b"w".to_vec(), format!("{worker}-{n}").into_bytes())];
                            let entry = NewEntry {
                                id: AddId::Auto,
                                fields: fields.clone(),
                            };
                            match engine.add(STREAMS[0], &[entry], false, None) {
                                Ok(Some(ids)) => acked.push((ids[0], fields)),
                                _ => break,
                            }
                        }
                        acked
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect()
        });
        drop(engine);
        fs.reboot(Tear::Torn { seed: cut });
        let engine = Engine::open_with(config, Arc::new(fs.clone())).unwrap();
        let present = entries_of_first_stream(&engine);
        let total_acked: usize = acknowledged.iter().map(Vec::len).sum();
        assert!(total_acked > 0, "cut {cut}: nothing was acknowledged");
        for (id, fields) in acknowledged.iter().flatten() {
            assert_eq!(
                present.get(id),
                Some(fields),
                "cut {cut}: acknowledged {id} lost"
            );
        }
        for fields in present.values() {
            let text = String::from_utf8_lossy(&fields[0].1).to_string();
            let (worker, n) = text.split_once('-').unwrap();
            assert!(worker.parse::<u64>().unwrap() < 4 && n.parse::<u64>().unwrap() < 200);
        }
        let mut seen_tags: Vec<&Vec<Field>> = present.values().collect();
        let before = seen_tags.len();
        seen_tags.sort();
        seen_tags.dedup();
        assert_eq!(before, seen_tags.len(), "cut {cut}: an entry appears twice");
    }
}

/// XADD with exact MAXLEN trimming on every add appends a tombstone each time and compacts the
/// tombstone file (write, sync, rename) as it grows. Cut anywhere, the stream must still be a
/// contiguous window of the newest entries: the last acknowledged one (or the one in flight)
/// and the 9 before it — or 10 before it, when the add survived and its trim did not.
#[test]
fn exact_trimming_with_compaction_survives_every_cut() {
    const ADDS: u64 = 200;
    let add = |engine: &Engine, n: u64| {
        let entry = NewEntry {
            id: AddId::Explicit(StreamId::new(n, 0)),
            fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
        };
        let trim = TrimSpec {
            strategy: TrimStrategy::MaxLen(10),
            approx: false,
            limit: 0,
        };
        engine.add(STREAMS[0], &[entry], false, Some(&trim))
    };
    let clock = Arc::new(ManualClock::new(1));
    let mut config = config(&clock);
    config.segment_bytes_max = 1 << 20;
    let total = {
        let fs = SimFs::new();
        let engine = Engine::open_with(config.clone(), Arc::new(fs.clone())).unwrap();
        for n in 1..=ADDS {
            add(&engine, n).unwrap();
        }
        fs.ops_done()
    };
    for cut in (0..total).step_by(3) {
        let fs = SimFs::new();
        let mut acked = 0;
        if let Ok(engine) = Engine::open_with(config.clone(), Arc::new(fs.clone())) {
            fs.cut_after(cut);
            for n in 1..=ADDS {
                if add(&engine, n).is_err() {
                    break;
                }
                acked = n;
            }
        }
        fs.cut_now();
        fs.reboot(Tear::Torn { seed: cut });
        let engine = Engine::open_with(config.clone(), Arc::new(fs.clone())).unwrap();
        let ids: Vec<u64> = entries_of_first_stream(&engine)
            .keys()
            .map(|id| id.ms)
            .collect();
        let newest = ids.last().copied().unwrap_or(0);
        assert!(
            newest == acked || newest == acked + 1,
            "cut {cut}: newest entry {newest}, last acknowledged {acked}"
        );
        let window: Vec<u64> = (newest.saturating_sub(9).max(1)..=newest).collect();
        let wider: Vec<u64> = (newest.saturating_sub(10).max(1)..=newest).collect();
        assert!(
            ids == window || (newest == acked + 1 && ids == wider),
            "cut {cut}: {ids:?} is not the window ending at {newest}"
        );
        assert_eq!(engine.len(STREAMS[0]).unwrap(), ids.len() as u64);
    }
}

/// A delete or trim becomes visible only once committed (under `always`: durable). When its
/// sync fails, readers must still see the stream as it was, consistently: XLEN and XRANGE
/// agree, and the entries are all there.
#[test]
fn failed_deletes_and_trims_were_never_visible() {
    for operation in ["xdel", "xtrim"] {
        let fs = SimFs::new();
        let clock = Arc::new(ManualClock::new(1));
        let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
        for n in 1..=3u64 {
            let entry = NewEntry {
                id: AddId::Explicit(StreamId::new(n, 0)),
                fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
            };
            engine.add(STREAMS[0], &[entry], false, None).unwrap();
        }
        fs.fail_syncs(true);
        let outcome = match operation {
            "xdel" => engine.delete(STREAMS[0], &[StreamId::new(2, 0)]),
            _ => engine.trim(
                STREAMS[0],
                &TrimSpec {
                    strategy: TrimStrategy::MaxLen(1),
                    approx: false,
                    limit: 0,
                },
            ),
        };
        assert!(
            outcome.is_err(),
            "{operation}: the sync failed, so must the call"
        );
        let ids: Vec<u64> = engine
            .range(STREAMS[0], IdRange::ALL, false, ReadLimit::count(10))
            .unwrap()
            .unwrap()
            .iter()
            .map(|entry| entry.id.ms)
            .collect();
        assert_eq!(
            ids,
            vec![1, 2, 3],
            "{operation}: an uncommitted change was visible"
        );
        assert_eq!(engine.len(STREAMS[0]).unwrap(), 3, "{operation}");
    }
}

/// A stream whose creation failed half-way (its directory in place, the name not yet served)
/// is opened by the next call for that name; nothing waits on it forever.
#[test]
fn a_creation_that_failed_half_way_is_picked_up() {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1));
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
    let add = |engine: &Engine, name: &'static [u8], ms: u64| {
        let entry = NewEntry {
            id: AddId::Explicit(StreamId::new(ms, 0)),
            fields: vec![(b"k".to_vec(), b"v".to_vec())],
        };
        engine.add(name, &[entry], false, None)
    };
    // The directory is renamed into place, then syncing `streams/` fails: the stream's
    // directory exists but the name is not served.
    fs.fail_dir_syncs_of(Some(std::path::Path::new("/data/streams")));
    assert!(
        add(&engine, STREAMS[0], 1).is_err(),
        "creation's syncs fail"
    );
    assert!(sluice::storage::fs::FileSystem::exists(
        &fs,
        std::path::Path::new("/data/streams/s-alpha")
    ));
    fs.fail_dir_syncs_of(None);
    let (done, finished) = std::sync::mpsc::channel();
    let worker = {
        let engine = engine.clone();
        std::thread::spawn(move || {
            let outcome = (add(&engine, STREAMS[0], 2), add(&engine, STREAMS[1], 1));
            let _ = done.send(());
            outcome
        })
    };
    finished
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("creating a stream after a failed creation hung");
    let (again, other) = worker.join().unwrap();
    again.unwrap();
    other.unwrap();
    let ids: Vec<u64> = engine
        .range(STREAMS[0], IdRange::ALL, false, ReadLimit::count(10))
        .unwrap()
        .unwrap()
        .iter()
        .map(|entry| entry.id.ms)
        .collect();
    assert!(ids == vec![2] || ids == vec![1, 2], "{ids:?}");
}

/// A write that fails while only reading (finding the entries an XDEL names, say) changed
/// nothing on disk: the stream keeps working. One that fails while writing leaves the disk in
/// doubt: the stream refuses writes until reopened.
#[test]
fn only_a_failed_write_to_disk_stops_a_stream() {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1));
    let mut config = config(&clock);
    config.open_files_max = 4; // so the sealed segments are not all held open
    let engine = Engine::open_with(config, Arc::new(fs.clone())).unwrap();
    let entry = |ms: u64| NewEntry {
        id: AddId::Explicit(StreamId::new(ms, 0)),
        fields: vec![(b"pad".to_vec(), vec![b'p'; 100])],
    };
    for ms in 1..=40 {
        engine.add(STREAMS[0], &[entry(ms)], false, None).unwrap();
    }
    fs.fail_reads(true);
    assert!(engine.delete(STREAMS[0], &[StreamId::new(2, 0)]).is_err());
    fs.fail_reads(false);
    engine.add(STREAMS[0], &[entry(41)], false, None).unwrap();
    assert_eq!(
        engine.delete(STREAMS[0], &[StreamId::new(2, 0)]).unwrap(),
        1
    );

    fs.fail_syncs(true);
    assert!(engine.add(STREAMS[0], &[entry(42)], false, None).is_err());
    fs.fail_syncs(false);
    assert!(matches!(
        engine.add(STREAMS[0], &[entry(43)], false, None),
        Err(sluice::Error::Poisoned(_))
    ));
}

/// Writers awaiting durability asynchronously (as the server's do), on a multi-thread runtime
/// (commit threads lead the syncs) and on a current-thread one with the engine's sync pump (the
/// runtime's thread leads them). After a power cut mid-run every acknowledged entry is there,
/// and every task ended.
#[test]
fn async_writers_lose_nothing_acknowledged() {
    for pump in [false, true] {
        for cut in [50u64, 133, 260, 400] {
            async_writers_cut(cut, pump);
        }
    }
}

/// The first stream's entries after a reboot, by ID.
fn entries_of_first_stream(engine: &Engine) -> BTreeMap<StreamId, Vec<Field>> {
    engine
        .range(
            STREAMS[0],
            IdRange::ALL,
            false,
            ReadLimit::count(usize::MAX),
        )
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|entry| (entry.id, entry.fields))
        .collect()
}

fn async_writers_cut(cut: u64, pump: bool) {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1));
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
    fs.cut_after(cut);
    let runtime = if pump {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let acknowledged: Vec<(StreamId, Vec<Field>)> = runtime.block_on(async {
        if pump {
            tokio::spawn(engine.sync_pump().run());
        }
        let tasks: Vec<_> = (0..16u64)
            .map(|task| {
                let engine = engine.clone();
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    for n in 0..40u64 {
                        let fields = vec![(b"t".to_vec(), format!("{task}-{n}").into_bytes())];
                        let entry = NewEntry {
                            id: AddId::Auto,
                            fields: fields.clone(),
                        };
                        let commit = match engine.add_deferred(STREAMS[0], &[entry], false, None) {
                            Ok(commit) => commit,
                            Err(_) => break,
                        };
                        match commit.await {
                            Ok(Some(ids)) => acked.push((ids[0], fields)),
                            _ => break,
                        }
                    }
                    acked
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(
                tokio::time::timeout(std::time::Duration::from_secs(60), task)
                    .await
                    .expect("a writer hung")
                    .unwrap(),
            );
        }
        all
    });
    drop(runtime);
    drop(engine);
    fs.cut_now();
    fs.reboot(Tear::Torn { seed: cut });
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
    let present = entries_of_first_stream(&engine);
    assert!(
        !acknowledged.is_empty(),
        "cut {cut} (pump {pump}): nothing acknowledged"
    );
    for (id, fields) in &acknowledged {
        assert_eq!(
            present.get(id),
            Some(fields),
            "cut {cut} (pump {pump}): acknowledged {id} lost"
        );
    }
}
