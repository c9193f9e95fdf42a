//! Retention policies through the engine: each limit (age, bytes, length) removes the right
//! whole segments from the head and never the active one; the policy survives a reopen and a
//! RENAME and goes with DEL; the guard holds back undelivered and pending entries until they
//! are delivered and acknowledged, and says what it holds; a damaged policy file quarantines
//! its stream; a power cut at any point of a pass leaves the stream whole or shorter by whole
//! head segments; and the background thread enforces by itself.
//!
//! Geometry: 512-byte segments and entries of 118 bytes (one 80-byte value), so a segment
//! holds three entries (64-byte header + 3 × 118 = 418 bytes); entries 1..=12 (IDs `n-0`)
//! fill sealed segments [1,2,3] [4,5,6] [7,8,9] and the active one [10,11,12].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice::clock::ManualClock;
use sluice::engine::ReadGroup;
use sluice::model::{GroupPolicy, GroupStart, GroupTarget, ReadOptions, Retention};
use sluice::storage::fs::{FileSystem, OpenMode};
use sluice::storage::sim_fs::{SimFs, Tear};
use sluice::{AddId, Config, Engine, Error, FsyncPolicy, IdRange, NewEntry, ReadLimit, StreamId};

const STREAM: &[u8] = b"events";
const GROUP: &[u8] = b"workers";

fn config(clock: &Arc<ManualClock>) -> Config {
    let mut config = Config::new("/data");
    config.fsync = FsyncPolicy::Always;
    config.segment_bytes_max = 512;
    config.entry_bytes_max = 300;
    // Passes run only when a test asks for one.
    config.retention_interval_ms = 0;
    config.clock = clock.clone();
    config
}

/// An engine on a fresh simulated disk with entries 1..=12 in [`STREAM`].
fn filled() -> (SimFs, Arc<ManualClock>, Engine) {
    let fs = SimFs::new();
    let clock = Arc::new(ManualClock::new(1_000));
    let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).expect("open");
    add(&engine, STREAM, 1..=12);
    (fs, clock, engine)
}

fn add(engine: &Engine, name: &[u8], ms: std::ops::RangeInclusive<u64>) {
    for ms in ms {
        let entry = NewEntry {
            id: AddId::Explicit(StreamId::new(ms, 0)),
            fields: vec![(b"v".to_vec(), vec![b'x'; 80])],
        };
        engine.add(name, &[entry], false, None).expect("an add");
    }
}

/// The millisecond parts of the stream's entries, oldest first.
fn ids(engine: &Engine, name: &[u8]) -> Vec<u64> {
    engine
        .range(name, IdRange::ALL, false, ReadLimit::count(usize::MAX))
        .expect("a range")
        .unwrap_or_default()
        .into_iter()
        .map(|entry| entry.id.ms)
        .collect()
}

fn from(first: u64) -> Vec<u64> {
    (first..=12).collect()
}

fn policy(set: impl FnOnce(&mut Retention)) -> Retention {
    let mut policy = Retention::default();
    set(&mut policy);
    policy
}

fn reopen(fs: &SimFs, clock: &Arc<ManualClock>, engine: Engine) -> Engine {
    drop(engine);
    Engine::open_with(config(clock), Arc::new(fs.clone())).expect("reopen")
}

#[test]
fn the_geometry_is_as_documented() {
    let (_fs, _clock, engine) = filled();
    let info = engine.info(STREAM, None, ReadLimit::count(1)).unwrap();
    assert_eq!(info.segments, 4);
    assert_eq!(info.retention, None);
}

#[test]
fn max_age_removes_segments_whose_newest_entry_is_too_old_never_the_active_one() {
    let (_fs, clock, engine) = filled();
    engine
        .set_retention(STREAM, policy(|p| p.max_age_ms = Some(95)))
        .unwrap();
    // At ms 100 only segment [1,2,3] is older than 95 ms (3 + 95 < 100); [4,5,6] is not.
    clock.set(100);
    let removed = engine.enforce_retention().unwrap();
    assert_eq!((removed.segments, removed.entries), (1, 3));
    assert_eq!(ids(&engine, STREAM), from(4));
    // Long after: every sealed segment is too old; the active one stays.
    clock.set(1_000_000);
    engine.enforce_retention().unwrap();
    assert_eq!(ids(&engine, STREAM), from(10));
    assert_eq!(engine.len(STREAM).unwrap(), 3);
    // A clock behind the IDs removes nothing.
    clock.set(1);
    add(&engine, STREAM, 13..=15);
    assert_eq!(engine.enforce_retention().unwrap().segments, 0);
}

#[test]
fn max_bytes_removes_the_oldest_segments_while_the_log_is_over() {
    let (_fs, _clock, engine) = filled();
    // 4 × 418 = 1672 bytes: two segments must go to get to 836 ≤ 1000.
    engine
        .set_retention(STREAM, policy(|p| p.max_bytes = Some(1000)))
        .unwrap();
    let removed = engine.enforce_retention().unwrap();
    assert_eq!((removed.segments, removed.bytes), (2, 836));
    assert_eq!(ids(&engine, STREAM), from(7));
    engine
        .set_retention(STREAM, policy(|p| p.max_bytes = Some(1)))
        .unwrap();
    engine.enforce_retention().unwrap();
    assert_eq!(ids(&engine, STREAM), from(10));
}

