//! Power loss under consumer groups: a workload of adds, group reads (new and history),
//! acknowledgements, claims, negative acknowledgements and dead-letter moves, with the group
//! journal compacting in the background, runs on the simulated disk with a power cut after `k`
//! file-system operations, for every `k`; after each cut the store reopens and its group state
//! must be what it was after the last acknowledged operation, or after the operation in flight,
//! or — for an operation that was moving entries to the dead-letter stream — that operation
//! with some of those entries (the batches not yet appended) still pending as they were and
//! absent from the dead-letter stream. So an
//! acknowledged entry never becomes pending again, an answered delivery is never forgotten, and
//! a dead letter is in exactly one place.
//!
//! The states to expect come from a run of the same workload without a cut (the clock is a
//! manual one, so both runs make the same IDs and times). `SLUICE_POWER_LOSS_SEEDS=n` runs `n`
//! workloads instead of the default one, from seed `SLUICE_POWER_LOSS_FIRST_SEED` (1).

use std::sync::Arc;

use sluice::clock::ManualClock;
use sluice::engine::ReadGroup;
use sluice::group::Claim;
use sluice::model::{
    ClaimOptions, GroupPolicy, GroupStart, GroupTarget, PendingQuery, ReadOptions,
};
use sluice::storage::sim_fs::{SimFs, Tear};
use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const STREAM: &[u8] = b"jobs";
const DEAD: &[u8] = b"jobs:dead-letter";
const GROUP: &[u8] = b"g";
const CONSUMERS: [&[u8]; 2] = [b"alice", b"bob"];

#[derive(Clone, Debug)]
enum Op {
    Add(u64),
    Read(usize, usize),
    History(usize),
    Ack(Vec<StreamId>),
    Claim(usize, Vec<StreamId>),
    AutoClaim(usize),
    Nack(usize, bool),
    Tick(u64),
}

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

fn workload(seed: u64, length: usize) -> Vec<Op> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let some_ids = |rng: &mut Rng| -> Vec<StreamId> {
        (0..1 + rng.below(3))
            .map(|_| StreamId::new(2 + rng.below(40) * 3, 0))
            .collect()
    };
    (0..length)
        .map(|_| match rng.below(16) {
            0..=3 => Op::Add(rng.below(3) + 1),
            4..=6 => Op::Read(rng.below(2) as usize, rng.below(3) as usize + 1),
            7..=8 => Op::History(rng.below(2) as usize),
            9..=10 => Op::Ack(some_ids(&mut rng)),
            11 => Op::Claim(rng.below(2) as usize, some_ids(&mut rng)),
            12 => Op::AutoClaim(rng.below(2) as usize),
            13 => Op::Nack(rng.below(2) as usize, rng.below(2) == 0),
            _ => Op::Tick(rng.below(120)),
        })
        .collect()
}

fn config(clock: &Arc<ManualClock>) -> Config {
    let mut config = Config::new("/data");
    config.fsync = FsyncPolicy::Always;
    config.segment_bytes_max = 512;
    config.index_interval_bytes = 150;
    config.entry_bytes_max = 300;
    config.group_journal_bytes_min = 300;
    config.clock = clock.clone();
    config
}

/// Sets the stream and its group up (before any cut can strike).
fn setup(engine: &Engine) {
    let entry = NewEntry {
        id: AddId::Auto,
        fields: vec![(b"n".to_vec(), b"0".to_vec())],
    };
    engine.add(STREAM, &[entry], false, None).unwrap();
    let policy = GroupPolicy {
        max_deliveries: 2,
        lease_ms: 100,
        ..GroupPolicy::default()
    };
    engine
        .create_group(
            STREAM,
            GROUP,
            GroupTarget::Id(StreamId::MIN),
            false,
            None,
            policy,
        )
        .unwrap();
}

