//! Model-based test of the storage engine: random sequences of XADD (single and batch, every
//! ID form, with trimming), XDEL, XTRIM, XSETID, XRANGE / XREVRANGE, XLEN, XINFO, drop, clock
//! moves and close-and-reopen, run against the engine and against a plain in-memory model of a
//! Redis stream; every result must be equal. Small segments and a small index interval make
//! segment rollover, sealing, index seeks and whole-segment trimming happen constantly.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use sluice::config::ManualClock;
use sluice::storage::record::encoded_len;
use sluice::storage::sim_fs::SimFs;
use sluice::{
    AddId, Config, Engine, Entry, Error, Field, FsyncPolicy, IdRange, NewEntry, ReadLimit,
    StreamId, TrimSpec, TrimStrategy,
};

const NAME: &[u8] = b"model";

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

/// A Redis stream, the obvious way.
#[derive(Default, Debug)]
struct Model {
    exists: bool,
    entries: BTreeMap<StreamId, Vec<Field>>,
    last_id: StreamId,
    entries_added: u64,
    max_deleted: StreamId,
}

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

impl Model {
    fn resolve(&self, spec: AddId, last: StreamId, now: u64) -> Result<StreamId, &'static str> {
        if last == StreamId::MAX {
            return Err("exhausted");
        }
        let id = match spec {
            AddId::Auto if now > last.ms => StreamId::new(now, 0),
            AddId::Auto if last.seq == u64::MAX => StreamId::new(last.ms + 1, 0),
            AddId::Auto => StreamId::new(last.ms, last.seq + 1),
            AddId::AutoSeq(ms) if ms == last.ms && last.seq == u64::MAX => return Err("small"),
            AddId::AutoSeq(ms) if ms == last.ms => StreamId::new(ms, last.seq + 1),
            AddId::AutoSeq(ms) => StreamId::new(ms, 0),
            AddId::Explicit(id) if id == StreamId::MIN => return Err("zero"),
            AddId::Explicit(id) => id,
        };
        if id <= last {
            return Err("small");
        }
        Ok(id)
    }

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

    fn entry(&self, id: &StreamId) -> Entry {
        Entry {
            id: *id,
            fields: self.entries[id].clone(),
        }
    }
}

fn error_text(error: &Error) -> String {
    error.to_string()
}

