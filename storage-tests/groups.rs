//! Consumer groups through the engine: the whole group state survives a close and reopen, the
//! journal compacts into snapshots without changing the state, and entries over a group's
//! delivery limit end up in the dead-letter stream — and not pending — exactly once; a damaged
//! journal (cut or flipped at every byte of its last frame) or snapshot still opens, loses
//! only the damaged command, and says what it repaired.

use std::path::Path;
use std::time::{Duration, Instant};

use sluice::engine::ReadGroup;
use sluice::model::{GroupPolicy, GroupStart, GroupTarget, PendingQuery, ReadOptions};
use sluice::{AddId, Config, Engine, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const STREAM: &[u8] = b"jobs";
const GROUP: &[u8] = b"workers";

fn config(dir: &Path) -> Config {
    let mut config = Config::new(dir);
    config.fsync = FsyncPolicy::Always;
    config.segment_bytes_max = 4096;
    config.entry_bytes_max = 1024;
    config
}

fn add(engine: &Engine, count: u64) {
    for n in 0..count {
        let entry = NewEntry {
            id: AddId::Auto,
            fields: vec![(b"job".to_vec(), n.to_string().into_bytes())],
        };
        engine.add(STREAM, &[entry], false, None).expect("an add");
    }
}

fn read(engine: &Engine, consumer: &str, start: GroupStart, count: usize) -> Vec<StreamId> {
    let request = ReadGroup {
        group: GROUP.to_vec(),
        consumer: consumer.as_bytes().to_vec(),
        streams: vec![(STREAM.to_vec(), start)],
        options: ReadOptions {
            count,
            ..ReadOptions::default()
        },
        limit: ReadLimit::count(1000),
    };
    let outcome = engine.read_group(&request).expect("a group read");
    outcome
        .streams
        .into_iter()
        .flat_map(|(_, read)| read.deliveries)
        .map(|delivery| delivery.id)
        .collect()
}

/// Creates group `group` on the stream, reading from the start, with `policy`.
fn create_group(engine: &Engine, group: &[u8], policy: GroupPolicy) {
    engine
        .create_group(
            STREAM,
            group,
            GroupTarget::Id(StreamId::MIN),
            false,
            None,
            policy,
        )
        .expect("a group");
}

/// A group whose entries go to the dead-letter stream on their second delivery.
fn one_delivery() -> GroupPolicy {
    GroupPolicy {
        max_deliveries: 1,
        ..GroupPolicy::default()
    }
}

/// The first step of alice's re-read of her pending entries, which begins moving them to
/// the dead-letter stream; the step is left unfinished to the caller.
fn begin_moving_read(engine: &Engine) -> sluice::engine::GroupReadStep {
    let request = ReadGroup {
        group: GROUP.to_vec(),
        consumer: b"alice".to_vec(),
        streams: vec![(STREAM.to_vec(), GroupStart::Pending(StreamId::MIN))],
        options: ReadOptions::default(),
        limit: ReadLimit::count(1000),
    };
    let streams = engine.read_group_streams(&request, None).expect("streams");
    let step = engine
        .begin_read_group(&request, &streams)
        .expect("first step")
        .wait()
        .expect("durable");
    assert!(step.has_moves());
    step
}

/// Everything the groups report that does not depend on the clock.
fn state(engine: &Engine) -> String {
    let query = PendingQuery {
        start: StreamId::MIN,
        end: StreamId::MAX,
        count: usize::MAX,
        consumer: None,
        min_idle_ms: 0,
    };
    let pending: Vec<_> = engine
        .pending(STREAM, GROUP, &query)
        .expect("pending")
        .into_iter()
        .map(|entry| (entry.id, entry.consumer, entry.delivery_count))
        .collect();
    let groups = engine.groups_info(STREAM).expect("groups");
    let consumers: Vec<_> = engine
        .consumers_info(STREAM, GROUP)
        .expect("consumers")
        .into_iter()
        .map(|consumer| (consumer.name, consumer.pending))
        .collect();
    format!("{pending:?}\n{groups:?}\n{consumers:?}")
}

#[test]
fn group_state_survives_reopen_and_compaction() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = config(dir.path());
    config.group_journal_bytes_min = 512;
    let before = {
        let engine = Engine::open(config.clone()).expect("the engine opens");
        add(&engine, 40);
        create_group(&engine, GROUP, GroupPolicy::default());
        for round in 0..10 {
            let got = read(
                &engine,
                if round % 2 == 0 { "alice" } else { "bob" },
                GroupStart::New,
                4,
            );
            assert_eq!(got.len(), 4);
            engine.ack(STREAM, GROUP, &got[..2]).expect("an ack");
            read(&engine, "alice", GroupStart::Pending(StreamId::MIN), 0);
        }
        // Compaction runs in the background: wait for a snapshot to appear.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !has_snapshot(dir.path()) {
            assert!(Instant::now() < deadline, "no snapshot was written");
            std::thread::sleep(Duration::from_millis(10));
        }
        state(&engine)
    };
    let engine = Engine::open(config).expect("the engine opens again");
    assert_eq!(state(&engine), before);
    let names = files(dir.path());
    let journals = names.iter().filter(|name| name.ends_with(".jnl")).count();
    assert!(journals <= 2, "old generations were not removed: {names:?}");
}