#[test]
fn max_len_removes_a_segment_only_if_enough_entries_remain() {
    let (_fs, _clock, engine) = filled();
    engine
        .set_retention(STREAM, policy(|p| p.max_len = Some(7)))
        .unwrap();
    // 12 - 3 = 9 ≥ 7, then 9 - 3 = 6 < 7.
    assert_eq!(engine.enforce_retention().unwrap().segments, 1);
    assert_eq!(ids(&engine, STREAM), from(4));
    // A second pass finds nothing more to do.
    assert_eq!(engine.enforce_retention().unwrap().segments, 0);
    let info = engine.info(STREAM, None, ReadLimit::count(1)).unwrap();
    assert_eq!(info.counters.length, 9);
    assert_eq!(info.counters.entries_added, 12);
    assert_eq!(info.recorded_first_id, StreamId::new(4, 0));
    let status = engine.retention_status(STREAM).unwrap().unwrap();
    assert_eq!(
        (
            status.removed_segments,
            status.removed_entries,
            status.held_segments
        ),
        (1, 3, 0)
    );
}

#[test]
fn the_policy_survives_reopen_and_rename_and_goes_with_del() {
    let (fs, clock, engine) = filled();
    let set = policy(|p| {
        p.max_age_ms = Some(60_000);
        p.max_len = Some(5);
        p.keep_unprocessed = true;
    });
    engine.set_retention(STREAM, set).unwrap();
    assert_eq!(
        engine
            .info(STREAM, None, ReadLimit::count(1))
            .unwrap()
            .retention,
        Some(set)
    );
    let engine = reopen(&fs, &clock, engine);
    assert_eq!(engine.retention(STREAM).unwrap(), Some(set));
    assert!(engine.rename_stream(STREAM, b"renamed").unwrap());
    assert_eq!(engine.retention(b"renamed").unwrap(), Some(set));
    let engine = reopen(&fs, &clock, engine);
    assert_eq!(engine.retention(b"renamed").unwrap(), Some(set));
    assert!(engine.drop_stream(b"renamed").unwrap());
    add(&engine, b"renamed", 1..=1);
    assert_eq!(engine.retention(b"renamed").unwrap(), None);
    // Clearing removes the file: nothing comes back on reopen.
    engine.set_retention(b"renamed", set).unwrap();
    engine
        .set_retention(b"renamed", Retention::default())
        .unwrap();
    let engine = reopen(&fs, &clock, engine);
    assert_eq!(engine.retention(b"renamed").unwrap(), None);
    assert!(matches!(
        engine.retention(b"missing"),
        Err(Error::NoSuchKey)
    ));
    assert!(matches!(
        engine.set_retention(b"missing", set),
        Err(Error::NoSuchKey)
    ));
    assert!(matches!(
        engine.set_retention(b"renamed", policy(|p| p.max_len = Some(0))),
        Err(Error::BadRetention(_))
    ));
}

fn read_group(engine: &Engine, count: usize, noack: bool) -> Vec<u64> {
    let request = ReadGroup {
        group: GROUP.to_vec(),
        consumer: b"alice".to_vec(),
        streams: vec![(STREAM.to_vec(), GroupStart::New)],
        options: ReadOptions {
            count,
            noack,
            ..ReadOptions::default()
        },
        limit: ReadLimit::count(1000),
    };
    let outcome = engine.read_group(&request).expect("a group read");
    outcome
        .streams
        .into_iter()
        .flat_map(|(_, read)| read.deliveries)
        .map(|delivery| delivery.id.ms)
        .collect()
}

fn ack(engine: &Engine, ms: std::ops::RangeInclusive<u64>) {
    let ids: Vec<StreamId> = ms.map(|ms| StreamId::new(ms, 0)).collect();
    engine.ack(STREAM, GROUP, &ids).expect("an ack");
}

