//! Model-based test of the storage engine: random sequences of XADD (single and batch, every
//! ID form, with trimming), XDEL, XTRIM, XSETID, XRANGE / XREVRANGE, XLEN, XINFO, drop, clock
//! moves and close-and-reopen, run against the engine and against a plain in-memory model of a
//! Redis stream; every result must be equal. Small segments and a small index interval make
//! segment rollover, sealing, index seeks and whole-segment trimming happen constantly.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use sluice::clock::ManualClock;
use sluice::storage::record::encoded_len;
use sluice::storage::sim_fs::SimFs;
use sluice::{
    AddId, Config, Engine, Entry, Error, Field, FsyncPolicy, IdRange, NewEntry, ReadLimit,
    StreamId, TrimSpec, TrimStrategy,
};

const NAME: &[u8] = b"model";

// ---------------------------------------------------------------------------------------------
// Operations and their outcomes.

/// One step of a run: a command on the stream, or an event (clock move, reopen).
#[derive(Clone, Debug)]
enum Op {
    Add {
        ids: Vec<AddId>,
        fields: Vec<Vec<Field>>,
        nomkstream: bool,
        trim: Option<TrimSpec>,
    },
    Delete(Vec<StreamId>),
    Trim(TrimSpec),
    SetId {
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    },
    Range {
        range: IdRange,
        rev: bool,
        count: Option<usize>,
    },
    Info,
    Drop,
    Clock(u64),
    Reopen,
}

/// What a step answered; the engine's and the model's must be equal.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Ids(Option<Vec<StreamId>>),
    Count(u64),
    Entries(Option<Vec<Entry>>),
    Unit,
    Info {
        length: u64,
        last_id: StreamId,
        entries_added: u64,
        max_deleted: StreamId,
        first: Option<Entry>,
        last: Option<Entry>,
        recorded_first: StreamId,
    },
    Error(String),
}

impl Outcome {
    /// A refusal, compared by its text.
    fn error(error: &Error) -> Outcome {
        Outcome::Error(error.to_string())
    }