fn files(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for stream in std::fs::read_dir(dir.join("streams")).expect("streams/") {
        let stream = stream.expect("an entry").path();
        for file in std::fs::read_dir(stream).expect("a stream directory") {
            names.push(
                file.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
    names
}

fn has_snapshot(dir: &Path) -> bool {
    files(dir).iter().any(|name| name.ends_with(".snap"))
}

#[test]
fn entries_over_the_delivery_limit_move_to_the_dead_letter_stream_once() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(config(dir.path())).expect("the engine opens");
    add(&engine, 3);
    let policy = GroupPolicy {
        max_deliveries: 2,
        ..GroupPolicy::default()
    };
    create_group(&engine, GROUP, policy);
    let first = read(&engine, "alice", GroupStart::New, 0);
    assert_eq!(first.len(), 3);
    engine.ack(STREAM, GROUP, &first[2..]).expect("an ack");
    assert_eq!(
        read(&engine, "alice", GroupStart::Pending(StreamId::MIN), 0).len(),
        2
    );
    // Delivered twice now: the next delivery moves them instead.
    let request = ReadGroup {
        group: GROUP.to_vec(),
        consumer: b"alice".to_vec(),
        streams: vec![(STREAM.to_vec(), GroupStart::Pending(StreamId::MIN))],
        options: ReadOptions::default(),
        limit: ReadLimit::count(1000),
    };
    let outcome = engine.read_group(&request).expect("a group read");
    let (_, read_back) = &outcome.streams[0];
    assert!(read_back.deliveries.is_empty());
    assert_eq!(read_back.dead_lettered, &first[..2]);
    let summary = engine.pending_summary(STREAM, GROUP).expect("a summary");
    assert_eq!(summary.count, 0);
    let dead = engine
        .range(
            b"jobs:dead-letter",
            IdRange::ALL,
            false,
            ReadLimit::count(10),
        )
        .expect("a range")
        .expect("the dead-letter stream exists");
    assert_eq!(dead.len(), 2);
    let fields = &dead[0].fields;
    assert_eq!(fields[0], (b"job".to_vec(), b"0".to_vec()));
    assert_eq!(fields[1], (b"origin-stream".to_vec(), STREAM.to_vec()));
    assert_eq!(
        fields[2],
        (b"origin-id".to_vec(), first[0].to_string().into_bytes())
    );
    assert_eq!(fields[3], (b"origin-group".to_vec(), GROUP.to_vec()));
    assert_eq!(fields[4], (b"last-consumer".to_vec(), b"alice".to_vec()));
    assert_eq!(fields[5], (b"delivery-count".to_vec(), b"2".to_vec()));
}

/// The newest group journal of the test stream, and where each of its frames starts and ends.
fn journal_frames(dir: &Path) -> (std::path::PathBuf, Vec<(usize, usize)>) {
    let stream_dir = std::fs::read_dir(dir.join("streams"))
        .expect("streams/")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| path.ends_with("s-jobs"))
        .expect("the stream's directory");
    let mut journals: Vec<_> = std::fs::read_dir(&stream_dir)
        .expect("the stream's directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "jnl"))
        .collect();
    journals.sort();
    let journal = journals.pop().expect("a journal");
    let bytes = std::fs::read(&journal).expect("the journal");
    let mut frames = Vec::new();
    let mut at = 24;
    loop {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        if len == 0 {
            break;
        }
        frames.push((at, at + 8 + len));
        at += 8 + len;
    }
    (journal, frames)
}

/// A store with a group, whose last journal frame is an acknowledgement; returns the group
/// state before and after that last command.
fn store_ending_in_an_ack(dir: &Path) -> (String, String) {
    let engine = Engine::open(config(dir)).expect("the engine opens");
    add(&engine, 6);
    create_group(&engine, GROUP, GroupPolicy::default());
    let got = read(&engine, "alice", GroupStart::New, 4);
    let before = state(&engine);
    engine.ack(STREAM, GROUP, &got[..2]).expect("an ack");
    let after = state(&engine);
    engine.close().expect("a clean close");
    (before, after)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("a directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            std::fs::create_dir_all(&target).expect("a directory");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

#[test]
fn a_torn_journal_tail_at_every_offset_loses_only_the_torn_command() {
    let original = tempfile::tempdir().expect("a temporary directory");
    let (before, after) = store_ending_in_an_ack(original.path());
    let (_, frames) = journal_frames(original.path());
    let (start, end) = *frames.last().expect("frames");
    for cut in start..=end {
        let dir = tempfile::tempdir().expect("a temporary directory");
        copy_dir(original.path(), dir.path());
        let (journal, _) = journal_frames(dir.path());
        let mut bytes = std::fs::read(&journal).expect("the journal");
        // Zeros where there were zeros change nothing: the frame is whole then.
        let intact = bytes[cut..end].iter().all(|&byte| byte == 0);
        bytes[cut..end].fill(0);
        std::fs::write(&journal, &bytes).expect("the journal");
        let engine = Engine::open(config(dir.path())).expect("the store opens");
        let expected = if intact { &after } else { &before };
        assert_eq!(&state(&engine), expected, "cut at {cut} of {start}..{end}");
        if cut > start && !intact {
            assert!(
                engine
                    .repairs()
                    .iter()
                    .any(|repair| repair.action.contains("group journal cut")),
                "cut at {cut}: no repair reported: {:?}",
                engine.repairs()
            );
        }
    }
}

#[test]
fn a_flipped_byte_in_the_last_journal_frame_is_cut_and_reported() {
    let original = tempfile::tempdir().expect("a temporary directory");
    let (before, _) = store_ending_in_an_ack(original.path());
    let (_, frames) = journal_frames(original.path());
    let (start, end) = *frames.last().expect("frames");
    for at in start..end {
        let dir = tempfile::tempdir().expect("a temporary directory");
        copy_dir(original.path(), dir.path());
        let (journal, _) = journal_frames(dir.path());
        let mut bytes = std::fs::read(&journal).expect("the journal");
        bytes[at] ^= 0x10;
        std::fs::write(&journal, &bytes).expect("the journal");
        let engine = Engine::open(config(dir.path())).expect("the store opens");
        assert_eq!(state(&engine), before, "flip at {at}");
        assert!(
            engine
                .repairs()
                .iter()
                .any(|repair| repair.action.contains("group journal cut")),
            "flip at {at}: no repair reported"
        );
    }
}

#[test]
fn a_damaged_snapshot_is_reported_and_the_store_opens() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = config(dir.path());
    config.group_journal_bytes_min = 256;
    {
        let engine = Engine::open(config.clone()).expect("the engine opens");
        add(&engine, 20);
        create_group(&engine, GROUP, GroupPolicy::default());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !has_snapshot(dir.path()) {
            assert!(Instant::now() < deadline, "no snapshot was written");
            read(&engine, "alice", GroupStart::Pending(StreamId::MIN), 0);
            std::thread::sleep(Duration::from_millis(5));
        }
        engine.close().expect("a clean close");
    }
    let stream_dir = dir.path().join("streams").join("s-jobs");
    let snapshot = std::fs::read_dir(&stream_dir)
        .expect("the stream's directory")
        .map(|entry| entry.expect("an entry").path())
        .find(|path| {
            path.extension()
                .is_some_and(|extension| extension == "snap")
        })
        .expect("a snapshot");
    let mut bytes = std::fs::read(&snapshot).expect("the snapshot");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&snapshot, &bytes).expect("the snapshot");
    let engine = Engine::open(config).expect("the store opens");
    assert!(
        engine
            .repairs()
            .iter()
            .any(|repair| repair.action.contains("damaged group snapshot")),
        "no repair reported: {:?}",
        engine.repairs()
    );
    assert_eq!(
        engine.len(STREAM).expect("XLEN"),
        20,
        "the stream itself is intact"
    );
}

/// An XREADGROUP whose first step was taken (a dead-letter move begun, durably) and whose
/// second never runs — the call cancelled while awaiting durability, or a later stream of the
/// same call failing — abandons its moves: the entries stay pending and acknowledgeable, not
/// stranded on their way to the dead-letter stream until a restart.
#[test]
fn a_read_abandoned_between_its_steps_does_not_strand_its_dead_letters() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(config(dir.path())).expect("the engine opens");
    add(&engine, 1);
    create_group(&engine, GROUP, one_delivery());
    let first = read(&engine, "alice", GroupStart::New, 0);
    assert_eq!(first.len(), 1);
    let step = begin_moving_read(&engine);
    drop(step); // the server's future dropped (client cancelled) before finish_read_group
    let acked = engine.ack(STREAM, GROUP, &first).expect("an ack");
    let pending = engine
        .pending_summary(STREAM, GROUP)
        .expect("a summary")
        .count;
    let dead = engine
        .range(
            b"jobs:dead-letter",
            IdRange::ALL,
            false,
            ReadLimit::count(10),
        )
        .expect("a range")
        .map_or(0, |entries| entries.len());
    assert_eq!(
        (acked, pending, dead),
        (1, 0, 0),
        "the abandoned move left the entry pending to alice, who acknowledged it"
    );
}

/// One command's records are one journal frame, and replay takes a frame of any size written.
/// An XCLAIM of 17,000 pending entries with 1000-byte group and consumer names (within the
/// limits) once wrote a 70 MiB frame that replay refused as damaged: acknowledged, then lost.
/// Now its deliveries are one record, and no frame size is refused.
#[test]
fn a_claim_of_many_entries_with_long_names_survives_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut cfg = config(dir.path());
    cfg.segment_bytes_max = 1 << 20;
    cfg.group_journal_bytes_min = u64::MAX; // no compaction to hide it
    let group = vec![b'g'; 1000];
    let alice = vec![b'a'; 1000];
    let bob = vec![b'b'; 1000];
    const N: usize = 17_000;
    {
        let engine = Engine::open(cfg.clone()).expect("the engine opens");
        let entries: Vec<NewEntry> = (0..N)
            .map(|n| NewEntry {
                id: AddId::Auto,
                fields: vec![(b"n".to_vec(), n.to_string().into_bytes())],
            })
            .collect();
        for chunk in entries.chunks(5000) {
            engine.add(STREAM, chunk, false, None).expect("an add");
        }
        create_group(&engine, &group, GroupPolicy::default());
        let request = ReadGroup {
            group: group.clone(),
            consumer: alice.clone(),
            streams: vec![(STREAM.to_vec(), GroupStart::New)],
            options: ReadOptions {
                count: N,
                ..ReadOptions::default()
            },
            limit: ReadLimit::count(N),
        };
        let outcome = engine.read_group(&request).expect("a group read");
        let ids: Vec<StreamId> = outcome.streams[0]
            .1
            .deliveries
            .iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids.len(), N);
        let claim = sluice::group::Claim {
            consumer: bob.clone(),
            min_idle_ms: 0,
            ids,
            options: Default::default(),
        };
        let claimed = engine
            .claim(STREAM, &group, &claim)
            .expect("an acknowledged XCLAIM");
        assert_eq!(claimed.deliveries.len(), N);
        engine.close().expect("a clean close");
    }
    let engine = Engine::open(cfg).expect("the engine opens again");
    let consumers: Vec<(usize, u64)> = engine
        .consumers_info(STREAM, &group)
        .expect("consumers")
        .into_iter()
        .map(|consumer| (consumer.name.len(), consumer.pending))
        .collect();
    assert_eq!(
        consumers,
        [(1000, 0), (1000, N as u64)],
        "alice 0, bob all, after a clean restart"
    );
}