#[test]
fn the_guard_holds_undelivered_and_pending_entries_until_acknowledged() {
    let (_fs, _clock, engine) = filled();
    create_group(&engine);
    assert_eq!(read_group(&engine, 5, false), vec![1, 2, 3, 4, 5]);
    engine
        .set_retention(
            STREAM,
            policy(|p| {
                p.max_len = Some(1);
                p.keep_unprocessed = true;
            }),
        )
        .unwrap();
    // 1..=5 pending, 6.. undelivered: nothing goes, and all three sealed segments are held.
    assert_eq!(engine.enforce_retention().unwrap().segments, 0);
    assert_eq!(ids(&engine, STREAM), from(1));
    let status = engine.retention_status(STREAM).unwrap().unwrap();
    assert_eq!(
        (status.held_segments, status.held_entries, status.held_bytes),
        (3, 9, 3 * 418)
    );
    // Acknowledging 1..=3 releases the first segment only: 4 and 5 are still pending.
    ack(&engine, 1..=3);
    assert_eq!(engine.enforce_retention().unwrap().segments, 1);
    assert_eq!(ids(&engine, STREAM), from(4));
    // Acknowledged but 6 is undelivered: [4,5,6] stays.
    ack(&engine, 4..=5);
    assert_eq!(engine.enforce_retention().unwrap().segments, 0);
    // Delivered without acknowledgement needed (NOACK): processed.
    assert_eq!(read_group(&engine, 4, true), vec![6, 7, 8, 9]);
    assert_eq!(engine.enforce_retention().unwrap().segments, 2);
    assert_eq!(ids(&engine, STREAM), from(10));
    let status = engine.retention_status(STREAM).unwrap().unwrap();
    assert_eq!((status.held_segments, status.removed_segments), (0, 3));
    // Without the guard the same state would have gone at once: the guard made the difference.
    let (_fs, _clock, unguarded) = filled();
    create_group(&unguarded);
    unguarded
        .set_retention(STREAM, policy(|p| p.max_len = Some(1)))
        .unwrap();
    assert_eq!(unguarded.enforce_retention().unwrap().segments, 3);
}

#[test]
fn a_damaged_policy_file_quarantines_only_its_stream() {
    let (fs, clock, engine) = filled();
    add(&engine, b"other", 1..=2);
    engine
        .set_retention(STREAM, policy(|p| p.max_len = Some(3)))
        .unwrap();
    engine.close().unwrap();
    let dir = stream_dir(&fs, STREAM);
    let file = fs
        .open(&dir.join("retention"), OpenMode::ReadWrite)
        .unwrap();
    file.write_all_at(&[0xff], 20).unwrap();
    let engine = reopen(&fs, &clock, engine);
    match engine.len(STREAM) {
        Err(Error::Corrupt { detail, .. }) => assert!(detail.contains("retention"), "{detail}"),
        other => panic!("a damaged policy was accepted: {other:?}"),
    }
    assert_eq!(ids(&engine, b"other"), vec![1, 2]);
}

/// The directory of stream `name` (an unescaped name: `s-<name>`).
fn stream_dir(fs: &SimFs, name: &[u8]) -> PathBuf {
    let dir = Path::new("/data/streams").join(format!("s-{}", String::from_utf8_lossy(name)));
    assert!(fs.exists(&dir), "{} is not there", dir.display());
    dir
}

#[test]
fn a_power_cut_anywhere_in_a_pass_leaves_whole_head_segments_or_none() {
    let mut cut = 0;
    loop {
        let (fs, clock, engine) = filled();
        engine
            .set_retention(STREAM, policy(|p| p.max_len = Some(1)))
            .unwrap();
        fs.cut_after(cut);
        let finished = engine.enforce_retention().is_ok() && !fs.is_down();
        drop(engine);
        fs.cut_now();
        fs.reboot(Tear::Torn { seed: cut });
        let engine = Engine::open_with(config(&clock), Arc::new(fs.clone())).expect("reopen");
        let left = ids(&engine, STREAM);
        assert!(
            [from(1), from(4), from(7), from(10)].contains(&left),
            "cut {cut}: {left:?}"
        );
        if finished {
            assert_eq!(left, from(10), "cut {cut}: a finished pass was lost");
        }
        // The policy is still there, and the store goes on where it stopped.
        assert_eq!(engine.retention(STREAM).unwrap().unwrap().max_len, Some(1));
        engine.enforce_retention().unwrap();
        assert_eq!(ids(&engine, STREAM), from(10));
        if finished {
            break;
        }
        cut += 1;
    }
    assert!(cut > 3, "the pass made only {cut} file-system operations");
}

#[test]
fn the_background_thread_enforces_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.segment_bytes_max = 512;
    config.entry_bytes_max = 300;
    config.fsync = FsyncPolicy::No;
    config.retention_interval_ms = 10;
    let engine = Engine::open(config).unwrap();
    add(&engine, STREAM, 1..=12);
    engine
        .set_retention(STREAM, policy(|p| p.max_len = Some(1)))
        .unwrap();
    let started = Instant::now();
    while engine.len(STREAM).unwrap() != 3 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the background pass never ran"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ids(&engine, STREAM), from(10));
    // Closing stops the thread; the engine opens again cleanly with the policy.
    engine.close().unwrap();
    drop(engine);
    let engine = Engine::open(Config::new(dir.path())).unwrap();
    assert!(engine.repairs().is_empty(), "{:?}", engine.repairs());
    assert_eq!(engine.retention(STREAM).unwrap().unwrap().max_len, Some(1));
}

/// Creates group [`GROUP`] on [`STREAM`], reading from the start, with no policy.
fn create_group(engine: &Engine) {
    engine
        .create_group(
            STREAM,
            GROUP,
            GroupTarget::Id(StreamId::MIN),
            false,
            None,
            GroupPolicy::default(),
        )
        .expect("a group");
}