/// Runs one operation; returns the IDs it moved to the dead-letter stream.
fn execute(engine: &Engine, clock: &ManualClock, op: &Op) -> sluice::Result<Vec<StreamId>> {
    let read = |consumer: usize, start: GroupStart, count: usize| ReadGroup {
        group: GROUP.to_vec(),
        consumer: CONSUMERS[consumer].to_vec(),
        streams: vec![(STREAM.to_vec(), start)],
        options: ReadOptions {
            count,
            ..ReadOptions::default()
        },
        limit: ReadLimit::count(100),
    };
    let moved = |outcome: sluice::engine::ReadGroupOutcome| -> Vec<StreamId> {
        outcome
            .streams
            .into_iter()
            .flat_map(|(_, read)| read.dead_lettered)
            .collect()
    };
    match op {
        Op::Add(count) => {
            let entries: Vec<NewEntry> = (0..*count)
                .map(|n| NewEntry {
                    id: AddId::Auto,
                    fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
                })
                .collect();
            engine.add(STREAM, &entries, false, None)?;
            clock.set(clock_now(clock) + 3);
            Ok(Vec::new())
        }
        Op::Read(consumer, count) => Ok(moved(engine.read_group(&read(
            *consumer,
            GroupStart::New,
            *count,
        ))?)),
        Op::History(consumer) => Ok(moved(engine.read_group(&read(
            *consumer,
            GroupStart::Pending(StreamId::MIN),
            0,
        ))?)),
        Op::Ack(ids) => engine.ack(STREAM, GROUP, ids).map(|_| Vec::new()),
        Op::Claim(consumer, ids) => {
            let claim = Claim {
                consumer: CONSUMERS[*consumer].to_vec(),
                min_idle_ms: 50,
                ids: ids.clone(),
                options: ClaimOptions::default(),
            };
            Ok(engine.claim(STREAM, GROUP, &claim)?.dead_lettered)
        }
        Op::AutoClaim(consumer) => engine
            .autoclaim(
                STREAM,
                GROUP,
                CONSUMERS[*consumer],
                50,
                StreamId::MIN,
                2,
                false,
            )
            .map(|(_, moved)| moved),
        Op::Nack(consumer, reject) => {
            // Whatever the consumer holds first, if anything. (Looking fails once the power
            // is out, say cut by a compaction in the background: the operation fails then.)
            let held = owned(engine, *consumer)?;
            match held.first() {
                Some(id) => engine.nack(STREAM, GROUP, CONSUMERS[*consumer], &[*id], 30, *reject),
                None => Ok(Vec::new()),
            }
        }
        Op::Tick(ms) => {
            clock.set(clock_now(clock) + ms);
            Ok(Vec::new())
        }
    }
}

fn clock_now(clock: &ManualClock) -> u64 {
    sluice::clock::Clock::now_ms(clock)
}

fn owned(engine: &Engine, consumer: usize) -> sluice::Result<Vec<StreamId>> {
    let query = PendingQuery {
        start: StreamId::MIN,
        end: StreamId::MAX,
        count: usize::MAX,
        consumer: Some(CONSUMERS[consumer].to_vec()),
        min_idle_ms: 0,
    };
    Ok(engine
        .pending(STREAM, GROUP, &query)?
        .into_iter()
        .map(|entry| entry.id)
        .collect())
}

/// The group state that must survive: pending entries (ID, owner, count), last-delivered ID,
/// and the dead-letter stream's origin IDs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct State {
    pending: Vec<(StreamId, Vec<u8>, u64)>,
    last_delivered: StreamId,
    dead: Vec<Vec<u8>>,
}

fn observe(engine: &Engine) -> State {
    let query = PendingQuery {
        start: StreamId::MIN,
        end: StreamId::MAX,
        count: usize::MAX,
        consumer: None,
        min_idle_ms: 0,
    };
    let pending = engine
        .pending(STREAM, GROUP, &query)
        .unwrap()
        .into_iter()
        .map(|entry| (entry.id, entry.consumer, entry.delivery_count))
        .collect();
    let last_delivered = engine.groups_info(STREAM).unwrap()[0].last_delivered;
    let dead = engine
        .range(DEAD, IdRange::ALL, false, ReadLimit::count(usize::MAX))
        .unwrap()
        .unwrap_or_default()
        .into_iter()
        .map(|entry| entry.fields[entry.fields.len() - 4].1.clone())
        .collect();
    State {
        pending,
        last_delivered,
        dead,
    }
}