/// A compaction's snapshot written after its stream was dropped and created again under the
/// same name lands nowhere: the new stream's groups (and their journal) are untouched, and no
/// file of the old one is left in the directory.
#[test]
fn a_snapshot_of_a_dropped_stream_never_touches_its_successor() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(config(dir.path())).expect("the engine opens");
    add(&engine, 3);
    create_group(&engine, GROUP, GroupPolicy::default());
    let old = engine
        .stream(STREAM)
        .expect("a lookup")
        .expect("the stream");
    // A compaction's first step: a new journal generation started under the writer lock.
    let generation = old
        .log()
        .write(|txn| txn.rotate_group_journal())
        .expect("a rotation");
    assert!(engine.drop_stream(STREAM).expect("a drop"));
    add(&engine, 2);
    create_group(&engine, GROUP, GroupPolicy::default());
    assert_eq!(read(&engine, "alice", GroupStart::New, 0).len(), 2);
    let before = state(&engine);
    // Its second step, late: the snapshot of the dropped stream's groups.
    old.log()
        .write_group_snapshot(generation, &[])
        .expect("a late snapshot is discarded");
    drop(old);
    assert_eq!(state(&engine), before);
    let stream_dir = engine
        .stream(STREAM)
        .expect("a lookup")
        .expect("the stream")
        .log()
        .dir()
        .to_path_buf();
    let names: Vec<String> = std::fs::read_dir(&stream_dir)
        .expect("the stream's directory")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert!(
        names.iter().all(|name| !name.ends_with(".tmp")),
        "{names:?}"
    );
    engine.close().expect("a clean close");
    drop(engine);
    let engine = Engine::open(config(dir.path())).expect("the engine opens again");
    assert_eq!(
        state(&engine),
        before,
        "the successor's groups, after a restart"
    );
}

/// Under `always`, an abandoned move's record is synced (nobody awaits it, so a round must be
/// asked for) and announced: a blocked reader learns that the entries are deliverable again.
#[test]
fn an_abandoned_move_is_announced_under_always() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let engine = Engine::open(config(dir.path())).expect("the engine opens");
    add(&engine, 1);
    create_group(&engine, GROUP, one_delivery());
    assert_eq!(read(&engine, "alice", GroupStart::New, 0).len(), 1);
    let step = begin_moving_read(&engine);
    let mut watch = engine.watch(STREAM);
    watch.borrow_and_update();
    drop(step); // the call cancelled: the move is abandoned
    let deadline = Instant::now() + Duration::from_secs(5);
    while !watch.has_changed().expect("the engine is open") {
        assert!(
            Instant::now() < deadline,
            "no watcher was told of the abandoned move (its record was never synced)"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