    /// The engine's answer: `ok` of its value, or its refusal.
    fn of<T>(result: Result<T, Error>, ok: impl FnOnce(T) -> Outcome) -> Outcome {
        match result {
            Ok(value) => ok(value),
            Err(error) => Outcome::error(&error),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The stream model: what each command does to a Redis stream, written the obvious way.

/// A Redis stream, the obvious way.
#[derive(Default, Debug)]
struct StreamModel {
    exists: bool,
    entries: BTreeMap<StreamId, Vec<Field>>,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
}

impl StreamModel {
    /// The ID XADD gives `spec` after `last` at clock `now`, or its refusal.
    fn resolve(&self, spec: AddId, last: StreamId, now: u64) -> Result<StreamId, Error> {
        if last == StreamId::MAX {
            return Err(Error::IdExhausted);
        }
        let id = match spec {
            AddId::Auto if now > last.ms => StreamId::new(now, 0),
            AddId::Auto if last.seq == u64::MAX => StreamId::new(last.ms + 1, 0),
            AddId::Auto => StreamId::new(last.ms, last.seq + 1),
            AddId::AutoSeq(ms) if ms == last.ms && last.seq == u64::MAX => {
                return Err(Error::AddIdTooSmall)
            }
            AddId::AutoSeq(ms) if ms == last.ms => StreamId::new(ms, last.seq + 1),
            AddId::AutoSeq(ms) => StreamId::new(ms, 0),
            AddId::Explicit(id) if id == StreamId::MIN => return Err(Error::AddIdZero),
            AddId::Explicit(id) => id,
        };
        if id <= last {
            return Err(Error::AddIdTooSmall);
        }
        Ok(id)
    }

    /// XADD of a batch that passed the size checks: all entries or none.
    fn add(&mut self, entries: &[NewEntry], nomkstream: bool, now: u64) -> Outcome {
        if !self.exists && nomkstream {
            return Outcome::Ids(None);
        }
        if !self.exists {
            *self = StreamModel {
                exists: true,
                ..StreamModel::default()
            };
        }
        let mut last = self.last_id;
        let mut given = Vec::new();
        for entry in entries {
            match self.resolve(entry.id, last, now) {
                Ok(id) => {
                    given.push(id);
                    last = id;
                }
                Err(error) => return Outcome::error(&error),
            }
        }
        for (id, entry) in given.iter().zip(entries) {
            self.entries.insert(*id, entry.fields.clone());
        }
        self.last_id = last;
        self.entries_added += given.len() as u64;
        Outcome::Ids(Some(given))
    }

    /// XDEL: how many of `ids` existed.
    fn delete(&mut self, ids: &[StreamId]) -> u64 {
        let mut deleted = 0;
        for id in ids {
            if self.entries.remove(id).is_some() {
                deleted += 1;
                self.max_deleted = self.max_deleted.max(*id);
            }
        }
        deleted
    }

    /// An exact trim: how many entries it removed.
    fn trim(&mut self, spec: &TrimSpec) -> u64 {
        let before = self.entries.len();
        match spec.strategy {
            TrimStrategy::MaxLen(max) => {
                while self.entries.len() as u64 > max {
                    self.entries.pop_first();
                }
            }
            TrimStrategy::MinId(min) => {
                self.entries = self.entries.split_off(&min);
            }
        }
        (before - self.entries.len()) as u64
    }

    /// Applies an approximate trim that removed `removed` entries, checking it was allowed to.
    fn approx_trim(&mut self, spec: &TrimSpec, removed: u64) {
        if spec.limit > 0 {
            assert!(
                removed <= spec.limit,
                "trim removed {removed} over LIMIT {}",
                spec.limit
            );
        }
        for _ in 0..removed {
            let (id, _) = self
                .entries
                .pop_first()
                .expect("trim removed more than exists");
            if let TrimStrategy::MinId(min) = spec.strategy {
                assert!(id < min, "approximate MINID trim removed {id} >= {min}");
            }
        }
        if let TrimStrategy::MaxLen(max) = spec.strategy {
            assert!(
                removed == 0 || self.entries.len() as u64 >= max,
                "approximate MAXLEN trim went below {max}"
            );
        }
    }

    /// XSETID, checked in Redis's order.
    fn set_id(
        &mut self,
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> Result<(), Error> {
        let top = self.entries.keys().next_back().copied();
        if max_deleted.is_some_and(|max| last < max) {
            return Err(Error::SetIdBelowMaxDeleted);
        }
        if !self.exists {
            return Err(Error::NoSuchKey);
        }
        if top.is_some_and(|top| last < top) {
            return Err(Error::SetIdTooSmall);
        }
        if top.is_some() && entries_added.is_some_and(|added| added < self.entries.len() as u64) {
            return Err(Error::SetIdEntriesAddedTooSmall);
        }
        self.last_id = last;
        if let Some(added) = entries_added {
            self.entries_added = added;
        }
        if let Some(max) = max_deleted.filter(|max| !max.is_zero()) {
            self.max_deleted = max;
        }
        Ok(())
    }

    /// XRANGE / XREVRANGE with COUNT `count`; `None` when the stream does not exist.
    fn range(&self, range: IdRange, rev: bool, count: usize) -> Option<Vec<Entry>> {
        if !self.exists {
            return None;
        }
        if range.is_empty() {
            return Some(Vec::new());
        }
        let ids = self
            .entries
            .range(range.start..=range.end)
            .map(|(id, _)| *id);
        let ids: Vec<StreamId> = if rev {
            ids.rev().take(count).collect()
        } else {
            ids.take(count).collect()
        };
        Some(ids.iter().map(|id| self.entry(id)).collect())
    }

    /// XINFO STREAM (not FULL).
    fn info(&self) -> Outcome {
        if !self.exists {
            return Outcome::error(&Error::NoSuchKey);
        }
        let first = self.entries.keys().next().map(|id| self.entry(id));
        Outcome::Info {
            length: self.entries.len() as u64,
            last_id: self.last_id,
            entries_added: self.entries_added,
            max_deleted: self.max_deleted,
            recorded_first: first.as_ref().map(|e| e.id).unwrap_or_default(),
            first,
            last: self.entries.keys().next_back().map(|id| self.entry(id)),
        }
    }

    fn entry(&self, id: &StreamId) -> Entry {
        Entry {
            id: *id,
            fields: self.entries[id].clone(),
        }
    }
}

/// The refusals XADD makes before it looks at the stream: an explicit 0-0, then an entry or a
/// batch too large for the configured limits.
fn add_refusal(config: &Config, entries: &[NewEntry]) -> Option<Error> {
    if entries
        .iter()
        .any(|e| e.id == AddId::Explicit(StreamId::MIN))
    {
        return Some(Error::AddIdZero);
    }
    let mut total = 0u64;
    for entry in entries {
        let size = encoded_len(&entry.fields);
        if size > config.entry_bytes_max as usize {
            return Some(Error::EntryTooLarge {
                size,
                max: config.entry_bytes_max,
            });
        }
        total += size as u64;
    }
    let room = config.segment_bytes_max - 64;
    if total > room {
        return Some(Error::BatchTooLarge {
            size: total,
            max: room,
        });
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The harness: each operation run on the engine and on the model, as (actual, expected).

struct Harness {
    fs: SimFs,
    clock: Arc<ManualClock>,
    config: Config,
    engine: Option<Engine>,
    model: StreamModel,
}

impl Harness {
    fn new(segment_bytes: u64, interval: u32) -> Harness {
        let fs = SimFs::new();
        let clock = Arc::new(ManualClock::new(1_000));
        let mut config = Config::new("/data");
        config.fsync = FsyncPolicy::No;
        config.segment_bytes_max = segment_bytes;
        config.index_interval_bytes = interval;
        config.entry_bytes_max = 1024.min(segment_bytes as u32 - 64);
        config.clock = clock.clone();
        config.open_files_max = 8;
        let engine = Engine::open_with(config.clone(), Arc::new(fs.clone())).unwrap();
        Harness {
            fs,
            clock,
            config,
            engine: Some(engine),
            model: StreamModel::default(),
        }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    /// Runs `op` on both; returns (the engine's outcome, the model's).
    fn apply(&mut self, op: &Op) -> (Outcome, Outcome) {
        match op {
            Op::Add {
                ids,
                fields,
                nomkstream,
                trim,
            } => self.apply_add(ids, fields, *nomkstream, trim.as_ref()),
            Op::Delete(ids) => self.apply_delete(ids),
            Op::Trim(spec) => self.apply_trim(spec),
            Op::SetId {
                last,
                entries_added,
                max_deleted,
            } => self.apply_set_id(*last, *entries_added, *max_deleted),
            Op::Range { range, rev, count } => self.apply_range(*range, *rev, *count),
            Op::Info => self.apply_info(),
            Op::Drop => self.apply_drop(),
            Op::Clock(ms) => self.apply_clock(*ms),
            Op::Reopen => self.apply_reopen(),
        }
    }

    fn apply_add(
        &mut self,
        ids: &[AddId],
        fields: &[Vec<Field>],
        nomkstream: bool,
        trim: Option<&TrimSpec>,
    ) -> (Outcome, Outcome) {
        let now = self.clock.now_ms_value();
        let entries: Vec<NewEntry> = ids
            .iter()
            .zip(fields)
            .map(|(id, fields)| NewEntry {
                id: *id,
                fields: fields.clone(),
            })
            .collect();
        let actual = Outcome::of(
            self.engine().add(NAME, &entries, nomkstream, trim),
            Outcome::Ids,
        );
        let expected = match add_refusal(&self.config, &entries) {
            Some(error) => Outcome::error(&error),
            None => self.model.add(&entries, nomkstream, now),
        };
        if let (Some(spec), Outcome::Ids(Some(_))) = (trim, &actual) {
            self.trim_after_add(spec);
        }
        (actual, expected)
    }

    /// The trim an XADD did after adding.
    fn trim_after_add(&mut self, spec: &TrimSpec) {
        if spec.approx {
            // The removal count is not reported by XADD; infer it from the length.
            let after = self.engine().len(NAME).unwrap();
            let removed = self.model.entries.len() as u64 - after;
            self.model.approx_trim(spec, removed);
        } else {
            self.model.trim(spec);
        }
    }

    fn apply_delete(&mut self, ids: &[StreamId]) -> (Outcome, Outcome) {
        let actual = Outcome::Count(self.engine().delete(NAME, ids).unwrap());
        (actual, Outcome::Count(self.model.delete(ids)))
    }

    fn apply_trim(&mut self, spec: &TrimSpec) -> (Outcome, Outcome) {
        let removed = self.engine().trim(NAME, spec).unwrap();
        let expected = if !self.model.exists {
            0
        } else if spec.approx {
            self.model.approx_trim(spec, removed);
            removed
        } else {
            self.model.trim(spec)
        };
        (Outcome::Count(removed), Outcome::Count(expected))
    }

    fn apply_set_id(
        &mut self,
        last: StreamId,
        entries_added: Option<u64>,
        max_deleted: Option<StreamId>,
    ) -> (Outcome, Outcome) {
        let unit = |()| Outcome::Unit;
        let actual = Outcome::of(
            self.engine().set_id(NAME, last, entries_added, max_deleted),
            unit,
        );
        let expected = Outcome::of(self.model.set_id(last, entries_added, max_deleted), unit);
        (actual, expected)
    }

    fn apply_range(&self, range: IdRange, rev: bool, count: Option<usize>) -> (Outcome, Outcome) {
        let limit = ReadLimit::count(count.unwrap_or(usize::MAX));
        let actual = self.engine().range(NAME, range, rev, limit).unwrap();
        let expected = self.model.range(range, rev, limit.count);
        (Outcome::Entries(actual), Outcome::Entries(expected))
    }

    fn apply_info(&self) -> (Outcome, Outcome) {
        let info = self.engine().info(NAME, None, ReadLimit::count(usize::MAX));
        let actual = Outcome::of(info, |info| Outcome::Info {
            length: info.counters.length,
            last_id: info.counters.last_id,
            entries_added: info.counters.entries_added,
            max_deleted: info.counters.max_deleted,
            first: info.first_entry,
            last: info.last_entry,
            recorded_first: info.recorded_first_id,
        });
        let expected = self.model.info();
        assert_eq!(
            self.engine().len(NAME).unwrap(),
            self.model.entries.len() as u64
        );
        (actual, expected)
    }

    fn apply_drop(&mut self) -> (Outcome, Outcome) {
        let actual = Outcome::Count(self.engine().drop_stream(NAME).unwrap() as u64);
        let expected = Outcome::Count(self.model.exists as u64);
        self.model = StreamModel::default();
        (actual, expected)
    }

    fn apply_clock(&mut self, ms: u64) -> (Outcome, Outcome) {
        self.clock.set(ms);
        (Outcome::Unit, Outcome::Unit)
    }

    fn apply_reopen(&mut self) -> (Outcome, Outcome) {
        let engine = self.engine.take().unwrap();
        engine.close().unwrap();
        drop(engine);
        let engine = Engine::open_with(self.config.clone(), Arc::new(self.fs.clone())).unwrap();
        assert!(
            engine.repairs().is_empty(),
            "a clean reopen repaired something: {:?}",
            engine.repairs()
        );
        self.engine = Some(engine);
        (Outcome::Unit, Outcome::Unit)
    }
}

trait ClockValue {
    fn now_ms_value(&self) -> u64;
}

impl ClockValue for ManualClock {
    fn now_ms_value(&self) -> u64 {
        sluice::clock::Clock::now_ms(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Random operations, and the runs.

fn small_id() -> impl Strategy<Value = StreamId> {
    prop_oneof![
        8 => (0u64..40, 0u64..4).prop_map(|(ms, seq)| StreamId::new(ms, seq)),
        1 => (1000u64..1010, 0u64..4).prop_map(|(ms, seq)| StreamId::new(ms, seq)),
        1 => Just(StreamId::MAX),
        1 => Just(StreamId::MIN),
    ]
}

fn add_id() -> impl Strategy<Value = AddId> {
    prop_oneof![
        4 => Just(AddId::Auto),
        2 => small_id().prop_map(AddId::Explicit),
        1 => (0u64..40).prop_map(AddId::AutoSeq),
        1 => (1000u64..1010).prop_map(AddId::AutoSeq),
    ]
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    prop::collection::vec(
        (
            prop::collection::vec(any::<u8>(), 0..6),
            prop_oneof![
                6 => prop::collection::vec(any::<u8>(), 0..24),
                1 => prop::collection::vec(any::<u8>(), 100..300),
            ],
        ),
        1..4,
    )
}

fn trim_spec() -> impl Strategy<Value = TrimSpec> {
    (
        prop_oneof![
            (0u64..30).prop_map(TrimStrategy::MaxLen),
            small_id().prop_map(TrimStrategy::MinId),
        ],
        any::<bool>(),
        prop_oneof![3 => Just(0u64), 1 => 1u64..20],
    )
        .prop_map(|(strategy, approx, limit)| TrimSpec {
            strategy,
            approx,
            limit: if approx { limit } else { 0 },
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (prop::collection::vec((add_id(), fields()), 1..4), prop::bool::weighted(0.1), prop::option::weighted(0.15, trim_spec()))
            .prop_map(|(batch, nomkstream, trim)| {
                let (ids, fields) = batch.into_iter().unzip();
                Op::Add { ids, fields, nomkstream, trim }
            }),
        6 => prop::collection::vec(small_id(), 1..5).prop_map(Op::Delete),
        3 => trim_spec().prop_map(Op::Trim),
        2 => (small_id(), prop::option::of(0u64..60), prop::option::of(small_id()))
            .prop_map(|(last, entries_added, max_deleted)| Op::SetId { last, entries_added, max_deleted }),
        10 => (small_id(), small_id(), any::<bool>(), prop::option::of(0usize..8))
            .prop_map(|(a, b, rev, count)| Op::Range {
                range: IdRange { start: a.min(b), end: a.max(b) },
                rev,
                count,
            }),
        2 => Just(Op::Range { range: IdRange::ALL, rev: false, count: None }),
        2 => Just(Op::Range { range: IdRange::ALL, rev: true, count: None }),
        3 => Just(Op::Info),
        1 => Just(Op::Drop),
        3 => prop_oneof![0u64..40, 990u64..1010].prop_map(Op::Clock),
        4 => Just(Op::Reopen),
    ]
}

fn run(ops: &[Op], segment_bytes: u64, interval: u32) -> Result<Harness, TestCaseError> {
    let mut harness = Harness::new(segment_bytes, interval);
    for (step, op) in ops.iter().enumerate() {
        let (actual, expected) = harness.apply(op);
        prop_assert_eq!(actual, expected, "step {} ({:?})", step, op);
    }
    // Everything once more after a final reopen.
    harness.apply(&Op::Reopen);
    let (actual, expected) = harness.apply(&Op::Range {
        range: IdRange::ALL,
        rev: false,
        count: None,
    });
    prop_assert_eq!(actual, expected, "after the final reopen");
    let (actual, expected) = harness.apply(&Op::Info);
    prop_assert_eq!(actual, expected, "info after the final reopen");
    Ok(harness)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("SLUICE_MODEL_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(96),
        .. ProptestConfig::default()
    })]

    #[test]
    fn engine_matches_model(
        ops in prop::collection::vec(op(), 1..120),
        segment_bytes in prop_oneof![Just(256u64), Just(512), Just(2048), Just(1 << 20)],
        interval in prop_oneof![Just(1u32), Just(64), Just(4096)],
    ) {
        run(&ops, segment_bytes, interval)?;
    }
}

#[test]
fn long_sequence_over_many_segments() {
    // A deterministic long run: thousands of entries over tiny segments, with deletes, trims
    // and reopens mixed in.
    let mut ops = Vec::new();
    for round in 0..40u64 {
        for i in 0..50u64 {
            ops.push(Op::Add {
                ids: vec![AddId::Auto],
                fields: vec![vec![(b"k".to_vec(), format!("{round}-{i}").into_bytes())]],
                nomkstream: false,
                trim: None,
            });
        }
        ops.push(Op::Clock(1_000 + round));
        ops.push(Op::Delete(vec![
            StreamId::new(1_000 + round, 3),
            StreamId::new(1_000, round),
        ]));
        if round % 7 == 3 {
            ops.push(Op::Trim(TrimSpec {
                strategy: TrimStrategy::MaxLen(900),
                approx: round % 2 == 0,
                limit: 0,
            }));
        }
        if round % 5 == 0 {
            ops.push(Op::Reopen);
        }
        ops.push(Op::Range {
            range: IdRange {
                start: StreamId::new(1_000 + round / 2, 0),
                end: StreamId::new(1_000 + round, 20),
            },
            rev: round % 2 == 1,
            count: Some(30),
        });
        ops.push(Op::Info);
    }
    run(&ops, 512, 64).unwrap();
}

#[test]
fn exact_trim_on_every_add_stays_correct_across_compactions() {
    // XADD … MAXLEN = 40 on every add appends a trim tombstone each time; the tombstone file is
    // compacted as it grows. Deletes and reopens are mixed in.
    let mut ops = Vec::new();
    for n in 1..=1500u64 {
        ops.push(Op::Add {
            ids: vec![AddId::Explicit(StreamId::new(n, 0))],
            fields: vec![vec![(b"n".to_vec(), n.to_string().into_bytes())]],
            nomkstream: false,
            trim: Some(TrimSpec {
                strategy: TrimStrategy::MaxLen(40),
                approx: false,
                limit: 0,
            }),
        });
        if n % 97 == 0 {
            ops.push(Op::Delete(vec![
                StreamId::new(n - 3, 0),
                StreamId::new(n - 1, 0),
            ]));
        }
        if n % 250 == 0 {
            ops.push(Op::Reopen);
            ops.push(Op::Info);
        }
    }
    ops.push(Op::Range {
        range: IdRange::ALL,
        rev: true,
        count: None,
    });
    let harness = run(&ops, 1 << 20, 256).unwrap();
    let tombstones = harness
        .fs
        .contents(std::path::Path::new(
            "/data/streams/s-model/00000000000000000001.del",
        ))
        .unwrap();
    assert!(
        tombstones.len() < 200 * 40,
        "1,460 trims left {} bytes of tombstones: compaction did not run",
        tombstones.len()
    );
}