struct Harness {
    fs: SimFs,
    clock: Arc<ManualClock>,
    config: Config,
    engine: Option<Engine>,
    model: Model,
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
            model: Model::default(),
        }
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn apply(&mut self, op: &Op) -> (Outcome, Outcome) {
        let now = self.clock.now_ms_value();
        match op {
            Op::Add {
                ids,
                fields,
                nomkstream,
                trim,
            } => {
                let entries: Vec<NewEntry> = ids
                    .iter()
                    .zip(fields)
                    .map(|(id, fields)| NewEntry {
                        id: *id,
                        fields: fields.clone(),
                    })
                    .collect();
                let actual = match self
                    .engine()
                    .add(NAME, &entries, *nomkstream, trim.as_ref())
                {
                    Ok(ids) => Outcome::Ids(ids),
                    Err(error) => Outcome::Error(error_text(&error)),
                };
                // The model.
                let expected = (|| {
                    if entries
                        .iter()
                        .any(|e| e.id == AddId::Explicit(StreamId::MIN))
                    {
                        return Outcome::Error(error_text(&Error::AddIdZero));
                    }
                    let mut total = 0u64;
                    for entry in &entries {
                        let size = encoded_len(&entry.fields);
                        if size > self.config.entry_bytes_max as usize {
                            return Outcome::Error(error_text(&Error::EntryTooLarge {
                                size,
                                max: self.config.entry_bytes_max,
                            }));
                        }
                        total += size as u64;
                    }
                    let room = self.config.segment_bytes_max - 64;
                    if total > room {
                        return Outcome::Error(error_text(&Error::BatchTooLarge {
                            size: total,
                            max: room,
                        }));
                    }
                    if !self.model.exists && *nomkstream {
                        return Outcome::Ids(None);
                    }
                    if !self.model.exists {
                        self.model = Model {
                            exists: true,
                            ..Model::default()
                        };
                    }
                    let mut last = self.model.last_id;
                    let mut given = Vec::new();
                    for entry in &entries {
                        match self.model.resolve(entry.id, last, now) {
                            Ok(id) => {
                                given.push(id);
                                last = id;
                            }
                            Err("exhausted") => {
                                return Outcome::Error(error_text(&Error::IdExhausted))
                            }
                            Err("zero") => return Outcome::Error(error_text(&Error::AddIdZero)),
                            Err(_) => return Outcome::Error(error_text(&Error::AddIdTooSmall)),
                        }
                    }
                    for (id, entry) in given.iter().zip(&entries) {
                        self.model.entries.insert(*id, entry.fields.clone());
                    }
                    self.model.last_id = last;
                    self.model.entries_added += given.len() as u64;
                    Outcome::Ids(Some(given))
                })();
                if let (Some(spec), Outcome::Ids(Some(_))) = (trim, &actual) {
                    if spec.approx {
                        // The removal count is not reported by XADD; infer it from the length.
                        let after = self.engine().len(NAME).unwrap();
                        let removed = self.model.entries.len() as u64 - after;
                        self.model.approx_trim(spec, removed);
                    } else {
                        self.model.trim(spec);
                    }
                }
                (actual, expected)
            }
            Op::Delete(ids) => {
                let actual = Outcome::Count(self.engine().delete(NAME, ids).unwrap());
                let mut deleted = 0;
                for id in ids {
                    if self.model.entries.remove(id).is_some() {
                        deleted += 1;
                        self.model.max_deleted = self.model.max_deleted.max(*id);
                    }
                }
                (actual, Outcome::Count(deleted))
            }
            Op::Trim(spec) => {
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
            Op::SetId {
                last,
                entries_added,
                max_deleted,
            } => {
                let actual = match self
                    .engine()
                    .set_id(NAME, *last, *entries_added, *max_deleted)
                {
                    Ok(()) => Outcome::Unit,
                    Err(error) => Outcome::Error(error_text(&error)),
                };
                let model = &mut self.model;
                let expected = if max_deleted.is_some_and(|max| *last < max) {
                    Outcome::Error(error_text(&Error::SetIdBelowMaxDeleted))
                } else if !model.exists {
                    Outcome::Error(error_text(&Error::NoSuchKey))
                } else if !model.entries.is_empty()
                    && *last < *model.entries.keys().next_back().unwrap()
                {
                    Outcome::Error(error_text(&Error::SetIdTooSmall))
                } else if !model.entries.is_empty()
                    && entries_added.is_some_and(|added| added < model.entries.len() as u64)
                {
                    Outcome::Error(error_text(&Error::SetIdEntriesAddedTooSmall))
                } else {
                    model.last_id = *last;
                    if let Some(added) = entries_added {
                        model.entries_added = *added;
                    }
                    if let Some(max) = max_deleted.filter(|max| !max.is_zero()) {
                        model.max_deleted = max;
                    }
                    Outcome::Unit
                };
                (actual, expected)
            }
            Op::Range { range, rev, count } => {
                let limit = ReadLimit::count(count.unwrap_or(usize::MAX));
                let actual =
                    Outcome::Entries(self.engine().range(NAME, *range, *rev, limit).unwrap());
                let expected = if !self.model.exists {
                    None
                } else if range.is_empty() {
                    Some(Vec::new())
                } else {
                    let ids: Vec<StreamId> = if *rev {
                        self.model
                            .entries
                            .range(range.start..=range.end)
                            .rev()
                            .map(|(id, _)| *id)
                            .take(limit.count)
                            .collect()
                    } else {
                        self.model
                            .entries
                            .range(range.start..=range.end)
                            .map(|(id, _)| *id)
                            .take(limit.count)
                            .collect()
                    };
                    Some(ids.iter().map(|id| self.model.entry(id)).collect())
                };
                (actual, Outcome::Entries(expected))
            }
            Op::Info => {
                let actual = match self.engine().info(NAME, None, ReadLimit::count(usize::MAX)) {
                    Ok(info) => Outcome::Info {
                        length: info.counters.length,
                        last_id: info.counters.last_id,
                        entries_added: info.counters.entries_added,
                        max_deleted: info.counters.max_deleted,
                        first: info.first_entry,
                        last: info.last_entry,
                        recorded_first: info.recorded_first_id,
                    },
                    Err(error) => Outcome::Error(error_text(&error)),
                };
                let model = &self.model;
                let expected = if !model.exists {
                    Outcome::Error(error_text(&Error::NoSuchKey))
                } else {
                    let first = model.entries.keys().next().map(|id| model.entry(id));
                    Outcome::Info {
                        length: model.entries.len() as u64,
                        last_id: model.last_id,
                        entries_added: model.entries_added,
                        max_deleted: model.max_deleted,
                        recorded_first: first.as_ref().map(|e| e.id).unwrap_or_default(),
                        first,
                        last: model.entries.keys().next_back().map(|id| model.entry(id)),
                    }
                };
                assert_eq!(self.engine().len(NAME).unwrap(), model.entries.len() as u64);
                (actual, expected)
            }
            Op::Drop => {
                let actual = Outcome::Count(self.engine().drop_stream(NAME).unwrap() as u64);
                let expected = Outcome::Count(self.model.exists as u64);
                self.model = Model::default();
                (actual, expected)
            }
            Op::Clock(ms) => {
                self.clock.set(*ms);
                (Outcome::Unit, Outcome::Unit)
            }
            Op::Reopen => {
                let engine = self.engine.take().unwrap();
                engine.close().unwrap();
                drop(engine);
                let engine =
                    Engine::open_with(self.config.clone(), Arc::new(self.fs.clone())).unwrap();
                assert!(
                    engine.repairs().is_empty(),
                    "a clean reopen repaired something: {:?}",
                    engine.repairs()
                );
                self.engine = Some(engine);
                (Outcome::Unit, Outcome::Unit)
            }
        }
    }
}

trait ClockValue {
    fn now_ms_value(&self) -> u64;
}

impl ClockValue for ManualClock {
    fn now_ms_value(&self) -> u64 {
        sluice::config::Clock::now_ms(self)
    }
}

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