/// `after` with only the first `done` of the entries `moved` in the dead-letter stream, the
/// rest pending as they were in `before`: a dead-letter move cut short after `done` of its
/// letters (they are appended in batches that fit a segment), the rest abandoned.
fn partly_moved(before: &State, after: &State, moved: &[StreamId], done: usize) -> State {
    let mut state = after.clone();
    for entry in &before.pending {
        if moved[done..].contains(&entry.0) {
            state.pending.push(entry.clone());
        }
    }
    state.pending.sort();
    state.dead = after.dead[..before.dead.len() + done].to_vec();
    state
}

/// The states after each operation of an uncut run, and the IDs each moved.
fn reference(ops: &[Op]) -> (Vec<State>, Vec<Vec<StreamId>>, u64) {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
    setup(&engine);
    let setup_ops = fs.ops_done();
    let mut states = vec![observe(&engine)];
    let mut moves = Vec::new();
    for op in ops {
        moves.push(execute(&engine, &clock, op).unwrap());
        states.push(observe(&engine));
    }
    engine.close().unwrap();
    (states, moves, fs.ops_done() - setup_ops)
}

fn run_with_cut(
    seed: u64,
    ops: &[Op],
    states: &[State],
    moves: &[Vec<StreamId>],
    cut: u64,
    tear: Tear,
) {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).unwrap();
    setup(&engine);
    fs.cut_after(cut);
    let mut done = 0;
    for op in ops {
        if execute(&engine, &clock, op).is_err() {
            assert!(fs.is_down(), "{op:?} failed without a power cut");
            break;
        }
        done += 1;
    }
    fs.cut_now();
    drop(engine);
    fs.reboot(tear);
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone()))
        .unwrap_or_else(|error| panic!("reopen after a cut at {cut} ({tear:?}) failed: {error}"));
    if engine.stream(STREAM).is_err() {
        panic!(
            "seed {seed}: cut at {cut} ({tear:?}) with {done} operations done, in flight {:?}: \
             the stream did not open: {:?}\nrepairs {:#?}",
            ops.get(done),
            engine.stream(STREAM).err(),
            engine.repairs()
        );
    }
    let seen = observe(&engine);
    let before = &states[done];
    let mut acceptable = vec![before.clone()];
    if done < ops.len() {
        let after = &states[done + 1];
        acceptable.push(after.clone());
        for moved in 0..moves[done].len() {
            acceptable.push(partly_moved(before, after, &moves[done], moved));
        }
    }
    assert!(
        acceptable.contains(&seen),
        "seed {seed}: cut at {cut} ({tear:?}) with {done} operations done, in flight {:?}:\nfound {seen:#?}\nacceptable {acceptable:#?}\nrepairs {:#?}",
        ops.get(done),
        engine.repairs()
    );
    // Still usable, and a clean reopen needs no repair.
    engine.ack(STREAM, GROUP, &[StreamId::new(1, 0)]).unwrap();
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open_with(config(&clock), Arc::new(fs)).unwrap();
    assert!(
        engine.repairs().is_empty(),
        "second open repaired {:?}",
        engine.repairs()
    );
}

fn check_every_cut(seed: u64, length: usize) {
    let ops = workload(seed, length);
    let (states, moves, total) = reference(&ops);
    assert!(
        moves.iter().any(|moved| !moved.is_empty()),
        "the workload moved nothing to the dead-letter stream"
    );
    for cut in 0..total {
        run_with_cut(seed, &ops, &states, &moves, cut, Tear::Clean);
        run_with_cut(
            seed,
            &ops,
            &states,
            &moves,
            cut,
            Tear::Torn { seed: cut ^ seed },
        );
    }
}

#[test]
fn every_cut_point_of_a_group_workload() {
    let seeds: u64 = std::env::var("SLUICE_POWER_LOSS_SEEDS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1);
    let first: u64 = std::env::var("SLUICE_POWER_LOSS_FIRST_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(1);
    for seed in first..first + seeds {
        check_every_cut(seed, 45);
    }
}
